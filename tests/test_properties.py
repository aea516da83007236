r"""Property-based tests (hypothesis) of the partitioning, the loaders and the
histories, on random small graphs: directed edges, self-loops, duplicated
edges, isolated nodes, empty clusters, with and without edge weights and
edge features.

Every property runs twice: a few examples in the default suite, ten times as
many under ``-m slow``. Examples are derandomized (the same ones every run,
as CI needs) and nothing is written to a hypothesis database.
"""
import math
from collections import Counter
from typing import Any, Callable, List, Optional, Tuple

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import Tensor
from torch_geometric.data import Data

from pyg_gas import (
    ClusterLoader,
    EvalSubgraphLoader,
    History,
    LADIESLoader,
    SubgraphLoader,
    metis,
    permute,
    split_clusters,
)
from pyg_gas.nn.models import GAT, GCN, GIN, SAGE

pytestmark = pytest.mark.usefixtures('single_thread')

MAX_NODES = 40
SLOW_FACTOR = 10


def examples(num: int) -> Any:
    r"""Parametrizes a test by its number of examples: :obj:`num` in the
    default suite, :obj:`SLOW_FACTOR` times as many under ``-m slow``."""
    return pytest.mark.parametrize('max_examples', [
        pytest.param(num, id='fast'),
        pytest.param(num * SLOW_FACTOR, id='slow', marks=pytest.mark.slow),
    ])


def run(max_examples: int, *strategies: Any) -> Callable:
    r"""Turns a property into a test runner with reproducible settings."""
    def decorator(prop: Callable) -> Callable:
        return settings(
            max_examples=max_examples,
            deadline=None,
            derandomize=True,
            database=None,
            print_blob=False,
            suppress_health_check=[HealthCheck.too_slow],
        )(given(*strategies)(prop))

    return decorator


# Strategies ##################################################################


@st.composite
def graphs(draw: Any, min_nodes: int = 1, max_nodes: int = MAX_NODES,
           edge_weight: Optional[bool] = None,
           edge_attr: Optional[bool] = None) -> Data:
    r"""A random graph: edges drawn as (source, target) pairs, so directed,
    with self-loops, duplicates and isolated nodes; sometimes symmetrized.
    Optionally, positive :obj:`edge_weight` and an :obj:`edge_attr` unique
    per edge. :obj:`x` is random, :obj:`y` the node id."""
    num_nodes = draw(st.integers(min_nodes, max_nodes))
    node = st.integers(0, num_nodes - 1)
    pairs = draw(st.lists(st.tuples(node, node), max_size=3 * num_nodes))
    if draw(st.booleans()):  # Undirected (plus the self-loops twice).
        pairs = pairs + [(dst, src) for src, dst in pairs]
    edge_index = torch.tensor(pairs, dtype=torch.long).view(-1, 2).t()
    edge_index = edge_index.contiguous()
    num_edges = edge_index.size(1)
    seed = draw(st.integers(0, 2**16))
    gen = torch.Generator().manual_seed(seed)
    data = Data(edge_index=edge_index, num_nodes=num_nodes)
    data.x = torch.randn(num_nodes, 3, generator=gen)
    data.y = torch.arange(num_nodes)
    if edge_weight is None:
        edge_weight = draw(st.booleans())
    if edge_weight:
        data.edge_weight = torch.rand(num_edges, generator=gen) + 0.1
    if edge_attr is None:
        edge_attr = draw(st.booleans())
    if edge_attr:  # Unique per edge: tells duplicated edges apart.
        data.edge_attr = torch.arange(2 * num_edges,
                                      dtype=torch.float).view(-1, 2)
    return data


@st.composite
def ptrs(draw: Any, num_nodes: int) -> Tensor:
    r"""Random cluster boundaries of :obj:`num_nodes` nodes into
    :obj:`1..num_nodes` clusters, some of which may be empty."""
    num_parts = draw(st.integers(1, num_nodes))
    cuts = draw(st.lists(st.integers(0, num_nodes), min_size=num_parts - 1,
                         max_size=num_parts - 1))
    return torch.tensor([0] + sorted(cuts) + [num_nodes])


@st.composite
def partitioned_graphs(draw: Any, **kwargs: Any) -> Tuple[Data, Tensor]:
    data = draw(graphs(**kwargs))
    return data, draw(ptrs(data.num_nodes))


# Reference computations ######################################################


def edge_tuples(data: Data, n_id: Optional[Tensor] = None,
                keep: Optional[Callable[[int, int], bool]] = None,
                ) -> Counter:
    r"""The multiset of edges (source, target, weight, *attr) of
    :obj:`data`, with node ids mapped through :obj:`n_id` if given, and
    filtered by :obj:`keep(source, target)`."""
    src, dst = data.edge_index.as_subclass(Tensor)
    if n_id is not None:
        src, dst = n_id[src], n_id[dst]
    src, dst = src.tolist(), dst.tolist()
    num_edges = len(src)
    weight = data.get('edge_weight')
    weight = [None] * num_edges if weight is None else weight.tolist()
    attr = data.get('edge_attr')
    attr = [()] * num_edges if attr is None else map(tuple, attr.tolist())
    out: Counter = Counter()
    for s, d, w, a in zip(src, dst, weight, attr):
        if keep is None or keep(s, d):
            out[(s, d, w) + a] += 1
    return out


def check_batch_edges(batch: Any, data: Data, halo: bool) -> None:
    r"""Checks the halo, the edges and :obj:`adj_t` of one batch of the
    :class:`SubgraphLoader` (:obj:`halo=True`) or the
    :class:`ClusterLoader` against the graph :obj:`data`."""
    bs = batch.batch_size
    n_id = batch.n_id
    num_rows = n_id.numel()
    in_batch = set(n_id[:bs].tolist())

    # The halo: the 1-hop in-neighbourhood of the batch, minus the batch.
    src, dst = data.edge_index.tolist()
    expected = {s for s, d in zip(src, dst) if d in in_batch} - in_batch
    halo_ids = n_id[bs:].tolist()
    assert len(set(halo_ids)) == len(halo_ids)
    assert set(halo_ids) == (expected if halo else set())

    # Node-level attributes follow 'n_id':
    assert torch.equal(batch.x, data.x[n_id])
    assert torch.equal(batch.y, data.y[n_id])

    # The edges: all edges into the batch, or the intra-batch ones only.
    if halo:
        def keep(s: int, d: int) -> bool:
            return d in in_batch
    else:
        def keep(s: int, d: int) -> bool:
            return s in in_batch and d in in_batch
    edge_index = batch.edge_index.as_subclass(Tensor)
    assert edge_index.size(1) == 0 or (
        int(edge_index[1].max()) < bs and int(edge_index[0].max()) < num_rows)
    assert edge_tuples(batch, n_id) == edge_tuples(data, keep=keep)

    # 'adj_t' holds the same edges, in the order of 'edge_index':
    adj_t = batch.adj_t
    assert tuple(adj_t.shape) == (bs, num_rows)
    dst = edge_index[1]
    assert bool((dst[1:] >= dst[:-1]).all())  # Sorted by target.
    crow = torch.zeros(bs + 1, dtype=torch.long)
    crow[1:] = torch.bincount(dst, minlength=bs).cumsum(0)
    assert torch.equal(adj_t.crow_indices(), crow)
    assert torch.equal(adj_t.col_indices(), edge_index[0])
    weight = batch.get('edge_weight')
    if weight is None:
        weight = torch.ones(edge_index.size(1))
    assert torch.equal(adj_t.values(), weight)


def check_clusters(batch: Any) -> None:
    r"""The in-batch nodes are the ranges :obj:`offset[i]:offset[i] +
    count[i]`, in this order."""
    ranges = [torch.arange(o, o + c) for o, c in
              zip(batch.offset.tolist(), batch.count.tolist())]
    expected = torch.cat(ranges) if ranges else torch.empty(0, dtype=torch.long)
    assert torch.equal(batch.n_id[:batch.batch_size], expected)


def full_adj_t(data: Data) -> Tensor:
    r"""The transposed weighted adjacency of the whole graph as a torch CSR
    tensor, built independently of the package: entry (i, j) holds the
    weight (or one) of each edge j -> i. Duplicated edges are kept as
    duplicated entries, as in the batches, so that mean and attention
    aggregations count them as the batches do."""
    src, dst = data.edge_index.as_subclass(Tensor)
    num_nodes = data.num_nodes
    weight = data.get('edge_weight')
    if weight is None:
        weight = torch.ones(src.numel())
    order = torch.argsort(dst * num_nodes + src, stable=True)
    crow = torch.zeros(num_nodes + 1, dtype=torch.long)
    crow[1:] = torch.bincount(dst, minlength=num_nodes).cumsum(0)
    return torch.sparse_csr_tensor(crow, src[order], weight[order],
                                   (num_nodes, num_nodes))


# metis + permute #############################################################


@examples(50)
def test_metis_permute(max_examples: int) -> None:
    @run(max_examples, graphs(), st.data(), st.booleans())
    def prop(data: Data, draw: Any, recursive: bool) -> None:
        num_nodes = data.num_nodes
        num_parts = draw.draw(st.integers(1, num_nodes), label='num_parts')
        perm, ptr = metis(data, num_parts, recursive=recursive, log=False)

        assert perm.dtype == torch.long and ptr.dtype == torch.long
        assert sorted(perm.tolist()) == list(range(num_nodes))
        assert ptr.numel() == num_parts + 1
        assert int(ptr[0]) == 0 and int(ptr[-1]) == num_nodes
        assert bool((ptr[1:] >= ptr[:-1]).all())

        out = permute(data, perm)
        assert out.num_nodes == num_nodes
        assert torch.equal(out.x, data.x[perm])
        assert torch.equal(out.y, perm)  # y is the old node id.
        # New node i is old node perm[i]: edges map back in place, with
        # their weights and features.
        assert torch.equal(perm[out.edge_index], data.edge_index)
        for key in ('edge_weight', 'edge_attr'):
            assert (out.get(key) is None) == (data.get(key) is None)
            if data.get(key) is not None:
                assert torch.equal(out[key], data[key])
        assert edge_tuples(out, perm) == edge_tuples(data)

    prop()


@examples(30)
def test_permute_adj_t(max_examples: int) -> None:
    # A sparse 'adj_t' is permuted on both dimensions.
    @run(max_examples, graphs(edge_weight=True, edge_attr=False),
         st.permutations(range(MAX_NODES)))
    def prop(data: Data, order: List[int]) -> None:
        num_nodes = data.num_nodes
        perm = torch.tensor([i for i in order if i < num_nodes])
        adj_t = full_adj_t(data)
        graph = Data(x=data.x, adj_t=adj_t, num_nodes=num_nodes)
        out = permute(graph, perm)
        assert out.adj_t.layout == torch.sparse_csr
        dense = adj_t.to_dense()
        torch.testing.assert_close(out.adj_t.to_dense(),
                                   dense[perm][:, perm])
        assert torch.equal(out.x, data.x[perm])

    prop()


# SubgraphLoader, ClusterLoader, EvalSubgraphLoader ###########################


@examples(60)
@pytest.mark.parametrize('Loader', [SubgraphLoader, ClusterLoader])
def test_loader_epoch(Loader: Any, max_examples: int) -> None:
    @run(max_examples, partitioned_graphs(), st.data())
    def prop(graph: Tuple[Data, Tensor], draw: Any) -> None:
        data, ptr = graph
        num_parts = ptr.numel() - 1
        batch_size = draw.draw(st.integers(1, num_parts + 1),
                               label='batch_size')
        shuffle = draw.draw(st.booleans(), label='shuffle')
        torch.manual_seed(draw.draw(st.integers(0, 2**16), label='seed'))
        loader = Loader(data, ptr, batch_size=batch_size, shuffle=shuffle)

        seen: List[int] = []
        sizes: List[int] = []
        for batch in loader:
            bs = batch.batch_size
            assert bs == int(batch.count.sum())
            seen += batch.n_id[:bs].tolist()
            sizes.append(batch.count.numel())
            check_clusters(batch)
            check_batch_edges(batch, data, halo=Loader is SubgraphLoader)
        # Every node in-batch exactly once, 'batch_size' clusters a batch:
        assert sorted(seen) == list(range(data.num_nodes))
        num_batches = math.ceil(num_parts / batch_size)
        assert len(sizes) == num_batches == len(loader)
        last = num_parts - (num_batches - 1) * batch_size
        assert sizes == [batch_size] * (num_batches - 1) + [last]
        if not shuffle:  # Clusters in order: so are the nodes.
            assert seen == list(range(data.num_nodes))

    prop()


@examples(40)
def test_split_clusters(max_examples: int) -> None:
    # Split clusters refine the partition, keep every range within the
    # bound (or to one node), and batch every node once, with its halo.
    @run(max_examples, partitioned_graphs(), st.integers(1, 12),
         st.booleans())
    def prop(graph: Tuple[Data, Tensor], max_edges: int, evaluate: bool
             ) -> None:
        data, ptr = graph
        dst = data.edge_index[1]
        rowptr = torch.zeros(data.num_nodes + 1, dtype=torch.long)
        rowptr[1:] = torch.bincount(dst, minlength=data.num_nodes).cumsum(0)
        out = split_clusters(ptr, rowptr, max_edges)
        assert out[0] == 0 and out[-1] == data.num_nodes
        assert bool((out[1:] >= out[:-1]).all())
        assert set(ptr.tolist()) <= set(out.tolist())
        edges = rowptr[out[1:]] - rowptr[out[:-1]]
        assert bool(((edges <= max_edges) | (out[1:] - out[:-1] == 1)).all())
        assert torch.equal(split_clusters(out, rowptr, max_edges), out)

        Loader = EvalSubgraphLoader if evaluate else SubgraphLoader
        loader = Loader(data, ptr, max_cluster_edges=max_edges)
        assert torch.equal(loader.ptr, out)
        seen: List[int] = []
        for batch in loader:
            seen += batch.n_id[:batch.batch_size].tolist()
            check_clusters(batch)
            check_batch_edges(batch, data, halo=True)
        assert seen == list(range(data.num_nodes))

    prop()


@examples(40)
def test_eval_loader(max_examples: int) -> None:
    @run(max_examples, partitioned_graphs(), st.data())
    def prop(graph: Tuple[Data, Tensor], draw: Any) -> None:
        data, ptr = graph
        num_parts = ptr.numel() - 1
        batch_size = draw.draw(st.integers(1, num_parts + 1),
                               label='batch_size')
        cache = draw.draw(st.booleans(), label='cache')
        loader = EvalSubgraphLoader(data, ptr, batch_size=batch_size,
                                    cache=cache)
        seen: List[int] = []
        for _ in range(2):  # Twice: the same batches each epoch.
            seen = []
            for batch in loader:
                seen += batch.n_id[:batch.batch_size].tolist()
                check_clusters(batch)
                check_batch_edges(batch, data, halo=True)
            assert seen == list(range(data.num_nodes))
        assert len(loader) == math.ceil(num_parts / batch_size)

    prop()


# GAS mini-batches equal the full graph #######################################


MODELS = {
    'gcn': lambda n, layers: GCN(n, 3, 4, 2, num_layers=layers),
    'sage': lambda n, layers: SAGE(n, 3, 4, 2, num_layers=layers),
    'gin': lambda n, layers: GIN(n, 3, 4, 2, num_layers=layers),
    'gat': lambda n, layers: GAT(n, 3, 4, 2, num_layers=layers, heads=2),
}


@examples(25)
@pytest.mark.parametrize('name', list(MODELS))
def test_gas_equals_full_graph(name: str, max_examples: int) -> None:
    @run(max_examples, graphs(edge_attr=False),
         st.data())
    def prop(data: Data, draw: Any) -> None:
        num_nodes = data.num_nodes
        num_layers = draw.draw(st.integers(1, 3), label='num_layers')
        torch.manual_seed(draw.draw(st.integers(0, 2**16), label='seed'))
        model = MODELS[name](num_nodes, num_layers).eval()

        data = model.transform(data)
        num_parts = draw.draw(st.integers(1, num_nodes), label='num_parts')
        perm, ptr = metis(data, num_parts, log=False)
        data = permute(data, perm)
        with torch.no_grad():
            full = model(data.x, full_adj_t(data))  # [N, 2]

            # Inference over any grouping of the clusters, from fresh
            # histories:
            for history in model.histories:
                history.reset_parameters()
            eval_bs = draw.draw(st.integers(1, num_parts), label='eval_bs')
            out = model.inference(EvalSubgraphLoader(data, ptr, eval_bs))
            torch.testing.assert_close(out, full, atol=1e-5, rtol=1e-5)

            # With histories filled, every GAS batch is exact:
            batch_size = draw.draw(st.integers(1, num_parts),
                                   label='batch_size')
            loader = SubgraphLoader(data, ptr, batch_size=batch_size,
                                    shuffle=True)
            for b in loader:
                out = model(b.x, b.adj_t, b.batch_size, b.n_id, b.offset,
                            b.count)
                torch.testing.assert_close(out, full[b.n_id[:b.batch_size]],
                                           atol=1e-5, rtol=1e-5)

            # A batch of all clusters needs no history at all:
            for history in model.histories:
                history.reset_parameters()
            (b, ) = SubgraphLoader(data, ptr, batch_size=num_parts)
            assert b.n_id.numel() == b.batch_size == num_nodes
            out = model(b.x, b.adj_t, b.batch_size, b.n_id, b.offset, b.count)
            torch.testing.assert_close(out, full[b.n_id], atol=1e-5,
                                       rtol=1e-5)

    prop()


@examples(15)
@pytest.mark.parametrize('name', list(MODELS))
def test_transform_aligns_edge_attrs(name: str, max_examples: int) -> None:
    # 'model.transform' returns a graph whose edge-level attributes have one
    # row per edge, and every edge it keeps keeps its features (and its
    # weight, unless the transform computes new ones, as GCN's does).
    @run(max_examples, graphs(edge_weight=True, edge_attr=True))
    def prop(data: Data) -> None:
        model = MODELS[name](data.num_nodes, 2)
        out = model.transform(data)
        num_edges = out.edge_index.size(1)
        for key in ('edge_weight', 'edge_attr'):
            if out.get(key) is not None:
                assert out[key].size(0) == num_edges, key
        if name == 'gcn':  # New weights: compare the features only.
            out = out.clone()
            data = data.clone()
            del out.edge_weight, data.edge_weight

        def not_loop(s: int, d: int) -> bool:
            return s != d

        kept = edge_tuples(out, keep=not_loop)
        before = edge_tuples(data, keep=not_loop)
        assert kept == before

    prop()


# History #####################################################################

DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]


def stored(x: Tensor, dtype: torch.dtype) -> Tensor:
    r"""What a store of type :obj:`dtype` returns for the pushed rows
    :obj:`x`: the rows rounded to :obj:`dtype`, in float32 (or float64)."""
    out_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    return x.to(dtype).to(out_dtype)


@st.composite
def histories(draw: Any) -> History:
    num = draw(st.integers(1, MAX_NODES))
    dim = draw(st.integers(1, 5))
    dtype = draw(st.sampled_from(DTYPES))
    return History(num, dim, dtype=dtype)


@examples(60)
def test_history_push_pull_ids(max_examples: int) -> None:
    @run(max_examples, histories(), st.data())
    def prop(history: History, draw: Any) -> None:
        num, dim, dtype = (history.num_embeddings, history.embedding_dim,
                           history.dtype)
        order = draw.draw(st.permutations(range(num)), label='order')
        ids = torch.tensor(order[:draw.draw(st.integers(0, num))],
                           dtype=torch.long)
        seed = draw.draw(st.integers(0, 2**16), label='seed')
        x = torch.randn(ids.numel(), dim,
                        generator=torch.Generator().manual_seed(seed))
        history.push(x, ids)

        expected = torch.zeros(num, dim, dtype=stored(x, dtype).dtype)
        expected[ids] = stored(x, dtype)
        assert torch.equal(history.pull(), expected)  # Others stay zero.
        if dtype == torch.float32:
            assert torch.equal(history.pull(ids), x)  # Exact round trip.
        # Any order, with repeats:
        query = torch.tensor(draw.draw(st.lists(st.integers(0, num - 1),
                                                max_size=2 * num),
                                       label='query'), dtype=torch.long)
        assert torch.equal(history.pull(query), expected[query])
        for out_dtype in (torch.float32, torch.float64):
            out = torch.full((query.numel(), dim), float('nan'),
                             dtype=out_dtype)
            assert history.pull(query, out=out) is out
            assert torch.equal(out, expected[query].to(out_dtype))
            assert torch.equal(history.pull(query, dtype=out_dtype),
                               expected[query].to(out_dtype))

    prop()


@examples(60)
def test_history_push_ranges(max_examples: int) -> None:
    @run(max_examples, histories(), st.data())
    def prop(history: History, draw: Any) -> None:
        num, dim, dtype = (history.num_embeddings, history.embedding_dim,
                           history.dtype)
        # Disjoint ranges (some empty), pushed in any order:
        cuts = sorted(draw.draw(st.lists(st.integers(0, num), max_size=8),
                                label='cuts'))
        bounds = [0] + cuts + [num]
        ranges = list(zip(bounds[:-1], bounds[1:]))
        chosen = draw.draw(st.lists(st.sampled_from(range(len(ranges))),
                                    unique=True, min_size=1), label='chosen')
        offset = torch.tensor([ranges[i][0] for i in chosen])
        count = torch.tensor([ranges[i][1] - ranges[i][0] for i in chosen])
        seed = draw.draw(st.integers(0, 2**16), label='seed')
        x = torch.randn(int(count.sum()), dim,
                        generator=torch.Generator().manual_seed(seed))
        as_int = draw.draw(st.booleans(), label='as_int')
        if as_int and len(chosen) == 1:  # Plain ints are accepted too.
            history.push(x, offset=int(offset), count=int(count))
        else:
            history.push(x, offset=offset, count=count)

        ids = torch.cat([torch.arange(o, o + c) for o, c in
                         zip(offset.tolist(), count.tolist())])
        expected = torch.zeros(num, dim, dtype=stored(x, dtype).dtype)
        expected[ids] = stored(x, dtype)
        assert torch.equal(history.pull(), expected)
        assert torch.equal(history.pull(ids), stored(x, dtype))
        if dtype == torch.float32:
            assert torch.equal(history.pull(ids), x)
        staleness = torch.full((num, ), -1, dtype=torch.long)
        staleness[ids] = 0
        assert torch.equal(history.staleness(), staleness)

    prop()


@st.composite
def history_ops(draw: Any, num: int) -> List[Tuple[str, Any]]:
    r"""A sequence of :meth:`History.tick`, pushes by ids (with an optional
    explicit step), pushes by ranges and whole pushes."""
    node = st.integers(0, num - 1)
    op = st.one_of(
        st.just(('tick', None)),
        st.tuples(st.just('ids'),
                  st.tuples(st.lists(node, unique=True),
                            st.one_of(st.none(), st.integers(0, 20)))),
        st.tuples(st.just('range'), st.tuples(node, node)),
        st.just(('all', None)),
    )
    return draw(st.lists(op, max_size=20))


@examples(50)
def test_history_staleness(max_examples: int) -> None:
    @run(max_examples, histories(), st.data())
    def prop(history: History, draw: Any) -> None:
        num, dim = history.num_embeddings, history.embedding_dim
        ops = draw.draw(history_ops(num), label='ops')
        step = 0
        last = [-1] * num  # The reference: the step of each row's push.
        for kind, arg in ops:
            if kind == 'tick':
                history.tick()
                step += 1
            elif kind == 'ids':
                ids, at = arg
                if at is not None:
                    at = min(at, step)  # Written at some earlier step.
                history.push(torch.ones(len(ids), dim),
                             torch.tensor(ids, dtype=torch.long), step=at)
                for i in ids:
                    last[i] = step if at is None else at
            elif kind == 'range':
                lo, hi = sorted(arg)
                history.push(torch.ones(hi - lo, dim), offset=lo,
                             count=hi - lo)
                last[lo:hi] = [step] * (hi - lo)
            else:
                history.push(torch.ones(num, dim))
                last = [step] * num

            # Steps since the last push, -1 for rows never pushed:
            expected = torch.tensor([-1 if s < 0 else step - s
                                     for s in last])
            assert int(history.step) == step
            assert torch.equal(history.staleness(), expected)
            query = torch.tensor(draw.draw(st.lists(st.integers(0, num - 1)),
                                           label='query'), dtype=torch.long)
            assert torch.equal(history.staleness(query), expected[query])

        history.reset_parameters()
        assert torch.equal(history.staleness(),
                           torch.full((num, ), -1, dtype=torch.long))
        assert not bool(history.pull().any())

    prop()


# LADIESLoader ################################################################


@examples(50)
def test_ladies_loader(max_examples: int) -> None:
    @run(max_examples, graphs(min_nodes=2, edge_attr=False), st.data())
    def prop(data: Data, draw: Any) -> None:
        num_nodes = data.num_nodes
        src, dst = data.edge_index
        assume(bool((src != dst).any()))  # LADIES needs a real edge.
        num_layers = draw.draw(st.integers(1, 3), label='num_layers')
        num_samples = draw.draw(st.lists(st.integers(1, num_nodes + 2),
                                         min_size=num_layers,
                                         max_size=num_layers),
                                label='num_samples')
        which = draw.draw(st.one_of(
            st.none(),
            st.lists(st.integers(0, num_nodes - 1), unique=True,
                     min_size=1)), label='input_nodes')
        input_nodes = None if which is None else torch.tensor(which)
        inputs = list(range(num_nodes)) if which is None else which
        batch_size = draw.draw(st.integers(1, len(inputs) + 1),
                               label='batch_size')
        mode = draw.draw(st.sampled_from(['ladies', 'fastgcn']), label='mode')
        sampler = draw.draw(st.sampled_from(['systematic', 'multinomial']),
                            label='sampler')
        normalize = draw.draw(st.booleans(), label='normalize')
        shuffle = draw.draw(st.booleans(), label='shuffle')
        seed = draw.draw(st.integers(0, 2**16), label='seed')
        loader = LADIESLoader(data, input_nodes, batch_size=batch_size,
                              num_samples=num_samples, num_layers=num_layers,
                              mode=mode, sampler=sampler, normalize=normalize,
                              shuffle=shuffle, seed=seed)

        # P's nonzeros: the edges j -> i and the self-loops, as (i, j):
        entries = set(zip(dst.tolist(), src.tolist()))
        entries |= {(i, i) for i in range(num_nodes)}

        outputs: List[int] = []
        for batch in loader:
            layer_n_id = batch.layer_n_id
            assert len(layer_n_id) == num_layers + 1
            assert len(batch.adjs_t) == num_layers
            assert torch.equal(batch.n_id, layer_n_id[0])
            assert batch.batch_size == layer_n_id[-1].numel()
            assert batch.layer_sizes == [ids.numel() for ids in layer_n_id]
            assert torch.equal(batch.x, data.x[batch.n_id])
            outputs += layer_n_id[-1].tolist()
            for layer in range(num_layers):
                below, above = layer_n_id[layer], layer_n_id[layer + 1]
                n_lo, n_hi = below.numel(), above.numel()
                # Distinct, nested, targets first, bounded:
                assert below.unique().numel() == n_lo
                assert torch.equal(below[:n_hi], above)
                assert n_lo <= n_hi + num_samples[layer]

                adj_t = batch.adjs_t[layer]
                assert tuple(adj_t.shape) == (n_hi, n_lo)
                coo = adj_t.to_sparse_coo().coalesce()
                rows, cols = coo.indices()
                values = coo.values()
                assert bool(torch.isfinite(values).all())
                assert bool((values > 0).all())
                pairs = zip(above[rows].tolist(), below[cols].tolist())
                assert all(pair in entries for pair in pairs)
                # Each target keeps its self-loop:
                diag = torch.arange(n_hi)
                dense = adj_t.to_dense()
                assert bool((dense[diag, diag] > 0).all())
                if normalize:
                    torch.testing.assert_close(dense.sum(1),
                                               torch.ones(n_hi))
                ei = batch.edge_indices[layer].as_subclass(Tensor)
                assert torch.equal(ei[0], adj_t.col_indices())
                assert torch.equal(batch.edge_weights[layer], adj_t.values())
        # The output nodes of an epoch cover the input nodes once:
        assert sorted(outputs) == sorted(inputs)
        if not shuffle:
            assert outputs == inputs

    prop()
