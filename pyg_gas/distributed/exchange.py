r"""The halo exchange of distributed GNNAutoScale: one :obj:`all_to_all` of
boundary rows per tensor."""
from typing import Any, Optional, Union

import torch
import torch.distributed as dist
from torch import Tensor

from pyg_gas.distributed.shard import GraphShard

# Types that gloo and nccl carry, by element size: other types travel as
# bit patterns of the same size (the exchange only moves bytes).
_CARRIERS = {1: torch.uint8, 2: torch.float16, 4: torch.float32,
             8: torch.float64}


def _carrier(x: Tensor) -> Tensor:
    if x.dtype in (torch.float32, torch.float64, torch.float16,
                   torch.uint8, torch.int32, torch.int64):
        return x
    return x.view(_CARRIERS[x.element_size()])


class HaloExchange:
    r"""Keeps the halo caches of the ranks up to date, as in the
    `"GNNAutoScale" <https://arxiv.org/abs/2106.05609>`_ paper's staleness
    model carried across processes (in the spirit of SANCUS and PipeGCN).

    At construction, every rank tells each owner which of its nodes it
    caches (one :obj:`all_to_all` of ids, done once: the sets are fixed by
    the partition). Afterwards, :meth:`exchange` sends the current rows of
    every rank's *boundary* nodes, the owned nodes that some other rank
    caches, straight into the halo cache rows of the ranks that need them,
    with one :func:`torch.distributed.all_to_all_single` call. Received rows
    arrive grouped by owner, in the order of the cache, so they are written
    in place with no scatter.

    It is a collective: every rank of the group must call :meth:`exchange`
    the same number of times, in the same order.

    Args:
        shard (GraphShard): This rank's shard.
        group (ProcessGroup, optional): The process group. (default: the
            default group)
        device (torch.device or str, optional): Where the collective runs:
            :obj:`'cpu'` for gloo, the rank's GPU for nccl. Rows that live
            elsewhere (e.g. histories offloaded to CPU memory under nccl)
            are staged through it. (default: :obj:`'cpu'`)
    """
    def __init__(self, shard: GraphShard, group: Optional[Any] = None,
                 device: Optional[Union[torch.device, str]] = None) -> None:
        if not isinstance(shard, GraphShard):
            raise TypeError(f"'shard' must be a 'GraphShard' "
                            f"(got {type(shard).__name__})")
        if not dist.is_initialized():
            raise ValueError("'HaloExchange' needs an initialized process "
                             "group ('torch.distributed.init_process_group')")
        world_size = dist.get_world_size(group)
        if world_size != shard.world_size or \
                dist.get_rank(group) != shard.rank:
            raise ValueError(f"The shard was cut for rank {shard.rank} of "
                             f"{shard.world_size}, but this process is rank "
                             f"{dist.get_rank(group)} of {world_size}")
        self.group = group
        self.device = torch.device(device or 'cpu')
        self.shard = shard
        self.num_owned = shard.num_owned
        self.num_nodes = shard.num_nodes

        # How many rows each rank asks of us, then which ones:
        recv_counts = shard.halo_counts.to(self.device)
        send_counts = torch.empty_like(recv_counts)
        dist.all_to_all_single(send_counts, recv_counts, group=group)
        self.recv_counts = recv_counts.tolist()
        self.send_counts = send_counts.tolist()
        requested = torch.empty(sum(self.send_counts), dtype=torch.long,
                                device=self.device)
        dist.all_to_all_single(requested, shard.halo.to(self.device),
                               self.send_counts, self.recv_counts,
                               group=group)
        start, end = shard.node_range
        requested = requested.cpu()
        if bool(((requested < start) | (requested >= end)).any()):
            raise ValueError("Another rank asked for rows this rank does not "
                             "own: the ranks were given different "
                             "partitions")
        #: The local rows to send, grouped by destination rank.
        self.send_index = requested - start
        # Whether any rank sends anything (all agree, so all may skip):
        total = torch.tensor([len(requested)], device=self.device)
        dist.all_reduce(total, group=group)
        self.active = int(total) > 0
        #: Bytes this rank has sent so far, over all exchanges.
        self.bytes_sent = 0

    @property
    def num_boundary(self) -> int:
        r"""The number of rows this rank sends per exchange (an owned node
        counts once per rank that caches it)."""
        return self.send_index.numel()

    @torch.no_grad()
    def exchange(self, x: Tensor) -> int:
        r"""Overwrites the halo cache rows :obj:`x[num_owned:]` with their
        owners' current rows.

        Args:
            x (torch.Tensor): A tensor with one row per local node (e.g. a
                :class:`~pyg_gas.History`'s :obj:`emb` or :obj:`last_step`).

        Returns:
            The number of bytes this rank sent.
        """
        if not isinstance(x, Tensor) or x.dim() < 1 or \
                x.size(0) != self.num_nodes:
            raise ValueError(f"Expected a tensor with one row per local node "
                             f"({self.num_nodes}) (got shape "
                             f"{list(getattr(x, 'shape', []))})")
        if not self.active:
            return 0
        send = x.index_select(0, self.send_index.to(x.device))
        recv = x[self.num_owned:]  # [H, ...], contiguous
        if x.device == self.device:
            dist.all_to_all_single(_carrier(recv), _carrier(send),
                                   self.recv_counts, self.send_counts,
                                   group=self.group)
        else:  # Stage through the device of the backend.
            send = send.to(self.device)
            out = torch.empty_like(recv, device=self.device)
            dist.all_to_all_single(_carrier(out), _carrier(send),
                                   self.recv_counts, self.send_counts,
                                   group=self.group)
            recv.copy_(out)
        num_bytes = send.numel() * send.element_size()
        self.bytes_sent += num_bytes
        return num_bytes

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(rank={self.shard.rank}, '
                f'send_rows={self.num_boundary}, '
                f'recv_rows={sum(self.recv_counts)})')
