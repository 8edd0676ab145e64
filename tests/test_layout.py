"""The package's shape: layers that import downward only, one vocabulary in the
API, the CLI and the README, and the format registry that `--as` forces."""
from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import forensics as fx
from forensics.cli import main
from forensics.ingest import READABLE, REGISTRY
from forensics.ingest.sniff import sniff

from conftest import ROOT, SAMPLES

PACKAGE = ROOT / "forensics"
PANIC = SAMPLES / "go1.27.3" / "default" / "panic-custom-error.txt"


@pytest.mark.parametrize("module, forbidden", [
    # A parser runs inside Spark executors and worker processes: no database, no analysis, no facade.
    ("forensics.parsers.dumps", {"duckdb", "forensics.db.store", "forensics.analysis", "forensics.incident",
                                 "forensics.ingest", "pandas", "scipy"}),
    ("forensics.parsers.logs", {"duckdb", "forensics.db.store", "forensics.incident", "forensics.ingest"}),
    ("forensics.db.schema", {"duckdb", "forensics.parsers", "forensics.ingest", "forensics.incident"}),
    ("forensics.ingest.registry", {"forensics.analysis", "forensics.incident", "scipy"}),
    ("forensics.analysis.timeline", {"forensics.incident", "forensics.report", "forensics.plots"}),
    ("forensics.report", {"forensics.incident", "forensics.cli"}),
    ("forensics.plots", {"forensics.incident", "forensics.report"}),
])
def test_each_layer_imports_alone_and_nothing_above_it(module, forbidden):
    """Importing a layer by itself works and loads nothing of the layers above it.
    (`import forensics.x` runs forensics/__init__, the facade: so the check is on what
    the layer's own modules pull in, measured with the package's face stubbed out.)"""
    code = ("import sys, types; pkg = types.ModuleType('forensics'); pkg.__path__ = [%r]; "
            "sys.modules['forensics'] = pkg; import %s; print('\\n'.join(sorted(sys.modules)))" % (str(PACKAGE), module))
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.split())
    assert module in loaded
    assert not {m for m in loaded if any(m == f or m.startswith(f + ".") for f in forbidden)}


def test_no_private_name_is_imported_across_modules():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("forensics")):
                offenders += [f"{path.relative_to(ROOT)}: {a.name}" for a in node.names
                              if a.name.startswith("_") and a.name != "__version__"]
    assert offenders == []


def test_no_module_is_over_about_600_lines_and_parsers_has_few_entries():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 620}
    assert long == {}
    entries = [p.name for p in (PACKAGE / "parsers").iterdir() if p.name != "__pycache__"]
    assert len(entries) <= 6, entries


def test_every_cli_command_has_help_and_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    shown = {name: cmd for name, cmd in main.commands.items() if not cmd.hidden}
    assert {"ingest", "panic-signatures", "goroutine-growth", "trace-tree", "top", "diff", "latency", "timeline",
            "correlate", "report", "sql", "slowest-traces"} <= set(shown)
    for name, cmd in shown.items():
        assert (cmd.help or "").strip(), name
        assert f"forensics {name}" in readme, name
        # The command is the Python method's name with dashes (sqlite-utils' rule).
        assert hasattr(fx.Incident, name.replace("-", "_")), name
    help_text = CliRunner().invoke(main, ["--help"]).output
    assert "goroutine-growth" in help_text and "  leaks " not in help_text and "  panics " not in help_text


def test_row_commands_share_format_and_limit():
    for name, cmd in main.commands.items():
        params = {p.name: p for p in cmd.params}
        if name == "stacks":  # buckets of frames, not rows: its own formats, HTML among them
            assert list(params["fmt"].type.choices) == ["table", "json", "md", "html"], name
        elif "fmt" in params:
            assert list(params["fmt"].type.choices) == ["table", "csv", "json", "md"], name
            assert "-n" in params["limit"].opts and "--limit" in params["limit"].opts, name
        assert "start" not in params and "end" not in params, name


def test_registry_order_and_names():
    names = [f.name for f in REGISTRY]
    assert names[0] == "empty" and names[-1] == "go_crash" and names.index("pprof") < names.index("binary")
    assert names.index("log") == len(names) - 2
    assert len(set(names)) == len(names)
    assert sniff(b"goroutine profile: total 1\n1 @ 0x1\n") == ("pprof_text", None)
    assert "go_crash" in READABLE and "empty" not in READABLE


def test_ingest_as_forces_a_format(tmp_path):
    """A crash printed between Go log lines sniffs as a log; --as go_crash reads it as crash output."""
    lines = [f"2026/03/14 11:{i // 60:02d}:{i % 60:02d} handled request {i}" for i in range(150)]
    crash = tmp_path / "crash.txt"
    crash.write_text("\n".join(lines) + "\n" + PANIC.read_text())
    assert sniff(crash.read_bytes())[0] == "log"
    runner = CliRunner()
    sniffed, forced = tmp_path / "sniffed.duckdb", tmp_path / "forced.duckdb"
    assert runner.invoke(main, ["ingest", str(crash), "--db", str(sniffed)]).exit_code == 0
    r = runner.invoke(main, ["ingest", "--as", "go_crash", str(crash), "--db", str(forced)])
    assert r.exit_code == 0, r.output
    query = "SELECT kind, (SELECT count(*) FROM panics), (SELECT count(*) FROM logs) FROM sources"
    kind, panics, logs = fx.open(sniffed).sql(query).fetchall()[0]
    assert (kind, panics) == ("log", 1) and logs >= 150  # the log lines, and the crash's own text around it
    assert fx.open(forced).sql(query).fetchall() == [("go_crash", 1, 0)]


def test_an_unknown_format_is_a_usage_error_listing_the_names(tmp_path):
    r = CliRunner().invoke(main, ["ingest", "--as", "nonesuch", str(PANIC), "--db", str(tmp_path / "x.duckdb")])
    assert r.exit_code == 2
    assert "nonesuch" in r.output and "go_crash" in r.output and "pprof_text" in r.output
    with pytest.raises(ValueError, match="the formats are: pprof, .*go_crash"):
        fx.open().ingest(PANIC, format="nonesuch")
    assert "go_crash" in CliRunner().invoke(main, ["ingest", "--help"]).output


def test_since_until_and_their_former_names(tmp_path):
    db = tmp_path / "i.duckdb"
    fx.open(db).ingest(PANIC, ts="2026-03-14T11:00:00Z").results[0]
    runner = CliRunner()
    new = runner.invoke(main, ["timeline", "--db", str(db), "--since", "2026-03-14T10:00:00Z", "--format", "json"])
    old = runner.invoke(main, ["timeline", "--db", str(db), "--from", "2026-03-14T10:00:00Z", "--format", "json"])
    assert new.exit_code == old.exit_code == 0 and new.output == old.output and json.loads(new.output)
    later = runner.invoke(main, ["timeline", "--db", str(db), "--since", "2026-03-14T12:00:00Z", "--format", "json"])
    assert json.loads(later.output) == []
    incident = fx.open(db)
    assert incident.timeline(since="2026-03-14T12:00:00Z").empty
    assert incident.timeline(start="2026-03-14T12:00:00Z").empty and not incident.timeline(end="2027-01-01").empty
