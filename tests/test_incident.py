"""The sample incident (sample_logs/incident/bundle): the etcd client upgrade
must be blamed, with the right module, and the decoy upgrade, the other
service's deploy and the rollback cleared."""
from __future__ import annotations

import pytest

import forensics as fx

from conftest import SAMPLES

BUNDLE = SAMPLES / "incident" / "bundle"
ETCD = "go.etcd.io/etcd/client/v3"


@pytest.fixture(scope="module")
def incident(tmp_path_factory):
    db = fx.open(tmp_path_factory.mktemp("incident") / "i.duckdb")
    summary = db.ingest(BUNDLE)
    assert not summary.problems, summary.problems
    return db


def test_the_etcd_client_upgrade_is_blamed(incident):
    df = incident.correlate()
    top = df.iloc[0]
    assert (top["service"], top["version"], bool(top["significant"])) == ("orders", "v2.5.0", True)
    assert top["suspect_modules"] == [ETCD]
    assert f"{ETCD} v3.4.27 → v3.5.9" in top["change"]
    flagged = {e["kind"] for e in top["evidence"] if e["flagged"]}
    assert {"goroutines", "latency"} <= flagged
    assert f"{ETCD}.(*Client).Watch goroutines" in top["verdict"] and "(*lessor).recvKeepAlive" in top["verdict"]
    assert top["onset"] is not None
    others = df.iloc[1:]
    assert not others["significant"].any()
    decoy = others[others["change"].str.contains("github.com/acme/ratelimit v1.5.0 → v1.6.0")]
    assert len(decoy) == 1 and decoy.iloc[0]["suspect_modules"] == []
    assert "payments" in set(others["service"])


def test_the_crash_is_in_the_new_client(incident):
    rows = incident.sql("""
        SELECT p.top_function, f.module_version, d.pod FROM panics p JOIN dumps d USING (dump_id)
        JOIN goroutines g ON g.dump_id = p.dump_id AND g.goroutine_id = p.goroutine_id
        JOIN frames f ON f.dump_id = g.dump_id AND f.goroutine_seq = g.seq AND f.depth = 0""").fetchall()
    assert rows and {r[0] for r in rows} == {f"{ETCD}.(*lessor).recvKeepAlive"}
    assert {r[1] for r in rows} == {"v3.5.9"} and all(r[2].startswith("orders-7c9d8e6f5-") for r in rows)
    restarts = incident.timeline(kinds=["restart"])
    # every restart follows a crash; the last crash may end its pod's time (no restart after it)
    assert 1 <= len(restarts) <= len(rows) and restarts["summary"].str.contains("after a crash").all()


def test_the_leak_is_found_in_the_snapshots(incident):
    growth = incident.goroutine_growth("orders")
    leaks = growth[growth["leak"] & (growth["by"] == "creation")]
    assert f"{ETCD}.(*Client).Watch" in set(leaks["site"])


def test_the_bundle_holds_every_kind_of_evidence(incident):
    kinds = dict(incident.sql("SELECT kind, count(*) FROM sources WHERE status = 'ok' GROUP BY kind").fetchall())
    for kind in ("log", "go_crash", "pprof", "pprof_text", "chrome_trace", "otlp", "deploys", "buildinfo",
                 "k8s_events", "go_mod", "go_sum"):
        assert kinds.get(kind, 0) > 0 or kind == "go_crash", (kind, kinds)
    anchor = incident.sql("SELECT ts_source FROM trace_files").fetchall()
    assert anchor == [("path",)]
    lat = incident.latency(every=None)
    assert set(lat["service"]) == {"orders"} and lat["requests"].sum() > 1000
    versions = {v for (v,) in incident.sql("SELECT DISTINCT json_extract_string(resource, '$.\"service.version\"') "
                                             "FROM spans").fetchall()}
    assert versions == {"v2.3.0", "v2.4.0", "v2.5.0"}


def test_releases_and_latency_per_release(incident):
    culprit = incident.correlate().iloc[0]
    rel = incident.releases()
    mine = rel[rel["service"] == culprit["service"]].set_index("version")
    row = mine.loc[culprit["version"]]
    assert row["new_signatures"] and f"{ETCD}.(*Client).Watch" in row["growing_sites"]
    assert row["goroutine_peak"] == mine["goroutine_peak"].max() and row["restarts"] >= 1
    assert row["previous_version"] == culprit["previous_version"] and row["instances"] >= 2
    lat = incident.latency(by=("service", "version"), every=None)
    orders = lat[lat["service"] == culprit["service"]].set_index("version")
    assert set(orders.index) == set(mine.index) and (orders["requests"] == mine["requests"]).all()
    sig = incident.panic_signatures()
    crash = sig[sig["top_function"] == f"{ETCD}.(*lessor).recvKeepAlive"].iloc[0]
    assert crash["first_seen_version"] in set(mine.index) and crash["instances"] >= 2


def test_blame_without_deploy_records_or_build_info(tmp_path):
    """Spans (service.version), container logs and goroutine dumps alone: the
    releases come from what the rows say, the module versions from the stacks."""
    db = fx.open(tmp_path / "bare.duckdb")
    db.ingest([BUNDLE / "spans", BUNDLE / "var", BUNDLE / "dumps"])
    assert db.sql("SELECT count(*) FROM events WHERE kind = 'deploy'").fetchall() == [(0,)]
    top = db.correlate().iloc[0]
    assert bool(top["significant"]) and top["suspect_modules"] == [ETCD]
    assert f"suspects: {ETCD} v3.4.27 → v3.5.9" in top["verdict"]
