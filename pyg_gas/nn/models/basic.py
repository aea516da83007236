from typing import Any, Dict, Optional, Union

import torch
from torch import Tensor
from torch.nn import BatchNorm1d, Linear, ModuleList

from pyg_gas.checks import check_int, check_number
from pyg_gas.nn.functional import dropout
from pyg_gas.nn.scalable import ScalableGNN
from pyg_gas.typing import Adj


class GASModel(ScalableGNN):
    r"""The base of the ready-made models (:class:`BasicGAS`,
    :class:`~pyg_gas.nn.models.GCN2`, :class:`~pyg_gas.nn.models.APPNP`):
    a :class:`~pyg_gas.ScalableGNN` from :obj:`in_channels` input features
    to :obj:`out_channels` outputs, with a dropout. It checks and stores
    these options; subclasses add their layers.

    Args:
        num_nodes (int): The number of nodes of the graph.
        in_channels (int): The size of the input features.
        history_channels (int): The width of the histories.
        out_channels (int): The size of the output.
        num_layers (int): The number of layers.
        dropout (float, optional): The dropout, in :math:`[0, 1)`.
            (default: :obj:`0.0`)
        drop_input (bool, optional): Also drops out the input features.
            (default: :obj:`False`)
        history_dtype (torch.dtype, optional): The storage type of the
            histories. (default: :obj:`torch.float32`)
        history_device (torch.device or str, optional): Keeps the histories
            on this device instead of moving them with the model.
            (default: :obj:`None`)
        history_storage (str, optional): :obj:`'memory'`, or :obj:`'disk'`
            for histories in memory-mapped files under :obj:`history_path`
            (see :class:`~pyg_gas.ScalableGNN`). (default: :obj:`'memory'`)
        history_path (str, optional): The directory of disk histories.
            (default: :obj:`None`)
    """
    #: Whether the layers weigh messages by the adjacency's values (edge
    #: weights). Layer-wise sampling (:class:`~pyg_gas.LADIESLoader`) needs
    #: it: its importance weights are the sampled adjacency's values.
    uses_edge_weight: bool = True

    def __init__(self, num_nodes: int, in_channels: int,
                 history_channels: int, out_channels: int, num_layers: int,
                 dropout: float = 0.0, drop_input: bool = False,
                 history_dtype: Optional[torch.dtype] = None,
                 history_device: Optional[Union[torch.device, str]] = None,
                 history_storage: str = 'memory',
                 history_path: Optional[str] = None,
                 ) -> None:
        check_int('in_channels', in_channels)
        check_int('out_channels', out_channels)
        check_number('dropout', dropout, 0.0, 1.0, open_max=True)
        super().__init__(num_nodes, history_channels, num_layers,
                         history_dtype=history_dtype,
                         history_device=history_device,
                         history_storage=history_storage,
                         history_path=history_path)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.dropout = dropout
        self.drop_input = drop_input

    def embed_input(self, x: Tensor) -> Tensor:
        r"""Maps the input features of all rows, dropped out if
        :obj:`drop_input`, through the subclass's first linear layer
        :obj:`lins[0]` and a ReLU."""
        if self.drop_input:
            x = dropout(x, p=self.dropout, training=self.training)
        return self.lins[0](x).relu()  # [B + H, C]

    def reset_parameters(self) -> None:
        r"""Resets the histories and every module of the subclass's
        :obj:`lins`, :obj:`convs` and :obj:`bns` lists that it has."""
        super().reset_parameters()
        for name in ('lins', 'convs', 'bns'):
            for module in getattr(self, name, []):
                module.reset_parameters()


class BasicGAS(GASModel):
    r"""A stack of message passing layers with the usual options, trained
    with historical embeddings. Subclasses choose the conv with
    :meth:`init_conv` and how to call it with :meth:`conv`.

    Layer :math:`\ell` computes, for its target rows,

    .. math::
        \mathbf{H}^{(\ell + 1)} = \sigma\left(\mathrm{BN}\left(
        \mathrm{conv}(\mathrm{dropout}(\mathbf{H}^{(\ell)}))\right) +
        \mathbf{H}^{(\ell)}_{\textrm{residual}}\right)

    The arguments :obj:`num_nodes`, :obj:`in_channels`, :obj:`out_channels`,
    :obj:`num_layers` (of message passing layers), :obj:`dropout` (before
    every layer), :obj:`drop_input`, :obj:`history_dtype`,
    :obj:`history_device`, :obj:`history_storage` and :obj:`history_path`
    are those of :class:`GASModel`.

    Args:
        hidden_channels (int): The size of the hidden embeddings (the
            histories are :meth:`hidden_width` wide).
        batch_norm (bool, optional): Applies batch normalization after each
            hidden layer. (default: :obj:`False`)
        residual (bool, optional): Adds the layer's input to its output where
            their sizes match. (default: :obj:`False`)
        linear (bool, optional): Maps the input features to
            :obj:`hidden_channels` with a linear layer before the first conv,
            and the last conv's output to :obj:`out_channels` with another
            one, so that every conv is hidden-to-hidden.
            (default: :obj:`False`)
        **kwargs (optional): Arguments of the conv (see :meth:`init_conv`).
    """
    def __init__(self, num_nodes: int, in_channels: int, hidden_channels: int,
                 out_channels: int, num_layers: int, dropout: float = 0.0,
                 drop_input: bool = False, batch_norm: bool = False,
                 residual: bool = False, linear: bool = False,
                 history_dtype: Optional[torch.dtype] = None,
                 history_device: Optional[Union[torch.device, str]] = None,
                 history_storage: str = 'memory',
                 history_path: Optional[str] = None,
                 **kwargs: Any) -> None:
        check_int('hidden_channels', hidden_channels)
        width = self.hidden_width(hidden_channels, **kwargs)
        super().__init__(num_nodes, in_channels, width, out_channels,
                         num_layers, dropout=dropout, drop_input=drop_input,
                         history_dtype=history_dtype,
                         history_device=history_device,
                         history_storage=history_storage,
                         history_path=history_path)
        self.hidden_channels = hidden_channels
        self.residual = residual
        self.linear = linear

        self.lins = ModuleList()
        if linear:
            self.lins.append(Linear(in_channels, width))
            self.lins.append(Linear(width, out_channels))

        self.convs = ModuleList()
        for i in range(num_layers):
            in_dim = width if i > 0 or linear else in_channels
            last = i == num_layers - 1 and not linear
            out_dim = out_channels if last else hidden_channels
            self.convs.append(
                self.init_conv(in_dim, out_dim, last=last, **kwargs))

        self.bns = ModuleList()
        if batch_norm:
            num_norms = num_layers if linear else num_layers - 1
            for _ in range(num_norms):
                self.bns.append(BatchNorm1d(width))

    def hidden_width(self, hidden_channels: int, **kwargs: Any) -> int:
        r"""The width of the hidden embeddings (and histories), e.g.
        :obj:`hidden_channels * heads` for concatenated attention heads."""
        return hidden_channels

    def init_conv(self, in_channels: int, out_channels: int, last: bool,
                  **kwargs: Any) -> torch.nn.Module:
        r"""Creates the conv of one layer; :obj:`last` tells whether it
        is the output layer."""
        raise NotImplementedError

    def conv(self, layer: int, x: Tensor, adj_t: Adj,
             state: Dict[str, Any]) -> Tensor:
        r"""Calls the conv of :obj:`layer`; returns the target rows."""
        return self.convs[layer](x, adj_t)

    @property
    def reg_modules(self) -> ModuleList:
        # As in GAS: the first layer (and its norm) takes the weight decay.
        if self.linear:
            return ModuleList([self.lins[0]])
        return ModuleList([self.convs[0]] + list(self.bns[:1]))

    @property
    def nonreg_modules(self) -> ModuleList:
        if self.linear:
            return ModuleList([self.convs, self.bns, self.lins[1]])
        return ModuleList(list(self.convs[1:]) + list(self.bns[1:]))

    def forward_layer(self, layer: int, x: Tensor, adj_t: Adj,
                      state: Dict[str, Any]) -> Tensor:
        if layer > 0 or self.drop_input:
            x = dropout(x, p=self.dropout, training=self.training)
        if layer == 0 and self.linear:
            x = self.lins[0](x).relu_()  # [B + H, hidden_channels]
            x = dropout(x, p=self.dropout, training=self.training)

        h = self.conv(layer, x, adj_t, state)  # [B, C]

        last = layer == self.num_layers - 1
        if not last or self.linear:
            if len(self.bns) > 0:
                h = self.bns[layer](h)
            if self.residual and h.size(-1) == x.size(-1):
                h = h + x[:h.size(0)]
            h = h.relu_()
        if last and self.linear:
            h = dropout(h, p=self.dropout, training=self.training)
            h = self.lins[1](h)  # [B, out_channels]
        return h

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, '
                f'num_layers={self.num_layers}, '
                f'num_nodes={self.num_nodes}')
