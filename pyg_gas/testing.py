r"""Test decorators, in the style of :mod:`torch_geometric.testing`."""
import importlib.util
import os
from typing import Callable, List

import pytest
import torch


def devices() -> List[torch.device]:
    r"""The devices to test on: CPU, and CUDA when it is available."""
    out = [torch.device('cpu')]
    if torch.cuda.is_available():
        out.append(torch.device('cuda'))
    return out


def withCUDA(func: Callable) -> Callable:
    r"""Runs the test once on CPU and once on CUDA (when available), passing
    the device as the :obj:`device` argument."""
    return pytest.mark.parametrize('device', devices(),
                                   ids=lambda d: d.type)(func)


def onlyCUDA(func: Callable) -> Callable:
    r"""Skips the test when CUDA is not available."""
    return pytest.mark.skipif(not torch.cuda.is_available(),
                              reason='CUDA not available')(func)


def withPackage(*names: str) -> Callable:
    r"""Skips the test when one of the packages is not installed."""
    missing = [n for n in names if importlib.util.find_spec(n) is None]

    def decorator(func: Callable) -> Callable:
        return pytest.mark.skipif(
            len(missing) > 0,
            reason=f'Package(s) {missing} not installed')(func)

    return decorator


def onlyFullTest(func: Callable) -> Callable:
    r"""Runs the test only when the environment variable :obj:`FULL_TEST` is
    set (long runs that are not part of the default suite)."""
    return pytest.mark.skipif(os.getenv('FULL_TEST', '0') != '1',
                              reason='FULL_TEST not set')(func)
