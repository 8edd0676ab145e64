"""Nothing lost, nothing hangs: full disks, damaged archives, exceptions from
any reader, special files, signals and retries (issue 16).

Each input is a real sample from sample_logs/, packed or damaged by a
transformation named for what it models.
"""
from __future__ import annotations

import csv
import errno
import gzip
import io
import lzma
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import time
import zipfile
import zlib
from pathlib import Path

import pytest

import forensics as fx
from forensics.db import spool as spool_module
from forensics.db.schema import SCHEMA_VERSION
from forensics.ingest import files, pipeline
from forensics.ingest.files import Source, packed_sha256

from conftest import ROOT, SAMPLES

CRASHES = sorted((SAMPLES / "go1.27.3" / "default").glob("*.txt"))
PANIC = SAMPLES / "go1.27.3" / "default" / "panic-custom-error.txt"
STACK = SAMPLES / "go1.19.8" / "default" / "stack.txt"
FORENSICS = [sys.executable, "-m", "forensics.cli"]


def counts(db) -> dict[str, int]:
    return {t: db.sql(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in ("sources", "dumps", "goroutines")}


# --- a full temp disk ---------------------------------------------------------

def no_space_after(n: int):
    """_Writer.write as on a disk that fills after `n` batches: the write and then the close raise ENOSPC."""
    real = spool_module._Writer.write
    calls = {"n": 0}

    def write(self, table, batch):
        calls["n"] += 1
        if calls["n"] > n:
            self.close = lambda: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device"))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, table, batch)
    return write


def test_a_full_spool_disk_fails_the_source_keeps_nothing_and_a_retry_reads_it(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "SMALL_SOURCE", -1)  # a small source is parsed in memory, never spooled
    db = fx.open(tmp_path / "i.duckdb")
    with monkeypatch.context() as m:
        m.setattr(spool_module._Writer, "write", no_space_after(1))
        r = db.ingest([STACK, PANIC], jobs=1).results  # parsed here, where the disk is made to fill
    assert [x.status for x in r] == ["failed", "failed"]
    assert "No space left on device" in r[0].error and "retries it" in r[0].error
    assert counts(db)["dumps"] == 0  # what was loaded before the disk filled was rolled back
    again = db.ingest([STACK, PANIC])
    assert [x.status for x in again.results] == ["ok", "ok"]
    assert counts(db)["sources"] == 2  # the failed readings were replaced, not kept beside
    assert db.ingest([STACK, PANIC]).count("duplicate") == 2


def test_a_nearly_full_temp_disk_is_a_clear_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "SMALL_SOURCE", -1)  # a small source is parsed in memory, never spooled
    db = fx.open(tmp_path / "i.duckdb")
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(spool_module.shutil, "disk_usage", lambda p: usage._replace(free=10 << 20))
    r = db.ingest(PANIC).results[0]
    assert r.status == "failed" and "temp disk nearly full" in r.error and "TMPDIR" in r.error


# --- damaged archives ---------------------------------------------------------

def bundle_tar(path: Path, files: list[Path], mode: str = "w") -> Path:
    """A tar as GNU tar writes it (no pax headers before each member)."""
    with tarfile.open(path, mode, format=tarfile.GNU_FORMAT) as tf:
        for f in files:
            tf.add(f, arcname=f"bundle/{f.name}")
    return path


def header_offsets(tar: Path) -> list[int]:
    with tarfile.open(tar) as tf:
        return [m.offset for m in tf]


def scribble(data: bytes, at: int, n: int = 16) -> bytes:
    """Bytes overwritten in place, as a bad sector or a bit-flipping transfer leaves them."""
    return data[:at] + bytes((b ^ 0xA5) for b in data[at:at + n]) + data[at + n:]


def test_a_bad_tar_header_mid_archive_is_reported_and_the_members_after_it_are_read(tmp_path):
    tar = bundle_tar(tmp_path / "b.tar", CRASHES)
    offsets = header_offsets(tar)
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(scribble(tar.read_bytes(), offsets[9]))
    db = fx.open(tmp_path / "i.duckdb")
    results = {r.path: r for r in db.ingest(damaged).results}
    row = results[str(damaged)]
    assert row.status == "partial"
    assert f"damaged tar header at offset {offsets[9]}" in row.error and f"{len(CRASHES) - 1} members read" in row.error
    read = {p.rsplit("/", 1)[-1] for p in results if "!" in p}
    assert read == {f.name for f in CRASHES} - {CRASHES[9].name}  # only the member whose header broke is lost


def test_a_corrupt_gzip_stream_in_a_tgz_ends_in_an_error_row_not_a_quiet_end(tmp_path):
    tgz = bundle_tar(tmp_path / "b.tgz", CRASHES, mode="w:gz")
    data = tgz.read_bytes()
    damaged = tmp_path / "damaged.tgz"
    damaged.write_bytes(scribble(data, len(data) * 2 // 3))
    db = fx.open(tmp_path / "i.duckdb")
    results = db.ingest(damaged).results
    archive = [r for r in results if r.path == str(damaged)]
    assert len(archive) == 1 and archive[0].status in ("partial", "failed")
    members = sum("!" in r.path for r in results)
    assert f"after {members} members" in archive[0].error, archive[0].error
    assert members >= 3  # what came before the damage was read


def test_a_truncated_tgz_is_an_error_row(tmp_path):
    tgz = bundle_tar(tmp_path / "b.tgz", CRASHES, mode="w:gz")
    cut = tmp_path / "cut.tgz"
    cut.write_bytes(tgz.read_bytes()[: tgz.stat().st_size // 2])
    results = fx.open(tmp_path / "i.duckdb").ingest(cut).results
    archive = [r for r in results if r.path == str(cut)]
    assert archive and archive[0].status == "partial" and "members" in archive[0].error


def zip_of(path: Path, files: list[Path], method=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as z:
        for f in files:
            z.write(f, f.name)
    return path


def test_a_corrupt_deflate_member_fails_alone(tmp_path):
    z = zip_of(tmp_path / "b.zip", CRASHES[:5])
    with zipfile.ZipFile(z) as zf:
        info = zf.infolist()[2]
    data = z.read_bytes()
    start = info.header_offset + 30 + len(info.filename)  # the local header is 30 bytes and the name
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(scribble(data, start + info.compress_size // 2))
    results = {r.path.rsplit("!", 1)[-1]: r for r in fx.open(tmp_path / "i.duckdb").ingest(damaged).results}
    bad = results[CRASHES[2].name]
    assert bad.status == "failed" and ("corrupt" in bad.error or "CRC" in bad.error), bad.error
    assert all(results[f.name].status == "ok" for f in CRASHES[:5] if f != CRASHES[2])


def with_method(z: Path, method: int) -> bytes:
    """The zip with every member's compression method field set to `method` (APPNOTE 4.4.5), as a
    zip written by a tool using deflate64 or AES declares it; Python's zipfile cannot read those."""
    data = bytearray(z.read_bytes())
    for sig, at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        i = data.find(sig)
        while i >= 0:
            data[i + at:i + at + 2] = struct.pack("<H", method)
            i = data.find(sig, i + 4)
    return bytes(data)


def test_an_unsupported_zip_method_fails_its_members_and_names_the_method(tmp_path):
    z = zip_of(tmp_path / "b.zip", CRASHES[:3], method=zipfile.ZIP_STORED)
    deflate64 = tmp_path / "deflate64.zip"
    deflate64.write_bytes(with_method(z, 9))
    summary = fx.open(tmp_path / "i.duckdb").ingest([deflate64, PANIC])
    bad = [r for r in summary.results if "!" in r.path]
    assert len(bad) == 3 and all(r.status == "failed" and "deflate64" in r.error for r in bad)
    assert summary.results[-1].status == "ok"


# --- every exception a reader can raise --------------------------------------

EXCEPTIONS = [
    zlib.error("Error -3 while decompressing data"), NotImplementedError("That compression method is not supported"),
    csv.Error("new-line character seen in unquoted field"), UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"),
    ValueError("bad"), KeyError("k"), IndexError("i"), RecursionError("deep"), OverflowError("big"),
    OSError(errno.EIO, "Input/output error"), EOFError("short"), lzma.LZMAError("corrupt"),
    struct.error("unpack"), RuntimeError("bug"), TypeError("bug"), AttributeError("bug"), MemoryError(),
]
STAGES = ["hash", "sniff", "open", "parse"]


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("exc", EXCEPTIONS, ids=lambda e: type(e).__name__)
def test_any_exception_fails_one_source_and_the_batch_goes_on(tmp_path, monkeypatch, stage, exc):
    victim = tmp_path / "victim.txt"
    shutil.copy(PANIC, victim)

    def boom(*args, **kwargs):
        raise exc

    def only_victim(real):
        def wrapped(self, *args, **kwargs):
            return boom() if self.name == str(victim) else real(self, *args, **kwargs)
        return wrapped

    if stage == "hash":
        monkeypatch.setattr(Source, "sha256", only_victim(Source.sha256))
    elif stage == "open":
        monkeypatch.setattr(Source, "open", only_victim(Source.open))
    elif stage == "sniff":
        real = pipeline.detect
        monkeypatch.setattr(pipeline, "detect", lambda head: boom() if b"custom" in head else real(head))
    else:
        real_parse = pipeline._parse_source

        def parse(source, fmt, options):
            if source.name == str(victim):
                yield from list(real_parse(source, fmt, options))[:2]
                raise exc
            yield from real_parse(source, fmt, options)
        monkeypatch.setattr(pipeline, "_parse_source", parse)
    db = fx.open(tmp_path / "i.duckdb")
    results = db.ingest([victim, STACK], jobs=1).results  # the patches are in this process
    assert results[1].status == "ok"
    assert results[0].status in ("failed", "partial"), results[0]
    assert type(exc).__name__ in results[0].error or (str(exc) and str(exc) in results[0].error), results[0]


# --- special files --------------------------------------------------------------

def run_cli(*args, timeout=60, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*FORENSICS, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, **kwargs)


def test_fifos_sockets_and_devices_are_skipped_not_opened(tmp_path):
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    shutil.copy(PANIC, evidence / "crash.txt")
    os.mkfifo(evidence / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(evidence / "sock"))
    try:
        # A writer-less FIFO blocks an open() forever: the timeout is what fails here.
        done = run_cli("ingest", evidence, "/dev/zero", evidence / "pipe", "--db", tmp_path / "i.duckdb")
    finally:
        sock.close()
    assert done.returncode == 0, done.stderr
    db = fx.open(tmp_path / "i.duckdb", read_only=True)
    rows = dict(db.sql("SELECT path, status || ': ' || coalesce(error, '') FROM sources").fetchall())
    assert rows[str(evidence / "crash.txt")] == "ok: "
    assert rows[str(evidence / "pipe")] == "skipped: not a regular file (a FIFO); not opened"
    assert rows[str(evidence / "sock")] == "skipped: not a regular file (a socket); not opened"
    assert rows["/dev/zero"] == "skipped: not a regular file (a character device); not opened"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_leaves_no_temp_files(tmp_path, sig):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    # A bundle whose members take a while: many copies of a real dump, each its own pod's.
    big = tmp_path / "big.tgz"
    with tarfile.open(big, "w:gz") as tf:
        for i in range(3000):
            tf.add(STACK, arcname=f"dumps/orders-7c9d8e6f5-p{i:04d}x/stack.txt")
    env = {**os.environ, "TMPDIR": str(tmp)}
    proc = subprocess.Popen([*FORENSICS, "ingest", str(big), "--db", str(tmp_path / "i.duckdb"), "-q"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not any(tmp.iterdir()) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the ingest ended before it could be interrupted"
    time.sleep(0.5)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert list(tmp.iterdir()) == []


# --- retries and identity --------------------------------------------------------

def test_skipped_and_failed_sources_are_read_again_and_ok_ones_are_not(tmp_path):
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    db = fx.open(tmp_path / "i.duckdb")
    db.ingest([empty, PANIC])
    again = {Path(r.path).name: r.status for r in db.ingest([empty, PANIC]).results}
    assert again == {"empty.log": "skipped", PANIC.name: "duplicate"}
    assert db.sql("SELECT count(*) FROM sources").fetchall() == [(2,)]


def test_a_new_reader_version_or_force_reads_again_and_replaces(tmp_path, monkeypatch):
    db = fx.open(tmp_path / "i.duckdb")
    db.ingest([PANIC, STACK])
    before = counts(db)
    first_ids = {r[0] for r in db.sql("SELECT source_id FROM sources").fetchall()}
    monkeypatch.setattr(pipeline, "READER_VERSION", pipeline.READER_VERSION + 1)
    assert db.ingest([PANIC, STACK]).count("ok") == 2
    assert counts(db) == before
    assert {r[0] for r in db.sql("SELECT source_id FROM sources").fetchall()} == first_ids  # the artefacts' ids
    assert db.ingest([PANIC, STACK]).count("duplicate") == 2
    assert db.ingest([PANIC, STACK], force=True).count("ok") == 2
    assert counts(db) == before


def test_a_log_and_its_gzipped_rotation_are_one_artefact(tmp_path):
    log = next((SAMPLES / "cluster" / "var" / "log" / "pods").glob("*/orders/*.log"))
    pod = tmp_path / "var/log/pods" / log.parent.parent.name / "orders"
    pod.mkdir(parents=True)
    shutil.copy(log, pod / "0.log")
    (pod / "0.log.20261122-030000.gz").write_bytes(gzip.compress(log.read_bytes()))  # kubelet's rotation
    summary = fx.open(tmp_path / "i.duckdb").ingest(tmp_path / "var")
    assert [r.status for r in summary.results] == ["ok", "duplicate"]


def test_schema_versions_compare_as_numbers_and_an_old_database_says_how_to_migrate(tmp_path):
    path = tmp_path / "i.duckdb"
    fx.open(path).ingest(PANIC)
    import duckdb
    con = duckdb.connect(str(path))
    newer = SCHEMA_VERSION + 1  # compared as a number: "10" is after "9"
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(newer)])
    con.close()
    with pytest.raises(fx.StoreError, match=f"version {newer}.*newer forensics"):
        fx.open(path, read_only=True)
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = '8' WHERE key = 'schema_version'")
    con.execute("UPDATE sources SET reader_version = NULL")
    con.close()
    with pytest.raises(fx.StoreError, match="read-write once to migrate"):
        fx.open(path, read_only=True)
    db = fx.open(path)  # migrates; the source read by schema 8 is read again, not added beside
    assert db.ingest(PANIC).count("ok") == 1
    assert db.sql("SELECT count(*), max(reader_version) FROM sources").fetchall() == [(1, pipeline.READER_VERSION)]


def test_a_source_read_before_schema_9_is_known_by_its_packed_bytes(tmp_path):
    gz = tmp_path / "crash.txt.gz"
    gz.write_bytes(gzip.compress(PANIC.read_bytes()))
    db = fx.open(tmp_path / "i.duckdb")
    db.ingest(gz)
    packed = packed_sha256(gz)
    db.store.con.execute("UPDATE sources SET sha256 = ?, reader_version = NULL", [packed])
    db.store._legacy = None
    assert db.ingest(gz).count("ok") == 1
    assert db.sql("SELECT count(*) FROM dumps").fetchall() == [(1,)]


def test_archive_members_leave_the_temp_disk_as_they_are_read(tmp_path, monkeypatch):
    tar = bundle_tar(tmp_path / "b.tar", CRASHES[:6])
    seen: list[int] = []
    real = pipeline.ingest.__globals__["open_sources"]

    def watching(*args, **kwargs):
        cm = real(*args, **kwargs)

        class Wrapped:
            def __enter__(self):
                sources = cm.__enter__()

                def gen():
                    for s in sources:
                        if s.path is not None and s.temporary:
                            seen.append(len(list(s.path.parent.iterdir())))
                        yield s
                return gen()

            def __exit__(self, *exc):
                return cm.__exit__(*exc)
        return Wrapped()
    monkeypatch.setattr(pipeline, "open_sources", watching)
    fx.open(tmp_path / "i.duckdb").ingest(tar)
    assert seen and max(seen) == 1  # one member on disk at a time


def test_stdin_is_bounded_and_read(tmp_path):
    db = fx.open(tmp_path / "i.duckdb")
    assert db.ingest("-", stdin=io.BytesIO(PANIC.read_bytes())).count("ok") == 1


# --- numbers past what a field holds ---------------------------------------------

def ten_thousand_digits(text: str, pattern: str, digits: str = "9") -> str:
    """The first number `pattern` captures replaced by 10,000 digits (a corrupted paste)."""
    import re
    return re.sub(pattern, lambda m: m.group(0).replace(m.group(1), digits * 10_000), text, count=1)


@pytest.mark.parametrize("pattern, message", [
    (r"goroutine (\d+) \[", "goroutine id of 10000 digits is out of range"),
    (r"in goroutine (\d+)", "creator's goroutine id of 10000 digits"),
    (r"\.go:(\d+)", "expected a frame"),
])
@pytest.mark.parametrize("columnar", [True, False])
def test_a_10k_digit_number_in_a_dump_is_an_error_row_and_the_rest_is_kept(tmp_path, pattern, message, columnar):
    from forensics.parsers import ParseOptions
    from forensics.parsers.dumps import scanner

    clean = (SAMPLES / "go1.27.3" / "default" / "stack.txt").read_text()  # Go 1.21+ names the creator
    damaged = ten_thousand_digits(clean, pattern)
    assert damaged != clean

    def read(text):
        out: dict[str, list] = {}
        for table, batch in scanner.parse(io.BytesIO(text.encode()), ParseOptions(columnar=columnar)):
            out.setdefault(table, []).extend(batch.to_pylist())
        return out
    before, after = read(clean), read(damaged)
    assert any(message in e["message"] for e in after["ingest_errors"]), after.get("ingest_errors")
    assert len(after["goroutines"]) == len(before["goroutines"])
    assert len(after["frames"]) >= len(before["frames"]) - 1


def test_a_10k_digit_zap_time_keeps_the_line_and_the_lines_after_it(tmp_path):
    log = next((SAMPLES / "incident" / "bundle" / "var" / "log" / "pods").glob("shop_checkout-*/checkout/0.log"))
    lines = [line.split(" ", 3)[3] for line in log.read_text().splitlines()]  # the JSON lines zap wrote
    lines[1] = ten_thousand_digits(lines[1], r'"ts":(\d+)', "1")
    lines[2] = lines[2].replace(lines[2].split('"ts":', 1)[1].split(",", 1)[0], "1e400", 1)
    path = tmp_path / "zap.log"
    path.write_text("\n".join(lines) + "\n")
    db = fx.open(tmp_path / "i.duckdb")
    r = db.ingest(path).results[0]
    assert r.status == "partial" and "line 2: JSON record with a number of 10000 digits" in r.error, r.error
    assert db.sql("SELECT count(*) FROM logs").fetchall() == [(len(lines),)]
    assert db.sql("SELECT count(*) FROM logs WHERE ts IS NULL").fetchall()[0][0] <= 2
