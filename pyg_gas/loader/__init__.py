from pyg_gas.loader.ladies import LADIESLoader, LayerwiseData
from pyg_gas.loader.subgraph import (
    ClusterCollater,
    ClusterLoader,
    EvalSubgraphLoader,
    SubgraphLoader,
)

__all__ = [
    'LADIESLoader', 'LayerwiseData',
    'ClusterCollater',
    'SubgraphLoader',
    'EvalSubgraphLoader',
    'ClusterLoader',
]
