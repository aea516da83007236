r"""The on-disk dataset format: one directory of ``.npy`` files and a JSON
manifest.

Every array is a plain NumPy ``.npy`` file (readable with
:func:`numpy.load`, memory-mapped with :obj:`mmap_mode`), so no binary format
is hand-written. ``manifest.json`` records, for every array, its file, shape,
type, size in bytes and a BLAKE2b digest of its data, plus the format version
and what the dataset is (its sizes, classes and partition). A ``bfloat16``
array, which NumPy has no type for, is stored as ``uint16`` and viewed as
``torch.bfloat16`` when opened.

Each file is written to a temporary name and renamed into place once it is
complete, and the manifest is written last: a directory whose writing was
interrupted has no manifest (or the previous one, whose files are intact),
never a manifest that promises data that is not there."""
import hashlib
import json
import os
import os.path as osp
import shutil
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from pyg_gas.utils import advise_random, atomic_write

#: The name of the manifest file of a dataset directory.
MANIFEST = 'manifest.json'
#: What the manifest's :obj:`'format'` field holds.
FORMAT_NAME = 'pyg_gas.storage'
#: Bumped when the layout changes in a way older readers cannot read.
FORMAT_VERSION = 1

#: Storage types by name: (NumPy type on disk, torch type when opened).
DTYPES: Dict[str, Tuple[Any, torch.dtype]] = {
    'float64': (np.float64, torch.float64),
    'float32': (np.float32, torch.float32),
    'float16': (np.float16, torch.float16),
    'bfloat16': (np.uint16, torch.bfloat16),
    'int64': (np.int64, torch.int64),
    'int32': (np.int32, torch.int32),
    'int16': (np.int16, torch.int16),
    'uint8': (np.uint8, torch.uint8),
    'bool': (np.bool_, torch.bool),
}
_NAMES = {torch_type: name for name, (_, torch_type) in DTYPES.items()}


class FormatError(ValueError):
    r"""A dataset directory that is not, or no longer, what its manifest
    says: a missing, truncated or foreign file, or no manifest at all."""


def dtype_name(dtype: torch.dtype) -> str:
    r"""The manifest name of a torch type (a :class:`TypeError` for types
    the format does not store)."""
    if dtype not in _NAMES:
        raise TypeError(f"Arrays of dtype {dtype} cannot be stored (expected "
                        f"one of {sorted(DTYPES)})")
    return _NAMES[dtype]


def _digest() -> Any:
    return hashlib.blake2b(digest_size=16)


def _as_numpy(value: Tensor) -> np.ndarray:
    # The bytes of a tensor as NumPy sees them (bfloat16 as uint16):
    value = value.detach().cpu().contiguous()
    if value.dtype == torch.bfloat16:
        value = value.view(torch.int16)
        return value.numpy().view(np.uint16)
    return value.numpy()


class ArrayWriter:
    r"""Writes one array of a known shape to :obj:`directory/name.npy`,
    chunk by chunk along its first dimension, in the order of the rows.

    The rows go through ordinary file writes (not a writable memory map), so
    a full disk raises an :class:`OSError` instead of killing the process.
    The data is written to a temporary file that :meth:`close` checks
    (every row written), syncs and renames into place; :meth:`abort`, or an
    exception inside a :obj:`with` block, removes it. The digest is computed
    on the way.

    Args:
        directory (str): The dataset directory.
        name (str): The array's name (the file is :obj:`name.npy`).
        shape ([int]): The array's shape.
        dtype (torch.dtype): The array's type.
    """
    def __init__(self, directory: str, name: str, shape: Sequence[int],
                 dtype: torch.dtype) -> None:
        self.name = name
        self.shape = tuple(int(s) for s in shape)
        if not self.shape:
            raise ValueError(f"'{name}' must have at least one dimension")
        self.dtype = dtype
        self.dtype_name = dtype_name(dtype)
        np_type = np.dtype(DTYPES[self.dtype_name][0])
        self.row_size = int(np.prod(self.shape[1:], dtype=np.int64))
        self.path = osp.join(directory, f'{name}.npy')
        self.tmp = osp.join(directory, f'.{name}.npy.tmp-{os.getpid()}')
        self.rows = 0
        self.hash = _digest()
        self.file = open(self.tmp, 'wb')
        header = {'descr': np.lib.format.dtype_to_descr(np_type),
                  'fortran_order': False, 'shape': self.shape}
        np.lib.format.write_array_header_2_0(self.file, header)
        self.nbytes = int(np.prod(self.shape, dtype=np.int64)) * \
            np_type.itemsize

    def write(self, chunk: Union[Tensor, np.ndarray]) -> None:
        r"""Appends the rows of :obj:`chunk`."""
        if isinstance(chunk, Tensor):
            if chunk.dtype != self.dtype:
                chunk = chunk.to(self.dtype)
            array = _as_numpy(chunk)
        else:
            array = np.ascontiguousarray(
                chunk, dtype=DTYPES[self.dtype_name][0])
        rows = array.shape[0]
        if array.ndim != len(self.shape) or tuple(
                array.shape[1:]) != self.shape[1:]:
            raise ValueError(f"A chunk of '{self.name}' must have shape "
                             f"[*, {', '.join(map(str, self.shape[1:]))}] "
                             f"(got {list(array.shape)})")
        if self.rows + rows > self.shape[0]:
            raise ValueError(f"'{self.name}' has {self.shape[0]} rows, but "
                             f"{self.rows + rows} were written")
        data = memoryview(array).cast('B')
        self.hash.update(data)
        self.file.write(data)
        self.rows += rows

    def close(self) -> Dict[str, Any]:
        r"""Completes the file and returns its manifest entry."""
        expected = self.shape[0]
        if self.rows != expected:
            self.abort()
            raise ValueError(f"'{self.name}' needs {expected} rows, but "
                             f"{self.rows} were written")
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self.tmp, self.path)
        except BaseException:
            self.abort()
            raise
        return dict(file=osp.basename(self.path), shape=list(self.shape),
                    dtype=self.dtype_name, bytes=self.nbytes,
                    blake2b=self.hash.hexdigest())

    def abort(self) -> None:
        r"""Removes the temporary file."""
        if not self.file.closed:
            self.file.close()
        if osp.exists(self.tmp):
            os.remove(self.tmp)

    def __enter__(self) -> 'ArrayWriter':
        return self

    def __exit__(self, kind: Any, *args: Any) -> None:
        if kind is not None:
            self.abort()


def write_array(directory: str, name: str, value: Tensor,
                chunk_rows: int = 1 << 20) -> Dict[str, Any]:
    r"""Writes the whole tensor :obj:`value` as :obj:`directory/name.npy`
    (see :class:`ArrayWriter`) and returns its manifest entry."""
    if value.dim() == 0:
        value = value.view(1)
    with ArrayWriter(directory, name, value.shape, value.dtype) as writer:
        for lo in range(0, value.size(0), chunk_rows):
            writer.write(value[lo:lo + chunk_rows])
        return writer.close()


def write_manifest(directory: str, meta: Dict[str, Any],
                   arrays: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    r"""Writes the manifest of :obj:`directory` (atomically, last): the
    dataset's description :obj:`meta` and the entries of its arrays. Its
    :obj:`'digest'` identifies the content: a digest of the arrays'
    digests and the description."""
    manifest = dict(meta, format=FORMAT_NAME, version=FORMAT_VERSION,
                    arrays={k: arrays[k] for k in sorted(arrays)})
    manifest['digest'] = content_digest(manifest)

    def write(f: Any) -> None:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write('\n')

    atomic_write(osp.join(directory, MANIFEST), write, mode='w')
    return manifest


def content_digest(manifest: Dict[str, Any]) -> str:
    r"""The digest of a manifest's content (every field but
    :obj:`'digest'`)."""
    body = {k: v for k, v in manifest.items() if k != 'digest'}
    hash = _digest()
    hash.update(json.dumps(body, sort_keys=True).encode())
    return hash.hexdigest()


def read_manifest(directory: str) -> Dict[str, Any]:
    r"""Reads and checks the manifest of :obj:`directory`; a
    :class:`FormatError` names what is wrong."""
    if not osp.isdir(directory):
        raise FormatError(f"'{directory}' is not a directory (expected a "
                          f"dataset directory written by 'pyg-gas prepare')")
    path = osp.join(directory, MANIFEST)
    if not osp.exists(path):
        raise FormatError(f"'{directory}' has no '{MANIFEST}': it is not a "
                          f"prepared dataset, or its preparation did not "
                          f"complete (prepare it with 'pyg-gas prepare')")
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise FormatError(f"'{path}' is not a readable manifest ({e})") \
            from None
    if not isinstance(manifest, dict) or manifest.get(
            'format') != FORMAT_NAME:
        raise FormatError(f"'{path}' is not a manifest of the "
                          f"'{FORMAT_NAME}' format")
    if manifest.get('version') != FORMAT_VERSION:
        raise FormatError(f"'{path}' has format version "
                          f"{manifest.get('version')}, but this version of "
                          f"pyg_gas reads version {FORMAT_VERSION}: prepare "
                          f"the dataset again")
    if manifest.get('digest') != content_digest(manifest):
        raise FormatError(f"'{path}' was changed after it was written (its "
                          f"digest does not match its content)")
    return manifest


def open_array(directory: str, name: str, entry: Dict[str, Any],
               mode: str = 'c', random: bool = False) -> Tensor:
    r"""Memory-maps the array :obj:`name` of a dataset directory as a
    tensor, after checking its file against its manifest :obj:`entry`.

    The default mode :obj:`'c'` (copy-on-write) maps the file privately:
    the tensor can be read like any other, and nothing is ever written back
    to the file. With :obj:`random`, the kernel is told that rows are read
    at random (see :func:`~pyg_gas.utils.advise_random`)."""
    path = osp.join(directory, entry['file'])
    if not osp.exists(path):
        raise FormatError(f"'{path}' is missing (the manifest lists "
                          f"'{name}')")
    np_type, torch_type = DTYPES[entry['dtype']]
    try:
        array = np.load(path, mmap_mode=mode, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise FormatError(f"'{path}' is not a readable .npy file of "
                          f"'{name}' ({e}): it may be truncated") from None
    if list(array.shape) != list(entry['shape']) or \
            array.dtype != np.dtype(np_type):
        raise FormatError(f"'{path}' holds an array of shape "
                          f"{list(array.shape)} and dtype {array.dtype}, but "
                          f"the manifest gives shape {entry['shape']} and "
                          f"dtype {entry['dtype']}")
    if random:
        advise_random(array)
    if array.size == 0:  # NumPy maps no empty file: a plain empty tensor.
        return torch.empty(array.shape, dtype=torch_type)
    tensor = torch.from_numpy(array)
    if torch_type == torch.bfloat16:
        tensor = tensor.view(torch.bfloat16)
    return tensor


def file_digest(path: str, chunk: int = 1 << 24) -> str:
    r"""The BLAKE2b digest of the data of the ``.npy`` file :obj:`path`
    (after its header), as :class:`ArrayWriter` computes it."""
    with open(path, 'rb') as f:
        major, _ = np.lib.format.read_magic(f)
        read_header = (np.lib.format.read_array_header_1_0 if major == 1
                       else np.lib.format.read_array_header_2_0)
        read_header(f)  # Skips the header.
        hash = _digest()
        while True:
            data = f.read(chunk)
            if not data:
                return hash.hexdigest()
            hash.update(data)


def check_free_space(directory: str, num_bytes: int, what: str) -> None:
    r"""Raises a :class:`ValueError` if the file system of
    :obj:`directory` has less than :obj:`num_bytes` free, before anything
    is written."""
    parent = directory
    while not osp.exists(parent):
        parent = osp.dirname(osp.abspath(parent))
    free = shutil.disk_usage(parent).free
    if free < num_bytes:
        raise ValueError(f"Not enough free disk space in '{parent}' for "
                         f"{what}: {num_bytes / 2**30:.2f} GiB needed, "
                         f"{free / 2**30:.2f} GiB free")


def describe(manifest: Dict[str, Any],
             keys: Optional[Sequence[str]] = None) -> str:
    r"""A one-line summary of a manifest, for logs."""
    keys = keys or ('name', 'num_nodes', 'num_edges', 'num_features',
                    'num_classes')
    fields = ', '.join(f'{k}={manifest[k]}' for k in keys if k in manifest)
    size = sum(e['bytes'] for e in manifest['arrays'].values())
    return f'{fields}, {size / 2**30:.2f} GiB'
