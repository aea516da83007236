r"""History push/pull bandwidth against a plain memcpy of the same bytes.

A :class:`pyg_gas.History` of ogbn-products size (2,449,029 rows of 256
channels) is filled once, then timed for:

* ``pull``: :meth:`History.pull` of random halo rows (the rows a GAS batch
  reads) into a reused float32 buffer (:obj:`out=`), as the training loop
  does;
* ``pull (new tensor)``: the same into a freshly allocated tensor, which
  pays for first touching its pages at every call;
* ``push (ranges)``: :meth:`History.push` with :obj:`offset` and
  :obj:`count`, the way GAS writes the contiguous clusters of a batch;
* ``push (index)``: :meth:`History.push` with scattered row ids.

Each is compared with ``memcpy``: one contiguous :meth:`Tensor.copy_` of the
same number of stored bytes on the same box, the physical limit of moving
those rows. The two are timed alternately, and the ratio is taken to the
fastest memcpy of those bytes seen in the whole run (a copy's speed varies
by up to 2x between runs on this shared box). Bandwidth counts the stored
bytes moved (rows x channels x the storage type's size), so bfloat16 moves
half the bytes of float32 for the same rows. Prints a markdown table and writes
``results/history_bandwidth.json``.

    python benchmarks/history_bandwidth.py [--rows 200000] [--repeat 11]
"""
import argparse
import os
import os.path as osp
import platform
import statistics
import time
from typing import Any, Callable, Dict, List, Tuple

import torch

import pyg_gas
from pyg_gas import History
from pyg_gas.train import write_json

HERE = osp.dirname(osp.abspath(__file__))


def timed_pair(fn: Callable[[], Any], baseline: Callable[[], Any],
               repeat: int) -> Tuple[float, float]:
    # Alternates the two, so that both see the same state of the machine,
    # and returns the median time of each.
    for _ in range(3):  # Warm-up: first touch of pages.
        fn()
        baseline()
    times: Tuple[List[float], List[float]] = ([], [])
    for _ in range(repeat):
        for f, out in ((fn, times[0]), (baseline, times[1])):
            t = time.perf_counter()
            f()
            out.append(time.perf_counter() - t)
    return statistics.median(times[0]), statistics.median(times[1])


def measure(dtype: torch.dtype, N: int, C: int, R: int, n_id: torch.Tensor,
            offset: torch.Tensor, count: torch.Tensor, repeat: int,
            gen: torch.Generator) -> List[Dict[str, Any]]:
    rows_ranges = int(count.sum())
    hist = History(N, C, dtype=dtype)
    hist.emb.normal_(generator=gen)
    size = torch.tensor([], dtype=dtype).element_size()
    x = torch.randn(max(R, rows_ranges), C, generator=gen)
    src = torch.empty(R * C, dtype=dtype).normal_(generator=gen)
    dst = torch.empty(R * C, dtype=dtype)
    src_r = torch.empty(rows_ranges * C, dtype=dtype).normal_(generator=gen)
    dst_r = torch.empty(rows_ranges * C, dtype=dtype)
    out = torch.empty(R, C)
    cases = [
        ('pull', R, lambda: hist.pull(n_id, out=out),
         lambda: dst.copy_(src)),
        ('pull (new tensor)', R, lambda: hist.pull(n_id),
         lambda: dst.copy_(src)),
        ('push (ranges)', rows_ranges,
         lambda: hist.push(x[:rows_ranges], offset=offset, count=count),
         lambda: dst_r.copy_(src_r)),
        ('push (index)', R, lambda: hist.push(x[:R], n_id),
         lambda: dst.copy_(src)),
    ]
    results = []
    for op, rows, fn, baseline in cases:
        t_op, t_mem = timed_pair(fn, baseline, repeat)
        nbytes = rows * C * size
        results.append(dict(
            op=op, dtype=str(dtype).replace('torch.', ''), rows=rows,
            bytes=nbytes, seconds=t_op, memcpy_seconds=t_mem,
            gb_per_s=nbytes / t_op / 1e9,
            memcpy_gb_per_s=nbytes / t_mem / 1e9,
            ratio=t_mem / t_op))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--num-nodes', type=int, default=2_449_029)
    parser.add_argument('--channels', type=int, default=256)
    parser.add_argument('--rows', type=int, default=200_000,
                        help='rows per push or pull (a large halo)')
    parser.add_argument('--cluster-size', type=int, default=2_000,
                        help='rows per contiguous range of a range push')
    parser.add_argument('--repeat', type=int, default=11)
    parser.add_argument('--out', default=osp.join(HERE, 'results',
                                                  'history_bandwidth.json'))
    args = parser.parse_args()
    gen = torch.Generator().manual_seed(0)
    N, C, R = args.num_nodes, args.channels, args.rows

    n_id = torch.randperm(N, generator=gen)[:R]
    num_ranges = max(1, R // args.cluster_size)
    starts = torch.randperm(N // args.cluster_size,
                            generator=gen)[:num_ranges] * args.cluster_size
    offset = starts.sort().values
    count = torch.full((num_ranges, ), args.cluster_size)

    results: List[Dict[str, Any]] = []
    for dtype in (torch.float32, torch.bfloat16):
        results += measure(dtype, N, C, R, n_id, offset, count, args.repeat,
                           gen)

    # The physical limit: the fastest copy of the same bytes seen in any
    # case (a memcpy's speed varies from run to run on a shared box).
    for r in results:
        best = max(q['memcpy_gb_per_s'] for q in results
                   if q['bytes'] == r['bytes'])
        r['best_memcpy_gb_per_s'] = best
        r['ratio_to_best_memcpy'] = r['gb_per_s'] / best
    print('| op | storage | rows | MB moved | GB/s | memcpy GB/s (best) | '
          'ratio |')
    print('|---|---|---|---|---|---|---|')
    for r in results:
        print(f"| {r['op']} | {r['dtype']} | {r['rows']:,} | "
              f"{r['bytes'] / 2**20:.0f} | {r['gb_per_s']:.2f} | "
              f"{r['best_memcpy_gb_per_s']:.2f} | "
              f"{r['ratio_to_best_memcpy']:.2f}x |")
    meta = dict(python=platform.python_version(), torch=torch.__version__,
                pyg_gas=pyg_gas.__version__, machine=platform.machine(),
                cpus=os.cpu_count(), threads=torch.get_num_threads(),
                load_average=list(os.getloadavg()), num_nodes=N,
                channels=C, repeat=args.repeat,
                cluster_size=args.cluster_size)
    write_json(args.out, dict(meta=meta, results=results))


if __name__ == '__main__':
    main()
