import copy
import hashlib
import json
import os.path as osp
import time
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Literal,
    Optional,
    Tuple,
    Union,
)

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from pyg_gas.checks import check_int, check_number
from pyg_gas.graph import (
    check_graph_attr,
    check_ptr,
    get_edge_index,
    is_sparse,
    sparse_to_edge_index,
)
from pyg_gas.typing import (
    WITH_PYG_LIB_METIS,
    WITH_PYMETIS,
    WITH_TORCH_SPARSE,
    WITH_TORCH_SPARSE_METIS,
    SparseTensor,
    pyg_lib,
    pymetis,
    require,
)
from pyg_gas.utils import atomic_write, check_writable_dir
from pyg_gas.utils import log as _log

Backend = Literal['auto', 'pymetis', 'torch_sparse', 'pyg_lib']
BACKENDS = ('pymetis', 'torch_sparse', 'pyg_lib')
_CACHE_VERSION = 2
#: Attributes that hold a (transposed) adjacency, node by node.
ADJ_KEYS = ('adj_t', 'adj')


def available_backends() -> Tuple[str, ...]:
    r"""The METIS backends that are installed, preferred one first."""
    flags = (WITH_PYMETIS, WITH_TORCH_SPARSE_METIS, WITH_PYG_LIB_METIS)
    return tuple(name for name, ok in zip(BACKENDS, flags) if ok)


#: Entries per step of the chunked loops below (bounds their temporaries).
_CHUNK = 1 << 22
#: Rows counted at a time where a pass over a chunk needs temporaries of
#: several words an edge.
_BLOCK = 1 << 16


def _symmetric_csr(edge_index: Tensor,
                   num_nodes: int) -> Tuple[Tensor, Tensor, bool]:
    r"""Returns the CSR :obj:`(rowptr, col)` of the undirected simple graph
    underlying :obj:`edge_index` (no self-loops, no duplicates, sorted), and
    whether the input was already symmetric.

    Both are :obj:`torch.long`, the index type of the :obj:`pymetis` build
    (so that it copies neither). The edges are encoded as keys
    :obj:`row * num_nodes + col`, sorted (unless they already are) and
    deduplicated, and the keys turn into :obj:`col` in place. The graph is
    symmetric if its edges :obj:`row < col` are its edges :obj:`row > col`
    reversed: only the latter, half of the edges, are sorted a second time.
    """
    n = num_nodes
    row, col = edge_index[0].numpy(), edge_index[1].numpy()
    key = _sorted_keys(row, col, n, np.not_equal)  # [num_keys]
    # The keys 'col * n + row' of the edges 'row > col', sorted:
    lower = _sorted_keys(col, row, n, np.less)  # [num_keys / 2]
    was_symmetric = _upper_equals(key, lower, n)
    del lower
    if not was_symmetric:  # The union: the reversed edges not in 'key'.
        rev = _sorted_keys(col, row, n, np.not_equal)
        missing = []
        for lo in range(0, rev.shape[0], _CHUNK):
            r = rev[lo:lo + _CHUNK]
            if key.shape[0] > 0:
                pos = np.searchsorted(key, r).clip(max=key.shape[0] - 1)
                r = r[key[pos] != r]
            missing.append(r)
        del rev
        key = np.concatenate([key] + missing)
        del missing
        key = _sort(key)

    # Rows are runs of the sorted keys, found by binary search:
    rowptr = np.searchsorted(key, np.arange(n + 1, dtype=np.int64) * n)
    for lo in range(0, key.shape[0], _CHUNK):  # Keys become 'col'.
        np.remainder(key[lo:lo + _CHUNK], n, out=key[lo:lo + _CHUNK])
    return (torch.from_numpy(rowptr.astype(np.int64, copy=False)),
            torch.from_numpy(key), was_symmetric)


def _sorted_keys(row: np.ndarray, col: np.ndarray, num_nodes: int,
                 which: Callable[[np.ndarray, np.ndarray],
                                 np.ndarray]) -> np.ndarray:
    # The sorted distinct keys 'row * num_nodes + col' of the edges for
    # which 'which(row, col)' holds (e.g. 'np.not_equal': all but
    # self-loops), built chunk by chunk with a multiplication and an
    # addition per edge.
    def mask(lo: int) -> np.ndarray:
        return which(row[lo:lo + _CHUNK], col[lo:lo + _CHUNK])

    chunks = range(0, row.shape[0], _CHUNK)
    size = sum(int(np.count_nonzero(mask(lo))) for lo in chunks)
    key = np.empty(size, dtype=np.int64)  # [num_keys]
    out = 0
    for lo in chunks:
        m = mask(lo)
        k = row[lo:lo + _CHUNK][m] * num_nodes
        k += col[lo:lo + _CHUNK][m]
        key[out:out + k.shape[0]] = k
        out += k.shape[0]
    if not _is_sorted(key):
        key = _sort(key)
    return _unique_sorted(key)


def _is_sorted(key: np.ndarray) -> bool:
    # Whether 'key' is non-decreasing, chunk by chunk (the chunks overlap
    # by one entry).
    return all(bool((key[lo + 1:lo + _CHUNK + 1] >=
                     key[lo:lo + _CHUNK][:key.shape[0] - lo - 1]).all())
               for lo in range(0, max(key.shape[0] - 1, 0), _CHUNK))


def _sort(key: np.ndarray) -> np.ndarray:
    # In place: torch's sort runs on all threads, but holds the input, the
    # sorted copy and int64 indices at once (4.6 GiB against numpy's 1.5
    # GiB for ogbn-products' keys, in about the same CPU time).
    key.sort()
    return key


def _upper_equals(key: np.ndarray, lower: np.ndarray, n: int) -> bool:
    # Whether the keys 'row < col' of the sorted 'key' (a sorted
    # subsequence: 'key < col * (n + 1)') are the sorted 'lower' keys.
    out = 0
    for lo in range(0, key.shape[0], _CHUNK):
        k = key[lo:lo + _CHUNK]
        upper = k[k < (k % n) * (n + 1)]
        if not np.array_equal(upper, lower[out:out + upper.shape[0]]):
            return False
        out += upper.shape[0]
    return out == lower.shape[0]


def _unique_sorted(key: np.ndarray) -> np.ndarray:
    # Drops repeated entries of a sorted array in place (a chunk's kept
    # entries move to positions at or before it) and shrinks the array.
    out, last = 0, None
    for lo in range(0, key.shape[0], _CHUNK):
        k = key[lo:lo + _CHUNK]
        keep = np.empty(k.shape[0], dtype=bool)
        keep[1:] = k[1:] != k[:-1]
        keep[0] = last is None or k[0] != last
        last = k[-1]
        kept = k[keep]  # A copy, before its source is overwritten.
        key[out:out + kept.shape[0]] = kept
        out += kept.shape[0]
        del k, kept  # No view of 'key' may outlive the loop (resize).
    if out == key.shape[0]:
        return key
    try:  # Returns the tail's memory, without a copy.
        key.resize(out, refcheck=False)
        return key
    except ValueError:  # Not the owner of its memory.
        return key[:out].copy()


def _run_backend(backend: str, rowptr: Tensor, col: Tensor, num_parts: int,
                 recursive: bool, seed: int) -> Tensor:
    if col.numel() == 0:  # METIS needs edges: spread isolated nodes evenly.
        num_nodes = rowptr.numel() - 1
        return torch.arange(num_nodes) * num_parts // max(num_nodes, 1)
    if backend == 'pymetis':
        rowptr_np, col_np = rowptr.numpy(), col.numpy()
        options = pymetis.Options(seed=seed)
        if hasattr(pymetis, 'CSRAdjacency'):  # pymetis >= 2025.2
            adjacency = pymetis.CSRAdjacency(rowptr_np, col_np)
            out = pymetis.part_graph(num_parts, adjacency, recursive=recursive,
                                     options=options)
        else:
            out = pymetis.part_graph(num_parts, xadj=rowptr_np,
                                     adjncy=col_np, recursive=recursive,
                                     options=options)
        return torch.from_numpy(np.asarray(out[1], dtype=np.int64))
    if backend == 'torch_sparse':
        # torch-sparse's METIS takes no seed: it uses METIS' default one.
        return torch.ops.torch_sparse.partition(rowptr, col, None, num_parts,
                                                recursive).long()
    if backend == 'pyg_lib':
        return pyg_lib.partition.metis(rowptr, col, num_parts,
                                       recursive=recursive).long()
    raise ValueError(f"Unknown METIS backend '{backend}'")


def _digest(edge_index: Tensor, params: dict,
            chunk: int = 1 << 22) -> str:
    # The key of the input edges without their self-loops (which METIS
    # ignores), in the given order, so that a cached partition is found
    # without building the symmetric graph first, and a graph with added
    # self-loops (e.g. after a GCN normalization) finds its partition too.
    h = hashlib.sha256()
    h.update(json.dumps(params, sort_keys=True).encode())
    row, col = edge_index[0], edge_index[1]
    for which in (row, col):  # Sources, then targets.
        for lo in range(0, row.numel(), chunk):  # Bounded temporaries.
            keep = row[lo:lo + chunk] != col[lo:lo + chunk]
            part = which[lo:lo + chunk][keep]
            h.update(memoryview(np.ascontiguousarray(part.numpy())))
    return h.hexdigest()


def _cache_problem(perm: Any, ptr: Any, num_nodes: int,
                   num_parts: int) -> Optional[str]:
    # What is wrong with a cached partition of 'num_nodes' nodes into
    # 'num_parts' parts, or None: one pass over 'perm'.
    for name, value, size in (('perm', perm, num_nodes),
                              ('ptr', ptr, num_parts + 1)):
        if not isinstance(value, Tensor) or value.dtype != torch.long or (
                value.dim() != 1):
            return f"'{name}' is not a one-dimensional torch.long tensor"
        if value.numel() != size:
            return f"'{name}' has {value.numel()} entries, expected {size}"
    if int(ptr[0]) != 0 or int(ptr[-1]) != num_nodes:
        return (f"'ptr' runs from {int(ptr[0])} to {int(ptr[-1])}, "
                f"expected 0 to {num_nodes}")
    if bool((ptr[1:] < ptr[:-1]).any()):
        return "'ptr' decreases"
    if int(perm.min()) < 0 or int(perm.max()) >= num_nodes or not bool(
            (torch.bincount(perm, minlength=num_nodes) == 1).all()):
        return f"'perm' is not a permutation of [0, {num_nodes})"
    return None


def _load_cache(path: str, key: str, num_nodes: int, num_parts: int,
                log: bool,
                name: str = 'metis') -> Optional[Tuple[Tensor, Tensor]]:
    if not osp.exists(path):
        return None
    try:
        obj = torch.load(path, weights_only=True)
        ok = isinstance(obj, dict) and obj.get('key') == key
    except Exception:  # A corrupt or foreign file: recompute.
        ok = False
    if not ok:
        return None
    # The right key, but is the entry sound (a partial or edited write)?
    problem = _cache_problem(obj.get('perm'), obj.get('ptr'), num_nodes,
                             num_parts)
    if problem is not None:
        if log:
            _log(f'{name}: the cached partition in {path} is inconsistent '
                 f'({problem}); recomputing it')
        return None
    return obj['perm'], obj['ptr']


def _cached(cache_dir: Optional[str], name: str, edge_index: Tensor,
            num_nodes: int, num_parts: int, log: bool,
            params: Dict[str, Any]
            ) -> Tuple[Optional[str], Optional[str],
                       Optional[Tuple[Tensor, Tensor]]]:
    # The cache file and key of a partition of 'edge_index' with 'params'
    # (None without 'cache_dir'), and the partition if the cache holds it.
    if cache_dir is None:
        return None, None, None
    key = _digest(edge_index, params)
    path = osp.join(cache_dir, f'{name}_{key[:24]}.pt')
    cached = _load_cache(path, key, num_nodes, num_parts, log, name)
    if cached is not None and log:
        _log(f'{name}: loaded {num_parts} parts from {path}')
    return path, key, cached


def _finish(part: Tensor, num_parts: int, path: Optional[str],
            key: Optional[str], log: bool, start: float,
            what: str) -> Tuple[Tensor, Tensor]:
    # The (perm, ptr) of the cluster of every node, logged and cached.
    perm, ptr = parts_to_perm(part, num_parts)
    if log:
        _log(f'{what} in {time.perf_counter() - start:.2f}s')
    if path is not None:
        _save_cache(path, key, perm, ptr)
    return perm, ptr


def _save_cache(path: str, key: str, perm: Tensor, ptr: Tensor) -> None:
    atomic_write(path, lambda f: torch.save(
        {'key': key, 'perm': perm, 'ptr': ptr}, f))


def _partition_input(data_or_edge_index: Any, num_parts: Any,
                     num_nodes: Optional[int], cache_dir: Optional[str]
                     ) -> Tuple[Tensor, int, int]:
    # The checked graph, node count and part count of a partitioner's
    # input, and the cache directory checked before the work it keeps.
    edge_index, num_nodes = get_edge_index(data_or_edge_index, num_nodes)
    edge_index = edge_index.cpu()
    if num_nodes == 0:
        raise ValueError("Cannot partition an empty graph (got 0 nodes)")
    num_parts = check_int('num_parts', num_parts, 1, num_nodes,
                          integral=True)
    if cache_dir is not None:
        check_writable_dir('cache_dir', cache_dir)
    return edge_index, num_nodes, num_parts


def metis(
    data_or_edge_index: Union[Data, Tensor, Any],
    num_parts: int,
    recursive: bool = False,
    seed: int = 0,
    cache_dir: Optional[str] = None,
    num_nodes: Optional[int] = None,
    backend: Backend = 'auto',
    log: bool = True,
) -> Tuple[Tensor, Tensor]:
    r"""Partitions a graph into :obj:`num_parts` clusters with METIS, from
    the `"A Fast and High Quality Multilevel Scheme for Partitioning
    Irregular Graphs" <https://doi.org/10.1137/S1064827595287997>`_ paper,
    and returns the node order that makes each cluster one contiguous range.

    Cluster :obj:`i` consists of the nodes :obj:`perm[ptr[i]:ptr[i + 1]]`.
    Pass :obj:`perm` to :func:`permute` to relabel the graph accordingly.
    METIS needs an undirected graph: a directed input is symmetrized (and
    self-loops are dropped) for the partitioning only. Parts may be empty
    (:obj:`ptr` repeats a value then).

    Partitions are cached in :obj:`cache_dir` under a key made of the graph's
    content and all parameters, so a cache is never reused for another graph
    or setting. Cache files are written atomically. A cached entry is
    checked before use (:obj:`perm` a permutation of :obj:`[0, num_nodes)`,
    :obj:`ptr` non-decreasing from :obj:`0` to :obj:`num_nodes` with
    :obj:`num_parts + 1` entries); an unreadable or inconsistent one is
    recomputed and rewritten.

    Args:
        data_or_edge_index (Data or torch.Tensor): The graph: a
            :class:`~torch_geometric.data.Data` object, an :obj:`edge_index`
            of shape :obj:`[2, num_edges]`, or a sparse adjacency.
        num_parts (int): The number of partitions, in
            :obj:`[1, num_nodes]`.
        recursive (bool, optional): Uses multilevel recursive bisection
            instead of multilevel :math:`k`-way partitioning.
            (default: :obj:`False`)
        seed (int, optional): The METIS random seed (the :obj:`pymetis`
            backend only; the compiled backends use METIS' default).
            (default: :obj:`0`)
        cache_dir (str, optional): A directory to cache partitions in.
            (default: :obj:`None`)
        num_nodes (int, optional): The number of nodes, if not implied by the
            input. (default: :obj:`None`)
        backend (str, optional): :obj:`'pymetis'`, :obj:`'torch_sparse'`,
            :obj:`'pyg_lib'`, or :obj:`'auto'` for the first installed one of
            these. (default: :obj:`'auto'`)
        log (bool, optional): Reports progress on stderr.
            (default: :obj:`True`)

    Returns:
        (torch.Tensor, torch.Tensor): :obj:`perm` of shape
        :obj:`[num_nodes]` and :obj:`ptr` of shape :obj:`[num_parts + 1]`.
    """
    edge_index, num_nodes, num_parts = _partition_input(
        data_or_edge_index, num_parts, num_nodes, cache_dir)
    if backend == 'auto':
        available = available_backends()
        if len(available) == 0:
            require('pymetis', 'metis')
        backend = available[0]
    elif backend not in BACKENDS:
        raise ValueError(f"'backend' must be one of {('auto', ) + BACKENDS} "
                         f"(got '{backend}')")
    else:
        flag = dict(zip(BACKENDS, (WITH_PYMETIS, WITH_TORCH_SPARSE_METIS,
                                   WITH_PYG_LIB_METIS)))[backend]
        if not flag:
            require(backend, f"metis(backend='{backend}')")
            raise ImportError(f"'{backend}' is installed without METIS "
                              f"support")

    if num_parts == 1:
        return torch.arange(num_nodes), torch.tensor([0, num_nodes])

    path, key, cached = _cached(
        cache_dir, 'metis', edge_index, num_nodes, num_parts, log,
        dict(version=_CACHE_VERSION, num_nodes=num_nodes,
             num_parts=num_parts, recursive=bool(recursive), seed=int(seed),
             backend=backend))
    if cached is not None:
        return cached

    rowptr, col, was_symmetric = _symmetric_csr(edge_index, num_nodes)
    if log and not was_symmetric:
        _log('metis: the graph is directed; it is symmetrized for '
             'partitioning')

    t = time.perf_counter()
    cluster = _run_backend(backend, rowptr, col, num_parts, recursive, seed)
    del rowptr, col
    return _finish(cluster, num_parts, path, key, log, t,
                   f'metis: {num_nodes:,} nodes into {num_parts} parts with '
                   f'{backend}')


def permute(data: Data, perm: Tensor) -> Data:
    r"""Relabels the nodes of :obj:`data` so that new node :obj:`i` is old
    node :obj:`perm[i]`.

    Every node-level tensor (features, labels, masks, ...) is reordered,
    :obj:`edge_index` is relabelled (the order of edges is kept, so
    :obj:`edge_weight`, :obj:`edge_attr` and every other edge-level tensor
    stay aligned with it), and the sparse adjacency attributes
    :obj:`adj_t` and :obj:`adj` are permuted on both dimensions. Other sparse
    node-level tensors (e.g. a sparse :obj:`x`) have their rows permuted.
    A tensor of another length than :obj:`num_nodes` and :obj:`num_edges`
    that is not clearly graph-level raises a :class:`ValueError` (see
    :func:`~pyg_gas.graph.check_graph_attr`): it is most likely a node-level
    attribute of the wrong length, which would be left unpermuted.

    The result remembers :obj:`perm`, the original id of each of its nodes
    (see :func:`original_ids`), outside of its node attributes, so that
    loaders do not slice it into batches; permuting it again composes the
    permutations.

    Args:
        data (Data): The graph.
        perm (torch.Tensor): A permutation of :obj:`[0, num_nodes)`, as
            returned by :func:`metis`.
    """
    if not isinstance(data, Data):
        raise TypeError(f"'data' must be a 'Data' object "
                        f"(got {type(data).__name__})")
    num_nodes = data.num_nodes
    if not isinstance(perm, Tensor) or perm.dtype != torch.long or (
            perm.dim() != 1):
        raise TypeError("'perm' must be a one-dimensional tensor of type "
                        "torch.long")
    expected = f"'perm' must be a permutation of [0, {num_nodes})"
    if perm.numel() != num_nodes:
        raise ValueError(f'{expected} (got {perm.numel()} entries)')
    if num_nodes > 0 and (int(perm.min()) < 0 or int(perm.max()) >= num_nodes
                          or not bool((torch.bincount(perm) == 1).all())):
        raise ValueError(f'{expected} (got repeated or out-of-range entries)')

    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(num_nodes, device=perm.device)

    # A shallow copy: every tensor that changes is replaced, so copying all
    # of them first would only double the peak memory.
    out = copy.copy(data)
    for key, value in data.items():
        if key == 'edge_index':
            ei = value.as_subclass(Tensor)
            out[key] = inv.to(ei.device)[ei]
        elif key in ADJ_KEYS and is_sparse(value):
            out[key] = _permute_sparse(value, perm, inv)
        elif is_sparse(value) and value.size(0) == num_nodes:
            out[key] = _permute_sparse_rows(value, perm)
        elif isinstance(value, Tensor) and data.is_node_attr(key):
            dim = data.__cat_dim__(key, value)
            out[key] = value.index_select(dim, perm.to(value.device))
        elif key != 'num_nodes' and not data.is_edge_attr(key):
            check_graph_attr(data, key, value)  # Not a short node attr.
    before = original_ids(data)
    out.__dict__[_ORIGINAL_IDS] = perm if before is None else before[
        perm.to(before.device)]
    return out


#: Where :func:`permute` records the original node ids: in the
#: :class:`Data` object's own dictionary, which :func:`copy.copy` (and so
#: most transforms) keeps, and not in its storage, whose tensors of
#: :obj:`num_nodes` rows PyG takes for node attributes.
_ORIGINAL_IDS = '_pyg_gas_original_ids'


def split_clusters(ptr: Tensor, rowptr: Any, max_edges: int) -> Tensor:
    r"""Splits every cluster of :obj:`ptr` with more than :obj:`max_edges`
    in-edges into consecutive node ranges of at most :obj:`max_edges`
    in-edges each, and returns the finer cluster boundaries.

    A mini-batch of :class:`~pyg_gas.SubgraphLoader` holds the edges into
    its clusters and a halo of at most one row per edge, so bounding the
    edges of every cluster bounds the memory of every batch, whatever the
    size of the graph or the quality of its partition: with a fixed
    :obj:`max_edges`, a batch of one range holds at most :obj:`max_edges`
    edges and halo rows, on :math:`10^5` nodes as on :math:`10^7`. GAS
    stays exact, since any split of the nodes into ranges is a valid
    partition; only the share of edges that cross batches (and so come from
    the histories) grows.

    A cluster is cut from its first node on. Each range takes an equal
    share of the edges left, :math:`E' / \lceil E' / \text{max\_edges}
    \rceil` for :math:`E'` edges left, or as many as the bound allows where
    the rest would otherwise need more ranges; most clusters of :math:`E`
    edges so split into :math:`\lceil E / \text{max\_edges} \rceil` ranges
    of about equal edge counts. A node with more than :obj:`max_edges`
    in-edges is a range of its own (the one case where a range exceeds the
    bound). Clusters within the bound, empty ones included, are kept as
    they are, so splitting twice with the same bound changes nothing.

    Args:
        ptr (torch.Tensor): The cluster boundaries, e.g. from
            :func:`~pyg_gas.metis`, of a graph in cluster order.
        rowptr (torch.Tensor or numpy.ndarray): The int32 or int64 row
            pointers of the graph's CSR, whose rows are the edges'
            targets, e.g. the :obj:`rowptr` of a
            :class:`~pyg_gas.storage.DiskDataset` (read by binary search
            only: a memory-mapped array stays on disk).
        max_edges (int): The most in-edges of a range.
    """
    check_int('max_edges', max_edges)
    rowptr = _index_array('rowptr', rowptr)  # A memory map stays one.
    if rowptr.size < 1:
        raise ValueError("'rowptr' must hold at least one entry (got none)")
    ptr = check_ptr(ptr, rowptr.size - 1)

    def last_within(start: int, edges: int) -> int:
        # The last node end such that [start, end) has at most 'edges'
        # edges, and at least one node.
        end = int(np.searchsorted(rowptr, int(rowptr[start]) + edges,
                                  side='right')) - 1
        return max(end, start + 1)

    cuts = [0]
    for lo, hi in zip(ptr[:-1].tolist(), ptr[1:].tolist()):
        start = lo
        while hi - start > 1:
            left = int(rowptr[hi]) - int(rowptr[start])
            if left <= max_edges:
                break
            pieces = -(-left // max_edges)
            # An equal share of the edges left, or as many as the bound
            # allows if the rest would then need more ranges:
            end = min(last_within(start, left // pieces), hi)
            rest = int(rowptr[hi]) - int(rowptr[end])
            if -(-rest // max_edges) > pieces - 1:
                end = min(last_within(start, max_edges), hi)
            start = end
            cuts.append(start)
        if hi > cuts[-1] or hi == lo:
            cuts.append(hi)
    return torch.tensor(cuts, dtype=torch.long)


def original_ids(data: Any) -> Optional[Tensor]:
    r"""The original id of every node of a clustered graph: :obj:`perm` of
    :func:`permute` (composed over repeated calls), or the :obj:`perm`
    array of a prepared :class:`~pyg_gas.storage.DiskDataset`. Entry
    :obj:`i` is the id, in the graph before it was reordered, of node
    :obj:`i`. Returns :obj:`None` for a graph that records none (e.g. one
    never permuted, or a copy built from scratch).

    Args:
        data (Data or DiskDataset): The graph.
    """
    if isinstance(data, Data):
        return data.__dict__.get(_ORIGINAL_IDS)
    perm = getattr(data, 'perm', None)  # A prepared dataset.
    return perm if isinstance(perm, Tensor) else None


def _permute_sparse_rows(value: Any, perm: Tensor) -> Any:
    if WITH_TORCH_SPARSE and isinstance(value, SparseTensor):
        return value.index_select(0, perm)
    out = value.to_sparse_coo().index_select(0, perm.to(value.device))
    return out.to_sparse_csr() if value.layout == torch.sparse_csr else out


def _permute_sparse(adj: Any, perm: Tensor, inv: Tensor) -> Any:
    if WITH_TORCH_SPARSE and isinstance(adj, SparseTensor):
        return adj.permute(perm)
    edge_index, value, _ = sparse_to_edge_index(adj)
    col, row = inv[edge_index]
    out = torch.sparse_coo_tensor(torch.stack([row, col]), value,
                                  adj.size()).coalesce()
    if adj.layout == torch.sparse_csr:
        out = out.to_sparse_csr()
    return out


# Bounded-memory partitioning #################################################

#: The methods of :func:`partition_csr`.
STREAM_METHODS = ('ldg', )
StreamMethod = Literal['ldg']
#: Up to this many parts, :func:`partition_csr` renumbers the parts so that
#: parts joined by many edges get consecutive ids (it holds a
#: :obj:`[num_parts, num_parts]` matrix of edge counts for that).
MAX_ORDERED_PARTS = 1024
_STREAM_CACHE_VERSION = 1
_INDEX_TYPES = (np.dtype(np.int32), np.dtype(np.int64))


def _index_array(name: str, value: Any) -> np.ndarray:
    # A one-dimensional int32/int64 NumPy view of a CPU tensor or array
    # (a memory map stays one: nothing is read here).
    if isinstance(value, Tensor):
        if value.layout != torch.strided:
            raise TypeError(f"'{name}' must be a dense tensor "
                            f"(got layout {value.layout})")
        dtype = str(value.dtype)
        array = value.detach().cpu().numpy() if value.dtype in (
            torch.int32, torch.int64) else None
    elif isinstance(value, np.ndarray):
        dtype, array = str(value.dtype), value
        if array.dtype not in _INDEX_TYPES:
            array = None
    else:
        raise TypeError(f"'{name}' must be a torch.Tensor or a NumPy array "
                        f"(got {type(value).__name__})")
    if array is None:
        raise TypeError(f"'{name}' must hold int32 or int64 indices "
                        f"(got dtype {dtype})")
    if array.ndim != 1:
        raise ValueError(f"'{name}' must be one-dimensional "
                         f"(got shape {list(array.shape)})")
    return array


def _check_rowptr(rowptr: np.ndarray, num_edges: int) -> None:
    # 'rowptr' runs from 0 to 'num_edges' without decreasing: one pass over
    # it, chunk by chunk.
    first, last = int(rowptr[0]), int(rowptr[-1])
    if first != 0:
        raise ValueError(f"'rowptr' must start at 0 (got {first})")
    if last != num_edges:
        raise ValueError(f"'rowptr' must end at the length of 'col', "
                         f"{num_edges} (got {last})")
    for lo in range(0, rowptr.shape[0] - 1, _CHUNK):
        diff = np.diff(np.asarray(rowptr[lo:lo + _CHUNK + 1]))
        if bool((diff < 0).any()):
            i = lo + int(np.argmax(diff < 0))
            raise ValueError(f"'rowptr' must be non-decreasing (got "
                             f"rowptr[{i + 1}] = {int(rowptr[i + 1])} < "
                             f"rowptr[{i}] = {int(rowptr[i])})")


def _row_chunks(rowptr: np.ndarray, chunk_size: int) -> np.ndarray:
    # Row ranges [lo, hi) of at most 'chunk_size' rows and entries each (a
    # single row when it alone has more entries): [num_chunks + 1] bounds.
    num_nodes = rowptr.shape[0] - 1
    bounds, lo = [0], 0
    while lo < num_nodes:
        hi = int(np.searchsorted(rowptr, int(rowptr[lo]) + chunk_size,
                                 side='right')) - 1
        lo = min(max(hi, lo + 1), lo + chunk_size, num_nodes)
        bounds.append(lo)
    return np.asarray(bounds, dtype=np.int64)


class _LDG:
    r"""The state of a streaming partition: the part of every node
    (:obj:`-1` while unassigned) and the size of every part."""
    def __init__(self, num_nodes: int, num_parts: int, capacity: int,
                 block: int) -> None:
        self.num_parts, self.capacity, self.block = num_parts, capacity, block
        dtype = np.int16 if num_parts <= np.iinfo(np.int16).max else np.int32
        self.part = np.full(num_nodes, -1, dtype=dtype)  # [N]
        self.sizes = np.zeros(num_parts, dtype=np.int64)  # [P]

    def run_chunk(self, lo: int, hi: int, rowptr: np.ndarray, nbr: np.ndarray,
                  rng: np.random.Generator, first: bool) -> int:
        # One chunk: rows [lo, hi), their neighbours 'nbr' and their offsets
        # 'rowptr' into it, in blocks of rows taken in a random order.
        # Returns how many nodes moved.
        moved = 0
        starts = np.arange(lo, hi, self.block)
        for i in rng.permutation(starts.shape[0]):
            start = int(starts[i])
            end = min(start + self.block, hi)
            moved += self.run_block(start, end, rowptr[start - lo:end - lo + 1],
                                    nbr, first)
        return moved

    def run_block(self, start: int, end: int, rowptr: np.ndarray,
                  nbr: np.ndarray, first: bool) -> int:
        # Each node of [start, end) picks the part that maximizes the LDG
        # score 'count * (capacity - size)' (its neighbours in the part,
        # weighted by the room left), ties going to the smaller part; all at
        # once, from the sizes before the block. Parts take the movers with
        # the highest gains first, and no more than they have room for.
        num_parts, capacity = self.num_parts, self.capacity
        num_rows = end - start
        u = nbr[rowptr[0]:rowptr[-1]]  # [num_entries]
        local = np.repeat(np.arange(num_rows), np.diff(rowptr))
        part_u = self.part[u].astype(np.int64)
        keep = u != local + start  # Self-loops carry no preference.
        if first:
            keep &= part_u >= 0
        key = local[keep] * num_parts + part_u[keep]
        del u, part_u, keep, local
        if num_rows * num_parts <= 4 * key.shape[0] + 1024:
            count = np.bincount(key, minlength=num_rows * num_parts)
            key = np.flatnonzero(count)  # Sorted (node, part) pairs.
            count = count[key]
        else:
            key, count = np.unique(key, return_counts=True)
        node, part = key // num_parts, key % num_parts  # [num_pairs]
        cur = self.part[start:end].astype(np.int64)  # [num_rows]
        size = self.sizes[part]  # Without the node itself:
        if not first:
            size -= part == cur[node]
        score = count * (capacity - size)
        score[size >= capacity] = -1  # Full.

        # The best pair of each node: the highest score, then the smallest
        # part, then the lowest id.
        starts = np.flatnonzero(np.diff(node, prepend=-1))  # [num_nodes']
        nodes = node[starts]  # The nodes with a pair.
        if starts.size:
            top = np.maximum.reduceat(score, starts)
            lengths = np.diff(np.append(starts, node.shape[0]))
            tie = np.where(score == np.repeat(top, lengths),
                           size * num_parts + part, np.iinfo(np.int64).max)
            best = np.minimum.reduceat(tie, starts) % num_parts
        else:
            top = best = nodes
        if first:
            want = top > 0
            gain = top[want]
        else:  # The score of the current part, 0 without a neighbour in it.
            own = np.zeros(num_rows, dtype=np.int64)
            mine = part == cur[node]
            own[node[mine]] = score[mine]
            want = top > own[nodes]
            gain = top[want] - own[nodes[want]]
        movers, target = nodes[want], best[want]

        # Parts take the highest gains first, up to their free room:
        order = np.lexsort((movers, -gain, target))
        movers, target = movers[order], target[order]
        rank = np.arange(target.shape[0]) - np.searchsorted(target, target)
        fits = rank < (capacity - self.sizes)[target]
        movers, target = movers[fits], target[fits]
        if first:  # The others go round the least loaded parts.
            rest = np.setdiff1d(np.arange(num_rows), movers,
                                assume_unique=True)
            if rest.size:
                sizes = self.sizes + np.bincount(target, minlength=num_parts)
                movers = np.concatenate([movers, rest])
                target = np.concatenate([target, self._spread(
                    sizes, rest.shape[0])])
        else:
            self.sizes -= np.bincount(cur[movers], minlength=num_parts)
        self.sizes += np.bincount(target, minlength=num_parts)
        self.part[start + movers] = target
        return int(movers.shape[0])

    def _spread(self, sizes: np.ndarray, count: int) -> np.ndarray:
        # The parts of 'count' more nodes, filling the least loaded parts
        # up to a common level (water-filling), in part order.
        lo, hi = int(sizes.min()), self.capacity
        while lo < hi:  # The lowest level that takes them all.
            mid = (lo + hi) // 2
            if int(np.clip(mid - sizes, 0, None).sum()) >= count:
                hi = mid
            else:
                lo = mid + 1
        fill = np.clip(lo - 1 - sizes, 0, None)
        more = np.flatnonzero(sizes + fill < lo)[:count - int(fill.sum())]
        fill[more] += 1
        return np.repeat(np.arange(self.num_parts), fill)


def _order_parts(weight: np.ndarray) -> np.ndarray:
    # An order of the parts in which parts joined by many edges are next to
    # each other: a path through all parts built greedily, heaviest
    # connection first (the greedy-edge heuristic of the travelling
    # salesman problem), on the [P, P] matrix of edge counts, from its end
    # of lower id. Deterministic: ties go to the lower ids.
    num_parts = weight.shape[0]
    weight = weight + weight.T
    i, j = np.triu_indices(num_parts, 1)
    degree = np.zeros(num_parts, dtype=np.int64)
    links: list = [[] for _ in range(num_parts)]
    root = list(range(num_parts))  # Union-find: no cycle.

    def find(a: int) -> int:
        while root[a] != a:
            root[a] = root[root[a]]
            a = root[a]
        return a

    num_links = 0
    for k in np.lexsort((j, i, -weight[i, j])):
        a, b = int(i[k]), int(j[k])
        if degree[a] < 2 and degree[b] < 2 and find(a) != find(b):
            root[find(a)] = find(b)
            degree[a] += 1
            degree[b] += 1
            links[a].append(b)
            links[b].append(a)
            num_links += 1
            if num_links == num_parts - 1:
                break
    order = [int(np.flatnonzero(degree < 2)[0])]
    while len(order) < num_parts:
        prev = order[-2] if len(order) > 1 else -1
        order.append(next(b for b in links[order[-1]] if b != prev))
    return np.asarray(order, dtype=np.int64)


def _check_out(out: Any, num_nodes: int, device: torch.device) -> None:
    # 'out' of a result of one integer a node.
    if not isinstance(out, Tensor) or out.dtype != torch.long:
        got = (f'dtype {out.dtype}' if isinstance(out, Tensor) else
               type(out).__name__)
        raise TypeError(f"'out' must be a torch.long tensor (got {got})")
    if out.shape != (num_nodes, ) or out.device != device:
        raise ValueError(f"'out' must have shape [{num_nodes}] on {device} "
                         f"(got shape {list(out.shape)} on {out.device})")


def _new_part_ids(part: np.ndarray, num_parts: int,
                  chunks: Iterable[Tuple[int, int, np.ndarray, np.ndarray]]
                  ) -> np.ndarray:
    # The new id of every part, from '_order_parts' of the edge counts
    # between parts, read over the chunks '(lo, hi, ptr, nbr)' of the graph.
    weight = np.zeros(num_parts * num_parts, dtype=np.int64)
    for lo, hi, ptr, nbr in chunks:
        # The part pairs of the chunk's edges, counted '_BLOCK' rows at a
        # time: whole chunks would hold 24 bytes an edge more.
        for a in range(0, hi - lo, _BLOCK):
            b = min(a + _BLOCK, hi - lo)
            row = np.repeat(part[lo + a:lo + b].astype(np.int64),
                            np.diff(ptr[a:b + 1]))
            row *= num_parts
            row += part[nbr[ptr[a]:ptr[b]]]
            weight += np.bincount(row, minlength=num_parts * num_parts)
            del row
    order = _order_parts(weight.reshape(num_parts, num_parts))
    new_id = np.empty(num_parts, dtype=np.int64)
    new_id[order] = np.arange(num_parts)
    return new_id


def partition_csr(
    rowptr: Union[Tensor, np.ndarray],
    col: Union[Tensor, np.ndarray],
    num_parts: int,
    method: StreamMethod = 'ldg',
    seed: int = 0,
    num_passes: int = 8,
    chunk_size: int = 1 << 22,
    imbalance: float = 0.05,
    order_parts: bool = True,
    log: bool = True,
    out: Optional[Tensor] = None,
) -> Tensor:
    r"""Partitions a graph given in CSR form into :obj:`num_parts` balanced
    clusters of few cut edges, in bounded memory: by restreamed linear
    deterministic greedy (LDG) partitioning, from the `"Streaming Graph
    Partitioning for Large Distributed Graphs"
    <https://doi.org/10.1145/2339530.2339722>`_ and `"Restreaming Graph
    Partitioning: Simple Versatile Algorithms for Advanced Balancing"
    <https://doi.org/10.1145/2487575.2487696>`_ papers.

    The graph is read chunk by chunk (rows :obj:`[lo, hi)` of at most
    :obj:`chunk_size` rows and entries), so :obj:`rowptr` and :obj:`col`
    may be memory-mapped (:class:`numpy.memmap`, or tensors that share
    their memory): besides chunk-sized temporaries, only the cluster of
    every node (:obj:`int16`, or :obj:`int32` beyond 32,767 parts) and the
    part sizes are held.

    A first pass streams the nodes, chunks and blocks of rows within them
    in a random order (drawn from :obj:`seed`), and puts each node into
    the part :math:`p` that maximizes

    .. math::
        |\mathcal{N}(v) \cap S_p| \cdot \left(1 - \frac{|S_p|}{C}\right),

    the neighbours already placed there weighted by the room left of the
    capacity :math:`C = (1 + \epsilon) N / P`. Ties go to the smaller
    part, so nodes without placed neighbours spread over the least loaded
    parts. The nodes of a block of rows (up to :obj:`4096`, and an eighth
    of :math:`C`) choose at once; parts take the highest gains first and no
    more nodes than they have room for. :obj:`num_passes` more passes
    restream the graph: each node moves to its best part if that scores
    strictly higher than its own (a size-constrained label propagation).
    They stop early once a pass moves no node. Finally, with
    :obj:`order_parts`, the parts are renumbered so that parts joined by
    many edges get consecutive ids (which keeps the halos of batches of
    consecutive clusters small, as METIS' numbering does).

    Every part holds at most :math:`C = \max(\lceil N / P \rceil,
    \lfloor (1 + \epsilon) N / P \rfloor)` nodes; parts are not bounded
    from below (LDG keeps them close to :math:`N / P`, but a part may end
    up smaller, and on degenerate graphs even empty). The label propagation
    only moves nodes into parts with room (it does not swap them), so the
    less room :math:`\epsilon` leaves, the fewer mistakes of the first pass
    it can undo. The result is deterministic for a given input and
    options (:obj:`seed` and :obj:`chunk_size` included).

    On graphs of clear community structure it cuts about as many edges as
    METIS (the synthetic OGB-sized graphs of
    :mod:`pyg_gas.datasets.synthetic`: 6% fewer to 7% more, see
    ``benchmarks/partition_bounded.py``); on sparse irregular graphs, where
    METIS' multilevel scheme shines, clearly more (Cora in 7 parts: 21% of
    the edges against METIS' 9%).

    Args:
        rowptr (torch.Tensor or numpy.ndarray): The row offsets of the
            CSR, :obj:`int64` (or :obj:`int32`), non-decreasing from
            :obj:`0` to :obj:`col.numel()`.
        col (torch.Tensor or numpy.ndarray): The neighbours of each node,
            :obj:`col[rowptr[i]:rowptr[i + 1]]` for node :obj:`i`
            (:obj:`int32` or :obj:`int64`). For the loaders' halos these
            are the in-neighbours (sources); an undirected graph stores
            both directions. Self-loops are ignored, repeated entries count
            as often as they appear.
        num_parts (int): The number of parts, in :obj:`[1, num_nodes]`.
        method (str, optional): The streaming heuristic; :obj:`'ldg'`.
            (default: :obj:`'ldg'`)
        seed (int, optional): The seed of the streaming order.
            (default: :obj:`0`)
        num_passes (int, optional): The restreaming passes after the first
            one, at most. (default: :obj:`8`)
        chunk_size (int, optional): The most rows and entries of :obj:`col`
            read at once. (default: :obj:`4194304`)
        imbalance (float, optional): The tolerated excess :math:`\epsilon`
            of a part over :math:`N / P` nodes. (default: :obj:`0.05`)
        order_parts (bool, optional): Renumbers the parts by their
            connections (up to :obj:`MAX_ORDERED_PARTS` parts; one more pass
            over the graph). (default: :obj:`True`)
        log (bool, optional): Reports progress on stderr.
            (default: :obj:`True`)
        out (torch.Tensor, optional): A CPU tensor of type :obj:`torch.long`
            and shape :obj:`[num_nodes]` to write the parts into, e.g. one
            in a memory-mapped scratch file
            (:func:`~pyg_gas.utils.scratch_tensor`), so that the result
            takes no memory. (default: :obj:`None`)

    Returns:
        torch.Tensor: The part of every node, :obj:`int64` of shape
        :obj:`[num_nodes]` (:obj:`out`, if given). :func:`parts_to_perm`
        turns it into the :obj:`(perm, ptr)` of :func:`metis`.
    """
    rowptr = _index_array('rowptr', rowptr)
    col = _index_array('col', col)
    num_nodes = rowptr.shape[0] - 1
    if num_nodes < 1:
        raise ValueError(f"Cannot partition an empty graph ('rowptr' has "
                         f"{rowptr.shape[0]} entries, expected "
                         f"num_nodes + 1 >= 2)")
    num_parts = check_int('num_parts', num_parts, 1, num_nodes,
                          integral=True)
    if method not in STREAM_METHODS:
        raise ValueError(f"'method' must be one of {STREAM_METHODS} "
                         f"(got {method!r})")
    seed = check_int('seed', seed, 0, integral=True)
    num_passes = check_int('num_passes', num_passes, 0, integral=True)
    chunk_size = check_int('chunk_size', chunk_size, 1, integral=True)
    imbalance = float(check_number('imbalance', imbalance, 0.0))
    _check_rowptr(rowptr, col.shape[0])
    if out is not None:
        _check_out(out, num_nodes, torch.device('cpu'))

    capacity = max(-(-num_nodes // num_parts),
                   int((1.0 + imbalance) * num_nodes / num_parts))
    block = max(1, min(4096, capacity // 8))
    state = _LDG(num_nodes, num_parts, capacity, block)
    bounds = _row_chunks(rowptr, chunk_size)
    rng = np.random.default_rng(seed)

    def chunks(order: np.ndarray) -> Any:
        # The chunks in 'order': (lo, hi, rowptr from 0, neighbours).
        for c in order:
            lo, hi = int(bounds[c]), int(bounds[c + 1])
            ptr = np.asarray(rowptr[lo:hi + 1], dtype=np.int64)
            nbr = np.asarray(col[ptr[0]:ptr[-1]])  # A view of a memmap.
            yield lo, hi, ptr - ptr[0], nbr

    t = time.perf_counter()
    for step in range(1 + num_passes):
        first, moved = step == 0, 0
        for lo, hi, ptr, nbr in chunks(rng.permutation(bounds.shape[0] - 1)):
            if first and nbr.size and (int(nbr.min()) < 0 or
                                       int(nbr.max()) >= num_nodes):
                bad = int(nbr.min()) if int(nbr.min()) < 0 else int(nbr.max())
                raise ValueError(f"'col' holds the index {bad}, out of range "
                                 f"for {num_nodes} nodes (rows {lo} to "
                                 f"{hi - 1})")
            moved += state.run_chunk(lo, hi, ptr, nbr, rng, first)
        if log:
            what = 'placed' if first else 'moved'
            _log(f'partition_csr: pass {step}: {moved:,} nodes {what} '
                 f'({time.perf_counter() - t:.2f}s)')
        if not first and moved == 0:
            break
    part = state.part  # [N], int16 or int32
    del state

    new_id = None
    if order_parts and 2 < num_parts <= MAX_ORDERED_PARTS:
        new_id = _new_part_ids(
            part, num_parts, chunks(np.arange(bounds.shape[0] - 1)))
    if out is None:
        out = torch.empty(num_nodes, dtype=torch.long)
    result = out.numpy()
    for lo in range(0, num_nodes, chunk_size):
        chunk = part[lo:lo + chunk_size]
        result[lo:lo + chunk_size] = chunk if new_id is None else new_id[
            chunk]
    return out


def parts_to_perm(part: Tensor, num_parts: int, out: Optional[Tensor] = None,
                  chunk_size: int = 1 << 18) -> Tuple[Tensor, Tensor]:
    r"""Turns the part of every node into the node order of :func:`metis`:
    :obj:`perm` lists the nodes of part :obj:`0`, then those of part
    :obj:`1`, ..., each part's in increasing id order (a stable sort), so
    that part :obj:`i` consists of the nodes :obj:`perm[ptr[i]:ptr[i + 1]]`
    (:obj:`perm[new_position] = old_id`). Empty parts repeat a value of
    :obj:`ptr`.

    It is a counting sort over chunks of :obj:`chunk_size` nodes: beyond
    :obj:`perm` and :obj:`ptr`, memory holds one chunk's temporaries, so
    that with an :obj:`out` in a memory-mapped file (see
    :func:`pyg_gas.utils.scratch_tensor`) the node order of a graph larger
    than memory takes none of it. The result equals a stable
    :func:`torch.argsort` of :obj:`part`, whatever the chunk size.

    Args:
        part (torch.Tensor): The part of every node, an integer tensor of
            shape :obj:`[num_nodes]` with values in :obj:`[0, num_parts)`.
        num_parts (int): The number of parts.
        out (torch.Tensor, optional): The tensor to write :obj:`perm` into,
            :obj:`torch.long` of shape :obj:`[num_nodes]` on the device of
            :obj:`part`. (default: :obj:`None`)
        chunk_size (int, optional): The nodes sorted at once (about 36
            bytes each). (default: :obj:`262144`)

    Returns:
        (torch.Tensor, torch.Tensor): :obj:`perm` of shape
        :obj:`[num_nodes]` (:obj:`out` if given) and :obj:`ptr` of shape
        :obj:`[num_parts + 1]`, both :obj:`torch.long`.
    """
    if not isinstance(part, Tensor):
        raise TypeError(f"'part' must be a torch.Tensor "
                        f"(got {type(part).__name__})")
    if part.is_floating_point() or part.is_complex() or (
            part.dtype == torch.bool):
        raise TypeError(f"'part' must hold integer part ids "
                        f"(got dtype {part.dtype})")
    if part.dim() != 1:
        raise ValueError(f"'part' must be one-dimensional "
                         f"(got shape {list(part.shape)})")
    num_parts = check_int('num_parts', num_parts, 1, integral=True)
    chunk_size = check_int('chunk_size', chunk_size, 1, integral=True)
    num_nodes, device = part.numel(), part.device
    if out is None:
        out = torch.empty(num_nodes, dtype=torch.long, device=device)
    _check_out(out, num_nodes, device)
    if num_nodes > 0:
        lo, hi = int(part.min()), int(part.max())
        if lo < 0 or hi >= num_parts:
            raise ValueError(f"'part' must hold part ids in "
                             f"[0, {num_parts}) (got {lo if lo < 0 else hi})")
    chunks = [(lo, min(lo + chunk_size, num_nodes))
              for lo in range(0, num_nodes, chunk_size)]
    # Part ids as int32 where they fit: sorting them is twice as fast.
    small = torch.int32 if num_parts <= 2**31 else torch.long
    ones = torch.ones(min(chunk_size, num_nodes), dtype=torch.long,
                      device=device)

    # The size of every part, and so where each part's nodes go:
    count = torch.zeros(num_parts, dtype=torch.long, device=device)
    for lo, hi in chunks:
        count.index_add_(0, part[lo:hi].to(small), ones[:hi - lo])
    ptr = torch.zeros(num_parts + 1, dtype=torch.long, device=device)
    torch.cumsum(count, 0, out=ptr[1:])
    cursor = ptr[:-1].clone()  # [num_parts], the next free slot of a part
    del count

    # The nodes of a chunk go to the next free slots of their parts, in id
    # order within a part (a stable sort of the chunk). Chunks come in id
    # order, so this is a stable sort of all. The sorted chunk is a run of
    # nodes per part it holds: the node at position 'i' of the run that
    # starts at 's' goes to 'cursor[part] + i - s'. Every step is chunk-
    # or run-sized, none costs 'num_parts' per chunk.
    for lo, hi in chunks:
        sorted_part, order = torch.sort(part[lo:hi].to(small), stable=True)
        first = torch.ones(hi - lo, dtype=torch.bool, device=device)
        torch.ne(sorted_part[1:], sorted_part[:-1], out=first[1:])
        start = first.nonzero().view(-1)  # [num_runs]
        del first
        run_part = sorted_part.index_select(0, start)
        length = torch.diff(start, append=start.new_full((1, ), hi - lo))
        dest = cursor.index_select(0, run_part).sub_(start)
        dest = dest.repeat_interleave(length, output_size=hi - lo)
        dest.add_(torch.arange(hi - lo, device=device))
        out[dest] = order.add_(lo)
        cursor.index_add_(0, run_part, length)
        del sorted_part, order, start, run_part, length, dest
    return out, ptr


def _in_csr(edge_index: Tensor, num_nodes: int) -> Tuple[np.ndarray,
                                                          np.ndarray]:
    # The CSR of the in-edges '(rowptr, col)': the sources of node i are
    # 'col[rowptr[i]:rowptr[i + 1]]' (in edge order), 'col' as int32 when
    # the ids fit. A counting sort, chunk by chunk: besides the CSR, it
    # holds chunk-sized temporaries and the [num_nodes] fill offsets.
    src, dst = edge_index[0].numpy(), edge_index[1].numpy()
    chunks = range(0, src.shape[0], _CHUNK)
    rowptr = np.zeros(num_nodes + 1, dtype=np.int64)
    for lo in chunks:
        rowptr[1:] += np.bincount(dst[lo:lo + _CHUNK], minlength=num_nodes)
    np.cumsum(rowptr, out=rowptr)
    small = num_nodes <= np.iinfo(np.int32).max
    col = np.empty(src.shape[0], dtype=np.int32 if small else np.int64)
    fill = rowptr[:-1].copy()  # [num_nodes] The next free slot of a row.
    for lo in chunks:
        d = torch.from_numpy(np.ascontiguousarray(dst[lo:lo + _CHUNK]))
        d, order = torch.sort(d, stable=True)
        d, order = d.numpy(), order.numpy()
        rank = np.arange(d.shape[0]) - np.searchsorted(d, d)
        col[fill[d] + rank] = src[lo:lo + _CHUNK][order]
        last = np.flatnonzero(np.diff(d, append=-1))  # Ends of the runs.
        fill[d[last]] += 1 + rank[last]
    return rowptr, col


def stream_partition(
    data_or_edge_index: Union[Data, Tensor, Any],
    num_parts: int,
    method: StreamMethod = 'ldg',
    seed: int = 0,
    num_passes: int = 8,
    chunk_size: int = 1 << 22,
    imbalance: float = 0.05,
    cache_dir: Optional[str] = None,
    num_nodes: Optional[int] = None,
    log: bool = True,
) -> Tuple[Tensor, Tensor]:
    r"""Partitions a graph into :obj:`num_parts` clusters with
    :func:`partition_csr` (restreamed LDG, in bounded memory), and returns
    the node order that makes each cluster one contiguous range: a drop-in
    replacement for :func:`metis`, with the same inputs, output and cache
    contract.

    Cluster :obj:`i` consists of the nodes :obj:`perm[ptr[i]:ptr[i + 1]]`.
    Pass :obj:`perm` to :func:`permute` to relabel the graph accordingly.
    The graph is partitioned by its in-edges, the edges that the halo of a
    mini-batch is made of (an undirected graph stores both directions, so
    it is partitioned as a whole); self-loops are ignored, repeated edges
    count as often as they appear. Every part holds at most
    :math:`\max(\lceil N / P \rceil, \lfloor (1 + \epsilon) N / P
    \rfloor)` nodes.

    Beyond the graph, this builds the in-edge CSR (:obj:`int32` node ids)
    and then needs :func:`partition_csr`'s :math:`O(N)` memory. For a graph
    that does not fit in memory, call :func:`partition_csr` on its
    memory-mapped CSR and :func:`parts_to_perm` directly.

    Partitions are cached in :obj:`cache_dir` as :func:`metis` caches them
    (a key made of the graph's edges without self-loops and all parameters,
    files written atomically and checked before use), in files named after
    :obj:`method`.

    Args:
        data_or_edge_index (Data or torch.Tensor): The graph: a
            :class:`~torch_geometric.data.Data` object, an :obj:`edge_index`
            of shape :obj:`[2, num_edges]`, or a sparse adjacency.
        num_parts (int): The number of partitions, in
            :obj:`[1, num_nodes]`.
        method (str, optional): The heuristic of :func:`partition_csr`.
            (default: :obj:`'ldg'`)
        seed (int, optional): The seed of the streaming order.
            (default: :obj:`0`)
        num_passes (int, optional): The restreaming passes, at most.
            (default: :obj:`8`)
        chunk_size (int, optional): The most rows and edges read at once.
            (default: :obj:`4194304`)
        imbalance (float, optional): The tolerated excess :math:`\epsilon`
            of a part over :math:`N / P` nodes. (default: :obj:`0.05`)
        cache_dir (str, optional): A directory to cache partitions in.
            (default: :obj:`None`)
        num_nodes (int, optional): The number of nodes, if not implied by the
            input. (default: :obj:`None`)
        log (bool, optional): Reports progress on stderr.
            (default: :obj:`True`)

    Returns:
        (torch.Tensor, torch.Tensor): :obj:`perm` of shape
        :obj:`[num_nodes]` and :obj:`ptr` of shape :obj:`[num_parts + 1]`.
    """
    if method not in STREAM_METHODS:
        raise ValueError(f"'method' must be one of {STREAM_METHODS} "
                         f"(got {method!r})")
    edge_index, num_nodes, num_parts = _partition_input(
        data_or_edge_index, num_parts, num_nodes, cache_dir)
    if num_parts == 1:
        return torch.arange(num_nodes), torch.tensor([0, num_nodes])

    path, key, cached = _cached(
        cache_dir, method, edge_index, num_nodes, num_parts, log,
        dict(version=_STREAM_CACHE_VERSION, method=method,
             num_nodes=num_nodes, num_parts=num_parts, seed=int(seed),
             num_passes=int(num_passes), chunk_size=int(chunk_size),
             imbalance=float(imbalance)))
    if cached is not None:
        return cached

    t = time.perf_counter()
    rowptr, col = _in_csr(edge_index, num_nodes)
    part = partition_csr(rowptr, col, num_parts, method=method, seed=seed,
                         num_passes=num_passes, chunk_size=chunk_size,
                         imbalance=imbalance, log=log)
    del rowptr, col
    return _finish(part, num_parts, path, key, log, t,
                   f'{method}: {num_nodes:,} nodes into {num_parts} parts')
