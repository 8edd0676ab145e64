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
import importlib.abc
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


class _NoPandas(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "pandas":
            raise ModuleNotFoundError("not imported for pyarrow's first conversion", name=name)
        return None


def arrow_without_pandas() -> None:
    """Keep pyarrow from importing pandas (0.2 s, the biggest import of an ingest)
    in a process that only parses and loads: ``forensics ingest`` and its parser
    workers. pyarrow asks once per process, on its first conversion of a Python
    list, whether pandas can be imported (to tell a Series from a list); made to
    fail that once, it treats lists as lists and still imports pandas for real
    when a DataFrame is asked of it (``to_pandas``). Nothing changes where pandas
    is already imported.

    >>> import subprocess, sys
    >>> subprocess.run([sys.executable, "-c", "from forensics.lazy import arrow_without_pandas; import sys; "
    ...                 "arrow_without_pandas(); import pyarrow as pa; pa.array(['x']); p = 'pandas' in sys.modules; "
    ...                 "print(p, type(pa.table({'a': [1]}).to_pandas()).__name__)"],
    ...                capture_output=True, text=True).stdout.strip()
    'False DataFrame'
    """
    if "pandas" in sys.modules:
        return
    blocker = _NoPandas()
    sys.meta_path.insert(0, blocker)
    try:
        import pyarrow as pa
        pa.array([0])
    finally:
        sys.meta_path.remove(blocker)
