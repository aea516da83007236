import builtins
import gzip
import json
import math
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
import torch
import torch_geometric.typing
from torch_geometric.data import Data

import pyg_gas.typing
from pyg_gas.datasets import get_evaluator, load_dataset, load_ogb
from pyg_gas.testing import withPackage
from pyg_gas.train import PRESETS, TrainConfig, _accuracy, resolve, run

REPO = Path(__file__).resolve().parents[2]
NUM_NODES = 120
NUM_LABELS = 4  # Labels used by the fixtures (OGB's metadata says more).


def write_csv_gz(path: Path, rows: np.ndarray) -> None:
    # ogb's raw and split files: gzipped CSV, no header, no index.
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = rows.reshape(len(rows), -1)
    with gzip.open(path, 'wt') as f:
        for row in rows.tolist():
            f.write(','.join(repr(v) for v in row) + '\n')


def make_graph(seed: int, directed: bool) -> Dict[str, np.ndarray]:
    r"""A homophilous graph whose features carry the label: one-hot label
    plus noise, all multiples of 1/8 (exact in float32)."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(NUM_NODES) % NUM_LABELS)
    noise = rng.integers(0, 8, size=(NUM_NODES, 4)) / 8.0
    x = np.concatenate([np.eye(NUM_LABELS)[y], noise], axis=1)
    edges = set()
    for u in range(NUM_NODES):
        for _ in range(3):
            same = np.flatnonzero(y == y[u])
            v = int(rng.choice(same if rng.random() < 0.8 else NUM_NODES))
            if u == v:
                continue
            if directed:
                edges.add((u, v))
            else:  # ogb adds the reverse edges itself.
                edges.add((min(u, v), max(u, v)))
    edge = np.array(sorted(edges), dtype=np.int64)  # [num_edges, 2]
    rng.shuffle(edge)
    perm = rng.permutation(NUM_NODES)
    return dict(x=x, y=y, edge=edge, train=np.sort(perm[:60]),
                valid=np.sort(perm[60:90]), test=np.sort(perm[90:]),
                year=rng.integers(2000, 2021, size=NUM_NODES))


def write_ogb_dataset(root: Path, name: str, graph: Dict[str, np.ndarray],
                      release: bool = True) -> Path:
    r"""Writes :obj:`graph` in the layout of ogb's zip files, as
    :obj:`ogb/nodeproppred/master.csv` and :obj:`ogb/io/read_graph_raw.py`
    of ogb 1.3.6 read it."""
    folder = root / name.replace('-', '_')
    split = {'ogbn-arxiv': 'time', 'ogbn-products': 'sales_ranking'}[name]
    raw = folder / 'raw'
    write_csv_gz(raw / 'edge.csv.gz', graph['edge'])
    write_csv_gz(raw / 'node-feat.csv.gz', graph['x'])
    write_csv_gz(raw / 'node-label.csv.gz', graph['y'])
    write_csv_gz(raw / 'num-node-list.csv.gz', np.array([NUM_NODES]))
    write_csv_gz(raw / 'num-edge-list.csv.gz', np.array([len(graph['edge'])]))
    if name == 'ogbn-arxiv':
        write_csv_gz(raw / 'node_year.csv.gz', graph['year'])
    for key in ('train', 'valid', 'test'):
        write_csv_gz(folder / 'split' / split / f'{key}.csv.gz', graph[key])
    if release:
        (folder / 'RELEASE_v1.txt').write_text('')
    return folder


PROTEINS_NODES = 60
PROTEINS_TASKS = 112
EDGE_FEATURES = 8


def proteins_graph(seed: int = 0) -> Dict[str, np.ndarray]:
    r"""A graph shaped like ogbn-proteins: each undirected edge once (ogb
    adds the reverse), 8 edge features in multiples of 1/8 (exact in
    float32), 112 binary tasks, a species per node, and one node without
    edges (the last)."""
    rng = np.random.default_rng(seed)
    n = PROTEINS_NODES
    edges = set()
    for u in range(n - 1):
        for v in rng.choice(n - 1, size=3, replace=False).tolist():
            if u != v:
                edges.add((min(u, v), max(u, v)))
    edge = np.array(sorted(edges), dtype=np.int64)  # [num_edges, 2]
    rng.shuffle(edge)
    perm = rng.permutation(n)
    return dict(
        edge=edge,
        edge_feat=rng.integers(0, 9, size=(len(edge), EDGE_FEATURES)) / 8.0,
        y=rng.integers(0, 2, size=(n, PROTEINS_TASKS)),
        species=rng.choice([3702, 4932, 9606], size=n),
        train=np.sort(perm[:30]), valid=np.sort(perm[30:45]),
        test=np.sort(perm[45:]))


def write_proteins(root: Path, graph: Dict[str, np.ndarray]) -> Path:
    r"""Writes :obj:`graph` as ogb's zip file of ogbn-proteins unpacks it
    (ogb 1.3.6's master.csv: no node features, edge features, the
    additional node file node_species, split 'species', version 1; not
    binary)."""
    folder = root / 'ogbn_proteins'
    raw = folder / 'raw'
    write_csv_gz(raw / 'edge.csv.gz', graph['edge'])
    write_csv_gz(raw / 'edge-feat.csv.gz', graph['edge_feat'])
    write_csv_gz(raw / 'node-label.csv.gz', graph['y'])
    write_csv_gz(raw / 'node_species.csv.gz', graph['species'])
    write_csv_gz(raw / 'num-node-list.csv.gz', np.array([PROTEINS_NODES]))
    write_csv_gz(raw / 'num-edge-list.csv.gz', np.array([len(graph['edge'])]))
    for key in ('train', 'valid', 'test'):
        write_csv_gz(folder / 'split' / 'species' / f'{key}.csv.gz',
                     graph[key])
    (folder / 'RELEASE_v1.txt').write_text('')
    return folder


def edge_set(edge_index: torch.Tensor) -> set:
    return set(map(tuple, edge_index.t().tolist()))


def mask(index: np.ndarray) -> torch.Tensor:
    out = torch.zeros(NUM_NODES, dtype=torch.bool)
    out[torch.from_numpy(index)] = True
    return out


@pytest.fixture(scope='module')
def arxiv_graph() -> Dict[str, np.ndarray]:
    return make_graph(seed=0, directed=True)


@pytest.fixture(scope='module')
def arxiv_root(tmp_path_factory: pytest.TempPathFactory,
               arxiv_graph: Dict[str, np.ndarray]) -> Path:
    root = tmp_path_factory.mktemp('ogb')
    write_ogb_dataset(root, 'ogbn-arxiv', arxiv_graph)
    return root


@pytest.fixture(scope='module')
def products_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp('ogb')
    write_ogb_dataset(root, 'ogbn-products',
                      make_graph(seed=1, directed=False))
    return root


def check_graph(data: Data, graph: Dict[str, np.ndarray], name: str,
                num_classes: int) -> None:
    assert isinstance(data, Data)
    assert data.name == name and data.num_classes == num_classes
    assert data.num_nodes == NUM_NODES
    assert data.x.dtype == torch.float32
    assert torch.equal(data.x, torch.from_numpy(graph['x']).float())
    assert data.y.dtype == torch.long and data.y.shape == (NUM_NODES,)
    assert torch.equal(data.y, torch.from_numpy(graph['y']))
    for key, index in (('train_mask', 'train'), ('val_mask', 'valid'),
                       ('test_mask', 'test')):
        assert data[key].dtype == torch.bool
        assert torch.equal(data[key], mask(graph[index])), key
    # Undirected: every edge of the files in both directions, once each.
    assert data.edge_index.dtype == torch.long
    expected = {(u, v) for u, v in graph['edge'].tolist()}
    expected |= {(v, u) for u, v in expected}
    assert edge_set(data.edge_index) == expected
    assert data.edge_index.size(1) == len(expected)
    assert set(data.keys()) == {'x', 'edge_index', 'y', 'train_mask',
                                'val_mask', 'test_mask', 'num_classes',
                                'name'}


def pyg_unsafe_globals() -> List[type]:
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage

    return [DataEdgeAttr, DataTensorAttr, GlobalStorage]


def test_safe_globals_list():
    from pyg_gas.datasets.ogb import SAFE_GLOBALS

    assert SAFE_GLOBALS == [Data] + pyg_unsafe_globals()


@withPackage('ogb')
def test_load_arxiv_processes_then_reads(tmp_path: Path,
                                         arxiv_graph: Dict[str, np.ndarray]):
    from pyg_gas.datasets.ogb import SAFE_GLOBALS

    folder = write_ogb_dataset(tmp_path, 'ogbn-arxiv', arxiv_graph)
    before = list(torch.serialization.get_safe_globals())
    assert Data in before  # PyG allows it itself.

    data = load_dataset('ogbn-arxiv', root=str(tmp_path))  # Processes.
    processed = folder / 'processed' / 'geometric_data_processed.pt'
    assert processed.is_file()
    check_graph(data, arxiv_graph, 'ogbn-arxiv', 40)

    if torch_geometric.typing.WITH_PT26:  # weights_only=True by default.
        with pytest.raises(pickle.UnpicklingError, match='GLOBAL'):
            torch.load(processed)  # What ogb does, unguarded.

    # Reads ogb's processed file through torch.load's default:
    again = load_ogb('OGBN-Arxiv', root=str(tmp_path))
    check_graph(again, arxiv_graph, 'ogbn-arxiv', 40)

    # Safe loading stays on for the rest of the process, the classes stay
    # allowed only inside load_ogb, and PyG's own allowlist is untouched:
    after = torch.serialization.get_safe_globals()
    for cls in SAFE_GLOBALS:
        assert (cls in after) == (cls in before), cls
    for cls in pyg_unsafe_globals():
        assert cls not in after
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ


@withPackage('ogb')
def test_load_products(products_root: Path):
    data = load_dataset('ogbn-products', root=str(products_root))
    check_graph(data, make_graph(seed=1, directed=False), 'ogbn-products',
                47)


@withPackage('ogb')
def test_evaluator_accuracy(arxiv_root: Path):
    data = load_dataset('ogbn-arxiv', root=str(arxiv_root))
    evaluator = get_evaluator(data)
    assert type(evaluator).__name__ == 'Evaluator'
    assert evaluator.name == 'ogbn-arxiv'
    assert get_evaluator(load_dataset('cora')) is None
    assert get_evaluator(Data()) is None

    out = torch.randn(NUM_NODES, 40, generator=torch.Generator().manual_seed(0))
    out[:40, :] += 10 * torch.nn.functional.one_hot(data.y[:40], 40)
    for key in ('train_mask', 'val_mask', 'test_mask'):
        pred = out.argmax(dim=-1)[data[key]]
        correct = int((pred == data.y[data[key]]).sum())
        expected = correct / int(data[key].sum())
        assert _accuracy(out, data.y, data[key], evaluator) == expected
        assert _accuracy(out, data.y, data[key]) == pytest.approx(expected)
    empty = torch.zeros(NUM_NODES, dtype=torch.bool)
    assert math.isnan(_accuracy(out, data.y, empty, evaluator))


@withPackage('ogb')
def test_missing_root_and_bad_names():
    with pytest.raises(ValueError, match='root=DIR'):
        load_dataset('ogbn-arxiv')
    with pytest.raises(ValueError, match="'ogbn-products'"):
        load_dataset('ogbn-nope', root='unused')
    with pytest.raises(ValueError, match='not supported'):
        load_dataset('ogbn-mag', root='unused')  # Heterogeneous.
    with pytest.raises(TypeError):
        load_ogb(None, root='unused')  # type: ignore[arg-type]


def test_missing_ogb_raises(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(pyg_gas.typing, 'WITH_OGB', False)
    with pytest.raises(ImportError, match='pip install ogb'):
        load_dataset('ogbn-arxiv', root='unused')


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> List[str]:
    import ogb.nodeproppred.dataset_pyg as dataset_pyg

    calls = []

    def no_download(url: str) -> bool:
        calls.append(url)
        raise OSError('network disabled in tests')

    def no_input(prompt: str = '') -> str:
        raise AssertionError(f'input() called: {prompt!r}')

    monkeypatch.setattr(dataset_pyg, 'decide_download', no_download)
    monkeypatch.setattr(builtins, 'input', no_input)
    return calls


@withPackage('ogb')
def test_offline_without_files(tmp_path: Path, no_network: List[str]):
    folder = tmp_path / 'ogbn_arxiv'
    for attempt in range(2):  # The failed download leaves nothing behind.
        with pytest.raises(FileNotFoundError) as info:
            load_dataset('ogbn-arxiv', root=str(tmp_path))
        assert len(no_network) == attempt + 1
        message = str(info.value)
        assert f"'{folder}'" in message
        for name in ('raw/edge.csv.gz', 'raw/node-feat.csv.gz',
                     'raw/node_year.csv.gz', 'split/time/train.csv.gz',
                     'RELEASE_v1.txt', 'network access'):
            assert name in message, name
        assert not folder.exists()


@withPackage('ogb')
def test_folder_without_release_file(tmp_path: Path, no_network: List[str],
                                     arxiv_graph: Dict[str, np.ndarray]):
    folder = write_ogb_dataset(tmp_path, 'ogbn-arxiv', arxiv_graph,
                               release=False)
    # ogb would ask 'Will you update the dataset now?' on stdin:
    with pytest.raises(FileNotFoundError, match='RELEASE_v1.txt') as info:
        load_dataset('ogbn-arxiv', root=str(tmp_path))
    assert str(folder / 'RELEASE_v1.txt') in str(info.value)
    assert no_network == []
    (folder / 'RELEASE_v1.txt').write_text('')
    check_graph(load_dataset('ogbn-arxiv', root=str(tmp_path)), arxiv_graph,
                'ogbn-arxiv', 40)

    # Files missing in a folder that has its RELEASE file:
    (folder / 'raw' / 'edge.csv.gz').unlink()
    shutil.rmtree(folder / 'processed')
    with pytest.raises(FileNotFoundError, match='Missing: raw/edge.csv.gz'):
        load_dataset('ogbn-arxiv', root=str(tmp_path))
    assert len(no_network) == 1
    assert (folder / 'raw' / 'node-feat.csv.gz').is_file()  # Kept.


def test_presets():
    config = resolve(TrainConfig(dataset='ogbn-arxiv'))
    assert (config.hidden, config.layers, config.num_parts,
            config.batch_size) == (256, 3, 80, 40)
    assert (config.batch_norm, config.dropout, config.lr,
            config.drop_input) == (True, 0.5, 0.01, False)
    assert config.normalize_features is False and config.epochs == 300
    config = resolve(TrainConfig(dataset='OGBN-Arxiv', model='gcn2'))
    assert (config.hidden, config.layers, config.num_parts,
            config.batch_size) == (256, 4, 40, 20)
    assert (config.alpha, config.theta, config.shared_weights,
            config.dropout, config.batch_norm) == (0.2, 0.5, True, 0.3, True)
    config = resolve(TrainConfig(dataset='ogbn-products'))
    assert (config.hidden, config.layers, config.num_parts,
            config.batch_size, config.dropout, config.lr) == (
                256, 3, 7, 1, 0.3, 0.005)
    assert set(PRESETS['ogbn-arxiv']) == {'gcn', 'gcn2', 'pna'}


@withPackage('ogb')
def test_run_learns_fixture(arxiv_root: Path):
    result = run(TrainConfig(dataset='ogbn-arxiv', root=str(arxiv_root),
                             epochs=20, num_parts=4, batch_size=2, hidden=32,
                             device='cpu', progress=False))
    assert result['dataset'] == 'ogbn-arxiv' and result['num_nodes'] == 120
    assert result['config']['batch_norm'] is True  # The arxiv preset.
    assert result['test_acc'] >= 0.8


def run_script(args: List[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, *args], capture_output=True,
                          text=True, timeout=300, env=env, cwd=REPO)


@withPackage('ogb')
def test_cli_ogbn_arxiv(arxiv_root: Path, tmp_path: Path):
    path = tmp_path / 'out.json'
    proc = run_script([
        '-m', 'pyg_gas.cli', 'train', '--dataset', 'ogbn-arxiv', '--root',
        str(arxiv_root), '--epochs', '2', '--num-parts', '4',
        '--batch-size', '2', '--json', str(path)
    ])
    assert proc.returncode == 0, proc.stderr
    assert 'Epoch: 002, Loss: ' in proc.stderr
    summary = json.loads(proc.stdout)  # ogb's messages went to stderr.
    result = json.loads(path.read_text())
    assert result['test_acc'] == summary['test_acc']
    assert 0.0 <= result['test_acc'] <= 1.0
    assert result['config']['hidden'] == 256  # The arxiv preset.


@withPackage('ogb')
@pytest.mark.parametrize('script,extra', [
    ('ogbn_arxiv_gas.py', ['--num-parts', '4', '--batch-size', '2']),
    ('ogbn_arxiv_gas.py', ['--model', 'gcn2', '--num-parts', '4',
                           '--batch-size', '2']),
    ('ogbn_products_gas.py', ['--num-parts', '4', '--batch-size', '2']),
    ('ogbn_arxiv_ladies.py', ['--batch-size', '16', '--num-samples', '32']),
])
def test_examples(script: str, extra: List[str], arxiv_root: Path,
                  products_root: Path):
    root = products_root if 'products' in script else arxiv_root
    proc = run_script([str(REPO / 'examples' / script), '--root', str(root),
                       '--epochs', '1', '--device', 'cpu', *extra])
    assert proc.returncode == 0, proc.stderr
    assert 'Epoch: 001, Loss: ' in proc.stdout + proc.stderr
    assert 'Best val: ' in proc.stdout


@pytest.fixture(scope='module')
def proteins() -> Dict[str, np.ndarray]:
    return proteins_graph(seed=0)


@pytest.fixture(scope='module')
def proteins_root(tmp_path_factory: pytest.TempPathFactory,
                  proteins: Dict[str, np.ndarray]) -> Path:
    root = tmp_path_factory.mktemp('ogb')
    write_proteins(root, proteins)
    return root


@withPackage('ogb')
def test_load_proteins(proteins_root: Path,
                       proteins: Dict[str, np.ndarray]):
    data = load_dataset('ogbn-proteins', root=str(proteins_root))
    n = PROTEINS_NODES
    assert data.name == 'ogbn-proteins' and data.num_nodes == n
    assert data.num_classes == PROTEINS_TASKS
    assert set(data.keys()) == {'x', 'edge_index', 'y', 'train_mask',
                                'val_mask', 'test_mask', 'num_classes',
                                'name'}
    # x: the mean of the features of each node's edges, computed here from
    # the files' values (edges in both directions, float32 as torch's).
    total = np.zeros((n, EDGE_FEATURES), dtype=np.float32)
    count = np.zeros((n, 1), dtype=np.float32)
    for (u, v), feat in zip(proteins['edge'].tolist(), proteins['edge_feat']):
        for node in (u, v):
            total[node] += feat.astype(np.float32)
            count[node] += 1
    expected = total / np.maximum(count, 1)
    assert data.x.dtype == torch.float32
    assert data.x.shape == (n, EDGE_FEATURES)
    assert torch.equal(data.x, torch.from_numpy(expected))
    assert bool((data.x[-1] == 0).all())  # The node without edges.
    assert bool((data.x[:-1].sum(dim=-1) > 0).any())
    # y: the 112 tasks' 0/1 targets, as float32.
    assert data.y.dtype == torch.float32
    assert data.y.shape == (n, PROTEINS_TASKS)
    assert torch.equal(data.y, torch.from_numpy(proteins['y']).float())
    for key, index in (('train_mask', 'train'), ('val_mask', 'valid'),
                       ('test_mask', 'test')):
        expected_mask = torch.zeros(n, dtype=torch.bool)
        expected_mask[torch.from_numpy(proteins[index])] = True
        assert torch.equal(data[key], expected_mask), key
    # ogb adds the reverse of every edge:
    both = {(u, v) for u, v in proteins['edge'].tolist()}
    both |= {(v, u) for u, v in both}
    assert edge_set(data.edge_index) == both
    assert data.edge_index.size(1) == len(both)

    # The official metric, ROC-AUC averaged over the tasks, by ogb:
    evaluator = get_evaluator(data)
    assert evaluator.name == 'ogbn-proteins'
    assert evaluator.eval_metric == 'rocauc'
    y = data.y[data.test_mask]
    perfect = evaluator.eval({'y_true': y, 'y_pred': 2 * y - 1})
    assert perfect['rocauc'] == 1.0
    flipped = evaluator.eval({'y_true': y, 'y_pred': 1 - 2 * y})
    assert flipped['rocauc'] == 0.0


@withPackage('ogb')
@pytest.mark.usefixtures('single_thread')
def test_run_proteins_multi_label(proteins_root: Path):
    result = run(TrainConfig(dataset='ogbn-proteins',
                             root=str(proteins_root), epochs=2, num_parts=4,
                             batch_size=2, hidden=16, layers=2,
                             device='cpu', progress=False))
    assert result['dataset'] == 'ogbn-proteins'
    assert result['metric'] == 'micro-F1'
    assert result['num_nodes'] == PROTEINS_NODES
    assert math.isfinite(result['final_loss']) and result['final_loss'] > 0
    for key in ('best_val_acc', 'test_acc'):
        assert 0.0 <= result[key] <= 1.0, key


@withPackage('ogb')
def test_prepare_ogb_refuses_proteins(proteins_root: Path, tmp_path: Path):
    from pyg_gas.storage import DiskDataset, prepare, prepare_ogb

    with pytest.raises(ValueError, match='binary classification, 112 ') as e:
        prepare_ogb('ogbn-proteins', str(proteins_root), str(tmp_path / 'a'),
                    num_parts=2, log=False)
    assert 'pyg_gas.storage.prepare(' in str(e.value)
    assert not (tmp_path / 'a').exists()
    # The way the message names: prepare the loaded graph.
    data = load_dataset('ogbn-proteins', root=str(proteins_root))
    prepared = prepare(data, str(tmp_path / 'b'), num_parts=2, log=False)
    assert isinstance(prepared, DiskDataset)
    assert prepared.num_nodes == PROTEINS_NODES
    y = torch.as_tensor(np.asarray(prepared.y))
    assert y.shape == (PROTEINS_NODES, PROTEINS_TASKS)
    assert torch.equal(y.sum(dim=0), data.y.sum(dim=0))
