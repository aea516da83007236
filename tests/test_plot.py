import importlib.util
import json
import struct
import sys

import pytest

from pyg_gas.plot import plot_runs, read_run

needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec('matplotlib') is None,
    reason="plot_runs needs matplotlib (pip install 'pyg-gas[plot]')")

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def _write_run(path, model='gcn', epochs=6, eval_every=2, **extra):
    # A results JSON as 'pyg-gas train --json' writes it: per-epoch lists,
    # accuracies only on evaluated epochs.
    evaluated = [e % eval_every == 0 or e == epochs
                 for e in range(1, epochs + 1)]
    curve = dict(
        epoch=list(range(1, epochs + 1)),
        loss=[2.0 / e for e in range(1, epochs + 1)],
        time_s=[0.1] * epochs, staleness=[None] * epochs,
        train_acc=[0.5 + e / 100 if ok else None
                   for e, ok in enumerate(evaluated, 1)],
        val_acc=[0.4 + e / 100 if ok else None
                 for e, ok in enumerate(evaluated, 1)],
        test_acc=[0.3 + e / 100 if ok else None
                  for e, ok in enumerate(evaluated, 1)])
    run = dict(dataset='cora', model=model, loader='gas', epochs=epochs,
               metric='accuracy', best_epoch=epochs, curve=curve)
    run.update(extra)
    with open(path, 'w') as f:
        json.dump(run, f)
    return str(path)


def _png_size(path):
    with open(path, 'rb') as f:
        head = f.read(24)
    assert head[:8] == PNG_SIGNATURE
    assert head[12:16] == b'IHDR'
    return struct.unpack('>II', head[16:24])  # width, height


@needs_matplotlib
def test_plot_runs_png(tmp_path):
    paths = [_write_run(tmp_path / 'gcn.json'),
             _write_run(tmp_path / 'sage.json', model='sage', epochs=9)]
    out = tmp_path / 'sub' / 'curves.png'
    plot_runs(paths, str(out))
    # 10 x 4 inches at 100 dpi:
    assert _png_size(out) == (1000, 400)
    plot_runs(paths, str(out), dpi=50)  # Replaces the file.
    assert _png_size(out) == (500, 200)
    assert [p.name for p in out.parent.iterdir()] == ['curves.png']

    import matplotlib.image
    pixels = matplotlib.image.imread(str(out))
    assert pixels.shape[:2] == (200, 500)
    assert pixels.std() > 0.05  # Not a blank image.


@needs_matplotlib
def test_plot_runs_formats(tmp_path):
    path = _write_run(tmp_path / 'run.json')
    plot_runs([path], str(tmp_path / 'curves.pdf'))
    plot_runs([path], str(tmp_path / 'curves.svg'), log_loss=False)
    with open(tmp_path / 'curves.pdf', 'rb') as f:
        assert f.read(5) == b'%PDF-'
    with open(tmp_path / 'curves.svg') as f:
        text = f.read()
    assert '<svg' in text and 'cora/gcn/gas' in text  # The run's label.


@needs_matplotlib
def test_plot_runs_labels(tmp_path):
    # Two runs of the same configuration are told apart by file name:
    paths = [_write_run(tmp_path / 'a.json'), _write_run(tmp_path / 'b.json')]
    plot_runs(paths, str(tmp_path / 'ab.svg'))
    text = (tmp_path / 'ab.svg').read_text()
    assert 'cora/gcn/gas (a.json)' in text
    assert 'cora/gcn/gas (b.json)' in text
    plot_runs(paths, str(tmp_path / 'named.svg'), labels=['first', 'second'])
    text = (tmp_path / 'named.svg').read_text()
    assert 'first' in text and 'second' in text and 'a.json' not in text


@needs_matplotlib
def test_plot_runs_bad_input(tmp_path):
    good = _write_run(tmp_path / 'good.json')
    not_json = tmp_path / 'notes.json'
    not_json.write_text('Epoch: 001, Loss: 1.0\n')
    no_curve = tmp_path / 'summary.json'
    no_curve.write_text(json.dumps(dict(dataset='cora', test_acc=0.8)))
    short = tmp_path / 'short.json'
    run = json.loads(open(good).read())
    run['curve']['loss'] = run['curve']['loss'][:-1]
    short.write_text(json.dumps(run))
    empty = tmp_path / 'empty.json'
    run['curve'] = dict(epoch=[], loss=[])
    empty.write_text(json.dumps(run))
    out = str(tmp_path / 'out.png')
    for path, match in [(not_json, 'not a results JSON'),
                        (no_curve, 'no training curve'),
                        (short, "list 'loss' of 6 numbers"),
                        (empty, 'no epochs')]:
        with pytest.raises(ValueError, match=match) as info:
            plot_runs([good, str(path)], out)
        assert str(path) in str(info.value)
        with pytest.raises(ValueError):
            read_run(str(path))
    assert not (tmp_path / 'out.png').exists()
    with pytest.raises(ValueError, match="'paths' must be a non-empty"):
        plot_runs([], out)
    with pytest.raises(ValueError, match="'paths' must be a non-empty"):
        plot_runs(good, out)  # One path, not a list.
    with pytest.raises(ValueError, match="'out' must end in an image "
                       "format .*got '.*curves.txt'"):
        plot_runs([good], str(tmp_path / 'curves.txt'))
    with pytest.raises(ValueError, match="one label per run"):
        plot_runs([good], out, labels=['a', 'b'])
    with pytest.raises(FileNotFoundError):
        plot_runs([str(tmp_path / 'missing.json')], out)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ['good.json', 'notes.json', 'summary.json', 'short.json',
         'empty.json'])


def test_plot_runs_needs_matplotlib(tmp_path, monkeypatch):
    path = _write_run(tmp_path / 'run.json')
    monkeypatch.setitem(sys.modules, 'matplotlib', None)
    with pytest.raises(ImportError, match=r"'matplotlib' package.*"
                       r"pyg-gas\[plot\]"):
        plot_runs([path], str(tmp_path / 'curves.png'))


def test_log_ticks():
    from pyg_gas.plot import _log_tick
    labels = [_log_tick(v, None) for v in
              (0.1, 0.2, 0.3, 0.4, 0.5, 0.9, 1.0, 2.0, 7.0, 30.0, 0.0)]
    assert labels == ['0.1', '0.2', '0.3', '', '0.5', '', '1', '2', '', '30',
                      '']
