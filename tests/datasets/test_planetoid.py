import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from pyg_gas.datasets import DATASETS, load_dataset
from pyg_gas.datasets import planetoid as planetoid_module

REPO = Path(__file__).resolve().parents[2]
SHARED_RAW_DIR = REPO / '..' / 'shared' / 'data' / 'planetoid'
RAW_NAMES = [
    f'ind.cora.{suffix}'
    for suffix in ['x', 'tx', 'allx', 'y', 'ty', 'ally', 'graph', 'test.index']
]
NPZ_PATH = Path(planetoid_module.__file__).with_name('cora.npz')


@pytest.fixture(scope='module')
def shared_raw_dir() -> Path:
    r"""The raw Planetoid Cora files, which the comparisons with PyG need.
    They are part of the test setup (CI has ``../shared`` beside the clone),
    so their absence is a failure, not a reason to skip."""
    missing = [n for n in RAW_NAMES if not (SHARED_RAW_DIR / n).is_file()]
    if missing:
        pytest.fail(f'The raw Planetoid Cora files are missing: expected '
                    f'{", ".join(missing)} in {SHARED_RAW_DIR.resolve()} '
                    f'(the directory shared/data/planetoid beside the '
                    f'clone of the repository)', pytrace=False)
    return SHARED_RAW_DIR


def copy_raw_cora(shared_raw_dir: Path, root: Path) -> Path:
    raw_dir = root / 'Cora' / 'raw'
    raw_dir.mkdir(parents=True)
    for name in RAW_NAMES:
        shutil.copyfile(shared_raw_dir / name, raw_dir / name)
    return raw_dir


@pytest.fixture(scope='module')
def pyg_cora(shared_raw_dir: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Data:
    from torch_geometric.datasets import Planetoid

    root = tmp_path_factory.mktemp('pyg_root')
    copy_raw_cora(shared_raw_dir, root)
    return Planetoid(str(root), 'Cora')[0]


def test_bundled_npz_is_compact():
    assert NPZ_PATH.is_file()
    assert NPZ_PATH.stat().st_size < 200 * 1024
    with np.load(NPZ_PATH) as npz:
        assert npz['x_indptr'].dtype == np.int32
        assert npz['x_indices'].dtype == np.int16
        assert npz['edge_index'].dtype == np.int16
        assert npz['y'].dtype == np.int8
        for key in ['train_idx', 'val_idx', 'test_idx']:
            assert npz[key].dtype == np.int16
        assert 'x' not in npz.files  # No dense feature matrix.


def test_bundled_cora_shapes_and_dtypes(cora: Data):
    assert isinstance(cora, Data)
    assert cora.num_nodes == 2708
    assert cora.x.shape == (2708, 1433)
    assert cora.x.dtype == torch.float32
    assert cora.edge_index.shape == (2, 10556)
    assert cora.edge_index.dtype == torch.long
    assert cora.y.shape == (2708,)
    assert cora.y.dtype == torch.long
    assert int(cora.y.min()) == 0 and int(cora.y.max()) == 6
    assert cora.num_classes == 7
    assert cora.name == 'cora'
    assert int(cora.edge_index.min()) >= 0
    assert int(cora.edge_index.max()) < 2708


def test_bundled_cora_split(cora: Data):
    for key in ['train_mask', 'val_mask', 'test_mask']:
        assert cora[key].dtype == torch.bool
        assert cora[key].shape == (2708,)
    assert int(cora.train_mask.sum()) == 140
    assert int(cora.val_mask.sum()) == 500
    assert int(cora.test_mask.sum()) == 1000
    assert not bool((cora.train_mask & cora.val_mask).any())
    assert not bool((cora.train_mask & cora.test_mask).any())
    assert not bool((cora.val_mask & cora.test_mask).any())
    # Public split: 20 training nodes per class.
    counts = torch.bincount(cora.y[cora.train_mask], minlength=7)
    assert counts.tolist() == [20] * 7


def test_bundled_cora_graph_and_features(cora: Data):
    row, col = cora.edge_index
    assert not bool((row == col).any())  # No self-loops.
    n = cora.num_nodes
    forward = set((row * n + col).tolist())
    backward = set((col * n + row).tolist())
    assert len(forward) == cora.edge_index.size(1)  # No duplicates.
    assert forward == backward  # Undirected.

    assert bool(((cora.x == 0) | (cora.x == 1)).all())  # Binary, raw.
    assert int(cora.x.sum()) == 49216
    assert bool((cora.x.sum(dim=1) > 0).all())


def test_name_is_case_insensitive(cora: Data):
    other = load_dataset('  CORA ')
    assert torch.equal(other.x, cora.x)
    assert torch.equal(other.edge_index, cora.edge_index)
    assert other.name == 'cora'
    assert 'cora' in DATASETS


def test_bundled_cora_equals_pyg_planetoid(cora: Data, pyg_cora: Data):
    assert torch.equal(cora.x, pyg_cora.x)
    assert torch.equal(cora.edge_index, pyg_cora.edge_index)
    assert torch.equal(cora.y, pyg_cora.y)
    assert torch.equal(cora.train_mask, pyg_cora.train_mask)
    assert torch.equal(cora.val_mask, pyg_cora.val_mask)
    assert torch.equal(cora.test_mask, pyg_cora.test_mask)


def test_planetoid_cora_from_root_equals_bundled(
    shared_raw_dir: Path,
    tmp_path: Path,
    cora: Data,
):
    copy_raw_cora(shared_raw_dir, tmp_path)
    data = load_dataset('planetoid:cora', root=str(tmp_path))
    assert isinstance(data, Data)
    assert (tmp_path / 'Cora' / 'processed' / 'data.pt').is_file()
    assert data.num_classes == 7
    assert data.name == 'cora'
    for key in ['x', 'edge_index', 'y', 'train_mask', 'val_mask', 'test_mask']:
        assert torch.equal(data[key], cora[key]), key


def test_unknown_name_raises():
    with pytest.raises(ValueError, match="'cora'.*'flickr'"):
        load_dataset('nope')
    with pytest.raises(ValueError, match="'synthetic-arxiv'"):
        load_dataset('synthetic-sbm')
    with pytest.raises(ValueError, match='CiteSeer'):
        load_dataset('planetoid:reddit', root='unused')


def test_planetoid_without_root_raises():
    with pytest.raises(ValueError, match='root=DIR'):
        load_dataset('planetoid:CiteSeer')


def test_planetoid_missing_raw_files_raises(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    from torch_geometric.datasets import Planetoid
    from torch_geometric.io import fs

    calls = []

    def no_download(*args, **kwargs):
        calls.append(args)
        raise OSError('network disabled in tests')

    monkeypatch.setattr(Planetoid, 'download', no_download)
    monkeypatch.setattr(fs, 'cp', no_download)

    with pytest.raises(FileNotFoundError) as info:
        load_dataset('planetoid:PubMed', root=str(tmp_path))
    assert len(calls) == 1  # The download was attempted (and mocked).
    message = str(info.value)
    assert str(tmp_path / 'PubMed' / 'raw') in message
    assert 'ind.pubmed.' in message


def test_non_str_name_raises():
    with pytest.raises(TypeError):
        load_dataset(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        load_dataset(Path('cora'))  # type: ignore[arg-type]


def test_corrupt_raw_files_name_the_directory(shared_raw_dir: Path,
                                              tmp_path: Path):
    raw_dir = copy_raw_cora(shared_raw_dir, tmp_path)
    (raw_dir / 'ind.cora.graph').write_bytes(b'\x80\x04 not a pickle')
    with pytest.raises(ValueError, match='can not be read from') as info:
        load_dataset('planetoid:Cora', root=str(tmp_path))
    message = str(info.value)
    assert str(raw_dir) in message and 'may be corrupt' in message
    assert str(tmp_path / 'Cora' / 'processed') in message


def test_corrupt_bundled_npz_names_the_file(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch):
    bad = tmp_path / 'cora.npz'
    bad.write_bytes(NPZ_PATH.read_bytes()[:2000])  # Truncated.
    # The package's data files are looked up in tmp_path instead:
    monkeypatch.setattr(planetoid_module.resources, 'files',
                        lambda package: tmp_path)
    with pytest.raises(ValueError, match='can not be read') as info:
        load_dataset('cora')
    assert 'cora.npz' in str(info.value) and 'reinstall' in str(info.value)
