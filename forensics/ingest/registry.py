"""The format registry: every format forensics knows, in the order sniffing tries them.

Each family of :mod:`forensics.parsers` exports its :class:`Format` records;
this module puts them in one documented order, because the first format
whose ``sniff`` accepts a source's first bytes wins:

1. ``empty``: nothing to read (skipped);
2. ``go_trace``: a Go execution trace, binary (skipped: ingest its JSON export);
3. ``pprof``, then ``pprof_legacy``: the binary profiles, before the binary refusal;
4. ``binary``: any other content with NUL bytes is refused (failed);
5. ``pprof_text``: text profiles, whose first line is a header;
6. ``otlp``, ``jaeger``, ``zipkin``, then ``chrome_trace``: JSON documents, by their keys;
7. ``buildinfo``, ``k8s_events``, ``go_sum``, ``go_mod``, ``deploys``: release records;
8. ``log``: lines that are mostly log records (their dumps are cut out and read as dumps);
9. ``go_crash``: every other text, since crash output and dumps hide anywhere.

>>> [f.name for f in REGISTRY][:4], FORMATS["log"].name
(['empty', 'go_trace', 'pprof', 'pprof_legacy'], 'log')
"""
from __future__ import annotations

from ..parsers import Format, dumps, logs, pprof, releases, traces


def _binary(head: bytes) -> str | None:
    return "binary" if b"\x00" in head[:8192] else None  # logs may hold ANSI escapes, not NUL bytes


EMPTY = Format("empty", "an empty file (skipped)", sniff=lambda head: "empty" if not head else None,
               reason=lambda head: "empty file")
BINARY = Format("binary", "binary content no reader knows (failed)", sniff=_binary, refused=True,
                reason=lambda head: f"binary content (starts {head[:16]!r}); not a format forensics reads")

REGISTRY: tuple[Format, ...] = (
    EMPTY, traces.GO_TRACE, pprof.PPROF, pprof.PPROF_LEGACY, BINARY, pprof.PPROF_TEXT,
    traces.OTLP, traces.JAEGER, traces.ZIPKIN, traces.CHROME_TRACE,
    *releases.FORMATS, logs.LOG, dumps.GO_CRASH,
)
FORMATS: dict[str, Format] = {f.name: f for f in REGISTRY}
# What `--as` and `format=` may force: the formats with a parser.
READABLE: tuple[str, ...] = tuple(f.name for f in REGISTRY if f.parse is not None)


def readable(name: str) -> Format:
    """The format `name` names, for forcing it; ValueError listing the names otherwise.

    >>> readable("go_crash").name
    'go_crash'
    """
    fmt = FORMATS.get(name)
    if fmt is None or fmt.parse is None:
        raise ValueError(f"unknown format {name!r}; the formats are: {', '.join(READABLE)}")
    return fmt
