r"""Accuracy floors on the real Cora graph, three seeds per model.

Each run is a ``pyg-gas train`` process with one thread; two run at a time,
one per core of the CI box, which is faster than one two-thread process for
models this small. Floors are the issue's; the GAS paper reports GCN 82.29,
GAT 83.32, APPNP 83.19 and GCNII 85.52 on Cora.
"""
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import List

import pytest

SEEDS = (0, 1, 2)


def train(tmp_dir: str, *args: str) -> dict:
    path = osp.join(tmp_dir, f'{abs(hash(args))}.json')
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    cmd = [sys.executable, '-m', 'pyg_gas.cli', 'train', '--dataset', 'cora',
           '--no-progress', '--device', 'cpu', '--json', path, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                          timeout=1800)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(path) as f:
        return json.load(f)


def mean_test_acc(tmp_dir: str, model: str, loader: str = 'gas',
                  *args: str) -> List[float]:
    def one(seed: int) -> float:
        return train(tmp_dir, '--model', model, '--loader', loader,
                     '--seed', str(seed), *args)['test_acc']

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one, SEEDS))


def test_gcn_gas_ladies_and_full_batch(tmp_path):
    gas = mean_test_acc(str(tmp_path), 'gcn', 'gas')
    full = mean_test_acc(str(tmp_path), 'gcn', 'full')
    ladies = mean_test_acc(str(tmp_path), 'gcn', 'ladies')
    assert statistics.mean(gas) >= 0.80, gas
    # GAS matches full-batch training:
    assert abs(statistics.mean(gas) - statistics.mean(full)) <= 0.015, (
        gas, full)
    # LADIES is within 3 points of full-batch training (issue floor 0.77):
    assert statistics.mean(ladies) >= 0.77, ladies
    assert statistics.mean(ladies) >= statistics.mean(full) - 0.03, (
        ladies, full)


def test_cluster_gcn(tmp_path):
    acc = mean_test_acc(str(tmp_path), 'gcn', 'cluster')
    assert statistics.mean(acc) >= 0.78, acc


@pytest.mark.parametrize('model,floor,args', [
    ('sage', 0.78, ()),
    ('gat', 0.81, ()),
    ('appnp', 0.81, ()),
    ('gin', 0.74, ()),
    ('pna', 0.72, ()),
    # 200 of the preset's 400 epochs, to keep the default suite short; the
    # slow test below runs the full preset.
    ('gcn2', 0.82, ('--epochs', '200')),
])
def test_gas_model_zoo(tmp_path, model, floor, args):
    acc = mean_test_acc(str(tmp_path), model, 'gas', *args)
    assert statistics.mean(acc) >= floor, acc


@pytest.mark.slow
def test_fastgcn_gcn(tmp_path):
    acc = mean_test_acc(str(tmp_path), 'gcn', 'fastgcn')
    assert statistics.mean(acc) >= 0.77, acc


@pytest.mark.slow
@pytest.mark.parametrize('model', [
    'gcn', 'sage', 'gat', 'appnp', 'pna', 'gcn2',
    # Not strict: GAS 75.83 vs full 78.07 in one 3-seed run, 77.50 vs 77.07
    # in the next (benchmarks/results/cora.json); sum aggregation is the
    # most sensitive to stale halo rows.
    pytest.param('gin', marks=pytest.mark.xfail(
        strict=False, reason='GIN under GAS varies by about 2 points from '
        'run to run')),
])
def test_full_batch_model_zoo(tmp_path, model):
    # GAS should be on par with full-batch training of the same model.
    gas = mean_test_acc(str(tmp_path), model, 'gas')
    full = mean_test_acc(str(tmp_path), model, 'full')
    assert abs(statistics.mean(gas) - statistics.mean(full)) <= 0.02, (
        gas, full)
