r"""The ``pyg-gas`` command. The options of ``pyg-gas train`` are generated
from the fields of :class:`~pyg_gas.train.TrainConfig` and their help
texts."""
import argparse
import json
import shutil
import sys
import textwrap
import typing
from dataclasses import MISSING, fields
from typing import Any, Dict, List, NoReturn, Optional

import pyg_gas
from pyg_gas.datasets import DATASETS, load_dataset
from pyg_gas.train import TrainConfig, run
from pyg_gas.train.presets import GAS_PRESETS, PRESET_ALIASES, PRESETS

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


def _bool(value: str) -> bool:
    if value.lower() in ('1', 'true', 'yes', 'on'):
        return True
    if value.lower() in ('0', 'false', 'no', 'off'):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false (got "
                                     f"'{value}')")


def _base_type(annotation: Any) -> type:
    # 'Optional[int]' -> int.
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if args else annotation


def add_config_options(parser: argparse.ArgumentParser) -> None:
    r"""Adds one option per field of :class:`TrainConfig` to
    :obj:`parser`."""
    hints = typing.get_type_hints(TrainConfig)
    for f in fields(TrainConfig):
        meta = dict(f.metadata)
        help = meta.pop('help')
        flag = meta.pop('flag', None)
        if flag is not None:  # A switch that sets the field to False.
            parser.add_argument(flag, dest=f.name, action='store_false',
                                help=help)
            continue
        kind = _base_type(hints[f.name])
        kwargs: Dict[str, Any] = dict(dest=f.name, help=help)
        if meta.pop('preset', False):
            kwargs['help'] += ' (default: preset)'
        elif f.default is not MISSING and f.default is not None:
            kwargs['help'] += ' (default: %(default)s)'
        if kind is bool:
            kwargs.update(type=_bool, metavar='BOOL')
        elif kind is not str:
            kwargs['type'] = kind
        kwargs.update(meta)  # choices, metavar
        parser.add_argument('--' + f.name.replace('_', '-'),
                            default=f.default, **kwargs)


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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog='pyg-gas',
        description='Train GNNs on large graphs with GNNAutoScale.')
    parser.add_argument('--version', action='version',
                        version=f'%(prog)s {pyg_gas.__version__}')
    sub = parser.add_subparsers(dest='command', required=True)
    train = sub.add_parser(
        'train', help='train and evaluate a model',
        description=_fill(
            "Train and evaluate a model. Options whose default is 'preset' "
            "take, when left out, the GAS paper's value for the dataset and "
            'model (see the list below); a model the paper has no '
            "configuration for takes the dataset's GCN values, and a "
            'dataset without presets generic defaults.'),
        epilog=presets_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_options(train)
    add_prepare_parser(sub)
    return parser


def add_prepare_parser(sub: Any) -> None:
    prepare = sub.add_parser(
        'prepare', help='write a dataset to disk for out-of-core training',
        description=_fill(
            'Write a dataset as a directory of memory-mapped .npy files in '
            'cluster order, for pyg-gas train --data-dir.'))
    prepare.add_argument('--dataset', default='cora',
                         help='the dataset, as for pyg-gas train '
                         '(default: %(default)s)')
    prepare.add_argument('--root', metavar='DIR',
                         help='the dataset directory, as for pyg-gas train')
    prepare.add_argument('--out', required=True, metavar='DIR',
                         help='the directory to write')
    prepare.add_argument('--num-parts', type=int, metavar='P',
                         help="the number of clusters (default: the "
                         "dataset's preset)")
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
    prepare.add_argument('--normalize-features', type=_bool, metavar='BOOL',
                         help="row-normalize the features (default: the "
                         "dataset's preset)")
    prepare.add_argument('--cache-dir', metavar='DIR',
                         help='where to cache METIS partitions')
    prepare.add_argument('--overwrite', action='store_true',
                         help='replace a dataset prepared in --out')
    prepare.add_argument('--no-progress', dest='progress',
                         action='store_false', help='no log lines')


def prepare_command(args: argparse.Namespace) -> Dict[str, Any]:
    r"""Runs ``pyg-gas prepare`` and returns what it wrote. The synthetic
    graphs and OGB datasets are written chunk by chunk, in bounded memory;
    other datasets are loaded, then written."""
    from pyg_gas.storage import (
        prepare,
        prepare_ogb,
        prepare_staged,
        prepare_synthetic,
        stage_data,
    )
    from pyg_gas.storage.prepare import FEATURE_DTYPES
    from pyg_gas.train.presets import DEFAULTS, find_preset

    preset = find_preset(args.dataset, 'gcn')[0]
    num_parts = args.num_parts or preset.get('num_parts',
                                             DEFAULTS['num_parts'])
    normalize = args.normalize_features
    if normalize is None:
        normalize = preset.get('normalize_features',
                               DEFAULTS['normalize_features'])
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
    return dict(out=dataset.root, num_nodes=dataset.num_nodes,
                num_edges=dataset.num_edges, num_parts=dataset.num_parts,
                partition=dataset.partition, bytes=dataset.nbytes,
                digest=dataset.digest)


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == 'prepare':
            print(json.dumps(prepare_command(args)))
            return 0
        names = {f.name for f in fields(TrainConfig)}
        config = TrainConfig(**{k: v for k, v in vars(args).items()
                                if k in names})
        result = run(config)
    except USER_ERRORS as e:
        message = ' '.join(str(e).split())  # One line.
        print(f'pyg-gas: error: {message}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Files are written atomically: nothing partial is left behind.
        print('pyg-gas: interrupted', file=sys.stderr)
        return 130
    if result.get('rank', 0) == 0:  # Once per distributed run.
        print(json.dumps({key: result[key] for key in SUMMARY}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
