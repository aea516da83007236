r"""The hyperparameters a run takes for the options it leaves out: the
presets of the GNNAutoScale paper (Fey et al., 2021) per dataset and model,
and generic defaults.

:data:`GAS_PRESETS` copies the per-dataset entries of the paper's public
configuration files (`rusty1s/pyg_autoscale
<https://github.com/rusty1s/pyg_autoscale>`_ at commit ``be65e92``,
``small_benchmark/conf/model/*.yaml`` and
``large_benchmark/conf/model/*.yaml``); each entry names its file. The
names map as :obj:`hidden_channels` -> :obj:`hidden`, :obj:`num_layers` ->
:obj:`layers`, :obj:`reg_weight_decay` -> :obj:`weight_decay`,
:obj:`hidden_heads` -> :obj:`heads`, and a :obj:`grad_norm` of
:obj:`null`/:obj:`none` -> :obj:`0.0` (no clipping). Where a file leaves a
model option out, the default of the GAS model class is written out (e.g.
:obj:`drop_input=True`). GAS's GAT has one dropout for features and
attention and decays every weight, so :obj:`attn_dropout` equals
:obj:`dropout` and :obj:`nonreg_weight_decay` equals :obj:`weight_decay`.

What the paper's configurations hold that :mod:`pyg_gas` does not apply:

* :obj:`max_steps` (large benchmark): GAS ends an epoch after that many
  mini-batches; here an epoch visits every batch. It cuts an epoch only for
  Yelp (4 of 8 batches) and ogbn-products with GCN (4 of 7).
* :obj:`edge_dropout` (ogbn-products with GCNII and PNA) and
  :obj:`pool_size` (the asynchronous history transfer of the GAS code).
* GAS's PNA is a single-tower layer with :obj:`aggregators` and
  :obj:`scalers` of its own; :class:`~pyg_gas.PNA` is PyG's
  :class:`~torch_geometric.nn.conv.PNAConv`, which takes the same widths,
  depths and optimizer settings here.
* Runs per split: the paper averages 20 runs (10 for GCNII) over the split
  columns of WikiCS and of its random Coauthor/Amazon splits; a run here
  trains on one split (see :func:`~pyg_gas.datasets.load_dataset`).
"""
from typing import Any, Dict, Optional, Tuple

#: Generic hyperparameters, for datasets without a preset.
DEFAULTS: Dict[str, Any] = dict(
    epochs=200, hidden=256, layers=3, num_parts=40, batch_size=10,
    num_samples=512, lr=0.01, weight_decay=0.0, nonreg_weight_decay=0.0,
    grad_norm=0.0, dropout=0.5, drop_input=True, batch_norm=False,
    residual=False, linear=False, normalize_features=False,
    standardize_features=False, heads=8, out_heads=1, attn_dropout=0.0,
    alpha=0.1, theta=0.5, shared_weights=True)

#: The per-dataset entries of the GAS paper's configuration files.
GAS_PRESETS: Dict[str, Dict[str, Dict[str, Any]]] = {
    'cora': {
        # small_benchmark/conf/model/gcn.yaml, params.Cora:
        'gcn': dict(
            num_parts=40, batch_size=10, hidden=16, layers=2, dropout=0.5,
            drop_input=True, batch_norm=False, residual=False, linear=False,
            lr=0.01, weight_decay=0.0005, nonreg_weight_decay=0.0,
            grad_norm=1.0, epochs=200),
        # small_benchmark/conf/model/gat.yaml, params.Cora:
        'gat': dict(
            num_parts=40, batch_size=10, hidden=8, layers=2, heads=8,
            out_heads=1, dropout=0.6, attn_dropout=0.6, drop_input=True,
            lr=0.005, weight_decay=0.0005, nonreg_weight_decay=0.0005,
            grad_norm=1.0, epochs=400),
        # small_benchmark/conf/model/appnp.yaml, params.Cora:
        'appnp': dict(
            num_parts=4, batch_size=2, hidden=64, layers=10, alpha=0.1,
            dropout=0.5, drop_input=True, lr=0.01, weight_decay=0.005,
            nonreg_weight_decay=0.0, grad_norm=0.0, epochs=600),
        # small_benchmark/conf/model/gcn2.yaml, params.Cora:
        'gcn2': dict(
            num_parts=2, batch_size=1, hidden=64, layers=64, alpha=0.1,
            theta=0.5, shared_weights=True, dropout=0.6, drop_input=True,
            batch_norm=False, residual=False, lr=0.01, weight_decay=0.01,
            nonreg_weight_decay=0.0005, grad_norm=0.0, epochs=1000),
    },
    'citeseer': {
        # small_benchmark/conf/model/gcn.yaml, params.CiteSeer:
        'gcn': dict(
            num_parts=24, batch_size=8, hidden=16, layers=2, dropout=0.5,
            drop_input=True, batch_norm=False, residual=False, linear=False,
            lr=0.01, weight_decay=0.0005, nonreg_weight_decay=0.0,
            grad_norm=0.0, epochs=200),
        # small_benchmark/conf/model/gat.yaml, params.CiteSeer:
        'gat': dict(
            num_parts=24, batch_size=8, hidden=8, layers=2, heads=8,
            out_heads=1, dropout=0.6, attn_dropout=0.6, drop_input=True,
            lr=0.005, weight_decay=0.0005, nonreg_weight_decay=0.0005,
            grad_norm=0.0, epochs=400),
        # small_benchmark/conf/model/appnp.yaml, params.CiteSeer:
        'appnp': dict(
            num_parts=24, batch_size=6, hidden=64, layers=10, alpha=0.1,
            dropout=0.5, drop_input=True, lr=0.01, weight_decay=0.005,
            nonreg_weight_decay=0.0, grad_norm=1.0, epochs=600),
        # small_benchmark/conf/model/gcn2.yaml, params.CiteSeer:
        'gcn2': dict(
            num_parts=40, batch_size=20, hidden=256, layers=32, alpha=0.1,
            theta=0.6, shared_weights=True, dropout=0.7, drop_input=True,
            batch_norm=False, residual=False, lr=0.01, weight_decay=0.01,
            nonreg_weight_decay=0.0005, grad_norm=1.0, epochs=1000),
    },
    'pubmed': {
        # small_benchmark/conf/model/gcn.yaml, params.PubMed:
        'gcn': dict(
            num_parts=8, batch_size=4, hidden=16, layers=2, dropout=0.5,
            drop_input=True, batch_norm=False, residual=False, linear=False,
            lr=0.01, weight_decay=0.0005, nonreg_weight_decay=0.0,
            grad_norm=1.0, epochs=200),
        # small_benchmark/conf/model/gat.yaml, params.PubMed:
        'gat': dict(
            num_parts=4, batch_size=1, hidden=8, layers=2, heads=8,
            out_heads=8, dropout=0.6, attn_dropout=0.6, drop_input=True,
            lr=0.01, weight_decay=0.001, nonreg_weight_decay=0.001,
            grad_norm=0.0, epochs=400),
        # small_benchmark/conf/model/appnp.yaml, params.PubMed:
        'appnp': dict(
            num_parts=4, batch_size=2, hidden=64, layers=10, alpha=0.1,
            dropout=0.5, drop_input=True, lr=0.01, weight_decay=0.005,
            nonreg_weight_decay=0.0, grad_norm=1.0, epochs=600),
        # small_benchmark/conf/model/gcn2.yaml, params.PubMed:
        'gcn2': dict(
            num_parts=4, batch_size=2, hidden=256, layers=16, alpha=0.1,
            theta=0.4, shared_weights=True, dropout=0.5, drop_input=True,
            batch_norm=False, residual=False, lr=0.01, weight_decay=0.0005,
            nonreg_weight_decay=0.0005, grad_norm=0.0, epochs=1000),
    },
    'coauthor-cs': {
        # small_benchmark/conf/model/gcn.yaml, params.CoauthorCS:
        'gcn': dict(
            num_parts=2, batch_size=1, hidden=64, layers=2, dropout=0.5,
            drop_input=True, batch_norm=False, residual=False, linear=False,
            lr=0.01, weight_decay=0.001, nonreg_weight_decay=0.0,
            grad_norm=1.0, epochs=200),
        # small_benchmark/conf/model/gat.yaml, params.CoauthorCS:
        'gat': dict(
            num_parts=8, batch_size=2, hidden=8, layers=2, heads=8,
            out_heads=1, dropout=0.6, attn_dropout=0.6, drop_input=True,
            lr=0.005, weight_decay=0.01, nonreg_weight_decay=0.01,
            grad_norm=0.0, epochs=400),
        # small_benchmark/conf/model/appnp.yaml, params.CoauthorCS:
        'appnp': dict(
            num_parts=32, batch_size=16, hidden=64, layers=10, alpha=0.2,
            dropout=0.5, drop_input=True, lr=0.01, weight_decay=0.005,
            nonreg_weight_decay=0.0, grad_norm=0.0, epochs=600),
        # small_benchmark/conf/model/gcn2.yaml, params.CoauthorCS:
        'gcn2': dict(
            num_parts=16, batch_size=8, hidden=64, layers=16, alpha=0.1,
            theta=0.5, shared_weights=True, dropout=0.5, drop_input=True,
            batch_norm=False, residual=False, lr=0.01, weight_decay=0.01,
            nonreg_weight_decay=0.0005, grad_norm=0.0, epochs=1000),
    },
    'coauthor-physics': {
        # small_benchmark/conf/model/gcn.yaml, params.CoauthorPhysics:
        'gcn': dict(
            num_parts=4, batch_size=2, hidden=64, layers=2, dropout=0.5,
            drop_input=True, batch_norm=False, residual=False, linear=False,
            lr=0.01, weight_decay=0.001, nonreg_weight_decay=0.0,
            grad_norm=0.0, epochs=200),
        # small_benchmark/conf/model/gat.yaml, params.CoauthorPhysics:
        'gat': dict(
            num_parts=4, batch_size=1, hidden=8, layers=2, heads=8,
            out_heads=1, dropout=0.6, attn_dropout=0.6, drop_input=True,
            lr=0.005, weight_decay=0.01, nonreg_weight_decay=0.01,
            grad_norm=0.0, epochs=400),
        # small_benchmark/conf/model/appnp.yaml, params.CoauthorPhysics:
        'appnp': dict(
            num_parts=2, batch_size=1, hidden=64, layers=10, alpha=0.2,
            dropout=0.5, drop_input=True, lr=0.01, weight_decay=0.005,
            nonreg_weight_decay=0.0, grad_norm=1.0, epochs=600),
        # small_benchmark/conf/model/gcn2.yaml, params.CoauthorPhysics:
        'gcn2': dict(
            num_parts=2, batch_size=1, hidden=64, layers=16, alpha=0.1,
            theta=0.5, shared_weights=True, dropout=0.5, drop_input=True,
            batch_norm=False, residual=False, lr=0.01, weight_decay=0.01,
            nonreg_weight_decay=0.0005, grad_norm=1.0, epochs=1000),
    },
    'amazon-computers': {
        # small_benchmark/conf/model/gcn.yaml, params.AmazonComputers:
        'gcn': dict(
            num_parts=32, batch_size=16, hidden=64, layers=2, dropout=0.5,
            drop_input=True, batch_norm=False, residual=False, linear=False,
            lr=0.01, weight_decay=0.001, nonreg_weight_decay=0.0,
            grad_norm=1.0, epochs=200),
        # small_benchmark/conf/model/appnp.yaml, params.AmazonComputers:
        'appnp': dict(
            num_parts=4, batch_size=2, hidden=64, layers=10, alpha=0.2,
            dropout=0.5, drop_input=True, lr=0.01, weight_decay=0.005,
            nonreg_weight_decay=0.0, grad_norm=0.0, epochs=600),
        # small_benchmark/conf/model/gcn2.yaml, params.AmazonComputers:
        'gcn2': dict(
            num_parts=32, batch_size=16, hidden=64, layers=16, alpha=0.1,
            theta=0.5, shared_weights=True, dropout=0.2, drop_input=True,
            batch_norm=False, residual=False, lr=0.01, weight_decay=0.01,
            nonreg_weight_decay=0.0005, grad_norm=1.0, epochs=300),
    },
    'amazon-photo': {
        # small_benchmark/conf/model/gcn.yaml, params.AmazonPhoto:
        'gcn': dict(
            num_parts=32, batch_size=16, hidden=64, layers=2, dropout=0.5,
            drop_input=True, batch_norm=False, residual=False, linear=False,
            lr=0.01, weight_decay=0.001, nonreg_weight_decay=0.0,
            grad_norm=0.0, epochs=200),
        # small_benchmark/conf/model/appnp.yaml, params.AmazonPhoto:
        'appnp': dict(
            num_parts=16, batch_size=8, hidden=64, layers=10, alpha=0.2,
            dropout=0.5, drop_input=True, lr=0.01, weight_decay=0.005,
            nonreg_weight_decay=0.0, grad_norm=1.0, epochs=600),
        # small_benchmark/conf/model/gcn2.yaml, params.AmazonPhoto:
        'gcn2': dict(
            num_parts=4, batch_size=2, hidden=64, layers=16, alpha=0.1,
            theta=0.5, shared_weights=True, dropout=0.5, drop_input=True,
            batch_norm=False, residual=False, lr=0.01, weight_decay=0.01,
            nonreg_weight_decay=0.0005, grad_norm=1.0, epochs=1000),
    },
    'wikics': {
        # small_benchmark/conf/model/gcn.yaml, params.WikiCS:
        'gcn': dict(
            num_parts=32, batch_size=16, hidden=33, layers=2, dropout=0.25,
            drop_input=True, batch_norm=False, residual=False, linear=False,
            lr=0.02, weight_decay=0.0005, nonreg_weight_decay=0.0,
            grad_norm=1.0, epochs=200),
        # small_benchmark/conf/model/gat.yaml, params.WikiCS:
        'gat': dict(
            num_parts=2, batch_size=1, hidden=14, layers=2, heads=5,
            out_heads=1, dropout=0.5, attn_dropout=0.5, drop_input=True,
            lr=0.007, weight_decay=0.0005, nonreg_weight_decay=0.0005,
            grad_norm=0.0, epochs=400),
        # small_benchmark/conf/model/appnp.yaml, params.WikiCS:
        'appnp': dict(
            num_parts=4, batch_size=2, hidden=64, layers=2, alpha=0.11,
            dropout=0.4, drop_input=True, lr=0.02, weight_decay=0.0005,
            nonreg_weight_decay=0.0, grad_norm=0.0, epochs=600),
        # small_benchmark/conf/model/gcn2.yaml, params.WikiCS:
        'gcn2': dict(
            num_parts=4, batch_size=2, hidden=128, layers=4, alpha=0.1,
            theta=0.5, shared_weights=True, dropout=0.5, drop_input=True,
            batch_norm=False, residual=False, lr=0.01, weight_decay=0.0005,
            nonreg_weight_decay=0.0005, grad_norm=0.0, epochs=1000),
    },
    'reddit2': {
        # large_benchmark/conf/model/gcn.yaml, params.reddit:
        'gcn': dict(
            num_parts=200, batch_size=100, hidden=256, layers=2, dropout=0.5,
            drop_input=False, batch_norm=False, residual=False, linear=False,
            lr=0.01, weight_decay=0.0, nonreg_weight_decay=0.0, grad_norm=0.0,
            epochs=400),
        # large_benchmark/conf/model/gcn2.yaml, params.reddit:
        'gcn2': dict(
            num_parts=200, batch_size=100, hidden=256, layers=4, alpha=0.1,
            theta=0.5, shared_weights=False, dropout=0.5, drop_input=True,
            batch_norm=True, residual=False, lr=0.01, weight_decay=0.0,
            nonreg_weight_decay=0.0, grad_norm=0.0, epochs=400),
    },
    'ppi': {
        # large_benchmark/conf/model/gcn.yaml, params.ppi:
        'gcn': dict(
            num_parts=20, batch_size=2, hidden=1024, layers=2, dropout=0.0,
            drop_input=False, batch_norm=True, residual=True, linear=True,
            lr=0.005, weight_decay=0.0, nonreg_weight_decay=0.0, grad_norm=0.0,
            epochs=1000),
        # large_benchmark/conf/model/gcn2.yaml, params.ppi:
        'gcn2': dict(
            num_parts=20, batch_size=2, hidden=2048, layers=9, alpha=0.5,
            theta=1.0, shared_weights=False, dropout=0.2, drop_input=True,
            batch_norm=False, residual=True, lr=0.001, weight_decay=0.0,
            nonreg_weight_decay=0.0, grad_norm=1.0, epochs=2000),
        # large_benchmark/conf/model/pna.yaml, params.ppi:
        'pna': dict(
            num_parts=20, batch_size=2, hidden=2048, layers=5, dropout=0.2,
            drop_input=True, batch_norm=True, residual=True, lr=0.001,
            weight_decay=0.0, nonreg_weight_decay=0.0, grad_norm=1.0,
            epochs=300),
    },
    'flickr': {
        # large_benchmark/conf/model/gcn.yaml, params.flickr:
        'gcn': dict(
            num_parts=24, batch_size=12, hidden=256, layers=2, dropout=0.3,
            drop_input=True, batch_norm=True, residual=False, linear=False,
            lr=0.01, weight_decay=0.0, nonreg_weight_decay=0.0, grad_norm=0.0,
            epochs=400),
        # large_benchmark/conf/model/gcn2.yaml, params.flickr:
        'gcn2': dict(
            num_parts=24, batch_size=12, hidden=256, layers=8, alpha=0.1,
            theta=0.5, shared_weights=False, dropout=0.5, drop_input=True,
            batch_norm=True, residual=False, lr=0.01, weight_decay=0.0,
            nonreg_weight_decay=0.0, grad_norm=0.0, epochs=400),
        # large_benchmark/conf/model/pna.yaml, params.flickr:
        'pna': dict(
            num_parts=24, batch_size=12, hidden=64, layers=4, dropout=0.5,
            drop_input=True, batch_norm=True, residual=False, lr=0.005,
            weight_decay=0.0, nonreg_weight_decay=0.0, grad_norm=0.0,
            epochs=500),
    },
    'yelp': {
        # large_benchmark/conf/model/gcn.yaml, params.yelp:
        'gcn': dict(
            num_parts=40, batch_size=5, hidden=512, layers=2, dropout=0.0,
            drop_input=False, batch_norm=False, residual=True, linear=False,
            lr=0.01, weight_decay=0.0, nonreg_weight_decay=0.0, grad_norm=0.0,
            epochs=500),
        # large_benchmark/conf/model/gcn2.yaml, params.yelp:
        'gcn2': dict(
            num_parts=40, batch_size=5, hidden=512, layers=2, alpha=0.2,
            theta=0.5, shared_weights=False, dropout=0.0, drop_input=False,
            batch_norm=False, residual=False, lr=0.01, weight_decay=0.0,
            nonreg_weight_decay=0.0, grad_norm=0.0, epochs=500),
        # large_benchmark/conf/model/pna.yaml, params.yelp:
        'pna': dict(
            num_parts=40, batch_size=5, hidden=512, layers=3, dropout=0.0,
            drop_input=False, batch_norm=False, residual=True, lr=0.005,
            weight_decay=0.0, nonreg_weight_decay=0.0, grad_norm=1.0,
            epochs=400),
    },
    'ogbn-arxiv': {
        # large_benchmark/conf/model/gcn.yaml, params.arxiv:
        'gcn': dict(
            num_parts=80, batch_size=40, hidden=256, layers=3, dropout=0.5,
            drop_input=False, batch_norm=True, residual=False, linear=False,
            lr=0.01, weight_decay=0.0, nonreg_weight_decay=0.0, grad_norm=0.0,
            epochs=300),
        # large_benchmark/conf/model/gcn2.yaml, params.arxiv:
        'gcn2': dict(
            num_parts=40, batch_size=20, hidden=256, layers=4, alpha=0.2,
            theta=0.5, shared_weights=True, dropout=0.3, drop_input=False,
            batch_norm=True, residual=False, lr=0.01, weight_decay=0.0,
            nonreg_weight_decay=0.0, grad_norm=0.0, epochs=500),
        # large_benchmark/conf/model/pna.yaml, params.arxiv:
        'pna': dict(
            num_parts=40, batch_size=20, hidden=256, layers=3, dropout=0.5,
            drop_input=False, batch_norm=True, residual=False, lr=0.005,
            weight_decay=0.0, nonreg_weight_decay=0.0, grad_norm=0.0,
            epochs=500),
    },
    'ogbn-products': {
        # large_benchmark/conf/model/gcn.yaml, params.products:
        'gcn': dict(
            num_parts=7, batch_size=1, hidden=256, layers=3, dropout=0.3,
            drop_input=False, batch_norm=False, residual=False, linear=False,
            lr=0.005, weight_decay=0.0, nonreg_weight_decay=0.0, grad_norm=0.0,
            epochs=300),
        # large_benchmark/conf/model/gcn2.yaml, params.products:
        'gcn2': dict(
            num_parts=150, batch_size=1, hidden=128, layers=5, alpha=0.1,
            theta=0.5, shared_weights=False, dropout=0.0, drop_input=False,
            batch_norm=False, residual=False, lr=0.001, weight_decay=0.0,
            nonreg_weight_decay=0.0, grad_norm=0.0, epochs=240),
        # large_benchmark/conf/model/pna.yaml, params.products:
        'pna': dict(
            num_parts=150, batch_size=1, hidden=256, layers=3, dropout=0.3,
            drop_input=False, batch_norm=False, residual=False, lr=0.001,
            weight_decay=0.0, nonreg_weight_decay=0.0, grad_norm=0.0,
            epochs=150),
    },
}

#: The feature preprocessing of the GAS code (``torch_geometric_autoscale/
#: data.py``): row-normalized Planetoid features, and Reddit2's and Yelp's
#: columns standardized over all nodes.
FEATURES: Dict[str, Dict[str, Any]] = {
    'cora': dict(normalize_features=True),
    'citeseer': dict(normalize_features=True),
    'pubmed': dict(normalize_features=True),
    'reddit2': dict(standardize_features=True),
    'yelp': dict(standardize_features=True),
}

#: Presets of pyg_gas's own, for models the paper has no configuration for.
#: Cora's were tuned on its validation split (``benchmarks/cora.py``).
OWN_PRESETS: Dict[str, Dict[str, Dict[str, Any]]] = {
    'cora': {
        'sage': dict(num_parts=40, batch_size=10, hidden=16, layers=2,
                     lr=0.01, weight_decay=5e-4, dropout=0.5, epochs=200),
        'gin': dict(num_parts=40, batch_size=10, hidden=64, layers=2,
                    lr=0.01, weight_decay=5e-4, dropout=0.5, epochs=200),
        # PNA's min/max/std features need batch norm to train at all, batch
        # norm needs batches of more than a few clusters, and PNA overfits
        # Cora less on raw binary features:
        'pna': dict(num_parts=40, batch_size=20, hidden=64, layers=2,
                    lr=0.005, linear=True, batch_norm=True,
                    normalize_features=False, weight_decay=5e-3,
                    nonreg_weight_decay=5e-3, dropout=0.5, epochs=200),
    },
}

#: Every preset by dataset and model: the paper's, then pyg_gas's own.
PRESETS: Dict[str, Dict[str, Dict[str, Any]]] = {
    name: {model: dict(FEATURES.get(name, {}), **values)
           for model, values in {**GAS_PRESETS.get(name, {}),
                                 **OWN_PRESETS.get(name, {})}.items()}
    for name in {**GAS_PRESETS, **OWN_PRESETS}
}

#: The dataset names of :func:`~pyg_gas.datasets.load_dataset` whose
#: presets are another's: the Planetoid spellings, the synthetic graphs
#: sized like an OGB graph, and Reddit (the paper's "reddit" is Reddit2).
PRESET_ALIASES: Dict[str, str] = {
    'planetoid:cora': 'cora',
    'planetoid:citeseer': 'citeseer',
    'planetoid:pubmed': 'pubmed',
    'synthetic-arxiv': 'ogbn-arxiv',
    'synthetic-products': 'ogbn-products',
    'reddit': 'reddit2',
}

#: The batch size of the layer-wise loaders counts output nodes, not
#: clusters: their values come first.
LOADER_DEFAULTS: Dict[str, Dict[str, Any]] = {
    'ladies': dict(batch_size=512, num_samples=512),
    'fastgcn': dict(batch_size=512, num_samples=512),
}
#: 64 of Cora's 140 training nodes per batch and 128 sampled nodes per
#: layer: within 0.2 points of full batch (``benchmarks/ladies_cora.py``).
_PLANETOID_LAYERWISE = dict(batch_size=64, num_samples=128)
LOADER_PRESETS: Dict[str, Dict[str, Dict[str, Any]]] = {
    name: {'ladies': _PLANETOID_LAYERWISE, 'fastgcn': _PLANETOID_LAYERWISE}
    for name in ('cora', 'citeseer', 'pubmed')
}


def preset_name(dataset: str) -> str:
    r"""The key of :data:`PRESETS` for the dataset name :obj:`dataset`."""
    name = dataset.strip().lower()
    return PRESET_ALIASES.get(name, name)


def find_preset(dataset: str,
                model: str) -> Tuple[Dict[str, Any], Optional[str]]:
    r"""The preset of :obj:`model` on :obj:`dataset`, and where it comes
    from (:obj:`None` where there is none). A model without an entry for a
    dataset that has presets takes the dataset's GCN preset."""
    name = preset_name(dataset)
    entries = PRESETS.get(name)
    if entries is None:
        return {}, None
    if model in entries:
        source = 'GAS paper' if model in GAS_PRESETS.get(name, {}) \
            else 'pyg_gas'
        return entries[model], f'{source}: {name}/{model}'
    return entries['gcn'], f'GAS paper: {name}/gcn (no {model} entry)'


def preset_values(dataset: str, model: str,
                  loader: str = 'gas') -> Dict[str, Any]:
    r"""The value of every preset option (the keys of :data:`DEFAULTS`) that
    a run of :obj:`model` with :obj:`loader` on :obj:`dataset` takes when
    it leaves the option out: the dataset's values for the loader
    (:data:`LOADER_PRESETS`), the loader's (:data:`LOADER_DEFAULTS`), the
    preset of the dataset and model (:func:`find_preset`), then
    :data:`DEFAULTS`, first found first."""
    name = preset_name(dataset)
    layers = [
        LOADER_PRESETS.get(name, {}).get(loader, {}),
        LOADER_DEFAULTS.get(loader, {}),
        find_preset(dataset, model)[0],
        DEFAULTS,
    ]
    return {key: next(layer[key] for layer in layers if key in layer)
            for key in DEFAULTS}
