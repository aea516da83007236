r"""Writing a dataset directory in bounded memory, for graphs larger than
memory.

The graph is first *staged*: its edges arrive in chunks, in any order, and
:class:`GraphStager` groups them by target with an external bucket sort
into an unpermuted dataset directory (nodes in their original order, one
cluster). :func:`partition_dataset` then partitions it, and
:func:`permute_to_disk` writes it in cluster order, row chunk by row chunk.
Memory stays :math:`O(\textrm{chunk})` plus a few bytes a node: the
node-sized index arrays (degrees, row pointers, permutations) are computed
chunk by chunk, read from the memory-mapped arrays, or kept in
memory-mapped scratch files (:func:`~pyg_gas.utils.scratch_tensor`) in a
directory that is written to anyway; every array is written through
:class:`~pyg_gas.storage.format.ArrayWriter`, so the result is the
directory that :func:`~pyg_gas.storage.prepare` writes from the same graph
held in memory, array for array."""
import os
import os.path as osp
import shutil
from typing import (
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Literal,
    Optional,
    Tuple,
    Union,
)

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from pyg_gas.checks import check_int
from pyg_gas.graph import check_finite_values, check_ptr, gather_csr
from pyg_gas.storage.dataset import NODE_ARRAYS, DiskDataset
from pyg_gas.storage.format import (
    DTYPES,
    MANIFEST,
    ArrayWriter,
    check_free_space,
    dtype_name,
    write_array,
    write_manifest,
)
from pyg_gas.storage.prepare import (
    FEATURE_DTYPES,
    _edge_attrs,
    check_node_arrays,
    check_output,
    index_dtype,
    open_output,
)
from pyg_gas.storage.transform import row_chunks
from pyg_gas.utils import check_writable_dir, scratch_tensor, trim_memory
from pyg_gas.utils import log as log_line

Undirected = Optional[Literal['reverse', 'coalesce', 'auto']]
#: How :class:`GraphStager` may treat the edges it is given.
UNDIRECTED = (None, 'reverse', 'coalesce', 'auto')
#: The partition methods of :func:`partition_dataset`.
PARTITIONS = ('metis', 'stream')


def _node_rows(num_rows: int, row_bytes: int,
               chunk_edges: int) -> Iterator[Tuple[int, int]]:
    # Row ranges of node arrays, about 8 bytes per chunk edge each.
    step = max(1, (8 * chunk_edges) // max(row_bytes, 1))
    for lo in range(0, num_rows, step):
        yield lo, min(lo + step, num_rows)


class GraphStager:
    r"""Stages a graph on disk from chunks of edges, in bounded memory: the
    first step of preparing a graph that does not fit into memory (see
    :func:`permute_to_disk`).

    The edges :math:`j \rightarrow i` arrive in any order, through
    :meth:`add_edges`. They are appended to temporary bucket files by
    target range, and :meth:`close` sorts one bucket at a time into the CSR
    of the dataset format (rows are targets, sources sorted within each row,
    duplicate edges kept in the order they arrived), so memory holds one
    chunk or one bucket of about :obj:`chunk_edges` edges (the row
    pointers are written bucket by bucket too). The node arrays (:obj:`x`,
    :obj:`y` and the masks) are written with :meth:`write_node_array`, whole
    or in row chunks. The result is a dataset directory in the original
    node order (:obj:`perm` the identity, one cluster), opened as a
    :class:`~pyg_gas.storage.DiskDataset`.

    Used as a context manager, an exception inside the block removes
    everything the stager wrote (as :meth:`abort` does).

    .. code-block:: python

        with GraphStager(root, num_nodes, num_edges=2 * E,
                         undirected='reverse') as stager:
            for edge_index in chunks:  # [2, chunk], any order
                stager.add_edges(edge_index)
            stager.write_node_array('x', x_chunks)  # or one tensor
            for key in ('y', 'train_mask', 'val_mask', 'test_mask'):
                stager.write_node_array(key, data[key])
            staged = stager.close(name='my-graph')

    Args:
        root (str): The directory to write: new or empty.
        num_nodes (int): The number of nodes :math:`N`.
        num_edges (int): The expected number of edges once
            :obj:`undirected` is applied. It sizes the buckets only: a wrong
            value costs memory or time, not correctness.
        undirected (str, optional): What to do with the given edges:
            :obj:`None` keeps them as they are; :obj:`'reverse'` follows
            every edge by its reverse (as :obj:`ogb` adds inverse edges);
            :obj:`'coalesce'` keeps both directions of every edge once, as
            :func:`torch_geometric.utils.to_undirected` does (the weights of
            merged edges are summed); :obj:`'auto'` keeps the edges as they
            are if the graph is undirected already (every edge's reverse is
            there as often, as :func:`torch_geometric.utils.is_undirected`
            checks), and coalesces them otherwise, as
            :func:`~pyg_gas.datasets.load_dataset` does for OGB graphs.
            (default: :obj:`None`)
        weighted (bool, optional): The edges carry an :obj:`edge_weight`.
            (default: :obj:`False`)
        chunk_edges (int, optional): The edges of one bucket, which bounds
            memory. (default: :obj:`4194304`)
        log (bool, optional): Reports the steps on stderr.
            (default: :obj:`True`)
    """
    def __init__(
        self,
        root: str,
        num_nodes: int,
        num_edges: int,
        undirected: Undirected = None,
        weighted: bool = False,
        chunk_edges: int = 1 << 22,
        log: bool = True,
    ) -> None:
        self.num_nodes = check_int('num_nodes', num_nodes, 1, integral=True)
        num_edges = check_int('num_edges', num_edges, 0, integral=True)
        chunk_edges = check_int('chunk_edges', chunk_edges, 1)
        if undirected not in UNDIRECTED:
            raise ValueError(f"'undirected' must be one of {list(UNDIRECTED)} "
                             f"(got {undirected!r})")
        if undirected == 'auto' and weighted:
            raise ValueError("'undirected'='auto' stages unweighted graphs "
                             "only (got weighted=True); pass 'coalesce' or "
                             "None for weighted edges")
        check_writable_dir('root', root)
        self.root = osp.abspath(root)
        if osp.isdir(self.root) and os.listdir(self.root):
            raise ValueError(f"'{self.root}' is not empty: a graph is staged "
                             f"into a new or empty directory")
        # Buckets (source, target, weight, in both directions for 'coalesce'
        # and 'auto'), then the CSR:
        per_edge = 12 if weighted else 8
        copies = 2 if undirected in ('coalesce', 'auto') else 1
        check_free_space(self.root, num_edges * per_edge * (copies + 1) +
                         8 * (num_nodes + 1),
                         f"the staged edges in '{self.root}'")
        self._created = not osp.isdir(self.root)
        os.makedirs(self.root, exist_ok=True)
        self.buckets = osp.join(self.root, '.buckets')
        os.makedirs(self.buckets, exist_ok=True)

        self.undirected = undirected
        self.weighted = bool(weighted)
        self.chunk_edges = chunk_edges
        self.log = log
        self.index_dtype = index_dtype(self.num_nodes)
        self._np_index = DTYPES[dtype_name(self.index_dtype)][0]
        num_buckets = max(1, -(-num_edges // chunk_edges))
        self.rows_per_bucket = -(-self.num_nodes // min(num_buckets,
                                                       self.num_nodes))
        self.num_buckets = -(-self.num_nodes // self.rows_per_bucket)
        self.num_added = 0  # Edges in the buckets, in one direction.
        self.arrays: Dict[str, Dict[str, Any]] = {}
        self.num_classes: Optional[int] = None
        self._writers: List[ArrayWriter] = []
        self._closed = False

    # Edges ##################################################################

    def add_edges(self, edge_index: Tensor,
                  edge_weight: Optional[Tensor] = None) -> None:
        r"""Adds the edges :obj:`edge_index` (:obj:`[2, num_edges]`, sources
        in the first row, targets in the second), and their
        :obj:`edge_weight` (:obj:`[num_edges]`) if the graph is weighted."""
        self._check_open()
        if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or \
                edge_index.size(0) != 2:
            raise ValueError(f"'edge_index' must be a tensor of shape "
                             f"[2, num_edges] (got "
                             f"{_describe(edge_index)})")
        if edge_index.is_floating_point() or edge_index.is_complex() or \
                edge_index.dtype == torch.bool:
            raise TypeError(f"'edge_index' must hold integer node ids (got "
                            f"dtype {edge_index.dtype})")
        if (edge_weight is not None) != self.weighted:
            raise ValueError(
                f"The stager was created with weighted={self.weighted}, "
                f"but 'edge_weight' is "
                f"{'missing' if edge_weight is None else 'given'}")
        num_edges = edge_index.size(1)
        if edge_weight is not None:
            if not isinstance(edge_weight, Tensor) or \
                    not edge_weight.is_floating_point() or \
                    edge_weight.shape != (num_edges, ):
                raise ValueError(f"'edge_weight' must be a floating-point "
                                 f"tensor of shape [{num_edges}] (got "
                                 f"{_describe(edge_weight)})")
            check_finite_values('edge_weight', edge_weight)
        if num_edges == 0:
            return
        edge_index = edge_index.long()
        low, high = int(edge_index.min()), int(edge_index.max())
        if low < 0 or high >= self.num_nodes:
            raise ValueError(f"'edge_index' holds node ids in [{low}, "
                             f"{high}], outside of [0, {self.num_nodes})")
        src, dst = edge_index[0], edge_index[1]
        weight = None if edge_weight is None else edge_weight.float()
        if self.undirected == 'reverse':  # Edge k, then its reverse:
            src, dst = (torch.stack([src, dst], 1).view(-1),
                        torch.stack([dst, src], 1).view(-1))
            if weight is not None:
                weight = weight.repeat_interleave(2)
        self._scatter('f', src, dst, weight)
        if self.undirected in ('coalesce', 'auto'):
            self._scatter('r', dst, src, weight)
        self.num_added += src.numel()
        # The chunk's temporaries go back: glibc would keep their memory
        # (and, chunk after chunk, more of it) from the page cache.
        trim_memory()

    def _path(self, kind: str, bucket: int, what: str) -> str:
        return osp.join(self.buckets, f'{kind}{bucket}.{what}')

    def _scatter(self, kind: str, src: Tensor, dst: Tensor,
                 weight: Optional[Tensor]) -> None:
        # Appends the edges to the files of their targets' buckets, in their
        # order within each bucket.
        bucket = dst // self.rows_per_bucket
        order = torch.argsort(bucket, stable=True)
        counts = torch.bincount(bucket, minlength=self.num_buckets).tolist()
        parts = [src.index_select(0, order).numpy().astype(self._np_index),
                 (dst - bucket * self.rows_per_bucket).index_select(
                     0, order).numpy().astype(np.int32)]
        if weight is not None:
            parts.append(weight.index_select(0, order).numpy())
        del order, bucket
        lo = 0
        for b, count in enumerate(counts):
            if count == 0:
                continue
            for what, part in zip(('src', 'dst', 'w'), parts):
                with open(self._path(kind, b, what), 'ab') as f:
                    f.write(memoryview(np.ascontiguousarray(
                        part[lo:lo + count])).cast('B'))
            lo += count

    def _load(self, kind: str,
              b: int) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        # The keys 'row * N + source' of a bucket's edges (rows relative to
        # the bucket), and their weights, in the order they arrived.
        def read(what: str, dtype: Any) -> np.ndarray:
            path = self._path(kind, b, what)
            if not osp.exists(path):
                return np.empty(0, dtype=dtype)
            return np.fromfile(path, dtype=dtype)

        src = torch.from_numpy(read('src', self._np_index)).long()
        row = torch.from_numpy(read('dst', np.int32)).long()
        key = row.mul_(self.num_nodes).add_(src)
        del src
        weight = None
        if self.weighted:
            weight = torch.from_numpy(read('w', np.float32))
        return key, row, weight

    def _bucket(self, b: int,
                coalesce: bool) -> Tuple[Tensor, Optional[Tensor]]:
        # The bucket's edges as sorted keys 'row * N + source', duplicates
        # in the order they arrived, or merged (weights summed).
        key, _, weight = self._load('f', b)
        if coalesce:
            rkey, _, rweight = self._load('r', b)
            key = torch.cat([key, rkey])
            del rkey
            if weight is None:
                return torch.unique(key), None
            key, inverse = torch.unique(key, return_inverse=True)
            total = torch.zeros(key.numel(), dtype=torch.float32)
            total.index_add_(0, inverse, torch.cat([weight, rweight]))
            return key, total
        if weight is None:
            return torch.sort(key).values, None
        order = torch.argsort(key, stable=True)
        return key[order], weight[order]

    def _is_symmetric(self) -> bool:
        # Whether every edge's reverse is there as often, bucket by bucket.
        for b in range(self.num_buckets):
            key = torch.sort(self._load('f', b)[0]).values
            rkey = torch.sort(self._load('r', b)[0]).values
            if not torch.equal(key, rkey):
                return False
        return True

    def _write_edges(self) -> int:
        coalesce = self.undirected == 'coalesce'
        if self.undirected == 'auto':
            coalesce = not self._is_symmetric()
            if self.log:
                log_line(f"Staging: the edges are "
                         f"{'directed; they are coalesced' if coalesce else 'undirected already'}")  # noqa: E501
        if coalesce:  # The number of edges needs a pass first:
            num_edges = sum(self._bucket(b, True)[0].numel()
                            for b in range(self.num_buckets))
        else:
            num_edges = self.num_added
        N = self.num_nodes
        col = self._writer('col', [num_edges], self.index_dtype)
        weight = self._writer('edge_weight', [num_edges],
                              torch.float32) if self.weighted else None
        # The row pointers are written along, in bucket order: no array of
        # a degree per node is held.
        rowptr = self._writer('rowptr', [N + 1], torch.long)
        rowptr.write(torch.zeros(1, dtype=torch.long))
        offset = 0  # The edges of the buckets before.
        for b in range(self.num_buckets):
            key, w = self._bucket(b, coalesce)
            lo = b * self.rows_per_bucket
            hi = min(lo + self.rows_per_bucket, N)
            # The keys 'row * N + source' are sorted, so a row ends where
            # the keys of the next one begin. In steps of 'chunk_edges'
            # rows at most: a bucket of a sparse graph holds more.
            for start in range(0, hi - lo, self.chunk_edges):
                end = min(start + self.chunk_edges, hi - lo)
                bound = torch.arange(start + 1, end + 1).mul_(N)
                rowptr.write(torch.searchsorted(key, bound).add_(offset))
                del bound
            offset += key.numel()
            col.write(key.remainder_(N))
            if weight is not None:
                weight.write(w)
            del key, w
            trim_memory()
        self.arrays['col'] = self._close(col)
        if weight is not None:
            self.arrays['edge_weight'] = self._close(weight)
        self.arrays['rowptr'] = self._close(rowptr)
        return num_edges

    # Nodes ##################################################################

    def write_node_array(self, key: str,
                         value: Union[Tensor, Iterable[Tensor]]) -> None:
        r"""Writes the node array :obj:`key` (:obj:`'x'`, :obj:`'y'`,
        :obj:`'train_mask'`, :obj:`'val_mask'` or :obj:`'test_mask'`): one
        tensor with a row per node, or its row chunks in node order. The
        features must be floating-point (and finite), the masks boolean."""
        self._check_open()
        if key not in NODE_ARRAYS:
            raise ValueError(f"'key' must be one of {list(NODE_ARRAYS)} (got "
                             f"{key!r})")
        if key in self.arrays:
            raise ValueError(f"'{key}' was written already")
        chunks = [value] if isinstance(value, Tensor) else value
        writer, rows = None, 0
        try:
            for chunk in chunks:
                self._check_node_chunk(key, chunk)
                if writer is None:
                    writer = self._writer(key, [self.num_nodes] +
                                          list(chunk.shape[1:]), chunk.dtype)
                if rows + chunk.size(0) > self.num_nodes:
                    raise ValueError(f"'{key}' needs {self.num_nodes} rows "
                                     f"(got more)")
                if key == 'x':
                    check_finite_values('x', chunk)
                if key == 'y':
                    self._count_classes(chunk)
                writer.write(chunk)
                rows += chunk.size(0)
                trim_memory()
            if rows != self.num_nodes:
                raise ValueError(f"'{key}' needs {self.num_nodes} rows (got "
                                 f"{rows})")
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        self.arrays[key] = self._close(writer)

    def _check_node_chunk(self, key: str, chunk: Any) -> None:
        if not isinstance(chunk, Tensor) or chunk.dim() == 0:
            raise ValueError(f"'{key}' must be given as tensors with a row "
                             f"per node (got {_describe(chunk)})")
        if key == 'x' and not chunk.is_floating_point():
            raise ValueError(f"'x' must hold floating-point features (got "
                             f"dtype {chunk.dtype})")
        if key.endswith('_mask') and chunk.dtype != torch.bool:
            raise ValueError(f"'{key}' must be a boolean mask (got dtype "
                             f"{chunk.dtype})")
        dtype_name(chunk.dtype)  # A TypeError for types not stored.

    def _count_classes(self, y: Tensor) -> None:
        # As 'check_node_arrays' counts them.
        if y.is_floating_point() and y.dim() == 2:
            count = y.size(-1)
        else:
            count = int(y.max()) + 1 if y.numel() else 0
        self.num_classes = max(self.num_classes or 0, count)

    # Completion #############################################################

    def _writer(self, name: str, shape: List[int],
                dtype: torch.dtype) -> ArrayWriter:
        writer = ArrayWriter(self.root, name, shape, dtype)
        self._writers.append(writer)
        return writer

    def _close(self, writer: ArrayWriter) -> Dict[str, Any]:
        entry = writer.close()
        self._writers.remove(writer)
        return entry

    def close(self, num_classes: Optional[int] = None,
              name: Optional[str] = None) -> DiskDataset:
        r"""Sorts the edges into the CSR, completes the directory (its
        manifest last) and opens it. :obj:`num_classes` defaults to what
        :func:`~pyg_gas.storage.prepare` infers from :obj:`y`."""
        self._check_open()
        missing = [k for k in NODE_ARRAYS if k not in self.arrays]
        if missing:
            raise ValueError(f"Write the node arrays {missing} before "
                             f"closing the stager")
        try:
            if self.log:
                log_line(f"Staging: sorting {self.num_added:,} edges into "
                         f"'{self.root}'")
            num_edges = self._write_edges()
            N = self.num_nodes
            perm = self._writer('perm', [N], torch.long)
            for lo in range(0, N, self.chunk_edges):
                perm.write(torch.arange(lo, min(lo + self.chunk_edges, N)))
            self.arrays['perm'] = self._close(perm)
            self.arrays['ptr'] = write_array(self.root, 'ptr',
                                             torch.tensor([0, N]))
            if num_classes is None:
                num_classes = self.num_classes or 0
            meta = dict(name=name or 'data', num_nodes=N,
                        num_edges=num_edges, num_classes=int(num_classes),
                        x_dtype=self.arrays['x']['dtype'], transform=None,
                        partition=dict(num_parts=1, method='none', seed=0))
            write_manifest(self.root, meta, self.arrays)
        except BaseException:
            self.abort()
            raise
        shutil.rmtree(self.buckets, ignore_errors=True)
        self._closed = True
        return DiskDataset(self.root)

    def abort(self) -> None:
        r"""Removes everything the stager wrote."""
        for writer in self._writers:
            writer.abort()
        self._writers = []
        self._closed = True
        if self._created:
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            shutil.rmtree(self.buckets, ignore_errors=True)
            for entry in self.arrays.values():
                path = osp.join(self.root, entry['file'])
                if osp.exists(path):
                    os.remove(path)
            if osp.exists(osp.join(self.root, MANIFEST)):
                os.remove(osp.join(self.root, MANIFEST))

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"The stager of '{self.root}' is closed")

    def __enter__(self) -> 'GraphStager':
        return self

    def __exit__(self, kind: Any, *args: Any) -> None:
        if kind is not None and not self._closed:
            self.abort()

    def __repr__(self) -> str:
        return (f'{type(self).__name__}({self.root!r}, '
                f'num_nodes={self.num_nodes}, num_added={self.num_added}, '
                f'undirected={self.undirected!r})')


def _describe(value: Any) -> str:
    if isinstance(value, Tensor):
        return f'shape {list(value.shape)}'
    return type(value).__name__


def stage_data(
    data: Data,
    root: str,
    undirected: Undirected = None,
    chunk_edges: int = 1 << 22,
    name: Optional[str] = None,
    log: bool = True,
) -> DiskDataset:
    r"""Stages the in-memory graph :obj:`data` (unpermuted) with a
    :class:`GraphStager`, its edges in chunks of :obj:`chunk_edges`: the
    directory that :func:`permute_to_disk` turns into the one
    :func:`~pyg_gas.storage.prepare` writes. It needs what
    :func:`~pyg_gas.storage.prepare` needs (:obj:`x`, :obj:`y` and the
    masks; :obj:`edge_weight` is kept).

    Args:
        data (Data): The graph.
        root (str): The directory to write: new or empty.
        undirected (str, optional): What to do with the edges (see
            :class:`GraphStager`). (default: :obj:`None`)
        chunk_edges (int, optional): The edges of one chunk and bucket.
            (default: :obj:`4194304`)
        name (str, optional): The name in the manifest.
            (default: :obj:`data.name` or :obj:`'data'`)
        log (bool, optional): Reports the steps on stderr.
            (default: :obj:`True`)
    """
    if not isinstance(data, Data):
        raise TypeError(f"'data' must be a 'Data' object (got "
                        f"{type(data).__name__})")
    num_classes = check_node_arrays(data)
    edge_index = data.edge_index
    if edge_index is None:
        raise ValueError("'data' has no 'edge_index' to stage")
    weight = _edge_attrs(data).get('edge_weight')
    num_edges = edge_index.size(1) * (1 if undirected is None else 2)
    with GraphStager(root, data.num_nodes, num_edges, undirected,
                     weighted=weight is not None, chunk_edges=chunk_edges,
                     log=log) as stager:
        for lo in range(0, edge_index.size(1), chunk_edges):
            stager.add_edges(
                edge_index[:, lo:lo + chunk_edges],
                None if weight is None else weight[lo:lo + chunk_edges])
        for key in NODE_ARRAYS:
            stager.write_node_array(key, data[key])
        return stager.close(num_classes, name or data.get('name'))


def _open(dataset: Union[DiskDataset, str]) -> DiskDataset:
    if isinstance(dataset, str):
        return DiskDataset(dataset)
    if not isinstance(dataset, DiskDataset):
        raise TypeError(f"Expected a 'DiskDataset' or the path of one (got "
                        f"{type(dataset).__name__})")
    return dataset


def partition_dataset(
    dataset: Union[DiskDataset, str],
    num_parts: int,
    method: Literal['metis', 'stream'] = 'metis',
    seed: int = 0,
    cache_dir: Optional[str] = None,
    log: bool = True,
    scratch_dir: Optional[str] = None,
) -> Tuple[Tensor, Tensor]:
    r"""Partitions the graph of a dataset directory (e.g. a staged one) into
    :obj:`num_parts` clusters, and returns :obj:`(perm, ptr)` as
    :func:`~pyg_gas.metis` does.

    :obj:`'metis'` loads the edges into memory and calls
    :func:`~pyg_gas.metis` on them (for graphs whose edges fit, and with
    the same result as :func:`~pyg_gas.metis` on the graph in memory);
    :obj:`'stream'` calls :func:`pyg_gas.partition.partition_csr` on the
    memory-mapped CSR, in bounded memory: the part of every node and the
    :obj:`perm` it returns live in memory-mapped scratch files of
    :obj:`scratch_dir` (see :func:`~pyg_gas.utils.scratch_tensor`), gone
    once they are freed.

    Args:
        dataset (DiskDataset or str): The graph.
        num_parts (int): The number of clusters, in :obj:`[1, N]`.
        method (str, optional): :obj:`'metis'` or :obj:`'stream'`.
            (default: :obj:`'metis'`)
        seed (int, optional): The partition's seed. (default: :obj:`0`)
        cache_dir (str, optional): The METIS cache (:obj:`'metis'` only).
            (default: :obj:`None`)
        log (bool, optional): Reports the steps on stderr.
            (default: :obj:`True`)
        scratch_dir (str, optional): Where :obj:`'stream'` keeps
            :obj:`perm`: a writable directory, ideally on the disk of the
            dataset. (default: the dataset's directory if it is writable,
            else memory)
    """
    dataset = _open(dataset)
    N = dataset.num_nodes
    num_parts = check_int('num_parts', num_parts, 1, N, integral=True,
                          expected=f'an int in [1, {N}]')
    if method not in PARTITIONS:
        raise ValueError(f"'partition' must be one of {list(PARTITIONS)} "
                         f"(got {method!r})")
    if method == 'metis':
        from pyg_gas.partition import metis

        rowptr = dataset.rowptr
        dst = torch.arange(N).repeat_interleave(
            rowptr[1:] - rowptr[:-1], output_size=dataset.num_edges)
        edge_index = torch.stack([dataset.col.long(), dst])  # [2, E]
        del dst
        return metis(edge_index, num_parts, seed=seed, cache_dir=cache_dir,
                     num_nodes=N, log=log)
    try:
        from pyg_gas.partition import partition_csr, parts_to_perm
    except ImportError:
        raise ImportError("partition='stream' needs "
                          "'pyg_gas.partition.partition_csr', which this "
                          "version of pyg_gas does not have (use "
                          "partition='metis')") from None
    if scratch_dir is not None:
        check_writable_dir('scratch_dir', scratch_dir)
    elif os.access(dataset.root, os.W_OK | os.X_OK):
        scratch_dir = dataset.root
    def new() -> Optional[Tensor]:
        if scratch_dir is None:
            return None
        os.makedirs(scratch_dir, exist_ok=True)
        return scratch_tensor([N], torch.long, scratch_dir)

    part = partition_csr(dataset.rowptr, dataset.col, num_parts, seed=seed,
                         log=log, out=new())
    return parts_to_perm(part, num_parts, out=new())


def _check_perm(perm: Any, num_nodes: int) -> Tensor:
    if not isinstance(perm, Tensor) or perm.dim() != 1 or \
            perm.dtype not in (torch.long, torch.int32):
        raise TypeError(f"'perm' must be a one-dimensional integer tensor "
                        f"(got {_describe(perm)})")
    perm = perm.long().cpu()
    expected = f"'perm' must be a permutation of [0, {num_nodes})"
    if perm.numel() != num_nodes:
        raise ValueError(f'{expected} (got {perm.numel()} entries)')
    if num_nodes == 0:
        return perm
    # N entries in [0, N) are a permutation if they hit every node: a flag
    # a node tells, set in chunks (a byte a node, not a count of 8):
    seen = torch.zeros(num_nodes, dtype=torch.bool)
    valid = int(perm.min()) >= 0 and int(perm.max()) < num_nodes
    for lo in range(0, num_nodes if valid else 0, 1 << 22):
        seen[perm[lo:lo + (1 << 22)]] = True
    if not valid or not bool(seen.all()):
        raise ValueError(f'{expected} (got repeated or out-of-range '
                         f'entries)')
    return perm


def check_partition_args(num_nodes: int, num_parts: Optional[int],
                         perm: Optional[Tensor], ptr: Optional[Tensor],
                         partition: str) -> Tuple[Optional[Tensor],
                                                  Optional[Tensor]]:
    r"""Checks the partition arguments of the bounded-memory writers before
    any work is done, and returns :obj:`(perm, ptr)` validated."""
    if (perm is None) != (ptr is None):
        raise ValueError("'perm' and 'ptr' must be given together")
    if perm is None:
        if num_parts is None:
            raise ValueError("Give 'num_parts', or a partition's 'perm' and "
                             "'ptr'")
        check_int('num_parts', num_parts, 1, num_nodes, integral=True,
                  expected=f'an int in [1, {num_nodes}]')
        if partition not in PARTITIONS:
            raise ValueError(f"'partition' must be one of "
                             f"{list(PARTITIONS)} (got {partition!r})")
        return None, None
    return _check_perm(perm, num_nodes), check_ptr(ptr, num_nodes)


def permute_to_disk(
    raw: Union[DiskDataset, str],
    perm: Tensor,
    ptr: Tensor,
    root: str,
    x_dtype: torch.dtype = torch.float32,
    name: Optional[str] = None,
    normalize_features: bool = False,
    method: str = 'given',
    seed: int = 0,
    chunk_edges: int = 1 << 22,
    overwrite: bool = False,
    log: bool = True,
) -> DiskDataset:
    r"""Writes the dataset directory :obj:`raw` (e.g. staged by
    :class:`GraphStager`) in the node order :obj:`perm` with the cluster
    boundaries :obj:`ptr`, as the dataset directory :obj:`root`, row chunk
    by row chunk, and opens it.

    New node :obj:`i` is old node :obj:`perm[i]`: its row holds the
    in-neighbours of the old row, relabelled by the inverse permutation and
    sorted (duplicates keep their order), and its features, label and mask
    entries are gathered from the old ones. For a staged graph, the result
    equals :func:`~pyg_gas.storage.prepare` of the same graph in memory with
    the same :obj:`perm` and :obj:`ptr`, array for array. Memory holds
    one chunk of about :obj:`chunk_edges` edges (or rows) and a byte a
    node; the inverse of :obj:`perm` and the new row pointers are kept in
    memory-mapped scratch files in :obj:`root` (see
    :func:`~pyg_gas.utils.scratch_tensor`), the old ones are read from
    :obj:`raw`.

    Args:
        raw (DiskDataset or str): The graph to permute.
        perm (torch.Tensor): The new node order, a permutation of
            :obj:`[0, N)`. The stored :obj:`perm` composes it with
            :obj:`raw`'s, so it still maps to the original ids.
        ptr (torch.Tensor): The cluster boundaries.
        root (str): The directory to write: new, empty, or (with
            :obj:`overwrite`) a prepared dataset.
        x_dtype (torch.dtype, optional): The features' storage type, as in
            :func:`~pyg_gas.storage.prepare`. (default: :obj:`torch.float32`)
        name (str, optional): The dataset's name in the manifest.
            (default: :obj:`raw`'s)
        normalize_features (bool, optional): Row-normalizes the features
            as :class:`torch_geometric.transforms.NormalizeFeatures` does
            (one more pass over them for their minimum).
            (default: :obj:`False`)
        method (str, optional): How :obj:`perm` was obtained, for the
            manifest's :obj:`partition` entry. (default: :obj:`'given'`)
        seed (int, optional): The partition's seed, for the manifest.
            (default: :obj:`0`)
        chunk_edges (int, optional): The edges of one chunk, which bounds
            memory. (default: :obj:`4194304`)
        overwrite (bool, optional): Replaces a prepared dataset in
            :obj:`root`. (default: :obj:`False`)
        log (bool, optional): Reports the steps on stderr.
            (default: :obj:`True`)
    """
    raw = _open(raw)
    if x_dtype not in FEATURE_DTYPES.values():
        raise ValueError(f"'x_dtype' must be one of "
                         f"{list(FEATURE_DTYPES.values())} (got {x_dtype})")
    chunk_edges = check_int('chunk_edges', chunk_edges, 1)
    N, E = raw.num_nodes, raw.num_edges
    perm = _check_perm(perm, N)
    ptr = check_ptr(ptr, N)
    check_writable_dir('root', root)
    if osp.abspath(root) == raw.root:
        raise ValueError(f"'root' must differ from the directory it is "
                         f"permuted from (got '{raw.root}' for both)")
    num_features = int(np.prod(raw.x.shape[1:]))
    itemsize = torch.empty(0, dtype=x_dtype).element_size()
    # The arrays, and the scratch files of the new row pointers and the
    # inverse permutation:
    size = N * (num_features * itemsize + 32) + E * 12 + N * 16
    created = not osp.exists(root)
    root = open_output(root, overwrite, size)
    written: List[str] = []
    try:
        _permute(raw, perm, ptr, root, x_dtype, normalize_features,
                 chunk_edges, written, log)
        meta = {k: v for k, v in raw.manifest.items()
                if k not in ('arrays', 'digest', 'format', 'version',
                             'parent')}
        meta.update(name=name or raw.name, x_dtype=dtype_name(x_dtype),
                    normalized_features=normalize_features or bool(
                        raw.manifest.get('normalized_features')),
                    partition=dict(num_parts=int(ptr.numel()) - 1,
                                   method=method, seed=seed))
        write_manifest(root, meta, dict(written))
    except BaseException:
        for _, entry in written:
            path = osp.join(root, entry['file'])
            if osp.exists(path):
                os.remove(path)
        if created:
            shutil.rmtree(root, ignore_errors=True)
        raise
    return DiskDataset(root)


def _permute(raw: DiskDataset, perm: Tensor, ptr: Tensor, root: str,
             x_dtype: torch.dtype, normalize: bool, chunk_edges: int,
             written: List[Any], log: bool) -> None:
    N, E = raw.num_nodes, raw.num_edges
    if log:
        log_line(f"Writing {N:,} nodes and {E:,} edges to '{root}' in "
                 f"cluster order")
    # The arrays of a node each live in scratch files of 'root' (whose
    # pages the kernel can write back to disk and drop) or are read from
    # the memory-mapped ones of 'raw', and are computed in chunks of nodes:
    old_rowptr = raw.rowptr  # [N + 1]
    ends = old_rowptr.as_strided((N, 2), (1, 1))  # Row i: both ends of i.
    rowptr = scratch_tensor([N + 1], torch.long, root)
    col_dtype = index_dtype(N)
    inv = scratch_tensor([N], col_dtype, root)  # New id of each old node.
    offset = 0  # The edges of the rows before.
    for lo in range(0, N, chunk_edges):
        hi = min(lo + chunk_edges, N)
        nodes = perm[lo:hi]
        inv[nodes] = torch.arange(lo, hi, dtype=col_dtype)
        bound = ends.index_select(0, nodes)  # [hi - lo, 2]
        # A running sum per chunk is the one cumulative sum, exactly:
        torch.cumsum(bound[:, 1] - bound[:, 0], 0, out=rowptr[lo + 1:hi + 1])
        rowptr[lo + 1:hi + 1] += offset
        offset = int(rowptr[hi])
        del nodes, bound
    written.append(('rowptr', write_array(root, 'rowptr', rowptr)))
    weight = raw.get('edge_weight')
    writers = [ArrayWriter(root, 'col', [E], col_dtype)]
    if weight is not None:
        writers.append(ArrayWriter(root, 'edge_weight', [E], torch.float32))
    try:
        for lo, hi in row_chunks(rowptr, chunk_edges):
            # The old rows of the new rows [lo, hi), relabelled and sorted:
            count = int(rowptr[hi] - rowptr[lo])
            cptr, index = gather_csr(old_rowptr, perm[lo:hi])  # [E_c]
            src = inv.index_select(0, raw.col.index_select(0, index).long())
            key = torch.arange(hi - lo).repeat_interleave(
                cptr.diff(), output_size=count).mul_(N).add_(src)
            del src, cptr
            if weight is None:
                writers[0].write(torch.sort(key).values.remainder_(N))
            else:
                order = torch.argsort(key, stable=True)
                writers[0].write(key[order].remainder_(N))
                writers[1].write(weight.index_select(
                    0, index.index_select(0, order)))
                del order
            del key, index
            trim_memory()
        for writer in writers:
            written.append((writer.name, writer.close()))
    except BaseException:
        for writer in writers:
            writer.abort()
        raise
    del inv, ends, old_rowptr, rowptr

    # The node arrays, gathered in row chunks:
    arrays = [('perm', raw.perm, torch.long)] + [
        (key, raw[key], x_dtype if key == 'x' else raw[key].dtype)
        for key in NODE_ARRAYS
    ]
    for key, value, dtype in arrays:
        row_bytes = value[:1].numel() * value.element_size()
        rows = list(_node_rows(N, row_bytes, chunk_edges))
        low = None
        if key == 'x' and normalize and value.numel() > 0:
            low = min(value[lo:hi].min() for lo, hi in rows)
        with ArrayWriter(root, key, value.shape, dtype) as writer:
            for lo, hi in rows:
                chunk = value.index_select(0, perm[lo:hi])
                if low is not None:  # As NormalizeFeatures computes it:
                    chunk = chunk - low
                    chunk.div_(chunk.sum(dim=-1, keepdim=True).clamp_(
                        min=1.))
                writer.write(chunk)
            written.append((key, writer.close()))
    written.append(('ptr', write_array(root, 'ptr', ptr.long())))


def prepare_staged(
    staged: Union[DiskDataset, str],
    root: str,
    num_parts: Optional[int] = None,
    perm: Optional[Tensor] = None,
    ptr: Optional[Tensor] = None,
    partition: Literal['metis', 'stream'] = 'metis',
    seed: int = 0,
    x_dtype: torch.dtype = torch.float32,
    cache_dir: Optional[str] = None,
    name: Optional[str] = None,
    normalize_features: bool = False,
    chunk_edges: int = 1 << 22,
    overwrite: bool = False,
    log: bool = True,
) -> DiskDataset:
    r"""Partitions a staged graph (see :class:`GraphStager`) into
    :obj:`num_parts` clusters with :func:`partition_dataset` (or takes the
    given :obj:`perm` and :obj:`ptr`) and writes it in cluster order with
    :func:`permute_to_disk`; the arguments are theirs. The manifest's
    :obj:`partition` entry records the method (:obj:`'metis'`,
    :obj:`'stream'` or :obj:`'given'`) and the seed."""
    staged = _open(staged)
    perm, ptr = check_partition_args(staged.num_nodes, num_parts, perm, ptr,
                                     partition)
    check_output(root, overwrite, 0)
    if perm is None:
        perm, ptr = partition_dataset(staged, num_parts, partition, seed,
                                      cache_dir, log)
        method = partition
    else:
        method = 'given'
    return permute_to_disk(staged, perm, ptr, root, x_dtype, name,
                           normalize_features, method, seed, chunk_edges,
                           overwrite, log)
