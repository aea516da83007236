import copy
import hashlib
import json
import os.path as osp
import time
from typing import Any, Literal, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from pyg_gas.checks import check_int
from pyg_gas.graph import (
    check_graph_attr,
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


def _symmetric_csr(edge_index: Tensor,
                   num_nodes: int) -> Tuple[Tensor, Tensor, bool]:
    r"""Returns the CSR :obj:`(rowptr, col)` of the undirected simple graph
    underlying :obj:`edge_index` (no self-loops, no duplicates, sorted), and
    whether the input was already symmetric."""
    row, col = edge_index
    mask = row != col
    key = row[mask] * num_nodes + col[mask]
    del mask
    key = torch.unique(key)  # sorted
    # The reversed edges, sorted: equal to the edges for an undirected
    # graph, which then needs no union (the largest temporary saved):
    rev = (key % num_nodes) * num_nodes + key // num_nodes
    rev = rev.sort().values
    was_symmetric = torch.equal(rev, key)
    if not was_symmetric:
        key = torch.unique(torch.cat([key, rev]))
    del rev
    row, col = key // num_nodes, key % num_nodes
    del key
    rowptr = torch.zeros(num_nodes + 1, dtype=torch.long)
    torch.cumsum(torch.bincount(row, minlength=num_nodes), 0, out=rowptr[1:])
    return rowptr, col, was_symmetric


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
                log: bool) -> Optional[Tuple[Tensor, Tensor]]:
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
            _log(f'metis: the cached partition in {path} is inconsistent '
                 f'({problem}); recomputing it')
        return None
    return obj['perm'], obj['ptr']


def _save_cache(path: str, key: str, perm: Tensor, ptr: Tensor) -> None:
    atomic_write(path, lambda f: torch.save(
        {'key': key, 'perm': perm, 'ptr': ptr}, f))


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
    edge_index, num_nodes = get_edge_index(data_or_edge_index, num_nodes)
    edge_index = edge_index.cpu()
    if num_nodes == 0:
        raise ValueError("Cannot partition an empty graph (got 0 nodes)")
    num_parts = check_int('num_parts', num_parts, 1, num_nodes,
                          integral=True)
    if cache_dir is not None:  # Before the work whose result it keeps.
        check_writable_dir('cache_dir', cache_dir)
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

    path = key = None
    if cache_dir is not None:
        params = dict(version=_CACHE_VERSION, num_nodes=num_nodes,
                      num_parts=num_parts, recursive=bool(recursive),
                      seed=int(seed), backend=backend)
        key = _digest(edge_index, params)
        path = osp.join(cache_dir, f'metis_{key[:24]}.pt')
        cached = _load_cache(path, key, num_nodes, num_parts, log)
        if cached is not None:
            if log:
                _log(f'metis: loaded {num_parts} parts from {path}')
            return cached

    rowptr, col, was_symmetric = _symmetric_csr(edge_index, num_nodes)
    if log and not was_symmetric:
        _log('metis: the graph is directed; it is symmetrized for '
             'partitioning')

    t = time.perf_counter()
    cluster = _run_backend(backend, rowptr, col, num_parts, recursive, seed)
    perm = torch.argsort(cluster, stable=True)
    ptr = torch.zeros(num_parts + 1, dtype=torch.long)
    torch.cumsum(torch.bincount(cluster, minlength=num_parts), 0, out=ptr[1:])
    if log:
        _log(f'metis: {num_nodes:,} nodes into {num_parts} parts with '
             f'{backend} in {time.perf_counter() - t:.2f}s')

    if path is not None:
        _save_cache(path, key, perm, ptr)
    return perm, ptr


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
    return out


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
