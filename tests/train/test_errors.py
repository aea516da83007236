r"""Bad input to a training run fails fast, in one line, before any work."""
import copy
import re
import time

import pytest
import torch

import pyg_gas.train.build
from pyg_gas.cli import main
from pyg_gas.datasets import load_dataset
from pyg_gas.train import TrainConfig, resolve, run


@pytest.mark.parametrize('args, message', [
    (['--heads', '0'], "'heads' must be at least 1 (got 0)"),
    (['--dropout', '1.5'], "'dropout' must be in [0.0, 1.0)"),
    (['--lr', '-1'], "'lr' must be in [0.0, inf]"),
    (['--loader', 'ladies', '--model', 'gat'],
     "'gat' does not; use one of ['appnp', 'gcn', 'gcn2', 'gin', 'sage']"),
])
def test_cli_refuses_bad_options_in_one_line(args, message, capsys):
    assert main(['train', '--no-progress'] + args) == 2
    err = capsys.readouterr().err
    assert err.startswith('pyg-gas: error: ') and message in err
    assert err.count('\n') == 1


@pytest.mark.parametrize('argv, message', [
    (['train', '--model', 'mlp'], "argument --model: invalid choice: 'mlp'"),
    (['train', '--epochs', 'abc'],
     "argument --epochs: invalid int value: 'abc'"),
    (['train', '--drop-input', 'maybe'],
     "argument --drop-input: expected true or false (got 'maybe')"),
    (['train', '--foo'], 'unrecognized arguments: --foo'),
    ([], 'the following arguments are required: command'),
])
def test_cli_refuses_a_bad_command_line_in_one_line(argv, message, capsys):
    # It was argparse's usage text followed by the error.
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith('pyg-gas: error: ') and message in err
    assert err.count('\n') == 1 and "--help')" in err


@pytest.mark.parametrize('key', ['json', 'cache_dir', 'checkpoint', 'root'])
def test_paths_under_a_file_fail_before_any_work(key, tmp_path):
    file = tmp_path / 'file'
    file.write_text('')
    path = str(file / 'below' / ('out.json' if key == 'json' else 'dir'))
    t = time.perf_counter()
    with pytest.raises(ValueError, match=f"'{key}' must be a directory, but "
                       f"'{file}' is a file"):
        run(TrainConfig(progress=False, **{key: path}))
    assert time.perf_counter() - t < 1.0  # Before loading or partitioning.


def test_json_path_that_is_a_directory(tmp_path):
    with pytest.raises(ValueError, match="'json' must be a file path"):
        resolve(TrainConfig(json=str(tmp_path)))


def _patch_dataset(monkeypatch, change):
    data = change(copy.copy(load_dataset('cora')))
    monkeypatch.setattr(pyg_gas.train.build, 'load_dataset',
                        lambda name, root=None: data)


@pytest.mark.parametrize('change, message', [
    (lambda d: d.__delattr__('train_mask') or d,
     "has no 'train_mask': expected a boolean mask with one row per node "
     "(2708)"),
    (lambda d: setattr(d, 'y', d.y.float()) or d,
     "has a 'y' of dtype torch.float32 and shape [2708]: expected integer "
     "class labels"),
    (lambda d: setattr(d, 'val_mask', d.val_mask[:-1]) or d,
     "has a 'val_mask' of dtype torch.bool and shape [2707]"),
])
def test_labels_and_masks_are_checked_at_load(monkeypatch, change, message):
    _patch_dataset(monkeypatch, change)
    with pytest.raises(ValueError, match=re.escape(message)):
        run(TrainConfig(loader='full', epochs=1, progress=False))


def test_non_finite_loss_stops_the_run(monkeypatch):
    def poison(data):
        data.x = data.x.clone()
        data.x[data.train_mask.nonzero()[0]] = float('nan')
        return data

    _patch_dataset(monkeypatch, poison)
    with pytest.raises(FloatingPointError, match='The training loss is nan '
                       'at epoch 1, step 1: the run stops'):
        run(TrainConfig(loader='full', epochs=3, progress=False,
                        normalize_features=False))


def test_interrupt_leaves_no_traceback(monkeypatch, capsys):
    def interrupt(config):
        raise KeyboardInterrupt

    monkeypatch.setattr('pyg_gas.cli.run', interrupt)
    assert main(['train']) == 130
    assert capsys.readouterr().err == 'pyg-gas: interrupted\n'


def test_layerwise_models_use_edge_weights(cora):
    # The models that the layer-wise loaders accept weigh messages by the
    # sampled adjacency's values; those they refuse ignore them.
    from pyg_gas.loader import LADIESLoader
    from pyg_gas.train import MODELS, build_model
    for name, cls in MODELS.items():
        config = resolve(TrainConfig(model=name, hidden=16, layers=2))
        torch.manual_seed(0)
        model = build_model(config, cora).eval()
        data = model.transform(cora)
        batch = next(iter(LADIESLoader(data, input_nodes=data.train_mask,
                                       batch_size=32, num_samples=64,
                                       seed=0)))
        out = model.forward_layerwise(batch.x, batch.adjs_t)
        scaled = [torch.sparse_csr_tensor(
            a.crow_indices(), a.col_indices(),
            a.values() * torch.rand(a.values().numel()), a.shape)
            for a in batch.adjs_t]
        changed = not torch.allclose(out, model.forward_layerwise(
            batch.x, scaled))
        assert changed == cls.uses_edge_weight, name
