"""Ingest: sources (paths, globs, archives, stdin, bounded decompression),
sniffing against the format registry, and the pipeline that hands each
source's parser output to the store.

- :mod:`.sources`: what is read (paths, directories, globs, stdin; regular files only);
- :mod:`.files`: one file's bytes, decompressed within :class:`Limits`, and its identity;
- :mod:`.archives`: tar and zip members, each its own source, damage reported;
- :mod:`.registry`: every format, in the order sniffing tries them;
- :mod:`.sniff`: which format a source's first bytes are;
- :mod:`.pipeline`: hash, skip what is in, detect, parse (in worker processes with ``jobs``), store.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_attributes

if TYPE_CHECKING:
    from .files import Limits
    from .pipeline import IngestSummary, ingest
    from .registry import FORMATS, READABLE, REGISTRY
    from .sniff import detect

__all__ = ["FORMATS", "READABLE", "REGISTRY", "IngestSummary", "Limits", "detect", "ingest"]

# Imported on first use: `forensics.ingest.files` (the CLI's byte bounds) costs no parser, DuckDB or pyarrow.
# (`sniff` is the submodule: its function is forensics.ingest.sniff.sniff.)
__getattr__ = lazy_attributes(__name__, {
    "IngestSummary": ".pipeline", "ingest": ".pipeline", "FORMATS": ".registry", "READABLE": ".registry",
    "REGISTRY": ".registry", "detect": ".sniff", "Limits": ".files",
})
