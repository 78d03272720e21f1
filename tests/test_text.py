"""gilfree._text: the terminal's width, wrapped prose, tables that drop columns to fit."""

import io

import pytest

from gilfree._text import DEFAULT_WIDTH, MIN_WIDTH, fit_table, shorten, terminal_width, wrap, wrap_lines

#: Run against every built wheel, on every OS (see the marker in pyproject.toml).
pytestmark = pytest.mark.portable

PROSE = ("The Cython kernel is 605x faster per element, and its threads reached 1.79x (90% of the "
         "ideal 2x) because it releases the GIL for its whole loop; c-extension and pure-python "
         "both ran, and the checksum 000ecd601686ca2a000000003e146995 matched.")


def longest(lines):
    return max(map(len, lines))


# --- width ----------------------------------------------------------------------------------------

def test_columns_decides_the_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "83")
    assert terminal_width() == 83
    assert terminal_width(io.StringIO()) == 83


def test_without_a_terminal_or_columns_the_width_is_fixed(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert terminal_width(io.StringIO()) == DEFAULT_WIDTH


@pytest.mark.parametrize("value", ["", "abc", "0", "-5"])
def test_a_columns_that_is_no_width_is_ignored(monkeypatch, value):
    monkeypatch.setenv("COLUMNS", value)
    assert terminal_width(io.StringIO()) == DEFAULT_WIDTH


def test_a_tiny_columns_is_raised_to_the_least_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "3")
    assert terminal_width() == MIN_WIDTH


def test_shorten():
    assert shorten("threads", 7) == "threads"
    assert shorten("processes", 6) == "proc.."
    assert len(shorten("processes", 2)) == 2
    assert shorten("processes", 0) == ""


# --- prose ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("width", [100, 80, 40, 20, 5, 1])
def test_wrapped_prose_fits_and_keeps_every_word(width):
    lines = wrap(PROSE, width)
    assert longest(lines) <= width
    assert "".join("".join(lines).split()) == "".join(PROSE.split())


def test_a_short_line_is_left_alone():
    line = "  arrived #1  task 1  [0, 27,777)  after    10.0 ms  -> 3,031 primes"
    assert wrap(line, 80) == [line]


def test_words_are_not_split_at_hyphens():
    lines = wrap(PROSE, 40)
    assert any("c-extension" in line for line in lines)
    assert any("pure-python" in line for line in lines)


def test_an_indented_line_continues_further_in():
    line = "  arrived #5  task 4  [583,333, 416,666)  after 41.6 ms  -> ValueError: range is reversed"
    lines = wrap(line, 60)
    assert len(lines) > 1 and lines[0].startswith("  arrived")
    assert all(later.startswith("    ") and not later.startswith("     ") for later in lines[1:])


@pytest.mark.parametrize("bullet", ["- ", "* ", "1. ", "12) "])
def test_a_bullet_continues_under_its_text(bullet):
    lines = wrap("  " + bullet + PROSE, 50)
    assert lines[0].startswith("  " + bullet)
    assert all(later.startswith(" " * (2 + len(bullet))) and later[2 + len(bullet)] != " "
               for later in lines[1:])


def test_a_hanging_indent_for_other_lines():
    lines = wrap(PROSE, 50, hang="  ")
    assert not lines[0].startswith(" ")
    assert all(later.startswith("  ") for later in lines[1:])


def test_wrap_lines_keeps_newlines_and_empty_lines():
    lines = wrap_lines(["first\n\nthird", PROSE], 60)
    assert lines[:3] == ["first", "", "third"]
    assert longest(lines) <= 60


# --- tables ---------------------------------------------------------------------------------------

HEAD = ("variant", "strategy", "workers", "ms", "speedup", "ns/elem", "arrival")
ROWS = [
    ("pure Python", "serial", "1", "40.7", "1.00x", "41.2", "0 1 2 3 4 5 6 7"),
    ("pure Python", "threads", "2", "41.1", "0.99x", "41.3", "1 0 3 2 5 4 7 6"),
    ("kernel holding the GIL", "threads", "2", "34.0", "0.98x", "0.0664", "0 1 2 3 4 5 6 7"),
]
RIGHT = ("workers", "ms", "speedup", "ns/elem")


def test_a_table_that_fits_is_whole_and_aligned():
    lines = fit_table(HEAD, ROWS, 200, right=RIGHT, drop=["arrival", "ns/elem"])
    assert lines[0].split() == ["variant", "strategy", "workers", "ms", "speedup", "ns/elem", "arrival"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert len(lines) == 2 + len(ROWS)  # no note
    ms = lines[0].index("ms") + 2
    assert {line[ms - 4:ms] for line in lines[2:]} == {"40.7", "41.1", "34.0"}  # numbers right-aligned


def test_columns_go_in_the_declared_order_and_a_note_names_them():
    full = longest(fit_table(HEAD, ROWS, 200, right=RIGHT))
    lines = fit_table(HEAD, ROWS, full - 1, right=RIGHT, drop=["arrival", "ns/elem", "workers"])
    assert "arrival" not in lines[0] and "ns/elem" in lines[0]
    assert lines[-1] == f"Left out to fit {full - 1} columns: arrival (--json shows every column)."
    assert longest(lines) <= full - 1


def test_the_note_names_every_dropped_column_in_order_and_is_wrapped():
    lines = fit_table(HEAD, ROWS, 40, right=RIGHT, drop=["arrival", "ns/elem", "workers"],
                      hint="see them with --json")
    assert longest(lines) <= 40
    note = " ".join(lines[2 + len(ROWS):])
    assert note.startswith("Left out to fit 40 columns: arrival, ns/elem, workers")
    assert note.endswith("(see them with --json).")


def test_text_cells_narrow_before_a_last_resort_column_goes():
    lines = fit_table(HEAD, ROWS, 44, right=RIGHT, drop=["arrival", "ns/elem", "workers"],
                      drop_last=["strategy"])
    assert longest(lines) <= 44
    assert "strategy" in lines[0]  # it tells the rows apart; the variant's text narrowed instead
    assert any(line.startswith("kernel holding") and ".. " in line for line in lines)


def test_a_last_resort_column_goes_when_narrowing_is_not_enough():
    lines = fit_table(HEAD, ROWS, 24, right=RIGHT, drop=["arrival", "ns/elem", "workers"],
                      drop_last=["strategy"])
    assert longest(lines) <= 24
    assert "strategy" not in lines[0] and "strategy" in " ".join(lines[-3:])


@pytest.mark.parametrize("width", [40, 20, 10, 1, 0, -3])
def test_narrow_widths_never_crash(width):
    lines = fit_table(HEAD, ROWS, width, right=RIGHT, drop=list(HEAD[1:]))
    assert lines and lines[0]


def test_an_empty_table_is_its_heading():
    assert fit_table(("variant", "ms"), [], 80) == ["variant  ms", "-------  --"]
