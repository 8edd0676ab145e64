"""The format registry: every format forensics knows, in the order sniffing tries them.

Each family of :mod:`forensics.parsers` exports its :class:`Format` records;
this module puts them in one documented order, because the first format
whose ``sniff`` accepts a source's first bytes wins:

1. ``empty``: nothing to read (skipped);
2. ``go_trace``: a Go execution trace, binary (skipped: ingest its JSON export);
3. ``pprof``, then ``pprof_legacy``: the binary profiles, before the binary refusal;
4. ``binary``: content with NUL bytes that no text reader can use is
   refused (failed): a known binary magic (ELF, PNG...), or over
   :data:`BINARY_SHARE` of the head in bytes text never holds (NUL and the C0
   controls but tab, LF, CR, form feed and ESC), unless the head reads as
   text anyway: Go crash lines (``panic:``, ``fatal error:``, a goroutine
   header) or log records. So one NUL in a panic message built from a byte
   buffer, or in a container log's line, does not lose the file: the readers
   keep the line, NUL and all;
5. ``pprof_text``: text profiles, whose first line is a header;
6. ``otlp``, ``jaeger``, ``zipkin``, then ``chrome_trace``: JSON documents, by their keys;
7. ``buildinfo``, ``k8s_events``, ``go_sum``, ``go_mod``, ``deploys``: release records;
8. ``log``: lines that are mostly log records (their dumps are cut out and read as dumps);
9. ``go_crash``: every other text, since crash output and dumps hide anywhere.

>>> [f.name for f in REGISTRY][:4], FORMATS["log"].name
(['empty', 'go_trace', 'pprof', 'pprof_legacy'], 'log')
"""
from __future__ import annotations

import re

from ..parsers import Format, dumps, logs, pprof, releases, traces
from ..parsers.dumps.patterns import EVIDENCE_RE, FATAL_PREFIX, PANIC_PREFIX, RACE_START

# Bytes text does not hold: NUL and the C0 controls, but tab, LF, CR, form feed
# and ESC (terminal colours), which logs do.
NON_TEXT = bytes(sorted(set(range(32)) - set(b"\t\n\r\x0c\x1b")))
# The share of the head in NON_TEXT bytes over which, without text evidence,
# content is binary: random or compressed bytes hold 10.5%, profile.proto and
# images 13-25%, a text with a NUL-filled buffer in it well under 5%.
BINARY_SHARE = 0.05
# Formats whose first bytes say binary whatever follows (executables hold the
# runtime's own "panic: " and "goroutine " strings).
BINARY_MAGIC = (
    b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"MZ\x90\x00",  # executables
    b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF8", b"%PDF-", b"\x00asm",  # images, documents, wasm
    b"\x28\xb5\x2f\xfd", b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07", b"SQLite format 3\x00",  # zstd, 7z, rar, SQLite
)
_GO_LINE = re.compile(rf"^[ \t>`\"']*(?:{re.escape(PANIC_PREFIX)}|{re.escape(FATAL_PREFIX)}|{re.escape(RACE_START)}$)",
                      re.M)


def non_text_share(head: bytes) -> float:
    """The share of `head` in bytes text does not hold (NON_TEXT).

    >>> non_text_share(b"ab\\x00d"), non_text_share(b"\\x1b[31merror\\x1b[0m\\r\\n")
    (0.25, 0.0)
    """
    return (len(head) - len(head.translate(None, NON_TEXT))) / len(head) if head else 0.0


def reads_as_text(head: bytes) -> bool:
    """The head holds Go crash output (a goroutine header, a line starting
    ``panic:``, ``fatal error:`` or ``WARNING: DATA RACE``) or log records
    (:func:`forensics.parsers.logs.log_framing`), whatever bytes sit around them.

    >>> reads_as_text(b"boot\\n\\x00\\x00\\x00\\npanic: key \\x00\\x01\\n\\ngoroutine 1 [running]:\\n")
    True
    >>> reads_as_text(bytes(range(256)) * 4)
    False
    """
    text = head.decode("utf-8", "replace")
    return bool(EVIDENCE_RE.search(text) or _GO_LINE.search(text)) or logs.LOG.sniff(head) is not None


def _binary(head: bytes) -> str | None:
    """`binary` for content no text reader can use (see the module's list, step 4)."""
    if b"\x00" not in head:  # as before: text with other control bytes (a terminal capture) stays text
        return None
    if head.startswith(BINARY_MAGIC):
        return "binary"
    if non_text_share(head) <= BINARY_SHARE or reads_as_text(head):
        return None
    return "binary"


EMPTY = Format("empty", "an empty file (skipped)", sniff=lambda head: "empty" if not head else None,
               reason=lambda head: "empty file")
BINARY = Format("binary", "binary content no reader knows (failed)", sniff=_binary, refused=True,
                reason=lambda head: f"binary content (starts {head[:16]!r}, {non_text_share(head):.0%} of its first "
                                    f"{len(head)} bytes are control bytes text does not hold); not a format forensics "
                                    "reads")

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
