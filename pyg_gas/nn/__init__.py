from pyg_gas.nn import models
from pyg_gas.nn.conv import GASConv, current_batch, gas_batch, gas_inference
from pyg_gas.nn.scalable import ScalableGNN

__all__ = [
    'ScalableGNN',
    'GASConv',
    'gas_batch',
    'gas_inference',
    'current_batch',
    'models',
]
