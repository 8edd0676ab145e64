"""Cross-check with panicparse (Debian's package) where it is installed:
on every sample it can read, it must find as many goroutines as we do."""
from __future__ import annotations

import re
import subprocess

import pytest

from conftest import SAMPLES, load_manifest, parse_file, which

PANICPARSE = which("panicparse")
pytestmark = pytest.mark.skipif(PANICPARSE is None, reason="panicparse not installed (apt-get install panicparse)")
BUCKET = re.compile(rb"^(\d+): ", re.M)  # "N: state ...": a bucket of N goroutines


def panicparse_count(path) -> int:
    out = subprocess.run([PANICPARSE, "-no-color", str(path)], capture_output=True, timeout=120).stdout
    return sum(int(n) for n in BUCKET.findall(out))


def test_goroutine_counts_agree_with_panicparse():
    compared = unread = 0
    for e in load_manifest():
        if e["mode"] in ("multi", "race") or e["gotraceback"] == "crash":
            continue  # panicparse reads one dump per file, and no race reports
        theirs = panicparse_count(SAMPLES / e["file"])
        g = parse_file(e["file"])["goroutines"].to_pandas()
        ours = int((g.goroutine_id >= 0).sum())
        if theirs == 0:
            unread += 1  # e.g. Go 1.22+ "gp=... m=..." headers, which panicparse 2.3 does not know
            assert ours > 0, e["file"]
            continue
        assert ours == theirs, e["file"]
        compared += 1
    assert compared >= 30, (compared, unread)
