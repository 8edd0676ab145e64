"""Goroutine growth across snapshots: the leak in sample_logs/profiler -leak is found, nothing else is."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from conftest import SAMPLES

LEAK = sorted((SAMPLES / "go1.27.3" / "leak").iterdir())


@pytest.mark.parametrize("suffix,form", [(".dump.txt", "dump"), (".pb.gz", "profile"), (".txt", "profile_text")])
def test_every_snapshot_form_finds_the_watch_leak(db, suffix, form):
    files = [p for p in LEAK if p.name.endswith(suffix) and not (suffix == ".txt" and p.name.endswith(".dump.txt"))]
    assert len(files) == 6
    t0 = datetime(2026, 3, 14, 11, 0)
    for path in reversed(files):  # ingest out of order: time decides
        step = int(path.name.split("-")[1].split(".")[0])
        db.ingest(path, service="api", ts=t0 + timedelta(minutes=5 * step))
    df = db.goroutine_growth(service="api")
    assert set(df["form"]) == {form}
    # One instance (no pod: one series): its rows and the merged rows above agree.
    merged, per_instance = df[df["instance"].isna()], df[df["instance"].notna()]
    assert set(per_instance["instance"]) == {"(no pod)"}
    assert list(merged["site"]) == list(per_instance["site"])
    assert (merged["counts"].tolist() == per_instance["counts"].tolist())
    leaks = per_instance[per_instance["leak"]]
    blocking = leaks[leaks["by"] == "blocking"]
    assert list(blocking["site"]) == ["main.watch"]
    row = blocking.iloc[0]
    assert row["counts"] == [40, 80, 120, 160, 200, 240] and row["growth"] == 200
    assert row["per_minute"] == pytest.approx(200 / 25) and row["peak"] == 240
    assert row["onset"] == t0 + timedelta(minutes=5 * int(files[0].name.split("-")[1].split(".")[0]))
    creation = set(leaks[leaks["by"] == "creation"]["site"])
    assert creation == ({"main.handle"} if form == "dump" else {"main.watch"})
    # The worker pool and the goroutine that wrote the snapshot stay flat.
    flat = per_instance[~per_instance["leak"]]
    assert "main.worker" in set(flat["site"]) and (flat[flat["site"] == "main.worker"]["growth"] == 0).all()


def test_restarts_cut_the_series_and_other_services_are_apart(db):
    t0 = datetime(2026, 3, 14, 11, 0)
    # Two processes of one service, the second started after the first:
    # the go1.27 and go1.19 builds of the same leaking program.
    for i, path in enumerate(p for p in LEAK if p.name.endswith(".dump.txt")):
        db.ingest(path, service="api", ts=t0 + timedelta(minutes=i))
    for i, path in enumerate(sorted((SAMPLES / "go1.19.8" / "leak").glob("*.dump.txt"))):
        db.ingest(path, service="api", ts=t0 + timedelta(minutes=30 + i))
    df = db.goroutine_growth(service="api")
    rows = df[(df["by"] == "blocking") & (df["site"] == "main.watch")]
    runs = rows[rows["instance"].notna()]
    assert list(runs["instance"]) == ["run 1", "run 2"]
    assert all(c == [40, 80, 120, 160, 200, 240] for c in runs["counts"]) and runs["leak"].all()
    merged = rows[rows["instance"].isna()].iloc[0]
    assert (merged["instances"], merged["leaking_instances"], merged["peak"], merged["leak"]) == (2, 2, 240, True)
    assert db.goroutine_growth(service="other").empty


def test_a_site_that_falls_or_stays_is_no_leak():
    from forensics.analysis.leaks import rise_start, rises

    assert not rises([448, 448, 448, 448]) and not rises([300, 280, 260]) and not rises([10, 50])
    assert rises([10, 12, 11, 15, 18, 17, 22, 25, 24, 30, 33])  # noisy, but a trend
    assert rise_start([50, 40, 40, 60, 90]) == 2


def test_single_goroutine_crash_dumps_are_not_snapshots(db):
    db.ingest(SAMPLES / "go1.27.3" / "default" / "panic-error.txt", service="api")
    assert db.goroutine_growth().empty
