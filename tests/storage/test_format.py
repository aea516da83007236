r"""The on-disk dataset format: round trips, the manifest's checks, and
bad directories."""
import json
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from pyg_gas import EvalSubgraphLoader, SubgraphLoader, metis, permute
from pyg_gas.graph import add_node_self_loops, gcn_normalize
from pyg_gas.storage import DiskDataset, FormatError, derive, prepare
from pyg_gas.storage.format import ArrayWriter, write_array, write_manifest


def small_graph(weighted: bool = False, seed: int = 0) -> Data:
    gen = torch.Generator().manual_seed(seed)
    n, e = 60, 300
    edge_index = torch.randint(0, n, (2, e), generator=gen)
    data = Data(edge_index=edge_index, num_nodes=n,
                x=torch.randn(n, 5, generator=gen),
                y=torch.randint(0, 3, (n, ), generator=gen))
    for i, key in enumerate(('train_mask', 'val_mask', 'test_mask')):
        data[key] = torch.arange(n) % 3 == i
    if weighted:
        data.edge_weight = torch.rand(e, generator=gen)
    data.num_classes = 3
    return data


@pytest.fixture
def graph():
    return small_graph()


@pytest.fixture
def partition(graph):
    return metis(graph, 4, log=False)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64,
                                   torch.bfloat16, torch.float16,
                                   torch.int64, torch.int32, torch.int16,
                                   torch.uint8, torch.bool])
def test_array_round_trip(tmp_path, dtype):
    value = (torch.randn(7, 3) * 10).to(dtype)
    entry = write_array(str(tmp_path), 'a', value, chunk_rows=2)
    manifest = write_manifest(str(tmp_path), {}, {'a': entry})
    from pyg_gas.storage.format import open_array
    out = open_array(str(tmp_path), 'a', manifest['arrays']['a'])
    assert out.dtype == dtype and torch.equal(out, value)
    if dtype != torch.bfloat16:  # Plain NumPy files:
        assert np.array_equal(np.load(tmp_path / 'a.npy'), value.numpy())


@pytest.mark.parametrize('x_dtype', [torch.float32, torch.bfloat16,
                                     torch.float16])
def test_prepare_round_trip(tmp_path, graph, partition, x_dtype):
    perm, ptr = partition
    ds = prepare(graph, str(tmp_path / 'd'), perm=perm, ptr=ptr,
                 x_dtype=x_dtype, log=False)
    mem = permute(graph, perm)
    assert ds.num_nodes == 60 and ds.num_edges == 300 and ds.num_parts == 4
    assert torch.equal(ds.perm, perm) and torch.equal(ds.ptr, ptr)
    assert ds.x.dtype == x_dtype
    assert torch.equal(ds.x, mem.x.to(x_dtype))
    for key in ('y', 'train_mask', 'val_mask', 'test_mask'):
        assert torch.equal(ds[key], mem[key])
    # The CSR holds every edge once, grouped by target, sorted by source:
    dst = torch.arange(60).repeat_interleave(ds.rowptr.diff())
    got = sorted(zip(ds.col.tolist(), dst.tolist()))
    assert got == sorted(map(tuple, mem.edge_index.t().tolist()))
    ds.verify()
    back = ds.to_data()
    assert torch.equal(back.perm, perm) and back.x.dtype == torch.float32


def test_loaders_read_the_same_batches(tmp_path, partition):
    graph = small_graph(weighted=True)
    perm, ptr = partition
    ds = prepare(graph, str(tmp_path / 'd'), perm=perm, ptr=ptr, log=False)
    mem = permute(graph, perm)
    pairs = list(zip(SubgraphLoader(mem, ptr, batch_size=2),
                     SubgraphLoader(ds, ds.ptr, batch_size=2)))
    pairs += list(zip(EvalSubgraphLoader(mem, ptr),
                      EvalSubgraphLoader(ds, ds.ptr)))
    assert len(pairs) == 6
    for a, b in pairs:
        for key in ('x', 'y', 'n_id', 'offset', 'count', 'train_mask',
                    'edge_weight'):
            assert torch.equal(a[key], b[key]), key
        assert torch.equal(a.adj_t.to_dense(), b.adj_t.to_dense())
        assert a.batch_size == b.batch_size


@pytest.mark.parametrize('kind', ['gcn_norm', 'self_loops'])
@pytest.mark.parametrize('weighted', [False, True])
def test_derive_equals_the_in_memory_transform(tmp_path, partition, kind,
                                               weighted):
    graph = small_graph(weighted=weighted)
    # Existing self-loops, one of them twice:
    graph.edge_index[:, :3] = torch.tensor([[4, 4, 9], [4, 4, 9]])
    perm, ptr = partition
    ds = prepare(graph, str(tmp_path / 'd'), perm=perm, ptr=ptr, log=False)
    out = derive(ds, kind, chunk_edges=40, log=False)
    assert out.transform == kind and out.root.startswith(ds.root)
    fn = gcn_normalize if kind == 'gcn_norm' else add_node_self_loops
    mem = permute(fn(graph), perm)
    assert out.num_edges == mem.num_edges
    for a, b in zip(SubgraphLoader(mem, ptr), SubgraphLoader(out, ptr)):
        dense_a, dense_b = a.adj_t.to_dense(), b.adj_t.to_dense()
        if weighted and kind == 'gcn_norm':  # Sums taken in another order.
            torch.testing.assert_close(dense_a, dense_b)
        else:
            assert torch.equal(dense_a, dense_b)
    # Derived once; reopened while the dataset is unchanged:
    mtime = os.stat(osp.join(out.root, 'col.npy')).st_mtime_ns
    again = derive(ds, kind, log=False)
    assert os.stat(osp.join(again.root, 'col.npy')).st_mtime_ns == mtime
    assert not any(f.startswith('.') for f in os.listdir(out.root))


def test_feature_and_graph_store(tmp_path, graph, partition):
    perm, ptr = partition
    ds = prepare(graph, str(tmp_path / 'd'), perm=perm, ptr=ptr, log=False)
    fs, gs = ds.feature_store(), ds.graph_store()
    index = torch.tensor([3, 0, 7])
    x = fs.get_tensor(group_name=None, attr_name='x', index=index)
    assert torch.equal(x, permute(graph, perm).x[index])
    assert {a.attr_name for a in fs.get_all_tensor_attrs()} >= {'x', 'y'}
    (attr, ) = gs.get_all_edge_attrs()
    row, colptr = gs.get_edge_index(attr)
    assert torch.equal(colptr, ds.rowptr) and torch.equal(row, ds.col)
    with pytest.raises(ValueError, match='read-only'):
        fs.put_tensor(x, group_name=None, attr_name='z', index=None)


def test_pickles_as_its_path(tmp_path, graph, partition):
    perm, ptr = partition
    ds = prepare(graph, str(tmp_path / 'd'), perm=perm, ptr=ptr, log=False)
    collater = SubgraphLoader(ds, ds.ptr).collater
    blob = pickle.dumps(collater)
    assert len(blob) < 2000  # No array inside.
    batch = pickle.loads(blob)([0, 1])
    assert torch.equal(batch.x, collater([0, 1]).x)


def test_spawned_workers_open_the_files(tmp_path, graph, partition):
    perm, ptr = partition
    ds = prepare(graph, str(tmp_path / 'd'), perm=perm, ptr=ptr, log=False)
    ctx = torch.multiprocessing.get_context('spawn')
    loader = EvalSubgraphLoader(ds, ds.ptr, num_workers=2,
                                multiprocessing_context=ctx)
    ref = EvalSubgraphLoader(ds, ds.ptr)
    for a, b in zip(loader, ref):
        assert torch.equal(a.x, b.x) and torch.equal(a.n_id, b.n_id)


def test_bad_directories(tmp_path, graph, partition):
    perm, ptr = partition
    root = str(tmp_path / 'd')
    with pytest.raises(FormatError, match='no .manifest.json.'):
        DiskDataset(str(tmp_path))
    prepare(graph, root, perm=perm, ptr=ptr, log=False)
    with pytest.raises(ValueError, match='already holds a prepared dataset'):
        prepare(graph, root, perm=perm, ptr=ptr, log=False)
    foreign = tmp_path / 'foreign'
    foreign.mkdir()
    (foreign / 'notes.txt').write_text('mine')
    with pytest.raises(ValueError, match='not empty and holds no prepared'):
        prepare(graph, str(foreign), perm=perm, ptr=ptr, log=False)
    assert (foreign / 'notes.txt').read_text() == 'mine'

    # A truncated file is named:
    path = osp.join(root, 'x.npy')
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) - 8)
    with pytest.raises(FormatError, match="x.npy' is not a readable"):
        DiskDataset(root)
    # A file that does not match its manifest entry:
    prepare(graph, root, perm=perm, ptr=ptr, overwrite=True, log=False)
    np.save(osp.join(root, 'y.npy'), np.zeros(5, dtype=np.int64))
    with pytest.raises(FormatError, match="y.npy' holds an array of shape"):
        DiskDataset(root)
    # Same shape, other content: found by 'verify':
    prepare(graph, root, perm=perm, ptr=ptr, overwrite=True, log=False)
    y = np.load(osp.join(root, 'y.npy'))
    np.save(osp.join(root, 'y.npy'), (y + 1) % 3)
    DiskDataset(root)  # Headers match.
    with pytest.raises(FormatError, match='digest mismatch'):
        DiskDataset(root, verify=True)
    # A missing file, an edited manifest:
    os.remove(osp.join(root, 'ptr.npy'))
    with pytest.raises(FormatError, match="ptr.npy' is missing"):
        DiskDataset(root)
    manifest = json.load(open(osp.join(root, 'manifest.json')))
    manifest['num_nodes'] += 1
    json.dump(manifest, open(osp.join(root, 'manifest.json'), 'w'))
    with pytest.raises(FormatError, match='changed after it was written'):
        DiskDataset(root)


def test_an_interrupted_write_leaves_no_manifest(tmp_path, graph, partition,
                                                 monkeypatch):
    perm, ptr = partition
    root = tmp_path / 'd'
    original = ArrayWriter.write

    def failing(self, chunk):
        if self.name == 'y':
            raise OSError(28, 'No space left on device')
        original(self, chunk)

    monkeypatch.setattr(ArrayWriter, 'write', failing)
    with pytest.raises(OSError, match='No space left'):
        prepare(graph, str(root), perm=perm, ptr=ptr, log=False)
    assert not (root / 'manifest.json').exists()
    assert not [f for f in os.listdir(root) if f.startswith('.')]


def test_not_enough_space_is_said_before_writing(tmp_path, graph, partition,
                                                 monkeypatch):
    import shutil
    perm, ptr = partition
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, 'disk_usage',
                        lambda p: usage._replace(free=1000))
    with pytest.raises(ValueError, match='Not enough free disk space'):
        prepare(graph, str(tmp_path / 'd'), perm=perm, ptr=ptr, log=False)
    assert not (tmp_path / 'd').exists()


def test_bad_arguments(tmp_path, graph, partition):
    perm, ptr = partition
    root = str(tmp_path / 'd')
    with pytest.raises(ValueError, match="'x_dtype' must be one of"):
        prepare(graph, root, num_parts=2, x_dtype=torch.int64, log=False)
    with pytest.raises(ValueError, match="given together"):
        prepare(graph, root, perm=perm, log=False)
    bad = graph.clone()
    bad.edge_attr = torch.randn(300, 2)
    with pytest.raises(ValueError, match="only edge-level attribute"):
        prepare(bad, root, perm=perm, ptr=ptr, log=False)
    del bad.edge_attr
    bad.x[3, 1] = float('nan')
    with pytest.raises(ValueError, match='nan'):
        prepare(bad, root, perm=perm, ptr=ptr, log=False)
    with pytest.raises(TypeError, match="'data' must be a 'Data'"):
        prepare(graph.edge_index, root, num_parts=2, log=False)
    ds = prepare(graph, root, perm=perm, ptr=ptr, log=False)
    with pytest.raises(ValueError, match="'transform' must be one of"):
        derive(ds, 'gcn')


def test_inference_into_a_file_equals_inference(tmp_path, partition):
    from pyg_gas.history import disk_tensor
    from pyg_gas.nn.models import SAGE
    graph = small_graph()
    perm, ptr = partition
    ds = prepare(graph, str(tmp_path / 'd'), perm=perm, ptr=ptr, log=False)
    torch.manual_seed(0)
    model = SAGE(60, 5, 8, 3, 3)
    expected = model.inference(EvalSubgraphLoader(permute(graph, perm), ptr,
                                                  batch_size=2))
    out = disk_tensor(str(tmp_path / 'out.npy'), (60, 3))
    got = model.inference(EvalSubgraphLoader(ds, ds.ptr, batch_size=2),
                          out=out)
    assert got is out and torch.equal(out, expected)
    assert np.array_equal(np.load(tmp_path / 'out.npy'), expected.numpy())
    with pytest.raises(ValueError, match="'out' must be a tensor of shape"):
        model.inference(EvalSubgraphLoader(ds, ds.ptr), out=out[:5])
    with pytest.raises(ValueError, match='holds an array of shape'):
        disk_tensor(str(tmp_path / 'out.npy'), (61, 3))
