"""The package's error types. Everything forensics raises is a ForensicsError."""
from __future__ import annotations


class ForensicsError(Exception):
    """Base class of every error forensics raises."""


class SourceError(ForensicsError):
    """A source could not be opened, read or unpacked."""


class LimitExceeded(SourceError):
    """Decompression or extraction went past a configured bound (a bomb, or a too-small limit)."""


class ParseError(ForensicsError):
    """Input that does not follow its format, with where and what.

    >>> str(ParseError("expected a file line", line=12, excerpt="main.main()"))
    "line 12: expected a file line: 'main.main()'"
    """

    def __init__(self, message: str, line: int | None = None, excerpt: str | None = None):
        self.message, self.line, self.excerpt = message, line, excerpt
        where = f"line {line}: " if line is not None else ""
        tail = f": {excerpt!r}" if excerpt is not None else ""
        super().__init__(f"{where}{message}{tail}")


class StoreError(ForensicsError):
    """The incident database cannot be opened or written."""
