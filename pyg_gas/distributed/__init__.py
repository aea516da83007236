r"""GNNAutoScale on several processes and machines with
:mod:`torch.distributed`: histories sharded by owner, halo caches refreshed
by :obj:`all_to_all`, gradients averaged by
:class:`~torch.nn.parallel.DistributedDataParallel`.

See ``docs/distributed.md`` and ``examples/distributed_gas.py``.
"""
from pyg_gas.distributed.exchange import HaloExchange
from pyg_gas.distributed.gas import (
    DistributedGAS,
    DistributedSubgraphLoader,
    load_checkpoint,
    save_checkpoint,
)
from pyg_gas.distributed.launch import init_distributed, spawn
from pyg_gas.distributed.shard import GraphShard, assign_parts, shard_graph

__all__ = [
    'GraphShard',
    'assign_parts',
    'shard_graph',
    'HaloExchange',
    'DistributedGAS',
    'DistributedSubgraphLoader',
    'save_checkpoint',
    'load_checkpoint',
    'init_distributed',
    'spawn',
]
