r"""Node rows: features and history rows interleaved in one file, each
node's row in one page; histories in them push and pull as in memory, and
training on them computes what the in-memory run computes, bit for bit."""
import copy
import json
import os
import pickle
import shutil

import numpy as np
import pytest
import torch

from pyg_gas import History, SubgraphLoader
from pyg_gas.cli import main
from pyg_gas.nn.models import GCN
from pyg_gas.rows import PAGE_BYTES, row_stride
from pyg_gas.storage import DiskDataset, NodeRows
from pyg_gas.train import TrainConfig, run

COMMON = dict(epochs=4, num_parts=8, batch_size=2, hidden=16, seed=2,
              progress=False, device='cpu', quiet=True)


def test_row_stride():
    # Whole pages, or a power-of-two fraction of one that holds the row:
    assert row_stride(1024) == 1024  # 4096 bytes: one page.
    assert row_stride(612) == 1024  # 2448 bytes: a page of its own.
    assert row_stride(1025) == 2048  # Just over a page: two.
    assert row_stride(300) == 512  # 1200 bytes: two rows a page.
    assert row_stride(100) == 128  # 400 bytes: eight rows a page.
    assert row_stride(1) == 1
    assert row_stride(10, itemsize=2) == 16


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16,
                                   torch.float16])
def test_create_and_open(tmp_path, dtype):
    x = torch.randn(37, 5).to(dtype)
    rows = NodeRows.create(str(tmp_path / 'r' / 'rows.npy'), x, [3, 4],
                           source='abc')
    assert rows.widths == [5, 3, 4] and rows.offsets == [0, 5, 8, 12]
    assert rows.stride == 16 and rows.num_nodes == 37
    assert rows.num_features == 5 and rows.history_widths == [3, 4]
    assert rows.source == 'abc'
    assert rows.features.dtype == torch.float32
    assert torch.equal(rows.features, x.float())
    assert not rows.history(0).any() and not rows.history(1).any()
    assert rows.history(1).shape == (37, 4)
    # A plain '.npy' file whose rows start on a page:
    array = np.load(rows.path, mmap_mode='r')
    assert array.offset == PAGE_BYTES and array.shape == (37, 16)
    assert os.path.getsize(rows.path) == PAGE_BYTES + 37 * 16 * 4
    layout = json.loads((tmp_path / 'r' / 'rows.json').read_text())
    assert layout['widths'] == [5, 3, 4] and layout['zero_histories'] == [0,
                                                                          1]
    assert sorted(os.listdir(tmp_path / 'r')) == ['rows.json', 'rows.npy']
    again = pickle.loads(pickle.dumps(rows))
    assert again.path == rows.path and torch.equal(again.rows, rows.rows)
    with pytest.raises(ValueError, match=r'hold 2 histories \(got '
                       r'history 2\)'):
        rows.history(2)


def test_bad_rows(tmp_path, monkeypatch):
    x = torch.randn(10, 3)
    with pytest.raises(ValueError, match=r"'path' must name a '.npy' file"):
        NodeRows.create(str(tmp_path / 'rows'), x, [2])
    with pytest.raises(TypeError, match=r"'x' must be a 2-dimensional "
                       r"floating tensor"):
        NodeRows.create(str(tmp_path / 'rows.npy'), torch.ones(10), [2])
    with pytest.raises(ValueError, match=r"'history width' must be"):
        NodeRows.create(str(tmp_path / 'rows.npy'), x, [0])
    # Not enough space: nothing is written.
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, 'disk_usage',
                        lambda p: usage._replace(free=100))
    with pytest.raises(ValueError, match=r"Not enough free disk space for "
                       r"the node rows .* 4416 bytes needed, 100 bytes "
                       r"available"):
        NodeRows.create(str(tmp_path / 'rows.npy'), x, [2])
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []

    # Without their layout, or with a file that does not match it:
    rows = NodeRows.create(str(tmp_path / 'rows.npy'), x, [2])
    (tmp_path / 'other.npy').write_bytes(b'')
    with pytest.raises(ValueError, match=r"'.*other.json' is not the layout "
                       r"of node rows"):
        NodeRows(str(tmp_path / 'other.npy'))
    with open(rows.path, 'r+b') as f:
        f.truncate(PAGE_BYTES + 10)
    with pytest.raises(ValueError, match=r"'.*rows.npy' is not a readable "
                       r".npy file of node rows"):
        NodeRows(rows.path)
    np.save(rows.path, np.zeros((10, 4), dtype=np.float64))
    with pytest.raises(ValueError, match=r"holds an array of shape \[10, 4\] "
                       r"and type float64, but its layout gives \[10, 8\] "
                       r"and float32"):
        NodeRows(rows.path)


def test_history_in_rows_equals_memory_store(tmp_path):
    x = torch.randn(3000, 9)
    rows = NodeRows.create(str(tmp_path / 'rows.npy'), x, [16, 4])
    rows = NodeRows(rows.path, writable=True)
    disk = History(3000, 16, storage='disk', path=rows, column=0)
    other = History(3000, 4, storage='disk', path=rows, column=1)
    memory = History(3000, 16)
    assert disk.path == rows.path and disk.column == 0
    assert disk.emb.shape == (3000, 16)
    assert disk.last_step.tolist() == [-1] * 3000
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        lo = int(torch.randint(0, 2900, (1, ), generator=gen))
        count = int(torch.randint(1, 100, (1, ), generator=gen))
        rows_in = torch.randn(count, 16, generator=gen)
        for hist in (disk, memory):
            hist.push(rows_in, offset=torch.tensor([lo]),
                      count=torch.tensor([count]))
            hist.tick()
        ids = torch.randint(0, 3000, (500, ), generator=gen).unique()
        assert torch.equal(disk.pull(ids), memory.pull(ids))
        ids = torch.randperm(3000, generator=gen)[:700]
        rows_in = torch.randn(700, 16, generator=gen)
        disk.push(rows_in, ids)
        memory.push(rows_in, ids)
        assert torch.equal(disk.pull(ids.flip(0)), memory.pull(ids.flip(0)))
        assert torch.equal(disk.staleness(ids), memory.staleness(ids))
    assert torch.equal(disk.emb, memory.emb)
    assert torch.equal(disk.last_step, memory.last_step)
    # The features and the other history are untouched:
    assert torch.equal(rows.features, x)
    assert not other.emb.any()
    assert "path='" in repr(disk) and 'column=0' in repr(disk)

    # Its state is the column alone, and loads back into the file:
    state = disk.state_dict()
    assert state['emb'].is_contiguous() and state['emb'].shape == (3000, 16)
    torch.save(state, tmp_path / 'state.pt')
    assert os.path.getsize(tmp_path / 'state.pt') < 3000 * 16 * 4 + 3000 * 8 \
        + 4096
    disk.reset_parameters()
    assert not disk.emb.any() and bool((disk.last_step == -1).all())
    assert int(disk.step) == 0 and torch.equal(rows.features, x)
    disk.load_state_dict(torch.load(tmp_path / 'state.pt'))
    assert torch.equal(disk.emb, memory.emb)
    assert torch.equal(disk.last_step, memory.last_step)

    # Pickled or copied, it maps the same rows:
    for again in (copy.deepcopy(disk), pickle.loads(pickle.dumps(disk))):
        assert again.rows.path == rows.path and again.column == 0
        again.push(torch.ones(2, 16), torch.tensor([5, 6]))
        assert torch.equal(disk.pull(torch.tensor([5, 6])),
                           torch.ones(2, 16))


def test_new_history_in_used_rows_starts_from_zeros(tmp_path):
    rows = NodeRows.create(str(tmp_path / 'rows.npy'), torch.ones(50, 3),
                           [2])
    rows = NodeRows(rows.path, writable=True)
    first = History(50, 2, storage='disk', path=rows, column=0)
    first.push(torch.full((50, 2), 7.0))
    second = History(50, 2, storage='disk', path=rows, column=0)
    assert not second.emb.any() and not first.emb.any()
    assert torch.equal(rows.features, torch.ones(50, 3))
    assert bool((second.last_step == -1).all())


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(column=2), ValueError,
     r"'column' must be a history of the node rows, in \[0, 1\]"),
    (dict(column=None), ValueError, r"'column' must be a history of the "),
    (dict(column=0, dim=3), ValueError,
     r"History 0 of the node rows '.*' holds \[20, 2\] rows, but this "
     r"history needs \[20, 3\]"),
    (dict(column=1, num=21), ValueError, r"holds \[20, 4\] rows, but this "
     r"history needs \[21, 2\]"),
    (dict(column=0, dtype=torch.bfloat16), ValueError,
     r"Node rows hold float32 histories \(got dtype=torch.bfloat16\)"),
])
def test_bad_history_in_rows(tmp_path, kwargs, error, match):
    rows = NodeRows(NodeRows.create(str(tmp_path / 'rows.npy'),
                                    torch.ones(20, 3), [2, 4]).path,
                    writable=True)
    num, dim = kwargs.pop('num', 20), kwargs.pop('dim', 2)
    with pytest.raises(error, match=match):
        History(num, dim, storage='disk', path=rows, **kwargs)


def test_read_only_rows(tmp_path):
    path = NodeRows.create(str(tmp_path / 'rows.npy'), torch.ones(20, 3),
                           [2]).path
    with pytest.raises(ValueError, match=r"are mapped read-only: open them "
                       r"with NodeRows\(path, writable=True\)"):
        History(20, 2, storage='disk', path=NodeRows(path), column=0)


def test_column_needs_rows(tmp_path):
    with pytest.raises(ValueError, match=r"'column' is for node rows only"):
        History(4, 2, storage='disk', path=tmp_path / 'h.npy', column=0)


def test_scalable_gnn_on_rows(prepared, tmp_path):
    data = DiskDataset(prepared)
    rows = data.create_rows(str(tmp_path / 'rows.npy'), [16])
    with pytest.raises(ValueError, match=r"hold histories of widths \[16\], "
                       r"but the model needs \[16, 16\]"):
        GCN(data.num_nodes, data.num_features, 16, 7, 3,
            history_storage='disk', history_path=rows)
    with pytest.raises(ValueError, match=r"need history_storage='disk'"):
        GCN(data.num_nodes, data.num_features, 16, 7, 2, history_path=rows)
    model = GCN(data.num_nodes, data.num_features, 16, 7, 2,
                history_storage='disk', history_path=rows)
    assert model.histories[0].rows is rows
    assert os.path.exists(rows.last_step_file(0))


def test_dataset_with_rows(prepared, tmp_path):
    data = DiskDataset(prepared)
    rows = data.create_rows(str(tmp_path / 'rows.npy'), [16, 8])
    assert rows.source == data.manifest['arrays']['x']['blake2b']
    on_rows = data.with_rows(rows)
    assert on_rows.x.stride() == (rows.stride, 1)
    assert torch.equal(on_rows.x, data.x) and on_rows.rows is rows
    assert data.get('rows') is None  # The dataset itself is unchanged.
    again = pickle.loads(pickle.dumps(on_rows))
    assert again.rows.path == rows.path
    assert again.x.stride() == (rows.stride, 1)

    other = NodeRows.create(str(tmp_path / 'other.npy'), data.x.clone(), [4])
    with pytest.raises(ValueError, match=r"The node rows '.*other.npy' were "
                       r"not written from the features of"):
        data.with_rows(other)
    with pytest.raises(TypeError, match=r"'rows' must be NodeRows"):
        data.with_rows(str(tmp_path / 'rows.npy'))


def test_spawned_workers_read_the_rows(prepared, tmp_path):
    data = DiskDataset(prepared)
    on_rows = data.with_rows(data.create_rows(str(tmp_path / 'rows.npy'),
                                              [16]))
    ctx = torch.multiprocessing.get_context('spawn')
    plain = list(SubgraphLoader(data, data.ptr, batch_size=2))
    spawned = list(SubgraphLoader(on_rows, on_rows.ptr, batch_size=2,
                                  num_workers=2, multiprocessing_context=ctx))
    assert len(plain) == len(spawned) == 4
    for a, b in zip(plain, spawned):
        assert torch.equal(a.n_id, b.n_id) and torch.equal(a.x, b.x)


def _compare(a, b):
    assert a['curve']['loss'] == b['curve']['loss']
    for key in ('best_val_acc', 'test_acc', 'train_acc', 'num_params'):
        assert a[key] == b[key], key


@pytest.mark.parametrize('num_workers', [0, 2])
def test_training_on_rows_equals_memory(prepared, tmp_path, num_workers):
    config = dict(COMMON, num_workers=num_workers)
    memory = run(TrainConfig(dataset='cora', **config))
    on_rows = run(TrainConfig(data_dir=prepared, history_storage='disk',
                              history_path=str(tmp_path / 'h'),
                              history_layout='rows', **config))
    _compare(on_rows, memory)
    assert sorted(os.listdir(tmp_path / 'h')) == [
        'output.npy', 'rows.history_0.last_step.npy', 'rows.json',
        'rows.npy'
    ]


@pytest.mark.parametrize('args, message', [
    (['--history-layout', 'rows'],
     "'history_layout' 'rows' needs --history-storage disk\n"),
    (['--history-layout', 'rows', '--history-storage', 'disk',
      '--history-dtype', 'bfloat16', '--loader', 'cluster'],
     'needs --loader gas, --history-dtype float32\n'),
    (['--history-layout', 'rows', '--history-storage', 'disk', '--nproc',
      '2'], 'needs --nproc 1 (one process)\n'),
])
def test_bad_rows_runs(prepared, args, message, capsys):
    assert main(['train', '--data-dir', prepared, '--no-progress',
                 '--epochs', '1', *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith('pyg-gas: error: ') and err.endswith(message)


def test_rows_need_a_prepared_dataset(tmp_path, capsys):
    assert main(['train', '--dataset', 'cora', '--history-storage', 'disk',
                 '--history-path', str(tmp_path / 'h'), '--history-layout',
                 'rows', '--epochs', '1', '--no-progress']) == 2
    assert 'needs --data-dir (a prepared dataset)' in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(['train', '--history-layout', 'columns'])
    assert e.value.code == 2
    assert "invalid choice: 'columns'" in capsys.readouterr().err


def test_resume_on_rows(prepared, tmp_path):
    # A checkpoint holds the history columns alone, and a resumed run on
    # new node rows continues exactly.
    config = dict(COMMON, data_dir=prepared, history_storage='disk',
                  history_layout='rows')
    whole = run(TrainConfig(history_path=str(tmp_path / 'a'), **config))
    ckpt = str(tmp_path / 'ckpt')
    run(TrainConfig(history_path=str(tmp_path / 'b'), checkpoint=ckpt,
                    **dict(config, epochs=2)))
    (file, ) = os.listdir(ckpt)
    rows_bytes = os.path.getsize(tmp_path / 'b' / 'rows.npy')
    assert os.path.getsize(os.path.join(ckpt, file)) < rows_bytes / 10
    resumed = run(TrainConfig(history_path=str(tmp_path / 'b'),
                              checkpoint=ckpt, **config))
    _compare(resumed, whole)


def test_save_histories_on_rows(prepared, tmp_path):
    # A saved model holds the history columns alone, equal to those of the
    # same run with a file per history.
    saved = {}
    for layout in ('files', 'rows'):
        run(TrainConfig(data_dir=prepared, history_storage='disk',
                        history_path=str(tmp_path / f'h-{layout}'),
                        history_layout=layout, save=str(tmp_path / layout),
                        save_histories=True, **dict(COMMON, epochs=2)))
        saved[layout] = torch.load(tmp_path / layout / 'histories.pt')
    assert len(saved['rows']) == 1
    assert saved['rows'][0].shape == (2708, 16)
    assert torch.equal(saved['rows'][0], saved['files'][0])
    assert os.path.getsize(tmp_path / 'rows' / 'histories.pt') < 2708 * 64 \
        + 4096
