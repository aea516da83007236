from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch_geometric.data import Data

from pyg_gas.checks import check_split
from pyg_gas.datasets.saved import random_node_split
from pyg_gas.train import TrainConfig, resolve, run
from pyg_gas.train.build import load_graph

MASKS = ('train_mask', 'val_mask', 'test_mask')

pytestmark = pytest.mark.usefixtures('single_thread')


@pytest.fixture(scope='module')
def cora_file(tmp_path_factory: pytest.TempPathFactory, cora: Data) -> Path:
    # Cora as a user saves their own graph: no masks, no num_classes.
    path = tmp_path_factory.mktemp('graph') / 'my_cora.pt'
    torch.save(Data(x=cora.x, edge_index=cora.edge_index, y=cora.y), path)
    return path


def sizes(data: Data) -> tuple:
    return tuple(int(data[key].sum()) for key in MASKS)


def test_saved_graph_trains_with_split(cora_file: Path):
    result = run(TrainConfig(dataset=str(cora_file), split='0.6,0.2,0.2',
                             num_parts=4, batch_size=2, hidden=16, layers=2,
                             epochs=20,
                             lr=0.01, weight_decay=5e-4, seed=0,
                             device='cpu', progress=False))
    assert result['dataset'] == str(cora_file)
    assert result['num_nodes'] == 2708
    assert result['metric'] == 'accuracy'
    assert result['best_val_acc'] >= 0.8  # 0.87 measured.
    assert result['test_acc'] >= 0.8  # 0.87 measured.


def test_split_sizes_and_seed(cora: Data, cora_file: Path):
    data = Data(x=cora.x, edge_index=cora.edge_index, y=cora.y)
    first = random_node_split(data, '0.6,0.2,0.2', seed=0)
    # floor(0.2 * 2708) = 541 each; training takes the rest (sum is 1):
    assert sizes(first) == (1626, 541, 541)
    assert bool((first.train_mask | first.val_mask | first.test_mask).all())
    assert int(first.train_mask.int().add(first.val_mask.int())
               .add(first.test_mask.int()).max()) == 1  # Disjoint.
    assert not any(key in data for key in MASKS)  # A copy.

    again = random_node_split(data, (0.6, 0.2, 0.2), seed=0)
    other = random_node_split(data, '0.6,0.2,0.2', seed=1)
    for key in MASKS:
        assert torch.equal(first[key], again[key]), key
    assert not torch.equal(first.train_mask, other.train_mask)
    assert sizes(other) == sizes(first)

    # The run's split is this one, seeded by its seed:
    config = resolve(TrainConfig(dataset=str(cora_file), seed=1,
                                 split='0.6,0.2,0.2', device='cpu'))
    loaded = load_graph(config)
    for key in MASKS:
        assert torch.equal(loaded[key], other[key]), key

    # Shares below 1 leave nodes out; unlabelled nodes are in no mask:
    y = cora.y.clone()
    y[:708] = -1  # 2000 labelled nodes.
    part = random_node_split(Data(x=cora.x, y=y), '0.25,0.1,0.3', seed=0)
    assert sizes(part) == (500, 200, 600)
    for key in MASKS:
        assert not bool(part[key][:708].any()), key
    full = random_node_split(Data(x=cora.x, y=y), '0.7,0.2,0.1', seed=0)
    assert sizes(full) == (1400, 400, 200)

    # Multi-label rows (0/1) are all labelled:
    multi = Data(y=torch.randint(0, 2, (10, 3)).float(), num_nodes=10)
    assert sizes(random_node_split(multi, '0.5,0.3,0.2')) == (5, 3, 2)


@pytest.mark.parametrize('value', [
    '0.6,0.2', '0.6,0.2,0.1,0.1', 'a,b,c', '0.6;0.2;0.2', '', '0.6,0.3,0.3',
    '-0.1,0.6,0.5', '0,0.5,0.5', '0.5,0.5,0', 'nan,0.1,0.1', 'inf,0,0',
    (0.6, 0.2), (True, 0.2, 0.2),
])
def test_bad_split(value):
    with pytest.raises(ValueError, match=r"'split' must be three positive "
                       r"shares 'TRAIN,VAL,TEST'.*'0\.6,0\.2,0\.2'") as info:
        check_split(value)
    assert f'(got {value!r})' in str(info.value)


def test_check_split():
    assert check_split('0.6,0.2,0.2') == (0.6, 0.2, 0.2)
    assert check_split(' 0.7, 0.2 ,0.1') == (0.7, 0.2, 0.1)  # 1 + 2e-16.
    assert check_split([0.1, 0.1, 0.1]) == (0.1, 0.1, 0.1)
    with pytest.raises(ValueError, match='sum to 1.2'):
        check_split('0.6,0.3,0.3')
    with pytest.raises(TypeError, match="'split' must be a str"):
        check_split(0.6)
    with pytest.raises(ValueError, match='0 of the 10 labelled nodes to '
                       'the test set'):
        random_node_split(Data(y=torch.arange(10), num_nodes=10),
                          '0.8,0.15,0.05')


def test_without_masks_or_with_split(cora: Data, cora_file: Path,
                                     tmp_path: Path):
    config = resolve(TrainConfig(dataset=str(cora_file), device='cpu'))
    with pytest.raises(ValueError, match="has no 'train_mask', 'val_mask' "
                       "or 'test_mask': pass --split TRAIN,VAL,TEST"):
        load_graph(config)

    # A graph with masks of its own refuses a random split:
    path = tmp_path / 'with_masks.pt'
    torch.save(Data(x=cora.x, edge_index=cora.edge_index, y=cora.y,
                    train_mask=cora.train_mask, val_mask=cora.val_mask,
                    test_mask=cora.test_mask), path)
    config = resolve(TrainConfig(dataset=str(path), split='0.6,0.2,0.2',
                                 device='cpu'))
    with pytest.raises(ValueError, match="has its own 'train_mask', "
                       "'val_mask', 'test_mask'.*leave --split out"):
        load_graph(config)
    config = resolve(TrainConfig(dataset='cora', split='0.6,0.2,0.2',
                                 device='cpu'))
    with pytest.raises(ValueError, match='has its own'):
        load_graph(config)
    # A bad split is named when the configuration is resolved, before any
    # loading, and by load_graph before the masks are looked at:
    config = TrainConfig(dataset=str(cora_file), split='0.6,0.2',
                         device='cpu')
    with pytest.raises(ValueError, match="got '0.6,0.2'"):
        resolve(config)
    config = resolve(TrainConfig(dataset=str(cora_file), device='cpu'))
    config.split = '0.6,0.2'
    with pytest.raises(ValueError, match="got '0.6,0.2'"):
        load_graph(config)
    # So does a prepared dataset, whose masks were written by prepare:
    prepared = SimpleNamespace(data_dir=str(tmp_path), split='0.6,0.2,0.2')
    with pytest.raises(ValueError, match='holds the masks it was prepared '
                       'with: leave --split out'):
        load_graph(prepared)
