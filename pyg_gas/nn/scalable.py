import functools
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import torch
from torch import Tensor
from torch.nn import Module, ModuleList
from torch_geometric.data import Data
from tqdm import tqdm

from pyg_gas.checks import check_choice, check_int
from pyg_gas.graph import cast_adj
from pyg_gas.history import (
    _DTYPES,
    _NP_DTYPES,
    _NP_LONG,
    _STORAGES,
    History,
    PathLike,
    Storage,
    check_history_files,
    history_files,
)
from pyg_gas.history_io import AsyncHistoryIO, HistoryPrefetcher
from pyg_gas.loader.ladies import LADIESSampler
from pyg_gas.nn.functional import push_and_pull_rows
from pyg_gas.partition import original_ids
from pyg_gas.rows import NodeRows
from pyg_gas.typing import Adj, OptTensor

#: What overlaps the history I/O of GAS mini-batches with compute: the CUDA
#: one of 'enable_async_io', or the CPU one of 'history_prefetch'.
HistoryIO = Union[AsyncHistoryIO, HistoryPrefetcher]


class ScalableGNN(Module):
    r"""The base class of GNNs that train with historical embeddings, from
    the `"GNNAutoScale: Scalable and Expressive Graph Neural Networks via
    Historical Embeddings" <https://arxiv.org/abs/2106.05609>`_ paper.

    A model with :math:`L` layers owns :math:`L - 1` :class:`History` stores,
    one for the output of every layer but the last. A subclass implements a
    single layer in :meth:`forward_layer`; this class runs the layers and
    handles the histories, for three kinds of input:

    * **the whole graph** (:obj:`batch_size=None` and :math:`N` rows): a
      plain full-batch forward, which also fills the histories;
    * **a GAS mini-batch** (:obj:`batch_size` and :obj:`n_id` given, see
      :class:`~pyg_gas.SubgraphLoader`): after every layer, the rows of the
      in-batch nodes are *pushed* into the layer's history, and the rows of
      the halo nodes are *pulled* from it, so that no edge is dropped;
    * **any other subgraph** (:obj:`batch_size=None`, e.g. from
      :class:`~pyg_gas.ClusterLoader`): a plain forward on that subgraph
      that leaves the histories alone.

    :meth:`inference` runs the same layers over the whole graph layer by
    layer, with memory bounded by one mini-batch, and is exact.

    Args:
        num_nodes (int): The number of nodes of the graph.
        hidden_channels (int or [int]): The width of the histories, one for
            all or one per history.
        num_layers (int): The number of layers :math:`L`.
        history_dtype (torch.dtype, optional): The storage type of the
            histories. It is kept when the model is converted
            (:obj:`model.double()`, :obj:`model.half()`,
            :obj:`model.to(dtype)`): rows are cast to the compute type when
            pulled. Convert :obj:`model.histories` to change it.
            (default: :obj:`torch.float32`)
        history_device (torch.device or str, optional): Keeps the histories
            on this device (e.g. :obj:`'cpu'` for a CUDA model on a graph
            whose histories do not fit into GPU memory), instead of moving
            them with the model. (default: :obj:`None`)
        history_storage (str, optional): :obj:`'memory'`, or :obj:`'disk'`
            for histories in memory-mapped files under :obj:`history_path`,
            for graphs whose histories do not fit into memory (see
            :class:`~pyg_gas.History`). Disk histories stay on the CPU, and
            on a CPU model their halo rows are prefetched while layer 0
            computes (see :attr:`history_prefetch`). (default:
            :obj:`'memory'`)
        history_path (str, os.PathLike or NodeRows, optional): The
            directory of the disk histories (created if missing): history
            :obj:`i` is :obj:`history_{i}.npy`, with
            :obj:`history_{i}.last_step.npy` (see
            :func:`~pyg_gas.history.history_files`). The free space is
            checked for all of them before any is created. Give each model
            its own directory. Or node rows (see
            :class:`~pyg_gas.storage.NodeRows`, e.g. from
            :meth:`~pyg_gas.storage.DiskDataset.create_rows`) whose
            histories match the model's: history :obj:`i` is then their
            history :obj:`i`, interleaved with the features, so that a halo
            row is one read from disk. (default: :obj:`None`)
    """
    #: Whether :meth:`forward_layer` needs :meth:`init_state` of the input
    #: features at every layer (as GCNII does for its initial residual).
    needs_state: bool = False

    def __init__(
        self,
        num_nodes: int,
        hidden_channels: Union[int, Sequence[int]],
        num_layers: int,
        history_dtype: Optional[torch.dtype] = None,
        history_device: Optional[Union[torch.device, str]] = None,
        history_storage: Storage = 'memory',
        history_path: Optional[Union[PathLike, NodeRows]] = None,
    ) -> None:
        super().__init__()
        check_int('num_nodes', num_nodes, minimum=0)
        check_int('num_layers', num_layers)
        if isinstance(hidden_channels, (list, tuple)):
            widths = list(hidden_channels)
            if len(widths) != num_layers - 1:
                raise ValueError(f"'hidden_channels' must give one width per "
                                 f"history ({num_layers - 1}) (got "
                                 f"{len(widths)})")
        else:
            widths = [hidden_channels] * max(num_layers - 1, 1)
        for width in widths:  # One check, even without a history.
            check_int('hidden_channels', width)
        if history_dtype is not None:
            check_choice('history_dtype', history_dtype, _DTYPES)
        widths = widths[:num_layers - 1]
        rows = history_path if isinstance(history_path, NodeRows) else None
        if rows is not None:
            self._check_rows(rows, widths, history_storage, history_device)
        paths: List[Any] = [rows] * len(widths) if rows is not None else \
            self._history_paths(len(widths), history_storage, history_path,
                                history_device)
        if history_storage == 'disk':  # Room for all, before creating any:
            specs = []
            for i, (path, width) in enumerate(zip(paths, widths)):
                if rows is not None:
                    specs.append((rows.last_step_file(i), (num_nodes, ),
                                  _NP_LONG))
                    continue
                emb_file, step_file = history_files(path)
                specs += [(emb_file, (num_nodes, width),
                           _NP_DTYPES[history_dtype or torch.float32]),
                          (step_file, (num_nodes, ), _NP_LONG)]
            check_history_files(specs)
        self.num_nodes = num_nodes
        self.num_layers = num_layers
        self.histories = ModuleList([
            History(num_nodes, width, device=history_device,
                    dtype=history_dtype, storage=history_storage, path=path,
                    column=i if rows is not None else None)
            for i, (width, path) in enumerate(zip(widths, paths))
        ])
        self._async_io: Optional[AsyncHistoryIO] = None
        self._prefetcher: Optional[HistoryPrefetcher] = None
        self._history_prefetch: Optional[bool] = None

    @staticmethod
    def _check_rows(rows: NodeRows, widths: List[int], storage: Any,
                    device: Optional[Union[torch.device, str]]) -> None:
        # Node rows as 'history_path': disk storage, one history per width.
        if storage != 'disk':
            raise ValueError(f"Node rows as 'history_path' need "
                             f"history_storage='disk' (got '{storage}')")
        if rows.history_widths != widths:
            raise ValueError(f"The node rows '{rows.path}' hold histories "
                             f"of widths {rows.history_widths}, but the "
                             f"model needs {widths}")
        ScalableGNN._check_disk_device(device)

    @staticmethod
    def _check_disk_device(device: Optional[Union[torch.device, str]]
                           ) -> None:
        if device is not None and torch.device(device).type != 'cpu':
            raise ValueError(f"Disk histories stay on the CPU: "
                             f"'history_device' must be None or 'cpu' with "
                             f"history_storage='disk' (got '{device}')")

    @staticmethod
    def _history_paths(num: int, storage: Any, path: Optional[PathLike],
                       device: Optional[Union[torch.device, str]]
                       ) -> List[Optional[str]]:
        # The file of each history: 'history_{i}.npy' in 'path' on disk.
        check_choice('history_storage', storage, _STORAGES)
        if storage == 'memory':
            if path is not None:
                raise ValueError(f"'history_path' is for "
                                 f"history_storage='disk' only (got "
                                 f"history_path='{path}' with "
                                 f"history_storage='memory')")
            return [None] * num
        if path is None:
            raise ValueError("history_storage='disk' needs a "
                             "'history_path' (a directory for the history "
                             "files)")
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"'history_path' must be a str or os.PathLike "
                            f"(got {type(path).__name__})")
        ScalableGNN._check_disk_device(device)
        directory = os.path.abspath(os.fspath(path))
        if os.path.exists(directory) and not os.path.isdir(directory):
            raise ValueError(f"'history_path' must be a directory (got "
                             f"'{path}', an existing file)")
        return [os.path.join(directory, f'history_{i}.npy')
                for i in range(num)]

    @property
    def history_prefetch(self) -> Optional[bool]:
        r"""Whether GAS mini-batches on a CPU model prefetch the halo rows
        of every history in a worker thread while layer 0 computes (see
        :class:`~pyg_gas.history_io.HistoryPrefetcher`): :obj:`None` (the
        default) for models with disk histories, :obj:`True` for all CPU
        models, :obj:`False` never. Outputs, gradients and histories are
        the same bit for bit either way. (A CUDA model overlaps its history
        I/O with :meth:`enable_async_io` instead.)"""
        return self._history_prefetch

    @history_prefetch.setter
    def history_prefetch(self, value: Optional[bool]) -> None:
        if value is not None and not isinstance(value, bool):
            raise TypeError(f"'history_prefetch' must be None, True or "
                            f"False (got {value!r})")
        self._history_prefetch = value
        self._close_prefetcher()

    def _close_prefetcher(self) -> None:
        prefetcher, self._prefetcher = self._prefetcher, None
        if prefetcher is not None:
            prefetcher.close()

    def _get_prefetcher(self, x: Tensor) -> Optional[HistoryPrefetcher]:
        # The prefetcher of a GAS mini-batch on the CPU, created on first
        # use, or None.
        if len(self.histories) == 0 or x.device.type != 'cpu':
            return None
        enabled = self._history_prefetch
        if enabled is None:
            enabled = any(h.storage == 'disk' for h in self.histories)
        if not enabled:
            return None
        histories = list(self.histories)
        prefetcher = self._prefetcher
        if prefetcher is None or len(prefetcher.histories) != len(
                histories) or any(a is not b for a, b in zip(
                    prefetcher.histories, histories)):
            self._close_prefetcher()  # Histories replaced: start anew.
            self._prefetcher = prefetcher = HistoryPrefetcher(histories)
        return prefetcher

    @property
    def reg_modules(self) -> ModuleList:
        r"""The modules whose parameters take the regular weight decay."""
        raise NotImplementedError

    @property
    def nonreg_modules(self) -> ModuleList:
        r"""The modules whose parameters take the second (usually zero)
        weight decay."""
        raise NotImplementedError

    def reset_parameters(self) -> None:
        for history in self.histories:
            history.reset_parameters()

    def transform(self, data: Data) -> Data:
        r"""Prepares a graph for this model before it is partitioned, e.g.
        precomputes a degree normalization on the whole graph so that
        mini-batches see whole-graph degrees. The default does nothing."""
        return data

    def init_state(self, x: Tensor) -> Dict[str, Any]:
        r"""Computes per-node state from the input features that every layer
        may use (see :attr:`needs_state`). The default has none."""
        return {}

    def forward_layer(self, layer: int, x: Tensor, adj_t: Adj,
                      state: Dict[str, Any]) -> Tensor:
        r"""Runs layer :obj:`layer`.

        Args:
            layer (int): The layer, in :obj:`[0, num_layers)`.
            x (torch.Tensor): The layer's input for all source rows: the
                node features for layer 0, the previous layer's output
                otherwise. Target rows come first.
            adj_t (Adj): The adjacency, with as many target rows as the
                output has.
            state (dict): The output of :meth:`init_state`, plus
                :obj:`'edge_attr'` when edge features are given.

        Returns:
            The output for the target rows, activated (but not dropped out)
            for all layers but the last.
        """
        raise NotImplementedError

    def forward(self, x: Tensor, adj_t: Adj, batch_size: Optional[int] = None,
                n_id: OptTensor = None, offset: OptTensor = None,
                count: OptTensor = None,
                edge_attr: OptTensor = None) -> Tensor:
        r"""
        Args:
            x (torch.Tensor): The node features of all rows (in-batch nodes
                first, then halo nodes).
            adj_t (Adj): The adjacency, e.g. :obj:`batch.adj_t`.
            batch_size (int, optional): The number of in-batch nodes of a GAS
                mini-batch. (default: :obj:`None`)
            n_id (torch.Tensor, optional): The global node ids of the rows.
            offset (torch.Tensor, optional): The first global id of each
                cluster in the batch, for fast range pushes.
            count (torch.Tensor, optional): The size of each cluster in the
                batch.
            edge_attr (torch.Tensor, optional): Edge features, in the order
                of the adjacency's edges (e.g. :obj:`batch.edge_attr`), for
                models whose convs take them. (default: :obj:`None`)

        Floating-point features must have the type of the model's
        parameters (a :class:`TypeError` naming both otherwise, outside of
        :class:`torch.autocast`).
        """
        if batch_size is not None and n_id is None:
            raise ValueError("A mini-batch ('batch_size' given) needs the "
                             "global node ids 'n_id'")
        self._check_input(x)
        adj_t = self._cast_adj(adj_t)
        io: Optional[HistoryIO] = None
        if batch_size is not None:
            io = self._async_io if x.is_cuda else self._get_prefetcher(x)
        if io is not None:
            # The last batch's pushes land before the step and the pulls.
            io.synchronize()
        if batch_size is not None and self.training:
            for history in self.histories:
                history.tick()
        if io is not None and n_id is not None and n_id.numel() > batch_size:
            io.prefetch(n_id[batch_size:])  # All layers' halo rows.

        state = self.init_state(x)
        if edge_attr is not None:
            state['edge_attr'] = edge_attr
        for i in range(self.num_layers):
            h = self.forward_layer(i, x, adj_t, state)
            if i == self.num_layers - 1:
                return h if batch_size is None else h[:batch_size]
            if io is not None:
                x = self._async_push_and_pull(io, i, h, batch_size, n_id,
                                              offset, count)
            else:
                x = self.push_and_pull(self.histories[i], h, batch_size,
                                       n_id, offset, count)
        raise AssertionError  # unreachable

    def _async_push_and_pull(self, io: HistoryIO, i: int, x: Tensor,
                             batch_size: int, n_id: Tensor,
                             offset: OptTensor, count: OptTensor) -> Tensor:
        return push_and_pull_rows(
            x[:batch_size], n_id, functools.partial(io.push, i),
            lambda ids, out: io.pull(i, out),  # Prefetched rows.
            offset, count)

    def enable_async_io(self, loader: Any = None,
                        max_batch_rows: Optional[int] = None,
                        max_halo_rows: Optional[int] = None,
                        num_threads: int = 2) -> AsyncHistoryIO:
        r"""Overlaps the history I/O of GAS mini-batches with computation,
        for a model on CUDA whose histories live in pinned CPU memory
        (created with :obj:`history_device='cpu'`; moving the model to CUDA
        pins them). See :class:`~pyg_gas.history_io.AsyncHistoryIO`: the halo
        rows of every layer are pulled on a side stream as soon as the batch
        is known, and the batch rows are pushed in the background, through
        reusable pinned buffers. Outputs equal the synchronous path's.

        The buffers are sized from :obj:`loader` (its :meth:`max_rows`, e.g.
        :meth:`pyg_gas.SubgraphLoader.max_rows`), or from
        :obj:`max_batch_rows` and :obj:`max_halo_rows`; they grow if a batch
        needs more. :meth:`disable_async_io` returns to synchronous I/O.
        """
        if loader is not None:
            if not hasattr(loader, 'max_rows'):
                raise TypeError(f"'loader' must have a 'max_rows()' method, "
                                f"like 'SubgraphLoader' (got "
                                f"{type(loader).__name__})")
            max_batch_rows, max_halo_rows = loader.max_rows()
        if max_batch_rows is None or max_halo_rows is None:
            raise ValueError("Pass a 'loader', or both 'max_batch_rows' and "
                             "'max_halo_rows'")
        check_int('max_batch_rows', max_batch_rows)
        check_int('max_halo_rows', max_halo_rows, minimum=0)
        self.disable_async_io()
        self._async_io = AsyncHistoryIO(list(self.histories), self._device(),
                                        max_batch_rows, max_halo_rows,
                                        num_threads)
        return self._async_io

    def disable_async_io(self) -> None:
        r"""Completes all pending history I/O and returns to synchronous
        pushes and pulls."""
        if self._async_io is not None:
            self._async_io.close()
            self._async_io = None

    def synchronize_histories(self) -> None:
        r"""Waits for all pending asynchronous history I/O (pushes and
        pulls of :meth:`enable_async_io`, prefetches of
        :attr:`history_prefetch`), so that the stores hold every pushed row
        and no thread reads them."""
        if self._async_io is not None:
            self._async_io.synchronize()
        prefetcher = self.__dict__.get('_prefetcher')
        if prefetcher is not None:
            prefetcher.synchronize()

    def state_dict(self, *args: Any, **kwargs: Any) -> Any:
        self.synchronize_histories()
        return super().state_dict(*args, **kwargs)

    def load_state_dict(self, *args: Any, **kwargs: Any) -> Any:
        self.synchronize_histories()
        return super().load_state_dict(*args, **kwargs)

    def _apply(self, fn: Any, recurse: bool = True) -> 'ScalableGNN':
        self.synchronize_histories()
        # The histories move with the model, but keep 'history_dtype':
        histories = [m for m in self.modules()
                     if isinstance(m, History) and not m._keep_dtype]
        for history in histories:
            history._keep_dtype = True
        try:
            out = super()._apply(fn, recurse)
        finally:
            for history in histories:
                del history._keep_dtype  # Back to the class default.
        if self._async_io is not None and self._device().type != 'cuda':
            self.disable_async_io()
        if self._device().type != 'cpu':  # Prefetching is for CPU models.
            self._close_prefetcher()
        return out

    def __getstate__(self) -> Dict[str, Any]:
        self.synchronize_histories()
        state = self.__dict__.copy()
        state['_async_io'] = None  # Threads and streams stay behind.
        state['_prefetcher'] = None
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        state.setdefault('_prefetcher', None)  # Pickled by older versions.
        state.setdefault('_history_prefetch', None)
        super().__setstate__(state)

    def forward_layerwise(self, x: Tensor, adjs: Sequence[Adj],
                          edge_attrs: Optional[Sequence[Tensor]] = None
                          ) -> Tensor:
        r"""Runs the layers on a layer-wise sampled batch (e.g. from
        :class:`~pyg_gas.LADIESLoader`), without histories: layer
        :obj:`l` maps the rows of its source nodes to the rows of its target
        nodes through :obj:`adjs[l]`, whose targets are the first rows of its
        sources.

        Args:
            x (torch.Tensor): The features of the input layer's nodes.
            adjs ([Adj]): One adjacency per layer, input layer first, each
                with as many target rows as the next layer has nodes.
            edge_attrs ([torch.Tensor], optional): Edge features per layer.
                (default: :obj:`None`)
        """
        if len(adjs) != self.num_layers:
            raise ValueError(f"Expected one adjacency per layer "
                             f"({self.num_layers}) (got {len(adjs)})")
        self._check_input(x)
        adjs = [self._cast_adj(adj_t) for adj_t in adjs]
        state = self.init_state(x)
        for i, adj_t in enumerate(adjs):
            if edge_attrs is not None:
                state['edge_attr'] = edge_attrs[i]
            x = self.forward_layer(i, x, adj_t, state)
        return x

    def push_and_pull(self, history: History, x: Tensor,
                      batch_size: Optional[int] = None, n_id: OptTensor = None,
                      offset: OptTensor = None,
                      count: OptTensor = None) -> Tensor:
        r"""Pushes the in-batch rows of :obj:`x` into :obj:`history` and
        returns them followed by the halo rows pulled from it.

        Without :obj:`batch_size`, :obj:`x` is returned as is; if it has a
        row for every node of the graph, it is pushed whole first.
        """
        if batch_size is None:
            if n_id is None and x.size(0) == self.num_nodes:
                history.push(x)
            elif n_id is not None:
                history.push(x, n_id)
            return x

        return push_and_pull_rows(
            x[:batch_size], n_id, history.push,
            lambda ids, out: history.pull(ids, out=out), offset, count)

    @torch.no_grad()
    def inference(self, loader: Any, progress: bool = False,
                  sync: Optional[Callable[[History], Any]] = None,
                  out: OptTensor = None,
                  original_order: Union[bool, Tensor] = False) -> Tensor:
        r"""Computes the output for every node, layer by layer over the
        mini-batches of :obj:`loader` (an
        :class:`~pyg_gas.EvalSubgraphLoader`), filling the histories as it
        goes. Layer :math:`\ell` reads the complete output of layer
        :math:`\ell - 1` from its history, so the result equals the
        full-graph forward exactly, while memory stays bounded by one
        mini-batch. The model is put in evaluation mode for the call.

        The loader must be one of the graph the model was built for: its
        :obj:`num_nodes` must equal the model's, and its batches must cover
        every row once, with their halo (not those of a
        :class:`~pyg_gas.ClusterLoader` or a :class:`~pyg_gas.LADIESLoader`),
        otherwise a :class:`ValueError` is raised (before
        any work where the loader tells its clusters, as
        :class:`~pyg_gas.EvalSubgraphLoader` does, or after the first layer
        otherwise). Only with :obj:`sync` may it cover the first rows only
        (the rows a rank owns): :obj:`sync` then fills the others in the
        histories, and their output rows are :obj:`nan`.

        Args:
            loader (EvalSubgraphLoader): The mini-batches, covering every
                node once.
            progress (bool, optional): Shows a progress bar.
                (default: :obj:`False`)
            sync (callable, optional): Called with each history once its
                layer is complete, before the next layer reads it: the
                distributed inference (see
                :class:`~pyg_gas.distributed.DistributedGAS`) refreshes the
                rows of other ranks there. (default: :obj:`None`)
            out (torch.Tensor, optional): A tensor of shape
                :obj:`[num_nodes, out_channels]` to write the output into,
                on any device, e.g. one memory-mapped from a file (see
                :func:`~pyg_gas.history.disk_tensor`) when the output of
                the whole graph does not fit in memory. The rows of a batch
                of clusters are written as ranges. (default: :obj:`None`)
            original_order (bool or torch.Tensor, optional): Returns the
                rows in the node order of the graph before it was clustered
                by :func:`~pyg_gas.permute`: row :obj:`perm[i]` of the
                output is node :obj:`i` of the loader's graph. :obj:`True`
                takes :obj:`perm` from the loader's graph (see
                :func:`~pyg_gas.partition.original_ids`: a graph returned
                by :func:`~pyg_gas.permute`, or a prepared dataset); a tensor
                is :obj:`perm` itself. The histories stay in the loader's
                order. (default: :obj:`False`)

        Returns:
            The output of shape :obj:`[num_nodes, out_channels]`, on the
            model's device (or :obj:`out`).
        """
        device, dtype = self._device(), self._dtype()
        partial = sync is not None
        self._check_loader(loader, partial)
        perm = self._original_order(loader, original_order)
        seen = torch.zeros(self.num_nodes, dtype=torch.bool)  # Layer 0's.
        num_rows = 0
        self.synchronize_histories()
        training = self.training
        self.eval()
        if out is not None and (not isinstance(out, Tensor)
                                or out.dim() != 2
                                or out.size(0) != self.num_nodes):
            raise ValueError(f"'out' must be a tensor of shape "
                             f"[{self.num_nodes}, out_channels] (got "
                             f"{list(getattr(out, 'shape', []))})")
        given = out is not None
        pbar = tqdm(total=self.num_layers * len(loader), disable=not progress,
                    desc='Inference', leave=False)
        try:
            for i in range(self.num_layers):
                for batch in loader:
                    bs = batch.batch_size
                    h = self._inference_layer(i, batch, device, dtype)
                    if i < self.num_layers - 1:
                        self.histories[i].push(h, offset=batch.offset,
                                               count=batch.count)
                    elif given:
                        _write_rows(out, h, batch, perm)
                    else:
                        if out is None:  # Rows left to 'sync' are nan.
                            out = h.new_full((self.num_nodes, h.size(-1)),
                                             float('nan')) if partial else \
                                h.new_empty(self.num_nodes, h.size(-1))
                        rows = batch.n_id[:bs]
                        if perm is not None:
                            rows = perm[rows.to(perm.device)]
                        out[rows.to(device)] = h
                    if i == 0:
                        seen[batch.n_id[:bs].cpu()] = True
                        num_rows += bs
                    pbar.update(1)
                if i == 0:
                    self._check_covered(num_rows, int(seen.sum()), partial)
                if sync is not None and i < self.num_layers - 1:
                    sync(self.histories[i])
        finally:
            pbar.close()
            self.train(training)
        assert out is not None
        return out

    def _original_order(self, loader: Any,
                        original_order: Union[bool, Tensor]
                        ) -> Optional[Tensor]:
        # The 'perm' of inference(original_order=...), checked, or None.
        if original_order is False:
            return None
        if original_order is True:
            perm = original_ids(getattr(loader, 'data', None))
            if perm is None:
                raise ValueError(
                    f"original_order=True needs a loader whose graph "
                    f"records its original node ids (a graph returned by "
                    f"'permute', or a prepared dataset), but "
                    f"'{type(loader).__name__}' has none: pass "
                    f"original_order=perm")
        elif isinstance(original_order, Tensor):
            perm = original_order
        else:
            raise TypeError(f"'original_order' must be a bool or the "
                            f"permutation tensor 'perm' (got "
                            f"{type(original_order).__name__})")
        if (perm.dim() != 1 or perm.numel() != self.num_nodes
                or perm.dtype != torch.long):
            raise ValueError(f"'original_order' must be a permutation of "
                             f"[0, {self.num_nodes}) of type torch.long "
                             f"(got dtype {perm.dtype} and shape "
                             f"{list(perm.shape)})")
        return perm

    def _inference_layer(self, i: int, batch: Any, device: torch.device,
                         dtype: torch.dtype, x: OptTensor = None) -> Tensor:
        # Layer 'i' of 'inference' for the batch rows of 'batch': the
        # features are its input in layer 0, the complete history of the
        # previous layer in the others (or 'x', rows of a saved history
        # for the rows 'batch.n_id').
        adj_t = self._cast_adj(batch.adj_t.to(device))
        state: Dict[str, Any] = {}
        if i == 0 or self.needs_state:
            feat = batch.x.to(device)
            self._check_input(feat)
            state = self.init_state(feat)
        if batch.get('edge_attr') is not None:
            state['edge_attr'] = batch.edge_attr.to(device)
        if x is not None:
            x = x.to(device, dtype)  # [B + H, C]
        elif i == 0:
            x = feat  # [B + H, F]
        else:
            x = self.histories[i - 1].pull(batch.n_id.to(device),
                                           dtype)  # [B + H, C]
        return self.forward_layer(i, x, adj_t, state)[:batch.batch_size]

    def _check_loader(self, loader: Any, partial: bool) -> None:
        check_loader(loader, self.num_nodes, partial)

    def _check_covered(self, num_rows: int, num_distinct: int,
                       partial: bool) -> None:
        check_covered(num_rows, num_distinct, self.num_nodes, partial)

    def _check_input(self, x: Tensor) -> None:
        # A clear message instead of torch's 'mat1 and mat2 ... dtype':
        dtype = self._dtype()
        if (isinstance(x, Tensor) and x.is_floating_point()
                and x.dtype != dtype
                and not torch.is_autocast_enabled(x.device.type)):
            raise TypeError(f"'x' has dtype {x.dtype}, but the model's "
                            f"parameters have dtype {dtype}; convert one "
                            f"of them (e.g. 'x.to({dtype})')")

    def _cast_adj(self, adj_t: Adj) -> Adj:
        # Edge weights in the type of the parameters (the loaders build
        # them in float32), unless autocast picks the types:
        dtype = self._dtype()
        if torch.is_autocast_enabled(self._device().type):
            return adj_t
        return cast_adj(adj_t, dtype)

    def _device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device('cpu')

    def _dtype(self) -> torch.dtype:
        for p in self.parameters():
            if p.is_floating_point():
                return p.dtype
        return torch.get_default_dtype()

    def param_groups(self, weight_decay: float = 0.0,
                     nonreg_weight_decay: float = 0.0) -> List[dict]:
        r"""Optimizer parameter groups: :attr:`reg_modules` with
        :obj:`weight_decay` and :attr:`nonreg_modules` with
        :obj:`nonreg_weight_decay`."""
        return [
            dict(params=list(self.reg_modules.parameters()),
                 weight_decay=weight_decay),
            dict(params=list(self.nonreg_modules.parameters()),
                 weight_decay=nonreg_weight_decay),
        ]

    def extra_repr(self) -> str:
        return f'num_nodes={self.num_nodes}, num_layers={self.num_layers}'


def _write_rows(out: Tensor, h: Tensor, batch: Any,
                perm: OptTensor = None) -> None:
    # The output rows of a batch into 'out': range by range where the
    # batch tells its clusters' ranges, row by row otherwise (and in the
    # original order, through 'perm').
    if h.size(-1) != out.size(-1):
        raise ValueError(f"'out' has {out.size(-1)} columns, but the model "
                         f"outputs {h.size(-1)}")
    h = h.to(out.device, out.dtype)
    offset, count = batch.get('offset'), batch.get('count')
    if perm is not None:
        rows = perm[batch.n_id[:batch.batch_size].to(perm.device)]
        out[rows.to(out.device)] = h
        return
    if offset is None or count is None:
        out[batch.n_id[:batch.batch_size].to(out.device)] = h
        return
    start = 0
    for o, c in zip(offset.tolist(), count.tolist()):
        out[o:o + c].copy_(h[start:start + c])
        start += c


def check_loader(loader: Any, num_nodes: int, partial: bool = False) -> None:
    r"""Checks, before any work, that :obj:`loader` can drive an exact
    layer-wise inference of a model of :obj:`num_nodes` rows: its batches
    carry their halo, and, where the loader tells them (as
    :class:`~pyg_gas.EvalSubgraphLoader` does), its graph has
    :obj:`num_nodes` nodes and its clusters cover them all (only their
    first rows with :obj:`partial`). The rows that other loaders cover are
    counted while they run (see :func:`check_covered`)."""
    name = type(loader).__name__
    if getattr(loader, 'halo', None) is False or getattr(
            getattr(loader, 'collater', None), 'halo', None) is False:
        raise ValueError(f"'loader' ({name}) yields batches without their "
                         f"halo, which drop every edge from outside the "
                         f"batch: inference needs the halo rows (e.g. an "
                         f"'EvalSubgraphLoader')")
    if isinstance(getattr(loader, 'collater', None), LADIESSampler):
        raise ValueError(f"'loader' ({name}) samples one adjacency per "
                         f"layer, for 'forward_layerwise': inference needs "
                         f"GAS batches (e.g. an 'EvalSubgraphLoader')")
    loader_nodes = getattr(loader, 'num_nodes', None)
    if loader_nodes is not None and loader_nodes != num_nodes:
        raise ValueError(f"'loader' is one of a graph of {loader_nodes} "
                         f"nodes, but the model was built for "
                         f"num_nodes={num_nodes}: inference would "
                         f"leave rows uncomputed")
    ptr, num_parts = (getattr(loader, 'ptr', None),
                      getattr(loader, 'num_parts', None))
    if isinstance(ptr, Tensor) and isinstance(num_parts, int):
        covered = int(ptr[num_parts])  # Clusters [0, num_parts).
        check_covered(covered, covered, num_nodes, partial)


def check_covered(num_rows: int, num_distinct: int, num_nodes: int,
                  partial: bool = False) -> None:
    r"""Checks that the batches of an inference computed :obj:`num_rows`
    rows, :obj:`num_distinct` of them distinct, and so every one of
    :obj:`num_nodes` rows once (with :obj:`partial`, the first rows only:
    a rank's own rows, distributed)."""
    if num_rows != num_distinct:
        raise ValueError(f"'loader' computes {num_rows} rows, but only "
                         f"{num_distinct} distinct ones: inference "
                         f"needs batches covering every row once")
    if num_rows != num_nodes and not partial:
        raise ValueError(f"'loader' covers {num_rows} rows, but the "
                         f"model has num_nodes={num_nodes} rows: "
                         f"inference needs batches covering every row "
                         f"once (e.g. an 'EvalSubgraphLoader' of all "
                         f"clusters)")
