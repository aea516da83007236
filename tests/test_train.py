import json
import subprocess
import sys

import pytest

from pyg_gas.cli import main
from pyg_gas.train import TrainConfig, resolve, run

JSON_FIELDS = ('dataset', 'model', 'loader', 'epochs', 'best_val_acc',
               'test_acc', 'epoch_time_s', 'peak_memory_bytes', 'num_params')


def _run(seed, loader, model='gcn', **kwargs):
    config = TrainConfig(dataset='cora', model=model, loader=loader,
                         seed=seed, progress=False, **kwargs)
    return run(config)


@pytest.mark.parametrize('loader', ['gas', 'cluster', 'full', 'ladies'])
def test_run_result_fields(loader, tmp_path):
    path = tmp_path / 'out' / 'result.json'
    result = _run(1, loader, model='sage', epochs=3, json=str(path))
    on_disk = json.loads(path.read_text())
    for key in JSON_FIELDS:
        assert key in on_disk, key
    assert on_disk['epochs'] == 3 and on_disk['loader'] == loader
    assert on_disk['model'] == 'sage'
    assert 0.0 <= on_disk['test_acc'] <= 1.0
    assert on_disk['epoch_time_s'] > 0 and on_disk['peak_memory_bytes'] > 0
    # SAGE 2x16 on 1433 features: two weight matrices per layer + bias.
    assert on_disk['num_params'] == (2 * 1433 * 16 + 16) + (2 * 16 * 7 + 7)
    assert on_disk['test_acc'] == result['test_acc']
    assert [p.name for p in path.parent.iterdir()] == ['result.json']
    if loader == 'gas':
        assert on_disk['mean_halo_staleness'] >= 0


def test_cli_end_to_end(tmp_path):
    path = tmp_path / 'cli.json'
    cmd = [sys.executable, '-m', 'pyg_gas.cli', 'train', '--dataset', 'cora',
           '--loader', 'gas', '--model', 'gcn', '--epochs', '5',
           '--num-parts', '8', '--batch-size', '2', '--hidden', '8',
           '--layers', '3', '--seed', '3', '--json', str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert 'Epoch: 005, Loss: ' in proc.stderr  # PyG's log line
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    result = json.loads(path.read_text())
    for key in JSON_FIELDS:
        assert result[key] == summary[key]
    assert result['config']['num_parts'] == 8
    assert result['config']['layers'] == 3


def test_cli_errors(capsys):
    assert main(['train', '--epochs', '0', '--no-progress']) == 2
    assert "'epochs' must be at least 1" in capsys.readouterr().err
    assert main(['train', '--num-parts', '5000', '--no-progress']) == 2
    assert "'num_parts' must be in [1, 2708]" in capsys.readouterr().err
    assert main(['train', '--dataset', 'nope', '--no-progress']) == 2
    assert 'nope' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(['train', '--loader', 'bogus'])


def test_resolve_presets():
    config = resolve(TrainConfig(dataset='cora', model='gcn'))
    assert (config.hidden, config.layers, config.num_parts) == (16, 2, 40)
    assert config.normalize_features is True
    config = resolve(TrainConfig(dataset='cora', hidden=64))
    assert config.hidden == 64
    # The layer-wise loaders count output nodes, not clusters:
    config = resolve(TrainConfig(dataset='cora', loader='ladies'))
    assert (config.batch_size, config.num_samples) == (64, 128)
    config = resolve(TrainConfig(dataset='cora', model='pna'))
    assert config.batch_size == 20 and config.batch_norm is True
    with pytest.raises(ValueError, match="'model'"):
        resolve(TrainConfig(model='mlp'))
    with pytest.raises(ValueError, match="'device'"):
        resolve(TrainConfig(device='tpu'))


@pytest.mark.parametrize('loader', ['full', 'ladies'])
def test_eval_parts_is_exact(loader):
    # Layer-wise inference over node ranges evaluates exactly like the
    # whole-graph forward, so the whole run is the same.
    kwargs = dict(loader=loader, epochs=3, progress=False, seed=1)
    whole = run(TrainConfig(**kwargs))
    parts = run(TrainConfig(eval_parts=5, **kwargs))
    for key in ('best_val_acc', 'test_acc', 'train_acc', 'best_epoch'):
        assert whole[key] == parts[key], key
    with pytest.raises(ValueError, match="'eval_parts' must be at least 0"):
        run(TrainConfig(eval_parts=-1, **kwargs))
    with pytest.raises(ValueError, match="'eval_parts' must be in"):
        run(TrainConfig(eval_parts=10**6, **kwargs))


def test_history_dtype():
    result = run(TrainConfig(loader='gas', epochs=2, progress=False,
                             history_dtype='bfloat16'))
    assert result['config']['history_dtype'] == 'bfloat16'
    assert result['num_edges'] == 10_556 + 2_708  # Self-loops added.
    with pytest.raises(ValueError, match="'history_dtype' must be one of"):
        run(TrainConfig(history_dtype='int8', progress=False))
