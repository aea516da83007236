r"""Checkpoints of a training run, one file per process: the model with its
histories, the optimizer, every random state and the run's own values.

A single-process run and every rank of a distributed run write and read
them through the same two functions, :func:`write_checkpoint` and
:func:`read_checkpoint`. Files are written atomically, and a file that is
truncated, foreign, or belongs to another partition or world size is
refused with an error that names it."""
import glob
import os.path as osp
import pickle
import random
import re
import zipfile
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch

from pyg_gas.utils import atomic_write

#: Marks a file as a checkpoint of this package, with its format version.
FORMAT = ('pyg_gas.checkpoint', 1)


def checkpoint_file(path: str, rank: int = 0, world_size: int = 1) -> str:
    r"""The file of process :obj:`rank` of :obj:`world_size` in the
    checkpoint directory :obj:`path`."""
    return osp.join(path, f'rank{rank:05d}-of-{world_size:05d}.pt')


def has_checkpoint(path: Optional[str]) -> bool:
    r"""Whether the directory :obj:`path` holds checkpoint files."""
    return path is not None and bool(
        glob.glob(osp.join(path, 'rank*-of-*.pt')))


def random_state(generators: List[torch.Generator]) -> Dict[str, Any]:
    r"""The state of every random number generator a run draws from: the
    global ones of Python, NumPy, torch (and CUDA) and :obj:`generators`
    (e.g. a loader's shuffle generator)."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return dict(
        python=random.getstate(),
        numpy=(name, torch.from_numpy(keys.astype(np.int64)), int(pos),
               int(has_gauss), float(gauss)),
        torch=torch.get_rng_state(),
        cuda=(torch.cuda.get_rng_state_all()
              if torch.cuda.is_initialized() else None),
        generators=[g.get_state() for g in generators],
    )


def set_random_state(state: Dict[str, Any],
                     generators: List[torch.Generator]) -> None:
    r"""Restores what :func:`random_state` returned."""
    random.setstate(state['python'])
    name, keys, pos, has_gauss, gauss = state['numpy']
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos,
                         has_gauss, gauss))
    torch.set_rng_state(state['torch'])
    if state['cuda'] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])
    for generator, saved in zip(generators, state['generators']):
        generator.set_state(saved)


def write_checkpoint(path: str, layout: Dict[str, Any],
                     model: torch.nn.Module,
                     optimizer: Optional[torch.optim.Optimizer] = None,
                     rank: int = 0, world_size: int = 1,
                     generators: Optional[List[torch.Generator]] = None,
                     **values: Any) -> str:
    r"""Writes the checkpoint file of process :obj:`rank` into the directory
    :obj:`path`, atomically, and returns its path.

    Args:
        path (str): The checkpoint directory.
        layout (dict): What identifies the graph and partition the process
            trains on; :func:`read_checkpoint` refuses another one.
        model (torch.nn.Module): The model; its state includes the
            histories and their staleness steps.
        optimizer (torch.optim.Optimizer, optional): The optimizer.
        rank (int, optional): The process. (default: :obj:`0`)
        world_size (int, optional): The number of processes.
            (default: :obj:`1`)
        generators ([torch.Generator], optional): Generators whose state is
            saved besides the global ones.
        **values (optional): Further plain values (numbers, strings, lists,
            dictionaries and tensors) to save.
    """
    state = dict(
        format=FORMAT,
        layout=layout,
        model=model.state_dict(),
        optimizer=None if optimizer is None else optimizer.state_dict(),
        rng=random_state(generators or []),
        values=values,
    )
    file = checkpoint_file(path, rank, world_size)
    atomic_write(file, lambda f: torch.save(state, f))
    return file


def _world_sizes(path: str) -> List[int]:
    sizes = set()
    for name in glob.glob(osp.join(path, 'rank*-of-*.pt')):
        match = re.fullmatch(r'rank\d+-of-(\d+)\.pt', osp.basename(name))
        if match:
            sizes.add(int(match.group(1)))
    return sorted(sizes)


def _load(file: str) -> Dict[str, Any]:
    try:
        state = torch.load(file, map_location='cpu', weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError,
            zipfile.BadZipFile) as e:
        raise ValueError(f"The checkpoint file '{file}' can not be read "
                         f"({type(e).__name__}: {e}); it may be truncated. "
                         f"Remove the directory to start afresh") from None
    if not isinstance(state, dict) or state.get('format') != FORMAT:
        raise ValueError(f"'{file}' is not a checkpoint of pyg_gas (format "
                         f"{FORMAT[1]}); remove it or point the checkpoint "
                         f"directory elsewhere")
    return state


def read_checkpoint(path: str, layout: Dict[str, Any],
                    model: torch.nn.Module,
                    optimizer: Optional[torch.optim.Optimizer] = None,
                    rank: int = 0, world_size: int = 1,
                    generators: Optional[List[torch.Generator]] = None,
                    check: Optional[Callable[[Dict[str, Any]], None]] = None,
                    ) -> Dict[str, Any]:
    r"""Loads the checkpoint file of process :obj:`rank` that
    :func:`write_checkpoint` wrote into :obj:`path` back into :obj:`model`
    and :obj:`optimizer`, restores the random states, and returns the
    further values it saved. The checkpoint must have been written for the
    same :obj:`layout` and world size. :obj:`check`, if given, is called
    with the saved values before anything is loaded, and may refuse them by
    raising."""
    file = checkpoint_file(path, rank, world_size)
    if not osp.exists(file):
        sizes = _world_sizes(path)
        if sizes and world_size not in sizes:
            raise ValueError(f"The checkpoint in '{path}' was written by "
                             f"{sizes} ranks, but this run has "
                             f"{world_size}: resume on the same world size")
        raise FileNotFoundError(f"No checkpoint of rank {rank} in '{path}' "
                                f"(expected '{file}')")
    state = _load(file)
    if state['layout'] != layout:
        raise ValueError(f"The checkpoint in '{path}' belongs to another "
                         f"partition: saved {state['layout']}, this run "
                         f"has {layout}")
    if check is not None:
        check(dict(state['values']))
    try:
        model.load_state_dict(state['model'])
    except RuntimeError as e:
        raise ValueError(f"The checkpoint '{file}' holds another model than "
                         f"this run builds: {e}") from None
    if optimizer is not None:
        if state['optimizer'] is None:
            raise ValueError(f"The checkpoint in '{path}' has no optimizer "
                             f"state")
        optimizer.load_state_dict(state['optimizer'])
    set_random_state(state['rng'], generators or [])
    return dict(state['values'])
