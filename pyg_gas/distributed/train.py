r"""The training loop of :obj:`pyg-gas train --nproc N` (and of
:obj:`torchrun ... pyg-gas train`): GNNAutoScale on several processes."""
import gc
import os
import os.path as osp
import statistics
import sys
import time
from dataclasses import fields
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
import torch_geometric
import torch_geometric.transforms as T
from torch import Tensor
from tqdm import tqdm

import pyg_gas
from pyg_gas.datasets import load_dataset
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
from pyg_gas.distributed.shard import assign_parts, shard_graph
from pyg_gas.partition import metis, permute
from pyg_gas.train import (
    TrainConfig,
    build_model,
    peak_memory_bytes,
    resolve,
    seed_everything,
    write_json,
)

_MASKS = ('train_mask', 'val_mask', 'test_mask')


def _device(name: str) -> torch.device:
    if name == 'cpu' or (name == 'auto' and not torch.cuda.is_available()):
        return torch.device('cpu')
    if not torch.cuda.is_available():
        raise ValueError("'device' is 'cuda' but CUDA is not available")
    return torch.device('cuda', int(os.environ.get('LOCAL_RANK', 0)))


def _sum(values: List[float], device: torch.device) -> List[float]:
    out = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(out)
    return out.tolist()


def _resident_bytes() -> int:
    # The current resident set size (Linux), or 0 where it is not known.
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _counts(out: Tensor, y: Tensor, masks: List[Tensor]) -> List[float]:
    # [correct, total] per mask, over this rank's own nodes.
    pred = out.argmax(dim=-1)  # [num_owned]
    y = y.view(-1).to(out.device)
    values: List[float] = []
    for mask in masks:
        mask = mask.to(out.device)
        values += [float((pred[mask] == y[mask]).sum()), float(mask.sum())]
    return values


def _check(config: TrainConfig) -> None:
    if config.loader != 'gas':
        raise ValueError(f"Distributed training runs the 'gas' loader "
                         f"(got '{config.loader}')")


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
    device = _device(config.device)
    rank, world_size = init_distributed(device=device)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    seed_everything(config.seed)
    assign_parts(config.num_parts, world_size)  # Enough parts per rank?
    baseline_memory = peak_memory_bytes(device)
    progress = config.progress and rank == 0

    def load() -> Any:
        data = load_dataset(config.dataset, root=config.root)
        if config.normalize_features:
            data = T.NormalizeFeatures()(data)
        if config.num_parts > data.num_nodes:
            raise ValueError(f"'num_parts' must be in [1, {data.num_nodes}] "
                             f"(got {config.num_parts})")
        return data

    # Rank 0 partitions (or reads the METIS cache) and hands the partition
    # to the others:
    t = time.perf_counter()
    data = load() if rank == 0 else None
    parts: List[Any] = [None, None]
    if rank == 0:
        parts = list(metis(data, config.num_parts, seed=config.seed,
                           cache_dir=config.cache_dir, log=progress))
    dist.broadcast_object_list(parts, src=0)
    perm, ptr = parts
    partition_time = time.perf_counter() - t

    # The ranks of one machine cut their shards one after the other, so
    # that it holds one copy of the whole graph at a time:
    local_rank = int(os.environ.get('LOCAL_RANK', rank))
    local_size = int(os.environ.get('LOCAL_WORLD_SIZE', world_size))
    for turn in range(local_size):
        if turn == local_rank:
            if data is None:
                data = load()
            num_nodes, num_edges = int(data.num_nodes), int(data.num_edges)
            data = permute(data, perm)
            # The model's normalization needs the whole graph's degrees:
            # it runs before sharding, through a model with no history rows.
            data = build_model(config, data, num_nodes=0).transform(data)
            shard = shard_graph(data, ptr, rank, world_size)
            seed_everything(config.seed)  # Rank 0's parameters start all.
            model = build_model(config, data, num_nodes=shard.num_nodes)
            del data, perm  # Every rank keeps its shard only.
            gc.collect()
        dist.barrier()

    loader = DistributedSubgraphLoader(
        shard, batch_size=min(config.batch_size, config.num_parts),
        shuffle=True, seed=config.seed, num_workers=config.num_workers,
        persistent_workers=config.num_workers > 0)
    eval_loader = loader.eval_loader(
        cache=shard.data.edge_index.size(1) < 1_000_000)
    # The loaders hold the edges now (in CSR form, with their attributes):
    for key in list(shard.data.keys()):
        if key == 'edge_index' or shard.data.is_edge_attr(key):
            del shard.data[key]
    model = model.to(device)
    gas = DistributedGAS(
        model, shard, sync_every=config.sync_every,
        device_ids=[device.index] if device.type == 'cuda' else None)
    optimizer = torch.optim.Adam(
        model.param_groups(config.weight_decay, config.nonreg_weight_decay),
        lr=config.lr)
    torch.manual_seed(config.seed * 1000 + rank)  # Dropout masks per rank.

    num_owned = shard.num_owned
    y = shard.data.y[:num_owned]
    masks = [shard.data[key][:num_owned] for key in _MASKS]

    # What the rank holds in steady state: its shard, the loaders' CSR, the
    # model and its histories (touched, so that they are resident):
    for hist in model.histories:
        hist.emb.zero_()
    resident_before = _resident_bytes()
    history = dict(epoch=0, best_val=-1.0, test=-1.0, train=-1.0,
                   best_epoch=0)
    if config.checkpoint is not None and osp.isdir(config.checkpoint) and \
            os.listdir(config.checkpoint):
        history.update(load_checkpoint(config.checkpoint, gas, optimizer))

    def train_epoch(epoch: int) -> Tuple[float, float]:
        gas.train()
        loader.set_epoch(epoch)
        total_loss = total_examples = 0.0
        age = [0.0, 0.0]
        for batch in loader:
            batch = batch.to(device)
            bs = batch.batch_size
            mask = batch.train_mask[:bs]
            optimizer.zero_grad()
            out = gas(batch.x, batch.adj_t, bs, batch.n_id, batch.offset,
                      batch.count)
            if batch.n_id.numel() > bs and len(model.histories) > 0:
                ages = model.histories[0].staleness(batch.n_id[bs:])
                age[0] += float(ages.float().sum())
                age[1] += ages.numel()
            # The loss is the mean over the training nodes of all ranks'
            # batches, so a step equals one on their union; a rank with none
            # still runs the backward pass that DDP's all-reduce needs.
            num_examples = int(mask.sum())
            total = _sum([float(num_examples)], device)[0]
            if num_examples > 0:
                loss = F.cross_entropy(out[mask], batch.y[:bs][mask],
                                       reduction='sum')
            else:
                loss = out.sum() * 0.0
            (loss * world_size / max(total, 1.0)).backward()
            optimizer.step()
            total_loss += float(loss.detach())
            total_examples += num_examples
        loss_sum, examples, age_sum, age_count = _sum(
            [total_loss, total_examples, age[0], age[1]], device)
        return loss_sum / max(examples, 1.0), age_sum / max(age_count, 1.0)

    @torch.no_grad()
    def evaluate() -> Tuple[List[float], int]:
        before = gas.bytes_sent
        out = gas.inference(eval_loader)  # [num_owned, C]
        sent = gas.bytes_sent - before
        counts = _sum(_counts(out, y, masks), device)
        accs = [counts[i] / counts[i + 1] if counts[i + 1] > 0 else
                float('nan') for i in range(0, len(counts), 2)]
        return accs, int(_sum([float(sent)], device)[0])

    epoch_times: List[float] = []
    epoch_bytes: List[int] = []
    inference_bytes = 0
    loss = staleness = float('nan')
    bar = tqdm(range(history['epoch'] + 1, config.epochs + 1),
               disable=not progress, desc=f'{config.model}/gas x{world_size}',
               file=sys.stderr)
    for epoch in bar:
        before = gas.bytes_sent
        t = time.perf_counter()
        loss, staleness = train_epoch(epoch)
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        epoch_times.append(time.perf_counter() - t)
        epoch_bytes.append(int(_sum([float(gas.bytes_sent - before)],
                                    device)[0]))
        if epoch % config.eval_every == 0 or epoch == config.epochs:
            (train_acc, val_acc, test_acc), inference_bytes = evaluate()
            if val_acc > history['best_val']:
                history.update(best_val=val_acc, test=test_acc,
                               train=train_acc, best_epoch=epoch)
            if progress and (epoch % config.log_every == 0
                             or epoch == config.epochs):
                bar.write(f'Epoch: {epoch:03d}, Loss: {loss:.4f}, '
                          f'Val: {val_acc:.4f}, Test: {test_acc:.4f}',
                          file=sys.stderr)
        history['epoch'] = epoch
        if config.checkpoint is not None:
            save_checkpoint(config.checkpoint, gas, optimizer, **history)
    bar.close()

    peaks: List[Any] = [None] * world_size
    dist.all_gather_object(peaks, peak_memory_bytes(device))
    resident: List[Any] = [None] * world_size
    dist.all_gather_object(resident, resident_before)
    boundary: List[Any] = [None] * world_size
    history_bytes = sum(h.emb.numel() * h.emb.element_size() +
                        h.last_step.numel() * h.last_step.element_size()
                        for h in model.histories)
    dist.all_gather_object(boundary, [gas.exchange.num_boundary,
                                      shard.num_halo, num_owned,
                                      history_bytes,
                                      int(loader.collater.col.numel())])
    result: Dict[str, Any] = dict(
        dataset=config.dataset,
        model=config.model,
        loader=config.loader,
        epochs=config.epochs,
        best_val_acc=history['best_val'],
        test_acc=history['test'],
        train_acc=history['train'],
        best_epoch=history['best_epoch'],
        final_loss=loss,
        epoch_time_s=(statistics.median(epoch_times) if epoch_times
                      else float('nan')),
        partition_time_s=partition_time,
        peak_memory_bytes=max(peaks),
        peak_memory_bytes_per_rank=peaks,
        resident_before_training_bytes_per_rank=resident,
        history_bytes_per_rank=[b[3] for b in boundary],
        edges_per_rank=[b[4] for b in boundary],
        baseline_memory_bytes=baseline_memory,
        num_params=sum(p.numel() for p in model.parameters()),
        num_nodes=num_nodes,
        num_edges=num_edges,
        device=str(device),
        nproc=world_size,
        rank=rank,
        sync_every=config.sync_every,
        # Every 'sync_every' steps, so epochs differ: the mean over epochs.
        bytes_per_epoch=(sum(epoch_bytes) / len(epoch_bytes)
                         if epoch_bytes else 0.0),
        inference_bytes=inference_bytes,
        steps_per_epoch=len(loader),
        boundary_rows_per_rank=[b[0] for b in boundary],
        halo_rows_per_rank=[b[1] for b in boundary],
        owned_nodes_per_rank=[b[2] for b in boundary],
        mean_halo_staleness=staleness,
        config={f.name: getattr(config, f.name)
                for f in fields(config) if f.name != 'progress'},
        versions=dict(pyg_gas=pyg_gas.__version__, torch=torch.__version__,
                      torch_geometric=torch_geometric.__version__),
    )
    if config.json is not None and rank == 0:
        write_json(config.json, result)
    return result


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
