from pyg_gas.loader.subgraph import (
    ClusterCollater,
    ClusterLoader,
    EvalSubgraphLoader,
    SubgraphLoader,
)

__all__ = [
    'ClusterCollater',
    'SubgraphLoader',
    'EvalSubgraphLoader',
    'ClusterLoader',
]
