r"""GNNAutoScale for PyTorch Geometric: train GNNs on graphs larger than
memory with historical embeddings, METIS clusters and LADIES sampling."""
from pyg_gas import datasets, storage
from pyg_gas.data import SubgraphData
from pyg_gas.history import History
from pyg_gas.loader import (
    ClusterLoader,
    EvalSubgraphLoader,
    LADIESLoader,
    LayerwiseData,
    SubgraphLoader,
)
from pyg_gas.nn import GASConv, ScalableGNN, gas_batch, gas_inference, models
from pyg_gas.partition import metis, permute, stream_partition

__version__ = '0.1.0'

__all__ = [
    'History',
    'ScalableGNN',
    'GASConv',
    'gas_batch',
    'gas_inference',
    'SubgraphData',
    'metis',
    'stream_partition',
    'permute',
    'SubgraphLoader',
    'EvalSubgraphLoader',
    'ClusterLoader',
    'LADIESLoader',
    'LayerwiseData',
    'models',
    'datasets',
    'storage',
    '__version__',
]
