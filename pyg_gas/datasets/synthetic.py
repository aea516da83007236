r"""Synthetic graphs at OGB scale: a degree-corrected planted partition with
power-law degrees, built in :math:`O(E)` memory and :math:`O(E \log N)`
time."""
import hashlib
import json
import os.path as osp
import pickle
import time
import zipfile
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Tuple,
)

import torch
from torch import Tensor
from torch_geometric.data import Data

from pyg_gas import utils
from pyg_gas.checks import check_int, check_number

#: Presets of :func:`synthetic_graph`, named after the OGB graphs they match
#: in size: nodes, undirected edges, features, classes and split sizes.
SYNTHETIC_PRESETS: Dict[str, Dict[str, Any]] = {
    'synthetic-arxiv': dict(num_nodes=169_343, num_edges=1_166_243,
                            num_features=128, num_classes=40,
                            homophily=0.65, split=(0.537, 0.176)),
    'synthetic-products': dict(num_nodes=2_449_029, num_edges=61_859_140,
                               num_features=100, num_classes=47,
                               homophily=0.8, split=(0.080, 0.016)),
}

#: Bumped whenever the generator changes what a seed produces, so that
#: cached graphs of an older version are not reused.
GENERATOR_VERSION = 1

_CHUNK = 1 << 23  # Node pairs drawn per step (the graph a seed gives).
#: Node pairs computed at a time within a step of :data:`_CHUNK`, rows of
#: node arrays, and numbers of features: it bounds the temporaries (about
#: 70 bytes a pair) whatever the graph's size, and changes none of the
#: draws.
_STEP = 1 << 18

#: Makes a zero-filled array of a shape and type: in memory, or in a
#: memory-mapped scratch file (:func:`pyg_gas.utils.scratch_tensor`).
NewArray = Callable[[Tuple[int, ...], torch.dtype], Tensor]


def _in_memory(shape: Tuple[int, ...], dtype: torch.dtype) -> Tensor:
    return torch.zeros(shape, dtype=dtype)


def _ranges(n: int, step: Optional[int] = None,
            least: int = 1) -> Iterator[Tuple[int, int]]:
    # [0, n) in ranges of 'step' ('_STEP'), the last one of 'least' at least
    # (or all of [0, n)).
    step = _STEP if step is None else step
    lo = 0
    while lo < n:
        hi = min(lo + step, n)
        if n - hi < least:
            hi = n
        yield lo, hi
        lo = hi


def _fork(gen: torch.Generator, count: int,
          dtype: torch.dtype) -> torch.Generator:
    # A copy of 'gen' as it is, and 'gen' moved past the 'count' numbers of
    # 'torch.rand(count, dtype=dtype)': drawn in steps and dropped, which
    # moves it as far as one draw of all (each number takes the same share
    # of the generator's stream).
    fork = torch.Generator()
    fork.set_state(gen.get_state())
    for lo, hi in _ranges(count):
        torch.rand(hi - lo, generator=gen, dtype=dtype)
    return fork


def _check_fraction(name: str, value: Any) -> float:
    return float(check_number(name, value, 0, 1, kind='a number in [0, 1]'))


def _pair_chunks(count: int, cdf: Tensor, bounds: Tensor, order: Tensor,
                 label: Tensor, homophily: float,
                 gen: torch.Generator) -> Iterator[Tensor]:
    # Draws 'count' node pairs and yields their keys min * N + max, without
    # self-loops (so possibly fewer than 'count'), '_STEP' pairs at a time.
    # 'cdf' is the cumulative degree weight of the nodes in 'order' (grouped
    # by class), and 'bounds[:, k]' is class k's range of it.
    num_nodes = cdf.numel()
    for start in range(0, count, _CHUNK):
        size = min(_CHUNK, count - start)
        # A step draws three streams of 'size' numbers, one after the other
        # (first endpoints, second endpoints, within-class coins), and reads
        # them '_STEP' at a time from forks of the generator:
        first = _fork(gen, size, torch.float64)
        second = _fork(gen, size, torch.float64)
        coin = _fork(gen, size, torch.get_default_dtype())
        for lo, hi in _ranges(size):
            # One endpoint by degree weight over all nodes:
            pos = torch.searchsorted(cdf, torch.rand(
                hi - lo, generator=first, dtype=torch.float64))
            u = order.index_select(0, pos.clamp_(max=num_nodes - 1))
            # The other: by degree weight within u's class with probability
            # 'homophily', else over all nodes:
            c = label.index_select(0, u)
            lo_c, hi_c = bounds[0].index_select(0, c), bounds[1].index_select(
                0, c)
            r = torch.rand(hi - lo, generator=second, dtype=torch.float64)
            intra = torch.rand(hi - lo, generator=coin) < homophily
            r = torch.where(intra, lo_c + r * (hi_c - lo_c), r)
            del c, lo_c, hi_c, intra
            pos = torch.searchsorted(cdf, r)
            v = order.index_select(0, pos.clamp_(max=num_nodes - 1))
            del pos, r
            key = torch.minimum(u, v) * num_nodes + torch.maximum(u, v)
            yield key[u != v]


class EdgeKeys:
    r"""The set of distinct undirected edges that :class:`SyntheticDraws`
    fills, as sorted keys :obj:`min * N + max`, held in memory. Writers
    that keep the set on disk implement the same three methods (see
    :func:`pyg_gas.storage.prepare_synthetic`)."""
    def __init__(self) -> None:
        self.key = torch.empty(0, dtype=torch.long)

    def __len__(self) -> int:
        r"""The number of distinct keys."""
        return self.key.numel()

    def add(self, chunks: Iterable[Tensor]) -> None:
        r"""Adds the keys of :obj:`chunks`, merging duplicates."""
        new = list(chunks)
        new = torch.cat(new) if new else torch.empty(0, dtype=torch.long)
        self.key = torch.unique(torch.cat([self.key, new]))

    def drop(self, positions: Tensor) -> None:
        r"""Removes the keys at :obj:`positions` of the sorted set."""
        keep = torch.ones(self.key.numel(), dtype=torch.bool)
        keep[positions] = False
        self.key = self.key[keep]

    def edge_index(self, num_nodes: int) -> Tensor:
        r"""Both directions of every edge, :obj:`[2, 2 * E]`."""
        row, col = self.key // num_nodes, self.key % num_nodes
        return torch.stack([torch.cat([row, col]), torch.cat([col, row])])


class SyntheticDraws:
    r"""The random draws of :func:`synthetic_graph`, one step at a time, for
    writers that store the graph chunk by chunk instead of building it in
    memory (see :func:`pyg_gas.storage.prepare_synthetic`). The steps must
    run in this order, as they draw from one generator in turn; the same
    arguments then give the graph :func:`synthetic_graph` returns::

        draws = SyntheticDraws(num_nodes=1000, avg_degree=10.0)
        y = draws.classes()  # [N]
        draws.edges(keys)  # fills an EdgeKeys-like set
        for x in draws.features():  # row chunks [n, F], in node order
            ...
        train_mask, val_mask, test_mask = draws.split()

    The arguments are those of :func:`synthetic_graph`, and
    :obj:`workspace`: a directory where the arrays of one entry a node or an
    edge (the classes, the degree weights, random permutations, the masks)
    are made as memory-mapped scratch files
    (:func:`pyg_gas.utils.scratch_tensor`) instead of in memory, so that
    the draws hold memory bounded by a step of :obj:`2**18` pairs or rows
    whatever the graph's size. The draws are the same either way. It may
    also be set as the attribute :obj:`workspace` before the first step.
    """
    STEPS = ('classes', 'edges', 'features', 'split')

    def __init__(
        self,
        num_nodes: int,
        avg_degree: Optional[float] = None,
        num_classes: int = 10,
        num_features: int = 64,
        homophily: float = 0.8,
        seed: int = 0,
        num_edges: Optional[int] = None,
        power: float = 0.7,
        noise: float = 6.0,
        split: Tuple[float, float] = (0.6, 0.2),
        log: bool = False,
        workspace: Optional[str] = None,
    ) -> None:
        (self.num_edges, self.homophily, self.train_frac,
         self.val_frac) = _check_arguments(num_nodes, avg_degree,
                                           num_classes, num_features,
                                           homophily, seed, num_edges, power,
                                           noise, split)
        self.num_nodes = num_nodes
        self.num_classes = num_classes
        self.num_features = num_features
        self.power = power
        self.noise = noise
        self.gen = torch.Generator().manual_seed(seed)
        self.report = utils.log if log else (lambda msg: None)
        self.t0 = time.perf_counter()
        self.y: Optional[Tensor] = None
        self.workspace = workspace
        self._done = 0

    def _new(self, shape: Tuple[int, ...], dtype: torch.dtype) -> Tensor:
        # A zero-filled array: a scratch file in the workspace, if any.
        if self.workspace is None:
            return _in_memory(shape, dtype)
        return utils.scratch_tensor(shape, dtype, self.workspace)

    def _step(self, name: str) -> None:
        expected = self.STEPS[self._done] if self._done < len(
            self.STEPS) else None
        if name != expected:
            raise RuntimeError(f"'SyntheticDraws.{name}()' called out of "
                               f"order (expected the steps "
                               f"{list(self.STEPS)} once each, in turn)")
        self._done += 1

    def classes(self) -> Tensor:
        r"""Draws the classes :obj:`y` :obj:`[N]`."""
        self._step('classes')
        self.y = _draw_classes(self.num_nodes, self.num_classes, self.gen,
                               self._new)
        return self.y

    def edges(self, keys: Any) -> Any:
        r"""Draws node pairs into :obj:`keys` (an :class:`EdgeKeys` or a
        set with its methods) until it holds exactly :obj:`num_edges`
        distinct ones, and returns it."""
        self._step('edges')
        gen, y, num_edges = self.gen, self.y, self.num_edges
        order, cdf, bounds = _degree_weights(y, self.num_classes, self.power,
                                             gen, self._new)
        for _ in range(100):
            missing = num_edges - len(keys)
            if missing <= 0:
                break
            draws = int(missing * 1.05) + 1000
            keys.add(_pair_chunks(draws, cdf, bounds, order, y,
                                  self.homophily, gen))
            self.report(f'synthetic: {len(keys):,} of {num_edges:,} edges '
                        f'({time.perf_counter() - self.t0:.1f}s)')
        else:
            raise RuntimeError(f'Could not draw {num_edges} distinct edges; '
                               f'lower the degree or the homophily')
        if len(keys) > num_edges:  # Drop a random excess, keep the order.
            perm = _randperm(len(keys), gen, self._new)
            drop = perm[:len(keys) - num_edges].long()
            del perm
            keys.drop(drop)
        self.report(f'synthetic: edges done '
                    f'({time.perf_counter() - self.t0:.1f}s)')
        return keys

    def features(self, out: Optional[Tensor] = None) -> Iterator[Tensor]:
        r"""Draws the features (class centroid plus noise) and yields them
        in row chunks, in node order; with :obj:`out` (:obj:`[N, F]`), the
        chunks are views of it."""
        self._step('features')
        return _feature_chunks(self.y, self.num_classes, self.num_features,
                               self.noise, self.gen, out)

    def split(self) -> List[Tensor]:
        r"""Draws the random split: the training, validation and test
        masks."""
        self._step('split')
        return _draw_split(self.num_nodes, self.train_frac, self.val_frac,
                           self.gen, self._new)


def synthetic_graph(
    num_nodes: int,
    avg_degree: Optional[float] = None,
    num_classes: int = 10,
    num_features: int = 64,
    homophily: float = 0.8,
    seed: int = 0,
    num_edges: Optional[int] = None,
    power: float = 0.7,
    noise: float = 6.0,
    split: Tuple[float, float] = (0.6, 0.2),
    log: bool = False,
) -> Data:
    r"""A node classification graph from a degree-corrected planted
    partition with power-law degrees, built in :math:`O(E)` memory.

    Every node :math:`i` gets a class :math:`c_i` (class sizes mildly
    skewed, :math:`\propto (k + 1)^{-1/2}`) and a degree weight
    :math:`\theta_i = (r_i + 10)^{-\textrm{power}}` over a random ranking
    :math:`r` of the nodes, which gives a power-law degree distribution
    (Chung-Lu). Each undirected edge picks one endpoint :math:`u \propto
    \theta`; with probability :obj:`homophily` the other endpoint is drawn
    :math:`\propto \theta` among :math:`u`'s class, and otherwise among all
    nodes. Both draws are binary searches into cumulative weights, so the
    cost is :math:`O(E \log N)` time and :math:`O(N + E)` memory, unlike a
    stochastic block model with its :math:`O(N^2)` edge probabilities.
    Self-loops are dropped and duplicates merged, and edges are drawn until
    the graph has exactly :obj:`num_edges` undirected edges. The edge
    homophily is then about :math:`h + (1 - h) \sum_k w_k^2` for class
    shares :math:`w_k`.

    Node features are the class centroid plus Gaussian noise,
    :math:`\mathbf{x}_i = \boldsymbol{\mu}_{c_i} + \sigma
    \boldsymbol{\epsilon}_i` with :math:`\boldsymbol{\mu}_k,
    \boldsymbol{\epsilon}_i \sim \mathcal{N}(\mathbf{0}, \mathbf{I})`: with
    the default noise a node's own features say little about its class, and
    averaging over its (mostly same-class) neighbours says much more, so a
    GNN learns something a plain MLP cannot.

    Everything is drawn from one :class:`torch.Generator` seeded with
    :obj:`seed`: the same arguments give the same graph.

    Args:
        num_nodes (int): The number of nodes :math:`N`.
        avg_degree (float, optional): The mean degree :math:`2E / N`. Give
            this or :obj:`num_edges`. (default: :obj:`None`)
        num_classes (int, optional): The number of classes.
            (default: :obj:`10`)
        num_features (int, optional): The number of node features.
            (default: :obj:`64`)
        homophily (float, optional): The probability that an edge is drawn
            within its first endpoint's class. (default: :obj:`0.8`)
        seed (int, optional): The random seed. (default: :obj:`0`)
        num_edges (int, optional): The number of undirected edges :math:`E`,
            instead of :obj:`avg_degree`. (default: :obj:`None`)
        power (float, optional): The exponent of the degree weights; larger
            values give heavier hubs. (default: :obj:`0.7`)
        noise (float, optional): The feature noise :math:`\sigma`.
            (default: :obj:`6.0`)
        split (Tuple[float, float], optional): The fractions of nodes in the
            random training and validation sets; the rest is the test set.
            (default: :obj:`(0.6, 0.2)`)
        log (bool, optional): If :obj:`True`, reports progress on stderr.
            (default: :obj:`False`)

    Returns:
        A :class:`~torch_geometric.data.Data` with :obj:`x` (float32),
        :obj:`edge_index` (int64, both directions of every edge), :obj:`y`,
        :obj:`train_mask`, :obj:`val_mask`, :obj:`test_mask`,
        :obj:`num_classes` and :obj:`name` (:obj:`'synthetic'`).
    """
    draws = SyntheticDraws(num_nodes, avg_degree, num_classes, num_features,
                           homophily, seed, num_edges, power, noise, split,
                           log)
    # The draws follow one another from one generator, in this order:
    y = draws.classes()  # [N]
    edge_index = draws.edges(EdgeKeys()).edge_index(num_nodes)  # [2, 2 * E]
    x = torch.empty(num_nodes, num_features)
    for _ in draws.features(out=x):  # Fills x, [N, F].
        pass
    masks = draws.split()

    data = Data(x=x, edge_index=edge_index, y=y, train_mask=masks[0],
                val_mask=masks[1], test_mask=masks[2], num_nodes=num_nodes)
    data.num_classes = num_classes
    data.name = 'synthetic'
    draws.report(f'synthetic: {num_nodes:,} nodes, {draws.num_edges:,} edges '
                 f'in {time.perf_counter() - draws.t0:.1f}s')
    return data


def _check_arguments(
    num_nodes: Any,
    avg_degree: Any,
    num_classes: Any,
    num_features: Any,
    homophily: Any,
    seed: Any,
    num_edges: Any,
    power: Any,
    noise: Any,
    split: Any,
) -> Tuple[int, float, float, float]:
    # Checks the arguments of 'synthetic_graph' and returns the number of
    # edges, the homophily and the training and validation fractions.
    check_int('num_nodes', num_nodes, 2)
    check_int('num_classes', num_classes, 1)
    check_int('num_features', num_features, 1)
    check_int('seed', seed, 0)
    homophily = _check_fraction('homophily', homophily)
    if num_classes > num_nodes:
        raise ValueError(f"'num_classes' must be at most 'num_nodes' "
                         f"({num_nodes}) (got {num_classes})")
    if (avg_degree is None) == (num_edges is None):
        raise ValueError("Pass exactly one of 'avg_degree' and 'num_edges'")
    if num_edges is None:
        check_number('avg_degree', avg_degree, 0, open_min=True,
                     expected='a positive number')
        num_edges = round(float(avg_degree) * num_nodes / 2)
    num_edges = check_int('num_edges', num_edges, 1)
    # Drawing by rejection converges quickly only well below a full graph:
    max_edges = num_nodes * (num_nodes - 1) // 4
    if num_edges > max_edges:
        raise ValueError(f"'num_edges' must be at most a half of all node "
                         f"pairs ({max_edges} for {num_nodes} nodes; got "
                         f"{num_edges}, i.e. a mean degree of "
                         f"{2 * num_edges / num_nodes:.1f})")
    check_number('power', power, 0, 1, expected='in [0, 1]')
    check_number('noise', noise, 0, expected='a non-negative number')
    if not isinstance(split, (tuple, list)) or len(split) != 2:
        raise ValueError(f"'split' must be a pair (train, val) of fractions "
                         f"(got {split!r})")
    train_frac = _check_fraction('split[0]', split[0])
    val_frac = _check_fraction('split[1]', split[1])
    if train_frac + val_frac > 1.0:
        raise ValueError(f"'split' fractions must sum to at most 1 "
                         f"(got {train_frac} + {val_frac})")
    return num_edges, homophily, train_frac, val_frac


def _draw_classes(num_nodes: int, num_classes: int, gen: torch.Generator,
                  new: NewArray = _in_memory) -> Tensor:
    # Classes, mildly skewed in size, and every class has a node. Drawn in
    # pieces, they are the draws of one piece: pieces of one sample are
    # drawn another way, so the last piece holds two at least.
    share = (torch.arange(num_classes, dtype=torch.float64) + 1).pow(-0.5)
    share /= share.sum()
    y = new((num_nodes, ), torch.long)  # [N]
    for lo, hi in _ranges(num_nodes, least=2):
        torch.multinomial(share, hi - lo, replacement=True, generator=gen,
                          out=y[lo:hi])
    perm = _randperm(num_nodes, gen, new)
    y[perm[:num_classes].long()] = torch.arange(num_classes)
    return y


def _randperm(n: int, gen: torch.Generator,
              new: NewArray = _in_memory) -> Tensor:
    # 'torch.randperm(n)' in 32-bit integers where they hold it: the same
    # permutation (one shuffle algorithm for every type) in half the memory,
    # 4 bytes an edge when the excess edges are dropped.
    dtype = torch.int32 if n <= 2**31 - 1 else torch.long
    return torch.randperm(n, generator=gen, out=new((n, ), dtype))


def _degree_weights(y: Tensor, num_classes: int, power: float,
                    gen: torch.Generator, new: NewArray = _in_memory,
                    ) -> Tuple[Tensor, Tensor, Tensor]:
    # Power-law degree weights over a random ranking, cumulated with the
    # nodes grouped by class: returns that order of the nodes [N], the
    # normalized cumulative weights [N], and each class's range of them
    # [2, C]. Computed '_STEP' nodes at a time; the sums run in the same
    # order as one 'cumsum' of all, so they are the same numbers.
    from pyg_gas.partition import parts_to_perm

    N = y.numel()
    rank = _randperm(N, gen, new)  # [N]
    order = parts_to_perm(y, num_classes, out=new((N, ), torch.long))[0]
    cdf = new((N, ), torch.float64)  # [N]
    carry = 0.0
    for lo, hi in _ranges(N):
        theta = (rank.index_select(0, order[lo:hi]).to(torch.float64) +
                 10.0).pow_(-float(power))
        theta[0] += carry
        torch.cumsum(theta, 0, out=cdf[lo:hi])
        carry = float(cdf[hi - 1])
    del rank
    total = cdf[-1].clone()
    for lo, hi in _ranges(N):
        cdf[lo:hi] /= total
    end = torch.bincount(y, minlength=num_classes).cumsum(0)  # [C]
    start = torch.cat([end.new_zeros(1), end[:-1]])
    upper = cdf.index_select(0, end - 1)
    lower = torch.where(start > 0, cdf.index_select(0, (start - 1).clamp(
        min=0)), torch.zeros_like(upper))
    bounds = torch.stack([lower, upper])  # [2, C]
    return order, cdf, bounds


def _feature_chunks(y: Tensor, num_classes: int, num_features: int,
                    noise: float, gen: torch.Generator,
                    out: Optional[Tensor] = None) -> Iterator[Tensor]:
    # Features: class centroid plus noise, drawn chunk by chunk (into 'out'
    # if given).
    N = y.numel()
    centroids = torch.randn(num_classes, num_features, generator=gen)
    step = max(1, _CHUNK // num_features)  # The rows of one draw.
    # 'torch.randn' draws its numbers in blocks of 16, so pieces of whole
    # blocks (the last of 16 numbers at least) draw the numbers of the
    # one draw: pieces of a multiple of 16 rows.
    rows = max(16, _STEP // num_features // 16 * 16)
    for lo in range(0, N, step):
        hi = min(lo + step, N)
        for a, b in _ranges(hi - lo, rows, -(-16 // num_features)):
            a, b = lo + a, lo + b
            if out is None:
                x = torch.randn(b - a, num_features, generator=gen)
            else:
                x = torch.randn(b - a, num_features, generator=gen,
                                out=out[a:b])
            x.mul_(float(noise)).add_(centroids.index_select(0, y[a:b]))
            yield x


def _draw_split(num_nodes: int, train_frac: float, val_frac: float,
                gen: torch.Generator,
                new: NewArray = _in_memory) -> List[Tensor]:
    # A random split: the training, validation and test masks.
    perm = _randperm(num_nodes, gen, new)
    num_train = int(round(train_frac * num_nodes))
    num_val = int(round(val_frac * num_nodes))
    masks = []
    for lo, hi in [(0, num_train), (num_train, num_train + num_val),
                   (num_train + num_val, num_nodes)]:
        mask = new((num_nodes, ), torch.bool)
        for a, b in _ranges(hi - lo):
            mask[perm[lo + a:lo + b].long()] = True
        masks.append(mask)
    return masks


def _read_cache(path: str, do_log: bool) -> Optional[Data]:
    # The cached graph, or None if there is none or it can not be read (a
    # derived cache: the caller recomputes and rewrites it).
    if not osp.exists(path):
        return None
    try:
        stored = torch.load(path, weights_only=True)
        data = Data(**stored['tensors'])
        data.num_classes = int(stored['num_classes'])
        _check_cached(data)
        return data
    except (RuntimeError, OSError, EOFError, KeyError, TypeError,
            ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
        if do_log:
            utils.log(f"The cached graph '{path}' can not be read "
                      f"({type(e).__name__}: {e}); generating it again")
        return None


#: What a cached graph holds, and its shape: :obj:`'N'` one row per node.
_CACHED = {'x': ('N', -1), 'edge_index': (2, -1), 'y': ('N', ),
           'train_mask': ('N', ), 'val_mask': ('N', ), 'test_mask': ('N', )}


def _check_cached(data: Data) -> None:
    # A cache that lost an attribute or holds rows of the wrong number is
    # not the graph it is named after.
    num_nodes = data.num_nodes
    for key, shape in _CACHED.items():
        value = data.get(key)
        if not isinstance(value, Tensor) or value.dim() != len(shape):
            raise KeyError(f"no '{key}' of {len(shape)} dimensions")
        for size, expected in zip(value.shape, shape):
            expected = num_nodes if expected == 'N' else expected
            if expected != -1 and size != expected:
                raise ValueError(f"'{key}' has shape {list(value.shape)}")


def synthetic_params(name: str = 'synthetic',
                     **kwargs: Any) -> Tuple[str, Dict[str, Any]]:
    r"""Resolves a synthetic dataset's name and options, as
    :func:`load_synthetic` takes them, into its lower-case name and the
    arguments of :func:`synthetic_graph`: :obj:`'synthetic'` with
    :obj:`**kwargs`, or a preset of :data:`SYNTHETIC_PRESETS` whose values
    :obj:`**kwargs` override."""
    key = name.strip().lower()
    if key == 'synthetic':
        if 'num_nodes' not in kwargs:
            raise ValueError("'synthetic' needs 'num_nodes' (and "
                             "'avg_degree' or 'num_edges'); or use one of "
                             f"{sorted(SYNTHETIC_PRESETS)}")
        params = dict(kwargs)
    elif key in SYNTHETIC_PRESETS:
        params = dict(SYNTHETIC_PRESETS[key])
        if 'avg_degree' in kwargs:
            params.pop('num_edges')
        params.update(kwargs)
    else:
        raise ValueError(f"Unknown synthetic dataset '{name}' (expected "
                         f"'synthetic' or one of "
                         f"{sorted(SYNTHETIC_PRESETS)})")
    return key, params


def load_synthetic(name: str = 'synthetic', root: Optional[str] = None,
                   **kwargs: Any) -> Data:
    r"""Loads a synthetic graph: :obj:`'synthetic'` with the arguments of
    :func:`synthetic_graph`, or a preset of :data:`SYNTHETIC_PRESETS`
    (:obj:`'synthetic-arxiv'`, :obj:`'synthetic-products'`), whose values
    :obj:`**kwargs` may override (e.g. :obj:`seed`).

    If :obj:`root` is given, the graph is cached there as a file named
    after its arguments (written atomically) and read back on later calls.
    """
    key, params = synthetic_params(name, **kwargs)
    params.pop('log', None)
    do_log = bool(kwargs.get('log', False))

    path = None
    if root is not None:
        blob = json.dumps(dict(params, version=GENERATOR_VERSION),
                          sort_keys=True, default=list)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
        path = osp.join(root, 'synthetic', f'{key}-{digest}.pt')
        data = _read_cache(path, do_log)
        if data is not None:
            data.name = key
            return data

    data = synthetic_graph(**params, log=do_log)
    data.name = key
    if path is not None:
        stored = dict(tensors={k: v for k, v in data.items()
                               if isinstance(v, Tensor)},
                      num_classes=int(data.num_classes))
        stored['tensors']['num_nodes'] = data.num_nodes
        utils.atomic_write(path, lambda f: torch.save(stored, f))
    return data
