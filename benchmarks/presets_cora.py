r"""Test accuracy on the real Cora graph of every model trained with GAS under
the per-dataset presets of the GAS paper (``pyg_gas/train/presets.py``),
next to the single Planetoid preset that Cora, CiteSeer and PubMed shared
before.

Every run is a separate single-threaded ``pyg-gas train`` process; the jobs
of both presets are interleaved (model by model, seed by seed). A model
whose two presets are equal runs once per seed. Prints a table and writes
``results/presets_cora.json``.

    python benchmarks/presets_cora.py [--models gcn gat ...] [--seeds 0 1 2]
"""
import argparse
import json
import os
import os.path as osp
import platform
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Tuple

import torch

from pyg_gas.train import TrainConfig, resolve, write_json

HERE = osp.dirname(osp.abspath(__file__))
MODELS = ('gcn', 'sage', 'gat', 'gin', 'appnp', 'gcn2', 'pna')

#: The Planetoid preset of every model before the per-dataset presets.
_PLANETOID = dict(num_parts=40, batch_size=10, normalize_features=True,
                  drop_input=True, nonreg_weight_decay=0.0, grad_norm=0.0)
PREVIOUS: Dict[str, Dict[str, Any]] = {
    'gcn': dict(_PLANETOID, hidden=16, layers=2, lr=0.01, weight_decay=5e-4,
                dropout=0.5, epochs=200),
    'sage': dict(_PLANETOID, hidden=16, layers=2, lr=0.01, weight_decay=5e-4,
                 dropout=0.5, epochs=200),
    'gat': dict(_PLANETOID, hidden=8, heads=8, layers=2, lr=0.005,
                weight_decay=5e-4, nonreg_weight_decay=5e-4, dropout=0.6,
                attn_dropout=0.6, epochs=300),
    'gin': dict(_PLANETOID, hidden=64, layers=2, lr=0.01, weight_decay=5e-4,
                dropout=0.5, epochs=200),
    'gcn2': dict(_PLANETOID, hidden=64, layers=16, alpha=0.1, theta=0.5,
                 shared_weights=True, lr=0.01, weight_decay=0.01,
                 nonreg_weight_decay=5e-4, dropout=0.6, epochs=400),
    'appnp': dict(_PLANETOID, hidden=64, layers=10, alpha=0.1, lr=0.01,
                  weight_decay=5e-3, dropout=0.5, epochs=200),
    'pna': dict(_PLANETOID, batch_size=20, hidden=64, layers=2, lr=0.005,
                linear=True, batch_norm=True, normalize_features=False,
                weight_decay=5e-3, nonreg_weight_decay=5e-3, dropout=0.5,
                epochs=200),
}


def options(model: str, preset: str) -> Dict[str, Any]:
    r"""The resolved options of :obj:`model` on Cora under :obj:`preset`
    (:obj:`'previous'` or :obj:`'gas'`)."""
    values = PREVIOUS[model] if preset == 'previous' else {}
    config = resolve(TrainConfig(dataset='cora', model=model, **values))
    keys = set(PREVIOUS[model]) | {'out_heads', 'standardize_features'}
    return {key: getattr(config, key) for key in sorted(keys)}


def run_one(model: str, values: Dict[str, Any], seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'result.json')
        cmd = [sys.executable, '-m', 'pyg_gas.cli', 'train', '--dataset',
               'cora', '--model', model, '--seed', str(seed), '--device',
               'cpu', '--no-progress', '--quiet', '--json', path]
        for key, value in values.items():
            cmd += [f"--{key.replace('_', '-')}", str(value)]
        env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        with open(path) as f:
            return json.load(f)


def summary(results: List[dict]) -> Dict[str, Any]:
    accs = [100 * r['test_acc'] for r in results]
    times = [r['epoch_time_s'] for r in results]
    return dict(test_acc_mean=statistics.mean(accs),
                test_acc_std=statistics.pstdev(accs),
                test_acc=accs, epoch_time_s_median=statistics.median(times),
                epochs=results[0]['epochs'])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--models', nargs='+', default=list(MODELS))
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--out', default=osp.join(HERE, 'results',
                                                  'presets_cora.json'))
    args = parser.parse_args()

    configs = {(m, p): options(m, p) for m in args.models
               for p in ('previous', 'gas')}
    jobs: List[Tuple[str, str, int]] = []
    for model in args.models:
        same = configs[model, 'previous'] == configs[model, 'gas']
        for seed in args.seeds:
            for preset in ('previous', ) if same else ('previous', 'gas'):
                jobs.append((model, preset, seed))
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        done = dict(zip(jobs, pool.map(
            lambda job: run_one(job[0], configs[job[0], job[1]], job[2]),
            jobs)))

    rows = []
    for model in args.models:
        same = configs[model, 'previous'] == configs[model, 'gas']
        row: Dict[str, Any] = dict(model=model, same_preset=same)
        for preset in ('previous', 'gas'):
            key = 'previous' if same else preset
            row[preset] = summary([done[model, key, s] for s in args.seeds])
            row[preset]['config'] = configs[model, preset]
        rows.append(row)
        print(f"{model:6s} previous {row['previous']['test_acc_mean']:6.2f} "
              f"± {row['previous']['test_acc_std']:4.2f}   GAS preset "
              f"{row['gas']['test_acc_mean']:6.2f} ± "
              f"{row['gas']['test_acc_std']:4.2f}"
              + ('   (same preset)' if same else ''), flush=True)
    meta = dict(seeds=args.seeds, loader='gas', dataset='cora',
                machine=f'{os.cpu_count()} cores, {platform.machine()}',
                torch=torch.__version__, threads_per_run=1)
    write_json(args.out, dict(meta=meta, results=rows))


if __name__ == '__main__':
    main()
