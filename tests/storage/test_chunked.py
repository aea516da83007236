r"""Preparing in bounded memory: staging from edge chunks, the on-disk
permutation, the synthetic and OGB writers, each equal to
:func:`~pyg_gas.storage.prepare` of the same graph in memory, array for
array; and their bad inputs."""
import os
import os.path as osp
import shutil
import sys
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.utils import is_undirected, to_undirected

from pyg_gas import metis
from pyg_gas.datasets import load_dataset
from pyg_gas.datasets.synthetic import EdgeKeys, synthetic_graph
from pyg_gas.storage import (
    DiskDataset,
    GraphStager,
    chunked,
    permute_to_disk,
    prepare,
    prepare_ogb,
    prepare_staged,
    prepare_synthetic,
    stage_data,
)
from pyg_gas.storage.sources import DiskEdgeKeys
from pyg_gas.testing import withPackage

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                            'datasets'))

from test_ogb import make_graph, write_ogb_dataset  # noqa: E402

pytestmark = pytest.mark.usefixtures('single_thread')

META = ('name', 'num_nodes', 'num_edges', 'num_classes', 'x_dtype',
        'transform', 'partition', 'normalized_features')


def assert_same(out: DiskDataset, ref: DiskDataset, meta=META) -> None:
    assert sorted(out.keys()) == sorted(ref.keys())
    for key in ref.keys():
        assert out[key].dtype == ref[key].dtype, key
        assert torch.equal(out[key], ref[key]), key
    for key in meta:
        assert out.manifest.get(key) == ref.manifest.get(key), key


def random_graph(num_nodes: int = 200, num_edges: int = 2000,
                 weighted: bool = False, seed: int = 0) -> Data:
    # Duplicate edges (with other weights) and self-loops included.
    gen = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=gen)
    edge_index = torch.cat([edge_index, edge_index[:, :num_edges // 10],
                            torch.arange(5).repeat(2, 1)], dim=1)
    data = Data(edge_index=edge_index, num_nodes=num_nodes,
                x=torch.randn(num_nodes, 6, generator=gen),
                y=torch.randint(0, 4, (num_nodes, ), generator=gen))
    for i, key in enumerate(('train_mask', 'val_mask', 'test_mask')):
        data[key] = torch.arange(num_nodes) % 3 == i
    if weighted:
        data.edge_weight = torch.rand(edge_index.size(1), generator=gen)
    return data


def random_partition(num_nodes: int, seed: int = 0):
    perm = torch.randperm(num_nodes,
                          generator=torch.Generator().manual_seed(seed))
    return perm, torch.tensor([0, num_nodes // 3, num_nodes // 3,
                               num_nodes - 7, num_nodes])


def no_leftovers(folder: Path) -> None:
    names = [name for _, dirs, files in os.walk(folder)
             for name in dirs + files]
    # No temporary files or staging directories:
    assert not [n for n in names if n.startswith('.') or 'tmp' in n], names


def test_stager_hand_built(tmp_path):
    # Edges j -> i as [sources, targets], in any order, one duplicate:
    edge_index = torch.tensor([[2, 0, 3, 1, 0, 3],
                               [1, 1, 0, 3, 1, 1]])
    with GraphStager(str(tmp_path / 's'), 4, num_edges=6, chunk_edges=2,
                     log=False) as stager:
        stager.add_edges(edge_index[:, :4])
        stager.add_edges(edge_index[:, 4:])
        stager.write_node_array('x', [torch.ones(3, 2), torch.zeros(1, 2)])
        stager.write_node_array('y', torch.tensor([0, 2, 1, 1]))
        for key in ('train_mask', 'val_mask', 'test_mask'):
            stager.write_node_array(key, torch.ones(4, dtype=torch.bool))
        staged = stager.close(name='tiny')
    assert staged.rowptr.tolist() == [0, 1, 5, 5, 6]
    assert staged.col.tolist() == [3, 0, 0, 2, 3, 1]
    assert staged.col.dtype == torch.int32
    assert staged.perm.tolist() == [0, 1, 2, 3]
    assert staged.ptr.tolist() == [0, 4]
    assert staged.num_classes == 3 and staged.name == 'tiny'
    assert staged.partition['method'] == 'none'
    assert os.listdir(tmp_path / 's') and not (tmp_path / 's' /
                                               '.buckets').exists()

    out = permute_to_disk(staged, torch.tensor([3, 1, 0, 2]),
                          torch.tensor([0, 2, 4]), str(tmp_path / 'p'),
                          log=False)
    # New node i is old node perm[i]; old 1's sources {0, 0, 2, 3} become
    # {2, 2, 3, 0}, sorted; old 0's source 3 becomes 0:
    assert out.rowptr.tolist() == [0, 1, 5, 6, 6]
    assert out.col.tolist() == [1, 0, 2, 2, 3, 0]
    assert out.x[:, 0].tolist() == [0, 1, 1, 1]
    assert out.y.tolist() == [1, 2, 0, 1]
    assert out.partition == dict(num_parts=2, method='given', seed=0)


def test_cora_equals_prepare(tmp_path, cora):
    perm, ptr = metis(cora, 8, log=False)
    ref = prepare(cora, str(tmp_path / 'ref'), perm=perm, ptr=ptr,
                  name='cora', log=False)
    staged = stage_data(cora, str(tmp_path / 'staged'), chunk_edges=1000,
                        log=False)
    out = permute_to_disk(staged, perm, ptr, str(tmp_path / 'out'),
                          name='cora', chunk_edges=777, log=False)
    assert_same(out, ref)
    # METIS on the staged edges is METIS on the graph in memory:
    ref = prepare(cora, str(tmp_path / 'ref2'), num_parts=8, seed=1,
                  name='cora', normalize_features=True, log=False)
    out = prepare_staged(staged, str(tmp_path / 'out2'), num_parts=8,
                         seed=1, name='cora', normalize_features=True,
                         chunk_edges=3000, log=False)
    assert_same(out, ref)
    assert out.partition == dict(num_parts=8, method='metis', seed=1)


@pytest.mark.parametrize('x_dtype', [torch.float32, torch.bfloat16])
def test_weighted_duplicates_equal_prepare(tmp_path, x_dtype):
    data = random_graph(weighted=True)
    perm, ptr = random_partition(data.num_nodes)
    ref = prepare(data, str(tmp_path / 'ref'), perm=perm, ptr=ptr,
                  x_dtype=x_dtype, log=False)
    staged = stage_data(data, str(tmp_path / 'staged'), chunk_edges=97,
                        log=False)
    out = permute_to_disk(str(staged.root), perm, ptr, str(tmp_path / 'out'),
                          x_dtype=x_dtype, name='data', chunk_edges=50,
                          log=False)
    assert_same(out, ref)


@pytest.mark.parametrize('weighted', [False, True])
def test_tiny_chunks_equal_prepare(tmp_path, weighted):
    # Chunks of 7 edges or rows: many buckets, each of more rows than a
    # chunk (the graph is sparse), and many chunks of the row pointers,
    # the inverse permutation and the node arrays. Still the files of
    # 'prepare', array for array:
    data = random_graph(num_nodes=300, num_edges=60, weighted=weighted,
                        seed=2)
    perm, ptr = random_partition(data.num_nodes, seed=1)
    ref = prepare(data, str(tmp_path / 'ref'), perm=perm, ptr=ptr,
                  log=False)
    staged = stage_data(data, str(tmp_path / 'staged'), chunk_edges=7,
                        log=False)
    deg = torch.bincount(data.edge_index[1], minlength=data.num_nodes)
    assert staged.rowptr.tolist() == [0] + deg.cumsum(0).tolist()
    out = permute_to_disk(staged, perm, ptr, str(tmp_path / 'out'),
                          name='data', chunk_edges=7, log=False)
    assert_same(out, ref)
    no_leftovers(tmp_path)


def interleaved(edge_index):
    # Every edge followed by its reverse, as ogb adds inverse edges.
    return torch.stack([edge_index, edge_index.flip(0)], 2).view(2, -1)


@pytest.mark.parametrize('mode', ['reverse', 'coalesce', 'auto', 'auto-sym'])
def test_undirected_modes(tmp_path, mode):
    data = random_graph(weighted=mode == 'reverse', seed=1)
    edge_index = data.edge_index
    expected = data.clone()
    if mode == 'reverse':
        expected.edge_index = interleaved(edge_index)
        expected.edge_weight = data.edge_weight.repeat_interleave(2)
    elif mode == 'auto-sym':  # Undirected already: kept as it is.
        data.edge_index = expected.edge_index = torch.cat(
            [edge_index, edge_index.flip(0)], dim=1)
        assert is_undirected(data.edge_index)
    else:
        expected.edge_index = to_undirected(edge_index, num_nodes=200)
    perm, ptr = random_partition(data.num_nodes)
    ref = prepare(expected, str(tmp_path / 'ref'), perm=perm, ptr=ptr,
                  log=False)
    staged = stage_data(data, str(tmp_path / 'staged'),
                        undirected=mode.split('-')[0], chunk_edges=101,
                        log=False)
    out = permute_to_disk(staged, perm, ptr, str(tmp_path / 'out'),
                          name='data', chunk_edges=64, log=False)
    assert_same(out, ref)


def test_coalesce_sums_weights(tmp_path):
    data = random_graph(weighted=True, seed=2)
    staged = stage_data(data, str(tmp_path / 's'), undirected='coalesce',
                        chunk_edges=101, log=False)
    edge_index, weight = to_undirected(data.edge_index, data.edge_weight,
                                       num_nodes=200)
    ref = prepare(Data(edge_index=edge_index, edge_weight=weight,
                       **{k: data[k] for k in ('x', 'y', 'train_mask',
                                               'val_mask', 'test_mask')}),
                  str(tmp_path / 'r'), perm=torch.arange(200),
                  ptr=torch.tensor([0, 200]), log=False)
    assert torch.equal(staged.rowptr, ref.rowptr)
    assert torch.equal(staged.col, ref.col)
    # Sums of more than two weights may differ in the last bit:
    torch.testing.assert_close(staged.edge_weight, ref.edge_weight)


def test_disk_edge_keys_equal_memory(tmp_path):
    gen = torch.Generator().manual_seed(0)
    N = 500
    chunks = [torch.randint(0, N * N, (n, ), generator=gen)
              for n in (3000, 1, 0, 2500)]
    memory, disk = EdgeKeys(), DiskEdgeKeys(str(tmp_path / 'k'), N, 5000,
                                            chunk_edges=700)
    assert disk.bounds.numel() > 3
    for keys in (memory, disk):
        keys.add(iter(chunks[:2]))
        keys.add(iter(chunks[2:]))
    assert len(disk) == len(memory)
    drop = torch.randperm(len(memory), generator=gen)[:900]
    memory.drop(drop)
    disk.drop(drop)
    assert len(disk) == len(memory)
    chunks = list(disk.edge_chunks())  # A bucket's edges, its reverse.
    assert len(chunks) == 2 * disk.bounds.numel() - 2
    for forward, reverse in zip(chunks[::2], chunks[1::2]):
        assert torch.equal(reverse, forward.flip(0))
    out = torch.cat([chunk[0] * N + chunk[1] for chunk in chunks[::2]])
    assert torch.equal(out, memory.key)
    disk.remove()
    assert not (tmp_path / 'k').exists()


def test_synthetic_equals_in_memory(tmp_path):
    options = dict(num_nodes=3000, avg_degree=12.0, num_classes=5,
                   num_features=16)
    data = synthetic_graph(**options, seed=3)
    ref = prepare(data, str(tmp_path / 'ref'), num_parts=6, seed=3,
                  name='synthetic', log=False)
    out = prepare_synthetic(str(tmp_path / 'out'), 'synthetic',
                            num_parts=6, seed=3, chunk_edges=2000,
                            log=False, **options)
    assert_same(out, ref)
    # A given partition, other chunk sizes, half-precision features:
    perm, ptr = random_partition(3000)
    ref = prepare(data, str(tmp_path / 'ref2'), perm=perm, ptr=ptr,
                  x_dtype=torch.float16, name='synthetic', log=False)
    out = prepare_synthetic(str(tmp_path / 'out2'), 'synthetic', perm=perm,
                            ptr=ptr, seed=3, partition_seed=0,
                            x_dtype=torch.float16, chunk_edges=5000,
                            log=False, **options)
    assert_same(out, ref)
    assert sorted(os.listdir(tmp_path)) == ['out', 'out2', 'ref', 'ref2']


def test_synthetic_preset_override(tmp_path):
    # A preset with smaller sizes: the same graph as load_dataset's.
    options = dict(num_nodes=2000, num_edges=9000, num_features=8)
    data = load_dataset('synthetic-arxiv', **options)
    perm, ptr = random_partition(2000)
    ref = prepare(data, str(tmp_path / 'ref'), perm=perm, ptr=ptr,
                  name='synthetic-arxiv', log=False)
    out = prepare_synthetic(str(tmp_path / 'out'), 'synthetic-arxiv',
                            perm=perm, ptr=ptr, chunk_edges=1500, log=False,
                            **options)
    assert_same(out, ref)


@withPackage('ogb')
@pytest.mark.parametrize('name', ['ogbn-arxiv', 'ogbn-products'])
def test_ogb_equals_load_dataset(tmp_path, name):
    # arxiv is directed (made undirected), products gets inverse edges:
    graph = make_graph(seed=0, directed=name == 'ogbn-arxiv')
    write_ogb_dataset(tmp_path / 'ogb', name, graph)
    out = prepare_ogb(name, str(tmp_path / 'ogb'), str(tmp_path / 'out'),
                      num_parts=4, chunk_edges=50, chunk_rows=7, log=False)
    data = load_dataset(name, root=str(tmp_path / 'ogb'))
    ref = prepare(data, str(tmp_path / 'ref'), num_parts=4, name=name,
                  log=False)
    assert_same(out, ref)
    assert out.num_classes == data.num_classes
    no_leftovers(tmp_path / 'ogb')


@withPackage('ogb')
def test_ogb_bad_directories(tmp_path):
    graph = make_graph(seed=0, directed=False)
    folder = write_ogb_dataset(tmp_path / 'ogb', 'ogbn-products', graph)
    out = str(tmp_path / 'out')
    with pytest.raises(ValueError, match='no directory'):
        prepare_ogb('ogbn-products', str(tmp_path / 'nowhere'), out,
                    num_parts=2, log=False)
    # A foreign folder: products' files have no 'time' split.
    with pytest.raises(ValueError, match=r"split/time/train.csv.gz' is "
                       r"missing"):
        prepare_ogb('ogbn-arxiv', str(folder), out, num_parts=2, log=False)
    with pytest.raises(ValueError, match="'ogbn-nope' is not an OGB"):
        prepare_ogb('ogbn-nope', str(tmp_path / 'ogb'), out, num_parts=2,
                    log=False)
    os.remove(folder / 'raw' / 'node-label.csv.gz')
    with pytest.raises(ValueError, match="node-label.csv.gz' is missing"):
        prepare_ogb('ogbn-products', str(tmp_path / 'ogb'), out,
                    num_parts=2, log=False)
    # Damaged files are named:
    from test_ogb import write_csv_gz
    write_csv_gz(folder / 'raw' / 'node-label.csv.gz', graph['y'][:-3])
    with pytest.raises(ValueError, match=r"node-label.csv.gz' must hold one "
                       r"row per node \(120; got 117\)"):
        prepare_ogb('ogbn-products', str(folder), out, num_parts=2,
                    log=False)
    write_csv_gz(folder / 'raw' / 'node-label.csv.gz', graph['y'])
    write_csv_gz(folder / 'raw' / 'edge.csv.gz', graph['edge'] + 1000)
    with pytest.raises(ValueError, match="edge.csv.gz' holds node ids "
                       "outside of"):
        prepare_ogb('ogbn-products', str(folder), out, num_parts=2,
                    log=False)
    assert not os.path.exists(out)
    no_leftovers(tmp_path)


def test_interrupted_writes_leave_nothing(tmp_path, monkeypatch):
    options = dict(num_nodes=500, avg_degree=8.0, num_features=4)
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # Inside the second chunk:
            raise OSError(28, 'No space left on device')
        return original(*args, **kwargs)

    # While permuting (into an existing, empty directory):
    (tmp_path / 'a').mkdir()
    original = chunked.gather_csr
    monkeypatch.setattr(chunked, 'gather_csr', failing)
    with pytest.raises(OSError, match='No space left'):
        prepare_synthetic(str(tmp_path / 'a'), 'synthetic', num_parts=2,
                          chunk_edges=500, log=False, **options)
    assert os.listdir(tmp_path / 'a') == []
    # While staging (the directory is not created):
    monkeypatch.undo()
    calls.clear()
    original = GraphStager._scatter
    monkeypatch.setattr(GraphStager, '_scatter', failing)
    with pytest.raises(OSError, match='No space left'):
        prepare_synthetic(str(tmp_path / 'b'), 'synthetic', num_parts=2,
                          chunk_edges=500, log=False, **options)
    assert os.listdir(tmp_path) == ['a']
    no_leftovers(tmp_path)


def test_output_checks_come_first(tmp_path, monkeypatch):
    data = random_graph()
    perm, ptr = random_partition(200)
    staged = stage_data(data, str(tmp_path / 's'), log=False)
    root = tmp_path / 'out'
    permute_to_disk(staged, perm, ptr, str(root), log=False)
    with pytest.raises(ValueError, match='already holds a prepared dataset'):
        prepare_synthetic(str(root), 'synthetic', num_parts=2,
                          num_nodes=100, avg_degree=4.0, log=False)
    out = permute_to_disk(staged, perm.flip(0), ptr, str(root),
                          overwrite=True, log=False)
    assert torch.equal(out.perm, perm.flip(0))
    (tmp_path / 'file').write_text('')
    with pytest.raises(ValueError, match='is a file'):
        permute_to_disk(staged, perm, ptr, str(tmp_path / 'file' / 'd'),
                        log=False)
    with pytest.raises(ValueError, match='must differ from the directory'):
        permute_to_disk(staged, perm, ptr, str(staged.root), log=False)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, 'disk_usage',
                        lambda p: usage._replace(free=1000))
    for run in (lambda: permute_to_disk(staged, perm, ptr,
                                        str(tmp_path / 'x'), log=False),
                lambda: prepare_synthetic(str(tmp_path / 'x'), 'synthetic',
                                          num_parts=2, num_nodes=100,
                                          avg_degree=4.0, log=False)):
        with pytest.raises(ValueError, match='Not enough free disk space'):
            run()
        assert not (tmp_path / 'x').exists()
    no_leftovers(tmp_path)


def test_bad_arguments(tmp_path):
    data = random_graph()
    staged = stage_data(data, str(tmp_path / 's'), log=False)
    perm, ptr = random_partition(200)
    out = str(tmp_path / 'out')
    with pytest.raises(ValueError, match=r'permutation of \[0, 200\)'):
        permute_to_disk(staged, perm.clamp(max=100), ptr, out, log=False)
    with pytest.raises(ValueError, match="'ptr' must run from 0"):
        permute_to_disk(staged, perm, torch.tensor([0, 10]), out, log=False)
    with pytest.raises(ValueError, match="'x_dtype' must be one of"):
        permute_to_disk(staged, perm, ptr, out, x_dtype=torch.int64,
                        log=False)
    with pytest.raises(ValueError, match="'partition' must be one of"):
        prepare_staged(staged, out, num_parts=2, partition='spectral',
                       log=False)
    with pytest.raises(ValueError, match="given together"):
        prepare_staged(staged, out, perm=perm, log=False)
    with pytest.raises(ValueError, match=r"'num_parts' must be an int in "
                       r"\[1, 200\]"):
        prepare_staged(staged, out, num_parts=201, log=False)
    with pytest.raises(ValueError, match="Unknown synthetic dataset"):
        prepare_synthetic(out, 'synthetic-papers', num_parts=2, log=False)
    with pytest.raises(ValueError, match="'num_edges' must be at most"):
        prepare_synthetic(out, 'synthetic', num_parts=2, num_nodes=10,
                          num_edges=1000, log=False)
    assert not os.path.exists(out)

    stager = GraphStager(str(tmp_path / 'g'), 10, 100, log=False)
    with pytest.raises(ValueError, match=r'outside of \[0, 10\)'):
        stager.add_edges(torch.tensor([[0], [10]]))
    with pytest.raises(ValueError, match=r'shape \[2, num_edges\]'):
        stager.add_edges(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="'edge_weight' is given"):
        stager.add_edges(torch.zeros(2, 1, dtype=torch.long),
                         torch.ones(1))
    with pytest.raises(ValueError, match="'x' needs 10 rows"):
        stager.write_node_array('x', torch.zeros(9, 2))
    with pytest.raises(ValueError, match='boolean mask'):
        stager.write_node_array('val_mask', torch.zeros(10))
    with pytest.raises(ValueError, match=r"Write the node arrays \['x'"):
        stager.close()
    stager.abort()
    assert not (tmp_path / 'g').exists()
    with pytest.raises(ValueError, match="'undirected' must be one of"):
        GraphStager(str(tmp_path / 'g'), 10, 100, undirected='both')
    with pytest.raises(ValueError, match='is not empty'):
        GraphStager(str(tmp_path / 's'), 10, 100)


def test_stream_partition(tmp_path):
    try:
        from pyg_gas.partition import partition_csr  # noqa: F401
    except ImportError:
        pytest.skip("pyg_gas.partition.partition_csr is not there yet")
    data = random_graph(num_nodes=300, num_edges=3000)
    staged = stage_data(data, str(tmp_path / 's'), undirected='coalesce',
                        log=False)
    out = prepare_staged(staged, str(tmp_path / 'out'), num_parts=4,
                         partition='stream', seed=2, log=False)
    assert out.partition == dict(num_parts=4, method='stream', seed=2)
    ref = prepare(to_undirected_data(data), str(tmp_path / 'ref'),
                  perm=out.perm, ptr=out.ptr, log=False)
    assert_same(out, ref, meta=('num_nodes', 'num_edges'))


def test_stream_partition_in_scratch_files(tmp_path):
    try:
        from pyg_gas.partition import partition_csr, parts_to_perm
    except ImportError:
        pytest.skip("pyg_gas.partition.partition_csr is not there yet")
    data = random_graph(num_nodes=300, num_edges=3000)
    staged = stage_data(data, str(tmp_path / 's'), undirected='coalesce',
                        log=False)
    part = partition_csr(staged.rowptr, staged.col, 5, seed=1, log=False)
    expected = parts_to_perm(part, 5)
    files = sorted(os.listdir(staged.root))
    (tmp_path / 'scratch').mkdir()
    for scratch_dir in (None, str(tmp_path / 'scratch')):
        perm, ptr = chunked.partition_dataset(staged, 5, 'stream', seed=1,
                                              log=False,
                                              scratch_dir=scratch_dir)
        assert perm.dtype == torch.long and torch.equal(perm, expected[0])
        assert torch.equal(ptr, expected[1])
    # The node order lived in unlinked files: nothing is left behind.
    assert sorted(os.listdir(staged.root)) == files
    assert os.listdir(tmp_path / 'scratch') == []


def to_undirected_data(data: Data) -> Data:
    out = data.clone()
    out.edge_index = to_undirected(data.edge_index, num_nodes=data.num_nodes)
    return out
