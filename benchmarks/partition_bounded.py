r"""METIS against the bounded-memory partitioner (restreamed LDG,
:func:`pyg_gas.partition.partition_csr`) on the synthetic graphs of
:mod:`pyg_gas.datasets.synthetic` (``synthetic-arxiv``: 169,343 nodes,
1.17M edges; ``synthetic-products``: 2,449,029 nodes, 61.9M edges).

Every measurement runs in a fresh child process, so that its peak resident
set size (``VmHWM``) is its own. Before a heavy child starts, the parent
checks that the machine has the memory it needs (``MemAvailable``), and
records the child as skipped otherwise.

Parts (``--parts``):

* ``prepare``: writes each graph's in-edge CSR (``int64`` offsets,
  ``int32`` sources: what :func:`~pyg_gas.partition.stream_partition`
  builds) and METIS' symmetric CSR (``int64``: what :func:`~pyg_gas.metis`
  hands to pymetis) as ``.npy`` files below ``--root``;
* ``glue``: the time and peak memory of building METIS' symmetric CSR from
  the loaded graph (the glue around pymetis);
* ``partition``: the time and peak memory of

  - ``metis``: :func:`pyg_gas.metis` on the loaded graph (pymetis),
  - ``metis-alone``: pymetis alone on the symmetric CSR, read from disk,
  - ``ldg``: :func:`~pyg_gas.partition.stream_partition` on the loaded
    graph,
  - ``ldg-mmap``: :func:`~pyg_gas.partition.partition_csr` on the
    memory-mapped in-edge CSR, without the graph (its peak anonymous
    memory, sampled every 20 ms, is reported too: the peak RSS also counts
    the mapped file pages it read, which the kernel may reclaim);

* ``quality``: cut edges (the fraction of edges between clusters) and halo
  rows per batch of ``SubgraphLoader``: batches of consecutive clusters (as
  ``EvalSubgraphLoader`` and ``shuffle=False`` draw them; checked against
  ``SubgraphLoader`` at arxiv scale) and random groups of clusters (as
  training draws them, ``--halo-draws`` epochs' worth);
* ``train``: GCN-3x256 with the GAS preset of ogbn-arxiv (80 parts, 40 per
  batch, dropout 0.5, batch norm, lr 0.01) for ``--epochs`` epochs on each
  partition: median training epoch time, best validation accuracy and the
  test accuracy at it (arxiv scale only: an epoch at products scale takes
  about 4 minutes and 15 GiB here).

Prints tables and writes ``results/partition_bounded.json`` (each part
replaces its own sections).

    python benchmarks/partition_bounded.py --root /tmp/pyg_gas_bench \
        --scales arxiv products
"""
import argparse
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List

from _common import gib, load_results

HERE = osp.dirname(osp.abspath(__file__))
OUT = osp.join(HERE, 'results', 'partition_bounded.json')
SCALES = {'arxiv': 'synthetic-arxiv', 'products': 'synthetic-products'}
PARTS = ('prepare', 'glue', 'partition', 'quality', 'train')
METHODS = ('metis', 'metis-alone', 'ldg', 'ldg-mmap')
#: (parts, clusters per batch): the GCN presets of the GAS paper
#: (ogbn-arxiv: 80 parts, 40 per batch; ogbn-products: 7 parts, 1 per
#: batch) and, at arxiv scale, a finer one.
SETTINGS = {'arxiv': [(80, 40), (40, 10)], 'products': [(7, 1)]}
#: The memory (GiB) a child needs at products scale (measured), checked
#: against MemAvailable before it starts; at arxiv scale all need < 3 GiB.
NEEDS_GB = {'prepare': 8, 'glue': 6, 'metis': 19, 'metis-alone': 16,
            'ldg': 6, 'ldg-mmap': 2, 'quality': 3, 'train': 16}
#: The glue of pyg_gas.metis before this benchmark's commit (08b0a5f: keys
#: through torch.unique, reversed keys through divisions and a full sort),
#: measured by the 'glue' child on this machine; 'after' is the 'glue'
#: part of this file.
GLUE_BEFORE = {
    'arxiv': dict(seconds=1.93, peak_bytes=int(0.587 * 2**30),
                  rss_before_bytes=int(0.458 * 2**30)),
    'products': dict(seconds=18.6, peak_bytes=int(8.658 * 2**30),
                     rss_before_bytes=int(3.122 * 2**30),
                     seconds_under_load=[42.8, 46.3]),
}


# Child side ##################################################################

def _status(key: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def _peak() -> int:
    return _status('VmHWM')


def _folder(args: Dict[str, Any]) -> str:
    path = osp.join(args['root'], 'partition_bounded', args['scale'])
    os.makedirs(path, exist_ok=True)
    return path


def _load(args: Dict[str, Any]) -> Any:
    from pyg_gas.datasets import load_dataset
    return load_dataset(SCALES[args['scale']], root=args['root'])


def _sizes(ptr: Any, num_parts: int, num_nodes: int) -> Dict[str, float]:
    sizes = (ptr[1:] - ptr[:-1]).tolist()
    return dict(max_part_ratio=max(sizes) * num_parts / num_nodes,
                min_part_ratio=min(sizes) * num_parts / num_nodes)


def child_prepare(args: Dict[str, Any]) -> Dict[str, Any]:
    import numpy as np

    from pyg_gas.partition import _in_csr, _symmetric_csr

    folder = _folder(args)
    data = _load(args)
    rowptr, col = _in_csr(data.edge_index, data.num_nodes)
    np.save(osp.join(folder, 'in_rowptr.npy'), rowptr)
    np.save(osp.join(folder, 'in_col.npy'), col)
    del rowptr, col
    rowptr, col, _ = _symmetric_csr(data.edge_index, data.num_nodes)
    np.save(osp.join(folder, 'sym_rowptr.npy'), rowptr.numpy())
    np.save(osp.join(folder, 'sym_col.npy'), col.numpy())
    return dict(num_nodes=data.num_nodes, in_entries=int(col.numel()),
                peak_bytes=_peak())


def child_glue(args: Dict[str, Any]) -> Dict[str, Any]:
    from pyg_gas.partition import _symmetric_csr

    data = _load(args)
    before = _status('VmRSS')
    t = time.perf_counter()
    _, col, symmetric = _symmetric_csr(data.edge_index, data.num_nodes)
    return dict(seconds=time.perf_counter() - t, peak_bytes=_peak(),
                rss_before_bytes=before, symmetric=symmetric,
                entries=int(col.numel()))


def child_partition(args: Dict[str, Any]) -> Dict[str, Any]:
    import numpy as np
    import torch

    from pyg_gas.partition import (
        metis,
        partition_csr,
        parts_to_perm,
        stream_partition,
    )

    folder, method, num_parts = _folder(args), args['method'], args['parts']
    out: Dict[str, Any] = {}
    if method in ('metis', 'ldg'):
        data = _load(args)
        num_nodes = data.num_nodes
        before = _status('VmRSS')
        fn = metis if method == 'metis' else stream_partition
        t = time.perf_counter()
        perm, ptr = fn(data, num_parts, log=False)
        out.update(seconds=time.perf_counter() - t, peak_bytes=_peak(),
                   rss_before_bytes=before)
    elif method == 'metis-alone':
        import pymetis
        rowptr = np.load(osp.join(folder, 'sym_rowptr.npy'))
        col = np.load(osp.join(folder, 'sym_col.npy'))
        num_nodes = rowptr.shape[0] - 1
        before = _status('VmRSS')
        t = time.perf_counter()
        _, parts = pymetis.part_graph(
            num_parts, pymetis.CSRAdjacency(rowptr, col), recursive=False,
            options=pymetis.Options(seed=0))
        cluster = torch.from_numpy(np.asarray(parts, dtype=np.int64))
        out.update(seconds=time.perf_counter() - t, peak_bytes=_peak(),
                   rss_before_bytes=before)
        perm, ptr = parts_to_perm(cluster, num_parts)
        path = osp.join(folder, f'metis-{num_parts}.pt')
        if osp.exists(path):  # The same as pyg_gas.metis?
            stored = torch.load(path)
            out['same_as_metis'] = bool(torch.equal(stored['perm'], perm))
    else:  # 'ldg-mmap'
        peak_anon = [0]

        def sample() -> None:
            while True:
                peak_anon[0] = max(peak_anon[0], _status('RssAnon'))
                time.sleep(0.02)

        threading.Thread(target=sample, daemon=True).start()
        rowptr = np.load(osp.join(folder, 'in_rowptr.npy'), mmap_mode='r')
        col = np.load(osp.join(folder, 'in_col.npy'), mmap_mode='r')
        num_nodes = rowptr.shape[0] - 1
        before, anon_before = _status('VmRSS'), _status('RssAnon')
        t = time.perf_counter()
        part = partition_csr(rowptr, col, num_parts, log=False)
        out.update(seconds=time.perf_counter() - t, peak_bytes=_peak(),
                   rss_before_bytes=before, anon_before_bytes=anon_before,
                   peak_anon_bytes=max(peak_anon[0], _status('RssAnon')))
        perm, ptr = parts_to_perm(part, num_parts)
        path = osp.join(folder, f'ldg-{num_parts}.pt')
        if osp.exists(path):  # The same as stream_partition?
            stored = torch.load(path)
            out['same_as_ldg'] = bool(torch.equal(stored['perm'], perm))
    out.update(_sizes(ptr, num_parts, num_nodes))
    torch.save(dict(perm=perm, ptr=ptr),
               osp.join(folder, f'{method}-{num_parts}.pt'))
    return out


def _halos(rowptr: Any, col: Any, cluster: Any, groups: List[Any],
           num_parts: int) -> List[int]:
    # The halo rows of each group of clusters: the sources of the edges
    # into the group's nodes that lie outside the group.
    import numpy as np
    out = []
    for group in groups:
        chosen = np.zeros(num_parts, dtype=bool)
        chosen[group] = True
        inside = chosen[cluster]  # [N]
        seen = np.zeros(cluster.shape[0], dtype=bool)
        for lo in range(0, cluster.shape[0], 1 << 18):
            hi = min(lo + (1 << 18), cluster.shape[0])
            rows = inside[lo:hi]
            if not rows.any():
                continue
            a, b = int(rowptr[lo]), int(rowptr[hi])
            mask = np.repeat(rows, np.diff(np.asarray(rowptr[lo:hi + 1])))
            seen[np.asarray(col[a:b])[mask]] = True
        out.append(int((seen & ~inside).sum()))
    return out


def child_quality(args: Dict[str, Any]) -> Dict[str, Any]:
    import numpy as np
    import torch

    folder, num_parts = _folder(args), args['parts']
    batch_size = args['batch_size']
    rowptr = np.load(osp.join(folder, 'in_rowptr.npy'), mmap_mode='r')
    col = np.load(osp.join(folder, 'in_col.npy'), mmap_mode='r')
    num_nodes = rowptr.shape[0] - 1
    out: Dict[str, Any] = {}
    for method in args['methods']:
        path = osp.join(folder, f'{method}-{num_parts}.pt')
        if not osp.exists(path):
            continue
        stored = torch.load(path)
        perm, ptr = stored['perm'], stored['ptr']
        cluster = np.empty(num_nodes, dtype=np.int64)
        cluster[perm.numpy()] = np.repeat(np.arange(num_parts),
                                          np.diff(ptr.numpy()))
        cut = 0
        for lo in range(0, num_nodes, 1 << 18):
            hi = min(lo + (1 << 18), num_nodes)
            a, b = int(rowptr[lo]), int(rowptr[hi])
            row = np.repeat(cluster[lo:hi],
                            np.diff(np.asarray(rowptr[lo:hi + 1])))
            cut += int((row != cluster[np.asarray(col[a:b])]).sum())
        consecutive = [np.arange(s, min(s + batch_size, num_parts))
                       for s in range(0, num_parts, batch_size)]
        halos = _halos(rowptr, col, cluster, consecutive, num_parts)
        row = dict(cut_fraction=cut / int(rowptr[-1]),
                   halo_mean=float(np.mean(halos)), halo_max=max(halos),
                   halos=halos)
        if batch_size > 1:  # Random groups, as a shuffling loader draws.
            rng = np.random.default_rng(0)
            drawn = []
            for _ in range(args['halo_draws']):
                order = rng.permutation(num_parts)
                drawn += _halos(rowptr, col, cluster, [
                    order[s:s + batch_size]
                    for s in range(0, num_parts, batch_size)], num_parts)
            row.update(random_halo_mean=float(np.mean(drawn)),
                       random_halo_max=max(drawn))
        if args['check_loader']:  # The same halos as SubgraphLoader's?
            from pyg_gas import SubgraphLoader, permute
            data = permute(_load(args), perm)
            loader = SubgraphLoader(data, ptr, batch_size=batch_size)
            loader_halos = [int(batch.n_id.numel()) - int(batch.batch_size)
                            for batch in loader]
            row['same_halos_as_loader'] = loader_halos == halos
        out[method] = row
    return out


def child_train(args: Dict[str, Any]) -> Dict[str, Any]:
    import statistics

    import torch
    import torch.nn.functional as F

    from pyg_gas import EvalSubgraphLoader, SubgraphLoader, permute
    from pyg_gas.nn.models import GCN

    torch.manual_seed(args['seed'])
    folder, num_parts = _folder(args), args['parts']
    stored = torch.load(osp.join(folder, f"{args['method']}-{num_parts}.pt"))
    data = _load(args)
    model = GCN(data.num_nodes, data.num_features, hidden_channels=256,
                out_channels=int(data.num_classes), num_layers=3,
                dropout=0.5, drop_input=False, batch_norm=True)
    data = permute(model.transform(data), stored['perm'])
    loader = SubgraphLoader(data, stored['ptr'],
                            batch_size=args['batch_size'], shuffle=True)
    eval_loader = EvalSubgraphLoader(data, stored['ptr'],
                                     batch_size=args['batch_size'],
                                     collater=loader.collater)
    optimizer = torch.optim.Adam(model.param_groups(), lr=0.01)
    times, best_val, test_acc, eval_times = [], 0.0, 0.0, []
    for _ in range(args['epochs']):
        model.train()
        t = time.perf_counter()
        for batch in loader:
            bs = batch.batch_size
            optimizer.zero_grad()
            out = model(batch.x, batch.adj_t, bs, batch.n_id, batch.offset,
                        batch.count)
            mask = batch.train_mask[:bs]
            if int(mask.sum()) == 0:
                continue
            F.cross_entropy(out[mask], batch.y[:bs][mask]).backward()
            optimizer.step()
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        with torch.no_grad():
            pred = model.inference(eval_loader).argmax(dim=-1)
        eval_times.append(time.perf_counter() - t)
        val, test = [float((pred[m] == data.y[m]).float().mean())
                     for m in (data.val_mask, data.test_mask)]
        if val > best_val:
            best_val, test_acc = val, test
    return dict(epoch_time_s=statistics.median(times),
                eval_time_s=statistics.median(eval_times),
                best_val_acc=best_val, test_acc=test_acc,
                epochs=args['epochs'], peak_bytes=_peak())


CHILDREN = dict(prepare=child_prepare, glue=child_glue,
                partition=child_partition, quality=child_quality,
                train=child_train)


# Parent side #################################################################

def available_gb() -> float:
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemAvailable:'):
                return int(line.split()[1]) / 2**20
    return 0.0


def spawn(kind: str, args: Dict[str, Any], threads: int, timeout: float,
          need_gb: float) -> Dict[str, Any]:
    free = available_gb()
    if free < need_gb:
        return dict(ok=False, skipped=True,
                    error=f'needs about {need_gb} GiB, {free:.1f} GiB '
                    f'available')
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, __file__, '--child', kind, json.dumps(args)]
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return dict(ok=False, error=f'timed out after {timeout:.0f}s')
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        return dict(ok=False, error=' | '.join(tail))
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return dict(ok=True, wall_s=time.perf_counter() - t, **result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--root', default='/tmp/pyg_gas_bench')
    parser.add_argument('--parts', nargs='+', default=list(PARTS))
    parser.add_argument('--scales', nargs='+', default=['arxiv'])
    parser.add_argument('--methods', nargs='+', default=list(METHODS))
    parser.add_argument('--epochs', type=int, default=30)
    parser.add_argument('--seeds', nargs='+', type=int, default=[0])
    parser.add_argument('--halo-draws', type=int, default=10)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--timeout', type=float, default=3600.0)
    args = parser.parse_args()
    results = load_results(OUT)

    def run(kind: str, scale: str, need: str, **kwargs: Any) -> Any:
        child = dict(kwargs, root=args.root, scale=scale)
        need_gb = NEEDS_GB[need] if scale == 'products' else 3
        out = spawn(kind, child, args.threads, args.timeout, need_gb)
        print(f'{kind} {scale} {kwargs}: {out}', file=sys.stderr)
        return out

    for scale in args.scales:
        section = results.setdefault(scale, {})
        settings = SETTINGS[scale]
        if 'prepare' in args.parts:
            section['prepare'] = run('prepare', scale, 'prepare')
        if 'glue' in args.parts:
            section['glue'] = dict(after=run('glue', scale, 'glue'),
                                   before=GLUE_BEFORE[scale])
        if 'partition' in args.parts:
            rows = section.setdefault('partition', {})
            for num_parts, _ in settings:
                row = rows.setdefault(str(num_parts), {})
                for method in args.methods:  # 'metis' before 'metis-alone'.
                    row[method] = run('partition', scale, method,
                                      method=method, parts=num_parts)
        if 'quality' in args.parts:
            rows = section.setdefault('quality', {})
            for num_parts, batch_size in settings:
                rows[f'{num_parts}x{batch_size}'] = run(
                    'quality', scale, 'quality', parts=num_parts,
                    batch_size=batch_size, methods=['metis', 'ldg'],
                    halo_draws=args.halo_draws,
                    check_loader=scale == 'arxiv')
        if 'train' in args.parts and scale == 'arxiv':
            rows = section.setdefault('train', {})
            num_parts, batch_size = settings[0]
            for seed in args.seeds:  # Interleaved: the load varies.
                for method in ('metis', 'ldg'):
                    rows[f'{method}/{seed}'] = run(
                        'train', scale, 'train', method=method,
                        parts=num_parts, batch_size=batch_size,
                        epochs=args.epochs, seed=seed)

    # Every invocation, with its settings: a part run again replaces only
    # the rows it measured.
    results.setdefault('meta', {}).setdefault('runs', []).append(dict(
        parts=args.parts, scales=args.scales, methods=args.methods,
        python=platform.python_version(), machine=platform.machine(),
        cpus=os.cpu_count(), threads=args.threads, epochs=args.epochs,
        seeds=args.seeds, halo_draws=args.halo_draws,
        load_average=list(os.getloadavg()),
        time=time.strftime('%Y-%m-%d %H:%M:%S')))
    os.makedirs(osp.dirname(OUT), exist_ok=True)
    tmp = OUT + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write('\n')
    os.replace(tmp, OUT)
    report(results)


def report(results: Dict[str, Any]) -> None:
    scales = [s for s in SCALES if s in results]
    print('| graph | step | time (s) | peak RSS (GiB) | RSS before (GiB) |')
    print('|---|---|---|---|---|')
    for scale in scales:
        glue = results[scale].get('glue')
        if glue:
            for when in ('before', 'after'):
                r = glue[when]
                print(f"| {scale} | METIS glue, {when} | "
                      f"{r.get('seconds', float('nan')):.1f} | "
                      f"{gib(r.get('peak_bytes'))} | "
                      f"{gib(r.get('rss_before_bytes'))} |")

    print('\n| graph | parts | method | time (s) | peak RSS (GiB) | '
          'RSS before (GiB) | peak anon (GiB) | largest part (x N/P) |')
    print('|---|---|---|---|---|---|---|---|')
    for scale in scales:
        for num_parts, row in results[scale].get('partition', {}).items():
            for method, r in row.items():
                if not r.get('ok'):
                    print(f"| {scale} | {num_parts} | {method} | "
                          f"{r.get('error')} | | | | |")
                    continue
                print(f"| {scale} | {num_parts} | {method} | "
                      f"{r['seconds']:.1f} | {gib(r['peak_bytes'])} | "
                      f"{gib(r['rss_before_bytes'])} | "
                      f"{gib(r.get('peak_anon_bytes'))} | "
                      f"{r['max_part_ratio']:.3f} |")

    print('\n| graph | parts x batch | method | cut edges | halo rows per '
          'batch, consecutive (mean / max) | random groups (mean / max) |')
    print('|---|---|---|---|---|---|')
    for scale in scales:
        for setting, r in results[scale].get('quality', {}).items():
            if not r.get('ok'):
                print(f"| {scale} | {setting} | – | {r.get('error')} | | |")
                continue
            for method in ('metis', 'ldg'):
                q = r.get(method)
                if q is None:
                    continue
                rand = (f"{q['random_halo_mean']:,.0f} / "
                        f"{q['random_halo_max']:,}"
                        if 'random_halo_mean' in q else '–')
                print(f"| {scale} | {setting} | {method} | "
                      f"{q['cut_fraction']:.3f} | {q['halo_mean']:,.0f} / "
                      f"{q['halo_max']:,} | {rand} |")

    print('\n| graph | method | seed | epoch time (s) | eval time (s) | '
          'best val | test at best val | peak RSS (GiB) |')
    print('|---|---|---|---|---|---|---|---|')
    for scale in scales:
        for key, r in results[scale].get('train', {}).items():
            method, seed = key.split('/')
            if not r.get('ok'):
                print(f"| {scale} | {method} | {seed} | {r.get('error')} "
                      f"| | | | |")
                continue
            print(f"| {scale} | {method} | {seed} | "
                  f"{r['epoch_time_s']:.2f} | {r['eval_time_s']:.2f} | "
                  f"{r['best_val_acc']:.4f} | {r['test_acc']:.4f} | "
                  f"{gib(r['peak_bytes'])} |")


if __name__ == '__main__':
    if len(sys.argv) >= 2 and sys.argv[1] == '--child':
        kind, child_args = sys.argv[2], json.loads(sys.argv[3])
        print(json.dumps(CHILDREN[kind](child_args)))
    else:
        main()
