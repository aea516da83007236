r"""The loaders' guard rails: the warning for a graph that is not in the
cluster order of its partition, :meth:`from_data` (metis + permute + loader
in one call, and PyG's ClusterData), and the shuffle defaults."""
import warnings

import pytest
import torch
from torch.utils.data import RandomSampler, SequentialSampler
from torch_geometric.data import Data
from torch_geometric.loader import ClusterData

from pyg_gas import metis, permute, stream_partition
from pyg_gas.datasets import load_dataset
from pyg_gas.loader import (
    ClusterCollater,
    ClusterLoader,
    EvalSubgraphLoader,
    SubgraphLoader,
    cluster_order,
)
from pyg_gas.storage import prepare

pytestmark = pytest.mark.usefixtures('single_thread')

LOADERS = [SubgraphLoader, ClusterLoader, EvalSubgraphLoader]
FIX = 'pyg_gas.permute'


@pytest.fixture(scope='module')
def raw():
    return load_dataset('cora')


@pytest.fixture(scope='module')
def parts(raw):
    # METIS and the stream partitioner at several sizes, from 2 clusters of
    # 1,354 nodes to 400 of about 7.
    out = {}
    for num_parts in (2, 10, 40, 400):
        out['metis', num_parts] = metis(raw, num_parts, log=False)
    for num_parts in (10, 40):
        out['stream', num_parts] = stream_partition(raw, num_parts,
                                                    log=False)
    return out


def silently(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        return fn(*args, **kwargs)


def order_of(data, ptr):
    collater = ClusterCollater(data, ptr)
    return cluster_order(collater.rowptr, collater.col, collater.ptr)


def test_permuted_partitions_are_silent(raw, parts):
    for (name, num_parts), (perm, ptr) in parts.items():
        data = permute(raw, perm)
        loader = silently(SubgraphLoader, data, ptr)
        collater = loader.collater
        order = cluster_order(collater.rowptr, collater.col, collater.ptr)
        assert order.in_order is True, (name, num_parts)
        if (name, num_parts) == ('metis', 40):
            silently(ClusterLoader, data, ptr)
            silently(EvalSubgraphLoader, data, ptr)


@pytest.mark.parametrize('cls,num_parts', [
    (SubgraphLoader, 2),
    (SubgraphLoader, 10),
    (SubgraphLoader, 40),
    (ClusterLoader, 40),
    (EvalSubgraphLoader, 40),
])
def test_unpermuted_graph_warns_once(raw, parts, cls, num_parts):
    _, ptr = parts['metis', num_parts]
    with pytest.warns(UserWarning, match=FIX) as record:
        cls(raw, ptr)
    assert len(record) == 1
    # It points at the line that built the loader:
    assert record[0].filename == __file__
    message = str(record[0].message)
    assert message.startswith(f'{cls.__name__}: the graph does not '
                              f'look to be in the cluster order')
    assert f'{cls.__name__}.from_data(data, num_parts)' in message


def test_random_order_warns(raw, parts):
    _, ptr = parts['metis', 40]
    gen = torch.Generator().manual_seed(0)
    data = permute(raw, torch.randperm(raw.num_nodes, generator=gen))
    with pytest.warns(UserWarning, match=FIX):
        SubgraphLoader(data, ptr)
    order = order_of(data, ptr)
    assert order.in_order is False
    # About 1 / 40 of the edges inside a cluster, as in a random order:
    assert 0.01 < order.inside / order.num_edges < 0.05


def test_halos_of_the_unpermuted_graph(raw, parts):
    # The case of issue #16: the same two clusters of 10, with halos 13
    # times larger when the graph was not permuted.
    perm, ptr = parts['metis', 10]
    good = SubgraphLoader(permute(raw, perm), ptr).collater([0, 1])
    bad = SubgraphLoader(raw, ptr, check_order=False).collater([0, 1])
    assert good.batch_size == bad.batch_size
    assert good.n_id.numel() - good.batch_size == 79
    assert bad.n_id.numel() - bad.batch_size == 1064


def test_check_order_false_and_shared_collater(raw, parts):
    _, ptr = parts['metis', 10]
    train = silently(SubgraphLoader, raw, ptr, check_order=False)
    silently(ClusterLoader, raw, ptr, check_order=False)
    silently(EvalSubgraphLoader, raw, ptr, check_order=False)
    # The loader that built the collater warned already (or was told not
    # to); one that shares it does not test again:
    silently(EvalSubgraphLoader, raw, ptr, collater=train.collater)


def test_cluster_order_counts():
    # Two clusters of 4; shifted by half a cluster, the ranges are [2, 6)
    # and [6, 8) + [0, 2).
    edges = [(0, 1), (1, 2), (2, 3), (3, 4), (5, 6), (7, 0), (3, 3)]
    data = Data(edge_index=torch.tensor(edges).t(), num_nodes=8)
    order = order_of(data, torch.tensor([0, 4, 8]))
    assert order.num_edges == 6  # The self-loop does not count.
    assert order.inside == 4  # (0, 1), (1, 2), (2, 3), (5, 6)
    assert order.inside_shifted == 4  # (0, 1), (2, 3), (3, 4), (7, 0)
    assert (order.only_inside, order.only_shifted) == (2, 2)
    assert order.in_order is None  # Too few edges to tell.
    silently(SubgraphLoader, data, torch.tensor([0, 4, 8]))


def test_cluster_order_samples_large_graphs(raw, parts):
    perm, ptr = parts['metis', 40]
    for data, expected in ((permute(raw, perm), True), (raw, False)):
        collater = ClusterCollater(data, ptr)
        full = cluster_order(collater.rowptr, collater.col, ptr)
        sample = cluster_order(collater.rowptr, collater.col, ptr,
                               max_edges=4096)
        assert full.num_edges == raw.num_edges  # Cora has no self-loops.
        assert sample.num_edges <= 4096
        assert full.in_order is expected and sample.in_order is expected
        # The sample's share of edges inside a cluster is the graph's:
        share = full.inside / full.num_edges
        assert abs(sample.inside / sample.num_edges - share) < 0.03


def test_prepared_dataset_is_not_read(tmp_path, raw, parts):
    # A prepared dataset is in cluster order by construction.
    perm, ptr = parts['metis', 10]
    small = Data(x=raw.x[:, :8], edge_index=raw.edge_index, y=raw.y,
                 train_mask=raw.train_mask, val_mask=raw.val_mask,
                 test_mask=raw.test_mask, num_classes=7)
    ds = prepare(small, str(tmp_path / 'cora'), perm=perm, ptr=ptr,
                 log=False)
    loader = silently(SubgraphLoader.from_data, ds, 10)
    assert loader.data is ds
    assert torch.equal(loader.ptr, ptr) and torch.equal(loader.perm, perm)
    with pytest.raises(ValueError, match="'num_parts' must be None or the "
                       "10 clusters"):
        SubgraphLoader.from_data(ds, 40)


def batches_equal(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert torch.equal(x.n_id, y.n_id)
        assert torch.equal(x.x, y.x) and torch.equal(x.y, y.y)
        assert torch.equal(x.adj_t.crow_indices(), y.adj_t.crow_indices())
        assert torch.equal(x.adj_t.col_indices(), y.adj_t.col_indices())
        assert torch.equal(x.adj_t.values(), y.adj_t.values())


@pytest.mark.parametrize('cls', LOADERS)
def test_from_data_equals_the_manual_path(tmp_path, raw, parts, cls):
    perm, ptr = parts['metis', 10]
    manual = cls(permute(raw, perm), ptr, batch_size=3)
    loader = silently(cls.from_data, raw, 10, batch_size=3,
                      cache_dir=str(tmp_path), log=False)
    assert type(loader) is cls
    assert torch.equal(loader.perm, perm) and torch.equal(loader.ptr, ptr)
    assert torch.equal(loader.data.x, raw.x[perm])
    batches_equal(list(loader), list(manual))
    assert len(list(tmp_path.glob('metis_*.pt'))) == 1  # Cached.


def test_from_data_options(raw, parts):
    perm, ptr = parts['stream', 10]
    loader = silently(SubgraphLoader.from_data, raw, 10,
                      partitioner='stream', log=False)
    assert torch.equal(loader.perm, perm) and torch.equal(loader.ptr, ptr)
    loader = SubgraphLoader.from_data(raw, 10, shuffle=True, log=False)
    assert isinstance(loader.sampler, RandomSampler)
    assert SubgraphLoader(raw, ptr, check_order=False).perm is None
    with pytest.raises(ValueError, match="needs 'num_parts'"):
        SubgraphLoader.from_data(raw)
    with pytest.raises(ValueError, match="'partitioner' must be one of"):
        SubgraphLoader.from_data(raw, 10, partitioner='louvain')
    with pytest.raises(TypeError, match="'data' must be a 'Data' object"):
        SubgraphLoader.from_data(raw.edge_index, 10)


def cluster_data(data, perm, ptr, sparse_format='csr'):
    # A real 'ClusterData' from a partition of our own: its constructor
    # needs pyg-lib or torch-sparse for METIS, but its 'partition' and
    # 'data' are computed by its own methods.
    cluster = torch.empty_like(perm)
    cluster[perm] = torch.arange(ptr.numel() - 1).repeat_interleave(
        ptr.diff())
    out = ClusterData.__new__(ClusterData)
    out.num_parts, out.recursive = ptr.numel() - 1, False
    out.keep_inter_cluster_edges, out.sparse_format = False, sparse_format
    out.partition = out._partition(data.edge_index, cluster)
    out.data = out._permute_data(data, out.partition)
    return out


@pytest.mark.parametrize('sparse_format', ['csr', 'csc'])
def test_from_cluster_data(raw, parts, sparse_format):
    perm, ptr = parts['metis', 10]
    data = raw.clone()
    data.edge_weight = torch.rand(data.num_edges)  # Follows its edges.
    cd = cluster_data(data, perm, ptr, sparse_format)
    assert cd.data.edge_index is None
    loader = silently(SubgraphLoader.from_data, cd, batch_size=2)
    assert torch.equal(loader.ptr, cd.partition.partptr)
    assert torch.equal(loader.perm, cd.partition.node_perm)
    manual = SubgraphLoader(permute(data, cd.partition.node_perm),
                            cd.partition.partptr, batch_size=2)
    batches_equal(list(loader), list(manual))
    with pytest.raises(ValueError, match="'num_parts' must be None or the "
                       "10 clusters of the given 'ClusterData'"):
        SubgraphLoader.from_data(cd, 40)


def test_shuffle_defaults(raw, parts):
    # Every loader keeps the cluster order unless told to shuffle, as
    # PyTorch's and PyG's loaders do.
    perm, ptr = parts['metis', 10]
    data = permute(raw, perm)
    for cls in (SubgraphLoader, ClusterLoader):
        assert isinstance(cls(data, ptr).sampler, SequentialSampler)
        assert isinstance(cls(data, ptr, shuffle=True).sampler,
                          RandomSampler)
