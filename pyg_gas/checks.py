r"""Argument checks shared by the whole package. Each returns the checked
value and raises a :class:`TypeError` or :class:`ValueError` that names the
argument, what was received and what was expected."""
import math
import numbers
from typing import Any, Optional, Sequence, Tuple

import torch
from torch import Tensor


def _bounds(minimum: Any, maximum: Any, open_min: bool = False,
            open_max: bool = False) -> str:
    low = '(' if open_min else '['
    high = ')' if open_max else ']'
    return (f'{low}{"-inf" if minimum is None else minimum}, '
            f'{"inf" if maximum is None else maximum}{high}')


def check_int(name: str, value: Any, minimum: Optional[int] = 1,
              maximum: Optional[int] = None, *, integral: bool = False,
              expected: Optional[str] = None) -> int:
    r"""Returns :obj:`value` if it is an :obj:`int` (not a :obj:`bool`) of at
    least :obj:`minimum` and at most :obj:`maximum` (no bound if
    :obj:`None`).

    With :obj:`integral=True`, any :class:`numbers.Integral` (e.g. a NumPy
    integer) is accepted too, and returned as an :obj:`int`. With
    :obj:`expected`, a text such as :obj:`'in [1, 4]'`, any invalid value,
    of a wrong type too, raises one :class:`ValueError`:
    :obj:`"'name' must be {expected} (got {value!r})"`.
    """
    types = numbers.Integral if integral else int
    if isinstance(value, bool) or not isinstance(value, types):
        if expected is not None:
            raise ValueError(f"'{name}' must be {expected} (got {value!r})")
        raise TypeError(f"'{name}' must be an int "
                        f"(got {type(value).__name__})")
    if integral:
        value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None
                                                     and value > maximum):
        if expected is not None:
            raise ValueError(f"'{name}' must be {expected} (got {value!r})")
        if maximum is None:
            raise ValueError(f"'{name}' must be at least {minimum} "
                             f"(got {value})")
        raise ValueError(f"'{name}' must be in "
                         f"{_bounds(minimum, maximum)} (got {value})")
    return value


def check_number(name: str, value: Any, minimum: Optional[float] = None,
                 maximum: Optional[float] = None,
                 open_min: bool = False, open_max: bool = False, *,
                 kind: str = 'a number',
                 expected: Optional[str] = None) -> float:
    r"""Returns :obj:`value` if it is a finite real number (an :obj:`int` or
    :obj:`float`, not a :obj:`bool`) in the range given by :obj:`minimum`
    and :obj:`maximum` (each inclusive, unless :obj:`open_min` or
    :obj:`open_max`).

    A value of another type raises a :class:`TypeError`
    :obj:`"'name' must be {kind} (got {type})"`. With :obj:`expected`, a
    text such as :obj:`'a probability in [0, 1]'`, any invalid value, of a
    wrong type too, raises one :class:`ValueError`:
    :obj:`"'name' must be {expected} (got {value!r})"`.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if expected is not None:
            raise ValueError(f"'{name}' must be {expected} (got {value!r})")
        raise TypeError(f"'{name}' must be {kind} "
                        f"(got {type(value).__name__})")
    if not math.isfinite(value) or (minimum is not None and (
            value < minimum or (open_min and value == minimum))) or (
                maximum is not None and (
                    value > maximum or (open_max and value == maximum))):
        if expected is not None:
            raise ValueError(f"'{name}' must be {expected} (got {value!r})")
        bounds = _bounds(minimum, maximum, open_min, open_max)
        raise ValueError(f"'{name}' must be in {bounds} (got {value})")
    return value


def check_bool(name: str, value: Any) -> bool:
    r"""Returns :obj:`value` if it is a :obj:`bool`."""
    if not isinstance(value, bool):
        raise TypeError(f"'{name}' must be a bool "
                        f"(got {type(value).__name__})")
    return value


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    r"""Returns :obj:`value` if it is one of :obj:`choices`."""
    if value not in choices:
        raise ValueError(f"'{name}' must be one of {list(choices)} "
                         f"(got {value!r})")
    return value


def check_rows(name: str, value: Any, width: int) -> Tensor:
    r"""Returns :obj:`value` if it is a tensor of shape
    :obj:`[num_rows, width]`."""
    if not isinstance(value, Tensor):
        raise TypeError(f"'{name}' must be a tensor "
                        f"(got {type(value).__name__})")
    if value.dim() != 2 or value.size(1) != width:
        raise ValueError(f"'{name}' must have shape [num_rows, {width}] "
                         f"(got {list(value.shape)})")
    return value


def check_ids(name: str, value: Any) -> Tensor:
    r"""Returns :obj:`value` if it is a one-dimensional tensor of type
    :obj:`torch.long` (node ids)."""
    if not isinstance(value, Tensor) or value.dtype != torch.long:
        raise TypeError(f"'{name}' must be a tensor of type torch.long "
                        f"(got {getattr(value, 'dtype', type(value))})")
    if value.dim() != 1:
        raise ValueError(f"'{name}' must be one-dimensional "
                         f"(got shape {list(value.shape)})")
    return value


#: The largest amount by which split shares may sum to more than 1 (for
#: decimal shares such as '0.7,0.2,0.1', whose floats sum to 1 + 2e-16).
SPLIT_TOLERANCE = 1e-9


def check_split(value: Any,
                name: str = 'split') -> Tuple[float, float, float]:
    r"""Returns the train, validation and test shares of a random node
    split given as :obj:`value`: a string of three comma-separated numbers
    such as :obj:`'0.6,0.2,0.2'` (the form of ``pyg-gas train --split``),
    or a sequence of three numbers. Each share must be positive and the
    three must sum to at most :obj:`1`; with a sum below :obj:`1`, the
    remaining nodes are in no mask.
    """
    expected = (f"three positive shares 'TRAIN,VAL,TEST' of the nodes that "
                f"sum to at most 1, e.g. '0.6,0.2,0.2' (got {value!r})")
    if isinstance(value, str):
        parts: Sequence[Any] = value.split(',')
        try:
            shares = [float(part) for part in parts]
        except ValueError:
            raise ValueError(f"'{name}' must be {expected}") from None
    elif isinstance(value, (list, tuple)):
        shares = list(value)
    else:
        raise TypeError(f"'{name}' must be a str such as '0.6,0.2,0.2' or "
                        f"a sequence of three numbers (got "
                        f"{type(value).__name__})")
    if len(shares) != 3 or any(
            isinstance(s, bool) or not isinstance(s, (int, float))
            or not math.isfinite(s) or s <= 0 for s in shares):
        raise ValueError(f"'{name}' must be {expected}")
    if sum(shares) > 1 + SPLIT_TOLERANCE:
        raise ValueError(f"'{name}' must be {expected}; its shares sum to "
                         f"{sum(shares):g}")
    train, val, test = (float(s) for s in shares)
    return train, val, test
