"""What the Go runtime prints when it crashes or dumps goroutines.

Every pattern here is a named constant with the runtime code that prints it,
so the parser reads like the runtime's own output routines (Go 1.17 to 1.27);
plus the helpers that turn what was printed into stable crash signatures.
"""
from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta

# --- What the runtime prints (Go 1.17 to 1.27) ---------------------------

# runtime/panic.go printpanics: "panic: " value [" [recovered]"]; chained
# panics follow on tab-indented lines. Go 1.23+ prints a re-panic of the same
# value once, as " [recovered, repanicked]".
PANIC_PREFIX = "panic: "
CHAINED_PANIC_PREFIX = "\tpanic: "
PANIC_SUFFIX_RE = re.compile(r" \[recovered(, repanicked)?\]\Z")
# runtime/panic.go fatalthrow / fatalpanic: "fatal error: " message.
FATAL_PREFIX = "fatal error: "
# runtime/panic.go (printpanics' caller): "[signal " signame " code=" ... "]".
SIGNAL_LINE_RE = re.compile(r"\[signal (.+?) code=(\S+) addr=(\S+) pc=(\S+)\]\Z")
# runtime/signal_unix.go sighandler: "SIGQUIT: quit", then "PC=0x.. m=N sigcode=N".
SIGNAL_HEAD_RE = re.compile(r"(SIG[A-Z0-9]+|signal \d+): (.*)\Z")
SIGNAL_PC_RE = re.compile(r"PC=(0x[0-9a-f]+) m=(\S+) sigcode=(\S+)(?: addr=(0x[0-9a-f]+))?\Z")
# runtime/signal_<arch>.go dumpregs: "rax    0x0" (one register a line).
REGISTER_RE = re.compile(r"([a-z][a-z0-9]{0,6}) +(0x[0-9a-f]+)\Z")
# runtime/traceback.go goroutineheader: "goroutine N [status, N minutes, locked
# to thread]:"; Go 1.22+ adds " gp=0x.. m=N mp=0x.." (or " m=nil") at
# GOTRACEBACK=system or when the runtime is throwing.
# Numbers are bounded where the runtime's are (a goroutine id is an int64, a line an int32, an offset a
# uintptr): a longer run of digits is damage, an error row, never an overflow. A header's id is read
# whole, so that the scanner can say what is wrong with it (MAX_ID_DIGITS).
ID = r"\d{1,18}"
SMALL = r"\d{1,9}"
MAX_ID_DIGITS = 18
HEADER_RE = re.compile(r"goroutine (\d+)(?: gp=(0x[0-9a-f]+) m=(\d+|nil)(?: mp=0x[0-9a-f]+)?)? \[(.*)\]:\Z")
WAIT_RE = re.compile(rf"({SMALL}) minutes\Z")
# The same header anywhere in a line: Go evidence that must not pass in silence.
EVIDENCE_RE = re.compile(r"goroutine \d+ (?:gp=0x[0-9a-f]+ m=\S+ (?:mp=0x[0-9a-f]+ )?)?\[[^\]]*\]:")
# runtime/traceback.go traceback2 / printFuncName: "pkg.Func(args)", args "..."
# when inlined; then "\tfile:line +0xoff" with " fp=.. sp=.. pc=.." at level >= 2.
FILE_RE = re.compile(rf"\t(.+):({SMALL})(?: \+0x([0-9a-f]{{1,16}}))?(?: fp=0x[0-9a-f]+ sp=0x[0-9a-f]+(?: pc=0x[0-9a-f]+)?)?\Z")
# runtime/traceback.go printcreatedby1: "created by F" (Go 1.21+: " in goroutine N").
CREATED_PREFIX = "created by "
CREATED_RE = re.compile(r"created by (.+?)(?: in goroutine (\d+))?\Z")
# runtime/traceback.go: "...additional frames elided..." after 100 frames;
# Go 1.21+ prints the innermost and outermost 50 with "...N frames elided...".
ELIDED_RE = re.compile(rf"\.\.\.(?:({SMALL}) frames|additional frames) elided\.\.\.\Z")
# runtime/traceback.go tracebackothers.
STACK_UNAVAILABLE = "\tgoroutine running on other thread; stack unavailable"
# runtime/panic.go fatalthrow on the system stack.
RUNTIME_STACK = "runtime stack:"
# Lines the runtime prints just before a fatal error (runtime/stack.go newstack,
# runtime/signal_unix.go sigpanic): they belong to the dump that follows.
PREAMBLE_PREFIXES = ("runtime: ", "unexpected fault address ")
# Race reports (compiler-rt tsan_report.cpp, Go flavour): accesses, creation
# and allocation stacks, frames indented by 2 and files by 6 spaces.
RACE_BANNER = "=================="
RACE_START = "WARNING: DATA RACE"
# Go 1.1-1.4 printed "Read by goroutine N:" without the address.
RACE_ACCESS_RE = re.compile(rf"(Previous )?([A-Za-z ]+?)(?: at (0x[0-9a-f]+))? by (?:goroutine ({ID})|(main) goroutine):\Z")
RACE_CREATED_RE = re.compile(rf"Goroutine ({ID}) \((\w+)\) created at:\Z")
RACE_FILE_RE = re.compile(rf"\s+(.+):({SMALL})(?: \+0x([0-9a-f]{{1,16}}))?\Z")
# Timestamps at the start of a log line (Go's log package, RFC 3339 and other
# ISO 8601 forms) or in a logfmt/JSON field: the time a dump is given.
LOG_TS_RE = re.compile(
    r"(?:^|[\s\"{,](?:time|ts|timestamp|@timestamp)[=:]\"?)"
    r"(\d{4})[-/](\d\d)[-/](\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?(Z|[+-]\d\d:?\d\d)?"
)
# Prefixes log collectors put on every line of a container's output: the
# kubelet's CRI log files ("<RFC 3339 time> stderr F <line>", F for a full
# line, P for a part) and `kubectl logs --timestamps` / `docker logs -t`
# ("<RFC 3339 time> <line>"). Dumps are read with the prefix removed.
LINE_PREFIXES = (
    re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d) (?:stdout|stderr) [FP] "),
    re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d) "),
)
# Runtime diagnostics printed inside a stack (runtime/traceback.go
# printUnknownPC... "runtime: unknown pc 0x..", runtime/mgcmark.go
# "stack: frame={sp:..}", and runtime/print.go hexdumpWords' "00007f..:  0000..").
STACK_DIAGNOSTIC_RE = re.compile(r"runtime: |stack: frame=|[0-9a-f]{8,16}:  [0-9a-f]{8,16}(?:  |$)")
# A panic a library recovered and logged before its stack (or instead of it):
# net/http's conn.serve "http: panic serving ADDR: VALUE"; k8s.io/apimachinery
# runtime.HandleCrash's klog "Observed a panic: %#v (%v)" (newer releases log
# '"Observed a panic" panic="VALUE"'); controller-runtime's "Observed a panic
# in reconciler: VALUE"; logger wrappers' "caught panic: VALUE" and the like.
WRAPPED_PANIC_RE = re.compile(
    r"(?:http: panic serving \S+: |\bObserved a panic(?: in reconciler)?: |\"Observed a panic\" panic=\"((?:[^\"\\]|\\.)*)\""
    r"|\b(?i:caught panic|recovered from panic|panic recovered|recovered panic): )(.*)\Z"
)
# HandleCrash's value: '"nil pointer..." (runtime error: nil pointer...)' -> the (%v) part.
OBSERVED_VALUE_RE = re.compile(r"(?:\"(?:[^\"\\]|\\.)*\"|&?[\w.*]+\{[^()]*\}|\S+) \((.+)\)\Z")
# Callers HandleCrash printed before Go's own traceback was logged: bare
# "file:line" lines (klog may put ": " in front of each).
BARE_CALLER_RE = re.compile(r"[:\s]*((?:[A-Za-z]:)?/[^\s:]+\.\w+|<autogenerated>|\?):(\d+)\Z")
MAX_MESSAGE_LINES = 1000
TRIGGERS = (PANIC_PREFIX, FATAL_PREFIX, "SIG", "signal ", RACE_START, "goroutine ", RUNTIME_STACK) + PREAMBLE_PREFIXES

# Frames that are the runtime's panic/throw machinery rather than the code
# that failed; top_function skips them.
MACHINERY_PREFIXES = ("runtime.", "internal/runtime/", "runtime/internal/", "sync.fatal", "sync.throw")
CLOSURE_RE = re.compile(r"\.(func|gowrap)\d+")
# Variable parts of a message, one alternation so a placeholder is never re-matched.
NORMALIZE_RE = re.compile(
    r"(?P<hex>0x[0-9a-fA-F]+)|(?P<str>\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<uuid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})|(?P<num>\d+)"
)
_PLACEHOLDER = {"hex": "0x?", "str": '"…"', "uuid": "<uuid>", "num": "N"}


def is_machinery(function: str) -> bool:
    return function == "panic" or function.startswith(MACHINERY_PREFIXES)


def system_start(outermost: list[str]) -> bool:
    """runtime/traceback.go isSystemGoroutine: the start function is in package
    runtime, runtime.main excepted (runtime.goexit, printed at GOTRACEBACK=system,
    is the return address below it, not the start function)."""
    names = [f for f in outermost if f != "runtime.goexit"]
    return bool(names) and names[-1].startswith("runtime.") and names[-1] not in ("runtime.main", "runtime.handleAsyncEvent")


def line_prefix(lines: list[str]) -> re.Pattern | None:
    """The collector prefix on (nearly) every one of the first lines, if any."""
    sample = [line for line in lines[:200] if line]
    for pattern in LINE_PREFIXES:
        hits = sum(1 for line in sample if pattern.match(line))
        if sample and hits >= 0.9 * len(sample):
            return pattern
    return None


def strip_prefix(pattern: re.Pattern, lines: list[str]) -> list[str]:
    match = pattern.match
    return [line[m.end():] if (m := match(line)) else line for line in lines]


def normalize_message(message: str) -> str:
    """First line of a panic message with variable parts replaced.

    >>> normalize_message("runtime error: index out of range [5] with length 3")
    'runtime error: index out of range [N] with length N'
    >>> normalize_message("(main.Point) 0xc0000182e0")
    '(main.Point) 0x?'
    """
    return NORMALIZE_RE.sub(lambda m: _PLACEHOLDER[m.lastgroup], message.split("\n", 1)[0])


def signature(kind: str, normalized: str, functions: list[str]) -> str:
    """Stable id of a bug: same crash site and message shape, same signature."""
    tops = [CLOSURE_RE.sub(r".\1", f) for f in functions[:3]]
    key = "\x1f".join([kind, normalized, *tops])
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def log_timestamp(line: str) -> datetime | None:
    m = LOG_TS_RE.search(line)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    try:
        ts = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), int((frac or "0").ljust(6, "0")[:6]))
    except ValueError:
        return None
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        tz = tz[1:].replace(":", "")
        ts -= sign * timedelta(hours=int(tz[:2]), minutes=int(tz[2:]))
    return ts
