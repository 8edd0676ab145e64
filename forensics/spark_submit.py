"""``spark-submit`` entry point: ``forensics spark-ingest`` with spark-submit's master.

    spark-submit --master yarn "$(python -c 'import forensics.spark_submit as m; print(m.__file__)')" \\
        --out s3a://bucket/incidents/2026-11-22 s3a://bucket/artefacts/2026-11-22/

Takes the command's arguments (``forensics spark-ingest --help``); ``--master``
is spark-submit's own.
"""
import sys

from forensics.cli import main

if __name__ == "__main__":
    sys.exit(main(["spark-ingest", *sys.argv[1:]]))
