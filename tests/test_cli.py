r"""The ``pyg-gas`` command line: a torch-free --help, --x/--no-x switches,
configuration files, --print-config, and the predict and plot commands."""
import argparse
import importlib.util
import json
import subprocess
import sys
import types
from dataclasses import asdict, fields

import pytest
import yaml

import pyg_gas
from pyg_gas.cli import Switch, build_parser, main
from pyg_gas.train import TrainConfig, resolve
from pyg_gas.train.options import read_config
from pyg_gas.train.presets import DEFAULTS, PRESETS

COMMANDS = ('train', 'prepare', 'predict', 'plot')


def _subparsers(parser):
    action = next(a for a in parser._actions
                  if isinstance(a, argparse._SubParsersAction))
    return action.choices


def _help(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv + ['--help'])
    assert info.value.code == 0
    return ' '.join(capsys.readouterr().out.split())


def _error(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith('pyg-gas: error: ') and err.count('\n') == 1
    return err


def test_help_needs_no_torch():
    # In a fresh process: every --help, and the version, without torch,
    # torch_geometric or numpy.
    code = f"""
import contextlib, io, sys
from pyg_gas.cli import main
for argv in ([], *[[c] for c in {COMMANDS!r}]):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            main(argv + ['--help'])
        except SystemExit as e:
            assert e.code == 0, (argv, e.code)
    assert 'usage: pyg-gas' in out.getvalue()
import pyg_gas
assert pyg_gas.__version__
print(sorted(m for m in ('torch', 'torch_geometric', 'numpy')
             if m in sys.modules))
"""
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == '[]'


def test_public_names_stay_lazy_aliases():
    assert pyg_gas.History is importlib.import_module(
        'pyg_gas.history').History
    assert pyg_gas.metis is importlib.import_module('pyg_gas.partition').metis
    assert set(pyg_gas.__all__) <= set(dir(pyg_gas))
    assert pyg_gas._EXPORTS['load'] == 'pyg_gas.train.saved'
    if importlib.util.find_spec('pyg_gas.train.saved') is not None:
        assert pyg_gas.load is importlib.import_module(
            'pyg_gas.train.saved').load
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        pyg_gas.nope  # noqa: B018
    train = importlib.import_module('pyg_gas.train')
    assert train.TrainConfig is importlib.import_module(
        'pyg_gas.train.config').TrainConfig
    assert train.TrainConfig is importlib.import_module(
        'pyg_gas.train.options').TrainConfig


def test_choices_match_the_registries():
    from pyg_gas.datasets import (
        DATASETS,
        PLANETOID_NAMES,
        PYG_DATASETS,
        SYNTHETIC_PRESETS,
    )
    from pyg_gas.datasets.ogb import OGB_PREFIX
    from pyg_gas.datasets.registry import DATASETS as REGISTRY
    from pyg_gas.train.build import HISTORY_DTYPES, LOADERS, MODELS
    from pyg_gas.train.options import (
        HISTORY_DTYPE_NAMES,
        LOADER_NAMES,
        MODEL_NAMES,
    )

    assert MODEL_NAMES == tuple(MODELS)
    assert LOADER_NAMES == tuple(LOADERS)
    assert HISTORY_DTYPE_NAMES == tuple(HISTORY_DTYPES)
    assert DATASETS is REGISTRY
    assert DATASETS == (
        ('cora', 'citeseer', 'pubmed') +
        tuple(f'planetoid:{name}' for name in PLANETOID_NAMES.values()) +
        tuple(PYG_DATASETS) + (f'{OGB_PREFIX}NAME', 'synthetic') +
        tuple(SYNTHETIC_PRESETS))


def test_every_option_has_help():
    parser = build_parser()
    for name, sub in [('pyg-gas', parser), *_subparsers(parser).items()]:
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help and action.help != argparse.SUPPRESS, \
                (name, action.option_strings)
    train = _subparsers(parser)['train']
    dests = {a.dest for a in train._actions}
    assert {f.name for f in fields(TrainConfig)} <= dests


@pytest.mark.parametrize('argv, dataset, model, loader', [
    ([], 'cora', 'gcn', 'gas'),
    (['--dataset', 'ogbn-arxiv', '--model', 'gcn2'], 'ogbn-arxiv', 'gcn2',
     'gas'),
    (['--model=sage', '--loader', 'ladies'], 'cora', 'sage', 'ladies'),
])
def test_help_shows_the_presets_of_the_command_line(argv, dataset, model,
                                                    loader):
    # The value that each preset option's help shows is the one a run of
    # that dataset, model and loader takes.
    train = _subparsers(build_parser(['train'] + argv))['train']
    resolved = resolve(TrainConfig(dataset=dataset, model=model,
                                   loader=loader))
    where = f'preset for {dataset}/{model}' + (
        f' with {loader}' if loader != 'gas' else '')
    checked = 0
    for action in train._actions:
        if action.help and '(preset for' in action.help:
            value = getattr(resolved, action.dest)
            assert action.help.endswith(f'({where}: {value})'), action.help
            checked += 1
    assert checked == len(DEFAULTS)


def test_help_text_of_train_and_prepare(capsys):
    out = _help(['train'], capsys)
    epochs = PRESETS['cora']['gcn']['epochs']
    assert f'--epochs EPOCHS training epochs (preset for cora/gcn: ' \
        f'{epochs})' in out
    assert '--residual, --no-residual residual connections' in out
    assert '--progress, --no-progress progress bars, on a terminal ' \
        '(--no-progress: none; the log lines stay unless --quiet)' in out
    out = _help(['prepare', '--dataset', 'citeseer'], capsys)
    parts = PRESETS['citeseer']['gcn']['num_parts']
    assert f'--num-parts P the number of clusters (preset for citeseer: ' \
        f'{parts})' in out
    assert '--normalize-features, --no-normalize-features' in out


def _train_args(argv):
    return build_parser(argv).parse_args(argv)


def test_switches():
    args = _train_args(['train'])
    assert not hasattr(args, 'residual') and not hasattr(args, 'progress')
    for given, value in ((['--residual'], True), (['--no-residual'], False),
                         (['--residual', 'false'], False),
                         (['--residual=yes'], True),
                         (['--residual', '0'], False),
                         (['--no-progress'], False),
                         (['--quiet'], True)):
        args = _train_args(['train'] + given)
        dest = given[0].split('=')[0].lstrip('-').replace('no-', '', 1) \
            .replace('-', '_')
        assert getattr(args, dest) is value, given
    # The last one given wins:
    args = _train_args(['train', '--residual', '--no-residual'])
    assert args.residual is False
    args = _train_args(['prepare', '--out', 'x', '--normalize-features',
                        'false', '--no-progress'])
    assert (args.normalize_features, args.progress) == (False, False)
    assert args.overwrite is False
    train = _subparsers(build_parser())['train']
    switches = {a.dest for a in train._actions if isinstance(a, Switch)}
    assert switches == {f.name for f in fields(TrainConfig)
                        if 'bool' in str(f.type)}


@pytest.mark.parametrize('argv, message', [
    (['train', '--no-residual', 'true'],
     "argument --no-residual: takes no value (got 'true')"),
    (['train', '--residual', 'maybe'],
     "argument --residual: expected true or false (got 'maybe')"),
    (['predict', 'dir'], 'the following arguments are required: --out'),
    (['plot', '--out', 'a.png'],
     'the following arguments are required: RUN.json'),
])
def test_bad_command_lines_in_one_line(argv, message, capsys):
    assert message in _error(argv, capsys)


def _print_config(argv, capsys):
    assert main(['train', '--print-config'] + argv) == 0
    return capsys.readouterr().out


def test_config_file_round_trip_and_precedence(tmp_path, capsys):
    file = tmp_path / 'run.yaml'
    file.write_text('model: gat\nepochs: 7\nhidden: 4\nresidual: true\n'
                    'num-parts: 20\n')
    out = _print_config(['--config', str(file), '--epochs', '3',
                         '--no-residual'], capsys)
    # The command line overrides the file, the file the presets:
    expected = resolve(TrainConfig(model='gat', epochs=3, hidden=4,
                                   residual=False, num_parts=20))
    assert yaml.safe_load(out) == asdict(expected)
    assert list(yaml.safe_load(out)) == [f.name for f in fields(TrainConfig)]
    # What --print-config prints reads back to the same configuration:
    saved = tmp_path / 'resolved.yaml'
    saved.write_text(out)
    assert _print_config(['--config', str(saved)], capsys) == out
    assert read_config(str(saved)) == asdict(expected)


def test_json_config_and_missing_pyyaml(tmp_path, capsys, monkeypatch):
    file = tmp_path / 'run.json'
    file.write_text(json.dumps(dict(dataset='cora', loader='full', lr=1)))
    expected = asdict(resolve(TrainConfig(loader='full', lr=1.0)))
    assert yaml.safe_load(_print_config(['--config', str(file)],
                                        capsys)) == expected
    monkeypatch.setitem(sys.modules, 'yaml', None)  # Not installed.
    out = _print_config(['--config', str(file)], capsys)
    assert json.loads(out) == expected
    saved = tmp_path / 'resolved.json'
    saved.write_text(out)
    assert _print_config(['--config', str(saved)], capsys) == out
    (tmp_path / 'run.yaml').write_text('epochs: 3\n')
    assert main(['train', '--config', str(tmp_path / 'run.yaml'),
                 '--print-config']) == 2
    assert "requires the 'pyyaml' package" in capsys.readouterr().err


def test_bad_config_files(tmp_path, capsys):
    file = tmp_path / 'run.yml'
    file.write_text('epoch: 5\nhiden: 3\nlr: 0.1\n')
    with pytest.raises(ValueError) as info:
        read_config(str(file))
    valid = ', '.join(f.name for f in fields(TrainConfig))
    assert str(info.value) == (f"'{file}' has unknown keys ['epoch', "
                               f"'hiden']; the valid keys are: {valid}")
    assert main(['train', '--config', str(file)]) == 2
    assert "unknown keys ['epoch', 'hiden']" in capsys.readouterr().err
    file.write_text('epochs: many\n')
    with pytest.raises(TypeError, match=f"'epochs' in '{file}' must be an "
                       f"integer or null \\(got 'many'\\)"):
        read_config(str(file))
    file.write_text('- 1\n- 2\n')
    with pytest.raises(TypeError, match='must hold a mapping'):
        read_config(str(file))
    with pytest.raises(ValueError, match=r"must be a \.yaml, \.yml or "
                       r"\.json file \(got 'run\.toml'\)"):
        read_config('run.toml')
    assert main(['train', '--config', str(tmp_path / 'none.yaml')]) == 2
    assert 'No such file' in capsys.readouterr().err


def test_predict_arguments_and_handler(capsys, monkeypatch):
    calls = []

    def predict_to_file(path, out, nodes=None, embeddings=False,
                        device='cpu', root=None, data_dir=None):
        calls.append(dict(path=path, out=out, nodes=nodes,
                          embeddings=embeddings, device=device, root=root,
                          data_dir=data_dir))
        return dict(out=out, num_nodes=len(nodes.split(',')))

    module = types.ModuleType('pyg_gas.train.saved')
    module.predict_to_file = predict_to_file
    monkeypatch.setitem(sys.modules, 'pyg_gas.train.saved', module)
    assert main(['predict', 'model', '--nodes', '2,0,1', '--out', 'p.csv',
                 '--embeddings', '--device', 'cuda', '--root', 'r',
                 '--data-dir', 'd']) == 0
    assert json.loads(capsys.readouterr().out) == dict(out='p.csv',
                                                       num_nodes=3)
    assert calls[0] == dict(path='model', out='p.csv', nodes='2,0,1',
                            embeddings=True,
                            device='cuda', root='r', data_dir='d')
    args = build_parser().parse_args(['predict', 'model', '--out', 'p.pt'])
    assert (args.nodes, args.embeddings, args.device, args.root,
            args.data_dir) == (None, False, 'cpu', None, None)


def test_plot_arguments_and_handler(capsys, monkeypatch):
    calls = []
    module = types.ModuleType('pyg_gas.plot')
    module.plot_runs = lambda paths, out: calls.append((paths, out))
    monkeypatch.setitem(sys.modules, 'pyg_gas.plot', module)
    assert main(['plot', 'a.json', 'b.json', '--out', 'curves.png']) == 0
    assert calls == [(['a.json', 'b.json'], 'curves.png')]
    assert json.loads(capsys.readouterr().out) == dict(out='curves.png')

    def missing(paths, out):
        raise ImportError("'pyg-gas plot' requires the 'matplotlib' package")

    module.plot_runs = missing
    assert main(['plot', 'a.json', '--out', 'c.png']) == 2
    assert capsys.readouterr().err == ("pyg-gas: error: 'pyg-gas plot' "
                                       "requires the 'matplotlib' package\n")


def test_help_shows_the_presets_of_the_config_file(tmp_path):
    file = tmp_path / 'run.yaml'
    file.write_text('dataset: citeseer\nmodel: appnp\n')
    for argv, where in ((['--config', str(file)], 'citeseer/appnp'),
                        (['--config', str(file), '--model', 'gat'],
                         'citeseer/gat')):
        train = _subparsers(build_parser(['train'] + argv))['train']
        epochs = next(a for a in train._actions if a.dest == 'epochs')
        dataset, model = where.split('/')
        value = PRESETS[dataset][model]['epochs']
        assert epochs.help == f'training epochs (preset for {where}: {value})'


def test_predict_reports_errors_of_the_saved_module(tmp_path, capsys):
    pytest.importorskip('pyg_gas.train.saved')
    out = str(tmp_path / 'p.txt')
    assert main(['predict', str(tmp_path), '--out', out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pyg-gas: error: 'out' must end with one of ")
    assert err.endswith(f"(got '{out}')\n")
