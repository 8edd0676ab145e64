"""Sniffing: which registered format a source's first bytes are.

:func:`detect` is one loop over :data:`forensics.ingest.registry.REGISTRY`,
in its documented order; the first format whose sniff accepts the head
wins, and what its sniff found (a log's framing) goes to the parser as
``ParseOptions.variant``, so no parser sniffs again.
"""
from __future__ import annotations

from typing import NamedTuple

from ..parsers import Format
from .registry import REGISTRY


class Detected(NamedTuple):
    """The format of a source's head, what its sniff found, and why it is not read (formats without a parser)."""

    format: Format
    variant: str
    reason: str | None


def detect(head: bytes) -> Detected:
    """The first registered format that accepts `head` (the text fallback accepts anything).

    >>> found = detect(b"2026/11/22 10:00:00 started\\n")
    >>> found.format.name, found.variant
    ('log', 'plain')
    """
    for fmt in REGISTRY:
        variant = fmt.sniff(head)
        if variant is not None:
            return Detected(fmt, variant, fmt.reason(head) if fmt.reason else None)
    raise AssertionError("the registry ends with a format that accepts any text")  # pragma: no cover


def sniff(head: bytes) -> tuple[str | None, str | None]:
    """(format, reason when None) from the first bytes of decompressed content.

    >>> sniff(b"panic: boom\\n")
    ('go_crash', None)
    >>> sniff(b"\\x7fELF\\x02\\x01\\x00")[0] is None
    True
    >>> sniff(b"2026/11/22 10:00:00 started\\n")[0]
    'log'
    """
    found = detect(head)
    if found.format.refused:
        return None, found.reason
    return found.format.name, found.reason
