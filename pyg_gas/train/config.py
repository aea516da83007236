r"""What defines a training run: :class:`TrainConfig` (defined in the
torch-free :mod:`~pyg_gas.train.options`), and :func:`resolve`, which fills
a configuration from the presets of its dataset and model
(:mod:`~pyg_gas.train.presets`) and validates it."""
import importlib.util
import os.path as osp
from dataclasses import asdict, fields, replace
from typing import Any, Dict

from pyg_gas.checks import check_choice, check_int, check_number, check_split
from pyg_gas.storage.format import read_manifest
from pyg_gas.train.build import (
    HISTORY_DTYPES,
    LAYERWISE,
    LOADERS,
    MODELS,
    history_path,
)
from pyg_gas.train.options import (  # noqa: F401 (aliases)
    DEVICES,
    HISTORY_LAYOUTS,
    PARTITIONERS,
    STORAGES,
    TrainConfig,
)
from pyg_gas.train.presets import (  # noqa: F401 (aliases)
    DEFAULTS,
    LOADER_DEFAULTS,
    LOADER_PRESETS,
    PRESETS,
    find_preset,
    preset_name,
    preset_values,
)
from pyg_gas.utils import check_writable_dir, check_writable_file

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
                         ('history_layout', list(HISTORY_LAYOUTS)),
                         ('partitioner', list(PARTITIONERS))):
        check_choice(key, getattr(config, key), choices)


def resolve(config: TrainConfig) -> TrainConfig:
    r"""Fills the :obj:`None` fields of :obj:`config` from the presets and
    validates it."""
    _check_choices(config)
    if config.data_dir is not None:
        config = _from_prepared(config)
    presets = preset_values(config.dataset, config.model, config.loader)
    values = asdict(config)
    for key, value in values.items():
        if value is None and key in presets:
            values[key] = presets[key]
    out = TrainConfig(**values)
    for key in ('eval_parts', 'num_workers'):
        check_int(key, getattr(out, key), 0)
    if out.max_cluster_edges is not None:
        check_int('max_cluster_edges', out.max_cluster_edges)
    # Seeds NumPy too, which takes [0, 2**32):
    check_int('seed', out.seed, 0, 2**32 - 1)
    for key in _POSITIVE:
        if getattr(out, key) < 1:
            raise ValueError(f"'{key}' must be at least 1 "
                             f"(got {getattr(out, key)})")
    for key, (low, high, open_max) in _RANGES.items():
        check_number(key, getattr(out, key), low, high, open_max=open_max)
    if out.split is not None:
        check_split(out.split)
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
    if config.history_layout == 'rows':
        _check_rows_layout(config)
    for key in ('cache_dir', 'checkpoint', 'save', 'tensorboard'):
        if getattr(config, key) is not None:
            check_writable_dir(key, getattr(config, key))
    if config.json is not None:
        check_writable_file('json', config.json)
    check_tensorboard(config)


def _check_rows_layout(config: TrainConfig) -> None:
    # Node rows interleave the histories with the features of a prepared
    # dataset, for one process's GAS histories of float32.
    needs = [(config.history_storage == 'disk', '--history-storage disk'),
             (config.data_dir is not None, '--data-dir (a prepared dataset)'),
             (config.loader == 'gas', '--loader gas'),
             (config.nproc == 1, '--nproc 1 (one process)'),
             (config.history_dtype == 'float32', '--history-dtype float32')]
    missing = [what for ok, what in needs if not ok]
    if missing:
        raise ValueError(f"'history_layout' 'rows' needs "
                         f"{', '.join(missing)}")


def check_tensorboard(config: TrainConfig) -> None:
    r"""Raises an :class:`ImportError` if :obj:`config.tensorboard` is set
    and the :obj:`tensorboard` package is not installed."""
    if (config.tensorboard is not None
            and importlib.util.find_spec('tensorboard') is None):
        raise ImportError("Writing TensorBoard scalars ('tensorboard') "
                          "requires the 'tensorboard' package. Install it "
                          "with `pip install tensorboard`.")


def config_fields(config: TrainConfig) -> Dict[str, Any]:
    r"""The fields of :obj:`config` that define the run, as a dictionary (the
    :obj:`config` entry of the results)."""
    return {f.name: getattr(config, f.name) for f in fields(config)
            if f.name != 'progress'}
