import os
import random

import numpy as np
import pytest
import torch

from pyg_gas.checkpoint import (
    checkpoint_file,
    random_state,
    read_checkpoint,
    set_random_state,
    write_checkpoint,
)
from pyg_gas.cli import main
from pyg_gas.nn.models import GCN
from pyg_gas.train import TrainConfig, run

# Small runs whose every epoch draws from every random stream: dropout, the
# loaders' shuffles and LADIES' samples.
CONFIGS = {
    'gas': dict(loader='gas', num_parts=8, batch_size=2, hidden=8, layers=3),
    'ladies': dict(loader='ladies', hidden=8, batch_size=32, num_samples=64),
    'full': dict(loader='full', hidden=8),
}


def _run(tmp_path, epochs, checkpoint=None, **kwargs):
    return run(TrainConfig(dataset='cora', model='gcn', epochs=epochs,
                           seed=7, progress=False, cache_dir=str(tmp_path),
                           checkpoint=checkpoint, **kwargs))


@pytest.mark.parametrize('name', list(CONFIGS))
def test_resume_is_bit_exact(name, tmp_path):
    kwargs = CONFIGS[name]
    ckpt = str(tmp_path / 'ckpt')
    straight = _run(tmp_path, 5, **kwargs)
    first = _run(tmp_path, 2, ckpt, **kwargs)
    assert os.listdir(ckpt) == ['rank00000-of-00001.pt']  # Atomic writes.
    resumed = _run(tmp_path, 5, ckpt, **kwargs)
    assert first['curve']['loss'] == straight['curve']['loss'][:2]
    assert first['final_loss'] != straight['final_loss']
    # The resumed run trains epochs 3 to 5 only, and its whole curve and
    # final metrics equal the uninterrupted run's, bit for bit:
    assert resumed['curve']['epoch'] == [1, 2, 3, 4, 5]
    for key in ('loss', 'train_acc', 'val_acc', 'test_acc', 'staleness'):
        assert resumed['curve'][key] == straight['curve'][key], key
    for key in ('final_loss', 'best_val_acc', 'test_acc', 'train_acc',
                'best_epoch'):
        assert resumed[key] == straight[key], key
    if name == 'gas':  # Histories and their steps came back too.
        assert resumed['mean_halo_staleness'] == \
            straight['mean_halo_staleness'] > 0


def test_corrupt_and_foreign_checkpoints(tmp_path):
    kwargs = dict(CONFIGS['gas'])
    ckpt = tmp_path / 'ckpt'
    _run(tmp_path, 1, str(ckpt), **kwargs)
    file = ckpt / 'rank00000-of-00001.pt'

    # Another partition of the same graph:
    with pytest.raises(ValueError, match='belongs to another partition'):
        _run(tmp_path, 2, str(ckpt), **dict(kwargs, num_parts=6))
    # Another model, or options that change what the run computes:
    with pytest.raises(ValueError, match=r"another run: 'hidden' \(8 -> 16\)"):
        _run(tmp_path, 2, str(ckpt), **dict(kwargs, hidden=16))
    with pytest.raises(ValueError, match="'dropout' .*'weight_decay'"):
        _run(tmp_path, 2, str(ckpt), **dict(kwargs, dropout=0.1,
                                             weight_decay=0.1))
    # Nothing left to train:
    with pytest.raises(ValueError, match="'epochs' must be above the "
                       "checkpoint's epoch 1"):
        _run(tmp_path, 1, str(ckpt), **kwargs)
    # A truncated file:
    file.write_bytes(file.read_bytes()[:1000])
    with pytest.raises(ValueError, match='can not be read.*truncated'):
        _run(tmp_path, 2, str(ckpt), **kwargs)
    # A file of something else:
    torch.save({'weights': torch.ones(2)}, file)
    with pytest.raises(ValueError, match='is not a checkpoint of pyg_gas'):
        _run(tmp_path, 2, str(ckpt), **kwargs)


def test_cli_checkpoint_without_nproc(tmp_path, capsys):
    ckpt = str(tmp_path / 'ckpt')
    args = ['train', '--epochs', '2', '--num-parts', '8', '--batch-size',
            '2', '--hidden', '8', '--no-progress', '--quiet',
            '--cache-dir',
            str(tmp_path), '--checkpoint', ckpt]
    assert main(args) == 0
    assert os.listdir(ckpt) == ['rank00000-of-00001.pt']
    with open(checkpoint_file(ckpt), 'wb') as f:
        f.write(b'not a checkpoint')
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith('pyg-gas: error: ') and 'rank00000-of-00001' in err


def test_random_state_round_trip():
    generator = torch.Generator().manual_seed(5)
    state = random_state([generator])
    draws = (random.random(), float(np.random.rand()), float(torch.rand(1)),
             float(torch.rand(1, generator=generator)))
    set_random_state(state, [generator])
    assert draws == (random.random(), float(np.random.rand()),
                     float(torch.rand(1)),
                     float(torch.rand(1, generator=generator)))


def test_write_read_round_trip(tmp_path):
    model = GCN(10, 4, 8, 3, num_layers=2)
    model.histories[0].push(torch.randn(10, 8))
    optimizer = torch.optim.Adam(model.parameters())
    layout = dict(num_nodes=10, ptr=[0, 5, 10])
    file = write_checkpoint(str(tmp_path), layout, model, optimizer,
                            epoch=3, curve={'loss': [1.0, None]})
    assert file == checkpoint_file(str(tmp_path))
    other = GCN(10, 4, 8, 3, num_layers=2)
    values = read_checkpoint(str(tmp_path), layout, other,
                             torch.optim.Adam(other.parameters()))
    assert values == dict(epoch=3, curve={'loss': [1.0, None]})
    for key, value in model.state_dict().items():
        assert torch.equal(value, other.state_dict()[key]), key
    with pytest.raises(ValueError, match='has no optimizer state'):
        write_checkpoint(str(tmp_path), layout, model)
        read_checkpoint(str(tmp_path), layout, other,
                        torch.optim.Adam(other.parameters()))
    with pytest.raises(ValueError, match=r'written by \[1\] ranks'):
        read_checkpoint(str(tmp_path), layout, other, world_size=2)
    with pytest.raises(ValueError, match='holds another model'):
        read_checkpoint(str(tmp_path), layout, GCN(10, 4, 16, 3, 2))
    with pytest.raises(ValueError, match='refused'):
        def refuse(values):
            raise ValueError('refused')
        read_checkpoint(str(tmp_path), layout, other, check=refuse)


def test_resume_applies_a_new_learning_rate(tmp_path, capsys):
    kwargs = dict(CONFIGS['gas'], lr=0.01)
    ckpt = str(tmp_path / 'ckpt')
    straight = _run(tmp_path, 4, **kwargs)
    _run(tmp_path, 2, ckpt, **kwargs)
    resumed = run(TrainConfig(dataset='cora', epochs=4, seed=7,
                              cache_dir=str(tmp_path), checkpoint=ckpt,
                              **dict(kwargs, lr=0.05)))
    assert "with 'lr' 0.05 (was 0.01)" in capsys.readouterr().err
    assert resumed['config']['lr'] == 0.05
    assert resumed['resumed_from_epoch'] == 2
    loss, ref = resumed['curve']['loss'], straight['curve']['loss']
    assert loss[:2] == ref[:2] and loss[2] != ref[2]
