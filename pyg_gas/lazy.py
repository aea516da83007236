r"""Lazy re-exports for the package faces (PEP 562): a package lists where
each public name lives, and the defining module is imported on first
access. So :obj:`import pyg_gas` and the ``pyg-gas`` command's parser do
not import :obj:`torch`, while :obj:`pyg_gas.History` or
:obj:`from pyg_gas import GASConv` work as before. The same pattern as
`SPEC 1 <https://scientific-python.org/specs/spec-0001/>`_ (lazy_loader's
:obj:`attach`), without the dependency."""
import importlib
import importlib.util
from typing import Any, Callable, Dict, List, Tuple


def attach(
    package: str,
    exports: Dict[str, str],
) -> Tuple[Callable[[str], Any], Callable[[], List[str]]]:
    r"""Returns the module-level :obj:`__getattr__` and :obj:`__dir__` of
    :obj:`package`. A name of :obj:`exports` is read from its module on
    first access (and kept in the package's namespace); any other name that
    is a submodule of :obj:`package` (e.g. :obj:`pyg_gas.nn`) is imported.

    Args:
        package (str): The package's :obj:`__name__`.
        exports (Dict[str, str]): The public names, each mapped to the
            module that defines it.
    """
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        if name in exports:
            value = getattr(importlib.import_module(exports[name]), name)
        elif not name.startswith('__') and importlib.util.find_spec(
                f'{package}.{name}') is not None:
            value = importlib.import_module(f'{package}.{name}')
        else:
            raise AttributeError(f"module '{package}' has no attribute "
                                 f"'{name}'")
        namespace[name] = value
        return value

    def __dir__() -> List[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
