r"""Fixtures shared by the test modules.

Each fixture is module-scoped: a test module may change the graph it gets
without the change leaking into another module.
"""
import pytest
import torch
import torch_geometric.transforms as T
from torch_geometric.data import Data

from pyg_gas.datasets import load_dataset


@pytest.fixture(scope='module')
def cora() -> Data:
    r"""The bundled Cora graph, as :func:`load_dataset` returns it (binary
    bag-of-words features)."""
    return load_dataset('cora')


@pytest.fixture(scope='module')
def norm_cora(cora: Data) -> Data:
    r"""Cora with row-normalized features, as the models train on it."""
    return T.NormalizeFeatures()(cora.clone())


@pytest.fixture(scope='module')
def single_thread():
    r"""Runs a test module with one intra-op thread. Tiny tensor ops on a
    busy 2-core machine are much slower with an intra-op thread pool; the
    results do not depend on it. Use it with
    ``pytestmark = pytest.mark.usefixtures('single_thread')``."""
    num_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(num_threads)
