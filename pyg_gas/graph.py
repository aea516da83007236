r"""Graph helpers that every layer of the package may use: validating and
converting adjacencies, CSR building and gathering, the GCN normalization
and cluster boundaries. Nothing here imports from the layers above."""
import copy
import warnings
from typing import Any, Dict, NamedTuple, Optional, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import scatter

from pyg_gas.typing import WITH_TORCH_SPARSE, SparseTensor


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
    along dimension 0; they are returned as they are. A tensor of neither
    level must be clearly graph-level (see :func:`check_graph_attr`).
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
            check_graph_attr(data, key, value)
            graph_attrs[key] = value
    return node_attrs, edge_attrs, graph_attrs


def check_graph_attr(data: Data, key: str, value: Any) -> None:
    r"""Checks that :obj:`data[key]`, which PyG deems neither node- nor
    edge-level, is clearly graph-level: not a tensor, a 0-dimensional
    tensor, a tensor of one row (:obj:`[1, ...]`), or one that PyG
    concatenates along another dimension than the first (e.g. a
    :obj:`*_index` tensor). Any other tensor is taken for a node-level
    attribute of the wrong length (e.g. labels one row short, or
    :obj:`num_nodes` larger than the rows of :obj:`x`), which would
    otherwise be carried whole, unpermuted, into every batch: it raises a
    :class:`ValueError` naming the attribute, its size and the expected
    :obj:`num_nodes`."""
    if not isinstance(value, Tensor) or value.dim() == 0 or (
            value.size(0) == 1 or data.__cat_dim__(key, value) != 0):
        return
    raise ValueError(f"Attribute '{key}' has {value.size(0)} rows (shape "
                     f"{list(value.shape)}), but the graph has "
                     f"num_nodes={data.num_nodes} (and {data.num_edges} "
                     f"edges): a node-level attribute needs one row per "
                     f"node, and a graph-level tensor a leading dimension "
                     f"of 1")


def check_finite_values(name: str, value: Any, chunk: int = 1 << 22) -> None:
    r"""Raises a :class:`ValueError` naming :obj:`name` and the count of
    non-finite entries (:obj:`nan`, :obj:`inf`) if the floating-point
    tensor :obj:`value` has any. One pass in chunks of :obj:`chunk` entries,
    so the temporary stays small. Other values (integer tensors, a
    :class:`torch_sparse.SparseTensor`) pass; a torch sparse tensor's
    stored values are checked."""
    if not isinstance(value, Tensor):
        return
    if value.layout == torch.sparse_coo:
        value = value._values()  # Coalesced or not.
    elif value.layout != torch.strided:
        value = value.values()
    if not (value.is_floating_point() or value.is_complex()):
        return
    flat = value.reshape(-1)
    count = 0
    for lo in range(0, flat.numel(), chunk):
        part = flat[lo:lo + chunk]
        count += part.numel() - int(torch.isfinite(part).sum())
    if count > 0:
        raise ValueError(f"'{name}' holds {count} non-finite values (nan or "
                         f"inf) of {flat.numel()}; they would spread through "
                         f"every layer. Clean them, or pass "
                         f"'check_finite=False' to skip this check")


class ClusteredCSR(NamedTuple):
    r"""A clustered graph in the CSR form that the mini-batch loaders read
    (rows are targets, see :func:`to_csr`), as a graph held elsewhere (e.g.
    on disk, see :class:`~pyg_gas.storage.DiskDataset`) hands itself to
    them. Its tensors may be memory-mapped: the loaders index them and copy
    nothing else."""
    num_nodes: int
    rowptr: Tensor  # [N + 1], int64
    col: Tensor  # [E], int32 or int64: the source of each edge
    node_attrs: Dict[str, Tensor]  # [N, ...] each
    edge_attrs: Dict[str, Tensor]  # [E, ...] each, in CSR order
    graph_attrs: Dict[str, Any]
    #: Types that node attributes are cast to once gathered (e.g. features
    #: stored in half precision, computed on in float32).
    casts: Dict[str, torch.dtype]
    #: What to pickle instead of the tensors (e.g. the dataset, which
    #: pickles as its path), or :obj:`None` to pickle the tensors.
    source: Any = None


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


def cast_adj(adj_t: Any, dtype: torch.dtype) -> Any:
    r"""Returns :obj:`adj_t` with its floating-point edge values in
    :obj:`dtype`, so that a model of another type than the default (e.g.
    :obj:`model.double()`) runs on batches whose weights the loaders built
    in float32. An adjacency without values, or with values of
    :obj:`dtype` already, is returned as it is."""
    if is_sparse(adj_t) and not isinstance(adj_t, Tensor):  # SparseTensor
        value = adj_t.storage.value()
        if value is not None and value.is_floating_point() and \
                value.dtype != dtype:
            return adj_t.set_value(value.to(dtype), layout='coo')
        return adj_t
    if isinstance(adj_t, Tensor) and adj_t.layout != torch.strided and \
            adj_t.is_floating_point() and adj_t.dtype != dtype:
        return adj_t.to(dtype)
    return adj_t


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


def check_ptr(ptr: Any, num_nodes: int) -> Tensor:
    r"""Validates the cluster boundaries :obj:`ptr` returned by
    :func:`~pyg_gas.metis`."""
    if not isinstance(ptr, Tensor) or ptr.dtype != torch.long or (
            ptr.dim() != 1):
        raise TypeError("'ptr' must be a one-dimensional tensor of type "
                        "torch.long, as returned by 'metis'")
    if ptr.numel() < 2 or int(ptr[0]) != 0 or int(ptr[-1]) != num_nodes:
        got = (ptr.tolist() if ptr.numel() < 2 else
               f'ptr[0]={int(ptr[0])}, ptr[-1]={int(ptr[-1])}')
        raise ValueError(f"'ptr' must run from 0 to the number of nodes "
                         f"({num_nodes}) (got {got})")
    if bool((ptr[1:] < ptr[:-1]).any()):
        raise ValueError("'ptr' must be non-decreasing")
    return ptr.cpu()


def add_node_self_loops(data: Data, keep_existing: bool = False) -> Data:
    r"""Returns a shallow copy of :obj:`data` whose :obj:`edge_index` holds
    the edges of :obj:`data` that are not self-loops, in their order,
    followed by one self-loop per node :math:`0, \ldots, N - 1`.

    Every edge-level attribute (:obj:`edge_weight`, :obj:`edge_attr` and
    any other that PyG deems edge-level) is realigned with the new edges:
    the rows of the kept edges are kept, and the row of node :math:`i`'s
    self-loop is

    * with :obj:`keep_existing=True`, the row of an existing self-loop of
      :math:`i` (the last one if :math:`i` has several), as in PyG's
      :func:`~torch_geometric.utils.add_remaining_self_loops`;
    * otherwise, or if :math:`i` has none, :obj:`1` for
      :obj:`edge_weight`, and for any other attribute the mean of the rows
      of :math:`i`'s incoming edges that are not self-loops (zeros if it
      has none), as :class:`~torch_geometric.nn.conv.GATConv` fills them
      (:obj:`fill_value='mean'`).
    """
    if data.edge_index is None:
        raise ValueError("Adding self-loops needs 'edge_index' (the graph "
                         "has none; convert 'adj_t' with "
                         "'torch_geometric.transforms.ToUndirected' or build "
                         "the Data with an 'edge_index')")
    num_nodes = data.num_nodes
    edge_index = data.edge_index
    src, dst = edge_index[0], edge_index[1]
    not_loop = src != dst
    loop = torch.arange(num_nodes, device=edge_index.device)
    # For each node, the position of its last existing self-loop (or -1):
    last = torch.full((num_nodes, ), -1, dtype=torch.long,
                      device=edge_index.device)
    if keep_existing:
        pos = (~not_loop).nonzero().view(-1)
        last.scatter_reduce_(0, src[pos], pos, reduce='amax')
    has_loop = last >= 0

    out = copy.copy(data)
    for key, value in data.items():
        if (key == 'edge_index' or not isinstance(value, Tensor)
                or not data.is_edge_attr(key)):
            continue
        if key == 'edge_weight':
            fill = value.new_ones((num_nodes, ) + value.shape[1:])
        else:
            fill = scatter(value[not_loop], dst[not_loop], 0, num_nodes,
                           reduce='mean')
        if keep_existing and value.size(0) > 0:
            view = (-1, ) + (1, ) * (value.dim() - 1)
            fill = torch.where(has_loop.view(view),
                               value[last.clamp(min=0)], fill)
        out[key] = torch.cat([value[not_loop], fill], dim=0)
    out.edge_index = torch.cat(
        [edge_index[:, not_loop], loop.view(1, -1).expand(2, -1)], dim=1)
    return out


def gcn_normalize(data: Data) -> Data:
    r"""Returns a copy of :obj:`data` with self-loops added and the symmetric
    GCN normalization :math:`\mathbf{\hat{D}}^{-1/2} \mathbf{\hat{A}}
    \mathbf{\hat{D}}^{-1/2}` of the *whole* graph stored as
    :obj:`edge_weight`, so that mini-batches see whole-graph degrees.

    As in PyG's :func:`~torch_geometric.nn.conv.gcn_conv.gcn_norm`, a node
    that has a self-loop keeps it (with its weight), and every other node
    gets one of weight :obj:`1`. Other edge-level attributes, such as
    :obj:`edge_attr`, stay aligned with the edges (see
    :func:`add_node_self_loops`).
    """
    # A shallow copy: the edges are replaced rather than changed in place,
    # and cloning a large graph would double its memory.
    data = add_node_self_loops(data, keep_existing=True)
    data.edge_index, data.edge_weight = gcn_norm(
        data.edge_index, data.get('edge_weight'), data.num_nodes,
        add_self_loops=False)
    return data


def gcn_norm_csr(edge_index: Tensor,
                 num_nodes: int) -> Tuple[Tensor, Tensor, Tensor]:
    r"""The symmetrically normalized adjacency with self-loops
    :math:`\mathbf{P} = \mathbf{\tilde{D}}^{-1/2} (\mathbf{A} + \mathbf{I})
    \mathbf{\tilde{D}}^{-1/2}` in CSR form :obj:`(rowptr, col, value)`, rows
    being targets: :math:`P_{ij} \neq 0` for every edge :math:`j \rightarrow
    i` and for :math:`i = j`.

    As in PyG's :func:`~torch_geometric.nn.conv.gcn_conv.gcn_norm`, the
    degree :math:`\tilde{d}_i` is the in-degree plus one. Self-loops in
    :obj:`edge_index` are dropped (one unit self-loop is added per node), and
    a duplicated edge counts as many times as it appears. Sources are sorted
    within each row.
    """
    edge_index = edge_index.cpu()
    src, dst = edge_index[0], edge_index[1]
    keep = src != dst
    src, dst = src[keep], dst[keep]
    loop = torch.arange(num_nodes)
    # Sort by (target, source) and merge duplicated edges:
    key = torch.cat([dst, loop]) * num_nodes + torch.cat([src, loop])
    key, count = torch.unique(key, return_counts=True)
    dst, src = key // num_nodes, key % num_nodes  # [E + N]
    count = count.to(torch.float64)
    deg = torch.zeros(num_nodes, dtype=torch.float64)
    deg.index_add_(0, dst, count)  # In-degree plus one.
    dis = deg.pow(-0.5)
    value = dis[dst] * count * dis[src]  # [E + N]
    rowptr, col, perm = to_csr(torch.stack([src, dst], dim=0), num_nodes)
    return rowptr, col, value[perm]
