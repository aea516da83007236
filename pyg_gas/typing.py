r"""Optional dependencies, detected once, and the type aliases of the
package.

Every optional package is probed here at import time and never imported
anywhere else without checking its flag first. A missing package raises an
:class:`ImportError` that names it only at the moment a feature needs it
(see :func:`require`).
"""
import importlib
import importlib.util
import warnings
from typing import Any, Optional, Tuple, Union

import torch
from torch import Tensor


def _try_import(name: str) -> Optional[Any]:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
    except OSError as e:  # A compiled extension built for another torch.
        warnings.warn(f"An issue occurred while importing '{name}'. It is "
                      f"treated as not installed. Error: {e}", stacklevel=2)
        return None


torch_sparse = _try_import('torch_sparse')
torch_scatter = _try_import('torch_scatter')
pyg_lib = _try_import('pyg_lib')
pymetis = _try_import('pymetis')

WITH_TORCH_SPARSE: bool = torch_sparse is not None
WITH_TORCH_SCATTER: bool = torch_scatter is not None
WITH_PYG_LIB: bool = pyg_lib is not None
WITH_PYMETIS: bool = pymetis is not None

def _works(probe: Any) -> bool:
    # Whether a tiny call of an optional feature succeeds: an extension may
    # have the op and still raise when called (e.g. torch-sparse built
    # without METIS says "Not compiled with METIS support").
    try:
        probe()
    except Exception:
        return False
    return True


# A ring of 4 nodes in CSR form, for the METIS probes:
_RING = (torch.tensor([0, 2, 4, 6, 8]),
         torch.tensor([1, 3, 0, 2, 1, 3, 2, 0]))

# METIS inside the compiled extensions is optional at their build time, so
# it is detected by partitioning the ring once:
WITH_TORCH_SPARSE_METIS: bool = WITH_TORCH_SPARSE and _works(
    lambda: torch.ops.torch_sparse.partition(*_RING, None, 2, False))
WITH_PYG_LIB_METIS: bool = WITH_PYG_LIB and _works(
    lambda: pyg_lib.partition.metis(*_RING, 2))


def _has_module(name: str) -> bool:
    # `ogb` imports pandas and sklearn on import; only look it up here and
    # import it on first use.
    return importlib.util.find_spec(name) is not None


WITH_OGB: bool = _has_module('ogb')
# PyG reads the raw files of several datasets with scipy (npz and GraphSAINT
# formats) and PPI's graphs with networkx:
WITH_SCIPY: bool = _has_module('scipy')
WITH_NETWORKX: bool = _has_module('networkx')

if WITH_TORCH_SPARSE:
    SparseTensor = torch_sparse.SparseTensor
else:

    class SparseTensor:  # type: ignore[no-redef]
        r"""Stand-in for :class:`torch_sparse.SparseTensor` when
        torch-sparse is not installed: no object is ever of this type."""
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            require('torch_sparse', 'SparseTensor')


#: The extras of pyg-gas that install an optional package.
_EXTRAS = {'ogb': 'ogb', 'torch_sparse': 'sparse', 'torch_scatter': 'sparse',
           'scipy': 'datasets'}


def require(package: str, feature: str) -> None:
    r"""Raises an :class:`ImportError` naming :obj:`package` for
    :obj:`feature`, if the package is not installed."""
    flags = {
        'torch_sparse': WITH_TORCH_SPARSE,
        'torch_scatter': WITH_TORCH_SCATTER,
        'pyg_lib': WITH_PYG_LIB,
        'pymetis': WITH_PYMETIS,
        'ogb': WITH_OGB,
        'scipy': WITH_SCIPY,
        'networkx': WITH_NETWORKX,
    }
    if not flags.get(package, False):
        pip_name = package.replace('_', '-')
        extra = _EXTRAS.get(package)
        hint = f" (or `pip install 'pyg-gas[{extra}]'`)" if extra else ''
        raise ImportError(f"'{feature}' requires the '{package}' package. "
                          f"Install it with `pip install {pip_name}`{hint}.")


OptTensor = Optional[Tensor]
#: An adjacency as the convs receive it: a PyG `EdgeIndex` or `edge_index`
#: tensor, a torch sparse (CSR) tensor holding the transposed adjacency, or a
#: `torch_sparse.SparseTensor`.
Adj = Union[Tensor, SparseTensor]
PairTensor = Tuple[Tensor, Tensor]
