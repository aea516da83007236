r"""Planetoid citation graphs: the copy of Cora bundled with the package,
and Cora, CiteSeer and PubMed read from a PyG Planetoid root."""
import os.path as osp
import zipfile
from importlib import resources
from typing import Any, Dict, Optional

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

_RAW_SUFFIXES = ('x', 'tx', 'allx', 'y', 'ty', 'ally', 'graph', 'test.index')


_CORA_KEYS = ('num_nodes', 'num_features', 'num_classes', 'x_indptr',
              'x_indices', 'edge_index', 'y', 'train_idx', 'val_idx',
              'test_idx')


def _check_keys(arrays: Dict[str, Any], path: Any) -> None:
    missing = [key for key in _CORA_KEYS if key not in arrays]
    if missing:
        raise KeyError(f'missing arrays {missing}')


def load_bundled_cora() -> Data:
    r"""Loads the copy of Planetoid Cora shipped inside the package.

    The graph equals the public split of
    :class:`torch_geometric.datasets.Planetoid` (:obj:`name='Cora'`), with
    :obj:`num_classes=7` and :obj:`name='cora'` set on it.
    """
    ref = resources.files(__package__) / BUNDLED_CORA_FILE
    with resources.as_file(ref) as path:
        try:
            with np.load(path) as npz:
                arrays = {key: npz[key] for key in npz.files}
            _check_keys(arrays, path)
        except (OSError, ValueError, KeyError, EOFError,
                zipfile.BadZipFile) as e:
            raise ValueError(f"The bundled Cora file '{path}' can not be "
                             f"read ({type(e).__name__}: {e}); reinstall "
                             f"pyg-gas to restore it") from None

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


def _check_test_index(raw_dir: str, key: str) -> None:
    # PyG reads any number of lines from 'ind.<name>.test.index' and puts
    # that many test rows of 'tx' in place: a truncated file gives fewer
    # test nodes and misplaced features, with no error.
    from torch_geometric.io.planetoid import read_file

    tx = read_file(raw_dir, key, 'tx')
    index = read_file(raw_dir, key, 'test.index')
    if index.numel() != tx.size(0) or index.unique().numel() != tx.size(0):
        raise ValueError(f"'ind.{key}.test.index' holds {index.numel()} "
                         f"node ids ({index.unique().numel()} distinct), "
                         f"but 'ind.{key}.tx' has {tx.size(0)} rows: one "
                         f"distinct id per row is expected")


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
        supported = ', '.join(
            f"'planetoid:{folder}'" for folder in PLANETOID_NAMES.values()
        )
        raise ValueError(
            f"Unknown Planetoid dataset 'planetoid:{name}'. Supported "
            f'Planetoid datasets: {supported} (case-insensitive).'
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
    processed = osp.join(osp.expanduser(str(root)), folder, 'processed')
    raw_files = [osp.join(raw_dir, f'ind.{key}.{s}') for s in _RAW_SUFFIXES]
    had_raw_files = all(osp.isfile(path) for path in raw_files)

    try:
        # The raw files are read only while PyG processes them:
        if had_raw_files and not osp.isfile(osp.join(processed, 'data.pt')):
            _check_test_index(raw_dir, key)
        dataset = Planetoid(osp.expanduser(str(root)), folder, **kwargs)
    except Exception as e:
        if had_raw_files:
            raise ValueError(
                f"'planetoid:{folder}' can not be read from '{raw_dir}' "
                f'({type(e).__name__}: {e}): the raw files '
                f"ind.{key}.{{{','.join(_RAW_SUFFIXES)}}} may be corrupt. "
                f"Replace them and delete '{processed}'.") from None
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
