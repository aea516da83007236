r"""GAS at OGB scale on this box, with the synthetic graphs of
:mod:`pyg_gas.datasets.synthetic` (``synthetic-arxiv``: 169,343 nodes,
1.17M edges; ``synthetic-products``: 2,449,029 nodes, 61.9M edges).

Every measurement runs in a fresh child process, so that its peak resident
set size is its own, under an address-space limit (``--mem-limit-gb``): a
method that needs more fails cleanly, and is reported as not fitting.

Parts (``--parts``):

* ``build``: the time and peak memory of generating each graph (then cached
  in ``--root``);
* ``partition``: the time and peak memory of METIS (pymetis) with the
  preset's number of parts (then cached in ``--root``/metis);
* ``epoch``: the epoch time and peak memory of GCN-3x256 (the GAS presets
  of ogbn-arxiv and ogbn-products) trained full batch, with GAS, with
  Cluster-GCN and with LADIES, through :func:`pyg_gas.train.run`;
* ``full_fit``: full-batch peak memory on graphs of products' degree at
  1/8, 1/4 and 1/2 of its nodes, extrapolated linearly to its size (when
  full batch does not fit at full size);
* ``memory``: GAS's working memory at a fixed batch size on graphs from
  10^4 to 2.45 * 10^6 nodes: the peak resident set size during one training
  epoch minus the resident set size just before it, when the graph, the
  partition, the model and the (touched) histories are all in memory.

Prints tables and writes ``results/ogb_scale.json`` (each part replaces its
own section), and ``results/ogb_scale_memory.png`` when matplotlib is
installed.

    python benchmarks/ogb_scale.py --root /tmp/pyg_gas_bench \
        --parts build partition epoch memory
"""
import argparse
import json
import os
import os.path as osp
import platform
import resource
import subprocess
import sys
import time
from typing import Any, Dict, List

from _common import gib, load_results

HERE = osp.dirname(osp.abspath(__file__))
OUT = osp.join(HERE, 'results', 'ogb_scale.json')
SCALES = {'arxiv': 'synthetic-arxiv', 'products': 'synthetic-products'}
METHODS = ('full', 'gas', 'gas-lean', 'gas-lean-bf16', 'cluster', 'ladies')
#: Layer-wise evaluation of full batch and LADIES (0: one whole-graph
#: forward, which does not fit at products scale):
EVAL_PARTS = {'arxiv': 0, 'products': 20}
#: GAS with 4x as many (smaller) parts as the preset, one per batch:
LEAN_PARTS = {'arxiv': 320, 'products': 28}
#: Graphs of products' degree for the full-batch memory fit:
FULL_FIT_SIZES = (306_129, 612_257, 1_224_515)
PRODUCTS_DEGREE = 2 * 61_859_140 / 2_449_029
# The GAS presets' partitions (pyg_gas.train.PRESETS):
NUM_PARTS = {'arxiv': 80, 'products': 7}
MEMORY_SIZES = (10_000, 30_000, 100_000, 300_000, 1_000_000, 2_449_029)


# Child side ##################################################################

def _status(key: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child_build(args: Dict[str, Any]) -> Dict[str, Any]:
    from pyg_gas.datasets import load_dataset
    t = time.perf_counter()
    data = load_dataset(args['dataset'], root=args['root'],
                        **args.get('kwargs', {}))
    return dict(seconds=time.perf_counter() - t, peak_bytes=_peak(),
                num_nodes=data.num_nodes,
                num_edges=data.edge_index.size(1) // 2)


def child_partition(args: Dict[str, Any]) -> Dict[str, Any]:
    from pyg_gas import metis
    from pyg_gas.datasets import load_dataset
    data = load_dataset(args['dataset'], root=args['root'],
                        **args.get('kwargs', {}))
    before = _status('VmRSS')
    t = time.perf_counter()
    _, ptr = metis(data, args['num_parts'], cache_dir=args['cache_dir'],
                   log=False)
    sizes = (ptr[1:] - ptr[:-1]).tolist()
    return dict(seconds=time.perf_counter() - t, peak_bytes=_peak(),
                rss_before_bytes=before, min_part=min(sizes),
                max_part=max(sizes))


def child_epoch(args: Dict[str, Any]) -> Dict[str, Any]:
    from pyg_gas.train import TrainConfig, run
    loader = args['method'].split('-')[0]
    config = TrainConfig(dataset=args['dataset'], root=args['root'],
                         model='gcn', loader=loader, epochs=args['epochs'],
                         cache_dir=args['cache_dir'], progress=False,
                         quiet=True, hidden=256, layers=3)
    if loader == 'ladies':
        config.batch_size, config.num_samples = 512, 512
    if args['method'].startswith('gas-lean'):
        config.num_parts, config.batch_size = args['lean_parts'], 1
    if args['method'].endswith('-bf16'):
        config.history_dtype = 'bfloat16'
    if loader in ('full', 'ladies'):
        config.eval_parts = args.get('eval_parts', 0)
    out = run(config)
    keys = ('epoch_time_s', 'peak_memory_bytes', 'baseline_memory_bytes',
            'test_acc', 'best_val_acc', 'partition_time_s', 'num_params')
    return {key: out[key] for key in keys}


def child_full_fit(args: Dict[str, Any]) -> Dict[str, Any]:
    # One full-batch training epoch of GCN-3x256 on a products-like graph.
    import torch
    import torch.nn.functional as F

    from pyg_gas.datasets import load_dataset
    from pyg_gas.nn.models import GCN
    from pyg_gas.utils import to_adj_t

    data = load_dataset(args['dataset'], root=args['root'],
                        **args.get('kwargs', {}))
    model = GCN(data.num_nodes, data.num_features, 256,
                int(data.num_classes), num_layers=3, dropout=0.3)
    data = model.transform(data)
    adj_t = to_adj_t(data.edge_index, data.num_nodes, data.edge_weight)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    t = time.perf_counter()
    model.train()
    optimizer.zero_grad()
    out = model(data.x, adj_t)
    F.cross_entropy(out[data.train_mask], data.y[data.train_mask]).backward()
    optimizer.step()
    return dict(seconds=time.perf_counter() - t, peak_bytes=_peak(),
                num_nodes=data.num_nodes,
                num_edges=(data.edge_index.size(1) - data.num_nodes) // 2)


def child_memory(args: Dict[str, Any]) -> Dict[str, Any]:
    import torch
    import torch.nn.functional as F

    from pyg_gas import SubgraphLoader, metis, permute
    from pyg_gas.datasets import load_dataset
    from pyg_gas.nn.models import GCN

    data = load_dataset(args['dataset'], root=args['root'],
                        **args.get('kwargs', {}))
    num_parts = max(1, data.num_nodes // args['part_size'])
    perm, ptr = metis(data, num_parts, cache_dir=args['cache_dir'],
                      log=False)
    data = permute(data, perm)
    model = GCN(data.num_nodes, data.num_features, 256,
                int(data.num_classes), num_layers=3, dropout=0.5)
    data = model.transform(data)
    loader = SubgraphLoader(data, ptr, batch_size=args['batch_size'],
                            shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for history in model.histories:  # Touch every page of the stores.
        history.emb.fill_(0.0)
    data_bytes = sum(v.numel() * v.element_size() for v in data.values()
                     if isinstance(v, torch.Tensor))
    history_bytes = sum(h.emb.numel() * h.emb.element_size() +
                        h.last_step.numel() * 8 for h in model.histories)

    def epoch() -> int:
        model.train()
        max_rows = 0
        for i, batch in enumerate(loader):
            if i == args['max_batches']:
                break
            bs = batch.batch_size
            optimizer.zero_grad()
            out = model(batch.x, batch.adj_t, bs, batch.n_id, batch.offset,
                        batch.count)
            mask = batch.train_mask[:bs]
            if int(mask.sum()) > 0:
                F.cross_entropy(out[mask], batch.y[:bs][mask]).backward()
                optimizer.step()
            max_rows = max(max_rows, batch.n_id.numel())
        return max_rows

    # No warm-up epoch: memory it freed would stay in the allocator, and
    # count as "before" instead of as working memory.
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # Resets the peak resident set size (VmHWM).
    before = _status('VmRSS')
    t = time.perf_counter()
    max_rows = epoch()
    return dict(seconds=time.perf_counter() - t,
                working_bytes=_status('VmHWM') - before,
                rss_before_bytes=before, data_bytes=data_bytes,
                history_bytes=history_bytes, num_parts=num_parts,
                max_batch_rows=max_rows, num_nodes=data.num_nodes,
                num_edges=data.edge_index.size(1) // 2)


CHILDREN = dict(build=child_build, partition=child_partition,
                epoch=child_epoch, memory=child_memory,
                full_fit=child_full_fit)


# Parent side #################################################################

def run_limited(cmd: List[str], env: Dict[str, str], mem_limit_gb: float,
                timeout: float) -> Dict[str, Any]:
    r"""Runs a child command under an address-space limit (inherited by its
    own children) and returns the JSON object on the last line of its
    output, with :obj:`ok` and :obj:`wall_s`; or :obj:`ok=False` with the
    error and whether it ran out of memory."""
    limit = int(mem_limit_gb * 2**30)

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                              preexec_fn=limit_memory, timeout=timeout)
    except subprocess.TimeoutExpired:
        return dict(ok=False, error=f'timed out after {timeout:.0f}s')
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        oom = any(s in proc.stderr for s in (
            "can't allocate memory", 'MemoryError', 'out of memory',
            'std::bad_alloc'))
        return dict(ok=False, out_of_memory=oom, wall_s=wall,
                    error=' | '.join(tail))
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return dict(ok=True, wall_s=wall, **result)


def spawn(kind: str, args: Dict[str, Any], mem_limit_gb: float,
          threads: int, timeout: float) -> Dict[str, Any]:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, __file__, '--child', kind, json.dumps(args)]
    return run_limited(cmd, env, mem_limit_gb, timeout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--root', default='/tmp/pyg_gas_bench')
    parser.add_argument('--parts', nargs='+',
                        default=['build', 'partition', 'epoch', 'memory'])
    parser.add_argument('--scales', nargs='+', default=list(SCALES))
    parser.add_argument('--methods', nargs='+', default=list(METHODS))
    parser.add_argument('--epochs', type=int, default=1)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--mem-limit-gb', type=float, default=20.0)
    parser.add_argument('--timeout', type=float, default=3600.0)
    parser.add_argument('--sizes', nargs='+', type=int,
                        default=list(MEMORY_SIZES))
    parser.add_argument('--part-size', type=int, default=1000,
                        help='nodes per METIS part in the memory series')
    parser.add_argument('--batch-size', type=int, default=2,
                        help='parts per batch in the memory series')
    parser.add_argument('--max-batches', type=int, default=40,
                        help='batches of the measured epoch in the memory '
                        'series')
    args = parser.parse_args()
    cache_dir = osp.join(args.root, 'metis')
    results = load_results(OUT)

    def common(**kwargs: Any) -> Dict[str, Any]:
        return dict(kwargs, root=args.root, cache_dir=cache_dir)

    def run(kind: str, child_args: Dict[str, Any]) -> Dict[str, Any]:
        out = spawn(kind, child_args, args.mem_limit_gb, args.threads,
                    args.timeout)
        print(f'{kind} {child_args.get("dataset")} '
              f'{child_args.get("method", "")}: {out}', file=sys.stderr)
        return out

    if 'build' in args.parts:
        rows = {}
        for scale in args.scales:
            dataset = SCALES[scale]
            # Measure a fresh build: drop the cached graph first.
            folder = osp.join(args.root, 'synthetic')
            if osp.isdir(folder):
                for name in os.listdir(folder):
                    if name.startswith(dataset + '-'):
                        os.remove(osp.join(folder, name))
            rows[scale] = run('build', common(dataset=dataset))
        results['build'] = rows

    if 'partition' in args.parts:
        rows = {}
        for scale in args.scales:
            rows[scale] = run('partition', dict(
                common(dataset=SCALES[scale], num_parts=NUM_PARTS[scale]),
                cache_dir=None))  # Fresh: no cache read.
            # Then cache it for the epoch runs:
            run('partition', common(dataset=SCALES[scale],
                                    num_parts=NUM_PARTS[scale]))
        results['partition'] = rows

    if 'epoch' in args.parts:
        rows = results.get('epoch', {})
        for scale in args.scales:
            for method in args.methods:
                rows[f'{scale}/{method}'] = run('epoch', common(
                    dataset=SCALES[scale], method=method,
                    epochs=args.epochs, lean_parts=LEAN_PARTS[scale],
                    eval_parts=EVAL_PARTS[scale]))
        results['epoch'] = rows

    if 'full_fit' in args.parts:
        # Full batch at fractions of products' size, fitted linearly in the
        # number of nodes (the edges grow with them, at the same degree):
        rows = {}
        for n in FULL_FIT_SIZES:
            rows[str(n)] = run('full_fit', common(
                dataset='synthetic-products',
                kwargs=dict(num_nodes=n, avg_degree=PRODUCTS_DEGREE)))
        ok = [(int(n), r['peak_bytes']) for n, r in rows.items()
              if r.get('ok')]
        if len(ok) >= 2:
            (n0, m0), (n1, m1) = ok[0], ok[-1]
            slope = (m1 - m0) / (n1 - n0)
            rows['extrapolated_products_peak_bytes'] = m1 + slope * (
                SCALES_NODES['products'] - n1)
        results['full_fit'] = rows

    if 'memory' in args.parts:
        rows = {}
        for n in args.sizes:
            if n == SCALES_NODES['products']:
                child = common(dataset='synthetic-products')
            else:
                child = common(dataset='synthetic-products', kwargs=dict(
                    num_nodes=n, avg_degree=PRODUCTS_DEGREE))
            child.update(part_size=args.part_size,
                         batch_size=args.batch_size,
                         max_batches=args.max_batches)
            rows[str(n)] = run('memory', child)
        results['memory'] = rows

    meta = {key: value for key, value in results.get('meta', {}).items()
            if isinstance(value, dict)}
    results['meta'] = meta
    for part in args.parts:  # Each part keeps the settings it ran with.
        if part in CHILDREN:
            meta[part] = dict(
                python=platform.python_version(), machine=platform.machine(),
                cpus=os.cpu_count(), threads=args.threads,
                mem_limit_gb=args.mem_limit_gb, epochs=args.epochs,
                scales=args.scales, part_size=args.part_size,
                batch_size=args.batch_size, max_batches=args.max_batches,
                load_average=list(os.getloadavg()))
    os.makedirs(osp.dirname(OUT), exist_ok=True)
    tmp = OUT + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write('\n')
    os.replace(tmp, OUT)
    report(results)


SCALES_NODES = {'arxiv': 169_343, 'products': 2_449_029}


def report(results: Dict[str, Any]) -> None:
    if 'build' in results:
        print('| graph | build time (s) | peak memory (GiB) |')
        print('|---|---|---|')
        for scale, r in results['build'].items():
            print(f"| synthetic-{scale} | {r.get('seconds', 0):.1f} | "
                  f"{gib(r.get('peak_bytes'))} |")
    if 'partition' in results:
        print('\n| graph | parts | METIS time (s) | peak memory (GiB) |')
        print('|---|---|---|---|')
        for scale, r in results['partition'].items():
            print(f"| synthetic-{scale} | {NUM_PARTS[scale]} | "
                  f"{r.get('seconds', 0):.1f} | {gib(r.get('peak_bytes'))} |")
    if 'epoch' in results:
        print('\n| graph | method | epoch time (s) | peak memory (GiB) | '
              'vs full: time | vs full: memory |')
        print('|---|---|---|---|---|---|')
        for key, r in results['epoch'].items():
            scale, method = key.split('/')
            full = results['epoch'].get(f'{scale}/full', {})
            if not r.get('ok'):
                why = 'out of memory' if r.get('out_of_memory') else 'failed'
                print(f'| {scale} | {method} | {why} | – | – | – |')
                continue
            t, m = r['epoch_time_s'], r['peak_memory_bytes']
            rel_t = rel_m = '–'
            if full.get('ok'):
                rel_t = f"{t / full['epoch_time_s']:.2f}x"
                rel_m = f"{m / full['peak_memory_bytes']:.2f}x"
            print(f'| {scale} | {method} | {t:.1f} | {gib(m)} | {rel_t} | '
                  f'{rel_m} |')
    if 'full_fit' in results:
        print('\n| nodes | full-batch epoch (s) | peak memory (GiB) |')
        print('|---|---|---|')
        for n, r in results['full_fit'].items():
            if isinstance(r, dict) and r.get('ok'):
                print(f"| {int(n):,} | {r['seconds']:.1f} | "
                      f"{gib(r['peak_bytes'])} |")
        est = results['full_fit'].get('extrapolated_products_peak_bytes')
        if est is not None:
            print(f'| 2,449,029 (extrapolated) | – | {gib(est)} |')
    if 'memory' in results:
        print('\n| nodes | edges | max batch rows | working memory (MiB) | '
              'data (GiB) | histories (GiB) |')
        print('|---|---|---|---|---|---|')
        for n, r in results['memory'].items():
            if not r.get('ok'):
                print(f'| {n} | failed | | | | |')
                continue
            print(f"| {int(n):,} | {r['num_edges']:,} | "
                  f"{r['max_batch_rows']:,} | "
                  f"{r['working_bytes'] / 2**20:.0f} | "
                  f"{gib(r['data_bytes'])} | {gib(r['history_bytes'])} |")
        plot_memory(results['memory'])


def plot_memory(rows: Dict[str, Any]) -> None:
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        return
    ok = sorted(((int(n), r) for n, r in rows.items() if r.get('ok')),
                key=lambda item: item[0])
    if not ok:
        return
    n = [k for k, _ in ok]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(n, [r['working_bytes'] / 2**20 for _, r in ok], 'o-',
            label='GAS working memory (one epoch)')
    ax.plot(n, [(r['data_bytes'] + r['history_bytes']) / 2**20
                for _, r in ok], 's--', label='graph data + histories')
    ax.plot(n, [r['max_batch_rows'] * 256 * 4 * 4 / 2**20 for _, r in ok],
            ':', label='4 x largest batch + halo x 256 floats')
    ax.set_xscale('log')
    ax.set_yscale('log')
    ax.set_xlabel('nodes')
    ax.set_ylabel('MiB')
    ax.set_title('GCN-3x256, fixed batch size')
    ax.legend()
    fig.tight_layout()
    fig.savefig(osp.join(HERE, 'results', 'ogb_scale_memory.png'), dpi=120)


if __name__ == '__main__':
    if len(sys.argv) == 4 and sys.argv[1] == '--child':
        result = CHILDREN[sys.argv[2]](json.loads(sys.argv[3]))
        print(json.dumps(result))
    else:
        main()
