from pyg_gas.data import LayerwiseData  # Its home; kept here too.
from pyg_gas.loader.ladies import LADIESLoader
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
