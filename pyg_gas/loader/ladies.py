r"""Layer-wise importance sampling: LADIES and FastGCN."""
import math
from typing import (
    Any,
    Dict,
    Iterator,
    List,
    Literal,
    Optional,
    Tuple,
    Union,
)

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Sampler, get_worker_info
from torch_geometric import EdgeIndex
from torch_geometric.data import Data

from pyg_gas.checks import check_int
from pyg_gas.data import LayerwiseData
from pyg_gas.graph import (
    build_adj_t,
    check_finite_values,
    gather_csr,
    gcn_norm_csr,
    get_edge_index,
    split_attributes,
)
from pyg_gas.loader.pps import (
    _capped,
    _inclusion,
    _systematic,
    _systematic_draw,
    _systematic_order,
    inclusion_probabilities,
    systematic_sampling,
)

__all__ = [
    'LADIESLoader',
    'LADIESSampler',
    # Aliases of the names' homes, 'pyg_gas.data', 'pyg_gas.graph' and
    # 'pyg_gas.loader.pps':
    'LayerwiseData',
    'gcn_norm_csr',
    'inclusion_probabilities',
    'systematic_sampling',
]

Mode = Literal['ladies', 'fastgcn']
SamplerKind = Literal['systematic', 'multinomial']

MODES = ('ladies', 'fastgcn')
SAMPLERS = ('systematic', 'multinomial')

# The gathered rows of Q P: pointer, columns and values.
Rows = Tuple[Tensor, Tensor, Tensor]
# What a mode's draw returns: n_id, and the mask, positions and local
# sources of the kept edges (see '_kept_edges'), and the weight divisors.
Drawn = Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]

# Keys of the node map are int32 (half the cache footprint of int64):
KEY_LIMIT = 2**31 - 1


def _check_num_samples(num_samples: Any, num_layers: int) -> List[int]:
    if isinstance(num_samples, (list, tuple)):
        values = list(num_samples)
        if len(values) != num_layers:
            raise ValueError(f"'num_samples' must give one value per layer "
                             f"({num_layers}) (got {len(values)})")
    else:
        values = [num_samples] * num_layers
    return [check_int('num_samples', value) for value in values]


def _check_distinct(nodes: Tensor, name: str) -> None:
    num_distinct = torch.unique(nodes).numel()
    if num_distinct != nodes.numel():
        raise ValueError(f"'{name}' must hold distinct nodes (got "
                         f"{nodes.numel() - num_distinct} duplicates)")


def _check_input_nodes(input_nodes: Optional[Tensor],
                       num_nodes: int) -> Tensor:
    if input_nodes is None:
        return torch.arange(num_nodes)
    if not isinstance(input_nodes, Tensor):
        raise TypeError(f"'input_nodes' must be a tensor of node indices or "
                        f"a boolean mask (got {type(input_nodes).__name__})")
    input_nodes = input_nodes.cpu()
    if input_nodes.dtype == torch.bool:
        if input_nodes.dim() != 1 or input_nodes.numel() != num_nodes:
            raise ValueError(f"A boolean 'input_nodes' mask must have shape "
                             f"[{num_nodes}] (got {list(input_nodes.shape)})")
        input_nodes = input_nodes.nonzero().view(-1)
    elif input_nodes.is_floating_point() or input_nodes.is_complex():
        raise TypeError(f"'input_nodes' must hold integer node indices or be "
                        f"a boolean mask (got dtype {input_nodes.dtype})")
    else:
        input_nodes = input_nodes.view(-1).long()
        if input_nodes.numel() > 0:
            lo, hi = int(input_nodes.min()), int(input_nodes.max())
            if lo < 0 or hi >= num_nodes:
                bad = lo if lo < 0 else hi
                raise ValueError(f"'input_nodes' must be in [0, {num_nodes}) "
                                 f"(got the index {bad})")
            _check_distinct(input_nodes, 'input_nodes')
    if input_nodes.numel() == 0:
        raise ValueError("'input_nodes' selects no node")
    return input_nodes


def _write_keys(assoc: Tensor, nodes: Tensor, start: int) -> None:
    # Gives 'nodes' the keys start, start + 1, ... in the node map.
    assoc.index_copy_(0, nodes, torch.arange(start, start + nodes.numel(),
                                             dtype=assoc.dtype,
                                             device=assoc.device))


def _kept_edges(assoc: Tensor, base: int,
                col: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    # The gathered edges whose column holds a key k >= 'base' in the node
    # map: their mask, their positions and their local sources k - base.
    src = assoc.index_select(0, col).sub_(base)  # [E], < 0 if not taken
    mask = src.ge(0)
    keep = mask.nonzero().view(-1)  # [E']
    return mask, keep, src.index_select(0, keep).long()


class LADIESSampler:
    r"""Samples the layer-wise node sets and adjacencies of
    :class:`LADIESLoader`. It holds the normalized adjacency in CSR form on
    the graph's device and is picklable, so it can sample in
    :class:`~torch.utils.data.DataLoader` worker processes. Called with a
    list of positions into :obj:`input_nodes`, or through :meth:`sample`
    with global node ids.

    See :class:`LADIESLoader` for the arguments.
    """
    def __init__(
        self,
        data: Data,
        num_samples: Union[int, List[int]] = 512,
        num_layers: int = 2,
        mode: Mode = 'ladies',
        sampler: SamplerKind = 'systematic',
        normalize: bool = True,
        input_nodes: Optional[Tensor] = None,
        seed: Optional[int] = None,
        check_finite: bool = True,
    ) -> None:
        if not isinstance(data, Data):
            raise TypeError(f"'data' must be a 'Data' object "
                            f"(got {type(data).__name__})")
        num_layers = check_int('num_layers', num_layers)
        self.num_samples = _check_num_samples(num_samples, num_layers)
        if mode not in MODES:
            raise ValueError(f"'mode' must be one of {list(MODES)} "
                             f"(got {mode!r})")
        if sampler not in SAMPLERS:
            raise ValueError(f"'sampler' must be one of {list(SAMPLERS)} "
                             f"(got {sampler!r})")
        if seed is not None:
            check_int('seed', seed, minimum=0)
        self.num_layers = num_layers
        self.mode = mode
        self.sampler = sampler
        self.normalize = bool(normalize)
        self.seed = seed

        edge_index, num_nodes = get_edge_index(data)
        if int((edge_index[0] != edge_index[1]).sum()) == 0:
            raise ValueError(f"'data' must have edges besides self-loops "
                             f"(got {edge_index.size(1)} edges)")
        self.num_nodes = num_nodes
        self.input_nodes = _check_input_nodes(input_nodes, num_nodes)

        # 'P' replaces the edge-level attributes, so none of their rows is
        # selected (an empty edge permutation):
        self.node_attrs, _, self.graph_attrs = split_attributes(
            data, edge_index.new_empty(0))
        if check_finite:  # (Edge weights are not used.)
            check_finite_values('x', self.node_attrs.get('x'))
        device = self.device = edge_index.device

        rowptr, col, value = gcn_norm_csr(edge_index, num_nodes)
        self.rowptr = rowptr.to(device)
        weight = value.to(torch.get_default_dtype())
        # Every entry's column and value side by side (int32 and float32)
        # when they fit, so that gathering the rows of a layer reads one
        # array: the gathers miss the cache, and this halves the misses.
        # 'col' and 'value' are then views of it.
        self._entries: Optional[Tensor] = None
        if weight.dtype == torch.float32 and num_nodes <= KEY_LIMIT:
            pairs = torch.stack([col.to(torch.int32),
                                 weight.view(torch.int32)], dim=1).to(device)
            self._entries = pairs.view(torch.int64).view(-1)  # [nnz]
            self.col = pairs[:, 0]
            self.value = pairs[:, 1].view(torch.float32)
        else:
            self.col = col.to(device)
            self.value = weight.to(device)
        self.col_norm: Optional[Tensor] = None
        if mode == 'fastgcn':  # ||P[:, i]||^2, layer-independent.
            col_norm = torch.zeros(num_nodes, dtype=torch.float64)
            col_norm.index_add_(0, col, value.pow(2))
            self.col_norm = col_norm.to(device)

        self.generator: Optional[torch.Generator] = None
        if seed is not None:
            self.generator = torch.Generator(device).manual_seed(seed)
        self._worker_generator: Optional[torch.Generator] = None
        self._worker_seed: Optional[int] = None
        self._assoc: Optional[Tensor] = None
        self._next_key = 0
        self._designs: Dict[int, Dict[str, Any]] = {}

    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        # Workers seed their own generator; scratch space is rebuilt lazily.
        for key in ('generator', '_worker_generator', '_assoc'):
            state[key] = None
        state['_worker_seed'] = None
        state['_next_key'] = 0
        state['_designs'] = {}
        return state

    def _get_generator(self) -> Optional[torch.Generator]:
        info = get_worker_info()
        if info is None:
            return self.generator
        # In a worker: a generator per worker, seeded with the worker's seed
        # (the DataLoader draws it from the loader's seeded generator, so
        # seeded runs repeat exactly).
        if self._worker_seed != info.seed:
            self._worker_generator = torch.Generator(
                self.device).manual_seed(info.seed)
            self._worker_seed = info.seed
        return self._worker_generator

    def __call__(self, index: Union[List[int], Tensor]) -> 'LayerwiseData':
        index = torch.as_tensor(index, dtype=torch.long).view(-1)
        return self._sample(self.input_nodes.index_select(0, index))

    def sample(self, nodes: Tensor) -> 'LayerwiseData':
        r"""Samples a mini-batch whose output nodes are :obj:`nodes`
        (distinct global node ids)."""
        nodes = torch.as_tensor(nodes, dtype=torch.long).view(-1)
        if nodes.numel() == 0:
            raise ValueError('A batch needs at least one output node')
        lo, hi = int(nodes.min()), int(nodes.max())
        if lo < 0 or hi >= self.num_nodes:
            raise ValueError(f"'nodes' must be in [0, {self.num_nodes}) (got "
                             f"the index {lo if lo < 0 else hi})")
        _check_distinct(nodes, 'nodes')
        return self._sample(nodes)

    def _stamp(self, count: int) -> Tuple[Tensor, int]:
        # A node-indexed map and a key base: the keys written in this call
        # are base + k, 0 <= k < count, and exceed every key written before,
        # so a node whose entry is below 'base' was not written in this call.
        # The map is never reset, and a layer costs no O(num_nodes) work.
        if count >= KEY_LIMIT:
            raise ValueError(f"A layer gathers {count} edges, more than the "
                             f"node map's int32 keys can tell apart "
                             f"({KEY_LIMIT}); use a smaller batch size")
        if self._assoc is None or self._next_key + count >= KEY_LIMIT:
            self._assoc = torch.full((self.num_nodes, ), -1,
                                     dtype=torch.int32, device=self.device)
            self._next_key = 0
        base = self._next_key
        self._next_key += count
        return self._assoc, base

    def _sample(self, nodes: Tensor) -> 'LayerwiseData':
        nodes = nodes.to(self.device)
        if self.device.type != 'cpu':
            # 'gather_csr' allocates without a device argument:
            with torch.device(self.device):
                return self._sample_layers(nodes)
        # Sampling is a chain of many small ops, for which intra-op threads
        # only add synchronization (a lot of it on a busy machine): run it
        # on one thread, as DataLoader workers do anyway.
        num_threads = torch.get_num_threads()
        if num_threads == 1:
            return self._sample_layers(nodes)
        torch.set_num_threads(1)
        try:
            return self._sample_layers(nodes)
        finally:
            torch.set_num_threads(num_threads)

    def _sample_layers(self, nodes: Tensor) -> 'LayerwiseData':
        generator = self._get_generator()
        layer_n_id = [nodes]
        adjs_t: List[Any] = []
        edge_indices: List[EdgeIndex] = []
        edge_weights: List[Tensor] = []
        rows: Optional[Rows] = None
        for layer in reversed(range(self.num_layers)):
            targets = layer_n_id[0]
            rows = self._gather_rows(targets, rows)
            n_id, rowptr, src, dst, weight = self._sample_layer(
                targets, rows, self.num_samples[layer], generator)
            size = (targets.numel(), n_id.numel())
            layer_n_id.insert(0, n_id)
            adjs_t.insert(0, build_adj_t(rowptr, src, weight, size, 'csr'))
            edge_indices.insert(
                0,
                EdgeIndex(torch.stack([src, dst], dim=0),
                          sparse_size=(size[1], size[0]), sort_order='col'))
            edge_weights.insert(0, weight)

        n_id = layer_n_id[0]
        attrs: Dict[str, Any] = {'n_id': n_id, 'batch_size': nodes.numel()}
        for key, value in self.node_attrs.items():
            attrs[key] = value.index_select(0, n_id.to(
                value.device))  # [n_0, ...]
        attrs.update(self.graph_attrs)
        attrs.update(adjs_t=adjs_t, edge_indices=edge_indices,
                     edge_weights=edge_weights, layer_n_id=layer_n_id,
                     layer_sizes=[int(ids.numel()) for ids in layer_n_id],
                     num_nodes=int(n_id.numel()))
        out = LayerwiseData()
        # What 'setattr' does for each attribute, at a third of its cost
        # (none of them is None or a property of 'Data'):
        out._store._mapping.update(attrs)
        return out

    def _draw(self, p: Tensor, num_samples: int,
              generator: Optional[torch.Generator]) -> Tuple[Tensor, Tensor]:
        # Draws about 'num_samples' items with probabilities ~ 'p' (zero for
        # items that cannot be drawn). Returns the selected items and the
        # weight divisor of each (its inclusion probability for systematic
        # sampling, s * p_i for multinomial sampling), of the dtype of 'p'.
        # Systematic sampling may overwrite 'p'.
        if self.sampler == 'multinomial':
            num_positive = int((p > 0).sum())
            k = min(num_samples, num_positive)
            if k == 0:
                return p.new_empty(0, dtype=torch.long), p.new_empty(0)
            sel = torch.multinomial(p, k, replacement=False,
                                    generator=generator)
            scale = k / float(p.sum(dtype=torch.float64))
            return sel, p.index_select(0, sel).mul_(scale)

        # Systematic sampling in the items' own order, in float64 sums of
        # 'p' scaled to the inclusion probabilities: no copy of 'p' as 'pi'.
        cum = p.cumsum(0, dtype=torch.float64)
        total = float(cum[-1]) if cum.numel() > 0 else 0.0
        if total <= 0.0:
            return p.new_empty(0, dtype=torch.long), p.new_empty(0)
        scale = num_samples / total
        # With few candidates per sample, capping is common, and the
        # maximum first saves a wasted draw. Otherwise the draw itself
        # tells: an item with pi_i = c * p_i >= 1 spans a whole unit of the
        # scaled sums, so it holds a point and is drawn.
        max_first = num_samples * 32 >= p.numel()
        max_pi = float(p.max()) * scale if max_first else 0.0
        if max_pi < 1.0:
            sel = _systematic_draw(cum, scale, 0.0, generator)
            pi = p.index_select(0, sel).mul_(scale)
            if not max_first:
                max_pi = float(pi.max()) if pi.numel() > 0 else 0.0
            if max_pi < 1.0:  # No item is capped.
                if max_pi > 1.0 - 1e-6:  # Guard against round-off.
                    sel = torch.unique_consecutive(sel)
                    pi = p.index_select(0, sel).mul_(scale)
                return sel, pi

        capped = _capped(p, total, num_samples)
        if capped is None:  # The general solution.
            pi, certain, max_pi = _inclusion(p, num_samples)
            sel = _systematic(pi, certain, max_pi, generator, shuffle=False)
            if certain is not None:
                pi.index_fill_(0, certain, 1.0)
            return sel, pi.index_select(0, sel).to(p.dtype)
        certain, scale, max_pi = capped
        p.index_fill_(0, certain, 0.0)  # 'p' is the caller's scratch.
        sel = _systematic_draw(p.cumsum(0, dtype=torch.float64), scale,
                               max_pi, generator)
        pi = torch.cat([p.new_ones(certain.numel()),
                        p.index_select(0, sel).mul_(scale)])
        return torch.cat([certain, sel]), pi

    def _gather_rows(self, targets: Tensor, above: Optional[Rows]) -> Rows:
        # The rows of Q P: their pointer, columns (global ids) and values
        # P_ui. The first targets are those of the layer above, whose rows
        # 'above' holds: only the rows of the others are gathered (the
        # gathers miss the cache; appending to 'above' does not).
        nodes = targets
        if above is not None:
            nodes = targets[above[0].numel() - 1:]
        ptr, idx = gather_csr(self.rowptr, nodes)
        if self._entries is not None:  # One gather for both.
            pairs = self._entries.index_select(0, idx).view(torch.int32)
            col = pairs[0::2].long()
            value = pairs[1::2].view(torch.float32)
        else:
            col = self.col.index_select(0, idx)
            value = self.value.index_select(0, idx)
        if above is None:
            return ptr, col, value
        ptr = torch.cat([above[0], ptr[1:].add_(above[0][-1])])
        return ptr, torch.cat([above[1], col]), torch.cat([above[2], value])

    def _sample_layer(
        self,
        targets: Tensor,
        rows: Rows,
        num_samples: int,
        generator: Optional[torch.Generator],
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        # Samples the nodes of the layer below 'targets', whose rows of P
        # 'rows' holds, as the mode draws them. Returns their global ids
        # (targets first) and the weighted edges of '_finish'.
        ptr, col, value = rows  # [n_t + 1], [E], [E]
        draw = (self._sample_ladies
                if self.mode == 'ladies' else self._sample_fastgcn)
        n_id, mask, keep, src, divisor = draw(targets, col, value,
                                              num_samples, generator)
        value = value.index_select(0, keep)  # [E']
        return (n_id, ) + self._finish(ptr, mask, keep, src, value, divisor)

    def _sample_ladies(self, targets: Tensor, col: Tensor, value: Tensor,
                       num_samples: int,
                       generator: Optional[torch.Generator]) -> Drawn:
        # LADIES: s nodes drawn from the columns of the targets' rows, plus
        # the targets, taken exactly. Returns the layer's nodes, its kept
        # edges (see '_kept_edges') and the weight divisor of every node.
        device = self.device
        num_targets = targets.numel()
        num_edges = col.numel()

        # The distinct columns, without a sort: the map keeps the key of
        # each column's last edge, its representative. Every edge learns the
        # position of its column's representative, and the candidates live
        # in that position space.
        assoc, base = self._stamp(num_edges)
        key = torch.arange(base, base + num_edges, dtype=assoc.dtype,
                           device=device)
        assoc.scatter_reduce_(0, col, key, 'amax')
        rep = assoc.index_select(0, col).sub_(base)  # [E]
        # Every target has its own column (P has self-loops):
        tgt = assoc.index_select(0, targets).sub_(base).long()  # [n_t]

        # p_i ~ ||Q P[:, i]||^2 at the representatives, zero on the targets'
        # own columns, which are taken exactly. The candidates are in the
        # order of the targets whose rows hold them:
        p = torch.zeros(num_edges, dtype=value.dtype, device=device)
        p.index_add_(0, rep, value * value)  # [E]
        p.index_fill_(0, tgt, 0.0)
        sel, pi = self._draw(p, num_samples, generator)  # Positions.

        # Targets keep their order, the sampled nodes come after them. The
        # map gets their local ids, under keys newer than all of the above:
        n_id = col.index_select(0, torch.cat([tgt, sel]))  # [n_t + s]
        assoc, base = self._stamp(n_id.numel())
        _write_keys(assoc, n_id, base)
        mask, keep, src = _kept_edges(assoc, base, col)
        divisor = torch.cat([value.new_ones(num_targets), pi])  # [n_t + s]
        return n_id, mask, keep, src, divisor

    def _fastgcn_draw(
        self,
        num_samples: int,
        generator: Optional[torch.Generator],
    ) -> Tuple[Tensor, Tensor]:
        # Draws from all nodes with p_i ~ ||P[:, i]||^2. Returns the nodes
        # and their inclusion probabilities.
        assert self.col_norm is not None
        p = self.col_norm
        if self.sampler == 'multinomial':
            return self._draw(p, num_samples, generator)
        # p is layer-independent, so the inclusion probabilities are
        # computed once per sample size. The random order of systematic
        # sampling is redrawn after every ceil(N / s) draws, which keeps the
        # cost O(s) per draw on average; every draw has a fresh offset, so
        # the inclusion probabilities are exact in any case.
        design = self._designs.get(num_samples)
        if design is None:
            pi, certain, max_pi = _inclusion(p, num_samples)
            full_pi = pi.clone()
            if certain is not None:
                full_pi.index_fill_(0, certain, 1.0)
            design = {'pi': pi, 'full_pi': full_pi, 'certain': certain,
                      'max_pi': max_pi, 'order': None, 'left': 0}
            self._designs[num_samples] = design
        if design['max_pi'] > 0.0 and design['left'] <= 0:
            design['order'] = _systematic_order(design['pi'], generator)
            design['left'] = math.ceil(self.num_nodes / num_samples)
        design['left'] -= 1
        sel = p.new_empty(0, dtype=torch.long)
        if design['order'] is not None:
            perm, cum = design['order']
            sel = perm.index_select(
                0, _systematic_draw(cum, 1.0, design['max_pi'], generator))
        if design['certain'] is not None:
            sel = torch.cat([design['certain'], sel], dim=0)
        return sel, design['full_pi'].index_select(0, sel)

    def _sample_fastgcn(self, targets: Tensor, col: Tensor, value: Tensor,
                        num_samples: int,
                        generator: Optional[torch.Generator]) -> Drawn:
        # FastGCN: s nodes drawn from all nodes, plus the targets, taken
        # exactly. Returns what '_sample_ladies' does.
        num_targets = targets.numel()
        sel, pi = self._fastgcn_draw(num_samples, generator)
        assoc, base = self._stamp(num_targets + sel.numel())
        _write_keys(assoc, targets, base)
        new = (assoc.index_select(0, sel) < base).nonzero().view(-1)
        sel, pi = sel.index_select(0, new), pi.index_select(0, new)  # [s']
        num_sel = sel.numel()
        _write_keys(assoc, sel, base + num_targets)
        mask, keep, src = _kept_edges(assoc, base, col)

        # Drop the sampled nodes without an edge into U_l:
        used = torch.zeros(num_targets + num_sel, dtype=torch.bool,
                           device=self.device)
        used.index_fill_(0, src, True)
        used[:num_targets] = True
        if not bool(used.all()):
            src = (used.cumsum(0) - 1).index_select(0, src)
            used = used[num_targets:].nonzero().view(-1)
            sel, pi = sel.index_select(0, used), pi.index_select(0, used)
        divisor = torch.cat([value.new_ones(num_targets),
                             pi.to(value.dtype)])  # [n_t + s']
        n_id = torch.cat([targets, sel], dim=0)
        return n_id, mask, keep, src, divisor

    def _finish(self, ptr: Tensor, mask: Tensor, keep: Tensor, src: Tensor,
                value: Tensor,
                divisor: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        # Weights the kept edges (those of the gathered rows 'ptr' where
        # 'mask' holds, at the positions 'keep', with local sources 'src'
        # and values 'P') by 'P / divisor', and row-normalizes them. Returns
        # (rowptr, src, dst, weight), grouped by target.
        # The kept edges before each gathered row's start are its offset
        # (a linear pass; a 'searchsorted' of the rows costs a branchy
        # binary search per row, 5x more here):
        count = torch.zeros(mask.numel() + 1, dtype=torch.long,
                            device=mask.device)
        torch.cumsum(mask, dim=0, out=count[1:])
        rowptr = count.index_select(0, ptr)  # [n_t + 1]
        dst = torch.repeat_interleave(rowptr.diff(),
                                      output_size=keep.numel())  # [E']
        weight = value / divisor.index_select(0, src)  # 1 for own columns
        if self.normalize:
            row_sum = torch.segment_reduce(weight, 'sum', offsets=rowptr)
            weight = weight / row_sum.index_select(0, dst)
        return rowptr, src, dst, weight


class _Positions:
    # The dataset of LADIESLoader: positions into 'input_nodes'. Batches of
    # positions pass through unchanged ('__getitems__'), so a batch stays
    # one tensor from the batch sampler to the sampler.
    def __init__(self, num_items: int) -> None:
        self.num_items = num_items

    def __len__(self) -> int:
        return self.num_items

    def __getitem__(self, index: int) -> int:
        return index

    def __getitems__(self, index: Any) -> Any:
        return index


class _BatchSampler(Sampler):
    # Yields the batches of positions as tensors (slices of one permutation
    # per epoch), instead of lists of Python ints built one by one.
    def __init__(self, num_items: int, batch_size: int, shuffle: bool,
                 drop_last: bool,
                 generator: Optional[torch.Generator]) -> None:
        self.num_items = num_items
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_items // self.batch_size
        return -(-self.num_items // self.batch_size)

    def __iter__(self) -> Any:
        if self.shuffle:
            order = torch.randperm(self.num_items, generator=self.generator)
        else:
            order = torch.arange(self.num_items)
        return iter(order.split(self.batch_size)[:len(self)])


class LADIESLoader(DataLoader):
    r"""The layer-wise importance sampling loader from the `"Layer-Dependent
    Importance Sampling for Training Deep and Large Graph Convolutional
    Networks" <https://arxiv.org/abs/1911.07323>`_ paper (LADIES), with the
    layer-independent sampling of the `"FastGCN: Fast Learning with Graph
    Convolutional Networks via Importance Sampling"
    <https://arxiv.org/abs/1801.10247>`_ paper as :obj:`mode='fastgcn'`.

    The loader works on the normalized adjacency with self-loops

    .. math::
        \mathbf{P} = \mathbf{\tilde{D}}^{-1/2} (\mathbf{A} + \mathbf{I})
        \mathbf{\tilde{D}}^{-1/2},

    computed once from :obj:`data`'s structure: existing self-loops and edge
    weights are ignored, and rows are targets (:math:`P_{ij}` belongs to the
    edge :math:`j \rightarrow i`, :math:`\tilde{d}_i` is the in-degree plus
    one, as in PyG's :class:`~torch_geometric.nn.conv.GCNConv`), so a
    directed graph propagates along its edges.

    Node sets are sampled from the top layer down. The output nodes
    :math:`\mathcal{U}_L` are a batch of :obj:`input_nodes`. Given the nodes
    :math:`\mathcal{U}_\ell` of layer :math:`\ell`, the input set
    :math:`\mathcal{U}_{\ell - 1}` holds :math:`\mathcal{U}_\ell` itself
    (first, so targets keep their own rows) and :math:`s` nodes drawn with
    probabilities

    .. math::
        p_i \propto \| \mathbf{P}_{\mathcal{U}_\ell, i} \|^2
        \quad \textrm{(LADIES)}, \qquad
        p_i \propto \| \mathbf{P}_{:, i} \|^2 \quad \textrm{(FastGCN)},

    LADIES among the nodes :math:`i \notin \mathcal{U}_\ell`, FastGCN among
    all nodes (a drawn node of :math:`\mathcal{U}_\ell` stays a target).

    With :obj:`sampler='systematic'`, they are drawn without replacement by
    systematic PPS sampling with exact inclusion probabilities
    :math:`\pi_i = \min(1, c \cdot p_i)`, :math:`\sum_i \pi_i = s` (see
    :func:`~pyg_gas.loader.pps.systematic_sampling`), and the sampled
    adjacency of a target :math:`u \in \mathcal{U}_\ell` is

    .. math::
        \hat{P}_{uj} = P_{uj} \textrm{ for } j \in \mathcal{U}_\ell, \qquad
        \hat{P}_{ui} = \frac{P_{ui}}{\pi_i} \textrm{ for sampled }
        i \notin \mathcal{U}_\ell,

    so that :math:`\sum_j \hat{P}_{uj} \mathbf{h}_j` is an exactly unbiased
    estimate of :math:`(\mathbf{P} \mathbf{H})_u`. With
    :obj:`sampler='multinomial'`, they are drawn by
    :func:`torch.multinomial` without replacement and weighted by
    :math:`P_{ui} / (s \cdot p_i)`, as in the authors' code, which is
    unbiased only approximately. FastGCN drops sampled nodes without an edge
    into :math:`\mathcal{U}_\ell` (their column would be zero), so it may
    return fewer than :math:`s` new nodes. With :obj:`normalize=True`, each
    target row of :math:`\hat{\mathbf{P}}` is then divided by its sum, as in
    the paper's implementation. The number of nodes per layer is bounded:
    :math:`n_\ell \leq n_{\ell + 1} + \textrm{num\_samples}[\ell]`, with
    equality for LADIES whenever the neighbourhood has enough nodes.

    The loader yields :class:`~pyg_gas.data.LayerwiseData` batches, for
    :meth:`pyg_gas.ScalableGNN.forward_layerwise`:

    .. code-block:: python

        loader = LADIESLoader(data, data.train_mask, batch_size=512,
                              num_samples=[512, 512], num_layers=2)
        for batch in loader:
            out = model.forward_layerwise(batch.x, batch.adjs_t)
            loss = F.cross_entropy(out, batch.y[:batch.batch_size])

    :meth:`sample` draws one batch for given output nodes. Sampling runs on
    the graph's device, so :obj:`num_workers > 0` needs :obj:`data` on CPU.
    ``docs/ladies.md`` derives the estimator and the sampler, and gives the
    measured throughput and how to get it (in short: sample in the main
    process, :obj:`num_workers=0`).

    Args:
        data (Data): The graph, with :obj:`edge_index` or :obj:`adj_t`.
        input_nodes (torch.Tensor, optional): The output nodes to iterate
            over, as indices or as a boolean mask; all nodes if :obj:`None`.
            (default: :obj:`None`)
        batch_size (int, optional): The number of output nodes per batch.
            (default: :obj:`512`)
        num_samples (int or [int], optional): The number of nodes sampled
            for each layer's input set, besides the layer's own nodes: one
            value for all layers, or one per layer where :obj:`num_samples[l]`
            is for the input set of layer :obj:`l`, :obj:`0` being the model's
            input layer. (default: :obj:`512`)
        num_layers (int, optional): The number of layers :math:`L`.
            (default: :obj:`2`)
        mode (str, optional): :obj:`'ladies'` (layer-dependent) or
            :obj:`'fastgcn'` (layer-independent) probabilities.
            (default: :obj:`'ladies'`)
        sampler (str, optional): :obj:`'systematic'` (exact inclusion
            probabilities, unbiased) or :obj:`'multinomial'`.
            (default: :obj:`'systematic'`)
        normalize (bool, optional): Row-normalizes the sampled adjacencies.
            (default: :obj:`True`)
        shuffle (bool, optional): Shuffles the output nodes every epoch.
            (default: :obj:`False`)
        seed (int, optional): Seeds one :class:`torch.Generator` for the
            loader, used for shuffling and sampling, so that two loaders with
            the same seed yield the same batches. With :obj:`num_workers > 0`,
            each worker samples with a generator seeded by the worker seed
            that the :class:`~torch.utils.data.DataLoader` draws from it, so
            seeded runs repeat exactly as well (for the same
            :obj:`num_workers`). If :obj:`None`, the global RNG is used.
            (default: :obj:`None`)
        check_finite (bool, optional): Raises a :class:`ValueError` if
            :obj:`x` holds :obj:`nan` or :obj:`inf` values, which would
            silently spread through every layer. One pass, at construction.
            (default: :obj:`True`)
        **kwargs (optional): Arguments of
            :class:`torch.utils.data.DataLoader`, such as
            :obj:`num_workers`.
    """
    def __init__(
        self,
        data: Data,
        input_nodes: Optional[Tensor] = None,
        batch_size: int = 512,
        num_samples: Union[int, List[int]] = 512,
        num_layers: int = 2,
        mode: Mode = 'ladies',
        sampler: SamplerKind = 'systematic',
        normalize: bool = True,
        shuffle: bool = False,
        seed: Optional[int] = None,
        check_finite: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.pop('collate_fn', None)
        kwargs.pop('dataset', None)
        batch_size = check_int('batch_size', batch_size)
        self.node_sampler = LADIESSampler(data, num_samples, num_layers, mode,
                                          sampler, normalize, input_nodes,
                                          seed, check_finite)
        device = self.node_sampler.device
        if seed is not None:
            if kwargs.get('generator') is not None:
                raise ValueError("Pass either 'seed' or 'generator', not both")
            kwargs['generator'] = torch.Generator().manual_seed(seed)
            if device.type == 'cpu':  # One for both.
                self.node_sampler.generator = kwargs['generator']
        if device.type != 'cpu' and kwargs.get('num_workers', 0) > 0:
            raise ValueError(f"'num_workers' > 0 needs the graph on CPU "
                             f"(got device {device})")
        self.data = data
        self.input_nodes = self.node_sampler.input_nodes
        self.num_samples = self.node_sampler.num_samples
        self.num_layers = num_layers
        self.mode = mode
        self.seed = seed
        dataset = _Positions(self.input_nodes.numel())
        if kwargs.get('batch_sampler') is None:
            # Batches are tensors from the start; the DataLoader's default
            # path would build every batch as a list of ints, one by one:
            kwargs['batch_sampler'] = _BatchSampler(
                len(dataset), batch_size, shuffle,
                bool(kwargs.pop('drop_last', False)), kwargs.get('generator'))
        super().__init__(dataset, collate_fn=self.node_sampler, **kwargs)

    # With a batch sampler, the DataLoader sets 'batch_size' to None and
    # 'drop_last' to False; the loader's own batch sampler knows both. The
    # setters only take the DataLoader's values (it forbids setting them
    # after its '__init__').
    @property
    def batch_size(self) -> Optional[int]:
        r"""The number of output nodes per batch (:obj:`None` with a custom
        :obj:`batch_sampler`)."""
        if isinstance(self.batch_sampler, _BatchSampler):
            return self.batch_sampler.batch_size
        return self._batch_size

    @batch_size.setter
    def batch_size(self, value: Optional[int]) -> None:
        self._batch_size = value

    @property
    def drop_last(self) -> bool:
        r"""Whether the last incomplete batch is dropped."""
        if isinstance(self.batch_sampler, _BatchSampler):
            return self.batch_sampler.drop_last
        return self._drop_last

    @drop_last.setter
    def drop_last(self, value: bool) -> None:
        self._drop_last = value

    @property
    def collater(self) -> LADIESSampler:
        r"""The loader's :obj:`collate_fn`, which turns a batch of positions
        in :obj:`input_nodes` into a :class:`~pyg_gas.data.LayerwiseData`:
        an alias of :obj:`node_sampler`."""
        return self.node_sampler

    def __iter__(self) -> Iterator[LayerwiseData]:
        if self.num_workers > 0:
            return super().__iter__()
        # In the main process, batches go straight from the batch sampler to
        # the sampler: the DataLoader's iterator costs some 50 us a batch,
        # a tenth of sampling one.
        return self._iter_main()

    def _iter_main(self) -> Iterator[LayerwiseData]:
        pin = self.pin_memory and torch.cuda.is_available()
        for index in self.batch_sampler:
            batch = self.node_sampler(index)
            yield batch.pin_memory() if pin else batch

    def sample(self, nodes: Tensor) -> LayerwiseData:
        r"""Samples one mini-batch whose output nodes are :obj:`nodes`."""
        return self.node_sampler.sample(nodes)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_nodes='
                f'{self.node_sampler.num_nodes}, num_inputs='
                f'{self.input_nodes.numel()}, batch_size={self.batch_size}, '
                f'num_samples={self.num_samples}, mode={self.mode!r}, '
                f'sampler={self.node_sampler.sampler!r})')
