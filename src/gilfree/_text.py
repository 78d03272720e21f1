"""Plain text that fits a terminal: its width, wrapped prose, tables that drop columns to fit.

The command line prints through these three pieces so that nothing it writes is wider than the
terminal (or than ``COLUMNS``). Plain text on purpose: the output reads the same in a terminal,
a pipe, a log file and a test, and no dependency is needed for it.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import textwrap
from collections.abc import Collection, Sequence
from typing import TextIO

__all__ = ["DEFAULT_WIDTH", "MIN_WIDTH", "fit_table", "shorten", "terminal_width", "wrap", "wrap_lines"]

#: The width when the output is not a terminal and ``COLUMNS`` is unset (a pipe, a file, a test).
DEFAULT_WIDTH = 100
#: Narrower than this, text is laid out for this width anyway (lines cannot shrink without end).
MIN_WIDTH = 20

# "- item", "* item", "1. item", "2) item": continuation lines align with the item's text.
_BULLET = re.compile(r"^(?P<indent>\s*)(?P<bullet>(?:[-*\u2022]|\d+[.)])\s+)?")


def terminal_width(stream: TextIO | None = None) -> int:
    """How many columns ``stream`` (default: stdout) may use.

    ``COLUMNS`` first, as :func:`shutil.get_terminal_size` reads it; then the size of the
    terminal ``stream`` is attached to; when it is not a terminal, :data:`DEFAULT_WIDTH`.
    Never less than :data:`MIN_WIDTH`.
    """
    stream = sys.stdout if stream is None else stream
    if os.environ.get("COLUMNS", "").strip().isdigit() and int(os.environ["COLUMNS"]) > 0:
        return max(MIN_WIDTH, shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns)
    try:
        if stream is not None and stream.isatty():
            return max(MIN_WIDTH, os.get_terminal_size(stream.fileno()).columns)
    except (AttributeError, OSError, ValueError):  # closed, replaced by a test, no file number
        pass
    return DEFAULT_WIDTH


def shorten(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` characters, ending in ``..`` when it was cut."""
    if len(text) <= width:
        return text
    return text[:max(0, width - 2)] + ".." if width > 2 else text[:max(0, width)]


def wrap(line: str, width: int, hang: str = "") -> list[str]:
    """One line of prose as lines of at most ``width`` characters.

    The line's indentation is kept; the lines that continue a bullet (``- ``, ``* ``, ``1. ``)
    align with its text, those that continue an indented line are indented two more spaces, and
    those that continue any other line start with ``hang``. Words are never split at hyphens
    ("c-extension" stays whole); a word longer than the width is cut, so no line is longer.
    """
    width = max(1, width)
    if len(line) <= width:
        return [line]
    found = _BULLET.match(line)
    indent, bullet = (found.group("indent"), found.group("bullet") or "") if found else ("", "")
    if bullet:
        follow = " " * (len(indent) + len(bullet))
    else:
        follow = indent + "  " if indent else hang
    first = indent + bullet
    # A hanging indent eats at most half the width, so that a narrow terminal still shows text.
    first, follow = first[:width // 2], follow[:width // 2]
    wrapper = textwrap.TextWrapper(width=width, initial_indent=first, subsequent_indent=follow,
                                   break_on_hyphens=False, break_long_words=True)
    return wrapper.wrap(line[len(indent) + len(bullet):]) or [line[:width]]


def wrap_lines(lines: Sequence[str], width: int, hang: str = "") -> list[str]:
    """Every line of ``lines`` (each may hold newlines) through :func:`wrap`."""
    out: list[str] = []
    for text in lines:
        for line in text.split("\n"):
            out += wrap(line, width, hang)
    return out


def fit_table(columns: Sequence[str], rows: Sequence[Sequence[str]], width: int, *,
              right: Collection[str] = (), drop: Sequence[str] = (), drop_last: Sequence[str] = (),
              hint: str = "--json shows every column") -> list[str]:
    """An aligned table of at most ``width`` characters a line, with a note when columns went.

    ``columns`` are the headings, ``rows`` the cells as text, ``right`` the columns aligned right
    (numbers). While the table is wider than ``width``, the columns named in ``drop`` go, in that
    order (least important first); the table is then followed by one note naming them, and
    ``hint`` (how to see them). If the columns that are left are still too wide, the widest
    left-aligned cells are shortened (ending in ``..``), down to 6 characters; then, as a last
    resort, the columns named in ``drop_last`` go too. However narrow the width, this returns a
    table: one that fits whenever the columns it may not drop fit.
    """
    width = max(1, width)
    cells = [[str(c) for c in row] for row in rows]
    full = {c: max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)}
    kept = list(columns)
    dropped: list[str] = []
    widths = full
    for order in (drop, drop_last):  # drop_last only once the text columns are as narrow as they go
        for name in order:
            widths = _shrink_text_columns(kept, full, width, right) if order is drop_last else full
            if _table_width(kept, widths) <= width:
                break
            if name in kept and len(kept) > 1:
                kept.remove(name)
                dropped.append(name)
    widths = _shrink_text_columns(kept, full, width, right)
    index = {c: i for i, c in enumerate(columns)}

    def line(values: dict[str, str]) -> str:
        parts = []
        for c in kept:
            v = shorten(values[c], widths[c])
            parts.append(v.rjust(widths[c]) if c in right else v.ljust(widths[c]))
        return "  ".join(parts).rstrip()

    out = [line({c: c for c in kept}), line({c: "-" * widths[c] for c in kept})]
    out += [line({c: row[index[c]] for c in kept}) for row in cells]
    if dropped:
        note = f"Left out to fit {width} columns: {', '.join(dropped)}" + (f" ({hint})." if hint else ".")
        out += wrap(note, width)
    return out


def _table_width(kept: Sequence[str], widths: dict[str, int]) -> int:
    return sum(widths[c] for c in kept) + 2 * max(0, len(kept) - 1)


def _shrink_text_columns(kept: Sequence[str], full: dict[str, int], width: int,
                         right: Collection[str]) -> dict[str, int]:
    """The widths of ``kept`` with the widest text columns narrowed, to 6 characters at least,
    until the table fits (or no text column can narrow further)."""
    floor = 6
    widths = {c: full[c] for c in kept}
    while (excess := _table_width(kept, widths) - width) > 0:
        text = [c for c in kept if c not in right and widths[c] > floor]
        if not text:
            break
        widest = max(text, key=lambda c: widths[c])
        others = [widths[c] for c in text if c != widest]
        # Down to the next widest text column (or the floor), but no further than needed.
        target = max(floor, max(others, default=floor), widths[widest] - excess)
        widths[widest] = target if target < widths[widest] else widths[widest] - 1
    return widths
