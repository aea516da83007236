import copy
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch.utils.data import DataLoader
from torch_geometric import EdgeIndex
from torch_geometric.data import Data

from pyg_gas.checks import check_int
from pyg_gas.data import SubgraphData
from pyg_gas.graph import (  # noqa: F401 (check_ptr: alias)
    ClusteredCSR,
    build_adj_t,
    check_finite_values,
    check_ptr,
    gather_csr,
    get_edge_index,
    split_attributes,
    to_csr,
)
from pyg_gas.typing import WITH_TORCH_SPARSE, require
from pyg_gas.utils import gather_rows

AdjFormat = Literal['auto', 'csr', 'sparse_tensor']


class ClusterCollater:
    r"""Builds a :class:`~pyg_gas.SubgraphData` mini-batch from a list of
    cluster ids of a clustered graph. It holds the graph in CSR form (edges
    grouped by target) and is picklable, so batches can be built in
    :class:`~torch.utils.data.DataLoader` worker processes.

    Args:
        data (Data): A graph whose clusters are contiguous node ranges (see
            :func:`~pyg_gas.permute`).
        ptr (torch.Tensor): The cluster boundaries.
        halo (bool, optional): Appends the out-of-batch 1-hop in-neighbours
            of the batch (GAS). Otherwise, keeps intra-batch edges only
            (Cluster-GCN). (default: :obj:`True`)
        adj_format (str, optional): The format of :obj:`adj_t`:
            :obj:`'csr'` (a torch sparse CSR tensor), :obj:`'sparse_tensor'`
            (a :class:`torch_sparse.SparseTensor`), or :obj:`'auto'` for the
            latter when torch-sparse is installed. :obj:`'csr'` is the
            default, so that installing torch-sparse never changes what a
            model computes: some convs treat the two formats differently
            (PyG's :class:`~torch_geometric.nn.conv.SAGEConv` drops the
            values of a :class:`SparseTensor`, and its :obj:`to_dense()`
            keeps one of two duplicate edges where a product sums both).
            (default: :obj:`'csr'`)
        check_finite (bool, optional): Raises a :class:`ValueError` if
            :obj:`x` or :obj:`edge_weight` holds :obj:`nan` or :obj:`inf`
            values, which would silently spread through every layer and,
            through the histories, to every batch. One pass over both, at
            construction. (default: :obj:`True`)
    """
    def __init__(self, data: Data, ptr: Tensor, halo: bool = True,
                 adj_format: AdjFormat = 'csr',
                 check_finite: bool = True) -> None:
        if adj_format not in ('auto', 'csr', 'sparse_tensor'):
            raise ValueError(f"'adj_format' must be 'auto', 'csr' or "
                             f"'sparse_tensor' (got '{adj_format}')")
        if adj_format == 'sparse_tensor':
            require('torch_sparse', "adj_format='sparse_tensor'")
        if adj_format == 'auto':
            adj_format = 'sparse_tensor' if WITH_TORCH_SPARSE else 'csr'
        self.adj_format = adj_format
        self.halo = halo
        if not isinstance(data, Data) and hasattr(data, 'clustered_csr'):
            self._set_csr(data.clustered_csr(), ptr)  # E.g. on disk.
            return
        if not isinstance(data, Data):
            raise TypeError(f"'data' must be a 'Data' object or a prepared "
                            f"'DiskDataset' (got {type(data).__name__})")

        edge_index, num_nodes = get_edge_index(data)
        self.num_nodes = num_nodes
        self.ptr = check_ptr(ptr, num_nodes)
        self.rowptr, self.col, perm = to_csr(edge_index.cpu(), num_nodes)
        node_attrs, self.edge_attrs, self.graph_attrs = split_attributes(
            data, perm)
        self.node_attrs = {k: v.cpu() for k, v in node_attrs.items()}
        self.casts: Dict[str, torch.dtype] = {}
        self.source: Any = None
        if check_finite:
            for key, attrs in (('x', self.node_attrs),
                               ('edge_weight', self.edge_attrs)):
                check_finite_values(key, attrs.get(key))

    def _set_csr(self, csr: ClusteredCSR, ptr: Tensor) -> None:
        # A graph that hands over its CSR (checked when it was written):
        self.num_nodes = csr.num_nodes
        self.ptr = check_ptr(ptr, csr.num_nodes)
        self.rowptr, self.col = csr.rowptr, csr.col
        self.node_attrs, self.edge_attrs = csr.node_attrs, csr.edge_attrs
        self.graph_attrs, self.casts = csr.graph_attrs, csr.casts
        self.source = csr.source

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        if self.source is not None:  # Pickles as its path, not its arrays.
            for key in ('rowptr', 'col', 'node_attrs', 'edge_attrs'):
                del state[key]
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.source is not None:
            csr = self.source.clustered_csr()
            self.rowptr, self.col = csr.rowptr, csr.col
            self.node_attrs, self.edge_attrs = csr.node_attrs, csr.edge_attrs

    @property
    def num_parts(self) -> int:
        return self.ptr.numel() - 1

    def with_halo(self, halo: bool) -> 'ClusterCollater':
        r"""This collater with or without halos, sharing its graph."""
        if halo == self.halo:
            return self
        out = copy.copy(self)
        out.halo = halo
        return out

    def max_rows(self, batch_size: int) -> Tuple[int, int]:
        r"""Upper bounds on the number of in-batch rows and of halo rows of
        any batch of :obj:`batch_size` clusters: the sums over the
        :obj:`batch_size` largest clusters, and over the :obj:`batch_size`
        largest cluster halos (a batch's halo is at most the union of its
        clusters' halos)."""
        sizes = self.ptr[1:] - self.ptr[:-1]  # [P]
        halos = torch.zeros(self.num_parts, dtype=torch.long)
        if self.halo:
            for k in range(self.num_parts):
                lo, hi = int(self.ptr[k]), int(self.ptr[k + 1])
                # Every cluster is a node range, so its edges are a range:
                src = self.col[int(self.rowptr[lo]):int(self.rowptr[hi])]
                halos[k] = src[(src < lo) | (src >= hi)].unique().numel()
        k = min(batch_size, self.num_parts)
        max_batch = int(sizes.topk(k).values.sum())
        max_halo = min(int(halos.topk(k).values.sum()), self.num_nodes)
        return max_batch, max_halo

    def __call__(self, parts: Sequence[int]) -> SubgraphData:
        parts = torch.as_tensor(parts, dtype=torch.long).view(-1)
        if parts.numel() == 0:
            raise ValueError('A batch needs at least one cluster')
        parts = parts.unique()  # sorted: nodes keep their global order
        if int(parts[0]) < 0 or int(parts[-1]) >= self.num_parts:
            raise ValueError(f'Cluster ids must be in [0, {self.num_parts}) '
                             f'(got {parts.tolist()})')
        ptr = self.ptr
        offset = ptr[parts]  # [num_batch_parts]
        count = ptr[parts + 1] - offset  # [num_batch_parts]
        batch_size = int(count.sum())

        # The in-batch nodes, as the concatenation of their ranges:
        local_start = torch.cumsum(count, 0) - count
        batch = torch.arange(batch_size) + (offset - local_start) \
            .repeat_interleave(count, output_size=batch_size)  # [B]

        # All edges into in-batch nodes, grouped by target:
        row_ptr, idx = gather_csr(self.rowptr, batch)
        src = self.col[idx].long()  # [E_b], global ids
        dst = torch.arange(batch_size).repeat_interleave(
            row_ptr[1:] - row_ptr[:-1], output_size=idx.numel())  # [E_b]

        # Relabel sources: in-batch nodes map into [0, B) through their
        # cluster, since every cluster is a contiguous range.
        part_local_start = torch.full((self.num_parts, ), -1)
        part_local_start[parts] = local_start
        src_part = torch.bucketize(src, ptr[1:], right=True)  # [E_b]
        src_start = part_local_start[src_part]
        in_batch = src_start >= 0
        local_src = src - ptr[src_part] + src_start  # valid where in_batch

        if self.halo:
            halo, inv = torch.unique(src[~in_batch], return_inverse=True)
            local_src[~in_batch] = batch_size + inv
            n_id = torch.cat([batch, halo], dim=0)  # [B + H]
            keep = None
        else:
            keep = in_batch
            n_id = batch
            idx, local_src, dst = idx[keep], local_src[keep], dst[keep]
            row_ptr = torch.zeros_like(row_ptr)
            torch.cumsum(torch.bincount(dst, minlength=batch_size), 0,
                         out=row_ptr[1:])
        num_src = n_id.numel()

        # Sort sources within each target, the canonical CSR order (stable:
        # duplicated edges keep the order of the stored graph):
        order = torch.argsort(dst * num_src + local_src, stable=True)
        idx, local_src, dst = idx[order], local_src[order], dst[order]

        out = SubgraphData(batch_size=batch_size, n_id=n_id, offset=offset,
                           count=count)
        for key, value in self.node_attrs.items():
            # Rows on disk are gathered by several threads (see
            # 'gather_rows'), rows in memory by one:
            value = (value.index_select(0, n_id) if self.source is None
                     else gather_rows(value, n_id))  # [B + H, ...]
            cast = self.casts.get(key)
            out[key] = value if cast is None else value.to(cast)
        for key, value in self.edge_attrs.items():
            out[key] = value.index_select(0, idx)  # [E_b, ...]
        for key, value in self.graph_attrs.items():
            out[key] = value

        out.edge_index = EdgeIndex(torch.stack([local_src, dst], dim=0),
                                   sparse_size=(num_src, batch_size),
                                   sort_order='col')
        weight = out.get('edge_weight')
        if weight is not None and weight.dim() != 1:
            weight = None
        out.adj_t = build_adj_t(row_ptr, local_src, weight,
                                (batch_size, num_src), self.adj_format)
        out.num_nodes = num_src
        return out


class SubgraphLoader(DataLoader):
    r"""The mini-batch loader of GNNAutoScale, from the `"GNNAutoScale:
    Scalable and Expressive Graph Neural Networks via Historical Embeddings"
    <https://arxiv.org/abs/2106.05609>`_ paper.

    Each mini-batch consists of :obj:`batch_size` clusters of a graph that
    was partitioned by :func:`~pyg_gas.metis` and reordered by
    :func:`~pyg_gas.permute`, plus their 1-hop halo: every node outside the
    batch with an edge into it. Every edge into an in-batch node is kept,
    with its weight and attributes. The batch is a
    :class:`~pyg_gas.SubgraphData`: rows :obj:`0:batch_size` are in-batch
    nodes, the rest are halo nodes whose embeddings come from histories, and
    :obj:`adj_t` is the bipartite adjacency of shape
    :obj:`[batch_size, batch_size + num_halo]`, ready for PyG convs.

    .. note::
        :obj:`batch_size` counts clusters, as in PyG's
        :class:`~torch_geometric.loader.ClusterLoader`; the batch's
        :obj:`batch_size` attribute counts nodes.

    Args:
        data (Data): The clustered graph.
        ptr (torch.Tensor): The cluster boundaries from
            :func:`~pyg_gas.metis`.
        batch_size (int, optional): The number of clusters per mini-batch.
            (default: :obj:`1`)
        shuffle (bool, optional): Draws random groups of clusters every
            epoch. (default: :obj:`False`)
        adj_format (str, optional): The format of :obj:`adj_t`, see
            :class:`ClusterCollater`. (default: :obj:`'csr'`)
        check_finite (bool, optional): Checks :obj:`x` and
            :obj:`edge_weight` for :obj:`nan` and :obj:`inf` values, see
            :class:`ClusterCollater`. (default: :obj:`True`)
        **kwargs (optional): Arguments of
            :class:`torch.utils.data.DataLoader`, such as
            :obj:`num_workers`.
    """
    halo: bool = True

    def __init__(self, data: Data, ptr: Tensor, batch_size: int = 1,
                 shuffle: bool = False, adj_format: AdjFormat = 'csr',
                 check_finite: bool = True, **kwargs: Any) -> None:
        kwargs.pop('collate_fn', None)
        kwargs.pop('dataset', None)
        self.collater = ClusterCollater(data, ptr, halo=self.halo,
                                        adj_format=adj_format,
                                        check_finite=check_finite)
        _check_batch_size(batch_size, self.collater.num_parts)
        self.data = data
        self.ptr = self.collater.ptr
        super().__init__(range(self.collater.num_parts), batch_size=batch_size,
                         shuffle=shuffle, collate_fn=self.collater, **kwargs)

    def max_rows(self) -> Tuple[int, int]:
        r"""Upper bounds on :obj:`(batch_size, num_halo)` of the batches
        of this loader, e.g. to size reusable buffers (see
        :meth:`pyg_gas.ScalableGNN.enable_async_io`)."""
        return self.collater.max_rows(self.batch_size)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_parts='
                f'{self.collater.num_parts}, batch_size={self.batch_size})')


class ClusterLoader(SubgraphLoader):
    r"""The Cluster-GCN loader from the `"Cluster-GCN: An Efficient
    Algorithm for Training Deep and Large Graph Convolutional Networks"
    <https://arxiv.org/abs/1905.07953>`_ paper.

    Each mini-batch is a random group of :obj:`batch_size` clusters with the
    edges between them only: edges from outside the batch are dropped, and
    no halo is added. Unlike PyG's
    :class:`~torch_geometric.loader.ClusterLoader`, it needs no compiled
    METIS extension: partition with :func:`~pyg_gas.metis` first.

    Its arguments are those of :class:`SubgraphLoader`, but :obj:`shuffle`
    defaults to :obj:`True`:

    Args:
        shuffle (bool, optional): Draws random groups of clusters every
            epoch. (default: :obj:`True`)
    """
    halo: bool = False

    def __init__(self, data: Data, ptr: Tensor, batch_size: int = 1,
                 shuffle: bool = True, adj_format: AdjFormat = 'csr',
                 check_finite: bool = True, **kwargs: Any) -> None:
        super().__init__(data, ptr, batch_size=batch_size, shuffle=shuffle,
                         adj_format=adj_format, check_finite=check_finite,
                         **kwargs)


def _unwrap(batch: List[SubgraphData]) -> SubgraphData:
    return batch[0]


class EvalSubgraphLoader(DataLoader):
    r"""The GAS loader for layer-wise inference (see
    :meth:`pyg_gas.ScalableGNN.inference`): consecutive groups of
    :obj:`batch_size` clusters with their halo, in a fixed order.

    By default a batch is built when it is needed, so memory holds one
    batch at a time. With :obj:`cache=True`, all batches are built once, at
    construction, which saves rebuilding them for every layer and epoch but
    keeps every batch (its features, halo included, and adjacency) in
    memory: worth it for small graphs only.

    Args:
        data (Data): The clustered graph, as for :class:`SubgraphLoader`.
        ptr (torch.Tensor): Its cluster boundaries.
        batch_size (int, optional): The number of consecutive clusters per
            batch. (default: :obj:`1`)
        adj_format (str, optional): The format of :obj:`adj_t`, see
            :class:`ClusterCollater`. (default: :obj:`'csr'`)
        cache (bool, optional): Builds all batches once. (default:
            :obj:`False`)
        check_finite (bool, optional): Checks :obj:`x` and
            :obj:`edge_weight` for :obj:`nan` and :obj:`inf` values, see
            :class:`ClusterCollater` (not again for a given
            :obj:`collater`). (default: :obj:`True`)
        collater (ClusterCollater, optional): The collater of another loader
            of the same graph and partition (e.g. the training
            :class:`SubgraphLoader`'s), whose copy of the graph is shared
            instead of building another one. (default: :obj:`None`)
        num_parts (int, optional): Covers the first :obj:`num_parts`
            clusters only, e.g. the clusters a rank owns in a
            :class:`~pyg_gas.distributed.GraphShard`, whose last cluster is
            its halo cache. (default: all clusters)
        **kwargs (optional): Arguments of
            :class:`torch.utils.data.DataLoader`.
    """
    def __init__(self, data: Data, ptr: Tensor, batch_size: int = 1,
                 adj_format: AdjFormat = 'csr', cache: bool = False,
                 collater: Optional[ClusterCollater] = None,
                 num_parts: Optional[int] = None, check_finite: bool = True,
                 **kwargs: Any) -> None:
        for key in ('collate_fn', 'dataset', 'shuffle', 'batch_size'):
            kwargs.pop(key, None)
        # Iterating a DataLoader draws a seed from its generator: a private
        # one keeps evaluation from shifting the training's random stream.
        if kwargs.get('generator') is None:
            kwargs['generator'] = torch.Generator().manual_seed(0)
        if collater is None:
            collater = ClusterCollater(data, ptr, halo=True,
                                       adj_format=adj_format,
                                       check_finite=check_finite)
        else:
            if not isinstance(collater, ClusterCollater):
                raise TypeError(f"'collater' must be a 'ClusterCollater' "
                                f"(got {type(collater).__name__})")
            if not torch.equal(collater.ptr, check_ptr(ptr, data.num_nodes)):
                raise ValueError("'collater' belongs to another partition "
                                 "('ptr' differs)")
            collater = collater.with_halo(True)
        if num_parts is None:
            num_parts = collater.num_parts
        else:
            check_int('num_parts', num_parts, 1, collater.num_parts,
                      expected=f'in [1, {collater.num_parts}]')
        _check_batch_size(batch_size, num_parts)
        self.data = data
        self.ptr = collater.ptr
        self.num_nodes = collater.num_nodes
        self.collater = collater
        self.num_parts = num_parts
        self.groups = [
            list(range(i, min(i + batch_size, num_parts)))
            for i in range(0, num_parts, batch_size)
        ]
        self.batches: Optional[List[SubgraphData]] = None
        self.cluster_batch_size = batch_size
        if cache:
            self.batches = [collater(group) for group in self.groups]
            super().__init__(self.batches, batch_size=1, shuffle=False,
                             collate_fn=_unwrap, **kwargs)
        else:
            super().__init__(self.groups, batch_size=None, shuffle=False,
                             collate_fn=collater, **kwargs)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_parts='
                f'{self.num_parts}, '
                f'batch_size={self.cluster_batch_size})')


def _check_batch_size(batch_size: Any, num_parts: int) -> None:
    # A 'batch_size' above 'num_parts' gives one batch of all clusters.
    check_int('batch_size', batch_size, minimum=None)
    if batch_size < 1:
        raise ValueError(f"'batch_size' must be at least 1 cluster "
                         f"(got {batch_size})")
