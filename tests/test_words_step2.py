"""The words of lab step 2, from hand-picked figures: no sentence may contradict its own figure.

Each case is a set of figures a real run could print. Step 2 has no GIL-holding control; its
reference that should not win is ``Pool.map`` on one worker, which hands the loop's work to
another process: a case where it beats the loop plays the part of "a control that scales".
The checks parse the figures back out of the sentences (``tests/_words.py``).
"""

from __future__ import annotations

import re

import pytest

from _words import percents, ratios, sentence_with, sentences
from gilfree._load import NOISY_SPREAD
from gilfree.figures import beyond_noise, noise_of, x
from gilfree.lab.step1_gil import Timed
from gilfree.lab.step2_pool import Figures, Pooled, explain


def pooled(impl: str, loop: float, maps: dict[int, float], *, spread: float = 0.03,
           opened: float = 0.010, closed: float = 0.003, repeats: int | None = None) -> Pooled:
    """An implementation's figures: the loop's seconds, Pool.map's seconds by worker count."""
    return Pooled(impl, Timed(loop, loop, spread, repeats),
                  {w: Timed(s, 0.001, spread, repeats) for w, s in maps.items()},
                  {w: opened for w in maps}, {w: closed for w in maps})


def figures(*impls: Pooled, cores: int = 2) -> Figures:
    return Figures(cores, 8, "fork", impls)


CLEAN = (pooled("pure-python", 0.176, {1: 0.180, 2: 0.093}),
         pooled("c-extension", 0.0063, {1: 0.0066, 2: 0.0036}))

CASES = {
    "clean 2-core run": figures(*CLEAN),
    # Other processes on both cores: the repeats disagree by 30%, Pool(2) gains nothing beyond that.
    "busy machine": figures(pooled("pure-python", 0.095, {1: 0.103, 2: 0.096}, spread=0.30),
                            pooled("c-extension", 0.0063, {1: 0.0070, 2: 0.0103}, spread=0.30)),
    # Processes do not care whether the interpreter has a GIL: the same figures, the same words.
    "free-threaded build": figures(*CLEAN),
    # The one-worker pool beats the loop it hands the same work to: the reference misbehaves.
    "reference that wins": figures(pooled("pure-python", 0.200, {1: 0.150, 2: 0.080})),
    "reference that wins, beside a visible cost": figures(pooled("pure-python", 0.200, {1: 0.150, 2: 0.080}),
                                                          pooled("c-extension", 0.002, {1: 0.004, 2: 0.0021})),
    # Tiny tasks: a pool costs more than 2 workers gain.
    "processes slower than serial, explained": figures(pooled("pure-python", 0.010, {1: 0.030, 2: 0.018})),
    # Slower than the loop although the pool of one cost nothing: no reason to give.
    "processes slower than serial, unexplained": figures(pooled("pure-python", 0.100, {1: 0.100, 2: 0.140})),
    "above the ideal": figures(pooled("pure-python", 0.200, {1: 0.200, 2: 0.080})),
    "one core": figures(pooled("pure-python", 0.100, {1: 0.120, 2: 0.125}), cores=1),
    "more workers than cores": figures(pooled("pure-python", 0.200, {1: 0.200, 2: 0.105, 4: 0.104}), cores=2),
    "slow start-up": figures(pooled("c-extension", 0.002, {1: 0.0021, 2: 0.0012}, opened=0.030, closed=0.004)),
    # One repeat (the TINY parameters): no spread to judge any gap by, whatever the figures.
    "one repeat": figures(pooled("pure-python", 0.010, {1: 0.030, 2: 0.018}, spread=0.0, repeats=1),
                          pooled("c-extension", 0.200, {1: 0.200, 2: 0.080}, spread=0.0, repeats=1)),
    "one repeat, clean figures": figures(pooled("pure-python", 0.176, {1: 0.180, 2: 0.093}, spread=0.0, repeats=1)),
}

#: Words that judge a gap against the repeats' spread, or name a cause that rests on such a judgement.
JUDGED = ("linear", "% of the ideal", "beyond the repeats' spread", "by more than the repeats' spread",
          "costs little", "visible share", "outweighed", "cache effect or", "noise, not a real gain")


def known_ratios(f: Figures) -> set[str]:
    known = {x(f.ideal)}
    for p in f.pooled:
        for w in p.maps:
            known |= {x(p.vs_one(w)), x(p.vs_loop(w))}
        known.add(x(p.maps[1].seconds / p.serial.seconds))
        top = f.top
        known.add(x((p.opened[top] + p.closed[top]) / p.maps[top].seconds))
    return known


def check_no_contradiction(f: Figures, lines: list[str]) -> None:
    text = " ".join(lines)
    assert "GIL" not in text  # worker processes: the GIL is no cause here, whatever the build
    known = known_ratios(f)
    for value in ratios(text):
        assert any(float(k.rstrip("x").replace(",", "")) == pytest.approx(value) for k in known), (value, text)
    costs = {p.implementation: (p.maps[1].seconds / p.serial.seconds, noise_of(p.maps[1].spread, p.serial.spread))
             for p in f.pooled}
    for s in sentences(lines):
        if ratios(s):  # every ratio says what it is relative to
            assert any(word in s.lower() for word in ("against", "the time of", "the ideal", "the loop's time")), s
        for said, ideal in re.findall(r"(\d+)% of the ideal ([\d.]+)x", s):
            assert float(ideal) == pytest.approx(f.ideal)
            before = ratios(s[:s.index(f"{said}% of the ideal")])[-1]
            assert abs(int(said) - 100 * before / f.ideal) <= 1 and before <= f.ideal, s
            p = next(p for p in f.pooled if x(p.vs_one(f.top)) == x(before))
            assert beyond_noise(before, p.maps[1].spread, p.maps[f.top].spread), s
        if "linear" in s:
            assert "% of the ideal" in s, s
        if "costs little" in s:
            assert not any(beyond_noise(c, n) or n > NOISY_SPREAD for c, n in costs.values()), s
        if "visible share" in s or "outweighed" in s:
            assert any(beyond_noise(c, n) for c, n in costs.values()), s
        if any(word in s for word in JUDGED):  # a verdict needs a spread: more than one repeat
            assert all(t.repeats is None or t.repeats > 1 for p in f.pooled for t in (p.serial, *p.maps.values())), s


@pytest.mark.parametrize("case", sorted(CASES))
def test_no_sentence_contradicts_its_figures(case):
    f = CASES[case]
    lines = explain(f)
    assert len(lines) == 3
    check_no_contradiction(f, lines)


def test_clean_run_tells_the_expected_story():
    scaling, loop, startup = explain(CASES["clean 2-core run"])
    assert "1.94x for pure-python (97% of the ideal 2.00x: close to linear)" in scaling
    assert "1.83x for c-extension (92% of the ideal 2.00x: close to linear)" in scaling
    assert "1.02x the time of the loop for pure-python" in loop and "costs little" in loop
    assert "Against the in-process loop, Pool.map on 2 workers ran 1.89x for pure-python" in loop
    assert "10 ms" in startup and "3.0 ms" in startup and "'fork'" in startup
    assert not any("repeat the run" in line for line in (scaling, loop, startup))


def test_busy_machine_gives_no_scaling_words_and_says_to_repeat():
    scaling, loop, _ = explain(CASES["busy machine"])
    assert "linear" not in scaling and "% of the ideal" not in scaling
    assert "repeat the run" in scaling and "30%" in scaling
    assert "slower than Pool(1) by more than the repeats' spread (30%) for c-extension" in scaling
    assert "no faster than Pool(1) beyond the repeats' spread (30%) for pure-python" in scaling
    loop = explain(CASES["busy machine"])[1]
    assert "costs little" not in loop and "within repeats that disagreed by up to 30%" in loop


def test_free_threaded_build_reads_like_any_other():
    assert explain(CASES["free-threaded build"]) == explain(CASES["clean 2-core run"])


def test_a_reference_that_wins_is_not_explained():
    loop = explain(CASES["reference that wins"])[1]
    assert "beat the loop it hands the same work to" in loop and "repeat the run" in loop
    assert "costs little" not in loop and "visible share" not in loop
    both = explain(CASES["reference that wins, beside a visible cost"])[1]
    assert "visible share of the work for c-extension" in both and "beat the loop" in both
    assert "repeat the run" in both


def test_processes_slower_than_serial():
    explained = explain(CASES["processes slower than serial, explained"])[1]
    sentence = sentence_with([explained], "outweighed")
    assert sentence is not None and "3.00x the loop's time" in sentence and "(1.67x)" in sentence
    assert "repeat the run" not in explained
    unexplained = explain(CASES["processes slower than serial, unexplained"])[1]
    assert "outweighed" not in unexplained and "repeat the run" in unexplained
    assert "0.71x for pure-python" in unexplained


def test_a_gain_above_the_ideal_is_called_out():
    scaling = explain(CASES["above the ideal"])[0]
    assert "2.50x is above the ideal 2.00x" in scaling and "% of the ideal" not in scaling
    assert "linear" not in scaling


def test_one_core_and_more_workers_than_cores():
    scaling = explain(CASES["one core"])[0]
    assert "Only 1 core can run at once here, so 2 workers can reach 1.00x against 1 at best" in scaling
    assert "repeat the run" not in scaling and "% of the ideal" not in scaling
    loop = explain(CASES["one core"])[1]
    assert "outweighed" in loop  # with one core nothing is gained: the pool's cost is the whole story
    more = explain(CASES["more workers than cores"])[0]
    assert "4 workers ran 1.92x" in more and "96% of the ideal 2.00x" in more and "Only 2 cores" in more


def test_start_up_against_one_map():
    startup = explain(CASES["slow start-up"])[2]
    assert "a fresh pool for each map would add 28x the time of one c-extension Pool.map" in startup
    assert "keep one pool open" in startup
    assert percents(startup) == []


def test_one_repeat_judges_no_gap_and_names_no_cause():
    for case in ("one repeat", "one repeat, clean figures"):
        scaling, loop, startup = explain(CASES[case])
        text = " ".join((scaling, loop))
        for word in JUDGED + ("within",):
            assert word not in text, (word, text)
        assert "One repeat gives no spread to judge them by; repeat the run with more repeats." in scaling
        assert loop.endswith("One repeat gives no spread to judge them by; repeat the run with more repeats.")
    scaling, loop, _ = explain(CASES["one repeat"])
    assert "2.50x is above the ideal 2.00x, and one repeat gives no spread to tell noise from a cache effect" in scaling
    assert "3.00x the time of the loop for pure-python" in loop and "0.56x for pure-python" in loop
