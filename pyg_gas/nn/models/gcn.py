from typing import Any, Dict

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv
from torch_geometric.utils import spmm

from pyg_gas.graph import (  # noqa: F401 (gcn_normalize: alias)
    gcn_normalize,
    is_sparse,
    num_target_nodes,
)
from pyg_gas.nn.models.basic import BasicGAS
from pyg_gas.typing import Adj


class GCN(BasicGAS):
    r"""The graph convolutional network from the `"Semi-supervised
    Classification with Graph Convolutional Networks"
    <https://arxiv.org/abs/1609.02907>`_ paper, trained with historical
    embeddings.

    .. math::
        \mathbf{X}^{\prime} = \mathbf{\hat{D}}^{-1/2} \mathbf{\hat{A}}
        \mathbf{\hat{D}}^{-1/2} \mathbf{X} \mathbf{\Theta}

    The normalization needs the degrees of the whole graph, which a
    mini-batch does not see. So it is computed once, on the whole graph, by
    :meth:`transform` (self-loops plus symmetric normalization, stored as
    :obj:`edge_weight`), and the convs run with :obj:`normalize=False` on
    the weighted adjacency. Call :obj:`data = model.transform(data)` before
    partitioning; the first forward pass warns if its adjacency has no
    edge weights or self-loops.

    See :class:`~pyg_gas.nn.models.basic.BasicGAS` for the arguments; the
    other arguments of :class:`~torch_geometric.nn.conv.GCNConv` but
    :obj:`normalize` are passed on to it.
    """
    conv_cls = GCNConv
    fixed_conv_arguments = ('normalize', )
    expects_transform = 'gcn_norm'
    argument_alternatives = {
        'normalize': "the graph is normalized once, as a whole, by "
                     "'data = model.transform(data)'",
    }

    def init_conv(self, in_channels: int, out_channels: int, last: bool,
                  **kwargs: Any) -> torch.nn.Module:
        kwargs.setdefault('cached', False)
        return GCNConv(in_channels, out_channels, normalize=False, **kwargs)

    def conv(self, layer: int, x: Tensor, adj_t: Adj,
             state: Dict[str, Any]) -> Tensor:
        r"""Runs :class:`~torch_geometric.nn.conv.GCNConv` of
        :obj:`layer`, in the cheaper of two equal orders: PyG's transform
        first, :math:`\mathbf{A} (\mathbf{X} \mathbf{\Theta})`, or
        aggregate first, :math:`(\mathbf{A} \mathbf{X}) \mathbf{\Theta}`.
        The second transforms only the :math:`B` target rows instead of all
        :math:`B + H` input rows, and aggregates at the input width: it wins
        on GAS batches (whose halo rows need no transform) and whenever the
        layer widens its input."""
        conv = self.convs[layer]
        if not is_sparse(adj_t):  # 'edge_index' input: PyG's own path.
            return conv(x, adj_t)
        num_rows = num_target_nodes(adj_t)
        nnz = adj_t.nnz() if hasattr(adj_t, 'nnz') else adj_t._nnz()
        c_in, c_out = x.size(-1), conv.out_channels
        transform_first = x.size(0) * c_in * c_out + nnz * c_out
        aggregate_first = nnz * c_in + num_rows * c_in * c_out
        if aggregate_first >= transform_first:
            return conv(x, adj_t)
        out = conv.lin(spmm(adj_t, x))  # [B, C_out]
        if conv.bias is not None:
            out = out + conv.bias
        return out

    def transform(self, data: Data) -> Data:
        r"""Adds self-loops and stores the symmetric GCN normalization of the
        whole graph as :obj:`edge_weight` (see :func:`gcn_normalize`)."""
        return gcn_normalize(data)
