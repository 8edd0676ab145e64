"""Package attributes imported on first use (PEP 562), so that importing a
package costs only what is used: ``import forensics`` and ``forensics --help``
load neither DuckDB, pyarrow, pandas nor scipy.

>>> import subprocess, sys
>>> subprocess.run([sys.executable, "-c", "import forensics, sys; print(sorted(m for m in ('duckdb', 'pyarrow', "
...                 "'pandas', 'scipy') if m in sys.modules), callable(forensics.open))"], capture_output=True,
...                text=True).stdout.strip()
'[] True'
"""
from __future__ import annotations

import importlib
import sys
from typing import Callable


def lazy_attributes(package: str, where: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` resolving each name of `where` (name -> submodule,
    relative to `package`) by importing the submodule when first asked for;
    a name that is the submodule's own (``plots``: ``.plots``) is the submodule,
    and so is any other subpackage's name (``analysis``)."""
    def __getattr__(name: str) -> object:
        where_from = where.get(name, "." + name)  # else a subpackage (fx.analysis), as an eager import made it
        try:
            module = importlib.import_module(where_from, package)
        except ModuleNotFoundError as exc:
            if exc.name != package + where_from:
                raise
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = module if where_from.rsplit(".", 1)[-1] == name else getattr(module, name)
        setattr(sys.modules[package], name, value)  # once: later lookups are plain attributes
        return value
    return __getattr__
