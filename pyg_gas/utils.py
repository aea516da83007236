r"""Graph helpers shared by partitioning, loaders and models."""
import os
import sys
import tempfile
import warnings
from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.data import Data

from pyg_gas.typing import WITH_TORCH_SPARSE, SparseTensor


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


def log(msg: str) -> None:
    r"""Reports progress of a long step on stderr."""
    print(msg, file=sys.stderr, flush=True)


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    r"""Returns :obj:`value` if it is an :obj:`int` of at least
    :obj:`minimum`, and raises a :class:`TypeError` or :class:`ValueError`
    naming :obj:`name` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"'{name}' must be an int "
                        f"(got {type(value).__name__})")
    if value < minimum:
        raise ValueError(f"'{name}' must be at least {minimum} (got {value})")
    return value


def is_sparse(adj: Any) -> bool:
    r"""Whether :obj:`adj` is a torch sparse tensor or a
    :class:`torch_sparse.SparseTensor`."""
    if WITH_TORCH_SPARSE and isinstance(adj, SparseTensor):
        return True
    return isinstance(adj, Tensor) and adj.layout != torch.strided


def check_edge_index(edge_index: Any, num_nodes: Optional[int] = None,
                     name: str = 'edge_index') -> int:
    r"""Validates a COO :obj:`edge_index` of shape :obj:`[2, num_edges]` and
    returns the number of nodes (inferred as :obj:`max + 1` if not given)."""
    if not isinstance(edge_index, Tensor):
        raise TypeError(f"'{name}' must be a tensor "
                        f"(got {type(edge_index).__name__})")
    if edge_index.is_floating_point() or edge_index.is_complex() or (
            edge_index.dtype == torch.bool):
        raise TypeError(f"'{name}' must hold integer node indices "
                        f"(got dtype {edge_index.dtype})")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"'{name}' must have shape [2, num_edges] "
                         f"(got {list(edge_index.shape)})")
    if num_nodes is not None and (isinstance(num_nodes, bool)
                                  or not isinstance(num_nodes, int)):
        raise TypeError(f"'num_nodes' must be an int "
                        f"(got {type(num_nodes).__name__})")
    if edge_index.numel() > 0:
        lo, hi = int(edge_index.min()), int(edge_index.max())
        if lo < 0:
            raise ValueError(f"'{name}' holds the negative index {lo}")
        if num_nodes is None:
            num_nodes = hi + 1
        elif hi >= num_nodes:
            raise ValueError(f"'{name}' holds the index {hi}, out of range "
                             f"for {num_nodes} nodes (expected < {num_nodes})")
    return int(num_nodes or 0)


def sparse_to_edge_index(adj: Any) -> Tuple[Tensor, Optional[Tensor], int]:
    r"""Turns a transposed adjacency :obj:`adj_t` (torch sparse or
    :class:`SparseTensor`, entry :obj:`(i, j)` for the edge :obj:`j -> i`)
    into :obj:`(edge_index, edge_weight, num_nodes)`."""
    if WITH_TORCH_SPARSE and isinstance(adj, SparseTensor):
        row, col, value = adj.coo()
        num_nodes = max(adj.sparse_sizes())
    else:
        coo = adj.to_sparse_coo().coalesce()
        (row, col), value = coo.indices(), coo.values()
        num_nodes = max(adj.size(0), adj.size(1))
    return torch.stack([col, row], dim=0), value, num_nodes


def get_edge_index(
    data_or_adj: Union[Data, Tensor, Any],
    num_nodes: Optional[int] = None,
) -> Tuple[Tensor, int]:
    r"""Returns the validated :obj:`(edge_index, num_nodes)` of a
    :class:`~torch_geometric.data.Data` object, an :obj:`edge_index` tensor,
    or a (transposed) sparse adjacency."""
    if isinstance(data_or_adj, Data):
        data = data_or_adj
        if num_nodes is None:
            num_nodes = data.num_nodes
        if data.edge_index is not None:
            edge_index = data.edge_index
        elif getattr(data, 'adj_t', None) is not None:
            edge_index, _, _ = sparse_to_edge_index(data.adj_t)
        else:
            raise ValueError("The 'Data' object has neither 'edge_index' nor "
                             "'adj_t'")
        if num_nodes is None:
            num_nodes = check_edge_index(edge_index)
    elif is_sparse(data_or_adj):
        edge_index, _, n = sparse_to_edge_index(data_or_adj)
        num_nodes = n if num_nodes is None else num_nodes
    elif isinstance(data_or_adj, Tensor):
        edge_index = data_or_adj
    else:
        raise TypeError(f"Expected a 'Data' object, an 'edge_index' tensor "
                        f"or a sparse adjacency "
                        f"(got {type(data_or_adj).__name__})")
    edge_index = edge_index.as_subclass(Tensor)
    num_nodes = check_edge_index(edge_index, num_nodes)
    return edge_index.long(), num_nodes


def split_attributes(
    data: Data,
    edge_perm: Tensor,
) -> Tuple[Dict[str, Tensor], Dict[str, Tensor], Dict[str, Any]]:
    r"""Splits the attributes of :obj:`data`, other than its adjacency, into
    node-level, edge-level and graph-level ones.

    Edge-level attributes are reordered by :obj:`edge_perm` (positions in
    the edge order of :func:`get_edge_index`) and moved to the CPU. A graph
    given as a weighted :obj:`adj_t` without :obj:`edge_weight` contributes
    its values as :obj:`edge_weight`. Node-level attributes must be stacked
    along dimension 0; they are returned as they are.
    """
    node_attrs: Dict[str, Tensor] = {}
    edge_attrs: Dict[str, Tensor] = {}
    graph_attrs: Dict[str, Any] = {}
    if data.edge_index is None and 'edge_weight' not in data:
        # The graph came as a weighted 'adj_t': keep its weights, in the
        # same edge order as 'get_edge_index' returned the edges.
        _, value, _ = sparse_to_edge_index(data.adj_t)
        if value is not None and value.dim() == 1:
            edge_attrs['edge_weight'] = value[edge_perm.to(
                value.device)].cpu()
    for key, value in data.items():
        if key in ('edge_index', 'adj_t', 'adj', 'num_nodes'):
            continue
        if isinstance(value, Tensor) and data.is_edge_attr(key):
            edge_attrs[key] = value.index_select(0, edge_perm.to(
                value.device)).cpu()
        elif isinstance(value, Tensor) and data.is_node_attr(key):
            if data.__cat_dim__(key, value) != 0:
                raise ValueError(f"Node attribute '{key}' must be "
                                 f"stacked along dimension 0")
            node_attrs[key] = value
        else:
            graph_attrs[key] = value
    return node_attrs, edge_attrs, graph_attrs


def to_csr(edge_index: Tensor, num_nodes: int) -> Tuple[Tensor, Tensor, Tensor]:
    r"""Groups the edges :obj:`j -> i` of :obj:`edge_index` by target
    :obj:`i`: returns :obj:`(rowptr, col, perm)` such that the sources of
    node :obj:`i` are :obj:`col[rowptr[i]:rowptr[i + 1]]`, and :obj:`perm`
    maps CSR positions to the original edge positions (for edge
    attributes). The sort is stable, so ties keep their input order."""
    src, dst = edge_index[0], edge_index[1]
    perm = torch.argsort(dst, stable=True)
    col = src[perm]
    deg = torch.bincount(dst, minlength=num_nodes)
    rowptr = torch.zeros(num_nodes + 1, dtype=torch.long, device=dst.device)
    torch.cumsum(deg, dim=0, out=rowptr[1:])
    return rowptr, col, perm


def gather_csr(rowptr: Tensor, nodes: Tensor) -> Tuple[Tensor, Tensor]:
    r"""Returns :obj:`(ptr, idx)` where :obj:`idx` concatenates the CSR
    positions of the rows :obj:`nodes`, and :obj:`ptr` delimits each row's
    part of it. Vectorized: no loop over nodes."""
    # Both ends of every row in one gather, from an overlapping view:
    rowptr = rowptr.contiguous()
    ends = rowptr.as_strided((rowptr.numel() - 1, 2),
                             (1, 1)).index_select(0, nodes)  # [num_rows, 2]
    start = ends[:, 0]
    ptr = torch.zeros(nodes.numel() + 1, dtype=torch.long,
                      device=nodes.device)
    torch.cumsum(ends[:, 1] - start, dim=0, out=ptr[1:])
    total = int(ptr[-1])
    # Position k of the output belongs to row r(k) and reads from
    # k + off[r(k)], off = start - ptr[:-1]. So the output is the running
    # sum of ones plus the steps of 'off' at the row starts (the steps of
    # empty rows sum up with the next row's; rows past the end fall into the
    # spare last slot):
    off = start - ptr[:-1]
    step = torch.ones(total + 1, dtype=torch.long, device=nodes.device)
    step.index_add_(0, ptr[:-1], torch.diff(off, prepend=off.new_ones(1)))
    return ptr, step.cumsum_(0)[:total]


def num_target_nodes(adj_t: Any) -> int:
    r"""The number of target (output) nodes of an adjacency as the convs
    receive it: rows of a transposed sparse matrix, or the second sparse size
    of an :class:`~torch_geometric.EdgeIndex`."""
    if WITH_TORCH_SPARSE and isinstance(adj_t, SparseTensor):
        return adj_t.size(0)
    if isinstance(adj_t, Tensor) and adj_t.layout != torch.strided:
        return adj_t.size(0)
    sparse_size = getattr(adj_t, 'sparse_size', None)
    if callable(sparse_size):
        size = sparse_size(1)
        if size is not None:
            return int(size)
    raise ValueError("Cannot tell the number of target nodes of a plain "
                     "'edge_index'; pass a sparse 'adj_t' or an 'EdgeIndex' "
                     "with its sparse size")


_CSR_WARNED = False


def build_adj_t(rowptr: Tensor, col: Tensor, value: Optional[Tensor],
                size: Tuple[int, int], adj_format: str = 'csr') -> Any:
    r"""Builds the transposed adjacency :obj:`adj_t` of shape :obj:`size`
    (targets :math:`\times` sources) from CSR arrays sorted by target, as a
    torch sparse CSR tensor (:obj:`'csr'`) or a
    :class:`torch_sparse.SparseTensor` (:obj:`'sparse_tensor'`)."""
    if adj_format == 'sparse_tensor':
        return SparseTensor(rowptr=rowptr, col=col, value=value,
                            sparse_sizes=size, is_sorted=True,
                            trust_data=True)
    if value is None:
        value = torch.ones(col.numel(), device=col.device)
    global _CSR_WARNED
    if _CSR_WARNED:  # torch warns once per process.
        return torch.sparse_csr_tensor(rowptr, col, value, size=size,
                                       check_invariants=False)
    with warnings.catch_warnings():  # CSR support is "beta" in torch.
        warnings.filterwarnings('ignore', '.*Sparse CSR tensor support.*')
        out = torch.sparse_csr_tensor(rowptr, col, value, size=size,
                                      check_invariants=False)
    _CSR_WARNED = True
    return out


def to_adj_t(edge_index: Tensor, num_nodes: int,
             edge_weight: Optional[Tensor] = None,
             adj_format: str = 'csr') -> Any:
    r"""The transposed adjacency :obj:`adj_t` of a whole graph, entry
    :obj:`(i, j)` holding the weight of the edge :obj:`j -> i`."""
    edge_index = edge_index.as_subclass(Tensor)
    rowptr, col, perm = to_csr(edge_index.cpu(), num_nodes)
    # Canonical order: sources sorted within each target.
    dst = edge_index[1].cpu()[perm]
    order = torch.argsort(dst * max(num_nodes, 1) + col)
    col, perm = col[order], perm[order]
    value = None if edge_weight is None else edge_weight[perm.to(
        edge_weight.device)]
    adj_t = build_adj_t(rowptr, col, None if value is None else value.cpu(),
                        (num_nodes, num_nodes), adj_format)
    return adj_t.to(edge_index.device)


def pad_targets(adj_t: Any, num_rows: int) -> Any:
    r"""Returns :obj:`adj_t` with empty target rows appended up to
    :obj:`num_rows`, for convs that need as many targets as sources (e.g.
    :class:`~torch_geometric.nn.conv.PNAConv`, which concatenates its input
    to its output). The extra rows have no edges."""
    num_targets = num_target_nodes(adj_t)
    if num_targets == num_rows:
        return adj_t
    if WITH_TORCH_SPARSE and isinstance(adj_t, SparseTensor):
        rowptr, col, value = adj_t.csr()
        rowptr = torch.cat([rowptr, rowptr[-1:].expand(num_rows -
                                                        num_targets)])
        return SparseTensor(rowptr=rowptr, col=col, value=value,
                            sparse_sizes=(num_rows, adj_t.size(1)),
                            is_sorted=True, trust_data=True)
    if isinstance(adj_t, Tensor) and adj_t.layout == torch.sparse_csr:
        rowptr = adj_t.crow_indices()
        rowptr = torch.cat([rowptr, rowptr[-1:].expand(num_rows -
                                                        num_targets)])
        return build_adj_t(rowptr, adj_t.col_indices(), adj_t.values(),
                           (num_rows, adj_t.size(1)))
    raise TypeError(f"Cannot pad an adjacency of type "
                    f"'{type(adj_t).__name__}'; pass a sparse CSR 'adj_t'")
