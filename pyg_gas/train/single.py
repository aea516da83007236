r"""Training in one process: :func:`run`, the entry point of
``pyg-gas train``, which hands distributed runs to
:mod:`pyg_gas.train.distributed`."""
from typing import Any, Callable, Dict, List, Optional

import torch
from torch import Tensor
from torch_geometric import seed_everything

from pyg_gas.checkpoint import read_checkpoint, write_checkpoint
from pyg_gas.distributed.launch import in_launched_process
from pyg_gas.loader import EvalSubgraphLoader
from pyg_gas.partition import original_ids
from pyg_gas.train.build import (
    LOADERS,
    PARTITIONED,
    Loaders,
    build_model,
    create_rows,
    load_graph,
    release_memory,
    select_device,
    transform_graph,
)
from pyg_gas.train.config import TrainConfig, resolve
from pyg_gas.train.distributed import launch
from pyg_gas.train.loop import MASKS, Engine, fit, peak_memory_bytes
from pyg_gas.train.saved import (
    check_save_dir,
    degree_histogram,
    inference_ranges,
    save,
)
from pyg_gas.train.task import MultiLabelTask, task_of


def _generators(loader: Any) -> List[torch.Generator]:
    # The generators a loader draws its shuffle (and samples) from, besides
    # the global one.
    found: List[torch.Generator] = []
    for owner in (loader, getattr(loader, 'collater', None)):
        generator = getattr(owner, 'generator', None)
        if isinstance(generator, torch.Generator) and all(
                generator is not g for g in found):
            found.append(generator)
    return found


def _saver(config: TrainConfig, model: Any, loaders: Loaders,
           deg: Optional[Tensor]) -> Callable[[], Dict[str, Any]]:
    # Saves the trained model into 'config.save' (see
    # 'pyg_gas.train.saved.save'), at the end of 'fit'.
    def final() -> Dict[str, Any]:
        data = loaders.data
        if config.loader in PARTITIONED:
            ptr = loaders.train.ptr
            perm = original_ids(data)
            assert perm is not None  # Clustered by 'permute', or prepared.
            batch_size = min(config.batch_size, config.num_parts)
            loader = EvalSubgraphLoader(data, ptr, batch_size=batch_size,
                                        collater=loaders.train.collater)
        else:  # The graph in its own order.
            perm = ptr = None
            loader = EvalSubgraphLoader(
                data, inference_ranges(data.num_nodes, config.eval_parts),
                check_order=False)
        save(config.save, model, config, data, perm, ptr,
             loader=loader, histories=config.save_histories, deg=deg,
             multilabel=isinstance(task_of(data.y), MultiLabelTask))
        return dict(saved=config.save)

    return final


def check_save(config: TrainConfig) -> None:
    r"""Checks, before any work, the :obj:`save` options of :obj:`config`:
    :obj:`save_histories` needs :obj:`save`, whose directory must be new,
    empty or an earlier saved model (see
    :func:`~pyg_gas.train.saved.check_save_dir`)."""
    if config.save_histories and config.save is None:
        raise ValueError("'save_histories' saves the histories with the "
                         "model: pass 'save' (--save DIR) too")
    if config.save is not None:
        check_save_dir(config.save)


def prepare(config: TrainConfig, device: torch.device) -> Engine:
    r"""Loads the graph of :obj:`config`, builds its model and loaders, and
    returns what :func:`~pyg_gas.train.loop.fit` trains in this process.
    With :obj:`config.save`, the trained model is saved at the end of
    :func:`~pyg_gas.train.loop.fit` (see :func:`pyg_gas.train.saved.save`),
    with its histories refreshed by a final exact inference if
    :obj:`config.save_histories` is set."""
    data = load_graph(config)
    rows = create_rows(config, data)  # With --history-layout rows.
    model = build_model(config, data, rows=rows)
    deg = degree_histogram(config, data) if config.save else None
    data = transform_graph(model, data, log=not config.quiet)
    if rows is not None:  # The features from the rows too.
        data = data.with_rows(rows)
    num_edges = int(data.num_edges)
    entry = LOADERS[config.loader]
    loaders = entry.build(config, data, device)
    model = model.to(device)
    data = loaders.data
    generators = _generators(loaders.train)
    layout = dict(loaders.layout, loader=config.loader)
    release_memory(config)  # The temporaries of loading and building.

    def save(path: str, optimizer: torch.optim.Optimizer,
             values: Dict[str, Any]) -> None:
        write_checkpoint(path, layout, model, optimizer,
                         generators=generators, **values)

    def load(path: str, optimizer: torch.optim.Optimizer,
             check: Callable[[Dict[str, Any]], None]) -> Dict[str, Any]:
        return read_checkpoint(path, layout, model, optimizer,
                               generators=generators, check=check)

    return Engine(
        model=model, module=model, device=device, loader=loaders.train,
        forward=entry.forward, evaluate=lambda: loaders.evaluate(model),
        y=data.y, masks=[data[key] for key in MASKS], save=save, load=load,
        task=task_of(data.y),
        tracks_staleness=entry.tracks_staleness and len(model.histories) > 0,
        info=dict(num_nodes=int(data.num_nodes), num_edges=num_edges,
                  partition_time_s=loaders.partition_time_s,
                  batches_per_epoch=len(loaders.train)),
        final_stats=(None if config.save is None else
                     _saver(config, model, loaders, deg)))


def run(config: TrainConfig) -> Dict[str, Any]:
    r"""Trains and evaluates one model, and returns the results (the fields
    that ``pyg-gas train --json`` writes). With :obj:`nproc > 1`, or in a
    process started by :obj:`torchrun`, the run is distributed (see
    :func:`pyg_gas.train.distributed.launch`).

    The results hold the best validation accuracy with the train and test
    accuracy of its epoch, the final loss, the median epoch time, the peak
    memory, the sizes of the graph and the model, the per-epoch
    :obj:`curve` (loss, accuracies where evaluated, epoch time, halo
    staleness), the resolved configuration and the package versions.

    With :obj:`config.save`, the trained model is saved into that directory
    for :func:`pyg_gas.train.saved.load` and ``pyg-gas predict`` (the
    result's :obj:`saved` field names it).
    """
    config = resolve(config)
    check_save(config)
    if config.nproc > 1 or in_launched_process():
        return launch(config)
    device = select_device(config.device)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    seed_everything(config.seed)
    # What the process held before loading data (interpreter, torch):
    baseline_memory = peak_memory_bytes(device)
    engine = prepare(config, device)
    engine.info['baseline_memory_bytes'] = baseline_memory
    return fit(config, engine)
