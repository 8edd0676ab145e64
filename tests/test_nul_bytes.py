"""NUL bytes in text: a crash or a log with one (or a buffer of them) is read, line and all; binaries stay refused.

Every input is a real sample from sample_logs/ changed by a transformation
named for what it models; none is hand-written Go output.
"""
from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

import forensics as fx

from conftest import SAMPLES, load_manifest

STRING_PANICS = sorted(e["file"] for e in load_manifest()
                       if e["mode"] == "panic-string" or e["mode"].startswith("panic-string-"))
CRI_LOG = next((SAMPLES / "cluster" / "var" / "log" / "pods").glob("shop_orders-7d4b9c8f5-*/orders/1.log"))
GO_LOG = SAMPLES / "cluster" / "hosts" / "node-3" / "inventory.log"


# --- transformations: what a real program or disk does to the real samples ---

def panic_from_byte_buffer(crash: bytes, size: int) -> tuple[bytes, int]:
    """`panic(string(buf[:]))` of a zero-filled `[size]byte` array holding the
    panic's message: the runtime prints the string raw, so the message is
    followed by the array's unused NUL bytes. Returns the crash and how many
    NULs follow the message."""
    lines = crash.split(b"\n")
    i = next(i for i, line in enumerate(lines) if b"panic: " in line)
    line = lines[i]
    end = b"\r" if line.endswith(b"\r") else b""
    body = line[: len(line) - len(end)]
    message = body.split(b"panic: ", 1)[1]
    nuls = size - len(message)
    lines[i] = body + b"\x00" * nuls + end
    return b"\n".join(lines), nuls


def byte_zeroed_on_disk(data: bytes, line: int, after: bytes) -> bytes:
    """One byte of a file lost to the disk (a torn write, a bad sector) and
    read back as NUL: the byte after `after` in line `line` (1-based)."""
    lines = data.split(b"\n")
    at = lines[line - 1].index(after) + len(after)
    lines[line - 1] = lines[line - 1][:at] + b"\x00" + lines[line - 1][at + 1:]
    return b"\n".join(lines)


def field_from_fixed_buffer(log: bytes, line: int, field: bytes, size: int) -> bytes:
    """A log field printed with %s from a zero-filled `[size]byte` array: Go's
    log package writes the value raw, NUL padding and all."""
    lines = log.split(b"\n")
    key, _, rest = lines[line - 1].partition(field + b"=")
    value, sep, tail = rest.partition(b" ")
    lines[line - 1] = key + field + b"=" + value + b"\x00" * (size - len(value)) + sep + tail
    return b"\n".join(lines)


def damaged_profile_header(profile: bytes) -> bytes:
    """A profile.proto whose first bytes were overwritten: no longer readable as a profile."""
    return b"\xff\xff\xff\xff" + profile[4:]


# --- helpers ---

def ingest(tmp_path: Path, name: str, data: bytes, rel: str | None = None):
    path = tmp_path / (rel or name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    db = fx.open(str(tmp_path / f"{name}.duckdb"))
    db.ingest([path])
    return db


def kind(db) -> str:
    """How the original was read: go_crash, or log for the kubectl --timestamps copies."""
    return db.sql("SELECT kind FROM sources").fetchall()[0][0]


def counts(db) -> dict:
    return {t: db.sql(f"SELECT count(*) FROM {t}").fetchall()[0][0]
            for t in ("dumps", "panics", "goroutines", "frames", "logs", "ingest_errors")}


# --- text with NUL bytes is read ---

@pytest.mark.parametrize("size", [64, 8192], ids=["small-buffer", "buffer-over-5pc-of-the-head"])
@pytest.mark.parametrize("sample", STRING_PANICS)
def test_a_panic_message_from_a_byte_buffer_is_read(tmp_path, sample, size):
    original = (SAMPLES / sample).read_bytes()
    crash, nuls = panic_from_byte_buffer(original, size)
    assert b"\x00" in crash[:8192]  # what used to refuse the whole file
    db = ingest(tmp_path, "crash", crash, "crash.txt")
    base = ingest(tmp_path / "orig", "orig", original, "orig.txt")
    assert db.sql("SELECT status, kind, error FROM sources").fetchall() == [("ok", kind(base), None)]
    assert counts(db) == counts(base)
    (message,), = db.sql("SELECT message FROM panics").fetchall()  # through Arrow into DuckDB and back
    (before,), = base.sql("SELECT message FROM panics").fetchall()
    assert message == before + "\x00" * nuls
    assert db.sql("SELECT count(*) FROM panics WHERE contains(message, chr(0))").fetchall() == [(1,)]


def test_a_container_log_with_a_zeroed_byte_keeps_every_record(tmp_path):
    """A NUL in a JSON record's message (line 1) and in the panic on stderr: every record and the dump stay."""
    original = CRI_LOG.read_bytes()
    panic_line = next(n for n, line in enumerate(original.split(b"\n"), 1) if b"panic: " in line)
    damaged = byte_zeroed_on_disk(original, 1, b'"msg":"st')
    damaged = byte_zeroed_on_disk(damaged, panic_line, b"panic: assign")
    rel = CRI_LOG.relative_to(SAMPLES / "cluster")  # the Kubernetes path says whose log it is
    db = ingest(tmp_path, "cri", damaged, str(rel))
    base = ingest(tmp_path / "orig", "orig", original, str(rel))
    assert db.sql("SELECT status, kind FROM sources").fetchall() == [("ok", "log")]
    assert counts(db) == counts(base)
    (level, message, attributes, fmt), = db.sql(
        "SELECT level, message, attributes, format FROM logs WHERE line = 1").fetchall()
    assert (level, message, fmt) == ("info", "st\x00rting", "json")
    assert json.loads(attributes)["msg"] == "st\x00rting"  # the payload is kept as valid JSON
    (panic,), = db.sql("SELECT message FROM panics").fetchall()
    (before,), = base.sql("SELECT message FROM panics").fetchall()
    assert panic == "assign\x00ent to entry in nil map" and before == "assignment to entry in nil map"
    assert base.sql("SELECT service, pod FROM log_files").fetchall() == db.sql(
        "SELECT service, pod FROM log_files").fetchall()


def test_a_go_log_line_with_a_padded_field_is_read(tmp_path):
    original = GO_LOG.read_bytes()
    damaged = field_from_fixed_buffer(original, 1, b"release", 32)
    db = ingest(tmp_path, "plain", damaged, "inventory.log")
    base = ingest(tmp_path / "orig", "orig", original, "inventory.log")
    assert db.sql("SELECT status, kind FROM sources").fetchall() == [("ok", "log")]
    assert counts(db) == counts(base)
    (message,), = db.sql("SELECT message FROM logs WHERE line = 1").fetchall()
    (before,), = base.sql("SELECT message FROM logs WHERE line = 1").fetchall()
    assert message == before.replace("release=v1.8.0", "release=v1.8.0" + "\x00" * 26)


def test_the_command_line_ingests_text_with_nul_bytes(tmp_path):
    crash, _ = panic_from_byte_buffer((SAMPLES / STRING_PANICS[0]).read_bytes(), 8192)
    (tmp_path / "crash.txt").write_bytes(crash)
    (tmp_path / "inventory.log").write_bytes(field_from_fixed_buffer(GO_LOG.read_bytes(), 1, b"release", 32))
    db = tmp_path / "cli.duckdb"
    r = subprocess.run([sys.executable, "-m", "forensics.cli", "ingest", str(tmp_path / "crash.txt"),
                        str(tmp_path / "inventory.log"), "--db", str(db)], capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    assert b"2 ok" in r.stdout, r.stdout
    r = subprocess.run([sys.executable, "-m", "forensics.cli", "panic-signatures", "--db", str(db), "--format", "csv"],
                       capture_output=True, timeout=300)
    assert r.returncode == 0 and b"\x00" not in r.stdout  # printed escaped


# --- binaries stay refused ---

def _png() -> bytes:
    import matplotlib

    return (Path(matplotlib.get_data_path()) / "images" / "home.png").read_bytes()


BINARIES = {
    "elf": lambda: Path(sys.executable).resolve().read_bytes()[: 1 << 20],
    "png": _png,
    "random": lambda: random.Random(16).randbytes(200_000),
    "pprof-damaged-header": lambda: damaged_profile_header(
        gzip.decompress((SAMPLES / "go1.27.3" / "profiles" / "heap.pb.gz").read_bytes())),
}


@pytest.mark.parametrize("kind", sorted(BINARIES))
def test_real_binaries_stay_refused(tmp_path, kind):
    data = BINARIES[kind]()
    if kind == "elf" and not data.startswith(b"\x7fELF"):
        pytest.skip("the interpreter is not an ELF executable here")
    db = ingest(tmp_path, kind, data, f"{kind}.bin")
    (status, error), = db.sql("SELECT status, error FROM sources").fetchall()
    assert status == "failed" and "binary content" in error, error
