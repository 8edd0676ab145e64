"""Identifiers that need no central database.

A source's id is derived from the artefact's identity, its content hash and
its origin (the pod, container and restart its path names), so the same
artefact gets the same id on any machine, in any order: databases and
Parquet datasets written apart (by Spark executors) can be unioned. The ids
a parser numbers within its source from 0 (``dump_id``, ``profile_id``,
``build_id``) become ``source_id + n``: source ids are 62-bit hashes, so
the ranges of two sources overlap only with odds of about
sources² x rows / 2^62 (a million sources of a thousand dumps each: 1 in 4,000).

>>> source_id("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "")
4232439607367795666
>>> source_id(None, "", "unreadable.log") == source_id(None, "", "unreadable.log")
True
"""
from __future__ import annotations

import hashlib

# Ids a parser numbers from 0 within its source, and the table that owns each.
LOCAL_IDS = {"dump_id": "dumps", "profile_id": "profiles", "build_id": "builds"}


def source_id(sha256: str | None, origin: str, path: str = "") -> int:
    """The id of the artefact with content hash `sha256` and origin key `origin`
    (`path` stands in for a file that could not be read, which has no hash)."""
    key = f"sha256\0{sha256}\0{origin}" if sha256 else f"path\0{path}\0{origin}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") >> 2
