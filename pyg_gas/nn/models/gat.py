from typing import Any, Dict, Optional

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.nn import GATConv

from pyg_gas.checks import check_int, check_number
from pyg_gas.graph import add_node_self_loops, num_target_nodes
from pyg_gas.nn.models.basic import BasicGAS
from pyg_gas.typing import Adj


class GAT(BasicGAS):
    r"""The graph attention network from the `"Graph Attention Networks"
    <https://arxiv.org/abs/1710.10903>`_ paper, trained with historical
    embeddings.

    .. math::
        \mathbf{x}^{\prime}_i = \big\Vert_{k=1}^{K} \sum_{j \in
        \mathcal{N}(i) \cup \{ i \}} \alpha^{(k)}_{i,j} \mathbf{\Theta}^{(k)}
        \mathbf{x}_{j}

    Hidden layers concatenate :obj:`heads` heads of :obj:`hidden_channels`
    each, so the histories are :obj:`heads * hidden_channels` wide; the
    output layer averages :obj:`out_heads` heads. The attention of a node
    spans all of its in-edges, which a GAS mini-batch keeps, so it is exact.
    Self-loops are added once to the whole graph by :meth:`transform`
    (filling their edge features with the mean of the node's in-edges, as
    :class:`~torch_geometric.nn.conv.GATConv` does), and the convs run with
    :obj:`add_self_loops=False` on bipartite batches.

    Args:
        heads (int, optional): The number of heads of the hidden layers.
            (default: :obj:`8`)
        out_heads (int, optional): The number of heads of the output layer,
            averaged. (default: :obj:`1`)
        attn_dropout (float, optional): The dropout of the attention
            coefficients. (default: :obj:`0.0`)
        edge_dim (int, optional): The size of edge features, passed to
            :meth:`forward` as :obj:`edge_attr`. (default: :obj:`None`)
        **kwargs (optional): The arguments of
            :class:`~pyg_gas.nn.models.basic.BasicGAS`, and the other
            arguments of :class:`~torch_geometric.nn.conv.GATConv` (e.g.
            :obj:`negative_slope`) but :obj:`concat` and
            :obj:`add_self_loops`.
    """
    #: The messages are weighted by attention coefficients, not by edge
    #: weights.
    uses_edge_weight = False
    conv_cls = GATConv
    fixed_conv_arguments = ('concat', 'add_self_loops', 'node_dim')
    expects_transform = 'self_loops'
    argument_alternatives = {
        'add_self_loops': "self-loops are added once, to the whole graph, "
                          "by 'data = model.transform(data)'",
        'concat': 'hidden layers concatenate their heads, the output layer '
                  "averages its 'out_heads'",
        'v2': 'GATv2 is not supported',
    }

    def __init__(self, num_nodes: int, in_channels: int, hidden_channels: int,
                 out_channels: int, num_layers: int, heads: int = 8,
                 out_heads: int = 1, attn_dropout: float = 0.0,
                 edge_dim: Optional[int] = None, **kwargs: Any) -> None:
        check_int('heads', heads)
        check_int('out_heads', out_heads)
        check_number('attn_dropout', attn_dropout, 0.0, 1.0, open_max=True)
        self.heads = heads
        self.edge_dim = edge_dim
        super().__init__(num_nodes, in_channels, hidden_channels,
                         out_channels, num_layers, heads=heads,
                         out_heads=out_heads, attn_dropout=attn_dropout,
                         edge_dim=edge_dim, **kwargs)

    def hidden_width(self, hidden_channels: int, **kwargs: Any) -> int:
        return hidden_channels * kwargs['heads']

    def init_conv(self, in_channels: int, out_channels: int, last: bool,
                  heads: int = 8, out_heads: int = 1,
                  attn_dropout: float = 0.0, edge_dim: Optional[int] = None,
                  **kwargs: Any) -> torch.nn.Module:
        return GATConv(in_channels, out_channels,
                       heads=out_heads if last else heads, concat=not last,
                       dropout=attn_dropout, add_self_loops=False,
                       edge_dim=edge_dim, **kwargs)

    def conv(self, layer: int, x: Tensor, adj_t: Adj,
             state: Dict[str, Any]) -> Tensor:
        x_dst = x[:num_target_nodes(adj_t)]  # [B, C]
        edge_attr = state.get('edge_attr') if self.edge_dim else None
        return self.convs[layer]((x, x_dst), adj_t, edge_attr=edge_attr)

    def transform(self, data: Data) -> Data:
        r"""Replaces the self-loops of the whole graph by one per node,
        keeping every edge-level attribute aligned with the edges (see
        :func:`~pyg_gas.graph.add_node_self_loops`)."""
        return add_node_self_loops(data)
