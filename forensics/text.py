"""Rendering untrusted text (panic messages, log lines, paths) safely.

Terminal escape sequences, carriage returns and other control characters
hide or forge output; bidi controls (U+202E and kin) reorder what a reader
sees, so a file name can read as another. Wherever such text is shown
(terminal, Markdown, HTML, figures) they become visible escapes: ``\\x1b``,
``\\u202e``; the tab and the newline stay, except in one-line fields
(:func:`terminal_safe`), where a newline would forge a line.
"""
from __future__ import annotations

import re

# C0/C1 control characters except tab and newline, plus DEL: terminal escape
# sequences and carriage-return overwrites hide or forge output.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Bidi controls: embeddings and overrides (U+202A-U+202E), isolates
# (U+2066-U+2069), the marks (U+200E, U+200F, U+061C).
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_UNSAFE = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{BIDI}]")
_UNSAFE_LINE = re.compile(f"[\\x00-\\x08\\x0a-\\x1f\\x7f-\\x9f{BIDI}]")


def _escape(m: re.Match) -> str:
    c = m.group()
    if c in BIDI:
        return f"\\u{ord(c):04x}"
    return repr(c)[1:-1]  # \r, \x1b, \x85 as Python writes them


def printable(text: str) -> str:
    r"""Replace control characters (but tab and newline) and bidi controls
    with visible escapes.

    >>> printable("boom\x1b[2J\r")
    'boom\\x1b[2J\\r'
    >>> printable("invoice_\u202egnp.exe\n")
    'invoice_\\u202egnp.exe\n'
    """
    return _UNSAFE.sub(_escape, text)


def terminal_safe(text) -> str:
    r"""One line of untrusted text (a path, a message) for a terminal:
    :func:`printable`, and a newline written as ``\n``, so it cannot forge
    a line of output.

    >>> print(terminal_safe("crash.log\nfailed: other.log \u202exyz"))
    crash.log\nfailed: other.log \u202exyz
    """
    return _UNSAFE_LINE.sub(lambda m: "\\n" if m.group() == "\n" else _escape(m),
                            "" if text is None else str(text))


# What Markdown would read as HTML: a tag's start, an entity. Escaped with a
# backslash (CommonMark), not as entities, which paste literally into Slack,
# Confluence and Google Docs; "p < 0.001" stays as it is.
_MD_TAG = re.compile(r"<(?=[A-Za-z/!?])")
_MD_ENTITY = re.compile(r"&(?=#?\w+;)")
# What Markdown would read as emphasis or a link: `*` anywhere (Go's `(*T).M`),
# `_` at a word's edge (inside a word, snake_case, it is literal), `[` (a
# link or image, `![t](http://...)`, which would fetch on view), `~`
# (GitHub's strikethrough), `$` (GitHub's math).
_MD_EMPHASIS = re.compile(r"[*\[~$]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
# A heading's closing sequence: `#`s at the end, after a space.
_MD_CLOSING = re.compile(r"(?:(?<=\s)|^)#(?=#*\s*$)")


def _md_inline(text: str) -> str:
    # A backslash first: one of the text's own would otherwise escape ours and free what follows.
    text = printable(text).replace("\\", "\\\\")
    text = _MD_ENTITY.sub(r"\\&", _MD_TAG.sub(r"\\<", text))
    text = _MD_EMPHASIS.sub(lambda m: "\\" + m.group(), text)
    return text.replace("`", "\\`")


def md_cell(value) -> str:
    """Text for a Markdown table cell: control and bidi characters made
    visible, tags and entities defused, emphasis, link and code syntax
    escaped, pipes and newlines escaped, so untrusted text (panic messages,
    log lines, Go's `(*T).M`) stays text.

    >>> md_cell("p < 0.001; <b>x</b> &amp; y")
    'p < 0.001; \\\\<b>x\\\\</b> \\\\&amp; y'
    >>> md_cell("\\\\<img> \\\\*x")  # its own backslashes stay text
    '\\\\\\\\\\\\<img> \\\\\\\\\\\\*x'
    >>> md_cell("v3.(*Client).Watch _x_ snake_case ![t](u)")
    'v3.(\\\\*Client).Watch \\\\_x\\\\_ snake_case !\\\\[t](u)'
    >>> md_cell("a\\x1bb\\u202ec")
    'a\\\\\\\\x1bb\\\\\\\\u202ec'
    """
    if value is None or value != value:  # None or NaN
        return ""
    return _md_inline(str(value)).replace("|", "\\|").replace("\r", " ").replace("\n", "<br>")


def md_text(value) -> str:
    r"""Untrusted text inside a Markdown sentence, list item or heading: as
    :func:`md_cell`, on one line (line breaks become spaces), pipes left as
    they are, a heading's closing `#`s escaped.

    >>> print(md_text("![t](http://example.invalid/t.png)\n<b>x</b> | y #"))
    !\[t](http://example.invalid/t.png) \<b>x\</b> | y \#
    """
    if value is None or value != value:
        return ""
    return _MD_CLOSING.sub(r"\\#", _md_inline(" ".join(str(value).splitlines())))


def _longest_run(text: str, char: str = "`") -> int:
    return max((len(m) for m in re.findall(f"{re.escape(char)}+", text)), default=0)


def md_code(value) -> str:
    """A Markdown code span of untrusted text, on one line: delimited by more
    backticks than any run inside it, so none ends it early; the text is
    shown as it is (control and bidi characters made visible).

    >>> print(md_code("a ``b`` c"), md_code("`x"), md_code("plain"))
    ```a ``b`` c``` `` `x `` `plain`
    """
    text = terminal_safe("" if value is None else value)
    if not text.strip():
        return text  # an empty span would be two backticks, shown as they are
    ticks = "`" * (_longest_run(text) + 1)
    # A space inside each delimiter when the text starts or ends with a backtick, or with spaces on both sides
    # (CommonMark strips one from each side then).
    pad = " " if "`" in (text[0], text[-1]) or (text[0] == " " and text[-1] == " ") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def md_fence(text: str) -> str:
    """A fenced Markdown code block of untrusted lines: its fence is longer
    than any backtick run inside, so no line can close it; control and bidi
    characters made visible.

    >>> print(md_fence("x\\n```\\ny"))
    ````
    x
    ```
    y
    ````
    """
    body = printable(text)
    fence = "`" * max(3, _longest_run(body) + 1)
    return f"{fence}\n{body}\n{fence}"
