r"""Saving, loading and predicting (pyg_gas.train.saved): exact round trips
against the trained model, subsets against the full prediction, the output
files of 'pyg-gas predict', bad inputs, and a grown graph."""
import csv
import json
import os
import os.path as osp
import warnings

import numpy as np
import pytest
import torch
from torch_geometric import seed_everything
from torch_geometric.data import Data
from torch_geometric.utils import subgraph

from pyg_gas import EvalSubgraphLoader, SubgraphLoader, metis, permute
from pyg_gas.nn.models import GCN
from pyg_gas.partition import original_ids
from pyg_gas.train import TrainConfig, fit, prepare, resolve, run
from pyg_gas.train.saved import (
    check_save_dir,
    load,
    parse_nodes,
    predict_to_file,
    save,
)

pytestmark = pytest.mark.usefixtures('single_thread')

#: Cora's nodes from this id on are left out of the training graph, and
#: come back as new nodes of the grown graph.
KEEP = 2408


def _accuracy(out, data, mask):
    correct = int((out.argmax(-1)[mask] == data.y[mask]).sum())
    return correct / int(mask.sum())


@pytest.fixture(scope='module')
def trained(cora, tmp_path_factory):
    r"""GCN trained with GAS on Cora without its last 300 nodes, saved with
    its histories; the engine keeps the trained model."""
    root = tmp_path_factory.mktemp('saved')
    keep = torch.arange(KEEP)
    edge_index, _ = subgraph(keep, cora.edge_index, num_nodes=cora.num_nodes)
    small = Data(x=cora.x[keep], y=cora.y[keep], edge_index=edge_index,
                 train_mask=cora.train_mask[keep],
                 val_mask=cora.val_mask[keep],
                 test_mask=cora.test_mask[keep],
                 num_classes=cora.num_classes)
    file = str(root / 'cora_small.pt')
    torch.save(small, file)
    config = TrainConfig(dataset=file, model='gcn', loader='gas', epochs=10,
                         lr=0.05, eval_every=10, progress=False,
                         device='cpu', save=str(root / 'model'),
                         save_histories=True)
    config = resolve(config)
    seed_everything(config.seed)  # As 'run' does.
    engine = prepare(config, torch.device('cpu'))
    result = fit(config, engine)
    return dict(config=config, engine=engine, result=result, small=small,
                path=config.save, root=root)


@pytest.fixture(scope='module')
def loaded(trained):
    return load(trained['path'])


def _inverse(perm):
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(perm.numel())
    return inv


def test_round_trip_equals_inference(trained, loaded):
    # The trained model's exact inference, put in the original order, is
    # what the loaded model predicts, bit for bit:
    engine = trained['engine']
    reference = engine.evaluate()[_inverse(loaded.perm)]
    out = loaded.predict()
    assert torch.equal(out, reference)
    assert out.shape == (KEEP, 7)
    # The final epoch's test accuracy, from the saved model:
    small = trained['small']
    assert _accuracy(out, small, small.test_mask) == pytest.approx(
        trained['result']['curve']['test_acc'][-1], abs=1e-12)
    assert torch.equal(loaded.predict_classes(), out.argmax(-1))
    assert trained['result']['saved'] == trained['path']
    assert 'TrainedModel(GCN' in repr(loaded) and 'histories=True' in repr(
        loaded)


def test_saved_files(trained, loaded):
    files = sorted(os.listdir(trained['path']))
    assert files == ['config.json', 'histories.pt', 'manifest.json',
                     'model.pt', 'partition.pt']
    with open(osp.join(trained['path'], 'manifest.json')) as f:
        meta = json.load(f)
    assert meta['num_nodes'] == KEEP and meta['partition'] == dict(
        num_parts=40, batch_size=10)
    assert loaded.config.num_parts == 40 and loaded.config.epochs == 10
    assert loaded.ptr.tolist()[-1] == KEEP
    assert torch.equal(loaded.perm.sort().values, torch.arange(KEEP))
    # The histories were filled by the final exact inference:
    engine = trained['engine']
    for saved, history in zip(loaded.histories, engine.model.histories):
        assert torch.equal(saved, history.emb)


def test_subset_equals_full_rows(loaded):
    full, emb = loaded.predict(), loaded.embed()
    nodes = torch.tensor([2407, 5, 0, 1300, 5, 777])  # Any order, repeats.
    assert torch.equal(loaded.predict(nodes=nodes), full[nodes])
    assert torch.equal(loaded.predict(nodes=nodes.tolist()), full[nodes])
    assert torch.equal(loaded.embed(nodes=nodes), emb[nodes])
    assert emb.shape == (KEEP, loaded.config.hidden)
    # Only the batches of clusters that hold the nodes are built:
    calls = []
    collater = loaded._collater()
    original = type(collater).__call__
    try:
        type(collater).__call__ = lambda self, parts: calls.append(
            parts) or original(self, parts)
        loaded.predict(nodes=torch.tensor([3]))
    finally:
        type(collater).__call__ = original
    assert len(calls) == 1 and len(calls[0]) == 10


def test_without_histories_subset_falls_back(trained, loaded, tmp_path):
    # Saving again over the saved model, without histories:
    engine, config = trained['engine'], trained['config']
    path = str(tmp_path / 'again')
    save(path, engine.model, config, trained['small'], loaded.perm,
         loaded.ptr)
    save(path, engine.model, config, trained['small'], loaded.perm,
         loaded.ptr)  # Overwrites its own earlier save.
    assert 'histories.pt' not in os.listdir(path)
    again = load(path)
    assert again.histories is None
    nodes = torch.tensor([9, 2000, 9])
    assert torch.equal(again.predict(nodes=nodes), loaded.predict()[nodes])


def test_grown_graph(trained, loaded, cora):
    # Inductive use: the whole of Cora, with 300 new nodes and their edges,
    # is partitioned anew and predicted with the saved weights.
    out = loaded.predict(data=cora)
    assert out.shape == (cora.num_nodes, 7)
    new = torch.zeros(cora.num_nodes, dtype=torch.bool)
    new[KEEP:] = True
    old = ~new
    assert _accuracy(out, cora, new) > 0.5  # Chance: 0.30 (largest class).
    agree = (out[old].argmax(-1) == loaded.predict().argmax(-1)).float()
    assert float(agree.mean()) > 0.9
    assert _accuracy(out, cora, cora.test_mask & old) > 0.6
    nodes = torch.tensor([2700, 3])
    assert torch.equal(loaded.predict(data=cora, nodes=nodes), out[nodes])
    # The training graph itself, given: clustered by the saved partition.
    assert torch.equal(loaded.predict(data=trained['small']),
                       loaded.predict())


def test_predict_to_file(loaded, trained, tmp_path):
    path = trained['path']
    full = loaded.predict()
    nodes = torch.tensor([4, 1, 2400])
    info = predict_to_file(path, str(tmp_path / 'p.pt'), nodes='4,1,2400')
    assert info == dict(out=str(tmp_path / 'p.pt'), num_nodes=3,
                        shape=[3, 7], kind='logits')
    saved = torch.load(tmp_path / 'p.pt', weights_only=True)
    assert torch.equal(saved['nodes'], nodes)
    assert torch.equal(saved['logits'], full[nodes])
    assert torch.equal(saved['pred'], full[nodes].argmax(-1))

    predict_to_file(path, str(tmp_path / 'all.npy'))
    assert np.array_equal(np.load(tmp_path / 'all.npy'), full.numpy())

    ids = tmp_path / 'ids.txt'
    ids.write_text('4\n1\n\n2400\n')
    predict_to_file(path, str(tmp_path / 'p.csv'), nodes=str(ids))
    with open(tmp_path / 'p.csv', newline='') as f:
        rows = list(csv.reader(f))
    assert rows[0] == ['node', 'pred'] + [f'logit_{j}' for j in range(7)]
    for row, node in zip(rows[1:], nodes.tolist()):
        assert int(row[0]) == node
        assert int(row[1]) == int(full[node].argmax())
        assert torch.equal(torch.tensor([float(v) for v in row[2:]]),
                           full[node])

    # The ids themselves, as the command line hands them over:
    predict_to_file(path, str(tmp_path / 'q.pt'), nodes=nodes)
    saved = torch.load(tmp_path / 'q.pt', weights_only=True)
    assert torch.equal(saved['logits'], full[nodes])

    np.save(tmp_path / 'ids.npy', np.array([7, 8]))
    info = predict_to_file(path, str(tmp_path / 'e.pt'),
                           nodes=str(tmp_path / 'ids.npy'), embeddings=True)
    saved = torch.load(tmp_path / 'e.pt', weights_only=True)
    assert info['kind'] == 'embeddings' and 'pred' not in saved
    assert torch.equal(saved['embeddings'],
                       loaded.embed(nodes=torch.tensor([7, 8])))


def test_parse_nodes(tmp_path):
    assert parse_nodes('0, 5,9').tolist() == [0, 5, 9]
    torch.save(torch.tensor([[3, 1]]), tmp_path / 'ids.pt')
    assert parse_nodes(str(tmp_path / 'ids.pt')).tolist() == [3, 1]
    with pytest.raises(ValueError, match="got 'a'"):
        parse_nodes('1,a')
    with pytest.raises(ValueError, match='does not exist'):
        parse_nodes(str(tmp_path / 'missing.txt'))
    (tmp_path / 'bad.txt').write_text('1\n2.5\n')
    with pytest.raises(ValueError, match="Line 2 .*got '2.5'"):
        parse_nodes(str(tmp_path / 'bad.txt'))
    np.save(tmp_path / 'float.npy', np.array([1.0]))
    with pytest.raises(ValueError, match='integer node ids .*float64'):
        parse_nodes(str(tmp_path / 'float.npy'))


def test_bad_inputs(trained, loaded, tmp_path):
    path = trained['path']
    with pytest.raises(ValueError, match=r'must be in \[0, 2407\] \(got '
                       r'2408'):
        predict_to_file(path, str(tmp_path / 'o.pt'), nodes='1,2408')
    with pytest.raises(ValueError, match=r'got -1'):
        loaded.predict(nodes=[-1])
    with pytest.raises(ValueError, match='integer node ids'):
        loaded.predict(nodes=torch.tensor([1.0]))
    with pytest.raises(ValueError, match='must end with one of'):
        predict_to_file(path, str(tmp_path / 'o.txt'))
    with pytest.raises(ValueError, match='not a directory'):
        load(str(tmp_path / 'missing'))
    foreign = tmp_path / 'foreign'
    foreign.mkdir()
    (foreign / 'notes.txt').write_text('mine')
    with pytest.raises(ValueError, match="holds no saved model"):
        load(str(foreign))
    with pytest.raises(ValueError, match="'notes.txt'"):
        check_save_dir(str(foreign))
    config = TrainConfig(save=str(foreign), epochs=1, progress=False)
    with pytest.raises(ValueError, match='not a saved model'):
        run(config)  # Refused before any work.
    assert os.listdir(foreign) == ['notes.txt']
    with pytest.raises(ValueError, match="pass 'save'"):
        run(TrainConfig(save_histories=True, epochs=1, progress=False))


def test_interrupted_or_edited_save(trained, tmp_path):
    import shutil
    copy = str(tmp_path / 'copy')
    shutil.copytree(trained['path'], copy)
    with open(osp.join(copy, 'partition.pt'), 'ab') as f:
        f.write(b'\0')
    with pytest.raises(ValueError, match="partition.pt' of the saved model "
                       "has changed"):
        load(copy)
    shutil.copy(osp.join(trained['path'], 'partition.pt'), copy)
    load(copy)
    with open(osp.join(copy, 'config.json'), 'r+b') as f:
        f.seek(5)  # Same size, one byte edited.
        byte = f.read(1)
        f.seek(5)
        f.write(b'X' if byte != b'X' else b'Y')
    with pytest.raises(ValueError, match="config.json' of the saved model"):
        load(copy, verify=True)
    os.remove(osp.join(copy, 'manifest.json'))  # As if interrupted.
    with pytest.raises(ValueError, match='may have been interrupted'):
        load(copy)
    check_save_dir(copy)  # Its own files: may be saved over.


def test_run_with_save_full_loader(tmp_path, cora):
    # 'save' through 'run': a full-batch model keeps the graph's order and
    # saves no partition; its histories cover the whole graph.
    path = str(tmp_path / 'full')
    result = run(TrainConfig(dataset='cora', loader='full', epochs=2,
                             progress=False, device='cpu', save=path,
                             save_histories=True))
    trained = load(path)
    assert trained.perm is None and trained.ptr is None
    out = trained.predict()
    assert _accuracy(out, cora, cora.test_mask) == pytest.approx(
        result['curve']['test_acc'][-1], abs=1e-12)
    nodes = torch.tensor([8, 3])
    assert torch.equal(trained.predict(nodes=nodes), out[nodes])
    assert torch.equal(trained.embed(nodes=nodes), trained.embed()[nodes])


def test_inference_original_order(norm_cora):
    torch.manual_seed(0)
    model = GCN(norm_cora.num_nodes, norm_cora.num_features, 16, 7, 2).eval()
    data = model.transform(norm_cora)
    perm, ptr = metis(data, 8, log=False)
    clustered = permute(data, perm)
    assert torch.equal(original_ids(clustered), perm)
    assert original_ids(data) is None
    # Not a node attribute: batches do not carry it.
    assert set(clustered.keys()) == set(data.keys())
    batch = next(iter(SubgraphLoader(clustered, ptr, batch_size=2)))
    assert 'perm' not in batch and batch.x.size(0) == batch.n_id.numel()
    # Permuting again composes:
    again = permute(clustered, torch.arange(data.num_nodes).flip(0))
    assert torch.equal(original_ids(again), perm.flip(0))

    loader = EvalSubgraphLoader(clustered, ptr, batch_size=3)
    out = model.inference(loader)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(perm.numel())
    assert torch.equal(model.inference(loader, original_order=True),
                       out[inv])
    assert torch.equal(model.inference(loader, original_order=perm),
                       out[inv])
    written = torch.empty_like(out)
    model.inference(loader, out=written, original_order=True)
    assert torch.equal(written, out[inv])
    from pyg_gas.graph import to_adj_t
    full = model(data.x, to_adj_t(data.edge_index, data.num_nodes,
                                  data.edge_weight))
    torch.testing.assert_close(out[inv], full)
    with warnings.catch_warnings():  # The order is meant here.
        warnings.simplefilter('ignore')
        unclustered = EvalSubgraphLoader(data, ptr)
    with pytest.raises(ValueError, match='records its original node ids'):
        model.inference(unclustered, original_order=True)
    with pytest.raises(ValueError, match='permutation of'):
        model.inference(loader, original_order=perm[:-1])


@pytest.mark.slow
def test_distributed_save(tmp_path, cora):
    # Rank 0 saves the weights and the partition; the loaded model predicts
    # what the distributed inference computed.
    path = str(tmp_path / 'dist')
    result = run(TrainConfig(dataset='cora', loader='gas', epochs=2,
                             nproc=2, progress=False, device='cpu',
                             save=path))
    trained = load(path)
    assert trained.histories is None and trained.ptr.numel() == 41
    assert _accuracy(trained.predict(), cora, cora.test_mask) == \
        pytest.approx(result['curve']['test_acc'][-1], abs=1e-12)
    with pytest.raises(ValueError, match='runs of one process'):
        run(TrainConfig(dataset='cora', loader='gas', epochs=1, nproc=2,
                        progress=False, device='cpu', save=path,
                        save_histories=True))


def test_cli_predict(trained, loaded, tmp_path, capsys):
    # 'pyg-gas predict' hands its options to predict_to_file:
    from pyg_gas.cli import main
    out = str(tmp_path / 'cli.pt')
    assert main(['predict', trained['path'], '--out', out,
                 '--nodes', '4,1']) == 0
    info = json.loads(capsys.readouterr().out)
    assert info == dict(out=out, num_nodes=2, shape=[2, 7], kind='logits')
    saved = torch.load(out, weights_only=True)
    assert torch.equal(saved['logits'], loaded.predict(nodes=[4, 1]))


@pytest.mark.slow
def test_prepared_dataset(tmp_path, cora):
    # A model trained from a prepared dataset reloads it, with its
    # partition, and predicts subsets from its histories.
    from pyg_gas.storage import prepare as prepare_dataset
    data_dir, path = str(tmp_path / 'prepared'), str(tmp_path / 'model')
    prepare_dataset(cora, data_dir, num_parts=20, name='cora',
                    normalize_features=True, log=False)
    result = run(TrainConfig(data_dir=data_dir, loader='gas', epochs=2,
                             progress=False, device='cpu', save=path,
                             save_histories=True))
    trained = load(path)
    out = trained.predict()
    assert _accuracy(out, cora, cora.test_mask) == pytest.approx(
        result['curve']['test_acc'][-1], abs=1e-12)
    nodes = torch.tensor([3, 2700, 100])
    assert torch.equal(trained.predict(nodes=nodes), out[nodes])
    other = str(tmp_path / 'other')  # Prepared with another partition:
    perm = torch.randperm(cora.num_nodes, generator=torch.Generator(
    ).manual_seed(0))
    ptr = torch.linspace(0, cora.num_nodes, 21).round().long()
    prepare_dataset(cora, other, perm=perm, ptr=ptr, name='cora',
                    normalize_features=True, log=False)
    with pytest.raises(ValueError, match='partitioned otherwise'):
        load(path, data_dir=other).predict()


def test_split_clusters_round_trip(cora, tmp_path):
    # A model trained on clusters split by 'max_cluster_edges' saves the
    # split boundaries, and predicts exactly what its inference computed.
    config = resolve(TrainConfig(dataset='cora', epochs=2, progress=False,
                                 device='cpu', max_cluster_edges=300,
                                 save=str(tmp_path / 'model')))
    seed_everything(config.seed)
    engine = prepare(config, torch.device('cpu'))
    result = fit(config, engine)
    ptr = engine.loader.ptr
    assert result['batches_per_epoch'] == len(engine.loader)
    assert ptr.numel() - 1 > config.num_parts
    loaded = load(config.save)
    assert torch.equal(loaded.ptr, ptr)
    reference = engine.evaluate()[_inverse(loaded.perm)]
    assert torch.equal(loaded.predict(), reference)
    assert torch.equal(loaded.predict(data=cora), reference)
