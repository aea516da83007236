from typing import Any, Optional

from torch import Tensor
from torch_geometric.data import Data


class SubgraphData(Data):
    r"""A mini-batch of a clustered graph, as produced by
    :class:`~pyg_gas.SubgraphLoader`, :class:`~pyg_gas.EvalSubgraphLoader`
    and :class:`~pyg_gas.ClusterLoader`.

    Nodes are laid out batch first: rows :obj:`0:batch_size` are the
    in-batch nodes, and the rows after them (if any) are their out-of-batch
    1-hop neighbours, the *halo*. Every node-level attribute of the original
    graph (:obj:`x`, :obj:`y`, masks, ...) is given for all of these rows.

    Besides the usual :class:`~torch_geometric.data.Data` attributes, it
    carries:

    Args:
        batch_size (int): The number of in-batch nodes :math:`B`.
        n_id (torch.Tensor): The global id of each row, in-batch nodes first,
            then halo nodes. Shape :math:`(B + H)`.
        offset (torch.Tensor): The global id of the first node of each
            cluster in the batch. The in-batch nodes are the consecutive
            ranges :obj:`offset[i]:offset[i] + count[i]`, in this order.
        count (torch.Tensor): The number of nodes of each cluster in the
            batch.
        adj_t (torch.Tensor or SparseTensor): The transposed bipartite
            adjacency of shape :math:`(B, B + H)`: entry :math:`(i, j)` holds
            the weight of the edge :math:`j \rightarrow i`. Every edge into an
            in-batch node is kept.
        edge_index (torch_geometric.EdgeIndex): The same edges in COO form,
            sources in :math:`[0, B + H)`, targets in :math:`[0, B)`, sorted by
            target, with sparse size :math:`(B + H, B)`. Edge-level
            attributes (:obj:`edge_weight`, :obj:`edge_attr`) follow this
            order, and so do the values of :obj:`adj_t`.
    """
    def __init__(self, x: Optional[Tensor] = None,
                 edge_index: Optional[Tensor] = None,
                 batch_size: Optional[int] = None,
                 n_id: Optional[Tensor] = None,
                 offset: Optional[Tensor] = None,
                 count: Optional[Tensor] = None, **kwargs: Any) -> None:
        super().__init__(x=x, edge_index=edge_index, n_id=n_id, offset=offset,
                         count=count, **kwargs)
        self.batch_size = batch_size

    @property
    def num_halo_nodes(self) -> int:
        r"""The number :math:`H` of halo nodes."""
        return int(self.n_id.numel()) - int(self.batch_size)

    def __inc__(self, key: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        if key in ('n_id', 'offset', 'count'):
            return 0
        return super().__inc__(key, value, *args, **kwargs)


class LayerwiseData(Data):
    r"""A mini-batch of layer-wise sampled node sets, as produced by
    :class:`~pyg_gas.LADIESLoader`.

    A model with :math:`L` layers sees :math:`L + 1` nested node sets
    :math:`\mathcal{U}_0 \supseteq \dots \supseteq \mathcal{U}_L`, where
    :math:`\mathcal{U}_L` is the batch of output nodes, and layer
    :math:`\ell` maps the :math:`n_\ell` rows of :math:`\mathcal{U}_\ell` to
    the :math:`n_{\ell + 1}` rows of :math:`\mathcal{U}_{\ell + 1}`. The
    layout is *targets first* at every level: the first
    :math:`n_{\ell + 1}` nodes of :math:`\mathcal{U}_\ell` are
    :math:`\mathcal{U}_{\ell + 1}`, so :obj:`x[:num_targets]` holds the
    targets' own rows, as convs with a root term need.

    Every node-level attribute of the original graph (:obj:`x`, :obj:`y`,
    masks, ...) is given for the input-layer nodes :obj:`n_id`.

    Args:
        n_id (torch.Tensor): The global ids of the input-layer nodes
            :math:`\mathcal{U}_0`. Shape :math:`(n_0)`. By the nested layout,
            :obj:`n_id[:n_l]` are the nodes of :math:`\mathcal{U}_\ell`.
        batch_size (int): The number of output nodes :math:`n_L`; they are
            :obj:`n_id[:batch_size]`.
        adjs_t ([torch.Tensor]): One torch sparse CSR matrix per layer,
            input layer first: :obj:`adjs_t[l]` has shape
            :math:`(n_{\ell + 1}, n_\ell)` (targets :math:`\times` sources),
            entry :math:`(i, j)` being the sampled weight of the edge
            :math:`j \rightarrow i`.
        edge_indices ([torch_geometric.EdgeIndex]): The same edges in COO
            form: sources (row 0) in :math:`[0, n_\ell)`, targets (row 1) in
            :math:`[0, n_{\ell + 1})`, sorted by target, with sparse size
            :math:`(n_\ell, n_{\ell + 1})`.
        edge_weights ([torch.Tensor]): The weights of :obj:`edge_indices`,
            equal to the values of :obj:`adjs_t`.
        layer_n_id ([torch.Tensor]): The global ids of every node set,
            :obj:`layer_n_id[l]` being :math:`\mathcal{U}_\ell` of size
            :math:`n_\ell`; :obj:`layer_n_id[0]` is :obj:`n_id`.
        layer_sizes ([int]): :math:`[n_0, \dots, n_L]`.
    """
    def __init__(self, x: Optional[Tensor] = None,
                 n_id: Optional[Tensor] = None,
                 batch_size: Optional[int] = None, **kwargs: Any) -> None:
        super().__init__(x=x, n_id=n_id, **kwargs)
        self.batch_size = batch_size

    @property
    def num_layers(self) -> int:
        r"""The number of layers :math:`L`."""
        return len(self.adjs_t)

    def __inc__(self, key: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        if key in ('n_id', 'layer_n_id'):
            return 0
        return super().__inc__(key, value, *args, **kwargs)
