import contextlib
import contextvars
import inspect
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Set, Tuple, Union

import torch
from torch import Tensor
from torch.nn import Module
from torch.nn.parameter import is_lazy
from torch_geometric import EdgeIndex
from torch_geometric.nn.conv import MessagePassing
from tqdm import tqdm

from pyg_gas.checks import check_ids, check_int
from pyg_gas.graph import build_adj_t
from pyg_gas.history import History
from pyg_gas.nn.functional import push_and_pull_rows
from pyg_gas.nn.scalable import check_covered, check_loader
from pyg_gas.typing import OptTensor, PairTensor


@dataclass
class BatchInfo:
    r"""What a :class:`GASConv` needs to know about the current mini-batch:
    the number of in-batch rows and the global ids of all rows."""
    batch_size: int
    n_id: Tensor
    offset: OptTensor = None
    count: OptTensor = None
    called: Set[int] = field(default_factory=set)


_BATCH: contextvars.ContextVar[Optional[BatchInfo]] = contextvars.ContextVar(
    'pyg_gas_batch', default=None)


@contextlib.contextmanager
def gas_batch(batch: Any = None, *, batch_size: Optional[int] = None,
              n_id: OptTensor = None, offset: OptTensor = None,
              count: OptTensor = None) -> Iterator[BatchInfo]:
    r"""Runs the :class:`GASConv` layers called inside it in GAS mini-batch
    mode, for the batch :obj:`batch` (a :class:`~pyg_gas.SubgraphData`) or
    the given :obj:`batch_size` and :obj:`n_id`:

    .. code-block:: python

        for batch in SubgraphLoader(data, ptr, batch_size=10):
            with gas_batch(batch):
                out = model(batch.x, batch.adj_t)  # [batch_size, C]

    Outside of it, :class:`GASConv` layers behave exactly like the convs they
    wrap (and fill their histories when given the whole graph).
    """
    if batch is not None:
        batch_size, n_id = batch.batch_size, batch.n_id
        offset, count = batch.get('offset'), batch.get('count')
    if batch_size is None or n_id is None:
        raise ValueError("'gas_batch' needs a batch, or 'batch_size' and "
                         "'n_id'")
    check_ids('n_id', n_id)
    if isinstance(batch_size, Tensor) and batch_size.numel() == 1:
        batch_size = batch_size.item()
    batch_size = check_int('batch_size', batch_size, 0, n_id.numel(),
                           integral=True)
    info = BatchInfo(batch_size, n_id, offset, count)
    token = _BATCH.set(info)
    try:
        yield info
    finally:
        _BATCH.reset(token)


def current_batch() -> Optional[BatchInfo]:
    r"""The mini-batch set by the innermost :func:`gas_batch`, if any."""
    return _BATCH.get()


def _pair_params(conv: Module) -> Tuple[Optional[str], ...]:
    # PyG convs that can be bipartite annotate `x` (and other node-level
    # inputs, such as `pos`) as pairs of tensors. The forward's parameters
    # in order, None for those that are not pairs.
    try:
        params = inspect.signature(conv.forward).parameters
    except (TypeError, ValueError):
        return ()
    return tuple(name if 'Tuple' in str(param.annotation)
                 or 'Pair' in str(param.annotation) else None
                 for name, param in params.items())


def _takes_pair(conv: Module) -> bool:
    return 'x' in _pair_params(conv)


_NORMALIZE = ("Normalize the graph once before partitioning (e.g. "
              "'torch_geometric.transforms.GCNNorm()') and build the conv "
              "with 'normalize=False'")
_STACK = ('Stack 1-hop GASConv-wrapped layers (e.g. SimpleConv or '
          "GCNConv(normalize=False) on a GCNNorm-normalized graph), one per "
          'hop, each with its own History')
_HOPS = ('propagates {hops} hops inside one call; histories hold the '
         '1-hop inputs of a layer')
_FULL = 'Train it full-batch, or on a graph small enough for one batch'


def _is(value: Any) -> Callable[[Module], bool]:
    return lambda m: value


def _attr(name: str, test: Callable[[Any], bool]) -> Callable[[Module], bool]:
    return lambda m: test(getattr(m, name, None))


@dataclass(frozen=True)
class _Rule:
    r"""Convs (by PyG class name) that GASConv cannot run exactly on
    mini-batches when :obj:`when(conv)` holds, why, and what to do
    instead."""
    classes: Tuple[str, ...]
    when: Callable[[Module], bool]
    reason: str
    instead: str


# The known PyG convs that are not exact under GAS, checked on every
# submodule of the wrapped conv. What they have in common: their output
# rows depend on more than the 1-hop in-neighbourhood of the row (several
# hops, degrees of source nodes, out-edges, all nodes of the input).
_RULES: Tuple[_Rule, ...] = (
    _Rule(('GCNConv', 'GCN2Conv', 'LGConv', 'FAConv', 'PDNConv', 'DNAConv',
           'TAGConv', 'APPNP'), _attr('normalize', lambda v: v is True),
          'normalizes by the degrees of the mini-batch, not of the whole '
          'graph', _NORMALIZE),
    _Rule(('SGConv', 'SSGConv'), _is(True),
          'normalizes by the degrees of the mini-batch and '
          + _HOPS.format(hops='K'), _STACK),
    _Rule(('ARMAConv', ), _is(True),
          'normalizes by the degrees of the mini-batch and '
          + _HOPS.format(hops="'num_layers'"), _STACK),
    _Rule(('MixHopConv', ), _is(True),
          'normalizes by the degrees of the mini-batch and '
          + _HOPS.format(hops="'powers'"), _STACK),
    _Rule(('ChebConv', ), _is(True),
          'builds the Laplacian of the mini-batch and '
          + _HOPS.format(hops='K'), _STACK),
    _Rule(('EGConv', ), _attr('aggregators', lambda v: 'symnorm' in v),
          "normalizes by the degrees of the mini-batch ('symnorm' "
          'aggregator)', "Build it without the 'symnorm' aggregator"),
    _Rule(('TAGConv', ), _attr('K', lambda k: k > 1),
          _HOPS.format(hops='K'), _STACK),
    _Rule(('APPNP', ), _attr('K', lambda k: k > 1),
          _HOPS.format(hops='K'), _STACK),
    _Rule(('GatedGraphConv', ), _attr('num_layers', lambda k: k > 1),
          _HOPS.format(hops="'num_layers'"), _STACK),
    _Rule(('AntiSymmetricConv', ), _attr('num_iters', lambda k: k > 1),
          _HOPS.format(hops="'num_iters'"), _STACK),
    _Rule(('MeshCNNConv', ), _is(True),
          "takes the four neighbours of each mesh edge in a fixed order, "
          'which a mini-batch does not keep', _FULL),
    _Rule(('WLConv', ), _is(True),
          'assigns colours from a hash table filled in the order it sees '
          'the nodes', _FULL),
    _Rule(('DirGNNConv', ), _is(True),
          'aggregates over the out-edges of a node as well, which a '
          'mini-batch does not hold (it keeps the in-edges of its nodes)',
          'Add the reversed edges to the graph before partitioning and '
          'use an edge feature to tell the directions apart'),
    _Rule(('GravNetConv', 'DynamicEdgeConv', 'XConv'), _is(True),
          'builds a k-nearest-neighbour graph over the nodes of its input',
          'Build the k-NN graph once on the whole point set and use a '
          'static conv (e.g. EdgeConv) on it'),
    _Rule(('HypergraphConv', ), _is(True),
          'normalizes by hyperedge degrees, which a mini-batch does not '
          'hold', _FULL),
    _Rule(('GPSConv', ), _is(True),
          'attends over all nodes of its input, not over neighbours', _FULL),
    _Rule(('PANConv', ), _is(True),
          _HOPS.format(hops="'filter_size'") + ' (path matrices)', _STACK),
    _Rule(('FusedGATConv', ), _is(True),
          'takes the CSR and CSC structures of the whole graph',
          "Use 'GATConv'"),
    _Rule(('HGTConv', 'HANConv', 'HeteroConv'), _is(True),
          'takes dictionaries of node and edge types',
          'Wrap one conv per edge type, on a homogeneous view of the '
          'graph'),
)


def _refusal(conv: Module) -> Optional[str]:
    r"""Why :obj:`conv` (or one of its submodules) is not exact on GAS
    mini-batches, with the alternative, or :obj:`None`."""
    for module in conv.modules():
        name = type(module).__name__
        prefix = f"'{name}'"
        if module is not conv:
            prefix += f" (inside '{type(conv).__name__}')"
        if getattr(module, 'cached', False) is True:
            return (f'{prefix} caches what it computes from the graph of '
                    f'its first call, and every mini-batch is another '
                    f"graph. Build it with 'cached=False'")
        if not type(module).__module__.startswith('torch_geometric'):
            continue
        for rule in _RULES:
            if name in rule.classes and rule.when(module):
                return f'{prefix} {rule.reason}. {rule.instead}'
    return None


def _pair(value: Any, batch_size: int, num_rows: int) -> Any:
    # A node-level input of all B + H rows, as (source, target) rows.
    if isinstance(value, Tensor) and value.dim() > 0 \
            and value.size(0) == num_rows \
            and value.layout == torch.strided:
        return value, value[:batch_size]
    return value


def _square(value: Any, batch_size: int, num_rows: int) -> Any:
    # The bipartite adjacency of a batch, as square: the B + H input rows
    # are targets too (with no in-edges), so convs that take one 'x' and
    # add a root term of it get matching sizes.
    if isinstance(value, EdgeIndex):
        if tuple(value.sparse_size()) != (num_rows, batch_size):
            return value
        return EdgeIndex(value.as_tensor(),  # without its cached indptr
                         sparse_size=(num_rows, num_rows),
                         sort_order=value.sort_order)
    if not isinstance(value, Tensor) or value.dim() != 2:
        if type(value).__name__ == 'SparseTensor' and tuple(
                value.sparse_sizes()) == (batch_size, num_rows):
            return value.sparse_resize((num_rows, num_rows))
        return value
    if tuple(value.shape) != (batch_size, num_rows):
        return value
    if value.layout == torch.sparse_csr:
        crow = value.crow_indices()
        crow = torch.cat([crow, crow[-1:].expand(num_rows - batch_size)])
        return build_adj_t(crow, value.col_indices(), value.values(),
                           (num_rows, num_rows))
    if value.layout == torch.sparse_coo:
        return torch.sparse_coo_tensor(value._indices(), value._values(),
                                       (num_rows, num_rows))
    return value


class GASConv(MessagePassing):
    r"""Turns any PyG conv into its GNNAutoScale version, from the
    `"GNNAutoScale: Scalable and Expressive Graph Neural Networks via
    Historical Embeddings" <https://arxiv.org/abs/2106.05609>`_ paper,
    without rewriting the model that uses it.

    **Full-graph input** (outside :func:`gas_batch`): it calls the wrapped
    conv unchanged. If the input has a row for every node of the history, it
    is pushed into the history as well.

    **Mini-batch input** (inside :func:`gas_batch`): the wrapper works on the
    conv's *input*. The first :obj:`batch_size` rows of :obj:`x` (the
    in-batch nodes, computed by the layers below) are pushed into the
    history, and the rows of the halo nodes are pulled from it and
    appended. The conv then maps these :math:`B + H` rows to the :math:`B`
    in-batch rows, so the layers above see in-batch rows only. Without a
    history (:obj:`history=None`, the first layer, whose input are the node
    features), the input must already hold all :math:`B + H` rows.

    Convs with a root term (SAGE, GIN, GAT, ...) are called with the pair
    :obj:`(x, x[:batch_size])`, detected from their signature. Degree
    normalization must use the whole graph's degrees: normalize the graph
    once before partitioning (e.g. with
    :class:`~torch_geometric.transforms.GCNNorm`) and build such convs with
    :obj:`normalize=False`; a conv with :obj:`normalize=True` raises an
    error in mini-batch mode. Floating-point input must have the type of
    the conv's parameters (a :class:`TypeError` naming both otherwise,
    outside of :class:`torch.autocast`).

    Args:
        conv (MessagePassing): The conv to wrap.
        history (History, optional): The history of the conv's input, of
            width :obj:`conv.in_channels`. (default: :obj:`None`)
        pair (bool, optional): Calls the conv with :obj:`(x, x_dst)`; by
            default, detected from the conv's signature.
            (default: :obj:`None`)
    """
    def __init__(self, conv: Module, history: Optional[History] = None,
                 pair: Optional[bool] = None) -> None:
        super().__init__()
        if not isinstance(conv, Module):
            raise TypeError(f"'conv' must be a module "
                            f"(got {type(conv).__name__})")
        if history is not None and not isinstance(history, History):
            raise TypeError(f"'history' must be a 'History' "
                            f"(got {type(history).__name__})")
        in_channels = getattr(conv, 'in_channels', None)
        if isinstance(in_channels, (tuple, list)):
            in_channels = in_channels[0]
        if (history is not None and isinstance(in_channels, int)
                and in_channels > 0
                and in_channels != history.embedding_dim):
            raise ValueError(f"The history stores rows of width "
                             f"{history.embedding_dim}, but "
                             f"'{conv.__class__.__name__}' takes inputs of "
                             f"width {in_channels}")
        self.conv = conv
        self.history = history
        self.pair = _takes_pair(conv) if pair is None else pair
        # Other node-level inputs that the conv takes as pairs, by position
        # after 'x' (None where the parameter is not one):
        self._pair_inputs = _pair_params(conv)[1:]

    def reset_parameters(self) -> None:
        if hasattr(self.conv, 'reset_parameters'):
            self.conv.reset_parameters()
        if self.history is not None:
            self.history.reset_parameters()

    def forward(self, x: Union[Tensor, PairTensor], *args: Any,
                **kwargs: Any) -> Tensor:
        batch = current_batch()
        x_src = x[0] if isinstance(x, (tuple, list)) else x
        self._check_dtype(x_src)
        if batch is None:
            if (self.history is not None
                    and x_src.size(0) == self.history.num_embeddings):
                self.history.push(x_src)
            return self.conv(x, *args, **kwargs)
        if isinstance(x, (tuple, list)):
            raise ValueError("In a mini-batch, 'GASConv' takes the source "
                             "rows 'x' alone and builds the pair itself")
        self._check_mini_batch(batch)
        bs, n_id = batch.batch_size, batch.n_id
        if self.history is not None:
            if x.size(-1) != self.history.embedding_dim:
                raise ValueError(f"The history stores rows of width "
                                 f"{self.history.embedding_dim}, but the "
                                 f"input of '{self.conv.__class__.__name__}'"
                                 f" has width {x.size(-1)}")
            if self.training:
                self.history.tick()
            history = self.history
            x = push_and_pull_rows(
                x[:bs], n_id, history.push,
                lambda ids, out: history.pull(ids, out=out), batch.offset,
                batch.count)  # [B + H, C]
        elif x.size(0) != n_id.numel():
            raise ValueError(f"A 'GASConv' without history needs all "
                             f"{n_id.numel()} rows of the batch, halo "
                             f"included (got {x.size(0)})")
        if self.pair:
            # Node-level pair inputs (e.g. 'pos') get their target rows too:
            n = x.size(0)
            args = tuple(_pair(a, bs, n) if i < len(self._pair_inputs)
                         and self._pair_inputs[i] else a
                         for i, a in enumerate(args))
            kwargs = {k: _pair(v, bs, n) if k in self._pair_inputs else v
                      for k, v in kwargs.items()}
            out = self.conv((x, x[:bs]), *args, **kwargs)
        else:
            # One 'x' of B + H rows: the convs see a square graph whose
            # last H rows have no in-edges, and those rows are dropped.
            n = x.size(0)
            args = tuple(_square(a, bs, n) for a in args)
            kwargs = {k: _square(v, bs, n) for k, v in kwargs.items()}
            out = self.conv(x, *args, **kwargs)
        batch.called.add(id(self))
        return out[:bs]  # [B, C_out]

    def _check_dtype(self, x: Any) -> None:
        # A clear message instead of torch's 'expected scalar type ...':
        if not isinstance(x, Tensor) or not x.is_floating_point() or (
                torch.is_autocast_enabled(x.device.type)):
            return
        for p in self.conv.parameters():
            if is_lazy(p) or not p.is_floating_point():
                continue
            if p.dtype != x.dtype:
                raise TypeError(f"'x' has dtype {x.dtype}, but the "
                                f"parameters of "
                                f"'{self.conv.__class__.__name__}' have "
                                f"dtype {p.dtype}; convert one of them "
                                f"(e.g. 'x.to({p.dtype})')")
            return

    def _check_mini_batch(self, batch: BatchInfo) -> None:
        name = self.conv.__class__.__name__
        reason = _refusal(self.conv)
        if reason is not None:
            raise ValueError(f'GAS mini-batches would give wrong outputs: '
                             f'{reason}')
        if id(self) in batch.called:
            raise ValueError(
                f"This 'GASConv({name})' was called twice in one "
                f"mini-batch, but its history holds the input of one call "
                f"site. Use one 'GASConv' (with its own 'History') per call "
                f"site; to share weights, wrap the same '{name}' in several "
                f"'GASConv's")

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.conv}, '
                f'history={self.history is not None})')


@torch.no_grad()
def gas_inference(model: Module, loader: Any,
                  call: Optional[Callable[[Module, Any], Tensor]] = None,
                  num_sweeps: Optional[int] = None,
                  progress: bool = False) -> Tensor:
    r"""Exact whole-graph inference for any model built from
    :class:`GASConv` layers, with memory bounded by one mini-batch.

    It runs the model in evaluation mode over all batches of :obj:`loader`
    (an :class:`~pyg_gas.EvalSubgraphLoader`) :obj:`num_sweeps` times (by
    default, one more than the number of :class:`GASConv` layers with a
    history). Sweep :math:`k` pushes exact inputs for the :math:`k`-th
    history, so after the last sweep every history is exact and so is the
    output.

    The loader must cover every row of the histories once, with its halo,
    otherwise a :class:`ValueError` is raised (before any work where the
    loader tells its graph and clusters, as
    :class:`~pyg_gas.EvalSubgraphLoader` does, or after the first sweep
    otherwise).

    Args:
        model (torch.nn.Module): The model.
        loader (EvalSubgraphLoader): The mini-batches, covering every node
            once.
        call (callable, optional): How to run the model on a batch, e.g.
            :obj:`lambda model, batch: model(batch.x, batch.edge_index,
            batch.edge_attr)`. By default,
            :obj:`model(batch.x, batch.adj_t)`. (default: :obj:`None`)
        num_sweeps (int, optional): The number of passes over the graph.
            (default: :obj:`None`)
        progress (bool, optional): Shows a progress bar.
            (default: :obj:`False`)

    Returns:
        The output of shape :obj:`[num_nodes, C]`, on the model's device.
    """
    if not isinstance(model, Module):
        raise TypeError(f"'model' must be a 'torch.nn.Module' "
                        f"(got {type(model).__name__})")
    if num_sweeps is not None:
        check_int('num_sweeps', num_sweeps)
    layers = [m for m in model.modules()
              if isinstance(m, GASConv) and m.history is not None]
    if num_sweeps is None:
        num_sweeps = len(layers) + 1
    num_nodes = _num_rows(layers, loader)
    check_loader(loader, num_nodes)
    # A model without parameters or buffers runs where the batches are:
    state = next(itertools.chain(model.parameters(), model.buffers()), None)
    device = None if state is None else state.device
    training = model.training
    model.eval()
    out: OptTensor = None
    seen = torch.zeros(num_nodes, dtype=torch.bool)  # The first sweep's.
    num_rows = 0
    try:
        pbar = tqdm(total=num_sweeps * len(loader), disable=not progress,
                    desc='Inference', leave=False)
        for sweep in range(num_sweeps):
            for batch in loader:
                bs = batch.batch_size
                if sweep == 0:  # Before the model pulls rows by them:
                    _check_ids(batch.n_id, num_nodes)
                    seen[batch.n_id[:bs].cpu()] = True
                    num_rows += bs
                if device is not None:
                    batch = batch.to(device)
                with gas_batch(batch):
                    if call is None:
                        h = model(batch.x, batch.adj_t)
                    else:
                        h = call(model, batch)
                h = h[:bs]  # [B, C]
                if out is None:
                    out = h.new_empty(num_nodes, h.size(-1))
                out[batch.n_id[:bs]] = h
                pbar.update(1)
            if sweep == 0:
                check_covered(num_rows, int(seen.sum()), num_nodes)
        pbar.close()
    finally:
        model.train(training)
    assert out is not None  # 'check_covered' saw rows.
    return out


def _num_rows(layers: Any, loader: Any) -> int:
    # The rows of the output: those of the histories, which must agree, or
    # the loader's graph's for a model without histories.
    sizes = sorted({layer.history.num_embeddings for layer in layers})
    if len(sizes) > 1:
        raise ValueError(f"The histories of the model's 'GASConv' layers "
                         f"have different numbers of rows {sizes}: they "
                         f"must all hold every node of the graph")
    if sizes:
        return sizes[0]
    num_nodes = getattr(loader, 'num_nodes', None)
    if not isinstance(num_nodes, int):
        raise TypeError(f"'loader' ({type(loader).__name__}) must tell its "
                        f"graph's 'num_nodes', as 'EvalSubgraphLoader' "
                        f"does, for a model without histories")
    return num_nodes


def _check_ids(n_id: Tensor, num_nodes: int) -> None:
    if n_id.numel() > 0:
        lo, hi = int(n_id.min()), int(n_id.max())
        if lo < 0 or hi >= num_nodes:
            raise ValueError(f"'loader' yields the node id "
                             f"{lo if lo < 0 else hi}, but the model's "
                             f"histories have num_nodes={num_nodes} rows: "
                             f"the loader must be one of the model's graph")
