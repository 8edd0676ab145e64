"""What people glue to a dump's lines when they paste it, and how it comes off.

Markdown fences, backticks, quotes, the terminal's echo of Ctrl-\\ (``^\\``),
shell prompts and ``exit status 2`` at a dump's first or last line; a
goroutine header joined to the line before it; the next dump's first line
glued to this one's last frame. A pass of :mod:`.restore`.
"""
from __future__ import annotations

import re

MAX_ANCHORED = 2000  # longer lines are not searched for anchors or glue (a frame line is far shorter)
# A source line of a frame, however it is indented (runtime/traceback.go
# printFuncName's caller: "\t" file ":" line [" +0x" off] [" fp=.. sp=.. pc=.."]).
FILE_LIKE = r"[^\s][^\n]*?:\d+(?: \+0x[0-9a-f]+)?(?: fp=0x[0-9a-f]+ sp=0x[0-9a-f]+(?: pc=0x[0-9a-f]+)?)?"
# A function line or a created-by line (the line a file line follows).
CALL_LIKE = r"(?:created by [^\n]+|[^\s\n][^\n]*\)(?: fp=0x[0-9a-f]+ sp=0x[0-9a-f]+)?)"
# What people glue to a dump's first or last line: Markdown fences, backticks,
# quotes, the terminal's echo of Ctrl-\ (^\), shell prompts after the last
# "+0x.." (bash "$ ", zsh "% ", "> ", "user@host:~$").
GLUED_START = re.compile(r"^(?:```\w*|`|\"|'|\^\\|> ?|\$ )+(?=goroutine \d+ |panic: |fatal error: |SIG[A-Z]+: |WARNING: DATA RACE)")
GLUED_END = re.compile(r"^((?:[ \t]+|(?=/|[A-Za-z]:[/\\]|\.\.?/|~|[\w.\-]+/))" + FILE_LIKE.replace(r"\+0x[0-9a-f]+", r"\+0x[0-9a-f]+?") + r")"
                        r"(?:`{1,3}|\"|'|\s*[$#%>]\s*|\s*\w[\w.-]*@[\w.-]+[^\n]*[$#%>]\s*|\s*exit status \d+)$")
GLUED_DUMP_MARK = re.compile(r":\d+(?: \+0x[0-9a-f]*)?(?:panic|fatal error): ")
GLUED_DUMP = re.compile(r"(\t[^\n]*?:\d+(?: \+0x[0-9a-f]*?)?)(?=panic: |fatal error: )")
GLUED_HEADER = re.compile(r"(?<=\S)\s*(goroutine \d+ (?:gp=0x[0-9a-f]+ m=\S+ (?:mp=0x[0-9a-f]+ )?)?\[[^\]]*\]:)$")
GLUE_MARKS = ("^\\", "`", "$", "exit status", "> ", "\"", "'", "#", "%")
GLUED_HEADER_MARK = re.compile(r"[^\n]goroutine \d+ [\[g]")


def unglue(lines: list[str]) -> tuple[list[str], list[int]] | None:
    """Cut what was glued to a dump's lines: fences, quotes, ^\\ and prompts
    at its ends, text before a goroutine header (the header gets its own line)."""
    out, numbers = [], []
    changed = False
    for i, line in enumerate(lines):
        new = line
        if len(new) > MAX_ANCHORED:
            out.append(new)
            numbers.append(i)
            continue
        if new and new[0] in "`\"'^>$":
            new = GLUED_START.sub("", new)
        if new.endswith("```") and new.strip("`"):
            new = new[:-3]  # a closing fence glued to the last line, whatever that line is
        elif new.startswith("```") and new.strip("`") and not GLUED_START.match(new):
            new = new[3:]  # an opening fence glued to text the runtime did not print first
        if new[-1:] in "`\"'$#%> s0123456789":
            m = GLUED_END.match(new)
            if m:
                new = m.group(1)
        if "goroutine " in new and not new.startswith("goroutine "):
            m = GLUED_HEADER.search(new)
            if m:
                out.append(new[: m.start()])
                numbers.append(i)
                new = m.group(1)
                changed = True
        if new[:1] == "\t" and ("panic: " in new or "fatal error: " in new):
            m = GLUED_DUMP.match(new)
            if m:  # the next dump's first line glued to this one's last frame
                out.append(m.group(1))
                numbers.append(i)
                new = new[m.end(1):]
                changed = True
        changed = changed or new != line
        out.append(new)
        numbers.append(i)
    return (out, numbers) if changed else None


def maybe_glued(probe: str) -> bool:
    """Whether a paste's text may hold glue (cheap literal checks before :func:`unglue`)."""
    return any(mark in probe for mark in GLUE_MARKS) or bool(GLUED_HEADER_MARK.search(probe)) or (
        ("panic: " in probe or "fatal error: " in probe) and bool(GLUED_DUMP_MARK.search(probe)))
