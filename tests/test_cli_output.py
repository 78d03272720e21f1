"""A lab step as text: a heading that names what ran, prose wrapped, a table that fits the width."""

import pytest

from gilfree._load import MachineLoad, idle_machine
from gilfree.lab import Row, StepResult, format_result
from gilfree.lab._result import drop_order, format_table

ENV = {"python": "3.11.7", "gil_enabled": True, "usable_cores": 2, "implementation": "c-extension"}
COLUMNS = ("variant", "implementation", "strategy", "workers", "n", "ms", "cpu ms", "spread", "speedup",
           "ns/elem")
LONG = ("With 2 workers Pool.map ran pure-python 1.91x (95% efficiency); c-extension 1.63x (81% "
        "efficiency) against one worker: somewhat short of linear. The 8 tasks are independent and "
        "send back one integer each, so what is missing went to overhead.")


def row(variant, implementation, strategy, workers, ms, speedup, n=2_000_000):
    return Row(variant, implementation, strategy, workers, ms / 1000, spread=0.05, cpu_seconds=ms / 1000,
               speedup=speedup, extra={"n": n, "ns/elem": ms * 1e6 / n})


ROWS = [
    row("sum of squares", "pure-python", "serial", 1, 90.0, 1.0),
    row("sum of squares", "pure-python", "threads", 2, 91.0, 0.99),
    row("sum of squares", "pure-python", "processes", 2, 46.0, 1.96),
    row("sum of squares", "c-extension", "serial", 1, 6.0, 1.0, n=100_000_000),
    row("sum of squares", "c-extension", "threads", 2, 3.1, 1.94, n=100_000_000),
]


def result(rows=ROWS, machine=None, title="chunked processing: split, run in parallel, aggregate",
           explanation=(LONG, LONG), summary=("  kept 11,392 (57.0%): mean 0.818928, std 0.145211, "
                                             "min 0.500032, max 0.975000; checksum 0000007fe0fe3562",)):
    return StepResult(step=7, title=title, params={}, rows=list(rows), checks={"sums": True},
                      summary=list(summary), explanation=list(explanation), env=dict(ENV),
                      columns=COLUMNS, machine=machine or idle_machine(2).as_dict())


BUSY = MachineLoad(cores=2, seconds=3.0, others_cores=1.8, load_before=6.4, load_after=6.1,
                   worst_spread=0.29).as_dict()


@pytest.mark.parametrize("width", [200, 100, 80, 60, 40])
def test_no_line_is_longer_than_the_width(width):
    text = format_result(result(machine=BUSY), width)
    assert max(map(len, text.splitlines())) <= width


def test_the_heading_names_the_implementations_the_step_ran():
    text = format_result(result(), 200)
    assert text.splitlines()[0].endswith("(Python 3.11.7, GIL on, 2 cores; pure-python and c-extension)")
    only_pure = [r for r in ROWS if r.implementation == "pure-python"]
    head = format_result(result(rows=only_pure), 200).splitlines()[0]
    assert head.endswith("2 cores; pure-python)")
    assert "c-extension" not in head  # the process-wide implementation is not what this step ran


def test_a_heading_too_wide_splits_and_is_underlined_to_its_longest_line():
    lines = format_result(result(), 80).splitlines()
    assert lines[0] == "Step 7: chunked processing: split, run in parallel, aggregate"
    assert lines[1] == "(Python 3.11.7, GIL on, 2 cores; pure-python and c-extension)"
    assert lines[2] == "=" * max(len(lines[0]), len(lines[1]))


def test_the_busy_line_comes_first_and_is_wrapped():
    lines = format_result(result(machine=BUSY), 80).splitlines()
    underline = next(i for i, line in enumerate(lines) if set(line) == {"="})
    assert lines[underline + 1].startswith("Busy machine: other processes used 1.8 of its 2 cores")
    busy = " ".join(lines[underline + 1:lines.index("", underline)])
    assert busy == MachineLoad.from_dict(BUSY).line()
    assert "Busy machine" not in format_result(result(), 80)


def test_prose_is_wrapped_and_paragraphs_stay_apart():
    lines = format_result(result(), 80).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("With 2 workers"))
    end = lines.index("", start)
    assert end - start > 1  # wrapped
    assert " ".join(lines[start:end]) == LONG
    assert lines[end + 1].startswith("With 2 workers")  # the second paragraph, after a blank line


def test_summary_lines_keep_their_indent():
    lines = format_result(result(), 60).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  kept 11,392"))
    assert lines[start + 1].startswith("    ")


def test_the_table_drops_figures_first_and_names_them():
    lines = format_table(ROWS, COLUMNS, 80).splitlines()
    assert max(map(len, lines)) <= 80
    assert lines[0].split() == ["variant", "implementation", "strategy", "workers", "n", "ms", "speedup"]
    assert lines[-1].startswith("Left out to fit 80 columns: ns/elem, spread, cpu ms (")
    assert "--json" in lines[-1]
    assert "Left out" not in format_table(ROWS, COLUMNS, 200)


def test_the_columns_that_tell_rows_apart_go_last():
    figures_and_spare, telling = drop_order(ROWS, COLUMNS)
    assert figures_and_spare == ["ns/elem", "spread", "cpu ms", "n", "workers"]
    # workers is spare: strategy already tells 1 from 2 here; implementation and strategy are not
    assert telling == ["strategy", "implementation"]
    assert "variant" not in telling and "ms" not in telling and "speedup" not in telling


def test_a_narrow_table_shortens_the_variant_before_losing_what_tells_rows_apart():
    lines = format_table(ROWS, COLUMNS, 50).splitlines()
    assert max(map(len, lines)) <= 50
    assert lines[0].split() == ["variant", "implement..", "strategy", "ms", "speedup"]
    rows = [line.split()[:-2] for line in lines[2:2 + len(ROWS)]]  # without the figures
    assert len({tuple(r) for r in rows}) == len(ROWS)  # every row still tells which it is


def test_a_failed_check_is_named_and_wrapped():
    failed = result()
    failed.checks = {"sums: pure Python, threads": False, "sums: c-extension": True}
    failed.check_sentences = {"sums: pure Python, threads": "the pure-Python threads' sums equal the "
                              "closed form (n - 1) n (2n - 1) / 6 for every call"}
    lines = format_result(failed, 60).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Checks: 1 of 2 FAILED"))
    assert "closed form" in " ".join(lines[start:start + 3])
