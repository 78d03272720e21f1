"""Lab step 3's words against hand-picked figures: no sentence may contradict the figure it states.

Each case builds the figure records the step's explanation takes (``OrderFigures``,
``ChunkFigures``, ``UnevenFigures``) by hand, renders them, and checks the words: every ratio says
what kind it is and what it is relative to, a gap is called "beyond the spread" exactly when it
is (the figures are parsed back out of the text), a cause is named only when its figure supports
it, and figures that do not tell the expected story end in the advice to repeat the run.

Step 3 runs processes only: its words never depend on the GIL, so a free-threaded build's figures
get the same words as any other (checked: no sentence mentions the GIL). There is no GIL-holding
control here either, so the "control that scales" case of the other steps has no counterpart.
"""

from __future__ import annotations

import re

import pytest

from _words import ratios, sentence_with, sentences
from gilfree.figures import noise_of, x
from gilfree.figures import Timed
from gilfree.lab.step3_map_variants import (ChunkFigures, OrderFigures, UnevenFigures, chunksize_words,
                                            order_words, uneven_words)

TIME_CLAUSE = re.compile(r"(\d[\d,]*\.\d+)x the time of [^,]+, (within|beyond) the (\d+)% spread")
SPEEDUP_CLAUSE = re.compile(r"speedup of (\d[\d,]*\.\d+)x against [^(]+\((within|beyond) the (\d+)% spread")
SPAN = re.compile(r"speedups of (\d[\d,]*\.\d+)x(?: to (\d[\d,]*\.\d+)x)? against serial")
CAUSES = ("chunksize decides", "falls behind", "fewer hand-offs", "too little to pay", "as it hands results over")
REPEAT = "repeat the run"


def t(milliseconds: float, spread: float = 0.03, repeats: int = 3) -> Timed:
    return Timed(milliseconds / 1000, spread=spread, repeats=repeats)


def judged_rightly(text: str, margin: float = 0.0) -> None:
    """Every "Rx the time of ..., within/beyond the N% spread" and "speedup of Rx against ... (within/beyond
    the N% spread" says "beyond" exactly when R is outside [1/(1+N), 1+N]. ``margin`` skips the clauses
    that rounding to the printed digits could flip (for figures of a real run)."""
    for pattern in (TIME_CLAUSE, SPEEDUP_CLAUSE):
        for value, word, percent in pattern.findall(text):
            r, n = float(value.replace(",", "")), int(percent) / 100
            if margin and min(abs(r - (1 + n)), abs(1 / r - (1 + n))) < margin:
                continue
            assert (r > 1 + n or r < 1 / (1 + n)) == (word == "beyond"), (value, word, percent, text)


def kinds_named(lines: list[str]) -> None:
    """Every sentence with a ratio says what kind it is; none mixes a speedup and a time ratio."""
    for s in sentences(lines):
        if ratios(s):
            assert "the time of" in s or "speedup" in s.lower(), s
            assert not ("the time of" in s and "speedup" in s.lower()), s
        assert "GIL" not in s, s


def check_all(lines: list[str], margin: float = 0.0) -> None:
    kinds_named(lines)
    judged_rightly(" ".join(lines), margin)


# -- the figures -----------------------------------------------------------------------------

def order(**changes: object) -> OrderFigures:
    base = dict(implementation="c-extension", tasks=16, overtaken=5,
                first={"map": t(40), "starmap": t(41), "imap": t(12), "imap_unordered": t(3)},
                imap_chunk=(3, t(15)), all_right=True)
    return OrderFigures(**{**base, **changes})  # type: ignore[arg-type]


def chunks(pure: tuple[Timed, Timed] = (t(400), t(60)), compiled: tuple[Timed, Timed] = (t(300), t(20)),
           small: int = 1, large: int = 1000) -> list[ChunkFigures]:
    return [ChunkFigures("pure-python", 2000, small, pure[0], large, pure[1]),
            ChunkFigures("c-extension", 2000, small, compiled[0], large, compiled[1])]


POOL_CLEAN = {f"{api} at chunksize {cs}": t(ms) for (api, cs), ms in {
    ("map", 1): 46, ("map", 3): 48, ("map", 8): 52, ("starmap", 1): 47, ("starmap", 3): 47, ("starmap", 8): 53,
    ("imap", 1): 45, ("imap", 3): 49, ("imap", 8): 51, ("imap_unordered", 1): 44, ("imap_unordered", 3): 47,
    ("imap_unordered", 8): 50}.items()}


def uneven(**changes: object) -> UnevenFigures:
    base = dict(implementation="c-extension", workers=2, cores=2, tasks=16, serial=t(84), map_one=t(46),
                starmap_one=t(47), split=(8, t(52)), pool=POOL_CLEAN)
    return UnevenFigures(**{**base, **changes})  # type: ignore[arg-type]


def everything(o: OrderFigures, c: list[ChunkFigures], u: UnevenFigures) -> list[str]:
    return [order_words(o), chunksize_words(c), uneven_words(u)]


def spans_cover(text: str, u: UnevenFigures) -> None:
    """The range of speedups against serial covers every Pool call, and no more."""
    found = SPAN.search(text)
    assert found, text
    low, high = found.group(1), found.group(2) or found.group(1)
    speedups = [u.serial.seconds / time.seconds for time in u.pool.values()]
    assert x(min(speedups)) == f"{low}x" and x(max(speedups)) == f"{high}x"


# -- (a) a clean 2-core run ------------------------------------------------------------------

def test_clean_two_core_run():
    u = uneven()
    lines = everything(order(), chunks(), u)
    check_all(lines)
    assert "5 of 16 results arrived after a later-submitted task's" in lines[0]
    first = sentence_with(lines, "The first result of imap_unordered")
    assert first is not None and f"{x(3 / 40)} the time of the whole list" in first and "beyond" in first
    assert "every variant equals the serial results" in lines[0]
    # Both implementations gained from larger chunks, beyond the noise: the cause is named, with its figures.
    assert lines[1].count("beyond the") == 2 and "chunksize decides" in lines[1]
    assert f"{x(400 / 60)} against chunksize 1" in lines[1] and f"{x(300 / 20)} against chunksize 1" in lines[1]
    cause = sentence_with(lines, "chunksize decides")
    assert cause is not None and "c-extension" in cause and "150 us" in cause and "10 us" in cause
    # One chunk per worker was slower than chunksize 1 beyond the noise: a worker falling behind.
    split = sentence_with(lines, "one chunk per worker")
    assert split is not None and f"{x(52 / 46)} the time of chunksize 1" in split and "falls behind" in split
    starmap = sentence_with(lines, "starmap call")
    assert starmap is not None and "within the 5% spread" in starmap and REPEAT not in starmap
    spans_cover(lines[2], u)
    best = sentence_with(lines, "the best")
    assert best is not None and f"{x(84 / 44)} against serial" in best
    assert "the best was imap_unordered at chunksize 1" in best
    assert "above the ideal" not in lines[2] and REPEAT not in " ".join(lines)


# -- (b) a busy machine: large spreads, no claim survives ---------------------------------------

def test_busy_machine_claims_nothing_beyond_its_spread():
    noisy = {name: Timed(time.seconds * 1.5, spread=0.45, repeats=3) for name, time in POOL_CLEAN.items()}
    u = uneven(serial=t(84, 0.45), map_one=t(46, 0.45), starmap_one=t(60, 0.45), split=(8, t(58, 0.45)),
               pool=noisy)
    o = order(first={"map": t(5, 0.5), "starmap": t(5, 0.5), "imap": t(4, 0.5), "imap_unordered": t(4, 0.5)})
    lines = everything(o, chunks(pure=(t(80, 0.6), t(60, 0.6)), compiled=(t(50, 0.5), t(40, 0.5))), u)
    check_all(lines)
    text = " ".join(lines)
    assert not re.search(r"beyond the \d+% spread", text)
    for cause in ("chunksize decides", "falls behind", "fewer hand-offs"):
        assert cause not in text
    first = sentence_with(lines, "The first result of imap_unordered")
    assert first is not None and "within the 50% spread" in first and "brought no result sooner" not in first
    assert "the repeats disagree too much to tell whether imap_unordered's first result came sooner" in first
    assert REPEAT in lines[0]
    assert "within the 60% spread" in lines[1] and REPEAT in lines[1]
    assert "within the 45% spread" in sentence_with(lines, "one chunk per worker")
    assert "within the 45% spread" in sentence_with(lines, "starmap call")
    spans_cover(lines[2], u)
    said = lines[2][lines[2].index("Against the serial loop"):]
    assert "No Pool call beat the serial loop by more than the spread" in said and REPEAT in said
    assert "although a task took 5.2 ms serially" in said
    assert "above the ideal" not in said and "too little to pay" not in said


# -- (c) a free-threaded build: the same figures, the same words, no GIL ------------------------

def test_free_threaded_figures_get_words_without_the_gil():
    lines = everything(order(), chunks(), uneven())
    check_all(lines)  # includes: no sentence mentions the GIL
    assert lines == everything(order(), chunks(), uneven())


# -- (e) processes slower than serial ----------------------------------------------------------

def test_pool_slower_than_serial_on_short_tasks_names_the_round_trip():
    slow = {name: t(4.0 + i * 0.2) for i, name in enumerate(POOL_CLEAN)}
    u = uneven(serial=t(2.0), map_one=t(4.0), starmap_one=t(4.2), split=(8, t(4.1)), pool=slow)
    lines = everything(order(), chunks(), u)
    check_all(lines)
    spans_cover(lines[2], u)
    said = sentence_with(lines, "Against the serial loop")
    assert said is not None and "every one was slower than the serial loop" in said
    assert "a task took 125 us serially, too little to pay" in said
    assert all(r < 1 for r in ratios(said)) and "best" not in said


def test_pool_slower_than_serial_on_long_tasks_is_not_explained_away():
    slow = {name: t(900 + i * 10) for i, name in enumerate(POOL_CLEAN)}
    u = uneven(serial=t(800), map_one=t(900), starmap_one=t(910), split=(8, t(920)), pool=slow)
    lines = everything(order(), chunks(), u)
    check_all(lines)
    said = lines[2][lines[2].index("Against the serial loop"):]
    assert "too little to pay" not in said and REPEAT in said and "50 ms serially" in said


# -- a chunksize that does not help ------------------------------------------------------------

def test_a_chunksize_that_does_not_help_is_called_noise():
    lines = everything(order(), chunks(pure=(t(61), t(60)), compiled=(t(20, 0.1), t(19, 0.1))), uneven())
    check_all(lines)
    assert "chunksize decides" not in lines[1]
    assert "within the 5% spread" in lines[1] and "within the 10% spread" in lines[1]
    assert "Larger chunks gained nothing beyond the spread of the repeats" in lines[1] and REPEAT in lines[1]


def test_a_chunksize_that_helps_one_twin_only_says_so_for_the_other():
    lines = everything(order(), chunks(pure=(t(61), t(60))), uneven())
    check_all(lines)
    assert "For c-extension a task cost" in lines[1]
    assert "For pure-python larger chunks gained nothing beyond the spread of the repeats" in lines[1]


def test_only_one_chunksize_run():
    one = [ChunkFigures("pure-python", 2, 1, t(1), 1, t(1))]
    assert chunksize_words(one) == ("2 tiny tasks through map ran at chunksize 1 alone: there was no larger chunk "
                                    "to try.")


# -- one repeat: no spread, no verdict ---------------------------------------------------------

def test_one_repeat_judges_no_gap():
    one = {name: Timed(time.seconds, spread=0.0, repeats=1) for name, time in POOL_CLEAN.items()}
    first = {api: Timed(time.seconds, spread=0.0, repeats=1) for api, time in order().first.items()}
    u = uneven(serial=t(84, 0.0, 1), map_one=t(46, 0.0, 1), starmap_one=t(60, 0.0, 1), split=(8, t(30, 0.0, 1)),
               pool=one)
    lines = everything(order(first=first), chunks(pure=(t(400, 0, 1), t(60, 0, 1)),
                                                   compiled=(t(300, 0, 1), t(20, 0, 1))), u)
    check_all(lines)
    text = " ".join(lines)
    assert "beyond" not in text and "within" not in text
    for cause in ("chunksize decides", "falls behind", "fewer hand-offs", "too little to pay"):
        assert cause not in text
    assert text.count("one repeat gives no spread") >= 4 and "Run with more repeats" in lines[1]


# -- figures that do not tell the expected story ----------------------------------------------

def test_speedup_above_the_ideal_is_called_out():
    fast = dict(POOL_CLEAN, **{"imap_unordered at chunksize 1": t(30)})
    u = uneven(serial=t(84), pool=fast)
    lines = everything(order(), chunks(), u)
    check_all(lines)
    above = sentence_with(lines, "above the ideal")
    assert above is not None and f"{x(84 / 30)} is above the ideal 2.00x" in above and "speedup" in above
    spans_cover(lines[2], u)


def test_one_chunk_per_worker_faster_names_fewer_hand_offs():
    lines = everything(order(), chunks(), uneven(split=(8, t(30))))
    check_all(lines)
    assert "16 tasks in 2 chunks take fewer hand-offs" in lines[2] and "falls behind" not in lines[2]


def test_one_chunk_per_worker_within_noise_names_no_cause():
    lines = everything(order(), chunks(), uneven(split=(8, t(47))))
    check_all(lines)
    split = sentence_with(lines, "one chunk per worker")
    assert split is not None and split.endswith("within the 5% spread of the repeats.")


def test_starmap_far_from_map_is_not_explained_by_unpacking():
    lines = everything(order(), chunks(), uneven(starmap_one=t(70)))
    check_all(lines)
    assert "more than unpacking a tuple can cost" in lines[2] and REPEAT in lines[2]


def test_whole_list_before_the_first_result_asks_for_a_repeat():
    o = order(first={"map": t(3), "starmap": t(3), "imap": t(12), "imap_unordered": t(40)})
    lines = everything(o, chunks(), uneven())
    check_all(lines)
    assert REPEAT in lines[0] and "brought no result sooner" not in lines[0]


def test_no_result_overtaken_says_so_and_names_no_cause():
    lines = everything(order(overtaken=0), chunks(), uneven())
    check_all(lines)
    assert "no result arrived after a later-submitted task's" in lines[0]
    assert "as it hands results over" not in lines[0]


def test_wrong_results_are_not_called_equal():
    line = order_words(order(all_right=False))
    assert "did NOT equal the serial results" in line and "every variant equals" not in line


@pytest.mark.parametrize("spread", [0.0, 0.02, 0.3])
def test_noise_floor_is_stated(spread):
    """The spread a verdict names is the worst of both, never under the floor of figures.noise_of."""
    u = uneven(map_one=t(46, spread), starmap_one=t(47, spread / 2))
    said = sentence_with([uneven_words(u)], "starmap call")
    assert said is not None and f"{noise_of(spread, spread / 2):.0%} spread" in said


# -- the step's own run: its words pass the same checks ----------------------------------------

def test_a_real_run_passes_the_same_checks(ran):
    from gilfree.lab import run_step

    result = run_step(3, "tiny", implementations=ran, repeats=2)
    check_all(result.explanation, margin=0.02)


# -- the ideal is capped at the cores; a gap within the spread cannot tell ----------------------

def test_the_ideal_is_the_core_count_when_workers_outnumber_the_cores():
    """gilfree lab --workers 4 on 2 cores: 3.03x against serial is above the ideal 2.00x, not below 4.00x."""
    fast = dict(POOL_CLEAN, **{"imap_unordered at chunksize 1": t(84 / 3.03)})
    u = uneven(workers=4, cores=2, pool=fast)
    assert u.ideal == 2
    lines = everything(order(), chunks(), u)
    check_all(lines)
    said = sentence_with(lines, "Against the serial loop")
    assert said is not None and "against serial on 4 workers (2 cores)" in said
    above = sentence_with(lines, "above the ideal")
    assert above is not None and "3.03x is above the ideal 2.00x" in above and "4.00x" not in lines[2]
    within = uneven(workers=4, cores=4, pool=fast)
    assert "above the ideal" not in uneven_words(within) and "(4 cores)" not in uneven_words(within)


def test_one_worker_writes_singulars():
    line = uneven_words(uneven(workers=1, cores=2, split=(16, t(30))))
    assert "on 1 worker;" in line and "16 tasks in 1 chunk take" in line and "1 workers" not in line


def test_one_repeat_above_the_ideal_is_called_out_without_a_cause():
    one = {name: Timed(time.seconds, spread=0.0, repeats=1) for name, time in POOL_CLEAN.items()}
    one["imap_unordered at chunksize 1"] = Timed(0.028, spread=0.0, repeats=1)
    line = uneven_words(uneven(serial=t(84, 0.0, 1), pool=one))
    line = line[line.index("Against the serial loop"):]
    assert "one repeat gives no spread to judge them by" in line
    assert "3.00x, is above the ideal 2.00x, and one repeat gives no spread to tell noise from a cache effect" in line
    assert "beyond" not in line and "cache effect (" not in line


def test_a_first_result_within_a_wide_spread_cannot_tell():
    """0.56x within a 96% spread: the run cannot tell, so it says so rather than "no sooner"."""
    o = order(first={"map": t(40, 0.96), "starmap": t(41), "imap": t(12), "imap_unordered": t(22.4, 0.96)})
    line = order_words(o)
    check_all([line])
    assert "0.56x the time of the whole list, within the 96% spread of the repeats" in line
    assert "the repeats disagree too much to tell whether imap_unordered's first result came sooner; " \
           "repeat the run." in line
    assert "no result sooner" not in line


def test_a_first_result_within_a_narrow_spread_came_no_sooner():
    o = order(first={"map": t(40, 0.02), "starmap": t(41), "imap": t(12), "imap_unordered": t(39, 0.02)})
    line = order_words(o)
    check_all([line])
    assert "within the 5% spread of the repeats: in this run imap_unordered brought no result sooner." in line
