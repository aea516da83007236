r"""GNNAutoScale across processes: a DistributedDataParallel model whose
histories are sharded by owner, its loaders and its checkpoints."""
from typing import Any, Callable, Dict, Iterator, List, Optional

import torch
import torch.distributed as dist
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from pyg_gas.checkpoint import read_checkpoint, write_checkpoint
from pyg_gas.checks import check_int
from pyg_gas.distributed.exchange import HaloExchange
from pyg_gas.distributed.shard import GraphShard
from pyg_gas.history import History
from pyg_gas.loader.subgraph import ClusterCollater, EvalSubgraphLoader
from pyg_gas.nn.scalable import ScalableGNN
from pyg_gas.typing import Adj, OptTensor


def _backend_device(group: Optional[Any]) -> torch.device:
    if dist.get_backend(group) == 'nccl':
        return torch.device('cuda', torch.cuda.current_device())
    return torch.device('cpu')


def _all_reduce_max(value: int, group: Optional[Any]) -> int:
    out = torch.tensor([value], device=_backend_device(group))
    dist.all_reduce(out, op=dist.ReduceOp.MAX, group=group)
    return int(out)


class _PaddedSampler:
    # Groups of 'batch_size' clusters, 'num_batches' of them per epoch: a
    # full pass over the clusters, then, if this rank has fewer batches than
    # the busiest one, more groups from a fresh pass.
    def __init__(self, num_parts: int, batch_size: int, num_batches: int,
                 shuffle: bool, seed: int) -> None:
        self.num_parts = num_parts
        self.batch_size = batch_size
        self.num_batches = num_batches
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[List[int]]:
        generator = torch.Generator().manual_seed(self.seed * 100003 +
                                                  self.epoch)
        groups: List[List[int]] = []
        while len(groups) < self.num_batches:
            order = (torch.randperm(self.num_parts, generator=generator)
                     if self.shuffle else torch.arange(self.num_parts))
            groups += [order[i:i + self.batch_size].tolist()
                       for i in range(0, self.num_parts, self.batch_size)]
        return iter(groups[:self.num_batches])


class DistributedSubgraphLoader(DataLoader):
    r"""The :class:`~pyg_gas.SubgraphLoader` of one rank: mini-batches of
    :obj:`batch_size` of the rank's own clusters with their 1-hop halo, in
    local row ids (halo rows of other ranks are rows of the halo cache).

    **Balance.** Every rank runs the same number of steps per epoch,
    because every step takes part in collectives (the gradient all-reduce
    and the halo exchange). That number is the largest number of batches
    of any rank, agreed on at construction; a rank with fewer clusters
    *pads* its epoch with extra batches drawn from a fresh pass over its
    clusters. So no collective waits on a rank that stopped early, and
    every cluster is visited at least once per epoch.

    Args:
        shard (GraphShard): This rank's shard.
        batch_size (int, optional): Clusters per mini-batch.
            (default: :obj:`1`)
        shuffle (bool, optional): Draws random groups every epoch, from a
            generator seeded by :obj:`seed` and the epoch (see
            :meth:`set_epoch`). (default: :obj:`True`)
        seed (int, optional): The seed of the shuffles. (default: :obj:`0`)
        num_batches (int, optional): The steps per epoch. (default: the
            largest number of batches of any rank of :obj:`group`)
        max_cluster_edges (int, optional): Splits every owned cluster with
            more in-edges into node ranges of at most this many (see
            :func:`~pyg_gas.split_clusters`); the ranges are then the
            clusters that batches group. (default: :obj:`None`)
        group (ProcessGroup, optional): The process group.
        **kwargs (optional): Arguments of
            :class:`torch.utils.data.DataLoader`, such as
            :obj:`num_workers`.
    """
    def __init__(self, shard: GraphShard, batch_size: int = 1,
                 shuffle: bool = True, seed: int = 0,
                 num_batches: Optional[int] = None,
                 max_cluster_edges: Optional[int] = None,
                 group: Optional[Any] = None, **kwargs: Any) -> None:
        if not isinstance(shard, GraphShard):
            raise TypeError(f"'shard' must be a 'GraphShard' "
                            f"(got {type(shard).__name__})")
        check_int('batch_size', batch_size)
        for key in ('collate_fn', 'dataset', 'batch_sampler', 'sampler'):
            kwargs.pop(key, None)
        self.shard = shard
        local_ptr = shard.local_ptr()
        self.collater = ClusterCollater(shard.data, local_ptr,
                                        max_cluster_edges=max_cluster_edges)
        # The owned clusters, or the ranges they were split into, come
        # before the halo cache: a split only adds boundaries inside them.
        owned_end = int(local_ptr[shard.num_parts])
        #: The number of clusters (ranges) this rank owns.
        self.num_parts = shard.num_parts + int(
            (self.collater.ptr < owned_end).sum() -
            (local_ptr < owned_end).sum())
        batch_size = min(batch_size, self.num_parts)
        own = -(-self.num_parts // batch_size)
        if num_batches is None:
            num_batches = _all_reduce_max(own, group)
        check_int('num_batches', num_batches)
        self.num_own_batches = own
        self.cluster_batch_size = batch_size
        sampler = _PaddedSampler(self.num_parts, batch_size, num_batches,
                                 shuffle, seed)
        super().__init__(range(self.num_parts), batch_sampler=sampler,
                         collate_fn=self.collater, **kwargs)

    def set_epoch(self, epoch: int) -> None:
        r"""Sets the epoch, which seeds its shuffle: a resumed run draws the
        same batches as an uninterrupted one."""
        self.batch_sampler.epoch = epoch

    def eval_loader(self, batch_size: Optional[int] = None,
                    cache: bool = False) -> EvalSubgraphLoader:
        r"""The loader of :meth:`DistributedGAS.inference` for this rank:
        its own clusters in order, sharing this loader's graph."""
        return EvalSubgraphLoader(
            self.shard.data, self.collater.ptr,
            batch_size=batch_size or self.cluster_batch_size, cache=cache,
            collater=self.collater, num_parts=self.num_parts)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(rank={self.shard.rank}, '
                f'num_parts={self.num_parts}, '
                f'batch_size={self.cluster_batch_size}, '
                f'num_batches={len(self)})')


class DistributedGAS(torch.nn.Module):
    r"""Trains a :class:`~pyg_gas.ScalableGNN` with GNNAutoScale on several
    processes, one :class:`GraphShard` each.

    * **Gradients** are averaged by
      :class:`~torch.nn.parallel.DistributedDataParallel`, which also
      starts every rank from rank 0's parameters and, before every forward
      pass, hands every rank rank 0's other buffers (batch norm statistics),
      as DDP does by default.
    * **Histories** are sharded by owner: the model is built for the
      shard's :obj:`num_nodes` rows, its own nodes plus its halo cache, and
      DDP leaves them alone. A rank pushes and pulls its own rows as on one
      process. Every :obj:`sync_every` training steps, before the forward
      pass, :class:`HaloExchange` refreshes the halo caches of every
      history from their owners (with the steps at which the rows were
      pushed), one :obj:`all_to_all` per history. Halo rows are then at
      most :obj:`sync_every` steps older than their owners' rows, which
      are as stale as on one process.
    * :meth:`inference` is the exact layer-wise inference, distributed: each
      rank computes its own nodes layer by layer, and the boundary rows are
      exchanged between layers.

    Every rank must call :meth:`forward` in training mode, :meth:`inference`
    and :meth:`sync_histories` equally often, which
    :class:`DistributedSubgraphLoader` ensures for training.

    Args:
        model (ScalableGNN): This rank's model, built with
            :obj:`num_nodes=shard.num_nodes`.
        shard (GraphShard): This rank's shard.
        sync_every (int, optional): Training steps between halo exchanges.
            (default: :obj:`1`)
        group (ProcessGroup, optional): The process group.
            (default: the default group)
        **kwargs (optional): Arguments of
            :class:`~torch.nn.parallel.DistributedDataParallel`, such as
            :obj:`device_ids`.
    """
    def __init__(self, model: ScalableGNN, shard: GraphShard,
                 sync_every: int = 1, group: Optional[Any] = None,
                 **kwargs: Any) -> None:
        super().__init__()
        if not isinstance(model, ScalableGNN):
            raise TypeError(f"'model' must be a 'ScalableGNN' "
                            f"(got {type(model).__name__})")
        if model.num_nodes != shard.num_nodes:
            raise ValueError(f"The model must be built for the shard's "
                             f"{shard.num_nodes} local rows (owned nodes and "
                             f"halo cache), 'num_nodes=shard.num_nodes' (got "
                             f"{model.num_nodes})")
        check_int('sync_every', sync_every)
        self.shard = shard
        self.sync_every = sync_every
        self.group = group
        self.exchange = HaloExchange(shard, group, _backend_device(group))
        # The histories differ per rank: DDP must neither broadcast them at
        # construction nor before each forward pass.
        self._history_buffers = [
            f'histories.{name}' for name, _ in model.histories.named_buffers()
        ]
        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
            model, self._history_buffers)
        kwargs.setdefault('process_group', group)
        self.ddp = DistributedDataParallel(model, **kwargs)
        #: Training steps taken, over all epochs.
        self.num_steps = 0

    @property
    def model(self) -> ScalableGNN:
        r"""The wrapped model."""
        return self.ddp.module

    @property
    def bytes_sent(self) -> int:
        r"""The bytes this rank has sent in halo exchanges so far."""
        return self.exchange.bytes_sent

    def forward(self, x: torch.Tensor, adj_t: Adj,
                batch_size: Optional[int] = None, n_id: OptTensor = None,
                offset: OptTensor = None, count: OptTensor = None,
                edge_attr: OptTensor = None) -> Tensor:
        r"""The forward pass of :class:`~pyg_gas.ScalableGNN` on a batch of
        :class:`DistributedSubgraphLoader`, through DDP. In training mode,
        it first refreshes the halo caches every :obj:`sync_every`
        steps."""
        if self.training and batch_size is not None:
            if self.num_steps % self.sync_every == 0:
                self.sync_histories()
            self.num_steps += 1
        return self.ddp(x, adj_t, batch_size, n_id, offset, count, edge_attr)

    def sync_histories(self) -> int:
        r"""Refreshes the halo cache rows of every history from their
        owners, now (a collective). Returns the bytes this rank sent."""
        self.model.synchronize_histories()
        num_bytes = 0
        for history in self.model.histories:
            num_bytes += self._sync(history)
        return num_bytes

    def _sync(self, history: History) -> int:
        return (self.exchange.exchange(history.emb) +
                self.exchange.exchange(history.last_step))

    def sync_buffers(self) -> None:
        r"""Hands every rank rank 0's buffers other than the histories (e.g.
        batch norm statistics), so that all ranks evaluate the same
        model."""
        device = _backend_device(self.group)
        src = dist.get_global_rank(self.group, 0) if self.group else 0
        for name, buf in self.model.named_buffers():
            if name in self._history_buffers:
                continue
            staged = buf.to(device)
            dist.broadcast(staged, src, group=self.group)
            if staged is not buf:
                buf.copy_(staged)

    @torch.no_grad()
    def inference(self, loader: EvalSubgraphLoader,
                  progress: bool = False) -> Tensor:
        r"""The exact layer-wise inference (see
        :meth:`pyg_gas.ScalableGNN.inference`) over all ranks: each rank runs
        every layer over its own clusters, then the boundary rows of that
        layer's history are exchanged, so that the next layer reads exact
        rows for its halo. The result equals single-process
        :meth:`~pyg_gas.ScalableGNN.inference` on the whole graph (with the
        same parameters), row for row. Afterwards, the histories hold the
        exact embeddings of all local rows.

        Args:
            loader (EvalSubgraphLoader): This rank's clusters, e.g. from
                :meth:`DistributedSubgraphLoader.eval_loader`.
            progress (bool, optional): Shows a progress bar.

        Returns:
            The output for the owned nodes, of shape
            :obj:`[shard.num_owned, out_channels]`.
        """
        if getattr(loader, 'num_nodes', None) != self.shard.num_nodes:
            raise ValueError("'loader' must cover this rank's shard (see "
                             "'DistributedSubgraphLoader.eval_loader')")
        self.sync_buffers()
        out = self.model.inference(loader, progress=progress, sync=self._sync)
        return out[:self.shard.num_owned]

    def extra_repr(self) -> str:
        return f'rank={self.shard.rank}, sync_every={self.sync_every}'


def save_checkpoint(path: str, gas: DistributedGAS,
                    optimizer: Optional[torch.optim.Optimizer] = None,
                    generators: Optional[List[torch.Generator]] = None,
                    **extra: Any) -> str:
    r"""Saves a distributed run into the directory :obj:`path`: every rank
    writes one file (atomically, see
    :func:`pyg_gas.checkpoint.write_checkpoint`) with the model state, its
    own histories included, the optimizer state, the step count, its random
    states (those of :obj:`generators` too) and :obj:`extra` (e.g.
    :obj:`epoch=...`; plain Python values). A collective: all ranks call
    it.

    Returns:
        The file this rank wrote.
    """
    if not isinstance(gas, DistributedGAS):
        raise TypeError(f"'gas' must be a 'DistributedGAS' "
                        f"(got {type(gas).__name__})")
    shard = gas.shard
    file = write_checkpoint(path, shard.layout(), gas.model, optimizer,
                            shard.rank, shard.world_size, generators,
                            num_steps=gas.num_steps,
                            bytes_sent=gas.bytes_sent, extra=extra)
    dist.barrier(group=gas.group)
    return file


def load_checkpoint(path: str, gas: DistributedGAS,
                    optimizer: Optional[torch.optim.Optimizer] = None,
                    generators: Optional[List[torch.Generator]] = None,
                    check: Optional[Callable[[Dict[str, Any]], None]] = None,
                    ) -> Dict[str, Any]:
    r"""Loads what :func:`save_checkpoint` wrote into :obj:`path` back into
    :obj:`gas` (and :obj:`optimizer`), on the same world size and partition,
    and restores this rank's random states, so that the run resumes.
    :obj:`check`, if given, is called with the :obj:`extra` values before
    anything is loaded, and may refuse them by raising.

    Returns:
        The :obj:`extra` values given to :func:`save_checkpoint`.
    """
    shard = gas.shard
    values = read_checkpoint(
        path, shard.layout(), gas.model, optimizer, shard.rank,
        shard.world_size, generators,
        None if check is None else lambda values: check(values['extra']))
    gas.num_steps = int(values['num_steps'])
    gas.exchange.bytes_sent = int(values['bytes_sent'])
    return dict(values['extra'])
