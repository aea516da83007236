r"""Distributed GAS on this box: 1 and 2 processes (gloo on loopback), at
arxiv and products scale (the synthetic graphs of
:mod:`pyg_gas.datasets.synthetic`), GCN-3x256.

For every scale it runs :func:`pyg_gas.train.run_distributed`
on 1 process and on 2 processes with ``sync_every`` in {1, 4, 16}, with the
same global batch (the single process takes twice the clusters per batch),
so that every run takes the same number of steps per epoch. Each run is a
fresh child process group under an address-space limit per process.
Reported: the median epoch time, the peak resident memory of every process,
the halo-exchange bytes sent by all ranks per training epoch (the mean
over the run's epochs), the
bytes of one exchange and of one distributed inference, and the halo and
boundary rows per rank.

Prints a table and writes ``results/distributed.json`` (each scale replaces
its own section).

    python benchmarks/distributed.py --root /tmp/pyg_gas_bench
"""
import argparse
import json
import os
import os.path as osp
import platform
import sys
from typing import Any, Dict, List

from ogb_scale import run_limited  # This folder is on the path.

HERE = osp.dirname(osp.abspath(__file__))
OUT = osp.join(HERE, 'results', 'distributed.json')
SCALES = {'arxiv': 'synthetic-arxiv', 'products': 'synthetic-products'}
#: (parts, clusters per batch of the single process, epochs).
SETUP = {'arxiv': (80, 8, 3), 'products': (28, 2, 1)}
SYNC_EVERY = (1, 4, 16)


def child(args: Dict[str, Any]) -> Dict[str, Any]:
    from pyg_gas.distributed import spawn
    from pyg_gas.train import TrainConfig, run_distributed
    config = TrainConfig(
        dataset=args['dataset'], root=args['root'], model='gcn',
        loader='gas', hidden=256, layers=3, num_parts=args['num_parts'],
        batch_size=args['batch_size'], epochs=args['epochs'],
        eval_every=args['epochs'], sync_every=args['sync_every'],
        cache_dir=args['cache_dir'], progress=False, quiet=True,
        device='cpu')
    out = spawn(run_distributed, args['nproc'], (config, ))[0]
    keys = ('epoch_time_s', 'peak_memory_bytes_per_rank', 'bytes_per_epoch',
            'inference_bytes', 'steps_per_epoch', 'boundary_rows_per_rank',
            'halo_rows_per_rank', 'owned_nodes_per_rank', 'test_acc',
            'mean_halo_staleness', 'num_nodes', 'num_edges',
            'baseline_memory_bytes', 'resident_before_training_bytes_per_rank',
            'history_bytes_per_rank', 'edges_per_rank', 'peak_memory_bytes')
    return {key: out.get(key) for key in keys}


def run_child(args: Dict[str, Any], mem_limit_gb: float,
              timeout: float) -> Dict[str, Any]:
    # The limit is per process: the ranks inherit it.
    cmd = [sys.executable, __file__, '--child', json.dumps(args)]
    env = dict(os.environ)
    env.pop('OMP_NUM_THREADS', None)  # The ranks share the cores.
    return run_limited(cmd, env, mem_limit_gb, timeout)


def gib(value: float) -> str:
    return f'{value / 2**30:.2f}'


def report(results: Dict[str, Any]) -> None:
    print('| graph | processes | sync_every | epoch | peak memory per '
          'process (GiB) | exchanged per epoch | per exchange | inference '
          '|')
    print('|---|---|---|---|---|---|---|---|')
    for scale, rows in results.get('runs', {}).items():
        for row in rows:
            if not row.get('ok'):
                print(f"| {scale} | {row['nproc']} | {row['sync_every']} | "
                      f"failed: {row.get('error')} | | | | |")
                continue
            per_exchange = sum(row['boundary_rows_per_rank']) * (
                2 * (256 * 4 + 8))  # Two histories, float32 + step.
            peaks = ' / '.join(gib(p) for p in
                               row['peak_memory_bytes_per_rank'])
            print(f"| {scale} | {row['nproc']} | {row['sync_every']} | "
                  f"{row['epoch_time_s']:.1f} s | {peaks} | "
                  f"{row['bytes_per_epoch'] / 2**20:.0f} MiB | "
                  f"{per_exchange / 2**20:.0f} MiB | "
                  f"{row['inference_bytes'] / 2**20:.0f} MiB |")


#: Input features of the synthetic graphs (those of the OGB graphs).
NUM_FEATURES = {'arxiv': 128, 'products': 100}
HIDDEN, NUM_HISTORIES = 256, 2  # GCN-3x256.
#: ogbn-papers100M: nodes, directed edges once made undirected, features.
PAPERS = dict(nodes=111_059_956, edges=2 * 1_615_685_872, features=128)


def row_bytes(num_features: int, history_bytes: float) -> float:
    # Per local row: features, label and 3 masks, the CSR row pointer, and
    # the histories (embeddings and push steps).
    return num_features * 4 + 8 + 3 + 8 + history_bytes


def model_check(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    r"""Resident memory before training, per rank of the 2-process runs,
    against the sum of its tensors: baseline + rows x row_bytes + edges x
    12 (int64 source and float32 weight)."""
    out = []
    for scale, rows in results.get('runs', {}).items():
        for row in rows:
            if not row.get('ok') or row['nproc'] != 2 or \
                    row.get('edges_per_rank') is None:
                continue
            for rank in range(2):
                local = (row['owned_nodes_per_rank'][rank] +
                         row['halo_rows_per_rank'][rank])
                hist = row['history_bytes_per_rank'][rank] / local
                predicted = (row['baseline_memory_bytes'] + local *
                             row_bytes(NUM_FEATURES[scale], hist) +
                             row['edges_per_rank'][rank] * 12)
                out.append(dict(
                    scale=scale, rank=rank, local_rows=local,
                    halo_ratio=row['halo_rows_per_rank'][rank] /
                    row['owned_nodes_per_rank'][rank],
                    edges=row['edges_per_rank'][rank], predicted=predicted,
                    measured=row['resident_before_training_bytes_per_rank']
                    [rank]))
            break  # One run per scale: the layout does not change.
    return out


def paper_plan(overhead: float, machines=(4, 8, 16, 32),
               halo_ratios=(0.25, 1.0), work_rows: int = 1_100_000,
               work_row_bytes: int = 4096) -> List[Dict[str, Any]]:
    r"""Memory per machine and traffic per epoch for GCN-3x256 on
    ogbn-papers100M, one rank per machine, from the per-row and per-edge
    costs above (times the measured overhead factor), for halos of
    :obj:`halo_ratios` times the owned nodes. Working memory: one batch of
    :obj:`work_rows` rows (batch plus halo) at the measured ~4 KiB per row
    of GCN-3x256 (benchmarks/ogb_scale.py, memory series)."""
    out = []
    hist = NUM_HISTORIES * (HIDDEN * 4 + 8)
    for m in machines:
        owned = PAPERS['nodes'] / m
        edges = (PAPERS['edges'] + PAPERS['nodes']) / m  # + self-loops
        for h in halo_ratios:
            local = owned * (1 + h)
            steady = overhead * (local * row_bytes(PAPERS['features'], hist)
                                 + edges * 12)
            bf16 = overhead * (local * row_bytes(
                PAPERS['features'], NUM_HISTORIES * (HIDDEN * 2 + 8)) +
                edges * 12)
            exchange = PAPERS['nodes'] * h * hist  # All ranks, once.
            out.append(dict(machines=m, halo_ratio=h,
                            steady_gib=steady / 2**30,
                            steady_bf16_gib=bf16 / 2**30,
                            working_gib=work_rows * work_row_bytes / 2**30,
                            exchange_gib=exchange / 2**30,
                            per_machine_exchange_gib=exchange / m / 2**30))
    return out


def report_plan(results: Dict[str, Any]) -> None:
    checks = model_check(results)
    if not checks:
        return
    print('\n| graph | rank | local rows | halo / owned | edges | tensors '
          '(GiB) | resident (GiB) | ratio |')
    print('|---|---|---|---|---|---|---|---|')
    for c in checks:
        print(f"| {c['scale']} | {c['rank']} | {c['local_rows']:,} | "
              f"{c['halo_ratio']:.2f} | {c['edges']:,} | "
              f"{gib(c['predicted'])} | {gib(c['measured'])} | "
              f"{c['measured'] / c['predicted']:.2f} |")
    overhead = max(c['measured'] / c['predicted'] for c in checks)
    print(f'\nPlan for ogbn-papers100M, overhead factor {overhead:.2f}:\n')
    print('| machines | halo / owned | steady memory per machine (GiB) | '
          'with bfloat16 histories | + one batch | one exchange, all '
          'machines (GiB) | per machine |')
    print('|---|---|---|---|---|---|---|')
    for p in paper_plan(overhead):
        print(f"| {p['machines']} | {p['halo_ratio']} | "
              f"{p['steady_gib']:.0f} | {p['steady_bf16_gib']:.0f} | "
              f"{p['working_gib']:.1f} | {p['exchange_gib']:.0f} | "
              f"{p['per_machine_exchange_gib']:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--root', default='/tmp/pyg_gas_bench')
    parser.add_argument('--scales', nargs='+', default=list(SCALES))
    parser.add_argument('--sync-every', nargs='+', type=int,
                        default=list(SYNC_EVERY))
    parser.add_argument('--mem-limit-gb', type=float, default=20.0)
    parser.add_argument('--timeout', type=float, default=3600.0)
    parser.add_argument('--report', action='store_true',
                        help='print the table of the saved results only')
    args = parser.parse_args()
    results: Dict[str, Any] = {}
    if osp.exists(OUT):
        with open(OUT) as f:
            results = json.load(f)
    if args.report:
        report(results)
        report_plan(results)
        return
    cache_dir = osp.join(args.root, 'metis')
    for scale in args.scales:
        num_parts, batch_size, epochs = SETUP[scale]
        rows: List[Dict[str, Any]] = []
        plan = [(1, 1)] + [(2, s) for s in args.sync_every]
        for nproc, sync_every in plan:
            child_args = dict(
                dataset=SCALES[scale], root=args.root, cache_dir=cache_dir,
                num_parts=num_parts, batch_size=batch_size // nproc,
                epochs=epochs, nproc=nproc, sync_every=sync_every)
            out = run_child(child_args, args.mem_limit_gb, args.timeout)
            out.update(nproc=nproc, sync_every=sync_every)
            print(f'{scale} nproc={nproc} sync_every={sync_every}: {out}',
                  file=sys.stderr)
            rows.append(out)
        results.setdefault('runs', {})[scale] = rows
    results['machine'] = dict(platform=platform.platform(),
                              cpus=os.cpu_count(),
                              python=platform.python_version())
    os.makedirs(osp.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write('\n')
    report(results)
    report_plan(results)


if __name__ == '__main__':
    if len(sys.argv) > 2 and sys.argv[1] == '--child':
        print(json.dumps(child(json.loads(sys.argv[2]))))
    else:
        main()
