r"""A user's own graph, saved with :func:`torch.save`, and a random node
split for a graph that has none."""
import copy
import math
import os.path as osp
import pickle
from typing import Any, Sequence, Union

import torch
from torch_geometric.data import Data
from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
from torch_geometric.data.storage import GlobalStorage
from torch_geometric.utils import index_to_mask

from pyg_gas.checks import SPLIT_TOLERANCE, check_int, check_split

#: The masks of a node split.
MASKS = ('train_mask', 'val_mask', 'test_mask')

#: What a saved :class:`~torch_geometric.data.Data` is made of: the classes
#: that loading it may create (nothing else is unpickled).
SAFE_GLOBALS = [Data, DataEdgeAttr, DataTensorAttr, GlobalStorage]


def is_saved_graph(name: str) -> bool:
    r"""Whether the dataset name :obj:`name` is the path of a saved
    graph (a file ending in :obj:`.pt` or :obj:`.pth`)."""
    return name.lower().endswith(('.pt', '.pth'))


def load_saved(path: str) -> Data:
    r"""Loads a :class:`~torch_geometric.data.Data` object saved with
    :obj:`torch.save(data, path)`, with :obj:`weights_only=True` (no code
    in the file runs). The graph needs :obj:`x`, :obj:`edge_index` and
    :obj:`y`; the masks and :obj:`num_classes` are checked where training
    uses them. :obj:`num_classes` defaults to :obj:`y.max() + 1` for class
    labels."""
    if not osp.isfile(path):
        raise ValueError(f"The graph file '{path}' does not exist (expected "
                         f"a 'Data' object saved with torch.save)")
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            data: Any = torch.load(path, map_location='cpu',
                                   weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ''
        raise ValueError(f"'{path}' is not a graph saved with torch.save "
                         f"that can be loaded safely ({first})") from None
    if not isinstance(data, Data):
        raise ValueError(f"'{path}' holds a '{type(data).__name__}', but a "
                         f"'Data' object was expected")
    for key in ('x', 'edge_index', 'y'):
        if data.get(key) is None:
            raise ValueError(f"The graph in '{path}' has no '{key}' (a graph "
                             f"to train on needs 'x', 'edge_index', 'y' and "
                             f"the masks)")
    if data.get('num_classes') is None and not data.y.is_floating_point():
        data.num_classes = int(data.y.max()) + 1 if data.y.numel() else 0
    if data.get('name') is None:
        data.name = osp.splitext(osp.basename(path))[0]
    return data


def random_node_split(
    data: Data,
    split: Union[str, Sequence[float]],
    seed: int = 0,
) -> Data:
    r"""Returns a shallow copy of :obj:`data` with a random node split:
    boolean :obj:`train_mask`, :obj:`val_mask` and :obj:`test_mask` that
    hold the shares :obj:`split` of the labelled nodes, drawn by
    :func:`torch.randperm` with a generator seeded by :obj:`seed` (the same
    masks for the same seed, whatever else the process draws).

    A node is labelled unless its :obj:`y` is negative (:obj:`-1`, as in
    the GraphSAINT and OGB datasets) or NaN; every node of a multi-label
    graph (0/1 rows) is. Of :obj:`L` labelled nodes, the validation and
    test sets get :obj:`floor(share * L)` nodes each; the training set gets
    the rest when the shares sum to :obj:`1`, and :obj:`floor(share * L)`
    otherwise, so that the remaining nodes are in no mask. In the random
    order, the training nodes come first, then the validation and the test
    nodes.

    Unlike :class:`torch_geometric.transforms.RandomNodeSplit`, whose
    :obj:`'train_rest'` split gives the training set every node that is
    not in the other two, the shares here may leave nodes out, unlabelled
    nodes are in no mask, and the draw does not use the global random
    number generator.

    Args:
        data (torch_geometric.data.Data): The graph, with :obj:`y`.
        split (str or Sequence[float]): The train, validation and test
            shares, as :obj:`'0.6,0.2,0.2'` or :obj:`(0.6, 0.2, 0.2)` (see
            :func:`~pyg_gas.checks.check_split`).
        seed (int, optional): The seed of the draw. (default: :obj:`0`)
    """
    shares = check_split(split)
    check_int('seed', seed, 0)
    y = data.get('y')
    num_nodes = data.num_nodes
    if not isinstance(y, torch.Tensor) or y.dim() == 0 or \
            y.size(0) != num_nodes:
        raise ValueError(f"A random node split needs labels 'y' with one row "
                         f"per node ({num_nodes}; got "
                         f"{type(y).__name__ if y is None else list(y.shape)})")
    rows = y.reshape(num_nodes, -1)  # [num_nodes, 1] or [num_nodes, C]
    labelled = (rows >= 0).all(dim=-1)  # NaN >= 0 is False.
    index = labelled.nonzero().view(-1)  # [L]
    num_labelled = index.numel()
    generator = torch.Generator().manual_seed(seed)
    index = index[torch.randperm(num_labelled, generator=generator)]

    def size(share: float) -> int:
        # The tolerance keeps e.g. 0.29 * 100 = 28.999999999999996 at 29.
        return math.floor(share * num_labelled + 1e-6)

    num_val, num_test = size(shares[1]), size(shares[2])
    if abs(sum(shares) - 1) <= SPLIT_TOLERANCE:
        num_train = num_labelled - num_val - num_test
    else:
        num_train = size(shares[0])
    sizes = (num_train, num_val, num_test)
    for key, count in zip(('training', 'validation', 'test'), sizes):
        if count == 0:
            raise ValueError(f"The split {split!r} gives 0 of the "
                             f"{num_labelled} labelled nodes to the {key} "
                             f"set (each share is rounded down): expected "
                             f"shares that give each set at least one node")
    out = copy.copy(data)
    start = 0
    for key, count in zip(MASKS, sizes):
        out[key] = index_to_mask(index[start:start + count], size=num_nodes)
        start += count
    return out
