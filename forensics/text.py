"""Rendering untrusted text (panic messages, log lines, paths) safely."""
from __future__ import annotations

import re

# C0/C1 control characters except tab and newline, plus DEL: terminal escape
# sequences and carriage-return overwrites hide or forge output.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    r"""Replace control characters with visible escapes.

    >>> printable("boom\x1b[2J\r")
    'boom\\x1b[2J\\r'
    """
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def md_cell(value) -> str:
    """Text for a Markdown table cell: HTML special characters, pipes and
    newlines escaped, so untrusted text (panic messages, log lines) stays text."""
    if value is None or value != value:  # None or NaN
        return ""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", "<br>").replace("`", "\\`")
