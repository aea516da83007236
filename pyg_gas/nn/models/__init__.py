from pyg_gas.nn.models.basic import BasicGAS
from pyg_gas.nn.models.gcn import GCN
from pyg_gas.nn.models.sage import SAGE

__all__ = ['BasicGAS', 'GCN', 'SAGE']
