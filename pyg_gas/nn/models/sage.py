from typing import Any, Dict

import torch
from torch import Tensor
from torch_geometric.nn import SAGEConv

from pyg_gas.graph import num_target_nodes
from pyg_gas.nn.models.basic import BasicGAS
from pyg_gas.typing import Adj


class SAGE(BasicGAS):
    r"""GraphSAGE from the `"Inductive Representation Learning on Large
    Graphs" <https://arxiv.org/abs/1706.02216>`_ paper, trained with
    historical embeddings.

    .. math::
        \mathbf{x}^{\prime}_i = \mathbf{W}_1 \mathbf{x}_i + \mathbf{W}_2
        \cdot \mathrm{mean}_{j \in \mathcal{N}(i)} \mathbf{x}_j

    The root term needs the target rows, so every conv is called in PyG's
    bipartite form :obj:`conv((x, x[:num_targets]), adj_t)`.

    See :class:`~pyg_gas.nn.models.basic.BasicGAS` for the arguments; the
    other arguments of :class:`~torch_geometric.nn.conv.SAGEConv` are
    passed on to it.
    """
    conv_cls = SAGEConv

    def init_conv(self, in_channels: int, out_channels: int, last: bool,
                  **kwargs: Any) -> torch.nn.Module:
        return SAGEConv(in_channels, out_channels, **kwargs)

    def conv(self, layer: int, x: Tensor, adj_t: Adj,
             state: Dict[str, Any]) -> Tensor:
        x_dst = x[:num_target_nodes(adj_t)]  # [B, C]
        return self.convs[layer]((x, x_dst), adj_t)
