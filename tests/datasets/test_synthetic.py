import hashlib
import os

import pytest
import torch
from torch_geometric.utils import coalesce, degree

from pyg_gas.datasets import load_dataset
from pyg_gas.datasets import synthetic as synthetic_module
from pyg_gas.datasets.synthetic import (
    SYNTHETIC_PRESETS,
    EdgeKeys,
    SyntheticDraws,
    load_synthetic,
    synthetic_graph,
)


def edge_keys(edge_index, num_nodes):
    return edge_index[0] * num_nodes + edge_index[1]


def test_structure_and_determinism():
    data = synthetic_graph(3000, avg_degree=12.0, num_classes=5,
                           num_features=16, seed=3)
    N, E = 3000, 18_000
    assert data.num_nodes == N
    assert data.x.shape == (N, 16) and data.x.dtype == torch.float32
    assert data.y.shape == (N, ) and data.y.dtype == torch.long
    assert data.edge_index.shape == (2, 2 * E)
    assert data.num_classes == 5 and data.name == 'synthetic'
    assert torch.bincount(data.y, minlength=5).min() > 0
    src, dst = data.edge_index
    assert bool((src != dst).all())  # No self-loops.
    key = edge_keys(data.edge_index, N)
    assert key.unique().numel() == 2 * E  # No duplicates.
    # Undirected: the reverse of every edge is there.
    rev = edge_keys(data.edge_index.flip(0), N)
    assert torch.equal(key.sort().values, rev.sort().values)
    # Disjoint masks covering every node, with the requested sizes:
    masks = torch.stack([data.train_mask, data.val_mask, data.test_mask])
    assert torch.equal(masks.sum(0), torch.ones(N, dtype=torch.long))
    assert masks.sum(1).tolist() == [1800, 600, 600]

    again = synthetic_graph(3000, avg_degree=12.0, num_classes=5,
                            num_features=16, seed=3)
    for key in ('x', 'y', 'edge_index', 'train_mask', 'test_mask'):
        assert torch.equal(data[key], again[key])
    other = synthetic_graph(3000, avg_degree=12.0, num_classes=5,
                            num_features=16, seed=4)
    assert not torch.equal(data.edge_index, other.edge_index)
    assert not torch.equal(data.y, other.y)


def _digest(data):
    h = hashlib.sha256()
    for key in ('x', 'edge_index', 'y', 'train_mask', 'val_mask',
                'test_mask'):
        h.update(data[key].contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def test_a_seed_gives_the_graph_of_its_generator_version(monkeypatch):
    # Digests of the graphs that version 1 of the generator drew, recorded
    # with the code that drew each step's pairs in one piece. Computing them
    # in steps of '_STEP' pairs or rows (2**20, or 1000 to take many) must
    # draw the same graph, and so must a run whose arrays of the graph's
    # size are scratch files.
    options = dict(num_nodes=2000, avg_degree=8.0, num_features=4,
                   num_classes=6, seed=5)
    assert synthetic_module.GENERATOR_VERSION == 1
    assert _digest(synthetic_graph(**options)) == 'c77cb290b77a127b'
    odd = dict(num_nodes=1001, avg_degree=5.0, num_features=3,
               num_classes=4, seed=7)  # 3003 features, not whole blocks.
    assert _digest(synthetic_graph(**odd)) == '1f17f94ca35e6339'
    monkeypatch.setattr(synthetic_module, '_STEP', 1000)
    assert _digest(synthetic_graph(**options)) == 'c77cb290b77a127b'
    monkeypatch.setattr(synthetic_module, '_STEP', 100)
    assert _digest(synthetic_graph(**odd)) == '1f17f94ca35e6339'
    # Steps of 4096 pairs draw another graph, with two or more steps each
    # time edges are drawn:
    monkeypatch.setattr(synthetic_module, '_CHUNK', 4096)
    assert _digest(synthetic_graph(**options)) == '096e684e16b7b41d'


def test_draws_into_a_workspace(tmp_path, monkeypatch):
    # Scratch files for the arrays of the graph's size give the same draws,
    # and leave nothing behind.
    monkeypatch.setattr(synthetic_module, '_STEP', 700)
    options = dict(num_nodes=1500, avg_degree=6.0, num_features=3,
                   num_classes=4, seed=2)
    data = synthetic_graph(**options)
    draws = SyntheticDraws(**options, workspace=str(tmp_path))
    y = draws.classes()
    keys = draws.edges(EdgeKeys())
    x = torch.cat(list(draws.features()))
    masks = draws.split()
    assert torch.equal(y, data.y) and torch.equal(x, data.x)
    assert torch.equal(keys.edge_index(1500), data.edge_index)
    for mask, key in zip(masks, ('train_mask', 'val_mask', 'test_mask')):
        assert torch.equal(mask, data[key])
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('homophily', [0.0, 0.5, 0.9])
def test_homophily(homophily):
    data = synthetic_graph(4000, num_edges=30_000, num_classes=4,
                           num_features=4, homophily=homophily, seed=0)
    src, dst = data.edge_index
    measured = float((data.y[src] == data.y[dst]).float().mean())
    # Inter-class draws land in the same class by chance, in proportion to
    # the classes' shares of the degree weight (about their node shares):
    share = torch.bincount(data.y).double() / data.num_nodes
    expected = homophily + (1 - homophily) * float(share.pow(2).sum())
    assert abs(measured - expected) < 0.03, (measured, expected)


def test_power_law_degrees():
    skewed = synthetic_graph(5000, avg_degree=10.0, num_features=2, seed=0)
    deg = degree(skewed.edge_index[0], skewed.num_nodes)
    assert float(deg.max()) > 15 * float(deg.mean())
    flat = synthetic_graph(5000, avg_degree=10.0, num_features=2, power=0.0,
                           seed=0)
    deg = degree(flat.edge_index[0], flat.num_nodes)
    assert float(deg.max()) < 3 * float(deg.mean())  # Poisson-like.


def test_features_carry_class_and_neighbours_help():
    data = synthetic_graph(4000, avg_degree=15.0, num_classes=4,
                           num_features=32, homophily=0.8, seed=1)
    x, y = data.x.double(), data.y
    centroids = torch.stack([x[y == k].mean(0) for k in range(4)])

    def nearest_centroid_acc(h):
        dist = torch.cdist(h, centroids)
        return float((dist.argmin(1) == y).double().mean())

    # The mean of a node's neighbourhood (itself included):
    ei = coalesce(torch.cat([data.edge_index,
                             torch.arange(4000).repeat(2, 1)], dim=1))
    agg = torch.zeros_like(x).index_add_(0, ei[1], x[ei[0]])
    agg /= degree(ei[1], 4000).view(-1, 1).double()
    own, neigh = nearest_centroid_acc(x), nearest_centroid_acc(agg)
    assert 0.35 < own < 0.9  # Better than chance (0.25), far from perfect.
    assert neigh > own + 0.05


def test_presets():
    assert SYNTHETIC_PRESETS['synthetic-products']['num_nodes'] == 2_449_029
    assert SYNTHETIC_PRESETS['synthetic-products']['num_edges'] == 61_859_140
    data = load_synthetic('synthetic-arxiv')
    assert data.num_nodes == 169_343
    assert data.edge_index.size(1) == 2 * 1_166_243
    assert data.x.shape == (169_343, 128) and data.num_classes == 40
    assert data.name == 'synthetic-arxiv'
    assert int(data.train_mask.sum()) == round(0.537 * 169_343)
    # Overrides:
    small = load_synthetic('synthetic-arxiv', num_nodes=2000, avg_degree=5.0,
                           seed=2)
    assert small.num_nodes == 2000 and small.edge_index.size(1) == 10_000
    assert small.x.size(1) == 128


def test_cache(tmp_path, monkeypatch):
    kwargs = dict(num_nodes=500, avg_degree=6.0, num_classes=3,
                  num_features=8, seed=5)
    first = load_synthetic('synthetic', root=str(tmp_path), **kwargs)
    files = os.listdir(tmp_path / 'synthetic')
    assert len(files) == 1 and files[0].endswith('.pt')

    def fail(*args, **kwargs):
        raise AssertionError('the cached graph was not used')

    monkeypatch.setattr(synthetic_module, 'synthetic_graph', fail)
    second = load_synthetic('synthetic', root=str(tmp_path), **kwargs)
    for key in ('x', 'y', 'edge_index', 'train_mask', 'val_mask'):
        assert torch.equal(first[key], second[key])
    assert second.num_classes == 3 and second.num_nodes == 500
    # Other arguments are another file:
    with pytest.raises(AssertionError, match='cached graph'):
        load_synthetic('synthetic', root=str(tmp_path),
                       **dict(kwargs, seed=6))
    # A corrupt cache is a derived file: it is generated again.
    monkeypatch.undo()
    path = tmp_path / 'synthetic' / files[0]
    path.write_bytes(path.read_bytes()[:300])
    third = load_synthetic('synthetic', root=str(tmp_path), **kwargs)
    for key in ('x', 'y', 'edge_index', 'train_mask', 'val_mask'):
        assert torch.equal(first[key], third[key])
    fourth = load_synthetic('synthetic', root=str(tmp_path), **kwargs)
    assert torch.equal(first.x, fourth.x)  # Rewritten, and read back.


def test_errors():
    with pytest.raises(ValueError, match="'num_nodes' must be at least 2"):
        synthetic_graph(1, avg_degree=1.0)
    with pytest.raises(TypeError, match="'num_nodes' must be an int"):
        synthetic_graph(10.0, avg_degree=1.0)
    with pytest.raises(ValueError, match="exactly one of"):
        synthetic_graph(100)
    with pytest.raises(ValueError, match="exactly one of"):
        synthetic_graph(100, avg_degree=2.0, num_edges=100)
    with pytest.raises(ValueError, match="'avg_degree' must be a positive"):
        synthetic_graph(100, avg_degree=-1.0)
    with pytest.raises(ValueError, match="'num_edges' must be at most"):
        synthetic_graph(100, num_edges=4000)
    with pytest.raises(ValueError, match="'homophily' must be in"):
        synthetic_graph(100, avg_degree=2.0, homophily=1.5)
    with pytest.raises(ValueError, match="'num_classes' must be at most"):
        synthetic_graph(100, avg_degree=2.0, num_classes=101)
    with pytest.raises(ValueError, match="'split' fractions must sum"):
        synthetic_graph(100, avg_degree=2.0, split=(0.7, 0.5))
    with pytest.raises(ValueError, match="'power' must be in"):
        synthetic_graph(100, avg_degree=2.0, power=2.0)
    with pytest.raises(ValueError, match="Unknown synthetic dataset"):
        load_synthetic('synthetic-reddit')
    with pytest.raises(ValueError, match="needs 'num_nodes'"):
        load_synthetic('synthetic')


def test_load_dataset_dispatch():
    data = load_dataset('Synthetic', num_nodes=300, avg_degree=4.0,
                        num_classes=3, num_features=5, seed=1)
    ref = synthetic_graph(300, avg_degree=4.0, num_classes=3, num_features=5,
                          seed=1)
    assert torch.equal(data.edge_index, ref.edge_index)
    assert data.name == 'synthetic'
