r"""Accuracy, epoch time and memory of GAS, Cluster-GCN and full-batch
training on the real Cora graph.

Every run is a separate single-threaded ``pyg-gas train`` process, so that
its peak resident memory is its own; two run at a time (one per core of the
2-core box). Prints a table and writes ``results/cora.json``.

    python benchmarks/cora.py [--models gcn sage ...] [--seeds 0 1 2]
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

import torch

from pyg_gas.train import write_json

HERE = osp.dirname(osp.abspath(__file__))
LOADERS = ('gas', 'full', 'cluster', 'ladies', 'fastgcn')
MODELS = ('gcn', 'sage', 'gat', 'gin', 'appnp', 'gcn2', 'pna')


def run_one(model: str, loader: str, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'result.json')
        cmd = [sys.executable, '-m', 'pyg_gas.cli', 'train', '--dataset',
               'cora', '--model', model, '--loader', loader, '--seed',
               str(seed), '--device', 'cpu', '--no-progress', '--quiet',
               '--json', path]
        env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        with open(path) as f:
            return json.load(f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--models', nargs='+', default=list(MODELS))
    parser.add_argument('--loaders', nargs='+', default=list(LOADERS))
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--out', default=osp.join(HERE, 'results',
                                                  'cora.json'))
    args = parser.parse_args()

    jobs = [(model, loader, seed) for model in args.models
            for loader in args.loaders for seed in args.seeds
            if loader in ('gas', 'full') or model == 'gcn']
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        done = dict(zip(jobs, pool.map(lambda job: run_one(*job), jobs)))

    rows = []
    for model in args.models:
        for loader in args.loaders:
            runs = [done[(model, loader, seed)] for seed in args.seeds
                    if (model, loader, seed) in done]
            if len(runs) == 0:
                continue
            acc = [r['test_acc'] for r in runs]
            rows.append(dict(
                model=model, loader=loader, seeds=args.seeds,
                test_acc_mean=statistics.mean(acc),
                test_acc_std=statistics.pstdev(acc),
                test_acc=acc,
                epoch_time_s=statistics.median(r['epoch_time_s']
                                               for r in runs),
                peak_memory_bytes=max(r['peak_memory_bytes'] for r in runs),
                working_memory_bytes=max(r['peak_memory_bytes'] -
                                         r['baseline_memory_bytes']
                                         for r in runs),
                num_params=runs[0]['num_params'],
                config=runs[0]['config'],
            ))

    print('| model | loader | test acc (mean ± std) | epoch time (ms) | '
          'peak RSS (MB) | working memory (MB) |')
    print('|---|---|---|---|---|---|')
    for r in rows:
        print(f"| {r['model'].upper()} | {r['loader']} | "
              f"{100 * r['test_acc_mean']:.2f} ± "
              f"{100 * r['test_acc_std']:.2f} | "
              f"{1000 * r['epoch_time_s']:.1f} | "
              f"{r['peak_memory_bytes'] / 2**20:.0f} | "
              f"{r['working_memory_bytes'] / 2**20:.0f} |")

    meta = dict(python=platform.python_version(), torch=torch.__version__,
                machine=platform.machine(), cpus=os.cpu_count(),
                threads_per_run=1, runs_in_parallel=args.workers)
    write_json(args.out, dict(meta=meta, results=rows))


if __name__ == '__main__':
    main()
