r"""Ownership of a clustered graph by the ranks of a process group."""
from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data

from pyg_gas.checks import check_int
from pyg_gas.graph import (
    ClusteredCSR,
    check_ptr,
    get_edge_index,
    split_attributes,
)
from pyg_gas.utils import gather_rows


def assign_parts(num_parts: int, world_size: int) -> Tensor:
    r"""Splits :obj:`num_parts` clusters into :obj:`world_size` contiguous
    ranges, as evenly as counts allow: rank :obj:`r` owns the clusters
    :obj:`out[r]:out[r + 1]`. When :obj:`num_parts` is not a multiple of
    :obj:`world_size`, the first ranks get one cluster fewer.

    Returns:
        The boundaries, of shape :obj:`[world_size + 1]`.
    """
    check_int('num_parts', num_parts)
    check_int('world_size', world_size)
    if world_size > num_parts:
        raise ValueError(f"Every rank needs at least one part: the world "
                         f"size ({world_size}) must be at most the number "
                         f"of parts ({num_parts})")
    return torch.arange(world_size + 1) * num_parts // world_size


class GraphShard:
    r"""The part of a clustered graph that one rank of a distributed
    GNNAutoScale run holds (see :func:`shard_graph`).

    The rank owns a contiguous range of clusters, hence the contiguous range
    of global node ids :obj:`node_ptr[rank]:node_ptr[rank + 1]`. Its local
    graph :obj:`data` has :obj:`num_nodes = num_owned + num_halo` rows:

    * rows :obj:`0:num_owned` are the owned nodes, in global order, with
      every edge into them (weights and attributes included);
    * rows :obj:`num_owned:` are the *halo cache*: every remote node with an
      edge into an owned node, sorted by global id, hence grouped by owner
      rank. They have node attributes (their input features) but no edges
      of their own. Their embeddings come from their owners through
      :class:`~pyg_gas.distributed.HaloExchange`.

    A model for this rank is built with :obj:`num_nodes=shard.num_nodes`:
    its histories then hold the owned rows and the halo cache, and nothing
    of the rest of the graph.

    Attributes:
        data (Data): The local graph.
        ptr (torch.Tensor): The local boundaries of the owned clusters,
            from :obj:`0` to :obj:`num_owned`.
        rank (int): The rank.
        world_size (int): The number of ranks.
        part_ptr (torch.Tensor): The clusters of every rank, see
            :func:`assign_parts`. Shape :obj:`[world_size + 1]`.
        node_ptr (torch.Tensor): The global node ids of every rank.
            Shape :obj:`[world_size + 1]`.
        halo (torch.Tensor): The global ids of the halo cache rows, sorted.
        halo_counts (torch.Tensor): How many of them each rank owns.
            Shape :obj:`[world_size]`.
    """
    def __init__(self, data: Data, ptr: Tensor, rank: int, world_size: int,
                 part_ptr: Tensor, node_ptr: Tensor, halo: Tensor,
                 halo_counts: Tensor) -> None:
        self.data = data
        self.ptr = ptr
        self.rank = rank
        self.world_size = world_size
        self.part_ptr = part_ptr
        self.node_ptr = node_ptr
        self.halo = halo
        self.halo_counts = halo_counts

    @property
    def num_owned(self) -> int:
        return int(self.node_ptr[self.rank + 1] - self.node_ptr[self.rank])

    @property
    def num_halo(self) -> int:
        return int(self.halo.numel())

    @property
    def num_nodes(self) -> int:
        r"""The number of local rows: owned nodes plus the halo cache."""
        return self.num_owned + self.num_halo

    @property
    def num_parts(self) -> int:
        r"""The number of clusters this rank owns."""
        return self.ptr.numel() - 1

    @property
    def node_range(self) -> tuple:
        r"""The global ids :obj:`(start, end)` of the owned nodes."""
        return int(self.node_ptr[self.rank]), int(self.node_ptr[self.rank + 1])

    def global_id(self) -> Tensor:
        r"""The global id of every local row."""
        start, end = self.node_range
        return torch.cat([torch.arange(start, end), self.halo])

    def local_ptr(self) -> Tensor:
        r"""The boundaries of the owned clusters followed by one trailing
        cluster of the halo cache rows, from :obj:`0` to :obj:`num_nodes`:
        the form :class:`~pyg_gas.loader.subgraph.ClusterCollater` takes.
        The loaders of a shard batch the owned clusters only."""
        return torch.cat([self.ptr, torch.tensor([self.num_nodes])])

    def layout(self) -> Dict[str, Any]:
        r"""What identifies this shard, e.g. to check that a checkpoint
        belongs to it."""
        return dict(rank=self.rank, world_size=self.world_size,
                    node_ptr=self.node_ptr.tolist(),
                    part_ptr=self.part_ptr.tolist(),
                    num_halo=self.num_halo)

    def __repr__(self) -> str:
        start, end = self.node_range
        return (f'{self.__class__.__name__}(rank={self.rank}/'
                f'{self.world_size}, nodes=[{start}, {end}), '
                f'num_parts={self.num_parts}, num_halo={self.num_halo})')


def shard_graph(data: Data, ptr: Tensor, rank: Optional[int] = None,
                world_size: Optional[int] = None) -> GraphShard:
    r"""Cuts the shard of rank :obj:`rank` out of a clustered graph, for
    distributed GNNAutoScale training (see
    :class:`~pyg_gas.distributed.DistributedGAS`).

    :obj:`data` is the whole graph after :func:`~pyg_gas.permute` (and
    after the model's :meth:`~pyg_gas.ScalableGNN.transform`, whose
    normalization needs whole-graph degrees), :obj:`ptr` its cluster
    boundaries from :func:`~pyg_gas.metis`. The clusters are split into
    contiguous ranges by :func:`assign_parts`. The returned shard keeps the
    owned nodes, every edge into them and the node attributes of their
    remote in-neighbours; the rest of :obj:`data` may be freed.

    Args:
        data (Data or DiskDataset): The clustered graph. A prepared
            :class:`~pyg_gas.storage.DiskDataset` (after the model's
            transform, see :func:`~pyg_gas.storage.derive`) is read row
            range by row range: the rank reads its own rows and its halo's
            features, never the whole graph.
        ptr (torch.Tensor): Its cluster boundaries.
        rank (int, optional): The rank. (default: the rank in the default
            process group)
        world_size (int, optional): The number of ranks. (default: the size
            of the default process group)
    """
    if not isinstance(data, Data) and not hasattr(data, 'clustered_csr'):
        raise TypeError(f"'data' must be a 'Data' object or a prepared "
                        f"'DiskDataset' (got {type(data).__name__})")
    if rank is None or world_size is None:
        import torch.distributed as dist
        if not dist.is_initialized():
            raise ValueError("Pass 'rank' and 'world_size', or initialize "
                             "the default process group first")
        rank = dist.get_rank() if rank is None else rank
        world_size = dist.get_world_size() if world_size is None \
            else world_size
    check_int('world_size', world_size)
    check_int('rank', rank, minimum=0)
    if rank >= world_size:
        raise ValueError(f"'rank' must be in [0, {world_size}) (got {rank})")
    if not isinstance(data, Data):
        return _shard_csr(data.clustered_csr(), ptr, rank, world_size)
    edge_index, num_nodes = get_edge_index(data)
    ptr = check_ptr(ptr, num_nodes)
    part_ptr = assign_parts(ptr.numel() - 1, world_size)
    node_ptr = ptr[part_ptr]  # [world_size + 1]
    start, end = int(node_ptr[rank]), int(node_ptr[rank + 1])

    # Every edge into an owned node, with its attributes:
    edge_index = edge_index.cpu()
    mask = (edge_index[1] >= start) & (edge_index[1] < end)
    keep = mask.nonzero().view(-1)  # [E_r]
    del mask
    src, dst = edge_index[0, keep], edge_index[1, keep] - start
    node_attrs, edge_attrs, graph_attrs = split_attributes(data, keep)

    src, halo, halo_counts = _halo_cache(src, start, end, node_ptr,
                                         world_size)

    global_id = torch.cat([torch.arange(start, end), halo])
    local = Data(edge_index=torch.stack([src, dst], dim=0),
                 num_nodes=global_id.numel())
    for key, value in edge_attrs.items():
        local[key] = value
    for key, value in node_attrs.items():
        local[key] = value.index_select(0, global_id.to(value.device))
    for key, value in graph_attrs.items():
        local[key] = value
    return _shard(local, ptr, rank, world_size, part_ptr, node_ptr, halo,
                  halo_counts)


def _halo_cache(src: Tensor, start: int, end: int, node_ptr: Tensor,
                world_size: int) -> Tuple[Tensor, Tensor, Tensor]:
    # The halo cache of the rank owning the nodes [start, end): its remote
    # sources, sorted, hence grouped by owner, and how many each rank owns;
    # 'src' relabelled to local rows (owned first, then the cache).
    remote = (src < start) | (src >= end)
    halo, inv = torch.unique(src[remote], return_inverse=True)  # [H]
    src = src - start
    src[remote] = end - start + inv
    owner = torch.bucketize(halo, node_ptr[1:], right=True)  # [H]
    halo_counts = torch.bincount(owner, minlength=world_size)
    return src, halo, halo_counts


def _shard(local: Data, ptr: Tensor, rank: int, world_size: int,
           part_ptr: Tensor, node_ptr: Tensor, halo: Tensor,
           halo_counts: Tensor) -> GraphShard:
    # The shard of 'local', with the local boundaries of its own clusters.
    part_start, part_end = int(part_ptr[rank]), int(part_ptr[rank + 1])
    local_ptr = ptr[part_start:part_end + 1] - int(node_ptr[rank])
    return GraphShard(local, local_ptr, rank, world_size, part_ptr, node_ptr,
                      halo, halo_counts)


def _shard_csr(csr: ClusteredCSR, ptr: Tensor, rank: int,
               world_size: int) -> GraphShard:
    # The shard of a graph held as a (memory-mapped) CSR in cluster order:
    # reads the rows of the owned nodes, which are one range, and the node
    # attributes of the owned nodes and of their halo, and nothing else.
    ptr = check_ptr(ptr, csr.num_nodes)
    part_ptr = assign_parts(ptr.numel() - 1, world_size)
    node_ptr = ptr[part_ptr]  # [world_size + 1]
    start, end = int(node_ptr[rank]), int(node_ptr[rank + 1])
    rowptr = csr.rowptr[start:end + 1].clone()  # [N_r + 1]
    e0, e1 = int(rowptr[0]), int(rowptr[-1])
    src = csr.col[e0:e1].long()  # [E_r]
    dst = torch.arange(end - start).repeat_interleave(
        rowptr.diff(), output_size=e1 - e0)  # [E_r]

    src, halo, halo_counts = _halo_cache(src, start, end, node_ptr,
                                         world_size)

    local = Data(edge_index=torch.stack([src, dst], dim=0),
                 num_nodes=end - start + halo.numel())
    for key, value in csr.edge_attrs.items():
        local[key] = value[e0:e1].clone()
    for key, value in csr.node_attrs.items():
        # The owned rows are one range; the halo's are sorted:
        rows = torch.cat([value[start:end], gather_rows(value, halo)])
        cast = csr.casts.get(key)
        local[key] = rows if cast is None else rows.to(cast)
    for key, value in csr.graph_attrs.items():
        local[key] = value
    return _shard(local, ptr, rank, world_size, part_ptr, node_ptr, halo,
                  halo_counts)
