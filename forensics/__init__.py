"""forensics: postmortems of Go services in one DuckDB file.

The package's face: :func:`open` gives an :class:`Incident`; the errors,
:class:`Limits` and :func:`top_text` complete it. The layers below, in
pipeline order: :mod:`forensics.ingest` -> :mod:`forensics.parsers` ->
:mod:`forensics.db`, then :mod:`forensics.analysis`, :mod:`forensics.report`,
:mod:`forensics.plots` and :mod:`forensics.cli`.

>>> import forensics as fx
>>> fx.open().sql("SELECT count(*) FROM panics").fetchall()
[(0,)]
"""
from __future__ import annotations

from .analysis.profiles import top_text
from .errors import ForensicsError, LimitExceeded, ParseError, SourceError, StoreError
from .incident import Incident, open, stacks  # noqa: A004 - fx.open is the API
from .ingest import IngestSummary, Limits

__all__ = [
    "ForensicsError", "Incident", "IngestSummary", "LimitExceeded", "Limits", "ParseError", "SourceError",
    "StoreError", "open", "stacks", "top_text",
]
__version__ = "0.1.0"


def __getattr__(name: str):
    """`fx.plots` without importing matplotlib at `import forensics` (the CLI starts faster)."""
    if name == "plots":
        import importlib

        return importlib.import_module(".plots", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
