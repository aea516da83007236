from pyg_gas.data import LayerwiseData  # Its home; kept here too.
from pyg_gas.loader.ladies import LADIESLoader
from pyg_gas.loader.subgraph import (
    ClusterCollater,
    ClusterLoader,
    ClusterOrder,
    EvalSubgraphLoader,
    SubgraphLoader,
    cluster_order,
)

__all__ = [
    'LADIESLoader', 'LayerwiseData',
    'ClusterCollater',
    'SubgraphLoader',
    'EvalSubgraphLoader',
    'ClusterLoader',
    'ClusterOrder',
    'cluster_order',
]
