"""forensics: postmortems of Go services in one DuckDB file.

The package's face: :func:`open` gives an :class:`Incident`; the errors,
:class:`Limits` and :func:`top_text` complete it. The layers below, in
pipeline order: :mod:`forensics.ingest` -> :mod:`forensics.parsers` ->
:mod:`forensics.db`, then :mod:`forensics.analysis`, :mod:`forensics.report`,
:mod:`forensics.plots` and :mod:`forensics.cli`.

Each name is imported when first used (:mod:`forensics.lazy`), so
``import forensics`` loads no heavy library and the CLI starts fast.

>>> import forensics as fx
>>> fx.open().sql("SELECT count(*) FROM panics").fetchall()
[(0,)]
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import ForensicsError, LimitExceeded, ParseError, SourceError, StoreError
from .lazy import lazy_attributes

if TYPE_CHECKING:
    from . import plots  # noqa: F401 - fx.plots, imported on first use
    from .analysis.profiles import top_text
    from .incident import Incident, open, stacks  # noqa: A004 - fx.open is the API
    from .ingest import IngestSummary, Limits

__all__ = [
    "ForensicsError", "Incident", "IngestSummary", "LimitExceeded", "Limits", "ParseError", "SourceError",
    "StoreError", "open", "stacks", "top_text",
]
__version__ = "0.1.0"

__getattr__ = lazy_attributes(__name__, {
    "Incident": ".incident", "open": ".incident", "stacks": ".incident", "top_text": ".analysis.profiles",
    "IngestSummary": ".ingest.pipeline", "Limits": ".ingest.files", "plots": ".plots",
})
