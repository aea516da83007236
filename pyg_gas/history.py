from typing import Any, Iterator, Optional, Tuple, Union

import torch
from torch import Tensor

from pyg_gas.checks import check_ids, check_int, check_rows
from pyg_gas.history_io import AsyncHistoryIO  # Re-exported.

__all__ = ['History', 'AsyncHistoryIO']

_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)


class NodeIndexError(ValueError, IndexError):
    r"""Node ids out of the range of a :class:`History`. A
    :class:`ValueError`, as every bad argument, and an :class:`IndexError`,
    as out-of-range indexing is in Python (like NumPy's :obj:`AxisError`)."""


class History(torch.nn.Module):
    r"""A store of historical node embeddings for one layer, from the
    `"GNNAutoScale: Scalable and Expressive Graph Neural Networks via
    Historical Embeddings" <https://arxiv.org/abs/2106.05609>`_ paper.

    Row :obj:`i` holds the embedding that node :obj:`i` had the last time it
    was part of a mini-batch. Mini-batch training *pushes* the rows it just
    computed and *pulls* the rows of out-of-batch (halo) neighbours:

    .. math::
        \mathbf{h}^{(\ell)}_{\mathcal{N}(v) \setminus \mathcal{B}} \approx
        \bar{\mathbf{h}}^{(\ell)}_{\mathcal{N}(v) \setminus \mathcal{B}}

    The store is the registered buffer :obj:`emb`, so :meth:`to`,
    :meth:`state_dict` and :meth:`load_state_dict` treat it like any other
    model state. Alongside it, :obj:`last_step` records the step at which each
    row was last pushed, so the staleness of pulled rows can be reported
    (see :meth:`staleness`).

    **Where the store lives.** By default (:obj:`device=None`) the store
    follows the module: :obj:`model.to('cuda')` moves it to the GPU. With
    :obj:`device='cpu'`, the store is *offloaded*: it stays in CPU memory
    whatever device the model is moved to, because the histories of a large
    graph do not fit into GPU memory. :meth:`pull` then returns rows on the
    model's device, and when that device is CUDA, the store is kept in pinned
    memory so that the copies are fast and can overlap with compute.

    **Its storage type.** A :obj:`to(dtype)`, :obj:`half()` or
    :obj:`double()` of the history itself (or of a plain container of it)
    converts the store, as for any buffer. Inside a
    :class:`~pyg_gas.ScalableGNN`, the store keeps its type when the model
    is converted (see :obj:`history_dtype` there), since a lower-precision
    history is a memory choice, not the compute type; convert
    :obj:`model.histories` to change it. An offloaded store keeps its type
    always.

    Args:
        num_embeddings (int): The number of nodes.
        embedding_dim (int): The width of each embedding.
        device (torch.device or str, optional): Pins the store to this device
            (typically :obj:`'cpu'`) instead of following the module.
            (default: :obj:`None`)
        dtype (torch.dtype, optional): The storage type, one of
            :obj:`torch.float32`, :obj:`torch.float64`, :obj:`torch.bfloat16`
            and :obj:`torch.float16`. Lower precision halves the memory and
            the bandwidth; :meth:`pull` casts back to the compute type.
            (default: :obj:`torch.float32`)

    Shapes:
        - **push input:** :math:`(|\mathcal{V}_b|, F)` rows and their global
          ids :math:`(|\mathcal{V}_b|)`, or contiguous ranges given by
          :obj:`offset` and :obj:`count`
        - **pull output:** :math:`(|\mathcal{V}_h|, F)`
    """
    emb: Tensor
    last_step: Tensor
    step: Tensor
    #: Set by :class:`~pyg_gas.ScalableGNN` while it converts itself: the
    #: store then moves between devices but keeps its type.
    _keep_dtype: bool = False

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        device: Optional[Union[torch.device, str]] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        super().__init__()
        check_int('num_embeddings', num_embeddings, minimum=None)
        check_int('embedding_dim', embedding_dim, minimum=None)
        if num_embeddings < 0:
            raise ValueError(f"'num_embeddings' must be non-negative "
                             f"(got {num_embeddings})")
        if embedding_dim < 1:
            raise ValueError(f"'embedding_dim' must be positive "
                             f"(got {embedding_dim})")
        dtype = dtype or torch.float32
        if dtype not in _DTYPES:
            raise ValueError(f"'dtype' must be one of {list(_DTYPES)} "
                             f"(got {dtype})")

        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.offload = device is not None
        storage_device = torch.device(device or 'cpu')
        # The device that `pull` returns rows on (the model's device):
        self._device = storage_device

        self.register_buffer(
            'emb',
            torch.zeros(num_embeddings, embedding_dim, dtype=dtype,
                        device=storage_device))
        self.register_buffer(
            'last_step',
            torch.full((num_embeddings, ), -1, dtype=torch.long,
                       device=storage_device))
        self.register_buffer('step',
                             torch.zeros((), dtype=torch.long,
                                         device=storage_device))

    def _staged(self, num_rows: int) -> Iterator[Tuple[int, int, Tensor]]:
        # Splits 'num_rows' rows into steps of about 1 MiB of stored rows and
        # yields (lo, hi, buffer) per step, the buffer being one reused,
        # cache-resident tensor of the store's type: casting through it
        # avoids a full-size temporary and its memory traffic.
        step = max(1, (1 << 20) //
                   (self.embedding_dim * self.emb.element_size()))
        tmp = self.emb.new_empty(min(step, num_rows), self.embedding_dim)
        for lo in range(0, num_rows, step):
            hi = min(lo + step, num_rows)
            yield lo, hi, tmp[:hi - lo]

    @property
    def dtype(self) -> torch.dtype:
        return self.emb.dtype

    @property
    def device(self) -> torch.device:
        r"""The device that :meth:`pull` returns rows on."""
        return self._device

    def reset_parameters(self) -> None:
        self.emb.zero_()
        self.last_step.fill_(-1)
        self.step.zero_()

    def _apply(self, fn: Any, recurse: bool = True) -> 'History':
        # Find out where the model is going, with a probe tensor:
        probe = fn(torch.zeros(1, dtype=self.emb.dtype,
                               device=self.emb.device))
        self._device = probe.device
        if not self.offload:
            if self._keep_dtype and probe.dtype != self.emb.dtype:
                device = probe.device  # Move, but keep the storage type.
                return super()._apply(lambda t: t.to(device))
            return super()._apply(fn)
        # The store stays on its device; only its pinning may change: a CUDA
        # model copies rows in and out, which needs page-locked memory to be
        # fast and asynchronous.
        if (self._device.type == 'cuda' and self.emb.device.type == 'cpu'
                and not self.emb.is_pinned()):
            self.emb = self.emb.pin_memory()
            self.last_step = self.last_step.pin_memory()
        return self

    def _check_index(self, n_id: Tensor, name: str = 'n_id') -> None:
        check_ids(name, n_id)
        if n_id.numel() > 0:  # One pass, one sync: cheap next to the copy.
            lo, hi = torch.stack(torch.aminmax(n_id)).tolist()
            if lo < 0 or hi >= self.num_embeddings:
                bad = lo if lo < 0 else hi
                raise NodeIndexError(
                    f"'{name}' must hold ids in [0, {self.num_embeddings}) "
                    f"(got {'min' if lo < 0 else 'max'} id {bad}, for "
                    f"num_nodes={self.num_embeddings})")

    @torch.no_grad()
    def pull(self, n_id: Optional[Tensor] = None,
             dtype: Optional[torch.dtype] = None,
             out: Optional[Tensor] = None) -> Tensor:
        r"""Returns a copy of the stored rows :obj:`n_id` (all rows if
        :obj:`None`), on the model's device, cast to :obj:`dtype` (default:
        the storage type, or :obj:`torch.float32` for :obj:`bfloat16` and
        :obj:`float16` stores).

        With :obj:`out`, a contiguous tensor of shape
        :obj:`[len(n_id), embedding_dim]`, the rows are written into it
        (cast to its type) and it is returned: reusing one buffer saves
        allocating, and first touching, a fresh one per call.

        Ids outside :obj:`[0, num_embeddings)` raise a
        :class:`NodeIndexError` (a :class:`ValueError`) naming the smallest
        or largest id, here and in :meth:`push` and :meth:`staleness`.
        """
        if out is not None:
            if n_id is None:
                n_id = torch.arange(self.num_embeddings,
                                    device=self.emb.device)
            else:
                self._check_index(n_id)
            if not isinstance(out, Tensor) or out.shape != (
                    n_id.numel(), self.embedding_dim):
                raise ValueError(f"'out' must have shape [{n_id.numel()}, "
                                 f"{self.embedding_dim}] (got "
                                 f"{list(getattr(out, 'shape', []))})")
            if not out.is_contiguous():
                raise ValueError("'out' must be contiguous")
            n_id = n_id.to(self.emb.device)
            if out.device != self.emb.device:
                return out.copy_(self.emb.index_select(0, n_id))
            if out.dtype == self.dtype:
                return torch.index_select(self.emb, 0, n_id, out=out)
            for lo, hi, part in self._staged(n_id.numel()):  # Gather, cast.
                torch.index_select(self.emb, 0, n_id[lo:hi], out=part)
                out[lo:hi].copy_(part)
            return out
        if dtype is None:
            dtype = (self.emb.dtype if self.emb.dtype
                     in (torch.float32, torch.float64) else torch.float32)
        if n_id is None:
            return self.emb.to(device=self._device, dtype=dtype, copy=True)
        self._check_index(n_id)
        out = self.emb.index_select(0, n_id.to(self.emb.device))
        return out.to(device=self._device, dtype=dtype)

    @torch.no_grad()
    def push(self, x: Tensor, n_id: Optional[Tensor] = None,
             offset: Optional[Union[Tensor, int]] = None,
             count: Optional[Union[Tensor, int]] = None,
             step: Optional[int] = None) -> None:
        r"""Stores the rows of :obj:`x`.

        Either :obj:`n_id` gives the global id of each row, or :obj:`offset`
        and :obj:`count` describe the rows as consecutive ranges: the first
        :obj:`count[0]` rows of :obj:`x` go to rows
        :obj:`offset[0]:offset[0] + count[0]`, the next :obj:`count[1]` rows to
        :obj:`offset[1]:offset[1] + count[1]`, and so on. Ranges are copied
        as slices, which is faster than scattering single rows. With neither,
        :obj:`x` replaces the whole store.

        :obj:`step` is the step recorded for the rows (default: the current
        one), for writes that complete later than they were issued.

        :obj:`x` must be real: a complex tensor raises a
        :class:`TypeError`, since the store would drop its imaginary part.
        """
        check_rows('x', x, self.embedding_dim)
        if x.is_complex():  # Casting would drop the imaginary part.
            raise TypeError(f"'x' must be a real tensor (got dtype "
                            f"{x.dtype}; store the real and imaginary parts "
                            f"as separate channels)")
        x = x.detach()
        step_value = self.step if step is None else step
        if n_id is not None:
            self._check_index(n_id)
            if n_id.numel() != x.size(0):
                raise ValueError(f"'x' has {x.size(0)} rows but 'n_id' has "
                                 f"{n_id.numel()} entries")
            n_id = n_id.to(self.emb.device)
            x = x.to(self.emb.device)
            if x.dtype == self.dtype:
                self.emb.index_copy_(0, n_id, x)
            else:  # Cast, then scatter.
                for lo, hi, part in self._staged(n_id.numel()):
                    self.emb.index_copy_(0, n_id[lo:hi],
                                         part.copy_(x[lo:hi]))
            self.last_step.index_fill_(0, n_id, step_value)
        elif offset is not None or count is not None:
            if offset is None or count is None:
                raise ValueError("'offset' and 'count' must be given together")
            offsets = torch.as_tensor(offset).view(-1).tolist()
            counts = torch.as_tensor(count).view(-1).tolist()
            if len(offsets) != len(counts):
                raise ValueError(f"'offset' ({len(offsets)}) and 'count' "
                                 f"({len(counts)}) differ in length")
            if sum(counts) != x.size(0):
                raise ValueError(f"'x' has {x.size(0)} rows but 'count' sums "
                                 f"to {sum(counts)}")
            for o, c in zip(offsets, counts):  # Check all before writing.
                if o < 0 or c < 0 or o + c > self.num_embeddings:
                    raise ValueError(f"Range [{o}, {o + c}) is out of bounds "
                                     f"for {self.num_embeddings} rows "
                                     f"('offset' {o}, 'count' {c}; expected "
                                     f"offset >= 0, count >= 0 and offset "
                                     f"+ count <= {self.num_embeddings})")
            src = 0
            for o, c in zip(offsets, counts):
                self.emb[o:o + c].copy_(x[src:src + c])
                self.last_step[o:o + c].fill_(step_value)
                src += c
        else:
            if x.size(0) != self.num_embeddings:
                raise ValueError(f"Pushing without 'n_id' needs all "
                                 f"{self.num_embeddings} rows (got "
                                 f"{x.size(0)})")
            self.emb.copy_(x)
            self.last_step.fill_(step_value)

    def tick(self) -> None:
        r"""Advances the step counter: call once per optimization step."""
        self.step += 1

    @torch.no_grad()
    def staleness(self, n_id: Optional[Tensor] = None) -> Tensor:
        r"""Returns, for the rows :obj:`n_id` (all if :obj:`None`), how many
        steps ago they were last pushed, or :obj:`-1` for rows never
        pushed."""
        if n_id is not None:
            self._check_index(n_id)
        last = self.last_step if n_id is None else self.last_step.index_select(
            0, n_id.to(self.last_step.device))
        return torch.where(last < 0, last, self.step.to(last.device) - last)

    def extra_repr(self) -> str:
        out = f'{self.num_embeddings}, {self.embedding_dim}'
        if self.dtype != torch.float32:
            out += f', dtype={self.dtype}'
        if self.offload:
            out += f', device={self.emb.device}'
        return out
