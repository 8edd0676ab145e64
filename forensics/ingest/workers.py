"""Parser processes: how many, and how they start.

Light on purpose (no Arrow, no DuckDB): ``forensics ingest`` starts the fork
server before it imports them itself, so that both import at once.
"""
from __future__ import annotations

import os

# What the fork server imports once, and every worker inherits.
PRELOAD = "forensics.ingest.pipeline"


def workers_context():
    """How parser processes start: from a fresh process (a fork server that has imported the
    parsers), never as a fork of this one, whose DuckDB and Arrow threads a fork does not carry
    over (a forked worker can crash or hang)."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([PRELOAD])
    return context


def start_early(paths: list) -> None:
    """Start the fork server now when the call names several paths, a directory or a
    glob (work a pool may be started for): it imports the parsers (about 0.5 s) while
    this process does the same and opens the database, not after. Starting it again
    does nothing.

    >>> start_early(["one-file.txt"])  # one file is read in this process: nothing starts
    """
    named = [p for p in paths if isinstance(p, str)]  # a Named copy is one file
    if not (len(paths) > 1 or any(any(c in p for c in "*?[") or os.path.isdir(p) for p in named)):
        return
    context = workers_context()
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def default_jobs() -> int:
    """Parser processes by default: one per core this process may use.

    >>> default_jobs() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
