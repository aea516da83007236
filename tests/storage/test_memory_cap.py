r"""Under a memory cap that kills the in-memory run, the on-disk run of the
same graph and configuration finishes (needs write access to a memory
cgroup controller; skipped with the reason otherwise)."""
import json
import subprocess
import sys

import pytest
import torch

from pyg_gas.cgroup import cgroup_support, run_capped
from pyg_gas.datasets.synthetic import synthetic_graph
from pyg_gas.storage import prepare

REASON = cgroup_support()
pytestmark = pytest.mark.skipif(REASON is not None,
                                reason=f'no memory cgroup: {REASON}')

OPTIONS = ['--model', 'sage', '--hidden', '128', '--layers', '3',
           '--num-parts', '16', '--batch-size', '1', '--epochs', '1',
           '--normalize-features', 'false', '--device', 'cpu',
           '--no-progress']


def _train(args, json_path):
    return [sys.executable, '-m', 'pyg_gas.cli', 'train'] + args + \
        OPTIONS + ['--json', str(json_path)]


def test_disk_run_fits_where_the_memory_run_is_killed(tmp_path):
    # 120k nodes x 384 features: 184 MB of features, 61 MB per history.
    data = synthetic_graph(120_000, avg_degree=8, num_features=384,
                           num_classes=8, seed=0)
    torch.save(data, tmp_path / 'graph.pt')
    prepare(data, str(tmp_path / 'graph.gas'), num_parts=16, log=False)
    del data
    memory = _train(['--dataset', str(tmp_path / 'graph.pt')],
                    tmp_path / 'memory.json')
    disk = _train(['--data-dir', str(tmp_path / 'graph.gas'),
                   '--history-storage', 'disk'], tmp_path / 'disk.json')

    # Uncapped, the in-memory run trains:
    proc = subprocess.run(memory, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    uncapped = json.loads((tmp_path / 'memory.json').read_text())
    # It holds the graph, and the disk run one batch of it; a cap 250 MB
    # under its peak kills it, and the disk run finishes within it (its
    # file pages are reclaimed under the cap as needed):
    cap = uncapped['peak_memory_bytes'] - 250 * 2**20
    killed = run_capped(memory, cap, timeout=600)
    assert killed.returncode != 0 and killed.oom_killed, (
        cap, killed.returncode, killed.stderr[-2000:])
    fits = run_capped(disk, cap, timeout=600)
    assert fits.returncode == 0, (cap, fits.stderr[-2000:])
    assert fits.peak_bytes <= cap
    # The same partition (METIS, same seed), model and seed: the same
    # accuracy.
    capped = json.loads((tmp_path / 'disk.json').read_text())
    assert capped['test_acc'] == uncapped['test_acc']
    assert capped['peak_memory_bytes'] < cap
