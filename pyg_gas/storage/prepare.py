r"""Writing a dataset directory: from an in-memory graph (:func:`prepare`),
and the helpers that the chunked writers share."""
import copy
import os
import os.path as osp
from typing import Dict, Optional

import torch
import torch_geometric.transforms as T
from torch import Tensor
from torch_geometric.data import Data

from pyg_gas.checks import check_int
from pyg_gas.graph import check_finite_values, get_edge_index, to_csr
from pyg_gas.partition import metis, permute
from pyg_gas.storage.dataset import NODE_ARRAYS, DiskDataset
from pyg_gas.storage.format import (
    MANIFEST,
    check_free_space,
    dtype_name,
    write_array,
    write_manifest,
)
from pyg_gas.utils import check_writable_dir
from pyg_gas.utils import log as log_line

#: Feature storage types that :func:`prepare` accepts, by name.
FEATURE_DTYPES = {'float32': torch.float32, 'bfloat16': torch.bfloat16,
                  'float16': torch.float16}


def index_dtype(num_nodes: int) -> torch.dtype:
    r"""The type of the stored :obj:`col`: :obj:`int32` while node ids fit,
    which halves the largest array of the graph."""
    return torch.int32 if num_nodes < 2**31 else torch.int64


def check_output(root: str, overwrite: bool, num_bytes: int) -> str:
    r"""Checks that :obj:`root` may receive a dataset of about
    :obj:`num_bytes`, before anything is written or computed: it is new,
    empty, or (with :obj:`overwrite`) a prepared dataset, which stays
    readable until its replacement is written."""
    check_writable_dir('root', root)
    root = osp.abspath(root)
    if osp.isdir(root) and os.listdir(root):
        if not osp.exists(osp.join(root, MANIFEST)):
            raise ValueError(f"'{root}' is not empty and holds no prepared "
                             f"dataset: choose a new or empty directory")
        if not overwrite:
            raise ValueError(f"'{root}' already holds a prepared dataset "
                             f"(pass overwrite=True, or --overwrite, to "
                             f"replace it)")
    check_free_space(root, num_bytes, f"the dataset '{root}'")
    return root


def open_output(root: str, overwrite: bool, num_bytes: int) -> str:
    r"""Checks :obj:`root` (see :func:`check_output`) and makes it ready
    for writing: a prepared dataset to overwrite loses its manifest first,
    so that it is never read half rewritten."""
    root = check_output(root, overwrite, num_bytes)
    os.makedirs(root, exist_ok=True)
    if osp.exists(osp.join(root, MANIFEST)):
        os.remove(osp.join(root, MANIFEST))
    return root


def check_node_arrays(data: Data) -> int:
    r"""Checks the node-level tensors a prepared dataset holds and returns
    the number of classes."""
    n = data.num_nodes
    for key in NODE_ARRAYS:
        value = data.get(key)
        if not isinstance(value, Tensor) or value.dim() == 0 or \
                value.size(0) != n:
            raise ValueError(f"'data' needs a tensor '{key}' with one row "
                             f"per node ({n}) to be prepared (got "
                             f"{type(value).__name__ if value is None else list(value.shape)})")  # noqa: E501
        if key.endswith('_mask') and value.dtype != torch.bool:
            raise ValueError(f"'data.{key}' must be a boolean mask (got "
                             f"dtype {value.dtype})")
    if not data.x.is_floating_point():
        raise ValueError(f"'data.x' must hold floating-point features (got "
                         f"dtype {data.x.dtype})")
    num_classes = data.get('num_classes')
    if num_classes is None:
        y = data.y
        num_classes = y.size(-1) if y.is_floating_point() and y.dim() == 2 \
            else int(y.max()) + 1 if y.numel() else 0
    return int(num_classes)


def _edge_attrs(data: Data) -> Dict[str, Tensor]:
    out = {}
    for key, value in data.items():
        if key in ('edge_index', 'adj_t') or not isinstance(value, Tensor):
            continue
        if data.is_edge_attr(key):
            if key != 'edge_weight' or value.dim() != 1:
                raise ValueError(f"A prepared dataset stores 'edge_weight' "
                                 f"as its only edge-level attribute (got "
                                 f"'{key}' of shape {list(value.shape)})")
            out[key] = value
    return out


def prepare(
    data: Data,
    root: str,
    num_parts: Optional[int] = None,
    perm: Optional[Tensor] = None,
    ptr: Optional[Tensor] = None,
    seed: int = 0,
    x_dtype: torch.dtype = torch.float32,
    cache_dir: Optional[str] = None,
    name: Optional[str] = None,
    normalize_features: bool = False,
    overwrite: bool = False,
    log: bool = True,
) -> DiskDataset:
    r"""Writes the in-memory graph :obj:`data` as a dataset directory
    :obj:`root` (see :mod:`pyg_gas.storage.format`) in cluster order, and
    opens it.

    The graph is partitioned with :func:`~pyg_gas.metis` into
    :obj:`num_parts` clusters (cached in :obj:`cache_dir`), or by the given
    :obj:`perm` and :obj:`ptr`, and permuted with :func:`~pyg_gas.permute`,
    so that the stored graph is exactly the one an in-memory run trains on.
    It needs :obj:`x`, :obj:`y`, :obj:`train_mask`, :obj:`val_mask` and
    :obj:`test_mask`; :obj:`edge_weight` is kept, any other edge-level
    attribute is refused.

    Args:
        data (Data): The graph, unpermuted.
        root (str): The directory to write: new, empty, or (with
            :obj:`overwrite`) a prepared dataset.
        num_parts (int, optional): The number of clusters.
        perm (torch.Tensor, optional): A partition's node order, with
            :obj:`ptr`, instead of :obj:`num_parts`.
        ptr (torch.Tensor, optional): Its cluster boundaries.
        seed (int, optional): The METIS seed. (default: :obj:`0`)
        x_dtype (torch.dtype, optional): The features' storage type,
            :obj:`torch.float32`, :obj:`torch.bfloat16` or
            :obj:`torch.float16`; loaders hand out :obj:`float32`.
            (default: :obj:`torch.float32`)
        cache_dir (str, optional): The METIS cache. (default: :obj:`None`)
        name (str, optional): The dataset's name in the manifest, which
            picks the presets of ``pyg-gas train --data-dir``.
        normalize_features (bool, optional): Row-normalizes the features
            (as :class:`torch_geometric.transforms.NormalizeFeatures`) before
            they are written. (default: :obj:`False`)
        overwrite (bool, optional): Replaces a prepared dataset in
            :obj:`root`. (default: :obj:`False`)
        log (bool, optional): Reports the steps on stderr.
            (default: :obj:`True`)
    """
    if not isinstance(data, Data):
        raise TypeError(f"'data' must be a 'Data' object (got "
                        f"{type(data).__name__})")
    if x_dtype not in FEATURE_DTYPES.values():
        raise ValueError(f"'x_dtype' must be one of "
                         f"{list(FEATURE_DTYPES.values())} (got {x_dtype})")
    if (perm is None) != (ptr is None):
        raise ValueError("'perm' and 'ptr' must be given together")
    if perm is None and num_parts is None:
        raise ValueError("Give 'num_parts', or a partition's 'perm' and "
                         "'ptr'")
    num_classes = check_node_arrays(data)
    if normalize_features:
        data = T.NormalizeFeatures()(copy.copy(data))
    edge_index, num_nodes = get_edge_index(data)
    edge_attrs = _edge_attrs(data)
    for key, value in [('x', data.x)] + list(edge_attrs.items()):
        check_finite_values(key, value)
    if perm is None:
        check_int('num_parts', num_parts, 1, num_nodes,
                  expected=f'in [1, {num_nodes}]')
        perm, ptr = metis(data, num_parts, seed=seed, cache_dir=cache_dir,
                          log=log)
        method = 'metis'
    else:
        method = 'given'
    num_edges = edge_index.size(1)
    size = (num_nodes * (data.x.size(-1) * data.x.element_size() + 32) +
            num_edges * 12)
    root = open_output(root, overwrite, size)

    if log:
        log_line(f'Writing {num_nodes} nodes and {num_edges} edges to '
                 f"'{root}'")
    data = permute(Data(edge_index=edge_index, num_nodes=num_nodes,
                        **{k: data[k] for k in NODE_ARRAYS}, **edge_attrs),
                   perm)
    # Rows are targets; sources sorted within each row:
    src, dst = data.edge_index[0], data.edge_index[1]
    order = torch.argsort(dst * max(num_nodes, 1) + src, stable=True)
    rowptr, _, _ = to_csr(data.edge_index[:, order], num_nodes)
    col = src[order]
    arrays = {
        'rowptr': write_array(root, 'rowptr', rowptr),
        'col': write_array(root, 'col', col.to(index_dtype(num_nodes))),
        'perm': write_array(root, 'perm', perm.long()),
        'ptr': write_array(root, 'ptr', ptr.long()),
        'x': write_array(root, 'x', data.x.to(x_dtype)),
    }
    if 'edge_weight' in edge_attrs:
        arrays['edge_weight'] = write_array(
            root, 'edge_weight', data.edge_weight[order].float())
    for key in NODE_ARRAYS[1:]:
        arrays[key] = write_array(root, key, data[key])
    meta = dict(name=name or 'data', num_nodes=num_nodes,
                num_edges=num_edges, num_classes=num_classes,
                x_dtype=dtype_name(x_dtype), transform=None,
                normalized_features=normalize_features,
                partition=dict(num_parts=int(ptr.numel()) - 1,
                               method=method, seed=seed))
    write_manifest(root, meta, arrays)
    return DiskDataset(root)

