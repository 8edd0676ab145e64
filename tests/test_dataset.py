"""An incident exported as a Parquet dataset reads as its database does."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import forensics as fx
from forensics.db import dataset
from forensics.errors import StoreError

from conftest import SAMPLES


@pytest.fixture(scope="module")
def exported(incident_database, tmp_path_factory):
    out = tmp_path_factory.mktemp("dataset") / "incident"
    with fx.open(incident_database, read_only=True) as db:
        manifest = db.export(out)
    return out, manifest


@pytest.fixture(params=["copied", "views"])
def how(request, monkeypatch) -> str:
    """Both ways a dataset is opened: copied into memory (small) or as views of its files."""
    if request.param == "views":
        monkeypatch.setattr(dataset, "COPY_BYTES", 0)
    return request.param


def test_every_table_reads_back_row_for_row(incident_database, exported, how):
    out, manifest = exported
    assert fx.open(out).sql("SELECT value FROM meta WHERE key = 'dataset_tables'").fetchall() == [(how,)]
    assert manifest["schema_version"] == fx.open(out).sql(
        "SELECT value::INT FROM meta WHERE key = 'schema_version'").fetchall()[0][0]
    with fx.open(incident_database, read_only=True) as db, fx.open(out) as ds:
        for table in dataset.tables():
            columns = f"SELECT column_name, column_type FROM (DESCRIBE {table})"  # keys aside: a view has none
            assert ds.sql(columns).fetchall() == db.sql(columns).fetchall(), table
            rows = db.sql(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
            assert ds.sql(f"SELECT * FROM {table} ORDER BY ALL").fetchall() == rows, table
            assert manifest["tables"][table]["rows"] == len(rows), table
        assert manifest["sources"]["count"] == db.sql("SELECT count(*) FROM sources").fetchall()[0][0]
        # the schema's views, over the dataset's tables
        for view in ("frames", "timeline", "stack_frames"):
            rows = db.sql(f"SELECT * FROM {view} ORDER BY ALL").fetchall()
            assert rows and ds.sql(f"SELECT * FROM {view} ORDER BY ALL").fetchall() == rows, view


def _json(frame) -> str:  # evidence holds nested records, which DataFrame.equals does not compare
    assert len(frame)
    return frame.to_json(date_format="iso", default_handler=str)


@pytest.fixture(scope="module")
def analyses(incident_database) -> dict[str, str]:
    """What the database says, computed once for both ways of opening the dataset."""
    with fx.open(incident_database, read_only=True) as db:
        verdict = db.correlate()
        return {"correlate": _json(verdict), "releases": _json(db.releases()),
                "timeline": _json(db.timeline(verdict=verdict))}


def test_the_analyses_agree_on_the_dataset(exported, analyses, how):
    with fx.open(exported[0]) as ds:
        verdict = ds.correlate()
        found = {"correlate": _json(verdict), "releases": _json(ds.releases()),
                 "timeline": _json(ds.timeline(verdict=verdict))}
    assert found == analyses


def test_tables_with_service_and_time_are_hive_partitioned(exported):
    out, manifest = exported
    for table, (service, _) in dataset.PARTITIONS.items():
        assert manifest["tables"][table]["partitioned_by"] == [service, "date"]
        if manifest["tables"][table]["rows"]:
            parts = {p.relative_to(out / table).parts[:2] for p in (out / table).rglob("*.parquet")}
            assert all(s.startswith("service=") and d.startswith("date=") for s, d in parts), table
    assert (out / "sources" / "data_0.parquet").is_file()
    assert sorted(p.name for p in out.iterdir()) == sorted([*dataset.tables(), dataset.MANIFEST])


def test_partition_values_are_escaped_and_missing_ones_are_hive_defaults(tmp_path):
    crash = SAMPLES / "go1.27.3" / "default" / "nil-deref.txt"
    db = fx.open(tmp_path / "i.duckdb")
    db.ingest([crash], service="shop/orders v2=new", ts="2026-11-22T01:02:03Z")
    db.ingest([SAMPLES / "go1.19.8" / "default" / "nil-deref.txt"])  # no service
    db.export(tmp_path / "ds")
    dirs = sorted(p.name for p in (tmp_path / "ds" / "dumps").iterdir())
    assert dirs == ["service=__HIVE_DEFAULT_PARTITION__", "service=shop%2Forders%20v2%3Dnew"]
    assert (tmp_path / "ds" / "dumps" / dirs[1] / "date=2026-11-22").is_dir()
    ds = fx.open(tmp_path / "ds")
    query = "SELECT service, ts FROM dumps ORDER BY service NULLS FIRST"
    assert ds.sql(query).fetchall() == db.sql(query).fetchall()


def test_a_dataset_is_read_only(exported, how):
    out, _ = exported
    ds = fx.open(out)
    with pytest.raises(StoreError, match="is a Parquet dataset, which is read-only"):
        ds.ingest([SAMPLES / "go1.27.3" / "default" / "nil-deref.txt"])
    ds.store.deny_file_access()  # as `forensics sql`: the dataset stays readable, nothing else
    assert ds.sql("SELECT count(*) FROM logs").fetchall()[0][0] > 0
    with pytest.raises(StoreError, match="disabled"):
        ds.sql("SELECT * FROM read_csv('/etc/passwd')").fetchall()


def test_export_replaces_only_with_force_and_never_half_writes(tmp_path, monkeypatch):
    db = fx.open(tmp_path / "i.duckdb")
    db.ingest([SAMPLES / "go1.27.3" / "default" / "nil-deref.txt"])
    out = tmp_path / "ds"
    (out / "notes").mkdir(parents=True)
    with pytest.raises(StoreError, match="exists and is not a forensics dataset"):
        db.export(out)
    shutil.rmtree(out)
    db.export(out)
    with pytest.raises(StoreError, match="already a dataset"):
        db.export(out)
    db.ingest([SAMPLES / "go1.19.8" / "default" / "nil-deref.txt"])

    def broken(con, into, written_by):
        (into / "dumps").mkdir()
        raise OSError("disk full")

    monkeypatch.setattr(dataset, "_write_tables", broken)
    with pytest.raises(StoreError, match="disk full"):
        db.export(out, force=True)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial directory left
    assert fx.open(out).sql("SELECT count(*) FROM sources").fetchall() == [(1,)]  # the old dataset, whole
    monkeypatch.undo()
    db.export(out, force=True)
    assert fx.open(out).sql("SELECT count(*) FROM sources").fetchall() == [(2,)]


def test_what_is_not_a_dataset_is_refused_by_name(tmp_path, exported):
    with pytest.raises(StoreError, match="without manifest.json"):
        fx.open(tmp_path)
    out, manifest = exported
    other = tmp_path / "newer"
    shutil.copytree(out, other)
    (other / dataset.MANIFEST).write_text(json.dumps(dict(manifest, schema_version=99)))
    with pytest.raises(StoreError, match="schema version 99; this forensics reads version .*upgrade forensics"):
        fx.open(other)
    (other / dataset.MANIFEST).write_text("{}")
    with pytest.raises(StoreError, match="not a forensics dataset manifest"):
        fx.open(other)


def test_timestamps_written_with_a_time_zone_read_as_utc(tmp_path, exported, how):
    """Spark writes TIMESTAMP columns as instants (UTC-adjusted): they read as
    the naive UTC times the schema declares."""
    out, _ = exported
    copy = tmp_path / "ds"
    shutil.copytree(out, copy)
    path = copy / "builds" / "data_0.parquet"
    table = pq.read_table(path)
    i = table.schema.get_field_index("vcs_time")
    pq.write_table(table.set_column(i, "vcs_time", table.column(i).cast(pa.timestamp("us", tz="UTC"))), path)
    query = "SELECT vcs_time FROM builds ORDER BY ALL"
    assert fx.open(copy).sql(query).fetchall() == fx.open(out).sql(query).fetchall()
    assert fx.open(copy).sql("SELECT typeof(vcs_time) FROM builds LIMIT 1").fetchall() == [("TIMESTAMP",)]


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "forensics.cli", *map(str, args)], capture_output=True, text=True,
                          env=dict(os.environ, COLUMNS="100"))


def test_cli_export_then_every_reading_command_on_the_directory(incident_database, tmp_path):
    out = tmp_path / "dataset"
    done = _cli("export", "--db", incident_database, "--out", out)
    assert done.returncode == 0, done.stderr
    summary, where = done.stdout.splitlines()
    assert summary.endswith("written to") and " sources, " in summary and len(summary) <= 100
    assert where == str(out)
    again = _cli("export", "--db", incident_database, "--out", out)
    assert again.returncode == 1 and "--force" in again.stderr
    # (correlate, releases and the timeline: compared through the API above)
    for command in (["top", "--kind", "cpu"], ["sql", "SELECT count(*) AS n FROM spans"]):
        ours, theirs = _cli(*command, "--db", out), _cli(*command, "--db", incident_database)
        assert ours.returncode == 0, (command, ours.stderr)
        assert ours.stdout == theirs.stdout, command
    report = tmp_path / "report.md"
    assert _cli("report", "--db", out, "-o", report).returncode == 0
    assert "# " in report.read_text()
