r"""The ``pyg-gas`` command: ``train``, ``prepare``, ``predict`` and
``plot``. The options of ``pyg-gas train`` are generated from the fields of
:class:`~pyg_gas.train.TrainConfig` and their help texts. The parser is
built from torch-free modules only (:mod:`~pyg_gas.train.options`,
:mod:`~pyg_gas.train.presets`, :mod:`~pyg_gas.datasets.names`), so
``--help`` answers at once; :obj:`torch` is imported by the commands."""
import argparse
import json
import sys
import textwrap
import typing
from dataclasses import MISSING, asdict, fields
from typing import Any, Callable, Dict, List, NoReturn, Optional, Sequence

import pyg_gas
from pyg_gas.datasets.names import DATASETS
from pyg_gas.train.options import TrainConfig, import_yaml, read_config
from pyg_gas.train.presets import (
    GAS_PRESETS,
    PRESET_ALIASES,
    PRESETS,
    find_preset,
    preset_values,
)

#: Errors that the command reports in one line, with exit status 2: bad
#: input, missing files or packages, paths it can not write, a diverging
#: loss.
USER_ERRORS = (ValueError, TypeError, ImportError, OSError,
               FloatingPointError)

#: The fields of the results that ``pyg-gas train`` prints as one line.
SUMMARY = ('dataset', 'model', 'loader', 'epochs', 'best_val_acc', 'test_acc',
           'epoch_time_s', 'peak_memory_bytes', 'num_params')


class _Parser(argparse.ArgumentParser):
    # A bad command line is reported as the other user errors are: in one
    # line, with exit status 2 (not the usage text followed by the error).
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"pyg-gas: error: {message} (see '{self.prog} "
                  f"--help')\n")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    # A switch reads '--x, --no-x' in the help (its optional value is the
    # older form, kept for compatibility).
    def _format_action_invocation(self, action: argparse.Action) -> str:
        if isinstance(action, Switch):
            return ', '.join(action.option_strings)
        return super()._format_action_invocation(action)


def _bool(value: str, option: str) -> bool:
    if value.lower() in ('1', 'true', 'yes', 'on'):
        return True
    if value.lower() in ('0', 'false', 'no', 'off'):
        return False
    raise argparse.ArgumentError(None, f"argument {option}: expected true or "
                                 f"false (got '{value}')")


class Switch(argparse.BooleanOptionalAction):
    r"""A boolean option ``--x/--no-x``. For compatibility with the older
    form, ``--x`` also takes an optional value: ``--x true``,
    ``--x false`` (and ``1/0``, ``yes/no``, ``on/off``)."""
    def __init__(self, option_strings: Sequence[str], dest: str,
                 default: Any = None, help: Optional[str] = None) -> None:
        super().__init__(option_strings, dest, default=default, help=help)
        self.help = help  # Without the default some Pythons append.
        self.nargs = '?'
        self.metavar = 'BOOL'

    def __call__(self, parser: argparse.ArgumentParser,
                 namespace: argparse.Namespace, values: Any,
                 option_string: Optional[str] = None) -> None:
        option = str(option_string)
        if option.startswith('--no-'):
            if values is not None:
                raise argparse.ArgumentError(
                    None, f"argument {option}: takes no value (got "
                    f"'{values}')")
            value = False
        else:
            value = True if values is None else _bool(values, option)
        setattr(namespace, self.dest, value)


def _base_type(annotation: Any) -> type:
    # 'Optional[int]' -> int.
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if args else annotation


def _escape(text: Any) -> str:
    return str(text).replace('%', '%%')  # argparse formats help with '%'.


def preset_help(dataset: str = 'cora', model: str = 'gcn',
                loader: str = 'gas') -> Dict[str, str]:
    r"""The help suffix of every preset option: its value for the dataset,
    model and loader, e.g. :obj:`'(preset for cora/gcn: 200)'`."""
    values = preset_values(dataset, model, loader)
    if find_preset(dataset, model)[1] is None:
        where = 'default'
    else:
        where = f'preset for {dataset.strip().lower()}/{model}'
        if loader != 'gas':
            where += f' with {loader}'
    return {key: f' ({_escape(where)}: {_escape(value)})'
            for key, value in values.items()}


def add_config_options(parser: argparse.ArgumentParser,
                       dataset: str = 'cora', model: str = 'gcn',
                       loader: str = 'gas') -> None:
    r"""Adds one option per field of :class:`TrainConfig` to
    :obj:`parser`; a preset option's help shows its value for
    :obj:`dataset`, :obj:`model` and :obj:`loader`. An option left out is
    not in the parsed namespace (its default is
    :obj:`argparse.SUPPRESS`), so that a configuration file's value is not
    overridden by a default."""
    hints = typing.get_type_hints(TrainConfig)
    presets = preset_help(dataset, model, loader)
    for f in fields(TrainConfig):
        meta = dict(f.metadata)
        help = meta.pop('help')
        kind = _base_type(hints[f.name])
        if meta.pop('preset', False):
            help += presets[f.name]
        elif f.default is not MISSING and f.default is not None:
            help += f' (default: {_escape(f.default)})'
        kwargs: Dict[str, Any] = dict(dest=f.name, help=help,
                                      default=argparse.SUPPRESS)
        if kind is bool:
            kwargs['action'] = Switch
        elif kind is not str:
            kwargs['type'] = kind
        kwargs.update(meta)  # choices, metavar
        parser.add_argument('--' + f.name.replace('_', '-'), **kwargs)


def _fill(text: str, indent: str = '') -> str:
    return textwrap.fill(text, 79, initial_indent=indent,
                         subsequent_indent=indent)


def presets_epilog() -> str:
    r"""The datasets of ``pyg-gas train`` and the models with presets on
    each, for its ``--help``."""
    lines = ['datasets (--dataset; all but cora and synthetic* need --root):',
             _fill(', '.join(DATASETS), '  '), '',
             "presets (dataset: models; * marks pyg_gas's own, the others "
             "are the GAS paper's):"]
    for name, models in PRESETS.items():
        marked = [m if m in GAS_PRESETS.get(name, {}) else f'{m}*'
                  for m in models]
        lines.append(f"  {name}: {', '.join(marked)}")
    aliases = ', '.join(f'{a} -> {b}' for a, b in PRESET_ALIASES.items())
    lines += ['', _fill(f'Datasets that take the presets of another: '
                        f'{aliases}.')]
    return '\n'.join(lines)


class _Stop(Exception):
    pass


class _Lenient(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _Stop(message)


def help_context(argv: Sequence[str]) -> Dict[str, str]:
    r"""The dataset, model and loader that a command line names (by its
    options, else by its ``--config`` file), for the preset values that its
    ``--help`` shows; ``cora``, ``gcn`` and ``gas`` where it names none."""
    context = dict(dataset='cora', model='gcn', loader='gas')
    pre = _Lenient(add_help=False, allow_abbrev=False)
    for key in ('config', *context):
        pre.add_argument(f'--{key}')
    try:
        given = vars(pre.parse_known_args(list(argv))[0])
    except _Stop:
        return context
    path = given.pop('config')
    if path is not None:
        try:  # A bad file is reported when the command reads it.
            values = read_config(path)
        except USER_ERRORS:
            values = {}
        context.update({key: str(values[key]) for key in context
                        if values.get(key) is not None})
    context.update({k: v for k, v in given.items() if v is not None})
    return context


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    r"""The parser of the ``pyg-gas`` command. The help of the preset
    options shows their values for the dataset and model of :obj:`argv`
    (see :func:`help_context`)."""
    context = help_context(argv)
    parser = _Parser(
        prog='pyg-gas',
        description='Train GNNs on large graphs with GNNAutoScale.')
    parser.add_argument('--version', action='version',
                        version=f'%(prog)s {pyg_gas.__version__}')
    sub = parser.add_subparsers(dest='command', required=True)
    add_train_parser(sub, **context)
    add_prepare_parser(sub, context['dataset'])
    add_predict_parser(sub)
    add_plot_parser(sub)
    return parser


def add_train_parser(sub: Any, dataset: str = 'cora', model: str = 'gcn',
                     loader: str = 'gas') -> None:
    train = sub.add_parser(
        'train', help='train and evaluate a model',
        usage='%(prog)s [--config FILE] [--print-config] [options]',
        description=_fill(
            "Train and evaluate a model. Options marked 'preset' take, when "
            "left out, the GAS paper's value for the dataset and model (see "
            'the list below; the values shown are those of the --dataset, '
            '--model and --loader of the command line); a model the paper '
            "has no configuration for takes the dataset's GCN values, and a "
            'dataset without presets generic defaults.') + '\n\n' + _fill(
            'Boolean options are --x to turn on and --no-x to turn off '
            '(--x true and --x false are accepted too). --config FILE sets '
            'options from a YAML or JSON file of option names and values '
            '(as --print-config writes); the options of the command line '
            'override it.'),
        epilog=presets_epilog(), formatter_class=_Formatter)
    train.add_argument(
        '--config', metavar='FILE',
        help='read options from a YAML (.yaml, .yml; needs pyyaml) or JSON '
        '(.json) file: a mapping of option names (e.g. num_parts) to '
        'values; the command line overrides them')
    train.add_argument(
        '--print-config', action='store_true',
        help='print the resolved configuration (presets filled in) as YAML '
        '(JSON without pyyaml) and exit without training')
    add_config_options(train, dataset, model, loader)


def add_prepare_parser(sub: Any, dataset: str = 'cora') -> None:
    preset = find_preset(dataset, 'gcn')[0]
    values = preset_values(dataset, 'gcn')
    where = f'preset for {_escape(dataset.strip().lower())}' if preset \
        else 'default'
    prepare = sub.add_parser(
        'prepare', help='write a dataset to disk for out-of-core training',
        description=_fill(
            'Write a dataset as a directory of memory-mapped .npy files in '
            'cluster order, for pyg-gas train --data-dir.'),
        formatter_class=_Formatter)
    prepare.add_argument('--dataset', default='cora',
                         help='the dataset, as for pyg-gas train '
                         '(default: %(default)s)')
    prepare.add_argument('--root', metavar='DIR',
                         help='the dataset directory, as for pyg-gas train')
    prepare.add_argument('--out', required=True, metavar='DIR',
                         help='the directory to write')
    prepare.add_argument('--num-parts', type=int, metavar='P',
                         help=f"the number of clusters ({where}: "
                         f"{values['num_parts']})")
    prepare.add_argument('--seed', type=int, default=0,
                         help='the seed of the partition (and of a synthetic '
                         'graph) (default: %(default)s)')
    prepare.add_argument('--partition', default='metis',
                         choices=['metis', 'stream'],
                         help="'metis' (in memory), or 'stream': a "
                         "partitioner that reads the graph from disk in "
                         "chunks, within a memory cap (default: "
                         "%(default)s)")
    prepare.add_argument('--x-dtype', default='float32',
                         choices=['float32', 'bfloat16', 'float16'],
                         help='the storage type of the features '
                         '(default: %(default)s)')
    prepare.add_argument('--normalize-features', action=Switch,
                         help=f"row-normalize the features ({where}: "
                         f"{values['normalize_features']})")
    prepare.add_argument('--cache-dir', metavar='DIR',
                         help='where to cache METIS partitions')
    prepare.add_argument('--overwrite', action=Switch, default=False,
                         help='replace a dataset prepared in --out '
                         '(default: False)')
    prepare.add_argument('--progress', action=Switch, default=True,
                         help='log lines to stderr (default: True)')


def add_predict_parser(sub: Any) -> None:
    predict = sub.add_parser(
        'predict', help='predict with a model saved by pyg-gas train --save',
        description=_fill(
            'Predict the classes (or, with --embeddings, the outputs) of '
            'the nodes of the graph a model was trained on, from the '
            'directory that pyg-gas train --save wrote, and write them to '
            'FILE. Prints what it wrote as one JSON line.'),
        formatter_class=_Formatter)
    predict.add_argument('path', metavar='DIR',
                         help='the directory of the saved model')
    predict.add_argument('--nodes', metavar='IDS',
                         help="the nodes to predict: comma-separated ids "
                         "(e.g. '0,5,9'), or a .txt (one id per line), .npy "
                         "or .pt file of them, read by "
                         "pyg_gas.train.saved.parse_nodes (default: every "
                         "node, in order)")
    predict.add_argument('--out', required=True, metavar='FILE',
                         help='the file to write the predictions to')
    predict.add_argument('--embeddings', action=argparse.BooleanOptionalAction,
                         default=False,
                         help="write the model's outputs (one row per node) "
                         'instead of the predicted classes (default: False)')
    predict.add_argument('--device', default='cpu',
                         help="the device to predict on, e.g. 'cpu' or "
                         "'cuda' (default: %(default)s)")
    predict.add_argument('--root', metavar='DIR',
                         help='the dataset directory, where it is not where '
                         'the model was trained (default: the saved one)')
    predict.add_argument('--data-dir', metavar='DIR',
                         help="a dataset prepared by 'pyg-gas prepare', "
                         'where it is not where the model was trained '
                         '(default: the saved one)')


def add_plot_parser(sub: Any) -> None:
    plot = sub.add_parser(
        'plot', help='plot the training curves of runs (needs matplotlib)',
        description=_fill(
            'Plot the loss and accuracy curves of one or more runs, from the '
            'JSON files that pyg-gas train --json wrote, into one image.'),
        formatter_class=_Formatter)
    plot.add_argument('runs', nargs='+', metavar='RUN.json',
                      help='the results of pyg-gas train --json')
    plot.add_argument('--out', required=True, metavar='FILE',
                      help='the image to write, e.g. curves.png (its '
                      'extension picks the format)')


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    r"""The configuration of ``pyg-gas train``: the fields' defaults,
    overridden by the ``--config`` file, overridden by the options given on
    the command line."""
    values = read_config(args.config) if args.config is not None else {}
    names = {f.name for f in fields(TrainConfig)}
    values.update({k: v for k, v in vars(args).items() if k in names})
    return TrainConfig(**values)


def format_config(config: TrainConfig) -> str:
    r"""The fields of :obj:`config` as YAML, or as JSON where pyyaml is not
    installed; either can be read back by ``--config``."""
    values = asdict(config)
    try:
        yaml = import_yaml()
    except ImportError:
        return json.dumps(values, indent=2)
    return yaml.safe_dump(values, sort_keys=False).rstrip('\n')


def run(config: TrainConfig) -> Dict[str, Any]:
    r"""Runs :func:`pyg_gas.train.run` (imported here, so that parsing the
    command line needs no :obj:`torch`)."""
    from pyg_gas.train import run as run_config
    return run_config(config)


def train_command(args: argparse.Namespace) -> int:
    r"""Runs ``pyg-gas train``: prints the resolved configuration with
    ``--print-config``, else trains and prints the summary of the
    results as one JSON line."""
    config = config_from_args(args)
    if args.print_config:
        from pyg_gas.train.config import resolve
        print(format_config(resolve(config)))
        return 0
    result = run(config)
    if result.get('rank', 0) == 0:  # Once per distributed run.
        print(json.dumps({key: result[key] for key in SUMMARY}))
    return 0


def prepare_command(args: argparse.Namespace) -> int:
    r"""Runs ``pyg-gas prepare`` and prints what it wrote as one JSON line.
    The synthetic graphs and OGB datasets are written chunk by chunk, in
    bounded memory; other datasets are loaded, then written."""
    import shutil

    from pyg_gas.datasets import load_dataset
    from pyg_gas.storage import (
        prepare,
        prepare_ogb,
        prepare_staged,
        prepare_synthetic,
        stage_data,
    )
    from pyg_gas.storage.prepare import FEATURE_DTYPES

    values = preset_values(args.dataset, 'gcn')
    num_parts = args.num_parts or values['num_parts']
    normalize = args.normalize_features
    if normalize is None:
        normalize = values['normalize_features']
    common = dict(num_parts=num_parts, seed=args.seed,
                  x_dtype=FEATURE_DTYPES[args.x_dtype],
                  normalize_features=normalize, overwrite=args.overwrite,
                  log=args.progress)
    name = args.dataset.strip().lower()
    if name.startswith('synthetic'):
        dataset = prepare_synthetic(args.out, name=name,
                                    partition=args.partition, **common)
    elif name.startswith('ogbn-'):
        if args.root is None:
            raise ValueError(f"'{args.dataset}' is read from its raw files: "
                             f"pass --root DIR (the folder that holds "
                             f"{name.replace('-', '_')}/raw)")
        dataset = prepare_ogb(name, args.root, args.out,
                              partition=args.partition, **common)
    else:
        data = load_dataset(args.dataset, root=args.root)
        if args.partition == 'metis':
            dataset = prepare(data, args.out, cache_dir=args.cache_dir,
                              name=args.dataset, **common)
        else:
            staged = stage_data(data, args.out.rstrip('/') + '.staged',
                                log=args.progress)
            try:
                dataset = prepare_staged(staged, args.out, name=args.dataset,
                                         partition=args.partition,
                                         **common)
            finally:
                shutil.rmtree(staged.root, ignore_errors=True)
    print(json.dumps(dict(
        out=dataset.root, num_nodes=dataset.num_nodes,
        num_edges=dataset.num_edges, num_parts=dataset.num_parts,
        partition=dataset.partition, bytes=dataset.nbytes,
        digest=dataset.digest)))
    return 0


def predict_command(args: argparse.Namespace) -> int:
    r"""Runs ``pyg-gas predict`` through
    :func:`pyg_gas.train.saved.predict_to_file` and prints what it returns
    as one JSON line."""
    from pyg_gas.train.saved import predict_to_file

    info = predict_to_file(args.path, args.out, nodes=args.nodes,
                           embeddings=args.embeddings, device=args.device,
                           root=args.root, data_dir=args.data_dir)
    print(json.dumps(info))
    return 0


def plot_command(args: argparse.Namespace) -> int:
    r"""Runs ``pyg-gas plot`` through :func:`pyg_gas.plot.plot_runs` and
    prints the image's path as one JSON line."""
    from pyg_gas.plot import plot_runs

    plot_runs(args.runs, args.out)
    print(json.dumps(dict(out=args.out)))
    return 0


#: The handler of every command.
COMMANDS: Dict[str, Callable[[argparse.Namespace], int]] = dict(
    train=train_command, prepare=prepare_command, predict=predict_command,
    plot=plot_command)


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except USER_ERRORS as e:
        message = ' '.join(str(e).split())  # One line.
        print(f'pyg-gas: error: {message}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Files are written atomically: nothing partial is left behind.
        print('pyg-gas: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
