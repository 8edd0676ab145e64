"""A case's input files: the sample, mutated or not, loose or packed, or the special and
hostile things put beside it, all under the case's private input directory.

:func:`build` turns a case (a JSON-able dict, see :mod:`.cases`) into a :class:`Built`: the paths
to give ``db.ingest``, the :class:`forensics.ingest.Limits`, what each source must come out as,
and the recipe that says what was done. Everything is deterministic from the case.
"""
from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import random
import socket
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from forensics.ingest import Limits

from . import samples
from .mutate import Mutation, apply_edits, mutate

MiB = 1 << 20
# Bounds the ordinary cases run under: small, so a bomb-like mutation stays fast, large enough
# for every sample (the biggest, go tool trace JSON, is 2 MB).
LIMITS = Limits(max_source_bytes=64 * MiB, max_extract_bytes=256 * MiB, max_members=10_000)
# The words a bound's error uses (forensics.ingest.files and .archives).
BOUND_WORDS = ("exceeds", "larger than", "expands more than", "expand past", "more than", "nested deeper")
COMPRESS = {
    "gzip": (".gz", lambda b: gzip.compress(b, 6, mtime=0)),
    "bz2": (".bz2", lambda b: bz2.compress(b, 9)),
    "xz": (".xz", lambda b: lzma.compress(b)),
}
ARCHIVES = {"tar": ("bundle.tar", "w"), "tgz": ("bundle.tgz", "w:gz"), "tbz": ("bundle.tar.bz2", "w:bz2"),
            "txz": ("bundle.tar.xz", "w:xz"), "zip": ("bundle.zip", None)}
WRAPS = (*COMPRESS, *ARCHIVES, "nested", "nested-deep")


@dataclass
class Expect:
    statuses: tuple[str, ...]
    words: tuple[str, ...] = ()  # the error must contain one of them (any error when empty)
    rows: str | None = None  # a table the source must have kept rows in


@dataclass
class Built:
    paths: list[str] = field(default_factory=list)
    limits: Limits = LIMITS
    recipe: str = ""
    reported: list[str] = field(default_factory=list)  # names that must each appear among the results
    expect: dict[str, Expect] = field(default_factory=dict)  # by name
    same: dict[str, str] = field(default_factory=dict)  # name -> sample whose clean reading it must equal
    preserve: dict[str, tuple[str, Mutation]] = field(default_factory=dict)  # name -> (sample, mutation)
    members_ok: tuple[int, str] | None = None  # (n, sample): n archive members reading as that sample
    watch: list[Path] = field(default_factory=list)  # real directories that must not change
    jobs: int = 1


def marker(case: dict) -> str:
    """The name a hostile member tries to escape as; searched for everywhere after the ingest."""
    return "fuzz-escape-" + hashlib.sha1(case["id"].encode()).hexdigest()[:10]


def _packed(sample: samples.Sample, data: bytes) -> bytes:
    return gzip.compress(data, 6, mtime=0) if sample.packed else data


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def tar_bytes(members: list[tuple[str, bytes]], mode: str = "w", fmt: int = tarfile.GNU_FORMAT,
              extra: list[tarfile.TarInfo] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=fmt) as tf:
        for info in extra or []:
            tf.addfile(info)
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1795315794, 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zip_bytes(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 22, 5, 7, 14))
            info.compress_type = method
            z.writestr(info, data)
    return buf.getvalue()


def archive_bytes(kind: str, members: list[tuple[str, bytes]]) -> bytes:
    if kind == "zip":
        return zip_bytes(members)
    return tar_bytes(members, ARCHIVES[kind][1])


# --- samples, mutated or not, loose or packed ----------------------------------------------------

def build(case: dict, indir: Path) -> Built:
    kind = case["kind"]
    if kind in BUILDERS:
        return BUILDERS[kind](case, indir)
    sample = samples.get(case["sample"])
    data = sample.content()
    m: Mutation | None = None
    if kind == "edits":
        e = case["edits"]
        m = apply_edits(data, e["line"], e["nlines"], [(op, f, n, bytes.fromhex(p)) for op, f, n, p in e["ops"]])
    elif kind == "splice":
        family = [k for k in samples.family_of(sample.key) if k != sample.key] or [sample.key]
        partner = random.Random(case["seed"]).choice(family)
        m = mutate(data, "splice", case["seed"], (partner, samples.get(partner).content()))
    elif kind not in ("clean", "as-is", "as-is-dir"):
        m = mutate(data, kind, case["seed"])
    if kind in ("as-is", "as-is-dir"):
        return _as_is(case, sample)
    content = m.data if m else data
    recipe = f"{sample.rel}: " + (m.recipe if m else "clean")
    wrap = case.get("wrap")
    built = Built(jobs=case.get("jobs", 1))
    # What sits beside it in an archive: another sample (the same bytes would be a duplicate).
    sibling = samples.get(samples.CRASH if sample.key != samples.CRASH else "crash-1.19-race")
    if not wrap:
        path = _write(indir / sample.rel, _packed(sample, content))
        name = str(path)
    elif wrap in COMPRESS:
        ext, fn = COMPRESS[wrap]
        rel = sample.rel[:-3] if sample.packed else sample.rel
        path = _write(indir / (rel + ext), fn(content))
        name = str(path)
        recipe += f", {wrap}-compressed"
    elif wrap in ARCHIVES:
        members = [(sample.rel, _packed(sample, content)), (sibling.rel, sibling.content())]
        path = _write(indir / ARCHIVES[wrap][0], archive_bytes(wrap, members))
        name = f"{path}!{sample.rel}"
        sib = f"{path}!{sibling.rel}"
        built.reported.append(sib)
        built.same[sib] = sibling.key
        recipe += f", in {path.name} beside {sibling.rel}"
    elif wrap == "nested":  # a zip in a tar.gz, with a .gz member beside it in the zip
        inner = zip_bytes([(sample.rel, _packed(sample, content)),
                           ("crash.txt.gz", gzip.compress(sibling.content(), mtime=0))])
        path = _write(indir / "outer.tgz", tar_bytes([("inner/evidence.zip", inner)], "w:gz"))
        name = f"{path}!inner/evidence.zip!{sample.rel}"
        sib = f"{path}!inner/evidence.zip!crash.txt.gz"
        built.reported.append(sib)
        built.same[sib] = sibling.key
        recipe += ", in outer.tgz!inner/evidence.zip (nested)"
    elif wrap == "nested-deep":  # four levels: the fourth is past Limits.max_depth (3)
        level3 = zip_bytes([(sample.rel, _packed(sample, content))])
        level2 = tar_bytes([("l3.zip", level3)], "w:gz")
        level1 = zip_bytes([("l2.tgz", level2), ("beside.txt", sibling.content())])
        path = _write(indir / "l0.tar", tar_bytes([("l1.zip", level1)]))
        deep = f"{path}!l1.zip!l2.tgz!l3.zip"
        built.reported.append(deep)
        built.expect[deep] = Expect(("failed", "partial", "skipped"), ("nested deeper",))
        sib = f"{path}!l1.zip!beside.txt"
        built.reported.append(sib)
        built.same[sib] = sibling.key
        built.paths = [str(path)]
        built.recipe = recipe + ", four archives deep (l0.tar!l1.zip!l2.tgz!l3.zip)"
        return built
    else:
        raise ValueError(f"unknown wrap {wrap!r}")
    built.paths.append(str(path))
    built.reported.append(name)
    if m is None:
        built.same[name] = sample.key
    elif sample.lines:
        built.preserve[name] = (sample.key, m)
    built.recipe = recipe
    return built


def _as_is(case: dict, sample: samples.Sample) -> Built:
    """The committed sample itself (or its whole directory), read where it lies: nothing may appear there."""
    if case["kind"] == "as-is":
        path = sample.path
        return Built(paths=[str(path)], reported=[str(path)], watch=[path.parent], same={str(path): sample.key},
                     recipe=f"{sample.rel} as committed")
    d = sample.path.parent
    return Built(paths=[str(d)], reported=[str(sample.path)], watch=[d], same={str(sample.path): sample.key},
                 recipe=f"{d.relative_to(samples.SAMPLES)}/ as committed (a directory)")


# --- a damaged archive ---------------------------------------------------------------------------

def _archive_damage(case: dict, indir: Path) -> Built:
    r = random.Random(case["seed"])
    kind = r.choice(list(ARCHIVES))
    keys = [samples.CRASH, "log-cri-crash", "pprof-cpu", "otlp-jsonl", "deploys-csv", "crash-1.19-race"]
    r.shuffle(keys)
    members = [(samples.get(k).rel, _packed(samples.get(k), samples.get(k).content())) for k in keys[:4]]
    data = archive_bytes(kind, members)
    how = r.choice(("flip", "truncate", "delete", "insert", "duplicate", "nul"))
    m = mutate(data, how, case["seed"])
    path = _write(indir / ARCHIVES[kind][0], m.data)
    return Built(paths=[str(path)], recipe=f"{path.name} of {', '.join(k for k in keys[:4])}, then {m.recipe}")


# --- bombs ---------------------------------------------------------------------------------------

def _text_block(n: int = MiB) -> bytes:
    """n bytes of a crash loop's output: a real crash, then the same line over and over."""
    crash = samples.get(samples.CRASH).content()
    filler = b"2026-11-22T05:07:14Z orders: retrying the lease keep-alive\n"
    return (crash + filler * (n // len(filler)))[:n]


def _bomb(case: dict, indir: Path) -> Built:
    kind = case["kind"]
    # A bound that is a multiple of the readers' 4 MiB reads: everything before it is kept. (Under
    # a bound that is not, the read that crosses it is dropped: bomb-small-bound, a known bug.)
    small = Limits(max_source_bytes=4 * MiB, max_extract_bytes=12 * MiB, max_members=40, max_depth=3)
    bound = Expect(("partial", "failed"), BOUND_WORDS)
    block = _text_block()
    b = Built(limits=small)
    if kind in ("bomb-gzip", "bomb-bz2", "bomb-xz", "bomb-small-bound"):
        how = "gzip" if kind == "bomb-small-bound" else kind.split("-")[1]
        ext, fn = COMPRESS[how]
        one = fn(block)
        path = _write(indir / f"crashloop.log{ext}", one * 48)  # 48 streams: 48 MiB of text
        if kind == "bomb-small-bound":
            b.limits = Limits(max_source_bytes=2 * MiB)
        b.expect[str(path)] = Expect(("partial",), BOUND_WORDS, rows="goroutines")
        b.recipe = (f"{how}: 48 streams of 1 MiB of crash loop text ({len(one) * 48} bytes), "
                    f"max_source_bytes={b.limits.max_source_bytes >> 20} MiB")
    elif kind == "bomb-zeros":
        z = zlib.compressobj(9, zlib.DEFLATED, 31)
        data = b"".join(z.compress(bytes(MiB)) for _ in range(64)) + z.flush()
        path = _write(indir / "zeros.gz", data)
        b.expect[str(path)] = Expect(("partial", "failed"))
        b.recipe = f"gzip of 64 MiB of zeros ({len(data)} bytes)"
    elif kind in ("bomb-ratio", "bomb-ratio-floor"):
        # The readers read 4 MiB at a time: past a ratio floor of 4 MiB, what came before is kept.
        # Under a floor of 1 MiB, the first read already crosses it, and is dropped (a known bug).
        floor = 4 * MiB if kind == "bomb-ratio" else MiB
        b.limits = Limits(max_source_bytes=64 * MiB, max_ratio=20, ratio_floor=floor)
        data = gzip.compress(block * 16, 6, mtime=0)
        path = _write(indir / "crashloop.log.gz", data)
        b.expect[str(path)] = Expect(("partial",), ("expands more than",), rows="goroutines")
        b.recipe = (f"gzip of 16 MiB of crash loop text ({len(data)} bytes) under max_ratio=20, "
                    f"ratio_floor={floor >> 20} MiB")
    elif kind == "bomb-zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z, z.open("crashloop.log", "w", force_zip64=True) as w:
            for _ in range(48):
                w.write(block)
        path = _write(indir / "bomb.zip", buf.getvalue())
        name = f"{path}!crashloop.log"
        b.reported.append(name)
        b.expect[name] = bound
        b.recipe = f"zip with one 48 MiB deflated member ({len(buf.getvalue())} bytes), 4 MiB bound"
    elif kind == "bomb-zip-lying":  # the headers say 1 KiB; the deflate stream holds 48 MiB
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z, z.open("small.log", "w", force_zip64=True) as w:
            for _ in range(48):
                w.write(block)
        data = _lie_zip_sizes(buf.getvalue(), 1024)
        path = _write(indir / "lying.zip", data)
        name = f"{path}!small.log"
        b.reported.append(name)
        b.expect[name] = Expect(("partial", "failed", "ok"))
        b.recipe = "zip whose one member declares 1024 bytes and inflates to 48 MiB"
    elif kind == "bomb-tgz":  # members each under the per-source bound, together past the extract bound
        members = [(f"logs/crash-{i}.log", block * 2 + block[:MiB // 2]) for i in range(6)]
        path = _write(indir / "bomb.tgz", tar_bytes(members, "w:gz"))
        b.reported.append(str(path))
        b.expect[str(path)] = Expect(("partial",), ("expand past",))
        b.recipe = "tar.gz of six 2.5 MiB members (15 MiB) under max_extract_bytes=12 MiB"
    elif kind == "bomb-tar-member":  # one member past the per-source bound, between two that are not
        first, after = samples.get(samples.CRASH), samples.get("crash-1.19-race")
        members = [(first.rel, first.content()), ("logs/crashloop.log", _text_block(6 * MiB)),
                   (after.rel, after.content())]
        path = _write(indir / "bundle.tar", tar_bytes(members))
        for m in (first, after):
            b.reported.append(f"{path}!{m.rel}")
            b.same[f"{path}!{m.rel}"] = m.key
        b.recipe = "bundle.tar: a crash, a 6 MiB member (max_source_bytes=4 MiB), a race report"
    elif kind == "bomb-members":
        members = [(f"m/{i:04d}.log", b"2026-11-22T05:07:14Z member %d\n" % i) for i in range(400)]
        path = _write(indir / "many.zip", zip_bytes(members))
        b.reported.append(str(path))
        b.expect[str(path)] = Expect(("partial", "failed"), ("more than 40 archive members",))
        b.recipe = "zip of 400 members under max_members=40"
    elif kind == "bomb-nested":  # 42.zip-like: zips of zips, four wide, five deep
        level = gzip.compress(block, 9, mtime=0)
        name = "crash.log.gz"
        for depth in range(5):
            level = zip_bytes([(f"d{depth}-{i}/{name}", level) for i in range(4)])
            name = "layer.zip"
        path = _write(indir / "nested.zip", level)
        b.expect = {}
        b.recipe = "zip of 4 zips of 4 zips ... five deep, a 1 MiB gzip at the bottom"
    else:
        raise ValueError(kind)
    b.paths.append(str(path))
    if not b.reported:
        b.reported.append(str(path))
    return b


def _lie_zip_sizes(data: bytes, size: int) -> bytes:
    """Rewrite the uncompressed size a zip's headers declare (local, zip64 extra, central)."""
    out = bytearray(data)
    for sig, off in ((b"PK\x01\x02", 24),):
        i = out.find(sig)
        while i >= 0:
            out[i + off:i + off + 4] = size.to_bytes(4, "little")
            i = out.find(sig, i + 4)
    i = out.find(b"\x01\x00\x10\x00")  # zip64 extra field in the local header: size, compressed size
    while i >= 0:
        out[i + 4:i + 12] = size.to_bytes(8, "little")
        i = out.find(b"\x01\x00\x10\x00", i + 4)
    return bytes(out)


# --- special files ------------------------------------------------------------------------------

def _special(case: dict, indir: Path) -> Built:
    kind = case["kind"]
    ev = indir / "evidence"
    crash = _write(ev / "crash.txt", samples.get(samples.CRASH).content())
    b = Built(paths=[str(ev)], reported=[str(crash)], same={str(crash): samples.CRASH})
    skipped = Expect(("skipped",), ("not a regular file",))
    refused = Expect(("failed", "skipped"))
    if kind == "fifo":
        os.mkfifo(ev / "pipe")
        b.paths.append(str(ev / "pipe"))
        b.expect[str(ev / "pipe")] = skipped
        b.recipe = "a FIFO (no writer) beside a crash, named and found in the directory"
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        here = os.getcwd()
        try:
            os.chdir(ev)  # a relative bind: socket paths are limited to 107 bytes
            s.bind("sock")
        finally:
            os.chdir(here)
            s.close()
        b.paths.append(str(ev / "sock"))
        b.expect[str(ev / "sock")] = skipped
        b.recipe = "a Unix socket beside a crash"
    elif kind == "devzero":
        os.symlink("/dev/zero", ev / "zero")
        b.paths += ["/dev/zero", str(ev / "zero")]
        b.expect["/dev/zero"] = skipped
        b.expect[str(ev / "zero")] = skipped
        b.recipe = "/dev/zero named, and a symlink to it in the directory"
    elif kind == "symlink-loop":
        os.symlink("loop-b", ev / "loop-a")
        os.symlink("loop-a", ev / "loop-b")
        os.symlink("loop-self", ev / "loop-self")
        b.paths.append(str(ev / "loop-a"))
        for n in ("loop-a", "loop-b", "loop-self"):
            b.expect[str(ev / n)] = refused
        b.recipe = "symlinks a -> b -> a and self -> self beside a crash"
    elif kind == "dir-loop":
        (ev / "sub").mkdir()
        os.symlink("..", ev / "sub" / "up")
        os.symlink(".", ev / "self")
        os.symlink(str(ev), ev / "sub" / "abs")
        b.recipe = "directory symlinks back up the tree (sub/up -> .., self -> ., sub/abs -> the directory)"
    elif kind == "dangling":
        os.symlink("nowhere", ev / "dangling")
        b.paths += [str(ev / "dangling"), str(indir / "missing.txt"), str(indir / "*.nomatch")]
        for n in (str(ev / "dangling"), str(indir / "missing.txt"), str(indir / "*.nomatch")):
            b.expect[n] = refused
        b.recipe = "a dangling symlink, a missing path and a glob matching nothing"
    elif kind == "empty-and-dirs":
        _write(ev / "empty.log", b"")
        (ev / "emptydir").mkdir()
        _write(ev / "only-newlines.txt", b"\n" * 1000)
        b.paths += [str(ev / "emptydir")]
        b.expect[str(ev / "empty.log")] = Expect(("skipped",))
        b.recipe = "an empty file, an empty directory and a file of newlines beside a crash"
    else:
        raise ValueError(kind)
    b.reported += [n for n in b.expect if n not in b.reported]
    return b


# --- hostile names -------------------------------------------------------------------------------

FILE_NAMES = {
    "name-newline": "crash\nsecond line.txt",
    "name-rtl": "crash-\u202etxt.exe",
    "name-ansi": "crash-\x1b[31mred\x1b[0m\x07.txt",
    "name-cr-tab": "crash\r\t .txt",
    "name-long": "c" * 251 + ".txt",
    "name-glob": "crash*?[x].txt",
    "name-unicode": "crash-\u00fc-\u65e5\u672c-\U0001f642-\u200b\ufeff.txt",
    "name-dash": "-",
}


def _hostile(case: dict, indir: Path) -> Built:
    kind = case["kind"]
    base = samples.get(samples.CRASH).content()
    count = iter(range(1, 1000))

    def crash() -> bytes:
        """The crash, with a different number of trailing newlines each time: the same reading,
        another artefact (not a duplicate of the one before)."""
        return base + b"\n" * next(count)

    ev = indir / "evidence"
    ev.mkdir(parents=True)
    b = Built(paths=[str(ev)])
    mark = marker(case)
    if kind in FILE_NAMES or kind == "file-names":
        names = list(FILE_NAMES.values()) if kind == "file-names" else [FILE_NAMES[kind]]
        for n in names:
            path = _write(ev / n, crash())
            if n != "-":
                b.paths.append(str(path))  # named, and found in the directory: the second is a duplicate
            b.reported.append(str(path))
            b.same[str(path)] = samples.CRASH
        b.recipe = f"crashes named {names!r}, named and in their directory"
    elif kind == "name-deep":
        d = ev
        while len(str(d)) < 3700:
            d = d / ("d" * 200)
        path = _write(d / "crash.txt", crash())
        b.reported.append(str(path))
        b.same[str(path)] = samples.CRASH
        b.recipe = f"a crash {len(str(path))} bytes deep"
    elif kind == "name-badutf8":
        raw = os.fsencode(ev) + b"/crash-\xff\xfe-latin1-\xe9.txt"
        with open(raw, "wb") as f:
            f.write(crash())
        b.members_ok = (1, samples.CRASH)  # its name cannot be compared: any result for it, read ok
        b.recipe = "a crash whose file name is not UTF-8 (b'crash-\\xff\\xfe-latin1-\\xe9.txt')"
    elif kind == "tar-badutf8":
        name = os.fsdecode(b"crash-\xff\xfe.txt")
        path = _write(indir / "names.tar", tar_bytes([(name, crash())]))
        b.paths = [str(path)]
        b.members_ok = (1, samples.CRASH)
        b.recipe = "a tar whose member name is not UTF-8 (b'crash-\\xff\\xfe.txt')"
    elif kind in ("tar-traversal", "zip-traversal"):
        names = [f"../../{mark}-a.txt", f"a/../../../{mark}-b.txt", f"/tmp/{mark}-c.txt", f"/{mark}-d.txt",
                 f"..\\..\\{mark}-e.txt", f"C:\\{mark}-f.txt", f"./././{mark}-g.txt"]
        members = [(n, crash()) for n in names]
        fname = "traversal.tar" if kind == "tar-traversal" else "traversal.zip"
        path = _write(indir / fname, tar_bytes(members) if kind == "tar-traversal" else zip_bytes(members))
        b.paths = [str(path)]
        b.members_ok = (len(names), samples.CRASH)
        b.recipe = f"{fname} with members {names}"
    elif kind == "tar-links":  # a symlink out of the tree, then a member through it; links to /etc; a device
        extra = []
        for name, kind_, target in (("lnk", tarfile.SYMTYPE, "../../../.."), ("passwd", tarfile.SYMTYPE, "/etc/passwd"),
                                    ("hard", tarfile.LNKTYPE, "/etc/passwd"), ("zero", tarfile.CHRTYPE, ""),
                                    ("fifo", tarfile.FIFOTYPE, ""), ("dir", tarfile.DIRTYPE, "")):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind_, target
            if kind_ == tarfile.CHRTYPE:
                info.devmajor, info.devminor = 1, 5
            extra.append(info)
        path = _write(indir / "links.tar", tar_bytes([(f"lnk/{mark}.txt", crash()), ("dir/crash.txt", crash())],
                                                    extra=extra))
        b.paths = [str(path)]
        b.members_ok = (2, samples.CRASH)
        b.recipe = ("links.tar: lnk -> ../../../.., lnk/<marker>.txt, passwd -> /etc/passwd, hard link to "
                    "/etc/passwd, a character device 1,5, a FIFO, dir/crash.txt")
    elif kind == "zip-symlink":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            info = zipfile.ZipInfo("passwd-link")
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, "/etc/passwd")
            z.writestr(zipfile.ZipInfo("crash.txt"), crash())
        path = _write(indir / "symlink.zip", buf.getvalue())
        b.paths = [str(path)]
        b.members_ok = (1, samples.CRASH)
        b.recipe = "symlink.zip: a member that is a symlink to /etc/passwd (its text), and a crash"
    elif kind == "member-names":  # long, newline, RTL, duplicate names inside archives
        long_name = "/".join(["x" * 200] * 50) + "/crash.txt"
        members = [(long_name, crash()), ("a\nb\u202e.txt", crash()), ("dup.txt", crash()), ("dup.txt", crash()),
                   (" ", crash())]
        t = _write(indir / "names.tar", tar_bytes(members, fmt=tarfile.PAX_FORMAT))
        z = _write(indir / "names.zip", zip_bytes([("y" * 60000, crash()), ("a\nb.txt", crash())]))
        b.paths = [str(t), str(z)]
        b.members_ok = (len(members) + 2, samples.CRASH)
        b.recipe = "names.tar (pax: a 10,000-byte name, newline + U+202E, a duplicate, ' ') and names.zip (60,000 bytes)"
    else:
        raise ValueError(kind)
    return b


BUILDERS = {
    "archive-damage": _archive_damage,
    **{k: _bomb for k in ("bomb-gzip", "bomb-bz2", "bomb-xz", "bomb-zeros", "bomb-ratio", "bomb-ratio-floor",
                          "bomb-small-bound", "bomb-tar-member", "bomb-zip",
                          "bomb-zip-lying", "bomb-tgz", "bomb-members", "bomb-nested")},
    **{k: _special for k in ("fifo", "socket", "devzero", "symlink-loop", "dir-loop", "dangling", "empty-and-dirs")},
    **{k: _hostile for k in (*FILE_NAMES, "file-names", "name-deep", "name-badutf8", "tar-badutf8", "tar-traversal",
                             "zip-traversal", "tar-links", "zip-symlink", "member-names")},
}
