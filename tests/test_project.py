"""The project's own promises: docs, environments, the README commands, the notebook."""
from __future__ import annotations

import re


from forensics.db.schema import markdown

from conftest import ROOT

# conda-forge names that differ from PyPI's.
CONDA_NAMES = {"duckdb": "python-duckdb"}
# What conda brings that pip cannot: the Java Spark runs on (the spark extra).
CONDA_ONLY = {"openjdk": ">=17"}


def pyproject_deps() -> dict[str, str]:
    """name -> version spec, for dependencies and the test and spark extras."""
    text = (ROOT / "pyproject.toml").read_text()
    deps = {}
    for block in re.findall(r"(?:dependencies|test|spark) = \[(.*?)\]", text, re.S):
        for item in re.findall(r'"([^"]+)"', block):
            name, spec = re.match(r"([A-Za-z0-9_.-]+)(.*)", item).groups()
            deps[name.lower()] = spec
    return deps


def environment_deps() -> dict[str, str]:
    deps = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"\s+- ([A-Za-z0-9_.-]+)([<>=!].*)?$", line)
        if m and m.group(1) not in ("pip", "python", "conda-forge"):
            deps[m.group(1).lower()] = m.group(2) or ""
    return deps


def test_environment_matches_pyproject():
    py = pyproject_deps()
    env = environment_deps()
    expected = {CONDA_NAMES.get(name, name): spec for name, spec in py.items()} | CONDA_ONLY
    assert env == expected


def test_schema_doc_is_current():
    assert (ROOT / "docs" / "schema.md").read_text() == markdown()


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:sh|bash)\n(.*?)```", readme, re.S)
    main_job, test_suite = blocks[0].strip(), blocks[1].strip()
    assert "forensics ingest sample_logs" in main_job
    assert "pytest" in test_suite
    # Nothing but a title and one line come before the commands.
    assert readme.index("```") < 400
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_suite in ci


