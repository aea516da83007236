import itertools
import math
from typing import Dict, List, Tuple

import pytest
import torch
from torch import Tensor
from torch_geometric import EdgeIndex
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv, SAGEConv

from pyg_gas.data import SubgraphData
from pyg_gas.datasets import load_dataset
from pyg_gas.loader import (
    ClusterCollater,
    ClusterLoader,
    EvalSubgraphLoader,
    SubgraphLoader,
)
from pyg_gas.partition import metis, permute
from pyg_gas.typing import WITH_TORCH_SPARSE

# (loader kind, shuffle): the evaluation loader has a fixed order.
LOADERS = [
    ('subgraph', False),
    ('subgraph', True),
    ('cluster', False),
    ('cluster', True),
    ('eval', False),
]
KINDS = ['subgraph', 'cluster', 'eval']
NUM_PARTS = [1, 4, 7]
BATCH_SIZES = [1, 2, 3]

pytestmark = pytest.mark.usefixtures('single_thread')

# A directed graph on 10 nodes: asymmetric edges (only 7 <-> 2 goes both
# ways), a self-loop (5 -> 5), a duplicated edge (7 -> 2, twice, with
# different weights), a source-only node (8) and an isolated node (9).
HAND_EDGES = [
    (0, 1), (1, 2), (2, 0), (3, 0), (4, 1), (0, 5), (5, 5), (6, 3), (7, 2),
    (7, 2), (2, 7), (8, 6), (8, 0), (3, 4), (6, 7), (1, 6), (5, 8), (4, 2),
]
HAND_PTRS = {
    1: [0, 10],
    4: [0, 3, 5, 8, 10],
    7: [0, 1, 3, 4, 5, 7, 9, 10],
}


def hand_graph() -> Data:
    num_nodes, num_edges = 10, len(HAND_EDGES)
    edge_index = torch.tensor(HAND_EDGES).t().contiguous()
    return Data(
        x=torch.arange(num_nodes * 3, dtype=torch.float).view(num_nodes, 3),
        edge_index=edge_index,
        edge_weight=torch.arange(num_edges, dtype=torch.float) * 0.5 + 0.25,
        edge_attr=torch.stack([
            torch.arange(num_edges, dtype=torch.float),
            -10.0 * torch.arange(num_edges, dtype=torch.float),
        ], dim=1),
        y=torch.arange(num_nodes) % 3,
        train_mask=torch.arange(num_nodes) % 2 == 0,
        num_classes=3,
        name='hand',
    )


def hand_case(num_parts: int) -> Tuple[Data, Tensor]:
    return hand_graph(), torch.tensor(HAND_PTRS[num_parts])


@pytest.fixture(scope='module')
def cora_cases() -> Dict[int, Tuple[Data, Tensor]]:
    raw = load_dataset('cora')
    gen = torch.Generator().manual_seed(12345)
    out = {}
    for num_parts in NUM_PARTS:
        perm, ptr = metis(raw, num_parts, log=False)
        data = permute(raw, perm)
        data.edge_weight = torch.rand(data.num_edges, generator=gen)
        data.edge_attr = torch.rand(data.num_edges, 2, generator=gen)
        out[num_parts] = (data, ptr)
    return out


@pytest.fixture(scope='module')
def cora_plain() -> Tuple[Data, Tensor]:
    raw = load_dataset('cora')
    perm, ptr = metis(raw, 5, log=False)
    return permute(raw, perm), ptr


def get_case(graph: str, num_parts: int, cora_cases) -> Tuple[Data, Tensor]:
    if graph == 'hand':
        return hand_case(num_parts)
    return cora_cases[num_parts]


def make_loader(kind: str, data: Data, ptr: Tensor, batch_size: int = 1,
                shuffle: bool = False, **kwargs):
    kwargs.setdefault('adj_format', 'csr')
    if kind == 'subgraph':
        return SubgraphLoader(data, ptr, batch_size=batch_size,
                              shuffle=shuffle, **kwargs)
    if kind == 'cluster':
        return ClusterLoader(data, ptr, batch_size=batch_size,
                             shuffle=shuffle, **kwargs)
    assert not shuffle
    return EvalSubgraphLoader(data, ptr, batch_size=batch_size, **kwargs)


# Independent reference computations ##########################################


def in_batch_nodes(batch: SubgraphData) -> Tensor:
    return batch.n_id[:batch.batch_size]


def expected_halo(data: Data, nodes: Tensor) -> List[int]:
    inside = set(nodes.tolist())
    src, dst = data.edge_index.tolist()
    return sorted({s for s, d in zip(src, dst) if d in inside} - inside)


def edge_tuples(src: Tensor, dst: Tensor, weight, attr) -> List[tuple]:
    cols = [src.tolist(), dst.tolist()]
    if weight is not None:
        cols.append(weight.tolist())
    if attr is not None:
        cols.append([tuple(row) for row in attr.tolist()])
    return sorted(zip(*cols))


def expected_edges(data: Data, nodes: Tensor, halo: bool) -> List[tuple]:
    src, dst = data.edge_index
    mask = torch.isin(dst, nodes)
    if not halo:
        mask &= torch.isin(src, nodes)
    weight, attr = data.get('edge_weight'), data.get('edge_attr')
    return edge_tuples(src[mask], dst[mask],
                       None if weight is None else weight[mask],
                       None if attr is None else attr[mask])


def batch_edges(batch: SubgraphData, data: Data) -> List[tuple]:
    ei = batch.edge_index.as_subclass(Tensor)
    n_id = batch.n_id
    weight = batch.get('edge_weight') if 'edge_weight' in data else None
    attr = batch.get('edge_attr') if 'edge_attr' in data else None
    return edge_tuples(n_id[ei[0]], n_id[ei[1]], weight, attr)


def cluster_pairs(ptr: Tensor) -> List[Tuple[int, int]]:
    return sorted(zip(ptr[:-1].tolist(), (ptr[1:] - ptr[:-1]).tolist()))


# Checks of one batch #########################################################


def check_nodes(batch: SubgraphData, data: Data, halo: bool) -> None:
    nodes = in_batch_nodes(batch)
    assert isinstance(batch, SubgraphData)
    assert isinstance(batch.batch_size, int)
    assert batch.n_id.dtype == torch.long
    # offset / count describe the in-batch nodes, in this order:
    ranges = [
        torch.arange(o, o + c, dtype=torch.long)
        for o, c in zip(batch.offset.tolist(), batch.count.tolist())
    ]
    assert torch.equal(torch.cat(ranges), nodes)
    assert int(batch.count.sum()) == batch.batch_size
    # The halo: out-of-batch 1-hop in-neighbours, none for Cluster-GCN.
    halo_nodes = batch.n_id[batch.batch_size:]
    if halo:
        assert sorted(halo_nodes.tolist()) == expected_halo(data, nodes)
    else:
        assert halo_nodes.numel() == 0
    assert batch.num_halo_nodes == halo_nodes.numel()
    assert batch.n_id.unique().numel() == batch.n_id.numel()
    assert batch.num_nodes == batch.n_id.numel()


def check_attrs(batch: SubgraphData, data: Data) -> None:
    for key in ('x', 'y', 'train_mask', 'val_mask', 'test_mask'):
        if key in data:
            assert batch[key].dtype == data[key].dtype
            assert torch.equal(batch[key], data[key][batch.n_id]), key
    for key in ('num_classes', 'name'):
        assert batch[key] == data[key]
    assert isinstance(batch.num_classes, int)


def check_adj(batch: SubgraphData) -> None:
    num_dst = batch.batch_size
    num_src = batch.n_id.numel()
    edge_index = batch.edge_index
    assert isinstance(edge_index, EdgeIndex)
    assert edge_index.sparse_size() == (num_src, num_dst)
    assert edge_index.is_sorted_by_col
    src, dst = edge_index.as_subclass(Tensor)
    if dst.numel() > 0:
        assert bool((dst[1:] >= dst[:-1]).all())
        assert 0 <= int(src.min()) and int(src.max()) < num_src
        assert 0 <= int(dst.min()) and int(dst.max()) < num_dst

    weight = batch.get('edge_weight')
    if weight is None:
        weight = torch.ones(src.numel())
    assert weight.numel() == src.numel()
    if 'edge_attr' in batch:
        assert batch.edge_attr.size(0) == src.numel()

    adj_t = batch.adj_t
    assert adj_t.layout == torch.sparse_csr
    assert tuple(adj_t.shape) == (num_dst, num_src)
    rowptr = torch.zeros(num_dst + 1, dtype=torch.long)
    torch.cumsum(torch.bincount(dst, minlength=num_dst), 0, out=rowptr[1:])
    assert torch.equal(adj_t.crow_indices(), rowptr)
    assert torch.equal(adj_t.col_indices(), src)
    assert torch.equal(adj_t.values(), weight)
    dense = torch.zeros(num_dst, num_src).index_put_((dst, src), weight,
                                                     accumulate=True)
    assert torch.equal(adj_t.to_dense(), dense)


def check_batch(batch: SubgraphData, data: Data, halo: bool) -> None:
    check_nodes(batch, data, halo)
    check_attrs(batch, data)
    check_adj(batch)
    assert batch_edges(batch, data) == expected_edges(
        data, in_batch_nodes(batch), halo)


def check_epoch(loader, data: Data, ptr: Tensor, batch_size: int,
                halo: bool) -> List[SubgraphData]:
    batches = list(loader)
    num_parts = ptr.numel() - 1
    assert len(batches) == len(loader) == math.ceil(num_parts / batch_size)
    nodes = torch.cat([in_batch_nodes(batch) for batch in batches])
    assert torch.equal(nodes.sort().values, torch.arange(data.num_nodes))
    pairs = [
        pair for batch in batches
        for pair in zip(batch.offset.tolist(), batch.count.tolist())
    ]
    assert sorted(pairs) == cluster_pairs(ptr)  # each cluster exactly once
    for batch in batches:
        assert 1 <= batch.offset.numel() <= batch_size
        check_batch(batch, data, halo)
    return batches


# Tests #######################################################################


@pytest.mark.parametrize('graph', ['hand', 'cora'])
@pytest.mark.parametrize('num_parts', NUM_PARTS)
@pytest.mark.parametrize('batch_size', BATCH_SIZES)
@pytest.mark.parametrize('kind,shuffle', LOADERS)
def test_epoch_covers_every_node_once(kind, shuffle, batch_size, num_parts,
                                      graph, cora_cases):
    data, ptr = get_case(graph, num_parts, cora_cases)
    loader = make_loader(kind, data, ptr, batch_size, shuffle)
    torch.manual_seed(0)
    for _ in range(2):  # a second epoch (a new shuffle) is complete too
        batches = list(loader)
        assert len(batches) == len(loader)
        assert len(batches) == math.ceil(num_parts / batch_size)
        nodes = torch.cat([in_batch_nodes(batch) for batch in batches])
        assert torch.equal(nodes.sort().values, torch.arange(data.num_nodes))
        if not shuffle:  # consecutive groups of clusters, in order
            assert torch.equal(nodes, torch.arange(data.num_nodes))


@pytest.mark.parametrize('graph', ['hand', 'cora'])
@pytest.mark.parametrize('num_parts', [4, 7])
@pytest.mark.parametrize('batch_size', BATCH_SIZES)
@pytest.mark.parametrize('kind,shuffle', LOADERS)
def test_halo_edges_and_adjacency(kind, shuffle, batch_size, num_parts,
                                  graph, cora_cases):
    data, ptr = get_case(graph, num_parts, cora_cases)
    loader = make_loader(kind, data, ptr, batch_size, shuffle)
    torch.manual_seed(1)
    check_epoch(loader, data, ptr, batch_size, halo=kind != 'cluster')


@pytest.mark.parametrize('kind', KINDS)
def test_hand_graph_exact_batch(kind):
    # Clusters {0, 1, 2}, {3, 4}, {5, 6, 7}, {8, 9}; batch = clusters 0, 1.
    data, ptr = hand_case(4)
    loader = make_loader(kind, data, ptr, batch_size=2)
    batch = list(loader)[0]
    assert batch.batch_size == 5
    assert batch.offset.tolist() == [0, 3]
    assert batch.count.tolist() == [3, 2]
    assert batch.n_id[:5].tolist() == [0, 1, 2, 3, 4]
    # Edges into {0..4} from outside: 7 -> 2 (twice), 6 -> 3, 8 -> 0. The
    # edges 0 -> 5 and 1 -> 6 leave the batch and must not pull 5 in.
    if kind == 'cluster':
        assert batch.n_id.tolist() == [0, 1, 2, 3, 4]
        expected = [(0, 1), (1, 2), (2, 0), (3, 0), (3, 4), (4, 1), (4, 2)]
    else:
        assert batch.n_id.tolist() == [0, 1, 2, 3, 4, 6, 7, 8]
        expected = [(0, 1), (1, 2), (2, 0), (3, 0), (3, 4), (4, 1), (4, 2),
                    (6, 3), (7, 2), (7, 2), (8, 0)]
    edges = [tuple(e) for e in batch_edges(batch, data)]
    assert [e[:2] for e in edges] == expected
    # Both 7 -> 2 edges keep their own weight (indices 8 and 9):
    weights = sorted(e[2] for e in edges if e[:2] == (7, 2))
    expected_w = [] if kind == 'cluster' else [8 * 0.5 + 0.25, 9 * 0.5 + 0.25]
    assert weights == expected_w
    if kind != 'cluster':
        # adj_t[i, j] = weight of j -> i: local 2 = node 2, local 6 = node 7.
        assert float(batch.adj_t.to_dense()[2, 6]) == sum(expected_w)
        # Local 7 = node 8; the edge 8 -> 0 has index 12.
        assert float(batch.adj_t.to_dense()[0, 7]) == 12 * 0.5 + 0.25
    # Direction: 0 -> 1 exists, 1 -> 0 does not.
    dense = batch.adj_t.to_dense()
    assert float(dense[1, 0]) == 0.25 and float(dense[0, 1]) == 0.0


@pytest.mark.parametrize('kind', KINDS)
def test_unweighted_adj_t_is_ones(kind, cora_plain):
    data, ptr = cora_plain
    assert 'edge_weight' not in data
    loader = make_loader(kind, data, ptr, batch_size=2)
    batches = check_epoch(loader, data, ptr, 2, halo=kind != 'cluster')
    for batch in batches:
        assert 'edge_weight' not in batch
        assert torch.equal(batch.adj_t.values(),
                           torch.ones(batch.edge_index.size(1)))


@pytest.mark.parametrize('kind,shuffle', LOADERS)
def test_num_workers(kind, shuffle, cora_cases):
    data, ptr = cora_cases[7]
    loader = make_loader(kind, data, ptr, 2, shuffle, num_workers=2)
    check_epoch(loader, data, ptr, 2, halo=kind != 'cluster')


def test_num_workers_spawn_pickles_collater():
    # The workers get the collater (and send batches back) by pickling.
    kind = 'subgraph'
    data, ptr = hand_case(7)
    loader = make_loader(kind, data, ptr, 3, num_workers=2,
                         multiprocessing_context='spawn')
    batches = check_epoch(loader, data, ptr, 3, halo=True)
    reference = list(make_loader(kind, data, ptr, 3))
    for batch, ref in zip(batches, reference):
        assert torch.equal(batch.n_id, ref.n_id)
        assert torch.equal(batch.edge_index.as_subclass(Tensor),
                           ref.edge_index.as_subclass(Tensor))
        assert torch.equal(batch.edge_attr, ref.edge_attr)


@pytest.mark.parametrize('kind,shuffle', LOADERS)
def test_offset_count(kind, shuffle, cora_cases):
    data, ptr = cora_cases[7]
    torch.manual_seed(2)
    for batch in make_loader(kind, data, ptr, 3, shuffle):
        ranges = [
            torch.arange(o, o + c)
            for o, c in zip(batch.offset.tolist(), batch.count.tolist())
        ]
        assert torch.equal(torch.cat(ranges), batch.n_id[:batch.batch_size])
        assert set(zip(batch.offset.tolist(), batch.count.tolist())) <= set(
            cluster_pairs(ptr))
        # Clusters of a batch keep their global order:
        assert bool((batch.offset[1:] > batch.offset[:-1]).all())


@pytest.mark.parametrize('graph', ['hand', 'cora'])
@pytest.mark.parametrize('kind,shuffle', LOADERS)
def test_node_and_graph_attributes(kind, shuffle, graph, cora_cases):
    data, ptr = get_case(graph, 4, cora_cases)
    for batch in make_loader(kind, data, ptr, 2, shuffle):
        check_attrs(batch, data)
        assert batch.x.size() == (batch.n_id.numel(), data.x.size(1))


def test_shuffle_changes_order_and_defaults(cora_cases):
    data, ptr = cora_cases[7]

    def orders(loader):
        return [
            tuple(int(b.offset[0]) for b in loader) for _ in range(5)
        ]

    in_order = tuple(ptr[:-1].tolist())
    torch.manual_seed(3)
    # Both default to shuffle=False, as PyTorch's DataLoader does:
    assert set(orders(SubgraphLoader(data, ptr))) == {in_order}
    assert set(orders(ClusterLoader(data, ptr))) == {in_order}
    assert any(o != in_order
               for o in orders(ClusterLoader(data, ptr, shuffle=True)))
    shuffled = orders(SubgraphLoader(data, ptr, shuffle=True))
    assert any(o != in_order for o in shuffled)
    assert all(sorted(o) == sorted(in_order) for o in shuffled)


@pytest.mark.parametrize('num_parts', NUM_PARTS)
@pytest.mark.parametrize('batch_size', BATCH_SIZES)
def test_eval_loader_fixed_precomputed(num_parts, batch_size, cora_cases,
                                       monkeypatch):
    data, ptr = cora_cases[num_parts]
    calls = []
    original = ClusterCollater.__call__

    def counting_call(self, parts):
        calls.append(list(parts))
        return original(self, parts)

    monkeypatch.setattr(ClusterCollater, '__call__', counting_call)
    loader = EvalSubgraphLoader(data, ptr, batch_size=batch_size,
                                adj_format='csr', cache=True)
    num_batches = math.ceil(num_parts / batch_size)
    assert len(calls) == num_batches
    assert len(loader) == len(loader.batches) == num_batches
    first, second = list(loader), list(loader)
    assert len(calls) == num_batches  # nothing recomputed while iterating
    for i, (a, b) in enumerate(zip(first, second)):
        assert a is loader.batches[i] and b is loader.batches[i]
        parts = list(range(i * batch_size,
                           min((i + 1) * batch_size, num_parts)))
        assert calls[i] == parts
        assert a.offset.tolist() == ptr[parts].tolist()
        assert a.count.tolist() == (ptr[[p + 1 for p in parts]] -
                                    ptr[parts]).tolist()
    # A lazy loader, one that shares a training loader's collater, and
    # another cached one all agree exactly:
    lazy = EvalSubgraphLoader(data, ptr, batch_size=batch_size,
                              adj_format='csr')
    assert lazy.batches is None and len(lazy) == num_batches
    calls.clear()
    lazy_batches = list(lazy)
    assert len(calls) == num_batches  # Built on the fly, one per batch.
    train = ClusterLoader(data, ptr, batch_size=1, adj_format='csr')
    shared = EvalSubgraphLoader(data, ptr, batch_size=batch_size,
                                collater=train.collater)
    assert shared.collater.rowptr is train.collater.rowptr
    assert shared.collater.halo and not train.collater.halo
    other = EvalSubgraphLoader(data, ptr, batch_size=batch_size,
                               adj_format='csr', cache=True)
    for a, b, c, d in zip(loader, other, lazy_batches, shared):
        for e in (c, d):
            assert torch.equal(a.n_id, e.n_id)
            assert torch.equal(a.adj_t.to_dense(), e.adj_t.to_dense())
        assert torch.equal(a.n_id, b.n_id)
        assert torch.equal(a.edge_index.as_subclass(Tensor),
                           b.edge_index.as_subclass(Tensor))
        assert torch.equal(a.edge_weight, b.edge_weight)


def test_eval_loader_collater_errors(cora_cases):
    data, ptr = cora_cases[4]
    other_data, other_ptr = cora_cases[7]
    train = SubgraphLoader(data, ptr, adj_format='csr')
    with pytest.raises(ValueError, match="another partition"):
        EvalSubgraphLoader(other_data, other_ptr, collater=train.collater)
    with pytest.raises(TypeError, match="'collater' must be"):
        EvalSubgraphLoader(data, ptr, collater=object())


def test_eval_loader_ignores_shuffle_and_collate_fn(cora_cases):
    data, ptr = cora_cases[4]
    loader = EvalSubgraphLoader(data, ptr, batch_size=1, shuffle=True,
                                collate_fn=None, adj_format='csr')
    offsets = [int(batch.offset[0]) for batch in loader]
    assert offsets == ptr[:-1].tolist()


@pytest.mark.parametrize('ptr', [
    [0, 3, 3, 6],
    [0, 0, 3, 6],
    [0, 3, 6, 6],
    [0, 0, 0, 6, 6],
])
@pytest.mark.parametrize('batch_size', [1, 2])
@pytest.mark.parametrize('kind,shuffle', LOADERS)
def test_empty_clusters(kind, shuffle, batch_size, ptr):
    edge_index = torch.tensor([[0, 1, 2, 4, 5, 3, 1, 0],
                               [1, 2, 0, 5, 3, 1, 4, 3]])
    data = Data(x=torch.randn(6, 4), edge_index=edge_index,
                edge_weight=torch.rand(8), edge_attr=torch.rand(8, 2),
                y=torch.arange(6), num_classes=6, name='tiny')
    ptr = torch.tensor(ptr)
    loader = make_loader(kind, data, ptr, batch_size, shuffle)
    batches = check_epoch(loader, data, ptr, batch_size,
                          halo=kind != 'cluster')
    empty = [batch for batch in batches if batch.batch_size == 0]
    if batch_size == 1:  # every empty cluster is a batch of its own
        assert len(empty) == int((ptr[1:] == ptr[:-1]).sum())
    for batch in empty:
        assert batch.n_id.numel() == 0
        assert batch.edge_index.size(1) == 0
        assert tuple(batch.adj_t.shape) == (0, 0)
        assert batch.x.size() == (0, 4)


def test_collater_direct():
    data, ptr = hand_case(4)
    collater = ClusterCollater(data, ptr, adj_format='csr')
    assert collater.num_parts == 4
    a, b = collater([2, 0]), collater([0, 2, 2])
    assert torch.equal(a.n_id, b.n_id)
    assert a.offset.tolist() == [0, 5]
    check_batch(a, data, halo=True)
    check_batch(collater(torch.tensor([3])), data, halo=True)
    with pytest.raises(ValueError, match='at least one cluster'):
        collater([])
    with pytest.raises(ValueError, match='Cluster ids'):
        collater([4])
    with pytest.raises(ValueError, match='Cluster ids'):
        collater([-1])


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('ptr,error,match', [
    ([0, 3, 9], ValueError, 'ptr'),
    ([0, 3, 11], ValueError, 'ptr'),
    ([1, 3, 10], ValueError, 'ptr'),
    ([0], ValueError, 'ptr'),
    ([0, 6, 3, 10], ValueError, 'non-decreasing'),
    ([0.0, 5.0, 10.0], TypeError, 'ptr'),
    ([[0, 5, 10]], TypeError, 'ptr'),
])
def test_bad_ptr(kind, ptr, error, match):
    data = hand_graph()
    with pytest.raises(error, match=match):
        make_loader(kind, data, torch.tensor(ptr))


@pytest.mark.parametrize('kind', KINDS)
def test_bad_ptr_not_a_tensor(kind):
    with pytest.raises(TypeError, match='ptr'):
        make_loader(kind, hand_graph(), [0, 5, 10])
    with pytest.raises(TypeError, match='ptr'):
        make_loader(kind, hand_graph(), torch.tensor([0, 5, 10],
                                                     dtype=torch.int32))


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('batch_size,error', [
    (0, ValueError),
    (-1, ValueError),
    (True, TypeError),
    (1.5, TypeError),
    ('2', TypeError),
])
def test_bad_batch_size(kind, batch_size, error):
    data, ptr = hand_case(4)
    with pytest.raises(error, match='batch_size'):
        make_loader(kind, data, ptr, batch_size)


@pytest.mark.parametrize('kind', KINDS)
def test_bad_adj_format(kind):
    data, ptr = hand_case(4)
    with pytest.raises(ValueError, match='adj_format'):
        make_loader(kind, data, ptr, adj_format='bogus')


@pytest.mark.skipif(WITH_TORCH_SPARSE, reason='torch-sparse is installed')
@pytest.mark.parametrize('kind', KINDS)
def test_sparse_tensor_format_needs_torch_sparse(kind):
    data, ptr = hand_case(4)
    with pytest.raises(ImportError, match='torch_sparse'):
        make_loader(kind, data, ptr, adj_format='sparse_tensor')


@pytest.mark.skipif(not WITH_TORCH_SPARSE, reason='needs torch-sparse')
@pytest.mark.parametrize('kind', KINDS)
def test_sparse_tensor_format(kind):
    from pyg_gas.typing import SparseTensor
    data, ptr = hand_case(4)
    for batch in make_loader(kind, data, ptr, 2, adj_format='sparse_tensor'):
        assert isinstance(batch.adj_t, SparseTensor)
        src, dst = batch.edge_index.as_subclass(Tensor)
        dense = torch.zeros(batch.batch_size, batch.n_id.numel()).index_put_(
            (dst, src), batch.edge_weight, accumulate=True)
        # The batch keeps duplicated edges as separate entries, which
        # torch-sparse's matmul sums (its 'to_dense()' keeps one of them):
        eye = torch.eye(batch.n_id.numel())
        assert torch.equal(batch.adj_t @ eye, dense)
        assert batch.adj_t.nnz() == batch.edge_index.size(1)


@pytest.mark.parametrize('kind', KINDS)
def test_auto_adj_format(kind):
    data, ptr = hand_case(4)
    batch = list(make_loader(kind, data, ptr, 2, adj_format='auto'))[0]
    if WITH_TORCH_SPARSE:
        from pyg_gas.typing import SparseTensor
        assert isinstance(batch.adj_t, SparseTensor)
    else:
        assert batch.adj_t.layout == torch.sparse_csr


@pytest.mark.parametrize('kind', KINDS)
def test_data_must_be_data(kind):
    data, ptr = hand_case(4)
    with pytest.raises(TypeError, match='Data'):
        make_loader(kind, data.edge_index, ptr)
    with pytest.raises(TypeError, match='Data'):
        make_loader(kind, {'edge_index': data.edge_index}, ptr)


@pytest.mark.parametrize('kind', KINDS)
def test_gcn_conv_on_adj_t(kind, cora_cases):
    data, ptr = cora_cases[4]
    torch.manual_seed(4)
    conv = GCNConv(data.num_features, 8, normalize=False)
    full = conv(data.x, data.edge_index, data.edge_weight)
    for batch in make_loader(kind, data, ptr, 2):
        num_dst = batch.batch_size
        out = conv(batch.x, batch.adj_t)
        assert out.size() == (num_dst, 8)
        ref = conv(batch.x, batch.edge_index, batch.edge_weight)
        assert ref.size() == (num_dst, 8)
        assert torch.allclose(out, ref, atol=1e-5)
        if kind != 'cluster':  # the halo makes the batch output exact
            assert torch.allclose(out, full[batch.n_id[:num_dst]], atol=1e-5)


@pytest.mark.parametrize('kind', KINDS)
def test_sage_conv_on_adj_t(kind, cora_plain):
    data, ptr = cora_plain
    torch.manual_seed(5)
    conv = SAGEConv(data.num_features, 8)
    full = conv(data.x, data.edge_index)
    for batch in make_loader(kind, data, ptr, 2):
        num_dst = batch.batch_size
        x = batch.x
        out = conv((x, x[:num_dst]), batch.adj_t)
        assert out.size() == (num_dst, 8)
        ref = conv((x, x[:num_dst]), batch.edge_index)
        assert torch.allclose(out, ref, atol=1e-5)
        if kind != 'cluster':  # the halo makes the batch output exact
            assert torch.allclose(out, full[batch.n_id[:num_dst]],
                                  atol=1e-5)


@pytest.mark.parametrize('kind', KINDS)
def test_weighted_adj_t_input_keeps_weights(kind):
    data, ptr = hand_case(4)
    num_nodes = data.num_nodes
    src, dst = data.edge_index
    dense = torch.zeros(num_nodes, num_nodes).index_put_(
        (dst, src), data.edge_weight, accumulate=True)
    graph = Data(x=data.x, adj_t=dense.to_sparse_csr())
    for batch in make_loader(kind, graph, ptr, 2):
        rows = batch.n_id[:batch.batch_size]
        expected = dense[rows][:, batch.n_id]
        assert torch.equal(batch.adj_t.to_dense(), expected)


@pytest.mark.parametrize('batch_size', [1, 2, 3])
def test_max_rows_bounds_every_batch(batch_size):
    data = load_dataset('cora')
    perm, ptr = metis(data, 6, log=False)
    data = permute(data, perm)
    loader = SubgraphLoader(data, ptr, batch_size=batch_size)
    max_batch, max_halo = loader.max_rows()
    sizes = (ptr[1:] - ptr[:-1]).tolist()
    assert max_batch == sum(sorted(sizes)[-batch_size:])  # Tight.
    seen_batch = seen_halo = 0
    for parts in itertools.combinations(range(6), batch_size):
        batch = loader.collater(list(parts))
        seen_batch = max(seen_batch, batch.batch_size)
        seen_halo = max(seen_halo, batch.n_id.numel() - batch.batch_size)
    assert seen_batch == max_batch
    assert 0 < seen_halo <= max_halo
    # Cluster-GCN batches have no halo:
    assert ClusterLoader(data, ptr, batch_size).max_rows()[1] == 0


def test_eval_loader_leaves_the_global_rng_alone(cora_cases):
    # Evaluating between training epochs must not shift the training's
    # random stream (iterating a DataLoader draws a seed).
    data, ptr = cora_cases[4]
    loader = EvalSubgraphLoader(data, ptr, batch_size=2, adj_format='csr')
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    assert len(list(loader)) == 2
    assert torch.equal(torch.rand(3), expected)


# Guards: no silent wrong answers ############################################


@pytest.mark.parametrize('kind', KINDS)
def test_node_attribute_of_wrong_length_raises(kind):
    data, ptr = hand_case(4)
    data.y = data.y[:-1]  # One row short: PyG deems it graph-level.
    with pytest.raises(ValueError, match=r"Attribute 'y' has 9 rows \(shape "
                       r"\[9\]\), but the graph has num_nodes=10"):
        make_loader(kind, data, ptr)
    # 'num_nodes' beyond the rows of 'x':
    data, ptr = hand_case(4)
    data.num_nodes = 12
    with pytest.raises(ValueError, match=r"Attribute 'x' has 10 rows .* "
                       r"num_nodes=12"):
        make_loader(kind, data, torch.tensor([0, 3, 5, 8, 12]))


@pytest.mark.parametrize('kind', KINDS)
def test_clearly_graph_level_attributes_pass(kind):
    data, ptr = hand_case(4)
    data.scale = torch.tensor(2.0)  # 0-dim
    data.class_weight = torch.ones(1, 3)  # [1, ...]
    data.split_index = torch.tensor([[0, 1, 2]])  # PyG's index-like key
    data.labels = ['a', 'b']  # not a tensor
    batch = next(iter(make_loader(kind, data, ptr)))
    assert torch.equal(batch.class_weight, data.class_weight)
    assert float(batch.scale) == 2.0 and batch.labels == ['a', 'b']


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('key', ['x', 'edge_weight'])
@pytest.mark.parametrize('bad', [float('nan'), float('inf'), -float('inf')])
def test_non_finite_values_raise(kind, key, bad):
    data, ptr = hand_case(4)
    data[key] = data[key].clone()
    data[key].view(-1)[[1, 4]] = bad
    with pytest.raises(ValueError, match=rf"'{key}' holds 2 non-finite "
                       r"values \(nan or inf\) of \d+; .*'check_finite=Fa"):
        make_loader(kind, data, ptr)
    # Skippable, e.g. for a model that masks them itself:
    loader = make_loader(kind, data, ptr, check_finite=False)
    assert any(not bool(batch[key].isfinite().all()) for batch in loader)


def test_non_finite_weights_of_an_adj_t_raise():
    data, ptr = hand_case(4)
    src, dst = data.edge_index
    weight = data.edge_weight.clone()
    weight[3] = float('nan')
    dense = torch.zeros(10, 10).index_put_((dst, src), weight,
                                           accumulate=True)
    graph = Data(x=data.x, adj_t=dense.to_sparse_csr())
    with pytest.raises(ValueError, match="'edge_weight' holds 1 non-finite"):
        SubgraphLoader(graph, ptr)
    # An integer 'x' needs no check:
    data.x = data.x.long()
    assert len(list(SubgraphLoader(data, ptr))) == 4


def test_default_format_does_not_depend_on_torch_sparse(cora, monkeypatch):
    # Installing torch-sparse never changes what a model computes: the
    # default batch format stays a torch CSR tensor, SparseTensor is opt-in.
    import pyg_gas.loader.subgraph as subgraph_module
    monkeypatch.setattr(subgraph_module, 'WITH_TORCH_SPARSE', True)
    perm, ptr = metis(cora, 4, log=False)
    data = permute(cora, perm)
    for loader in (SubgraphLoader(data, ptr), ClusterLoader(data, ptr),
                   EvalSubgraphLoader(data, ptr)):
        assert loader.collater.adj_format == 'csr'
        batch = next(iter(loader))
        assert batch.adj_t.layout == torch.sparse_csr
