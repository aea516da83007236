r"""Asynchronous history I/O: overlaps the pushes and pulls of offloaded
histories with GPU compute, through CUDA side streams and worker threads
(:class:`AsyncHistoryIO`), and the pulls of histories on disk with CPU
compute, through a worker thread (:class:`HistoryPrefetcher`).

This module sits below :mod:`pyg_gas.history` (which re-exports
:class:`AsyncHistoryIO`): it needs of a :class:`~pyg_gas.History` only what
:class:`HistoryLike` describes, so it does not import it."""
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, List, Optional, Protocol, Sequence

import torch
from torch import Tensor

from pyg_gas.checks import check_rows


class HistoryLike(Protocol):
    r"""What :class:`AsyncHistoryIO` and :class:`HistoryPrefetcher` use of a
    :class:`~pyg_gas.History`."""
    offload: bool
    storage: str
    embedding_dim: int
    emb: Tensor
    step: Tensor

    @property
    def dtype(self) -> torch.dtype:
        ...

    def pull(self, n_id: Optional[Tensor] = None,
             dtype: Optional[torch.dtype] = None,
             out: Optional[Tensor] = None) -> Tensor:
        ...

    def push(self, x: Tensor, n_id: Optional[Tensor] = None,
             offset: Optional[Tensor] = None,
             count: Optional[Tensor] = None,
             step: Optional[int] = None) -> None:
        ...


class AsyncHistoryIO:
    r"""Asynchronous history I/O for a model on CUDA whose histories are
    offloaded to pinned CPU memory (:obj:`History(..., device='cpu')`) or
    live on disk (:obj:`History(..., storage='disk')`), as in the
    `"GNNAutoScale" <https://arxiv.org/abs/2106.05609>`_ paper's
    implementation. :class:`~pyg_gas.ScalableGNN` drives it once
    :meth:`~pyg_gas.ScalableGNN.enable_async_io` is called.

    * :meth:`prefetch` starts pulling the halo rows of *every* history as
      soon as the batch is known: a worker thread gathers the rows on the
      CPU into a reusable pinned staging buffer and copies them to a
      reusable GPU buffer on a side stream. The halo is disjoint from the
      batch, so this batch's own pushes cannot change those rows: pulling
      them early is exact.
    * :meth:`pull` hands the rows of one history to the compute stream: the
      compute stream waits for the copy's event first, copies the rows into
      the layer's output, and records when it is done with the buffer, so
      the next batch's prefetch does not overwrite it too early.
    * :meth:`push` copies the batch rows from the GPU into a pinned staging
      buffer on the side stream (after the compute stream produced them),
      and a worker thread writes them into the store once the copy is done,
      while the GPU goes on with the forward and backward pass.
    * :meth:`synchronize` waits for every outstanding push and pull; the
      next :meth:`prefetch` calls it, so a pull never misses a push.

    Args:
        histories ([History]): The offloaded histories.
        device (torch.device): The CUDA device of the model.
        max_batch_rows (int): The size of the push staging buffers (grown
            if a batch needs more).
        max_halo_rows (int): The size of the pull buffers (grown if a batch
            needs more).
        num_threads (int, optional): Worker threads for the CPU side.
            (default: :obj:`2`)
    """
    def __init__(self, histories: Sequence[HistoryLike], device: torch.device,
                 max_batch_rows: int, max_halo_rows: int,
                 num_threads: int = 2) -> None:
        device = torch.device(device)
        if device.type != 'cuda':
            raise ValueError(f"Asynchronous history I/O needs a CUDA model "
                             f"(got device '{device}')")
        for i, hist in enumerate(histories):
            # The stores are only read into and written from pinned staging
            # buffers, so a disk store (which cannot be pinned) works too.
            on_disk = getattr(hist, 'storage', 'memory') == 'disk'
            if not (hist.offload and hist.emb.device.type == 'cpu' and
                    (on_disk or hist.emb.is_pinned())):
                raise ValueError(
                    f"Asynchronous history I/O needs histories in pinned "
                    f"CPU memory or on disk: create them with device='cpu' "
                    f"('history_device' of the model) and move the model "
                    f"to CUDA (history {i} is on {hist.emb.device}, "
                    f"pinned={hist.emb.is_pinned()})")
        self.histories = list(histories)
        self.device = device
        self.stream = torch.cuda.Stream(device)
        self.pool = ThreadPoolExecutor(max_workers=num_threads)
        num = len(self.histories)
        self._pulls: List[Optional[Future]] = [None] * num
        self._pushes: List[Optional[Future]] = [None] * num
        self._copied: List[Optional[torch.cuda.Event]] = [None] * num
        self._consumed: List[Optional[torch.cuda.Event]] = [None] * num
        self._halo_rows = 0
        self.max_batch_rows = 0
        self.max_halo_rows = 0
        self._pull_cpu: List[Tensor] = []
        self._pull_gpu: List[Tensor] = []
        self._push_cpu: List[Tensor] = []
        self.reserve(max_batch_rows, max_halo_rows)

    def reserve(self, max_batch_rows: int, max_halo_rows: int) -> None:
        r"""Makes the reusable buffers hold at least this many rows."""
        if max_halo_rows > self.max_halo_rows:
            self.synchronize()
            self._pull_cpu = [
                torch.empty(max_halo_rows, h.embedding_dim, dtype=h.dtype,
                            pin_memory=True) for h in self.histories
            ]
            self._pull_gpu = [
                torch.empty(max_halo_rows, h.embedding_dim, dtype=h.dtype,
                            device=self.device) for h in self.histories
            ]
            self.max_halo_rows = max_halo_rows
        if max_batch_rows > self.max_batch_rows:
            self.synchronize()
            self._push_cpu = [
                torch.empty(max_batch_rows, h.embedding_dim,
                            pin_memory=True) for h in self.histories
            ]
            self.max_batch_rows = max_batch_rows

    def synchronize(self) -> None:
        r"""Waits until every started push and pull has completed."""
        for future in self._pushes + self._pulls:
            if future is not None:
                future.result()
        self._pushes = [None] * len(self._pushes)

    def prefetch(self, halo: Tensor) -> None:
        r"""Starts pulling the rows :obj:`halo` (global ids) of every
        history."""
        self.synchronize()
        halo = halo.to('cpu')
        self.reserve(self.max_batch_rows, halo.numel())
        self._halo_rows = halo.numel()
        for i in range(len(self.histories)):
            self._pulls[i] = self.pool.submit(self._pull_rows, i, halo)

    def _pull_rows(self, i: int, halo: Tensor) -> None:
        # In a worker thread.
        num_rows = halo.numel()
        staging = self._pull_cpu[i][:num_rows]
        if self._copied[i] is not None:  # The last copy out of 'staging'.
            self._copied[i].synchronize()
        hist = self.histories[i]
        if getattr(hist, 'storage', 'memory') == 'disk':  # In file order.
            hist.pull(halo, out=staging)
        else:
            torch.index_select(hist.emb, 0, halo, out=staging)
        with torch.cuda.stream(self.stream):
            if self._consumed[i] is not None:  # The last batch is done.
                self.stream.wait_event(self._consumed[i])
            self._pull_gpu[i][:num_rows].copy_(staging, non_blocking=True)
            event = torch.cuda.Event()
            event.record(self.stream)
        self._copied[i] = event

    def pull(self, i: int, out: Tensor) -> Tensor:
        r"""Writes the prefetched halo rows of history :obj:`i` into
        :obj:`out` (on the compute stream, cast to its type) and returns
        it."""
        future = self._pulls[i]
        if future is None:
            raise RuntimeError(f'No prefetched rows for history {i}: call '
                               f'prefetch() first')
        future.result()
        self._pulls[i] = None
        stream = torch.cuda.current_stream(self.device)
        stream.wait_event(self._copied[i])
        out.copy_(self._pull_gpu[i][:self._halo_rows])
        consumed = torch.cuda.Event()
        consumed.record(stream)
        self._consumed[i] = consumed
        return out

    def push(self, i: int, x: Tensor, n_id: Optional[Tensor] = None,
             offset: Optional[Tensor] = None,
             count: Optional[Tensor] = None) -> None:
        r"""Starts storing the rows :obj:`x` (on the GPU) into history
        :obj:`i`, at :obj:`n_id` or in the ranges :obj:`offset` and
        :obj:`count` (see :meth:`pyg_gas.History.push`)."""
        hist = self.histories[i]
        check_rows('x', x, hist.embedding_dim)
        x = x.detach()
        if self._pushes[i] is not None:  # 'staging' is free again.
            self._pushes[i].result()
        self.reserve(x.size(0), self.max_halo_rows)
        # Small index tensors go to the CPU now, on the compute stream:
        n_id = None if n_id is None else n_id.to('cpu')
        offset = None if offset is None else offset.to('cpu')
        count = None if count is None else count.to('cpu')
        step = int(hist.step)
        staging = self._push_cpu[i][:x.size(0)]
        if staging.dtype != x.dtype:
            staging = torch.empty(x.shape, dtype=x.dtype, pin_memory=True)
        self.stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(self.stream):
            staging.copy_(x, non_blocking=True)
            x.record_stream(self.stream)  # Keep 'x' alive until copied.
            done = torch.cuda.Event()
            done.record(self.stream)
        self._pushes[i] = self.pool.submit(self._push_rows, hist, staging,
                                           done, step, n_id, offset, count)

    @staticmethod
    def _push_rows(hist: HistoryLike, staging: Tensor, done: Any, step: int,
                   n_id: Optional[Tensor], offset: Optional[Tensor],
                   count: Optional[Tensor]) -> None:
        # In a worker thread: once the copy is done, write the rows with the
        # step at which they were computed.
        done.synchronize()
        hist.push(staging, n_id=n_id, offset=offset, count=count, step=step)

    def close(self) -> None:
        r"""Completes all I/O and stops the worker threads."""
        self.synchronize()
        self.pool.shutdown(wait=True)


class HistoryPrefetcher:
    r"""Prefetches the halo rows of the histories of a model on the CPU,
    the CPU sibling of :class:`AsyncHistoryIO`: while layer 0 of a GAS
    mini-batch computes, a worker thread gathers the halo rows of *every*
    history into reusable buffers, so that each layer's pull is a copy out
    of memory instead of a read of the store. It pays off for histories on
    disk (:obj:`History(..., storage='disk')`), whose rows may have to be
    read from the file; :class:`~pyg_gas.ScalableGNN` drives it (see
    :attr:`~pyg_gas.ScalableGNN.history_prefetch`).

    Prefetching is exact: the halo is disjoint from the batch, and a batch
    pushes only its own rows, so the rows gathered early are those a pull
    after the pushes would read. The outputs equal those of the synchronous
    path bit for bit. (Hand it only batches whose halo rows
    :obj:`n_id[batch_size:]` are distinct from their batch rows, as those
    of the loaders are.)

    * :meth:`prefetch` starts gathering the rows :obj:`halo` of every
      history, one task per history, in order.
    * :meth:`pull` waits for the rows of one history and copies them into
      the layer's output (cast to its type).
    * :meth:`push` stores the batch rows at once, in the calling thread.
    * :meth:`synchronize` waits for every started gather; :meth:`close`
      also stops the worker threads.

    Args:
        histories ([History]): The histories, on the CPU.
        max_halo_rows (int, optional): The initial size of the buffers
            (grown if a batch needs more). (default: :obj:`0`)
        num_threads (int, optional): Worker threads. (default: :obj:`1`)
    """
    def __init__(self, histories: Sequence[HistoryLike],
                 max_halo_rows: int = 0, num_threads: int = 1) -> None:
        for i, hist in enumerate(histories):
            if hist.emb.device.type != 'cpu':
                raise ValueError(f"Prefetching needs histories on the CPU "
                                 f"(history {i} is on {hist.emb.device})")
        self.histories = list(histories)
        self.pool = ThreadPoolExecutor(max_workers=num_threads,
                                       thread_name_prefix='pyg_gas-prefetch')
        num = len(self.histories)
        self._pulls: List[Optional[Future]] = [None] * num
        self._halo_rows = 0
        self.max_halo_rows = 0
        self._buffers: List[Tensor] = []
        self.reserve(max_halo_rows)

    def reserve(self, max_halo_rows: int) -> None:
        r"""Makes the reusable buffers hold at least this many rows."""
        if max_halo_rows > self.max_halo_rows:
            self.synchronize()
            self._buffers = [
                torch.empty(max_halo_rows, h.embedding_dim, dtype=h.dtype)
                for h in self.histories
            ]
            self.max_halo_rows = max_halo_rows

    def synchronize(self) -> None:
        r"""Waits until every started gather has completed, so that no
        thread reads the stores. A gather only reads, so its error (e.g. an
        id out of range) is raised by the :meth:`pull` of its rows, and
        dropped with them if they are never pulled (after a forward pass
        that failed before)."""
        pulls, self._pulls = self._pulls, [None] * len(self._pulls)
        for future in pulls:
            if future is not None:
                future.exception()  # Waits; the rows are not wanted now.

    def prefetch(self, halo: Tensor) -> None:
        r"""Starts gathering the rows :obj:`halo` (global ids) of every
        history."""
        self.synchronize()
        halo = halo.to('cpu')
        self.reserve(halo.numel())
        self._halo_rows = halo.numel()
        for i, hist in enumerate(self.histories):
            out = self._buffers[i][:halo.numel()]  # [H, C]
            self._pulls[i] = self.pool.submit(hist.pull, halo, out=out)

    def pull(self, i: int, out: Tensor) -> Tensor:
        r"""Writes the prefetched halo rows of history :obj:`i` into
        :obj:`out` (cast to its type) and returns it."""
        future = self._pulls[i]
        if future is None:
            raise RuntimeError(f'No prefetched rows for history {i}: call '
                               f'prefetch() first')
        self._pulls[i] = None
        future.result()
        return out.copy_(self._buffers[i][:self._halo_rows])

    def push(self, i: int, x: Tensor, n_id: Optional[Tensor] = None,
             offset: Optional[Tensor] = None,
             count: Optional[Tensor] = None) -> None:
        r"""Stores the rows :obj:`x` into history :obj:`i` (see
        :meth:`pyg_gas.History.push`), at once."""
        self.histories[i].push(x, n_id=n_id, offset=offset, count=count)

    def close(self) -> None:
        r"""Completes all gathers and stops the worker threads."""
        try:
            self.synchronize()
        finally:
            self.pool.shutdown(wait=True)
