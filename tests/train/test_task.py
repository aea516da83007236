r"""Losses and metrics of single- and multi-label runs, gradient clipping,
feature standardization, and the per-dataset presets."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Data

import pyg_gas.train.loop as loop
from pyg_gas.datasets import load_dataset
from pyg_gas.train import TrainConfig, resolve, run
from pyg_gas.train.build import check_labels, standardize_features
from pyg_gas.train.loop import Engine, Reducer, train_epoch
from pyg_gas.train.presets import (
    GAS_PRESETS,
    PRESETS,
    find_preset,
    preset_name,
)
from pyg_gas.train.task import MultiLabelTask, Task, check_targets, task_of

# Task ########################################################################


def test_single_label_loss_and_accuracy():
    out = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0],
                        [1.0, 0.0, 0.0]])
    y = torch.tensor([0, 2, 2, 1])
    task = task_of(y)
    assert type(task) is Task and task.metric == 'accuracy'
    torch.testing.assert_close(task.loss_sum(out, y),
                               F.cross_entropy(out, y, reduction='sum'))
    mask = torch.tensor([True, True, True, False])
    assert task.counts(out, y, mask) == [2.0, 3.0]
    assert task.score([2.0, 3.0]) == pytest.approx(2 / 3)
    assert math.isnan(task.score([0.0, 0.0]))


def test_multi_label_loss_and_micro_f1():
    out = torch.tensor([[1.0, -1.0, 2.0], [-1.0, 3.0, -2.0],
                        [0.5, 0.5, -0.5]])
    y = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    task = task_of(y)
    assert isinstance(task, MultiLabelTask) and task.metric == 'micro-F1'
    # Per node the mean over labels, summed over nodes:
    expected = F.binary_cross_entropy_with_logits(
        out, y, reduction='none').mean(dim=1).sum()
    torch.testing.assert_close(task.loss_sum(out, y), expected)
    # Predicted (logit > 0): {0, 2}, {1}, {0, 1}; true: {0}, {1, 2},
    # {0, 1, 2}: TP 4 (0/0, 1/1, 2/0, 2/1), FP 1 (0/2), FN 2 (1/2, 2/2).
    mask = torch.ones(3, dtype=torch.bool)
    assert task.counts(out, y, mask) == [4.0, 1.0, 2.0]
    assert task.score([4.0, 1.0, 2.0]) == pytest.approx(8 / 11)
    assert task.counts(out, y, torch.tensor([False, True, False])) == [
        1.0, 0.0, 1.0]
    assert math.isnan(task.score([0.0, 0.0, 0.0]))


@pytest.mark.parametrize('multilabel', [False, True])
def test_counts_block_by_block(monkeypatch, multilabel):
    # 'evaluate' scores an output (maybe a file larger than memory) a block
    # of rows at a time: the sums equal the counts of the whole output,
    # with blocks that do not divide the rows.
    gen = torch.Generator().manual_seed(0)
    out = torch.randn(50, 4, generator=gen)
    y = ((torch.rand(50, 4, generator=gen) > 0.5).float() if multilabel
         else torch.randint(4, (50, ), generator=gen))
    masks = [torch.rand(50, generator=gen) > p for p in (0.3, 0.6, 1.0)]
    task = task_of(y)
    whole = [c for mask in masks for c in task.counts(out, y, mask)]
    assert whole[-task.num_counts:] == [0.0] * task.num_counts
    assert sum(whole) > 0
    monkeypatch.setattr(loop, 'EVAL_BLOCK_ROWS', 7)
    assert loop._counts(task, out, y, masks) == whole
    assert loop._counts(task, out[:0], y[:0], [m[:0] for m in masks]) == \
        [0.0] * len(whole)


def test_check_targets():
    check_targets(torch.tensor([0, 2, -1]), 3, 'd')  # -1: unlabelled.
    with pytest.raises(ValueError, match=r"labels 'y' in \[0, 3\].*"
                       r"'num_classes' is 3"):
        check_targets(torch.tensor([0, 3]), 3, 'd')
    with pytest.raises(ValueError, match='4 columns'):
        check_targets(torch.zeros(2, 4), 3, 'd')
    with pytest.raises(ValueError, match='other than 0 and 1'):
        check_targets(torch.full((2, 3), 0.5), 3, 'd')


def _graph(y: torch.Tensor, num_classes: int) -> Data:
    n = y.size(0)
    mask = torch.ones(n, dtype=torch.bool)
    return Data(x=torch.randn(n, 2), y=y, train_mask=mask, val_mask=mask,
                test_mask=mask, num_classes=num_classes, num_nodes=n)


def test_check_labels_multi_label_and_unlabelled():
    check_labels(_graph(torch.randint(0, 2, (5, 3)).float(), 3))
    with pytest.raises(ValueError, match='2 nodes without a label'):
        check_labels(_graph(torch.tensor([0, -1, 1, -1, 0]), 2))
    data = _graph(torch.tensor([0, -1, 1, -1, 0]), 2)
    data.train_mask = data.val_mask = data.test_mask = data.y >= 0
    check_labels(data)  # Unlabelled nodes outside every mask are fine.


def test_cora_as_multi_label_learns(monkeypatch):
    # Cora's classes as one-hot multi-label targets: BCE training, micro-F1.
    import pyg_gas.train.build as build

    data = load_dataset('cora')
    one_hot = F.one_hot(data.y, 7).float()
    wrong = F.one_hot((data.y + 1) % 7, 7).float() * 20 - 10
    task = MultiLabelTask()
    assert task.score(task.counts(wrong, one_hot, data.test_mask)) == 0.0
    load = build.load_dataset

    def multi_label(name, root=None, **kwargs):
        out = load(name, root=root, **kwargs)
        out.y = one_hot
        return out

    monkeypatch.setattr(build, 'load_dataset', multi_label)
    result = run(TrainConfig(epochs=50, hidden=32, lr=0.05, weight_decay=0.0,
                             progress=False))
    assert result['metric'] == 'micro-F1'
    assert 0.65 <= result['test_acc'] <= 1.0  # 0.74 measured.


# Gradient clipping ###########################################################


def test_grad_norm_clips_every_step():
    lin = torch.nn.Linear(4, 3)
    norms = []

    class Model(torch.nn.Module):
        histories = []

        def __init__(self):
            super().__init__()
            self.lin = lin

    def step():  # Records the norm the optimizer sees.
        norms.append(float(torch.cat([p.grad.view(-1)
                                      for p in lin.parameters()]).norm()))

    batch = Data(x=torch.randn(8, 4) * 100, y=torch.arange(8) % 3,
                 train_mask=torch.ones(8, dtype=torch.bool))
    batch.batch_size = 8
    model = Model()
    engine = Engine(model=model, module=model, device=torch.device('cpu'),
                    loader=[batch, batch], forward=lambda m, b: m.lin(b.x),
                    evaluate=None, y=None, masks=[], save=None, load=None,
                    reducer=Reducer())
    optimizer = torch.optim.SGD(lin.parameters(), lr=0.0)
    optimizer.step = step
    train_epoch(engine, optimizer, 1)
    assert min(norms) > 1.0  # Large features, large gradients.
    norms.clear()
    train_epoch(engine, optimizer, 1, grad_norm=0.5)
    assert norms == pytest.approx([0.5, 0.5])


def test_standardize_features():
    x = torch.tensor([[1.0, 5.0, 2.0], [3.0, 5.0, 4.0], [5.0, 5.0, 9.0]])
    data = Data(x=x, num_nodes=3)
    out = standardize_features(data)
    assert out is not data and data.x is x
    torch.testing.assert_close(out.x.mean(dim=0), torch.zeros(3))
    torch.testing.assert_close(out.x[:, 0], torch.tensor([-1.0, 0.0, 1.0]))
    assert out.x[:, 1].tolist() == [0.0, 0.0, 0.0]  # A constant column.
    torch.testing.assert_close(out.x[:, [0, 2]].std(dim=0), torch.ones(2))


# Presets #####################################################################


def test_presets_per_dataset():
    # The partition of the GAS paper's GCN per Planetoid graph:
    parts = {name: (PRESETS[name]['gcn']['num_parts'],
                    PRESETS[name]['gcn']['batch_size'])
             for name in ('cora', 'citeseer', 'pubmed', 'coauthor-cs',
                          'coauthor-physics')}
    assert parts == {'cora': (40, 10), 'citeseer': (24, 8),
                     'pubmed': (8, 4), 'coauthor-cs': (2, 1),
                     'coauthor-physics': (4, 2)}
    for spelling in ('planetoid:CiteSeer', 'CITESEER', 'citeseer'):
        config = resolve(TrainConfig(dataset=spelling))
        assert (config.num_parts, config.batch_size) == (24, 8)
        assert config.normalize_features is True
    # Every dataset of the paper has a GCN preset with every field set:
    assert set(GAS_PRESETS) == {
        'cora', 'citeseer', 'pubmed', 'coauthor-cs', 'coauthor-physics',
        'amazon-computers', 'amazon-photo', 'wikics', 'reddit2', 'flickr',
        'yelp', 'ppi', 'ogbn-arxiv', 'ogbn-products'}
    fields = {'num_parts', 'batch_size', 'hidden', 'layers', 'dropout', 'lr',
              'weight_decay', 'nonreg_weight_decay', 'grad_norm', 'epochs'}
    for name, models in GAS_PRESETS.items():
        for model, values in models.items():
            assert fields <= set(values), (name, model)
    # Yelp and Reddit2 standardize their features; Reddit takes Reddit2's:
    assert resolve(TrainConfig(dataset='yelp')).standardize_features
    assert preset_name('Reddit') == 'reddit2'
    assert resolve(TrainConfig(dataset='reddit')).hidden == 256


def test_preset_fallbacks():
    # A model without an entry takes the dataset's GCN preset:
    values, source = find_preset('citeseer', 'sage')
    assert values == PRESETS['citeseer']['gcn']
    assert source == 'GAS paper: citeseer/gcn (no sage entry)'
    assert find_preset('cora', 'gat')[1] == 'GAS paper: cora/gat'
    assert find_preset('cora', 'pna')[1] == 'pyg_gas: cora/pna'
    assert find_preset('synthetic', 'gcn') == ({}, None)
    # GAT ties its attention dropout to the dropout and decays all weights:
    gat = PRESETS['pubmed']['gat']
    assert (gat['attn_dropout'], gat['out_heads']) == (0.6, 8)
    assert gat['nonreg_weight_decay'] == gat['weight_decay'] == 0.001
    config = resolve(TrainConfig(dataset='planetoid:pubmed', model='gat'))
    assert (config.heads, config.out_heads, config.epochs) == (8, 8, 400)
    # No preset: the generic defaults.
    config = resolve(TrainConfig(dataset='synthetic'))
    assert (config.hidden, config.grad_norm) == (256, 0.0)


def test_grad_norm_is_checked():
    with pytest.raises(ValueError, match="'grad_norm'"):
        resolve(TrainConfig(grad_norm=-1.0))
    with pytest.raises(ValueError, match="'out_heads' must be at least 1"):
        resolve(TrainConfig(model='gat', out_heads=0))


def test_train_help_lists_datasets_and_presets(capsys):
    from pyg_gas.cli import main
    from pyg_gas.datasets import DATASETS

    with pytest.raises(SystemExit) as exit_info:
        main(['train', '--help'])
    assert exit_info.value.code == 0
    out = ' '.join(capsys.readouterr().out.split())
    assert "take, when left out, the GAS paper's value for the dataset and " \
        "model" in out
    assert ', '.join(DATASETS) in out
    assert 'cora: gcn, gat, appnp, gcn2, sage*, gin*, pna*' in out
    assert 'amazon-photo: gcn, appnp, gcn2 ' in out
    assert 'reddit -> reddit2' in out
