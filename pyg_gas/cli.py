r"""The ``pyg-gas`` command."""
import argparse
import json
import sys
from dataclasses import fields
from typing import List, Optional

import pyg_gas
from pyg_gas.train import DEVICES, LOADERS, MODELS, TrainConfig, run


def _bool(value: str) -> bool:
    if value.lower() in ('1', 'true', 'yes', 'on'):
        return True
    if value.lower() in ('0', 'false', 'no', 'off'):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false (got "
                                     f"'{value}')")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='pyg-gas',
        description='Train GNNs on large graphs with GNNAutoScale.')
    parser.add_argument('--version', action='version',
                        version=f'%(prog)s {pyg_gas.__version__}')
    sub = parser.add_subparsers(dest='command', required=True)

    p = sub.add_parser(
        'train', help='train and evaluate a model',
        description='Train and evaluate a model. Options left out take the '
        "GAS paper's values for the dataset and model.")
    p.add_argument('--dataset', default='cora',
                   help="'cora' (bundled), 'planetoid:NAME' (needs --root), "
                   "'ogbn-NAME', e.g. 'ogbn-arxiv' (OGB, needs --root)")
    p.add_argument('--root', default=None, help='the dataset directory')
    p.add_argument('--model', default='gcn', choices=sorted(MODELS))
    p.add_argument('--loader', default='gas', choices=LOADERS)
    p.add_argument('--epochs', type=int)
    p.add_argument('--hidden', type=int)
    p.add_argument('--layers', type=int)
    p.add_argument('--num-parts', type=int)
    p.add_argument('--batch-size', type=int,
                   help='clusters per mini-batch (gas, cluster), or output '
                   'nodes per mini-batch (ladies, fastgcn)')
    p.add_argument('--num-samples', type=int,
                   help='nodes sampled per layer (ladies, fastgcn)')
    p.add_argument('--lr', type=float)
    p.add_argument('--weight-decay', type=float)
    p.add_argument('--nonreg-weight-decay', type=float)
    p.add_argument('--dropout', type=float)
    p.add_argument('--drop-input', type=_bool, metavar='BOOL')
    p.add_argument('--batch-norm', type=_bool, metavar='BOOL')
    p.add_argument('--residual', type=_bool, metavar='BOOL')
    p.add_argument('--linear', type=_bool, metavar='BOOL')
    p.add_argument('--normalize-features', type=_bool, metavar='BOOL')
    p.add_argument('--heads', type=int, help='attention heads (gat)')
    p.add_argument('--attn-dropout', type=float, help='(gat)')
    p.add_argument('--alpha', type=float,
                   help='initial residual / teleport (gcn2, appnp)')
    p.add_argument('--theta', type=float, help='(gcn2)')
    p.add_argument('--shared-weights', type=_bool, metavar='BOOL',
                   help='(gcn2)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--device', default='auto', choices=DEVICES)
    p.add_argument('--num-workers', type=int, default=0)
    p.add_argument('--cache-dir', default=None,
                   help='where to cache METIS partitions')
    p.add_argument('--history-dtype', default='float32',
                   choices=['float32', 'bfloat16', 'float16'],
                   help='storage type of the histories (bfloat16 halves '
                   'their memory)')
    p.add_argument('--nproc', type=int, default=1, metavar='N',
                   help='(gas) train on N processes of this machine with '
                   'torch.distributed (gloo on CPU, nccl on CUDA); under '
                   'torchrun, the launcher sets the processes instead')
    p.add_argument('--sync-every', type=int, default=1, metavar='K',
                   help='(distributed) training steps between halo '
                   'exchanges')
    p.add_argument('--checkpoint', default=None, metavar='DIR',
                   help='(distributed) save a checkpoint into DIR after '
                   'every epoch, and resume from it if one is there')
    p.add_argument('--eval-every', type=int, default=1)
    p.add_argument('--eval-parts', type=int, default=0, metavar='P',
                   help='(full, ladies, fastgcn) evaluate by exact '
                   'layer-wise inference over P node ranges instead of one '
                   'whole-graph forward, for graphs whose activations do '
                   'not fit')
    p.add_argument('--log-every', type=int, default=10)
    p.add_argument('--no-progress', action='store_true',
                   help='no progress bars or log lines')
    p.add_argument('--json', default=None, metavar='PATH',
                   help='write the results as JSON to PATH')
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == 'train':
        names = {f.name for f in fields(TrainConfig)}
        kwargs = {k: v for k, v in vars(args).items() if k in names}
        kwargs['progress'] = not args.no_progress
        try:
            result = run(TrainConfig(**kwargs))
        except (ValueError, TypeError, FileNotFoundError, ImportError) as e:
            print(f'pyg-gas: error: {e}', file=sys.stderr)
            return 2
        summary = {k: result[k] for k in (
            'dataset', 'model', 'loader', 'epochs', 'best_val_acc',
            'test_acc', 'epoch_time_s', 'peak_memory_bytes', 'num_params')}
        if result.get('rank', 0) == 0:  # Once per distributed run.
            print(json.dumps(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
