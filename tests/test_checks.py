r"""The argument checks of :mod:`pyg_gas.checks`: what they accept, what they
return, and the messages of what they refuse."""
import math

import numpy as np
import pytest
import torch

from pyg_gas.checks import (
    check_bool,
    check_choice,
    check_ids,
    check_int,
    check_number,
    check_rows,
)

# check_int ###################################################################


def test_check_int_returns_the_value():
    assert check_int('num_parts', 3) == 3
    assert check_int('num_parts', 1) == 1  # The default minimum is 1.
    assert check_int('offset', 0, minimum=0) == 0
    assert check_int('offset', -7, minimum=None) == -7
    assert check_int('num_layers', 4, minimum=1, maximum=4) == 4


@pytest.mark.parametrize('value,got', [
    (True, 'bool'),  # A bool is an int to Python, not to the checks.
    (3.0, 'float'),
    ('3', 'str'),
    (None, 'NoneType'),
    (np.int64(3), 'int64'),  # Only with integral=True.
    (torch.tensor(3), 'Tensor'),
])
def test_check_int_type_errors(value, got):
    with pytest.raises(TypeError,
                       match=rf"^'num_parts' must be an int \(got {got}\)$"):
        check_int('num_parts', value)


def test_check_int_range_errors():
    with pytest.raises(ValueError,
                       match=r"^'num_parts' must be at least 1 \(got 0\)$"):
        check_int('num_parts', 0)
    with pytest.raises(ValueError,
                       match=r"^'offset' must be at least 0 \(got -1\)$"):
        check_int('offset', -1, minimum=0)
    with pytest.raises(ValueError,
                       match=r"^'num_parts' must be in \[1, 4\] \(got 5\)$"):
        check_int('num_parts', 5, maximum=4)
    with pytest.raises(ValueError,
                       match=r"^'shift' must be in \[-inf, 4\] \(got 5\)$"):
        check_int('shift', 5, minimum=None, maximum=4)


def test_check_int_integral():
    out = check_int('num_parts', np.int64(4), integral=True)
    assert out == 4 and type(out) is int
    assert type(check_int('n', np.int32(2), integral=True)) is int
    with pytest.raises(TypeError, match=r'\(got bool\)'):
        check_int('n', True, integral=True)
    with pytest.raises(TypeError, match=r'\(got float\)'):
        check_int('n', 2.0, integral=True)
    with pytest.raises(ValueError, match=r'at least 1 \(got 0\)'):
        check_int('n', np.int64(0), integral=True)


def test_check_int_expected():
    # One ValueError for any invalid value, of a wrong type too:
    for value, got in [(0, '0'), (5, '5'), (2.5, '2.5'), ('2', "'2'"),
                       (True, 'True')]:
        with pytest.raises(ValueError,
                           match=rf"^'k' must be in 1\.\.4 \(got {got}\)$"):
            check_int('k', value, minimum=1, maximum=4, expected='in 1..4')
    assert check_int('k', 2, minimum=1, maximum=4, expected='in 1..4') == 2


# check_number ################################################################


def test_check_number_returns_the_value():
    out = check_number('lr', 1)
    assert out == 1 and type(out) is int  # Returned as it is.
    assert check_number('lr', 0.01, minimum=0.0) == 0.01
    assert check_number('x', -1e30) == -1e30  # Unbounded by default.
    assert check_number('x', np.float64(0.5), 0, 1) == 0.5  # A float.
    # Both bounds are inclusive by default:
    assert check_number('p', 0.0, 0, 1) == 0.0
    assert check_number('p', 1.0, 0, 1) == 1.0
    assert check_number('p', 0.5, 0, 1, open_min=True, open_max=True) == 0.5


@pytest.mark.parametrize('value,got', [
    (True, 'bool'),
    ('0.5', 'str'),
    (None, 'NoneType'),
    (torch.tensor(0.5), 'Tensor'),
    (1j, 'complex'),
])
def test_check_number_type_errors(value, got):
    with pytest.raises(TypeError,
                       match=rf"^'p' must be a number \(got {got}\)$"):
        check_number('p', value)
    # 'kind' names the expected type:
    with pytest.raises(TypeError,
                       match=rf"^'p' must be a probability \(got {got}\)$"):
        check_number('p', value, kind='a probability')


@pytest.mark.parametrize('value,kwargs,message', [
    (-0.1, dict(minimum=0, maximum=1), r'in \[0, 1\] \(got -0\.1\)'),
    (1.5, dict(minimum=0, maximum=1), r'in \[0, 1\] \(got 1\.5\)'),
    (0.0, dict(minimum=0, maximum=1, open_min=True),
     r'in \(0, 1\] \(got 0\.0\)'),
    (1, dict(minimum=0, maximum=1, open_max=True), r'in \[0, 1\) \(got 1\)'),
    (0.0, dict(minimum=0.0, open_min=True), r'in \(0\.0, inf\] \(got 0\.0\)'),
    (2, dict(maximum=1), r'in \[-inf, 1\] \(got 2\)'),
    (math.nan, {}, r'in \[-inf, inf\] \(got nan\)'),
    (math.inf, {}, r'in \[-inf, inf\] \(got inf\)'),
    (-math.inf, dict(maximum=0), r'in \[-inf, 0\] \(got -inf\)'),
])
def test_check_number_range_errors(value, kwargs, message):
    with pytest.raises(ValueError, match=rf"^'p' must be {message}$"):
        check_number('p', value, **kwargs)


def test_check_number_expected():
    expected = 'a probability in [0, 1)'
    for value, got in [(1.0, '1.0'), (-0.5, '-0.5'), (math.nan, 'nan'),
                       ('0.5', "'0.5'"), (False, 'False')]:
        with pytest.raises(ValueError) as info:
            check_number('dropout', value, 0, 1, open_max=True,
                         expected=expected)
        assert str(info.value) == (f"'dropout' must be {expected} "
                                   f'(got {got})')
    assert check_number('dropout', 0.0, 0, 1, open_max=True,
                        expected=expected) == 0.0


# check_bool ##################################################################


def test_check_bool():
    assert check_bool('shuffle', True) is True
    assert check_bool('shuffle', False) is False
    for value, got in [(1, 'int'), (0, 'int'), ('True', 'str'),
                       (None, 'NoneType'), (torch.tensor(True), 'Tensor')]:
        with pytest.raises(TypeError,
                           match=rf"^'shuffle' must be a bool \(got {got}\)$"):
            check_bool('shuffle', value)


# check_choice ################################################################


def test_check_choice():
    assert check_choice('mode', 'fastgcn', ['ladies', 'fastgcn']) == 'fastgcn'
    assert check_choice('num_hops', 2, (1, 2, 3)) == 2
    with pytest.raises(ValueError, match=r"^'mode' must be one of "
                       r"\['ladies', 'fastgcn'\] \(got 'LADIES'\)$"):
        check_choice('mode', 'LADIES', ['ladies', 'fastgcn'])
    # Any sequence of choices, listed in the message:
    with pytest.raises(ValueError, match=r"^'num_hops' must be one of "
                       r'\[1, 2, 3\] \(got 4\)$'):
        check_choice('num_hops', 4, (1, 2, 3))
    with pytest.raises(ValueError, match=r'\(got None\)$'):
        check_choice('mode', None, ['ladies'])


# check_rows ##################################################################


def test_check_rows():
    x = torch.randn(3, 4)
    assert check_rows('x', x, 4) is x
    assert check_rows('x', torch.empty(0, 4), 4).shape == (0, 4)
    with pytest.raises(TypeError, match=r"^'x' must be a tensor \(got list\)$"):
        check_rows('x', x.tolist(), 4)
    with pytest.raises(ValueError, match=r"^'x' must have shape "
                       r'\[num_rows, 4\] \(got \[3, 5\]\)$'):
        check_rows('x', torch.randn(3, 5), 4)
    with pytest.raises(ValueError, match=r'\(got \[4\]\)$'):
        check_rows('x', torch.randn(4), 4)
    with pytest.raises(ValueError, match=r'\(got \[2, 3, 4\]\)$'):
        check_rows('x', torch.randn(2, 3, 4), 4)


def test_check_ids():
    ids = torch.tensor([3, 1])
    assert check_ids('n_id', ids) is ids
    with pytest.raises(TypeError, match="'n_id' must be a tensor of type "
                       r"torch.long \(got torch.int32\)"):
        check_ids('n_id', ids.int())
    with pytest.raises(TypeError, match=r"\(got <class 'list'>\)"):
        check_ids('n_id', [3, 1])
    with pytest.raises(ValueError, match=r"one-dimensional \(got shape "
                       r"\[1, 2\]\)"):
        check_ids('n_id', ids.view(1, 2))
