"""Goroutines bucketed by identical stack, as panicparse shows them.

A dump of 10,000 goroutines is a few dozen distinct stacks: :func:`buckets`
groups a dump's goroutines whose state, stack and creator agree, at one of
three levels of similarity (:data:`SIMILAR`), and keeps what a reader scans
for: how many, in which state, waiting how long (a range), created by whom,
and each frame with its module@version and file:line. The panic that killed
the process sits above the bucket of its goroutine.

The rows come from the goroutines, frames, panics and dumps tables, read
from an incident database (:func:`stacks_from_store`) or straight from a
parser's batches (the facade's ``fx.stacks(path)``), so the same buckets come
out with or without a database.

>>> g = [{"dump_id": 0, "seq": i, "goroutine_id": i + 1, "state": "chan receive", "wait_minutes": i,
...       "created_by": "main.main", "count": 1} for i in range(3)]
>>> f = [{"dump_id": 0, "goroutine_seq": i, "depth": 0, "function": "main.worker", "file": "/app/main.go",
...       "line": 9, "args": hex(i), "module": None, "module_version": None, "package": "main"} for i in range(3)]
>>> [(b.count, b.state, b.wait) for b in buckets(g, f, [], [])]
[(3, 'chan receive', (0, 2))]
>>> [b.count for b in buckets(g, f, [], [], similar="exact")]
[1, 1, 1]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from ..db.store import Store

# How alike two goroutines must be to share a bucket.
SIMILAR = {
    "exact": "same state, wait minutes, creator, and every frame's function, file, line and arguments",
    "ignore-args": "arguments ignored (panicparse's default merges pointer arguments the same way)",
    "ignore-wait": "arguments and wait minutes ignored: a leak's goroutines, parked for 1 to 60 minutes, are one bucket",
}
DEFAULT_SIMILAR = "ignore-wait"


@dataclass
class Frame:
    function: str
    file: str | None
    line: int | None
    args: str | None
    module: str | None
    version: str | None
    package: str | None

    @property
    def where(self) -> str:
        """module@version, else the package (stdlib and main); builtins (panic) are the runtime's."""
        if self.module:
            return f"{self.module}@{self.version}" if self.version else self.module
        if self.package:
            return self.package
        return "runtime" if "/runtime/" in (self.file or "") else ""


@dataclass
class Bucket:
    """Goroutines of one dump with the same stack."""

    dump_id: int
    count: int
    state: str | None
    wait: tuple[int, int] | None  # minutes, min and max; None when no goroutine printed any
    locked: bool
    created_by: str | None
    created_file: str | None  # where the go statement is
    created_line: int | None
    frames: list[Frame]
    ids: list[int] = field(default_factory=list)  # goroutine ids, in dump order
    panic: str | None = None  # the panic whose goroutine is here, as the runtime printed it ("panic: ...")
    dump_kind: str | None = None
    source: str | None = None

    @property
    def created_at(self) -> str | None:
        """file:line of the go statement."""
        return f"{self.created_file}:{self.created_line}" if self.created_file else None

    def as_dict(self) -> dict:
        return {
            "dump_id": self.dump_id, "dump_kind": self.dump_kind, "source": self.source, "count": self.count,
            "state": self.state, "wait_minutes": list(self.wait) if self.wait else None, "locked": self.locked,
            "created_by": self.created_by, "created_at": self.created_at, "goroutine_ids": self.ids,
            "panic": self.panic,
            "frames": [{"function": f.function, "file": f.file, "line": f.line, "args": f.args, "module": f.module,
                        "module_version": f.version, "package": f.package} for f in self.frames],
        }


def buckets(goroutines: Iterable[dict], frames: Iterable[dict], panics: Iterable[dict], dumps: Iterable[dict],
            similar: str = DEFAULT_SIMILAR) -> list[Bucket]:
    """Bucket rows of the goroutines/frames/panics/dumps tables (dicts, as
    ``pyarrow.Table.to_pylist()`` gives them). Buckets come in dump order;
    within a dump, the panicking goroutine's first, then the largest."""
    if similar not in SIMILAR:
        raise ValueError(f"similar must be one of {', '.join(SIMILAR)}; got {similar!r}")
    stacks: dict[tuple, list[Frame]] = {}
    for f in sorted(frames, key=lambda r: (r["dump_id"], r["goroutine_seq"], r["depth"])):
        stacks.setdefault((f["dump_id"], f["goroutine_seq"]), []).append(
            Frame(f["function"], f["file"], f["line"], f.get("args"), f.get("module"), f.get("module_version"),
                  f.get("package")))
    failing: dict[tuple, str] = {}
    for p in sorted(panics, key=lambda r: (r["dump_id"], r.get("seq", 0))):
        key = (p["dump_id"], p.get("goroutine_id"))
        printed = _printed(p.get("kind"), p["message"], p.get("recovered"))
        # a chain as printpanics prints it: each panic on its line, the later ones indented
        failing[key] = failing[key] + "\n\t" + printed if key in failing else printed
    kinds = {d["dump_id"]: (d.get("kind"), d.get("source")) for d in dumps}
    out: dict[tuple, Bucket] = {}
    for g in sorted(goroutines, key=lambda r: (r["dump_id"], r["seq"])):
        stack = stacks.get((g["dump_id"], g["seq"]), [])
        key = _key(g, stack, similar)
        b = out.get(key)
        if b is None:
            kind, source = kinds.get(g["dump_id"], (None, None))
            b = out[key] = Bucket(g["dump_id"], 0, g.get("state"), None, bool(g.get("locked")), g.get("created_by"),
                                  g.get("created_by_file"), g.get("created_by_line"), stack, dump_kind=kind,
                                  source=source)
        n = g.get("count") or 1
        b.count += n
        if g.get("goroutine_id") is not None and len(b.ids) < 1000:
            b.ids.append(g["goroutine_id"])
        w = g.get("wait_minutes")
        if w is not None:
            b.wait = (w, w) if b.wait is None else (min(b.wait[0], w), max(b.wait[1], w))
        message = failing.get((g["dump_id"], g.get("goroutine_id")))
        if message is not None and b.panic is None:
            b.panic = message
    # A panic whose goroutine was not printed (a logged one, a paste cut after
    # its message) still shows, over an empty bucket.
    placed = {(b.dump_id, gid) for b in out.values() for gid in b.ids}
    for (dump_id, gid), message in failing.items():
        if gid is None or (dump_id, gid) not in placed:
            if not any(b.dump_id == dump_id and b.panic == message for b in out.values()):
                kind, source = kinds.get(dump_id, (None, None))
                out[("panic", dump_id, gid)] = Bucket(dump_id, 0, None, None, False, None, None, None, [], panic=message,
                                                     dump_kind=kind, source=source)
    return sorted(out.values(), key=lambda b: (b.dump_id, b.panic is None, -b.count, b.ids[:1]))


def _printed(kind: str | None, message: str, recovered: bool | None = False) -> str:
    """A panic as the runtime printed it: 'panic: ' (and ' [recovered]'),
    'fatal error: ', or the signal's own line ('SIGQUIT: quit')."""
    if kind in ("panic", "runtime_error"):
        return "panic: " + message + (" [recovered]" if recovered else "")
    if kind == "fatal":
        return "fatal error: " + message
    return message


def _key(g: dict, stack: list[Frame], similar: str) -> tuple:
    frames = tuple((f.function, f.file, f.line) + ((f.args,) if similar == "exact" else ()) for f in stack)
    wait = g.get("wait_minutes") if similar != "ignore-wait" else None
    return (g["dump_id"], g.get("state"), wait, bool(g.get("locked")), g.get("created_by"), frames)


STACK_ROWS_SQL = {
    "goroutines": """SELECT g.dump_id, g.seq, g.goroutine_id, g.state, g.wait_minutes, g.locked, g.created_by,
                            g.created_by_file, g.created_by_line, g.count
                     FROM goroutines g JOIN dumps d USING (dump_id) WHERE {where} ORDER BY g.dump_id, g.seq""",
    "frames": """SELECT f.dump_id, f.goroutine_seq, f.depth, f.function, f.file, f.line, f.args, f.module,
                        f.module_version, f.package
                 FROM frames f JOIN dumps d USING (dump_id) WHERE {where}""",
    "panics": """SELECT p.dump_id, p.seq, p.goroutine_id, p.kind, p.message, p.recovered
                 FROM panics p JOIN dumps d USING (dump_id) WHERE {where}""",
    "dumps": """SELECT d.dump_id, d.kind, s.path AS source FROM dumps d JOIN sources s USING (source_id)
                WHERE {where}""",
}


def stacks_from_store(store: "Store", dump: int | None = None, source: int | None = None,
                      similar: str = DEFAULT_SIMILAR) -> list[Bucket]:
    """The buckets of the dumps in an incident database (one dump, one
    source's dumps, or all)."""
    where, params = "TRUE", []
    if dump is not None:
        where, params = "d.dump_id = ?", [int(dump)]
    elif source is not None:
        where, params = "d.source_id = ?", [int(source)]
    rows = {}
    for name, sql in STACK_ROWS_SQL.items():
        result = store.query(sql.format(where=where), params)
        columns = [d[0] for d in result.description]
        rows[name] = [dict(zip(columns, row)) for row in result.fetchall()]
    return buckets(rows["goroutines"], rows["frames"], rows["panics"], rows["dumps"], similar)
