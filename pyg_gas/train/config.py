r"""What defines a training run: :class:`TrainConfig`, and :func:`resolve`,
which fills a configuration from the presets of its dataset and model
(:mod:`~pyg_gas.train.presets`) and validates it."""
import os.path as osp
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Dict, Optional

from pyg_gas.checks import check_choice, check_int, check_number
from pyg_gas.storage.format import read_manifest
from pyg_gas.train.build import (
    HISTORY_DTYPES,
    LAYERWISE,
    LOADERS,
    MODELS,
    history_path,
)
from pyg_gas.train.presets import (  # noqa: F401 (PRESETS: alias)
    DEFAULTS,
    LOADER_DEFAULTS,
    LOADER_PRESETS,
    PRESETS,
    find_preset,
    preset_name,
)
from pyg_gas.utils import check_writable_dir, check_writable_file

DEVICES = ('cpu', 'cuda', 'auto')
#: The partitioners of the clustered loaders.
PARTITIONERS = ('metis', 'stream')
#: Where histories can live.
STORAGES = ('memory', 'disk')


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
        'cora', "the dataset: 'cora' (bundled), a PyG or OGB dataset under "
        "--root (e.g. 'citeseer', 'yelp', 'ogbn-arxiv'), or "
        "'synthetic-NAME' (generated); the list is below")
    root: Optional[str] = _option(None, 'the dataset directory',
                                  metavar='DIR')
    data_dir: Optional[str] = _option(
        None, "train on a dataset prepared on disk by 'pyg-gas prepare' "
        "(memory-mapped; --dataset is then its name, and --num-parts its "
        "partition's)", metavar='DIR')
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
    grad_norm: Optional[float] = _preset(
        'clip the gradient norm of every step to this value (0: no '
        'clipping)')
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
    standardize_features: Optional[bool] = _preset(
        'standardize every feature column over all nodes (zero mean, unit '
        'variance)')
    heads: Optional[int] = _preset(
        'attention heads of the hidden layers (gat)')
    out_heads: Optional[int] = _preset(
        'attention heads of the output layer, averaged (gat)')
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
    partitioner: str = _option(
        'metis', "(gas, cluster) 'metis', or 'stream': a restreamed LDG "
        "partitioner in bounded memory (pyg_gas.stream_partition), for "
        "graphs whose METIS run does not fit", choices=list(PARTITIONERS))
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
    history_storage: str = _option(
        'memory', "where the histories live: 'disk' keeps them in "
        "memory-mapped files under --history-path", choices=list(STORAGES))
    history_path: Optional[str] = _option(
        None, "the directory of the histories with --history-storage disk "
        "(default: DATA_DIR/histories)", metavar='DIR')
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
    split: Optional[str] = _option(
        None, "for a graph without masks (--dataset FILE.pt): the train, "
        "validation and test shares of a random node split, e.g. "
        "'0.6,0.2,0.2' (seeded by --seed)", metavar='TRAIN,VAL,TEST')
    log_every: int = _option(10, 'epochs between log lines')
    progress: bool = _option(True, 'no progress bars or log lines',
                             flag='--no-progress')
    quiet: bool = _option(False, 'no Epoch log lines')
    tensorboard: Optional[str] = _option(
        None, 'write TensorBoard scalars (loss, accuracies, epoch time) into '
        'DIR (needs the tensorboard package)', metavar='DIR')
    save: Optional[str] = _option(
        None, "save the trained model into DIR, for 'pyg-gas predict' and "
        "pyg_gas.load: its weights, the resolved configuration and the "
        "partition", metavar='DIR')
    save_histories: bool = _option(
        False, 'with --save, also save the histories (filled by a final '
        'exact inference), so that predicting a subset of nodes computes '
        'only their clusters')
    json: Optional[str] = _option(None, 'write the results as JSON to PATH',
                                  metavar='PATH')


#: Fields that must be at least 1 once resolved.
_POSITIVE = ('epochs', 'hidden', 'layers', 'num_parts', 'batch_size',
             'num_samples', 'heads', 'out_heads', 'eval_every', 'log_every',
             'nproc', 'sync_every')
#: The ranges of the real-valued fields: (minimum, maximum, open maximum).
_RANGES = dict(lr=(0.0, None, False), weight_decay=(0.0, None, False),
               nonreg_weight_decay=(0.0, None, False),
               grad_norm=(0.0, None, False),
               dropout=(0.0, 1.0, True), attn_dropout=(0.0, 1.0, True),
               alpha=(0.0, 1.0, False), theta=(0.0, None, False))


def _check_choices(config: TrainConfig) -> None:
    for key, choices in (('model', sorted(MODELS)), ('loader', list(LOADERS)),
                         ('device', list(DEVICES)),
                         ('history_dtype', list(HISTORY_DTYPES)),
                         ('history_storage', list(STORAGES)),
                         ('partitioner', list(PARTITIONERS))):
        check_choice(key, getattr(config, key), choices)


def resolve(config: TrainConfig) -> TrainConfig:
    r"""Fills the :obj:`None` fields of :obj:`config` from the presets and
    validates it."""
    _check_choices(config)
    if config.data_dir is not None:
        config = _from_prepared(config)
    name = preset_name(config.dataset)
    layers = [
        LOADER_PRESETS.get(name, {}).get(config.loader, {}),
        LOADER_DEFAULTS.get(config.loader, {}),
        find_preset(config.dataset, config.model)[0],
        DEFAULTS,
    ]
    values = asdict(config)
    for key, value in values.items():
        if value is None and key in DEFAULTS:
            values[key] = next(layer[key] for layer in layers if key in layer)
    out = TrainConfig(**values)
    for key in ('eval_parts', 'num_workers'):
        check_int(key, getattr(out, key), 0)
    # Seeds NumPy too, which takes [0, 2**32):
    check_int('seed', out.seed, 0, 2**32 - 1)
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


def _from_prepared(config: TrainConfig) -> TrainConfig:
    # A prepared dataset names the graph (and so the presets) and fixes the
    # partition: checked here, before any work.
    manifest = read_manifest(config.data_dir)
    num_parts = int(manifest.get('partition', {}).get('num_parts', 0))
    if config.num_parts is not None and config.num_parts != num_parts:
        raise ValueError(f"'{config.data_dir}' was prepared with "
                         f"{num_parts} parts, but 'num_parts' is "
                         f"{config.num_parts}: prepare it again with "
                         f"--num-parts {config.num_parts}, or leave "
                         f"--num-parts out")
    return replace(config, dataset=str(manifest.get('name', 'data')),
                   num_parts=num_parts)


def _check_paths(config: TrainConfig) -> None:
    # Every path the run writes to, checked before any work is done. A
    # dataset root that exists may be read-only (a prepared copy); one that
    # does not must be creatable, for the download.
    if config.root is not None and osp.isfile(config.root):
        raise ValueError(f"'root' must be a directory, but '{config.root}' "
                         f"is a file")
    if config.root is not None and not osp.exists(config.root):
        check_writable_dir('root', config.root)
    if config.history_storage == 'disk':
        check_writable_dir('history_path', history_path(config))
    elif config.history_path is not None:
        raise ValueError("'history_path' is given, but 'history_storage' "
                         "is 'memory' (pass --history-storage disk)")
    for key in ('cache_dir', 'checkpoint', 'save', 'tensorboard'):
        if getattr(config, key) is not None:
            check_writable_dir(key, getattr(config, key))
    if config.json is not None:
        check_writable_file('json', config.json)


def config_fields(config: TrainConfig) -> Dict[str, Any]:
    r"""The fields of :obj:`config` that define the run, as a dictionary (the
    :obj:`config` entry of the results)."""
    return {f.name: getattr(config, f.name) for f in fields(config)
            if f.name != 'progress'}
