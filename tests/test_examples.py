import importlib.util
import os.path as osp
import re
import subprocess
import sys
import warnings

import pytest

EXAMPLES = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                    'examples')
LINE = re.compile(r'^Epoch: (\d{3}), Loss: (\d\.\d{4}), Train: (\d\.\d{4}), '
                  r'Val: (\d\.\d{4}), Test: (\d\.\d{4})$')
BEST = re.compile(r'^Best val: (\d\.\d{4}), test at best val: (\d\.\d{4})$')


def _run_example(name, *args):
    # Runs an example as a user would, with every UserWarning an error;
    # returns its log lines and the best validation and test accuracy.
    proc = subprocess.run(
        [sys.executable, '-W', 'error::UserWarning', osp.join(EXAMPLES, name),
         *args], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ''  # No warnings, no bars.
    *lines, best = proc.stdout.splitlines()
    epochs = [LINE.match(line).groups() for line in lines]
    return epochs, tuple(float(v) for v in BEST.match(best).groups())


def _import_example(name):
    spec = importlib.util.spec_from_file_location(
        name[:-3], osp.join(EXAMPLES, name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_custom_conv_smoke(capsys):
    # Two epochs in this process (the slow test below runs the script).
    main = _import_example('custom_conv.py').main
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        best_val, test = main(epochs=2)
    assert [str(w.message) for w in caught
            if issubclass(w.category, UserWarning)] == []
    *lines, best = capsys.readouterr().out.splitlines()
    epochs = [LINE.match(line).groups() for line in lines]
    assert [e[0] for e in epochs] == ['002']  # Logs every 10th and the last.
    # The mean training loss of 7 classes starts near ln(7) = 1.95:
    assert 1.5 < float(epochs[0][1]) < 2.1
    assert BEST.match(best).groups() == (f'{best_val:.4f}', f'{test:.4f}')
    assert 0.0 < best_val <= 1.0 and 0.0 < test <= 1.0


@pytest.mark.slow
def test_custom_conv_accuracy():
    # A custom GAT + GCN model under GASConv, 200 epochs: as accurate on
    # Cora as examples/cora_gas.py's GCN (82.2%), within one point.
    epochs, (best_val, test) = _run_example('custom_conv.py')
    assert [e[0] for e in epochs] == [f'{e:03d}' for e in range(10, 201, 10)]
    losses = [float(e[1]) for e in epochs]
    assert losses[-1] < 0.75 * losses[0]  # It learns.
    assert best_val >= 0.80
    assert test >= 0.812
