r"""Generate the compact copy of Cora bundled with :mod:`pyg_gas.datasets`.

The raw Planetoid files ``ind.cora.{x,tx,allx,y,ty,ally,graph,test.index}``
are read with PyG's own reader
(:func:`torch_geometric.io.read_planetoid_data`), so the bundled graph is
exactly what :class:`torch_geometric.datasets.Planetoid` produces (same
feature rows, same edge order, same public split).

The output is written with :func:`numpy.savez_compressed`:

* ``x_indptr`` (int32, ``[N + 1]``) and ``x_indices`` (int16, ``[nnz]``):
  the binary node features in CSR form (all stored values are one),
* ``edge_index`` (int16, ``[2, E]``),
* ``y`` (int8, ``[N]``),
* ``train_idx``, ``val_idx``, ``test_idx`` (int16, sorted),
* ``num_nodes``, ``num_features``, ``num_classes`` (int64 scalars).

The output is deterministic: rerunning the script yields identical bytes.

Usage::

    python scripts/make_bundled_cora.py [--raw-dir DIR] [--out FILE]
"""

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch
from torch_geometric.io import read_planetoid_data

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RAW_DIR = REPO.parent / 'shared' / 'data' / 'planetoid'
DEFAULT_OUT = REPO / 'pyg_gas' / 'datasets' / 'cora.npz'
INT16_MAX = int(np.iinfo(np.int16).max)


def build_arrays(raw_dir: Path) -> Dict[str, np.ndarray]:
    r"""Reads the raw Cora files and returns the arrays to store.

    Args:
        raw_dir (pathlib.Path): The folder holding ``ind.cora.*``.
    """
    data = read_planetoid_data(str(raw_dir), 'cora')
    x = data.x
    num_nodes, num_features = x.size()
    num_classes = int(data.y.max()) + 1

    # The features must be binary for the CSR copy to be lossless:
    if not bool(((x == 0) | (x == 1)).all()):
        raise ValueError('Cora features are expected to be binary')
    if max(num_nodes, num_features) > INT16_MAX:
        raise ValueError('Cora is expected to fit into int16 indices')
    if num_classes > int(np.iinfo(np.int8).max):
        raise ValueError('Cora labels are expected to fit into int8')

    row, col = x.nonzero(as_tuple=True)  # Row-major order.
    counts = torch.bincount(row, minlength=num_nodes)
    indptr = torch.zeros(num_nodes + 1, dtype=torch.long)
    indptr[1:] = torch.cumsum(counts, dim=0)

    def mask_to_index(mask: torch.Tensor) -> np.ndarray:
        return mask.nonzero().view(-1).numpy().astype(np.int16)

    return {
        'x_indptr': indptr.numpy().astype(np.int32),
        'x_indices': col.numpy().astype(np.int16),
        'edge_index': data.edge_index.numpy().astype(np.int16),
        'y': data.y.numpy().astype(np.int8),
        'train_idx': mask_to_index(data.train_mask),
        'val_idx': mask_to_index(data.val_mask),
        'test_idx': mask_to_index(data.test_mask),
        'num_nodes': np.asarray(num_nodes, dtype=np.int64),
        'num_features': np.asarray(num_features, dtype=np.int64),
        'num_classes': np.asarray(num_classes, dtype=np.int64),
    }


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--raw-dir',
        type=Path,
        default=DEFAULT_RAW_DIR,
        help='folder with the raw ind.cora.* files (default: %(default)s)',
    )
    parser.add_argument(
        '--out',
        type=Path,
        default=DEFAULT_OUT,
        help='output .npz file (default: %(default)s)',
    )
    args = parser.parse_args(argv)

    if not (args.raw_dir / 'ind.cora.graph').is_file():
        parser.error(f"no raw Cora files (ind.cora.*) in '{args.raw_dir}'")

    arrays = build_arrays(args.raw_dir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Fixed key order; `np.savez_compressed` stamps a constant date into the
    # zip entries, so the output bytes are reproducible.
    with open(args.out, 'wb') as f:
        np.savez_compressed(f, **arrays)

    size = args.out.stat().st_size
    print(
        f"wrote '{args.out}' ({size} bytes): "
        f'{int(arrays["num_nodes"])} nodes, '
        f'{arrays["edge_index"].shape[1]} edges, '
        f'{arrays["x_indices"].shape[0]} feature non-zeros'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
