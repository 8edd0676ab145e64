"""Package attributes imported on first use (PEP 562), so that importing a
package costs only what is used: ``import forensics`` and ``forensics --help``
load neither DuckDB, pyarrow, pandas nor scipy.

>>> import sys, forensics
>>> "forensics.incident" in sys.modules or callable(forensics.open)
True
"""
from __future__ import annotations

import importlib
from typing import Callable


def lazy_attributes(package: str, where: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` resolving each name of `where` (name -> submodule,
    relative to `package`) by importing the submodule when first asked for;
    a name that is the submodule's own (``plots``: ``.plots``) is the submodule."""
    def __getattr__(name: str) -> object:
        where_from = where.get(name)
        if where_from is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(where_from, package)
        return module if where_from.rsplit(".", 1)[-1] == name else getattr(module, name)
    return __getattr__
