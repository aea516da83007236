r"""What a training run is built from: the model registry and factory, and
the loader registry. Each loader entry knows how to build its loaders from
a graph and how to run a model on one of its batches, so adding a loader is
one entry of :data:`LOADERS`."""
import copy
import inspect
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

import torch
import torch_geometric.transforms as T
from torch import Tensor
from torch_geometric.data import Data

from pyg_gas.checks import check_split
from pyg_gas.datasets import load_dataset
from pyg_gas.datasets.saved import MASKS as SPLIT_MASKS
from pyg_gas.datasets.saved import random_node_split
from pyg_gas.graph import to_adj_t
from pyg_gas.history import disk_tensor
from pyg_gas.loader import (
    ClusterLoader,
    EvalSubgraphLoader,
    LADIESLoader,
    SubgraphLoader,
)
from pyg_gas.nn.models import APPNP, GAT, GCN, GCN2, GIN, PNA, SAGE
from pyg_gas.nn.scalable import ScalableGNN
from pyg_gas.partition import metis, permute, stream_partition
from pyg_gas.storage import DiskDataset, NodeRows, derive
from pyg_gas.train.task import check_targets, is_multilabel
from pyg_gas.utils import trim_memory

MODELS = {
    'gcn': GCN,
    'sage': SAGE,
    'gat': GAT,
    'gin': GIN,
    'gcn2': GCN2,
    'appnp': APPNP,
    'pna': PNA,
}
#: Storage types of the histories, by name.
HISTORY_DTYPES = {'float32': torch.float32, 'bfloat16': torch.bfloat16,
                  'float16': torch.float16}
#: The model options of a configuration, passed to the models that take them.
_MODEL_OPTIONS = ('dropout', 'drop_input', 'batch_norm', 'residual', 'linear',
                  'heads', 'out_heads', 'attn_dropout', 'alpha', 'theta',
                  'shared_weights')


def select_device(name: str) -> torch.device:
    r"""The device of a run: :obj:`'auto'` takes CUDA when available. A
    process of a distributed run takes the GPU :obj:`LOCAL_RANK`."""
    if name == 'cpu' or (name == 'auto' and not torch.cuda.is_available()):
        return torch.device('cpu')
    if not torch.cuda.is_available():
        raise ValueError("'device' is 'cuda' but CUDA is not available")
    index = int(os.environ.get('LOCAL_RANK', 0))
    if index >= torch.cuda.device_count():
        raise ValueError(f"Process {index} of this machine needs GPU {index}, "
                         f"but {torch.cuda.device_count()} GPU(s) are "
                         f"visible: start at most one process per GPU, or "
                         f"pass --device cpu")
    return torch.device('cuda', index)


def check_labels(data: Data, name: str = 'the dataset') -> None:
    r"""Checks that :obj:`data` holds what training needs: features
    :obj:`x`, labels :obj:`y` (class indices, or a 0/1 matrix of
    :obj:`num_classes` columns for multi-label targets), boolean
    :obj:`train_mask`, :obj:`val_mask` and :obj:`test_mask`, one row per
    node, and :obj:`num_classes`; and that every node in a mask has a
    label."""
    num_nodes = data.num_nodes
    for key, kind in (('x', 'a floating-point feature matrix'),
                      ('y', 'integer class labels, or a floating-point 0/1 '
                       'matrix of multi-label targets'),
                      ('train_mask', 'a boolean mask'),
                      ('val_mask', 'a boolean mask'),
                      ('test_mask', 'a boolean mask')):
        value = data.get(key)
        expected = f"{kind} with one row per node ({num_nodes})"
        if value is None and key.endswith('_mask') and all(
                data.get(mask) is None for mask in SPLIT_MASKS):
            raise ValueError(f"'{name}' has no 'train_mask', 'val_mask' or "
                             f"'test_mask': pass --split TRAIN,VAL,TEST "
                             f"(e.g. --split 0.6,0.2,0.2; 'split' in "
                             f"Python) for a random node split, or save "
                             f"the graph with its boolean masks")
        if not isinstance(value, Tensor):
            raise ValueError(f"'{name}' has no '{key}': expected {expected}")
        ok = {'x': value.is_floating_point(),
              'y': (is_multilabel(value) or not (
                  value.is_floating_point() or value.is_complex()
                  or value.dtype == torch.bool))}.get(
                      key, value.dtype == torch.bool)
        if not ok or value.dim() == 0 or value.size(0) != num_nodes:
            raise ValueError(f"'{name}' has a '{key}' of dtype {value.dtype} "
                             f"and shape {list(value.shape)}: expected "
                             f"{expected}")
    if data.get('num_classes') is None:
        raise ValueError(f"'{name}' does not give its 'num_classes'")
    check_targets(data.y, int(data.num_classes), name)
    if not is_multilabel(data.y):
        masked = data.train_mask | data.val_mask | data.test_mask
        unlabelled = int((data.y.view(-1)[masked] < 0).sum())
        if unlabelled:
            raise ValueError(f"'{name}' has {unlabelled} nodes without a "
                             f"label (y = -1) in its train, validation or "
                             f"test mask")


def release_memory(config: Any) -> bool:
    r"""For a run from disk (a prepared dataset, or disk histories): hands
    the memory that the process freed back to the operating system (see
    :func:`~pyg_gas.utils.trim_memory`), so that the page cache of a
    memory-capped run can use it. Returns whether it did."""
    if config.data_dir is None and config.history_storage != 'disk':
        return False
    return trim_memory()


def load_graph(config: Any) -> Any:
    r"""Loads the dataset of :obj:`config`, with its features normalized if
    asked, and checks that it has enough nodes for the partition. A
    prepared dataset (:obj:`config.data_dir`) is opened memory-mapped (see
    :func:`open_prepared`).

    With :obj:`config.split`, a graph without masks gets a random node
    split of its labelled nodes, seeded by :obj:`config.seed` (see
    :func:`~pyg_gas.datasets.saved.random_node_split`). A graph that has
    masks of its own, and a prepared dataset, whose masks were written when
    it was prepared, refuse a :obj:`split`."""
    split = getattr(config, 'split', None)
    if config.data_dir is not None:
        if split is not None:
            raise ValueError(f"'split' ({split!r}) makes a random node split "
                             f"of a graph without masks, but the prepared "
                             f"dataset '{config.data_dir}' holds the masks "
                             f"it was prepared with: leave --split out")
        return open_prepared(config)
    data = load_dataset(config.dataset, root=config.root)
    if split is not None:
        check_split(split)
        masks = [key for key in SPLIT_MASKS if data.get(key) is not None]
        if masks:
            raise ValueError(f"'{config.dataset}' has its own "
                             f"{', '.join(repr(m) for m in masks)}, and "
                             f"'split' ({split!r}) makes a random node "
                             f"split only for a graph without masks: leave "
                             f"--split out to train on its masks, or save "
                             f"the graph without them")
        data = random_node_split(data, split, config.seed)
    check_labels(data, config.dataset)
    if config.normalize_features:
        data = T.NormalizeFeatures()(data)
    if config.standardize_features:
        data = standardize_features(data)
    if config.num_parts > data.num_nodes and config.loader in PARTITIONED:
        raise ValueError(f"'num_parts' must be in [1, {data.num_nodes}] "
                         f"(got {config.num_parts})")
    return data


def open_prepared(config: Any) -> DiskDataset:
    r"""Opens the prepared dataset of :obj:`config.data_dir` and checks that
    it is the graph the configuration asks for: partitioned into
    :obj:`num_parts` clusters with their seed, with features normalized
    when :obj:`normalize_features` is set."""
    data = DiskDataset(config.data_dir)
    if config.loader not in PARTITIONED:
        raise ValueError(f"A prepared dataset ('data_dir') trains with the "
                         f"loaders {list(PARTITIONED)}, whose batches read "
                         f"their clusters from disk (got loader "
                         f"'{config.loader}')")
    if config.num_parts != data.num_parts:
        raise ValueError(f"'{config.data_dir}' was prepared with "
                         f"{data.num_parts} parts, but 'num_parts' is "
                         f"{config.num_parts}: prepare it again with "
                         f"--num-parts {config.num_parts}, or leave "
                         f"--num-parts out")
    if config.normalize_features and not data.manifest.get(
            'normalized_features'):
        raise ValueError(f"The configuration row-normalizes the features, "
                         f"but '{config.data_dir}' holds them as they are: "
                         f"prepare it with --normalize-features, or pass "
                         f"--normalize-features false")
    if config.standardize_features:
        raise ValueError("A prepared dataset's features cannot be "
                         "standardized while training (pass "
                         "--standardize-features false)")
    return data


#: The on-disk counterparts of the models' graph transforms (see
#: :func:`~pyg_gas.storage.derive`), by the function the model's
#: :meth:`~pyg_gas.ScalableGNN.transform` is.
DISK_TRANSFORMS = {GCN.transform: 'gcn_norm', GCN2.transform: 'gcn_norm',
                   APPNP.transform: 'gcn_norm', GAT.transform: 'self_loops',
                   ScalableGNN.transform: None}


def transform_graph(model: ScalableGNN, data: Any, log: bool = True) -> Any:
    r"""Applies the graph transform of :obj:`model` to :obj:`data`: its
    :meth:`~pyg_gas.ScalableGNN.transform` in memory, the derived edges of
    a prepared dataset (written once, next to it) on disk."""
    if not isinstance(data, DiskDataset):
        return model.transform(data)
    method = type(model).transform
    if method not in DISK_TRANSFORMS:
        raise ValueError(f"'{type(model).__name__}' transforms the graph in "
                         f"a way that has no on-disk counterpart (expected "
                         f"one of {sorted(filter(None, DISK_TRANSFORMS.values()))})")  # noqa: E501
    kind = DISK_TRANSFORMS[method]
    return data if kind is None else derive(data, kind, log=log)


def standardize_features(data: Data) -> Data:
    r"""Returns a shallow copy of :obj:`data` whose feature columns have zero
    mean and unit variance over all nodes (a constant column becomes
    zeros), as the GAS code prepares Reddit2 and Yelp."""
    x = data.x
    std = x.std(dim=0, keepdim=True)
    data = copy.copy(data)
    data.x = (x - x.mean(dim=0, keepdim=True)) / std.masked_fill(std == 0, 1)
    return data


def _init_params(cls: type) -> set:
    # The constructor arguments of a model, through its base classes (whose
    # arguments arrive through **kwargs):
    names = set()
    for klass in cls.__mro__:
        if klass is ScalableGNN:
            break
        if '__init__' in vars(klass):
            names |= set(inspect.signature(klass.__init__).parameters)
    return names


def build_model(config: Any, data: Any,
                num_nodes: Optional[int] = None,
                rows: Optional[NodeRows] = None) -> ScalableGNN:
    r"""Creates the model of :obj:`config` for :obj:`data`, passing each
    option that the model takes. :obj:`num_nodes` sizes the histories
    (default: :obj:`data.num_nodes`; a rank of a distributed run holds the
    rows of its shard only). With :obj:`rows` (see :func:`create_rows`),
    the disk histories are those of the node rows."""
    cls = MODELS[config.model]
    accepted = _init_params(cls)
    kwargs = {key: getattr(config, key) for key in _MODEL_OPTIONS
              if key in accepted}
    kwargs['history_dtype'] = HISTORY_DTYPES[config.history_dtype]
    if num_nodes is None:
        num_nodes = data.num_nodes
    if config.history_storage == 'disk' and num_nodes > 0:
        path = history_path(config)
        if torch.distributed.is_initialized():  # One store per rank.
            path = os.path.join(path, f'rank{torch.distributed.get_rank()}')
        kwargs['history_storage'] = 'disk'
        kwargs['history_path'] = path if rows is None else rows
    if cls is PNA:
        kwargs['deg'] = (torch.bincount(data.rowptr.diff())
                         if isinstance(data, DiskDataset) else
                         PNA.degree_histogram(data))
    return cls(num_nodes, data.num_features, config.hidden,
               int(data.num_classes), config.layers, **kwargs)


def create_rows(config: Any, data: Any) -> Optional[NodeRows]:
    r"""With :obj:`config.history_layout` :obj:`'rows'`, writes the node
    rows of the prepared dataset :obj:`data` and of the histories of the
    model of :obj:`config` (:obj:`rows.npy` in :func:`history_path`), and
    returns them; else :obj:`None`."""
    if config.history_layout != 'rows':
        return None
    with torch.random.fork_rng(devices=[]):  # The model's seed is kept.
        widths = [h.embedding_dim for h in
                  build_model(config, data, num_nodes=0).histories]
    return data.create_rows(os.path.join(history_path(config), 'rows.npy'),
                            widths)


def history_path(config: Any) -> str:
    r"""Where a run keeps its histories on disk: :obj:`history_path`, or
    the :obj:`histories` folder of the prepared dataset."""
    if config.history_path is not None:
        return config.history_path
    if config.data_dir is not None:
        return os.path.join(config.data_dir, 'histories')
    raise ValueError("'history_storage' is 'disk', but no directory was "
                     "given: pass --history-path DIR (or --data-dir)")


@dataclass
class Loaders:
    r"""What a loader entry builds for one process."""
    #: The graph as the run holds it: labels and masks, in the row order of
    #: :obj:`evaluate`'s output.
    data: Data
    #: The training batches of one epoch.
    train: Iterable[Any]
    #: The model's output for every row of :obj:`data`.
    evaluate: Callable[[ScalableGNN], Tensor]
    #: What identifies the graph and its partition (checkpoints compare it).
    layout: Dict[str, Any] = field(default_factory=dict)
    partition_time_s: float = 0.0


class LoaderEntry:
    r"""One entry of :data:`LOADERS`: builds the loaders of a run and runs
    the model on one of their batches."""
    #: Whether batches carry a halo whose age is worth reporting.
    tracks_staleness: bool = False

    def build(self, config: Any, data: Data, device: torch.device) -> Loaders:
        raise NotImplementedError

    def forward(self, model: torch.nn.Module, batch: Any) -> Tensor:
        return model(batch.x, batch.adj_t)


def partition(config: Any, data: Data) -> Tuple[Tensor, Tensor]:
    r"""The clusters of :obj:`data` by :obj:`config.partitioner`:
    :func:`~pyg_gas.metis` or :func:`~pyg_gas.stream_partition`, cached in
    :obj:`config.cache_dir`."""
    fn = metis if config.partitioner == 'metis' else stream_partition
    return fn(data, config.num_parts, seed=config.seed,
              cache_dir=config.cache_dir, log=not config.quiet)


def _drop_edges(data: Data) -> None:
    # The loaders hold the edges (in CSR form, with their weights and
    # attributes): the graph's own copy would only take memory.
    for key in list(data.keys()):
        if key in ('edge_index', 'adj_t') or data.is_edge_attr(key):
            del data[key]


class Partitioned(LoaderEntry):
    r"""Mini-batches of METIS clusters: with their halo from the histories
    (:class:`~pyg_gas.SubgraphLoader`) or without it
    (:class:`~pyg_gas.ClusterLoader`). Evaluation is the exact layer-wise
    inference over the same clusters."""
    def __init__(self, loader_cls: type) -> None:
        self.loader_cls = loader_cls
        self.tracks_staleness = loader_cls.halo

    def build(self, config: Any, data: Data, device: torch.device) -> Loaders:
        t = time.perf_counter()
        if isinstance(data, DiskDataset):  # Prepared in cluster order.
            ptr = data.ptr.clone()
        else:
            perm, ptr = partition(config, data)
            data = permute(data, perm)
        partition_time = time.perf_counter() - t
        batch_size = min(config.batch_size, config.num_parts)
        train = self.loader_cls(data, ptr, batch_size=batch_size,
                                shuffle=True, num_workers=config.num_workers,
                                persistent_workers=config.num_workers > 0,
                                max_cluster_edges=config.max_cluster_edges)
        ptr = train.ptr  # Split by 'max_cluster_edges'.
        # Inference batches share the training loader's copy of the graph;
        # small graphs keep them built, large ones build one at a time:
        eval_loader = EvalSubgraphLoader(
            data, ptr, batch_size=batch_size,
            cache=data.num_edges < 1_000_000 and not isinstance(
                data, DiskDataset), collater=train.collater)
        if not isinstance(data, DiskDataset):
            _drop_edges(data)
        evaluate = _inference(config, data, eval_loader)
        return Loaders(data, train, evaluate,
                       dict(num_nodes=data.num_nodes, ptr=ptr.tolist()),
                       partition_time)

    def forward(self, model: torch.nn.Module, batch: Any) -> Tensor:
        if not self.loader_cls.halo:
            return model(batch.x, batch.adj_t)
        return model(batch.x, batch.adj_t, batch.batch_size, batch.n_id,
                     batch.offset, batch.count)


def _inference(config: Any, data: Any,
               eval_loader: Any) -> Callable[[ScalableGNN], Tensor]:
    # Exact layer-wise inference. With disk histories, its output goes to a
    # memory-mapped file beside them too, so that no array the size of the
    # graph is held in memory.
    if config.history_storage != 'disk':
        return lambda model: model.inference(eval_loader)
    file = os.path.join(history_path(config), 'output.npy')

    def evaluate(model: ScalableGNN) -> Tensor:
        out = disk_tensor(file, (data.num_nodes, int(data.num_classes)))
        return model.inference(eval_loader, out=out)

    return evaluate


def _whole_graph(config: Any, data: Data,
                 device: torch.device) -> Tuple[Data, Optional[Tensor], Any]:
    # The graph on the device, with its adjacency for whole-graph forward
    # passes, or the loader of exact layer-wise inference over
    # 'eval_parts' node ranges (memory bounded by one range and its halo
    # instead of the whole graph's activations).
    if config.eval_parts > data.num_nodes:
        raise ValueError(f"'eval_parts' must be in [0, {data.num_nodes}] "
                         f"(got {config.eval_parts})")
    eval_loader = None
    if config.eval_parts > 0:
        chunks = torch.linspace(0, data.num_nodes, config.eval_parts + 1)
        # Node ranges that bound memory, not clusters: no order check.
        eval_loader = EvalSubgraphLoader(data, chunks.round().long(),
                                         batch_size=1, check_order=False)
    data = data.to(device)
    adj_t = None
    if config.loader == 'full' or eval_loader is None:
        adj_t = to_adj_t(data.edge_index, data.num_nodes,
                         data.get('edge_weight'))
    return data, adj_t, eval_loader


def _evaluator(data: Data, adj_t: Any,
               eval_loader: Any) -> Callable[[ScalableGNN], Tensor]:
    if eval_loader is not None:
        return lambda model: model.inference(eval_loader)

    def evaluate(model: ScalableGNN) -> Tensor:
        model.eval()
        return model(data.x, adj_t)

    return evaluate


class FullBatch(LoaderEntry):
    r"""Full-batch training: one step per epoch on the whole graph."""
    def build(self, config: Any, data: Data, device: torch.device) -> Loaders:
        data, adj_t, eval_loader = _whole_graph(config, data, device)
        batch = Data(x=data.x, adj_t=adj_t, y=data.y,
                     train_mask=data.train_mask, batch_size=data.num_nodes)
        return Loaders(data, [batch], _evaluator(data, adj_t, eval_loader),
                       dict(num_nodes=data.num_nodes))


class Layerwise(LoaderEntry):
    r"""Layer-wise importance sampling (:class:`~pyg_gas.LADIESLoader`) for
    training; evaluation on the whole graph."""
    def __init__(self, mode: str) -> None:
        self.mode = mode

    def build(self, config: Any, data: Data, device: torch.device) -> Loaders:
        # Batches of training nodes; the loader computes its own normalized
        # adjacency:
        train = LADIESLoader(
            data, input_nodes=data.train_mask, batch_size=config.batch_size,
            num_samples=config.num_samples, num_layers=config.layers,
            mode=self.mode, shuffle=True, seed=config.seed,
            num_workers=config.num_workers,
            persistent_workers=config.num_workers > 0)
        data, adj_t, eval_loader = _whole_graph(config, data, device)
        return Loaders(data, train, _evaluator(data, adj_t, eval_loader),
                       dict(num_nodes=data.num_nodes))

    def forward(self, model: torch.nn.Module, batch: Any) -> Tensor:
        return model.forward_layerwise(batch.x, batch.adjs_t)


#: The loaders of ``pyg-gas train --loader``, by name.
LOADERS: Dict[str, LoaderEntry] = {
    'gas': Partitioned(SubgraphLoader),
    'cluster': Partitioned(ClusterLoader),
    'full': FullBatch(),
    'ladies': Layerwise('ladies'),
    'fastgcn': Layerwise('fastgcn'),
}
#: Loaders that train on METIS clusters.
PARTITIONED = tuple(k for k, v in LOADERS.items() if isinstance(v, Partitioned))
#: Loaders that train on sampled layers and evaluate on the whole graph.
LAYERWISE = tuple(k for k, v in LOADERS.items() if isinstance(v, Layerwise))
