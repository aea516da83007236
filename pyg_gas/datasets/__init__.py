r"""Dataset loading for :mod:`pyg_gas`.

:func:`load_dataset` returns a single :class:`~torch_geometric.data.Data`
graph, e.g. :obj:`load_dataset('cora')` for the copy of Cora bundled with
the package (no download needed).
"""

from .planetoid import (
    DATASETS,
    PLANETOID_NAMES,
    load_bundled_cora,
    load_dataset,
    load_planetoid,
)

__all__ = [
    'DATASETS',
    'PLANETOID_NAMES',
    'load_dataset',
    'load_bundled_cora',
    'load_planetoid',
]
