r"""Training curves of one or several runs, drawn from the results JSON
files that ``pyg-gas train --json PATH`` writes: :func:`plot_runs`.

Needs :obj:`matplotlib` (``pip install 'pyg-gas[plot]'``), imported only
when a figure is drawn."""
import importlib.util
import json
import math
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

from pyg_gas.utils import atomic_write

#: How the accuracy panel draws each split: (key, label, line style).
SPLITS = (('val_acc', 'val', '-'), ('test_acc', 'test', '--'),
          ('train_acc', 'train', ':'))


def _matplotlib() -> Tuple[Any, Any, Any]:
    # matplotlib's Figure class, the Agg canvas and a tick formatter,
    # imported on first use.
    # No pyplot: the figure does not touch the caller's backend.
    if importlib.util.find_spec('matplotlib') is None:
        raise ImportError("'plot_runs' requires the 'matplotlib' package. "
                          "Install it with `pip install matplotlib` (or "
                          "`pip install 'pyg-gas[plot]'`).")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter
    return Figure, FigureCanvasAgg, FuncFormatter


def _numbers(values: Any) -> bool:
    return isinstance(values, list) and all(
        value is None or (isinstance(value, (int, float))
                          and not isinstance(value, bool))
        for value in values)


def read_run(path: str) -> Dict[str, Any]:
    r"""Reads the results JSON file :obj:`path` of a training run and
    checks that it holds a curve: per-epoch lists :obj:`epoch` and
    :obj:`loss` of equal, non-zero length, and accuracies (:obj:`None`
    for epochs that were not evaluated) of that length where present.
    Raises a :class:`ValueError` naming the file otherwise."""
    with open(path) as f:
        try:
            run = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"'{path}' is not a results JSON file of "
                             f"'pyg-gas train --json' ({e})") from None
    curve = run.get('curve') if isinstance(run, dict) else None
    if not isinstance(curve, dict):
        raise ValueError(f"'{path}' holds no training curve: expected the "
                         f"results JSON of 'pyg-gas train --json', with a "
                         f"'curve' object")
    epochs = curve.get('epoch')
    if not _numbers(epochs) or not epochs or None in epochs:
        raise ValueError(f"The curve of '{path}' has no epochs (expected "
                         f"a non-empty list 'epoch', got {epochs!r:.60})")
    for key in ('loss', ) + tuple(key for key, _, _ in SPLITS):
        values = curve.get(key, [None] * len(epochs) if key != 'loss'
                           else None)
        if not _numbers(values) or len(values) != len(epochs):
            raise ValueError(f"The curve of '{path}' must hold a list "
                             f"'{key}' of {len(epochs)} numbers, one per "
                             f"epoch (got {values!r:.60})")
    return run


def _labels(runs: List[Dict[str, Any]], paths: Sequence[str]) -> List[str]:
    # 'dataset/model/loader' of each run; the file name is added to runs
    # that would share a label.
    labels = ['/'.join(str(run.get(key, '?'))
                       for key in ('dataset', 'model', 'loader'))
              for run in runs]
    return [f'{label} ({osp.basename(path)})' if labels.count(label) > 1
            else label for label, path in zip(labels, paths)]


def _points(epochs: List[int], values: List[Optional[float]]
            ) -> Tuple[List[int], List[float]]:
    pairs = [(e, v) for e, v in zip(epochs, values) if v is not None]
    return [e for e, _ in pairs], [v for _, v in pairs]


def _log_tick(value: float, _: Any) -> str:
    # The label of a tick of a logarithmic axis: 0.2, 0.3, 0.5, 1, 2, 3, 5,
    # 10, ...; no label on the ticks in between.
    if value <= 0:
        return ''
    mantissa = value / 10 ** math.floor(math.log10(value))
    if any(math.isclose(mantissa, m) for m in (1, 2, 3, 5)):
        return f'{value:g}'
    return ''


def plot_runs(paths: Sequence[str], out: str,
              labels: Optional[Sequence[str]] = None,
              log_loss: bool = True, dpi: int = 100) -> None:
    r"""Draws the training curves of the runs whose results JSON files
    (written by ``pyg-gas train --json PATH``) are :obj:`paths`, side by
    side in one figure saved to :obj:`out`: the training loss per epoch
    on the left, the train, validation and test accuracy (or the run's
    metric) of the evaluated epochs on the right, one colour per run. The
    epoch of the best validation accuracy is marked. The file is written
    atomically, in the format its extension names (:obj:`.png`,
    :obj:`.pdf`, :obj:`.svg`, or another one matplotlib writes).

    .. code-block:: python

        plot_runs(['gcn.json', 'sage.json'], 'curves.png')

    Args:
        paths (Sequence[str]): The results JSON files, one per run.
        out (str): The image file to write.
        labels (Sequence[str], optional): The legend label of each run.
            (default: :obj:`'dataset/model/loader'` of each run, with the
            file name where two runs would share one)
        log_loss (bool, optional): Draws the loss on a logarithmic axis.
            (default: :obj:`True`)
        dpi (int, optional): The resolution of raster formats, in dots per
            inch of the 10 x 4 inch figure. (default: :obj:`100`)
    """
    if isinstance(paths, (str, bytes)) or not paths:
        raise ValueError(f"'paths' must be a non-empty list of results "
                         f"JSON files (got {paths!r})")
    if labels is not None and len(labels) != len(paths):
        raise ValueError(f"'labels' must hold one label per run ({len(paths)}"
                         f"; got {len(labels)})")
    if isinstance(dpi, bool) or not isinstance(dpi, int) or dpi < 1:
        raise ValueError(f"'dpi' must be a positive integer (got {dpi!r})")
    Figure, FigureCanvasAgg, FuncFormatter = _matplotlib()
    fig = Figure(figsize=(10, 4), layout='constrained')
    canvas = FigureCanvasAgg(fig)
    fmt = osp.splitext(out)[1].lstrip('.').lower()
    formats = canvas.get_supported_filetypes()
    if fmt not in formats:
        raise ValueError(f"'out' must end in an image format "
                         f"({', '.join(sorted(formats))}) (got '{out}')")
    runs = [read_run(path) for path in paths]
    labels = list(labels) if labels is not None else _labels(runs, paths)
    loss_ax, acc_ax = fig.subplots(1, 2)
    metrics = {run.get('metric', 'accuracy') for run in runs}
    metric = metrics.pop() if len(metrics) == 1 else 'metric'
    for i, (run, label) in enumerate(zip(runs, labels)):
        color = f'C{i % 10}'
        curve = run['curve']
        loss_ax.plot(*_points(curve['epoch'], curve['loss']), color=color,
                     label=label)
        for key, _, style in SPLITS:
            if key in curve:
                acc_ax.plot(*_points(curve['epoch'], curve[key]),
                            color=color, linestyle=style, linewidth=1.2)
        best = run.get('best_epoch')
        if best in curve['epoch'] and 'val_acc' in curve:
            value = curve['val_acc'][curve['epoch'].index(best)]
            if value is not None:
                acc_ax.plot([best], [value], marker='o', color=color,
                            markersize=6, markeredgecolor='white')
    if log_loss:  # Ticks as 0.2, 0.3, 0.5, 1, not as powers of ten.
        loss_ax.set_yscale('log')
        loss_ax.yaxis.set_major_formatter(FuncFormatter(_log_tick))
        loss_ax.yaxis.set_minor_formatter(FuncFormatter(_log_tick))
    loss_ax.set(xlabel='epoch', ylabel='training loss', title='Loss')
    acc_ax.set(xlabel='epoch', ylabel=metric,
               title=f'{metric.capitalize()} (dot: best validation epoch)')
    loss_ax.legend(title='run')
    handles = [acc_ax.plot([], [], color='0.3', linestyle=style)[0]
               for _, _, style in SPLITS]
    acc_ax.legend(handles, [name for _, name, _ in SPLITS], title='split',
                  loc='lower right')
    for ax in (loss_ax, acc_ax):
        ax.grid(True, which='major', alpha=0.3)
    atomic_write(out, lambda f: fig.savefig(f, format=fmt, dpi=dpi))
