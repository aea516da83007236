r"""A user's own graph, saved with :func:`torch.save`."""
import os.path as osp
import pickle
from typing import Any

import torch
from torch_geometric.data import Data
from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
from torch_geometric.data.storage import GlobalStorage

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
