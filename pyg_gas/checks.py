r"""Argument checks shared by the whole package. Each returns the checked
value and raises a :class:`TypeError` or :class:`ValueError` that names the
argument, what was received and what was expected."""
import math
import numbers
from typing import Any, Optional, Sequence

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
