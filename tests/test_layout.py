r"""The package's layout: moved names keep working under their old names, and
imports run downward only."""
import ast
import importlib
import os.path as osp
import pkgutil

import pytest

import pyg_gas

# (old module, name, new module) of every public name that moved.
MOVED = [
    ('pyg_gas.utils', name, 'pyg_gas.graph') for name in (
        'build_adj_t', 'check_edge_index', 'gather_csr', 'get_edge_index',
        'is_sparse', 'num_target_nodes', 'pad_targets',
        'sparse_to_edge_index', 'split_attributes', 'to_adj_t', 'to_csr')
] + [
    ('pyg_gas.utils', 'check_int', 'pyg_gas.checks'),
    ('pyg_gas.loader.subgraph', 'check_ptr', 'pyg_gas.graph'),
    ('pyg_gas.nn.models.gcn', 'gcn_normalize', 'pyg_gas.graph'),
    ('pyg_gas.loader.ladies', 'gcn_norm_csr', 'pyg_gas.graph'),
    ('pyg_gas.loader.ladies', 'LayerwiseData', 'pyg_gas.data'),
    ('pyg_gas.loader.ladies', 'inclusion_probabilities',
     'pyg_gas.loader.pps'),
    ('pyg_gas.loader.ladies', 'systematic_sampling', 'pyg_gas.loader.pps'),
    ('pyg_gas.history', 'AsyncHistoryIO', 'pyg_gas.history_io'),
    ('pyg_gas.train', 'write_json', 'pyg_gas.utils'),
    ('pyg_gas.train', 'run_distributed', 'pyg_gas.train.distributed'),
    ('pyg_gas.train', 'launch', 'pyg_gas.train.distributed'),
    ('pyg_gas.train', 'TrainConfig', 'pyg_gas.train.config'),
    ('pyg_gas.train', 'run', 'pyg_gas.train.single'),
]

#: Packages and modules, lowest first: a module may import from its own
#: level and the ones below, never from above.
LEVELS = [
    {'typing', 'checks', 'lazy'},
    {'graph', 'utils', 'data', 'history_io', 'cgroup', 'rows'},
    {'history', 'checkpoint'},
    {'nn', 'loader', 'partition', 'datasets'},
    {'distributed', 'storage'},
    {'train', 'plot'},
    {'cli'},
]


@pytest.mark.parametrize('old, name, new', MOVED)
def test_moved_names_keep_their_alias(old, name, new):
    assert getattr(importlib.import_module(old), name) is getattr(
        importlib.import_module(new), name)


def _imports():
    # (importing module, imported pyg_gas module) for every import
    # statement of the package, inside functions too.
    root = osp.dirname(pyg_gas.__file__)
    for info in pkgutil.walk_packages([root], 'pyg_gas.'):
        spec = importlib.util.find_spec(info.name)
        with open(spec.origin) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (
                    node.module or '').startswith('pyg_gas.'):
                yield info.name, node.module
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith('pyg_gas.'):
                        yield info.name, alias.name


def _level(module):
    top = module.split('.')[1]
    for i, names in enumerate(LEVELS):
        if top in names:
            return i
    raise AssertionError(f"'{module}' has no level in LEVELS")


def test_imports_run_downward():
    upward = [(src, dst) for src, dst in _imports()
              if _level(dst) > _level(src)]
    assert upward == []


def test_nothing_below_train_imports_it():
    users = {src for src, dst in _imports()
             if dst.startswith('pyg_gas.train') and
             not src.startswith('pyg_gas.train')}
    assert users <= {'pyg_gas.cli'}
