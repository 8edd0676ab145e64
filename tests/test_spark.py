"""The Spark job (issue 18): the sample incident and damaged input ingested by
Spark on local[2] give the rows, statuses and errors `forensics ingest` gives."""
from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import forensics as fx
from forensics.db import dataset

from conftest import BUNDLE, SAMPLES
from test_resilience import CRASHES, bundle_tar, header_offsets, scribble, ten_thousand_digits, zip_of

pytest.importorskip("pyspark")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java (.ci/run installs openjdk-17-jre-headless)", allow_module_level=True)

from forensics.ingest.spark import session, spark_ingest  # noqa: E402

FORENSICS = [sys.executable, "-m", "forensics.cli"]


@pytest.fixture(scope="module")
def spark():
    """local[2], its Python workers in a local time zone that is not UTC (a timestamp
    reaches them as local time: every time stored must still be UTC)."""
    import time

    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    s = session("local[2]")
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def rows(db, table: str) -> list:
    """A table's rows in order, but for when a file was ingested."""
    columns = "* EXCLUDE (ingested_at)" if table == "sources" else "*"
    return db.sql(f"SELECT {columns} FROM {table} ORDER BY ALL").fetchall()


def assert_equal_tables(local, spark_out) -> None:
    with fx.open(spark_out) as theirs:
        for table in dataset.tables():
            assert rows(theirs, table) == rows(local, table), table


def statuses(summary) -> list[tuple]:
    return sorted((r.path, r.status, r.error) for r in summary.results)


@pytest.fixture(scope="module")
def incident_dataset(spark, tmp_path_factory):
    out = tmp_path_factory.mktemp("spark") / "incident"
    done = spark_ingest(spark, [str(BUNDLE)], str(out))
    return out, done


def test_the_sample_incident_gives_the_rows_of_forensics_ingest(incident_dataset, incident_database):
    out, done = incident_dataset
    with fx.open(incident_database) as local:
        assert_equal_tables(local, out)
        with fx.open(out) as theirs:
            for table in ("dumps", "panics", "profiles", "stacks", "frame_info", "logs", "spans", "events",
                          "builds"):
                assert rows(theirs, table), table  # every kind of evidence came through
            assert theirs.correlate().equals(local.correlate())
            assert theirs.releases().equals(local.releases())
    assert not done.summary.problems
    manifest = dataset.read_manifest(out)
    assert manifest["tables"]["dumps"]["partitioned_by"] == ["service", "date"]
    assert manifest["sources"]["count"] == done.summary.count("ok")
    assert "spark-ingest" in manifest["written_by"]


def test_the_readme_report_command_reads_the_spark_dataset(incident_dataset, tmp_path):
    out, _ = incident_dataset
    html = tmp_path / "report.html"
    run = subprocess.run([*FORENSICS, "report", "--db", str(out), "--output", str(html)], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "recvKeepAlive" in html.read_text()


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> Path:
    """Bad input of every kind, each made from a real sample by a transformation
    named for what it models, beside clean files and a copy of one of them."""
    d = tmp_path_factory.mktemp("damaged")
    work = tmp_path_factory.mktemp("work")
    tar = bundle_tar(work / "b.tar", CRASHES)
    (d / "bad-header.tar").write_bytes(scribble(tar.read_bytes(), header_offsets(tar)[3]))
    tgz = bundle_tar(work / "b.tgz", CRASHES[:6], mode="w:gz")
    (d / "truncated.tgz").write_bytes(tgz.read_bytes()[: tgz.stat().st_size // 2])
    z = zip_of(work / "b.zip", CRASHES[:4])
    data = z.read_bytes()
    (d / "corrupt-member.zip").write_bytes(scribble(data, len(data) // 3))
    stack = (SAMPLES / "go1.27.3" / "default" / "stack.txt").read_text()
    (d / "digits.txt").write_text(ten_thousand_digits(stack, r"goroutine (\d+) \["))
    profile = (SAMPLES / "go1.27.3" / "profiles" / "heap.pb.gz").read_bytes()
    (d / "cut-profile.pb.gz").write_bytes(gzip.compress(gzip.decompress(profile)[:-40]))
    (d / "garbage.bin").write_bytes(bytes(range(256)) * 64)
    (d / "empty.txt").write_bytes(b"")
    shutil.copy(CRASHES[1], d / ".hidden-crash.txt")  # names Spark's file source passes over
    shutil.copy(CRASHES[2], d / "_underscore-crash.txt")
    for name in ("expand", "github-actions-cut", "kubectl-timestamps"):  # crash text as tools leave it
        for f in (SAMPLES / "damaged" / name).glob("*"):
            shutil.copy(f, d / f"{name}-{f.name}")
    (d / "again").mkdir()
    shutil.copy(CRASHES[0], d / "clean.txt")
    shutil.copy(CRASHES[0], d / "again" / "clean-copy.txt")  # the same artefact twice: one source
    return d


def test_damaged_input_gets_the_statuses_and_errors_of_forensics_ingest(spark, damaged, tmp_path):
    missing = str(tmp_path / "no-such-dir")
    local = fx.open(tmp_path / "local.duckdb")
    expected = local.ingest([str(damaged), missing])
    done = spark_ingest(spark, [str(damaged), missing], str(tmp_path / "out"))
    assert {r.status for r in expected.results} >= {"ok", "partial", "failed", "skipped", "duplicate"}
    assert statuses(done.summary) == statuses(expected)
    assert_equal_tables(local, tmp_path / "out")
    with fx.open(tmp_path / "out") as theirs:
        assert rows(theirs, "ingest_errors")  # the errors themselves, with their lines


def test_a_second_run_over_grown_input_reads_only_the_new_artefacts(spark, damaged, tmp_path):
    first = tmp_path / "first"
    first.mkdir()
    for f in ("clean.txt", "digits.txt", "empty.txt", "garbage.bin"):
        shutil.copy(damaged / f, first / f)
    out = str(tmp_path / "out")
    one = spark_ingest(spark, [str(first)], out)
    assert len(one.summary.results) == 4 and one.summary.count("duplicate") == 0
    grown = tmp_path / "grown"
    shutil.copytree(first, grown)
    for f in damaged.iterdir():
        if f.is_file():
            shutil.copy(f, grown / f.name)
    two = spark_ingest(spark, [str(grown)], out)
    local = fx.open(tmp_path / "local.duckdb")
    local.ingest([str(first)])
    expected = local.ingest([str(grown)])  # the same two runs on one machine
    assert statuses(two.summary) == statuses(expected)
    again = {r.path: r.status for r in two.summary.results if (first / Path(r.path).name).exists()}
    # what the dataset holds is not read again; what it holds as failed or skipped is, as on one machine
    assert again == {str(grown / "clean.txt"): "duplicate", str(grown / "digits.txt"): "duplicate",
                     str(grown / "empty.txt"): "skipped", str(grown / "garbage.bin"): "failed"}
    assert_equal_tables(local, out)
    assert json.loads((Path(out) / dataset.MANIFEST).read_text())["sources"]["count"] == local.sql(
        "SELECT count(*) FROM sources").fetchall()[0][0]


def test_a_re_run_keeps_what_older_readers_read_and_force_replaces_it(spark, tmp_path):
    """A dataset's rows cannot be replaced in place (ingest replaces a reading by older
    readers): a re-run keeps them, and force writes the dataset anew."""
    import duckdb

    out = tmp_path / "out"
    spark_ingest(spark, [str(CRASHES[0])], str(out))
    before = {t: rows(fx.open(out), t) for t in ("sources", "dumps", "goroutines")}
    (sources,) = (out / "sources").glob("*.parquet")
    con = duckdb.connect()  # as if an older forensics had read it
    con.execute(f"COPY (SELECT * REPLACE (reader_version - 1 AS reader_version) FROM '{sources}') "
                f"TO '{tmp_path / 'old.parquet'}' (FORMAT parquet)")
    shutil.move(tmp_path / "old.parquet", sources)
    (sources.parent / f".{sources.name}.crc").unlink()  # Hadoop's checksum of the file as Spark wrote it
    again = spark_ingest(spark, [str(CRASHES[0])], str(out))
    assert [r.status for r in again.summary.results] == ["duplicate"]
    with fx.open(out) as db:
        assert rows(db, "dumps") == before["dumps"] and rows(db, "goroutines") == before["goroutines"]
    forced = spark_ingest(spark, [str(CRASHES[0])], str(out), force=True)
    assert [r.status for r in forced.summary.results] == ["ok"]
    with fx.open(out) as db:
        assert {t: rows(db, t) for t in before} == before


def test_the_cli_writes_a_dataset_and_says_what_it_read(spark, tmp_path):
    """In this process (the module's Spark session is the active one, which the
    command uses and leaves running); the reading commands in a new one."""
    from click.testing import CliRunner

    from forensics.cli import main

    out = tmp_path / "ds"
    run = CliRunner().invoke(main, ["spark-ingest", "--master", "local[2]", "--out", str(out), str(CRASHES[0]),
                                    str(tmp_path / "missing.txt")])
    assert run.exit_code == 1, run.output  # a path that names nothing is a failed source, as in ingest
    lines = run.output.splitlines()
    assert lines[0].startswith("2 files") and "1 ok" in lines[0] and "1 failed" in lines[0]
    assert "no such file or directory" in run.output and lines[-1] == f"dataset: {out}"
    assert dataset.is_dataset(out) and not spark.sparkContext._jsc.sc().isStopped()
    local = tmp_path / "local.duckdb"
    subprocess.run([*FORENSICS, "ingest", "--db", str(local), str(CRASHES[0])], check=True, capture_output=True)
    signatures = [subprocess.run([*FORENSICS, "panic-signatures", "--db", str(db), "--format", "json"],
                                 capture_output=True, text=True, check=True).stdout for db in (out, local)]
    assert json.loads(signatures[0]) == json.loads(signatures[1]) and len(json.loads(signatures[0])) == 1
