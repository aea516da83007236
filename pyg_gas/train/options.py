r"""The options of a training run: :class:`TrainConfig`, the names its
choices take, and reading a configuration file. This module imports
neither :obj:`torch` nor the registries, so the ``pyg-gas`` command builds
its parser without them; the choices are literals that a test checks
against the registries (:data:`~pyg_gas.train.build.MODELS`,
:data:`~pyg_gas.train.build.LOADERS`,
:data:`~pyg_gas.train.build.HISTORY_DTYPES`).
:class:`~pyg_gas.train.config.TrainConfig` and
:class:`pyg_gas.train.TrainConfig` are this class."""
import json
import os.path as osp
import typing
from dataclasses import dataclass, field, fields
from typing import Any, Dict, Mapping, Optional

#: The models of :data:`~pyg_gas.train.build.MODELS`, in its order.
MODEL_NAMES = ('gcn', 'sage', 'gat', 'gin', 'gcn2', 'appnp', 'pna')
#: The loaders of :data:`~pyg_gas.train.build.LOADERS`, in its order.
LOADER_NAMES = ('gas', 'cluster', 'full', 'ladies', 'fastgcn')
#: The storage types of :data:`~pyg_gas.train.build.HISTORY_DTYPES`.
HISTORY_DTYPE_NAMES = ('float32', 'bfloat16', 'float16')
#: The devices of a run.
DEVICES = ('cpu', 'cuda', 'auto')
#: The partitioners of the clustered loaders.
PARTITIONERS = ('metis', 'stream')
#: Where histories can live.
STORAGES = ('memory', 'disk')
#: How disk histories are laid out: a file per history, or interleaved with
#: the features in node rows (see pyg_gas.storage.NodeRows).
HISTORY_LAYOUTS = ('files', 'rows')


def _option(default: Any, help: str, **cli: Any) -> Any:
    # A field with its command-line help; 'cli' holds further argparse
    # settings of its option (choices, metavar).
    return field(default=default, metadata=dict(help=help, **cli))


def _preset(help: str, **cli: Any) -> Any:
    # A field that the presets fill when left out.
    return _option(None, help, preset=True, **cli)


@dataclass
class TrainConfig:
    r"""Everything that defines a training run. :obj:`None` fields take the
    preset of the dataset and model (see
    :data:`~pyg_gas.train.presets.PRESETS`), then
    :data:`~pyg_gas.train.presets.DEFAULTS`. The ``pyg-gas train`` options
    are generated from these fields and their help texts (a :obj:`bool`
    field :obj:`x` gives ``--x/--no-x``)."""
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
    model: str = _option('gcn', 'the model', choices=sorted(MODEL_NAMES))
    loader: str = _option(
        'gas', 'gas (GNNAutoScale: clusters with their halo from '
        'histories), cluster (Cluster-GCN: clusters without halo), full '
        '(full batch), ladies or fastgcn (layer-wise sampling)',
        choices=list(LOADER_NAMES))
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
    max_cluster_edges: Optional[int] = _option(
        None, '(gas, cluster) split every cluster with more in-edges into '
        'node ranges of at most E (pyg_gas.split_clusters): the edges and '
        'halo rows of a batch stay bounded whatever the graph size, so its '
        'memory does too', metavar='E')
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
        'memory)', choices=list(HISTORY_DTYPE_NAMES))
    history_storage: str = _option(
        'memory', "where the histories live: 'disk' keeps them in "
        "memory-mapped files under --history-path", choices=list(STORAGES))
    history_path: Optional[str] = _option(
        None, "the directory of the histories with --history-storage disk "
        "(default: DATA_DIR/histories)", metavar='DIR')
    history_layout: str = _option(
        'files', "with --history-storage disk and --data-dir: 'rows' "
        "writes each node's features and history rows into one page of one "
        "file (HISTORY_PATH/rows.npy), so that a halo row is one read from "
        "disk, and a loader worker (--num-workers) reads the next batch's "
        "while the current one computes", choices=list(HISTORY_LAYOUTS))
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
    progress: bool = _option(
        True, 'progress bars, on a terminal (--no-progress: none; the log '
        'lines stay unless --quiet)')
    quiet: bool = _option(
        False, 'no log lines: neither the Epoch lines nor those of '
        'partitioning and loading (the progress bars stay unless '
        '--no-progress)')
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


#: The formats of configuration files, by extension.
CONFIG_FORMATS = {'.yaml': 'yaml', '.yml': 'yaml', '.json': 'json'}


def import_yaml(feature: str = 'a YAML configuration file') -> Any:
    r"""Returns the :obj:`yaml` module of pyyaml, or raises an
    :class:`ImportError` naming the package. (It is not probed in
    :mod:`pyg_gas.typing`, which imports :obj:`torch`.)"""
    try:
        import yaml
    except ImportError:
        raise ImportError(f"{feature} requires the 'pyyaml' package. Install "
                          f"it with `pip install pyyaml` (or `pip install "
                          f"'pyg-gas[yaml]'`), or use a .json file"
                          ) from None
    return yaml


def _check_value(name: str, value: Any, annotation: Any,
                 source: str) -> Any:
    # The value of one field as a configuration file gives it: of the
    # field's type, or None where the field is optional.
    args = typing.get_args(annotation)
    kind = next((a for a in args if a is not type(None)), annotation)
    if value is None and type(None) in args:
        return value
    if kind is float and isinstance(value, int) and \
            not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and not (kind is int and
                                        isinstance(value, bool)):
        return value
    expected = {bool: 'true or false', int: 'an integer', float: 'a number',
                str: 'a string'}[kind]
    if type(None) in args:
        expected += ' or null'
    raise TypeError(f"'{name}' in {source} must be {expected} (got "
                    f"{value!r})")


def config_values(values: Mapping[str, Any],
                  source: str = 'the configuration') -> Dict[str, Any]:
    r"""Returns :obj:`values` by field of :class:`TrainConfig`, after
    checking that every key names a field (a dash reads as an underscore,
    as in the option names) and that every value is of the field's type.

    Args:
        values (Mapping[str, Any]): The values, e.g. a configuration file's.
        source (str, optional): Where they come from, for the error
            messages. (default: :obj:`'the configuration'`)

    Raises:
        ValueError: If a key is not a field; the message names it and the
            valid keys.
        TypeError: If :obj:`values` is not a mapping, or a value is not of
            its field's type.
    """
    if not isinstance(values, Mapping):
        raise TypeError(f"{source} must hold a mapping of option names to "
                        f"values (got {type(values).__name__})")
    hints = typing.get_type_hints(TrainConfig)
    unknown = [str(key) for key in values
               if str(key).replace('-', '_') not in hints]
    if unknown:
        valid = ', '.join(f.name for f in fields(TrainConfig))
        raise ValueError(f"{source} has unknown keys {unknown}; the valid "
                         f"keys are: {valid}")
    out = {}
    for key, value in values.items():
        name = str(key).replace('-', '_')
        out[name] = _check_value(name, value, hints[name], source)
    return out


def read_config(path: str) -> Dict[str, Any]:
    r"""Reads the options of a run from the YAML (:obj:`.yaml`,
    :obj:`.yml`, read with pyyaml) or JSON (:obj:`.json`) file
    :obj:`path`: one mapping of :class:`TrainConfig` field names to values,
    checked by :func:`config_values`. An empty file gives no values.

    Args:
        path (str): The file.

    Raises:
        ValueError: If the extension is not one of :data:`CONFIG_FORMATS`,
            the file can not be parsed, or a key is not a field.
        TypeError: If a value is not of its field's type.
        ImportError: If a YAML file is given and pyyaml is not installed.
        OSError: If the file can not be read.
    """
    ext = osp.splitext(path)[1].lower()
    if ext not in CONFIG_FORMATS:
        raise ValueError(f"'config' must be a .yaml, .yml or .json file "
                         f"(got '{path}')")
    yaml = import_yaml() if CONFIG_FORMATS[ext] == 'yaml' else None
    with open(path) as f:
        text = f.read()
    if yaml is None:
        try:
            values = json.loads(text) if text.strip() else None
        except json.JSONDecodeError as e:
            raise ValueError(f"'{path}' is not valid JSON: {e}") from None
    else:
        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ValueError(f"'{path}' is not valid YAML: {e}") from None
    return config_values({} if values is None else values, f"'{path}'")
