import errno
import io
import os
import shutil
import tempfile
from typing import (
    Any,
    Dict,
    Iterator,
    List,
    Literal,
    Optional,
    Sequence,
    Tuple,
    Union,
)

import numpy as np
import torch
from numpy.lib import format as npy_format
from torch import Tensor

from pyg_gas.checks import check_choice, check_ids, check_int, check_rows
from pyg_gas.history_io import (  # Re-exported.
    AsyncHistoryIO,
    HistoryPrefetcher,
)
from pyg_gas.rows import NodeRows
from pyg_gas.utils import advise_random, gather_rows

__all__ = ['History', 'AsyncHistoryIO', 'HistoryPrefetcher', 'history_files']

_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)
_STORAGES = ('memory', 'disk')
Storage = Literal['memory', 'disk']
PathLike = Union[str, 'os.PathLike[str]']

# The NumPy type of each storage type on disk. NumPy has no bfloat16: its
# rows are stored as their raw 16 bits and viewed as bfloat16 by torch.
_NP_DTYPES = {
    torch.float32: np.dtype(np.float32),
    torch.float64: np.dtype(np.float64),
    torch.float16: np.dtype(np.float16),
    torch.bfloat16: np.dtype(np.uint16),
}
_NP_LONG = np.dtype(np.int64)
# Ids in more sorted runs than this are sorted before a disk store reads or
# writes their rows (see 'History._runs').
_MAX_RUNS = 64


class NodeIndexError(ValueError, IndexError):
    r"""Node ids out of the range of a :class:`History`. A
    :class:`ValueError`, as every bad argument, and an :class:`IndexError`,
    as out-of-range indexing is in Python (like NumPy's :obj:`AxisError`)."""


def history_files(path: PathLike) -> Tuple[str, str]:
    r"""Returns the two files of a disk :class:`History` stored at
    :obj:`path`: :obj:`path` itself (the embeddings, a :obj:`.npy` file),
    and its sibling that records the step of every row's last push, named
    :obj:`{stem}.last_step.npy`, e.g. :obj:`history_0.npy` and
    :obj:`history_0.last_step.npy`. Both are absolute.

    Args:
        path (str or os.PathLike): The embedding file; it must end in
            :obj:`.npy`.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"'path' must be a str or os.PathLike (got "
                        f"{type(path).__name__})")
    file = os.path.abspath(os.fspath(path))
    if not file.endswith('.npy') or os.path.basename(file) == '.npy':
        raise ValueError(f"'path' must name a '.npy' file, e.g. "
                         f"'histories/history_0.npy' (got '{path}')")
    return file, file[:-len('.npy')] + '.last_step.npy'


def _header(shape: Tuple[int, ...], dtype: np.dtype) -> Dict[str, Any]:
    return {
        'descr': npy_format.dtype_to_descr(dtype),
        'fortran_order': False,
        'shape': shape,
    }


def _header_bytes(shape: Tuple[int, ...], dtype: np.dtype) -> bytes:
    buf = io.BytesIO()
    npy_format.write_array_header_1_0(buf, _header(shape, dtype))
    return buf.getvalue()


def _read_header(file: str) -> Tuple[Tuple[int, ...], bool, np.dtype, int]:
    # (shape, fortran_order, dtype, data offset) of a '.npy' file.
    try:
        with open(file, 'rb') as fp:
            version = npy_format.read_magic(fp)
            if version == (1, 0):
                shape, fortran, dtype = npy_format.read_array_header_1_0(fp)
            elif version == (2, 0):
                shape, fortran, dtype = npy_format.read_array_header_2_0(fp)
            else:
                raise ValueError(f'unsupported version {version}')
            return shape, fortran, dtype, fp.tell()
    except (ValueError, SyntaxError, EOFError) as e:
        raise ValueError(f"'{file}' exists but is not a '.npy' file ({e}); "
                         f"delete it or choose another 'path'") from None


def _existing_ancestor(directory: str) -> str:
    while not os.path.exists(directory):
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return directory


def _check_reusable(file: str, shape: Tuple[int, ...],
                    dtype: np.dtype) -> None:
    # An existing file is reused only if it is a store of the same shape and
    # type; anything else is not ours and is never overwritten.
    if not os.path.isfile(file):
        raise ValueError(f"'{file}' exists but is not a regular file; "
                         f"choose another 'path'")
    found_shape, fortran, found_dtype, offset = _read_header(file)
    if tuple(found_shape) != shape or found_dtype != dtype or fortran:
        raise ValueError(
            f"'{file}' exists and holds an array of shape "
            f"{list(found_shape)} and type {found_dtype}"
            f"{' (Fortran order)' if fortran else ''}, but this history "
            f"needs shape {list(shape)} and type {dtype}: delete it or "
            f"choose another 'path' (an existing file is reused only if "
            f"it matches)")
    size = os.path.getsize(file)
    expected = offset + int(np.prod(shape)) * dtype.itemsize
    if size < expected:
        raise ValueError(f"'{file}' is truncated ({size} bytes, expected "
                         f"{expected}): delete it or choose another 'path'")
    if not os.access(file, os.R_OK | os.W_OK):
        raise ValueError(f"'{file}' exists but is not readable and "
                         f"writable; change its permissions or choose "
                         f"another 'path'")


def check_history_files(
        files: Sequence[Tuple[str, Tuple[int, ...], np.dtype]]) -> int:
    r"""Checks, before anything is written, that the files
    :obj:`(file, shape, numpy_dtype)` of disk histories can be created or
    reused: an existing file must be a :obj:`.npy` array of that shape and
    type (it is then reused), the directory of a new one must exist or be
    creatable and be writable, and the free space (:func:`shutil.disk_usage`)
    must cover the new files. Returns the number of bytes the new files
    need; raises a :class:`ValueError` naming the path otherwise."""
    needed: Dict[str, int] = {}
    names: Dict[str, List[str]] = {}
    for file, shape, dtype in files:
        if os.path.lexists(file):
            _check_reusable(file, shape, dtype)
            continue
        directory = os.path.dirname(file)
        root = _existing_ancestor(directory)
        if not os.path.isdir(root):
            raise ValueError(f"Cannot create the directory '{directory}' "
                             f"for '{file}': '{root}' is not a directory")
        if not os.access(root, os.W_OK | os.X_OK):
            where = (f"the directory '{root}' is" if root == directory else
                     f"'{root}', where its directory '{directory}' would "
                     f"be created, is")
            raise ValueError(f"Cannot write the history file '{file}': "
                             f"{where} not writable")
        size = (len(_header_bytes(shape, dtype)) +
                int(np.prod(shape)) * dtype.itemsize)
        needed[root] = needed.get(root, 0) + size
        names.setdefault(root, []).append(file)
    for root, size in needed.items():
        free = shutil.disk_usage(root).free
        if size > free:
            raise ValueError(
                f"Not enough free disk space for the history files "
                f"{names[root]} under '{root}': {size} bytes needed, "
                f"{free} bytes available")
    return sum(needed.values())


def _preallocate(fd: int, size: int) -> None:
    # Allocates the blocks of the whole file now, so that a full disk fails
    # here and not in the middle of training, when a page of the map is
    # first written (SIGBUS).
    if hasattr(os, 'posix_fallocate'):
        try:
            os.posix_fallocate(fd, 0, size)
            return
        except OSError as e:  # Not supported by the file system:
            if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP,
                               getattr(errno, 'ENOTSUP', errno.EOPNOTSUPP)):
                raise
    os.ftruncate(fd, size)  # Sparse where blocks cannot be reserved.
    if size > 0:
        os.pwrite(fd, b'\0', size - 1)


def _create_npy(file: str, shape: Tuple[int, ...], dtype: np.dtype) -> None:
    # A new, zero-filled, preallocated '.npy' file ('x': never clobbers a
    # file that appeared since the checks).
    header = _header_bytes(shape, dtype)
    size = len(header) + int(np.prod(shape)) * dtype.itemsize
    with open(file, 'xb') as fp:
        try:
            fp.write(header)
            fp.flush()
            _preallocate(fp.fileno(), size)
        except OSError as e:
            fp.close()
            os.remove(file)
            free = shutil.disk_usage(os.path.dirname(file)).free
            raise ValueError(f"Cannot allocate the history file '{file}' "
                             f"({size} bytes needed, {free} bytes "
                             f"available): {e}") from e


def _fill_npy(file: str, value: int, chunk_bytes: int = 1 << 20) -> None:
    # Sets every element of the '.npy' file 'file' to 'value' with writes to
    # the file, not through a map of it: the pages go to the page cache, but
    # unlike pages written through a map they are not made resident in this
    # process (and so not counted in its memory) until a pull or push
    # touches them. A map of the file sees the new values at once.
    shape, _, dtype, offset = _read_header(file)
    count = int(np.prod(shape))
    chunk = np.full(max(1, min(count, chunk_bytes // dtype.itemsize)), value,
                    dtype=dtype)
    with open(file, 'r+b') as fp:
        fp.seek(offset)
        for start in range(0, count, chunk.size):
            fp.write(memoryview(chunk[:min(chunk.size, count - start)]))


def _check_rows(rows: NodeRows, column: Any, num_embeddings: int,
                embedding_dim: int, dtype: torch.dtype) -> None:
    # A store in node rows: their history 'column', of this shape, float32.
    num = len(rows.history_widths)
    check_int('column', column, minimum=0, maximum=num - 1,
              expected=f'a history of the node rows, in [0, {num - 1}]')
    if rows.num_nodes != num_embeddings or \
            rows.history_widths[column] != embedding_dim:
        raise ValueError(
            f"History {column} of the node rows '{rows.path}' holds "
            f"[{rows.num_nodes}, {rows.history_widths[column]}] rows, but "
            f"this history needs [{num_embeddings}, {embedding_dim}]")
    if dtype != torch.float32:
        raise ValueError(f"Node rows hold float32 histories (got "
                         f"dtype={dtype})")
    if not rows.writable:
        raise ValueError(f"The node rows '{rows.path}' are mapped read-only: "
                         f"open them with NodeRows(path, writable=True) to "
                         f"store histories in them")


def _column_copy(emb: Tensor, path: str,
                 chunk_bytes: int = 1 << 23) -> Tensor:
    # A contiguous copy of the strided column 'emb' in a temporary file
    # beside 'path', unlinked at once (the map keeps it until freed), so
    # that neither the copy nor the rows read for it stay in memory.
    fd, tmp = tempfile.mkstemp(suffix='.npy', dir=os.path.dirname(path))
    os.close(fd)
    try:
        array = npy_format.open_memmap(tmp, mode='w+', dtype=np.float32,
                                       shape=tuple(emb.shape))
    finally:
        os.remove(tmp)
    out = torch.from_numpy(array) if array.size else emb.new_empty(
        emb.shape)
    step = max(1, chunk_bytes // max(1, emb.size(1) * 4))
    for lo in range(0, emb.size(0), step):
        out[lo:lo + step] = emb[lo:lo + step]
    return out


def _open_npy(file: str, shape: Tuple[int, ...], dtype: np.dtype
              ) -> Tuple[np.ndarray, Tensor]:
    # Maps an existing store read-write: the array and a tensor on it.
    _check_reusable(file, shape, dtype)
    array = npy_format.open_memmap(file, mode='r+')
    advise_random(array)  # Halo rows are scattered.
    tensor = torch.from_numpy(array)
    return array, tensor


def disk_tensor(file: str, shape: Tuple[int, ...],
                dtype: torch.dtype = torch.float32) -> Tensor:
    r"""A tensor memory-mapped read-write from the ``.npy`` file
    :obj:`file`: a new, zero-filled, preallocated file, or an existing one
    of the same shape and type (anything else raises a
    :class:`ValueError` naming it, and is left untouched). E.g. the output
    of :meth:`~pyg_gas.ScalableGNN.inference` for a graph whose output
    does not fit in memory."""
    np_type = np.dtype(torch.empty(0, dtype=dtype).numpy().dtype)
    shape = tuple(int(s) for s in shape)
    os.makedirs(os.path.dirname(os.path.abspath(file)), exist_ok=True)
    if not os.path.exists(file):
        _create_npy(file, shape, np_type)
    return _open_npy(file, shape, np_type)[1]


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

    **On disk.** With :obj:`storage='disk'`, :obj:`emb` and
    :obj:`last_step` are memory-mapped :obj:`.npy` files (see
    :func:`history_files` for their names), for graphs whose histories do
    not fit into memory: the operating system keeps the rows in use in its
    page cache and writes the others back. They are preallocated when the
    history is created, after checking that the directory is writable and
    that the disk has room (a :class:`ValueError` naming the path and the
    bytes needed and available otherwise), so that a full disk fails then,
    not in the middle of training. An existing file is reused if it is a
    store of the same shape and type, and its rows are reset as those of a
    new history are; any other file raises a :class:`ValueError`, as a
    history never overwrites a file that is not one. Such a store behaves as
    an offloaded one: it stays on the CPU whatever device the model moves to
    (it cannot be pinned, so a CUDA model's :meth:`pull` stages the rows
    through pageable memory), and keeps its type. :meth:`pull` and
    :meth:`push` walk the file in order: sorted ids (the halos of the
    loaders) and a few sorted runs of ids (the batch and halo ids of
    :meth:`~pyg_gas.ScalableGNN.inference`) are read run by run, in place;
    ids in no particular order are sorted first (and, for :meth:`pull`, the
    rows put back in the order asked for, through a temporary copy).
    :meth:`state_dict` holds the mapped tensors and :meth:`load_state_dict`
    copies into the files.

    .. note::
        A disk history is a handle on its files: pickling it (e.g. for
        :class:`~torch.utils.data.DataLoader` workers started with
        :obj:`spawn`, or :mod:`torch.distributed`), :func:`torch.save` of
        the module and :func:`copy.deepcopy` keep the path and map the same
        files again, without copying the rows. Give every model (and every
        process of a distributed run) its own :obj:`path`.

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
        storage (str, optional): Where the store lives: :obj:`'memory'` (a
            tensor) or :obj:`'disk'` (memory-mapped files at :obj:`path`).
            (default: :obj:`'memory'`)
        path (str, os.PathLike or NodeRows, optional): For
            :obj:`storage='disk'`, the :obj:`.npy` file of the embeddings,
            e.g. :obj:`'histories/history_0.npy'`, or node rows (see
            :class:`~pyg_gas.storage.NodeRows`) that hold the store as
            their history :obj:`column`, interleaved with the features of
            the nodes; :obj:`last_step` goes next to
            it (:obj:`'histories/history_0.last_step.npy'`). Missing
            directories are created. (default: :obj:`None`)
        column (int, optional): The history of node rows :obj:`path` that
            holds the store. (default: :obj:`None`)

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
        storage: Storage = 'memory',
        path: Optional[Union[PathLike, NodeRows]] = None,
        column: Optional[int] = None,
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
        check_choice('storage', storage, _STORAGES)
        if storage == 'disk':
            if path is None:
                raise ValueError("storage='disk' needs a 'path' (the '.npy' "
                                 "file of the store)")
            if device is not None and torch.device(device).type != 'cpu':
                raise ValueError(f"A disk history stays on the CPU: 'device' "
                                 f"must be None or 'cpu' (got '{device}')")
            if isinstance(path, NodeRows):
                _check_rows(path, column, num_embeddings, embedding_dim,
                            dtype)
                files = (path.path, path.last_step_file(column))
            elif column is not None:
                raise ValueError(f"'column' is for node rows only (got "
                                 f"column={column} with path='{path}')")
            else:
                files = history_files(path)  # Checks 'path'.
        elif path is not None:
            raise ValueError(f"'path' is for storage='disk' only (got "
                             f"path='{path}' with storage='{storage}')")

        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.storage = storage
        #: The embedding file of a disk store (absolute), else :obj:`None`.
        self.path: Optional[str] = None
        #: The node rows that hold a disk store, and its column of them.
        self.rows = path if isinstance(path, NodeRows) else None
        self.column = column if self.rows is not None else None
        # A disk store stays on the CPU, as an offloaded one:
        self.offload = device is not None or storage == 'disk'
        storage_device = torch.device(device or 'cpu')
        # The device that `pull` returns rows on (the model's device):
        self._device = storage_device

        if storage == 'disk':
            self.path = files[0]
            emb, last_step = self._map_files(create=True, dtype=dtype)
        else:
            emb = torch.zeros(num_embeddings, embedding_dim, dtype=dtype,
                              device=storage_device)
            last_step = torch.full((num_embeddings, ), -1, dtype=torch.long,
                                   device=storage_device)
        self.register_buffer('emb', emb)
        self.register_buffer('last_step', last_step)
        self.register_buffer('step',
                             torch.zeros((), dtype=torch.long,
                                         device=storage_device))

    # Disk storage ###########################################################

    def _files(self) -> Tuple[str, str]:
        # The embedding file (or node rows) and the 'last_step' file.
        assert self.path is not None
        if self.rows is not None:
            return self.path, self.rows.last_step_file(self.column)
        return history_files(self.path)

    def _specs(self, dtype: torch.dtype
               ) -> List[Tuple[str, Tuple[int, ...], np.dtype]]:
        emb_file, step_file = self._files()
        n, c = self.num_embeddings, self.embedding_dim
        return [(emb_file, (n, c), _NP_DTYPES[dtype]),
                (step_file, (n, ), _NP_LONG)]

    def _map_files(self, create: bool,
                   dtype: torch.dtype) -> Tuple[Tensor, Tensor]:
        # Maps the files of a disk store: with 'create', after checking the
        # directory and the free space, creates the missing files (zeros and
        # -1, preallocated) and resets reused ones; else reopens them as they
        # are (unpickling).
        if self.rows is not None:
            return self._map_rows(create)
        specs = self._specs(dtype)
        if create:
            check_history_files(specs)
            os.makedirs(os.path.dirname(specs[0][0]), exist_ok=True)
            created: List[str] = []
            try:
                for file, shape, np_dtype in specs:
                    if not os.path.lexists(file):
                        _create_npy(file, shape, np_dtype)
                        created.append(file)
                    elif file == specs[0][0]:
                        # A reused store starts from zeros as a new file,
                        # preallocated, rather than by writing every page
                        # through the map (which would also make them all
                        # resident):
                        os.remove(file)
                        _create_npy(file, shape, np_dtype)
            except BaseException:
                for file in created:  # No half-made history is left.
                    os.remove(file)
                raise
        arrays, tensors = [], []
        for file, shape, np_dtype in specs:
            array, tensor = _open_npy(file, shape, np_dtype)
            arrays.append(array)
            tensors.append(tensor)
        self._arrays = arrays  # To flush them.
        emb, last_step = tensors
        if dtype == torch.bfloat16:
            emb = emb.view(torch.bfloat16)  # Raw 16 bits on disk.
        if create:
            _fill_npy(specs[1][0], -1)
        return emb, last_step

    def _map_rows(self, create: bool) -> Tuple[Tensor, Tensor]:
        # The column of the node rows, and the 'last_step' file: on
        # creation, the column is zeroed unless it is as the rows were
        # written (a zeroing writes the whole file).
        rows, step_file = self.rows, self._files()[1]
        assert rows is not None and self.column is not None
        if create:
            spec = (step_file, (self.num_embeddings, ), _NP_LONG)
            check_history_files([spec])
            if not os.path.lexists(step_file):
                _create_npy(*spec)
            if not rows.claim_zero(self.column):
                rows.zero_history(self.column)
        array, last_step = _open_npy(step_file, (self.num_embeddings, ),
                                     _NP_LONG)
        self._arrays = [array]
        if create:
            _fill_npy(step_file, -1)
        return rows.history(self.column), last_step

    def flush(self) -> None:
        r"""Writes the rows of a disk store that are still only in the page
        cache to its files (e.g. before the files are copied elsewhere). The
        files are always consistent for this and other processes that map
        them; this is for durability. Does nothing for a memory store."""
        for array in getattr(self, '_arrays', []):
            array.flush()
        if self.rows is not None:
            self.rows.flush()

    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        if self.storage == 'disk':  # The path, not the rows:
            buffers = dict(state['_buffers'])
            buffers['emb'] = buffers['last_step'] = None
            state['_buffers'] = buffers
            state['_dtype'] = self.emb.dtype
            state.pop('_arrays', None)
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        dtype = state.pop('_dtype', None)
        state.setdefault('rows', None)  # Pickled by older versions.
        state.setdefault('column', None)
        super().__setstate__(state)
        if self.storage == 'disk':  # Maps the same files again.
            assert dtype is not None
            emb, last_step = self._map_files(create=False, dtype=dtype)
            self._buffers['emb'] = emb
            self._buffers['last_step'] = last_step

    def _save_to_state_dict(self, destination: Dict[str, Any], prefix: str,
                            keep_vars: bool) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)
        if self.rows is not None:
            # The column alone: 'torch.save' of the view would write the
            # whole file it is a view of.
            destination[prefix + 'emb'] = _column_copy(self.emb, self.path)

    def _load_from_state_dict(self, state_dict: Dict[str, Any], prefix: str,
                              local_metadata: Dict[str, Any], *args: Any,
                              **kwargs: Any) -> None:
        if self.storage == 'disk':  # Copy into the files, never replace.
            local_metadata = dict(local_metadata,
                                  assign_to_params_buffers=False)
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      *args, **kwargs)

    # Store ##################################################################

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
        if self.rows is not None:
            self.rows.zero_history(self.column)
            _fill_npy(self._files()[1], -1)
        elif self.storage == 'disk':  # Through the files (see '_fill_npy'):
            for file, value in zip(history_files(self.path), (0, -1)):
                _fill_npy(file, value)
        else:
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
        # fast and asynchronous. A disk store is never pinned: that would
        # copy the whole file into page-locked memory.
        if (self._device.type == 'cuda' and self.emb.device.type == 'cpu'
                and self.storage == 'memory' and not self.emb.is_pinned()):
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

    def _runs(self, n_id: Tensor) -> Optional[List[int]]:
        # For a disk store, the bounds [0, ..., len(n_id)] of the sorted
        # runs of 'n_id' if there are few: one for the halos of the loaders
        # ('torch.unique' sorts), two for the batch and halo ids of a
        # layer-wise inference. Each run is then read or written in file
        # order, which lets the kernel read ahead and batch the page faults,
        # in place. None for ids in no particular order: those are sorted.
        num = n_id.numel()
        if self.storage != 'disk' or num < 2:
            return [0, num]
        breaks = torch.nonzero(n_id[1:] < n_id[:-1]).view(-1)  # [R - 1]
        if breaks.numel() >= _MAX_RUNS:
            return None
        return [0] + (breaks + 1).tolist() + [num]

    def _gather_rows(self, src: Tensor, n_id: Tensor, out: Tensor) -> None:
        # out = src[n_id], cast to the type of 'out' ('src' of the store's).
        # A disk store's rows are gathered by several threads, whose page
        # faults the disk serves at once.
        if self.storage == 'disk' and src is self.emb:
            if out.dtype == src.dtype:
                gather_rows(src, n_id, out)
            else:
                out.copy_(gather_rows(src, n_id))
            return
        if out.dtype == src.dtype:
            torch.index_select(src, 0, n_id, out=out)
            return
        for lo, hi, part in self._staged(n_id.numel()):  # Gather, cast.
            torch.index_select(src, 0, n_id[lo:hi], out=part)
            out[lo:hi].copy_(part)

    def _gather(self, n_id: Tensor, out: Tensor) -> Tensor:
        # Writes the rows 'n_id' (on the store's device) into 'out' (on the
        # store's device, of any type) and returns it.
        bounds = self._runs(n_id)
        if bounds is None:
            # Read in file order (stable: repeated ids keep their order),
            # then put the rows back in the order asked for with a gather
            # from memory, which is far faster than scattering them:
            ids, perm = torch.sort(n_id, stable=True)
            rows = gather_rows(self.emb, ids)  # [N, C], in file order
            inv = torch.empty_like(perm)
            inv[perm] = torch.arange(perm.numel(), device=perm.device)
            self._gather_rows(rows, inv, out)
            return out
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            self._gather_rows(self.emb, n_id[lo:hi], out[lo:hi])
        return out

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

        A disk store reads the rows in file order: sorted runs of ids (such
        as the halos of the loaders) as they are, ids in no particular order
        sorted first, and the rows put back in the order of :obj:`n_id`.

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
            if out.device != self.emb.device:  # Staged on the store's side.
                rows = self.emb.new_empty(n_id.numel(), self.embedding_dim)
                return out.copy_(self._gather(n_id, rows))
            return self._gather(n_id, out)
        if dtype is None:
            dtype = (self.emb.dtype if self.emb.dtype
                     in (torch.float32, torch.float64) else torch.float32)
        if n_id is None:
            return self.emb.to(device=self._device, dtype=dtype, copy=True)
        self._check_index(n_id)
        n_id = n_id.to(self.emb.device)
        if self.storage == 'disk':
            rows = self._gather(
                n_id, self.emb.new_empty(n_id.numel(), self.embedding_dim))
        else:
            rows = self.emb.index_select(0, n_id)
        return rows.to(device=self._device, dtype=dtype)

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
        :obj:`x` replaces the whole store. A disk store writes rows given by
        :obj:`n_id` in file order (sorting ids in no particular order).

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
            bounds = self._runs(n_id)
            if bounds is None:  # Sorted (stable: the last repeat wins).
                n_id, perm = torch.sort(n_id, stable=True)
                x = x.index_select(0, perm)  # [B, C], in file order
                bounds = [0, n_id.numel()]
            for a, b in zip(bounds[:-1], bounds[1:]):  # Runs in file order.
                if x.dtype == self.dtype:
                    self.emb.index_copy_(0, n_id[a:b], x[a:b])
                    continue
                for lo, hi, part in self._staged(b - a):  # Cast, scatter.
                    self.emb.index_copy_(0, n_id[a + lo:a + hi],
                                         part.copy_(x[a + lo:a + hi]))
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
        if self.storage == 'disk':
            out += f", storage='disk', path='{self.path}'"
            if self.rows is not None:
                out += f', column={self.column}'
        elif self.offload:
            out += f', device={self.emb.device}'
        return out
