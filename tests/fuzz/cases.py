"""Cases: what to build, named so the name alone rebuilds it.

A case is a JSON-able dict; its ``id`` is ``kind:sample:seed`` with ``@wrap`` (the container it is
put in) and ``/jN`` (ingest with N jobs) when they apply, e.g. ``truncate:log-cri-crash:7@tgz``;
cases that start from no one sample are ``kind:seed`` (``bomb-zip:0``, ``archive-damage:12``).
:func:`from_id` turns an id back into its case (``python -m fuzz --case ID --keep`` reruns it and
keeps its files).

:func:`ci_cases` is the fixed list the test suite runs: every sample with one mutation, every
mutation kind on line-oriented samples of each family, every container, every bomb, special
file and hostile name, the committed samples read in place. :func:`long_cases` draws as many as
asked from every kind and sample, seeded.
"""
from __future__ import annotations

import random
from collections import Counter, defaultdict

from . import samples
from .build import ARCHIVES, BUILDERS, COMPRESS, FILE_NAMES
from .mutate import KINDS

BOMBS = tuple(k for k in BUILDERS if k.startswith("bomb-"))
SPECIAL = ("fifo", "socket", "devzero", "symlink-loop", "dir-loop", "dangling", "empty-and-dirs")
HOSTILE = tuple(k for k in BUILDERS if k not in BOMBS and k not in SPECIAL and k != "archive-damage")
# Known bugs, each pinned by a case the suite runs as a strict xfail (tests/test_fuzz.py): the case
# id and what goes wrong. When one is fixed its test passes, and strict makes that a failure that
# says to take it off this list.
KNOWN = {
}
# What each known bug's violations say, for searches (Hypothesis) to pass over an example that
# only meets known bugs: one of the alternatives, every word of it in the violation.
SIGNATURES = {
}


def known_bug(violation: str) -> str | None:
    """The known bug a violation is (its KNOWN id), or None.

    >>> known_bug("'x.jsonl' (failed, otlp; 1 problem; first: internal parser error (KeyError): 'key'): "
    ...           "37 spans outside the touched lines (24, 24) lost: ...") is None  # fixed: no longer known
    True
    """
    return next((k for k, alternatives in SIGNATURES.items()
                 if any(all(w in violation for w in words) for words in alternatives)), None)


# Known bugs Hypothesis found, as the edits it shrank them to (ids are not enough to rebuild these).
PINNED_EDITS = {
}
WRAPS = (*COMPRESS, *ARCHIVES, "nested", "nested-deep")
SAMPLE_KINDS = (*KINDS, "clean", "as-is", "as-is-dir", "edits")

CATEGORY = {
    "flip": "flip", "insert": "insert", "delete": "delete", "duplicate": "duplicate", "truncate": "truncate",
    "splice": "splice", "nul": "nul/control bytes", "control": "nul/control bytes", "huge-line": "huge line",
    "huge-number": "huge number", "repeat": "repeat lines", "swap": "swap lines", "edits": "hypothesis edits", "as-is": "committed, in place",
    "as-is-dir": "committed, in place", "archive-damage": "damaged archive",
    **{k: "bomb" for k in BOMBS}, **{k: "special file" for k in SPECIAL}, **{k: "hostile name" for k in HOSTILE},
}
CATEGORIES = ("flip", "insert", "delete", "duplicate", "truncate", "splice", "repeat lines", "swap lines",
              "nul/control bytes", "huge line", "huge number", "container", "nested archive", "damaged archive", "bomb", "special file", "hostile name",
              "committed, in place", "hypothesis edits")


def case(kind: str, sample: str | None = None, seed: int = 0, wrap: str | None = None, jobs: int = 1,
         **extra) -> dict:
    if kind in SAMPLE_KINDS and sample not in samples.BY_KEY:
        raise ValueError(f"{kind} needs a sample; the samples are {', '.join(samples.BY_KEY)}")
    if kind not in SAMPLE_KINDS and kind not in BUILDERS:
        raise ValueError(f"unknown kind {kind!r}")
    if wrap is not None and wrap not in WRAPS:
        raise ValueError(f"unknown wrap {wrap!r}; the wraps are {', '.join(WRAPS)}")
    cid = f"{kind}:{sample}:{seed}" if kind in SAMPLE_KINDS else f"{kind}:{seed}"
    cid += f"@{wrap}" if wrap else ""
    cid += f"/j{jobs}" if jobs > 1 else ""
    if wrap in ("nested", "nested-deep"):
        category = "nested archive"
    elif kind == "clean":
        category = "container"
    else:
        category = CATEGORY[kind]
    fmt = samples.get(sample).kind if sample else "archive" if kind == "archive-damage" else category
    return {"id": cid, "category": category, "format": fmt, "kind": kind, "sample": sample, "seed": seed,
            "wrap": wrap, "jobs": jobs, **extra}


def from_id(cid: str) -> dict:
    """The case an id names (not for ``edits``, whose edits are not in the id).

    >>> from_id("truncate:log-cri-crash:7@tgz/j2") == case("truncate", "log-cri-crash", 7, "tgz", 2)
    True
    """
    jobs = 1
    if "/j" in cid:
        cid, j = cid.rsplit("/j", 1)
        jobs = int(j)
    wrap = None
    if "@" in cid:
        cid, wrap = cid.rsplit("@", 1)
    parts = cid.split(":")
    if len(parts) == 3:
        return case(parts[0], parts[1], int(parts[2]), wrap, jobs)
    return case(parts[0], None, int(parts[1]), wrap, jobs)


def ci_cases() -> list[dict]:
    out = []
    # Every sample small enough, each with one mutation (the kinds in turn).
    for i, s in enumerate(x for x in samples.CATALOG if x.ci):
        out.append(case(KINDS[i % len(KINDS)], s.key, 1000 + i))
    # The damages most likely to reach past their lines, again on line-oriented samples.
    for kind, key, seed in (("nul", "log-cri-crash", 2), ("control", "pasted-compose", 4),
                            ("huge-line", "log-cri", 5), ("huge-number", "dump-1.19-leak", 7),
                            ("splice", "crash-1.27-multi", 10), ("flip", "otlp-jsonl", 13),
                            # a 3 MB line of digits hung the contention-sample pattern (quadratic)
                            ("huge-line", "pprof-text-mutex", 638481880)):
        out.append(case(kind, key, seed))
    # Containers: each compression and archive, clean (it must read as the loose file) or mutated.
    for key, wrap in (("log-cri-rotated", "gzip"), ("crash-1.19-panic", "bz2"), ("otlp-jsonl", "xz"),
                      ("log-cri-crash", "tar"), ("pprof-cpu", "tgz"), ("chrome-incident", "tbz"),
                      ("k8s-events", "txz"), ("crash-1.27-sigquit", "zip"), ("log-cri-crash", "nested"),
                      ("crash-1.19-race", "nested-deep")):
        out.append(case("clean", key, 0, wrap))
    out += [case("flip", "crash-1.27-panic", 21, "gzip"), case("truncate", "log-cri", 22, "tgz"),
            case("clean", "log-cri-crash", 0, "tar", jobs=2)]
    out += [case("archive-damage", None, s) for s in (1, 2)]
    out += [case(k) for k in BOMBS if f"{k}:0" not in KNOWN]
    out += [case(k) for k in SPECIAL]
    out += [case(k) for k in HOSTILE if k not in FILE_NAMES and f"{k}:0" not in KNOWN]
    out += [case("as-is", "crash-1.27-panic"), case("as-is", "log-cri-rotated"), case("as-is-dir", "deploys-csv")]
    return out


def known_cases() -> list[dict]:
    """One case per known bug (:data:`KNOWN`)."""
    out = []
    for k in KNOWN:
        if k in PINNED_EDITS:
            kind, sample, seed = k.split(":")
            out.append(case(kind, sample, int(seed), edits=PINNED_EDITS[k]))
        else:
            out.append(from_id(k))
    return out


def long_cases(n: int, seed: int = 0) -> list[dict]:
    """`n` cases drawn (seeded) over every kind: mostly mutations of any sample, some packed in a
    container; damaged archives; bombs, special files and hostile names now and then."""
    r = random.Random(seed)
    keys = list(samples.BY_KEY)
    lines = list(samples.LINE_SAMPLES)
    out, seen = [], set()
    while len(out) < n:
        s = r.randrange(1 << 30)
        roll = r.random()
        if roll < 0.70:
            key = r.choice(lines if r.random() < 0.7 else keys)
            c = case(r.choice(KINDS), key, s, r.choice(WRAPS) if r.random() < 0.12 else None)
        elif roll < 0.78:
            c = case("clean", r.choice(keys), s, r.choice(WRAPS))
        elif roll < 0.88:
            c = case("archive-damage", None, s)
        elif roll < 0.92:  # the rest are not seeded: each runs once at most
            c = case(r.choice(BOMBS))
        elif roll < 0.95:
            c = case(r.choice(SPECIAL))
        else:
            c = case(r.choice(HOSTILE))
        if c["id"] not in seen:
            seen.add(c["id"])
            out.append(c)
    return out


def is_known(r: dict) -> bool:
    """A failed case that only meets known bugs."""
    return r["id"] in KNOWN or bool(r["violations"]) and all(known_bug(v) for v in r["violations"])


def table(results: list[dict], by: str = "category") -> str:
    """category (or format) | tried | survived (passed every check) | failures (the first few ids;
    * marks a known bug, see KNOWN)."""
    tried, survived, failures = Counter(), Counter(), defaultdict(list)
    for r in results:
        tried[r[by]] += 1
        if r["violations"]:
            failures[r[by]].append(r["id"] + ("*" if is_known(r) else ""))
        else:
            survived[r[by]] += 1
    order = [c for c in CATEGORIES if c in tried] + sorted(c for c in tried if c not in CATEGORIES)
    rows = [(c, str(tried[c]), str(survived[c]), ", ".join(failures[c][:3]) + (" ..." if len(failures[c]) > 3 else ""))
            for c in order]
    failed = [r for r in results if r["violations"]]
    rows.append(("total", str(sum(tried.values())), str(sum(survived.values())),
                 f"{len(failed)} failed ({sum(map(is_known, failed))} known)"))
    head = (by, "tried", "survived", "failures (first case ids; * known)")
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(3)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(head, widths)) + " | " + head[3],
             "-|-".join("-" * w for w in widths) + "-|-" + "-" * len(head[3])]
    lines += [" | ".join(x.ljust(w) for x, w in zip(row, widths)) + " | " + row[3] for row in rows]
    return "\n".join(lines)


def explain(r: dict) -> str:
    """A failed case, for a test's assertion message: what was done, what went wrong, how to rerun it."""
    lines = [f"case {r['id']}: {r['recipe']}"]
    lines += [f"  - {v}" for v in r["violations"]]
    lines += [f"  source {p!r}: {status} {kind or ''} {err[:200]}" for p, status, err, kind in r["statuses"][:8]]
    if not r["id"].startswith("edits:"):
        lines.append(f"  rerun it, keeping its files: cd tests && python -m fuzz --case '{r['id']}' --keep")
    return "\n".join(lines)


__all__ = ["CATEGORIES", "FILE_NAMES", "KNOWN", "case", "ci_cases", "explain", "from_id", "is_known", "known_bug",
           "known_cases", "long_cases", "table"]
