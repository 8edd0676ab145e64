"""``forensics spark-ingest``: the batch command run by Apache Spark, into a Parquet dataset."""
from __future__ import annotations

import sys

import click

from .cli_ingest import report
from .cli_params import byte_size, iso_time
from .ingest.files import Limits
from .text import terminal_safe


@click.command("spark-ingest")
@click.argument("paths", nargs=-1, required=True)
@click.option("--out", required=True, metavar="DIR",
              help="The dataset: a directory or any Hadoop URL (hdfs://, s3a://, gs://); added to when it is one.")
@click.option("--master", default="local[*]", show_default=True, metavar="URL",
              help="Spark master: local[N], spark://host:7077, yarn, k8s://...")
@click.option("--service", help="Service the evidence comes from.")
@click.option("--version", "version", help="Version of the service that produced it.")
@click.option("--ts", callback=iso_time,
              help="Time of the evidence (ISO 8601, UTC if no zone); default: from log lines, else file mtime.")
@click.option("--force", is_flag=True, help="Replace the dataset at --out instead of adding to it.")
@click.option("--quiet", "-q", is_flag=True, help="Only the summary line and problems.")
@click.option("--strict", is_flag=True, help="Exit 1 when a file was read only in part, not only when one failed.")
@click.option("--max-source-size", callback=byte_size, default="4GiB", show_default=True, metavar="SIZE",
              help="Bound on one source's decompressed size (a bomb stops here).")
@click.option("--max-extract-size", callback=byte_size, default="16GiB", show_default=True, metavar="SIZE",
              help="Bound on the archive members one Spark task expands.")
def spark_ingest(paths, out, master, service, version, ts, force, quiet, strict, max_source_size,
                 max_extract_size) -> None:
    """Ingest files, directories or globs at any Hadoop URL with Apache Spark.

    The executors run the same readers as `forensics ingest`, and Spark's
    Parquet writer writes the dataset every reading command opens with
    --db DIR. Run again over a grown input, only new artefacts are read.
    Needs PySpark (pip install 'forensics[spark]') and Java 17.
    """
    import forensics as fx

    limits = Limits(max_source_bytes=max_source_size, max_extract_bytes=max_extract_size)
    try:
        done = fx.Incident.spark_ingest(list(paths), out, master=master, service=service, version=version, ts=ts,
                                        limits=limits, force=force)
    except ImportError as exc:
        raise click.ClickException(f"spark-ingest needs PySpark: pip install 'forensics[spark]' ({exc})") from exc
    except fx.ForensicsError as exc:
        raise click.ClickException(str(exc)) from exc
    status = report(done.summary, quiet, strict)
    click.echo(f"dataset: {terminal_safe(out)}")
    sys.exit(status)
