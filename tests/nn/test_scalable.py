import copy

import pytest
import torch
from torch_geometric.nn.models import GCN as PyGGCN
from torch_geometric.nn.models import GraphSAGE as PyGSAGE

from pyg_gas import (
    ClusterLoader,
    EvalSubgraphLoader,
    LADIESLoader,
    ScalableGNN,
    SubgraphLoader,
    metis,
    permute,
)
from pyg_gas.nn.models import GCN, SAGE
from pyg_gas.testing import onlyCUDA, withCUDA
from pyg_gas.utils import to_adj_t

MODELS = {'gcn': (GCN, PyGGCN), 'sage': (SAGE, PyGSAGE)}


def make_model(name, data, num_layers=3, **kwargs):
    torch.manual_seed(12345)
    model = MODELS[name][0](data.num_nodes, data.num_features, 16, 7,
                            num_layers=num_layers, **kwargs)
    # Non-trivial batch norm statistics, so that eval mode is exercised:
    for bn in model.bns:
        bn.running_mean.normal_(0, 0.1)
        bn.running_var.uniform_(0.5, 2.0)
    return model.eval()


def full_adj_t(data):
    return to_adj_t(data.edge_index, data.num_nodes, data.get('edge_weight'))


@pytest.mark.parametrize('name', ['gcn', 'sage'])
@pytest.mark.parametrize('num_layers', [1, 2, 3])
def test_full_graph_equals_pyg(norm_cora, name, num_layers):
    model = make_model(name, norm_cora, num_layers)
    data = model.transform(norm_cora)
    out = model(data.x, full_adj_t(data))

    # The plain PyG model, with the same weights, on the raw graph (PyG's
    # GCN normalizes on the fly):
    ref = MODELS[name][1](norm_cora.num_features, 16, num_layers, 7).eval()
    for conv, ref_conv in zip(model.convs, ref.convs):
        ref_conv.load_state_dict(conv.state_dict())
    expected = ref(norm_cora.x, norm_cora.edge_index)
    assert out.shape == (norm_cora.num_nodes, 7)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('name', ['gcn', 'sage'])
@pytest.mark.parametrize('num_parts', [1, 4, 7])
@pytest.mark.parametrize('batch_size', [1, 2])
def test_gas_exactness(norm_cora, name, num_parts, batch_size):
    model = make_model(name, norm_cora, batch_norm=True, residual=True)
    data = model.transform(norm_cora)
    full = model(data.x, full_adj_t(data))  # [N, 7]

    perm, ptr = metis(data, num_parts, log=False)
    data = permute(data, perm)
    full = full[perm]

    out = model.inference(EvalSubgraphLoader(data, ptr, batch_size))
    assert (out - full).abs().max() <= 1e-5

    # Histories are now exact, so every mini-batch forward is too:
    num_batches = 0
    for batch in SubgraphLoader(data, ptr, batch_size, shuffle=True):
        bs = batch.batch_size
        out = model(batch.x, batch.adj_t, bs, batch.n_id, batch.offset,
                    batch.count)
        assert out.shape == (bs, 7)
        assert (out - full[batch.n_id[:bs]]).abs().max() <= 1e-5
        num_batches += 1
    assert num_batches == -(-num_parts // batch_size)


@pytest.mark.parametrize('name', ['gcn', 'sage'])
def test_gas_exactness_with_split_clusters(norm_cora, name):
    # Clusters split into ranges of at most 400 in-edges: more, smaller
    # batches, each with at most 2 * 400 edges and halo rows, and the same
    # exact outputs.
    model = make_model(name, norm_cora, batch_norm=True, residual=True)
    data = model.transform(norm_cora)
    full = model(data.x, full_adj_t(data))
    perm, ptr = metis(data, 4, log=False)
    data = permute(data, perm)
    full = full[perm]

    train = SubgraphLoader(data, ptr, 2, shuffle=True, max_cluster_edges=400)
    assert train.ptr.numel() - 1 >= -(-data.num_edges // 400) > 4
    assert set(ptr.tolist()) <= set(train.ptr.tolist())
    # The evaluation loader shares the graph, given either boundaries:
    for given in (ptr, train.ptr):
        loader = EvalSubgraphLoader(data, given, 2, collater=train.collater)
        assert torch.equal(loader.ptr, train.ptr)
    out = model.inference(loader)
    assert (out - full).abs().max() <= 1e-5

    for batch in train:
        bs = batch.batch_size
        assert batch.adj_t.values().numel() <= 2 * 400
        assert batch.num_halo_nodes <= 2 * 400
        out = model(batch.x, batch.adj_t, bs, batch.n_id, batch.offset,
                    batch.count)
        assert (out - full[batch.n_id[:bs]]).abs().max() <= 1e-5


def test_stale_histories_change_the_output(norm_cora):
    # The converse of exactness: with empty histories, halo rows are zero and
    # the mini-batch output differs, so the test above checks something.
    model = make_model('gcn', norm_cora)
    data = model.transform(norm_cora)
    full = model(data.x, full_adj_t(data))
    perm, ptr = metis(data, 7, log=False)
    data = permute(data, perm)
    model = make_model('gcn', norm_cora)  # Same weights, empty histories.
    batch = next(iter(SubgraphLoader(data, ptr, 1)))
    assert batch.num_halo_nodes > 0
    out = model(batch.x, batch.adj_t, batch.batch_size, batch.n_id)
    assert (out - full[perm][batch.n_id[:batch.batch_size]]).abs().max() > 1e-3


def test_full_forward_fills_histories(norm_cora):
    model = make_model('sage', norm_cora, num_layers=2)
    data = model.transform(norm_cora)
    adj_t = full_adj_t(data)
    model(data.x, adj_t)
    # The history holds layer 0's output, which is layer 1's input:
    h = model.forward_layer(0, data.x, adj_t, {})
    torch.testing.assert_close(model.histories[0].pull(), h)


def test_push_and_pull_layout():
    model = GCN(num_nodes=6, in_channels=3, hidden_channels=2,
                out_channels=2, num_layers=2)
    history = model.histories[0]
    history.push(torch.arange(12.).view(6, 2))
    x = torch.full((2, 2), -1.)
    n_id = torch.tensor([4, 5, 0, 2])
    out = model.push_and_pull(history, x, batch_size=2, n_id=n_id)
    # Batch rows first, then the halo rows pulled from the history:
    assert out.tolist() == [[-1, -1], [-1, -1], [0, 1], [4, 5]]
    # ... and the batch rows were pushed:
    assert history.pull(torch.tensor([4, 5])).tolist() == [[-1, -1],
                                                           [-1, -1]]
    with pytest.raises(ValueError, match="'n_id'"):
        model(torch.randn(4, 3), torch.randn(2, 4).to_sparse_csr(), 2)


def test_training_ticks_histories(norm_cora):
    model = make_model('gcn', norm_cora, num_layers=2).train()
    data = model.transform(norm_cora)
    perm, ptr = metis(data, 4, log=False)
    data = permute(data, perm)
    for batch in SubgraphLoader(data, ptr, 1):
        model(batch.x, batch.adj_t, batch.batch_size, batch.n_id,
              batch.offset, batch.count)
    history = model.histories[0]
    assert int(history.step) == 4
    # Part i was pushed at step i + 1, so it is 3 - i steps old now:
    for i in range(4):
        age = history.staleness(perm.new_tensor(range(ptr[i], ptr[i + 1])))
        assert age.unique().tolist() == [3 - i]


@pytest.mark.parametrize('name', ['gcn', 'sage'])
def test_param_groups(norm_cora, name):
    model = make_model(name, norm_cora, batch_norm=True)
    groups = model.param_groups(5e-4, 0.0)
    params = [p for g in groups for p in g['params']]
    # Every parameter in exactly one group:
    assert len(params) == len(list(model.parameters()))
    assert {id(p) for p in params} == {id(p) for p in model.parameters()}
    assert groups[0]['weight_decay'] == 5e-4
    first = {id(p) for p in model.convs[0].parameters()}
    assert first <= {id(p) for p in groups[0]['params']}


def test_bad_arguments():
    with pytest.raises(ValueError, match="'num_layers'"):
        GCN(10, 3, 4, 2, num_layers=0)
    with pytest.raises(TypeError, match="'num_layers'"):
        GCN(10, 3, 4, 2, num_layers=2.0)
    with pytest.raises(ValueError, match="'dropout'"):
        GCN(10, 3, 4, 2, num_layers=2, dropout=1.5)
    with pytest.raises(ValueError, match="'hidden_channels'"):
        ScalableGNN(10, [4, 4], num_layers=2)
    # They named the histories' 'num_embeddings' and 'embedding_dim', or
    # read a string as a list of widths:
    with pytest.raises(ValueError, match=r"'num_nodes' must be at least 0 "
                       r"\(got -5\)"):
        GCN(-5, 3, 4, 2, num_layers=2)
    with pytest.raises(TypeError, match="'num_nodes' must be an int"):
        GCN('10', 3, 4, 2, num_layers=2)
    for hidden in (0, -4):
        with pytest.raises(ValueError, match=rf"'hidden_channels' must be at "
                           rf"least 1 \(got {hidden}\)"):
            GCN(10, 3, hidden, 2, num_layers=2)
    with pytest.raises(TypeError, match="'hidden_channels' must be an int "
                       r"\(got str\)"):
        ScalableGNN(10, '16', num_layers=2)
    with pytest.raises(ValueError, match="'hidden_channels' must be at least"):
        ScalableGNN(10, 0, num_layers=1)  # Checked without a history too.
    with pytest.raises(ValueError, match="'history_dtype' must be one of"):
        GCN(10, 3, 4, 2, num_layers=2, history_dtype=torch.int32)


def test_state_dict_holds_histories(norm_cora):
    model = make_model('gcn', norm_cora)
    data = model.transform(norm_cora)
    model(data.x, full_adj_t(data))
    state = model.state_dict()
    assert 'histories.0.emb' in state and 'histories.1.emb' in state
    other = make_model('gcn', norm_cora)
    other.load_state_dict(state)
    torch.testing.assert_close(other.histories[1].emb,
                               model.histories[1].emb)


@withCUDA
@pytest.mark.parametrize('offload', [False, True])
def test_inference_on_device(norm_cora, device, offload):
    torch.manual_seed(0)
    model = GCN(norm_cora.num_nodes, norm_cora.num_features, 16, 7,
                num_layers=3, history_device='cpu' if offload else None).eval()
    data = model.transform(norm_cora)
    expected = model(data.x, full_adj_t(data))
    perm, ptr = metis(data, 5, log=False)
    data = permute(data, perm)
    model = model.to(device)
    out = model.inference(EvalSubgraphLoader(data, ptr, 2))
    assert out.device.type == device.type
    torch.testing.assert_close(out.cpu(), expected[perm], atol=1e-5,
                               rtol=1e-5)
    history_device = 'cpu' if offload else device.type
    assert model.histories[0].emb.device.type == history_device
    if offload and device.type == 'cuda':
        assert model.histories[0].emb.is_pinned()


def test_async_io_needs_cuda_and_pinned_histories(norm_cora):
    model = GCN(norm_cora.num_nodes, norm_cora.num_features, 16, 7,
                num_layers=3, history_device='cpu')
    with pytest.raises(ValueError, match='needs a CUDA model'):
        model.enable_async_io(max_batch_rows=10, max_halo_rows=10)
    with pytest.raises(ValueError, match="both 'max_batch_rows'"):
        model.enable_async_io(max_batch_rows=10)
    with pytest.raises(TypeError, match="'max_rows\\(\\)' method"):
        model.enable_async_io(loader=[1, 2])
    # Nothing was enabled, and the synchronous path is unchanged:
    assert model._async_io is None
    model.synchronize_histories()
    model.disable_async_io()


def _train_steps(model, loader, device, steps=6, seed=0):
    torch.manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    outs = []
    for _, batch in zip(range(steps), loader):
        batch = batch.to(device)
        bs = batch.batch_size
        optimizer.zero_grad()
        out = model(batch.x, batch.adj_t, bs, batch.n_id, batch.offset,
                    batch.count)
        out.square().mean().backward()
        optimizer.step()
        outs.append(out.detach().cpu())
    model.synchronize_histories()
    return outs


@onlyCUDA
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_async_io_equals_sync(norm_cora, dtype):
    # Same weights, same batches: the asynchronous pulls and pushes give the
    # same outputs, histories and staleness as the synchronous ones.
    device = torch.device('cuda')
    torch.manual_seed(0)
    model = GCN(norm_cora.num_nodes, norm_cora.num_features, 32, 7,
                num_layers=4, history_device='cpu', history_dtype=dtype,
                dropout=0.0)
    data = model.transform(norm_cora)
    perm, ptr = metis(data, 8, log=False)
    data = permute(data, perm)
    sync = copy.deepcopy(model).to(device)
    asyn = copy.deepcopy(model).to(device)
    assert asyn.histories[0].emb.is_pinned()
    loader = SubgraphLoader(data, ptr, batch_size=2, shuffle=False)
    io = asyn.enable_async_io(loader)
    assert io.max_batch_rows >= max(b.batch_size for b in loader)
    out_sync = _train_steps(sync, loader, device)
    out_async = _train_steps(asyn, loader, device)
    for a, b in zip(out_sync, out_async):
        torch.testing.assert_close(a, b)
    for h_sync, h_async in zip(sync.histories, asyn.histories):
        # Close, not equal: CUDA's sparse products and their backward sum
        # in a nondeterministic order, so two runs differ in the last bits.
        torch.testing.assert_close(h_sync.emb, h_async.emb)
        assert torch.equal(h_sync.last_step, h_async.last_step)
    # Small buffers grow as needed, and index pushes work too:
    asyn.enable_async_io(max_batch_rows=1, max_halo_rows=1)
    batch = next(iter(loader)).to(device)
    bs = batch.batch_size
    a = asyn(batch.x, batch.adj_t, bs, batch.n_id)
    b = sync(batch.x, batch.adj_t, bs, batch.n_id)
    torch.testing.assert_close(a, b)
    asyn.synchronize_histories()
    torch.testing.assert_close(sync.histories[1].emb, asyn.histories[1].emb)
    # Moving the model off the GPU ends asynchronous I/O:
    asyn.cpu()
    assert asyn._async_io is None


# Guards: no silent wrong answers ############################################


def _clustered(norm_cora, num_parts=8):
    model = make_model('gcn', norm_cora)
    data = model.transform(norm_cora)
    full = model(data.x, full_adj_t(data))  # [N, 7]
    perm, ptr = metis(data, num_parts, log=False)
    return model, permute(data, perm), ptr, full[perm]


def test_inference_needs_every_row(norm_cora):
    model, data, ptr, _ = _clustered(norm_cora)
    N = norm_cora.num_nodes
    model.histories[0].push(torch.ones(N, 16))
    # Half of the clusters: refused before any work.
    with pytest.raises(ValueError, match=rf"'loader' covers {int(ptr[4])} "
                       rf"rows, but the model has num_nodes={N} rows"):
        model.inference(EvalSubgraphLoader(data, ptr, 2, num_parts=4))
    assert bool((model.histories[0].emb == 1).all())  # Untouched.
    # A loader of another graph, or a model of more rows than the graph:
    small = data.subgraph(torch.arange(100))
    with pytest.raises(ValueError, match=r"a graph of 100 nodes, but the "
                       rf"model was built for num_nodes={N}"):
        model.inference(EvalSubgraphLoader(small, torch.tensor([0, 100])))
    big = GCN(N + 5, norm_cora.num_features, 16, 7, num_layers=3)
    with pytest.raises(ValueError, match=rf"a graph of {N} nodes, but the "
                       rf"model was built for num_nodes={N + 5}"):
        big.inference(EvalSubgraphLoader(data, ptr, 2))


def test_inference_counts_the_rows_of_any_loader(norm_cora):
    model, data, ptr, full = _clustered(norm_cora)
    batches = list(EvalSubgraphLoader(data, ptr, 2))  # No 'ptr' to read.
    out = model.inference(batches)
    assert (out - full).abs().max() <= 1e-5
    N = norm_cora.num_nodes
    with pytest.raises(ValueError, match=rf"'loader' covers "
                       rf"{N - batches[-1].batch_size} rows, but the model "
                       rf"has num_nodes={N} rows"):
        model.inference(batches[:-1])
    with pytest.raises(ValueError, match='but only .* distinct ones'):
        model.inference(batches + batches[:1])


def test_inference_needs_gas_batches(norm_cora):
    # Batches without halo (Cluster-GCN) gave an inexact output, silently;
    # layer-wise batches an obscure error.
    model, data, ptr, _ = _clustered(norm_cora)
    with pytest.raises(ValueError, match=r"'loader' \(ClusterLoader\) "
                       r"yields batches without their halo"):
        model.inference(ClusterLoader(data, ptr, 2, shuffle=False))
    with pytest.raises(ValueError, match=r"'loader' \(LADIESLoader\) "
                       r"samples one adjacency per layer"):
        model.inference(LADIESLoader(data, batch_size=64, num_samples=64))


def test_partial_inference_with_sync_leaves_other_rows_nan(norm_cora):
    # Distributed inference covers a rank's own rows; 'sync' fills the rest.
    model, data, ptr, full = _clustered(norm_cora)
    model(data.x, full_adj_t(data))  # Exact histories for the other rows.
    owned = int(ptr[6])
    synced = []
    out = model.inference(EvalSubgraphLoader(data, ptr, 2, num_parts=6),
                          sync=synced.append)
    assert len(synced) == 2
    assert (out[:owned] - full[:owned]).abs().max() <= 1e-5
    assert bool(out[owned:].isnan().all())


def test_model_conversion_keeps_history_dtype(norm_cora):
    model, data, ptr, full = _clustered(norm_cora)
    for convert in (lambda m: m.double(), lambda m: m.half(),
                    lambda m: m.to(torch.bfloat16), lambda m: m.float()):
        convert(model)
        assert [h.dtype for h in model.histories] == [torch.float32] * 2
        assert [h.emb.dtype for h in model.histories] == [torch.float32] * 2
    # ... unless asked:
    model.histories.to(torch.float64)
    assert [h.dtype for h in model.histories] == [torch.float64] * 2
    bf16 = GCN(10, 3, 4, 2, num_layers=2, history_dtype=torch.bfloat16)
    assert bf16.double().histories[0].dtype == torch.bfloat16

    # A float64 model with float32 histories computes in float64:
    model = make_model('gcn', norm_cora).double()
    assert model.histories[0].dtype == torch.float32
    data = data.apply(lambda t: t.double() if t.is_floating_point() else t)
    out = model.inference(EvalSubgraphLoader(data, ptr, 2))
    assert out.dtype == torch.float64
    assert (out - full.double()).abs().max() <= 1e-4
    batch = next(iter(SubgraphLoader(data, ptr, 2)))
    out = model(batch.x, batch.adj_t, batch.batch_size, batch.n_id,
                batch.offset, batch.count)
    assert out.dtype == torch.float64


def test_input_dtype_must_match_the_model(norm_cora):
    model, data, ptr, _ = _clustered(norm_cora)
    match = (r"'x' has dtype torch.float64, but the model's parameters have "
             r"dtype torch.float32")
    with pytest.raises(TypeError, match=match):
        model(data.x.double(), full_adj_t(data))
    double = data.apply(lambda t: t.double() if t.is_floating_point() else t)
    with pytest.raises(TypeError, match=match):
        model.inference(EvalSubgraphLoader(double, ptr, 2))
    with pytest.raises(TypeError, match=match):
        model.forward_layerwise(data.x.double(), [full_adj_t(data)] * 3)


@pytest.mark.parametrize('name', ['gcn', 'sage'])
def test_double_model_on_float32_weights(norm_cora, name):
    # The loaders build edge weights (or unit values) in float32: a float64
    # model casts them and computes in float64, as the full graph does
    # (float64 histories too: they keep their storage type otherwise).
    model = make_model(name, norm_cora,
                       history_dtype=torch.float64).double()
    data = model.transform(norm_cora)
    data.x = data.x.double()
    perm, ptr = metis(data, 4, log=False)
    data = permute(data, perm)
    assert full_adj_t(data).dtype == torch.float32
    full = model(data.x, full_adj_t(data))
    assert full.dtype == torch.float64
    out = model.inference(EvalSubgraphLoader(data, ptr, 2))
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, full, atol=1e-10, rtol=1e-10)
    batch = next(iter(SubgraphLoader(data, ptr, 2)))
    out = model(batch.x, batch.adj_t, batch.batch_size, batch.n_id,
                batch.offset, batch.count)
    torch.testing.assert_close(out, full[batch.n_id[:batch.batch_size]],
                               atol=1e-10, rtol=1e-10)
    layerwise = model.forward_layerwise(data.x, [full_adj_t(data)] * 3)
    torch.testing.assert_close(layerwise, full, atol=1e-10, rtol=1e-10)
