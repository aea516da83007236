r"""Accuracy floors on the real Cora graph.

Each run is a ``pyg-gas train`` process with one thread; two run at a time,
one per core of the CI box, which is faster than one two-thread process for
models this small. Runs are deterministic for a given seed and code.

The default suite keeps one floor per loader (GCN under each) and one per
model family (each under GAS), each on the mean of two seeds, one per core.
The issue's floors on three seeds and the comparisons with full-batch
training are marked ``slow`` (``python -m pytest -m slow``). The GAS paper
reports GCN 82.29, GAT 83.32, APPNP 83.19 and GCNII 85.52 on Cora.
"""
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import List, Sequence

import pytest

SEEDS = (0, 1, 2)
QUICK_SEEDS = (0, 1)  # One run per core.


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
                  *args: str, seeds: Sequence[int] = SEEDS) -> List[float]:
    r"""The test accuracies of the runs with :obj:`seeds`, two at a
    time."""
    def one(seed: int) -> float:
        return train(tmp_dir, '--model', model, '--loader', loader,
                     '--seed', str(seed), *args)['test_acc']

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one, seeds))


# Default suite: one floor per loader and one per model family. ###############
# Measured means of seeds 0 and 1 (torch 2.13 CPU, PyG 2.8.1): GCN under
# GAS 82.15, full-batch 81.70, Cluster-GCN 81.55, LADIES 81.10, FastGCN
# 80.80; under GAS, SAGE 80.90, GAT 82.40 and APPNP 83.05 (the GAS paper's
# Cora presets: GAT 400 epochs, APPNP 4 parts and 600 epochs), GIN 77.75,
# PNA 74.70 and GCNII (16 layers, 200 epochs) 83.05. The floors are the
# issue's (full-batch: new, below its lowest seed of 0-2, 80.8).


@pytest.mark.parametrize('loader,floor', [
    ('gas', 0.80),
    ('full', 0.79),
    ('cluster', 0.78),
    ('ladies', 0.77),
    ('fastgcn', 0.77),
])
def test_gcn_loader_floor(tmp_path, loader, floor):
    acc = mean_test_acc(str(tmp_path), 'gcn', loader, seeds=QUICK_SEEDS)
    assert statistics.mean(acc) >= floor, acc


#: The issue's floor per model under GAS, and extra options.
MODEL_FLOORS = [
    ('sage', 0.78, ()),
    ('gat', 0.81, ()),
    ('appnp', 0.81, ()),
    ('gin', 0.74, ()),
    ('pna', 0.72, ()),
    # GCNII with 16 layers on 40 parts for 200 epochs: the GAS paper's Cora
    # preset (64 layers, 2 parts, 1000 epochs; 84.87 over seeds 0-2 in
    # benchmarks/presets_cora.py) trains about 7 times longer.
    ('gcn2', 0.82, ('--layers', '16', '--num-parts', '40', '--batch-size',
                    '10', '--epochs', '200')),
]


@pytest.mark.parametrize('model,floor,args', MODEL_FLOORS)
def test_gas_model_floor(tmp_path, model, floor, args):
    acc = mean_test_acc(str(tmp_path), model, 'gas', *args,
                        seeds=QUICK_SEEDS)
    assert statistics.mean(acc) >= floor, acc


# Slow: the floors on three seeds, and GAS against full-batch. ########


@pytest.mark.slow
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


@pytest.mark.slow
def test_cluster_gcn(tmp_path):
    acc = mean_test_acc(str(tmp_path), 'gcn', 'cluster')
    assert statistics.mean(acc) >= 0.78, acc


@pytest.mark.slow
@pytest.mark.parametrize('model,floor,args', MODEL_FLOORS)
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
])
def test_full_batch_model_zoo(tmp_path, model):
    # GAS should be on par with full-batch training of the same model.
    gas = mean_test_acc(str(tmp_path), model, 'gas')
    full = mean_test_acc(str(tmp_path), model, 'full')
    assert abs(statistics.mean(gas) - statistics.mean(full)) <= 0.02, (
        gas, full)


@pytest.mark.slow
def test_full_batch_gin(tmp_path):
    # GIN's accuracy varies the most from seed to seed (and its sum
    # aggregation is the most sensitive to stale halo rows): two 3-seed
    # means of it differ by up to about 2 points, so 'within 2 points of
    # full-batch training' is not a bound it keeps (it was a non-strict
    # expected failure: GAS 75.83 vs full 78.07 in one version, 77.50 vs
    # 77.07 in the next). Measured test accuracies (torch 2.13 CPU, PyG
    # 2.8.1), seeds 0-8, three by three:
    #   GAS   77.2 78.3 77.0 | 77.4 80.9 77.0 | 78.0 75.9 79.3
    #   full  79.0 75.2 77.0 | 76.6 79.7 76.2 | 78.2 76.6 76.9
    # 3-seed means: GAS 77.50, 78.43, 77.73; full 77.07, 77.50, 77.23 (this
    # test runs seeds 0-2). The floors sit below the lowest single seed
    # (75.9 and 75.2); GAS was 0.4 to 0.9 points above full-batch training.
    gas = mean_test_acc(str(tmp_path), 'gin', 'gas')
    full = mean_test_acc(str(tmp_path), 'gin', 'full')
    assert statistics.mean(gas) >= 0.75, gas
    assert statistics.mean(full) >= 0.74, full
    assert statistics.mean(gas) >= statistics.mean(full) - 0.03, (gas, full)
