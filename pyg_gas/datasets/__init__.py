r"""Dataset loading for :mod:`pyg_gas`.

:func:`load_dataset` returns a single :class:`~torch_geometric.data.Data`
graph, e.g. :obj:`load_dataset('cora')` for the copy of Cora bundled with
the package (no download needed), or :obj:`load_dataset('ogbn-arxiv',
root=DIR)` for an OGB graph (see :func:`load_ogb`), or
:obj:`load_dataset('synthetic-products')` for a generated graph of that size
(see :func:`synthetic_graph`), or :obj:`load_dataset('flickr', root=DIR)`
for a benchmark graph read through PyG's own dataset class (see
:func:`load_pyg`).

The names are imported on first access (see :mod:`pyg_gas.lazy`), so
:data:`DATASETS` is read without importing :obj:`torch`.
"""
from pyg_gas.datasets.names import DATASETS
from pyg_gas.lazy import attach

#: Where each public name lives.
_EXPORTS = {
    'PLANETOID_NAMES': 'pyg_gas.datasets.planetoid',
    'load_bundled_cora': 'pyg_gas.datasets.planetoid',
    'load_planetoid': 'pyg_gas.datasets.planetoid',
    'PYG_DATASETS': 'pyg_gas.datasets.pyg',
    'load_pyg': 'pyg_gas.datasets.pyg',
    'random_split_masks': 'pyg_gas.datasets.pyg',
    'load_dataset': 'pyg_gas.datasets.registry',
    'load_ogb': 'pyg_gas.datasets.ogb',
    'get_evaluator': 'pyg_gas.datasets.ogb',
    'SYNTHETIC_PRESETS': 'pyg_gas.datasets.synthetic',
    'load_synthetic': 'pyg_gas.datasets.synthetic',
    'synthetic_graph': 'pyg_gas.datasets.synthetic',
}

__getattr__, __dir__ = attach(__name__, _EXPORTS)

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
