"""Logs -> logs, log_files, and the dumps found in them.

- :mod:`.reader`: the framings (CRI, Docker json-file, journald, plain) and the two passes;
- :mod:`.reader_columnar`: its fast path, whole CRI blocks read column-wise;
- :mod:`.payloads`: one record's payload (JSON, logfmt, Go log, klog, RFC 3339-led text).

The registry's sniff finds the framing (:func:`.framing.log_framing`) and
hands it to the reader as ``ParseOptions.variant``.
"""
from __future__ import annotations

from .. import Format
from .framing import log_framing
from .reader import parse

LOG = Format("log", "container logs (CRI, Docker json-file), journalctl -o json, plain log files",
             sniff=log_framing, parse=parse)

FORMATS = (LOG,)
