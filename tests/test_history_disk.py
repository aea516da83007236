import copy
import errno
import os
import pickle

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from pyg_gas import (
    EvalSubgraphLoader,
    History,
    ScalableGNN,
    SubgraphLoader,
    metis,
    permute,
)
from pyg_gas.graph import gcn_normalize
from pyg_gas.history import NodeIndexError, history_files
from pyg_gas.history_io import HistoryPrefetcher
from pyg_gas.nn.models import GCN
from pyg_gas.testing import onlyCUDA

DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]
NP_DTYPES = {
    torch.float32: np.float32,
    torch.float64: np.float64,
    torch.bfloat16: np.uint16,
    torch.float16: np.float16,
}

# Values that every storage type holds exactly:
X = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])


def disk(tmp_path, num=6, dim=2, name='history_0.npy', **kwargs):
    return History(num, dim, storage='disk', path=tmp_path / name, **kwargs)


# Construction and files ######################################################


@pytest.mark.parametrize('dtype', DTYPES)
def test_files(tmp_path, dtype):
    history = disk(tmp_path / 'sub', dtype=dtype)  # Creates the directory.
    emb_file = tmp_path / 'sub' / 'history_0.npy'
    step_file = tmp_path / 'sub' / 'history_0.last_step.npy'
    assert history_files(emb_file) == (str(emb_file), str(step_file))
    assert history.path == str(emb_file)
    assert history.storage == 'disk' and history.offload
    assert history.dtype == dtype and history.emb.shape == (6, 2)
    assert history.last_step.tolist() == [-1] * 6
    assert int(history.step) == 0

    emb = np.load(emb_file, mmap_mode='r')
    assert emb.shape == (6, 2) and emb.dtype == NP_DTYPES[dtype]
    assert not emb.any()
    last_step = np.load(step_file, mmap_mode='r')
    assert last_step.shape == (6, ) and last_step.dtype == np.int64
    assert last_step.tolist() == [-1] * 6

    # Preallocated: the blocks of the whole file are reserved.
    size = os.path.getsize(emb_file)
    assert size == 128 + 6 * 2 * torch.empty((), dtype=dtype).element_size()
    if hasattr(os, 'posix_fallocate'):
        assert os.stat(emb_file).st_blocks * 512 >= size

    assert list(history.parameters()) == []
    assert [name for name, _ in history.named_buffers()] == [
        'emb', 'last_step', 'step'
    ]


def test_repr(tmp_path):
    path = tmp_path / 'h.npy'
    assert repr(History(7, 3, storage='disk', path=path)) == (
        f"History(7, 3, storage='disk', path='{path}')")
    assert repr(History(7, 3, dtype=torch.float16, storage='disk',
                        path=path.with_name('g.npy'))) == (
        f"History(7, 3, dtype=torch.float16, storage='disk', "
        f"path='{path.with_name('g.npy')}')")


def test_empty_store(tmp_path):
    history = disk(tmp_path, num=0, dim=3)
    assert history.pull().shape == (0, 3)
    assert history.staleness().shape == (0, )
    history.push(torch.empty(0, 3))


# push / pull / staleness: as a memory store ##################################


@pytest.mark.parametrize('dtype', DTYPES)
def test_equals_memory_store(tmp_path, dtype):
    on_disk = disk(tmp_path, dtype=dtype)
    in_memory = History(6, 2, dtype=dtype)
    for history in (on_disk, in_memory):
        history.push(X, torch.tensor([4, 0, 2]))  # Unsorted ids.
        history.tick()
        history.push(X[:2] * 2, offset=torch.tensor([1, 5]),
                     count=torch.tensor([1, 1]))
        history.tick()
        history.push(X[2:], torch.tensor([0]))
    assert torch.equal(on_disk.emb, in_memory.emb)
    assert torch.equal(on_disk.last_step, in_memory.last_step)
    assert on_disk.emb.float().tolist() == [[5, 6], [2, 4], [5, 6], [0, 0],
                                            [1, 2], [6, 8]]
    assert on_disk.last_step.tolist() == [2, 1, 0, -1, 0, 1]
    assert on_disk.staleness().tolist() == [0, 1, 2, -1, 2, 1]
    assert on_disk.staleness(torch.tensor([3, 4])).tolist() == [-1, 2]

    for n_id in ([5, 2, 1, 0, 4], [0, 1, 2], [3, 3, 0], []):
        n_id = torch.tensor(n_id, dtype=torch.long)
        out = on_disk.pull(n_id)
        assert torch.equal(out, in_memory.pull(n_id))
        assert out.dtype == (torch.float64 if dtype == torch.float64 else
                             torch.float32)
        for out_dtype in (dtype, torch.float32, torch.float64):
            a = torch.full((n_id.numel(), 2), -7.0, dtype=out_dtype)
            b = a.clone()
            on_disk.pull(n_id, out=a)
            in_memory.pull(n_id, out=b)
            assert torch.equal(a, b)
    assert on_disk.pull(torch.tensor([5, 0])).tolist() == [[6, 8], [5, 6]]
    assert torch.equal(on_disk.pull(), in_memory.pull())

    on_disk.push(X.double().repeat(2, 1))  # All rows, cast.
    assert on_disk.emb.float().tolist() == X.repeat(2, 1).tolist()
    on_disk.reset_parameters()
    assert not bool(on_disk.emb.any()) and int(on_disk.step) == 0
    assert on_disk.last_step.tolist() == [-1] * 6


def test_large_unsorted_pull_and_push(tmp_path):
    # More rows than one staging step of 1 MiB: the rows come back in the
    # order asked for.
    num, dim = 5000, 64
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(num, dim, generator=gen)
    n_id = torch.randperm(num, generator=gen)
    on_disk = disk(tmp_path, num=num, dim=dim, dtype=torch.bfloat16)
    in_memory = History(num, dim, dtype=torch.bfloat16)
    for history in (on_disk, in_memory):
        history.push(x, n_id)
    assert torch.equal(on_disk.emb, in_memory.emb)
    assert torch.equal(on_disk.pull(n_id), x.bfloat16().float())
    out = torch.empty(num, dim)
    assert torch.equal(on_disk.pull(n_id, out=out), x.bfloat16().float())


def test_errors_as_memory_store(tmp_path):
    history = disk(tmp_path)
    with pytest.raises(NodeIndexError, match=r'max id 6, for num_nodes=6'):
        history.pull(torch.tensor([0, 6]))
    with pytest.raises(NodeIndexError, match=r'min id -1'):
        history.push(X, torch.tensor([-1, 0, 1]))
    with pytest.raises(ValueError, match=r"'offset' 5, 'count' 2"):
        history.push(X[:2], offset=torch.tensor([5]), count=torch.tensor([2]))
    assert history.last_step.tolist() == [-1] * 6  # Nothing written.


def test_stays_on_cpu_and_keeps_its_type(tmp_path):
    history = disk(tmp_path, dtype=torch.float16)
    emb = history.emb
    for fn in (lambda h: h.double(), lambda h: h.half(), lambda h: h.float(),
               lambda h: h.to(torch.float64), lambda h: h.cpu(),
               lambda h: h.share_memory()):
        assert fn(history) is history
        assert history.emb is emb and history.storage == 'disk'
        assert history.dtype == torch.float16
    assert history.device == torch.device('cpu')


# State dict, pickling ########################################################


@pytest.mark.parametrize('dtype', DTYPES)
def test_state_dict_round_trip(tmp_path, dtype):
    in_memory = History(6, 2, dtype=dtype)
    in_memory.push(X, torch.tensor([1, 3, 5]))
    in_memory.tick()
    on_disk = disk(tmp_path, dtype=dtype)
    ptr = on_disk.emb.data_ptr()
    on_disk.load_state_dict(in_memory.state_dict())
    assert on_disk.emb.data_ptr() == ptr  # Copied into the file.
    assert torch.equal(on_disk.emb, in_memory.emb)
    assert torch.equal(on_disk.last_step, in_memory.last_step)
    assert int(on_disk.step) == 1
    emb = np.load(tmp_path / 'history_0.npy', mmap_mode='r')
    assert torch.equal(torch.from_numpy(emb.copy()).view(dtype),
                       in_memory.emb)

    # Back into memory, and through torch.save:
    path = tmp_path / 'state.pt'
    torch.save(on_disk.state_dict(), path)
    other = History(6, 2, dtype=dtype)
    other.load_state_dict(torch.load(path))
    assert torch.equal(other.emb, in_memory.emb)
    assert torch.equal(other.last_step, in_memory.last_step)

    # 'assign=True' copies into the files too, instead of dropping them:
    fresh = History(6, 2, dtype=dtype)
    on_disk.load_state_dict(fresh.state_dict(), assign=True)
    assert on_disk.emb.data_ptr() == ptr
    assert not np.load(tmp_path / 'history_0.npy', mmap_mode='r').any()


def test_pickling_maps_the_same_file(tmp_path):
    history = disk(tmp_path, num=1000, dim=64)
    history.push(torch.ones(2, 64), torch.tensor([3, 7]))
    history.tick()
    data = pickle.dumps(history)
    assert len(data) < 4096  # The path, not the 256 KiB of rows.
    other = pickle.loads(data)
    assert other.path == history.path and int(other.step) == 1
    assert torch.equal(other.emb, history.emb)
    assert torch.equal(other.last_step, history.last_step)

    # A push through one is seen by the other and in the file:
    other.push(torch.full((1, 64), 5.0), torch.tensor([10]))
    assert history.emb[10].tolist() == [5.0] * 64
    assert history.last_step[10] == 1
    other.flush()
    emb = np.load(tmp_path / 'history_0.npy', mmap_mode='r')
    assert emb[10].tolist() == [5.0] * 64 and emb[3].tolist() == [1.0] * 64

    clone = copy.deepcopy(history)  # A handle on the same files too.
    clone.push(torch.full((1, 64), 2.0), torch.tensor([0]))
    assert history.emb[0].tolist() == [2.0] * 64


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float64])
def test_pickling_keeps_the_type(tmp_path, dtype):
    history = disk(tmp_path, dtype=dtype)
    history.push(X, torch.tensor([0, 1, 2]))
    other = pickle.loads(pickle.dumps(history))
    assert other.dtype == dtype
    assert torch.equal(other.emb, history.emb)


def test_reuses_a_matching_file(tmp_path):
    history = disk(tmp_path)
    history.push(X, torch.tensor([0, 1, 2]))
    del history
    history = disk(tmp_path)  # Same shape and type: reused, and reset.
    assert not bool(history.emb.any())
    assert history.last_step.tolist() == [-1] * 6
    assert not np.load(tmp_path / 'history_0.npy', mmap_mode='r').any()


def _mapped_kib(file) -> int:
    # The resident kB of this process's maps of 'file' (Linux).
    total, inside = 0, False
    with open('/proc/self/smaps') as f:
        for line in f:
            if '-' in line.split(' ', 1)[0]:  # A map's first line.
                inside = line.rstrip('\n').endswith(' ' + str(file))
            elif inside and line.startswith('Rss:'):
                total += int(line.split()[1])
    return total


@pytest.mark.skipif(not os.path.exists('/proc/self/smaps'),
                    reason='needs /proc/self/smaps (Linux)')
def test_setting_rows_leaves_the_maps_untouched(tmp_path):
    # Creating a store and resetting it write -1 and 0 to its files without
    # making their pages resident in the process (2 MB of rows each).
    num = 1 << 18
    history = disk(tmp_path, num=num, dim=2)
    emb_file, step_file = history_files(history.path)
    assert _mapped_kib(step_file) <= 4 and _mapped_kib(emb_file) <= 4
    assert int(history.last_step[num - 1]) == -1  # Seen through the map.

    history.push(torch.ones(num, 2))
    assert _mapped_kib(emb_file) >= 2048 - 4  # Every page written.
    del history
    history = disk(tmp_path, num=num, dim=2)  # Reused, and reset.
    assert _mapped_kib(step_file) <= 4 and _mapped_kib(emb_file) <= 4
    history.push(torch.ones(3, 2), torch.tensor([0, 1, num - 1]))
    history.step.fill_(5)
    history.reset_parameters()
    assert _mapped_kib(step_file) <= 8 and _mapped_kib(emb_file) <= 8
    assert int(history.step) == 0
    assert not bool(history.emb.any())
    assert bool((history.last_step == -1).all())


# Bad input ###################################################################


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(storage='disk'), ValueError, r"storage='disk' needs a 'path'"),
    (dict(path='h.npy'), ValueError,
     r"'path' is for storage='disk' only \(got path='h.npy' with "
     r"storage='memory'\)"),
    (dict(storage='ssd'), ValueError,
     r"'storage' must be one of \['memory', 'disk'\] \(got 'ssd'\)"),
    (dict(storage='disk', path='history'), ValueError,
     r"'path' must name a '.npy' file, e.g. .*\(got 'history'\)"),
    (dict(storage='disk', path=3), TypeError,
     r"'path' must be a str or os.PathLike \(got int\)"),
    (dict(storage='disk', path='h.npy', device='cuda'), ValueError,
     r"'device' must be None or 'cpu' \(got 'cuda'\)"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        History(6, 2, **kwargs)


def test_never_overwrites_another_file(tmp_path):
    np.save(tmp_path / 'other.npy', np.arange(12.0).reshape(6, 2))
    with pytest.raises(ValueError, match=r"'.*other.npy' exists and holds "
                       r'an array of shape \[6, 2\] and type float64, but '
                       r'this history needs shape \[6, 2\] and type float32'):
        disk(tmp_path, name='other.npy')
    (tmp_path / 'text.npy').write_text('not an array')
    with pytest.raises(ValueError, match=r"'.*text.npy' exists but is not "
                       r"a '.npy' file"):
        disk(tmp_path, name='text.npy')
    (tmp_path / 'dir.npy').mkdir()
    with pytest.raises(ValueError, match=r"'.*dir.npy' exists but is not a "
                       r'regular file'):
        disk(tmp_path, name='dir.npy')
    disk(tmp_path, name='h.npy')
    with pytest.raises(ValueError, match=r"h.npy' exists and holds an array "
                       r'of shape \[6, 2\] .* needs shape \[7, 2\]'):
        disk(tmp_path, num=7, name='h.npy')
    np.save(tmp_path / 'g.last_step.npy', np.zeros(3))  # The sibling.
    with pytest.raises(ValueError, match=r"g.last_step.npy' exists and "
                       r'holds an array of shape \[3\]'):
        disk(tmp_path, name='g.npy')
    assert not (tmp_path / 'g.npy').exists()  # Nothing half-made.
    # The foreign files are untouched:
    assert np.load(tmp_path / 'other.npy').tolist() == np.arange(
        12.0).reshape(6, 2).tolist()
    assert (tmp_path / 'text.npy').read_text() == 'not an array'


def test_unwritable_directory(tmp_path, monkeypatch):
    locked = tmp_path / 'locked'
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # E.g. as root.
            pytest.skip('chmod does not restrict this user')
        with pytest.raises(ValueError, match=r"Cannot write the history "
                           r"file '.*locked/h.npy': the directory "
                           r"'.*locked' is not writable"):
            disk(locked, name='h.npy')
    finally:
        locked.chmod(0o700)


def test_unwritable_directory_reported(tmp_path, monkeypatch):
    # The same check, whoever runs the test (root may write anywhere):
    monkeypatch.setattr(os, 'access', lambda path, mode: False)
    with pytest.raises(ValueError, match=r"Cannot write the history file "
                       r"'.*new/h.npy': '.*', where its directory "
                       r"'.*new' would be created, is not writable"):
        disk(tmp_path / 'new', name='h.npy')
    assert not (tmp_path / 'new').exists()
    with pytest.raises(ValueError, match=r"Cannot write .*: the directory "
                       r"'.*' is not writable"):
        disk(tmp_path, name='h.npy')


def test_parent_is_a_file(tmp_path):
    (tmp_path / 'file').write_text('')
    with pytest.raises(ValueError, match=r"Cannot create the directory "
                       r"'.*file/sub'.*'.*file' is not a directory"):
        disk(tmp_path / 'file' / 'sub', name='h.npy')


def test_not_enough_space(tmp_path, monkeypatch):
    class Usage:
        total = used = 1 << 30
        free = 1000

    monkeypatch.setattr('shutil.disk_usage', lambda path: Usage)
    needed = (128 + 100 * 8 * 4) + (128 + 100 * 8)
    with pytest.raises(ValueError, match=rf"Not enough free disk space for "
                       rf"the history files \[.*h.npy.*h.last_step.npy.*\] "
                       rf"under '.*': {needed} bytes needed, 1000 bytes "
                       rf'available'):
        disk(tmp_path / 'new', num=100, dim=8, name='h.npy')
    assert not (tmp_path / 'new').exists()  # Checked before writing.


def test_full_disk_fails_at_creation(tmp_path, monkeypatch):
    if not hasattr(os, 'posix_fallocate'):
        pytest.skip('no posix_fallocate')

    def fallocate(fd, offset, length):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(os, 'posix_fallocate', fallocate)
    with pytest.raises(ValueError, match=r"Cannot allocate the history file "
                       r"'.*h.npy' \(176 bytes needed, \d+ bytes "
                       r'available\): .*No space left'):
        disk(tmp_path, num=6, dim=2, name='h.npy')
    assert os.listdir(tmp_path) == []  # Nothing left behind.


# ScalableGNN #################################################################


def test_scalable_gnn_files(tmp_path):
    model = ScalableGNN(10, [4, 3], 3, history_dtype=torch.bfloat16,
                        history_storage='disk', history_path=tmp_path / 'h')
    assert sorted(os.listdir(tmp_path / 'h')) == [
        'history_0.last_step.npy', 'history_0.npy',
        'history_1.last_step.npy', 'history_1.npy'
    ]
    assert [h.storage for h in model.histories] == ['disk', 'disk']
    assert model.histories[1].path == str(tmp_path / 'h' / 'history_1.npy')
    assert model.histories[1].emb.shape == (10, 3)
    assert model.histories[0].dtype == torch.bfloat16
    assert 'history_prefetch' not in model.state_dict()
    assert model.history_prefetch is None
    memory = ScalableGNN(10, 4, 3)
    assert [h.storage for h in memory.histories] == ['memory', 'memory']


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(history_storage='ssd'), ValueError,
     r"'history_storage' must be one of \['memory', 'disk'\] "
     r"\(got 'ssd'\)"),
    (dict(history_storage='disk'), ValueError,
     r"history_storage='disk' needs a 'history_path'"),
    (dict(history_path='h'), ValueError,
     r"'history_path' is for history_storage='disk' only \(got "
     r"history_path='h' with history_storage='memory'\)"),
    (dict(history_storage='disk', history_path=1.5), TypeError,
     r"'history_path' must be a str or os.PathLike \(got float\)"),
    (dict(history_storage='disk', history_path='h', history_device='cuda'),
     ValueError, r"'history_device' must be None or 'cpu' with "
     r"history_storage='disk' \(got 'cuda'\)"),
])
def test_scalable_gnn_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ScalableGNN(10, 4, 3, **kwargs)


def test_scalable_gnn_path_is_a_file(tmp_path):
    (tmp_path / 'f').write_text('')
    with pytest.raises(ValueError, match=r"'history_path' must be a "
                       r"directory \(got '.*f', an existing file\)"):
        ScalableGNN(10, 4, 3, history_storage='disk',
                    history_path=tmp_path / 'f')


def test_scalable_gnn_checks_space_for_all_histories(tmp_path, monkeypatch):
    # Room for one history but not for both: nothing is created.
    class Usage:
        total = used = 1 << 30
        free = 2 * 128 + 10 * 4 * 4 + 10 * 8

    monkeypatch.setattr('shutil.disk_usage', lambda path: Usage)
    with pytest.raises(ValueError, match=r'history_0.npy.*history_1.npy.*'
                       r'\d+ bytes needed, 496 bytes available'):
        ScalableGNN(10, 4, 3, history_storage='disk',
                    history_path=tmp_path / 'h')
    assert not (tmp_path / 'h').exists()


def test_history_prefetch_setting(tmp_path):
    model = ScalableGNN(10, 4, 3)
    with pytest.raises(TypeError, match=r"'history_prefetch' must be None, "
                       r'True or False \(got 1\)'):
        model.history_prefetch = 1
    model.history_prefetch = True
    assert model.history_prefetch is True


# Prefetching #################################################################


def test_prefetcher(tmp_path):
    on_disk = disk(tmp_path, dtype=torch.bfloat16)
    in_memory = History(6, 2)
    for history in (on_disk, in_memory):
        history.push(X, torch.tensor([1, 3, 5]))
    prefetcher = HistoryPrefetcher([on_disk, in_memory])
    out = torch.empty(2, 2)
    with pytest.raises(RuntimeError, match='call prefetch'):
        prefetcher.pull(0, out)
    prefetcher.prefetch(torch.tensor([5, 1]))
    assert prefetcher.max_halo_rows == 2
    assert prefetcher.pull(0, out).tolist() == [[5, 6], [1, 2]]
    assert prefetcher.pull(1, out.double()).tolist() == [[5, 6], [1, 2]]
    prefetcher.push(1, X[:1], n_id=torch.tensor([0]))
    assert in_memory.emb[0].tolist() == [1, 2]
    prefetcher.prefetch(torch.tensor([0, 9]))  # The error reaches the pull.
    with pytest.raises(NodeIndexError, match='max id 9'):
        prefetcher.pull(0, out)
    # The rows of history 1 are never pulled: the next batch goes on.
    prefetcher.synchronize()
    prefetcher.prefetch(torch.tensor([3]))
    assert prefetcher.pull(1, out[:1]).tolist() == [[3, 4]]
    prefetcher.close()


def test_forward_after_a_failed_forward(tmp_path):
    model = TinyGCN(6, 2, 4, 2, num_layers=3, history_storage='disk',
                    history_path=tmp_path)
    adj_t = torch.eye(3, 4).to_sparse_csr()
    x = torch.randn(4, 2)
    with pytest.raises(NodeIndexError, match='max id 9'):
        model(x, adj_t, 3, torch.tensor([0, 1, 2, 9]))
    out = model(x, adj_t, 3, torch.tensor([0, 1, 2, 5]))
    assert out.shape == (3, 2)


class TinyGCN(ScalableGNN):
    # A GCN-like ScalableGNN with the history arguments of the base class.
    def __init__(self, num_nodes, in_channels, hidden, out_channels,
                 num_layers=3, **kwargs):
        super().__init__(num_nodes, hidden, num_layers, **kwargs)
        from torch_geometric.nn import GCNConv
        dims = [in_channels] + [hidden] * (num_layers - 1) + [out_channels]
        self.convs = torch.nn.ModuleList([
            GCNConv(dims[i], dims[i + 1], normalize=False)
            for i in range(num_layers)
        ])

    def forward_layer(self, layer, x, adj_t, state):
        x = torch.nn.functional.dropout(x, p=0.3, training=self.training)
        h = self.convs[layer](x, adj_t)
        return h if layer == self.num_layers - 1 else h.relu()


@pytest.fixture(scope='module')
def graph():
    gen = torch.Generator().manual_seed(0)
    num_nodes = 300
    edge_index = torch.randint(0, num_nodes, (2, 1500), generator=gen)
    data = Data(x=torch.randn(num_nodes, 8, generator=gen),
                edge_index=torch.cat([edge_index, edge_index.flip(0)], 1),
                y=torch.randint(0, 3, (num_nodes, ), generator=gen))
    data = gcn_normalize(data)  # Self-loops, GCN normalization.
    perm, ptr = metis(data, 6, log=False)
    return permute(data, perm), ptr


def train(model, data, ptr, epochs=2, device='cpu'):
    torch.manual_seed(1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loader = SubgraphLoader(data, ptr, batch_size=2, shuffle=True,
                            generator=torch.Generator().manual_seed(2))
    losses, outs = [], []
    model.train()
    for _ in range(epochs):
        for batch in loader:
            batch = batch.to(device)
            bs = batch.batch_size
            optimizer.zero_grad()
            out = model(batch.x, batch.adj_t, bs, batch.n_id, batch.offset,
                        batch.count)
            loss = torch.nn.functional.cross_entropy(out, batch.y[:bs])
            loss.backward()
            optimizer.step()
            losses.append(loss.detach().cpu())
            outs.append(out.detach().cpu())
    model.synchronize_histories()
    inference = model.inference(EvalSubgraphLoader(data, ptr, batch_size=2))
    return torch.stack(losses), torch.cat(outs), inference.cpu()


def assert_same_histories(a, b):
    for h_a, h_b in zip(a.histories, b.histories):
        assert torch.equal(h_a.emb, h_b.emb)
        assert torch.equal(h_a.last_step, h_b.last_step)
        assert torch.equal(h_a.step, h_b.step)


def make_gcn(data, dtype=None, path=None, prefetch=None, device=None):
    # pyg_gas.nn.models.GCN, with the histories a ScalableGNN makes for
    # 'history_storage' (the model classes do not pass it on).
    torch.manual_seed(0)
    model = GCN(data.num_nodes, 8, 16, 3, num_layers=3, dropout=0.3,
                batch_norm=True, history_dtype=dtype, history_device=device)
    if path is not None:
        model.histories = ScalableGNN(data.num_nodes, 16, 3,
                                      history_dtype=dtype,
                                      history_storage='disk',
                                      history_path=path).histories
    model.history_prefetch = prefetch
    return model


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_training_on_disk_equals_memory(graph, tmp_path, dtype):
    data, ptr = graph
    runs = {
        'memory': make_gcn(data, dtype),
        'disk': make_gcn(data, dtype, tmp_path / 'a'),  # Prefetching.
        'disk-sync': make_gcn(data, dtype, tmp_path / 'b', prefetch=False),
    }
    results = {name: train(model, data, ptr) for name, model in runs.items()}
    assert runs['disk']._prefetcher is not None
    assert runs['disk-sync']._prefetcher is None
    assert runs['memory']._prefetcher is None
    for name in ('disk', 'disk-sync'):
        for a, b in zip(results['memory'], results[name]):
            assert torch.equal(a, b)
        assert_same_histories(runs['memory'], runs[name])
    assert int(runs['disk'].histories[0].step) == 6  # 2 epochs of 3.


def test_prefetch_on_off(graph, tmp_path):
    # The ScalableGNN arguments, and prefetching of memory histories too:
    data, ptr = graph
    runs = {}
    for name, storage, prefetch in [('memory', 'memory', None),
                                    ('memory-prefetch', 'memory', True),
                                    ('disk', 'disk', None),
                                    ('disk-sync', 'disk', False)]:
        torch.manual_seed(0)
        path = tmp_path / name if storage == 'disk' else None
        runs[name] = TinyGCN(data.num_nodes, 8, 16, 3,
                             history_storage=storage, history_path=path)
        runs[name].history_prefetch = prefetch
    results = {name: train(model, data, ptr) for name, model in runs.items()}
    assert runs['memory-prefetch']._prefetcher is not None
    for name in runs:
        for a, b in zip(results['memory'], results[name]):
            assert torch.equal(a, b)
        assert_same_histories(runs['memory'], runs[name])

    # Threads do not travel; the copy maps the same files:
    model = runs['disk']
    other = pickle.loads(pickle.dumps(model))
    assert other._prefetcher is None and model._prefetcher is not None
    assert other.histories[0].path == model.histories[0].path
    assert_same_histories(model, other)
    state = model.state_dict()
    assert torch.equal(state['histories.1.emb'], model.histories[1].emb)
    model.history_prefetch = False  # Stops the thread.
    assert model._prefetcher is None


# CUDA ########################################################################


@onlyCUDA
def test_disk_history_of_a_cuda_model(tmp_path):
    history = disk(tmp_path).to('cuda')
    assert history.emb.device.type == 'cpu'  # Stays in the file,
    assert not history.emb.is_pinned()  # unpinned.
    assert history.device.type == 'cuda'
    history.push(X.cuda(), torch.tensor([4, 0, 2], device='cuda'))
    history.push(X[:1].cuda(), offset=torch.tensor([1]),
                 count=torch.tensor([1]))
    n_id = torch.tensor([2, 0, 1], device='cuda')
    out = history.pull(n_id)
    assert out.device.type == 'cuda'
    assert out.tolist() == [[5, 6], [3, 4], [1, 2]]
    out = torch.zeros(3, 2, device='cuda', dtype=torch.float64)
    assert history.pull(n_id, out=out).tolist() == [[5, 6], [3, 4], [1, 2]]
    assert history.staleness(n_id).tolist() == [0, 0, 0]


@onlyCUDA
@pytest.mark.parametrize('async_io', [False, True])
def test_cuda_training_on_disk_equals_offloaded(graph, tmp_path, async_io):
    data, ptr = graph
    ref = make_gcn(data, device='cpu').cuda()
    model = make_gcn(data, path=tmp_path / 'h').cuda()
    assert model._prefetcher is None  # CPU prefetching is off on CUDA.
    if async_io:
        loader = SubgraphLoader(data, ptr, batch_size=2)
        ref.enable_async_io(loader)
        model.enable_async_io(loader)
    expected = train(ref, data, ptr, device='cuda')
    results = train(model, data, ptr, device='cuda')
    assert model._prefetcher is None
    for a, b in zip(expected, results):
        torch.testing.assert_close(a, b)
    for h_ref, h in zip(ref.histories, model.histories):
        assert h.storage == 'disk' and h.emb.device.type == 'cpu'
        torch.testing.assert_close(h_ref.emb, h.emb)
        assert torch.equal(h_ref.last_step, h.last_step)
    ref.disable_async_io()
    model.disable_async_io()
