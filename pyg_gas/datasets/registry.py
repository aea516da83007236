r"""The dataset registry: :data:`DATASETS`, the names that
:func:`load_dataset` accepts, and :func:`load_dataset`, which hands each
name to its loader (:mod:`~pyg_gas.datasets.planetoid`,
:mod:`~pyg_gas.datasets.pyg`, :mod:`~pyg_gas.datasets.ogb` or
:mod:`~pyg_gas.datasets.synthetic`)."""
from typing import Any, Optional

from torch_geometric.data import Data

from pyg_gas.datasets.names import DATASETS
from pyg_gas.datasets.ogb import OGB_PREFIX, load_ogb
from pyg_gas.datasets.planetoid import (
    PLANETOID_NAMES,
    load_bundled_cora,
    load_planetoid,
)
from pyg_gas.datasets.pyg import PYG_DATASETS, load_pyg
from pyg_gas.datasets.saved import is_saved_graph, load_saved
from pyg_gas.datasets.synthetic import load_synthetic

#: The short names of the Planetoid datasets other than the bundled Cora.
_PLANETOID_ALIASES = ('citeseer', 'pubmed')


def _supported() -> str:
    names = ', '.join(f"'{name}'" for name in DATASETS)
    return f'Supported datasets: {names} (case-insensitive).'


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
    * :obj:`'citeseer'` and :obj:`'pubmed'`: short for
      :obj:`'planetoid:CiteSeer'` and :obj:`'planetoid:PubMed'`.
    * :obj:`'coauthor-cs'`, :obj:`'coauthor-physics'`,
      :obj:`'amazon-computers'`, :obj:`'amazon-photo'`, :obj:`'wikics'`,
      :obj:`'reddit2'`, :obj:`'reddit'`, :obj:`'flickr'`, :obj:`'yelp'`
      and :obj:`'ppi'`: the other benchmarks of the GAS paper, read by
      :func:`~pyg_gas.datasets.pyg.load_pyg` through PyG's own dataset
      classes, each from its folder below :obj:`root` (e.g.
      :obj:`root/CS/raw/ms_academic_cs.npz`, :obj:`root/Flickr/raw/`),
      with the paper's splits: random per-class splits for Coauthor and
      Amazon (20/30 training/validation nodes per class, drawn with the
      keyword :obj:`split`, default :obj:`0`), the official WikiCS masks
      (column :obj:`split`, validation on the stopping mask), the shipped
      masks of Reddit2, Reddit, Flickr and Yelp, and PPI as one graph made
      of its 24 disjoint graphs, masked by graph. Yelp and PPI are
      multi-label: their :obj:`y` is float of shape
      :obj:`[num_nodes, num_classes]`. If raw files are missing, PyG tries
      to download them. Needs :obj:`scipy` (or, for PPI, :obj:`networkx`).
    * :obj:`'ogbn-NAME'`, e.g. :obj:`'ogbn-arxiv'` or :obj:`'ogbn-products'`:
      a node property prediction dataset of the Open Graph Benchmark, read
      by :func:`~pyg_gas.datasets.ogb.load_ogb` through :obj:`ogb` (an
      optional dependency) from :obj:`root/ogbn_NAME` (e.g.
      :obj:`root/ogbn_arxiv/raw/edge.csv.gz`), with the official split.
      Directed graphs are made undirected. If the folder is missing, ogb
      downloads it.
    * a path ending in :obj:`.pt`: a user's own
      :class:`~torch_geometric.data.Data`, saved with :func:`torch.save`
      (see :func:`~pyg_gas.datasets.saved.load_saved`).
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
    and :obj:`name` (lower-case :obj:`str`, e.g. :obj:`'cora'`); multi-label
    datasets have float :obj:`y` of shape :obj:`[num_nodes, num_classes]`.

    Args:
        name (str): The dataset name, e.g. :obj:`'cora'` or
            :obj:`'planetoid:CiteSeer'`.
        root (str, optional): The root folder of every dataset but
            :obj:`'cora'` and the synthetic ones. Required for those,
            ignored for :obj:`'cora'`. (default: :obj:`None`)
        **kwargs (optional): Additional arguments passed to
            :class:`torch_geometric.datasets.Planetoid` (e.g.
            :obj:`split='full'`), to :func:`~pyg_gas.datasets.pyg.load_pyg`
            (e.g. :obj:`split=3`), to
            :class:`ogb.nodeproppred.PygNodePropPredDataset`, or to
            :func:`~pyg_gas.datasets.synthetic.synthetic_graph`.

    Raises:
        TypeError: If :obj:`name` is not a string.
        ValueError: If :obj:`name` is not supported, if a dataset that needs
            :obj:`root` is requested without it, if :obj:`split` is out of
            range, or if raw files can not be read.
        ImportError: If an OGB dataset is requested and :obj:`ogb` is not
            installed, or a PyG dataset and :obj:`scipy` is not.
        FileNotFoundError: If the raw files are missing and could not be
            downloaded.
    """
    if not isinstance(name, str):
        raise TypeError(f"'name' must be a str (got {type(name).__name__})")

    key = name.strip().lower()
    if is_saved_graph(key):
        return load_saved(name)
    if key == 'cora':
        return load_bundled_cora()
    if key in _PLANETOID_ALIASES:
        return load_planetoid(key, root, **kwargs)
    if key in PYG_DATASETS:
        return load_pyg(key, root, **kwargs)
    if key.startswith('planetoid:'):
        planetoid_name = key[len('planetoid:'):]
        if planetoid_name.strip() not in PLANETOID_NAMES:
            raise ValueError(f"Unknown Planetoid dataset "
                             f"'planetoid:{planetoid_name}'. {_supported()}")
        return load_planetoid(planetoid_name, root, **kwargs)
    if key.startswith(OGB_PREFIX):
        return load_ogb(key, root, **kwargs)
    if key.startswith('synthetic'):
        return load_synthetic(key, root, **kwargs)
    raise ValueError(f"Unknown dataset '{name}'. {_supported()}")
