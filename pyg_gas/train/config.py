r"""What defines a training run: :class:`TrainConfig`, the presets of the
GAS paper, and :func:`resolve`, which fills a configuration from them and
validates it."""
import os.path as osp
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, Optional

from pyg_gas.checks import check_choice, check_number
from pyg_gas.train.build import HISTORY_DTYPES, LAYERWISE, LOADERS, MODELS
from pyg_gas.utils import check_writable_dir, check_writable_file

DEVICES = ('cpu', 'cuda', 'auto')


def _option(default: Any, help: str, **cli: Any) -> Any:
    # A field with its command-line help; 'cli' holds further argparse
    # settings of its option (choices, metavar, flag).
    return field(default=default, metadata=dict(help=help, **cli))


def _preset(help: str, **cli: Any) -> Any:
    # A field that the presets fill when left out.
    return _option(None, help, preset=True, **cli)


@dataclass
class TrainConfig:
    r"""Everything that defines a training run. :obj:`None` fields take the
    preset of the dataset and model (see :data:`PRESETS`), then
    :data:`DEFAULTS`. The ``pyg-gas train`` options are generated from these
    fields and their help texts."""
    dataset: str = _option(
        'cora', "'cora' (bundled), 'planetoid:NAME' (needs --root), "
        "'ogbn-NAME', e.g. 'ogbn-arxiv' (OGB, needs --root), or "
        "'synthetic-NAME' (generated)")
    root: Optional[str] = _option(None, 'the dataset directory',
                                  metavar='DIR')
    model: str = _option('gcn', 'the model', choices=sorted(MODELS))
    loader: str = _option(
        'gas', 'gas (GNNAutoScale: clusters with their halo from '
        'histories), cluster (Cluster-GCN: clusters without halo), full '
        '(full batch), ladies or fastgcn (layer-wise sampling)',
        choices=list(LOADERS))
    epochs: Optional[int] = _preset(
        'training epochs')
    hidden: Optional[int] = _preset(
        'hidden channels (per head for gat)')
    layers: Optional[int] = _preset(
        'number of layers')
    num_parts: Optional[int] = _preset(
        'METIS parts (gas, cluster)')
    batch_size: Optional[int] = _preset(
        'clusters per mini-batch (gas, cluster), or output nodes per '
        'mini-batch (ladies, fastgcn)')
    num_samples: Optional[int] = _preset(
        'nodes sampled per layer (ladies, fastgcn)')
    lr: Optional[float] = _preset(
        'learning rate of Adam')
    weight_decay: Optional[float] = _preset(
        'weight decay of the regularized layers')
    nonreg_weight_decay: Optional[float] = _preset(
        'weight decay of the other layers')
    dropout: Optional[float] = _preset(
        'dropout probability')
    drop_input: Optional[bool] = _preset(
        'dropout on the input features')
    batch_norm: Optional[bool] = _preset(
        'batch normalization between layers')
    residual: Optional[bool] = _preset(
        'residual connections')
    linear: Optional[bool] = _preset(
        'linear input and output layers around the convolutions')
    normalize_features: Optional[bool] = _preset(
        'row-normalize the node features')
    heads: Optional[int] = _preset(
        'attention heads (gat)')
    attn_dropout: Optional[float] = _preset(
        'attention dropout (gat)')
    alpha: Optional[float] = _preset(
        'initial residual / teleport probability (gcn2, appnp)')
    theta: Optional[float] = _preset(
        'identity mapping strength (gcn2)')
    shared_weights: Optional[bool] = _preset(
        'one weight for both terms of a layer (gcn2)')
    seed: int = _option(0, 'the random seed')
    device: str = _option('auto', "'auto' takes CUDA when available",
                          choices=list(DEVICES))
    num_workers: int = _option(0, 'loader worker processes')
    cache_dir: Optional[str] = _option(None,
                                       'where to cache METIS partitions',
                                       metavar='DIR')
    eval_every: int = _option(1, 'epochs between evaluations')
    eval_parts: int = _option(
        0, '(full, ladies, fastgcn) evaluate by exact layer-wise inference '
        'over P node ranges instead of one whole-graph forward, for graphs '
        'whose activations do not fit', metavar='P')
    history_dtype: str = _option(
        'float32', 'storage type of the histories (bfloat16 halves their '
        'memory)', choices=list(HISTORY_DTYPES))
    nproc: int = _option(
        1, '(gas) train on N processes of this machine with '
        'torch.distributed (gloo on CPU, nccl on CUDA); under torchrun, the '
        'launcher sets the processes instead', metavar='N')
    sync_every: int = _option(
        1, '(distributed) training steps between halo exchanges',
        metavar='K')
    checkpoint: Optional[str] = _option(
        None, 'save a checkpoint into DIR after every epoch, and resume '
        'from it if one is there', metavar='DIR')
    log_every: int = _option(10, 'epochs between log lines')
    progress: bool = _option(True, 'no progress bars or log lines',
                             flag='--no-progress')
    json: Optional[str] = _option(None, 'write the results as JSON to PATH',
                                  metavar='PATH')


#: Generic hyperparameters.
DEFAULTS: Dict[str, Any] = dict(
    epochs=200, hidden=256, layers=3, num_parts=40, batch_size=10,
    num_samples=512, lr=0.01,
    weight_decay=0.0, nonreg_weight_decay=0.0, dropout=0.5, drop_input=True,
    batch_norm=False, residual=False, linear=False, normalize_features=False,
    heads=8, attn_dropout=0.0, alpha=0.1, theta=0.5, shared_weights=True)

#: Hyperparameters of the GAS paper (Fey et al., 2021), by dataset and model.
_PLANETOID = dict(num_parts=40, batch_size=10, normalize_features=True,
                  drop_input=True, nonreg_weight_decay=0.0)
_OGB = dict(normalize_features=False, drop_input=False, weight_decay=0.0,
            nonreg_weight_decay=0.0)
PRESETS: Dict[str, Dict[str, Dict[str, Any]]] = {
    'planetoid': {
        'gcn': dict(_PLANETOID, hidden=16, layers=2, lr=0.01,
                    weight_decay=5e-4, dropout=0.5, epochs=200),
        'sage': dict(_PLANETOID, hidden=16, layers=2, lr=0.01,
                     weight_decay=5e-4, dropout=0.5, epochs=200),
        'gat': dict(_PLANETOID, hidden=8, heads=8, layers=2, lr=0.005,
                    weight_decay=5e-4, nonreg_weight_decay=5e-4,
                    dropout=0.6, attn_dropout=0.6, epochs=300),
        'gin': dict(_PLANETOID, hidden=64, layers=2, lr=0.01,
                    weight_decay=5e-4, dropout=0.5, epochs=200),
        'gcn2': dict(_PLANETOID, hidden=64, layers=16, alpha=0.1, theta=0.5,
                     shared_weights=True, lr=0.01, weight_decay=0.01,
                     nonreg_weight_decay=5e-4, dropout=0.6, epochs=400),
        'appnp': dict(_PLANETOID, hidden=64, layers=10, alpha=0.1, lr=0.01,
                      weight_decay=5e-3, dropout=0.5, epochs=200),
        # PNA's min/max/std features need batch norm to train at all, batch
        # norm needs batches of more than a few clusters, and PNA overfits
        # Cora less on raw binary features:
        'pna': dict(_PLANETOID, batch_size=20, hidden=64, layers=2,
                    lr=0.005, linear=True,
                    batch_norm=True, normalize_features=False,
                    weight_decay=5e-3, nonreg_weight_decay=5e-3,
                    dropout=0.5, epochs=200),
    },
    # large_benchmark/conf/model/{gcn,gcn2}.yaml of the GAS code. GAS stops
    # an epoch after `max_steps` batches (4 of products' 7); here an epoch
    # is every batch.
    'ogbn-arxiv': {
        'gcn': dict(_OGB, hidden=256, layers=3, num_parts=80, batch_size=40,
                    batch_norm=True, dropout=0.5, lr=0.01, epochs=300),
        'gcn2': dict(_OGB, hidden=256, layers=4, num_parts=40, batch_size=20,
                     alpha=0.2, theta=0.5, shared_weights=True,
                     batch_norm=True, dropout=0.3, lr=0.01, epochs=500),
    },
    'ogbn-products': {
        'gcn': dict(_OGB, hidden=256, layers=3, num_parts=7, batch_size=1,
                    batch_norm=False, dropout=0.3, lr=0.005, epochs=350),
    },
}

#: The batch size of the layer-wise loaders counts output nodes, not
#: clusters: their values come first.
LOADER_DEFAULTS: Dict[str, Dict[str, Any]] = {
    'ladies': dict(batch_size=512, num_samples=512),
    'fastgcn': dict(batch_size=512, num_samples=512),
}
LOADER_PRESETS: Dict[str, Dict[str, Dict[str, Any]]] = {
    # 64 of the 140 training nodes per batch and 128 sampled nodes per
    # layer: within 0.2 points of full batch (benchmarks/ladies_cora.py).
    'planetoid': {
        'ladies': dict(batch_size=64, num_samples=128),
        'fastgcn': dict(batch_size=64, num_samples=128),
    },
}

#: Fields that must be at least 1 once resolved.
_POSITIVE = ('epochs', 'hidden', 'layers', 'num_parts', 'batch_size',
             'num_samples', 'heads', 'eval_every', 'log_every', 'nproc',
             'sync_every')
#: The ranges of the real-valued fields: (minimum, maximum, open maximum).
_RANGES = dict(lr=(0.0, None, False), weight_decay=(0.0, None, False),
               nonreg_weight_decay=(0.0, None, False),
               dropout=(0.0, 1.0, True), attn_dropout=(0.0, 1.0, True),
               alpha=(0.0, 1.0, False), theta=(0.0, None, False))


def _family(dataset: str) -> str:
    name = dataset.lower()
    if name == 'cora' or name.startswith('planetoid:'):
        return 'planetoid'
    if name.startswith('synthetic-'):  # Sized like the OGB graph.
        return 'ogbn-' + name[len('synthetic-'):]
    return name


def _check_choices(config: TrainConfig) -> None:
    for key, choices in (('model', sorted(MODELS)), ('loader', list(LOADERS)),
                         ('device', list(DEVICES)),
                         ('history_dtype', list(HISTORY_DTYPES))):
        check_choice(key, getattr(config, key), choices)


def resolve(config: TrainConfig) -> TrainConfig:
    r"""Fills the :obj:`None` fields of :obj:`config` from the presets and
    validates it."""
    _check_choices(config)
    family = _family(config.dataset)
    layers = [
        LOADER_PRESETS.get(family, {}).get(config.loader, {}),
        LOADER_DEFAULTS.get(config.loader, {}),
        PRESETS.get(family, {}).get(config.model, {}),
        DEFAULTS,
    ]
    values = asdict(config)
    for key, value in values.items():
        if value is None and key in DEFAULTS:
            values[key] = next(layer[key] for layer in layers if key in layer)
    out = TrainConfig(**values)
    if out.eval_parts < 0:
        raise ValueError(f"'eval_parts' must be at least 0 "
                         f"(got {out.eval_parts})")
    for key in _POSITIVE:
        if getattr(out, key) < 1:
            raise ValueError(f"'{key}' must be at least 1 "
                             f"(got {getattr(out, key)})")
    for key, (low, high, open_max) in _RANGES.items():
        check_number(key, getattr(out, key), low, high, open_max=open_max)
    if out.loader in LAYERWISE and not MODELS[out.model].uses_edge_weight:
        honour = sorted(k for k, v in MODELS.items() if v.uses_edge_weight)
        raise ValueError(f"The '{out.loader}' loader needs a model that "
                         f"weighs messages by edge weights (its importance "
                         f"weights), and '{out.model}' does not; use one of "
                         f"{honour}")
    _check_paths(out)
    return out


def _check_paths(config: TrainConfig) -> None:
    # Every path the run writes to, checked before any work is done. A
    # dataset root that exists may be read-only (a prepared copy); one that
    # does not must be creatable, for the download.
    if config.root is not None and osp.isfile(config.root):
        raise ValueError(f"'root' must be a directory, but '{config.root}' "
                         f"is a file")
    if config.root is not None and not osp.exists(config.root):
        check_writable_dir('root', config.root)
    for key in ('cache_dir', 'checkpoint'):
        if getattr(config, key) is not None:
            check_writable_dir(key, getattr(config, key))
    if config.json is not None:
        check_writable_file('json', config.json)


def config_fields(config: TrainConfig) -> Dict[str, Any]:
    r"""The fields of :obj:`config` that define the run, as a dictionary (the
    :obj:`config` entry of the results)."""
    return {f.name: getattr(config, f.name) for f in fields(config)
            if f.name != 'progress'}
