r"""File and progress helpers: atomic writes, JSON results and log lines.

The graph helpers and argument checks that lived here before moved to
:mod:`pyg_gas.graph` and :mod:`pyg_gas.checks`; they stay importable from
this module under their old names."""
import contextlib
import ctypes
import ctypes.util
import json
import mmap
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict

from pyg_gas.checks import check_int  # noqa: F401 (alias)
from pyg_gas.graph import (  # noqa: F401 (aliases)
    build_adj_t,
    check_edge_index,
    gather_csr,
    get_edge_index,
    is_sparse,
    num_target_nodes,
    pad_targets,
    sparse_to_edge_index,
    split_attributes,
    to_adj_t,
    to_csr,
)


def atomic_write(path: str, write: Any, mode: str = 'wb') -> None:
    r"""Writes a file atomically: :obj:`write(f)` fills a temporary file in
    the same directory, which then replaces :obj:`path` in one step, so
    readers see the old file or the new one, never a partial one."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.tmp-')
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # As 'open' would create it.
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def advise_random(array: Any) -> None:
    r"""Tells the kernel that the memory-mapped NumPy :obj:`array` is read
    at random rows (:obj:`MADV_RANDOM`), so that a page fault reads that
    page instead of a whole read-ahead window around it (8 MiB on some
    disks): halo rows of features and histories are scattered, and read-
    ahead would fill the page cache with rows no batch asked for. Does
    nothing where :obj:`madvise` is not available."""
    handle = getattr(array, '_mmap', None)
    advice = getattr(mmap, 'MADV_RANDOM', None)
    if handle is None or advice is None:
        return
    with contextlib.suppress(OSError, ValueError):
        handle.madvise(advice)


#: Threads that gather rows of memory-mapped arrays: each blocks in its own
#: page faults, so the disk serves that many reads at once. Measured on a
#: virtio disk: 15,000 random rows a second with 1 thread, 52,000 with 8,
#: 78,000 with 32; a synthetic-products batch from disk under a 2.5 GiB
#: memory cap took 3.01-3.05 s with 48 threads against 3.41-3.48 s with 16
#: (interleaved runs, same losses, 40-60 MB more resident memory).
IO_THREADS = 48
_POOL: Dict[str, Any] = {}


def _io_pool() -> ThreadPoolExecutor:
    # One pool per process (a forked DataLoader worker makes its own).
    if _POOL.get('pid') != os.getpid():
        _POOL.update(pid=os.getpid(),
                     pool=ThreadPoolExecutor(IO_THREADS,
                                             thread_name_prefix='pyg_gas_io'))
    return _POOL['pool']


def gather_rows(src: Any, index: Any, out: Any = None,
                min_rows: int = 2048) -> Any:
    r"""Returns :obj:`src[index]` along the first dimension (into
    :obj:`out` if given, of the type of :obj:`src`), gathered by
    :data:`IO_THREADS` threads in chunks. For a memory-mapped :obj:`src`
    whose rows are read from disk, the threads' page faults overlap, which
    multiplies the reads a second; in memory it equals
    :func:`torch.index_select`. Gathers of fewer than :obj:`min_rows` rows
    run in the calling thread."""
    import torch
    num = index.numel()
    if out is None:
        out = src.new_empty((num, ) + tuple(src.shape[1:]))
    if num < min_rows:
        return torch.index_select(src, 0, index, out=out)
    step = -(-num // (2 * IO_THREADS))
    pool = _io_pool()
    futures = [pool.submit(torch.index_select, src, 0, index[lo:lo + step],
                           out=out[lo:lo + step])
               for lo in range(0, num, step)]
    for future in futures:
        future.result()
    return out


def scratch_tensor(shape: Any, dtype: Any, directory: str) -> Any:
    r"""A new, zero-filled tensor of :obj:`shape` and :obj:`dtype` that
    lives in a temporary file in :obj:`directory` instead of the process'
    memory: the file is mapped and unlinked at once, so it is gone when the
    tensor is freed, however the process ends.

    Its pages are the page cache's: written pages go to disk and leave
    memory when the kernel needs it, so arrays the size of the graph
    (permutations, degrees, the node order of a partition) take no
    anonymous memory. Random access into one is as fast as memory while it
    fits in the page cache. An empty shape gives an ordinary tensor."""
    import numpy as np
    import torch
    shape = tuple(int(s) for s in shape)
    np_type = torch.empty(0, dtype=dtype).numpy().dtype
    if np.prod(shape, dtype=np.int64) == 0:
        return torch.empty(shape, dtype=dtype)
    fd, path = tempfile.mkstemp(suffix='.scratch', dir=directory)
    try:
        with os.fdopen(fd, 'r+b') as f:
            array = np.memmap(f, dtype=np_type, mode='r+', shape=shape)
    finally:
        os.remove(path)
    return torch.from_numpy(array)


def trim_memory() -> bool:
    r"""Hands the free memory of glibc's heaps back to the operating system
    (:obj:`malloc_trim(0)`), and returns whether it could (:obj:`False`
    where the C library is not glibc).

    glibc keeps the memory of freed blocks in its heaps for reuse. After a
    step that builds large temporaries once (a distributed rank cutting its
    shard, an exact inference), the process keeps that memory although it
    no longer holds it. On 2 ranks training synthetic-arxiv from disk, the
    anonymous memory held before training fell from 1.6x to 1.1x the shard
    above an import-only process. A run inside a memory cap needs it for
    the page cache, so runs from disk (``pyg-gas train --data-dir`` or
    ``--history-storage disk``) call this after building their loaders and
    after every evaluation. Between batches it does not pay: the next batch
    faults the same memory in again."""
    if not sys.platform.startswith('linux'):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        malloc_trim = libc.malloc_trim
    except (OSError, AttributeError):
        return False
    malloc_trim.argtypes = [ctypes.c_size_t]
    malloc_trim.restype = ctypes.c_int
    malloc_trim(0)
    return True


def log(msg: str) -> None:
    r"""Reports progress of a long step on stderr."""
    print(msg, file=sys.stderr, flush=True)


def write_json(path: str, obj: Dict[str, Any]) -> None:
    r"""Writes :obj:`obj` as JSON to :obj:`path` atomically."""
    def write(f: Any) -> None:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write('\n')

    atomic_write(path, write, mode='w')


def _existing_parent(path: str) -> str:
    # The nearest directory of 'path' (itself included) that exists.
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


def check_writable_dir(name: str, path: str) -> str:
    r"""Checks that the directory :obj:`path` exists and is writable, or can
    be created, before any work is done; raises a :class:`ValueError`
    naming :obj:`name` otherwise."""
    parent = _existing_parent(path)
    if not os.path.isdir(parent):
        raise ValueError(f"'{name}' must be a directory, but '{parent}' is a "
                         f"file (got '{path}')")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"'{name}' is not writable: no write permission "
                         f"for '{parent}' (got '{path}')")
    return path


def check_writable_file(name: str, path: str) -> str:
    r"""Checks that the file :obj:`path` can be written (atomically, into
    its directory) before any work is done; raises a :class:`ValueError`
    naming :obj:`name` otherwise."""
    if os.path.isdir(path):
        raise ValueError(f"'{name}' must be a file path, but '{path}' is a "
                         f"directory")
    check_writable_dir(name, os.path.dirname(os.path.abspath(path)))
    return path


def remove_empty_dirs(folder: str) -> None:
    r"""Removes the empty folders below :obj:`folder`, and :obj:`folder`
    itself if it ends up empty (e.g. what a failed download created). Never
    removes a file."""
    for path, _, _ in sorted(os.walk(folder), key=lambda t: -len(t[0])):
        with contextlib.suppress(OSError):
            os.rmdir(path)
