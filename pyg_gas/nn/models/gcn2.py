from typing import Any, Callable, Dict, Optional, Union

import torch
from torch import Tensor
from torch.nn import BatchNorm1d, Linear, ModuleList
from torch_geometric.data import Data
from torch_geometric.nn import GCN2Conv

from pyg_gas.checks import check_number
from pyg_gas.graph import gcn_normalize, num_target_nodes
from pyg_gas.nn.functional import dropout
from pyg_gas.nn.models.basic import GASModel
from pyg_gas.typing import Adj


class GCN2(GASModel):
    r"""GCNII from the `"Simple and Deep Graph Convolutional Networks"
    <https://arxiv.org/abs/2007.02133>`_ paper, trained with historical
    embeddings.

    .. math::
        \mathbf{X}^{\prime} = \left( (1 - \alpha) \mathbf{\hat{P}}\mathbf{X} +
        \alpha \mathbf{X^{(0)}}\right) \left( (1 - \beta) \mathbf{I} + \beta
        \mathbf{\Theta} \right)

    The initial embedding :math:`\mathbf{X}^{(0)}` is computed from the
    input features by a linear layer for every row, halo rows included
    (:meth:`init_state`), so every layer sees the right initial residual.
    As for :class:`GCN`, the normalization :math:`\mathbf{\hat{P}}` is
    computed on the whole graph by :meth:`transform`.

    :obj:`num_nodes`, :obj:`in_channels`, :obj:`out_channels`,
    :obj:`history_dtype`, :obj:`history_device`, :obj:`history_storage`
    and :obj:`history_path` are passed on to
    :class:`~pyg_gas.nn.models.basic.GASModel`; the histories are
    :obj:`hidden_channels` wide.

    Args:
        hidden_channels (int): The width of every layer.
        num_layers (int): The number of GCNII layers.
        alpha (float, optional): The strength of the initial residual.
            (default: :obj:`0.1`)
        theta (float, optional): Controls the identity mapping,
            :math:`\beta_\ell = \log(\theta / \ell + 1)`. (default: :obj:`0.5`)
        shared_weights (bool, optional): Shares one weight matrix between the
            smoothed and the initial representation. (default: :obj:`True`)
        dropout (float, optional): The dropout before every layer and the
            output layer. (default: :obj:`0.0`)
        drop_input (bool, optional): Drops out the input features of the
            initial linear layer. (default: :obj:`True`)
        batch_norm (bool, optional): Batch normalization after each layer.
            (default: :obj:`False`)
        residual (bool, optional): Adds each layer's input to its output.
            (default: :obj:`False`)
        act (str or Callable, optional): The activation of the initial
            linear layer and of every layer, see
            :class:`~pyg_gas.nn.models.basic.GASModel`.
            (default: :obj:`'relu'`)
        act_kwargs (dict, optional): The arguments of :obj:`act`.
            (default: :obj:`None`)

    Any other argument raises a :class:`TypeError` that lists them.
    """
    needs_state = True
    expects_transform = 'gcn_norm'
    argument_alternatives = {
        'normalize': "the graph is normalized once, as a whole, by "
                     "'data = model.transform(data)'",
    }

    def __init__(self, num_nodes: int, in_channels: int, hidden_channels: int,
                 out_channels: int, num_layers: int, alpha: float = 0.1,
                 theta: float = 0.5, shared_weights: bool = True,
                 dropout: float = 0.0, drop_input: bool = True,
                 batch_norm: bool = False, residual: bool = False,
                 act: Union[str, Callable, None] = 'relu',
                 act_kwargs: Optional[Dict[str, Any]] = None,
                 history_dtype: Optional[torch.dtype] = None,
                 history_device: Optional[Union[torch.device, str]] = None,
                 history_storage: str = 'memory',
                 history_path: Optional[str] = None,
                 **kwargs: Any) -> None:
        self.check_arguments(kwargs)
        check_number('alpha', alpha, 0.0, 1.0)
        check_number('theta', theta, 0.0)
        super().__init__(num_nodes, in_channels, hidden_channels,
                         out_channels, num_layers, dropout=dropout,
                         drop_input=drop_input, act=act,
                         act_kwargs=act_kwargs, history_dtype=history_dtype,
                         history_device=history_device,
                         history_storage=history_storage,
                         history_path=history_path)
        self.residual = residual
        self.lins = ModuleList([
            Linear(in_channels, hidden_channels),
            Linear(hidden_channels, out_channels),
        ])
        self.convs = ModuleList([
            GCN2Conv(hidden_channels, alpha, theta, layer=i + 1,
                     shared_weights=shared_weights, normalize=False)
            for i in range(num_layers)
        ])
        self.bns = ModuleList([
            BatchNorm1d(hidden_channels) for _ in range(num_layers)
        ] if batch_norm else [])

    @property
    def reg_modules(self) -> ModuleList:
        return ModuleList([self.convs, self.bns])

    @property
    def nonreg_modules(self) -> ModuleList:
        return self.lins

    def transform(self, data: Data) -> Data:
        r"""Adds self-loops and stores the symmetric GCN normalization of the
        whole graph as :obj:`edge_weight` (see :func:`gcn_normalize`)."""
        return gcn_normalize(data)

    def init_state(self, x: Tensor) -> Dict[str, Any]:
        return {'x_0': self.embed_input(x)}  # [B + H, hidden_channels]

    def forward_layer(self, layer: int, x: Tensor, adj_t: Adj,
                      state: Dict[str, Any]) -> Tensor:
        x_0 = state['x_0']
        if layer == 0:
            x = x_0
        num_targets = num_target_nodes(adj_t)
        h = dropout(x, p=self.dropout, training=self.training)
        h = self.convs[layer](h, x_0[:num_targets], adj_t)  # [B, C]
        if len(self.bns) > 0:
            h = self.bns[layer](h)
        if self.residual:
            h = h + x[:num_targets]
        h = self.activate(h)
        if layer == self.num_layers - 1:
            h = dropout(h, p=self.dropout, training=self.training)
            h = self.lins[1](h)  # [B, out_channels]
        return h
