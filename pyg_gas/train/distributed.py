r"""Training on several processes (``pyg-gas train --nproc N``, or
``torchrun ... pyg-gas train``): the loop of :func:`pyg_gas.train.loop.fit`
over one :class:`~pyg_gas.distributed.GraphShard` per rank."""
import gc
import math
import os
import os.path as osp
import time
from dataclasses import replace
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.distributed as dist
from torch import Tensor
from torch_geometric import seed_everything
from torch_geometric.data import Data

from pyg_gas.distributed.gas import (
    DistributedGAS,
    DistributedSubgraphLoader,
    load_checkpoint,
    save_checkpoint,
)
from pyg_gas.distributed.launch import (
    in_launched_process,
    init_distributed,
    spawn,
)
from pyg_gas.distributed.shard import GraphShard, assign_parts, shard_graph
from pyg_gas.partition import permute
from pyg_gas.train.build import (
    LOADERS,
    build_model,
    load_graph,
    partition,
    release_memory,
    select_device,
    transform_graph,
)
from pyg_gas.train.config import TrainConfig, resolve
from pyg_gas.train.loop import MASKS, Engine, Reducer, fit, peak_memory_bytes
from pyg_gas.train.saved import GraphSizes, degree_histogram, save
from pyg_gas.train.task import MultiLabelTask, Task, task_of


class Collective(Reducer):
    r"""The loss and the sums over all ranks of the default process group.

    The loss of a step is the mean over the training nodes of all ranks'
    batches, so that the averaged gradient equals that of one step on their
    union; a rank without training nodes still runs the backward pass that
    DDP's all-reduce needs."""
    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()

    def sum(self, values: List[float]) -> List[float]:
        out = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(out)
        return out.tolist()

    def gather(self, value: Any) -> List[Any]:
        out: List[Any] = [None] * self.world_size
        dist.all_gather_object(out, value)
        return out

    def loss(self, out: Tensor, y: Tensor, mask: Tensor,
             task: Task) -> Tuple[Optional[Tensor], float, int]:
        num_examples = int(mask.sum())
        if num_examples > 0:
            loss = task.loss_sum(out[mask], y[mask])
        else:
            loss = out.sum() * 0.0
        loss_sum = float(loss.detach())
        # Every rank learns of a non-finite loss on any, and stops with it:
        total, bad = self.sum([float(num_examples),
                               float(not math.isfinite(loss_sum))])
        scaled = loss * self.world_size / max(total, 1.0)
        return scaled, math.nan if bad else loss_sum, num_examples


def _check(config: TrainConfig) -> None:
    if config.loader != 'gas':
        raise ValueError(f"Distributed training runs the 'gas' loader "
                         f"(got '{config.loader}')")
    if config.save_histories:
        raise ValueError("'save_histories' is for runs of one process: the "
                         "ranks of a distributed run hold the history rows "
                         "of their own shards only. Save without it "
                         "(--save DIR alone): the saved model computes its "
                         "histories when it predicts")
    if config.history_layout != 'files':
        raise ValueError("'history_layout' 'rows' is for runs of one "
                         "process: each rank of a distributed run keeps its "
                         "histories in files of its own")


def _resident_bytes(field: str = 'VmRSS') -> int:
    # The current resident set size (Linux), or its anonymous part with
    # field='RssAnon' (no pages of mapped files), or 0 where not known.
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _shard_prepared(config: TrainConfig, rank: int, world_size: int,
                    progress: bool) -> Tuple[GraphShard, Any, Dict[str, Any]]:
    # A prepared dataset is partitioned already: rank 0 writes the model's
    # transformed edges once (next to the dataset), then every rank reads
    # its own rows and its halo's features from the files, at once.
    data = load_graph(config)
    info = dict(num_nodes=data.num_nodes, num_edges=data.num_edges,
                partition_time_s=0.0)
    if rank == 0:
        transform_graph(build_model(config, data, num_nodes=0), data,
                        log=progress)
    dist.barrier()
    data = transform_graph(build_model(config, data, num_nodes=0), data,
                           log=False)
    shard = shard_graph(data, data.ptr, rank, world_size)
    seed_everything(config.seed)  # Rank 0's parameters start all.
    model = build_model(config, data, num_nodes=shard.num_nodes)
    info['saved'] = _what_to_save(config, data, data.perm, data.ptr)
    return shard, model, info


def _what_to_save(config: TrainConfig, data: Any, perm: Tensor,
                  ptr: Tensor) -> Optional[Dict[str, Any]]:
    # What rank 0 saves with the weights (see 'pyg_gas.train.saved.save'):
    # the partition and the sizes of the whole graph.
    if config.save is None or dist.get_rank() != 0:
        return None
    sizes = GraphSizes(int(data.num_nodes), int(data.num_features),
                       int(data.num_classes))
    return dict(graph=sizes, perm=perm.clone(), ptr=ptr.clone(),
                deg=degree_histogram(config, data))


def _partition(config: TrainConfig, rank: int,
               progress: bool) -> Tuple[Optional[Data], Any, Tensor, float]:
    # Rank 0 partitions (or reads the METIS cache) and hands the partition
    # to the others.
    t = time.perf_counter()
    data = load_graph(config) if rank == 0 else None
    parts: List[Any] = [None, None]
    if rank == 0:
        parts = list(partition(replace(config, progress=progress), data))
    dist.broadcast_object_list(parts, src=0)
    return data, parts[0], parts[1], time.perf_counter() - t


def _shard(config: TrainConfig, rank: int, world_size: int,
           progress: bool) -> Tuple[GraphShard, Any, Dict[str, Any]]:
    # This rank's shard and model. The ranks of one machine cut their shards
    # one after the other, so that it holds one copy of the whole graph at a
    # time.
    if config.data_dir is not None:
        return _shard_prepared(config, rank, world_size, progress)
    data, perm, ptr, partition_time = _partition(config, rank, progress)
    local_rank = int(os.environ.get('LOCAL_RANK', rank))
    local_size = int(os.environ.get('LOCAL_WORLD_SIZE', world_size))
    for turn in range(local_size):
        if turn == local_rank:
            data = load_graph(config) if data is None else data
            info = dict(num_nodes=int(data.num_nodes),
                        num_edges=int(data.num_edges),
                        partition_time_s=partition_time)
            data = permute(data, perm)
            # The model's normalization needs the whole graph's degrees:
            # it runs before sharding, through a model with no history rows.
            data = build_model(config, data, num_nodes=0).transform(data)
            shard = shard_graph(data, ptr, rank, world_size)
            seed_everything(config.seed)  # Rank 0's parameters start all.
            model = build_model(config, data, num_nodes=shard.num_nodes)
            info['saved'] = _what_to_save(config, data, perm, ptr)
            del data, perm  # Every rank keeps its shard only.
            gc.collect()
        dist.barrier()
    return shard, model, info


def _loaders(config: TrainConfig,
             shard: GraphShard) -> Tuple[DistributedSubgraphLoader, Any]:
    loader = DistributedSubgraphLoader(
        shard, batch_size=min(config.batch_size, config.num_parts),
        shuffle=True, seed=config.seed, num_workers=config.num_workers,
        persistent_workers=config.num_workers > 0,
        max_cluster_edges=config.max_cluster_edges)
    eval_loader = loader.eval_loader(
        cache=shard.data.edge_index.size(1) < 1_000_000)
    # The loaders hold the edges now (in CSR form, with their attributes):
    for key in list(shard.data.keys()):
        if key == 'edge_index' or shard.data.is_edge_attr(key):
            del shard.data[key]
    return loader, eval_loader


class _Meter:
    # The halo exchange bytes of training epochs and inference, and the
    # statistics of every rank at the end of the run.
    def __init__(self, gas: DistributedGAS, loader: Any,
                 reducer: Collective) -> None:
        self.gas, self.loader, self.reducer = gas, loader, reducer
        self.epoch_bytes: List[int] = []  # Sent by all ranks, per epoch.
        self.inference_bytes = 0
        self.resident_before = self.anonymous_before = 0
        self.mark()

    def mark(self) -> None:
        # Bytes sent from here on count for the next training epoch.
        self.start = self.gas.bytes_sent

    def after_epoch(self) -> None:
        sent = float(self.gas.bytes_sent - self.start)
        self.epoch_bytes.append(int(self.reducer.sum([sent])[0]))
        self.mark()

    def inference(self, eval_loader: Any) -> Tensor:
        before = self.gas.bytes_sent
        out = self.gas.inference(eval_loader)  # [num_owned, C]
        sent = float(self.gas.bytes_sent - before)
        self.inference_bytes = int(self.reducer.sum([sent])[0])
        self.mark()
        return out

    def load(self, path: str, optimizer: torch.optim.Optimizer,
             check: Callable[[Dict[str, Any]], None]) -> Dict[str, Any]:
        values = load_checkpoint(path, self.gas, optimizer, check=check)
        self.mark()  # The byte count is the checkpoint's now.
        return values

    def final(self) -> Dict[str, Any]:
        gas, shard, reducer = self.gas, self.gas.shard, self.reducer
        peaks = reducer.gather(peak_memory_bytes(self.reducer.device))
        history_bytes = sum(h.emb.numel() * h.emb.element_size() +
                            h.last_step.numel() * h.last_step.element_size()
                            for h in gas.model.histories)
        ranks = reducer.gather([
            gas.exchange.num_boundary, shard.num_halo, shard.num_owned,
            history_bytes, int(self.loader.collater.col.numel())])
        sums = self.epoch_bytes
        return dict(
            peak_memory_bytes=max(peaks),
            peak_memory_bytes_per_rank=peaks,
            resident_before_training_bytes_per_rank=reducer.gather(
                self.resident_before),
            anonymous_before_training_bytes_per_rank=reducer.gather(
                self.anonymous_before),
            history_bytes_per_rank=[r[3] for r in ranks],
            edges_per_rank=[r[4] for r in ranks],
            nproc=reducer.world_size, rank=reducer.rank,
            sync_every=gas.sync_every,
            # Every 'sync_every' steps, so epochs differ: the mean.
            bytes_per_epoch=sum(sums) / len(sums) if sums else 0.0,
            inference_bytes=self.inference_bytes,
            steps_per_epoch=len(self.loader),
            boundary_rows_per_rank=[r[0] for r in ranks],
            halo_rows_per_rank=[r[1] for r in ranks],
            owned_nodes_per_rank=[r[2] for r in ranks])


def prepare_distributed(config: TrainConfig, device: torch.device) -> Engine:
    r"""Builds this rank's shard, model and loaders, and returns what
    :func:`~pyg_gas.train.loop.fit` trains on this rank."""
    reducer = Collective(device)
    # The log lines of partitioning and sharding, on the first rank:
    progress = not config.quiet and reducer.rank == 0
    shard, model, info = _shard(config, reducer.rank, reducer.world_size,
                                progress)
    loader, eval_loader = _loaders(config, shard)
    info['batches_per_epoch'] = len(loader)  # The same on every rank.
    model = model.to(device)
    gas = DistributedGAS(
        model, shard, sync_every=config.sync_every,
        device_ids=[device.index] if device.type == 'cuda' else None)
    # Dropout masks per rank:
    torch.manual_seed(config.seed * 1000 + reducer.rank)
    meter = _Meter(gas, loader, reducer)
    # What the rank holds in steady state: its shard, the loaders' CSR, the
    # model and its histories in memory (touched, so that they are
    # resident; histories on disk are files, read as batches need them):
    for hist in model.histories:
        if hist.storage != 'disk':
            hist.emb.zero_()
    release_memory(config)  # The temporaries of cutting the shard.
    meter.resident_before = _resident_bytes()
    meter.anonymous_before = _resident_bytes('RssAnon')
    num_owned = shard.num_owned
    saved = info.pop('saved')
    task = task_of(shard.data.y)

    def final_stats() -> Dict[str, Any]:
        stats = meter.final()
        if saved is not None:  # Rank 0: the weights are every rank's.
            save(config.save, model, config, saved['graph'], saved['perm'],
                 saved['ptr'], deg=saved['deg'],
                 multilabel=isinstance(task, MultiLabelTask))
        if config.save is not None:
            stats['saved'] = config.save
        return stats

    return Engine(
        model=model, module=gas, device=device, loader=loader,
        forward=LOADERS['gas'].forward,
        evaluate=lambda: meter.inference(eval_loader),
        y=shard.data.y[:num_owned],
        masks=[shard.data[key][:num_owned] for key in MASKS],
        save=lambda path, optimizer, values: save_checkpoint(
            path, gas, optimizer, **values),
        load=meter.load,
        reducer=reducer, task=task,
        tracks_staleness=len(model.histories) > 0, info=info,
        epoch_stats=meter.after_epoch, final_stats=final_stats)


def run_distributed(config: TrainConfig) -> Dict[str, Any]:
    r"""Trains and evaluates one model with GNNAutoScale on every rank of
    the default process group (initialized from the environment of
    :obj:`torchrun` if needed): the loop of :func:`pyg_gas.train.run` for
    :obj:`loader='gas'`, with :class:`~pyg_gas.distributed.DistributedGAS`.

    Rank 0 partitions the graph (or reads the METIS cache) and hands the
    partition to the others; every rank then keeps its shard only. Accuracy
    is counted over all ranks' nodes. Besides :func:`pyg_gas.train.run`'s
    fields, the result reports :obj:`bytes_per_epoch` (halo exchange bytes
    sent by all ranks per training epoch, the mean over the run's epochs),
    :obj:`inference_bytes` (in one distributed inference) and the peak
    memory of every rank. With :obj:`config.checkpoint`, the run saves a
    checkpoint there after every epoch, and resumes from it when one
    exists.
    """
    config = resolve(config)
    _check(config)
    device = select_device(config.device)
    rank, world_size = init_distributed(device=device)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    seed_everything(config.seed)
    assign_parts(config.num_parts, world_size)  # Enough parts per rank?
    baseline_memory = peak_memory_bytes(device)
    engine = prepare_distributed(config, device)
    engine.info['baseline_memory_bytes'] = baseline_memory
    return fit(config, engine)


def launch(config: TrainConfig,
           timeout_s: Optional[float] = None) -> Dict[str, Any]:
    r"""Runs :func:`run_distributed`: in this process if it is one rank of a
    :obj:`torchrun` launch, otherwise in :obj:`config.nproc` processes
    spawned on this machine (gloo on CPU, nccl on CUDA), whose rank-0 result
    it returns."""
    if in_launched_process() or dist.is_initialized():
        return run_distributed(config)
    config = resolve(config)  # Fail before starting processes:
    _check(config)
    assign_parts(config.num_parts, config.nproc)
    if config.json is not None:  # Fail before starting processes.
        directory = osp.dirname(osp.abspath(config.json))
        if not osp.isdir(directory):
            raise ValueError(f"The directory of 'json' does not exist "
                             f"('{directory}')")
    results = spawn(run_distributed, config.nproc, (config, ),
                    timeout_s=timeout_s)
    return results[0]
