r"""The conv compatibility matrix: every conv of
:mod:`torch_geometric.nn.conv` under :class:`~pyg_gas.GASConv` in the
history-reading position of a three-layer model, on Cora and on a random
directed graph (isolated nodes, duplicate edges), with :obj:`edge_index`
and with :obj:`adj_t`.

Each conv must end **exact** (GAS mini-batches with up-to-date histories and
:func:`~pyg_gas.gas_inference` from fresh histories give the full-graph
output), **made exact** (exact, but only thanks to the wrapper squaring the
bipartite adjacency for convs that take one :obj:`x`), or **refused** with a
:class:`ValueError`/:class:`TypeError` raised by :class:`GASConv` that names
the reason and the alternative. A wrong answer fails the test.
``scripts/conv_matrix.py`` writes the table into ``docs/models.md``.
"""
import contextlib
import copy
import inspect
import os
import re
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
import torch
import torch_geometric.nn as pyg_nn
import torch_geometric.nn.conv as pyg_conv
from torch import Tensor
from torch.nn import Linear, Module, ReLU, Sequential
from torch_geometric import EdgeIndex
from torch_geometric.data import Data
from torch_geometric.nn import GraphConv, MessagePassing

import pyg_gas.nn.conv as gas_conv
from pyg_gas import (
    EvalSubgraphLoader,
    GASConv,
    History,
    SubgraphLoader,
    gas_batch,
    gas_inference,
    metis,
    permute,
)
from pyg_gas.utils import to_adj_t

C = 8  # The width of the middle conv's input.
TOL = 1e-5  # Absolute, or relative to the output's largest entry.


def mlp(in_channels: int, out_channels: int) -> Module:
    return Sequential(Linear(in_channels, 8), ReLU(),
                      Linear(8, out_channels))


class Adapter(Module):
    r"""Calls a conv whose inputs are not :obj:`(x, adj)`, with one
    :obj:`x` (so :class:`GASConv` squares the adjacency for it)."""
    def __init__(self, conv: Module, call: Callable) -> None:
        super().__init__()
        self.conv = conv
        self.call = call

    def forward(self, x: Tensor, adj: Any, g: Any) -> Tensor:
        return self.call(self.conv, x, adj, g)


def adapt(conv: Module, call: Callable) -> Module:
    return Adapter(conv, call)


def _signed(conv: Module, x: Tensor, adj: Any, g: Any) -> Tensor:
    sign = g.sign
    return conv(x, adj[:, sign], adj[:, ~sign])


def _dna(conv: Module, x: Tensor, adj: Any, g: Any) -> Tensor:
    return conv(torch.stack([x, x.tanh()], dim=1), adj)  # [N, 2, C]


def _pna() -> Module:
    deg = torch.tensor([4, 10, 10, 6, 3, 2, 1])
    return pyg_nn.PNAConv(C, 8, ['mean', 'min', 'max', 'std'],
                          ['identity', 'amplification', 'attenuation'], deg)


# label: (constructor, inputs after 'x'). The inputs name attributes of the
# graph (full graph or batch); 'adj' is its edge_index or adj_t, 'g' the
# graph itself (for adapters).
SPECS: Dict[str, Tuple[Callable[[], Module], Tuple[str, ...]]] = {
    'SimpleConv': (lambda: pyg_nn.SimpleConv(), ('adj', )),
    'GCNConv': (lambda: pyg_nn.GCNConv(C, 8), ('adj', )),
    'GCNConv(normalize=False)': (
        lambda: pyg_nn.GCNConv(C, 8, normalize=False), ('adj', )),
    'ChebConv': (lambda: pyg_nn.ChebConv(C, 8, K=2), ('adj', )),
    'SAGEConv': (lambda: pyg_nn.SAGEConv(C, 8), ('adj', )),
    'SAGEConv(normalize=True)': (
        lambda: pyg_nn.SAGEConv(C, 8, normalize=True), ('adj', )),
    'GraphConv': (lambda: pyg_nn.GraphConv(C, 8), ('adj', )),
    'GravNetConv': (lambda: pyg_nn.GravNetConv(C, 8, 2, 4, k=3), ()),
    'GatedGraphConv': (lambda: pyg_nn.GatedGraphConv(8, 2), ('adj', )),
    'GatedGraphConv(num_layers=1)': (
        lambda: pyg_nn.GatedGraphConv(8, 1), ('adj', )),
    'ResGatedGraphConv': (
        lambda: pyg_nn.ResGatedGraphConv(C, 8), ('adj', )),
    'GATConv': (lambda: pyg_nn.GATConv(C, 4, heads=2), ('adj', )),
    'FusedGATConv': (lambda: pyg_nn.FusedGATConv(C, 4, heads=2,
                                                 add_self_loops=False),
                     ('adj', )),
    'GATv2Conv': (lambda: pyg_nn.GATv2Conv(C, 4, heads=2), ('adj', )),
    'TransformerConv': (
        lambda: pyg_nn.TransformerConv(C, 4, heads=2, edge_dim=3),
        ('adj', 'edge_attr')),
    'AGNNConv': (lambda: pyg_nn.AGNNConv(), ('adj', )),
    'TAGConv': (lambda: pyg_nn.TAGConv(C, 8), ('adj', )),
    'TAGConv(K=1, normalize=False)': (
        lambda: pyg_nn.TAGConv(C, 8, K=1, normalize=False), ('adj', )),
    'GINConv': (lambda: pyg_nn.GINConv(mlp(C, 8), train_eps=True),
                ('adj', )),
    'GINEConv': (lambda: pyg_nn.GINEConv(mlp(C, 8), edge_dim=3),
                 ('adj', 'edge_attr')),
    'ARMAConv': (lambda: pyg_nn.ARMAConv(C, 8, num_stacks=2, num_layers=2),
                 ('adj', )),
    'SGConv': (lambda: pyg_nn.SGConv(C, 8, K=1), ('adj', )),
    'SSGConv': (lambda: pyg_nn.SSGConv(C, 8, alpha=0.1, K=2), ('adj', )),
    'APPNP': (lambda: pyg_nn.APPNP(K=2, alpha=0.1), ('adj', )),
    'APPNP(K=1, normalize=False)': (
        lambda: pyg_nn.APPNP(K=1, alpha=0.1, normalize=False), ('adj', )),
    'MFConv': (lambda: pyg_nn.MFConv(C, 8), ('adj', )),
    'RGCNConv': (lambda: pyg_nn.RGCNConv(C, 8, num_relations=3),
                 ('adj', 'edge_type')),
    'FastRGCNConv': (lambda: pyg_nn.FastRGCNConv(C, 8, num_relations=3),
                     ('adj', 'edge_type')),
    'RGATConv': (lambda: pyg_nn.RGATConv(C, 8, num_relations=3),
                 ('adj', 'edge_type')),
    'SignedConv': (
        lambda: adapt(pyg_nn.SignedConv(C, 4, first_aggr=True), _signed),
        ('adj', 'g')),
    'DNAConv': (lambda: adapt(pyg_nn.DNAConv(C, heads=2), _dna),
                ('adj', 'g')),
    'DNAConv(normalize=False)': (
        lambda: adapt(pyg_nn.DNAConv(C, heads=2, normalize=False), _dna),
        ('adj', 'g')),
    'PointNetConv': (lambda: pyg_nn.PointNetConv(mlp(C + 3, 8)),
                     ('pos', 'adj')),
    'GMMConv': (lambda: pyg_nn.GMMConv(C, 8, dim=3, kernel_size=2),
                ('adj', 'edge_attr')),
    'SplineConv': (lambda: pyg_nn.SplineConv(C, 8, dim=3, kernel_size=2),
                   ('adj', 'edge_attr')),
    'NNConv': (lambda: pyg_nn.NNConv(C, 8, Linear(3, C * 8)),
               ('adj', 'edge_attr')),
    'CGConv': (lambda: pyg_nn.CGConv(C, dim=3), ('adj', 'edge_attr')),
    'EdgeConv': (lambda: pyg_nn.EdgeConv(mlp(2 * C, 8)), ('adj', )),
    'DynamicEdgeConv': (lambda: pyg_nn.DynamicEdgeConv(mlp(2 * C, 8), k=3),
                        ()),
    'PPFConv': (lambda: pyg_nn.PPFConv(mlp(C + 4, 8)),
                ('pos', 'normal', 'adj')),
    'FeaStConv': (lambda: pyg_nn.FeaStConv(C, 4, heads=2), ('adj', )),
    'PointTransformerConv': (
        lambda: pyg_nn.PointTransformerConv(C, 8), ('pos', 'adj')),
    'HypergraphConv': (lambda: pyg_nn.HypergraphConv(C, 8), ('adj', )),
    'LEConv': (lambda: pyg_nn.LEConv(C, 8), ('adj', )),
    'PNAConv': (_pna, ('adj', )),
    'ClusterGCNConv': (lambda: pyg_nn.ClusterGCNConv(C, 8), ('adj', )),
    'GENConv': (lambda: pyg_nn.GENConv(C, 8), ('adj', )),
    'GCN2Conv': (lambda: pyg_nn.GCN2Conv(C, alpha=0.1), ('x0', 'adj')),
    'GCN2Conv(normalize=False)': (
        lambda: pyg_nn.GCN2Conv(C, alpha=0.1, normalize=False),
        ('x0', 'adj')),
    'PANConv': (lambda: pyg_nn.PANConv(C, 8, filter_size=2), ('adj', )),
    'WLConvContinuous': (lambda: pyg_nn.WLConvContinuous(), ('adj', )),
    'FiLMConv': (lambda: pyg_nn.FiLMConv(C, 8, num_relations=3),
                 ('adj', 'edge_type')),
    'SuperGATConv': (lambda: pyg_nn.SuperGATConv(C, 4, heads=2),
                     ('adj', )),
    'FAConv': (lambda: pyg_nn.FAConv(C), ('x0', 'adj')),
    'FAConv(normalize=False)': (
        lambda: pyg_nn.FAConv(C, normalize=False), ('x0', 'adj')),
    'EGConv': (lambda: pyg_nn.EGConv(C, 8, num_heads=2, num_bases=2),
               ('adj', )),
    'EGConv(aggregators=[sum, max])': (
        lambda: pyg_nn.EGConv(C, 8, aggregators=['sum', 'max'],
                              num_heads=2, num_bases=2), ('adj', )),
    'PDNConv': (lambda: pyg_nn.PDNConv(C, 8, edge_dim=3, hidden_channels=4),
                ('adj', 'edge_attr')),
    'PDNConv(normalize=False)': (
        lambda: pyg_nn.PDNConv(C, 8, edge_dim=3, hidden_channels=4,
                               normalize=False), ('adj', 'edge_attr')),
    'GeneralConv': (lambda: pyg_nn.GeneralConv(C, 8), ('adj', )),
    'HGTConv': (lambda: pyg_nn.HGTConv(
        C, 8, (['a'], [('a', 'to', 'a')]), heads=2), ('adj', )),
    'HEATConv': (lambda: pyg_nn.HEATConv(
        C, 8, num_node_types=2, num_edge_types=3, edge_type_emb_dim=2,
        edge_dim=3, edge_attr_emb_dim=2, heads=2),
        ('adj', 'node_type', 'edge_type', 'edge_attr')),
    'HANConv': (lambda: pyg_nn.HANConv(
        C, 8, (['a'], [('a', 'to', 'a')]), heads=2), ('adj', )),
    'LGConv': (lambda: pyg_nn.LGConv(), ('adj', )),
    'LGConv(normalize=False)': (
        lambda: pyg_nn.LGConv(normalize=False), ('adj', )),
    'PointGNNConv': (lambda: pyg_nn.PointGNNConv(
        Linear(C, 3), mlp(C + 3, C), mlp(C, C)), ('pos', 'adj')),
    'MixHopConv': (lambda: pyg_nn.MixHopConv(C, 8), ('adj', )),
    'MeshCNNConv': (lambda: pyg_nn.MeshCNNConv(C, 8), ('adj', )),
    # Graph convs of the module that are not MessagePassing subclasses:
    'AntiSymmetricConv': (lambda: pyg_nn.AntiSymmetricConv(C), ('adj', )),
    'AntiSymmetricConv(GCNConv(normalize=False))': (
        lambda: pyg_nn.AntiSymmetricConv(
            C, pyg_nn.GCNConv(C, C, bias=False, normalize=False)),
        ('adj', )),
    'DirGNNConv': (lambda: pyg_nn.DirGNNConv(
        pyg_nn.GCNConv(C, 8, normalize=False)), ('adj', )),
    'GPSConv': (lambda: pyg_nn.GPSConv(C, pyg_nn.GINConv(mlp(C, C)),
                                       heads=2), ('adj', )),
}


def pyg_conv_classes() -> List[str]:
    r"""The MessagePassing subclasses in :obj:`torch_geometric.nn.conv`."""
    out = []
    for name in pyg_conv.__all__:
        cls = getattr(pyg_conv, name)
        if (inspect.isclass(cls) and issubclass(cls, MessagePassing)
                and cls is not MessagePassing):
            out.append(name)
    return out


# Graphs: ###################################################################


def add_inputs(data: Data, seed: int) -> Data:
    r"""The inputs some convs take besides :obj:`x` and the adjacency."""
    gen = torch.Generator().manual_seed(seed)
    n, e = data.num_nodes, data.num_edges
    data.edge_attr = torch.rand(e, 3, generator=gen)  # pseudo-coordinates
    data.edge_type = torch.randint(3, (e, ), generator=gen)
    data.sign = torch.rand(e, generator=gen) < 0.5
    data.pos = torch.randn(n, 3, generator=gen)
    data.normal = torch.nn.functional.normalize(
        torch.randn(n, 3, generator=gen), dim=-1)
    data.x0 = torch.randn(n, C, generator=gen)
    data.node_type = torch.randint(2, (n, ), generator=gen)
    return data


def random_graph() -> Data:
    r"""A directed graph with isolated nodes (the last 10), self-loops and
    duplicate edges."""
    gen = torch.Generator().manual_seed(2)
    edge_index = torch.randint(50, (2, 240), generator=gen)
    edge_index = torch.cat([edge_index, edge_index[:, :30]], dim=1)
    x = torch.randn(60, 6, generator=gen)
    return add_inputs(Data(x=x, edge_index=edge_index, num_nodes=60), 3)


def partition(data: Data, num_parts: int) -> Tuple[Data, Tensor]:
    perm, ptr = metis(data, num_parts, log=False)
    data = permute(data, perm)
    # Edge features follow the edges of 'adj_t' in its (target, source)
    # order, as PyG expects; the batches keep that order.
    n = data.num_nodes
    order = torch.argsort(data.edge_index[1] * n + data.edge_index[0],
                          stable=True)
    for key in ('edge_index', 'edge_attr', 'edge_type', 'sign'):
        value = data[key]
        data[key] = value[:, order] if key == 'edge_index' else value[order]
    # With its size: some convs (EGConv) infer the number of nodes from a
    # plain edge_index, and miss isolated nodes with the largest ids.
    data.edge_index = EdgeIndex(data.edge_index, sparse_size=(n, n),
                                sort_order='col')
    data.adj_t = to_adj_t(data.edge_index, data.num_nodes)
    return data, ptr


# One run: ##################################################################


class Sandwich(Module):
    r"""A GraphConv, the conv under test (reading a history), and a
    GraphConv reading its output from a history."""
    def __init__(self, middle: Module, inputs: Tuple[str, ...],
                 in_channels: int, out_channels: int, num_nodes: int,
                 fmt: str) -> None:
        super().__init__()
        self.conv1 = GASConv(GraphConv(in_channels, C))
        self.conv2 = GASConv(middle, History(num_nodes, C))
        self.conv3 = GASConv(GraphConv(out_channels, 4),
                             History(num_nodes, out_channels))
        self.inputs = inputs
        self.fmt = fmt

    def middle(self, conv: Module, x: Tensor, g: Any) -> Tensor:
        adj = g.adj_t if self.fmt == 'adj_t' else g.edge_index
        args = [adj if k == 'adj' else g if k == 'g' else g[k]
                for k in self.inputs]
        return conv(x, *args)

    def forward(self, g: Any) -> Tensor:
        adj = g.adj_t if self.fmt == 'adj_t' else g.edge_index
        x = self.conv1(g.x, adj).tanh()
        x = self.middle(self.conv2, x, g).tanh()
        return self.conv3(x, adj)


def _is_refusal(error: BaseException) -> bool:
    # A refusal is a ValueError or TypeError raised by GASConv itself.
    if not isinstance(error, (ValueError, TypeError)):
        return False
    frames = traceback.extract_tb(error.__traceback__)
    return frames[-1].filename == gas_conv.__file__


@dataclass
class Result:
    state: str  # 'exact', 'wrong', 'refused', 'n/a' (input unsupported)
    detail: str = ''
    error: float = 0.0


def build(label: str, data: Data, fmt: str) -> Sandwich:
    make, inputs = SPECS[label]
    torch.manual_seed(0)
    conv = make().eval()
    probe = Sandwich(conv, inputs, data.num_features, 1, data.num_nodes,
                     fmt)
    x = torch.randn(data.num_nodes, C)
    with torch.no_grad():
        width = probe.middle(conv, x, data).size(-1)  # the output width
    torch.manual_seed(1)
    return Sandwich(conv, inputs, data.num_features, width, data.num_nodes,
                    fmt).eval()


def _max_error(out: Tensor, expected: Tensor) -> float:
    err = float((out - expected).abs().max())
    return err / max(1.0, float(expected.abs().max()))


def _line(e: BaseException) -> str:
    return f'{type(e).__name__}: {e}'.split('\n')[0]


@torch.no_grad()
def run(label: str, data: Data, ptr: Tensor, fmt: str) -> Result:
    r"""Runs :obj:`label` in the history-reading position of a
    :class:`Sandwich` on one partitioned graph."""
    full_error: Optional[BaseException] = None
    try:
        model = build(label, data, fmt)
        expected = model(data)  # Fills the histories, too.
    except Exception as e:  # unsupported inputs
        full_error = e
        try:  # A refusal comes before the conv's call: any width will do.
            torch.manual_seed(0)
            make, inputs = SPECS[label]
            model = Sandwich(make().eval(), inputs, data.num_features, C,
                             data.num_nodes, fmt).eval()
        except Exception as e2:
            return Result('n/a', _line(e2))
    try:
        error = 0.0
        for batch in SubgraphLoader(data, ptr, 2):
            with gas_batch(batch):
                out = model(batch)
            if full_error is None:
                error = max(error, _max_error(
                    out, expected[batch.n_id[:batch.batch_size]]))
        if full_error is not None:
            raise full_error
        fresh = copy.deepcopy(model)
        for conv in (fresh.conv2, fresh.conv3):
            conv.history.reset_parameters()
        out = gas_inference(fresh, EvalSubgraphLoader(data, ptr, 2),
                            call=lambda m, b: m(b))
        error = max(error, _max_error(out, expected))
    except Exception as e:
        if _is_refusal(e):
            return Result('refused', str(e))
        return Result('n/a' if full_error is not None else 'wrong', _line(e))
    if error > TOL:
        return Result('wrong', f'differs by {error:.2e}', error)
    return Result('exact', '', error)


# The matrix: ###############################################################

FORMATS = ('edge_index', 'adj_t')
# (graph, num_parts) of the default suite, and of the full matrix:
GRID = (('cora', 7), ('random', 4))
FULL_GRID = tuple((g, p) for g in ('cora', 'random') for p in (1, 4, 7))


class Graphs:
    r"""The test graphs, partitioned on demand (once per part count)."""
    def __init__(self, cora: Data) -> None:
        self.graphs = {'cora': add_inputs(cora.clone(), 4),
                       'random': random_graph()}
        self.cache: Dict[Tuple[str, int], Tuple[Data, Tensor]] = {}

    def __call__(self, name: str, num_parts: int) -> Tuple[Data, Tensor]:
        key = (name, num_parts)
        if key not in self.cache:
            self.cache[key] = partition(self.graphs[name], num_parts)
        return self.cache[key]


@contextlib.contextmanager
def raw_inputs() -> Iterator[None]:
    r"""Turns off what GASConv adapts in the conv's inputs (the square
    adjacency for single-x convs, pairs of node-level inputs)."""
    square, pair = gas_conv._square, gas_conv._pair
    gas_conv._square = gas_conv._pair = lambda v, *_: v
    try:
        yield
    finally:
        gas_conv._square, gas_conv._pair = square, pair


@dataclass
class Row:
    label: str
    state: str  # 'exact', 'made exact', 'refused', 'n/a' or 'wrong'
    formats: Dict[str, str]  # per input format: 'exact', 'n/a', ...
    detail: str  # the refusal, the wrong answer, or why it did not run


def classify(label: str, graphs: Graphs,
             grid: Tuple[Tuple[str, int], ...] = GRID) -> Row:
    r"""Runs :obj:`label` on every graph, part count and format of
    :obj:`grid` and sums the results up in one row of the matrix."""
    results = {(g, p, fmt): run(label, *graphs(g, p), fmt)
               for g, p in grid for fmt in FORMATS}
    for (g, p, fmt), r in results.items():
        if r.state == 'wrong':
            return Row(label, 'wrong', {},
                       f'{g}, {p} parts, {fmt}: {r.detail}')
    formats = {}
    for fmt in FORMATS:
        states = {r.state for (_, _, f), r in results.items() if f == fmt}
        formats[fmt] = 'exact' if 'exact' in states else states.pop()
    refused = [r.detail for r in results.values() if r.state == 'refused']
    if refused:
        return Row(label, 'refused', formats, refused[0])
    if 'exact' not in formats.values():
        detail = next(iter(results.values())).detail
        return Row(label, 'n/a', formats, detail)
    # Exact: on its own, or thanks to the inputs GASConv adapts?
    with raw_inputs():
        raw = [run(label, *graphs('random', 4), fmt).state
               for fmt in FORMATS if formats[fmt] == 'exact']
    state = 'exact' if all(s == 'exact' for s in raw) else 'made exact'
    na = [f'{fmt}: {r.detail}' for (_, _, fmt), r in results.items()
          if r.state == 'n/a']
    return Row(label, state, formats, na[0] if na else '')


@pytest.fixture(scope='module')
def graphs(cora: Data) -> Graphs:
    return Graphs(cora)


DOCS = os.path.join(os.path.dirname(__file__), '..', '..', 'docs',
                    'models.md')
# The words of the docs' format columns for the states of 'Row.formats':
DOC_WORDS = {'n/a': 'not run'}


def documented_rows() -> Dict[str, Tuple[str, ...]]:
    r"""The rows of the matrix in ``docs/models.md``: label -> (state, the
    word of each format column)."""
    with open(DOCS) as f:
        text = f.read()
    begin = text.index('<!-- conv-matrix -->')
    rows = {}
    for line in text[begin:text.index('<!-- /conv-matrix -->')].split('\n'):
        if line.startswith('| `'):
            cells = [c.strip().replace('\\|', '|')
                     for c in re.split(r'(?<!\\)\|', line)[1:-1]]
            rows[cells[0].strip('`')] = tuple(cells[1:2 + len(FORMATS)])
    return rows


@pytest.fixture(scope='module')
def documented() -> Dict[str, Tuple[str, ...]]:
    return documented_rows()


pytestmark = pytest.mark.usefixtures('single_thread')


def test_every_pyg_conv_has_a_row():
    names = {label.split('(')[0] for label in SPECS}
    missing = sorted(set(pyg_conv_classes()) - names)
    assert not missing, f'Add constructor rows to SPECS for {missing}'
    # And the docs list the same rows:
    assert sorted(documented_rows()) == sorted(SPECS)


@pytest.mark.parametrize('label', list(SPECS))
def test_conv_matrix(graphs: Graphs, documented: Dict[str, Tuple[str, ...]],
                     label: str):
    row = classify(label, graphs)
    assert row.state != 'wrong', f'{label} gives a wrong answer: ' \
        f'{row.detail}'
    # docs/models.md says what the test finds (the fast grid and the full
    # one of the docs agree on every state):
    words = tuple(DOC_WORDS.get(row.formats[f], row.formats[f])
                  for f in FORMATS)
    assert documented.get(label) == (row.state, ) + words, (
        f'docs/models.md is out of date for {label}: run '
        f'`python scripts/conv_matrix.py`')
    if row.state == 'refused':
        # The reason, then what to do instead:
        assert row.detail.startswith('GAS mini-batches would give wrong '
                                     'outputs: ')
        assert row.detail.count('. ') >= 1, row.detail


@pytest.mark.slow
@pytest.mark.parametrize('label', list(SPECS))
def test_conv_matrix_full(graphs: Graphs, label: str):
    row = classify(label, graphs, FULL_GRID)
    assert row.state != 'wrong', f'{label} gives a wrong answer: ' \
        f'{row.detail}'
