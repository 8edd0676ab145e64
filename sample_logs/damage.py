"""What the tools that carry crash text do to it, as named transformations.

Each transformation is named after the tool whose damage it is. Where the tool
is on this machine (moreutils' ``ts``, coreutils' ``nl``,
``expand``, ``fold``, GNU ``grep`` and ``sed``), :func:`run_tool` runs it;
``mimic`` is a pure-Python twin used where the tool is absent and inside the
property tests (Hypothesis combines them), and it is checked against the tool
wherever both exist (tests/test_damage.py). Transformations without a tool
here (docker compose's service prefix, journald, klog, GitHub Actions' log
view, logrus' text formatter, Markdown fences, a shell prompt) exist only as
mimics, named after what they imitate.

``python sample_logs/generate_damaged.py`` writes every transformation of
the real crash outputs under ``sample_logs/damaged/``.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Damage:
    name: str
    what: str
    mimic: Callable[[bytes], bytes]
    command: tuple[str, ...] | None = None  # the real tool, when it exists
    env: dict | None = None
    only: str | None = None  # a regex on the sample name this damage applies to


def _lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def _join(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def _prefix(make: Callable[[int], bytes], blank: Callable[[int], bytes] | None = None):
    def apply(data: bytes) -> bytes:
        return _join([(blank(i) if blank and not line else make(i) + line) for i, line in enumerate(_lines(data))])
    return apply


def _expand(width: int):
    def apply(data: bytes) -> bytes:
        return _join([line.decode("utf-8", "replace").expandtabs(width).encode() for line in _lines(data)])
    return apply


def _fold(width: int):
    """coreutils fold -w: cut every line at `width` columns (a tab advances to the next multiple of 8)."""
    def apply(data: bytes) -> bytes:
        out = []
        for line in _lines(data):
            text = line.decode("utf-8", "replace")
            cur, col = "", 0
            for ch in text:
                step = 8 - col % 8 if ch == "\t" else 1
                if col + step > width:
                    out.append(cur.encode())
                    cur, col = "", 0
                    step = 8 if ch == "\t" else 1
                cur += ch
                col += step
            out.append(cur.encode())
        return _join(out)
    return apply


def _nl(data: bytes) -> bytes:
    return _join([b"%6d\t" % (i + 1) + line for i, line in enumerate(_lines(data))])


def _grep_b(data: bytes) -> bytes:
    out, offset = [], 0
    for line in _lines(data):
        out.append(b"%d:" % offset + line)
        offset += len(line) + 1
    return _join(out)


def _logrus(data: bytes) -> bytes:
    """logrus' TextFormatter: msg quoted with strconv.Quote's escapes."""
    out = []
    for i, line in enumerate(_lines(data)):
        quoted = json.dumps(line.decode("utf-8", "replace"), ensure_ascii=False).encode()
        out.append(b'time="2026-03-14T10:00:%02dZ" level=error msg=%s' % (i % 60, quoted))
    return _join(out)


def _fenced(data: bytes) -> bytes:
    """A Markdown fence glued to the first and last lines of text (a paste into a tracker)."""
    lines = _lines(data)
    text = [i for i, line in enumerate(lines) if line.strip()]
    if text:
        lines[text[0]] = b"```" + lines[text[0]]
        lines[text[-1]] = lines[text[-1]] + b"```"
    return _join(lines)


def _go_run(data: bytes) -> bytes:
    """What `go run` and a shell add after a crash: exit status, then the prompt."""
    return data + b"exit status 2\nuser@build-7:~/src/orders$ \n"


def _terminal_echo(data: bytes) -> bytes:
    """The terminal's echo of Ctrl-\\ in front of SIGQUIT's header."""
    return data.replace(b"\nSIGQUIT: quit", b"\n^\\SIGQUIT: quit", 1) if not data.startswith(b"SIGQUIT") else b"^\\" + data


def _github_actions(data: bytes) -> bytes:
    """GitHub Actions' raw log: RFC 3339 times with 7 fractional digits; blank lines keep the time."""
    return _join([b"2026-03-14T10:00:%02d.%07dZ " % (i // 1000 % 60, i * 104729 % 10_000_000) + line
                  for i, line in enumerate(_lines(data))])


def _github_actions_cut(data: bytes) -> bytes:
    """A copy from GitHub Actions' log view that starts mid-time: the first line of text cut mid-number."""
    out = _github_actions(data)
    return out[17:]


def _crlf(data: bytes) -> bytes:
    return _join([line + b"\r" for line in _lines(data)])


def _sed_blank(data: bytes) -> bytes:
    return _join([line for line in _lines(data) if line])


def _sed_double(data: bytes) -> bytes:
    return b"".join(line + b"\n\n" for line in _lines(data))


def _ts(data: bytes) -> bytes:
    return _join([b"2026-03-14T10:00:00.%06dZ " % i + line for i, line in enumerate(_lines(data))])


def _ts_elapsed(data: bytes) -> bytes:
    return _join([b"[00:00:%02d] " % (i // 50 % 60) + line for i, line in enumerate(_lines(data))])


DAMAGES = (
    Damage("ts", "moreutils ts: an RFC 3339 time on every line (kubectl logs --timestamps, docker logs -t)",
           _ts, ("ts", "%Y-%m-%dT%H:%M:%.SZ"), {"TZ": "UTC"}),
    Damage("appveyor", "moreutils ts -s: elapsed [HH:MM:SS] on every line, as AppVeyor's console shows",
           _ts_elapsed, ("ts", "-s", "[%H:%M:%S]")),
    Damage("github-actions", "GitHub Actions' raw log: RFC 3339 with 7 fractional digits", _github_actions),
    Damage("github-actions-cut", "the same, the copy starting mid-time ('0.0209458Z ...')", _github_actions_cut),
    Damage("nl", "nl -ba: line numbers and a tab", _nl, ("nl", "-ba")),
    Damage("grep-n", "grep -n '': line numbers and a colon",
           _prefix(lambda i: b"%d:" % (i + 1)), ("grep", "-n", "")),
    Damage("grep-b", "grep -b '': byte offsets and a colon", _grep_b, ("grep", "-b", "")),
    Damage("expand", "expand: tabs as 8 spaces (browsers, editors, terminals)", _expand(8), ("expand",)),
    Damage("expand-4", "expand -t 4: tabs as 4 spaces", _expand(4), ("expand", "-t", "4")),
    Damage("expand-2", "expand -t 2: tabs as 2 spaces", _expand(2), ("expand", "-t", "2")),
    Damage("markdown-indent", "sed: the paste indented by 4 spaces (a Markdown code block)",
           _prefix(lambda i: b"    ", lambda i: b""), ("sed", "s/^\\(.\\)/    \\1/")),
    Damage("markdown-quote", "sed: a Markdown quote '> ' on every line ('>' on blank ones)",
           _prefix(lambda i: b"> ", lambda i: b">"), ("sed", "s/^/> /; s/^> $/>/")),
    Damage("docker-compose", "docker compose's service prefix 'orders-1  | '",
           _prefix(lambda i: b"orders-1  | ")),
    Damage("journald", "journald/syslog 'Mar 14 10:00:00 host orders[4242]: '",
           _prefix(lambda i: b"Mar 14 10:00:%02d node-7 orders[4242]: " % (i // 20 % 60))),
    Damage("journald-de", "journald in a German locale: 'Mär 14 10:00:00 knoten-7 orders[4242]: '",
           _prefix(lambda i: "Mär 14 10:00:%02d knoten-7 orders[4242]: ".encode() % (i // 20 % 60))),
    Damage("klog", "klog's header 'E0314 10:00:00.123456    4242 crash.go:78] ' on every line",
           _prefix(lambda i: b"E0314 10:00:00.%06d    4242 crash.go:78] " % i)),
    Damage("zap-console", "zap's console encoder: time, level and logger before each line, tab-separated",
           _prefix(lambda i: b"2026-03-14T10:00:%02d.123Z\tERROR\torders.crash\t" % (i // 20 % 60))),
    Damage("logrus", "logrus' text formatter: each line a quoted msg field", _logrus),
    Damage("crlf", "sed: CRLF line ends (a Windows editor or console)", _crlf, ("sed", "s/$/\\r/")),
    Damage("no-blank-lines", "sed '/^$/d': blank lines dropped (journald, log shippers)", _sed_blank, ("sed", "/^$/d")),
    Damage("double-spaced", "sed G: a blank line after every line", _sed_double, ("sed", "G")),
    Damage("fold-80", "fold -w 80: hard-wrapped at 80 columns (a console's copy)", _fold(80), ("fold", "-w", "80")),
    Damage("markdown-fence", "a Markdown fence glued to the first and last lines", _fenced),
    Damage("go-run", "go run's 'exit status 2' and a shell prompt after the dump", _go_run),
    Damage("terminal-echo", "the terminal's '^\\' echo of Ctrl-\\ glued to 'SIGQUIT: quit'", _terminal_echo,
           only="sigquit"),
)
BY_NAME = {d.name: d for d in DAMAGES}


def run_tool(damage: Damage, data: bytes) -> tuple[bytes, str]:
    """The damaged bytes, and what made them: the tool's command line, or 'mimic'."""
    if damage.command and shutil.which(damage.command[0]):
        import os
        env = {**os.environ, **(damage.env or {})}
        out = subprocess.run(damage.command, input=data, capture_output=True, env=env, check=True).stdout
        return out, " ".join(damage.command)
    return damage.mimic(data), "mimic"


def applies(damage: Damage, sample: str) -> bool:
    return damage.only is None or re.search(damage.only, sample) is not None
