"""Sources: files, directories, globs, stdin, compression and archives, with bounds."""
from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path


from forensics.ingest.sources import Limits, open_sources

from conftest import SAMPLES

PANIC = SAMPLES / "go1.27.3" / "default" / "panic-custom-error.txt"
STACK = SAMPLES / "go1.19.8" / "default" / "stack.txt"


def names(paths, **kw):
    with open_sources([str(p) for p in paths], **kw) as sources:
        return [(s.name, s.error) for s in sources]


def test_directory_is_recursive_and_sorted(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.log").write_text("x")
    (tmp_path / "a.log").write_text("y")
    got = [Path(n).relative_to(tmp_path).as_posix() for n, _ in names([tmp_path])]
    assert got == ["a.log", "b/z.log"]


def test_glob_and_missing(tmp_path):
    (tmp_path / "one.txt").write_text("1")
    (tmp_path / "two.log").write_text("2")
    got = names([tmp_path / "*.txt", tmp_path / "nope.txt", tmp_path / "*.none"])
    assert got[0] == (str(tmp_path / "one.txt"), None)
    assert got[1] == (str(tmp_path / "nope.txt"), "no such file or directory")
    assert got[2][1] == "no file matches this pattern"


def make_tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def test_tgz_members_are_named_bundle_bang_path(tmp_path, db):
    bundle = make_tar(tmp_path / "bundle.tgz", {"logs/app.log": PANIC.read_bytes(), "dumps/stack.txt": STACK.read_bytes()})
    summary = db.ingest(bundle)
    assert summary.count("ok") == 2
    paths = sorted(db.sql("SELECT path FROM sources").df().path)
    assert paths == [f"{bundle}!dumps/stack.txt", f"{bundle}!logs/app.log"]
    assert db.sql("SELECT count(*) FROM dumps").fetchall()[0][0] == 2


def test_zip_and_nested_archives(tmp_path, db):
    inner = make_tar(tmp_path / "inner.tar", {"x/stack.txt": STACK.read_bytes()}, mode="w")
    zpath = tmp_path / "outer.zip"
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.write(PANIC, "crash.log")
        z.write(inner, "nested/inner.tar")
    db.ingest(zpath)
    paths = sorted(db.sql("SELECT path FROM sources WHERE status = 'ok'").df().path)
    assert paths == [f"{zpath}!crash.log", f"{zpath}!nested/inner.tar!x/stack.txt"]


def test_path_traversal_members_stay_in_temp_dir(tmp_path, db):
    victim = tmp_path / "victim.txt"
    bundle = make_tar(tmp_path / "evil.tar.gz", {"../victim.txt": PANIC.read_bytes(),
                                                  str(tmp_path / "abs.txt"): PANIC.read_bytes()})
    zpath = tmp_path / "evil.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("../../victim2.txt", PANIC.read_bytes())
    db.ingest([bundle, zpath])
    assert not victim.exists() and not (tmp_path / "abs.txt").exists()
    assert not (tmp_path.parent / "victim2.txt").exists()
    # Content was read all the same, under the member names as given.
    assert db.sql("SELECT count(*) FROM sources WHERE path LIKE '%../victim.txt'").fetchall()[0][0] == 1


def test_symlink_members_are_not_followed(tmp_path, db):
    bundle = tmp_path / "links.tar"
    with tarfile.open(bundle, "w") as tf:
        info = tarfile.TarInfo("passwd")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tf.addfile(info)
        data = STACK.read_bytes()
        info = tarfile.TarInfo("stack.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    db.ingest(bundle)
    assert list(db.sql("SELECT path FROM sources").df().path) == [f"{bundle}!stack.txt"]


def test_gzip_bomb_is_bounded(tmp_path, db):
    bomb = tmp_path / "bomb.log.gz"
    with gzip.open(bomb, "wb") as f:
        f.write(PANIC.read_bytes())
        chunk = b"\n" * (1 << 20)
        for _ in range(64):
            f.write(chunk)
    limits = Limits(max_source_bytes=8 << 20)
    summary = db.ingest(bomb, limits=limits)
    r = summary.results[0]
    # The panic before the limit was kept; the limit is the recorded error.
    assert r.status == "partial"
    assert "exceeds 8388608 bytes" in r.error
    assert db.sql("SELECT count(*) FROM panics").fetchall()[0][0] == 1


def test_zip_bomb_extraction_is_bounded(tmp_path, db):
    zpath = tmp_path / "bomb.zip"
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("ok.txt", PANIC.read_bytes())
        z.writestr("huge.txt", b"\0" * (32 << 20))
    summary = db.ingest(zpath, limits=Limits(max_source_bytes=4 << 20))
    by_status = {r.path: (r.status, r.error) for r in summary.results}
    assert by_status[f"{zpath}!ok.txt"][0] == "ok"
    # The member declares its size: refused before a byte is written, as that member's failure.
    assert by_status[f"{zpath}!huge.txt"][0] == "failed"
    assert "larger than the limit of 4194304 bytes" in by_status[f"{zpath}!huge.txt"][1]


def test_total_extraction_is_bounded(tmp_path, db):
    members = {f"m{i}.txt": PANIC.read_bytes() for i in range(5)}
    bundle = make_tar(tmp_path / "many.tgz", members)
    size = len(PANIC.read_bytes())
    summary = db.ingest(bundle, limits=Limits(max_extract_bytes=int(size * 2.5)))
    assert summary.count("ok") == 1  # members 0, 1 share content: the second is a duplicate
    assert summary.count("duplicate") == 1
    # The archive is partial: what it held past the bound is lost, and its row says so.
    assert any(r.path == str(bundle) and r.status == "partial" and "expand past" in r.error
               and "after 2 members" in r.error for r in summary.results)


def test_corrupt_archive_keeps_earlier_members(tmp_path, db):
    bundle = make_tar(tmp_path / "cut.tar", {"a.txt": PANIC.read_bytes(), "b.txt": STACK.read_bytes()}, mode="w")
    data = bundle.read_bytes()
    cut = tmp_path / "cut2.tar"
    second = 512 + (len(PANIC.read_bytes()) + 511) // 512 * 512 + 512
    cut.write_bytes(data[: second + 1000])  # inside the second member's data
    summary = db.ingest(cut)
    statuses = {r.path: r.status for r in summary.results}
    assert statuses[f"{cut}!a.txt"] == "ok"
    assert statuses[str(cut)] == "partial"  # one member read, the cut one lost


def test_truncated_gzip_keeps_what_parsed(tmp_path, db):
    gz = gzip.compress(STACK.read_bytes() + PANIC.read_bytes())
    path = tmp_path / "cut.log.gz"
    path.write_bytes(gz[: len(gz) - 200])
    r = db.ingest(path).results[0]
    assert r.status == "partial"
    assert "corrupt compressed data" in r.error or "ended" in r.error
    assert db.sql("SELECT count(*) FROM dumps WHERE kind = 'goroutines'").fetchall()[0][0] == 1


def test_stdin(db):
    summary = db.ingest("-", stdin=io.BytesIO(PANIC.read_bytes()))
    assert summary.count("ok") == 1
    assert db.sql("SELECT path FROM sources").fetchall() == [("-",)]


def test_format_is_detected_from_content_not_name(tmp_path, db):
    odd = tmp_path / "picture.png"
    odd.write_bytes(PANIC.read_bytes())
    gz = tmp_path / "notes.txt"
    gz.write_bytes(gzip.compress(STACK.read_bytes()))  # gzip without .gz
    summary = db.ingest([odd, gz])
    assert summary.count("ok") == 2
    assert set(db.sql("SELECT kind FROM sources").df().kind) == {"go_crash"}


def test_binary_and_empty(tmp_path, db):
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 10)
    (tmp_path / "empty.log").write_bytes(b"")
    res = {Path(r.path).name: (r.status, r.error) for r in db.ingest(tmp_path).results}
    assert res["blob.bin"][0] == "failed" and "binary content" in res["blob.bin"][1]
    assert res["empty.log"] == ("skipped", "empty file")


def test_gzip_with_an_invalid_block_is_a_failed_source(tmp_path, db):
    """zlib's raw `invalid block type` (found by Hypothesis) fails the file
    with a clear error instead of escaping the batch."""
    header = gzip.compress(b"profile", mtime=0)[:10]
    bad = tmp_path / "bad.pb.gz"
    bad.write_bytes(header + b"\x47")  # deflate block type 3: reserved, invalid
    r = db.ingest([bad, SAMPLES / "go1.27.3" / "profiles" / "heap.pb.gz"]).results
    assert r[0].status == "failed" and "corrupt compressed data" in r[0].error, r[0]
    assert r[1].status == "ok"
