r"""GNNAutoScale for PyTorch Geometric: train GNNs on graphs larger than
memory with historical embeddings, METIS clusters and LADIES sampling.

The public names are imported on first access (see :mod:`pyg_gas.lazy`):
:obj:`import pyg_gas` alone does not import :obj:`torch`."""
from pyg_gas.lazy import attach

__version__ = '0.1.0'

#: Where each public name lives.
_EXPORTS = {
    'History': 'pyg_gas.history',
    'ScalableGNN': 'pyg_gas.nn',
    'GASConv': 'pyg_gas.nn',
    'gas_batch': 'pyg_gas.nn',
    'gas_inference': 'pyg_gas.nn',
    'models': 'pyg_gas.nn',
    'SubgraphData': 'pyg_gas.data',
    'metis': 'pyg_gas.partition',
    'stream_partition': 'pyg_gas.partition',
    'permute': 'pyg_gas.partition',
    'split_clusters': 'pyg_gas.partition',
    'SubgraphLoader': 'pyg_gas.loader',
    'EvalSubgraphLoader': 'pyg_gas.loader',
    'ClusterLoader': 'pyg_gas.loader',
    'LADIESLoader': 'pyg_gas.loader',
    'LayerwiseData': 'pyg_gas.loader',
    'load': 'pyg_gas.train.saved',
}

__getattr__, __dir__ = attach(__name__, _EXPORTS)

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
    'split_clusters',
    'SubgraphLoader',
    'EvalSubgraphLoader',
    'ClusterLoader',
    'LADIESLoader',
    'LayerwiseData',
    'load',
    'models',
    'datasets',
    'storage',
    '__version__',
]
