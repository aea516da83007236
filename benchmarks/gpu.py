r"""GAS on a CUDA GPU: where the histories live, and the on-disk path.

GCN-3x256 (dropout 0.5, the GAS preset of ogbn-arxiv) on the synthetic
graph of ogbn-arxiv's size (169,343 nodes, 1.17M undirected edges, 128
features, 40 classes), 80 METIS parts, 10 per batch, trained with the same
seed and batches for every placement of the histories:

* ``gpu``: histories in GPU memory (they move with the model);
* ``pinned``: histories offloaded to pinned CPU memory
  (:obj:`history_device='cpu'`), pulled and pushed synchronously;
* ``pinned+async``: the same with :meth:`~pyg_gas.ScalableGNN.enable_async_io`
  (halo rows prefetched on a side stream, pushes in the background);
* ``disk``: the graph prepared on disk (:func:`pyg_gas.storage.prepare`)
  and histories in memory-mapped files (:obj:`history_storage='disk'`),
  rows staged through CPU buffers.

Reports the median epoch time (after one warm-up epoch), the exact
layer-wise inference time, the test accuracy and the peak GPU memory, and
checks that every placement reaches the same accuracy as ``gpu`` (within
0.5 points: CUDA's sparse products sum in a nondeterministic order). Also
Cora's accuracy through ``pyg_gas.train.run`` on CUDA, 3 seeds. Writes
``results/gpu.json`` (or ``--out``).

    python benchmarks/gpu.py --root /tmp/gpu_bench --out results/gpu.json
"""
import argparse
import json
import os
import os.path as osp
import platform
import statistics
import time
from typing import Any, Dict

import torch
import torch.nn.functional as F

import pyg_gas
from pyg_gas import EvalSubgraphLoader, SubgraphLoader, metis, permute
from pyg_gas.datasets import load_dataset
from pyg_gas.nn.models import GCN
from pyg_gas.storage import derive, prepare
from pyg_gas.train import TrainConfig, run

HERE = osp.dirname(osp.abspath(__file__))
PLACEMENTS = ('gpu', 'pinned', 'pinned+async', 'disk')


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _epoch(model, loader, optimizer, device) -> float:
    model.train()
    _sync(device)
    t = time.perf_counter()
    for batch in loader:
        batch = batch.to(device, non_blocking=True)
        bs = batch.batch_size
        out = model(batch.x, batch.adj_t, bs, batch.n_id, batch.offset,
                    batch.count)
        mask = batch.train_mask[:bs]
        if int(mask.sum()) == 0:
            continue
        loss = F.cross_entropy(out[mask], batch.y[:bs][mask])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    _sync(device)
    return time.perf_counter() - t


def run_placement(name: str, data: Any, ptr: torch.Tensor, disk: Any,
                  root: str, epochs: int, device: torch.device
                  ) -> Dict[str, Any]:
    torch.manual_seed(0)
    kwargs: Dict[str, Any] = dict(dropout=0.5)
    if name.startswith('pinned'):
        kwargs['history_device'] = 'cpu'
    if name == 'disk':
        kwargs.update(history_storage='disk',
                      history_path=osp.join(root, 'histories'))
    num_nodes = data.num_nodes
    model = GCN(num_nodes, data.num_features, 256, 40, 3, **kwargs)
    model = model.to(device)
    graph = disk if name == 'disk' else data
    g = torch.Generator().manual_seed(0)
    loader = SubgraphLoader(graph, ptr, batch_size=10, shuffle=True,
                            generator=g)
    if name == 'pinned+async':
        model.enable_async_io(loader)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    cuda = device.type == 'cuda'
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    times = [_epoch(model, loader, optimizer, device)
             for _ in range(epochs + 1)]
    t = time.perf_counter()
    out = model.inference(EvalSubgraphLoader(graph, ptr, batch_size=10))
    _sync(device)
    inference_s = time.perf_counter() - t
    pred = out.argmax(-1).cpu()
    test = data.test_mask
    acc = float((pred[test] == data.y[test]).float().mean())
    return dict(placement=name, epoch_times_s=times[1:],
                epoch_time_s=statistics.median(times[1:]),
                warmup_epoch_s=times[0], inference_s=inference_s,
                test_acc=acc,
                peak_gpu_memory_bytes=torch.cuda.max_memory_allocated(device)
                if cuda else 0)


def cora(device: str) -> Dict[str, Any]:
    runs = [run(TrainConfig(dataset='cora', seed=s, device=device,
                            progress=False, quiet=True)) for s in range(3)]
    accs = [r['test_acc'] for r in runs]
    return dict(test_acc=accs, mean_test_acc=sum(accs) / len(accs),
                epoch_time_s=[r['epoch_time_s'] for r in runs])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--root', default='/tmp/pyg_gas_gpu')
    parser.add_argument('--out', default=osp.join(HERE, 'results',
                                                  'gpu.json'))
    parser.add_argument('--epochs', type=int, default=3)
    parser.add_argument('--device', default='cuda',
                        help="'cpu' only checks that the script runs")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('CUDA is not available')
    os.makedirs(args.root, exist_ok=True)
    result: Dict[str, Any] = dict(
        gpu=torch.cuda.get_device_name(device) if device.type == 'cuda'
        else 'none', torch=torch.__version__,
        pyg_gas=pyg_gas.__version__, python=platform.python_version(),
        cpu_count=os.cpu_count())

    t = time.perf_counter()
    data = load_dataset('synthetic-arxiv', root=args.root)
    model = GCN(data.num_nodes, data.num_features, 256, 40, 3)
    data = model.transform(data)
    perm, ptr = metis(data, 80, cache_dir=args.root, log=False)
    disk = prepare(load_dataset('synthetic-arxiv', root=args.root),
                   osp.join(args.root, 'arxiv.gas'), perm=perm, ptr=ptr,
                   name='synthetic-arxiv', overwrite=True, log=False)
    disk = derive(disk, 'gcn_norm', log=False)
    data = permute(data, perm)
    result['setup_s'] = time.perf_counter() - t

    rows = []
    for name in PLACEMENTS:
        if name == 'pinned+async' and device.type != 'cuda':
            continue  # Needs CUDA streams.
        row = run_placement(name, data, ptr, disk, args.root, args.epochs,
                            device)
        rows.append(row)
        print(json.dumps(row), flush=True)
    base = rows[0]
    for row in rows:
        row['epoch_time_vs_gpu'] = row['epoch_time_s'] / base['epoch_time_s']
        row['same_accuracy'] = abs(row['test_acc'] - base['test_acc']) <= \
            0.005
    result['arxiv_gcn_3x256'] = rows
    result['cora_gcn'] = cora(device.type)
    print(json.dumps(result['cora_gcn']), flush=True)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=2)
        f.write('\n')
    print('| placement | epoch (s) | vs GPU | inference (s) | test acc | '
          'peak GPU memory (GiB) |')
    print('|---|---|---|---|---|---|')
    for row in rows:
        print(f"| {row['placement']} | {row['epoch_time_s']:.2f} | "
              f"{row['epoch_time_vs_gpu']:.2f}x | {row['inference_s']:.2f} "
              f"| {row['test_acc']:.4f} | "
              f"{row['peak_gpu_memory_bytes'] / 2**30:.2f} |")


if __name__ == '__main__':
    main()
