from pyg_gas.nn import models
from pyg_gas.nn.scalable import ScalableGNN

__all__ = ['ScalableGNN', 'models']
