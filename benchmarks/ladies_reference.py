r"""A plain reference implementation of LADIES and FastGCN sampling, the
algorithm of the paper as the authors' code runs it: SciPy CSR row and
column slicing per batch, :obj:`np.random.choice` without replacement,
weights :math:`1 / p_i`, and row normalization.

It is a baseline for ``ladies_sampling.py``, not part of the package. The
one change to the authors' sampler is that layer :math:`\ell - 1` always
contains the nodes of layer :math:`\ell` (first), not only the output nodes,
so that it yields the same layout as :class:`pyg_gas.LADIESLoader`.
"""
import warnings
from typing import List, Optional, Tuple

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor


def normalized_adjacency(edge_index: np.ndarray,
                         num_nodes: int) -> sp.csr_matrix:
    r"""The matrix :math:`\mathbf{D}^{-1/2} (\mathbf{A} + \mathbf{I})
    \mathbf{D}^{-1/2}`, rows being targets, self-loops of the input
    dropped."""
    src, dst = edge_index
    keep = src != dst
    src, dst = src[keep], dst[keep]
    adj = sp.coo_matrix((np.ones(src.size), (dst, src)),
                        shape=(num_nodes, num_nodes)).tocsr()
    adj = adj + sp.identity(num_nodes, format='csr')
    deg = np.asarray(adj.sum(axis=1)).reshape(-1)
    dis = sp.diags(deg**-0.5)
    return (dis @ adj @ dis).tocsr()


def row_normalize(mx: sp.csr_matrix) -> sp.csr_matrix:
    row_sum = np.asarray(mx.sum(axis=1)).reshape(-1)
    with np.errstate(divide='ignore'):
        inv = np.where(row_sum > 0, 1.0 / row_sum, 0.0)
    return sp.diags(inv) @ mx


def to_torch_csr(mx: sp.csr_matrix) -> Tensor:
    mx = mx.tocsr()
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', '.*Sparse CSR tensor support.*')
        return torch.sparse_csr_tensor(
            torch.from_numpy(mx.indptr.astype(np.int64)),
            torch.from_numpy(mx.indices.astype(np.int64)),
            torch.from_numpy(mx.data.astype(np.float32)), size=mx.shape)


class ReferenceSampler:
    r"""Samples :obj:`(n_id, adjs_t)` like the LADIES authors' sampler.

    Args:
        edge_index (np.ndarray): The edges :math:`j \rightarrow i`.
        num_nodes (int): The number of nodes.
        mode (str, optional): :obj:`'ladies'` or :obj:`'fastgcn'`.
            (default: :obj:`'ladies'`)
        seed (int, optional): Seeds NumPy's legacy random state.
            (default: :obj:`None`)
    """
    def __init__(self, edge_index: np.ndarray, num_nodes: int,
                 mode: str = 'ladies', seed: Optional[int] = None) -> None:
        self.num_nodes = num_nodes
        self.mode = mode
        self.lap = normalized_adjacency(edge_index, num_nodes)
        self.rng = np.random.RandomState(seed)
        col_norm = np.asarray(self.lap.multiply(self.lap).sum(axis=0))[0]
        self.fastgcn_p = col_norm / col_norm.sum()

    def sample(self, batch_nodes: np.ndarray,
               num_samples: List[int]) -> Tuple[np.ndarray, List[Tensor]]:
        r"""Returns the input-layer node ids and one torch CSR adjacency per
        layer (input layer first), :obj:`num_samples[l]` being for the input
        set of layer :obj:`l`."""
        previous = batch_nodes
        adjs = []
        for samples in reversed(num_samples):
            rows = self.lap[previous, :]  # Q P
            if self.mode == 'ladies':
                pi = np.asarray(rows.multiply(rows).sum(axis=0))[0]
                p = pi / pi.sum()
            else:
                p = self.fastgcn_p
            s = min(int(np.count_nonzero(p)), samples)
            after = self.rng.choice(self.num_nodes, s, p=p, replace=False)
            after = np.setdiff1d(after, previous)
            after = np.concatenate([previous, after])  # Targets first.
            adj = rows[:, after].multiply(1.0 / p[after])
            adjs.append(to_torch_csr(row_normalize(adj.tocsr())))
            previous = after
        adjs.reverse()
        return previous, adjs
