"""A loaded source's outcome: its status and error from what its parser yielded,
and its row of ``sources``. No DuckDB here."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..times import utc_now

if TYPE_CHECKING:
    from .store import SourceResult


def source_status(parsed: int, n_errors: int) -> str:
    """A parsed source's status from what its parser yielded: rows and
    problems (partial), problems only (failed), nothing (skipped), rows (ok).

    >>> source_status(10, 1), source_status(0, 1), source_status(0, 0), source_status(3, 0)
    ('partial', 'failed', 'skipped', 'ok')
    """
    if n_errors:
        return "partial" if parsed else "failed"
    return "ok" if parsed else "skipped"


def decide(result: "SourceResult", failure: str | None, failure_status: str, problem) -> None:
    """Set a loaded source's status and error from what was loaded (`problem()`:
    the (line, message) of its first problem, by line) or the failure that stopped it."""
    n_errors = result.rows.get("ingest_errors", 0)
    parsed = sum(n for t, n in result.rows.items() if t != "ingest_errors")
    if failure:
        result.status, result.error = failure_status, failure
    elif n_errors:
        line, message = problem()
        where = f"line {line}: " if line is not None else ""
        result.status = source_status(parsed, n_errors)
        result.error = f"{n_errors} problem{'s' if n_errors > 1 else ''}; first: {where}{message}"
    else:
        result.status = source_status(parsed, 0)
        result.error = "no Go crash output, goroutine dump or race report found" if result.status == "skipped" else None
    if result.status == "skipped" and failure is None:
        result.kind = None  # read as text, but nothing in it was recognised


def first_problem(found: list[tuple]) -> tuple:
    """The (line, message) first by line (lines unknown last), the earliest of equals."""
    return min(found, key=lambda e: (e[0] is None, e[0] or 0))


def source_row(result: "SourceResult", sha256, service, version, mtime, origin, reader_version) -> list:
    """A loaded source's row of `sources`."""
    return [result.source_id, result.path, sha256, result.bytes, result.kind, result.status, result.error, service,
            version, mtime, utc_now(), origin.key if origin else "", getattr(origin, "pod", None),
            getattr(origin, "container", None), getattr(origin, "restart", None), reader_version]
