from typing import Any

import torch
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv
from torch_geometric.transforms import GCNNorm

from pyg_gas.nn.models.basic import BasicGAS


def gcn_normalize(data: Data) -> Data:
    r"""Returns a copy of :obj:`data` with self-loops added and the symmetric
    GCN normalization :math:`\mathbf{\hat{D}}^{-1/2} \mathbf{\hat{A}}
    \mathbf{\hat{D}}^{-1/2}` of the *whole* graph stored as
    :obj:`edge_weight`, so that mini-batches see whole-graph degrees."""
    if data.edge_index is None:
        raise ValueError("GCN normalization needs 'edge_index'")
    return GCNNorm(add_self_loops=True)(data.clone())


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
    partitioning.

    See :class:`~pyg_gas.nn.models.basic.BasicGAS` for the arguments.
    """
    def init_conv(self, in_channels: int, out_channels: int, last: bool,
                  **kwargs: Any) -> torch.nn.Module:
        kwargs.setdefault('cached', False)
        return GCNConv(in_channels, out_channels, normalize=False, **kwargs)

    def transform(self, data: Data) -> Data:
        r"""Adds self-loops and stores the symmetric GCN normalization of the
        whole graph as :obj:`edge_weight` (see :func:`gcn_normalize`)."""
        return gcn_normalize(data)
