r"""Accuracy and epoch time of LADIES and FastGCN training against
full-batch training of a GCN (2 x 16, the GAS Cora preset) on the real Cora
graph.

The full-batch numbers come from :func:`pyg_gas.train.run`. The sampled
runs train with :class:`pyg_gas.LADIESLoader` and
:meth:`~pyg_gas.ScalableGNN.forward_layerwise`, and evaluate with the
full-graph forward :obj:`model(x, adj_t)` on the GCN-normalized graph;
the test accuracy is taken at the epoch of the best validation accuracy.
Prints a table and writes ``results/ladies_cora.json``.

    python benchmarks/ladies_cora.py [--seeds 0 1 2] [--samples 128 256]
        [--batch-sizes 64 140]
"""
import argparse
import os
import os.path as osp
import platform
import statistics
import sys
import time
from typing import Any, Dict, List

import torch
import torch.nn.functional as F
import torch_geometric.transforms as T

from pyg_gas.datasets import load_dataset
from pyg_gas.loader import LADIESLoader
from pyg_gas.nn.models import GCN
from pyg_gas.train import TrainConfig, run, seed_everything, write_json
from pyg_gas.utils import to_adj_t

HERE = osp.dirname(osp.abspath(__file__))


def train_sampled(mode: str, seed: int, batch_size: int, num_samples: int,
                  epochs: int, lr: float, dropout: float, weight_decay: float,
                  normalize: bool) -> Dict[str, Any]:
    seed_everything(seed)
    data = T.NormalizeFeatures()(load_dataset('cora'))
    model = GCN(data.num_nodes, data.num_features, 16,
                int(data.y.max()) + 1, num_layers=2, dropout=dropout,
                drop_input=True)
    normed = model.transform(data)  # Self-loops + GCN weights, for eval.
    adj_t = to_adj_t(normed.edge_index, normed.num_nodes, normed.edge_weight)
    loader = LADIESLoader(data, data.train_mask, batch_size=batch_size,
                          num_samples=num_samples, num_layers=2, mode=mode,
                          normalize=normalize, shuffle=True, seed=seed)
    optimizer = torch.optim.Adam(model.param_groups(weight_decay, 0.0),
                                 lr=lr)

    @torch.no_grad()
    def evaluate() -> List[float]:
        model.eval()
        pred = model(data.x, adj_t).argmax(dim=-1)
        return [
            float((pred[mask] == data.y[mask]).float().mean())
            for mask in (data.train_mask, data.val_mask, data.test_mask)
        ]

    best_val, test_at_best, best_epoch = -1.0, -1.0, 0
    epoch_times, sizes = [], []
    for epoch in range(1, epochs + 1):
        t = time.perf_counter()
        model.train()
        for batch in loader:
            optimizer.zero_grad()
            out = model.forward_layerwise(batch.x, batch.adjs_t)
            loss = F.cross_entropy(out, batch.y[:batch.batch_size])
            loss.backward()
            optimizer.step()
            sizes.append(batch.layer_sizes)
        epoch_times.append(time.perf_counter() - t)
        _, val_acc, test_acc = evaluate()
        if val_acc > best_val:
            best_val, test_at_best, best_epoch = val_acc, test_acc, epoch
    mean_sizes = [statistics.mean(s[i] for s in sizes) for i in range(3)]
    return dict(best_val_acc=best_val, test_acc=test_at_best,
                best_epoch=best_epoch,
                epoch_time_s=statistics.median(epoch_times),
                mean_layer_sizes=mean_sizes)


def summarize(name: str, runs: List[Dict[str, Any]],
              config: Dict[str, Any]) -> Dict[str, Any]:
    acc = [r['test_acc'] for r in runs]
    return dict(method=name, test_acc=acc, test_acc_mean=statistics.mean(acc),
                test_acc_std=statistics.pstdev(acc),
                val_acc=[r['best_val_acc'] for r in runs],
                epoch_time_s=statistics.median(r['epoch_time_s']
                                               for r in runs),
                mean_layer_sizes=runs[0].get('mean_layer_sizes'),
                config=config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--modes', nargs='+', default=['ladies', 'fastgcn'])
    parser.add_argument('--batch-sizes', nargs='+', type=int,
                        default=[64, 140])
    parser.add_argument('--samples', nargs='+', type=int,
                        default=[128, 256, 512])
    parser.add_argument('--epochs', type=int, default=200)
    parser.add_argument('--lr', type=float, default=0.01)
    parser.add_argument('--dropout', type=float, default=0.5)
    parser.add_argument('--weight-decay', type=float, default=5e-4)
    parser.add_argument('--no-normalize', action='store_true',
                        help='train on the unbiased, unnormalized estimator')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--out', default=osp.join(HERE, 'results',
                                                  'ladies_cora.json'))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rows = []
    full = [
        run(TrainConfig(dataset='cora', model='gcn', loader='full', seed=seed,
                        device='cpu', progress=False, quiet=True))
        for seed in args.seeds
    ]
    rows.append(summarize('full batch', full, full[0]['config']))
    print('full batch done', file=sys.stderr)
    for mode in args.modes:
        for batch_size in args.batch_sizes:
            for s in args.samples:
                config = dict(mode=mode, batch_size=batch_size,
                              num_samples=[s, s], epochs=args.epochs,
                              lr=args.lr, dropout=args.dropout,
                              weight_decay=args.weight_decay,
                              normalize=not args.no_normalize, hidden=16,
                              layers=2, normalize_features=True)
                runs = [
                    train_sampled(mode, seed, batch_size, s, args.epochs,
                                  args.lr, args.dropout, args.weight_decay,
                                  not args.no_normalize)
                    for seed in args.seeds
                ]
                rows.append(summarize(mode, runs, config))
                print(f'{mode} B={batch_size} s={s} done', file=sys.stderr)

    print('| method | batch size | samples/layer | test acc (mean ± std) | '
          'per seed | epoch time (ms) | mean n_0, n_1, n_2 |')
    print('|---|---|---|---|---|---|---|')
    for r in rows:
        config = r['config']
        if r['method'] == 'full batch':
            batch_size, samples = 'all', '-'
        else:
            batch_size, samples = config['batch_size'], config['num_samples'][0]
        per_seed = ', '.join(f'{100 * a:.1f}' for a in r['test_acc'])
        sizes = r['mean_layer_sizes']
        sizes = '-' if sizes is None else ', '.join(f'{v:.0f}' for v in sizes)
        print(f"| {r['method']} | {batch_size} | {samples} | "
              f"{100 * r['test_acc_mean']:.2f} ± "
              f"{100 * r['test_acc_std']:.2f} | {per_seed} | "
              f"{1000 * r['epoch_time_s']:.1f} | {sizes} |")

    meta = dict(python=platform.python_version(), torch=torch.__version__,
                machine=platform.machine(), cpus=os.cpu_count(),
                threads=torch.get_num_threads(), seeds=args.seeds)
    write_json(args.out, dict(meta=meta, results=rows))


if __name__ == '__main__':
    main()
