r"""The training loop, one for a single process and for every rank of a
distributed run: :func:`fit`.

What differs between the two is handed to the loop as an :class:`Engine`:
the model the batches go through (a :class:`~pyg_gas.ScalableGNN`, or a
:class:`~pyg_gas.distributed.DistributedGAS` that exchanges halos), the
loaders of the process' part of the graph, its checkpoint functions, and a
:class:`Reducer` that sums the loss and the statistics over the
processes.

On rank 0, :func:`fit` reports the run: a :obj:`tqdm` bar on stderr when
stderr is a terminal, PyG's log line
(:obj:`Epoch: 010, Loss: 0.1234, Val: 0.8000, Test: 0.8100`) on stderr
every :obj:`config.log_every` epochs unless :obj:`config.quiet`, and, with
:obj:`config.tensorboard`, TensorBoard scalars of every epoch."""
import contextlib
import io
import math
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import torch
import torch_geometric
import torch_geometric.logging
from torch import Tensor
from tqdm import tqdm

import pyg_gas
from pyg_gas.checkpoint import has_checkpoint
from pyg_gas.nn.scalable import ScalableGNN
from pyg_gas.train.build import release_memory
from pyg_gas.train.config import (
    TrainConfig,
    check_tensorboard,
    config_fields,
)
from pyg_gas.train.task import Task
from pyg_gas.utils import write_json

MASKS = ('train_mask', 'val_mask', 'test_mask')


class Reducer:
    r"""The loss and the sums of a single process. A distributed run hands
    the loop a subclass that reduces over all ranks."""
    rank: int = 0
    world_size: int = 1

    def sum(self, values: List[float]) -> List[float]:
        r"""The sums of :obj:`values` over all processes."""
        return list(values)

    def gather(self, value: Any) -> List[Any]:
        r"""The :obj:`value` of every process, by rank."""
        return [value]

    def loss(self, out: Tensor, y: Tensor, mask: Tensor,
             task: Task) -> Tuple[Optional[Tensor], float, int]:
        r"""The loss of a batch to differentiate (:obj:`None` to skip the
        step), its sum over the batch's training nodes (not finite on any
        process if it is not finite on one), and their number."""
        num_examples = int(mask.sum())
        if num_examples == 0:  # The forward pass still pushed.
            return None, 0.0, 0
        loss_sum = task.loss_sum(out[mask], y[mask])
        return loss_sum / num_examples, float(loss_sum.detach()), num_examples


@dataclass
class Engine:
    r"""What :func:`fit` trains in one process."""
    #: The model: its parameters, histories and training mode.
    model: ScalableGNN
    #: What batches are fed to: :obj:`model`, or a wrapper around it.
    module: torch.nn.Module
    device: torch.device
    #: The training batches of one epoch.
    loader: Iterable[Any]
    #: Runs :obj:`module` on one batch.
    forward: Callable[[torch.nn.Module, Any], Tensor]
    #: The output for the rows of :obj:`y` and :obj:`masks`.
    evaluate: Callable[[], Tensor]
    y: Tensor
    masks: List[Tensor]
    #: Saves a checkpoint (directory, optimizer, values) and loads it back
    #: (directory, optimizer, a check of the saved values before anything
    #: is loaded), returning the values.
    save: Callable[[str, torch.optim.Optimizer, Dict[str, Any]], Any]
    load: Callable[[str, torch.optim.Optimizer,
                    Callable[[Dict[str, Any]], None]], Dict[str, Any]]
    reducer: Reducer = field(default_factory=Reducer)
    #: The loss and the metric (single- or multi-label).
    task: Task = field(default_factory=Task)
    #: Whether to report the age of the first history's halo rows.
    tracks_staleness: bool = False
    #: Result fields known before training (sizes, partition time, ...).
    info: Dict[str, Any] = field(default_factory=dict)
    #: Called after every training epoch and at the end: further result
    #: fields (collectives in a distributed run).
    epoch_stats: Optional[Callable[[], None]] = None
    final_stats: Optional[Callable[[], Dict[str, Any]]] = None


def peak_memory_bytes(device: torch.device) -> int:
    r"""The peak memory of the run: allocated CUDA memory on a GPU, the
    process' peak resident set size on CPU."""
    if device.type == 'cuda':
        return int(torch.cuda.max_memory_allocated(device))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == 'darwin' else peak * 1024)


def read_bytes() -> int:
    r"""The bytes this process has read from storage so far (cache misses
    that reached a block device; Linux :obj:`/proc/self/io`), or :obj:`0`
    where that is not known."""
    try:
        with open('/proc/self/io') as f:
            for line in f:
                if line.startswith('read_bytes:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _accuracy(out: Tensor, y: Tensor, mask: Tensor,
              evaluator: Optional[Any] = None) -> float:
    # The accuracy over 'mask', by OGB's official evaluator if given.
    mask = mask.to(out.device)
    if int(mask.sum()) == 0:
        return float('nan')
    pred = out[mask].argmax(dim=-1)  # [num_masked]
    y = y.to(out.device)[mask]  # [num_masked]
    if evaluator is not None:
        return float(evaluator.eval({'y_true': y.view(-1, 1),
                                     'y_pred': pred.view(-1, 1)})['acc'])
    return float((pred == y).float().mean())


#: The rows of an output that :func:`evaluate` scores at a time: the masked
#: rows of a block are copied, not those of the whole output (which may be
#: a memory-mapped file larger than memory).
EVAL_BLOCK_ROWS = 1 << 16


def _counts(task: Task, out: Tensor, y: Tensor,
            masks: List[Tensor]) -> List[float]:
    # The task's counts per mask, over this process' rows, summed block by
    # block (whole numbers, so the sums are exact).
    values = [0.0] * (task.num_counts * len(masks))
    for lo in range(0, out.size(0), EVAL_BLOCK_ROWS):
        block = out[lo:lo + EVAL_BLOCK_ROWS]
        y_block = y[lo:lo + EVAL_BLOCK_ROWS].to(out.device)
        counts: List[float] = []
        for mask in masks:
            counts += task.counts(
                block, y_block, mask[lo:lo + EVAL_BLOCK_ROWS].to(out.device))
        values = [a + b for a, b in zip(values, counts)]
    return values


def train_epoch(engine: Engine, optimizer: torch.optim.Optimizer,
                epoch: int, grad_norm: Optional[float] = None,
                ) -> Tuple[float, Optional[float]]:
    r"""Trains one epoch; returns the mean loss over the training nodes of
    all processes, and the mean age in steps of the halo rows pulled from
    the first history (or :obj:`None`). With a positive :obj:`grad_norm`,
    the gradients of every step are clipped to that norm."""
    engine.module.train()
    if hasattr(engine.loader, 'set_epoch'):  # Seeds the shuffle.
        engine.loader.set_epoch(epoch)
    totals = [0.0, 0.0, 0.0, 0.0]  # Loss, examples, age, pulled rows.
    for step, batch in enumerate(engine.loader, start=1):
        batch = batch.to(engine.device)
        bs = batch.batch_size
        optimizer.zero_grad()
        out = engine.forward(engine.module, batch)
        if engine.tracks_staleness and batch.n_id.numel() > bs:
            age = engine.model.histories[0].staleness(batch.n_id[bs:])
            totals[2] += float(age.float().sum())
            totals[3] += age.numel()
        loss, loss_sum, num_examples = engine.reducer.loss(
            out, batch.y[:bs], batch.train_mask[:bs], engine.task)
        if not math.isfinite(loss_sum):
            raise FloatingPointError(
                f"The training loss is {loss_sum} at epoch {epoch}, step "
                f"{step}: the run stops. Check the features for NaN or inf, "
                f"or lower 'lr'")
        if loss is None:
            continue
        loss.backward()
        if grad_norm:
            torch.nn.utils.clip_grad_norm_(engine.model.parameters(),
                                           grad_norm)
        optimizer.step()
        totals[0] += loss_sum
        totals[1] += num_examples
    loss_sum, examples, age, pulled = engine.reducer.sum(totals)
    return loss_sum / max(examples, 1.0), age / pulled if pulled else None


@torch.no_grad()
def evaluate(engine: Engine) -> List[float]:
    r"""The train, validation and test metric (accuracy, or micro-F1 for
    multi-label targets) over all processes."""
    task = engine.task
    counts = engine.reducer.sum(_counts(task, engine.evaluate(), engine.y,
                                        engine.masks))
    k = task.num_counts
    return [task.score(counts[i:i + k]) for i in range(0, len(counts), k)]


#: Fields a resumed run may change: they do not change what it computes.
RESUME_FREE = ('epochs', 'progress', 'quiet', 'json', 'log_every',
               'checkpoint', 'num_workers', 'cache_dir', 'root', 'device',
               'eval_every', 'eval_parts', 'tensorboard', 'save',
               'save_histories')
#: Fields a resumed run applies when changed.
RESUME_APPLIED = ('lr', )


def _check_resume(config: TrainConfig, values: Dict[str, Any]) -> None:
    # Refuses a checkpoint whose run differs from this one in a field that
    # changes what it computes, or that already trained every epoch.
    saved = values.get('config', {})
    changed = sorted(key for key, value in config_fields(config).items()
                     if key not in RESUME_FREE + RESUME_APPLIED
                     and key in saved and saved[key] != value)
    if changed:
        diff = ', '.join(f"'{key}' ({saved[key]!r} -> "
                         f"{getattr(config, key)!r})" for key in changed)
        raise ValueError(f"The checkpoint in '{config.checkpoint}' belongs to "
                         f"another run: {diff}. Resume with the same "
                         f"options, or use another checkpoint directory")
    if values['epoch'] >= config.epochs:
        raise ValueError(f"'epochs' must be above the checkpoint's epoch "
                         f"{values['epoch']} to train further (got "
                         f"{config.epochs})")


def _start(config: TrainConfig, engine: Engine,
           optimizer: torch.optim.Optimizer) -> Dict[str, Any]:
    # The state of the run: fresh, or where its checkpoint left it, with a
    # changed learning rate applied.
    state: Dict[str, Any] = dict(
        epoch=0, best_val=-1.0, test=-1.0, train=-1.0, best_epoch=0,
        config=config_fields(config),
        curve={key: [] for key in ('epoch', 'loss', 'train_acc', 'val_acc',
                                   'test_acc', 'time_s', 'staleness',
                                   'read_bytes', 'eval_time_s')})
    if not has_checkpoint(config.checkpoint):
        return state
    state.update(engine.load(config.checkpoint, optimizer,
                             lambda values: _check_resume(config, values)))
    saved_lr = state['config'].get('lr', config.lr)
    if saved_lr != config.lr:
        for group in optimizer.param_groups:
            group['lr'] = config.lr
        if not config.quiet and engine.reducer.rank == 0:
            print(f"Resuming from epoch {state['epoch']} with 'lr' "
                  f"{config.lr} (was {saved_lr})", file=sys.stderr)
    state['config'] = config_fields(config)
    state['resumed_from_epoch'] = state['epoch']
    return state


def _record(state: Dict[str, Any], epoch: int, loss: float,
            staleness: Optional[float], seconds: float,
            accs: Optional[List[float]], io_bytes: int,
            eval_seconds: Optional[float]) -> None:
    # Adds an epoch to the curve, and keeps the best validation epoch.
    if accs is not None and accs[1] > state['best_val']:
        state.update(best_val=accs[1], test=accs[2], train=accs[0],
                     best_epoch=epoch)
    row = dict(epoch=epoch, loss=loss, time_s=seconds, staleness=staleness,
               train_acc=None, val_acc=None, test_acc=None,
               read_bytes=io_bytes, eval_time_s=eval_seconds)
    if accs is not None:
        row.update(train_acc=accs[0], val_acc=accs[1], test_acc=accs[2])
    for key, value in row.items():
        state['curve'].setdefault(key, []).append(value)
    state['epoch'] = epoch


def log_line(**values: Any) -> None:
    r"""Writes PyG's log line of :obj:`values` to stderr, e.g.
    :obj:`log_line(Epoch=1, Loss=0.1234)` writes
    :obj:`Epoch: 001, Loss: 0.1234` (integers as three digits, floats with
    four decimals, by :func:`torch_geometric.logging.log`, which also
    sends the values to Weights & Biases once
    :func:`torch_geometric.logging.init_wandb` has started a run). The line
    goes through :meth:`tqdm.write`, so that a live bar is redrawn below it
    instead of being broken."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):  # PyG's log prints to stdout.
        torch_geometric.logging.log(**values)
    tqdm.write(buffer.getvalue().rstrip('\n'), file=sys.stderr)


def _tensorboard(config: TrainConfig, rank: int,
                 first_epoch: int) -> Optional[Any]:
    # The TensorBoard writer of rank 0 for '--tensorboard', or None. Every
    # rank checks the package, so that all fail alike before training. A
    # resumed run drops the events written after its checkpoint's epoch.
    if config.tensorboard is None:
        return None
    check_tensorboard(config)
    if rank != 0:
        return None
    from torch.utils.tensorboard import SummaryWriter
    return SummaryWriter(config.tensorboard,
                         purge_step=first_epoch if first_epoch > 1 else None)


def _write_scalars(writer: Any, metric: str, epoch: int, loss: float,
                   staleness: Optional[float], seconds: float,
                   accs: Optional[List[float]],
                   eval_seconds: Optional[float]) -> None:
    # One epoch's TensorBoard scalars, by epoch; an epoch that was not
    # evaluated has no accuracies.
    values: Dict[str, Optional[float]] = {
        'loss/train': loss, 'time/epoch_s': seconds,
        'time/eval_s': eval_seconds, 'staleness/halo_steps': staleness}
    if accs is not None:
        values.update({f'{metric}/{split}': value for split, value
                       in zip(('train', 'val', 'test'), accs)})
    for tag, value in values.items():
        if value is not None:
            writer.add_scalar(tag, value, epoch)


def fit(config: TrainConfig, engine: Engine) -> Dict[str, Any]:
    r"""Trains :obj:`engine` for :obj:`config.epochs` epochs, evaluating
    every :obj:`config.eval_every` epochs and keeping the epoch of the best
    validation accuracy. With :obj:`config.checkpoint`, it resumes from the
    checkpoint there, if any, and saves one after every epoch. Returns the
    results (see :func:`pyg_gas.train.run`)."""
    model, reducer = engine.model, engine.reducer
    optimizer = torch.optim.Adam(
        model.param_groups(config.weight_decay, config.nonreg_weight_decay),
        lr=config.lr)
    state = _start(config, engine, optimizer)
    writer = _tensorboard(config, reducer.rank, state['epoch'] + 1)
    lead = reducer.rank == 0
    name = config.loader + (f' x{reducer.world_size}'
                            if reducer.world_size > 1 else '')
    # disable=None: no bar when stderr is not a terminal (a file, a pipe),
    # where its refreshes would only pile up as '\r' lines.
    bar = tqdm(range(state['epoch'] + 1, config.epochs + 1),
               disable=None if config.progress and lead else True,
               desc=f'{config.model}/{name}', file=sys.stderr)
    try:
        for epoch in bar:
            t, io_start = time.perf_counter(), read_bytes()
            loss, staleness = train_epoch(engine, optimizer, epoch,
                                          config.grad_norm)
            if engine.device.type == 'cuda':
                torch.cuda.synchronize(engine.device)
            seconds = time.perf_counter() - t
            io_bytes = read_bytes() - io_start
            if engine.epoch_stats is not None:
                engine.epoch_stats()
            accs, eval_seconds = None, None
            if epoch % config.eval_every == 0 or epoch == config.epochs:
                t = time.perf_counter()
                accs = evaluate(engine)
                eval_seconds = time.perf_counter() - t
                release_memory(config)  # The inference's temporaries.
            if lead and not config.quiet and (epoch % config.log_every == 0
                                              or epoch == config.epochs):
                values = dict(Epoch=epoch, Loss=loss)
                if accs is not None:
                    values.update(Val=accs[1], Test=accs[2])
                log_line(**values)
            if writer is not None:
                _write_scalars(writer, engine.task.metric, epoch, loss,
                               staleness, seconds, accs, eval_seconds)
            _record(state, epoch, loss, staleness, seconds, accs, io_bytes,
                    eval_seconds)
            if config.checkpoint is not None:
                engine.save(config.checkpoint, optimizer, state)
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    return _result(config, engine, state)


def _result(config: TrainConfig, engine: Engine,
            state: Dict[str, Any]) -> Dict[str, Any]:
    curve = state['curve']
    ages = [age for age in curve['staleness'] if age is not None]
    result: Dict[str, Any] = dict(
        dataset=config.dataset,
        model=config.model,
        loader=config.loader,
        epochs=config.epochs,
        metric=engine.task.metric,
        best_val_acc=state['best_val'],
        test_acc=state['test'],
        train_acc=state['train'],
        best_epoch=state['best_epoch'],
        final_loss=curve['loss'][-1] if curve['loss'] else math.nan,
        epoch_time_s=(statistics.median(curve['time_s']) if curve['time_s']
                      else math.nan),
        peak_memory_bytes=peak_memory_bytes(engine.device),
        num_params=sum(p.numel() for p in engine.model.parameters()),
        device=str(engine.device),
        curve=curve,
        config=config_fields(config),
        versions=dict(pyg_gas=pyg_gas.__version__, torch=torch.__version__,
                      torch_geometric=torch_geometric.__version__),
    )
    if 'resumed_from_epoch' in state:
        result['resumed_from_epoch'] = state['resumed_from_epoch']
    if ages:
        # The mean age, in optimization steps, of the first layer's halo
        # rows when they were pulled, over the last epoch.
        result['mean_halo_staleness'] = ages[-1]
    result.update(engine.info)
    if engine.final_stats is not None:
        result.update(engine.final_stats())
    if config.json is not None and engine.reducer.rank == 0:
        write_json(config.json, result)
    return result
