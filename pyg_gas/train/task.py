r"""What a run predicts and how it is scored: :class:`Task`.

Single-label datasets (a class index per node, :obj:`y` of shape
:obj:`[N]`) train with the cross-entropy and report the accuracy.
Multi-label datasets (a 0/1 row per node, :obj:`y` of shape :obj:`[N, C]`
and floating point, as PyG's :class:`~torch_geometric.datasets.Yelp` and
:class:`~torch_geometric.datasets.PPI` give) train with the binary
cross-entropy of every label and report the micro-averaged F1 score, as the
GAS paper does.

Both reduce to sums over nodes (the loss, and counts per mask), so that a
distributed run sums them over its processes and gets the metric of the
whole graph."""
from typing import List

import torch.nn.functional as F
from torch import Tensor


class Task:
    r"""Single-label classification: the cross-entropy, and the
    accuracy."""
    #: The name of the metric, as results and log lines give it.
    metric: str = 'accuracy'
    #: How many counts :meth:`counts` gives per mask.
    num_counts: int = 2

    def loss_sum(self, out: Tensor, y: Tensor) -> Tensor:
        r"""The loss summed over the rows of :obj:`out` (logits
        :obj:`[n, C]`) and :obj:`y`."""
        return F.cross_entropy(out, y, reduction='sum')

    def counts(self, out: Tensor, y: Tensor, mask: Tensor) -> List[float]:
        r"""Sums over the rows in :obj:`mask` from which :meth:`score`
        computes the metric: correct predictions and rows."""
        pred = out[mask].argmax(dim=-1)
        return [float((pred == y[mask].view(-1)).sum()), float(mask.sum())]

    def score(self, counts: List[float]) -> float:
        r"""The metric from the summed :meth:`counts` (NaN for no rows)."""
        correct, total = counts
        return correct / total if total > 0 else float('nan')


class MultiLabelTask(Task):
    r"""Multi-label classification: the binary cross-entropy of every label
    (averaged over labels, summed over nodes), and the micro-averaged F1
    score of the labels predicted by positive logits."""
    metric = 'micro-F1'
    num_counts = 3

    def loss_sum(self, out: Tensor, y: Tensor) -> Tensor:
        loss = F.binary_cross_entropy_with_logits(out, y.to(out.dtype),
                                                  reduction='none')
        return loss.mean(dim=-1).sum()

    def counts(self, out: Tensor, y: Tensor, mask: Tensor) -> List[float]:
        # True positives, false positives and false negatives:
        pred = out[mask] > 0
        true = y[mask] > 0.5
        return [float((pred & true).sum()), float((pred & ~true).sum()),
                float((~pred & true).sum())]

    def score(self, counts: List[float]) -> float:
        tp, fp, fn = counts
        if tp + fp + fn == 0:
            return float('nan')
        return 2 * tp / (2 * tp + fp + fn)


def is_multilabel(y: Tensor) -> bool:
    r"""Whether :obj:`y` holds multi-label targets: a floating-point matrix
    :obj:`[N, C]`."""
    return y.dim() == 2 and y.is_floating_point()


def task_of(y: Tensor) -> Task:
    r"""The task of the labels :obj:`y`: multi-label (see
    :func:`is_multilabel`) or single-label."""
    return MultiLabelTask() if is_multilabel(y) else Task()


def check_targets(y: Tensor, num_classes: int, name: str) -> None:
    r"""Checks labels :obj:`y` against :obj:`num_classes`: class indices in
    :obj:`[0, num_classes)` (:obj:`-1` marks an unlabelled node, as in the
    GraphSAINT datasets), or a 0/1 matrix of :obj:`num_classes`
    columns."""
    if is_multilabel(y):
        if y.size(1) != num_classes:
            raise ValueError(f"'{name}' has multi-label targets 'y' of "
                             f"{y.size(1)} columns, but 'num_classes' is "
                             f"{num_classes}")
        if not bool(((y == 0) | (y == 1)).all()):
            raise ValueError(f"'{name}' has multi-label targets 'y' with "
                             f"values other than 0 and 1")
        return
    if y.numel() > 0:
        low, high = int(y.min()), int(y.max())
        if low < -1 or high >= num_classes:
            raise ValueError(f"'{name}' has labels 'y' in [{low}, {high}], "
                             f"but 'num_classes' is {num_classes}: expected "
                             f"class indices in [0, {num_classes - 1}]")
