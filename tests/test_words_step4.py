"""Lab step 4's words against hand-picked figures: no sentence may contradict the figure it states.

The issue's complaint about this step: one sentence mixed a speedup ("0.19x the serial loop") and
a time ratio. Here every sentence with a ratio says which kind it holds (a speedup against the
serial loop, or "Rx the time of" something), and none holds both; every gap is called "beyond the
spread" exactly when it is (parsed back out of the text); a cause ("because the first future
submitted is task 0", "too little to pay for sending it") is named only when its figure supports
it; and figures that do not tell the expected story end in the advice to repeat the run.

Step 4 runs processes only: its words never depend on the GIL (checked: no sentence mentions it),
so a free-threaded build's figures get the same words, and there is no GIL-holding control.
"""

from __future__ import annotations

import re

import pytest

from _words import percents, ratios, sentence_with, sentences
from gilfree.figures import x
from gilfree.figures import Timed
from gilfree.lab.step4_as_completed import (BatchFigures, FailureFigures, OrderFigures, batch_words, failure_words,
                                            order_words)

TIME_CLAUSE = re.compile(r"(\d[\d,]*\.\d+)x the time of [^,]+, (within|beyond) the (\d+)% spread")
REPEAT = "repeat the run"


def t(milliseconds: float, spread: float = 0.03, repeats: int = 5) -> Timed:
    return Timed(milliseconds / 1000, spread=spread, repeats=repeats)


def check_all(lines: list[str], margin: float = 0.0) -> None:
    """Every ratio's kind is named, none mixes the two kinds, every verdict fits its figures, no GIL."""
    for s in sentences(lines):
        if ratios(s):
            assert "the time of" in s or "speedup" in s.lower(), s
            assert not ("the time of" in s and "speedup" in s.lower()), s
        assert "GIL" not in s, s
    for value, word, percent in TIME_CLAUSE.findall(" ".join(lines)):
        r, n = float(value.replace(",", "")), int(percent) / 100
        if margin and min(abs(r - (1 + n)), abs(1 / r - (1 + n))) < margin:
            continue
        assert (r > 1 + n or r < 1 / (1 + n)) == (word == "beyond"), (value, word, percent)


def order(**changes: object) -> OrderFigures:
    base = dict(implementation="c-extension", workers=2, tasks=8, overtaken=3, completed_first=t(4),
                in_order_first=t(14), widest_first=True)
    return OrderFigures(**{**base, **changes})  # type: ignore[arg-type]


def batch(**changes: object) -> BatchFigures:
    base = dict(implementation="c-extension", workers=2, cores=2, tasks=8, serial=t(47), completed=t(27),
                in_order=t(26), largest_share=0.29)
    return BatchFigures(**{**base, **changes})  # type: ignore[arg-type]


def failure(**changes: object) -> FailureFigures:
    base = dict(task=4, error_type="ValueError", error="range is reversed: lo=9 > hi=3; pass lo <= hi", others=7,
                expected_others=7, total=65_791, expected_total=65_791)
    return FailureFigures(**{**base, **changes})  # type: ignore[arg-type]


def speedup_sentence(line: str) -> str:
    said = sentence_with([line], "Speedups against the serial loop")
    assert said is not None, line
    return said


def speedups_read_back(f: BatchFigures) -> None:
    """The speedups are against serial, each the figure it names; the cap is the tighter of the ideal (workers,
    at most one per core) and what the largest task allows, and the looser one is named as such."""
    said = speedup_sentence(batch_words(f))
    found = ratios(said)
    assert found[:2] == [float(x(f.serial.seconds / f.completed.seconds)[:-1]),
                         float(x(f.serial.seconds / f.in_order.seconds)[:-1])]
    ideal, by_task = min(f.workers, f.cores), 1 / f.largest_share
    assert found[2:] == [float(x(min(ideal, by_task))[:-1]), float(x(max(ideal, by_task))[:-1])]
    capped = re.search(r"caps? the speedup at ([\d.,]+)x", said)
    assert capped is not None and capped.group(1) == x(min(ideal, by_task))[:-1]
    binding = f"{f.workers} worker" if ideal <= by_task else "the largest task alone"
    assert said[:capped.start()].rstrip(", ").split("; ")[-1].startswith(binding), said
    assert "would allow" in said[capped.end():]
    assert percents(said) == [round(f.largest_share * 100)]


# -- (a) a clean 2-core run ------------------------------------------------------------------

def test_clean_two_core_run():
    lines = [order_words(order()), batch_words(batch()), failure_words(failure())]
    check_all(lines)
    assert "3 of 8 results were handled after a task submitted later than theirs" in lines[0]
    first = sentence_with(lines, "The first result")
    assert first is not None and f"{x(4 / 14)} the time of the first in submission order" in first
    assert "beyond the 5% spread" in first and "because the first future submitted is task 0, the widest" in first
    whole = sentence_with(lines, "The whole batch")
    assert whole is not None and f"{x(27 / 26)} the time of submission order" in whole
    assert "within the 5% spread" in whole and "not how long the batch takes" in whole
    speedups_read_back(batch())
    assert "Both beat the serial loop beyond the spread of the repeats" in lines[1]
    assert "above the ideal" not in lines[1] and REPEAT not in " ".join(lines)
    assert "the other 7 results still arrived and added up to 65,791" in lines[2]


def test_one_result_overtaken_is_singular():
    assert "1 of 8 results was handled" in order_words(order(overtaken=1))


# -- (b) a busy machine: large spreads, no claim survives ---------------------------------------

def test_busy_machine_claims_nothing_beyond_its_spread():
    f = batch(serial=t(47, 0.5), completed=t(35, 0.5), in_order=t(27, 0.5))
    lines = [order_words(order(completed_first=t(9, 0.6), in_order_first=t(14, 0.6))), batch_words(f)]
    check_all(lines)
    text = " ".join(lines)
    assert not re.search(r"beyond the \d+% spread", text) and "because" not in text
    assert "no result sooner" not in lines[0]
    assert "within the 60% spread of the repeats: the repeats disagree too much to tell whether it came sooner; " \
           "repeat the run." in lines[0]
    assert "within the 50% spread" in lines[1] and "Both beat" not in lines[1]
    assert "too much to tell whether the order of handling changed it" in lines[1]
    assert "not how long the batch takes" not in lines[1]
    speedups_read_back(f)
    assert "Neither beat the serial loop" in lines[1] and REPEAT in lines[1]


def test_a_batch_gap_beyond_the_noise_is_not_put_down_to_the_order_of_handling():
    lines = [batch_words(batch(completed=t(40), in_order=t(26)))]
    check_all(lines)
    whole = sentence_with(lines, "The whole batch")
    assert whole is not None and "beyond the 5% spread" in whole
    assert "not how long the batch takes" not in lines[0] and REPEAT in lines[0]


# -- (c) a free-threaded build: the same figures, the same words, no GIL ------------------------

def test_free_threaded_figures_get_words_without_the_gil():
    lines = [order_words(order()), batch_words(batch()), failure_words(failure())]
    check_all(lines)  # includes: no sentence mentions the GIL


# -- (e) processes slower than serial ----------------------------------------------------------

def test_processes_slower_than_serial_on_short_tasks_name_the_round_trip():
    f = batch(serial=t(0.2), completed=t(0.8), in_order=t(0.7), largest_share=0.34)
    lines = [batch_words(f)]
    check_all(lines)
    speedups_read_back(f)
    said = speedup_sentence(lines[0])
    assert all(r < 1 for r in ratios(said)[:2])
    assert "Both were slower than the serial loop beyond the spread of the repeats: a task took 25 us" in lines[0]
    assert "Both beat" not in lines[0]


def test_processes_slower_than_serial_on_long_tasks_ask_for_a_repeat():
    f = batch(serial=t(400), completed=t(600), in_order=t(610))
    lines = [batch_words(f)]
    check_all(lines)
    assert "too little to pay" not in lines[0] and REPEAT in lines[0] and "a task took 50 ms serially" in lines[0]


# -- figures that do not tell the expected story ----------------------------------------------

def test_a_speedup_above_the_cap_is_called_out():
    f = batch(serial=t(100), completed=t(52), in_order=t(51), largest_share=0.6)
    lines = [batch_words(f)]
    check_all(lines)
    speedups_read_back(f)
    above = sentence_with(lines, "above the ideal")
    assert above is not None and "speedup against serial" in above and f"above the ideal {x(1 / 0.6)}" in above


def test_first_result_within_noise_names_no_cause():
    lines = [order_words(order(completed_first=t(13.5), in_order_first=t(14)))]
    check_all(lines)
    assert "because" not in lines[0] and "brought no result sooner" in lines[0]


def test_first_result_later_with_as_completed_asks_for_a_repeat():
    lines = [order_words(order(completed_first=t(20), in_order_first=t(14)))]
    check_all(lines)
    assert "because" not in lines[0] and REPEAT in lines[0]


def test_first_result_sooner_when_task_0_is_not_the_widest():
    line = order_words(order(widest_first=False))
    assert "task 0, the widest" not in line and "was not the first to finish" in line


def test_no_result_overtaken_says_the_tasks_finished_in_order():
    line = order_words(order(overtaken=0))
    assert "no result was handled after a task submitted later than theirs" in line


def test_one_repeat_judges_no_gap():
    lines = [order_words(order(completed_first=t(4, 0, 1), in_order_first=t(14, 0, 1))),
             batch_words(batch(serial=t(47, 0, 1), completed=t(27, 0, 1), in_order=t(40, 0, 1)))]
    check_all(lines)
    text = " ".join(lines)
    assert "beyond" not in text and "within" not in text and "because" not in text and "Both beat" not in text
    assert text.count("one repeat gives no spread") == 2 and "One repeat gives no spread" in lines[1]


# -- the failing task ----------------------------------------------------------------------------

def test_lost_results_are_not_called_complete():
    line = failure_words(failure(others=5, total=50_000))
    assert "still arrived" not in line and "only 5 of the other 7 results arrived intact" in line
    assert "50,000" in line and "65,791" in line


def test_an_error_that_did_not_come_back_is_said():
    line = failure_words(failure(error_type=None, error=None))
    assert "no error came back" in line and "raised" not in line


@pytest.mark.parametrize("spread", [0.0, 0.1, 0.4])
def test_the_named_spread_is_the_worse_of_both(spread):
    said = sentence_with([batch_words(batch(completed=t(27, spread), in_order=t(26, spread / 4)))], "The whole batch")
    assert said is not None and f"the {max(5, round(spread * 100))}% spread" in said


# -- the step's own run: its words pass the same checks ----------------------------------------

def test_a_real_run_passes_the_same_checks(ran):
    from gilfree.lab import run_step

    result = run_step(4, "tiny", implementations=ran, repeats=2)
    check_all(result.explanation, margin=0.02)
    assert result.ok


# -- the ideal is capped at the cores, and the bound that binds is the one named -----------------

def test_more_workers_than_cores_cap_at_the_cores():
    """gilfree lab --workers 8 on 2 cores: the cap is 2.00x, and the tasks did not run 8 at once."""
    f = batch(workers=8, cores=2, largest_share=0.05, serial=t(47), completed=t(25), in_order=t(25))
    line = batch_words(f)
    check_all([line])
    speedups_read_back(f)
    assert "8 workers on 2 cores cap the speedup at 2.00x (the largest task alone, 5% of the serial work, would " \
           "allow 20x)" in line
    assert "8.00x" not in line and "8 worker processes at once" not in line
    assert "the tasks ran in 8 worker processes, 2 at a time on 2 cores" in line
    assert "With as_completed (c-extension, 8 workers)" in order_words(order(workers=8))


def test_the_workers_bind_before_the_largest_task():
    """The reviewer's case: 29% allows 3.45x, so the 2.00x comes from the 2 workers, and says so."""
    line = batch_words(batch())
    assert "2 workers cap the speedup at 2.00x (the largest task alone, 29% of the serial work, would allow " \
           "3.45x)" in line
    assert "which caps" not in line


def test_the_largest_task_binds_before_the_workers():
    f = batch(largest_share=0.6, serial=t(100), completed=t(70), in_order=t(71))
    line = batch_words(f)
    speedups_read_back(f)
    assert "the largest task alone, 60% of the serial work, caps the speedup at 1.67x (2 workers would allow " \
           "2.00x)" in line


def test_one_worker_names_no_parallel_cause():
    f = batch(workers=1, serial=t(47), completed=t(40), in_order=t(40))
    line = batch_words(f)
    check_all([line])
    speedups_read_back(f)
    assert "1 worker caps the speedup at 1.00x" in line and "1 workers" not in line
    assert "Both beat the serial loop beyond the spread of the repeats." in line and "ran in" not in line
    assert "is above the ideal 1.00x" in line
    assert "(c-extension, 1 worker)" in order_words(order(workers=1))


def test_a_first_result_within_a_narrow_spread_came_no_sooner():
    line = order_words(order(completed_first=t(13.8, 0.02), in_order_first=t(14, 0.02)))
    check_all([line])
    assert "within the 5% spread of the repeats: at this size as_completed brought no result sooner." in line


def test_the_reviewers_first_result_cannot_tell():
    """0.56x within a 96% spread: not 'no sooner', but 'cannot tell'."""
    line = order_words(order(completed_first=t(5.6, 0.96), in_order_first=t(10, 0.5)))
    check_all([line])
    assert "0.56x the time of the first in submission order, within the 96% spread of the repeats: the repeats " \
           "disagree too much to tell whether it came sooner; repeat the run." in line
