r"""A catalogue of bad inputs to the public API and the ``pyg-gas`` command,
and what each one gets: a clear error, a correct handling, or a finding.

Every bad input must get a clear error: a :class:`ValueError` or
:class:`TypeError` (or :class:`FileNotFoundError` / :class:`ImportError`
where that is the honest type), raised by :mod:`pyg_gas` itself, whose
message names the argument, what was received and what was expected. The
command must turn a user error into one line ``pyg-gas: error: ...`` with
exit status 2, before any training. Some inputs are not errors but must be
handled correctly (a corrupt cache is recomputed, a changed learning rate
on resume is applied and logged): they count as *handled*.

Each :class:`Case` runs one bad call. :func:`outcome` classifies it:

* ``clear: Type: message`` (or ``clear: exit 2: pyg-gas: error: ...``);
* ``handled: ...``, a correct answer that is not an error;
* ``SILENT (...)``, no error (or training started), a finding;
* ``OBSCURE: Type: message``, an error from deep inside torch or PyG, of
  another type, without the argument's name, or a traceback from the
  command, a finding.

Run it to print the markdown table and a summary line::

    python scripts/bad_inputs.py            # all cases
    python scripts/bad_inputs.py -k metis   # cases whose area or input
                                            # contain 'metis'

``tests/test_bad_inputs.py`` asserts that every case is clear or handled.
"""
import argparse
import atexit
import contextlib
import copy
import functools
import glob
import io
import os
import os.path as osp
import shutil
import socket
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
)

import torch
from torch import Tensor
from torch_geometric.data import Data

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:  # Run as a script from anywhere.
    sys.path.insert(0, ROOT)

import pyg_gas  # noqa: E402
import pyg_gas.cli  # noqa: E402
import pyg_gas.train.build  # noqa: E402
import pyg_gas.train.loop  # noqa: E402
from pyg_gas import (  # noqa: E402
    ClusterLoader,
    EvalSubgraphLoader,
    GASConv,
    History,
    LADIESLoader,
    SubgraphLoader,
    gas_batch,
    gas_inference,
    metis,
    permute,
    split_clusters,
)
from pyg_gas.checkpoint import read_checkpoint  # noqa: E402
from pyg_gas.datasets import load_dataset, synthetic_graph  # noqa: E402
from pyg_gas.nn.models import (  # noqa: E402
    APPNP,
    GAT,
    GCN,
    GCN2,
    GIN,
    PNA,
    SAGE,
)
from pyg_gas.train import TrainConfig, resolve, run  # noqa: E402

#: The raw Planetoid Cora files (beside the clone, as the tests find them).
SHARED_RAW = next((p for p in (
    osp.join(ROOT, '..', 'shared', 'data', 'planetoid'),
    '/work/shared/data/planetoid') if osp.isdir(p)), None)

#: What a clear error may be, unless a case says otherwise.
ERRORS = (ValueError, TypeError)
#: Where the error must be raised: by the package, not deep inside torch.
PACKAGE_DIR = osp.join(ROOT, 'pyg_gas') + os.sep
#: The shortest message that can name an argument, a value and an
#: expectation.
MIN_MESSAGE = 20


class Skip(Exception):
    r"""A case that can not run here (e.g. missing shared data)."""


class TrainingStarted(BaseException):
    r"""Raised when a case reaches the first training epoch (a
    :class:`BaseException`, so no ``except Exception`` swallows it)."""


@dataclass
class Case:
    r"""One bad input: :obj:`fn` runs the bad call.

    Args:
        area (str): The part of the package.
        description (str): The bad input, in words.
        fn (callable): Runs it. For a CLI case it returns
            :obj:`(exit_code, stderr)` (see :func:`cli`); for a case with
            :obj:`handled`, the value :obj:`handled` checks.
        expect (tuple): The exception types of a clear error.
        match (sequence of str): Words the message must hold, e.g. the
            argument's name (case-insensitive).
        handled (callable, optional): For inputs that are not errors:
            called with what :obj:`fn` returned, it returns the text of a
            correct handling, or raises :class:`AssertionError` with what
            went wrong.
        slow (bool): The case takes more than a second or two.
        cli (bool): A ``pyg-gas`` case: it must exit with status 2 and
            print one line ``pyg-gas: error: ...``, before any training.
        known (str, optional): A finding not fixed yet, and where (the
            test expects it to fail until it is fixed).
    """
    area: str
    description: str
    fn: Callable[[], Any]
    expect: Tuple[type, ...] = ERRORS
    match: Sequence[str] = ()
    handled: Optional[Callable[[Any], str]] = None
    slow: bool = False
    cli: bool = False
    known: Optional[str] = None

    @property
    def label(self) -> str:
        return f'{self.area}: {self.description}'


# Helpers -------------------------------------------------------------------

def graph(num_nodes: int = 24, seed: int = 0, channels: int = 8,
          **attrs: Any) -> Data:
    r"""A small undirected graph: a ring with random chords, features and
    labels."""
    gen = torch.Generator().manual_seed(seed)
    src = torch.arange(num_nodes)
    ring = torch.stack([src, (src + 1) % num_nodes])
    chords = torch.randint(0, num_nodes, (2, num_nodes), generator=gen)
    ei = torch.cat([ring, chords], dim=1)
    ei = ei[:, ei[0] != ei[1]]
    ei = torch.unique(torch.cat([ei, ei.flip(0)], dim=1), dim=1)
    data = Data(x=torch.randn(num_nodes, channels, generator=gen),
                edge_index=ei,
                y=torch.randint(0, 3, (num_nodes, ), generator=gen),
                num_nodes=num_nodes)
    for key, value in attrs.items():
        data[key] = value
    return data


def even_ptr(num_nodes: int = 24, num_parts: int = 4) -> Tensor:
    return torch.arange(num_parts + 1) * num_nodes // num_parts


@functools.cache
def cora() -> Data:
    return load_dataset('cora')


def _fresh_cora() -> Data:
    return copy.copy(cora())


class GASNet(torch.nn.Module):
    r"""Two :class:`GASConv` layers, the second reading a history."""
    def __init__(self, num_nodes: int, channels: int = 8,
                 hidden: int = 8) -> None:
        super().__init__()
        from torch_geometric.nn import GraphConv
        self.conv1 = GASConv(GraphConv(channels, hidden))
        self.conv2 = GASConv(GraphConv(hidden, 3), History(num_nodes,
                                                           hidden))

    def forward(self, x: Tensor, adj_t: Any) -> Tensor:
        return self.conv2(self.conv1(x, adj_t).relu(), adj_t)


def small_batch(num_nodes: int = 24) -> Any:
    r"""The first GAS batch (two of four clusters) of :func:`graph`."""
    data = graph(num_nodes)
    return next(iter(SubgraphLoader(data, even_ptr(num_nodes), 2)))


def refused_conv(conv: Any, adj: str = 'edge_index',
                 history: bool = True) -> Callable[[], Any]:
    r"""Calls :obj:`GASConv(conv)` on a GAS mini-batch."""
    def fn() -> Any:
        batch = small_batch()
        gas = GASConv(conv(), History(24, 8) if history else None)
        x = batch.x[:batch.batch_size] if history else batch.x
        with gas_batch(batch):
            return gas(x, batch[adj])
    return fn


@contextlib.contextmanager
def tmpdir() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix='bad-inputs-') as d:
        yield d


def file_in(directory: str, name: str = 'file') -> str:
    r"""A regular file in :obj:`directory`, for "a path under a file"."""
    path = osp.join(directory, name)
    with open(path, 'w') as f:
        f.write('not a directory\n')
    return path


def cli(*argv: str) -> Tuple[int, str]:
    r"""Runs ``pyg-gas`` in this process; returns its exit code and
    stderr."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = pyg_gas.cli.main(list(argv))
        except SystemExit as e:  # argparse
            code = e.code if isinstance(e.code, int) else 1
    return code, err.getvalue()


def train_cli(*argv: str) -> Tuple[int, str]:
    return cli('train', '--no-progress', '--quiet', *argv)


_LR_SEEN: List[float] = []
TRAIN_EPOCH = pyg_gas.train.loop.train_epoch


def _stop_training(engine: Any, optimizer: Any, *args: Any,
                   **kwargs: Any) -> Any:
    _LR_SEEN[:] = [g['lr'] for g in optimizer.param_groups]
    raise TrainingStarted


@contextlib.contextmanager
def no_training() -> Iterator[None]:
    r"""Makes the first training epoch raise :class:`TrainingStarted`."""
    pyg_gas.train.loop.train_epoch = _stop_training
    try:
        yield
    finally:
        pyg_gas.train.loop.train_epoch = TRAIN_EPOCH


@contextlib.contextmanager
def patched_dataset(change: Callable[[Data], Data]) -> Iterator[None]:
    r"""Makes the training runs load a changed copy of Cora."""
    data = change(_fresh_cora())
    original = pyg_gas.train.build.load_dataset
    pyg_gas.train.build.load_dataset = lambda name, root=None: data
    try:
        yield
    finally:
        pyg_gas.train.build.load_dataset = original


# The checkpoint of a 1-epoch run on Cora, made once, copied per case.
CKPT_ARGS = ('--dataset', 'cora', '--model', 'gcn', '--loader', 'gas',
             '--num-parts', '8', '--batch-size', '4', '--hidden', '8',
             '--layers', '2', '--seed', '0')
_CKPT: Dict[str, str] = {}


def _checkpoint_source() -> Tuple[str, str]:
    if not _CKPT:  # A real run, even inside 'no_training':
        base = tempfile.mkdtemp(prefix='bad-inputs-ckpt-')
        atexit.register(shutil.rmtree, base, True)
        cache = osp.join(base, 'cache')
        ckpt = osp.join(base, 'ckpt')
        patched = pyg_gas.train.loop.train_epoch
        pyg_gas.train.loop.train_epoch = TRAIN_EPOCH
        try:
            code, err = train_cli(*CKPT_ARGS, '--epochs', '1',
                                  '--cache-dir', cache, '--checkpoint', ckpt)
        finally:
            pyg_gas.train.loop.train_epoch = patched
        if code != 0:
            raise RuntimeError(f'The checkpoint run failed: {err}')
        _CKPT.update(cache=cache, ckpt=ckpt)
    return _CKPT['cache'], _CKPT['ckpt']


@contextlib.contextmanager
def checkpoint_copy() -> Iterator[Tuple[str, str]]:
    r"""A fresh copy of the checkpoint of a 1-epoch run, and the METIS
    cache of its partition."""
    cache, ckpt = _checkpoint_source()
    with tmpdir() as d:
        target = osp.join(d, 'ckpt')
        shutil.copytree(ckpt, target)
        yield cache, target


def resume(*argv: str, change: Optional[Callable[[str], None]] = None
           ) -> Tuple[int, str]:
    with checkpoint_copy() as (cache, ckpt):
        if change is not None:
            change(ckpt)
        return train_cli(*CKPT_ARGS, '--cache-dir', cache, '--checkpoint',
                         ckpt, *argv)


def _truncate(ckpt: str) -> None:
    (file, ) = glob.glob(osp.join(ckpt, '*.pt'))
    with open(file, 'rb') as f:
        head = f.read(1000)
    with open(file, 'wb') as f:
        f.write(head)


def _lr_applied(result: Tuple[int, str]) -> str:
    code, err = result
    assert code is None, f'exit {code}: {err.strip()}'
    assert _LR_SEEN and all(lr == 0.02 for lr in _LR_SEEN), \
        f'optimizer lr {_LR_SEEN}, expected 0.02'
    assert "with 'lr' 0.02 (was 0.01)" in err, f'not logged: {err!r}'
    return "applied (optimizer lr 0.02), logged: 'Resuming ... with 'lr' " \
        "0.02 (was 0.01)'"


def resume_lr() -> Tuple[Optional[int], str]:
    r"""Resumes with another learning rate, up to the first epoch."""
    _LR_SEEN.clear()
    with checkpoint_copy() as (cache, ckpt):
        err = io.StringIO()
        config = TrainConfig(dataset='cora', model='gcn', loader='gas',
                             num_parts=8, batch_size=4, hidden=8, layers=2,
                             seed=0, epochs=3, lr=0.02, cache_dir=cache,
                             checkpoint=ckpt)
        with contextlib.redirect_stderr(err):
            try:
                run(config)
            except TrainingStarted:
                return None, err.getvalue()
    return 0, err.getvalue()


def metis_cache(corrupt: Callable[[str], None], num_parts: int = 4
                ) -> Tuple[Tensor, Tensor, Tensor, Tensor, str]:
    r"""Partitions :func:`graph` with a cache, corrupts the cache file and
    partitions again: returns both results and what was logged."""
    data = graph(60)
    with tmpdir() as d:
        perm, ptr = metis(data, num_parts, cache_dir=d, log=False)
        (path, ) = glob.glob(osp.join(d, 'metis_*.pt'))
        corrupt(path)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            perm2, ptr2 = metis(data, num_parts, cache_dir=d, log=True)
        return perm, ptr, perm2, ptr2, err.getvalue()


def _edit_cache(edit: Callable[[Dict[str, Any]], None]
                ) -> Callable[[str], None]:
    def corrupt(path: str) -> None:
        obj = torch.load(path, weights_only=True)
        edit(obj)
        torch.save(obj, path)
    return corrupt


def _write_bytes(content: bytes) -> Callable[[str], None]:
    def corrupt(path: str) -> None:
        with open(path, 'wb') as f:
            f.write(content)
    return corrupt


def _recomputed(result: Tuple[Tensor, Tensor, Tensor, Tensor, str]) -> str:
    perm, ptr, perm2, ptr2, log = result
    assert torch.equal(perm, perm2) and torch.equal(ptr, ptr2), \
        'the partition read back differs from the computed one'
    said = 'recomputing' in log
    return 'recomputed' + (' (logged)' if said else ' (unreadable file)')


def _dup_perm(obj: Dict[str, Any]) -> None:
    obj['perm'][0] = obj['perm'][1]


def _short_ptr(obj: Dict[str, Any]) -> None:
    obj['ptr'] = obj['ptr'][:-1]


def _ptr_end(obj: Dict[str, Any]) -> None:
    obj['ptr'][-1] -= 1


def _ptr_decreasing(obj: Dict[str, Any]) -> None:
    obj['ptr'][1] = int(obj['ptr'][2]) + 1  # Still from 0 to N.


def _float_perm(obj: Dict[str, Any]) -> None:
    obj['perm'] = obj['perm'].double()


def _no_perm(obj: Dict[str, Any]) -> None:
    del obj['perm']


def _perm_out_of_range(obj: Dict[str, Any]) -> None:
    obj['perm'][0] = 10**6


def _synthetic_cache(corrupt: Callable[[str], None]) -> Tuple[Data, Data]:
    kwargs = dict(num_nodes=200, avg_degree=4.0, num_features=4,
                  num_classes=3)
    with tmpdir() as d:
        first = load_dataset('synthetic', root=d, **kwargs)
        (path, ) = glob.glob(osp.join(d, 'synthetic', '*.pt'))
        corrupt(path)
        with contextlib.redirect_stderr(io.StringIO()):
            second = load_dataset('synthetic', root=d, **kwargs)
        return first, second


def _same_graph(result: Tuple[Data, Data]) -> str:
    first, second = result
    for key in ('x', 'edge_index', 'y', 'train_mask'):
        assert torch.equal(first[key], second[key]), f'{key} differs'
    return 'regenerated (the same graph)'


def planetoid_corrupt(name: str = 'ind.cora.x', size: int = 20) -> Any:
    if SHARED_RAW is None:
        raise Skip('the shared raw Planetoid Cora files are missing')
    with tmpdir() as d:
        raw = osp.join(d, 'Cora', 'raw')
        os.makedirs(raw)
        for file in os.listdir(SHARED_RAW):
            shutil.copyfile(osp.join(SHARED_RAW, file), osp.join(raw, file))
        with open(osp.join(raw, name), 'r+b') as f:
            f.truncate(size)
        with contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            return load_dataset('planetoid:Cora', root=d)


def gas_inference_8_of(num_parts: int) -> Any:
    data = graph(24)
    ptr = even_ptr(24, 8)
    model = GASNet(24)
    loader = EvalSubgraphLoader(data, ptr, num_parts=num_parts)
    return gas_inference(model, loader)


def gas_inference_other_graph(num_nodes: int) -> Any:
    model = GASNet(24)
    data = graph(num_nodes)
    return gas_inference(model, EvalSubgraphLoader(
        data, even_ptr(num_nodes, 4)))


def _parameterless() -> Tuple[Tensor, Tensor]:
    from torch_geometric.nn import SimpleConv

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = GASConv(SimpleConv())
            self.conv2 = GASConv(SimpleConv(), History(24, 8))

        def forward(self, x: Tensor, adj_t: Any) -> Tensor:
            return self.conv2(self.conv1(x, adj_t), adj_t)

    data = graph(24)
    model = Net()
    out = gas_inference(model, EvalSubgraphLoader(data, even_ptr(24, 4)))
    from pyg_gas.utils import to_adj_t
    return out, model(data.x, to_adj_t(data.edge_index, 24))


def _exact(result: Tuple[Tensor, Tensor]) -> str:
    out, expected = result
    assert torch.allclose(out, expected, atol=1e-5), 'wrong output'
    return 'exact output (runs where the batches are)'


def _pna_raw() -> Tuple[Tensor, Tensor]:
    from torch_geometric.nn import PNAConv
    data = graph(24, channels=4)
    deg = PNA.degree_histogram(data)
    conv = PNAConv(4, 4, ['mean', 'max'], ['identity', 'amplification'],
                   deg)
    gas = GASConv(conv, History(24, 4)).eval()
    with torch.no_grad():
        expected = gas(data.x, data.edge_index)
        outs = []
        for batch in SubgraphLoader(data, even_ptr(24, 4), 2):
            with gas_batch(batch):
                out = gas(batch.x[:batch.batch_size], batch.edge_index)
            outs.append((out, expected[batch.n_id[:batch.batch_size]]))
    return torch.cat([o for o, _ in outs]), torch.cat([e for _, e in outs])


def _pna_exact(result: Tuple[Tensor, Tensor]) -> str:
    out, expected = result
    assert torch.allclose(out, expected, atol=1e-5), 'wrong output'
    return 'exact (the wrapper squares the adjacency; docs/models.md)'


def model_forward(model: Any, x: Tensor, **kwargs: Any) -> Any:
    from pyg_gas.utils import to_adj_t
    data = graph(24)
    return model(x, to_adj_t(data.edge_index, 24), **kwargs)


def _history(**kwargs: Any) -> History:
    return History(10, 4, **kwargs)


def _loader_nan(key: str, value: float,
                loader: Callable[..., Any]) -> Callable[[], Any]:
    def fn() -> Any:
        data = graph(24)
        if key == 'edge_weight':
            data.edge_weight = torch.ones(data.num_edges)
        data[key] = data[key].clone()
        data[key][3] = value
        return loader(data, even_ptr(24, 4))
    return fn


def _ladies_nan(key: str, value: float) -> Callable[[], Any]:
    def fn() -> Any:
        data = graph(24)
        if key == 'edge_weight':
            data.edge_weight = torch.ones(data.num_edges)
        data[key] = data[key].clone()
        data[key][3] = value
        return LADIESLoader(data, batch_size=4, num_samples=4)
    return fn


def _short_attr(key: str = 'y', extra_nodes: int = 0
                ) -> Callable[[], Data]:
    def make() -> Data:
        data = graph(24)
        if extra_nodes:
            data.num_nodes = 24 + extra_nodes
        else:
            data[key] = data[key][:-1]
        return data
    return make


def _with_float64_x() -> Any:
    data = graph(24)
    model = GCN(24, 8, 8, 3, 2)
    return model_forward(model, data.x.double())


def _gasconv_float64() -> Any:
    batch = small_batch()
    model = GASNet(24)
    with gas_batch(batch):
        return model(batch.x.double(), batch.adj_t)


def _gas_inference_float64() -> Any:
    data = graph(24)
    data.x = data.x.double()
    return gas_inference(GASNet(24), EvalSubgraphLoader(data,
                                                        even_ptr(24, 4)))


def _inference_float64() -> Any:
    data = graph(24)
    data.x = data.x.double()
    model = GCN(24, 8, 8, 3, 2)
    return model.inference(EvalSubgraphLoader(data, even_ptr(24, 4)))


def _inference_cluster_loader() -> Any:
    data = graph(24)
    model = GCN(24, 8, 8, 3, 2)
    return model.inference(ClusterLoader(data, even_ptr(24, 4), 2,
                                         shuffle=False))


def _gas_inference_cluster_loader() -> Any:
    data = graph(24)
    return gas_inference(GASNet(24), ClusterLoader(data, even_ptr(24, 4), 2,
                                                   shuffle=False))


def _twice() -> Any:
    from torch_geometric.nn import GraphConv
    batch = small_batch()
    gas = GASConv(GraphConv(8, 8))
    with gas_batch(batch):
        gas(batch.x, batch.edge_index)
        return gas(batch.x, batch.edge_index)


def _no_synthetic_root(kwargs: Dict[str, Any]) -> Callable[[], Any]:
    return lambda: synthetic_graph(**kwargs)


def _label_cli(change: Callable[[Data], Data], *argv: str
               ) -> Callable[[], Tuple[int, str]]:
    def fn() -> Tuple[int, str]:
        with patched_dataset(change):
            return train_cli('--loader', 'full', *argv)
    return fn


def _drop(key: str) -> Callable[[Data], Data]:
    def change(data: Data) -> Data:
        del data[key]
        return data
    return change


def _set(key: str, value: Callable[[Data], Any]) -> Callable[[Data], Data]:
    def change(data: Data) -> Data:
        data[key] = value(data)
        return data
    return change


# The catalogue -------------------------------------------------------------

#: Findings in pyg_gas/datasets/, left to its owner.
def _cases() -> List[Case]:
    from torch_geometric.nn import (
        AntiSymmetricConv,
        ARMAConv,
        ChebConv,
        DirGNNConv,
        GatedGraphConv,
        GCNConv,
        GraphConv,
        MixHopConv,
        SGConv,
        SSGConv,
        TAGConv,
    )
    C = Case
    cases: List[Case] = []
    add = cases.append

    # GASConv ---------------------------------------------------------------
    area = 'GASConv'
    for name, make, match in [
        ('SGConv(K=2)', lambda: SGConv(8, 8, K=2), 'SGConv'),
        ('SSGConv', lambda: SSGConv(8, 8, alpha=0.1), 'SSGConv'),
        ('ChebConv(K=2)', lambda: ChebConv(8, 8, K=2), 'ChebConv'),
        ('MixHopConv', lambda: MixHopConv(8, 8), 'MixHopConv'),
        ('TAGConv(K=3)', lambda: TAGConv(8, 8), 'TAGConv'),
        ('ARMAConv', lambda: ARMAConv(8, 8), 'ARMAConv'),
        ('GatedGraphConv(num_layers=2)', lambda: GatedGraphConv(8, 2),
         'GatedGraphConv'),
        ('DirGNNConv(GraphConv)', lambda: DirGNNConv(GraphConv(8, 8)),
         'DirGNNConv'),
        ('AntiSymmetricConv with nested GCNConv(normalize=True)',
         lambda: AntiSymmetricConv(8, num_iters=1), 'GCNConv'),
        ('GCNConv(normalize=True)', lambda: GCNConv(8, 8), 'GCNConv'),
        ('GCNConv(normalize=False, cached=True)',
         lambda: GCNConv(8, 8, normalize=False, cached=True), 'cached'),
    ]:
        add(C(area, f'wraps {name}, edge_index batch',
              refused_conv(make), match=[match]))
    add(C(area, 'wraps SGConv, adj_t batch', refused_conv(
        lambda: SGConv(8, 8), 'adj_t'), match=['SGConv']))
    add(C(area, 'wraps GCNConv(normalize=True) without history, adj_t',
          refused_conv(lambda: GCNConv(8, 8), 'adj_t', history=False),
          match=['GCNConv']))
    add(C(area, 'a GASConv called twice in one forward', _twice,
          match=['twice']))
    add(C(area, 'wraps PNAConv raw (one x, root term)', _pna_raw,
          handled=_pna_exact))
    add(C(area, "conv='GCNConv' (a string)",
          lambda: GASConv('GCNConv'), match=['conv', 'str']))
    add(C(area, "history='h' (a string)",
          lambda: GASConv(GraphConv(8, 8), 'h'), match=['history']))
    add(C(area, 'history of width 4 for a conv of in_channels 8',
          lambda: GASConv(GraphConv(8, 8), History(24, 4)),
          match=['width']))
    add(C(area, 'in a batch, a pair (x, x_dst) as input',
          lambda: _in_batch(lambda b, g: g((b.x, b.x[:b.batch_size]),
                                           b.edge_index)),
          match=['pair']))
    add(C(area, 'no history, in-batch rows only (halo missing)',
          lambda: _in_batch(lambda b, g: g(b.x[:b.batch_size],
                                           b.edge_index)),
          match=['rows']))
    add(C(area, 'history, input of width 5 (history width 8)',
          lambda: _in_batch(lambda b, g: g(torch.randn(b.batch_size, 5),
                                           b.edge_index), history=True),
          match=['width']))
    add(C(area, 'float64 x into a float32 GASConv model (mini-batch)',
          _gasconv_float64, match=['dtype', 'float64']))
    add(C(area, 'gas_batch() without batch or batch_size/n_id',
          lambda: gas_batch().__enter__(), match=['batch_size', 'n_id']))
    add(C(area, 'gas_batch(batch_size=2, n_id as float)',
          lambda: gas_batch(batch_size=2, n_id=torch.arange(
              4.0)).__enter__(), match=['n_id']))
    add(C(area, "gas_batch(batch_size='2', n_id=...)",
          lambda: gas_batch(batch_size='2',
                            n_id=torch.arange(4)).__enter__(),
          match=['batch_size']))
    add(C(area, 'gas_batch(batch_size=5, n_id of 4 ids)',
          lambda: gas_batch(batch_size=5,
                            n_id=torch.arange(4)).__enter__(),
          match=['batch_size']))

    # gas_inference ---------------------------------------------------------
    area = 'gas_inference'
    add(C(area, 'EvalSubgraphLoader(num_parts=4) of 8 parts',
          lambda: gas_inference_8_of(4), match=['loader']))
    add(C(area, 'loader of another (smaller) graph',
          lambda: gas_inference_other_graph(16), match=['loader']))
    add(C(area, 'loader of another (larger) graph',
          lambda: gas_inference_other_graph(32), match=['loader']))
    add(C(area, 'model num_nodes (history 40 rows) > graph (24)',
          lambda: gas_inference(GASNet(40), EvalSubgraphLoader(
              graph(24), even_ptr(24, 4))), match=['loader']))
    add(C(area, 'parameterless model (SimpleConv layers)', _parameterless,
          handled=_exact))
    add(C(area, 'a ClusterLoader (no halo) as loader',
          _gas_inference_cluster_loader, match=['loader']))
    add(C(area, 'num_sweeps=0',
          lambda: gas_inference(GASNet(24), EvalSubgraphLoader(
              graph(24), even_ptr(24, 4)), num_sweeps=0),
          match=['num_sweeps']))
    add(C(area, "num_sweeps='2'",
          lambda: gas_inference(GASNet(24), EvalSubgraphLoader(
              graph(24), even_ptr(24, 4)), num_sweeps='2'),
          match=['num_sweeps']))
    add(C(area, 'an empty loader ([])',
          lambda: gas_inference(GASNet(24), []), match=['loader']))
    add(C(area, 'model is a function, not a Module',
          lambda: gas_inference(lambda x, a: x, EvalSubgraphLoader(
              graph(24), even_ptr(24, 4))), match=['model']))
    add(C(area, 'float64 features into a float32 model',
          _gas_inference_float64, match=['dtype', 'float64']))
    add(C(area, 'a LADIESLoader (layer-wise batches) as loader',
          lambda: gas_inference(GASNet(24), LADIESLoader(
              graph(24), batch_size=8, num_samples=4)), match=['loader']))
    add(C(area, 'model without histories, loader without num_nodes',
          lambda: gas_inference(torch.nn.Sequential(), list(
              SubgraphLoader(graph(24), even_ptr()))), match=['loader']))
    add(C(area, 'histories of 24 and 30 rows in one model',
          lambda: gas_inference(_two_history_sizes(), EvalSubgraphLoader(
              graph(24), even_ptr())), match=['histories']))

    # ScalableGNN -----------------------------------------------------------
    area = 'ScalableGNN'
    add(C(area, 'inference with EvalSubgraphLoader(num_parts=2) of 4',
          lambda: GCN(24, 8, 8, 3, 2).inference(EvalSubgraphLoader(
              graph(24), even_ptr(24, 4), num_parts=2)),
          match=['loader']))
    add(C(area, 'inference with a loader of another graph (16 nodes)',
          lambda: GCN(24, 8, 8, 3, 2).inference(EvalSubgraphLoader(
              graph(16), even_ptr(16, 4))), match=['loader']))
    add(C(area, 'inference with a ClusterLoader (no halo)',
          _inference_cluster_loader, match=['loader']))
    add(C(area, 'inference with a LADIESLoader (layer-wise batches)',
          lambda: GCN(24, 8, 8, 3, 2).inference(LADIESLoader(
              graph(24), batch_size=8, num_samples=4)), match=['loader']))
    add(C(area, 'forward with n_id out of range (max 30 of 24)',
          lambda: _forward_bad_n_id(), match=['n_id']))
    add(C(area, 'inference with float64 features',
          _inference_float64, match=['dtype', 'float64']))
    add(C(area, 'float64 x into a float32 model (forward)',
          _with_float64_x, match=['dtype', 'float64']))
    add(C(area, 'forward with batch_size but no n_id',
          lambda: model_forward(GCN(24, 8, 8, 3, 2), graph(24).x,
                                batch_size=4), match=['n_id']))
    add(C(area, 'forward_layerwise with 1 adjacency for 2 layers',
          lambda: GCN(24, 8, 8, 3, 2).forward_layerwise(
              graph(24).x, [None]), match=['adjacency']))
    add(C(area, 'enable_async_io(loader=[]) (no max_rows)',
          lambda: GCN(24, 8, 8, 3, 2).enable_async_io([]),
          match=['loader']))
    add(C(area, 'enable_async_io() without loader or sizes',
          lambda: GCN(24, 8, 8, 3, 2).enable_async_io(),
          match=['max_batch_rows']))
    add(C(area, 'hidden_channels=[8, 8] for 2 layers (1 history)',
          lambda: GCN(24, 8, [8, 8], 3, 2),
          match=['hidden_channels']))

    # Models ----------------------------------------------------------------
    area = 'models'
    for desc, make, match in [
        ('GAT heads=0', lambda: GAT(24, 8, 8, 3, 2, heads=0), 'heads'),
        ('GAT heads=-2', lambda: GAT(24, 8, 8, 3, 2, heads=-2), 'heads'),
        ("GAT heads='8'", lambda: GAT(24, 8, 8, 3, 2, heads='8'), 'heads'),
        ('GAT attn_dropout=1.5',
         lambda: GAT(24, 8, 8, 3, 2, attn_dropout=1.5), 'attn_dropout'),
        ('GCN num_layers=-1', lambda: GCN(24, 8, 8, 3, -1), 'num_layers'),
        ('GCN num_layers=0', lambda: GCN(24, 8, 8, 3, 0), 'num_layers'),
        ("GCN num_layers='2'", lambda: GCN(24, 8, 8, 3, '2'),
         'num_layers'),
        ('GCN dropout=1.5', lambda: GCN(24, 8, 8, 3, 2, dropout=1.5),
         'dropout'),
        ('GCN dropout=-0.1', lambda: GCN(24, 8, 8, 3, 2, dropout=-0.1),
         'dropout'),
        ("GCN dropout='0.5'", lambda: GCN(24, 8, 8, 3, 2, dropout='0.5'),
         'dropout'),
        ("GCN hidden_channels='16'", lambda: GCN(24, 8, '16', 3, 2),
         'hidden_channels'),
        ('GCN hidden_channels=0', lambda: GCN(24, 8, 0, 3, 2),
         'hidden_channels'),
        ('SAGE hidden_channels=-8', lambda: SAGE(24, 8, -8, 3, 2),
         'hidden_channels'),
        ('GCN num_nodes=-5', lambda: GCN(-5, 8, 8, 3, 2), 'num_nodes'),
        ("GCN num_nodes='24'", lambda: GCN('24', 8, 8, 3, 2), 'num_nodes'),
        ('GCN in_channels=0 (linear=True)',
         lambda: GCN(24, 0, 8, 3, 2, linear=True), 'in_channels'),
        ("GIN in_channels='8'", lambda: GIN(24, '8', 8, 3, 2),
         'in_channels'),
        ('GCN out_channels=0', lambda: GCN(24, 8, 8, 0, 2),
         'out_channels'),
        ('GAT out_heads=0', lambda: GAT(24, 8, 8, 3, 2, out_heads=0),
         'out_heads'),
        ('APPNP hidden_channels=0', lambda: APPNP(24, 8, 0, 3, 2),
         'hidden_channels'),
        ('GCN2 hidden_channels=0', lambda: GCN2(24, 8, 0, 3, 2),
         'hidden_channels'),
        ('GCN num_layers=1, hidden_channels=0',
         lambda: GCN(24, 8, 0, 3, 1), 'hidden_channels'),
        ('APPNP alpha=1.5', lambda: APPNP(24, 8, 8, 3, 2, alpha=1.5),
         'alpha'),
        ('GCN2 alpha=5', lambda: GCN2(24, 8, 8, 3, 2, alpha=5), 'alpha'),
        ('GCN2 theta=-2', lambda: GCN2(24, 8, 8, 3, 2, theta=-2), 'theta'),
        ('PNA without deg', lambda: PNA(24, 8, 8, 3, 2), 'deg'),
        ('PNA deg of 2 dimensions',
         lambda: PNA(24, 8, 8, 3, 2, deg=torch.ones(2, 3, dtype=torch.long)),
         'deg'),
        ('GCN history_dtype=torch.int32',
         lambda: GCN(24, 8, 8, 3, 2, history_dtype=torch.int32),
         'history_dtype'),
    ]:
        add(C(area, desc, make, match=[match]))

    # History ---------------------------------------------------------------
    area = 'History'
    for desc, fn, match in [
        ('push complex x', lambda: _history().push(
            torch.zeros(10, 4, dtype=torch.complex64)), 'complex'),
        ('push n_id out of range (max 10 of 10 rows)', lambda: _history(
        ).push(torch.zeros(2, 4), torch.tensor([1, 10])), 'n_id'),
        ('push negative n_id', lambda: _history().push(
            torch.zeros(2, 4), torch.tensor([-1, 3])), 'n_id'),
        ('pull n_id out of range', lambda: _history().pull(
            torch.tensor([0, 99])), 'n_id'),
        ('staleness n_id out of range', lambda: _history().staleness(
            torch.tensor([11])), 'n_id'),
        ('push x of width 5 (dim 4)', lambda: _history().push(
            torch.zeros(10, 5)), "'x'"),
        ('push 1-D x', lambda: _history().push(torch.zeros(10)), "'x'"),
        ('push a list as x', lambda: _history().push([[0.0] * 4] * 10),
         "'x'"),
        ('push float n_id', lambda: _history().push(
            torch.zeros(2, 4), torch.tensor([0.0, 1.0])), 'n_id'),
        ('push int32 n_id', lambda: _history().push(
            torch.zeros(2, 4), torch.tensor([0, 1], dtype=torch.int32)),
         'n_id'),
        ('push 2-D n_id', lambda: _history().push(
            torch.zeros(2, 4), torch.tensor([[0], [1]])), 'n_id'),
        ('push 3 rows with 2 ids', lambda: _history().push(
            torch.zeros(3, 4), torch.tensor([0, 1])), 'n_id'),
        ('push 3 rows without ids (10 rows)', lambda: _history().push(
            torch.zeros(3, 4)), 'rows'),
        ('push offset without count', lambda: _history().push(
            torch.zeros(3, 4), offset=torch.tensor([0])), 'count'),
        ('push range past the end', lambda: _history().push(
            torch.zeros(3, 4), offset=torch.tensor([8]),
            count=torch.tensor([3])), 'out of bounds'),
        ('push negative count', lambda: _history().push(
            torch.zeros(0, 4), offset=torch.tensor([2, 4]),
            count=torch.tensor([-1, 1])), 'count'),
        ('push counts summing to 4 for 3 rows', lambda: _history().push(
            torch.zeros(3, 4), offset=torch.tensor([0]),
            count=torch.tensor([4])), 'count'),
        ('pull out= of the wrong shape', lambda: _history().pull(
            torch.tensor([0, 1]), out=torch.zeros(3, 4)), "'out'"),
        ('pull non-contiguous out=', lambda: _history().pull(
            torch.tensor([0, 1]), out=torch.zeros(4, 2).t()), "'out'"),
        ('num_embeddings=-1', lambda: History(-1, 4), 'num_embeddings'),
        ("num_embeddings='10'", lambda: History('10', 4),
         'num_embeddings'),
        ('num_embeddings=10.0', lambda: History(10.0, 4), 'num_embeddings'),
        ('embedding_dim=0', lambda: History(10, 0), 'embedding_dim'),
        ('embedding_dim=True', lambda: History(10, True), 'embedding_dim'),
        ('dtype=torch.int64', lambda: History(10, 4, dtype=torch.int64),
         'dtype'),
        ("dtype='float32' (a string)",
         lambda: History(10, 4, dtype='float32'), 'dtype'),
    ]:
        add(C(area, desc, fn, match=[match]))

    # permute and node attributes -------------------------------------------
    area = 'node attrs'
    for make, desc, match in [
        (_short_attr('y'), 'y of N-1 rows', "'y'"),
        (_short_attr('x'), 'x of N-1 rows', "'x'"),
        (_short_attr(extra_nodes=2), 'num_nodes = rows of x + 2', "'x'"),
    ]:
        add(C(area, f'permute: {desc}',
              lambda make=make: permute(make(), torch.randperm(
                  make().num_nodes)), match=[match]))
        for cls in (SubgraphLoader, ClusterLoader, EvalSubgraphLoader):
            add(C(area, f'{cls.__name__}: {desc}',
                  lambda make=make, cls=cls: cls(make(), even_ptr(
                      make().num_nodes, 4)), match=[match]))
        add(C(area, f'LADIESLoader: {desc}',
              lambda make=make: LADIESLoader(make(), batch_size=4,
                                             num_samples=4),
              match=[match]))
    area = 'permute'
    for desc, fn, match in [
        ('perm of N-1 entries',
         lambda: permute(graph(24), torch.randperm(23)), 'perm'),
        ('perm with a repeated entry',
         lambda: permute(graph(24), torch.zeros(24, dtype=torch.long)),
         'perm'),
        ('perm as float', lambda: permute(graph(24), torch.randperm(
            24).float()), 'perm'),
        ('perm as a list', lambda: permute(graph(24), list(range(24))),
         'perm'),
        ('data as an edge_index tensor',
         lambda: permute(graph(24).edge_index, torch.randperm(24)), 'data'),
    ]:
        add(C(area, desc, fn, match=[match]))

    # Loaders: NaN / inf, ptr, batch sizes ----------------------------------
    area = 'loaders'
    for key, value in (('x', float('nan')), ('x', float('inf')),
                       ('edge_weight', float('nan')),
                       ('edge_weight', float('-inf'))):
        for cls in (SubgraphLoader, EvalSubgraphLoader):
            add(C(area, f'{cls.__name__}: {value} in {key}',
                  _loader_nan(key, value, cls), match=[key]))
    add(C(area, 'ClusterLoader: nan in x',
          _loader_nan('x', float('nan'), ClusterLoader), match=['x']))
    add(C(area, 'LADIESLoader: nan in x', _ladies_nan('x', float('nan')),
          match=['x']))
    add(C(area, 'LADIESLoader: inf in x', _ladies_nan('x', float('inf')),
          match=['x']))
    for desc, ptr, match in [
        ('ptr ending at N-1', torch.tensor([0, 12, 23]), 'ptr'),
        ('ptr decreasing', torch.tensor([0, 15, 10, 24]), 'ptr'),
        ('ptr as float', torch.tensor([0.0, 12.0, 24.0]), 'ptr'),
        ('ptr as a list', [0, 12, 24], 'ptr'),
    ]:
        add(C(area, f'SubgraphLoader: {desc}',
              lambda ptr=ptr: SubgraphLoader(graph(24), ptr),
              match=[match]))
    for desc, kwargs, match in [
        ('batch_size=0', dict(batch_size=0), 'batch_size'),
        ('batch_size=-1', dict(batch_size=-1), 'batch_size'),
        ("batch_size='2'", dict(batch_size='2'), 'batch_size'),
        ('batch_size=2.0', dict(batch_size=2.0), 'batch_size'),
        ("adj_format='dense'", dict(adj_format='dense'), 'adj_format'),
        ('max_cluster_edges=0', dict(max_cluster_edges=0),
         'max_cluster_edges'),
        ("max_cluster_edges='8'", dict(max_cluster_edges='8'),
         'max_cluster_edges'),
    ]:
        add(C(area, f'SubgraphLoader: {desc}',
              lambda kwargs=kwargs: SubgraphLoader(graph(24), even_ptr(),
                                                   **kwargs),
              match=[match]))
    add(C(area, 'EvalSubgraphLoader: num_parts=0',
          lambda: EvalSubgraphLoader(graph(24), even_ptr(), num_parts=0),
          match=['num_parts']))
    add(C(area, 'EvalSubgraphLoader: num_parts=5 of 4',
          lambda: EvalSubgraphLoader(graph(24), even_ptr(), num_parts=5),
          match=['num_parts']))
    add(C(area, 'EvalSubgraphLoader: collater of another partition',
          lambda: EvalSubgraphLoader(
              graph(24), even_ptr(24, 3), collater=SubgraphLoader(
                  graph(24), even_ptr(24, 4)).collater),
          match=['collater']))
    add(C(area, 'EvalSubgraphLoader: max_cluster_edges=4, collater of 8',
          lambda: EvalSubgraphLoader(
              graph(24), even_ptr(), max_cluster_edges=4,
              collater=SubgraphLoader(graph(24), even_ptr(),
                                      max_cluster_edges=8).collater),
          match=['max_cluster_edges']))
    add(C(area, 'split_clusters: float rowptr',
          lambda: split_clusters(even_ptr(), torch.arange(25.0), 4),
          match=['rowptr']))
    add(C(area, 'split_clusters: ptr of 23 nodes, rowptr of 24',
          lambda: split_clusters(even_ptr(23, 4), torch.arange(25), 4),
          match=['ptr']))
    add(C(area, 'split_clusters: max_edges=0',
          lambda: split_clusters(even_ptr(), torch.arange(25), 0),
          match=['max_edges']))
    add(C(area, 'SubgraphLoader: data as a dict',
          lambda: SubgraphLoader(dict(graph(24)), even_ptr()),
          match=['data']))
    add(C(area, 'SubgraphLoader: edge_index with index 24 of 24 nodes',
          lambda: SubgraphLoader(graph(24, edge_index=torch.tensor(
              [[0, 24], [1, 2]])), even_ptr()), match=['edge_index']))
    add(C(area, 'SubgraphLoader: float edge_index',
          lambda: SubgraphLoader(graph(24, edge_index=torch.tensor(
              [[0.0, 1.0], [1.0, 2.0]])), even_ptr()),
          match=['edge_index']))

    # LADIES / FastGCN ------------------------------------------------------
    area = 'LADIES'
    for desc, kwargs, match in [
        ('num_samples=0', dict(num_samples=0), 'num_samples'),
        ('num_samples=-5', dict(num_samples=-5), 'num_samples'),
        ("num_samples='8'", dict(num_samples='8'), 'num_samples'),
        ('num_samples=[4] for 2 layers', dict(num_samples=[4]),
         'num_samples'),
        ('num_samples=2.5', dict(num_samples=2.5), 'num_samples'),
        ('batch_size=0', dict(batch_size=0), 'batch_size'),
        ("batch_size='4'", dict(batch_size='4'), 'batch_size'),
        ('num_layers=0', dict(num_layers=0), 'num_layers'),
        ("mode='graphsage'", dict(mode='graphsage'), 'mode'),
        ("sampler='uniform'", dict(sampler='uniform'), 'sampler'),
        ('seed=-1', dict(seed=-1), 'seed'),
        ('input_nodes out of range (24 of 24)',
         dict(input_nodes=torch.tensor([0, 24])), 'input_nodes'),
        ('input_nodes negative', dict(input_nodes=torch.tensor([-1, 2])),
         'input_nodes'),
        ('input_nodes as float', dict(input_nodes=torch.tensor([0.0, 1.0])),
         'input_nodes'),
        ('input_nodes with duplicates',
         dict(input_nodes=torch.tensor([1, 1, 2])), 'input_nodes'),
        ('input_nodes mask of N-1 entries',
         dict(input_nodes=torch.ones(23, dtype=torch.bool)), 'input_nodes'),
        ('input_nodes empty mask',
         dict(input_nodes=torch.zeros(24, dtype=torch.bool)),
         'input_nodes'),
        ('input_nodes as a list', dict(input_nodes=[0, 1]), 'input_nodes'),
        ('seed and generator both',
         dict(seed=1, generator=torch.Generator()), 'seed'),
        ("mode='fastgcn', num_samples=0",
         dict(mode='fastgcn', num_samples=0), 'num_samples'),
    ]:
        add(C(area, desc, lambda kwargs=kwargs: LADIESLoader(
            graph(24), **dict(dict(batch_size=4, num_samples=4), **kwargs)),
            match=[match]))
    add(C(area, 'graph of self-loops only',
          lambda: LADIESLoader(Data(x=torch.randn(4, 2),
                                    edge_index=torch.arange(4).repeat(2, 1)),
                               batch_size=2, num_samples=2),
          match=['edges']))
    add(C(area, 'sample() with nodes out of range',
          lambda: LADIESLoader(graph(24), batch_size=4,
                               num_samples=4).sample(torch.tensor([30])),
          match=['nodes']))
    add(C(area, 'resolve(): loader=ladies with model=gat',
          lambda: resolve(TrainConfig(loader='ladies', model='gat')),
          match=['gat', 'ladies']))
    add(C(area, 'resolve(): loader=fastgcn with model=pna',
          lambda: resolve(TrainConfig(loader='fastgcn', model='pna')),
          match=['pna', 'fastgcn']))

    # METIS -----------------------------------------------------------------
    area = 'metis'
    for desc, fn, match in [
        ('num_parts=0', lambda: metis(graph(24), 0, log=False),
         'num_parts'),
        ('num_parts=-2', lambda: metis(graph(24), -2, log=False),
         'num_parts'),
        ('num_parts=25 > 24 nodes', lambda: metis(graph(24), 25,
                                                  log=False), 'num_parts'),
        ("num_parts='4'", lambda: metis(graph(24), '4', log=False),
         'num_parts'),
        ('num_parts=2.5', lambda: metis(graph(24), 2.5, log=False),
         'num_parts'),
        ('num_parts=True', lambda: metis(graph(24), True, log=False),
         'num_parts'),
        ("backend='kahip'", lambda: metis(graph(24), 4, backend='kahip',
                                          log=False), 'backend'),
        ('a list as graph', lambda: metis([[0, 1], [1, 0]], 2, log=False),
         'edge_index'),
        ('edge_index of shape [3, E]', lambda: metis(
            torch.zeros(3, 4, dtype=torch.long), 2, log=False),
         'edge_index'),
        ('edge_index with a negative index', lambda: metis(
            torch.tensor([[0, -1], [1, 2]]), 2, log=False), 'edge_index'),
        ('edge_index index 5 with num_nodes=4', lambda: metis(
            torch.tensor([[0, 5], [1, 2]]), 2, num_nodes=4, log=False),
         'edge_index'),
        ('empty graph (0 nodes)', lambda: metis(
            torch.zeros(2, 0, dtype=torch.long), 2, num_nodes=0,
            log=False), 'nodes'),
        ("num_nodes='24'", lambda: metis(graph(24).edge_index, 2,
                                          num_nodes='24', log=False),
         'num_nodes'),
    ]:
        add(C(area, desc, fn, match=[match]))
    add(C(area, 'cache_dir under a regular file',
          lambda: _metis_cache_dir_under_file(), match=['cache_dir'],
          expect=ERRORS + (OSError, )))
    for desc, corrupt in [
        ('cache: perm not a permutation', _edit_cache(_dup_perm)),
        ('cache: perm out of range', _edit_cache(_perm_out_of_range)),
        ('cache: ptr one entry short', _edit_cache(_short_ptr)),
        ('cache: ptr ends at N-1', _edit_cache(_ptr_end)),
        ('cache: ptr decreasing', _edit_cache(_ptr_decreasing)),
        ('cache: perm as float64', _edit_cache(_float_perm)),
        ('cache: perm missing', _edit_cache(_no_perm)),
        ('cache: file truncated to 10 bytes', _write_bytes(b'PK\x03\x04'
                                                          b'garbage')),
        ('cache: empty file', _write_bytes(b'')),
        ('cache: a pickle of something else',
         lambda path: torch.save([1, 2, 3], path)),
    ]:
        add(C(area, desc, lambda corrupt=corrupt: metis_cache(corrupt),
              handled=_recomputed))

    # dtypes ----------------------------------------------------------------
    # (float64 x into float32 models: see GASConv, gas_inference and
    # ScalableGNN above.)

    # Datasets --------------------------------------------------------------
    area = 'datasets'
    for desc, fn, match, expect in [
        ("unknown name 'citeseer2'", lambda: load_dataset('citeseer2'),
         'citeseer2', ERRORS),
        ('name 5 (not a str)', lambda: load_dataset(5), 'name', ERRORS),
        ('name None', lambda: load_dataset(None), 'name', ERRORS),
        ("'planetoid:Cora' without root",
         lambda: load_dataset('planetoid:Cora'), 'root', ERRORS),
        ("'planetoid:Foo'", lambda: load_dataset('planetoid:Foo', root='.'),
         'Foo', ERRORS),
        ("'ogbn-arxiv' without root", lambda: load_dataset('ogbn-arxiv'),
         'root', ERRORS + (ImportError, )),
        ("'ogbn-nothing' (not an OGB dataset)",
         lambda: load_dataset('ogbn-nothing', root='.'), 'ogbn-nothing',
         ERRORS + (ImportError, )),
        ("'synthetic' without num_nodes", lambda: load_dataset('synthetic'),
         'num_nodes', ERRORS),
        ("'synthetic-foo'", lambda: load_dataset('synthetic-foo'),
         'synthetic-foo', ERRORS),
    ]:
        add(C(area, desc, fn, match=[match], expect=expect))
    for name in ('coauthor-cs', 'wikics', 'reddit2', 'ppi'):
        add(C(area, f"'{name}' without root",
              lambda name=name: load_dataset(name), match=['root']))
    add(C(area, "'coauthor-cs' with an empty root, offline",
          lambda: _offline('coauthor-cs'), match=['coauthor-cs'],
          expect=(FileNotFoundError, )))
    add(C(area, "'coauthor-cs' with a garbage ms_academic_cs.npz",
          lambda: _garbage_raw('coauthor-cs', 'CS', 'ms_academic_cs.npz'),
          match=['coauthor-cs']))
    add(C(area, "'planetoid:Cora' with an empty root, offline",
          lambda: _offline_planetoid(), match=['Cora'],
          expect=(FileNotFoundError, )))
    add(C(area, "'ogbn-arxiv' with an empty root, offline",
          lambda: _offline_ogb(), match=['ogbn-arxiv'],
          expect=(FileNotFoundError, )))
    add(C(area, 'planetoid:Cora with ind.cora.x truncated',
          lambda: planetoid_corrupt('ind.cora.x'), match=['ind.cora']))
    add(C(area, 'planetoid:Cora with ind.cora.graph truncated',
          lambda: planetoid_corrupt('ind.cora.graph'), match=['ind.cora']))
    add(C(area, 'planetoid:Cora with ind.cora.test.index cut to 30 bytes',
          lambda: planetoid_corrupt('ind.cora.test.index', 30),
          match=['ind.cora']))
    add(C(area, 'planetoid:Cora with ind.cora.test.index emptied',
          lambda: planetoid_corrupt('ind.cora.test.index', 0),
          match=['ind.cora']))
    add(C(area, 'synthetic cache truncated',
          lambda: _synthetic_cache(_write_bytes(b'PK\x03\x04trunc')),
          handled=_same_graph))
    add(C(area, 'synthetic cache of something else',
          lambda: _synthetic_cache(lambda p: torch.save({'a': 1}, p)),
          handled=_same_graph))
    add(C(area, 'synthetic cache with a tensor missing',
          lambda: _synthetic_cache(_edit_cache(
              lambda obj: obj['tensors'].pop('y'))),
          handled=_same_graph))
    for desc, kwargs, match in [
        ('num_nodes=1', dict(num_nodes=1, avg_degree=2), 'num_nodes'),
        ('homophily=1.5', dict(num_nodes=50, avg_degree=2, homophily=1.5),
         'homophily'),
        ('avg_degree and num_edges both',
         dict(num_nodes=50, avg_degree=2, num_edges=40), 'avg_degree'),
        ('avg_degree=-1', dict(num_nodes=50, avg_degree=-1), 'avg_degree'),
        ('split (0.9, 0.9)', dict(num_nodes=50, avg_degree=2,
                                  split=(0.9, 0.9)), 'split'),
        ('num_classes > num_nodes', dict(num_nodes=5, avg_degree=1,
                                         num_classes=9), 'num_classes'),
        ("seed='0'", dict(num_nodes=50, avg_degree=2, seed='0'), 'seed'),
    ]:
        add(C(area, f'synthetic_graph {desc}', _no_synthetic_root(kwargs),
              match=[match]))

    # Checkpoints -----------------------------------------------------------
    area = 'checkpoint'
    add(C(area, 'CLI: truncated checkpoint file',
          lambda: resume('--epochs', '2', change=_truncate),
          match=['truncated'], cli=True))
    add(C(area, 'CLI: resume with another --hidden',
          lambda: resume('--epochs', '2', '--hidden', '16'),
          match=['hidden'], cli=True))
    add(C(area, 'CLI: --epochs 1, not above the saved epoch 1',
          lambda: resume('--epochs', '1'), match=['epochs'], cli=True))
    add(C(area, 'CLI: resume with another --num-parts (partition)',
          lambda: resume('--epochs', '2', '--num-parts', '6'),
          match=['partition'], cli=True))
    add(C(area, 'CLI: a foreign file as checkpoint',
          lambda: resume('--epochs', '2', change=lambda d: torch.save(
              {'a': 1}, glob.glob(osp.join(d, '*.pt'))[0])),
          match=['checkpoint'], cli=True))
    add(C(area, 'CLI: a checkpoint of 2 ranks for 1',
          lambda: resume('--epochs', '2', change=lambda d: os.rename(
              glob.glob(osp.join(d, '*.pt'))[0],
              osp.join(d, 'rank00000-of-00002.pt'))),
          match=['ranks'], cli=True))
    add(C(area, 'resume with a changed lr (0.01 -> 0.02)', resume_lr,
          handled=_lr_applied))
    add(C(area, 'read_checkpoint of an empty directory',
          lambda: _read_empty_checkpoint(), match=['checkpoint'],
          expect=(FileNotFoundError, )))

    # CLI -------------------------------------------------------------------
    area = 'CLI'
    for desc, argv, match in [
        ('--dataset nope', ['--dataset', 'nope'], 'nope'),
        ("--dataset ''", ['--dataset', ''], 'dataset'),
        ('--dataset planetoid:Cora without --root',
         ['--dataset', 'planetoid:Cora'], 'root'),
        ('--dataset planetoid:Foo', ['--dataset', 'planetoid:Foo'], 'Foo'),
        ('--dataset ogbn-arxiv without --root',
         ['--dataset', 'ogbn-arxiv'], 'root'),
        ('--dataset synthetic (needs num_nodes)',
         ['--dataset', 'synthetic'], 'num_nodes'),
        ('--model mlp', ['--model', 'mlp'], 'model'),
        ('--loader neighbor', ['--loader', 'neighbor'], 'loader'),
        ('--device tpu', ['--device', 'tpu'], 'device'),
        ('--history-dtype int8', ['--history-dtype', 'int8'],
         'history-dtype'),
        ('--epochs abc', ['--epochs', 'abc'], 'epochs'),
        ('--lr fast', ['--lr', 'fast'], 'lr'),
        ('--hidden 1.5', ['--hidden', '1.5'], 'hidden'),
        ('--drop-input maybe', ['--drop-input', 'maybe'], 'drop-input'),
        ('--epochs 0', ['--epochs', '0'], 'epochs'),
        ('--epochs -3', ['--epochs', '-3'], 'epochs'),
        ('--hidden 0', ['--hidden', '0'], 'hidden'),
        ('--layers 0', ['--layers', '0'], 'layers'),
        ('--layers -1', ['--layers', '-1'], 'layers'),
        ('--num-parts 0', ['--num-parts', '0'], 'num_parts'),
        ('--num-parts 5000 (> 2708 nodes)', ['--num-parts', '5000'],
         'num_parts'),
        ('--batch-size 0', ['--batch-size', '0'], 'batch_size'),
        ('--num-samples 0 (ladies)', ['--loader', 'ladies',
                                      '--num-samples', '0'], 'num_samples'),
        ('--heads 0', ['--heads', '0'], 'heads'),
        ('--heads -1 --model gat', ['--model', 'gat', '--heads', '-1'],
         'heads'),
        ('--lr -1', ['--lr', '-1'], 'lr'),
        ('--lr nan', ['--lr', 'nan'], 'lr'),
        ('--dropout 1.5', ['--dropout', '1.5'], 'dropout'),
        ('--attn-dropout 1', ['--attn-dropout', '1'], 'attn_dropout'),
        ('--alpha 2', ['--alpha', '2'], 'alpha'),
        ('--theta -1', ['--theta', '-1'], 'theta'),
        ('--weight-decay -0.1', ['--weight-decay', '-0.1'],
         'weight_decay'),
        ('--grad-norm -1', ['--grad-norm', '-1'], 'grad_norm'),
        ('--eval-every 0', ['--eval-every', '0'], 'eval_every'),
        ('--log-every 0', ['--log-every', '0'], 'log_every'),
        ('--eval-parts -1', ['--eval-parts', '-1'], 'eval_parts'),
        ('--eval-parts 100000 (--loader full)',
         ['--loader', 'full', '--eval-parts', '100000'], 'eval_parts'),
        ('--nproc 0', ['--nproc', '0'], 'nproc'),
        ('--sync-every 0', ['--sync-every', '0'], 'sync_every'),
        ('--max-cluster-edges 0', ['--max-cluster-edges', '0'],
         'max_cluster_edges'),
        ('--nproc 2 --loader full', ['--nproc', '2', '--loader', 'full'],
         'loader'),
        ('--nproc 50 --num-parts 40', ['--nproc', '50'], 'parts'),
        ('--num-workers -1', ['--num-workers', '-1'], 'num_workers'),
        ('--seed -1', ['--seed', '-1'], 'seed'),
        ('--device cuda (no CUDA here)' if not torch.cuda.is_available()
         else None, ['--device', 'cuda'], 'cuda'),
        ('--loader ladies --model gat', ['--loader', 'ladies', '--model',
                                         'gat'], 'gat'),
        ('--loader fastgcn --model pna', ['--loader', 'fastgcn',
                                          '--model', 'pna'], 'pna'),
        ('an unknown option --foo', ['--foo', '1'], '--foo'),
    ]:
        if desc is None:
            continue
        add(C(area, desc, lambda argv=argv: train_cli(*argv),
              match=[match], cli=True))
    add(C(area, 'no subcommand', lambda: cli(), match=['command'],
          cli=True))
    add(C(area, 'an unknown subcommand', lambda: cli('fit'),
          match=['fit'], cli=True))
    for key in ('json', 'cache-dir', 'checkpoint', 'root'):
        add(C(area, f'--{key} under a regular file',
              lambda key=key: _path_under_file(key),
              match=[key.replace('-', '_')], cli=True))
    add(C(area, '--json is a directory', lambda: _json_is_dir(),
          match=['json'], cli=True))
    add(C(area, '--checkpoint is a regular file',
          lambda: _checkpoint_is_file(), match=['checkpoint'], cli=True))
    add(C(area, '--root is a regular file', lambda: _root_is_file(),
          match=['root'], cli=True))
    for desc, change, match in [
        ('dataset without y', _drop('y'), "'y'"),
        ('dataset without train_mask', _drop('train_mask'), 'train_mask'),
        ('dataset with float y', _set('y', lambda d: d.y.float()), "'y'"),
        ('dataset with y of N-1 rows', _set('y', lambda d: d.y[:-1]),
         "'y'"),
        ('dataset with labels >= num_classes',
         _set('y', lambda d: d.y + 7), 'num_classes'),
        ('dataset without num_classes', _drop('num_classes'),
         'num_classes'),
        ('dataset with an int64 x', _set('x', lambda d: d.x.long()),
         "'x'"),
    ]:
        add(C(area, desc, _label_cli(change), match=[match], cli=True))
    return cases


def _in_batch(call: Callable[[Any, Any], Any], history: bool = False
              ) -> Any:
    from torch_geometric.nn import GraphConv
    batch = small_batch()
    gas = GASConv(GraphConv(8, 8), History(24, 8) if history else None)
    with gas_batch(batch):
        return call(batch, gas)


def _two_history_sizes() -> torch.nn.Module:
    model = GASNet(24)
    model.conv3 = GASConv(torch.nn.Linear(3, 3), History(30, 3))
    return model


def _forward_bad_n_id() -> Any:
    batch = small_batch()
    n_id = batch.n_id.clone()
    n_id[-1] = 30
    return GCN(24, 8, 8, 3, 2)(batch.x, batch.adj_t, batch.batch_size, n_id)


def _metis_cache_dir_under_file() -> Any:
    with tmpdir() as d:
        return metis(graph(24), 4, cache_dir=osp.join(file_in(d), 'cache'),
                     log=False)


@contextlib.contextmanager
def offline() -> Iterator[None]:
    r"""No host name resolves: the download cases behave the same on a
    machine with network access."""
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OSError('network access disabled by scripts/bad_inputs.py')

    original = socket.getaddrinfo
    socket.getaddrinfo = refuse
    try:
        yield
    finally:
        socket.getaddrinfo = original


def _offline(name: str) -> Any:
    with tmpdir() as d, offline(), contextlib.redirect_stdout(
            io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return load_dataset(name, root=d)


def _garbage_raw(name: str, folder: str, file: str) -> Any:
    with tmpdir() as d, offline(), contextlib.redirect_stdout(
            io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        os.makedirs(osp.join(d, folder, 'raw'))
        with open(osp.join(d, folder, 'raw', file), 'wb') as f:
            f.write(b'PK\x03\x04 not a zip archive')
        return load_dataset(name, root=d)


def _offline_planetoid() -> Any:
    with tmpdir() as d, offline(), contextlib.redirect_stdout(
            io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return load_dataset('planetoid:Cora', root=d)


def _offline_ogb() -> Any:
    with tmpdir() as d, offline(), contextlib.redirect_stdout(
            io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return load_dataset('ogbn-arxiv', root=d)


def _read_empty_checkpoint() -> Any:
    with tmpdir() as d:
        return read_checkpoint(d, {}, GCN(24, 8, 8, 3, 2))


def _path_under_file(key: str) -> Tuple[int, str]:
    with tmpdir() as d:
        path = osp.join(file_in(d), 'below',
                        'out.json' if key == 'json' else 'dir')
        return train_cli(f'--{key}', path)


def _json_is_dir() -> Tuple[int, str]:
    with tmpdir() as d:
        return train_cli('--json', d)


def _checkpoint_is_file() -> Tuple[int, str]:
    with tmpdir() as d:
        return train_cli('--checkpoint', file_in(d))


def _root_is_file() -> Tuple[int, str]:
    with tmpdir() as d:
        return train_cli('--dataset', 'planetoid:Cora', '--root',
                         file_in(d))


CASES: List[Case] = _cases()


# Classification ------------------------------------------------------------

def _first_line(text: str, limit: int = 160) -> str:
    line = text.strip().split('\n')[0] if text.strip() else ''
    return line if len(line) <= limit else line[:limit - 3] + '...'


def _raised_in_package(error: BaseException) -> bool:
    # The innermost frame of the traceback: where the error was raised.
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and osp.abspath(frames[-1].filename).startswith(
        PACKAGE_DIR)


def _missing(message: str, match: Sequence[str]) -> List[str]:
    return [m for m in match if m.lower() not in message.lower()]


def _classify_cli(case: Case, result: Any) -> str:
    code, err = result
    lines = [line for line in err.splitlines() if line.strip()]
    text = ' / '.join(lines) if lines else '(nothing on stderr)'
    if code == 0:
        return f'SILENT (exit 0): {_first_line(text)}'
    problems = []
    if code != 2:
        problems.append(f'exit {code}')
    if len(lines) != 1:
        problems.append(f'{len(lines)} lines on stderr')
    if not lines or not lines[0].startswith('pyg-gas: error: '):
        problems.append("no 'pyg-gas: error:' line")
    missing = _missing(err, case.match)
    if missing:
        problems.append(f'does not name {missing}')
    if problems:
        return f'OBSCURE: {"; ".join(problems)}: {_first_line(text)}'
    return f'clear: exit 2: {_first_line(lines[0])}'


def outcome(case: Case) -> str:
    r"""Runs :obj:`case` and returns its outcome (see the module's doc)."""
    with warnings.catch_warnings(), no_training():
        warnings.simplefilter('ignore')
        try:
            result = case.fn()
        except Skip as e:
            return f'skipped: {e}'
        except TrainingStarted:
            return 'SILENT (training started)'
        except Exception as e:  # noqa: BLE001 (classified below)
            name = type(e).__name__
            message = str(e)
            head = f'{name}: {_first_line(message)}'
            if case.cli:
                return f'OBSCURE: traceback from the CLI: {head}'
            problems = []
            if not isinstance(e, case.expect):
                problems.append('unexpected type')
            elif not _raised_in_package(e):
                frame = traceback.extract_tb(e.__traceback__)[-1]
                problems.append(f'raised in {osp.basename(frame.filename)}')
            if len(message.strip()) < MIN_MESSAGE:
                problems.append('message too short')
            missing = _missing(message, case.match)
            if missing:
                problems.append(f'does not name {missing}')
            if problems:
                return f'OBSCURE: {head} [{"; ".join(problems)}]'
            return f'clear: {head}'
    if case.cli:
        return _classify_cli(case, result)
    if case.handled is not None:
        try:
            return f'handled: {case.handled(result)}'
        except Exception as e:  # noqa: BLE001 (a wrong result)
            return f'SILENT (wrong: {type(e).__name__}: {e})'
    return 'SILENT (no error)'


def is_fine(text: str) -> bool:
    return text.startswith(('clear:', 'handled:'))


def _cell(text: str) -> str:
    return text.replace('|', '\\|').replace('\n', ' ')


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('-k', default='', help='only cases whose area or '
                        'input contain this text')
    parser.add_argument('--out', help='also write the table to this file')
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cases = [c for c in CASES if args.k.lower() in c.label.lower()]
    lines = ['| # | area | input | outcome |', '|---|---|---|---|']
    counts = dict(clear=0, handled=0, silent=0, obscure=0, skipped=0)
    t0 = time.perf_counter()
    for i, case in enumerate(cases, 1):
        text = outcome(case)
        kind = text.split(':')[0].split(' ')[0].lower()
        if case.known and not is_fine(text):
            text += f' [known, left for {case.known.split(":")[0]}]'
        counts[kind] = counts.get(kind, 0) + 1
        lines.append(f'| {i} | {case.area} | {_cell(case.description)} | '
                     f'{_cell(text)} |')
    summary = (f'{len(cases)} cases: {counts["clear"]} clear, '
               f'{counts["handled"]} handled, {counts["silent"]} silent, '
               f'{counts["obscure"]} obscure'
               + (f', {counts["skipped"]} skipped' if counts['skipped']
                  else '') + f' ({time.perf_counter() - t0:.0f} s)')
    table = '\n'.join(lines + ['', summary])
    print(table)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table + '\n')
    return 0 if counts['silent'] + counts['obscure'] == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
