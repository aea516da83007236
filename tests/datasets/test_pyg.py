import json
import urllib.request
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
import torch
from raw_formats import (
    PPI_GRAPHS,
    both_directions,
    homophilous_graph,
    multi_labels,
    ppi_graphs,
    write_amazon,
    write_coauthor,
    write_graphsaint,
    write_ppi,
    write_reddit,
    write_wikics,
)
from torch_geometric.data import Data

import pyg_gas.typing
from pyg_gas.datasets import (
    DATASETS,
    PYG_DATASETS,
    load_dataset,
    load_pyg,
    random_split_masks,
)
from pyg_gas.datasets import registry as registry_module

pytest.importorskip('scipy')

CLASS_SIZES = [55, 50, 15]  # Two classes with >= 50 nodes, one smaller.
NUM_NODES = sum(CLASS_SIZES)
KEYS = {'x', 'edge_index', 'y', 'train_mask', 'val_mask', 'test_mask',
        'num_classes', 'name'}
SAINT = ['adj_full.npz', 'feats.npy', 'class_map.json', 'role.json']
#: The raw files of each dataset, as PyG 2.8's classes name them.
RAW_FILES: Dict[str, List[str]] = {
    'coauthor-cs': ['ms_academic_cs.npz'],
    'coauthor-physics': ['ms_academic_phy.npz'],
    'amazon-computers': ['amazon_electronics_computers.npz'],
    'amazon-photo': ['amazon_electronics_photo.npz'],
    'wikics': ['data.json'],
    'reddit2': SAINT,
    'reddit': ['reddit_data.npz', 'reddit_graph.npz'],
    'flickr': SAINT,
    'yelp': SAINT,
    'ppi': [f'{split}_{name}' for split in ('train', 'valid', 'test')
            for name in ('feats.npy', 'graph_id.npy', 'graph.json',
                         'labels.npy')],
}
FOLDERS = {'coauthor-cs': 'CS', 'coauthor-physics': 'Physics',
           'amazon-computers': 'Computers', 'amazon-photo': 'Photo',
           'wikics': 'WikiCS', 'reddit2': 'Reddit2', 'reddit': 'Reddit',
           'flickr': 'Flickr', 'yelp': 'Yelp', 'ppi': 'PPI'}


@pytest.fixture(scope='module')
def graph() -> Dict[str, np.ndarray]:
    return homophilous_graph(CLASS_SIZES, seed=0)


@pytest.fixture(scope='module')
def root(tmp_path_factory: pytest.TempPathFactory,
         graph: Dict[str, np.ndarray]) -> Path:
    r"""One root with every dataset written in its raw format."""
    root = tmp_path_factory.mktemp('pyg')
    for name in ('CS', 'Physics'):
        write_coauthor(root, name, graph, self_loops=[0, 7])
    for name in ('Computers', 'Photo'):
        write_amazon(root, name, graph, self_loops=[3])
    write_wikics(root / 'WikiCS', graph)
    write_graphsaint(root / 'Flickr', graph)
    write_graphsaint(root / 'Reddit2', graph)
    write_graphsaint(root / 'Yelp', graph, y=multi_labels(graph['y'], 3))
    write_reddit(root / 'Reddit', graph)
    write_ppi(root / 'PPI', ppi_graphs())
    return root


def edge_set(edge_index: torch.Tensor) -> set:
    return set(map(tuple, edge_index.t().tolist()))


def expected_edges(graph: Dict[str, np.ndarray]) -> set:
    return set(map(tuple, both_directions(graph['edges']).tolist()))


def check_common(data: Data, name: str, num_nodes: int = NUM_NODES):
    assert isinstance(data, Data) and set(data.keys()) == KEYS
    assert data.name == name and data.num_nodes == num_nodes
    assert data.x.dtype == torch.float32
    assert data.edge_index.dtype == torch.long
    for key in ('train_mask', 'val_mask', 'test_mask'):
        assert data[key].dtype == torch.bool, key
        assert data[key].shape == (num_nodes, ), key


def mask(index: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(index, dtype=bool))


@pytest.mark.parametrize('name', ['coauthor-cs', 'coauthor-physics',
                                  'amazon-computers', 'amazon-photo'])
def test_coauthor_amazon(root: Path, graph: Dict[str, np.ndarray],
                         name: str):
    data = load_dataset(name.upper(), root=str(root))
    check_common(data, name)
    assert data.num_classes == 3
    # PyG binarizes the bag-of-words counts, drops the self-loops and makes
    # the graph undirected (each edge once per direction, coalesced):
    assert torch.equal(data.x, torch.from_numpy(graph['x'] > 0).float())
    assert edge_set(data.edge_index) == expected_edges(graph)
    assert data.edge_index.size(1) == 2 * len(graph['edges'])
    assert bool((data.edge_index[0] != data.edge_index[1]).all())
    assert torch.equal(data.y, torch.from_numpy(graph['y']))
    assert data.y.dtype == torch.long

    train, val, test = data.train_mask, data.val_mask, data.test_mask
    assert not bool((train & val).any() or (train & test).any()
                    or (val & test).any())
    assert bool((train | val | test).all())
    for c, size in enumerate(CLASS_SIZES):
        in_class = data.y == c
        assert int((train & in_class).sum()) == min(20, size)
        assert int((val & in_class).sum()) == min(30, max(size - 20, 0))
    assert int(train.sum()) == 20 + 20 + 15
    assert int(val.sum()) == 30 + 30

    again = load_pyg(name, root=str(root), split=0)
    other = load_dataset(name, root=str(root), split=1)
    for key in ('train_mask', 'val_mask', 'test_mask'):
        assert torch.equal(again[key], data[key]), key
        assert not torch.equal(other[key], data[key]), key
    assert int(other.train_mask.sum()) == int(train.sum())


def test_random_split_masks():
    y = torch.tensor([0] * 60 + [1] * 25 + [-1] * 5)
    train, val, test = random_split_masks(y, split=7)
    assert int(train[:60].sum()) == 20 and int(val[:60].sum()) == 30
    assert int(train[60:85].sum()) == 20 and int(val[60:85].sum()) == 5
    assert int(test.sum()) == 10 and not bool(test[85:].any())  # Unlabeled.
    same = random_split_masks(y, split=7)
    assert all(torch.equal(a, b) for a, b in zip(same, (train, val, test)))
    gen = torch.Generator().manual_seed(12345 + 7)  # The documented seed.
    first = torch.arange(60)[torch.randperm(60, generator=gen)][:20]
    assert train.nonzero().view(-1)[:20].tolist() == sorted(first.tolist())


@pytest.fixture(scope='module')
def wikics_masks(root: Path) -> Dict[str, np.ndarray]:
    r"""The masks of the WikiCS file, as written: :obj:`[N, 20]` each (but
    :obj:`test_mask`, :obj:`[N]`)."""
    content = json.loads((root / 'WikiCS' / 'raw' / 'data.json').read_text())
    return {key: np.array(value).T for key, value in content.items()
            if 'mask' in key}


def test_wikics(root: Path, graph: Dict[str, np.ndarray],
                wikics_masks: Dict[str, np.ndarray]):
    masks = wikics_masks
    assert masks['train_masks'].shape == (NUM_NODES, 20)
    for split in (0, 13, 19):
        data = load_dataset('WikiCS', root=str(root), split=split)
        check_common(data, 'wikics')
        assert data.num_classes == 3
        assert torch.equal(data.x, torch.from_numpy(graph['x']))
        assert torch.equal(data.y, torch.from_numpy(graph['y']))
        assert edge_set(data.edge_index) == expected_edges(graph)
        assert data.edge_index.size(1) == 2 * len(graph['edges'])
        assert torch.equal(data.train_mask,
                           mask(masks['train_masks'][:, split]))
        assert torch.equal(data.val_mask,  # The stopping mask, as GAS.
                           mask(masks['stopping_masks'][:, split]))
        assert torch.equal(data.test_mask, mask(masks['test_mask']))
    with pytest.raises(ValueError, match=r"'split' must be in \[0, 20\) "
                       r"for 'wikics' \(got 20\)"):
        load_dataset('wikics', root=str(root), split=20)


@pytest.mark.parametrize('name', ['flickr', 'reddit2', 'reddit'])
def test_shipped_masks(root: Path, graph: Dict[str, np.ndarray], name: str):
    data = load_dataset(name, root=str(root))
    check_common(data, name)
    assert data.num_classes == 3
    assert torch.equal(data.x, torch.from_numpy(graph['x']))
    assert torch.equal(data.y, torch.from_numpy(graph['y']))
    assert data.y.dtype == torch.long
    assert edge_set(data.edge_index) == expected_edges(graph)
    assert data.edge_index.size(1) == 2 * len(graph['edges'])
    for key, role in (('train_mask', 1), ('val_mask', 2), ('test_mask', 3)):
        assert torch.equal(data[key], mask(graph['roles'] == role)), key
    assert int(data.train_mask.sum()) == 72
    assert int(data.val_mask.sum()) == 24


def test_yelp_is_multi_label(root: Path, graph: Dict[str, np.ndarray]):
    data = load_dataset('yelp', root=str(root))
    check_common(data, 'yelp')
    y = multi_labels(graph['y'], 3)
    assert data.y.dtype == torch.float32 and data.y.shape == (NUM_NODES, 4)
    assert torch.equal(data.y, torch.from_numpy(y))
    assert data.num_classes == 4
    assert torch.equal(data.x, torch.from_numpy(graph['x']))
    assert torch.equal(data.train_mask, mask(graph['roles'] == 1))


def test_ppi_is_one_disjoint_union(root: Path):
    graphs = ppi_graphs()
    sizes = [len(g['x']) for g in graphs]
    data = load_dataset('ppi', root=str(root))
    check_common(data, 'ppi', num_nodes=sum(sizes))
    assert data.num_nodes == 108 and data.num_classes == 4
    assert data.y.dtype == torch.float32 and data.y.shape == (108, 4)
    assert torch.equal(data.y, torch.from_numpy(
        np.concatenate([g['y'] for g in graphs])))
    assert torch.equal(data.x, torch.from_numpy(
        np.concatenate([g['x'] for g in graphs])))

    graph_id = torch.repeat_interleave(torch.arange(24), torch.tensor(sizes))
    num_train, num_val = PPI_GRAPHS['train'], PPI_GRAPHS['valid']
    assert torch.equal(data.train_mask, graph_id < num_train)
    assert torch.equal(data.val_mask, (graph_id >= num_train)
                       & (graph_id < num_train + num_val))
    assert torch.equal(data.test_mask, graph_id >= num_train + num_val)
    assert int(data.train_mask.sum()) == 90  # 10 graphs of 4, 10 of 5.

    row, col = data.edge_index
    assert torch.equal(graph_id[row], graph_id[col])  # No edge crosses.
    offsets = np.cumsum([0] + sizes)
    expected = set()
    for g, off in zip(graphs, offsets):
        expected |= set(map(tuple, (both_directions(g['edges']) + off)
                            .tolist()))
    assert edge_set(data.edge_index) == expected
    assert data.edge_index.size(1) == len(expected)
    assert degree_of_every_node_positive(data)


def degree_of_every_node_positive(data: Data) -> bool:
    deg = torch.bincount(data.edge_index[0], minlength=data.num_nodes)
    return bool((deg > 0).all())


@pytest.mark.parametrize('split,error,match', [
    (-1, ValueError, r"'split' must be >= 0 \(got -1\)"),
    (True, TypeError, r"'split' must be an int \(got bool True\)"),
    (1.0, TypeError, r"'split' must be an int \(got float 1.0\)"),
    ('0', TypeError, r"'split' must be an int \(got str '0'\)"),
])
def test_bad_split_values(root: Path, split, error, match):
    with pytest.raises(error, match=match):
        load_dataset('coauthor-cs', root=str(root), split=split)


@pytest.mark.parametrize('name', ['flickr', 'reddit2', 'reddit', 'yelp',
                                  'ppi'])
def test_single_split_datasets(root: Path, name: str):
    with pytest.raises(ValueError, match=rf"'split' must be 0 for "
                       rf"'{name}', which has one split.*\(got 2\)"):
        load_dataset(name, root=str(root), split=2)
    assert load_dataset(name, root=str(root), split=np.int64(0)).name == name


def test_names_and_root():
    for name in PYG_DATASETS:
        assert name in DATASETS
    assert {'citeseer', 'pubmed'} <= set(DATASETS)
    with pytest.raises(ValueError, match="'coauthor-cs'.*'ppi'"):
        load_pyg('coauthor', root='unused')
    with pytest.raises(ValueError, match="Unknown dataset 'nope'"):
        load_dataset('nope', root='unused')
    with pytest.raises(TypeError, match="'name' must be a str"):
        load_pyg(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='root=DIR') as info:
        load_dataset('coauthor-physics')
    assert 'DIR/Physics/raw/ms_academic_phy.npz' in str(info.value)
    with pytest.raises(ValueError, match='root=DIR') as info:
        load_dataset('flickr')
    assert 'Flickr/raw/' in str(info.value)
    assert all(f in str(info.value) for f in SAINT)


@pytest.mark.parametrize('name', ['citeseer', 'PubMed'])
def test_planetoid_aliases(name: str, monkeypatch: pytest.MonkeyPatch):
    calls = []
    monkeypatch.setattr(registry_module, 'load_planetoid',
                        lambda *args, **kwargs: calls.append((args, kwargs)))
    load_dataset(name, root='somewhere', split='full')
    assert calls == [((name.lower(), 'somewhere'), {'split': 'full'})]
    monkeypatch.undo()
    folder = {'citeseer': 'CiteSeer', 'pubmed': 'PubMed'}[name.lower()]
    with pytest.raises(ValueError, match=f"'planetoid:{folder}' needs "
                       'root=DIR'):
        load_dataset(name)


def test_missing_scipy_raises(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(pyg_gas.typing, 'WITH_SCIPY', False)
    with pytest.raises(ImportError, match=r'pip install scipy.*'
                       r"pyg-gas\[datasets\]"):
        load_dataset('flickr', root='unused')


class PartialResponse:
    r"""A download that breaks off after its first chunk."""
    def __init__(self) -> None:
        self.done = False

    def read(self, size: int = -1) -> bytes:
        if self.done:
            raise OSError('connection reset in tests')
        self.done = True
        return b'partial'


class Offline(list):
    r"""The URLs that PyG tried to download. With :obj:`partial` set, each
    download writes a first chunk before it fails."""
    partial = False


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> Offline:
    r"""Makes every download of PyG fail at once, as offline."""
    calls = Offline()

    def urlopen(url, *args, **kwargs):
        calls.append(url)
        if calls.partial:
            return PartialResponse()
        raise OSError('network disabled in tests')

    monkeypatch.setattr(urllib.request, 'urlopen', urlopen)
    return calls


@pytest.mark.parametrize('name', list(PYG_DATASETS))
def test_offline_without_files(tmp_path: Path, offline: Offline,
                               name: str):
    folder = tmp_path / FOLDERS[name]
    for attempt in range(2):  # A failed download leaves nothing behind.
        with pytest.raises(FileNotFoundError) as info:
            load_dataset(name, root=str(tmp_path))
        assert len(offline) == attempt + 1
        message = str(info.value)
        assert f"'{folder / 'raw'}'" in message
        assert f"'{name}'" in message and 'network disabled' in message
        files = ', '.join(RAW_FILES[name])
        assert f'{files} (missing: {files})' in message
        assert 'https://' in message
        assert not folder.exists()
    assert list(tmp_path.iterdir()) == []


def test_offline_messages_name_the_sources(tmp_path: Path,
                                           offline: Offline):
    with pytest.raises(FileNotFoundError) as info:
        load_dataset('coauthor-cs', root=str(tmp_path))
    assert ('https://github.com/shchur/gnn-benchmark/raw/master/data/npz/'
            'ms_academic_cs.npz') in str(info.value)
    assert offline[-1] in str(info.value)  # What PyG tried.
    with pytest.raises(FileNotFoundError) as info:
        load_dataset('ppi', root=str(tmp_path))
    assert 'unpacked from https://data.dgl.ai/dataset/ppi.zip' in str(
        info.value)
    with pytest.raises(FileNotFoundError) as info:
        load_dataset('flickr', root=str(tmp_path))
    assert str(info.value).count('drive.usercontent.google.com') == 4


def test_partial_download_keeps_user_files(tmp_path: Path,
                                           offline: Offline,
                                           graph: Dict[str, np.ndarray]):
    raw = write_graphsaint(tmp_path / 'Flickr', graph)
    (raw / 'class_map.json').unlink()
    (raw / 'role.json').unlink()
    offline.partial = True
    for attempt in range(2):
        with pytest.raises(FileNotFoundError) as info:
            load_dataset('flickr', root=str(tmp_path))
        assert len(offline) == attempt + 1  # PyG skips the present files.
        assert '(missing: class_map.json, role.json)' in str(info.value)
        assert 'connection reset' in str(info.value)
        assert sorted(p.name for p in raw.iterdir()) == ['adj_full.npz',
                                                         'feats.npy']
        assert not (tmp_path / 'Flickr' / 'processed').exists()

    # A zip that breaks off (Reddit) is removed as well:
    with pytest.raises(FileNotFoundError):
        load_dataset('reddit', root=str(tmp_path))
    assert not (tmp_path / 'Reddit').exists()


def test_corrupt_raw_file(tmp_path: Path, offline: Offline,
                          graph: Dict[str, np.ndarray]):
    raw = write_graphsaint(tmp_path / 'Flickr', graph)
    good = (raw / 'feats.npy').read_bytes()
    (raw / 'feats.npy').write_bytes(b'not a npy file')
    for _ in range(2):
        with pytest.raises(ValueError, match='may be corrupt') as info:
            load_dataset('flickr', root=str(tmp_path))
        message = str(info.value)
        assert f"'{raw}'" in message and 'feats.npy' in message
        assert str(tmp_path / 'Flickr' / 'processed') in message
        assert sorted(p.name for p in raw.iterdir()) == sorted(SAINT)
    assert offline == []  # Nothing was downloaded.
    (raw / 'feats.npy').write_bytes(good)  # Replaced: it loads.
    check_common(load_dataset('flickr', root=str(tmp_path)), 'flickr')

    path = write_coauthor(tmp_path, 'CS', graph)
    path.write_bytes(path.read_bytes()[:100])  # Truncated.
    with pytest.raises(ValueError, match='ms_academic_cs.npz'):
        load_dataset('coauthor-cs', root=str(tmp_path))
    assert path.is_file()


@pytest.mark.parametrize('name,metric', [
    ('coauthor-cs', 'accuracy'),
    ('wikics', 'accuracy'),
    ('reddit2', 'accuracy'),
    ('yelp', 'micro-F1'),
    ('ppi', 'micro-F1'),
])
def test_train_on_fixture(root: Path, name: str, metric: str):
    # The dataset's preset (PPI's residual, batch-normed GCN with linear
    # layers; Yelp's and Reddit2's standardized features), sized down:
    from pyg_gas.train import TrainConfig, run
    result = run(TrainConfig(dataset=name, root=str(root), epochs=40,
                             hidden=16, num_parts=4, batch_size=2, lr=0.01,
                             progress=False, device='cpu'))
    assert result['metric'] == metric
    config = result['config']
    assert config['standardize_features'] is (name in ('yelp', 'reddit2'))
    assert config['residual'] is (name in ('yelp', 'ppi'))
    # The features carry the class: far above chance. PPI's 9 test nodes sit
    # on rings of random classes, where a 2-layer GCN mixes them in: its
    # training nodes show that it learns (0.90 measured; test 0.69).
    key = 'train_acc' if name == 'ppi' else 'test_acc'
    assert result[key] >= 0.8, result
