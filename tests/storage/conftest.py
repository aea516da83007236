import pytest

from pyg_gas.cli import main


@pytest.fixture(scope='module')
def prepared(tmp_path_factory):
    r"""Cora prepared on disk in 8 parts (seed 2), once per test module."""
    root = tmp_path_factory.mktemp('prepared') / 'cora.gas'
    assert main(['prepare', '--dataset', 'cora', '--out', str(root),
                 '--num-parts', '8', '--seed', '2', '--no-progress']) == 0
    return str(root)
