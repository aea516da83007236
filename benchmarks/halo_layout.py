r"""Random reads of the halo rows of GAS batches from disk, for two layouts
of the per-node data.

* ``separate`` (what :mod:`pyg_gas.storage` and disk histories write
  today): the features (``x.npy`` of a prepared dataset) and each history in
  its own file, so a halo row costs one random page read per file;
* ``interleaved``: one raw file (no header, so rows start at page
  boundaries) whose row ``i`` holds node ``i``'s features and every
  history, padded to one 4 KiB page, so a halo row costs one read.

For :obj:`--batches` clusters of a prepared directory (drawn with a fixed
seed; one cluster a batch, as in the products runs of ``out_of_core.py``),
each layout gathers every halo row of every batch with
:func:`pyg_gas.utils.gather_rows`, in a child process inside a memory cgroup
(:obj:`--cap-gb`) after the page cache is dropped. The two layouts
alternate, :obj:`--repeat` times each. The files of both layouts are written
once into :obj:`--work` (with data, so that every page is on disk). Reports
seconds a batch, bytes read and random reads a second, prints a table and
writes ``results/halo_layout.json``.

    python benchmarks/halo_layout.py --data /tmp/ooc/products-stream.gas \
        --work /tmp/ooc/layout
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Any, Dict, List

import numpy as np
from _common import load_results

HERE = osp.dirname(osp.abspath(__file__))
OUT = osp.join(HERE, 'results', 'halo_layout.json')
GiB = 2**30
PAGE = 4096
HIDDEN = 256  # The width of each history (GCN-3x256: two histories).
NUM_HISTORIES = 2


def row_floats(num_features: int) -> int:
    r"""The float32 values of an interleaved row: a node's features and
    every history, padded to whole pages."""
    width = num_features + NUM_HISTORIES * HIDDEN
    return -(-width * 4 // PAGE) * PAGE // 4


def write_files(data: str, work: str, chunk: int = 1 << 16) -> None:
    r"""Writes the histories of the separate layout and the file of the
    interleaved one (skipped if present)."""
    os.makedirs(work, exist_ok=True)
    x = np.load(osp.join(data, 'x.npy'), mmap_mode='r')
    num_nodes, num_features = x.shape
    padded = row_floats(num_features)
    specs = [(f'history_{i}.npy', HIDDEN) for i in range(NUM_HISTORIES)]
    specs.append(('interleaved.f32', padded))
    for name, cols in specs:
        path = osp.join(work, name)
        if osp.exists(path):
            continue
        if name.endswith('.npy'):
            out = np.lib.format.open_memmap(path + '.tmp', mode='w+',
                                            dtype=np.float32,
                                            shape=(num_nodes, cols))
        else:  # Raw: row i starts at byte i * 4096.
            out = np.memmap(path + '.tmp', mode='w+', dtype=np.float32,
                            shape=(num_nodes, cols))
        for lo in range(0, num_nodes, chunk):
            hi = min(lo + chunk, num_nodes)
            block = np.zeros((hi - lo, cols), dtype=np.float32)
            if name == 'interleaved.f32':
                block[:, :num_features] = x[lo:hi]
            block[:, num_features:] = np.arange(lo, hi)[:, None]
            out[lo:hi] = block
        out.flush()
        del out
        os.replace(path + '.tmp', path)


def draw_halos(data: str, work: str, num_batches: int, seed: int) -> str:
    r"""Saves the halo ids of :obj:`num_batches` random clusters."""
    from pyg_gas import SubgraphLoader
    from pyg_gas.storage import DiskDataset
    path = osp.join(work, f'halos_{num_batches}_{seed}.npz')
    if osp.exists(path):
        return path
    ds = DiskDataset(data)
    loader = SubgraphLoader(ds, ds.ptr, batch_size=1)
    parts = np.random.default_rng(seed).choice(ds.num_parts, num_batches,
                                               replace=False)
    halos = {}
    for k in parts.tolist():
        batch = loader.collate_fn([k])
        halos[str(k)] = batch.n_id[batch.batch_size:].numpy()
    np.savez(path, **halos)
    return path


def child(data: str, work: str, halos_path: str, layout: str) -> None:
    import torch

    from pyg_gas.train.loop import read_bytes
    from pyg_gas.utils import advise_random, gather_rows
    if layout == 'separate':
        arrays = [np.load(name, mmap_mode='r') for name in
                  [osp.join(data, 'x.npy')] +
                  [osp.join(work, f'history_{i}.npy')
                   for i in range(NUM_HISTORIES)]]
    else:
        num_features = np.load(osp.join(data, 'x.npy'),
                               mmap_mode='r').shape[1]
        arrays = [np.memmap(osp.join(work, 'interleaved.f32'), mode='r',
                            dtype=np.float32).reshape(
                                -1, row_floats(num_features))]
    for array in arrays:
        advise_random(array)  # As the dataset and disk histories do.
    tensors = [torch.from_numpy(np.asarray(a)) for a in arrays]
    halos = np.load(halos_path)
    rows = 0
    before, start = read_bytes(), time.perf_counter()
    for key in halos.files:
        index = torch.from_numpy(halos[key])
        rows += index.numel()
        for tensor in tensors:
            gather_rows(tensor, index)
    seconds = time.perf_counter() - start
    print(json.dumps(dict(layout=layout, seconds=seconds,
                          batches=len(halos.files), rows=rows,
                          read_bytes=read_bytes() - before)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', required=True,
                        help='a prepared dataset directory')
    parser.add_argument('--work', required=True,
                        help='where to write the files of both layouts')
    parser.add_argument('--batches', type=int, default=16)
    parser.add_argument('--repeat', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cap-gb', type=float, default=2.5)
    parser.add_argument('--child', default=None, help=argparse.SUPPRESS)
    parser.add_argument('--halos', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.data, args.work, args.halos, args.child)
        return

    from pyg_gas.cgroup import run_capped
    from pyg_gas.utils import write_json
    write_files(args.data, args.work)
    halos = draw_halos(args.data, args.work, args.batches, args.seed)
    runs: List[Dict[str, Any]] = []
    for r in range(args.repeat):
        order = ('separate', 'interleaved')
        for layout in order if r % 2 == 0 else order[::-1]:
            subprocess.run(['sync'], check=True)
            with open('/proc/sys/vm/drop_caches', 'w') as f:
                f.write('3\n')
            run = run_capped([sys.executable, osp.abspath(__file__),
                              '--data', args.data, '--work', args.work,
                              '--halos', halos, '--child', layout],
                             int(args.cap_gb * GiB))
            if run.returncode != 0:
                raise SystemExit(run.stderr[-2000:])
            row = json.loads(run.stdout.strip().splitlines()[-1])
            row.update(seconds_per_batch=row['seconds'] / row['batches'],
                       reads_per_s=row['read_bytes'] / PAGE / row['seconds'],
                       anon_peak_bytes=run.peak_rss_bytes)
            runs.append(row)
            print(json.dumps(row), flush=True)
    results = load_results(OUT)
    results.update(
        data=args.data, batches=args.batches, seed=args.seed,
        cap_bytes=int(args.cap_gb * GiB), history_width=HIDDEN,
        num_histories=NUM_HISTORIES, runs=runs,
        machine=dict(cpus=os.cpu_count(), load_average=os.getloadavg()))
    write_json(OUT, results)
    print('| layout | a batch (s) | read (GB a batch) | reads a second |')
    print('|---|---|---|---|')
    for row in runs:
        print(f"| {row['layout']} | {row['seconds_per_batch']:.2f} | "
              f"{row['read_bytes'] / row['batches'] / 1e9:.2f} | "
              f"{row['reads_per_s']:,.0f} |")


if __name__ == '__main__':
    main()
