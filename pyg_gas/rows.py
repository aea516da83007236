r"""Node rows: the features of every node and the rows of its histories,
interleaved in one memory-mapped file, each node's row in one page.

A GAS mini-batch from disk reads its halo's feature rows and, for every
layer, its halo's history rows. Stored in separate files, each halo row
costs one random read per file (the features and every history), as the
halo of a cluster is scattered over the whole graph. Interleaved, a halo
row is one read: the page that holds its features holds its history rows
too. And as the page cache is shared between processes, a loader worker
that gathers the next batch's features (:obj:`num_workers > 0`) reads the
pages that the batch's history pulls need, while the current batch
computes.
"""
import json
import os
import os.path as osp
import shutil
import warnings
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from numpy.lib import format as npy_format
from torch import Tensor

from pyg_gas.checks import check_int
from pyg_gas.utils import advise_random, write_json

#: The page size that rows are aligned to.
PAGE_BYTES = 4096
#: The version of the layout file (:obj:`{stem}.json`).
ROWS_FORMAT = 1
_DTYPE = np.dtype('<f4')


def row_stride(width: int, itemsize: int = 4) -> int:
    r"""The elements a stored row of :obj:`width` elements takes, so that no
    row crosses a page boundary that it does not have to: a whole number of
    pages, or a power-of-two fraction of a page that holds it."""
    check_int('width', width)
    nbytes = width * itemsize
    if nbytes >= PAGE_BYTES:
        return -(-nbytes // PAGE_BYTES) * PAGE_BYTES // itemsize
    per_page = 1 << ((PAGE_BYTES // nbytes).bit_length() - 1)
    return PAGE_BYTES // per_page // itemsize


def _header(num_nodes: int, stride: int) -> bytes:
    # A '.npy' (version 1.0) header padded to one page, so that the rows
    # start on a page boundary of the file and of its map.
    text = repr(dict(descr=npy_format.dtype_to_descr(_DTYPE),
                     fortran_order=False, shape=(num_nodes, stride)))
    size = PAGE_BYTES - len(npy_format.MAGIC_PREFIX) - 2 - 2
    return (npy_format.magic(1, 0) + size.to_bytes(2, 'little') +
            text.ljust(size - 1).encode('latin1') + b'\n')


def _layout_file(path: str) -> str:
    return path[:-len('.npy')] + '.json'


class NodeRows:
    r"""One :obj:`.npy` file of float32 rows :obj:`[N, stride]` holding, for
    every node, its features and one row per history, at the column
    :obj:`offsets` of :obj:`widths` (features first), each row padded to a
    page or a power-of-two fraction of one (see :func:`row_stride`). The
    layout is in :obj:`{stem}.json` beside it, written last.

    :meth:`create` writes a new file; :obj:`NodeRows(path)` opens one.
    :attr:`features` is the :obj:`[N, F]` view of the features, e.g. for a
    dataset's :obj:`x` (see :meth:`pyg_gas.storage.DiskDataset.with_rows`),
    and :meth:`history` the :obj:`[N, C]` view of a history's rows. A
    :class:`~pyg_gas.ScalableGNN` stores its histories in the file when
    given it as :obj:`history_path` (with :obj:`history_storage='disk'`).

    Pickling a :class:`NodeRows` pickles its path: each process maps the
    file itself, and the page cache keeps the maps of all processes in
    step.

    Args:
        path (str): The :obj:`.npy` file.
        writable (bool, optional): Maps the file read-write.
            (default: :obj:`False`)
    """
    def __init__(self, path: str, writable: bool = False) -> None:
        self.path = osp.abspath(os.fspath(path))
        self.writable = writable
        layout_file = _layout_file(self.path)
        try:
            layout = _read_layout(layout_file)
            if layout.get('format') != ROWS_FORMAT:
                raise ValueError(f"format {layout.get('format')!r}, "
                                 f"expected {ROWS_FORMAT}")
            self.num_nodes = int(layout['num_nodes'])
            self.widths: List[int] = [int(w) for w in layout['widths']]
            self.stride = int(layout['stride'])
            #: What the features were written from (e.g. the digest of a
            #: dataset's features), or None.
            self.source = layout.get('source')
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"'{layout_file}' is not the layout of node "
                             f"rows ({e}): create them with "
                             f"NodeRows.create()") from None
        try:
            array = np.load(self.path, mmap_mode='r+' if writable else 'r',
                            allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ValueError(f"'{self.path}' is not a readable .npy file of "
                             f"node rows ({e})") from None
        if array.shape != (self.num_nodes, self.stride) or \
                array.dtype != _DTYPE:
            raise ValueError(
                f"'{self.path}' holds an array of shape {list(array.shape)} "
                f"and type {array.dtype}, but its layout gives "
                f"[{self.num_nodes}, {self.stride}] and float32")
        advise_random(array)
        self._array = array
        with warnings.catch_warnings():  # Read-only: never written here.
            warnings.filterwarnings('ignore', 'The given NumPy array is not '
                                    'writable')
            self.rows = torch.from_numpy(array) if array.size else \
                torch.empty(array.shape)
        self.offsets = np.cumsum([0] + self.widths).tolist()

    @classmethod
    def create(cls, path: str, x: Tensor, history_widths: Sequence[int],
               source: Optional[str] = None,
               chunk_bytes: int = 1 << 23) -> 'NodeRows':
        r"""Writes new node rows: the features :obj:`x` (:obj:`[N, F]`, of
        any floating type, stored as float32; e.g. a memory-mapped dataset
        array, read in chunks) and zero history rows of
        :obj:`history_widths`. The free space is checked first; the file is
        written under a temporary name and renamed, and its layout last, so
        that no half-written file is ever taken for node rows. An existing
        file :obj:`path` is replaced. :obj:`source` is recorded as
        :attr:`source` (see :meth:`pyg_gas.storage.DiskDataset.with_rows`).
        Returns the rows, mapped read-write."""
        path = osp.abspath(os.fspath(path))
        if not path.endswith('.npy') or osp.basename(path) == '.npy':
            raise ValueError(f"'path' must name a '.npy' file (got "
                             f"'{path}')")
        if not isinstance(x, Tensor) or x.dim() != 2 or \
                not x.is_floating_point():
            raise TypeError(f"'x' must be a 2-dimensional floating tensor "
                            f"(got {getattr(x, 'shape', type(x).__name__)})")
        widths = [int(x.size(1))] + [check_int('history width', w)
                                     for w in history_widths]
        num_nodes, stride = int(x.size(0)), row_stride(sum(widths))
        size = PAGE_BYTES + num_nodes * stride * _DTYPE.itemsize
        directory = osp.dirname(path)
        os.makedirs(directory, exist_ok=True)
        free = shutil.disk_usage(directory).free
        old = osp.getsize(path) if osp.isfile(path) else 0
        if size > free + old:
            raise ValueError(f"Not enough free disk space for the node rows "
                             f"'{path}': {size} bytes needed, {free} bytes "
                             f"available")
        layout_file = _layout_file(path)
        if osp.exists(layout_file):  # Never a layout of other rows.
            os.remove(layout_file)
        tmp = path + '.tmp'
        try:
            with open(tmp, 'wb') as f:
                f.write(_header(num_nodes, stride))
                f.truncate(size)  # History columns and padding: zeros.
                step = max(1, chunk_bytes // (stride * _DTYPE.itemsize))
                buf = np.zeros((min(step, num_nodes), stride), dtype=_DTYPE)
                for lo in range(0, num_nodes, step):
                    hi = min(lo + step, num_nodes)
                    block = buf[:hi - lo]
                    block[:, :widths[0]] = x[lo:hi].to(torch.float32).numpy()
                    f.write(memoryview(block).cast('B'))
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if osp.exists(tmp):
                os.remove(tmp)
            raise
        layout = dict(format=ROWS_FORMAT, num_nodes=num_nodes, widths=widths,
                      stride=stride, source=source,
                      zero_histories=list(range(len(widths) - 1)))
        write_json(layout_file, layout)
        return cls(path, writable=True)

    @property
    def num_features(self) -> int:
        return self.widths[0]

    @property
    def history_widths(self) -> List[int]:
        return self.widths[1:]

    @property
    def features(self) -> Tensor:
        r"""The features :obj:`[N, F]` (a strided view of the rows)."""
        return self.rows[:, :self.widths[0]]

    def history(self, i: int) -> Tensor:
        r"""The rows :obj:`[N, C]` of history :obj:`i` (a strided view)."""
        if not 0 <= i < len(self.widths) - 1:
            raise ValueError(f"The node rows '{self.path}' hold "
                             f"{len(self.widths) - 1} histories (got "
                             f"history {i})")
        lo = self.offsets[i + 1]
        return self.rows[:, lo:lo + self.widths[i + 1]]

    def last_step_file(self, i: int) -> str:
        r"""The file of the :obj:`last_step` of history :obj:`i` (see
        :class:`~pyg_gas.History`), beside the rows:
        :obj:`{stem}.history_{i}.last_step.npy`."""
        return f'{self.path[:-len(".npy")]}.history_{i}.last_step.npy'

    def claim_zero(self, i: int) -> bool:
        r"""Whether the rows of history :obj:`i` are all zero as
        :meth:`create` wrote them, never handed to a store before; records
        that they now are."""
        layout = _read_layout(_layout_file(self.path))
        zero = set(int(j) for j in layout['zero_histories'])
        if i not in zero:
            return False
        layout['zero_histories'] = sorted(zero - {i})
        write_json(_layout_file(self.path), layout)
        return True

    def zero_history(self, i: int, chunk_bytes: int = 1 << 23) -> None:
        r"""Sets the rows of history :obj:`i` to zero, reading and writing
        the file in chunks rather than through the map, so that its pages
        are not made resident in this process."""
        lo, hi = self.offsets[i + 1], self.offsets[i + 2]
        row_bytes = self.stride * _DTYPE.itemsize
        step = max(1, chunk_bytes // row_bytes)
        with open(self.path, 'r+b') as f:
            for start in range(0, self.num_nodes, step):
                count = min(step, self.num_nodes - start)
                offset = PAGE_BYTES + start * row_bytes
                block = np.frombuffer(
                    bytearray(os.pread(f.fileno(), count * row_bytes,
                                       offset)),
                    dtype=_DTYPE).reshape(count, self.stride)
                block[:, lo:hi] = 0
                os.pwrite(f.fileno(), memoryview(block).cast('B'), offset)

    def flush(self) -> None:
        r"""Writes rows still only in the page cache to the file."""
        if self.writable:
            self._array.flush()

    def __getstate__(self) -> Dict[str, Any]:
        return dict(path=self.path, writable=self.writable)

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__init__(state['path'], state['writable'])

    def __repr__(self) -> str:
        return (f'{type(self).__name__}({self.path!r}, '
                f'num_nodes={self.num_nodes}, widths={self.widths}, '
                f'stride={self.stride})')


def _read_layout(file: str) -> Dict[str, Any]:
    with open(file) as f:
        return json.load(f)

