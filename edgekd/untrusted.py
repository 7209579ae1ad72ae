"""Text edgekd did not write itself, made safe for each place it is shown.

Tensor and op names inside a .tflite, file names, profile fields and every string in a
results.json come from files a user may have downloaded. Each output has its own way for
such text to become live: a terminal runs escape sequences and shows a newline as a new
line; C ends a comment at ``*/`` (and gcc's C11 mode turns ``??/`` into a backslash);
Markdown renders raw HTML and ends a table cell at ``|``; a spreadsheet runs a CSV cell that
starts with ``=`` as a formula. One function per output, each
keeping the text readable and only neutralising what that output would act on.
"""

from __future__ import annotations

import html
import re
import unicodedata

# Control characters (C0, DEL, C1), bidirectional and other format controls (which can make
# a line display differently from what it holds) and the Unicode line/paragraph separators.
_UNPRINTABLE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp"}


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def has_control_characters(text: str) -> bool:
    """True when ``text`` holds a character :func:`for_terminal` would escape (a newline, ESC, a bidi override...)."""
    return any(unicodedata.category(c) in _UNPRINTABLE_CATEGORIES for c in text)


def for_terminal(text: object) -> str:
    """``text`` on one line with no control, escape or format characters: each is shown as ``\\xNN``."""
    return "".join(_escape(c) if unicodedata.category(c) in _UNPRINTABLE_CATEGORIES else c for c in str(text))


def for_c_comment(text: object) -> str:
    """``text`` inside a ``/* ... */`` comment: ASCII only, and no ``*/``, ``/*`` or trigraph can form."""
    printable = for_terminal(text)
    ascii_only = "".join(c if ord(c) < 0x80 else _escape(c) for c in printable)
    # A space between '*' and '/' (either order) and between two '?' keeps the comment a comment.
    spaced = re.sub(r"\*(?=/)", "* ", ascii_only)
    spaced = re.sub(r"/(?=\*)", "/ ", spaced)
    return re.sub(r"\?(?=\?)", "? ", spaced)


def for_html(text: object) -> str:
    """``text`` inside HTML (an element or a quoted attribute): escaped, and no control, bidi or format character."""
    return html.escape(for_terminal(text), quote=True)


_MARKDOWN_SPECIALS = re.compile(r"([\\`\[\]|])")


def for_markdown(text: object) -> str:
    """``text`` as plain Markdown text (and a table cell): no raw HTML, code span, link or cell break."""
    escaped = html.escape(for_terminal(text), quote=False)
    return _MARKDOWN_SPECIALS.sub(r"\\\1", escaped)


def markdown_code(text: object) -> str:
    """``text`` as a Markdown code span whose fence no backtick inside it can close."""
    printable = for_terminal(text)
    longest = max((len(run) for run in re.findall(r"`+", printable)), default=0)
    fence = "`" * (longest + 1)
    padding = " " if printable.startswith("`") or printable.endswith("`") else ""
    return f"{fence}{padding}{printable}{padding}{fence}"


# A spreadsheet reads a cell that starts with one of these as a formula (=HYPERLINK(...) leaks data
# when clicked, =cmd|... ran programs in older Excel); OWASP's advice is a leading apostrophe.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def for_spreadsheet(value: object) -> object:
    """A CSV cell: numbers as they are; text without control characters, never read as a formula."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = str(value)
    if text.startswith(_FORMULA_STARTS):
        text = "'" + text
    return for_terminal(text)


def csv_text(fieldnames: list[str], rows) -> str:
    """Rows of mappings as CSV text (one ``\\n`` per line), every cell through :func:`for_spreadsheet`."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[for_spreadsheet(f) for f in fieldnames], lineterminator="\n")
    writer.writeheader()
    writer.writerows({for_spreadsheet(k): for_spreadsheet(v) for k, v in row.items()} for row in rows)
    return buffer.getvalue()
