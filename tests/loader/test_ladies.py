import math
import pickle
from typing import List, Tuple

import pytest
import torch
from torch import Tensor
from torch_geometric import EdgeIndex
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from pyg_gas.loader import LADIESLoader, LayerwiseData
from pyg_gas.loader.ladies import KEY_LIMIT, gcn_norm_csr
from pyg_gas.loader.pps import (
    _capped,
    inclusion_probabilities,
    systematic_sampling,
)
from pyg_gas.nn.models import GCN, SAGE
from pyg_gas.testing import withCUDA
from pyg_gas.utils import to_adj_t

MODES = ['ladies', 'fastgcn']
SAMPLERS = ['systematic', 'multinomial']


# These tests run thousands of tiny ops, which intra-op threads only slow
# down (by a lot on a busy machine):
pytestmark = pytest.mark.usefixtures('single_thread')


def hand_graph() -> Data:
    # 40 nodes with irregular degrees: a hub (0) with 15 spokes, a long
    # chain with shortcuts, two directed-only edges (39 -> 1, 38 -> 0), a
    # self-loop (4 -> 4, ignored) and a duplicated edge (3 -> 20, twice).
    pairs = [(0, i) for i in range(1, 16)]
    pairs += [(i, i + 1) for i in range(15, 39)]
    pairs += [(3, 20), (5, 25), (7, 30), (20, 33), (25, 38), (10, 11),
              (12, 13), (2, 36), (3, 20)]
    edges = [(a, b) for a, b in pairs] + [(b, a) for a, b in pairs]
    edges += [(39, 1), (38, 0), (4, 4)]
    edge_index = torch.tensor(edges).t().contiguous()
    num_nodes = 40
    gen = torch.Generator().manual_seed(0)
    return Data(
        x=torch.randn(num_nodes, 4, generator=gen),
        y=torch.arange(num_nodes) % 3,
        train_mask=torch.arange(num_nodes) % 3 != 1,
        edge_index=edge_index,
        edge_weight=torch.rand(edge_index.size(1), generator=gen),
        num_nodes=num_nodes,
    )


def random_graph(num_nodes: int = 300, num_edges: int = 1500,
                 seed: int = 0) -> Data:
    gen = torch.Generator().manual_seed(seed)
    # Power-law-ish endpoints, made undirected:
    weight = (torch.arange(num_nodes, dtype=torch.float) + 3).pow(-0.8)
    src = torch.multinomial(weight, num_edges, True, generator=gen)
    dst = torch.randint(0, num_nodes, (num_edges, ), generator=gen)
    edge_index = torch.cat([torch.stack([src, dst]),
                            torch.stack([dst, src])], dim=1)
    return Data(x=torch.randn(num_nodes, 8, generator=gen),
                y=torch.randint(0, 4, (num_nodes, ), generator=gen),
                train_mask=torch.rand(num_nodes, generator=gen) < 0.6,
                edge_index=edge_index, num_nodes=num_nodes)


def dense_P(data: Data) -> Tensor:
    # P = D^-1/2 (A + I) D^-1/2, rows = targets, self-loops of the input
    # dropped, duplicates counted, degrees = in-degree + 1.
    n = data.num_nodes
    src, dst = data.edge_index
    keep = src != dst
    adj = torch.zeros(n, n, dtype=torch.float64)
    adj.index_put_((dst[keep], src[keep]), torch.ones(int(keep.sum()),
                                                      dtype=torch.float64),
                   accumulate=True)
    adj += torch.eye(n, dtype=torch.float64)
    dis = adj.sum(dim=1).pow(-0.5)
    return dis.view(-1, 1) * adj * dis.view(1, -1)


def check_batch(batch: LayerwiseData, data: Data, P: Tensor,
                num_samples: List[int], normalize: bool,
                sampler: str = 'systematic') -> None:
    num_layers = len(num_samples)
    assert isinstance(batch, LayerwiseData)
    assert batch.num_layers == num_layers
    assert len(batch.adjs_t) == len(batch.edge_indices) == num_layers
    assert len(batch.layer_n_id) == len(batch.layer_sizes) == num_layers + 1
    assert torch.equal(batch.n_id, batch.layer_n_id[0])
    assert batch.batch_size == batch.layer_sizes[-1]
    assert batch.layer_sizes == [ids.numel() for ids in batch.layer_n_id]
    assert torch.equal(batch.x, data.x[batch.n_id])
    assert torch.equal(batch.y, data.y[batch.n_id])
    assert batch.num_nodes == batch.n_id.numel()
    for layer in range(num_layers):
        sources, targets = batch.layer_n_id[layer], batch.layer_n_id[layer + 1]
        n_src, n_dst = sources.numel(), targets.numel()
        # Nested, targets first, distinct:
        assert torch.equal(sources[:n_dst], targets)
        assert sources.unique().numel() == n_src
        assert n_src <= n_dst + num_samples[layer]
        # Every sampled node is an in-neighbour of a target:
        new = sources[n_dst:]
        assert bool((P[targets][:, new] != 0).any(dim=0).all())

        adj_t = batch.adjs_t[layer]
        assert adj_t.layout == torch.sparse_csr
        assert tuple(adj_t.shape) == (n_dst, n_src)
        edge_index = batch.edge_indices[layer]
        assert isinstance(edge_index, EdgeIndex)
        assert edge_index.sparse_size() == (n_src, n_dst)
        assert edge_index.is_sorted_by_col
        edge_index.validate()
        src, dst = edge_index.as_tensor()
        assert bool((dst[1:] >= dst[:-1]).all())
        weight = batch.edge_weights[layer]
        assert torch.equal(weight, adj_t.values())
        assert torch.equal(adj_t.crow_indices(),
                           torch.cat([dst.new_zeros(1),
                                      torch.bincount(dst, minlength=n_dst)
                                      .cumsum(0)]))
        assert torch.equal(adj_t.col_indices(), src)
        assert bool((weight > 0).all())
        # Edges exist in P; the targets' own columns and nothing twice:
        assert bool((P[targets[dst], sources[src]] != 0).all())
        key = dst * n_src + src
        assert key.unique().numel() == key.numel()
        own = (P[targets][:, targets] != 0).sum()
        assert int((src < n_dst).sum()) == int(own)
        if normalize:
            row_sum = torch.zeros(n_dst).index_add_(0, dst, weight)
            torch.testing.assert_close(row_sum, torch.ones(n_dst))
        else:  # Own columns exactly, sampled ones divided by pi <= 1.
            exact = P[targets[dst], sources[src]].float()
            is_own = src < n_dst
            torch.testing.assert_close(weight[is_own], exact[is_own])
            if sampler == 'systematic':
                assert bool((weight[~is_own] >= exact[~is_own] *
                             (1 - 1e-6)).all())


def test_normalized_adjacency():
    data = hand_graph()
    rowptr, col, value = gcn_norm_csr(data.edge_index, data.num_nodes)
    n = data.num_nodes
    dense = torch.zeros(n, n, dtype=torch.float64)
    row = torch.arange(n).repeat_interleave(rowptr.diff())
    dense[row, col] = value
    torch.testing.assert_close(dense, dense_P(data))
    # Sources sorted within each row:
    assert bool(((col[1:] > col[:-1]) | (row[1:] != row[:-1])).all())

    # Same as PyG's 'gcn_norm' (rows = targets):
    edge_index = data.edge_index[:, data.edge_index[0] != data.edge_index[1]]
    ei, w = gcn_norm(edge_index, None, n, add_self_loops=True)
    pyg = torch.zeros(n, n, dtype=torch.float64)
    pyg.index_put_((ei[1], ei[0]), w.double(), accumulate=True)
    torch.testing.assert_close(dense, pyg)
    # More cases (duplicates, self-loops, isolated nodes) in test_graph.py.


def test_adj_t_input():
    # A graph given as a weighted 'adj_t' gives the same P (weights and
    # self-loops ignored) and the same batches.
    data = random_graph()
    other = Data(x=data.x, y=data.y, num_nodes=data.num_nodes,
                 adj_t=to_adj_t(data.edge_index, data.num_nodes,
                                torch.rand(data.num_edges) + 0.5))
    a = LADIESLoader(data, batch_size=50, num_samples=20, seed=1)
    b = LADIESLoader(other, batch_size=50, num_samples=20, seed=1)
    assert torch.equal(a.collater.value, b.collater.value)
    for x, y in zip(a, b):
        assert torch.equal(x.n_id, y.n_id)
        assert torch.equal(x.edge_weights[1], y.edge_weights[1])
        assert 'adj_t' not in y


def _capped_reference(p: Tensor, s: int) -> Tensor:
    # The plain iterative definition.
    p = p.double()
    positive = p > 0
    if int(positive.sum()) <= s:
        return positive.double()
    capped = torch.zeros_like(positive)
    while True:
        rest = p.masked_fill(capped, 0.0)
        pi = rest * ((s - int(capped.sum())) / float(rest.sum()))
        over = pi >= 1
        if not bool(over.any()):
            return pi.masked_fill(capped, 1.0)
        capped |= over


def test_inclusion_probabilities():
    pi = inclusion_probabilities(torch.tensor([10.0, 1.0, 1.0, 1.0, 1.0]), 2)
    assert pi.dtype == torch.float64
    torch.testing.assert_close(
        pi, torch.tensor([1.0, 0.25, 0.25, 0.25, 0.25], dtype=torch.float64))
    # Two rounds of capping: 2 * 8 / 12 > 1, then 2 * 2 / 4 >= 1.
    pi = inclusion_probabilities(torch.tensor([8.0, 2.0, 1.0, 1.0]), 3)
    assert pi.tolist() == [1.0, 1.0, 0.5, 0.5]
    pi = inclusion_probabilities(torch.tensor([1.0, 1.0, 2.0, 0.0]), 2)
    assert pi.tolist() == [0.5, 0.5, 1.0, 0.0]
    # Fewer positive items than samples: take them all.
    pi = inclusion_probabilities(torch.tensor([0.0, 3.0, 1.0]), 5)
    assert pi.tolist() == [0.0, 1.0, 1.0]
    assert inclusion_probabilities(torch.zeros(3), 2).tolist() == [0.0] * 3

    gen = torch.Generator().manual_seed(12345)
    for _ in range(300):
        n = int(torch.randint(1, 200, (1, ), generator=gen))
        s = int(torch.randint(1, 100, (1, ), generator=gen))
        exponent = 8 * float(torch.rand(1, generator=gen))
        p = torch.rand(n, generator=gen, dtype=torch.float64).pow(exponent)
        p[torch.rand(n, generator=gen) < 0.2] = 0.0
        pi = inclusion_probabilities(p, s)
        torch.testing.assert_close(pi, _capped_reference(p, s), rtol=1e-9,
                                   atol=1e-12)
        assert float(pi.max()) <= 1.0
        assert math.isclose(float(pi.sum()), min(s, int((p > 0).sum())),
                            rel_tol=1e-9)


def test_capped_fast_path():
    # The sampler's capping from the largest items agrees with the plain
    # definition: the same capped items, and the same scale for the others.
    def check(p: Tensor, s: int) -> bool:
        total = float(p.sum(dtype=torch.float64))
        out = _capped(p, total, s)
        if out is None:
            return False
        certain, scale, max_pi = out
        expected = _capped_reference(p, s)
        is_certain = torch.zeros(p.numel(), dtype=torch.bool)
        is_certain[certain] = True
        assert certain.numel() == int(is_certain.sum())  # Distinct.
        assert torch.equal(is_certain, expected == 1.0)
        rest = ~is_certain & (p > 0)
        torch.testing.assert_close(p[rest].double() * scale, expected[rest],
                                   rtol=1e-9, atol=0.0)
        assert max_pi >= float(expected[rest].max()) * (1 - 1e-9)
        return True

    # 2 * 8 / 12 > 1, then 2 * 2 / 4 >= 1: two rounds of the definition.
    assert check(torch.tensor([8.0, 2.0, 1.0, 1.0]), 3)
    # The second largest item is only capped once the first is, and is
    # below the first threshold (0.5 * 104 / 3): a second round here.
    assert check(torch.tensor([100.0, 3.0] + [0.1] * 10), 3)
    # Fewer positive items than samples: left to the general solution.
    assert not check(torch.tensor([0.0, 3.0, 1.0]), 5)

    gen = torch.Generator().manual_seed(4321)
    settled = 0
    for _ in range(400):
        n = int(torch.randint(2, 3000, (1, ), generator=gen))
        s = int(torch.randint(1, max(2, n // 2), (1, ), generator=gen))
        exponent = 3 * float(torch.rand(1, generator=gen)) + 0.2
        p = torch.rand(n, generator=gen).pow(-exponent)  # Heavy-tailed.
        p[torch.rand(n, generator=gen) < 0.3] = 0.0
        if float(p.max()) * s < float(p.sum(dtype=torch.float64)):
            continue  # Nothing to cap.
        settled += check(p, s)
    assert settled >= 100


def test_systematic_sampling():
    pi = torch.tensor([1.0, 0.95, 0.7, 0.5, 0.5, 0.3, 0.25, 0.2, 0.1, 0.1,
                       0.05, 0.05, 0.3, 0.0, 0.0], dtype=torch.float64)
    s = round(float(pi.sum()))
    assert math.isclose(float(pi.sum()), s)
    gen = torch.Generator().manual_seed(7)
    num_draws = 20000
    count = torch.zeros_like(pi)
    for _ in range(num_draws):
        sel = systematic_sampling(pi, gen)
        assert sel.numel() == s  # Fixed size,
        assert bool((sel[1:] > sel[:-1]).all())  # distinct and sorted.
        count[sel] += 1
    freq = count / num_draws
    se = (pi * (1 - pi) / num_draws).sqrt()
    assert bool(((freq - pi).abs() <= 5 * se + 1e-12).all()), (freq, pi)
    assert count[0] == num_draws and count[-2:].sum() == 0

    # A fractional sum gives floor or ceil items, still with probability pi:
    pi = torch.tensor([0.5, 0.25, 0.5], dtype=torch.float64)
    count = torch.zeros_like(pi)
    sizes = set()
    for _ in range(4000):
        sel = systematic_sampling(pi, gen)
        sizes.add(sel.numel())
        count[sel] += 1
    assert sizes == {1, 2}
    se = (pi * (1 - pi) / 4000).sqrt()
    assert bool(((count / 4000 - pi).abs() <= 5 * se).all())
    assert systematic_sampling(torch.zeros(0)).numel() == 0


class ErrorStats:
    # Accumulates, per layer, the error of the sampled aggregation
    # A_l H[U_l] against the exact (P H)[U_{l+1}], by (target node, channel)
    # and summed over the whole batch. Batches are i.i.d., so both have
    # standard errors estimated from the per-batch samples.
    def __init__(self, num_nodes: int, num_channels: int,
                 num_layers: int) -> None:
        shape = (num_layers, num_nodes, num_channels)
        self.s1 = torch.zeros(shape, dtype=torch.float64)
        self.s2 = torch.zeros(shape, dtype=torch.float64)
        self.cnt = torch.zeros(num_layers, num_nodes, 1, dtype=torch.float64)
        self.totals: List[List[float]] = [[] for _ in range(num_layers)]

    def add(self, batch: LayerwiseData, H: Tensor, PH: Tensor) -> None:
        for layer in range(batch.num_layers):
            sources = batch.layer_n_id[layer]
            targets = batch.layer_n_id[layer + 1]
            est = batch.adjs_t[layer].to_dense().double() @ H[sources]
            err = est - PH[targets]  # [n_{l+1}, C]
            self.s1[layer, targets] += err
            self.s2[layer, targets] += err * err
            self.cnt[layer, targets] += 1
            self.totals[layer].append(float(err.sum()))

    def max_entry_z(self, layer: int) -> float:
        # The largest |mean error| / standard error over all entries seen
        # in at least 30 batches.
        m = self.cnt[layer]
        seen = m.view(-1) >= 30
        m, s1, s2 = m[seen], self.s1[layer][seen], self.s2[layer][seen]
        mean = s1 / m
        var = (s2 / m - mean * mean).clamp(min=0) * m / (m - 1)
        return float(((mean.abs() - 1e-6) / ((var / m).sqrt() + 1e-9)).max())

    def total_z(self, layer: int) -> float:
        # |mean| / standard error of the whole batch's summed error.
        totals = torch.tensor(self.totals[layer], dtype=torch.float64)
        se = totals.std() / math.sqrt(totals.numel())
        return float(totals.mean().abs() / se)


def _num_capped(P: Tensor, batch: LayerwiseData, mode: str, layer: int,
                num_samples: int) -> Tuple[int, int]:
    # The number of capped (pi = 1) and sampled (0 < pi < 1) candidates.
    targets = batch.layer_n_id[layer + 1]
    if mode == 'ladies':  # Drawn from the columns outside U_l.
        p = P[targets].pow(2).sum(dim=0)
        p[targets] = 0.0
        pi = inclusion_probabilities(p, num_samples)
    else:  # Drawn from all columns; the targets' own are taken anyway.
        pi = inclusion_probabilities(P.pow(2).sum(dim=0), num_samples)
        pi[targets] = 0.0
    return int((pi == 1).sum()), int(((pi > 0) & (pi < 1)).sum())


@pytest.mark.parametrize('mode', MODES)
def test_unbiased(mode):
    data = hand_graph()
    P = dense_P(data)
    # Positive features, so that a biased scale shows in the batch sums:
    H = 1.0 + torch.rand(data.num_nodes, 3, dtype=torch.float64,
                         generator=torch.Generator().manual_seed(1))
    PH = P @ H
    nodes = torch.tensor([0, 17, 3, 30, 25])  # The hub and others.
    # Sizes at which some candidates are capped (pi = 1) in both layers:
    num_samples = [12, 12] if mode == 'ladies' else [24, 24]
    loader = LADIESLoader(data, num_samples=num_samples, num_layers=2,
                          mode=mode, normalize=False, seed=3)
    stats = ErrorStats(data.num_nodes, 3, num_layers=2)
    capped = [[0, 0], [0, 0]]
    for i in range(4000):
        batch = loader.sample(nodes)
        stats.add(batch, H, PH)
        for layer in range(2 if i < 200 else 0):
            c, u = _num_capped(P, batch, mode, layer, num_samples[layer])
            capped[layer][0] += c > 0
            capped[layer][1] += u > 0
    for layer in range(2):
        # The test covers capped and sampled candidates in both layers:
        assert capped[layer][0] > 0 and capped[layer][1] > 0, capped
        # The estimator does vary, and its mean converges to P H:
        assert float(stats.s2[layer].max()) > 0.1
        assert stats.max_entry_z(layer) < 5.0
        assert stats.total_z(layer) < 5.0
    assert int((stats.cnt[0] >= 30).sum()) > 15  # Many nodes in layer 1.

    # The same statistics detect a bias: row normalization has one.
    loader = LADIESLoader(data, num_samples=num_samples, num_layers=2,
                          mode=mode, normalize=True, seed=3)
    stats = ErrorStats(data.num_nodes, 3, num_layers=2)
    for _ in range(200):
        stats.add(loader.sample(nodes), H, PH)
    assert stats.total_z(1) > 10.0


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('sampler', SAMPLERS)
@pytest.mark.parametrize('normalize', [True, False])
def test_structure(mode, sampler, normalize):
    for data, num_samples in [(hand_graph(), [5, 3]),
                              (random_graph(), [40, 20, 10])]:
        P = dense_P(data)
        loader = LADIESLoader(data, data.train_mask, batch_size=16,
                              num_samples=num_samples,
                              num_layers=len(num_samples), mode=mode,
                              sampler=sampler, normalize=normalize,
                              shuffle=True, seed=0)
        sizes = []
        for batch in loader:
            check_batch(batch, data, P, num_samples, normalize, sampler)
            sizes.append(batch.layer_sizes)
        if mode == 'ladies' and sampler == 'systematic':
            # Exactly s new nodes whenever there are enough candidates:
            assert any(size[0] == size[1] + num_samples[0] for size in sizes)


def test_layer_sizes_exact():
    data = random_graph()
    P = dense_P(data)
    loader = LADIESLoader(data, batch_size=8, num_samples=[30, 15],
                          shuffle=True, seed=1)
    for batch in loader:
        for layer, s in enumerate([30, 15]):
            targets = batch.layer_n_id[layer + 1]
            outside = (P[targets] != 0).any(dim=0)
            outside[targets] = False
            expected = targets.numel() + min(s, int(outside.sum()))
            assert batch.layer_sizes[layer] == expected


def test_seeded_runs_repeat():
    data = random_graph()

    def epochs(seed, num_epochs=2, **kwargs):
        loader = LADIESLoader(data, data.train_mask, batch_size=32,
                              num_samples=[30, 20], shuffle=True, seed=seed,
                              **kwargs)
        return [batch for _ in range(num_epochs) for batch in loader]

    def same(a, b):
        return len(a) == len(b) and all(
            torch.equal(x.n_id, y.n_id) and all(
                torch.equal(u, v)
                for u, v in zip(x.edge_weights, y.edge_weights)) and all(
                    torch.equal(u.as_tensor(), v.as_tensor())
                    for u, v in zip(x.edge_indices, y.edge_indices))
            for x, y in zip(a, b))

    first = epochs(0)
    assert same(first, epochs(0))
    assert not same(first, epochs(1))
    n = len(first) // 2  # Epochs differ from each other:
    assert not same(first[:n], first[n:])
    for mode in MODES:
        assert same(epochs(5, mode=mode, sampler='multinomial'),
                    epochs(5, mode=mode, sampler='multinomial'))
    # Without a seed, the global RNG decides:
    torch.manual_seed(42)
    a = epochs(None, num_epochs=1)
    torch.manual_seed(42)
    assert same(a, epochs(None, num_epochs=1))


def test_index_and_mask_inputs():
    data = random_graph()
    index = data.train_mask.nonzero().view(-1)
    a = LADIESLoader(data, data.train_mask, batch_size=13, num_samples=20,
                     shuffle=True, seed=4)
    b = LADIESLoader(data, index, batch_size=13, num_samples=20,
                     shuffle=True, seed=4)
    assert len(a) == len(b) == math.ceil(index.numel() / 13)
    for _ in range(2):  # Two epochs.
        outputs = []
        for x, y in zip(a, b):
            assert torch.equal(x.n_id, y.n_id)
            assert torch.equal(x.edge_weights[0], y.edge_weights[0])
            assert x.train_mask[:x.batch_size].all()
            outputs.append(x.n_id[:x.batch_size])
        outputs = torch.cat(outputs)
        # Every training node is an output node exactly once per epoch:
        assert torch.equal(outputs.sort().values, index)

    # All nodes when 'input_nodes' is None:
    loader = LADIESLoader(data, batch_size=64, num_samples=10)
    outputs = torch.cat([batch.n_id[:batch.batch_size] for batch in loader])
    assert torch.equal(outputs, torch.arange(data.num_nodes))


def test_batching_options():
    data = random_graph()
    index = data.train_mask.nonzero().view(-1)
    loader = LADIESLoader(data, index, batch_size=13, num_samples=20,
                          shuffle=True, drop_last=True, seed=0)
    assert loader.batch_size == 13 and loader.drop_last
    assert len(loader) == index.numel() // 13
    batches = list(loader)
    assert len(batches) == len(loader)
    assert all(batch.batch_size == 13 for batch in batches)
    outputs = torch.cat([batch.n_id[:13] for batch in batches])
    assert outputs.unique().numel() == outputs.numel()
    assert bool(torch.isin(outputs, index).all())

    # A batch sampler of positions into 'index' is honoured:
    batches = [[5, 3], [0], [7, 1, 2]]
    loader = LADIESLoader(data, index, num_samples=5, batch_sampler=batches)
    assert len(loader) == 3
    for batch, positions in zip(loader, batches):
        assert torch.equal(batch.n_id[:batch.batch_size], index[positions])


def test_key_map_reset():
    # The node map is never cleared between batches, only when its keys
    # would overflow; batches stay exact across that reset.
    data = random_graph()
    P = dense_P(data)
    for mode in MODES:
        loader = LADIESLoader(data, batch_size=16, num_samples=[20, 10],
                              mode=mode, seed=0)
        nodes = torch.arange(16)
        check_batch(loader.sample(nodes), data, P, [20, 10], True)
        # The keys are int32, so the map is reset before they overflow:
        loader.collater._next_key = KEY_LIMIT - 5
        check_batch(loader.sample(nodes), data, P, [20, 10], True)
        assert loader.collater._next_key < 2**16  # It was reset.
        assert loader.collater._assoc.dtype == torch.int32
        with pytest.raises(ValueError, match='smaller batch size'):
            loader.collater._stamp(KEY_LIMIT)
        check_batch(loader.sample(nodes + 16), data, P, [20, 10], True)


@pytest.mark.parametrize('model_cls', [GCN, SAGE])
def test_models(model_cls):
    data = random_graph()
    loader = LADIESLoader(data, data.train_mask, batch_size=32,
                          num_samples=[64, 32], num_layers=2, shuffle=True,
                          seed=0)
    model = model_cls(data.num_nodes, 8, 16, 4, num_layers=2, dropout=0.5)
    batch = next(iter(loader))
    out = model.forward_layerwise(batch.x, batch.adjs_t)
    assert out.shape == (batch.batch_size, 4)
    loss = torch.nn.functional.cross_entropy(out, batch.y[:batch.batch_size])
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert bool(param.grad.abs().sum() > 0), name

    # Against a dense computation of the layers:
    model.eval()
    out = model.forward_layerwise(batch.x, batch.adjs_t)
    dense = [adj.to_dense() for adj in batch.adjs_t]
    h = batch.x
    for layer, conv in enumerate(model.convs):
        n_dst = batch.layer_sizes[layer + 1]
        if model_cls is GCN:
            h_new = dense[layer] @ conv.lin(h) + conv.bias
        else:  # Mean over the sampled columns, plus the root term.
            deg = (dense[layer] != 0).sum(dim=1, keepdim=True).clamp(min=1)
            agg = (dense[layer] @ h) / deg
            h_new = conv.lin_l(agg) + conv.lin_r(h[:n_dst])
        h = h_new.relu() if layer == 0 else h_new
    torch.testing.assert_close(out, h, atol=1e-5, rtol=1e-4)


def test_gcn_conv_edge_index_equals_adj_t():
    data = random_graph()
    loader = LADIESLoader(data, batch_size=40, num_samples=[50, 30],
                          seed=0)
    convs = [GCNConv(8, 5, normalize=False), GCNConv(5, 3, normalize=False)]
    for batch in loader:
        h = batch.x
        for layer, conv in enumerate(convs):
            a = conv(h, batch.adjs_t[layer])
            b = conv(h, batch.edge_indices[layer], batch.edge_weights[layer])
            assert a.shape == (batch.layer_sizes[layer + 1], conv.out_channels)
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
            h = a.relu()


def test_sampling_restores_num_threads():
    data = hand_graph()
    loader = LADIESLoader(data, batch_size=6, num_samples=4, seed=0)
    torch.set_num_threads(2)
    a = loader.sample(torch.tensor([0, 5, 9]))
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    loader = LADIESLoader(data, batch_size=6, num_samples=4, seed=0)
    b = loader.sample(torch.tensor([0, 5, 9]))
    assert torch.equal(a.n_id, b.n_id)


def test_to_and_pickle():
    data = hand_graph()
    batch = LADIESLoader(data, batch_size=6, num_samples=4, seed=0).sample(
        torch.tensor([0, 5, 9]))
    moved = batch.to('cpu')
    assert isinstance(moved.edge_indices[0], EdgeIndex)
    assert moved.layer_sizes == batch.layer_sizes
    copy = pickle.loads(pickle.dumps(batch))
    assert isinstance(copy, LayerwiseData)
    assert copy.batch_size == 3
    for a, b in zip(copy.adjs_t, batch.adjs_t):
        assert torch.equal(a.to_dense(), b.to_dense())
    for a, b in zip(copy.edge_indices, batch.edge_indices):
        assert isinstance(a, EdgeIndex) and a.sparse_size() == b.sparse_size()
        assert torch.equal(a.as_tensor(), b.as_tensor())
    assert torch.equal(batch.n_id[:3], torch.tensor([0, 5, 9]))


@pytest.mark.parametrize('context', [None, 'spawn'])
def test_num_workers(context):
    data = random_graph()
    P = dense_P(data)

    def run():
        loader = LADIESLoader(data, data.train_mask, batch_size=40,
                              num_samples=[30, 20], shuffle=True, seed=9,
                              num_workers=2,
                              multiprocessing_context=context)
        return list(loader)

    batches = run()
    outputs = torch.cat([b.n_id[:b.batch_size] for b in batches])
    assert torch.equal(outputs.sort().values,
                       data.train_mask.nonzero().view(-1))
    for batch in batches:
        check_batch(batch, data, P, [30, 20], normalize=True)
    if context is None:  # Seeded runs repeat with workers as well.
        again = run()
        assert all(
            torch.equal(a.n_id, b.n_id)
            and torch.equal(a.edge_weights[0], b.edge_weights[0])
            for a, b in zip(batches, again))
    # The two workers do not draw the same samples:
    a, b = batches[0], batches[1]
    assert not torch.equal(a.n_id[a.batch_size:], b.n_id[b.batch_size:])


def test_fastgcn_drops_unconnected_nodes():
    data = random_graph(num_nodes=300, num_edges=400)
    P = dense_P(data)
    loader = LADIESLoader(data, batch_size=4, num_samples=50,
                          mode='fastgcn', seed=0)
    batch = next(iter(loader))
    check_batch(batch, data, P, [50, 50], normalize=True)
    # Most of 50 nodes drawn from 300 are not neighbours of 4 nodes:
    assert batch.layer_sizes[1] < 4 + 50


def test_non_finite_features_are_refused():
    # They spread silently through every sampled layer.
    data = hand_graph()
    data.x = torch.randn(data.num_nodes, 3)
    data.x[5, 1] = float('nan')
    with pytest.raises(ValueError, match="'x' holds 1 non-finite values"):
        LADIESLoader(data, num_samples=3)
    LADIESLoader(data, num_samples=3, check_finite=False)  # Skips it.


def test_errors():
    data = hand_graph()
    with pytest.raises(TypeError, match="'data'"):
        LADIESLoader(data.edge_index)
    with pytest.raises(ValueError, match="'num_samples' must be at least 1"):
        LADIESLoader(data, num_samples=0)
    with pytest.raises(ValueError, match="'num_samples' must be at least 1"):
        LADIESLoader(data, num_samples=[3, 0])
    with pytest.raises(ValueError, match='one value per layer'):
        LADIESLoader(data, num_samples=[3, 3, 3], num_layers=2)
    with pytest.raises(TypeError, match="'num_samples'"):
        LADIESLoader(data, num_samples=2.5)
    with pytest.raises(TypeError, match="'num_samples'"):
        LADIESLoader(data, num_samples=[2, '3'])
    with pytest.raises(ValueError, match=r"'input_nodes' must be in \[0, 40"):
        LADIESLoader(data, torch.tensor([0, 40]))
    with pytest.raises(ValueError, match=r"'input_nodes' must be in \[0, 40"):
        LADIESLoader(data, torch.tensor([-1, 3]))
    with pytest.raises(ValueError, match=r'shape \[40\]'):
        LADIESLoader(data, torch.ones(39, dtype=torch.bool))
    with pytest.raises(ValueError, match='no node'):
        LADIESLoader(data, torch.zeros(40, dtype=torch.bool))
    with pytest.raises(ValueError, match='distinct'):
        LADIESLoader(data, torch.tensor([1, 2, 1]))
    with pytest.raises(TypeError, match="'input_nodes'"):
        LADIESLoader(data, torch.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="'input_nodes'"):
        LADIESLoader(data, [1, 2])
    with pytest.raises(ValueError, match="'batch_size' must be at least 1"):
        LADIESLoader(data, batch_size=0)
    with pytest.raises(TypeError, match="'batch_size'"):
        LADIESLoader(data, batch_size=2.0)
    with pytest.raises(ValueError, match="'num_layers' must be at least 1"):
        LADIESLoader(data, num_layers=0)
    with pytest.raises(ValueError, match="'mode' must be one of"):
        LADIESLoader(data, mode='graphsage')
    with pytest.raises(ValueError, match="'sampler' must be one of"):
        LADIESLoader(data, sampler='poisson')
    with pytest.raises(ValueError, match='edges besides self-loops'):
        LADIESLoader(Data(x=torch.randn(3, 2),
                          edge_index=torch.empty(2, 0, dtype=torch.long)))
    with pytest.raises(ValueError, match='edges besides self-loops'):
        LADIESLoader(Data(x=torch.randn(3, 2),
                          edge_index=torch.tensor([[1], [1]])))
    with pytest.raises(ValueError, match="either 'seed' or 'generator'"):
        LADIESLoader(data, seed=1, generator=torch.Generator())
    loader = LADIESLoader(data, num_samples=3)
    with pytest.raises(ValueError, match='distinct'):
        loader.sample(torch.tensor([2, 2]))
    with pytest.raises(ValueError, match=r"'nodes' must be in \[0, 40\)"):
        loader.sample(torch.tensor([40]))
    assert repr(loader) == ("LADIESLoader(num_nodes=40, num_inputs=40, "
                            "batch_size=512, num_samples=[3, 3], "
                            "mode='ladies', sampler='systematic')")


@withCUDA
def test_device(device):
    data = random_graph()
    P = dense_P(data)
    cpu_data = data.clone()
    data = data.to(device)

    def epoch(mode):
        loader = LADIESLoader(data, data.train_mask, batch_size=32,
                              num_samples=[40, 20], mode=mode, shuffle=True,
                              seed=0)
        assert loader.collater.device.type == device.type
        return list(loader)

    for mode in MODES:
        batches = epoch(mode)
        for batch in batches:
            assert batch.n_id.device.type == device.type
            assert batch.adjs_t[0].device.type == device.type
            assert batch.edge_indices[1].device.type == device.type
            # (Copies: PyG's 'Data.to' and 'Data.cpu' move in place.)
            check_batch(batch.clone().to('cpu'), cpu_data, P, [40, 20],
                        True)
        again = epoch(mode)  # Seeded runs repeat on every device.
        assert all(torch.equal(a.n_id, b.n_id)
                   for a, b in zip(batches, again))
    model = GCN(data.num_nodes, 8, 16, 4, num_layers=2).to(device)
    batch = batches[0]
    out = model.forward_layerwise(batch.x, batch.adjs_t)
    assert out.shape == (batch.batch_size, 4) and out.device == batch.x.device
