import copy
import sys
import warnings
from typing import (
    Any,
    Dict,
    List,
    Literal,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
)

import torch
from torch import Tensor
from torch.utils.data import DataLoader
from torch_geometric import EdgeIndex
from torch_geometric.data import Data

from pyg_gas.checks import check_choice, check_int
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
from pyg_gas.partition import (
    metis,
    permute,
    split_clusters,
    stream_partition,
)
from pyg_gas.typing import WITH_TORCH_SPARSE, require
from pyg_gas.utils import gather_rows

AdjFormat = Literal['auto', 'csr', 'sparse_tensor']
Partitioner = Literal['metis', 'stream']


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
        max_cluster_edges (int, optional): Splits every cluster with more
            in-edges into node ranges of at most this many (see
            :func:`~pyg_gas.split_clusters`), which bounds the edges and
            halo rows of every batch; :obj:`ptr` is then the finer
            boundaries. (default: :obj:`None`)
    """
    def __init__(self, data: Data, ptr: Tensor, halo: bool = True,
                 adj_format: AdjFormat = 'csr',
                 check_finite: bool = True,
                 max_cluster_edges: Optional[int] = None) -> None:
        if adj_format not in ('auto', 'csr', 'sparse_tensor'):
            raise ValueError(f"'adj_format' must be 'auto', 'csr' or "
                             f"'sparse_tensor' (got '{adj_format}')")
        if adj_format == 'sparse_tensor':
            require('torch_sparse', "adj_format='sparse_tensor'")
        if adj_format == 'auto':
            adj_format = 'sparse_tensor' if WITH_TORCH_SPARSE else 'csr'
        self.adj_format = adj_format
        self.halo = halo
        if max_cluster_edges is not None:
            check_int('max_cluster_edges', max_cluster_edges)
        self.max_cluster_edges = max_cluster_edges
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
        self.cluster_ptr, self.ptr = self.ptr, self.split(self.ptr)
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
        self.cluster_ptr, self.ptr = self.ptr, self.split(self.ptr)

    def split(self, ptr: Tensor) -> Tensor:
        r"""The cluster boundaries :obj:`ptr` of this graph, split by
        :obj:`max_cluster_edges` (unchanged without it)."""
        if self.max_cluster_edges is None:
            return ptr
        return split_clusters(ptr, self.rowptr, self.max_cluster_edges)

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


#: The fewest sampled edges whose side changes when the cluster boundaries
#: move (see :func:`cluster_order`) that tell whether a graph is in cluster
#: order; with fewer, the loaders stay silent.
MIN_ORDER_EVIDENCE = 50


class ClusterOrder(NamedTuple):
    r"""How well the node order of a graph matches its cluster boundaries
    :obj:`ptr`, from :func:`cluster_order`. Only edges between two distinct
    nodes count."""
    #: The edges counted (all of them, or a uniform sample).
    num_edges: int
    #: Those whose two ends lie in one cluster :obj:`ptr[k]:ptr[k + 1]`.
    inside: int
    #: Those whose two ends lie in one range of the shifted boundaries.
    inside_shifted: int
    #: Those inside a cluster, but not inside a shifted range.
    only_inside: int
    #: Those inside a shifted range, but not inside a cluster.
    only_shifted: int

    @property
    def in_order(self) -> Optional[bool]:
        r"""Whether the graph is in the cluster order of :obj:`ptr`:
        :obj:`True` or :obj:`False`, or :obj:`None` when too few edges
        change sides to tell (fewer than :data:`MIN_ORDER_EVIDENCE`)."""
        changed = self.only_inside + self.only_shifted
        if changed < MIN_ORDER_EVIDENCE:
            return None
        return self.only_inside - self.only_shifted >= 0.3 * changed


def cluster_order(rowptr: Tensor, col: Tensor, ptr: Tensor,
                  max_edges: int = 1 << 18) -> ClusterOrder:
    r"""Tells whether a graph is in the cluster order of :obj:`ptr`, i.e.
    whether it was reordered with :func:`~pyg_gas.permute` by the partition
    that :obj:`ptr` describes.

    It counts the edges whose two ends lie in one cluster
    :obj:`ptr[k]:ptr[k + 1]`, and the edges whose two ends lie in one range
    when every boundary moves forward by half a cluster (the ranges
    :obj:`ptr[k] + size_k // 2` to :obj:`ptr[k + 1] + size_{k + 1} // 2`,
    the last one wrapping around to the first). In cluster order the true
    boundaries hold clearly more edges than the shifted ones, since a
    shifted range splits two clusters in halves: on Cora, METIS or
    :func:`~pyg_gas.stream_partition` clusters from 2 to 1,000 parts, and
    METIS on random graphs (where clusters hold few edges), at least
    :math:`0.55 (a + b)` more, where :math:`a` and :math:`b` count the edges
    inside one but not the other. In an order that knows nothing of the
    clusters (the graph before :func:`~pyg_gas.permute`), both boundaries
    are arbitrary cuts of the same order, and :math:`a pprox b`. The
    graph counts as in cluster order when :math:`a - b \geq 0.3 (a + b)`.

    One vectorized pass over the CSR, or over a uniform sample of
    :obj:`max_edges` edges (fixed seed) on larger graphs.

    Args:
        rowptr (torch.Tensor): The CSR row pointers (rows are targets).
        col (torch.Tensor): The sources of the edges, row after row.
        ptr (torch.Tensor): The cluster boundaries.
        max_edges (int, optional): The most edges to count; a larger
            graph is sampled. (default: :obj:`262144`)
    """
    num_nodes = rowptr.numel() - 1
    num_edges = col.numel()
    if num_edges > max_edges:
        gen = torch.Generator().manual_seed(0)
        idx = torch.randint(num_edges, (max_edges, ), generator=gen)
        dst = torch.searchsorted(rowptr, idx, right=True) - 1  # [S]
        src = col[idx].long()  # [S]
    else:
        dst = torch.arange(num_nodes).repeat_interleave(
            rowptr.diff(), output_size=num_edges)  # [E]
        src = col.long()  # [E]
    keep = src != dst  # Self-loops lie inside any range.
    src, dst = src[keep], dst[keep]

    ptr = ptr.long()
    bounds = ptr[1:]
    inside = (torch.bucketize(src, bounds, right=True)
              == torch.bucketize(dst, bounds, right=True))
    num_parts = bounds.numel()
    shifted = ptr[:-1] + (ptr[1:] - ptr[:-1]) // 2  # [P], non-decreasing
    inside_shifted = ((torch.bucketize(src, shifted, right=True) % num_parts)
                      == (torch.bucketize(dst, shifted, right=True) %
                          num_parts))
    return ClusterOrder(
        num_edges=src.numel(), inside=int(inside.sum()),
        inside_shifted=int(inside_shifted.sum()),
        only_inside=int((inside & ~inside_shifted).sum()),
        only_shifted=int((inside_shifted & ~inside).sum()))


def _stacklevel() -> int:
    # The stack level of the first frame outside this module, so that a
    # warning points at the user's line that built the loader.
    # 'sys._getframe(1)' is the caller, which calls 'warnings.warn' (its
    # stack level 1).
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1
    return level


def _check_order(name: str, collater: ClusterCollater) -> None:
    # Warns once if the graph of 'collater' is not in the cluster order of
    # its 'ptr' (see 'cluster_order'). A prepared dataset is in cluster
    # order by construction, and is not read for this.
    # Clusters split by 'max_cluster_edges' are checked before the split:
    # their ranges are no groups of linked nodes.
    ptr = collater.cluster_ptr
    if collater.source is not None or ptr.numel() < 3:
        return
    order = cluster_order(collater.rowptr, collater.col, ptr)
    if order.in_order is not False:
        return
    share = order.inside / order.num_edges
    shifted = order.inside_shifted / order.num_edges
    warnings.warn(
        f"{name}: the graph does not look to be in the cluster order of "
        f"'ptr': {share:.1%} of its edges join two nodes of one cluster, "
        f"and about as many ({shifted:.1%}) join two nodes of one range "
        f"when every cluster boundary moves by half a cluster. Its "
        f"clusters are then not groups of linked nodes, and halos come "
        f"out several times larger than they need to be. Reorder the "
        f"graph by its partition: 'perm, ptr = pyg_gas.metis(data, "
        f"num_parts)' and then 'data = pyg_gas.permute(data, perm)', or "
        f"build the loader with '{name}.from_data(data, num_parts)'. Pass "
        f"'check_order=False' if this order is meant.", UserWarning,
        stacklevel=_stacklevel())


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
    :meth:`from_data` does the partitioning and reordering in the same
    call.

    .. note::
        :obj:`batch_size` counts clusters, as in PyG's
        :class:`~torch_geometric.loader.ClusterLoader`; the batch's
        :obj:`batch_size` attribute counts nodes.

    A graph that was not reordered by its partition still gives correct
    batches, but clusters that are not groups of linked nodes, and so halos
    several times larger (on Cora: 1,064 halo rows instead of 79 for two
    of 40 clusters). With :obj:`check_order=True`, the loader warns once,
    at construction, when the graph does not look to be in the cluster
    order of :obj:`ptr` (see :func:`cluster_order`: the edges that two
    nodes of one cluster share, against those of ranges shifted by half a
    cluster). The test reads the edges once (or a sample of them on large
    graphs); a prepared dataset (:class:`~pyg_gas.storage.DiskDataset`)
    is in cluster order by construction and is not tested.

    Args:
        data (Data): The clustered graph.
        ptr (torch.Tensor): The cluster boundaries from
            :func:`~pyg_gas.metis`.
        batch_size (int, optional): The number of clusters per mini-batch.
            (default: :obj:`1`)
        shuffle (bool, optional): Draws random groups of clusters every
            epoch (pass :obj:`True` for training). As in
            :class:`torch.utils.data.DataLoader`, and for every loader of
            this package, it is off by default. (default: :obj:`False`)
        adj_format (str, optional): The format of :obj:`adj_t`, see
            :class:`ClusterCollater`. (default: :obj:`'csr'`)
        check_finite (bool, optional): Checks :obj:`x` and
            :obj:`edge_weight` for :obj:`nan` and :obj:`inf` values, see
            :class:`ClusterCollater`. (default: :obj:`True`)
        check_order (bool, optional): Warns if :obj:`data` does not look
            to be in the cluster order of :obj:`ptr` (see above).
            (default: :obj:`True`)
        max_cluster_edges (int, optional): Splits every cluster with more
            in-edges into node ranges of at most this many (see
            :func:`~pyg_gas.split_clusters`): the memory of a batch is then
            bounded whatever the graph's size, and :attr:`ptr` holds the
            finer boundaries. (default: :obj:`None`)
        **kwargs (optional): Arguments of
            :class:`torch.utils.data.DataLoader`, such as
            :obj:`num_workers`.
    """
    halo: bool = True

    def __init__(self, data: Data, ptr: Tensor, batch_size: int = 1,
                 shuffle: bool = False, adj_format: AdjFormat = 'csr',
                 check_finite: bool = True, check_order: bool = True,
                 max_cluster_edges: Optional[int] = None,
                 **kwargs: Any) -> None:
        kwargs.pop('collate_fn', None)
        kwargs.pop('dataset', None)
        self.collater = ClusterCollater(data, ptr, halo=self.halo,
                                        adj_format=adj_format,
                                        check_finite=check_finite,
                                        max_cluster_edges=max_cluster_edges)
        _check_batch_size(batch_size, self.collater.num_parts)
        if check_order:
            _check_order(type(self).__name__, self.collater)
        self.data = data
        self.ptr = self.collater.ptr
        #: The node order of :obj:`data` (new node :obj:`i` is node
        #: :obj:`perm[i]` of the graph given to :meth:`from_data`), or
        #: :obj:`None` for a loader built from :obj:`(data, ptr)`.
        self.perm: Optional[Tensor] = None
        super().__init__(range(self.collater.num_parts), batch_size=batch_size,
                         shuffle=shuffle, collate_fn=self.collater, **kwargs)

    @classmethod
    def from_data(cls, data: Any, num_parts: Optional[int] = None,
                  batch_size: int = 1, shuffle: bool = False,
                  cache_dir: Optional[str] = None,
                  partitioner: Partitioner = 'metis', seed: int = 0,
                  log: bool = True, **kwargs: Any) -> 'SubgraphLoader':
        r"""Partitions :obj:`data`, reorders it by its partition and returns
        the loader of its clusters, in one call: :func:`~pyg_gas.metis`
        (cached in :obj:`cache_dir`), :func:`~pyg_gas.permute`, then the
        loader. The loader's :obj:`data` is the reordered graph, its
        :obj:`ptr` the cluster boundaries and its :obj:`perm` the node
        order (reordered node :obj:`i` is node :obj:`perm[i]` of
        :obj:`data`), e.g. to map outputs back with
        :obj:`out[perm.argsort()]`.

        :obj:`data` may also be a graph that is partitioned already: PyG's
        :class:`~torch_geometric.loader.ClusterData` (its reordered
        :obj:`data`, with the edges of its :obj:`partition`, and the
        :obj:`partptr` and :obj:`node_perm` of the partition), or a prepared
        :class:`~pyg_gas.storage.DiskDataset`; :obj:`num_parts` may then be
        left out.

        Args:
            data (Data or ClusterData or DiskDataset): The graph.
            num_parts (int, optional): The number of clusters.
            batch_size (int, optional): The number of clusters per
                mini-batch. (default: :obj:`1`)
            shuffle (bool, optional): Draws random groups of clusters every
                epoch. (default: :obj:`False`)
            cache_dir (str, optional): A directory to cache the partition
                in (see :func:`~pyg_gas.metis`). (default: :obj:`None`)
            partitioner (str, optional): :obj:`'metis'`
                (:func:`~pyg_gas.metis`), or :obj:`'stream'`
                (:func:`~pyg_gas.stream_partition`, in bounded memory).
                (default: :obj:`'metis'`)
            seed (int, optional): The seed of the partitioner.
                (default: :obj:`0`)
            log (bool, optional): Reports the partitioning on stderr.
                (default: :obj:`True`)
            **kwargs (optional): The other arguments of the loader.
        """
        data, perm, ptr = _clustered(data, num_parts, partitioner, seed,
                                     cache_dir, log)
        loader = cls(data, ptr, batch_size=batch_size, shuffle=shuffle,
                     **kwargs)
        loader.perm = perm
        return loader

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

    Each mini-batch is a group of :obj:`batch_size` clusters with the edges
    between them only: edges from outside the batch are dropped, and no
    halo is added. Unlike PyG's
    :class:`~torch_geometric.loader.ClusterLoader`, it needs no compiled
    METIS extension: partition with :func:`~pyg_gas.metis` first, or build
    it with :meth:`~SubgraphLoader.from_data`.

    Its arguments are those of :class:`SubgraphLoader`. As there, and as in
    PyG's :class:`~torch_geometric.loader.ClusterLoader`, :obj:`shuffle`
    defaults to :obj:`False`: pass :obj:`shuffle=True` to draw random groups
    of clusters every epoch, as Cluster-GCN trains.
    """
    halo: bool = False


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
        check_order (bool, optional): Warns if :obj:`data` does not look
            to be in the cluster order of :obj:`ptr`, as
            :class:`SubgraphLoader` does (not again for a given
            :obj:`collater`). Inference stays exact in any order, but the
            halos, and so the work of every layer, grow several times.
            Ranges of a graph in its own order (e.g. to bound the memory of
            inference, not to follow clusters) take
            :obj:`check_order=False`. (default: :obj:`True`)
        max_cluster_edges (int, optional): Splits every cluster with more
            in-edges into node ranges of at most this many, as
            :class:`SubgraphLoader` does; with a :obj:`collater`, it is
            that collater's (pass :obj:`None` or the same value).
            (default: :obj:`None`)
        **kwargs (optional): Arguments of
            :class:`torch.utils.data.DataLoader`.
    """
    def __init__(self, data: Data, ptr: Tensor, batch_size: int = 1,
                 adj_format: AdjFormat = 'csr', cache: bool = False,
                 collater: Optional[ClusterCollater] = None,
                 num_parts: Optional[int] = None, check_finite: bool = True,
                 check_order: bool = True,
                 max_cluster_edges: Optional[int] = None,
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
                                       check_finite=check_finite,
                                       max_cluster_edges=max_cluster_edges)
            if check_order:
                _check_order(type(self).__name__, collater)
        else:
            if not isinstance(collater, ClusterCollater):
                raise TypeError(f"'collater' must be a 'ClusterCollater' "
                                f"(got {type(collater).__name__})")
            if max_cluster_edges not in (None, collater.max_cluster_edges):
                raise ValueError(f"'max_cluster_edges' must be None or that "
                                 f"of 'collater' "
                                 f"({collater.max_cluster_edges}) (got "
                                 f"{max_cluster_edges})")
            # The given boundaries, or the coarser ones they were split
            # from:
            ptr = collater.split(check_ptr(ptr, data.num_nodes))
            if not torch.equal(collater.ptr, ptr):
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
        #: The node order of :obj:`data` (see
        #: :attr:`SubgraphLoader.perm`), or :obj:`None`.
        self.perm: Optional[Tensor] = None
        self.batches: Optional[List[SubgraphData]] = None
        self.cluster_batch_size = batch_size
        if cache:
            self.batches = [collater(group) for group in self.groups]
            super().__init__(self.batches, batch_size=1, shuffle=False,
                             collate_fn=_unwrap, **kwargs)
        else:
            super().__init__(self.groups, batch_size=None, shuffle=False,
                             collate_fn=collater, **kwargs)

    @classmethod
    def from_data(cls, data: Any, num_parts: Optional[int] = None,
                  batch_size: int = 1, cache_dir: Optional[str] = None,
                  partitioner: Partitioner = 'metis', seed: int = 0,
                  log: bool = True, **kwargs: Any) -> 'EvalSubgraphLoader':
        r"""Partitions :obj:`data`, reorders it by its partition and returns
        the inference loader of its clusters, in one call, as
        :meth:`SubgraphLoader.from_data` does (see there for the
        arguments). To share a training loader's graph instead, pass
        :obj:`(train.data, train.ptr, collater=train.collater)` to the
        constructor."""
        data, perm, ptr = _clustered(data, num_parts, partitioner, seed,
                                     cache_dir, log)
        loader = cls(data, ptr, batch_size=batch_size, **kwargs)
        loader.perm = perm
        return loader

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


def _cluster_data_graph(cluster_data: Any) -> Data:
    # The reordered graph of PyG's 'ClusterData': its 'data' holds the node
    # and edge attributes in partition order, but its edges are in the
    # CSR (or CSC) arrays of its 'partition', sorted as its edge attributes.
    part = cluster_data.partition
    indptr, index = part.indptr.cpu(), part.index.cpu()
    rows = torch.arange(indptr.numel() - 1).repeat_interleave(
        indptr.diff(), output_size=index.numel())  # [E]
    if getattr(part, 'sparse_format', 'csr') == 'csr':
        edge_index = torch.stack([rows, index], dim=0)  # Sorted by source.
    else:
        edge_index = torch.stack([index, rows], dim=0)  # Sorted by target.
    out = copy.copy(cluster_data.data)
    out.edge_index = edge_index
    return out


def _clustered(data: Any, num_parts: Optional[int], partitioner: str,
               seed: int, cache_dir: Optional[str],
               log: bool) -> Tuple[Any, Tensor, Tensor]:
    # 'data' in cluster order, with its node order 'perm' and its cluster
    # boundaries 'ptr' (see 'SubgraphLoader.from_data').
    kind = type(data).__name__
    part = getattr(data, 'partition', None)
    if hasattr(part, 'partptr') and hasattr(part, 'node_perm'):
        ptr, perm = part.partptr.cpu().long(), part.node_perm.cpu().long()
        data = _cluster_data_graph(data)  # PyG's 'ClusterData'.
    elif not isinstance(data, Data) and hasattr(data, 'clustered_csr'):
        ptr, perm = data.ptr, data.perm  # A prepared dataset.
    elif isinstance(data, Data):
        if num_parts is None:
            raise ValueError("Partitioning 'data' needs 'num_parts' (got "
                             "None)")
        check_choice('partitioner', partitioner, ('metis', 'stream'))
        fn = metis if partitioner == 'metis' else stream_partition
        perm, ptr = fn(data, num_parts, seed=seed, cache_dir=cache_dir,
                       log=log)
        return permute(data, perm), perm, ptr
    else:
        raise TypeError(f"'data' must be a 'Data' object, PyG's "
                        f"'ClusterData' or a prepared 'DiskDataset' (got "
                        f"{type(data).__name__})")
    if num_parts is not None and num_parts != ptr.numel() - 1:
        raise ValueError(f"'num_parts' must be None or the "
                         f"{ptr.numel() - 1} clusters of the given "
                         f"'{kind}' (got {num_parts})")
    return data, perm, ptr
