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


# What Markdown would read as HTML: a tag's start, an entity. Escaped with a
# backslash (CommonMark), not as entities, which paste literally into Slack,
# Confluence and Google Docs; "p < 0.001" stays as it is.
_MD_TAG = re.compile(r"<(?=[A-Za-z/!?])")
_MD_ENTITY = re.compile(r"&(?=#?\w+;)")
# What Markdown would read as emphasis or a link: `*` anywhere (Go's `(*T).M`),
# `_` at a word's edge (inside a word, snake_case, it is literal), `[` (a
# link or image, `![t](http://...)`, which would fetch on view).
_MD_EMPHASIS = re.compile(r"[*\[]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def md_cell(value) -> str:
    """Text for a Markdown table cell: tags and entities defused, emphasis
    and link syntax escaped, pipes and newlines escaped, so untrusted text
    (panic messages, log lines, Go's `(*T).M`) stays text.

    >>> md_cell("p < 0.001; <b>x</b> &amp; y")
    'p < 0.001; \\\\<b>x\\\\</b> \\\\&amp; y'
    >>> md_cell("\\\\<img> \\\\*x")  # its own backslashes stay text
    '\\\\\\\\\\\\<img> \\\\\\\\\\\\*x'
    >>> md_cell("v3.(*Client).Watch _x_ snake_case ![t](u)")
    'v3.(\\\\*Client).Watch \\\\_x\\\\_ snake_case !\\\\[t](u)'
    """
    if value is None or value != value:  # None or NaN
        return ""
    # A backslash first: one of the text's own would otherwise escape ours and free what follows.
    text = str(value).replace("\\", "\\\\")
    text = _MD_ENTITY.sub(r"\\&", _MD_TAG.sub(r"\\<", text))
    text = _MD_EMPHASIS.sub(lambda m: "\\" + m.group(), text)
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", "<br>").replace("`", "\\`")
