r"""The training and evaluation loop shared by the ``pyg-gas`` command and
the examples."""
import inspect
import json
import random
import resource
import statistics
import sys
import time
from dataclasses import asdict, dataclass, fields
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
import torch_geometric
import torch_geometric.transforms as T
from torch import Tensor
from tqdm import tqdm

import pyg_gas
from pyg_gas.datasets import get_evaluator, load_dataset
from pyg_gas.distributed.launch import in_launched_process
from pyg_gas.graph import to_adj_t
from pyg_gas.loader import (
    ClusterLoader,
    EvalSubgraphLoader,
    LADIESLoader,
    SubgraphLoader,
)
from pyg_gas.nn.models import APPNP, GAT, GCN, GCN2, GIN, PNA, SAGE
from pyg_gas.nn.scalable import ScalableGNN
from pyg_gas.partition import metis, permute
from pyg_gas.utils import atomic_write

MODELS = {
    'gcn': GCN,
    'sage': SAGE,
    'gat': GAT,
    'gin': GIN,
    'gcn2': GCN2,
    'appnp': APPNP,
    'pna': PNA,
}
LOADERS = ('gas', 'cluster', 'full', 'ladies', 'fastgcn')
#: Loaders that train on sampled layers and evaluate on the whole graph.
LAYERWISE = ('ladies', 'fastgcn')
DEVICES = ('cpu', 'cuda', 'auto')
#: Storage types of the histories, by name.
HISTORY_DTYPES = {'float32': torch.float32, 'bfloat16': torch.bfloat16,
                  'float16': torch.float16}


@dataclass
class TrainConfig:
    r"""Everything that defines a training run. :obj:`None` fields take the
    preset of the dataset and model (see :data:`PRESETS`), then
    :data:`DEFAULTS`."""
    dataset: str = 'cora'
    root: Optional[str] = None
    model: str = 'gcn'
    loader: str = 'gas'
    epochs: Optional[int] = None
    hidden: Optional[int] = None
    layers: Optional[int] = None
    num_parts: Optional[int] = None
    batch_size: Optional[int] = None
    num_samples: Optional[int] = None
    lr: Optional[float] = None
    weight_decay: Optional[float] = None
    nonreg_weight_decay: Optional[float] = None
    dropout: Optional[float] = None
    drop_input: Optional[bool] = None
    batch_norm: Optional[bool] = None
    residual: Optional[bool] = None
    linear: Optional[bool] = None
    normalize_features: Optional[bool] = None
    heads: Optional[int] = None
    attn_dropout: Optional[float] = None
    alpha: Optional[float] = None
    theta: Optional[float] = None
    shared_weights: Optional[bool] = None
    seed: int = 0
    device: str = 'auto'
    num_workers: int = 0
    cache_dir: Optional[str] = None
    eval_every: int = 1
    eval_parts: int = 0
    history_dtype: str = 'float32'
    nproc: int = 1
    sync_every: int = 1
    checkpoint: Optional[str] = None
    log_every: int = 10
    progress: bool = True
    json: Optional[str] = None


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


def _family(dataset: str) -> str:
    name = dataset.lower()
    if name == 'cora' or name.startswith('planetoid:'):
        return 'planetoid'
    if name.startswith('synthetic-'):  # Sized like the OGB graph.
        return 'ogbn-' + name[len('synthetic-'):]
    return name


def resolve(config: TrainConfig) -> TrainConfig:
    r"""Fills the :obj:`None` fields of :obj:`config` from the presets and
    validates it."""
    if config.model not in MODELS:
        raise ValueError(f"'model' must be one of {sorted(MODELS)} "
                         f"(got '{config.model}')")
    if config.loader not in LOADERS:
        raise ValueError(f"'loader' must be one of {list(LOADERS)} "
                         f"(got '{config.loader}')")
    if config.device not in DEVICES:
        raise ValueError(f"'device' must be one of {list(DEVICES)} "
                         f"(got '{config.device}')")
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
    if out.history_dtype not in HISTORY_DTYPES:
        raise ValueError(f"'history_dtype' must be one of "
                         f"{list(HISTORY_DTYPES)} (got '{out.history_dtype}')")
    if out.eval_parts < 0:
        raise ValueError(f"'eval_parts' must be at least 0 "
                         f"(got {out.eval_parts})")
    for key in ('epochs', 'hidden', 'layers', 'num_parts', 'batch_size',
                'num_samples', 'eval_every', 'log_every', 'nproc',
                'sync_every'):
        if getattr(out, key) < 1:
            raise ValueError(f"'{key}' must be at least 1 "
                             f"(got {getattr(out, key)})")
    return out


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def peak_memory_bytes(device: torch.device) -> int:
    r"""The peak memory of the run: allocated CUDA memory on a GPU, the
    process' peak resident set size on CPU."""
    if device.type == 'cuda':
        return int(torch.cuda.max_memory_allocated(device))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == 'darwin' else peak * 1024)


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


def build_model(config: TrainConfig, data: Any,
                num_nodes: Optional[int] = None) -> ScalableGNN:
    r"""Creates the model of :obj:`config` for :obj:`data`, passing each
    option that the model takes. :obj:`num_nodes` sizes the histories
    (default: :obj:`data.num_nodes`; a rank of a distributed run holds the
    rows of its shard only)."""
    cls = MODELS[config.model]
    options = dict(
        dropout=config.dropout, drop_input=config.drop_input,
        batch_norm=config.batch_norm, residual=config.residual,
        linear=config.linear, heads=config.heads,
        attn_dropout=config.attn_dropout, alpha=config.alpha,
        theta=config.theta, shared_weights=config.shared_weights)
    accepted = _init_params(cls)
    kwargs = {k: v for k, v in options.items() if k in accepted}
    kwargs['history_dtype'] = HISTORY_DTYPES[config.history_dtype]
    if cls is PNA:
        kwargs['deg'] = PNA.degree_histogram(data)
    if num_nodes is None:
        num_nodes = data.num_nodes
    return cls(num_nodes, data.num_features, config.hidden,
               int(data.num_classes), config.layers, **kwargs)


def _accuracy(out: Tensor, y: Tensor, mask: Tensor,
              evaluator: Optional[Any] = None) -> float:
    mask = mask.to(out.device)
    if int(mask.sum()) == 0:
        return float('nan')
    pred = out[mask].argmax(dim=-1)  # [num_masked]
    y = y.to(out.device)[mask]  # [num_masked]
    if evaluator is not None:  # OGB's official metric.
        return float(evaluator.eval({'y_true': y.view(-1, 1),
                                     'y_pred': pred.view(-1, 1)})['acc'])
    return float((pred == y).float().mean())


def write_json(path: str, obj: Dict[str, Any]) -> None:
    r"""Writes :obj:`obj` as JSON to :obj:`path` atomically."""
    def write(f: Any) -> None:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write('\n')

    atomic_write(path, write, mode='w')


def run(config: TrainConfig) -> Dict[str, Any]:
    r"""Trains and evaluates one model, and returns the results (the fields
    that :obj:`pyg-gas train --json` writes). With :obj:`nproc > 1`, or in a
    process started by :obj:`torchrun`, the run is distributed (see
    :func:`pyg_gas.distributed.train.launch`)."""
    config = resolve(config)
    if config.nproc > 1 or in_launched_process():
        from pyg_gas.distributed.train import launch
        return launch(config)
    if config.checkpoint is not None:
        raise ValueError("'checkpoint' is for distributed runs ('nproc' > 1 "
                         "or torchrun)")
    if config.device == 'auto':
        device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    else:
        device = torch.device(config.device)
        if device.type == 'cuda' and not torch.cuda.is_available():
            raise ValueError("'device' is 'cuda' but CUDA is not available")
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    seed_everything(config.seed)
    baseline_memory = peak_memory_bytes(device)

    data = load_dataset(config.dataset, root=config.root)
    evaluator = get_evaluator(data)  # For OGB graphs, else None.
    if config.normalize_features:
        data = T.NormalizeFeatures()(data)
    model = build_model(config, data)
    data = model.transform(data)
    num_edges = int(data.num_edges)

    partition_time = 0.0
    if config.loader == 'full' or config.loader in LAYERWISE:
        train_loader = eval_loader = None
        if config.eval_parts > data.num_nodes:
            raise ValueError(f"'eval_parts' must be in [0, {data.num_nodes}] "
                             f"(got {config.eval_parts})")
        if config.loader in LAYERWISE:
            # Batches of training nodes; the loader computes its own
            # normalized adjacency.
            train_loader = LADIESLoader(
                data, input_nodes=data.train_mask,
                batch_size=config.batch_size,
                num_samples=config.num_samples, num_layers=config.layers,
                mode=config.loader, shuffle=True, seed=config.seed,
                num_workers=config.num_workers,
                persistent_workers=config.num_workers > 0)
        if config.eval_parts > 0:
            # Exact layer-wise inference over contiguous node ranges, with
            # memory bounded by one range and its halo instead of the whole
            # graph's activations:
            chunks = torch.linspace(0, data.num_nodes, config.eval_parts + 1)
            ptr = chunks.round().long()
            eval_loader = EvalSubgraphLoader(data, ptr, batch_size=1)
        # Evaluation (and full-batch training) on the whole graph:
        data = data.to(device)
        adj_t = None
        if config.loader == 'full' or eval_loader is None:
            adj_t = to_adj_t(data.edge_index, data.num_nodes,
                             data.get('edge_weight'))
    else:
        if config.num_parts > data.num_nodes:
            raise ValueError(f"'num_parts' must be in [1, {data.num_nodes}] "
                             f"(got {config.num_parts})")
        t = time.perf_counter()
        perm, ptr = metis(data, config.num_parts, seed=config.seed,
                          cache_dir=config.cache_dir, log=config.progress)
        partition_time = time.perf_counter() - t
        data = permute(data, perm)
        batch_size = min(config.batch_size, config.num_parts)
        loader_cls = SubgraphLoader if config.loader == 'gas' else ClusterLoader
        train_loader = loader_cls(data, ptr, batch_size=batch_size,
                                  shuffle=True,
                                  num_workers=config.num_workers,
                                  persistent_workers=config.num_workers > 0)
        # Inference batches share the training loader's copy of the graph;
        # small graphs keep them built, large ones build one at a time:
        eval_loader = EvalSubgraphLoader(
            data, ptr, batch_size=batch_size,
            cache=data.num_edges < 1_000_000,
            collater=train_loader.collater)
        # The loaders hold the edges now (in CSR form, with their weights
        # and attributes): the graph's own copy would only take memory.
        for key in list(data.keys()):
            if key in ('edge_index', 'adj_t') or data.is_edge_attr(key):
                del data[key]

    model = model.to(device)
    optimizer = torch.optim.Adam(
        model.param_groups(config.weight_decay, config.nonreg_weight_decay),
        lr=config.lr)

    staleness = [0.0, 0]  # Sum and count over the last epoch.
    track_staleness = config.loader == 'gas' and len(model.histories) > 0

    def train_epoch() -> float:
        model.train()
        staleness[:] = [0.0, 0]
        if train_loader is None:
            optimizer.zero_grad()
            out = model(data.x, adj_t)
            loss = F.cross_entropy(out[data.train_mask],
                                   data.y[data.train_mask])
            loss.backward()
            optimizer.step()
            return float(loss.detach())
        total_loss = total_examples = 0
        for batch in train_loader:
            batch = batch.to(device)
            bs = batch.batch_size
            mask = batch.train_mask[:bs]
            optimizer.zero_grad()
            if config.loader == 'gas':
                out = model(batch.x, batch.adj_t, bs, batch.n_id,
                            batch.offset, batch.count)
            elif config.loader in LAYERWISE:
                out = model.forward_layerwise(batch.x, batch.adjs_t)
            else:
                out = model(batch.x, batch.adj_t)
            if track_staleness and batch.n_id.numel() > bs:
                age = model.histories[0].staleness(batch.n_id[bs:])
                staleness[0] += float(age.float().sum())
                staleness[1] += age.numel()
            num_examples = int(mask.sum())
            if num_examples == 0:  # The forward pass still pushed.
                continue
            loss = F.cross_entropy(out[mask], batch.y[:bs][mask])
            loss.backward()
            optimizer.step()
            total_loss += float(loss.detach()) * num_examples
            total_examples += num_examples
        return total_loss / max(total_examples, 1)

    @torch.no_grad()
    def evaluate() -> List[float]:
        if eval_loader is None:
            model.eval()
            out = model(data.x, adj_t)
        else:
            out = model.inference(eval_loader)
        return [
            _accuracy(out, data.y, data[key], evaluator)
            for key in ('train_mask', 'val_mask', 'test_mask')
        ]

    epoch_times: List[float] = []
    best_val = test_at_best = train_at_best = -1.0
    best_epoch = 0
    loss = float('nan')
    bar = tqdm(range(1, config.epochs + 1), disable=not config.progress,
               desc=f'{config.model}/{config.loader}', file=sys.stderr)
    for epoch in bar:
        t = time.perf_counter()
        loss = train_epoch()
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        epoch_times.append(time.perf_counter() - t)
        if epoch % config.eval_every == 0 or epoch == config.epochs:
            train_acc, val_acc, test_acc = evaluate()
            if val_acc > best_val:
                best_val, test_at_best, train_at_best = (val_acc, test_acc,
                                                         train_acc)
                best_epoch = epoch
            if config.progress and (epoch % config.log_every == 0
                                    or epoch == config.epochs):
                bar.write(f'Epoch: {epoch:03d}, Loss: {loss:.4f}, '
                          f'Val: {val_acc:.4f}, Test: {test_acc:.4f}',
                          file=sys.stderr)
    bar.close()

    result: Dict[str, Any] = dict(
        dataset=config.dataset,
        model=config.model,
        loader=config.loader,
        epochs=config.epochs,
        best_val_acc=best_val,
        test_acc=test_at_best,
        train_acc=train_at_best,
        best_epoch=best_epoch,
        final_loss=loss,
        epoch_time_s=statistics.median(epoch_times),
        partition_time_s=partition_time,
        peak_memory_bytes=peak_memory_bytes(device),
        # What the process held before loading data (interpreter, torch):
        baseline_memory_bytes=baseline_memory,
        num_params=sum(p.numel() for p in model.parameters()),
        num_nodes=int(data.num_nodes),
        num_edges=num_edges,
        device=str(device),
        config={f.name: getattr(config, f.name)
                for f in fields(config) if f.name != 'progress'},
        versions=dict(pyg_gas=pyg_gas.__version__, torch=torch.__version__,
                      torch_geometric=torch_geometric.__version__),
    )
    if staleness[1] > 0:
        # The mean age, in optimization steps, of the first layer's halo
        # rows when they were pulled, over the last epoch.
        result['mean_halo_staleness'] = staleness[0] / staleness[1]
    if config.json is not None:
        write_json(config.json, result)
    return result

