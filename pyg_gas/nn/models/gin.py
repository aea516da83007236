from typing import Any, Dict, Optional

import torch
from torch import Tensor
from torch_geometric.nn import MLP, GINConv, GINEConv

from pyg_gas.graph import num_target_nodes
from pyg_gas.nn.models.basic import BasicGAS
from pyg_gas.typing import Adj


class GIN(BasicGAS):
    r"""The graph isomorphism network from the `"How Powerful are Graph
    Neural Networks?" <https://arxiv.org/abs/1810.00826>`_ paper, trained
    with historical embeddings.

    .. math::
        \mathbf{x}^{\prime}_i = h_{\mathbf{\Theta}} \left( (1 + \epsilon)
        \cdot \mathbf{x}_i + \sum_{j \in \mathcal{N}(i)} \mathbf{x}_j \right)

    Every layer's :math:`h_{\mathbf{\Theta}}` is a two-layer MLP, whose
    hidden layer takes the model's activation :obj:`act`. With
    :obj:`edge_dim`, the layers are
    :class:`~torch_geometric.nn.conv.GINEConv`, which add edge features
    (given to :meth:`forward` as :obj:`edge_attr`) to the messages.

    Args:
        train_eps (bool, optional): Learns :math:`\epsilon`.
            (default: :obj:`True`)
        edge_dim (int, optional): The size of edge features.
            (default: :obj:`None`)
        **kwargs (optional): The arguments of
            :class:`~pyg_gas.nn.models.basic.BasicGAS`, and the other
            arguments of :class:`~torch_geometric.nn.conv.GINConv` (e.g.
            :obj:`eps`).
    """
    conv_cls = GINConv
    argument_alternatives = {
        'nn': 'every layer builds its own two-layer MLP',
    }
    def __init__(self, num_nodes: int, in_channels: int, hidden_channels: int,
                 out_channels: int, num_layers: int, train_eps: bool = True,
                 edge_dim: Optional[int] = None, **kwargs: Any) -> None:
        self.edge_dim = edge_dim
        super().__init__(num_nodes, in_channels, hidden_channels,
                         out_channels, num_layers, train_eps=train_eps,
                         edge_dim=edge_dim, **kwargs)

    def init_conv(self, in_channels: int, out_channels: int, last: bool,
                  train_eps: bool = True, edge_dim: Optional[int] = None,
                  **kwargs: Any) -> torch.nn.Module:
        mlp = MLP([in_channels, self.hidden_channels, out_channels],
                  act=self.act, norm=None)
        if edge_dim is not None:
            return GINEConv(mlp, train_eps=train_eps, edge_dim=edge_dim,
                            **kwargs)
        return GINConv(mlp, train_eps=train_eps, **kwargs)

    def conv(self, layer: int, x: Tensor, adj_t: Adj,
             state: Dict[str, Any]) -> Tensor:
        x_dst = x[:num_target_nodes(adj_t)]  # [B, C]
        if self.edge_dim is not None:
            if state.get('edge_attr') is None:
                raise ValueError(f"'GIN' with 'edge_dim={self.edge_dim}' "
                                 f"needs 'edge_attr' in 'forward'")
            return self.convs[layer]((x, x_dst), adj_t,
                                     edge_attr=state['edge_attr'])
        return self.convs[layer]((x, x_dst), adj_t)
