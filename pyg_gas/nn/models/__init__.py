from pyg_gas.nn.models.appnp import APPNP
from pyg_gas.nn.models.basic import BasicGAS
from pyg_gas.nn.models.gat import GAT
from pyg_gas.nn.models.gcn import GCN
from pyg_gas.nn.models.gcn2 import GCN2
from pyg_gas.nn.models.gin import GIN
from pyg_gas.nn.models.pna import PNA
from pyg_gas.nn.models.sage import SAGE

__all__ = ['BasicGAS', 'GCN', 'SAGE', 'GAT', 'GIN', 'GCN2', 'APPNP', 'PNA']
