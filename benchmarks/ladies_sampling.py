r"""Sampling throughput of :class:`pyg_gas.LADIESLoader` against a plain
SciPy/NumPy reference sampler (``ladies_reference.py``), on a synthetic graph
the size of ogbn-arxiv.

The graph has 169,343 nodes and 1,166,243 undirected edges (2,332,486
directed ones), 128 features and 40 classes. Both endpoints of every edge
are drawn independently with probability proportional to a power-law node
weight :math:`w_i \propto (r_i + 10)^{-0.7}` over a random ranking
:math:`r` of the nodes (a Chung-Lu graph, like preferential attachment in
its degree distribution: mean degree 13.8, max degree a few thousand);
self-loops and duplicates are removed and edges are drawn until the count
is reached. Everything comes from a seeded :class:`torch.Generator`. The
output nodes are a random 54% of the nodes (ogbn-arxiv's training split).

Both samplers build the same things per batch: the node sets, one torch CSR
adjacency per layer, and the input-layer features and labels. Every
configuration runs :obj:`--rounds` rounds of :obj:`--batches` batches each
(after :obj:`--warmup` batches), interleaving the two samplers, and reports
the median round. Prints a markdown table and writes
``results/ladies_sampling.json``.

    python benchmarks/ladies_sampling.py [--threads 1] [--layers 2 3]
"""
import argparse
import os
import os.path as osp
import platform
import statistics
import sys
import time
from typing import Any, Dict, List

import numpy as np
import torch
from torch_geometric.data import Data

import pyg_gas
from pyg_gas.loader import LADIESLoader
from pyg_gas.train import write_json

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)
from ladies_reference import ReferenceSampler  # noqa: E402

NUM_NODES = 169_343
NUM_EDGES = 1_166_243  # Undirected.


def arxiv_like_graph(num_nodes: int = NUM_NODES, num_edges: int = NUM_EDGES,
                     seed: int = 0) -> Data:
    r"""A Chung-Lu graph with power-law weights, the size of ogbn-arxiv."""
    gen = torch.Generator().manual_seed(seed)
    rank = torch.randperm(num_nodes, generator=gen)
    weight = (rank.to(torch.float64) + 10.0).pow(-0.7)
    cdf = weight.cumsum(0)
    cdf /= cdf[-1].clone()
    key = torch.empty(0, dtype=torch.long)
    while key.numel() < num_edges:
        missing = num_edges - key.numel()
        draws = int(missing * 1.1) + 1000
        ends = torch.searchsorted(cdf, torch.rand(2, draws, generator=gen,
                                                  dtype=torch.float64))
        ends = ends.clamp_(max=num_nodes - 1)
        lo, hi = ends.min(dim=0).values, ends.max(dim=0).values
        new = (lo * num_nodes + hi)[lo != hi]
        key = torch.unique(torch.cat([key, new]))
    keep = torch.randperm(key.numel(), generator=gen)[:num_edges]
    key = key[keep].sort().values
    row, col = key // num_nodes, key % num_nodes
    edge_index = torch.cat([torch.stack([row, col]), torch.stack([col, row])],
                           dim=1)
    x = torch.randn(num_nodes, 128, generator=gen)
    y = torch.randint(0, 40, (num_nodes, ), generator=gen)
    train_idx = torch.randperm(num_nodes, generator=gen)[:90_941]
    return Data(x=x, y=y, edge_index=edge_index, num_nodes=num_nodes,
                train_idx=train_idx)


def time_loader(loader: LADIESLoader, warmup: int, batches: int) -> float:
    cuda = loader.collater.device.type == 'cuda'
    it = iter(loader)
    for _ in range(warmup):
        next(it)
    if cuda:
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(batches):
        next(it)
    if cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / batches


def time_reference(ref: ReferenceSampler, data: Data, order: np.ndarray,
                   batch_size: int, num_samples: List[int], warmup: int,
                   batches: int, offset: int) -> float:
    def one(i: int) -> None:
        start = ((offset + i) * batch_size) % (order.size - batch_size)
        n_id, adjs = ref.sample(order[start:start + batch_size], num_samples)
        n_id_t = torch.from_numpy(n_id)
        data.x.index_select(0, n_id_t)
        data.y.index_select(0, n_id_t)

    for i in range(warmup):
        one(i)
    t = time.perf_counter()
    for i in range(warmup, warmup + batches):
        one(i)
    return (time.perf_counter() - t) / batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--samples', nargs='+', type=int,
                        default=[64, 256, 512])
    parser.add_argument('--layers', nargs='+', type=int, default=[2, 3])
    parser.add_argument('--batch-size', type=int, default=512)
    parser.add_argument('--batches', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--num-workers', type=int, default=0,
                        help='DataLoader worker processes of LADIESLoader '
                        '(the reference always samples in the main process)')
    parser.add_argument('--modes', nargs='+', default=['ladies', 'fastgcn'])
    parser.add_argument('--device', default='cpu',
                        help="where LADIESLoader samples ('cpu' or 'cuda'); "
                        'the reference always runs on CPU')
    parser.add_argument('--out', default=osp.join(HERE, 'results',
                                                  'ladies_sampling.json'))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    t = time.perf_counter()
    data = arxiv_like_graph()
    gen_time = time.perf_counter() - t
    deg = torch.bincount(data.edge_index[1], minlength=data.num_nodes)
    print(f'graph: {data.num_nodes} nodes, {data.num_edges // 2} undirected '
          f'edges, max degree {int(deg.max())}, built in {gen_time:.1f}s',
          file=sys.stderr)
    edge_index_np = data.edge_index.numpy()
    graph = data.to(args.device)
    order = data.train_idx[torch.randperm(
        data.train_idx.numel(), generator=torch.Generator().manual_seed(1))]
    order = order.numpy()

    rows: List[Dict[str, Any]] = []
    for mode in args.modes:
        t = time.perf_counter()
        ref = ReferenceSampler(edge_index_np, data.num_nodes, mode=mode,
                               seed=0)
        ref_setup = time.perf_counter() - t
        for num_layers in args.layers:
            for s in args.samples:
                num_samples = [s] * num_layers
                t = time.perf_counter()
                loader = LADIESLoader(graph, graph.train_idx,
                                      batch_size=args.batch_size,
                                      num_samples=num_samples,
                                      num_layers=num_layers, mode=mode,
                                      shuffle=True, seed=0,
                                      num_workers=args.num_workers,
                                      persistent_workers=args.num_workers > 0)
                setup = time.perf_counter() - t
                ours, theirs = [], []
                for r in range(args.rounds):
                    ours.append(time_loader(loader, args.warmup,
                                            args.batches))
                    theirs.append(
                        time_reference(ref, data, order, args.batch_size,
                                       num_samples, args.warmup, args.batches,
                                       offset=r * (args.batches + 1)))
                ours_t, ref_t = statistics.median(ours), statistics.median(
                    theirs)
                batch = next(iter(loader))
                ref_nodes, _ = ref.sample(order[:args.batch_size],
                                          num_samples)
                rows.append(dict(
                    mode=mode, num_layers=num_layers, num_samples=s,
                    batch_size=args.batch_size, num_workers=args.num_workers,
                    ours_batches_per_s=1.0 / ours_t,
                    reference_batches_per_s=1.0 / ref_t,
                    speedup=ref_t / ours_t,
                    ours_ms=1000 * ours_t, reference_ms=1000 * ref_t,
                    ours_rounds_ms=[1000 * v for v in ours],
                    reference_rounds_ms=[1000 * v for v in theirs],
                    ours_layer_sizes=batch.layer_sizes,
                    reference_input_nodes=int(ref_nodes.size),
                    ours_setup_s=setup, reference_setup_s=ref_setup,
                ))
                print(f'{mode} L={num_layers} s={s}: ours '
                      f'{1000 * ours_t:.2f} ms, reference '
                      f'{1000 * ref_t:.2f} ms', file=sys.stderr)

    print('| mode | layers | samples/layer | LADIESLoader (batches/s) | '
          'reference (batches/s) | speedup | n_0, ..., n_L (ours) |')
    print('|---|---|---|---|---|---|---|')
    for r in rows:
        sizes = ', '.join(str(v) for v in r['ours_layer_sizes'])
        print(f"| {r['mode']} | {r['num_layers']} | {r['num_samples']} | "
              f"{r['ours_batches_per_s']:.0f} | "
              f"{r['reference_batches_per_s']:.0f} | "
              f"{r['speedup']:.1f}x | {sizes} |")

    meta = dict(python=platform.python_version(), torch=torch.__version__,
                numpy=np.__version__, pyg_gas=pyg_gas.__version__,
                machine=platform.machine(), cpus=os.cpu_count(),
                threads=torch.get_num_threads(),
                load_average=list(os.getloadavg()),
                graph=dict(num_nodes=data.num_nodes,
                           num_undirected_edges=data.num_edges // 2,
                           max_degree=int(deg.max()),
                           num_train=int(data.train_idx.numel())),
                batches=args.batches, warmup=args.warmup, rounds=args.rounds,
                num_workers=args.num_workers)
    write_json(args.out, dict(meta=meta, results=rows))


if __name__ == '__main__':
    main()
