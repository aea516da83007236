import os.path as osp
from importlib import resources
from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch
from torch_geometric.data import Data

BUNDLED_CORA_FILE = 'cora.npz'

#: Planetoid datasets readable through :obj:`'planetoid:NAME'`, keyed by their
#: lower-case name; the value is the folder name below :obj:`root`.
PLANETOID_NAMES: Dict[str, str] = {
    'cora': 'Cora',
    'citeseer': 'CiteSeer',
    'pubmed': 'PubMed',
}

#: The dataset names accepted by :func:`load_dataset`.
DATASETS: Tuple[str, ...] = ('cora',) + tuple(
    f'planetoid:{name}' for name in PLANETOID_NAMES.values()
) + ('ogbn-NAME', 'synthetic', 'synthetic-arxiv', 'synthetic-products')

_RAW_SUFFIXES = ('x', 'tx', 'allx', 'y', 'ty', 'ally', 'graph', 'test.index')


def _supported() -> str:
    return ', '.join(f"'{name}'" for name in DATASETS)


def load_dataset(
    name: str,
    root: Optional[str] = None,
    **kwargs: Any,
) -> Data:
    r"""Loads a dataset as a single
    :class:`~torch_geometric.data.Data` graph.

    Supported names (matched case-insensitively):

    * :obj:`'cora'`: the Cora citation graph (2,708 nodes, 10,556 directed
      edges, 1,433 binary features, 7 classes, public split with
      140/500/1,000 train/val/test nodes), read from a compact copy shipped
      inside the package. Nothing is downloaded; :obj:`root` and
      :obj:`**kwargs` are ignored.
    * :obj:`'planetoid:NAME'` with :obj:`NAME` one of :obj:`Cora`,
      :obj:`CiteSeer` or :obj:`PubMed`: read through
      :class:`torch_geometric.datasets.Planetoid` from
      :obj:`root/NAME/raw/ind.<name>.*` (e.g.
      :obj:`root/Cora/raw/ind.cora.x`). Processed files go to
      :obj:`root/NAME/processed`. If the raw files are missing, PyG tries
      to download them.
    * :obj:`'ogbn-NAME'`, e.g. :obj:`'ogbn-arxiv'` or :obj:`'ogbn-products'`:
      a node property prediction dataset of the Open Graph Benchmark, read
      by :func:`~pyg_gas.datasets.ogb.load_ogb` through :obj:`ogb` (an
      optional dependency) from :obj:`root/ogbn_NAME` (e.g.
      :obj:`root/ogbn_arxiv/raw/edge.csv.gz`), with the official split.
      Directed graphs are made undirected. If the folder is missing, ogb
      downloads it.
    * :obj:`'synthetic'` (sized by :obj:`**kwargs`: :obj:`num_nodes`,
      :obj:`avg_degree`, :obj:`num_classes`, :obj:`num_features`,
      :obj:`homophily`, :obj:`seed`, ...), :obj:`'synthetic-arxiv'` and
      :obj:`'synthetic-products'`: graphs the size of ogbn-arxiv and
      ogbn-products from :func:`~pyg_gas.datasets.synthetic.synthetic_graph`,
      generated in :math:`O(E)` memory; with :obj:`root`, cached there.

    The returned graph carries the node features :obj:`x` (float32, raw
    and not normalized), :obj:`edge_index` (int64), labels :obj:`y`
    (int64), the boolean :obj:`train_mask`, :obj:`val_mask` and
    :obj:`test_mask`, plus the attributes :obj:`num_classes` (:obj:`int`)
    and :obj:`name` (lower-case :obj:`str`, e.g. :obj:`'cora'`).

    Args:
        name (str): The dataset name, e.g. :obj:`'cora'` or
            :obj:`'planetoid:CiteSeer'`.
        root (str, optional): The root folder for :obj:`'planetoid:NAME'`
            and :obj:`'ogbn-NAME'` datasets. Required for those, ignored
            for :obj:`'cora'`. (default: :obj:`None`)
        **kwargs (optional): Additional arguments passed to
            :class:`torch_geometric.datasets.Planetoid` (e.g.
            :obj:`split='full'`), to
            :class:`ogb.nodeproppred.PygNodePropPredDataset`, or to
            :func:`~pyg_gas.datasets.synthetic.synthetic_graph`.

    Raises:
        TypeError: If :obj:`name` is not a string.
        ValueError: If :obj:`name` is not supported, or if
            :obj:`'planetoid:NAME'` or :obj:`'ogbn-NAME'` is requested
            without :obj:`root`.
        ImportError: If an OGB dataset is requested and :obj:`ogb` is not
            installed.
        FileNotFoundError: If the Planetoid or OGB files are missing and
            could not be downloaded.
    """
    if not isinstance(name, str):
        raise TypeError(f"'name' must be a str (got {type(name).__name__})")

    key = name.strip().lower()
    if key == 'cora':
        return load_bundled_cora()
    if key.startswith('planetoid:'):
        return load_planetoid(key[len('planetoid:') :], root, **kwargs)
    if key.startswith('ogbn-'):
        from pyg_gas.datasets.ogb import load_ogb

        return load_ogb(key, root, **kwargs)

    if key.startswith('synthetic'):
        from pyg_gas.datasets.synthetic import load_synthetic

        return load_synthetic(key, root, **kwargs)

    raise ValueError(
        f"Unknown dataset '{name}'. Supported datasets: "
        f'{_supported()} (case-insensitive).'
    )


def load_bundled_cora() -> Data:
    r"""Loads the copy of Planetoid Cora shipped inside the package.

    The graph equals the public split of
    :class:`torch_geometric.datasets.Planetoid` (:obj:`name='Cora'`), with
    :obj:`num_classes=7` and :obj:`name='cora'` set on it.
    """
    ref = resources.files(__package__) / BUNDLED_CORA_FILE
    with resources.as_file(ref) as path, np.load(path) as npz:
        arrays = {key: npz[key] for key in npz.files}

    num_nodes = int(arrays['num_nodes'])
    num_features = int(arrays['num_features'])

    indptr = torch.from_numpy(arrays['x_indptr'].astype(np.int64))
    col = torch.from_numpy(arrays['x_indices'].astype(np.int64))
    row = torch.repeat_interleave(
        torch.arange(num_nodes), indptr[1:] - indptr[:-1]
    )
    x = torch.zeros(num_nodes, num_features, dtype=torch.float)
    x[row, col] = 1.0

    def index_to_mask(index: np.ndarray) -> torch.Tensor:
        mask = torch.zeros(num_nodes, dtype=torch.bool)
        mask[torch.from_numpy(index.astype(np.int64))] = True
        return mask

    data = Data(
        x=x,
        edge_index=torch.from_numpy(arrays['edge_index'].astype(np.int64)),
        y=torch.from_numpy(arrays['y'].astype(np.int64)),
        train_mask=index_to_mask(arrays['train_idx']),
        val_mask=index_to_mask(arrays['val_idx']),
        test_mask=index_to_mask(arrays['test_idx']),
    )
    data.num_classes = int(arrays['num_classes'])
    data.name = 'cora'
    return data


def load_planetoid(
    name: str,
    root: Optional[str] = None,
    **kwargs: Any,
) -> Data:
    r"""Loads a Planetoid dataset from a PyG root folder.

    Args:
        name (str): The Planetoid name (:obj:`'Cora'`, :obj:`'CiteSeer'`
            or :obj:`'PubMed'`, case-insensitive).
        root (str, optional): The folder holding
            :obj:`NAME/raw/ind.<name>.*`. (default: :obj:`None`)
        **kwargs (optional): Additional arguments passed to
            :class:`torch_geometric.datasets.Planetoid`.
    """
    key = name.strip().lower()
    if key not in PLANETOID_NAMES:
        raise ValueError(
            f"Unknown Planetoid dataset 'planetoid:{name}'. Supported "
            f'datasets: {_supported()} (case-insensitive).'
        )
    folder = PLANETOID_NAMES[key]

    if root is None:
        raise ValueError(
            f"'planetoid:{folder}' needs root=DIR holding "
            f'{folder}/raw/ind.{key}.* (e.g. '
            f"DIR/{folder}/raw/ind.{key}.x); or use 'cora' for the copy "
            f'bundled with pyg_gas.'
        )

    from torch_geometric.datasets import Planetoid

    raw_dir = osp.join(osp.expanduser(str(root)), folder, 'raw')
    raw_files = [osp.join(raw_dir, f'ind.{key}.{s}') for s in _RAW_SUFFIXES]
    had_raw_files = all(osp.isfile(path) for path in raw_files)

    try:
        dataset = Planetoid(osp.expanduser(str(root)), folder, **kwargs)
    except Exception as e:
        if had_raw_files:
            raise
        missing = [
            osp.basename(path) for path in raw_files if not osp.isfile(path)
        ]
        raise FileNotFoundError(
            f"The raw files of 'planetoid:{folder}' are missing and could "
            f'not be downloaded ({type(e).__name__}: {e}). Put the files '
            f"ind.{key}.{{{','.join(_RAW_SUFFIXES)}}} into '{raw_dir}' "
            f'(missing: {", ".join(missing)}).'
        ) from e

    data = dataset[0]
    data.num_classes = int(dataset.num_classes)
    data.name = key
    return data
