"""One case, run and judged inside a worker process (:mod:`.worker`).

:meth:`Runner.run_case` builds the case's inputs in a private directory, ingests them into a new
database in another, and checks:

1. no exception escapes ``db.ingest``;
2. every source has an honest status (ok, partial, failed, skipped, duplicate; an error for all but
   ok), the same in ``sources`` as in the summary, its problems in ``ingest_errors``; every input
   accounted for; no source holding Go evidence (a goroutine header, a ``panic:`` or
   ``fatal error:`` line) ``skipped``; and what the case expects of it (a bomb names its bound, a
   FIFO is skipped unopened, a clean sample under a hostile name or in a container reads as it
   does loose);
3. (the parent, :mod:`.pool`, checks time and memory);
4. nothing written outside the database's directory and TMPDIR: the worker's whole tree (inputs,
   their parents, cwd, HOME) compared before and after, the directories of committed samples read
   in place too, no file named after a hostile member's escape marker anywhere, and TMPDIR empty
   once the ingest returned;
5. what parsed in the clean file and rests wholly outside the mutated lines is still there
   (:func:`.reading.lost`).

The result is a JSON-able dict: the case id, its category, the recipe, the statuses, the
violations (empty when the case survived), seconds and the worker's peak RSS.
"""
from __future__ import annotations

import gzip
import os
import resource
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import forensics as fx

from . import samples
from .build import LIMITS, build, marker
from .reading import Reading, content_of, lost, outside, reading, show_key

STATUSES = ("ok", "partial", "failed", "skipped", "duplicate")
DB_NAMES = ("i.duckdb", "i.duckdb.wal", "i.duckdb.tmp")


@dataclass
class Ref:
    """A sample's clean reading."""

    status: str
    kind: str | None
    rows: dict
    reading: Reading


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def snapshot(root: Path, skip: tuple[Path, ...] = ()) -> dict[str, tuple]:
    """Every entry under root (symlinks not followed): type, size and mtime."""
    out = {}
    skipped = {str(p) for p in skip}
    for top, dirs, files in os.walk(root):
        if top in skipped:
            dirs[:] = []
            continue
        for name in dirs + files:
            full = os.path.join(top, name)
            if full in skipped:
                continue
            try:
                st = os.lstat(full)
            except OSError:
                continue
            out[full] = (st.st_mode >> 12, st.st_size if not os.path.isdir(full) else 0, st.st_mtime_ns)
    return out


def changes(before: dict, after: dict) -> list[str]:
    out = [f"new: {p!r}" for p in after if p not in before]
    out += [f"removed: {p!r}" for p in before if p not in after]
    out += [f"changed: {p!r}" for p in after if p in before and after[p] != before[p]
            and not os.path.isdir(p)]
    return out


class Runner:
    def __init__(self, root: Path):
        self.root = root
        self.tmp = Path(tempfile.gettempdir())
        self.cases_dir = root / "cases"
        self.cases_dir.mkdir(parents=True, exist_ok=True)
        self.refs: dict[str, Ref] = {}
        self.refdb = None
        self.n = 0

    # --- clean readings ---------------------------------------------------------------------------

    def ref(self, key: str) -> Ref:
        """The sample's clean reading, from a copy at the same relative path in the worker's
        reference database (one for all samples: opening a database costs half a second)."""
        if key not in self.refs:
            sample = samples.get(key)
            path = self.root / "ref" / "in" / key / sample.rel
            path.parent.mkdir(parents=True, exist_ok=True)
            data = sample.content()
            path.write_bytes(gzip.compress(data, 6, mtime=0) if sample.packed else data)
            if self.refdb is None:
                self.refdb = fx.open(self.root / "ref" / "ref.duckdb")
            r = self.refdb.ingest([str(path)], limits=LIMITS).results[0]
            if r.source_id is None:  # the same content as another sample: read it alone
                alone = fx.open()
                r = alone.ingest([str(path)], limits=LIMITS).results[0]
                got = reading(alone.store.con, r.source_id) if r.source_id is not None else {}
                alone.close()
            else:
                got = reading(self.refdb.store.con, r.source_id)
            self.refs[key] = Ref(r.status, r.kind, dict(r.rows), got)
        return self.refs[key]

    # --- one case ---------------------------------------------------------------------------------

    def run_case(self, case: dict) -> dict:
        self.n += 1
        res = {"id": case["id"], "category": case["category"], "format": case.get("format", ""), "recipe": "",
               "statuses": [], "violations": [],
               "seconds": 0.0, "maxrss_mb": 0.0}
        v = res["violations"]
        case_dir = self.cases_dir / f"c{self.n:05d}"
        indir, dbdir = case_dir / "in", case_dir / "db"
        indir.mkdir(parents=True)
        dbdir.mkdir()
        try:
            built = build(case, indir)
        except Exception:  # noqa: BLE001 - the harness's own failure, reported as such
            v.append("harness: could not build the case:\n" + traceback.format_exc(limit=6))
            shutil.rmtree(case_dir, ignore_errors=True)
            return res
        res["recipe"] = built.recipe
        mark = marker(case)
        watched = {d: snapshot(d) for d in built.watch}
        before = snapshot(self.root, skip=(dbdir, self.root / "ref", self.tmp))
        os.chdir(self.root / "cwd")
        summary = db = None
        t0 = time.monotonic()
        try:
            db = fx.open(dbdir / "i.duckdb")
            summary = db.ingest(built.paths, limits=built.limits, jobs=built.jobs)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # noqa: BLE001 - what this checks: nothing escapes the ingest
            v.append("exception escaped db.ingest:\n" + traceback.format_exc(limit=-8))
        res["seconds"] = round(time.monotonic() - t0, 3)
        # 4. Nothing left in TMPDIR once the ingest returned; nothing written anywhere else.
        left = sorted(str(p) for p in self.tmp.rglob("*"))
        if left:
            v.append(f"TMPDIR not empty after the ingest returned: {left[:5]}")
        after = snapshot(self.root, skip=(dbdir, self.root / "ref", self.tmp))
        for what in changes(before, after):
            v.append(f"written outside the database and TMPDIR: {what}")
        for d, snap in watched.items():
            for what in changes(snap, snapshot(d)):
                v.append(f"the sample's directory changed: {what}")
        extra = [n for n in os.listdir(dbdir) if n not in DB_NAMES]
        if extra:
            v.append(f"unexpected files beside the database: {extra}")
        for place in (self.root.parent, Path("/tmp"), Path("/"), Path.home(), Path.cwd()):
            try:
                escaped = [n for n in os.listdir(place) if "fuzz-escape" in n]
            except OSError:
                continue
            if escaped:
                v.append(f"a member escaped the temp directory: {place}/{escaped}")
        if any(mark in p for p in after):
            v.append(f"a member was written under its own name: {[p for p in after if mark in p][:3]}")
        if summary is not None:
            res["statuses"] = [[r.path, r.status, (r.error or "")[:300], r.kind] for r in summary.results]
            try:
                self.judge(built, summary, db, v, res)
            except Exception:  # noqa: BLE001 - a query on the result failed: report, do not die
                v.append("checking the database failed:\n" + traceback.format_exc(limit=-6))
        if db is not None:
            try:
                db.close()
            except Exception:  # noqa: BLE001
                v.append("db.close() raised:\n" + traceback.format_exc(limit=-4))
        res["maxrss_mb"] = round(maxrss_mb(), 1)
        if not case.get("keep"):
            shutil.rmtree(case_dir, ignore_errors=True)
        else:
            res["kept"] = str(case_dir)
        return res

    def judge(self, built, summary, db, v: list[str], res: dict) -> None:
        con = db.store.con
        results = summary.results
        by_name: dict[str, list] = {}
        for r in results:
            by_name.setdefault(r.path, []).append(r)
        # 2. Honest statuses, the same in the database.
        rows = {sid: (path, status, error) for sid, path, status, error in
                con.execute("SELECT source_id, path, status, error FROM sources").fetchall()}
        errors = dict(con.execute("SELECT source_id, count(*) FROM ingest_errors GROUP BY ALL").fetchall())
        stored = 0
        for r in results:
            if r.status not in STATUSES:
                v.append(f"{r.path!r}: status {r.status!r} is none of {STATUSES}")
            if r.status != "ok" and not (r.error or "").strip():
                v.append(f"{r.path!r}: {r.status} without an error")
            if r.source_id is None:
                if r.status not in ("duplicate",) and r.error != "the incident database itself":
                    v.append(f"{r.path!r}: {r.status} but not recorded in sources")
                continue
            stored += 1
            row = rows.get(r.source_id)
            if row is None:
                v.append(f"{r.path!r}: source {r.source_id} missing from the sources table")
                continue
            if row[1] != r.status or (row[2] or "") != (r.error or ""):
                v.append(f"{r.path!r}: sources says {row[1]}: {row[2]!r}, the summary {r.status}: {r.error!r}")
            if row[1] in ("partial", "failed", "skipped") and not (row[2] or "").strip():
                v.append(f"{r.path!r}: {row[1]} in sources without an error")
            if r.rows.get("ingest_errors", 0) != errors.get(r.source_id, 0):
                v.append(f"{r.path!r}: {r.rows.get('ingest_errors', 0)} problems in the summary, "
                         f"{errors.get(r.source_id, 0)} in ingest_errors")
        if len(rows) != stored:
            v.append(f"{len(rows)} rows in sources for {stored} recorded results")
        # Every file given is accounted for; every name the case names is reported.
        for p in built.paths:
            if os.path.isdir(p):
                continue
            if not any(n == p or n.startswith(p + "!") for n in by_name):
                v.append(f"{p!r} was given but no result names it")
        for n in built.reported:
            if n not in by_name:
                v.append(f"{n!r} not among the results")
        # Go evidence is never skipped in silence.
        for r in results:
            if r.status == "skipped":
                data = content_of(r.path)
                line = samples.go_evidence(data) if data else None
                if line is not None:
                    v.append(f"{r.path!r}: skipped ({r.error}) though Go evidence remains: {line!r}")
        # What the case expects of its sources.
        for name, e in built.expect.items():
            mentions = by_name.get(name, [])
            for r in mentions:
                if r.status == "duplicate" and any(m.status != "duplicate" for m in mentions):
                    continue  # named twice: the second mention is a duplicate of the first
                if r.status not in e.statuses:
                    v.append(f"{name!r}: {r.status} ({r.error}); expected {'/'.join(e.statuses)}")
                elif e.words and not any(w in (r.error or "") for w in e.words):
                    v.append(f"{name!r}: {r.status}, but its error does not name the cause "
                             f"({'/'.join(e.words)}): {r.error!r}")
                if e.rows and not r.rows.get(e.rows):
                    v.append(f"{name!r}: kept no {e.rows} of what it read before the bound ({r.rows})")
        for name, key in built.same.items():  # read as the sample reads alone (a second mention: duplicate)
            ref = self.ref(key)
            read = [r for r in by_name.get(name, []) if r.status != "duplicate"]
            if by_name.get(name) and not read:
                v.append(f"{name!r}: only duplicates, of nothing read in this call")
            for r in read:
                if (r.status, r.kind, dict(r.rows)) != (ref.status, ref.kind, ref.rows):
                    v.append(f"{name!r} reads as {r.status} {r.kind} {dict(r.rows)} ({r.error}), "
                             f"{key} alone as {ref.status} {ref.kind} {ref.rows}")
        if built.members_ok:
            n, key = built.members_ok
            ref = self.ref(key)
            good = [r for r in results if r.status == ref.status and dict(r.rows) == ref.rows]
            if len(good) < n:
                v.append(f"{len(good)} sources read as {key} does, of the {n} that hold it: "
                         + "; ".join(f"{r.path!r} {r.status} {r.error}" for r in results if r not in good)[:1500])
        # 5. What the mutation did not touch is still there.
        for name, (key, m) in built.preserve.items():
            rs = [r for r in by_name.get(name, []) if r.source_id is not None]
            clean = self.ref(key).reading
            if not rs:
                if any(clean.values()):
                    v.append(f"{name!r}: no reading to compare (not recorded)")
                continue
            got = reading(con, rs[0].source_id)
            partner = self.ref(m.tail[0]).reading if m.tail else None
            gone = lost(clean, m, got, partner)
            res["checked"] = res.get("checked", 0) + sum(
                sum(outside(items, (m.touched or (1, 0))[0] - 1, (m.touched or (1, 0))[1] + 1).values())
                for items in clean.values())
            for kind, keys in gone.items():
                shown = "; ".join(show_key(kind, k) for k in keys[:4])
                v.append(f"{name!r} ({rs[0].status}, {rs[0].kind}; {(rs[0].error or '')[:160]}): "
                         f"{len(keys)} {kind} outside the touched lines {m.touched} lost: {shown}")
