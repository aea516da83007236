r"""Training from a prepared dataset computes what the in-memory run
computes, bit for bit; its bad inputs fail before any work."""
import json
import subprocess
import sys

import pytest

from pyg_gas.cli import main
from pyg_gas.train import TrainConfig, run

COMMON = dict(epochs=4, num_parts=8, batch_size=2, hidden=16, seed=2,
              progress=False, device='cpu')


def _compare(a, b):
    assert a['curve']['loss'] == b['curve']['loss']
    for key in ('best_val_acc', 'test_acc', 'train_acc', 'num_params'):
        assert a[key] == b[key], key


@pytest.mark.parametrize('model', ['gcn', 'gat', 'sage'])
def test_disk_run_equals_memory_run(prepared, model):
    memory = run(TrainConfig(dataset='cora', model=model, **COMMON))
    disk = run(TrainConfig(data_dir=prepared, model=model, **COMMON))
    _compare(disk, memory)
    assert disk['dataset'] == 'cora'
    assert len(disk['curve']['loss']) == 4


def test_disk_histories_equal_memory_histories(prepared, tmp_path):
    memory = run(TrainConfig(dataset='cora', **COMMON))
    disk = run(TrainConfig(data_dir=prepared, history_storage='disk',
                           history_path=str(tmp_path / 'h'), **COMMON))
    _compare(disk, memory)
    assert sorted(p.name for p in (tmp_path / 'h').iterdir())


def test_split_clusters_disk_equals_memory(prepared, tmp_path):
    # Clusters split by 'max_cluster_edges' from disk, with disk histories,
    # compute what the same split computes in memory.
    split = dict(COMMON, max_cluster_edges=500)
    memory = run(TrainConfig(dataset='cora', **split))
    disk = run(TrainConfig(data_dir=prepared, history_storage='disk',
                           history_path=str(tmp_path / 'h'), **split))
    _compare(disk, memory)
    whole = run(TrainConfig(data_dir=prepared, **COMMON))
    assert whole['batches_per_epoch'] == 4
    assert disk['batches_per_epoch'] == memory['batches_per_epoch'] > 4


@pytest.mark.parametrize('args, message', [
    (['--num-parts', '4'], 'was prepared with 8 parts'),
    (['--loader', 'full'], 'trains with the loaders'),
    (['--standardize-features', 'true'], 'cannot be standardized'),
])
def test_bad_prepared_runs(prepared, args, message, capsys):
    assert main(['train', '--data-dir', prepared, '--no-progress',
                 '--epochs', '1'] + args) == 2
    err = capsys.readouterr().err
    assert err.startswith('pyg-gas: error: ') and message in err


def test_history_storage_needs_a_path(capsys, tmp_path):
    assert main(['train', '--history-storage', 'disk', '--no-progress']) == 2
    assert '--history-path' in capsys.readouterr().err
    assert main(['train', '--history-path', str(tmp_path),
                 '--no-progress']) == 2
    assert 'history_storage' in capsys.readouterr().err


def test_data_dir_that_is_not_prepared(tmp_path, capsys):
    assert main(['train', '--data-dir', str(tmp_path), '--no-progress']) == 2
    assert 'manifest.json' in capsys.readouterr().err


def test_prepare_prints_what_it_wrote(tmp_path, capsys):
    root = tmp_path / 'c'
    assert main(['prepare', '--out', str(root), '--num-parts', '4',
                 '--x-dtype', 'bfloat16', '--no-progress']) == 0
    out = json.loads(capsys.readouterr().out)
    assert out['num_nodes'] == 2708 and out['num_parts'] == 4
    manifest = json.loads((root / 'manifest.json').read_text())
    assert manifest['arrays']['x']['dtype'] == 'bfloat16'
    assert manifest['normalized_features'] is True  # Cora's preset.
    assert main(['prepare', '--out', str(root), '--no-progress']) == 2
    assert 'already holds' in capsys.readouterr().err


def test_stream_partitioner_trains(tmp_path):
    # The bounded-memory partitioner in place of METIS, in memory and for a
    # prepared dataset:
    common = dict(COMMON, epochs=60)
    memory = run(TrainConfig(dataset='cora', partitioner='stream',
                             cache_dir=str(tmp_path), **common))
    assert memory['test_acc'] > 0.75
    root = tmp_path / 'cora.gas'
    assert main(['prepare', '--out', str(root), '--num-parts', '8',
                 '--partition', 'stream', '--no-progress']) == 0
    manifest = json.loads((root / 'manifest.json').read_text())
    assert manifest['partition']['method'] == 'stream'
    assert not (tmp_path / 'cora.gas.staged').exists()
    disk = run(TrainConfig(data_dir=str(root), **common))
    assert disk['test_acc'] > 0.75


_HEAP_PROBE = r'''
import ctypes, ctypes.util, sys
from pyg_gas.utils import trim_memory
libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
def anon():
    status = open('/proc/self/status').read()
    return int(status.split('RssAnon:')[1].split()[0]) * 1024
# 64 MiB of 64 KiB blocks, below glibc's mapping threshold: from the heap.
blocks = [libc.malloc(1 << 16) for _ in range(1024)]
for block in blocks:
    ctypes.memset(block, 1, 1 << 16)
full = anon()
for block in blocks[:-1]:  # The last one pins the top of the heap.
    libc.free(block)
freed = anon()
trimmed = anon() if trim_memory() else None
print(full - freed, None if trimmed is None else freed - trimmed)
'''


@pytest.mark.skipif(not sys.platform.startswith('linux'),
                    reason='glibc and /proc are Linux only')
def test_trim_memory():
    # glibc keeps freed heap blocks in the process; 'trim_memory' gives
    # them back.
    out = subprocess.run([sys.executable, '-c', _HEAP_PROBE],
                         capture_output=True, text=True, check=True)
    kept, released = out.stdout.split()
    if released == 'None':
        pytest.skip('the C library is not glibc')
    MiB = 1 << 20
    assert int(kept) < 8 * MiB
    assert int(released) >= 56 * MiB
