r"""The graph transforms of the models (self-loops, GCN normalization),
applied to a prepared dataset chunk by chunk, in bounded memory."""
import os
import os.path as osp
from typing import Any, Dict, Iterator, Optional, Tuple

import torch
from torch import Tensor

from pyg_gas.storage.dataset import DiskDataset
from pyg_gas.storage.format import (
    MANIFEST,
    ArrayWriter,
    FormatError,
    check_free_space,
    read_manifest,
    write_manifest,
)
from pyg_gas.utils import check_writable_dir, trim_memory
from pyg_gas.utils import log as log_line

#: The transforms :func:`derive` applies, by name.
TRANSFORMS = ('gcn_norm', 'self_loops')


def row_chunks(rowptr: Tensor, chunk_edges: int) -> Iterator[Tuple[int, int]]:
    r"""Splits the rows of a CSR into consecutive ranges :obj:`(lo, hi)` of
    about :obj:`chunk_edges` edges each (at least one row each)."""
    num_rows = rowptr.numel() - 1
    lo = 0
    while lo < num_rows:
        target = int(rowptr[lo]) + chunk_edges
        hi = int(torch.searchsorted(rowptr, torch.tensor(target),
                                    right=True)) - 1
        hi = min(max(hi, lo + 1), num_rows)
        yield lo, hi
        lo = hi


def _read_rows(dataset: DiskDataset, lo: int,
               hi: int) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
    # The edges into rows [lo, hi): sources, targets, weights.
    rowptr = dataset.rowptr[lo:hi + 1]
    e0, e1 = int(rowptr[0]), int(rowptr[-1])
    src = dataset.col[e0:e1].long()  # [E_c]
    dst = torch.arange(lo, hi).repeat_interleave(
        rowptr[1:] - rowptr[:-1], output_size=e1 - e0)  # [E_c]
    weight = dataset.get('edge_weight')
    return src, dst, None if weight is None else weight[e0:e1].clone()


def _loop_weights(src: Tensor, dst: Tensor, weight: Tensor, lo: int,
                  num_rows: int) -> Tensor:
    # The weight of each row's last existing self-loop, 1 where none.
    loop = (src == dst).nonzero().view(-1)  # [L], positions
    last = torch.full((num_rows, ), -1, dtype=torch.long)
    last.scatter_reduce_(0, dst[loop] - lo, loop, 'amax')
    out = torch.ones(num_rows, dtype=weight.dtype)
    has = last >= 0
    out[has] = weight[last[has]]
    return out


def _degrees(dataset: DiskDataset, chunk_edges: int) -> Tensor:
    # The GCN degree of every node: the weights of its in-edges that are not
    # self-loops, plus its self-loop's (1 where it has none).
    deg = torch.empty(dataset.num_nodes, dtype=torch.float32)
    for lo, hi in row_chunks(dataset.rowptr, chunk_edges):
        src, dst, weight = _read_rows(dataset, lo, hi)
        if weight is None:
            weight = torch.ones(src.numel())
        keep = src != dst
        part = torch.zeros(hi - lo).index_add_(0, dst[keep] - lo,
                                               weight[keep])
        deg[lo:hi] = part + _loop_weights(src, dst, weight, lo, hi - lo)
    return deg


def derive(dataset: DiskDataset, transform: str, chunk_edges: int = 1 << 18,
           log: bool = True) -> DiskDataset:
    r"""Returns :obj:`dataset` with the graph transform of a model applied
    to its edges, the on-disk counterpart of the models'
    :meth:`~pyg_gas.ScalableGNN.transform`:

    * :obj:`'self_loops'`: every self-loop is replaced by one per node, of
      weight :obj:`1` where the graph has weights, as
      :func:`~pyg_gas.graph.add_node_self_loops` does (for GAT);
    * :obj:`'gcn_norm'`: a node that has a self-loop keeps it (the last
      one), every other node gets one of weight :obj:`1`, and the edge
      weights become the symmetric GCN normalization of the whole graph,
      as :func:`~pyg_gas.graph.gcn_normalize` computes it (for GCN, GCNII
      and APPNP). For unweighted graphs the weights equal the in-memory
      ones bit for bit; weighted degrees may differ in the last bit, as
      their sums are taken in another order.

    The new edges are written once, chunk by chunk, to
    :obj:`root/derived/<transform>/`, whose manifest refers to the node
    arrays of :obj:`dataset` instead of copying them; later calls reopen
    it while :obj:`dataset`'s content is unchanged.

    Memory holds the inverse square roots of the degrees (4 bytes a node)
    and the temporaries of one chunk of about :obj:`chunk_edges` edges.
    Chunks of :math:`2^{18}` edges keep the peak about 70 MB above an idle
    process, on :math:`2 \cdot 10^6` nodes and :math:`2.2 \cdot 10^7`
    edges; chunks of :math:`2^{20}` took about 230 MB there, as the memory
    of larger temporaries is not handed back between chunks, in about the
    same time. The memory is handed back to the system at the end (see
    :func:`~pyg_gas.utils.trim_memory`).
    """
    if transform not in TRANSFORMS:
        raise ValueError(f"'transform' must be one of {list(TRANSFORMS)} "
                         f"(got {transform!r})")
    if dataset.transform is not None:
        raise ValueError(f"'{dataset.root}' already holds the transformed "
                         f"graph '{dataset.transform}'")
    out = osp.join(dataset.root, 'derived', transform)
    if osp.exists(osp.join(out, MANIFEST)):
        try:
            if read_manifest(out).get('parent') == dataset.digest:
                return DiskDataset(out)
        except FormatError:
            pass  # Written by an interrupted or older run: write it again.
    check_writable_dir('derived', out)
    n, e = dataset.num_nodes, dataset.num_edges
    check_free_space(out, (n + 1) * 8 + (n + e) * 8,
                     f"the '{transform}' edges of '{dataset.root}'")
    os.makedirs(out, exist_ok=True)
    if log:
        log_line(f"Writing the '{transform}' edges of '{dataset.root}'")
    gcn = transform == 'gcn_norm'
    weighted = gcn or 'edge_weight' in dataset
    dinv = None
    if gcn:
        dinv = _degrees(dataset, chunk_edges).pow_(-0.5)
        dinv.masked_fill_(dinv == float('inf'), 0)

    # Pass 1: the new row pointers, written as the rows are counted (a row
    # keeps its edges that are not self-loops, plus one self-loop):
    num_edges = 0
    with ArrayWriter(out, 'rowptr', [n + 1], torch.long) as writer:
        writer.write(torch.zeros(1, dtype=torch.long))
        for lo, hi in row_chunks(dataset.rowptr, chunk_edges):
            src, dst, _ = _read_rows(dataset, lo, hi)
            counts = torch.bincount(dst[src != dst] - lo,
                                    minlength=hi - lo) + 1
            ends = counts.cumsum(0).add_(num_edges)  # [hi - lo]
            writer.write(ends)
            num_edges = int(ends[-1])
        arrays: Dict[str, Any] = {'rowptr': writer.close()}

    arrays.update(_write_edges(dataset, out, num_edges, chunk_edges,
                               transform == 'gcn_norm', dinv, weighted))

    # The node arrays stay where they are:
    for key, entry in dataset.manifest['arrays'].items():
        if key not in ('rowptr', 'col', 'edge_weight'):
            path = osp.join(dataset.root, entry['file'])
            arrays[key] = dict(entry, file=osp.relpath(path, out))
    meta = {k: v for k, v in dataset.manifest.items()
            if k not in ('arrays', 'digest', 'format', 'version')}
    meta.update(num_edges=num_edges, transform=transform,
                parent=dataset.digest)
    write_manifest(out, meta, arrays)
    del dinv
    trim_memory()
    return DiskDataset(out)


def _write_edges(dataset: DiskDataset, out: str, num_edges: int,
                 chunk_edges: int, gcn: bool, dinv: Optional[Tensor],
                 weighted: bool) -> Dict[str, Any]:
    # Pass 2 of 'derive': the edges of every row without its self-loops,
    # plus one self-loop in its sorted place, and their weights.
    n = dataset.num_nodes
    arrays: Dict[str, Any] = {}
    col_writer = ArrayWriter(out, 'col', [num_edges], dataset.col.dtype)
    weight_writer = ArrayWriter(out, 'edge_weight', [num_edges],
                                torch.float32) if weighted else None
    try:
        for lo, hi in row_chunks(dataset.rowptr, chunk_edges):
            src, dst, weight = _read_rows(dataset, lo, hi)
            if weight is None and weighted:
                weight = torch.ones(src.numel())
            loops = torch.arange(lo, hi)
            keep = src != dst
            new_src = torch.cat([src[keep], loops])
            new_dst = torch.cat([dst[keep], loops])
            order = torch.argsort((new_dst - lo) * n + new_src, stable=True)
            col_writer.write(new_src[order].to(dataset.col.dtype))
            if weight_writer is not None:
                loop_w = (_loop_weights(src, dst, weight, lo, hi - lo)
                          if gcn else torch.ones(hi - lo))
                w = torch.cat([weight[keep], loop_w])[order]
                if dinv is not None:  # As PyG's gcn_norm computes it:
                    s, d = new_src[order], new_dst[order]
                    w = dinv[s] * w * dinv[d]
                weight_writer.write(w)
        arrays['col'] = col_writer.close()
        if weight_writer is not None:
            arrays['edge_weight'] = weight_writer.close()
    except BaseException:
        col_writer.abort()
        if weight_writer is not None:
            weight_writer.abort()
        raise
    return arrays
