"""What a postmortem says first, in plain sentences computed from the
evidence: what happened, the root cause (release, module and both
versions), impact, detection and mitigation; the key events; and one
evidence block per claim of the verdict. Plain text: renderers escape it.

>>> import pandas as pd
>>> root_cause_sentence(None)
'No deploy in the evidence is followed by a significant regression: no root cause is named.'
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from ..analysis.correlate import p_text
from ..analysis.gather import REQUEST_MS
from ..analysis.provenance import MAX_FILES, evidence_files
from ..analysis.timeline import regression_onsets
from ..db.store import Store

KEY_EVENTS = 30
ERROR_BURST = 5  # error bursts of at least this many records are key events
# The test behind each kind of evidence item (analysis.evidence), as a reader names it.
TESTS = {"latency": "Mann-Whitney U test (statistic: P(after > before))",
         "goroutines": "Kendall's trend test per instance (statistic: instances rising)",
         "panic": "exact conditional Poisson test on crashes per instance-hour",
         "restarts": "exact conditional Poisson test on restarts per instance-hour",
         "errors": "Fisher's exact test on the share of error-level logs",
         "profile": "Mann-Whitney U test on each profile's share"}
TITLES = {"latency": "Latency regression", "goroutines": "Goroutine leak", "panic": "New crash",
          "restarts": "Restarts", "errors": "Error-rate rise", "profile": "Profile shift"}


@dataclass
class Culprit:
    """The deploy the verdict blames (rank 1, significant)."""

    service: str
    version: str
    previous_version: str | None
    ts: pd.Timestamp
    modules: list[tuple[str, str | None, str | None]]  # (module, from, to)
    row: object
    mitigated: pd.Timestamp | None = None
    mitigation: str | None = None


@dataclass
class EvidenceBlock:
    """One claim of the verdict with what backs it."""

    title: str
    claim: str
    statistic: str
    measured: str
    instances: list[str]
    files: list[str]
    figure: str | None  # key of the figure that shows it
    onset: pd.Timestamp | None = None


@dataclass
class Summary:
    headline: str
    lines: list[tuple[str, str]] = field(default_factory=list)  # (label, sentence)


def _upgrade(store: Store, service: str, ts, module: str, change: str) -> tuple[str, str | None, str | None]:
    got = store.query("SELECT from_version, to_version FROM upgrades WHERE service = ? AND module = ? "
                      "AND abs(epoch(ts) - epoch(?::TIMESTAMP)) < 1 LIMIT 1", [service, module, ts]).fetchall()
    if got:
        return module, got[0][0], got[0][1]
    m = re.search(re.escape(module) + r" (\S+) → (\S+?)[);]", change + ")")
    return (module, m.group(1), m.group(2)) if m else (module, None, None)


def culprit_of(store: Store, causes: pd.DataFrame) -> Culprit | None:
    """The top significant deploy, its suspect modules with both versions, and
    its mitigation: the first later deploy of the service that takes the
    suspect module off that version, else the first rollback after it."""
    if causes is None or not len(causes) or not causes.iloc[0]["significant"]:
        return None
    row = causes.iloc[0]
    modules = [_upgrade(store, row["service"], row["ts"], m, row["change"]) for m in row["suspect_modules"]]
    c = Culprit(row["service"], row["version"], row["previous_version"], pd.Timestamp(row["ts"]), modules, row)
    later = store.query("SELECT ts, version, rollback FROM deploys WHERE service = ? AND ts > ? ORDER BY ts",
                        [c.service, c.ts]).df()
    for d in later.itertuples(index=False):
        sets = store.query("SELECT module, module_version FROM module_versions WHERE service = ? AND version = ?",
                           [c.service, d.version]).fetchall()
        held = dict(sets)
        off = modules and sets and all(held.get(m) != to for m, _, to in modules)
        if off or (not modules and d.rollback) or (modules and not sets and d.rollback):
            c.mitigated = pd.Timestamp(d.ts)
            c.mitigation = f"rollback to {d.version}" if d.rollback else f"deploy of {c.service} {d.version}"
            break
    return c


def root_cause_sentence(c: Culprit | None, scope: str = "the evidence") -> str:
    """The one sentence naming the culprit: release, module and both versions
    (`scope`: what was searched, when none is found)."""
    if c is None:
        return f"No deploy in {scope} is followed by a significant regression: no root cause is named."
    when = f"{c.ts:%Y-%m-%d %H:%M} UTC"
    if c.modules:
        mods = "; ".join(f"{m} from {a or '(none)'} to {b or '(none)'}" for m, a, b in c.modules)
        return (f"Root cause: the upgrade of {mods} in {c.service} {c.version} "
                f"(deployed {when}, replacing {c.previous_version}).")
    return f"Root cause: the deploy of {c.service} {c.version} at {when} (replacing {c.previous_version})."


def _duration(seconds: float) -> str:
    """'45 s', '23 min', '2 h 05 min'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _symptom(e: dict) -> str:
    d = e.get("detail") or {}
    if e["kind"] == "latency" and "p99_before" in d:
        return f"p99 latency rose from {d['p99_before']:.1f} ms to {d['p99_after']:.1f} ms ({e['key']})"
    if e["kind"] == "goroutines":
        return f"goroutines created by {e['key']} leaked (up to {e['after']:,} per instance)"
    if e["kind"] == "panic":
        return f"a new crash appeared ({e['text'].removeprefix('new panic ').split(' x')[0]}, ×{e['after']})"
    return e["text"].split(" (")[0]


def summary(store: Store, c: Culprit | None, tl: pd.DataFrame, scope: str = "the evidence") -> Summary:
    """What happened, root cause, impact, detection and mitigation."""
    out = Summary(root_cause_sentence(c, scope))
    if not len(tl):
        out.lines.append(("What happened", "The database holds no timed evidence in this window."))
        return out
    first, last = tl["ts"].min(), tl["ts"].max()
    if c is None:
        crashes = int(tl.loc[tl["kind"] == "panic", "count"].fillna(1).sum())
        out.lines.append(("What happened", f"Evidence from {first:%Y-%m-%d %H:%M} to {last:%H:%M} UTC of "
                                           f"{tl['service'].nunique()} services; {crashes} "
                                           f"crash{'es' if crashes != 1 else ''}; no deploy in it is followed by a "
                                           "significant regression."))
        return out
    claims = [e for e in c.row["evidence"] if e.get("flagged") or e.get("new")]
    seen, symptoms = set(), []
    for e in claims:
        key = (e["kind"], e["key"] if e["kind"] != "latency" else "")
        if key not in seen:
            seen.add(key)
            symptoms.append(_symptom(e))
    until = (f", until the {c.mitigation} at {c.mitigated:%H:%M} UTC" if c.mitigated is not None
             else ", and no later deploy in the evidence undid it")
    out.lines.append(("What happened", f"After {c.service} {c.version} was deployed at {c.ts:%Y-%m-%d %H:%M} UTC, "
                                       + "; ".join(symptoms) + until + "."))
    end = c.mitigated if c.mitigated is not None else last
    impact = _impact(store, c.service, c.ts, end)
    out.lines.append(("Impact", f"{_duration((end - c.ts).total_seconds())} from the deploy to "
                                f"{'mitigation' if c.mitigated is not None else 'the end of the evidence'} in "
                                f"{c.service}: {impact}."))
    dated = regression_onsets(c.row["evidence"])
    crashes = tl[(tl["kind"] == "panic") & (tl["service"] == c.service) & (tl["ts"] >= c.ts)]
    parts = []
    if dated:
        kind, first, _ = dated[0]
        t = pd.Timestamp(first["onset"])
        parts.append(f"First sign {t:%H:%M:%S} UTC ({_duration((t - c.ts).total_seconds())} after the deploy): "
                     f"{TITLES.get(kind, kind).lower()} begins")
    if len(crashes):
        t = crashes["ts"].min()
        parts.append(f"first crash {t:%H:%M:%S} UTC ({_duration((t - c.ts).total_seconds())} after the deploy)")
    out.lines.append(("Detected", "; ".join(parts) + "." if parts else "No dated symptom: see the evidence below."))
    out.lines.append(("Mitigated", f"{c.mitigation[0].upper() + c.mitigation[1:]} at "
                                   f"{c.mitigated:%Y-%m-%d %H:%M} UTC." if c.mitigated is not None
                      else "Not within the evidence: no later deploy changed the suspect code."))
    return out


# A request: a server span, or a log record with a latency field; failed: an
# error span, or a 5xx status (else an error level) in the record.
REQUESTS_SQL = f"""
SELECT 'spans' AS origin, count(*) AS n, count(*) FILTER (WHERE status_code = 'error') AS failed
FROM span_releases WHERE service = $1 AND ts BETWEEN $2 AND $3 AND (kind = 'server' OR parent_span_id IS NULL)
UNION ALL
SELECT 'request logs', count(*), count(*) FILTER (WHERE coalesce(TRY_CAST(coalesce(
         json_extract_string(attributes, '$.status'), json_extract_string(attributes, '$.status_code'),
         json_extract_string(attributes, '$.code')) AS INTEGER) >= 500, level IN ('error', 'fatal', 'panic')))
FROM log_releases WHERE service = $1 AND ts BETWEEN $2 AND $3 AND attributes IS NOT NULL
  AND {REQUEST_MS} IS NOT NULL"""
# Services whose spans call the service's server spans: who its failures reach.
CALLERS_SQL = """
SELECT DISTINCT m.service FROM span_releases c
JOIN span_releases m ON m.trace_id = c.trace_id AND m.span_id = c.parent_span_id
WHERE c.service = $1 AND m.service IS NOT NULL AND m.service <> $1 ORDER BY 1"""


def _requests(store: Store, service: str, start, end) -> str | None:
    """'2,428 requests (request logs), 2 failed', from the fuller of spans and request logs."""
    rows = store.query(REQUESTS_SQL, [service, start, end]).fetchall()
    origin, n, failed = max(rows, key=lambda r: r[1])
    if not n:
        return None
    traced = next((r[1] for r in rows if r[0] == "spans"), 0)
    also = f"; {traced:,} traced" if origin != "spans" and traced else ""
    return f"{n:,} requests ({origin}{also}), {failed:,} failed"


def _impact(store: Store, service: str, start, end) -> str:
    errors, crashes, restarts = store.query("""
        SELECT (SELECT count(*) FROM log_releases WHERE service = $1 AND ts BETWEEN $2 AND $3
                  AND level IN ('error', 'fatal', 'panic')),
               (SELECT count(*) FROM panics p JOIN dump_releases r USING (dump_id)
                  WHERE p.seq = 0 AND r.service = $1 AND r.ts BETWEEN $2 AND $3),
               (SELECT count(*) FROM instances WHERE service = $1 AND restart > 0 AND started BETWEEN $2 AND $3)""",
                                            [service, start, end]).fetchall()[0]
    said = [x for x in [_requests(store, service, start, end)] if x]
    said += [f"{errors:,} error-level log records", f"{crashes} crash{'es' if crashes != 1 else ''}",
             f"{restarts} restart{'s' if restarts != 1 else ''}"]
    callers = [c for (c,) in store.query(CALLERS_SQL, [service]).fetchall()]
    reached = [f"{c}: {r}" for c in callers if (r := _requests(store, c, start, end))]
    return ", ".join(said) + (f"; its callers in that time: {'; '.join(reached)}" if reached else "")


def key_events(tl: pd.DataFrame, c: Culprit | None, causes: pd.DataFrame | None = None,
               limit: int = KEY_EVENTS) -> pd.DataFrame:
    """At most `limit` rows a postmortem's timeline shows: deploys with their
    changes, the first crash of each signature, restarts, the onset of each
    regression, big error bursts, Kubernetes warnings; `note` marks the
    root-cause deploy, its mitigation, and the deploys correlation cleared."""
    cleared = set()
    if causes is not None and len(causes):
        done = causes[~causes["significant"] & causes["previous_version"].notna()]
        cleared = {(r.service, r.version, pd.Timestamp(r.ts).floor("s")) for r in done.itertuples(index=False)}
    if not len(tl):
        return pd.DataFrame(columns=["ts", "service", "version", "kind", "what", "note"])
    changes = tl[tl["kind"] == "upgrade"]
    rows = []
    for r in tl.itertuples(index=False):
        note, priority = "", 2
        if r.kind == "deploy":
            mine = changes[(changes["service"] == r.service) & (changes["ts"] == r.ts)]
            modules = [s.removesuffix(f" ({d})") for s, d in
                       zip(mine["summary"], mine["summary"].str.extract(r"\((\w+)\)$")[0]) if not s.startswith("image ")]
            what = r.summary + (": " + "; ".join(modules) if modules else "")
            if c is not None and r.service == c.service and abs((r.ts - c.ts).total_seconds()) < 1:
                note, priority = "root cause", 0
            elif c is not None and c.mitigated is not None and r.service == c.service \
                    and abs((r.ts - c.mitigated).total_seconds()) < 1:
                note, priority = "mitigation", 0
            else:
                priority = 1
                if (r.service, r.version, r.ts.floor("s")) in cleared:
                    note = "no regression found"
        elif r.kind == "onset":
            if isinstance(r.signature, str):
                continue  # a new crash begins with its first crash, the row of its own below
            what, priority = r.summary, 0
        elif r.kind in ("panic", "race"):
            sig = r.signature if isinstance(r.signature, str) else r.summary
            if any(x.get("sig") == sig for x in rows):
                continue
            same = (tl["kind"] == r.kind) & ((tl["signature"] == sig) | (tl["summary"] == sig))
            n = int(tl.loc[same, "count"].fillna(1).sum())  # a summarised row stands for its count
            what, priority = r.summary + (f" (first of {n})" if n > 1 else ""), 0
        elif r.kind == "restart":
            what, priority = r.summary, 1
        elif r.kind == "errors" and (r.count or 0) >= ERROR_BURST:
            what = r.summary
        elif r.kind == "k8s" and r.severity != "info":
            what = r.summary
        else:
            continue
        rows.append(dict(ts=r.ts, service=r.service, version=r.version, kind=r.kind, what=what, note=note,
                         priority=priority, sig=r.signature if r.kind in ("panic", "race") else None))
    df = pd.DataFrame(rows, columns=["ts", "service", "version", "kind", "what", "note", "priority", "sig"])
    if len(df) > limit:
        df = df.sort_values(["priority", "ts"], kind="stable").head(limit).sort_values("ts", kind="stable")
    return df.drop(columns=["priority", "sig"]).reset_index(drop=True)


FIGURE_OF = {"goroutines": "goroutines", "latency": "latency", "panic": "crashes", "restarts": "timeline",
             "errors": "latency", "profile": "flame"}


RELATED_P = 0.1  # the same symptom in another release, shown beside a claim: suggestive, or earlier


def _before(x: dict, e: dict) -> bool:
    a, b = x.get("onset"), e.get("onset")
    return a is not None and b is not None and pd.notna(a) and pd.notna(b) and a < b


def evidence_blocks(store: Store, c: Culprit | None, figures: set[str]) -> list[EvidenceBlock]:
    """One block per claim of the verdict (its flagged items, and new
    crashes), with the same symptom measured in other releases beside it (a
    leak starts small, in the culprit release, before it is significant)."""
    if c is None:
        return []
    out = []
    previous = dict(store.query("SELECT version, previous_version FROM deploys WHERE service = ?",
                                [c.service]).fetchall())

    def against(version: str) -> str:
        before = c.previous_version if version == c.version else previous.get(version)
        return f"{version} against {before or 'the release before'}"

    for e in c.row["evidence"]:
        if not (e.get("flagged") or e.get("new")):
            continue
        measured_in = e.get("measured_in", c.version)
        related = [x for x in c.row["evidence"] if x is not e and x["kind"] == e["kind"] and x["key"] == e["key"]
                   and (x["p"] < RELATED_P or _before(x, e))]
        group = sorted([e, *related], key=lambda x: (x.get("onset") is None or pd.isna(x.get("onset")),
                                                     x.get("onset") if x.get("onset") is not None else 0))
        stat = e.get("statistic")
        stat_text = f"{stat:.3g}" if isinstance(stat, (int, float)) and stat == stat and abs(stat) != float("inf") \
            else "∞ (none before)"
        figure = FIGURE_OF.get(e["kind"])
        dated = [x["onset"] for x in group if x.get("onset") is not None and pd.notna(x.get("onset"))]
        files = []
        for x in group:
            files += [f for f in evidence_files(store, x, c.service, x.get("measured_in", c.version))
                      if f not in files]
        out.append(EvidenceBlock(
            title=f"{TITLES.get(e['kind'], e['kind'])}: {e['key']}" if e["kind"] != "latency"
            else f"{TITLES['latency']} ({e['key']})",
            claim=e["text"] + (f" — {e['reason']}" if e.get("reason") else ""),
            statistic=f"{TESTS.get(e['kind'], 'one-sided test')}: statistic {stat_text}, {p_text(e['p'])}, "
                      f"{p_text(e.get('p_adjusted', e['p']), 'adjusted p')} (Bonferroni over the deploy's items)"
                      + ("" if e.get("flagged") else "; shown as a new signature, below the threshold"),
            measured=f"{c.service} " + "; ".join(
                [against(measured_in)] + [f"also {against(x.get('measured_in', c.version))}: {x['text']}"
                                          for x in related]),
            instances=sorted({i for x in group for i in (x.get("instances") or [])}),
            files=files[:MAX_FILES], figure=figure if figure in figures else None,
            onset=pd.Timestamp(min(dated)) if dated else None))
    return out
