from typing import Any, Callable, Dict, Optional, Union

import torch
from torch import Tensor
from torch.nn import Linear, ModuleList
from torch_geometric.data import Data
from torch_geometric.utils import spmm

from pyg_gas.checks import check_int, check_number
from pyg_gas.graph import gcn_normalize
from pyg_gas.nn.functional import dropout
from pyg_gas.nn.models.basic import GASModel
from pyg_gas.typing import Adj


class APPNP(GASModel):
    r"""APPNP from the `"Predict then Propagate: Graph Neural Networks meet
    Personalized PageRank" <https://arxiv.org/abs/1810.05997>`_ paper,
    trained with historical embeddings.

    .. math::
        \mathbf{H}^{(0)} = \mathrm{MLP}(\mathbf{X}), \qquad
        \mathbf{H}^{(k + 1)} = (1 - \alpha) \mathbf{\hat{P}} \mathbf{H}^{(k)}
        + \alpha \mathbf{H}^{(0)}

    Each of the :math:`K` = :obj:`num_layers` propagation steps is a layer
    with its own history (of width :obj:`out_channels`). The prediction
    :math:`\mathbf{H}^{(0)}` is computed from the features for every row,
    halo rows included. The normalization :math:`\mathbf{\hat{P}}` is
    computed on the whole graph by :meth:`transform`.

    The arguments :obj:`num_nodes`, :obj:`in_channels`, :obj:`out_channels`,
    :obj:`history_dtype`, :obj:`history_device`, :obj:`history_storage`
    and :obj:`history_path` are those of
    :class:`~pyg_gas.nn.models.basic.GASModel`; the histories are
    :obj:`out_channels` wide.

    Args:
        hidden_channels (int): The hidden size of the MLP.
        num_layers (int): The number of propagation steps :math:`K`.
        alpha (float, optional): The teleport probability.
            (default: :obj:`0.1`)
        dropout (float, optional): The dropout of the MLP.
            (default: :obj:`0.0`)
        drop_input (bool, optional): Drops out the input features of the
            MLP. (default: :obj:`True`)
        act (str or Callable, optional): The activation of the MLP's hidden
            layer, see :class:`~pyg_gas.nn.models.basic.GASModel`.
            (default: :obj:`'relu'`)
        act_kwargs (dict, optional): The arguments of :obj:`act`.
            (default: :obj:`None`)

    Any other argument raises a :class:`TypeError` that lists them.
    """
    needs_state = True
    expects_transform = 'gcn_norm'
    argument_alternatives = {
        'K': "the number of propagation steps is 'num_layers'",
        'normalize': "the graph is normalized once, as a whole, by "
                     "'data = model.transform(data)'",
    }

    def __init__(self, num_nodes: int, in_channels: int, hidden_channels: int,
                 out_channels: int, num_layers: int, alpha: float = 0.1,
                 dropout: float = 0.0, drop_input: bool = True,
                 act: Union[str, Callable, None] = 'relu',
                 act_kwargs: Optional[Dict[str, Any]] = None,
                 history_dtype: Optional[torch.dtype] = None,
                 history_device: Optional[Union[torch.device, str]] = None,
                 history_storage: str = 'memory',
                 history_path: Optional[str] = None,
                 **kwargs: Any) -> None:
        self.check_arguments(kwargs)
        check_int('hidden_channels', hidden_channels)
        check_number('alpha', alpha, 0.0, 1.0)
        super().__init__(num_nodes, in_channels, out_channels, out_channels,
                         num_layers, dropout=dropout, drop_input=drop_input,
                         act=act, act_kwargs=act_kwargs,
                         history_dtype=history_dtype,
                         history_device=history_device,
                         history_storage=history_storage,
                         history_path=history_path)
        self.alpha = alpha
        self.lins = ModuleList([
            Linear(in_channels, hidden_channels),
            Linear(hidden_channels, out_channels),
        ])

    @property
    def reg_modules(self) -> ModuleList:
        return ModuleList([self.lins[0]])

    @property
    def nonreg_modules(self) -> ModuleList:
        return ModuleList([self.lins[1]])

    def transform(self, data: Data) -> Data:
        r"""Adds self-loops and stores the symmetric GCN normalization of the
        whole graph as :obj:`edge_weight` (see :func:`gcn_normalize`)."""
        return gcn_normalize(data)

    def init_state(self, x: Tensor) -> Dict[str, Any]:
        x = self.embed_input(x)  # [B + H, hidden_channels]
        x = dropout(x, p=self.dropout, training=self.training)
        return {'h_0': self.lins[1](x)}  # [B + H, out_channels]

    def forward_layer(self, layer: int, x: Tensor, adj_t: Adj,
                      state: Dict[str, Any]) -> Tensor:
        h_0 = state['h_0']  # [B + H, out_channels]
        out = spmm(adj_t, h_0 if layer == 0 else x)  # [B, out_channels]
        return (1 - self.alpha) * out + self.alpha * h_0[:out.size(0)]

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, '
                f'K={self.num_layers}, alpha={self.alpha}')
