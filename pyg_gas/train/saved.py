r"""Trained models saved for prediction: :func:`save` (what
``pyg-gas train --save DIR`` writes), :func:`load`, which returns a
:class:`TrainedModel` that predicts logits or embeddings in the original
node order, and :func:`predict_to_file` (``pyg-gas predict``).

A saved model is one directory:

* :obj:`model.pt`: the weights (without the histories), and the in-degree
  histogram of a PNA model;
* :obj:`config.json`: the resolved :class:`~pyg_gas.train.TrainConfig`;
* :obj:`partition.pt`: :obj:`perm` and :obj:`ptr` of the clusters, for
  the loaders that partition (:obj:`gas`, :obj:`cluster`); the others
  (:obj:`full`, :obj:`ladies`, :obj:`fastgcn`) keep the graph's own order
  and save no partition;
* :obj:`histories.pt` (with :obj:`save_histories`): every history, filled
  by a final exact inference, in cluster order;
* :obj:`manifest.json`, written last: the format, the sizes of the graph,
  and the bytes and BLAKE2b digest of every other file.

Every file is written atomically, and an earlier manifest is removed
before anything else is written, so a directory whose writing was
interrupted has no manifest and is refused by :func:`load`.
"""
import csv
import hashlib
import io
import json
import os
import os.path as osp
from collections import OrderedDict
from dataclasses import fields, replace
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
import torch_geometric.transforms as T
from torch import Tensor
from torch_geometric.data import Data

import pyg_gas
from pyg_gas.loader import EvalSubgraphLoader
from pyg_gas.nn.models import PNA
from pyg_gas.nn.scalable import ScalableGNN
from pyg_gas.partition import original_ids, permute
from pyg_gas.storage import DiskDataset
from pyg_gas.train.build import (
    _MODEL_OPTIONS,
    HISTORY_DTYPES,
    MODELS,
    _init_params,
    build_model,
    load_graph,
    partition,
    standardize_features,
    transform_graph,
)
from pyg_gas.train.config import TrainConfig, config_fields
from pyg_gas.utils import atomic_write, check_writable_file, write_json

#: Marks a directory as a saved model of this package.
FORMAT_NAME = 'pyg_gas.saved'
FORMAT_VERSION = 1
MANIFEST = 'manifest.json'
#: The files a saved model may hold, besides its manifest.
FILES = ('model.pt', 'config.json', 'partition.pt', 'histories.pt')
#: The formats of :func:`predict_to_file`, by file extension.
OUTPUT_FORMATS = ('.pt', '.npy', '.csv')
#: The files of node ids that :func:`parse_nodes` reads, by extension.
NODE_FILES = ('.txt', '.npy', '.pt')

Nodes = Union[Tensor, Sequence[int], np.ndarray]


# Saving #####################################################################

def _is_own(name: str) -> bool:
    # A file of a saved model, or a temporary one of an interrupted write.
    return name in FILES or name == MANIFEST or name.startswith('.tmp-')


def check_save_dir(path: str) -> None:
    r"""Checks, before any work, that :func:`save` may write into
    :obj:`path`: a missing or empty directory, an earlier saved model, or
    the remains of an interrupted save. A directory that holds anything
    else is refused with a :class:`ValueError`."""
    if osp.exists(path) and not osp.isdir(path):
        raise ValueError(f"'save' must be a directory, but '{path}' is a "
                         f"file")
    if not osp.isdir(path):
        return
    foreign = sorted(name for name in os.listdir(path) if not _is_own(name))
    if foreign:
        shown = ', '.join(repr(name) for name in foreign[:3])
        raise ValueError(f"'{path}' holds files that are not a saved model "
                         f"({shown}{', ...' if len(foreign) > 3 else ''}): "
                         f"save into an empty or new directory, or into "
                         f"one that holds an earlier saved model")
    manifest = osp.join(path, MANIFEST)
    if osp.exists(manifest):
        try:
            with open(manifest) as f:
                fmt = json.load(f).get('format')
        except (OSError, ValueError, AttributeError):
            fmt = None
        if fmt != FORMAT_NAME:
            raise ValueError(f"'{manifest}' is not the manifest of a saved "
                             f"model (expected format '{FORMAT_NAME}'): "
                             f"save elsewhere")


def file_digest(path: str) -> str:
    r"""The BLAKE2b digest of the file :obj:`path`, in hex."""
    with open(path, 'rb') as f:
        return hashlib.file_digest(f, 'blake2b').hexdigest()


def _torch_save(path: str, obj: Any) -> None:
    atomic_write(path, lambda f: torch.save(obj, f))



def _weights(model: ScalableGNN) -> Dict[str, Any]:
    # The model's state without its histories, which are not even copied
    # (the state of a history in node rows is a copy of its column).
    weights: Dict[str, Any] = OrderedDict()
    model._save_to_state_dict(weights, '', False)  # Its own tensors.
    for name, child in model.named_children():
        if name != 'histories':
            child.state_dict(destination=weights, prefix=f'{name}.')
    return weights


def save(
    path: str,
    model: ScalableGNN,
    config: TrainConfig,
    graph: Any,
    perm: Optional[Tensor] = None,
    ptr: Optional[Tensor] = None,
    loader: Any = None,
    histories: bool = False,
    deg: Optional[Tensor] = None,
    multilabel: bool = False,
) -> str:
    r"""Saves a trained model into the directory :obj:`path` for
    :func:`load` (see the module's description of the files), atomically:
    the manifest is removed first and written last. Returns :obj:`path`.

    Args:
        path (str): The directory: missing, empty, or an earlier saved
            model (see :func:`check_save_dir`).
        model (ScalableGNN): The trained model (its histories may hold
            any number of rows, e.g. a rank's shard, when :obj:`histories`
            is not set).
        config (TrainConfig): Its resolved configuration.
        graph (Data or DiskDataset or GraphSizes): The graph it was
            trained on (its :obj:`num_nodes`, :obj:`num_features` and
            :obj:`num_classes` are recorded).
        perm (torch.Tensor, optional): The permutation that clustered the
            graph (:obj:`perm[i]` is the original id of node :obj:`i`), or
            :obj:`None` for a graph in its own order. (default: :obj:`None`)
        ptr (torch.Tensor, optional): The cluster boundaries, with
            :obj:`perm`. (default: :obj:`None`)
        loader (EvalSubgraphLoader, optional): The inference loader of the
            clustered graph, needed with :obj:`histories`.
        histories (bool, optional): Runs a final exact inference over
            :obj:`loader` and saves the histories it fills.
            (default: :obj:`False`)
        deg (torch.Tensor, optional): The in-degree histogram of a PNA
            model. (default: :obj:`None`)
        multilabel (bool, optional): Whether the targets are multi-label
            (predicted classes are then :obj:`logits > 0`).
            (default: :obj:`False`)
    """
    check_save_dir(path)
    if (perm is None) != (ptr is None):
        raise ValueError("'perm' and 'ptr' are given together or not at all")
    if histories and loader is None:
        raise ValueError("Saving the histories needs the inference 'loader' "
                         "that fills them")
    if histories:
        model.inference(loader)  # Fresh histories of the final weights.
    os.makedirs(path, exist_ok=True)
    manifest_file = osp.join(path, MANIFEST)
    if osp.exists(manifest_file):  # Invalid until written again.
        os.remove(manifest_file)
    for name in FILES:  # An earlier save's files that this one lacks.
        if osp.exists(osp.join(path, name)):
            os.remove(osp.join(path, name))

    weights = _weights(model)
    _torch_save(osp.join(path, 'model.pt'),
                dict(format=FORMAT_NAME, state_dict=weights, deg=deg))
    write_json(osp.join(path, 'config.json'), config_fields(config))
    written = ['model.pt', 'config.json']
    if perm is not None:
        _torch_save(osp.join(path, 'partition.pt'),
                    dict(perm=perm.cpu(), ptr=ptr.cpu()))
        written.append('partition.pt')
    if histories:
        # The stores as their states hold them (node rows: a copy of the
        # column, not the file it is a view of):
        _torch_save(osp.join(path, 'histories.pt'),
                    [h.state_dict()['emb'].cpu() for h in model.histories])
        written.append('histories.pt')
    batch_size = (min(config.batch_size, config.num_parts)
                  if perm is not None else 1)
    meta = dict(
        format=FORMAT_NAME, version=FORMAT_VERSION,
        model=type(model).__name__, num_nodes=int(graph.num_nodes),
        num_features=int(graph.num_features),
        num_classes=int(graph.num_classes), num_layers=model.num_layers,
        multilabel=bool(multilabel), histories=bool(histories),
        partition=None if ptr is None else dict(
            num_parts=int(ptr.numel() - 1), batch_size=int(batch_size)),
        versions=dict(pyg_gas=pyg_gas.__version__,
                      torch=torch.__version__),
        files={name: dict(bytes=osp.getsize(osp.join(path, name)),
                          digest=file_digest(osp.join(path, name)))
               for name in written})
    write_json(manifest_file, meta)
    return path


def inference_ranges(num_nodes: int, eval_parts: int = 0) -> Tensor:
    r"""The node ranges over which a model trained without a partition
    (loaders :obj:`full`, :obj:`ladies`, :obj:`fastgcn`) runs its exact
    inference when saved and loaded: :obj:`eval_parts` ranges, or the
    whole graph at once (as :obj:`ptr` of an
    :class:`~pyg_gas.EvalSubgraphLoader`)."""
    parts = min(eval_parts, num_nodes) or 1
    return torch.linspace(0, num_nodes, parts + 1).round().long()


def degree_histogram(config: TrainConfig, data: Any) -> Optional[Tensor]:
    r"""The in-degree histogram that :func:`~pyg_gas.train.build_model`
    builds a PNA model of :obj:`config` with for :obj:`data` (a
    :class:`~torch_geometric.data.Data` or a prepared dataset), which
    :func:`save` keeps with its weights; :obj:`None` for other models."""
    if MODELS[config.model] is not PNA:
        return None
    if isinstance(data, DiskDataset):
        return torch.bincount(data.rowptr.diff())
    return PNA.degree_histogram(data)


# Loading ####################################################################

def _read_manifest(path: str, verify: bool) -> Dict[str, Any]:
    if not osp.isdir(path):
        raise ValueError(f"'{path}' is not a directory of a saved model "
                         f"(it does not exist or is a file)")
    file = osp.join(path, MANIFEST)
    if not osp.exists(file):
        raise ValueError(f"'{path}' holds no saved model: its '{MANIFEST}' "
                         f"is missing (written last, so the save may have "
                         f"been interrupted); save the model again")
    try:
        with open(file) as f:
            meta = json.load(f)
    except ValueError as e:
        raise ValueError(f"'{file}' can not be read as JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get('format') != FORMAT_NAME:
        raise ValueError(f"'{path}' is not a saved model of pyg_gas (its "
                         f"manifest has no format '{FORMAT_NAME}')")
    if meta.get('version') != FORMAT_VERSION:
        raise ValueError(f"'{path}' is a saved model of format version "
                         f"{meta.get('version')}, but this pyg_gas reads "
                         f"version {FORMAT_VERSION}")
    for name, entry in meta['files'].items():
        target = osp.join(path, name)
        if not osp.exists(target):
            raise ValueError(f"The saved model '{path}' lacks its file "
                             f"'{name}'")
        size = osp.getsize(target)
        if size != entry['bytes'] or (
                verify and file_digest(target) != entry['digest']):
            raise ValueError(f"The file '{target}' of the saved model has "
                             f"changed since it was saved ({size} bytes, "
                             f"{entry['bytes']} saved)")
    return meta


def _read_config(path: str, root: Optional[str],
                 data_dir: Optional[str]) -> TrainConfig:
    with open(osp.join(path, 'config.json')) as f:
        values = json.load(f)
    known = {f.name for f in fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in values.items() if k in known})
    if root is not None:
        config = replace(config, root=root)
    if data_dir is not None:
        config = replace(config, data_dir=data_dir)
    # Prediction keeps its histories in memory, and writes nothing where
    # the training run did:
    return replace(config, history_storage='memory', history_path=None,
                   history_layout='files', checkpoint=None, json=None,
                   save=None, tensorboard=None, cache_dir=None,
                   progress=False)


class GraphSizes:
    r"""The sizes of a graph that :func:`save` records and
    :func:`~pyg_gas.train.build_model` reads, for a process that does not
    hold the whole graph (a rank of a distributed run)."""
    def __init__(self, num_nodes: int, num_features: int,
                 num_classes: int) -> None:
        self.num_nodes = num_nodes
        self.num_features = num_features
        self.num_classes = num_classes


def _build(config: TrainConfig, num_nodes: int, meta: Dict[str, Any],
           deg: Optional[Tensor]) -> ScalableGNN:
    # The model of 'config' for a graph of 'num_nodes' nodes, before its
    # weights are loaded.
    sizes = GraphSizes(num_nodes, meta['num_features'], meta['num_classes'])
    if deg is None:
        return build_model(config, sizes)
    cls = MODELS[config.model]  # PNA: its histogram was saved.
    accepted = _init_params(cls)
    kwargs = {key: getattr(config, key) for key in _MODEL_OPTIONS
              if key in accepted}
    return cls(num_nodes, sizes.num_features, config.hidden,
               sizes.num_classes, config.layers, deg=deg,
               history_dtype=HISTORY_DTYPES[config.history_dtype], **kwargs)


def check_nodes(nodes: Nodes, num_nodes: int) -> Tensor:
    r"""Returns :obj:`nodes` (a tensor, list or NumPy array of node ids) as
    a one-dimensional :obj:`torch.long` tensor, after checking that every
    id is an integer in :obj:`[0, num_nodes)`; raises a
    :class:`ValueError` naming the first id that is not."""
    if isinstance(nodes, np.ndarray):
        nodes = torch.from_numpy(nodes)
    if not isinstance(nodes, Tensor):
        values = list(nodes)
        bad = [v for v in values if isinstance(v, bool) or not isinstance(
            v, (int, np.integer))]
        if bad:
            raise ValueError(f"'nodes' must be integer node ids (got "
                             f"{bad[0]!r})")
        nodes = torch.tensor(values, dtype=torch.long)
    if nodes.is_floating_point() or nodes.is_complex() or (
            nodes.dtype == torch.bool):
        raise ValueError(f"'nodes' must be integer node ids (got dtype "
                         f"{nodes.dtype})")
    if nodes.dim() != 1:
        raise ValueError(f"'nodes' must be one-dimensional (got shape "
                         f"{list(nodes.shape)})")
    if nodes.numel() == 0:
        raise ValueError("'nodes' is empty: give at least one node id")
    nodes = nodes.long().cpu()
    bad = nodes[(nodes < 0) | (nodes >= num_nodes)]
    if bad.numel():
        raise ValueError(f"'nodes' must be in [0, {num_nodes - 1}] (got "
                         f"{int(bad[0])}, and {bad.numel() - 1} more out of "
                         f"range)")
    return nodes


class _Graph:
    # A graph ready for prediction: the loader of its exact inference, its
    # original ids (or None: its own order) and the model sized for it.
    def __init__(self, model: ScalableGNN, loader: EvalSubgraphLoader,
                 perm: Optional[Tensor]) -> None:
        self.model, self.loader, self.perm = model, loader, perm
        self.num_nodes = loader.num_nodes

    def inverse(self) -> Optional[Tensor]:
        # Row of each original node in the loader's order.
        if self.perm is None:
            return None
        inv = torch.empty_like(self.perm)
        inv[self.perm] = torch.arange(self.perm.numel())
        return inv


class TrainedModel:
    r"""A trained model loaded by :func:`load`: its
    :class:`~pyg_gas.ScalableGNN` with the saved weights, the resolved
    :class:`~pyg_gas.train.TrainConfig`, and the partition it was trained
    with. Its methods return one row per node in the *original* node order
    of the graph (the order of the dataset, before clustering), or one row
    per requested node, in the requested order.

    Args:
        path (str): The directory of the saved model.
        meta (dict): Its manifest.
        config (TrainConfig): Its configuration.
        model (ScalableGNN): The model, with its weights loaded.
        perm (torch.Tensor, optional): The original id of each clustered
            node, or :obj:`None` (the graph in its own order).
        ptr (torch.Tensor, optional): The cluster boundaries.
        histories ([torch.Tensor], optional): The saved histories, in
            cluster order (memory-mapped).
        weights (dict): The saved weights, for models of grown graphs.
        deg (torch.Tensor, optional): A PNA model's degree histogram.
    """
    def __init__(self, path: str, meta: Dict[str, Any], config: TrainConfig,
                 model: ScalableGNN, perm: Optional[Tensor],
                 ptr: Optional[Tensor], histories: Optional[List[Tensor]],
                 weights: Dict[str, Tensor],
                 deg: Optional[Tensor] = None) -> None:
        self.path, self.meta, self.config = path, meta, config
        self.model, self.perm, self.ptr = model, perm, ptr
        self.histories = histories
        self._weights, self._deg = weights, deg
        self._saved_graph: Optional[_Graph] = None

    @property
    def num_nodes(self) -> int:
        r"""The number of nodes of the saved graph."""
        return int(self.meta['num_nodes'])

    @property
    def device(self) -> torch.device:
        return self.model._device()

    def to(self, device: Union[str, torch.device]) -> 'TrainedModel':
        r"""Moves the model to :obj:`device`, in place."""
        self.model.to(device)
        return self

    # Graphs #################################################################

    def _model_for(self, num_nodes: int) -> ScalableGNN:
        if num_nodes == self.model.num_nodes:
            return self.model
        model = _build(self.config, num_nodes, self.meta, self._deg)
        model.load_state_dict(self._weights, strict=False)
        return model.to(self.device).eval()

    def _eval_loader(self, data: Any, ptr: Tensor, batch_size: int,
                     clusters: bool = True) -> EvalSubgraphLoader:
        # Node ranges that are not clusters are not checked for cluster
        # order (see 'pyg_gas.loader.cluster_order').
        return EvalSubgraphLoader(
            data, ptr, batch_size=batch_size, check_order=clusters,
            max_cluster_edges=(self.config.max_cluster_edges if clusters
                               else None))

    def _saved_graph_of(self) -> _Graph:
        # The graph of the configuration, clustered by the saved partition,
        # loaded once.
        if self._saved_graph is not None:
            return self._saved_graph
        data = load_graph(self.config)
        if data.num_nodes != self.num_nodes:
            raise ValueError(f"The graph of the saved configuration "
                             f"('{self.config.dataset}') has "
                             f"{data.num_nodes} nodes, but the model was "
                             f"saved for {self.num_nodes}: pass 'data'")
        data = transform_graph(self.model, data, log=False)
        self._saved_graph = self._cluster(data, self.perm, self.ptr)
        return self._saved_graph

    def _cluster(self, data: Any, perm: Optional[Tensor],
                 ptr: Optional[Tensor]) -> _Graph:
        # 'data' (transformed) in the order of 'perm', with its loader.
        model = self._model_for(int(data.num_nodes))
        if perm is None:  # Trained in the graph's own order.
            ranges = self._ranges(int(data.num_nodes))
            loader = self._eval_loader(data, ranges, 1, clusters=False)
            return _Graph(model, loader, None)
        batch_size = self.meta['partition']['batch_size']
        if not isinstance(data, Data):  # A prepared dataset, clustered.
            if not torch.equal(original_ids(data), perm):
                raise ValueError(f"The prepared dataset "
                                 f"'{self.config.data_dir}' is partitioned "
                                 f"otherwise than the saved model: prepare "
                                 f"it as before, or pass 'data'")
            return _Graph(model, self._eval_loader(data, ptr, batch_size),
                          perm)
        data = permute(data, perm)
        return _Graph(model, self._eval_loader(data, ptr, batch_size), perm)

    def _ranges(self, num_nodes: int) -> Tensor:
        return inference_ranges(num_nodes, self.config.eval_parts)

    def _given_graph(self, data: Data) -> _Graph:
        # A graph passed by the user, in its original order: the saved
        # partition if it has the saved graph's size, a new one otherwise.
        if not isinstance(data, Data):
            raise TypeError(f"'data' must be a 'Data' object (got "
                            f"{type(data).__name__})")
        x = data.get('x')
        if not isinstance(x, Tensor) or x.dim() != 2 or (
                x.size(-1) != self.meta['num_features']):
            raise ValueError(f"'data' must have node features 'x' with "
                             f"{self.meta['num_features']} columns, as the "
                             f"saved model's graph (got "
                             f"{list(getattr(x, 'shape', []))})")
        graph = Data(x=x, num_nodes=data.num_nodes)
        for key in ('edge_index', 'adj_t', 'edge_weight', 'edge_attr'):
            if data.get(key) is not None:
                graph[key] = data[key]
        if self.config.normalize_features:
            graph = T.NormalizeFeatures()(graph)
        if self.config.standardize_features:
            graph = standardize_features(graph)
        model = self._model_for(int(graph.num_nodes))
        graph = transform_graph(model, graph, log=False)
        perm, ptr = self.perm, self.ptr
        if perm is not None and graph.num_nodes != self.num_nodes:
            perm, ptr = partition(self.config, graph)
        return self._cluster(graph, perm, ptr)

    # Prediction #############################################################

    def _ids(self, nodes: Optional[Nodes], num_nodes: int) -> Optional[Tensor]:
        return None if nodes is None else check_nodes(nodes, num_nodes)

    @torch.no_grad()
    def _from_histories(self, nodes: Tensor, embed: bool) -> Tensor:
        # The rows of 'nodes' from the saved histories: the last history's
        # rows for embeddings; the last layer over the inference batches
        # that hold them otherwise (every other layer's rows, halo
        # included, come from the histories).
        assert self.histories is not None
        model, dtype = self.model, self.model._dtype()
        rows = nodes  # [K], in the order of the histories
        if self.perm is not None:
            inv = torch.empty_like(self.perm)
            inv[self.perm] = torch.arange(self.perm.numel())
            rows = inv[nodes]
        last = self.histories[-1]
        if embed:
            return last[rows].to(self.device, dtype)  # [K, C]
        loader = self._saved_graph_of().loader
        batch_size, ptr = loader.cluster_batch_size, loader.ptr
        num_parts = ptr.numel() - 1
        groups = torch.bucketize(rows, ptr[1:], right=True) // batch_size
        collater = self._collater()
        out: Optional[Tensor] = None
        model.eval()
        for group in groups.unique().tolist():
            parts = list(range(group * batch_size,
                               min((group + 1) * batch_size, num_parts)))
            batch = collater(parts)
            h = model._inference_layer(
                model.num_layers - 1, batch, self.device, dtype,
                x=last[batch.n_id])  # [B, C]
            # The batch rows are the clusters' ranges in increasing order,
            # so a node's position among them is found by a sorted search:
            mask = groups == group
            local = torch.searchsorted(batch.n_id[:batch.batch_size],
                                       rows[mask])
            if out is None:
                out = h.new_empty(rows.numel(), h.size(-1))
            out[mask.to(h.device)] = h[local.to(h.device)]
        assert out is not None
        return out

    def _collater(self) -> Any:
        # The collater of the saved graph (built from the configuration's
        # graph, once).
        return self._saved_graph_of().loader.collater

    def _output(self, data: Optional[Data], nodes: Optional[Nodes],
                embed: bool) -> Tensor:
        if embed and self.model.num_layers < 2:
            raise ValueError("A model of one layer has no hidden layer to "
                             "take embeddings from")
        if data is None and nodes is not None and self.histories is not None:
            return self._from_histories(check_nodes(nodes, self.num_nodes),
                                        embed)
        ids = self._ids(nodes, self.num_nodes if data is None else
                        int(data.num_nodes))
        graph = (self._saved_graph_of() if data is None else
                 self._given_graph(data))
        model = graph.model
        out = model.inference(graph.loader, original_order=(
            False if graph.perm is None else graph.perm))  # [N, C]
        if embed:
            out = model.histories[-1].pull(dtype=model._dtype())  # [N, C]
            inv = graph.inverse()
            if inv is not None:
                out = out[inv.to(out.device)]
        return out if ids is None else out[ids.to(out.device)]

    def predict(self, data: Optional[Data] = None,
                nodes: Optional[Nodes] = None) -> Tensor:
        r"""The model's output (logits) of shape :obj:`[N, num_classes]`:
        one row per node of the graph in its original order, or one row
        per node of :obj:`nodes`, in their order.

        Without :obj:`data`, the graph of the saved configuration is
        loaded (its dataset under :obj:`root`, or its prepared
        :obj:`data_dir`) and clustered by the saved partition. If the
        histories were saved, the rows of :obj:`nodes` are computed from
        them: only the last layer runs, over the inference batches of
        clusters that hold those nodes, with every other layer's rows
        (their halo's included) read from the saved histories; the rows
        equal those of the full prediction. Without saved histories, a
        full exact inference runs (see
        :meth:`~pyg_gas.ScalableGNN.inference`) and the rows are taken
        from it.

        With :obj:`data` (a :class:`~torch_geometric.data.Data` in its
        original order, with features :obj:`x` of the saved width, and
        :obj:`edge_index` or :obj:`adj_t`), a full exact inference runs on
        it, with the saved weights. A graph of the saved graph's size is
        clustered by the saved partition; any other (e.g. a grown graph
        with new nodes and edges, for inductive use) is partitioned anew
        with the saved :obj:`num_parts` and seed. Its features are
        normalized as the configuration asks. The saved histories are not
        used: they hold the saved graph's rows.

        Args:
            data (Data, optional): The graph. (default: :obj:`None`)
            nodes (torch.Tensor or [int], optional): Node ids, in the
                original order. (default: all nodes)
        """
        return self._output(data, nodes, embed=False)

    def predict_classes(self, data: Optional[Data] = None,
                        nodes: Optional[Nodes] = None) -> Tensor:
        r"""The predicted classes of :meth:`predict`: the arg-max of the
        logits, or :obj:`logits > 0` (a 0/1 matrix) for multi-label
        targets."""
        return self.classes(self.predict(data, nodes))

    def classes(self, logits: Tensor) -> Tensor:
        r"""The classes of :obj:`logits` (see :meth:`predict_classes`)."""
        if self.meta.get('multilabel'):
            return (logits > 0).long()
        return logits.argmax(dim=-1)

    def embed(self, data: Optional[Data] = None,
              nodes: Optional[Nodes] = None) -> Tensor:
        r"""The node embeddings of the last hidden layer, of shape
        :obj:`[N, hidden]`: the output of layer :obj:`num_layers - 2`,
        activated, which is the input of the last layer (and the rows of
        the last history). For models with :obj:`linear` output layers,
        that is the input of the last convolution; for APPNP, the
        next-to-last propagation step. Rows and graphs as in
        :meth:`predict`; with saved histories, the rows of :obj:`nodes` are
        read from them without any computation. A model of one layer has
        none (a :class:`ValueError`)."""
        return self._output(data, nodes, embed=True)

    def __repr__(self) -> str:
        parts = ('none' if self.ptr is None else
                 f'{self.ptr.numel() - 1} parts')
        return (f'{self.__class__.__name__}({self.meta["model"]}, '
                f'dataset={self.config.dataset!r}, '
                f'num_nodes={self.num_nodes}, partition={parts}, '
                f'histories={self.histories is not None}, '
                f'path={self.path!r})')


def load(path: str, device: Union[str, torch.device] = 'cpu',
         root: Optional[str] = None, data_dir: Optional[str] = None,
         verify: bool = False) -> TrainedModel:
    r"""Loads a model saved by :func:`save` (``pyg-gas train --save DIR``)
    for prediction (see :class:`TrainedModel`).

    Args:
        path (str): The directory of the saved model.
        device (str or torch.device, optional): Where the model computes.
            (default: :obj:`'cpu'`)
        root (str, optional): Where to find the dataset when the graph is
            reloaded, instead of the saved :obj:`root`. (default:
            :obj:`None`)
        data_dir (str, optional): A prepared dataset to reload the graph
            from, instead of the saved :obj:`data_dir`. (default:
            :obj:`None`)
        verify (bool, optional): Recomputes the digest of every file and
            compares it with the manifest. (default: :obj:`False`)
    """
    path = os.fspath(path)
    meta = _read_manifest(path, verify)
    config = _read_config(path, root, data_dir)
    state = torch.load(osp.join(path, 'model.pt'), map_location='cpu',
                       weights_only=True)
    if not isinstance(state, dict) or state.get('format') != FORMAT_NAME:
        raise ValueError(f"'{osp.join(path, 'model.pt')}' is not the model "
                         f"file of a saved model")
    weights, deg = state['state_dict'], state.get('deg')
    model = _build(config, meta['num_nodes'], meta, deg)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.startswith('histories.')]
    if missing or unexpected:
        raise ValueError(f"The saved weights in '{path}' do not fit the "
                         f"model of its configuration (missing {missing}, "
                         f"unexpected {unexpected})")
    perm = ptr = None
    if 'partition.pt' in meta['files']:
        saved = torch.load(osp.join(path, 'partition.pt'),
                           map_location='cpu', weights_only=True)
        perm, ptr = saved['perm'], saved['ptr']
    histories = None
    if 'histories.pt' in meta['files']:
        histories = torch.load(osp.join(path, 'histories.pt'),
                               map_location='cpu', weights_only=True,
                               mmap=True)
    model = model.to(device).eval()
    return TrainedModel(path, meta, config, model, perm, ptr, histories,
                        weights, deg)


# Prediction into a file #####################################################

def parse_nodes(nodes: str) -> Tensor:
    r"""Reads the node ids of ``pyg-gas predict --nodes``: a
    comma-separated list (:obj:`'0,5,9'`), or the path of a :obj:`.txt`
    file (one id per line), a :obj:`.npy` array or a :obj:`.pt` tensor of
    integer ids. Raises a :class:`ValueError` naming the problem. (Ranges
    are checked by :func:`check_nodes`.)"""
    text = nodes.strip()
    ext = osp.splitext(text)[1].lower()
    if ext in NODE_FILES or osp.isfile(text):
        if not osp.isfile(text):
            raise ValueError(f"The file of node ids '{text}' does not exist")
        return _read_node_file(text, ext)
    values = []
    for item in text.split(','):
        try:
            values.append(int(item.strip()))
        except ValueError:
            raise ValueError(f"'nodes' must be comma-separated integer node "
                             f"ids, or a .txt, .npy or .pt file of them "
                             f"(got {item.strip()!r} in {nodes!r})") from None
    return torch.tensor(values, dtype=torch.long)


def _read_node_file(path: str, ext: str) -> Tensor:
    if ext == '.npy':
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ValueError(f"'{path}' can not be read as a .npy array "
                             f"({e})") from None
        if array.dtype.kind not in 'iu':
            raise ValueError(f"'{path}' must hold integer node ids (got "
                             f"dtype {array.dtype})")
        return torch.from_numpy(array.astype(np.int64).reshape(-1))
    if ext == '.pt':
        try:
            value = torch.load(path, map_location='cpu', weights_only=True)
        except Exception as e:  # torch raises many kinds here.
            raise ValueError(f"'{path}' can not be read as a tensor of "
                             f"node ids ({type(e).__name__})") from None
        if not isinstance(value, Tensor):
            raise ValueError(f"'{path}' must hold a tensor of node ids (got "
                             f"{type(value).__name__})")
        return value.reshape(-1)
    ids = []
    with open(path) as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                try:
                    ids.append(int(line.strip()))
                except ValueError:
                    raise ValueError(f"Line {number} of '{path}' is not an "
                                     f"integer node id (got "
                                     f"{line.strip()!r})") from None
    return torch.tensor(ids, dtype=torch.long)


def _write_output(out: str, ext: str, ids: Tensor, values: Tensor,
                  pred: Optional[Tensor], key: str) -> None:
    if ext == '.pt':
        obj = {'nodes': ids, key: values}
        if pred is not None:
            obj['pred'] = pred
        atomic_write(out, lambda f: torch.save(obj, f))
    elif ext == '.npy':
        atomic_write(out, lambda f: np.save(f, values.numpy()))
    else:
        def write(f: Any) -> None:
            text = io.TextIOWrapper(f, newline='', encoding='utf-8')
            writer = csv.writer(text)
            prefix = 'logit' if key == 'logits' else 'emb'
            head = ['node'] + (['pred'] if pred is not None else [])
            writer.writerow(head + [f'{prefix}_{j}'
                                    for j in range(values.size(1))])
            for i, row in enumerate(values.tolist()):
                first = [int(ids[i])]
                if pred is not None:
                    p = pred[i]
                    first.append(int(p) if p.dim() == 0 else ' '.join(
                        str(int(v)) for v in p.tolist()))
                writer.writerow(first + [repr(v) for v in row])
            text.flush()
            text.detach()

        atomic_write(out, write)


def predict_to_file(path: str, out: str,
                    nodes: Optional[Union[str, Nodes]] = None,
                    embeddings: bool = False, device: str = 'cpu',
                    root: Optional[str] = None,
                    data_dir: Optional[str] = None) -> Dict[str, Any]:
    r"""Predicts with the saved model :obj:`path` and writes the result to
    :obj:`out`, atomically (``pyg-gas predict``). Returns a summary:
    :obj:`out`, :obj:`num_nodes` (rows written), :obj:`shape` and
    :obj:`kind` (:obj:`'logits'` or :obj:`'embeddings'`).

    The format follows the extension of :obj:`out`:

    * :obj:`.pt`: a dictionary of :obj:`'nodes'` (the ids), :obj:`'logits'`
      (or :obj:`'embeddings'`), and with logits :obj:`'pred'` (the
      classes, see :meth:`TrainedModel.predict_classes`);
    * :obj:`.npy`: the matrix of logits or embeddings, one row per node;
    * :obj:`.csv`: a header, then :obj:`node,pred,logit_0,...` per node
      (:obj:`node,emb_0,...` for embeddings; a multi-label :obj:`pred`
      lists its 0/1 values separated by spaces).

    Args:
        path (str): The directory of the saved model.
        out (str): The output file (:obj:`.pt`, :obj:`.npy` or
            :obj:`.csv`).
        nodes (str or torch.Tensor or [int], optional): The node ids: a
            string as :func:`parse_nodes` reads it, or the ids themselves;
            all nodes, in order, if :obj:`None`. (default: :obj:`None`)
        embeddings (bool, optional): Writes the last hidden layer's
            embeddings (see :meth:`TrainedModel.embed`) instead of logits.
            (default: :obj:`False`)
        device (str, optional): Where to compute. (default: :obj:`'cpu'`)
        root (str, optional): The dataset directory, instead of the saved
            one. (default: :obj:`None`)
        data_dir (str, optional): The prepared dataset, instead of the
            saved one. (default: :obj:`None`)
    """
    ext = osp.splitext(out)[1].lower()
    if ext not in OUTPUT_FORMATS:
        raise ValueError(f"'out' must end with one of {list(OUTPUT_FORMATS)} "
                         f"(got '{out}')")
    check_writable_file('out', out)
    ids = parse_nodes(nodes) if isinstance(nodes, str) else nodes
    trained = load(path, device=device, root=root, data_dir=data_dir)
    if ids is not None:
        ids = check_nodes(ids, trained.num_nodes)
    if embeddings:
        values = trained.embed(nodes=ids)
    else:
        values = trained.predict(nodes=ids)
    values = values.detach().cpu()
    if ids is None:
        ids = torch.arange(values.size(0))
    pred = None if embeddings else trained.classes(values)
    key = 'embeddings' if embeddings else 'logits'
    _write_output(out, ext, ids, values, pred, key)
    return dict(out=out, num_nodes=int(values.size(0)),
                shape=list(values.shape), kind=key)
