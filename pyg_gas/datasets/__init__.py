r"""Dataset loading for :mod:`pyg_gas`.

:func:`load_dataset` returns a single :class:`~torch_geometric.data.Data`
graph, e.g. :obj:`load_dataset('cora')` for the copy of Cora bundled with
the package (no download needed), or :obj:`load_dataset('ogbn-arxiv',
root=DIR)` for an OGB graph (see :func:`load_ogb`), or
:obj:`load_dataset('synthetic-products')` for a generated graph of that size
(see :func:`synthetic_graph`), or :obj:`load_dataset('flickr', root=DIR)`
for a benchmark graph read through PyG's own dataset class (see
:func:`load_pyg`).
"""

from .ogb import get_evaluator, load_ogb
from .planetoid import PLANETOID_NAMES, load_bundled_cora, load_planetoid
from .pyg import PYG_DATASETS, load_pyg, random_split_masks
from .registry import DATASETS, load_dataset
from .synthetic import SYNTHETIC_PRESETS, load_synthetic, synthetic_graph

__all__ = [
    'DATASETS',
    'PLANETOID_NAMES',
    'load_dataset',
    'load_bundled_cora',
    'load_planetoid',
    'PYG_DATASETS',
    'load_pyg',
    'random_split_masks',
    'load_ogb',
    'get_evaluator',
    'SYNTHETIC_PRESETS',
    'load_synthetic',
    'synthetic_graph',
]
