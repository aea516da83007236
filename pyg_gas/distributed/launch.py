r"""Starting the processes of a distributed run: under :obj:`torchrun`, or
spawned on this machine."""
import os
import socket
import time
import traceback
from typing import Any, Callable, List, Optional, Sequence, Tuple

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from pyg_gas.checks import check_int

#: The environment variables torchrun sets for every process.
ENV_KEYS = ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')


def in_launched_process() -> bool:
    r"""Whether this process was started by a launcher such as
    :obj:`torchrun` as one of several ranks."""
    return all(key in os.environ for key in ENV_KEYS) and int(
        os.environ['WORLD_SIZE']) > 1


def default_backend(device: Optional[torch.device] = None) -> str:
    r"""nccl for CUDA devices, gloo otherwise."""
    if device is not None and torch.device(device).type == 'cuda':
        return 'nccl'
    return 'gloo'


def init_distributed(backend: Optional[str] = None,
                     device: Optional[torch.device] = None,
                     timeout_s: float = 600.0) -> Tuple[int, int]:
    r"""Initializes the default process group from the environment that
    :obj:`torchrun` (or :func:`spawn`) sets, unless it already is, and
    returns :obj:`(rank, world_size)`. On CUDA, it selects the GPU
    :obj:`LOCAL_RANK`."""
    if not dist.is_initialized():
        missing = [key for key in ENV_KEYS if key not in os.environ]
        if missing:
            raise ValueError(f"A distributed run needs the environment "
                             f"variables {list(ENV_KEYS)} (missing "
                             f"{missing}): start it with 'torchrun' or "
                             f"'pyg-gas train --nproc N'")
        backend = backend or default_backend(device)
        if backend == 'nccl':
            torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))
        from datetime import timedelta
        dist.init_process_group(backend,
                                timeout=timedelta(seconds=timeout_s))
    return dist.get_rank(), dist.get_world_size()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, fn: Callable[..., Any],
            args: Sequence[Any], queue: Any) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world_size),
                      LOCAL_WORLD_SIZE=str(world_size), MASTER_ADDR='127.0.0.1',
                      MASTER_PORT=str(port))
    if 'OMP_NUM_THREADS' not in os.environ:
        # The processes share the cores, as under torchrun (which sets 1):
        threads = max(1, (os.cpu_count() or 1) // world_size)
        os.environ['OMP_NUM_THREADS'] = str(threads)
        torch.set_num_threads(threads)
    try:
        out = fn(*args)
        queue.put((rank, True, out))
    except BaseException:  # Reported to the parent, which raises it.
        queue.put((rank, False, traceback.format_exc()))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def spawn(fn: Callable[..., Any], nproc: int, args: Sequence[Any] = (),
          timeout_s: Optional[float] = None) -> List[Any]:
    r"""Runs :obj:`fn(*args)` in :obj:`nproc` new processes on this machine,
    ranks :obj:`0` to :obj:`nproc - 1` of one group on loopback: each
    process finds the environment of :obj:`torchrun` (call
    :func:`init_distributed` in :obj:`fn`).

    :obj:`fn` and its arguments must be picklable (a module-level
    function). If a process fails, the others are stopped and a
    :class:`RuntimeError` carries the failure's traceback; past
    :obj:`timeout_s` seconds, all are stopped and a :class:`TimeoutError`
    is raised, so a hang can not block the caller.

    Returns:
        The return values of :obj:`fn`, by rank.
    """
    check_int('nproc', nproc)
    ctx = mp.get_context('spawn')
    queue = ctx.SimpleQueue()
    port = _free_port()
    procs = [
        ctx.Process(target=_worker, args=(rank, nproc, port, fn, args, queue),
                    daemon=False) for rank in range(nproc)
    ]
    for proc in procs:
        proc.start()
    results: List[Any] = [None] * nproc
    done = 0
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        while done < nproc:
            if not queue.empty():
                rank, ok, value = queue.get()
                if not ok:
                    raise RuntimeError(f'Rank {rank} of {nproc} failed:\n'
                                       f'{value}')
                results[rank] = value
                done += 1
                continue
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead and queue.empty():
                raise RuntimeError(f'A process exited with code '
                                   f'{dead[0].exitcode} without a result')
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f'The {nproc} processes did not finish '
                                   f'within {timeout_s} s')
            time.sleep(0.05)
        for proc in procs:
            proc.join()
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join()
    return results
