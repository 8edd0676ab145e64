"""The sample incident (sample_logs/incident/bundle, its story in
sample_logs/incident/story.json): the etcd client upgrade is blamed with its
module and both versions, though the crashes came after a later harmless
deploy; every decoy (that deploy, checkout's deploy whose latency comes
through its calls into orders, payments' rollout blip) and the rollback are
cleared; the leak is found per instance."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

import forensics as fx

from conftest import SAMPLES

BUNDLE = SAMPLES / "incident" / "bundle"
STORY = json.loads((SAMPLES / "incident" / "story.json").read_text())
CULPRIT = STORY["culprit"]
ETCD = CULPRIT["module"]


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


@pytest.fixture(scope="module")
def incident(incident_database):
    db = fx.open(incident_database, read_only=True)
    yield db
    db.close()


def _row(df, deploy):
    rows = df[(df["service"] == deploy["service"]) & (df["version"] == deploy["version"])
              & ((df["ts"] - _utc(deploy["ts"])).abs() < timedelta(seconds=5))]
    assert len(rows) == 1, deploy
    return rows.iloc[0]


def test_the_culprit_is_blamed_with_its_module_and_onset(incident):
    df = incident.correlate()
    top = df.iloc[0]
    assert (top["service"], top["version"], bool(top["significant"])) == (CULPRIT["service"], CULPRIT["version"], True)
    assert top["suspect_modules"] == [ETCD]
    change = f"{ETCD} {CULPRIT['from']} → {CULPRIT['to']}"
    assert change in top["change"] and f"suspects: {change}" in top["verdict"]
    onset = _utc(top["onset"].rsplit(" ", 1)[1])
    assert _utc(CULPRIT["ts"]) <= onset <= _utc(CULPRIT["ts"]) + timedelta(minutes=15), top["onset"]
    flagged = {e["kind"] for e in top["evidence"] if e["flagged"]}
    assert {"goroutines", "latency"} <= flagged
    assert f"{ETCD}.(*Client).Watch goroutines" in top["verdict"] and "(*lessor).recvKeepAlive" in top["verdict"]
    leak = next(e for e in top["evidence"] if e["kind"] == "goroutines" and e["flagged"])
    assert leak["instances"] and leak["files"] and leak["p_adjusted"] < 0.01


def test_every_decoy_and_the_rollback_are_cleared(incident):
    df = incident.correlate()
    assert df["significant"].sum() == 1
    for decoy in STORY["decoys"]:
        row = _row(df, decoy)
        assert not row["significant"], row["verdict"]
    later = _row(df, next(d for d in STORY["decoys"] if d["service"] == CULPRIT["service"]))
    assert any(f"{ETCD}@{CULPRIT['to']}, which came with {CULPRIT['version']}" in c for c in later["cleared"])
    rollback = dict(STORY["rollback"], previous=STORY["rollback"]["from"])
    assert not _row(df, rollback)["significant"]


def test_the_leak_is_found_per_instance(incident):
    growth = incident.goroutine_growth(CULPRIT["service"])
    site = growth[(growth["by"] == "creation") & (growth["site"] == f"{ETCD}.(*Client).Watch")]
    per_instance = site[site["instance"].notna()]
    leaking = per_instance[per_instance["leak"]]
    assert set(leaking["version"]) <= {CULPRIT["version"], *[d["version"] for d in STORY["decoys"]]}
    assert CULPRIT["version"] in set(leaking["version"]) and len(leaking) >= 2
    for r in leaking.itertuples(index=False):  # what the row says agrees with the series shown
        assert (r.first, r.last, r.peak, r.growth) == (r.counts[0], r.counts[-1], max(r.counts), r.last - r.first)
        assert r.last > r.first and r.onset >= r.first_ts
    merged = site[site["instance"].isna()].iloc[0]
    assert merged["leak"] and merged["leaking_instances"] == len(leaking)


def test_the_crashes_are_in_the_new_client(incident):
    rows = incident.sql("""
        SELECT p.top_function, f.module_version, r.pod, r.version FROM panics p JOIN dump_releases r USING (dump_id)
        JOIN goroutines g ON g.dump_id = p.dump_id AND g.goroutine_id = p.goroutine_id
        JOIN frames f ON f.dump_id = g.dump_id AND f.goroutine_seq = g.seq AND f.depth = 0""").fetchall()
    assert len(rows) == len(STORY["crashes"])
    assert {r[0] for r in rows} == {f"{ETCD}.(*lessor).recvKeepAlive"} and {r[1] for r in rows} == {CULPRIT["to"]}
    assert sorted((r[2], r[3]) for r in rows) == sorted((c["pod"], c["release"]) for c in STORY["crashes"])
    restarts = incident.timeline(kinds=["restart"])
    assert len(restarts) == sum(STORY["restarts"].values()) and restarts["summary"].str.contains("after a crash").all()


def test_every_row_knows_its_release(incident):
    truth = {(svc, pod): version for svc, rels in STORY["releases"].items() for version, rel in rels.items()
             for pod in rel["pods"]}
    for view in ("dump_releases", "profile_releases", "span_releases"):
        got = incident.sql(f"SELECT DISTINCT service, pod, version, version_source FROM {view}").fetchall()
        assert got and all(truth[(s, p)] == v for s, p, v, _ in got), view
        assert all(src in ("span", "image", "replica set", "deploy record") for *_, src in got)
    logs = incident.sql("SELECT DISTINCT service, pod, version FROM log_releases").fetchall()
    assert {(s, p) for s, p, _ in logs} == set(truth) and all(truth[(s, p)] == v for s, p, v in logs)


def test_releases_and_latency_per_release(incident):
    rel = incident.releases()
    orders = rel[rel["service"] == CULPRIT["service"]].set_index("version")
    row = orders.loc[CULPRIT["version"]]
    previous = next(d["previous"] for d in STORY["deploys"] if d["role"] == "culprit")
    assert f"{ETCD}.(*Client).Watch" in row["growing_sites"] and row["previous_version"] == previous
    assert orders.loc[CULPRIT["version"], "goroutine_peak"] > orders.loc[STORY["rollback"]["version"], "goroutine_peak"]
    crashed = {c["release"] for c in STORY["crashes"]}
    for version in crashed:
        assert orders.loc[version, "restarts"] >= 1
    lat = incident.latency(by=("service", "version"), every=None)
    assert {(s, v) for s, v in zip(lat["service"], lat["version"])} == \
        {(s, v) for s, rels in STORY["releases"].items() for v in rels}
    p99 = lat[lat["service"] == CULPRIT["service"]].set_index("version")["p99_ms"]
    assert p99[CULPRIT["version"]] > p99[STORY["rollback"]["version"]]
    sig = incident.panic_signatures()
    crash = sig[sig["top_function"] == f"{ETCD}.(*lessor).recvKeepAlive"].iloc[0]
    assert crash["first_seen_version"] in crashed and crash["instances"] == len(STORY["crashes"])


def test_spans_cross_services_and_profiles_have_samples(incident):
    pairs = incident.sql("""
        SELECT DISTINCT p.service, c.service FROM spans c JOIN spans m ON m.trace_id = c.trace_id
          AND m.span_id = c.parent_span_id JOIN spans p ON p.trace_id = m.trace_id AND p.span_id = m.parent_span_id
        WHERE c.kind = 'server' AND m.kind = 'client' AND p.kind = 'server' AND p.service <> c.service""").fetchall()
    assert ("checkout", "orders") in pairs
    cpu = incident.sql("SELECT min(n_samples), min(duration_ns) FROM profiles WHERE kind = 'cpu'").fetchall()[0]
    assert cpu[0] >= 100 and cpu[1] >= 1e9
    kinds = dict(incident.sql("SELECT kind, count(*) FROM sources WHERE status = 'ok' GROUP BY kind").fetchall())
    for kind in ("log", "pprof", "pprof_text", "chrome_trace", "otlp", "deploys", "buildinfo", "k8s_events",
                 "go_mod", "go_sum"):
        assert kinds.get(kind, 0) > 0, (kind, kinds)


def test_blame_without_deploy_records_or_build_info(tmp_path):
    """Spans (service.version), container logs and goroutine dumps alone: the
    releases come from what the rows say, the module versions from the stacks."""
    db = fx.open(tmp_path / "bare.duckdb")
    db.ingest([BUNDLE / "spans", BUNDLE / "var", BUNDLE / "dumps"])
    assert db.sql("SELECT count(*) FROM events WHERE kind = 'deploy'").fetchall() == [(0,)]
    top = db.correlate().iloc[0]
    assert (top["service"], top["version"], bool(top["significant"])) == (CULPRIT["service"], CULPRIT["version"], True)
    assert top["suspect_modules"] == [ETCD] and f"suspects: {ETCD} {CULPRIT['from']} → {CULPRIT['to']}" in top["verdict"]
