from typing import Any, Dict, Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.nn import PNAConv
from torch_geometric.utils import degree

from pyg_gas.graph import get_edge_index, num_target_nodes, pad_targets
from pyg_gas.nn.models.basic import BasicGAS
from pyg_gas.typing import Adj


class PNA(BasicGAS):
    r"""The principal neighbourhood aggregation network from the
    `"Principal Neighbourhood Aggregation for Graph Nets"
    <https://arxiv.org/abs/2004.05718>`_ paper, trained with historical
    embeddings.

    .. math::
        \mathbf{x}_i^{\prime} = \gamma_{\mathbf{\Theta}} \left(
        \mathbf{x}_i, \underset{j \in \mathcal{N}(i)}{\bigoplus}
        h_{\mathbf{\Theta}} \left( \mathbf{x}_i, \mathbf{x}_j \right)
        \right)

    The degree scalers normalize by the average log-degree of the training
    graph, which must be that of the *whole* graph: pass
    :obj:`deg=PNA.degree_histogram(data)`. The degrees of a batch's target
    nodes are exact, since a GAS batch keeps all of their in-edges.

    Args:
        deg (torch.Tensor): The histogram of in-degrees of the whole graph.
        aggregators ([str], optional): The aggregators.
            (default: :obj:`['mean', 'min', 'max', 'std']`)
        scalers ([str], optional): The degree scalers.
            (default: :obj:`['identity', 'amplification', 'attenuation']`)
        edge_dim (int, optional): The size of edge features.
            (default: :obj:`None`)
        **kwargs (optional): The arguments of
            :class:`~pyg_gas.nn.models.basic.BasicGAS`, and the other
            arguments of :class:`~torch_geometric.nn.conv.PNAConv` (e.g.
            :obj:`towers`). :obj:`act` is the model's activation between
            layers, as in PyG's :class:`~torch_geometric.nn.models.PNA`.
    """
    #: The messages are weighted by its aggregators, not by edge weights.
    uses_edge_weight = False
    conv_cls = PNAConv
    fixed_conv_arguments = ('aggr', 'node_dim')

    def __init__(
        self,
        num_nodes: int,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int,
        deg: Optional[Tensor] = None,
        aggregators: Sequence[str] = ('mean', 'min', 'max', 'std'),
        scalers: Sequence[str] = ('identity', 'amplification',
                                  'attenuation'),
        edge_dim: Optional[int] = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(deg, Tensor) or deg.dim() != 1:
            raise ValueError("'PNA' needs the whole graph's in-degree "
                             "histogram: pass 'deg=PNA.degree_histogram("
                             "data)'")
        self.edge_dim = edge_dim
        super().__init__(num_nodes, in_channels, hidden_channels,
                         out_channels, num_layers, deg=deg,
                         aggregators=list(aggregators),
                         scalers=list(scalers), edge_dim=edge_dim, **kwargs)

    def init_conv(self, in_channels: int, out_channels: int, last: bool,
                  **kwargs: Any) -> torch.nn.Module:
        return PNAConv(in_channels, out_channels, **kwargs)

    def conv(self, layer: int, x: Tensor, adj_t: Adj,
             state: Dict[str, Any]) -> Tensor:
        # PNAConv concatenates its input to its output, so it needs a
        # target row per source row; the extra rows have no edges and are
        # dropped again:
        num_targets = num_target_nodes(adj_t)
        adj_t = pad_targets(adj_t, x.size(0))  # [B + H, B + H]
        edge_attr = state.get('edge_attr') if self.edge_dim else None
        out = self.convs[layer](x, adj_t, edge_attr=edge_attr)
        return out[:num_targets]  # [B, C]

    @staticmethod
    def degree_histogram(data: Data) -> Tensor:
        r"""The histogram of in-degrees of :obj:`data`: entry :obj:`d`
        counts the nodes with :obj:`d` in-edges."""
        edge_index, num_nodes = get_edge_index(data)
        deg = degree(edge_index[1], num_nodes, dtype=torch.long)
        return torch.bincount(deg)
