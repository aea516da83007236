r"""The models' guard rails: unknown arguments raise a TypeError that lists
the ones that exist, PyG's BasicGNN 'act' is taken, and the GCN family and
GAT warn when their graph transform was not applied."""
import copy
import pickle
import warnings

import pytest
import torch
from torch_geometric.nn import GCNConv
from torch_geometric.nn.models import GCN as PyGGCN

from pyg_gas import SubgraphLoader, metis, permute
from pyg_gas.nn.models import (
    APPNP,
    GAT,
    GCN,
    GCN2,
    GIN,
    PNA,
    SAGE,
    BasicGAS,
)
from pyg_gas.utils import to_adj_t

pytestmark = pytest.mark.usefixtures('single_thread')

DEG = torch.tensor([1, 2, 3])
# The models, the extra arguments they need, and an argument of their conv
# that they pass on (None: they pass none on).
MODELS = [
    (GCN, {}, 'improved'),
    (SAGE, {}, 'root_weight'),
    (GAT, {}, 'negative_slope'),
    (GIN, {}, 'eps'),
    (GCN2, {}, None),
    (APPNP, {}, None),
    (PNA, dict(deg=DEG), 'towers'),
]
IDS = [cls.__name__ for cls, _, _ in MODELS]


def build(cls, extra, **kwargs):
    return cls(10, 3, 4, 2, 2, **extra, **kwargs)


def silently(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        return fn(*args, **kwargs)


@pytest.mark.parametrize('cls,extra,conv_arg', MODELS, ids=IDS)
def test_unknown_argument_is_named(cls, extra, conv_arg):
    with pytest.raises(TypeError) as info:
        build(cls, extra, foo=1)
    msg = str(info.value)
    assert msg.startswith(f"{cls.__name__} got unexpected argument 'foo'. "
                          f"Its arguments are: num_nodes, in_channels, "
                          f"hidden_channels, out_channels, num_layers, ")
    for name in ('dropout', 'act', 'act_kwargs', 'history_dtype'):
        assert f' {name},' in msg
    if conv_arg is None:
        assert 'its conv' not in msg
    else:
        conv = type(build(cls, extra).convs[0]).__name__
        assert f'; and those of its conv {conv}: ' in msg
        assert f' {conv_arg},' in msg or msg.endswith(f' {conv_arg}.')


@pytest.mark.parametrize('cls,extra,conv_arg', MODELS, ids=IDS)
def test_basic_gnn_arguments_say_what_to_use(cls, extra, conv_arg):
    with pytest.raises(TypeError) as info:
        build(cls, extra, norm='batch_norm', jk='cat')
    msg = str(info.value)
    assert msg.startswith(f"{cls.__name__} got unexpected arguments 'jk', "
                          f"'norm'.")
    assert msg.endswith(
        " Of these, 'jk': jumping knowledge is not supported: the output "
        "is that of the last layer; 'norm': pass 'batch_norm=True' for "
        "batch normalization, the one normalization layer of these models.")


def test_model_specific_alternatives():
    with pytest.raises(TypeError, match="'normalize': the graph is "
                       "normalized once, as a whole, by 'data = "
                       r"model.transform\(data\)'"):
        GCN(10, 3, 4, 2, 2, normalize=True)
    with pytest.raises(TypeError, match="'add_self_loops': self-loops are "
                       "added once"):
        GAT(10, 3, 4, 2, 2, add_self_loops=True)
    with pytest.raises(TypeError, match="'K': the number of propagation "
                       "steps is 'num_layers'"):
        APPNP(10, 3, 4, 2, 2, K=10)


def test_conv_arguments_are_passed_on():
    assert GCN(10, 3, 4, 2, 2, improved=True).convs[0].improved
    assert GAT(10, 3, 4, 2, 2, negative_slope=0.1).convs[1].negative_slope \
        == 0.1
    assert str(SAGE(10, 3, 4, 2, 2, aggr='max').convs[0].aggr) == 'max'
    # GIN passed none of them on before, and swallowed any other:
    model = GIN(10, 3, 4, 2, 2, eps=0.5)
    assert [conv.eps.item() for conv in model.convs] == [0.5, 0.5]


def test_subclass_without_conv_cls_takes_its_conv_arguments():
    # A subclass that passes its arguments on to a conv it does not name:
    # the conv itself checks them.
    class MyGCN(BasicGAS):
        def init_conv(self, in_channels, out_channels, last, **kwargs):
            return GCNConv(in_channels, out_channels, normalize=False,
                           **kwargs)

    assert MyGCN(10, 3, 4, 2, 2, improved=True).convs[0].improved
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        MyGCN(10, 3, 4, 2, 2, foo=1)


@pytest.mark.parametrize('cls,extra,conv_arg', MODELS, ids=IDS)
def test_act(cls, extra, conv_arg):
    # 'act' changes the output; a name and the module give the same model.
    torch.manual_seed(0)
    x, adj_t = torch.randn(10, 3), to_adj_t(
        torch.randint(10, (2, 30), generator=torch.Generator().manual_seed(
            0)), 10)
    outs = {}
    for act in ('relu', 'elu', torch.nn.ELU()):
        torch.manual_seed(1)
        model = build(cls, extra, act=act).eval()
        model.expects_transform = None  # A test graph, not transformed.
        with torch.no_grad():
            outs[str(act)] = model(x, adj_t)
    torch.testing.assert_close(outs['elu'], outs['ELU(alpha=1.0)'])
    assert (outs['elu'] - outs['relu']).abs().max() > 1e-4


def test_act_equals_pyg_basic_gnn(norm_cora):
    # The GCN of PyG with act='elu', whose convs normalize on the fly.
    data = norm_cora
    torch.manual_seed(0)
    ours = GCN(data.num_nodes, data.num_features, 16, 7, 3,
               act='leaky_relu', act_kwargs=dict(negative_slope=0.3)).eval()
    pyg = PyGGCN(data.num_features, 16, 3, 7, act='leaky_relu',
                 act_kwargs=dict(negative_slope=0.3)).eval()
    pyg.load_state_dict(ours.state_dict(), strict=False)
    transformed = ours.transform(data)
    adj_t = to_adj_t(transformed.edge_index, data.num_nodes,
                     transformed.edge_weight)
    with torch.no_grad():
        torch.testing.assert_close(silently(ours, data.x, adj_t),
                                   pyg(data.x, data.edge_index),
                                   atol=1e-5, rtol=1e-5)


def test_bad_act():
    with pytest.raises(ValueError, match="'act' must be the name of an "
                       "activation of 'torch.nn'"):
        GCN(10, 3, 4, 2, 2, act='nope')
    with pytest.raises(TypeError, match="'act' must be a str, a callable or "
                       r"None \(got int\)"):
        GCN(10, 3, 4, 2, 2, act=3)


def test_learnable_act_is_trained():
    model = SAGE(10, 3, 4, 2, 3, act='prelu')
    ids = {id(p) for g in model.param_groups(5e-4) for p in g['params']}
    assert id(model.act.weight) in ids
    assert ids == {id(p) for p in model.parameters()}


# The graph transforms: #####################################################


@pytest.fixture(scope='module')
def raw(norm_cora):
    return norm_cora


TRANSFORMED = [(GCN, 'edge weights'), (GCN2, 'edge weights'),
               (APPNP, 'edge weights'), (GAT, 'self-loops')]


def make(cls, data):
    return cls(data.num_nodes, data.num_features, 8, 7, 2).eval()


@pytest.mark.parametrize('cls,missing', TRANSFORMED,
                         ids=[c.__name__ for c, _ in TRANSFORMED])
def test_untransformed_graph_warns_once(raw, cls, missing):
    model = make(cls, raw)
    adj_t = to_adj_t(raw.edge_index, raw.num_nodes)
    with torch.no_grad():
        with pytest.warns(UserWarning, match=missing) as record:
            model(raw.x, adj_t)
        assert len(record) == 1
        assert record[0].filename == __file__
        assert str(record[0].message).startswith(
            f'{cls.__name__}: the adjacency of its first forward pass ')
        assert "Call 'data = model.transform(data)'" in str(
            record[0].message)
        silently(model, raw.x, adj_t)  # Once per model.


@pytest.mark.parametrize('cls,missing', TRANSFORMED,
                         ids=[c.__name__ for c, _ in TRANSFORMED])
def test_transformed_graph_is_silent(raw, cls, missing):
    model = make(cls, raw)
    data = model.transform(raw)
    adj_t = to_adj_t(data.edge_index, data.num_nodes, data.get('edge_weight'))
    with torch.no_grad():
        silently(model, data.x, adj_t)
        # And mini-batches, for a new model:
        perm, ptr = metis(data, 10, log=False)
        batch = next(iter(SubgraphLoader(permute(data, perm), ptr, 2)))
        silently(make(cls, raw), batch.x, batch.adj_t, batch.batch_size,
                 batch.n_id, batch.offset, batch.count)


def test_what_is_missing(raw):
    # Weights but no self-loops; self-loops but no weights; 'edge_index'.
    data = GCN.transform(None, raw)
    loops = data.edge_index[0] == data.edge_index[1]
    weighted = to_adj_t(raw.edge_index, raw.num_nodes,
                        torch.rand(raw.num_edges))
    unweighted = to_adj_t(data.edge_index, raw.num_nodes)
    cases = [
        (weighted, 'lacks the self-loops of 2708 of its 2708 target nodes'),
        (unweighted, r'has no edge weights, but its convs run with '
                     r'normalize=False'),
        (data.edge_index, 'has no edge weights, but'),
        (to_adj_t(data.edge_index[:, ~loops], raw.num_nodes),
         'has no edge weights and lacks the self-loops of 2708'),
    ]
    for adj_t, match in cases:
        with pytest.warns(UserWarning, match=match):
            with torch.no_grad():
                make(GCN, raw)(raw.x, adj_t)


def test_models_without_transform_never_warn(raw):
    adj_t = to_adj_t(raw.edge_index, raw.num_nodes)
    x = raw.x[:, :8]  # PNAConv's towers would be large on 1433 features.
    n, deg = raw.num_nodes, PNA.degree_histogram(raw)
    with torch.no_grad():
        for model in (SAGE(n, 8, 4, 7, 2), GIN(n, 8, 4, 7, 2),
                      PNA(n, 8, 4, 7, 2, deg=deg)):
            silently(model.eval(), x, adj_t)


def test_copies_keep_the_check(raw):
    model = make(GCN, raw)
    clone = copy.deepcopy(model)
    pickled = pickle.loads(pickle.dumps(model))
    adj_t = to_adj_t(raw.edge_index, raw.num_nodes)
    with torch.no_grad():
        for m in (clone, pickled):
            with pytest.warns(UserWarning, match='no edge weights'):
                m(raw.x, adj_t)
    # A model pickled before the check existed does not warn:
    state = model.__dict__.copy()
    del state['_transform_checked']
    old = GCN.__new__(GCN)
    old.__setstate__(state)
    with torch.no_grad():
        silently(old, raw.x, adj_t)
