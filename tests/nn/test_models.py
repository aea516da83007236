r"""The model zoo (GAT, GIN/GINE, GCNII, APPNP, PNA) against plain PyG, and
the exactness of GAS mini-batches and layer-wise inference for each."""
import pytest
import torch
from torch.nn import Linear, ReLU, Sequential
from torch_geometric.data import Data
from torch_geometric.nn import APPNP as PyGAPPNP
from torch_geometric.nn import (
    GATConv,
    GCN2Conv,
    GINConv,
    GINEConv,
    PNAConv,
)

from pyg_gas import EvalSubgraphLoader, SubgraphLoader, metis, permute
from pyg_gas.nn.models import APPNP, GAT, GCN, GCN2, GIN, PNA
from pyg_gas.utils import to_adj_t

MODELS = {'gat': GAT, 'gin': GIN, 'gcn2': GCN2, 'appnp': APPNP, 'pna': PNA}

# Small models, so that the whole file stays fast on two cores. PNA maps
# the 1433 features to its width with a linear layer first (PNAConv on 1433
# channels has millions of weights).
DEFAULTS = {
    'gat': dict(hidden_channels=4, num_layers=3, heads=2),
    'gin': dict(hidden_channels=16, num_layers=3),
    'gcn2': dict(hidden_channels=16, num_layers=4, alpha=0.2, theta=0.5),
    'appnp': dict(hidden_channels=16, num_layers=5, alpha=0.2),
    'pna': dict(hidden_channels=8, num_layers=3, linear=True),
}

# (model, overrides): every variant is checked against plain PyG and for
# GAS exactness.
VARIANTS = [
    ('gat', {}),
    ('gat', dict(heads=3, out_heads=2)),
    ('gat', dict(edge_dim=2)),
    ('gin', {}),
    ('gin', dict(edge_dim=2)),
    ('gcn2', dict(shared_weights=True)),
    ('gcn2', dict(shared_weights=False)),
    ('appnp', {}),
    ('pna', {}),
]
VARIANT_IDS = [
    'gat', 'gat-multihead', 'gat-edge', 'gin', 'gine', 'gcn2-shared',
    'gcn2-unshared', 'appnp', 'pna'
]
NUM_CLASSES = 7


# GAS computes the same sums as the full graph, in another order (a batch's
# sources are ordered by local id, halo last), so results agree up to
# float32 rounding: 1e-5, relative to the output's scale where that is
# above 1 (GINE's sums of unnormalized messages reach ~75). PNA's 'std'
# aggregator, sqrt(var + 1e-5), has slope ~160 at zero variance and turns
# rounding differences of 1e-7 into 1.6e-5 (the full-graph forward on the
# permuted graph differs from the original by as much), so it gets 5e-5.
TOLERANCE = {'pna': 5e-5}


def assert_exact(out, expected, atol=1e-5):
    assert out.shape == expected.shape
    scale = max(1.0, float(expected.abs().max()))
    assert (out - expected).abs().max() <= atol * scale


pytestmark = pytest.mark.usefixtures('single_thread')


@pytest.fixture(scope='module')
def edge_cora(norm_cora):
    data = norm_cora.clone()
    # Random edge features, used by the models built with 'edge_dim':
    gen = torch.Generator().manual_seed(0)
    data.edge_attr = torch.rand(data.num_edges, 2, generator=gen)
    return data


def graph_for(edge_cora, cfg):
    # Models without edge features get a graph without them.
    if cfg.get('edge_dim') is not None:
        return edge_cora
    data = edge_cora.clone()
    del data.edge_attr
    return data


def config(name, **kwargs):
    return {**DEFAULTS[name], **kwargs}


def make_model(name, data, cfg):
    torch.manual_seed(12345)
    kwargs = dict(cfg)
    if name == 'pna':
        kwargs['deg'] = PNA.degree_histogram(data)
    model = MODELS[name](data.num_nodes, data.num_features,
                         out_channels=NUM_CLASSES, **kwargs)
    with torch.no_grad():
        if name == 'gat':
            # On normalized features GAT's outputs are ~1e-2, which would
            # make an absolute 1e-5 tolerance weak; scaled weights give O(1)
            # outputs and sharper attention.
            for p in model.parameters():
                p.mul_(4.0)
        if name == 'gin':  # A non-zero epsilon weighs the root term.
            for i, conv in enumerate(model.convs):
                conv.eps.fill_(0.5 - 0.4 * i)
        for bn in getattr(model, 'bns', []):
            bn.running_mean.normal_(0, 0.1)
            bn.running_var.uniform_(0.5, 2.0)
    return model.eval()


def full_graph(data):
    r"""The whole graph's :obj:`adj_t`, and its edge features in the order
    of the adjacency's entries (by target, then by source)."""
    adj_t = to_adj_t(data.edge_index, data.num_nodes, data.get('edge_weight'))
    edge_attr = data.get('edge_attr')
    if edge_attr is not None:
        src, dst = data.edge_index
        edge_attr = edge_attr[torch.argsort(dst * data.num_nodes + src)]
    return adj_t, edge_attr


def full_forward(model, data):
    adj_t, edge_attr = full_graph(data)
    return model(data.x, adj_t, edge_attr=edge_attr)


# Plain PyG models on the raw graph, with the weights of a GAS model: #######


@torch.no_grad()
def pyg_gat(model, data, cfg):
    heads, out_heads = cfg['heads'], cfg.get('out_heads', 1)
    hidden, num_layers = cfg['hidden_channels'], cfg['num_layers']
    x = data.x
    for i, conv in enumerate(model.convs):
        last = i == num_layers - 1
        ref = GATConv(data.num_features if i == 0 else hidden * heads,
                      NUM_CLASSES if last else hidden,
                      heads=out_heads if last else heads, concat=not last,
                      add_self_loops=True, fill_value='mean',
                      edge_dim=cfg.get('edge_dim'))
        ref.load_state_dict(conv.state_dict())
        x = ref(x, data.edge_index, edge_attr=data.get('edge_attr'))
        x = x if last else x.relu()
    return x


@torch.no_grad()
def pyg_gin(model, data, cfg):
    hidden, num_layers = cfg['hidden_channels'], cfg['num_layers']
    edge_dim = cfg.get('edge_dim')
    x = data.x
    for i, conv in enumerate(model.convs):
        last = i == num_layers - 1
        in_dim = data.num_features if i == 0 else hidden
        mlp = Sequential(Linear(in_dim, hidden), ReLU(),
                         Linear(hidden, NUM_CLASSES if last else hidden))
        if edge_dim is None:
            ref = GINConv(mlp, train_eps=True)
        else:
            ref = GINEConv(mlp, train_eps=True, edge_dim=edge_dim)
            ref.lin.load_state_dict(conv.lin.state_dict())
        # The weights go in after construction, which resets 'mlp':
        mlp[0].load_state_dict(conv.nn.lins[0].state_dict())
        mlp[2].load_state_dict(conv.nn.lins[1].state_dict())
        ref.eps.copy_(conv.eps)
        if edge_dim is None:
            x = ref(x, data.edge_index)
        else:
            x = ref(x, data.edge_index, data.edge_attr)
        x = x if last else x.relu()
    return x


@torch.no_grad()
def pyg_gcn2(model, data, cfg):
    # As in PyG's GCNII example; GCN2Conv normalizes on the fly.
    x = x_0 = model.lins[0](data.x).relu()
    for i, conv in enumerate(model.convs):
        ref = GCN2Conv(cfg['hidden_channels'], cfg['alpha'], cfg['theta'],
                       layer=i + 1,
                       shared_weights=cfg.get('shared_weights', True))
        ref.load_state_dict(conv.state_dict())
        x = ref(x, x_0, data.edge_index).relu()
    return model.lins[1](x)


@torch.no_grad()
def pyg_appnp(model, data, cfg):
    h = model.lins[1](model.lins[0](data.x).relu())
    return PyGAPPNP(cfg['num_layers'], cfg['alpha'])(h, data.edge_index)


@torch.no_grad()
def pyg_pna(model, data, cfg):
    hidden = cfg['hidden_channels']
    deg = PNA.degree_histogram(data)
    x = model.lins[0](data.x).relu()
    for conv in model.convs:
        ref = PNAConv(hidden, hidden, ['mean', 'min', 'max', 'std'],
                      ['identity', 'amplification', 'attenuation'], deg)
        ref.load_state_dict(conv.state_dict())
        x = ref(x, data.edge_index).relu()
    return model.lins[1](x)


PYG = {
    'gat': pyg_gat,
    'gin': pyg_gin,
    'gcn2': pyg_gcn2,
    'appnp': pyg_appnp,
    'pna': pyg_pna,
}

# Full graph: ###############################################################


@pytest.mark.parametrize('name,kwargs', VARIANTS, ids=VARIANT_IDS)
def test_full_graph_equals_pyg(edge_cora, name, kwargs):
    cfg = config(name, **kwargs)
    raw = graph_for(edge_cora, cfg)
    model = make_model(name, raw, cfg)
    with torch.no_grad():
        out = full_forward(model, model.transform(raw))
    expected = PYG[name](model, raw, cfg)
    assert out.shape == (raw.num_nodes, NUM_CLASSES)
    assert expected.std() > 0.05  # Not a trivially small output.
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('name', ['gat', 'gin'])
def test_edge_features_are_used(edge_cora, name):
    # The converse of the test above: the edge features change the output,
    # so the order they are passed in matters.
    cfg = config(name, edge_dim=2)
    model = make_model(name, edge_cora, cfg)
    data = model.transform(edge_cora)
    adj_t, edge_attr = full_graph(data)
    with torch.no_grad():
        out = model(data.x, adj_t, edge_attr=edge_attr)
        shuffled = edge_attr[torch.randperm(edge_attr.size(0))]
        other = model(data.x, adj_t, edge_attr=shuffled)
    assert (out - other).abs().max() > 1e-3


# GAS mini-batches and inference: ###########################################


def check_gas(model, data, ptr, expected, batch_size, atol=1e-5):
    r"""Checks that :meth:`inference` equals :obj:`expected` (the
    full-graph output, permuted), and that afterwards every mini-batch
    forward does too."""
    # Garbage in the histories: inference must not depend on it.
    for history in model.histories:
        history.emb.normal_()
    out = model.inference(EvalSubgraphLoader(data, ptr, batch_size))
    assert_exact(out, expected, atol)

    num_parts = ptr.numel() - 1
    num_batches = 0
    for batch in SubgraphLoader(data, ptr, batch_size, shuffle=True):
        bs = batch.batch_size
        if num_parts > batch_size:
            assert batch.num_halo_nodes > 0
        with torch.no_grad():
            out = model(batch.x, batch.adj_t, bs, batch.n_id, batch.offset,
                        batch.count, edge_attr=batch.get('edge_attr'))
        assert_exact(out, expected[batch.n_id[:bs]], atol)
        num_batches += 1
    assert num_batches == -(-num_parts // batch_size)


def setup_gas(edge_cora, name, num_parts, **kwargs):
    cfg = config(name, **kwargs)
    raw = graph_for(edge_cora, cfg)
    model = make_model(name, raw, cfg)
    data = model.transform(raw)
    with torch.no_grad():
        full = full_forward(model, data)
    perm, ptr = metis(data, num_parts, log=False)
    return model, permute(data, perm), ptr, full[perm]


@pytest.mark.parametrize('name', ['gat', 'gcn2'])
@pytest.mark.parametrize('num_parts', [1, 4, 7])
@pytest.mark.parametrize('batch_size', [1, 2])
def test_gas_exactness(edge_cora, name, num_parts, batch_size):
    model, data, ptr, full = setup_gas(edge_cora, name, num_parts)
    check_gas(model, data, ptr, full, batch_size)


@pytest.mark.parametrize('name,kwargs', VARIANTS, ids=VARIANT_IDS)
def test_gas_exactness_variants(edge_cora, name, kwargs):
    model, data, ptr, full = setup_gas(edge_cora, name, 7, **kwargs)
    check_gas(model, data, ptr, full, 2, TOLERANCE.get(name, 1e-5))


@pytest.mark.parametrize('name', list(MODELS))
def test_inference_runs_in_eval_mode(edge_cora, name):
    # With dropout, only evaluation mode is deterministic: inference must
    # switch to it, and give the model back in training mode.
    cfg = config(name, dropout=0.5)
    model = make_model(name, edge_cora, cfg)
    data = model.transform(graph_for(edge_cora, cfg))
    with torch.no_grad():
        expected = full_forward(model, data)
    perm, ptr = metis(data, 5, log=False)
    data = permute(data, perm)
    model.train()
    out = model.inference(EvalSubgraphLoader(data, ptr, 3))
    assert model.training
    assert_exact(out, expected[perm], TOLERANCE.get(name, 1e-5))


def test_gat_multihead_history_width(edge_cora):
    cfg = config('gat', heads=3, out_heads=2)
    model = make_model('gat', graph_for(edge_cora, cfg), cfg)
    # Hidden layers concatenate their heads, the output layer averages:
    assert len(model.histories) == 2
    for history in model.histories:
        assert history.embedding_dim == 4 * 3
    assert [conv.concat for conv in model.convs] == [True, True, False]
    assert model.convs[-1].heads == 2
    data = model.transform(graph_for(edge_cora, cfg))
    with torch.no_grad():
        out = full_forward(model, data)
    assert out.shape == (edge_cora.num_nodes, NUM_CLASSES)


def test_appnp_histories():
    model = APPNP(10, 5, 16, 3, num_layers=5)
    # One history per propagation step but the last, of the output width:
    assert len(model.histories) == 4
    assert [h.embedding_dim for h in model.histories] == [3] * 4


def test_gcn2_stale_initial_residual_changes_output(edge_cora):
    # GCNII's initial residual x_0 is computed for halo rows too. Check that
    # it matters: dropping it for the halo (zero rows) breaks exactness,
    # which is what the exactness test above guards against.
    model, data, ptr, full = setup_gas(edge_cora, 'gcn2', 7)
    model.inference(EvalSubgraphLoader(data, ptr, 2))
    batch = next(iter(SubgraphLoader(data, ptr, 1)))
    bs = batch.batch_size
    init_state = model.init_state

    def init_state_without_halo(x):
        state = init_state(x)
        state['x_0'] = torch.cat([state['x_0'][:bs],
                                  state['x_0'][bs:].zero_()], dim=0)
        return state

    model.init_state = init_state_without_halo
    with torch.no_grad():
        out = model(batch.x, batch.adj_t, bs, batch.n_id)
    assert (out - full[batch.n_id[:bs]]).abs().max() > 1e-4


# PNA degrees: ##############################################################


def test_pna_needs_degree_histogram():
    with pytest.raises(ValueError, match='degree_histogram'):
        PNA(10, 4, 8, 2, num_layers=2)
    with pytest.raises(ValueError, match='degree_histogram'):
        PNA(10, 4, 8, 2, num_layers=2, deg=torch.ones(2, 2))


@pytest.mark.parametrize('make, error, match', [
    # They named the histories' 'embedding_dim', compared a string, or
    # were accepted (and failed later, inside torch or PyG):
    (lambda: GAT(10, 3, 4, 2, 2, heads=0), ValueError,
     r"'heads' must be at least 1 \(got 0\)"),
    (lambda: GAT(10, 3, 4, 2, 2, heads='8'), TypeError,
     "'heads' must be an int"),
    (lambda: GAT(10, 3, 4, 2, 2, out_heads=0), ValueError, "'out_heads'"),
    (lambda: GAT(10, 3, 4, 2, 2, attn_dropout=1.5), ValueError,
     r"'attn_dropout' must be in \[0.0, 1.0\) \(got 1.5\)"),
    (lambda: GCN(10, 3, 4, 2, 2, dropout='0.5'), TypeError,
     "'dropout' must be a number"),
    (lambda: GCN(10, 0, 4, 2, 2, linear=True), ValueError,
     r"'in_channels' must be at least 1 \(got 0\)"),
    (lambda: GIN(10, '3', 4, 2, 2), TypeError, "'in_channels' must be an int"),
    (lambda: GCN(10, 3, 4, 0, 2), ValueError, "'out_channels'"),
    (lambda: GCN2(10, 3, 4, 2, 2, alpha=5), ValueError,
     r"'alpha' must be in \[0.0, 1.0\] \(got 5\)"),
    (lambda: GCN2(10, 3, 4, 2, 2, theta=-2), ValueError, "'theta'"),
    (lambda: APPNP(10, 3, 0, 2, 2), ValueError, "'hidden_channels'"),
    (lambda: APPNP(10, 3, 4, 2, 2, alpha=1.5), ValueError, "'alpha'"),
])
def test_bad_constructor_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_pna_degree_histogram():
    # In-degrees [0, 1, 1, 3]: node 0 has none, nodes 1 and 2 one, node 3
    # three.
    edge_index = torch.tensor([[0, 0, 0, 1, 2], [1, 2, 3, 3, 3]])
    data = Data(edge_index=edge_index, num_nodes=4)
    assert PNA.degree_histogram(data).tolist() == [1, 2, 0, 1]
    # An isolated node counts as degree 0 as well:
    data = Data(edge_index=edge_index, num_nodes=6)
    assert PNA.degree_histogram(data).tolist() == [3, 2, 0, 1]
    # Out-degrees do not count: a star out of node 0 has in-degrees
    # [0, 1, 1, 1] (and out-degrees [3, 0, 0, 0]).
    star = torch.tensor([[0, 0, 0], [1, 2, 3]])
    data = Data(edge_index=star, num_nodes=4)
    assert PNA.degree_histogram(data).tolist() == [1, 3]


def test_pna_degree_histogram_of_cora(edge_cora):
    deg = PNA.degree_histogram(edge_cora)
    assert int(deg.sum()) == edge_cora.num_nodes
    weighted = (deg * torch.arange(deg.numel())).sum()
    assert int(weighted) == edge_cora.num_edges


# Parameters and state: #####################################################


@pytest.mark.parametrize('name', list(MODELS))
@pytest.mark.parametrize('batch_norm', [False, True])
def test_param_groups(edge_cora, name, batch_norm):
    kwargs = {} if name == 'appnp' else dict(batch_norm=batch_norm)
    if name == 'gin':
        kwargs['edge_dim'] = 2  # GINE has an edge feature map as well.
    cfg = config(name, **kwargs)
    model = make_model(name, edge_cora, cfg)
    groups = model.param_groups(5e-4, 1e-5)
    assert [g['weight_decay'] for g in groups] == [5e-4, 1e-5]
    ids = [id(p) for g in groups for p in g['params']]
    # Every parameter in exactly one group:
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters()}
    assert all(len(g['params']) > 0 for g in groups)


@pytest.mark.parametrize('name', list(MODELS))
def test_state_dict_round_trip(edge_cora, name):
    model, data, ptr, full = setup_gas(edge_cora, name, 4)
    model.inference(EvalSubgraphLoader(data, ptr, 1))
    state = model.state_dict()
    for i in range(len(model.histories)):
        assert f'histories.{i}.emb' in state

    cfg = config(name)
    other = make_model(name, graph_for(edge_cora, cfg), cfg)
    other.reset_parameters()  # Other weights, empty histories.
    other.load_state_dict(state)
    for history, loaded in zip(model.histories, other.histories):
        assert torch.equal(history.emb, loaded.emb)
        assert torch.equal(history.last_step, loaded.last_step)
    # The loaded histories are exact: mini-batches need no inference.
    for batch in SubgraphLoader(data, ptr, 2):
        bs = batch.batch_size
        with torch.no_grad():
            out = other(batch.x, batch.adj_t, bs, batch.n_id, batch.offset,
                        batch.count)
        assert_exact(out, full[batch.n_id[:bs]], TOLERANCE.get(name, 1e-5))


def test_models_without_edge_dim_ignore_edge_attr():
    # A graph with edge features must not break models that take none.
    torch.manual_seed(0)
    data = Data(x=torch.randn(4, 3),
                edge_index=torch.tensor([[0, 1, 1, 2, 3, 0],
                                         [1, 0, 2, 1, 0, 3]]),
                edge_attr=torch.randn(6, 2))
    for model in (PNA(4, 3, 8, 2, num_layers=2,
                      deg=PNA.degree_histogram(data)),
                  GAT(4, 3, 4, 2, num_layers=2, heads=2)):
        data_t = model.transform(data)
        perm, ptr = metis(data_t, 2, log=False)
        out = model.inference(EvalSubgraphLoader(permute(data_t, perm), ptr))
        adj_t = to_adj_t(data_t.edge_index, 4)
        torch.testing.assert_close(out, model.eval()(data_t.x, adj_t)[perm],
                                   atol=1e-5, rtol=1e-5)


def test_gine_without_edge_attr_is_a_clear_error():
    model = GIN(4, 3, 8, 2, num_layers=2, edge_dim=2)
    adj_t = to_adj_t(torch.tensor([[0, 1], [1, 0]]), 4)
    with pytest.raises(ValueError, match="needs 'edge_attr'"):
        model(torch.randn(4, 3), adj_t)


@pytest.mark.parametrize('in_channels,out_channels', [(4, 16), (16, 4),
                                                      (8, 8)])
def test_gcn_conv_orders_agree(in_channels, out_channels):
    # GCN picks transform-first or aggregate-first per call; both must equal
    # PyG's GCNConv on a bipartite batch (targets first, then halo rows).
    torch.manual_seed(0)
    num_src, num_dst = 30, 12
    src = torch.randint(0, num_src, (80, ))
    dst = torch.randint(0, num_dst, (80, ))
    weight = torch.rand(80)
    adj_t = torch.sparse_coo_tensor(torch.stack([dst, src]), weight,
                                    (num_dst, num_src)).coalesce()
    adj_t = adj_t.to_sparse_csr()
    model = GCN(100, in_channels, out_channels, 3, num_layers=2)
    conv = model.convs[0]
    torch.nn.init.normal_(conv.bias)
    x = torch.randn(num_src, in_channels, requires_grad=True)
    out = model.conv(0, x, adj_t, {})
    ref = conv(x, adj_t)
    assert out.shape == (num_dst, out_channels)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    # Gradients agree as well:
    grad_out, = torch.autograd.grad(out.sum(), x)
    grad_ref, = torch.autograd.grad(ref.sum(), x)
    torch.testing.assert_close(grad_out, grad_ref, atol=1e-5, rtol=1e-5)
