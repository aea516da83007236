r"""Training from disk inside a memory cap (``pyg-gas prepare`` and
``pyg-gas train --data-dir --history-storage disk``), against the same
configuration in memory.

Every step runs as a child process inside its own memory cgroup (see
:mod:`pyg_gas.cgroup`: the v1 controller under ``/sys/fs/cgroup/memory``, or
v2 ``memory.max``), which reports the cgroup's peak usage (anonymous memory
*and* page cache: the kernel reclaims the cache of the memory-mapped files
under the cap, so a run that streams a dataset larger than the cap peaks at
the cap) and a sampled peak of its anonymous memory. Uncapped steps run in a
cgroup of ``--free-cap`` so that their peaks are read the same way.

Parts (``--parts``):

* ``products``: ``synthetic-products`` (2,449,029 nodes, 123.7M directed
  edges, 100 features, 47 classes), GCN-3x256 (dropout 0.3), 448 parts, one
  per batch (about 5,500 nodes and 90,000 halo rows), 3 epochs and one
  exact layer-wise inference:

  - ``memory``: ``pyg-gas train --dataset synthetic-products`` (METIS in
    memory, the whole graph and the histories in memory), uncapped;
  - ``disk-metis``: the graph prepared with the same METIS partition, run
    from disk with disk histories, under ``--cap`` (same partition, seed and
    model as ``memory``: the same computation);
  - ``memory-stream``: the graph of ``disk-stream``, uncapped, with the
    histories in memory (the files stay in the page cache): the same
    partition and batches as ``disk-stream``, in memory;
  - ``disk-stream``: prepared under the cap with the bounded-memory
    partitioner (``--partition stream``) and run from disk under the cap:
    the whole pipeline inside the cap;
  - ``disk-stream-rows``: the same with ``--history-layout rows`` (each
    node's features and history rows in one page of one file).

* ``sweep``: graphs of 10^5, 10^6 and 10^7 nodes (average degree 10, 32
  features; clusters of 25,000 nodes, split into ranges of at most 50,000
  in-edges by ``--max-cluster-edges``, one range per batch; GCN-2x64),
  prepared with ``--partition stream`` and trained one epoch from disk, all
  under the same cap: the peak memory should stay flat, and the epoch time
  grow linearly with the edges. ``--sweep-max-cluster-edges 0`` trains
  whole clusters instead.

* ``distributed``: 2 ranks (``--nproc 2``) on one prepared synthetic-arxiv
  directory; each rank's resident memory before training against the bytes
  of its shard and halo cache, above an import-only process and above the
  same run on a 2,000-node graph.

* ``dd``: the disk's sequential read bandwidth with direct I/O (``dd``), to
  compare the bytes read per training epoch (from ``/proc/self/io``) with.

Prints tables, writes ``results/out_of_core.json`` (each part replaces its
own section) and ``results/out_of_core_sweep.png`` (with matplotlib).

    python benchmarks/out_of_core.py --root /tmp/ooc --parts dd products sweep
"""
import argparse
import json
import os
import os.path as osp
import platform
import shutil
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from pyg_gas.cgroup import cgroup_support, run_capped
from pyg_gas.utils import write_json

HERE = osp.dirname(osp.abspath(__file__))
OUT = osp.join(HERE, 'results', 'out_of_core.json')
GiB = 2**30
PRODUCTS = ['--model', 'gcn', '--layers', '3', '--hidden', '256',
            '--dropout', '0.3', '--num-parts', '448', '--batch-size', '1',
            '--device', 'cpu', '--no-progress', '--quiet']
#: The steps of the 'products' part, in the order they run.
PRODUCT_STEPS = ('prepare-stream', 'disk-stream', 'disk-stream-rows',
                 'memory-stream', 'metis', 'memory', 'prepare-metis',
                 'disk-metis')
SWEEP_SIZES = (100_000, 1_000_000, 10_000_000)
SWEEP_CONFIG = ('synthetic graphs (average degree 10, 32 features, 10 '
                'classes), prepared with --partition stream, clusters of '
                '25,000 nodes, {split}, one per batch; GCN-2x64, dropout 0, '
                'disk histories; 1 epoch and the exact inference; every step '
                'under a {cap:g} GiB cgroup v1 cap')
SWEEP_PREPARE_CONFIG = ('the synthetic graphs of the sweep, prepared with '
                        'prepare_synthetic(partition="stream", chunk_edges='
                        '{chunk}) under a {cap:g} GiB cgroup v1 cap, one '
                        'process each')
SWEEP_TRAIN = ['--model', 'gcn', '--layers', '2', '--hidden', '64',
               '--dropout', '0.0', '--batch-size', '1', '--epochs', '1',
               '--device', 'cpu', '--no-progress', '--quiet']


def cli(*args: str) -> List[str]:
    return [sys.executable, '-m', 'pyg_gas.cli', *args]


def dir_bytes(path: str) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            total += osp.getsize(osp.join(folder, name))
    return total


def step(name: str, cmd: List[str], cap: int,
         json_path: Optional[str] = None) -> Dict[str, Any]:
    r"""Runs one step under a cap and returns its measurements."""
    print(f'[{time.strftime("%H:%M:%S")}] {name}: {" ".join(cmd[2:])} '
          f'(cap {cap / GiB:.1f} GiB)', file=sys.stderr, flush=True)
    run = run_capped(cmd, cap)
    out: Dict[str, Any] = dict(
        step=name, cap_bytes=cap, returncode=run.returncode,
        oom_killed=run.oom_killed, wall_s=run.wall_s,
        cgroup_peak_bytes=run.peak_bytes,
        anon_peak_bytes=run.peak_rss_bytes, failcnt=run.failcnt)
    if run.returncode != 0:
        out['stderr'] = run.stderr[-3000:]
        print(run.stderr[-3000:], file=sys.stderr)
        return out
    if json_path is not None:
        with open(json_path) as f:
            result = json.load(f)
        curve = result['curve']
        out.update(
            epoch_time_s=result['epoch_time_s'],
            batches_per_epoch=result.get('batches_per_epoch'),
            epoch_times_s=curve['time_s'],
            read_bytes_per_epoch=curve.get('read_bytes'),
            inference_s=[t for t in curve.get('eval_time_s', [])
                         if t is not None],
            test_acc=result['test_acc'], val_acc=result['best_val_acc'],
            loss=curve['loss'], peak_rss_bytes=result['peak_memory_bytes'],
            num_nodes=result.get('num_nodes'),
            num_edges=result.get('num_edges'))
    else:
        out['stdout'] = run.stdout.strip().splitlines()[-1:]
    print(json.dumps({k: v for k, v in out.items() if k != 'stdout'}),
          file=sys.stderr, flush=True)
    return out


def part_dd(root: str) -> Dict[str, Any]:
    r"""Sequential direct-I/O read bandwidth of the disk under ``root``."""
    os.makedirs(root, exist_ok=True)
    path = osp.join(root, 'dd.bin')
    subprocess.run(['dd', 'if=/dev/urandom', f'of={path}', 'bs=4M',
                    'count=512', 'oflag=direct'], check=True,
                   capture_output=True)
    rates = []
    for _ in range(3):
        proc = subprocess.run(['dd', f'if={path}', 'of=/dev/null', 'bs=4M',
                               'iflag=direct'], capture_output=True,
                              text=True, check=True)
        line = proc.stderr.strip().splitlines()[-1]
        seconds = float(line.split(',')[-2].split()[0])
        rates.append(2 * GiB / seconds)
    os.remove(path)
    return dict(bytes=2 * GiB, read_bytes_per_s=rates,
                median_read_bytes_per_s=sorted(rates)[1])


def part_products(root: str, cap: int, free_cap: int, data_root: str,
                  epochs: int, only: List[str], steps: Dict[str, Any],
                  save: Callable[[], None]) -> None:
    r"""Runs the steps of :obj:`only` in order, recording each in
    :obj:`steps` and saving as soon as it is done."""
    os.makedirs(root, exist_ok=True)
    cache = osp.join(root, 'metis')
    disk_metis = osp.join(root, 'products-metis.gas')
    disk_stream = osp.join(root, 'products-stream.gas')
    epoch_args = ['--epochs', str(epochs), '--eval-every', str(epochs)]

    def train(name: str, args: List[str], limit: int) -> Dict[str, Any]:
        path = osp.join(root, f'{name}.json')
        return step(name, cli('train', *args, *PRODUCTS, *epoch_args,
                              '--json', path), limit, path)

    def prepare(name: str, out: str, method: str,
                limit: int) -> Dict[str, Any]:
        return step(name, cli('prepare', '--dataset', 'synthetic-products',
                              '--out', out, '--num-parts', '448',
                              '--partition', method, '--overwrite',
                              '--no-progress'), limit)

    runs: Dict[str, Callable[[], Dict[str, Any]]] = {
        # The whole pipeline under the cap: prepared with the
        # bounded-memory partitioner, trained from disk.
        'prepare-stream': lambda: prepare('prepare-stream', disk_stream,
                                          'stream', cap),
        'disk-stream': lambda: train('disk-stream', [
            '--data-dir', disk_stream, '--history-storage', 'disk'], cap),
        # The same, with each node's features and history rows in one page
        # of one file (one read a halo row):
        'disk-stream-rows': lambda: train('disk-stream-rows', [
            '--data-dir', disk_stream, '--history-storage', 'disk',
            '--history-layout', 'rows', '--history-path',
            osp.join(disk_stream, 'histories-rows')], cap),
        # The same prepared graph, partition and batches, uncapped and with
        # the histories in memory: the files stay in the page cache, so
        # this is the same run in memory.
        'memory-stream': lambda: train('memory-stream', [
            '--data-dir', disk_stream], free_cap),
        # In memory, uncapped, with the METIS partition computed beforehand
        # (METIS alone peaks far above the cap):
        'metis': lambda: step('metis', [
            sys.executable, '-c',
            'import sys; from pyg_gas import metis; '
            'from pyg_gas.datasets import load_dataset; '
            'from pyg_gas.graph import gcn_normalize; '
            'metis(gcn_normalize(load_dataset("synthetic-products", '
            'root=sys.argv[1])), 448, cache_dir=sys.argv[2], log=False)',
            data_root, cache], free_cap),
        'memory': lambda: train('memory', [
            '--dataset', 'synthetic-products', '--root', data_root,
            '--cache-dir', cache], free_cap),
        # The same METIS partition prepared on disk (METIS needs memory,
        # so uncapped), trained from disk under the cap:
        'prepare-metis': lambda: prepare('prepare-metis', disk_metis,
                                         'metis', free_cap),
        'disk-metis': lambda: train('disk-metis', [
            '--data-dir', disk_metis, '--history-storage', 'disk'], cap),
    }
    for name in PRODUCT_STEPS:
        if name in only:
            steps[name] = runs[name]()
            if name not in ('metis', 'memory', 'memory-stream'):
                out = disk_stream if 'stream' in name else disk_metis
                # The dataset, and the histories of this run only:
                other = 'histories' if name.endswith('-rows') else \
                    'histories-rows'
                steps[name]['bytes_on_disk'] = dir_bytes(out) - dir_bytes(
                    osp.join(out, other))
            save()
    for mem_name, disk_name in (('memory', 'disk-metis'),
                                ('memory-stream', 'disk-stream'),
                                ('memory-stream', 'disk-stream-rows')):
        mem, disk = steps.get(mem_name, {}), steps.get(disk_name, {})
        if 'epoch_time_s' in mem and 'epoch_time_s' in disk:
            steps[f'{disk_name}_vs_{mem_name}'] = dict(
                epoch_time_ratio=disk['epoch_time_s'] / mem['epoch_time_s'],
                same_losses=mem['loss'] == disk['loss'])
    save()


#: The chunks of edges the sweep prepares its graphs in: the 10^5 graph's
#: 10^6 directed edges fill two, so a larger graph's memory is measured
#: against a run that already fills its chunks.
SWEEP_CHUNK_EDGES = 1 << 19


def _prepare_sweep_graph(path: str, num_nodes: int, cap: int
                         ) -> Tuple[Dict[str, Any], int]:
    # Prepares the sweep's graph of 'num_nodes' nodes under 'cap': the
    # step's measurements and the number of clusters.
    num_parts = max(num_nodes // 25_000, 2)
    return step(f'prepare-{num_nodes}', [
        sys.executable, '-c',
        'import sys, json; from pyg_gas.storage import prepare_synthetic; '
        'ds = prepare_synthetic(sys.argv[1], name="synthetic", '
        'num_nodes=int(sys.argv[2]), avg_degree=10, num_features=32, '
        'num_classes=10, num_parts=int(sys.argv[3]), '
        'partition="stream", chunk_edges=int(sys.argv[4]), '
        'overwrite=True, log=False); '
        'print(json.dumps(dict(bytes=ds.nbytes)))',
        path, str(num_nodes), str(num_parts), str(SWEEP_CHUNK_EDGES)],
        cap), num_parts


def part_sweep_prepare(root: str, cap: int,
                       sizes: List[int]) -> Dict[str, Any]:
    r"""Prepares the sweep's graphs alone, each under the cap: the memory
    and time of preparing, without training on them."""
    rows = []
    for num_nodes in sizes:
        path = osp.join(root, f'sweep-{num_nodes}.gas')
        prep, num_parts = _prepare_sweep_graph(path, num_nodes, cap)
        rows.append(dict(num_nodes=num_nodes, num_parts=num_parts,
                         prepare=prep, bytes_on_disk=dir_bytes(path)))
        shutil.rmtree(path, ignore_errors=True)
    return dict(config=SWEEP_PREPARE_CONFIG.format(
        cap=cap / GiB, chunk=SWEEP_CHUNK_EDGES), rows=rows)


def part_sweep(root: str, cap: int, sizes: List[int],
               max_cluster_edges: int) -> Dict[str, Any]:
    split = []
    if max_cluster_edges > 0:
        split = ['--max-cluster-edges', str(max_cluster_edges)]
    rows = []
    for num_nodes in sizes:
        path = osp.join(root, f'sweep-{num_nodes}.gas')
        prep, num_parts = _prepare_sweep_graph(path, num_nodes, cap)
        json_path = osp.join(root, f'sweep-{num_nodes}.json')
        train = step(f'train-{num_nodes}', cli(
            'train', '--data-dir', path, '--history-storage', 'disk',
            '--num-parts', str(num_parts), *SWEEP_TRAIN, *split, '--json',
            json_path), cap, json_path)
        train['bytes_on_disk'] = dir_bytes(path)
        rows.append(dict(num_nodes=num_nodes, num_parts=num_parts,
                         prepare=prep, train=train))
        shutil.rmtree(path, ignore_errors=True)
    text = (f'split into ranges of at most {max_cluster_edges:,} in-edges'
            if max_cluster_edges > 0 else 'not split')
    return dict(config=SWEEP_CONFIG.format(cap=cap / GiB, split=text),
                max_cluster_edges=max_cluster_edges or None, rows=rows)


def _two_ranks(path: str, json_path: str) -> Dict[str, Any]:
    # 2 ranks on the prepared directory 'path', 1 epoch: their results,
    # with the bytes of each rank's shard and halo cache (features, labels,
    # masks and CSR of its own rows and halo, as the ranks hold them).
    subprocess.run(cli('train', '--data-dir', path, '--history-storage',
                       'disk', '--nproc', '2', '--epochs', '1', '--json',
                       json_path, '--no-progress', '--quiet'), check=True,
                   capture_output=True)
    with open(json_path) as f:
        result = json.load(f)
    with open(osp.join(path, 'manifest.json')) as f:
        manifest = json.load(f)
    features = manifest['arrays']['x']['shape'][1]
    rows = [o + h for o, h in zip(result['owned_nodes_per_rank'],
                                  result['halo_rows_per_rank'])]
    result['shard_bytes_per_rank'] = [
        r * (4 * features + 8 + 3) + o * 8 + e * (8 + 4)
        for r, o, e in zip(rows, result['owned_nodes_per_rank'],
                           result['edges_per_rank'])
    ]
    return result


def part_distributed(root: str) -> Dict[str, Any]:
    r"""2 ranks on one prepared synthetic-arxiv directory: each rank's
    resident memory before training against the bytes of its shard (own
    rows and halo cache: features, labels, masks, CSR), beside two
    baselines: a process that only imported torch, PyG and pyg_gas, and
    the same 2-rank run on a 2,000-node graph of the same features, classes
    and model (the program's own memory: the code it runs, its threads and
    buffers, the model). Against the second, the ratio is how resident
    memory grows with the shard."""
    os.makedirs(root, exist_ok=True)
    path = osp.join(root, 'arxiv.gas')
    if not osp.exists(osp.join(path, 'manifest.json')):
        subprocess.run(cli('prepare', '--dataset', 'synthetic-arxiv', '--out',
                           path, '--num-parts', '80', '--no-progress'),
                       check=True, capture_output=True)
    small_path = osp.join(root, 'arxiv-2000.gas')
    subprocess.run([
        sys.executable, '-c',
        'import sys; from pyg_gas.storage import prepare_synthetic; '
        'prepare_synthetic(sys.argv[1], name="synthetic-arxiv", '
        'num_nodes=2000, num_edges=14000, num_parts=8, overwrite=True, '
        'log=False)', small_path], check=True, capture_output=True)
    baseline = subprocess.run([
        sys.executable, '-c', 'import torch, torch_geometric, pyg_gas; '
        'status = open("/proc/self/status").read(); '
        'print(*(status.split(f"{k}:")[1].split()[0] '
        'for k in ("VmRSS", "RssAnon")))'],
        capture_output=True, text=True, check=True)
    base, base_anon = (int(v) * 1024 for v in baseline.stdout.split())
    small = _two_ranks(small_path, osp.join(root, 'arxiv-2000-2ranks.json'))
    result = _two_ranks(path, osp.join(root, 'arxiv-2ranks.json'))
    shard = result['shard_bytes_per_rank']
    resident = result['resident_before_training_bytes_per_rank']
    anon = result['anonymous_before_training_bytes_per_rank']
    small_shard = small['shard_bytes_per_rank']
    small_resident = small['resident_before_training_bytes_per_rank']
    small_anon = small['anonymous_before_training_bytes_per_rank']

    def growth(big: List[int], little: List[int]) -> List[float]:
        return [(b - m) / (s - t) for b, m, s, t in zip(
            big, little, shard, small_shard)]

    return dict(baseline_bytes=base, baseline_anonymous_bytes=base_anon,
                shard_bytes_per_rank=shard,
                resident_before_training_bytes_per_rank=resident,
                anonymous_before_training_bytes_per_rank=anon,
                ratio_per_rank=[r / s for r, s in zip(resident, shard)],
                ratio_above_baseline_per_rank=[(r - base) / s for r, s in
                                               zip(resident, shard)],
                anonymous_ratio_above_baseline_per_rank=[
                    (a - base_anon) / s for a, s in zip(anon, shard)],
                small_graph=dict(
                    num_nodes=2000, shard_bytes_per_rank=small_shard,
                    resident_before_training_bytes_per_rank=small_resident,
                    anonymous_before_training_bytes_per_rank=small_anon),
                ratio_above_small_graph_per_rank=growth(resident,
                                                        small_resident),
                anonymous_ratio_above_small_graph_per_rank=growth(
                    anon, small_anon),
                owned_nodes_per_rank=result['owned_nodes_per_rank'],
                halo_rows_per_rank=result['halo_rows_per_rank'],
                edges_per_rank=result['edges_per_rank'],
                test_acc=result['test_acc'])


def plot(sweep: Dict[str, Any], path: str,
         whole: Optional[Dict[str, Any]] = None) -> None:
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        return
    rows = [r for r in sweep['rows'] if 'epoch_time_s' in r['train']]
    if not rows:
        return
    edges = [r['train']['num_edges'] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].plot(edges, [r['train']['epoch_time_s'] for r in rows], 'o-')
    axes[0].set(xscale='log', yscale='log', xlabel='edges',
                ylabel='epoch time (s)', title='Epoch time from disk')
    for key, label in (('cgroup_peak_bytes', 'cgroup peak (with cache)'),
                       ('anon_peak_bytes', 'anonymous memory (sampled)'),
                       ('peak_rss_bytes', 'peak RSS')):
        axes[1].plot(edges, [r['train'][key] / GiB for r in rows], 'o-',
                     label=label)
    whole_rows = [r for r in (whole or {}).get('rows', [])
                  if 'epoch_time_s' in r['train']]
    if whole_rows and sweep.get('max_cluster_edges'):
        axes[1].plot([r['train']['num_edges'] for r in whole_rows],
                     [r['train']['anon_peak_bytes'] / GiB
                      for r in whole_rows], 'x:', color='gray',
                     label='anonymous, whole clusters')
    axes[1].axhline(rows[0]['train']['cap_bytes'] / GiB, color='k',
                    ls='--', label='cap')
    axes[1].set(xscale='log', xlabel='edges', ylabel='GiB',
                title='Memory under a fixed cap')
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--root', default='/tmp/pyg_gas_ooc')
    parser.add_argument('--parts', nargs='+', default=['dd', 'products',
                                                       'sweep'],
                        choices=['dd', 'products', 'sweep',
                                 'sweep-prepare', 'distributed'])
    parser.add_argument('--cap-gb', type=float, default=2.5)
    parser.add_argument('--sweep-cap-gb', type=float, default=1.5)
    parser.add_argument('--free-cap-gb', type=float, default=22.0)
    parser.add_argument('--sweep-sizes', type=int, nargs='+',
                        default=list(SWEEP_SIZES))
    parser.add_argument('--sweep-max-cluster-edges', type=int,
                        default=50_000,
                        help='split the clusters of the sweep into ranges of '
                        'at most this many in-edges (0: whole clusters)')
    parser.add_argument('--out', default=OUT)
    parser.add_argument('--epochs', type=int, default=3,
                        help='training epochs of the products runs')
    parser.add_argument('--steps', nargs='+', default=list(PRODUCT_STEPS),
                        choices=list(PRODUCT_STEPS),
                        help='the steps of the products part to run (the '
                        'others keep their results in --out)')
    parser.add_argument('--data-root', default=None,
                        help='where the in-memory run caches the generated '
                        'graph (default: --root)')
    args = parser.parse_args()
    reason = cgroup_support()
    if reason is not None:
        raise SystemExit(f'No memory cgroup: {reason}')
    results: Dict[str, Any] = {}
    if osp.exists(args.out):
        with open(args.out) as f:
            results = json.load(f)
    # Fields recorded by hand (the disk, the versions) stay:
    results['machine'] = dict(
        results.get('machine', {}), cpus=os.cpu_count(),
        python=platform.python_version(),
        memory_bytes=os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES'),
        load_average=os.getloadavg())
    cap, free = int(args.cap_gb * GiB), int(args.free_cap_gb * GiB)
    if 'dd' in args.parts:
        results['dd'] = part_dd(args.root)
    def save() -> None:
        write_json(args.out, results)

    if 'products' in args.parts:
        results['products'] = results.get('products', {})
        part_products(args.root, cap, free, args.data_root or args.root,
                      args.epochs, args.steps, results['products'], save)
    if 'distributed' in args.parts:
        results['distributed'] = part_distributed(args.root)
        save()
    if 'sweep-prepare' in args.parts:
        results['sweep_prepare'] = part_sweep_prepare(
            args.root, int(args.sweep_cap_gb * GiB), args.sweep_sizes)
        save()
    if 'sweep' in args.parts:
        results['sweep'] = part_sweep(args.root,
                                      int(args.sweep_cap_gb * GiB),
                                      args.sweep_sizes,
                                      args.sweep_max_cluster_edges)
        plot(results['sweep'], osp.join(osp.dirname(args.out),
                                        'out_of_core_sweep.png'),
             results.get('sweep_whole_clusters'))
    save()
    print(json.dumps(results, indent=1)[:4000])


if __name__ == '__main__':
    main()
