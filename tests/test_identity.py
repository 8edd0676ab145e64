"""Artefact identity: an artefact is its bytes and its origin (what its path
says: pod, container, restart, time, file name). The same artefact twice is
a no-op, loose or inside the bundle's archive; the same bytes from another
pod or another time are another source."""
from __future__ import annotations

import shutil
import tarfile

import forensics as fx

from conftest import SAMPLES

CRASH = SAMPLES / "go1.19.8" / "default" / "nil-deref.txt"
SNAPSHOT = sorted((SAMPLES / "go1.19.8" / "leak").glob("*.dump.txt"))[0]


def _place(root, rel, src):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, path)
    return path


def test_the_same_artefact_twice_is_a_no_op(tmp_path):
    path = _place(tmp_path / "bundle", "dumps/orders-7c9d8e6f5-x2k9p/crash.txt", CRASH)
    db = fx.open(tmp_path / "i.duckdb")
    assert db.ingest(path).count("ok") == 1
    again = db.ingest(path)
    assert again.count("duplicate") == 1 and "same content and origin as" in again.results[0].error
    assert "1 already ingested (same content and origin)" in str(again)


def test_a_file_and_its_copy_in_the_bundle_archive_are_one(tmp_path):
    bundle = tmp_path / "bundle"
    path = _place(bundle, "dumps/orders-7c9d8e6f5-x2k9p/goroutines-20261122T030000Z.txt", SNAPSHOT)
    with tarfile.open(tmp_path / "bundle.tgz", "w:gz") as tar:
        tar.add(bundle, arcname="bundle")
    db = fx.open(tmp_path / "i.duckdb")
    assert db.ingest(path).count("ok") == 1
    second = db.ingest(tmp_path / "bundle.tgz")
    assert second.count("duplicate") == 1 and second.count("ok") == 0, second.df()
    assert db.sql("SELECT count(*) FROM dumps").fetchall() == [(1,)]


def test_one_crash_in_two_pods_is_two_sources(tmp_path):
    pods = tmp_path / "var" / "log" / "pods"
    a = _place(pods, "shop_orders-7c9d8e6f5-x2k9p_0f3e/orders/0.log", CRASH)
    b = _place(pods, "shop_orders-7c9d8e6f5-q4w8z_9a1c/orders/0.log", CRASH)
    db = fx.open(tmp_path / "i.duckdb")
    summary = db.ingest([a, b])
    assert summary.count("ok") == 2 and summary.count("duplicate") == 0
    pods_seen = db.sql("SELECT pod FROM dump_releases ORDER BY pod").fetchall()
    assert pods_seen == [("orders-7c9d8e6f5-q4w8z",), ("orders-7c9d8e6f5-x2k9p",)]
    sig = db.panic_signatures()
    assert int(sig.iloc[0]["count"]) == 2 and int(sig.iloc[0]["instances"]) == 2


def test_identical_snapshots_at_two_times_are_two_sources(tmp_path):
    first = _place(tmp_path, "dumps/api-1/goroutines-20261122T030000Z.txt", SNAPSHOT)
    second = _place(tmp_path, "dumps/api-1/goroutines-20261122T031000Z.txt", SNAPSHOT)
    db = fx.open(tmp_path / "i.duckdb")
    summary = db.ingest([first, second], service="api")
    assert summary.count("ok") == 2
    times = db.sql("SELECT ts FROM dumps ORDER BY ts").fetchall()
    assert [t.minute for (t,) in times] == [0, 10]
    # The same, dated at ingest: the time given is part of the artefact's origin.
    db.ingest(SNAPSHOT, service="api", ts="2026-11-22T04:00:00Z")
    assert db.ingest(SNAPSHOT, service="api", ts="2026-11-22T04:20:00Z").count("ok") == 1
    assert db.ingest(SNAPSHOT, service="api", ts="2026-11-22T04:20:00Z").count("duplicate") == 1


def test_what_was_running_follows_the_evidence_as_it_arrives(tmp_path):
    """Deploy records and events ingested after the artefacts change the answer."""
    cluster = SAMPLES / "cluster"
    db = fx.open(tmp_path / "i.duckdb")
    db.ingest(cluster / "var")
    rows = lambda: db.sql("SELECT DISTINCT pod, version, version_source FROM dump_releases "  # noqa: E731
                          "WHERE pod LIKE 'orders-%' ORDER BY pod").fetchall()
    assert {v for _, v, _ in rows()} == {None}
    db.ingest(cluster / "deploys")
    assert {(v, s) for _, v, s in rows()} == {("v1.9.0", "deploy record")}
    db.ingest(cluster / "k8s")
    assert {(v, s) for _, v, s in rows()} == {("v1.9.0", "image")}
    sig = db.panic_signatures()
    crash = sig[sig["message"].str.contains("nil map")].iloc[0]
    assert crash["versions"] == ["v1.9.0"] and crash["first_seen_version"] == "v1.9.0"
    assert set(db.timeline(kinds=["panic"])["version"]) == {"v1.9.0"}


def test_profile_selectors_see_resolved_releases_and_numpy_ids(tmp_path):
    import numpy as np

    src = sorted((SAMPLES / "go1.19.8" / "profiles").glob("cpu*.pb.gz"))[0]
    path = _place(tmp_path, "profiles/orders-7c9d8e6f5-x2k9p/cpu.pb.gz", src)
    db = fx.open(tmp_path / "i.duckdb")
    db.ingest(path)
    (pid, service), = db.sql("SELECT profile_id, service FROM profile_releases").fetchall()
    assert service == "orders"  # the pod directory says whose it is
    assert len(db.top({"service": "orders"})) and len(db.top(np.int64(pid)))
    assert db.top({"service": "payments"}).empty


def test_upgrades_list_modules_a_release_adds_or_removes(tmp_path):
    """Release modules from real `go version -m` output: orders' build has the etcd client, payments'
    does not; deployed in turn as one service, the client appears, then goes."""
    info = SAMPLES / "incident" / "bundle" / "deploys" / "buildinfo"
    for name in ("payments-v3.0.0.txt", "orders-v2.4.0.txt", "payments-v3.1.0.txt"):
        shutil.copyfile(info / name, tmp_path / name)
    (tmp_path / "deploys.csv").write_text(
        "ts,service,version,buildinfo\n"
        "2026-11-22T02:00:00Z,api,v1,payments-v3.0.0.txt\n"
        "2026-11-22T03:00:00Z,api,v2,orders-v2.4.0.txt\n"
        "2026-11-22T04:00:00Z,api,v3,payments-v3.1.0.txt\n")
    db = fx.open(tmp_path / "i.duckdb")
    db.ingest(tmp_path)
    rows = db.sql("SELECT to_release, from_version, to_version, direction FROM upgrades "
                  "WHERE module = 'go.etcd.io/etcd/client/v3' ORDER BY ts").fetchall()
    assert rows == [("v2", None, "v3.4.27", "added"), ("v3", "v3.4.27", None, "removed")]
    summaries = set(db.timeline(kinds=["upgrade"])["summary"])
    assert "go.etcd.io/etcd/client/v3 (none) → v3.4.27 (added)" in summaries
    assert not any("nan" in s for s in summaries)


def test_releases_command(tmp_path):
    import json

    from click.testing import CliRunner

    from forensics.cli import main

    db = fx.open(tmp_path / "i.duckdb")
    db.ingest(SAMPLES / "cluster")
    db.close()
    out = CliRunner().invoke(main, ["releases", "--db", str(tmp_path / "i.duckdb"), "--format", "json"])
    assert out.exit_code == 0, out.output
    rows = {(r["service"], r["version"]): r for r in json.loads(out.output)}
    bad = rows[("orders", "v1.9.0")]
    assert bad["restarts"] >= 1 and bad["new_signatures"] and bad["previous_version"] == "v1.8.0"
    table = CliRunner().invoke(main, ["releases", "--db", str(tmp_path / "i.duckdb")])
    assert table.exit_code == 0 and "goroutine_peak" in table.output and "v1.9.0" in table.output
