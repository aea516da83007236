r"""Sampling with probability proportional to size (PPS) without
replacement: the inclusion probabilities of a fixed-size sample
(:func:`inclusion_probabilities`) and systematic sampling with exactly these
probabilities (:func:`systematic_sampling`).

The private helpers are the steps of both, which
:class:`~pyg_gas.loader.ladies.LADIESSampler` combines in its fast paths:
:func:`_inclusion` and :func:`_capped` find the items capped at
:math:`\pi_i = 1` and the scale of the others, :func:`_systematic_order`
draws a random order, and :func:`_systematic_draw` takes the items whose
interval of the cumulative sums holds one of the points :math:`u + k`.
"""
import math
from typing import Optional, Tuple

import torch
from torch import Tensor

__all__ = ['inclusion_probabilities', 'systematic_sampling']


def _inclusion(p: Tensor,
               num_samples: int) -> Tuple[Tensor, Optional[Tensor], float]:
    # Returns the inclusion probabilities with the items capped at 1 set to
    # 0, the indices of those items (or None), and the largest probability
    # of the other items.
    p = p.to(torch.float64)
    total = float(p.sum()) if p.numel() > 0 else 0.0
    if total <= 0.0:
        return torch.zeros_like(p), None, 0.0
    pi = p * (num_samples / total)
    max_pi = float(pi.max())
    if max_pi < 1.0:  # The common case: no item is capped.
        return pi, None, max_pi
    positive = p > 0
    num_positive = int(positive.sum())
    if num_positive <= num_samples:
        return torch.zeros_like(p), positive.nonzero().view(-1), 0.0

    # Capping the j largest items leaves c_j = (s - j) / (sum of the rest)
    # for the others. The solution is the smallest j with c_j t_{j+1} < 1,
    # where t is p in descending order (and j < s always).
    k = min(num_samples, num_positive, 64)
    while True:
        top, top_idx = torch.topk(p, k)  # [k], descending
        top_list = top.tolist()
        # The sum without the top j items, summed from the small end:
        rest = float(p.index_fill(0, top_idx, 0.0).sum())
        rests = [0.0] * k
        for j in range(k - 1, -1, -1):
            rest += top_list[j]
            rests[j] = rest
        num_capped = next((j for j in range(k)
                           if (num_samples - j) * top_list[j] < rests[j]), -1)
        if num_capped >= 0:
            break
        assert k < min(num_samples, num_positive)
        k = min(num_samples, num_positive)
    scale = (num_samples - num_capped) / rests[num_capped]
    certain = top_idx[:num_capped]
    pi = p * scale
    pi.index_fill_(0, certain, 0.0)
    return pi, certain, scale * top_list[num_capped]


def _capped(p: Tensor, total: float,
            num_samples: int) -> Optional[Tuple[Tensor, float, float]]:
    # The capping of '_inclusion' from the few largest items, in O(s) work
    # past a few passes over 'p': returns the indices of the capped items,
    # the scale c' of the others and an upper bound of their largest
    # inclusion probability, or None when it does not settle quickly (then
    # '_inclusion' does).
    # Capping the j largest items leaves c_j = (s - j) / R_j for the others,
    # R_j being the sum without them; the solution is the smallest j with
    # (s - j) t_{j+1} < R_j, t being p in descending order (and j < s).
    # c_j grows with j up to the solution, so with a lower bound c of it
    # (at first s / total), the items with c * p_i >= 1/2 are the largest
    # ones and usually hold the solution and the item after it.
    scale = num_samples / total
    for _ in range(8):
        threshold = 0.5 / scale
        is_big = p.ge(threshold)
        big = is_big.nonzero().view(-1)
        num_big = big.numel()
        k = min(num_big, num_samples)
        # Ascending, t_{j+1} is top[m] for m = num_big - 1 - j, and
        # R_j = small + (the sum of top[:m + 1]):
        top, order = p.index_select(0, big).to(torch.float64).sort()
        small = total - float(top.sum())
        if small < 0.5 * total:  # Summed apart, to keep its precision.
            small = float(p.masked_fill(is_big, 0.0).sum(dtype=torch.float64))
        rest = top.cumsum(0).add_(small)[num_big - k:]  # R_j, j = k - 1..0
        left = torch.arange(num_samples - k + 1, num_samples + 1,
                            dtype=torch.float64, device=p.device)  # s - j
        found = left.mul_(top[num_big - k:]).lt_(rest).nonzero()
        if found.numel() > 0:  # The largest m is the smallest j.
            last = int(found[-1])
            m = num_big - k + last
            num_capped = num_big - 1 - m
            rest_sum, max_pi = float(rest[last]), float(top[m])
            break
        if num_big >= num_samples:  # At most s positive items, round-off.
            return None
        # All of 'top' is capped, and the items below the threshold are
        # too small to matter if (s - j) * threshold <= R_j, j = num_big:
        num_capped, rest_sum = num_big, small
        if rest_sum <= 0.0:
            return None
        if (num_samples - num_big) * threshold <= rest_sum:
            max_pi = threshold
            break
        scale = (num_samples - num_big) / rest_sum  # Still a lower bound.
    else:
        return None
    scale = (num_samples - num_capped) / rest_sum
    certain = big.index_select(0, order[num_big - num_capped:])
    return certain, scale, scale * max_pi


def inclusion_probabilities(p: Tensor, num_samples: int) -> Tensor:
    r"""The inclusion probabilities :math:`\pi_i = \min(1, c \cdot p_i)` of
    a fixed-size sample of :obj:`num_samples` items drawn with probability
    proportional to size (PPS) :math:`p_i \geq 0`, with :math:`c` chosen
    such that :math:`\sum_i \pi_i = s`: items with :math:`c \cdot p_i \geq
    1` are capped at :math:`1` and the rest is redistributed over the others
    until none exceeds :math:`1`. If at most :math:`s` items have
    :math:`p_i > 0`, they all get :math:`\pi_i = 1`.

    Args:
        p (torch.Tensor): The non-negative sizes (need not sum to one).
        num_samples (int): The sample size :math:`s`.

    Returns:
        The inclusion probabilities, of type :obj:`torch.float64`.
    """
    pi, certain, _ = _inclusion(p, num_samples)
    if certain is not None:
        pi.index_fill_(0, certain, 1.0)
    return pi


def _systematic_order(pi: Tensor, generator: Optional[torch.Generator]
                      ) -> Tuple[Tensor, Tensor]:
    # A random order of the items and the cumulative sums of 'pi' in it.
    perm = torch.randperm(pi.numel(), generator=generator, device=pi.device)
    return perm, pi.index_select(0, perm).cumsum_(0)


def _systematic_draw(cum: Tensor, scale: float, max_pi: float,
                     generator: Optional[torch.Generator]) -> Tensor:
    # The positions whose interval of 'cum * scale' (the cumulative sums of
    # the inclusion probabilities, in float64) holds one of the points
    # u + k, k = 0, 1, ..., for a uniform u in [0, 1). Sorted.
    total = float(cum[-1]) * scale
    num_points = round(total)
    if abs(total - num_points) > 1e-9:  # Not a fixed sample size.
        num_points = math.ceil(total)
    if num_points <= 0:
        return torch.empty(0, dtype=torch.long, device=cum.device)
    u = float(torch.rand(1, generator=generator, dtype=torch.float64,
                         device=cum.device))
    points = torch.linspace(u / scale, (u + num_points - 1) / scale,
                            num_points, dtype=torch.float64, device=cum.device)
    # The item whose interval [cum[i - 1], cum[i]) holds the point (items
    # of size zero hold none):
    pos = torch.searchsorted(cum, points, right=True)
    if u + (num_points - 1) >= total - 1e-9:  # Round-off or fractional sum.
        pos = pos[pos < cum.numel()]
    if max_pi > 1.0 - 1e-6:  # Guard against round-off.
        pos = torch.unique_consecutive(pos)
    return pos


def _systematic(pi: Tensor, certain: Optional[Tensor], max_pi: float,
                generator: Optional[torch.Generator],
                shuffle: bool = True) -> Tensor:
    # Systematic sampling by 'pi' (zero on 'certain', largest value
    # 'max_pi'), in a random order or in the given one, plus 'certain'.
    # Unsorted.
    out = torch.empty(0, dtype=torch.long, device=pi.device)
    if pi.numel() > 0 and max_pi > 0.0:
        if shuffle:
            perm, cum = _systematic_order(pi, generator)
            out = perm.index_select(
                0, _systematic_draw(cum, 1.0, max_pi, generator))
        else:
            out = _systematic_draw(pi.cumsum(0), 1.0, max_pi, generator)
    if certain is not None:
        out = torch.cat([certain, out], dim=0)
    return out


def systematic_sampling(pi: Tensor,
                        generator: Optional[torch.Generator] = None) -> Tensor:
    r"""Systematic PPS sampling without replacement with exact inclusion
    probabilities :obj:`pi` (e.g. from :func:`inclusion_probabilities`).

    The items with :math:`\pi_i = 1` are always taken. The others are put in
    a random order, and item :math:`i` covers the interval
    :math:`[C_{i-1}, C_i)` of the cumulative sums :math:`C` of their
    :math:`\pi`; with a single uniform offset :math:`u \in [0, 1)`, the
    items whose interval contains one of the points :math:`u + k`,
    :math:`k = 0, 1, \dots`, are taken. Each point falls into one interval
    of length :math:`\pi_i \leq 1`, so item :math:`i` is taken with
    probability exactly :math:`\pi_i` (up to floating-point round-off), and
    an integer :math:`\sum_i \pi_i = s` gives exactly :math:`s` distinct
    items.

    Args:
        pi (torch.Tensor): The inclusion probabilities, in :math:`[0, 1]`.
        generator (torch.Generator, optional): The random number generator,
            on the device of :obj:`pi`. (default: :obj:`None`)

    Returns:
        The sorted indices of the selected items.
    """
    pi = pi.to(torch.float64)
    if pi.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=pi.device)
    certain: Optional[Tensor] = None
    max_pi = float(pi.max())
    if max_pi >= 1.0:
        is_certain = pi >= 1.0
        certain = is_certain.nonzero().view(-1)
        pi = pi.masked_fill(is_certain, 0.0)
        max_pi = float(pi.max())
    return _systematic(pi, certain, max_pi, generator).sort().values
