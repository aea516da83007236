import importlib.util
import io
import json
import re
import subprocess
import sys

import pytest

from pyg_gas.train import TrainConfig, run
from pyg_gas.train.loop import _tensorboard, log_line

LINE = re.compile(r'^Epoch: (\d{3}), Loss: (\d\.\d{4})'
                  r'(?:, Val: (\d\.\d{4}), Test: (\d\.\d{4}))?$')


class _Terminal(io.StringIO):
    # A stderr that says it is a terminal, so that tqdm draws its bar.
    def isatty(self):
        return True


def _epoch_lines(text):
    return [LINE.match(line).groups() for line in text.splitlines()
            if line.startswith('Epoch:')]


def _run(tmp_path, **kwargs):
    kwargs = dict(dict(dataset='cora', model='gcn', loader='full', epochs=2,
                       log_every=1, hidden=8, cache_dir=str(tmp_path)),
                  **kwargs)
    return run(TrainConfig(**kwargs))


def test_log_line_is_pygs(capsys):
    log_line(Epoch=1, Loss=0.12344, Val=0.8, Test=0.81)
    assert capsys.readouterr() == (
        '', 'Epoch: 001, Loss: 0.1234, Val: 0.8000, Test: 0.8100\n')


def test_piped_run(tmp_path):
    # A run whose stderr is a file: no bar refreshes ('\r'), one Epoch
    # line per epoch (Val and Test where evaluated), the JSON summary alone
    # on stdout, and per-epoch lists in the results file.
    path = tmp_path / 'run.json'
    with open(tmp_path / 'err.txt', 'w') as err:
        proc = subprocess.run(
            [sys.executable, '-m', 'pyg_gas.cli', 'train', '--epochs', '3',
             '--loader', 'full', '--eval-every', '2', '--log-every', '1',
             '--hidden', '8', '--json', str(path), '--cache-dir',
             str(tmp_path)],
            stdout=subprocess.PIPE, stderr=err, text=True, timeout=300)
    stderr = (tmp_path / 'err.txt').read_text()
    assert proc.returncode == 0, stderr
    assert '\r' not in stderr
    assert json.loads(proc.stdout)['epochs'] == 3  # One line of JSON.

    result = json.loads(path.read_text())
    curve = result['curve']
    assert curve['epoch'] == [1, 2, 3]
    for key in ('loss', 'time_s', 'staleness', 'eval_time_s', 'read_bytes'):
        assert len(curve[key]) == 3
    assert all(isinstance(v, float) and v > 0 for v in curve['loss'])
    assert all(isinstance(v, float) and v > 0 for v in curve['time_s'])
    assert curve['staleness'] == [None] * 3  # No histories.
    for key in ('train_acc', 'val_acc', 'test_acc'):  # Evaluated: 2, 3.
        assert curve[key][0] is None
        assert all(0 <= v <= 1 for v in curve[key][1:])
    assert curve['eval_time_s'][0] is None
    assert result['final_loss'] == curve['loss'][-1]

    assert _epoch_lines(stderr) == [
        (f'{epoch:03d}', f'{loss:.4f}') + ((f'{val:.4f}', f'{test:.4f}')
                                           if val is not None
                                           else (None, None))
        for epoch, loss, val, test in zip(curve['epoch'], curve['loss'],
                                          curve['val_acc'],
                                          curve['test_acc'])]


def test_quiet_and_no_progress(tmp_path, capfd, monkeypatch):
    # On a terminal: the bar and the Epoch lines; '--no-progress' drops the
    # bar only, '--quiet' the lines only. stdout stays empty.
    for progress, quiet, bar, lines in [(True, False, True, 1),
                                        (False, False, False, 1),
                                        (True, True, True, 0),
                                        (False, True, False, 0)]:
        terminal = _Terminal()
        monkeypatch.setattr(sys, 'stderr', terminal)
        result = _run(tmp_path, epochs=1, progress=progress, quiet=quiet)
        text = terminal.getvalue()
        assert ('\r' in text) == bar, (progress, quiet, text)
        assert ('gcn/full' in text) == bar
        curve = result['curve']
        assert _epoch_lines(text.replace('\r', '\n')) == [
            ('001', f"{curve['loss'][0]:.4f}", f"{curve['val_acc'][0]:.4f}",
             f"{curve['test_acc'][0]:.4f}")] * lines
        assert capfd.readouterr().out == ''


@pytest.mark.skipif(importlib.util.find_spec('tensorboard') is None,
                    reason='--tensorboard needs the tensorboard package')
def test_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator,
    )
    logdir = tmp_path / 'tb'
    result = _run(tmp_path, loader='gas', num_parts=8, batch_size=2,
                  epochs=2, eval_every=2, progress=False, quiet=True,
                  tensorboard=str(logdir))
    curve = result['curve']
    events = EventAccumulator(str(logdir))
    events.Reload()
    assert sorted(events.Tags()['scalars']) == [
        'accuracy/test', 'accuracy/train', 'accuracy/val', 'loss/train',
        'staleness/halo_steps', 'time/epoch_s', 'time/eval_s']

    def scalars(tag):
        return [(e.step, pytest.approx(e.value, rel=1e-6))
                for e in events.Scalars(tag)]

    assert scalars('loss/train') == list(zip([1, 2], curve['loss']))
    assert scalars('time/epoch_s') == list(zip([1, 2], curve['time_s']))
    assert scalars('staleness/halo_steps') == list(
        zip([1, 2], curve['staleness']))
    assert scalars('time/eval_s') == [(2, curve['eval_time_s'][1])]
    for split in ('train', 'val', 'test'):  # Evaluated epochs only.
        assert scalars(f'accuracy/{split}') == [(2, curve[f'{split}_acc'][1])]


def test_tensorboard_rank_and_missing_package(tmp_path, monkeypatch):
    config = TrainConfig(tensorboard=str(tmp_path / 'tb'))
    assert _tensorboard(TrainConfig(), 0, 1) is None
    if importlib.util.find_spec('tensorboard') is not None:
        assert _tensorboard(config, 1, 1) is None  # Only rank 0 writes.
        assert not (tmp_path / 'tb').exists()
    monkeypatch.setitem(sys.modules, 'tensorboard', None)
    for rank in (0, 1):  # Every rank fails alike.
        with pytest.raises(ImportError, match="'tensorboard' package.*"
                           "pip install tensorboard"):
            _tensorboard(config, rank, 1)
    with pytest.raises(ImportError, match="'tensorboard' package"):
        _run(tmp_path, tensorboard=str(tmp_path / 'tb'))
    assert not (tmp_path / 'tb').exists()


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec('tensorboard') is None,
                    reason='--tensorboard needs the tensorboard package')
def test_distributed_logs(tmp_path):
    # 2 ranks: one set of Epoch lines and one TensorBoard file, rank 0's.
    logdir = tmp_path / 'tb'
    with open(tmp_path / 'err.txt', 'w') as err:
        proc = subprocess.run(
            [sys.executable, '-m', 'pyg_gas.cli', 'train', '--nproc', '2',
             '--epochs', '2', '--log-every', '1', '--hidden', '8',
             '--num-parts', '8', '--batch-size', '2', '--tensorboard',
             str(logdir), '--cache-dir', str(tmp_path)],
            stdout=subprocess.PIPE, stderr=err, text=True, timeout=600)
    stderr = (tmp_path / 'err.txt').read_text()
    assert proc.returncode == 0, stderr
    assert '\r' not in stderr
    assert [e[0] for e in _epoch_lines(stderr)] == ['001', '002']
    files = list(logdir.iterdir())
    assert len(files) == 1 and files[0].name.startswith('events.out.')
