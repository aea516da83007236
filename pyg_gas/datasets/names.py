r"""The dataset names of :func:`~pyg_gas.datasets.load_dataset`, without
importing a loader (so ``pyg-gas --help`` needs no :obj:`torch`). The
names are literals; a test checks them against the loaders' own tables
(:data:`~pyg_gas.datasets.planetoid.PLANETOID_NAMES`,
:data:`~pyg_gas.datasets.pyg.PYG_DATASETS`,
:data:`~pyg_gas.datasets.ogb.OGB_PREFIX` and
:data:`~pyg_gas.datasets.synthetic.SYNTHETIC_PRESETS`)."""
from typing import Tuple

#: The dataset names accepted by :func:`~pyg_gas.datasets.load_dataset`.
DATASETS: Tuple[str, ...] = (
    'cora', 'citeseer', 'pubmed',
    'planetoid:Cora', 'planetoid:CiteSeer', 'planetoid:PubMed',
    'coauthor-cs', 'coauthor-physics', 'amazon-computers', 'amazon-photo',
    'wikics', 'reddit2', 'reddit', 'flickr', 'yelp', 'ppi',
    'ogbn-NAME',
    'synthetic', 'synthetic-arxiv', 'synthetic-products',
)
