"""The words of lab step 1, from hand-picked figures: no sentence may contradict its own figure.

Each case is a set of figures a real run could print (a clean 2-core run, a busy machine, a
free-threaded build, a GIL-holding control that scales, processes slower than serial, ...). The
checks parse the figures back out of the sentences (``tests/_words.py``) and hold every cause
named to the rule of :mod:`gilfree.figures` that allows it.
"""

from __future__ import annotations

import re

import pytest

from _words import percents, ratios, sentence_with, sentences
from gilfree.figures import beyond_noise, gil_fingerprint, noise_of, x
from gilfree.lab.step1_gil import Figures, Run, Timed, explain


def T(seconds: float, cpu: float | None = None, spread: float = 0.02, repeats: int | None = None) -> Timed:
    return Timed(seconds, seconds if cpu is None else cpu, spread, repeats)


def run_of(speedup: float, *, cpu_per_wall: float = 1.0, spread: float = 0.02, serial: float = 0.2,
           per_call: int = 2_000_000, processes: float | None = None, repeats: int | None = None) -> Run:
    """A kernel's run whose threads reached ``speedup`` against serial (and processes ``processes``)."""
    par = serial / speedup
    procs = None if processes is None else T(serial / processes, 0.001, spread, repeats)
    return Run(per_call, T(serial, spread=spread, repeats=repeats), T(par, par * cpu_per_wall, spread, repeats), procs)


def figures(*, threads: float, cpu_per_wall: float, processes: float, nogil: float | None, control: float | None,
            spread: float = 0.02, gil: bool = True, cores: int = 2, workers: int = 2,
            control_cpu: float = 1.0, repeats: int | None = None, kernel_serial: float = 0.37) -> Figures:
    kern = None if nogil is None else run_of(nogil, cpu_per_wall=nogil, spread=spread, serial=kernel_serial,
                                             per_call=1_000_000_000, repeats=repeats)
    ctrl = None if control is None else run_of(control, cpu_per_wall=control_cpu, spread=spread, serial=0.36,
                                               per_call=1_000_000_000, repeats=repeats)
    pure = run_of(threads, cpu_per_wall=cpu_per_wall, spread=spread, serial=0.176, processes=processes,
                  repeats=repeats)
    return Figures(workers, cores, gil, pure, kern, ctrl)


def judged(run: Run, parallel: Timed | None) -> bool:
    """Whether a speedup rests on more than one repeat (the rule of figures.gap)."""
    assert parallel is not None
    return all(r is None or r >= 2 for r in (run.serial.repeats, parallel.repeats))


CASES = {
    # The README's run: 2 idle cores, the GIL on.
    "clean 2-core run": figures(threads=0.80, cpu_per_wall=1.01, processes=1.97, nogil=1.97, control=0.99),
    # The run: 2 cores kept busy by two other processes.
    "busy machine": figures(threads=0.50, cpu_per_wall=0.58, processes=0.89, nogil=0.89, control=1.21, spread=0.30),
    "free-threaded build": figures(threads=1.83, cpu_per_wall=1.97, processes=1.90, nogil=1.95, control=1.90,
                                   gil=False),
    "control that scales": figures(threads=0.95, cpu_per_wall=1.0, processes=1.95, nogil=1.95, control=1.90,
                                   control_cpu=1.9),
    "processes slower than serial": figures(threads=0.90, cpu_per_wall=1.0, processes=0.60, nogil=1.9, control=1.0),
    "above the ideal": figures(threads=1.0, cpu_per_wall=1.0, processes=2.40, nogil=2.30, control=1.0),
    "one core": figures(threads=0.98, cpu_per_wall=1.0, processes=0.97, nogil=0.99, control=0.98, cores=1),
    "pure Python only": figures(threads=0.80, cpu_per_wall=1.01, processes=1.97, nogil=None, control=None),
    "free-threaded, no gain": figures(threads=1.01, cpu_per_wall=1.0, processes=1.9, nogil=None, control=None,
                                      gil=False),
    # gilfree lab --workers 1 on 2 cores: one call each way, nothing side by side.
    "one worker": figures(threads=1.00, cpu_per_wall=1.0, processes=0.97, nogil=1.0, control=0.99, workers=1),
    "one worker, processes above 1": figures(threads=1.00, cpu_per_wall=1.0, processes=1.30, nogil=1.25,
                                             control=1.0, workers=1),
    "one core, processes above 1": figures(threads=0.98, cpu_per_wall=1.0, processes=1.50, nogil=0.99, control=0.98,
                                           cores=1),
    # gilfree lab --workers 8 on 2 cores: the ideal is the core count, not the worker count.
    "more workers than cores": figures(threads=0.97, cpu_per_wall=1.0, processes=1.93, nogil=1.90, control=0.99,
                                       workers=8),
    # One repeat: no spread to judge a gap by, so no cause that rests on one.
    "one repeat": figures(threads=0.99, cpu_per_wall=1.0, processes=1.90, nogil=1.90, control=1.0, spread=0.0,
                          repeats=1),
    "one repeat, above the ideal": figures(threads=0.99, cpu_per_wall=1.0, processes=2.40, nogil=2.30, control=1.0,
                                           spread=0.0, repeats=1),
    # A compiled kernel slower than pure Python per element (it never was; the words must still hold).
    "kernel slower per element": figures(threads=0.80, cpu_per_wall=1.01, processes=1.97, nogil=1.97, control=0.99,
                                         kernel_serial=176.0),
}


def speedup(run: Run, parallel: Timed | None) -> float:
    assert parallel is not None
    return run.speedup(parallel)


def check_no_contradiction(f: Figures, lines: list[str]) -> None:
    """Every cause named holds by its rule; every figure written is one of the figures given."""
    text = " ".join(lines)
    pure = f.pure
    s_threads, s_procs = speedup(pure, pure.threads), speedup(pure, pure.processes)
    known = {x(s_threads), x(s_procs), x(f.ideal)}
    for s in sentences(lines):
        lowered = s.lower()
        if "took turns" in lowered or "fingerprint" in lowered:
            assert f.gil and gil_fingerprint(s_threads, pure.threads.cpu_per_wall), s
        if "own gil" in lowered:
            assert f.gil and beyond_noise(s_procs, pure.noise(pure.processes)), s
            assert judged(pure, pure.processes), s
        if any(w in lowered for w in ("because", "beyond the repeats' spread", "more than the repeats' spread")):
            assert all(judged(run, run.threads) for run in (pure, f.nogil, f.holding) if run is not None), s
        if "no speedup was possible" in lowered:
            assert not any(v > 1 and beyond_noise(v, pure.noise(pure.processes)) for v in ratios(s)), s
        if "faster" in lowered:
            assert "per element" not in lowered, s  # a time ratio says "the time of", which holds both ways
        if "took turns" in lowered or "ran side by side" in lowered:
            assert f.ideal > 1, s
        if "because" in lowered and "releases the gil" in lowered:
            assert f.gil and f.nogil is not None and f.holding is not None
            s_k, s_c = speedup(f.nogil, f.nogil.threads), speedup(f.holding, f.holding.threads)
            assert beyond_noise(s_k / s_c, f.nogil.noise(f.nogil.threads), f.holding.noise(f.holding.threads)), s
            assert not beyond_noise(s_c, f.holding.noise(f.holding.threads)), s
        for said, ideal in re.findall(r"(\d+)% of the ideal ([\d.]+)x", s):
            assert float(ideal) == pytest.approx(f.ideal)
            before = ratios(s[:s.index(f"{said}% of the ideal")])
            assert before and int(said) == round(100 * before[-1] / f.ideal), s
            assert before[-1] <= f.ideal, s
    if f.nogil is not None and f.holding is not None:
        s_k, s_c = speedup(f.nogil, f.nogil.threads), speedup(f.holding, f.holding.threads)
        per_elem = f.ns_per_element(pure) / f.ns_per_element(f.nogil)
        known |= {x(s_k), x(s_c), x(s_k / s_c), x(per_elem)}
    for value in ratios(text):
        assert any(float(k.rstrip("x").replace(",", "")) == pytest.approx(value) for k in known), (value, text)
    for s in sentences(lines):  # a speedup above the ideal is called out, never given a share of it
        for value in ratios(s):
            if value > f.ideal and "of the ideal" in s and "above the ideal" not in s:
                pytest.fail(f"{value}x above the ideal {f.ideal}x without a word: {s}")


@pytest.mark.parametrize("case", sorted(CASES))
def test_no_sentence_contradicts_its_figures(case):
    f = CASES[case]
    lines = explain(f)
    assert len(lines) == 3
    check_no_contradiction(f, lines)


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_paragraph_states_a_cause_with_its_figure_or_says_to_repeat(case):
    for paragraph in explain(CASES[case]):
        supported = any(word in paragraph for word in ("because", "fingerprint", "without the GIL",
                                                      "nothing runs side by side", "did not run"))
        assert supported or "repeat the run" in paragraph, paragraph
        if "repeat the run" not in paragraph and "did not run" not in paragraph:
            assert ratios(paragraph), paragraph  # a cause comes with the figure it rests on


def test_clean_run_tells_the_expected_story():
    lines = explain(CASES["clean 2-core run"])
    threads, procs, kernel = lines
    assert "0.80x against serial" in threads and "1.01 CPU seconds per wall second" in threads
    assert "the GIL's fingerprint" in threads and "took turns" in threads
    assert "1.97x against serial (98% of the ideal 2.00x)" in procs and "its own GIL" in procs
    assert "because the kernel releases the GIL" in kernel and "0.99x" in kernel
    assert not any("repeat the run" in line for line in lines)


def test_busy_machine_claims_no_cause_and_says_to_repeat():
    lines = explain(CASES["busy machine"])
    text = " ".join(lines)
    for claim in ("took turns", "fingerprint", "own GIL", "because"):
        assert claim not in text
    assert all("repeat the run" in line for line in lines)
    assert "0.58 CPU seconds per wall second" in lines[0]
    assert "0.89x against serial" in lines[1] and "30%" in lines[1]


def test_free_threaded_build_names_no_gil_cause():
    threads, procs, kernel = explain(CASES["free-threaded build"])
    assert threads.startswith("This interpreter runs without the GIL") and "1.83x" in threads
    assert "92% of the ideal 2.00x" in threads
    assert "own GIL" not in procs and "its own interpreter" in procs
    assert "says nothing about the GIL" in kernel and "because" not in kernel
    no_gain = explain(CASES["free-threaded, no gain"])[0]
    assert "without the GIL, yet" in no_gain and "repeat the run" in no_gain and "% of the ideal" not in no_gain


def test_a_control_that_scales_takes_back_the_gil_claim():
    kernel = explain(CASES["control that scales"])[2]
    assert "because" not in kernel and "releases the GIL" not in kernel
    assert "the control sped up" in kernel and "repeat the run" in kernel
    assert "1.95x" in kernel and "1.90x" in kernel


def test_processes_slower_than_serial_are_not_explained_by_their_own_gil():
    procs = explain(CASES["processes slower than serial"])[1]
    assert "0.60x against serial" in procs and "slower than serial" in procs
    assert "own GIL" not in procs and "repeat the run" in procs


def test_a_speedup_above_the_ideal_is_called_out():
    _, procs, kernel = explain(CASES["above the ideal"])
    assert "2.40x is above the ideal 2.00x" in procs and "% of the ideal" not in procs
    assert "2.30x is above the ideal 2.00x" in kernel


def test_one_core_expects_no_speedup():
    threads, procs, kernel = explain(CASES["one core"])
    assert "only 1 core" in procs and "only 1 core" in kernel
    assert "% of the ideal" not in procs + kernel


def test_spreads_named_are_the_noise_of_the_figures():
    f = CASES["busy machine"]
    sentence = sentence_with(explain(f), "did not beat the control")
    assert sentence is not None
    assert f.nogil is not None and f.holding is not None
    noise = noise_of(f.nogil.noise(f.nogil.threads), f.holding.noise(f.holding.threads))
    assert percents(sentence)[-1] == round(100 * noise)


def test_a_tiny_spread_still_counts_as_noise():
    """1.04x against the control is within the 5% any repeats disagree by: no cause."""
    f = figures(threads=1.0, cpu_per_wall=1.0, processes=1.9, nogil=1.04, control=1.0, spread=0.0)
    kernel = explain(f)[2]
    assert "because" not in kernel and "repeat the run" in kernel


def test_one_worker_says_nothing_runs_side_by_side():
    """gilfree lab --workers 1: one thread, one worker process; no GIL story, no word about the cores."""
    lines = explain(CASES["one worker"])
    threads, procs, kernel = lines
    text = " ".join(lines)
    assert "on 1 thread," in threads and "1 threads" not in text
    assert procs.startswith("1 worker process ran") and "1 worker processes" not in text
    for line in lines:
        assert "with one worker, nothing runs side by side (the ideal is 1.00x)" in line, line
    for wrong in ("fingerprint", "took turns", "only 2 core", "no speedup was possible", "because", "repeat the run"):
        assert wrong not in text, wrong


def test_one_worker_above_one_is_called_out_not_denied():
    threads, procs, kernel = explain(CASES["one worker, processes above 1"])
    assert "1.30x is above the ideal 1.00x by more than the repeats' spread" in procs
    assert "1.25x is above the ideal 1.00x" in kernel
    assert "no speedup was possible" not in procs + kernel


def test_one_core_above_one_is_called_out_not_denied():
    _, procs, _ = explain(CASES["one core, processes above 1"])
    assert "with only 1 core here, nothing runs side by side" in procs
    assert "1.50x is above the ideal 1.00x" in procs and "no speedup was possible" not in procs


def test_the_ideal_is_capped_at_the_cores():
    """8 workers on 2 cores: the ideal is 2.00x, and 1.93x is 96% of it, not 24% of 8.00x."""
    f = CASES["more workers than cores"]
    assert f.ideal == 2
    threads, procs, kernel = explain(f)
    assert "on 8 threads" in threads and procs.startswith("8 worker processes ran")
    assert "1.93x against serial (96% of the ideal 2.00x)" in procs and "8.00x" not in procs + kernel
    assert "95% of the ideal 2.00x" in kernel


def test_one_repeat_names_no_cause_that_needs_a_spread():
    threads, procs, kernel = explain(CASES["one repeat"])
    text = " ".join((threads, procs, kernel))
    for claim in ("because", "own GIL", "beyond the repeats' spread", "more than the repeats' spread"):
        assert claim not in text, claim
    assert "1.90x against serial: one repeat gives no spread to judge it by" in procs
    assert "one repeat gives no spread to judge it by" in kernel and "repeat the run" in kernel
    assert "the GIL's fingerprint" in threads  # CPU per wall and speedup alone: no spread in that rule
    _, procs, kernel = explain(CASES["one repeat, above the ideal"])
    assert "2.40x is above the ideal 2.00x, and one repeat gives no spread" in procs
    assert "cache effect or" not in procs and "2.30x is above the ideal 2.00x, and one repeat" in kernel


@pytest.mark.parametrize("case", ["clean 2-core run", "kernel slower per element"])
def test_the_per_element_ratio_is_a_time_ratio_that_holds_both_ways(case):
    f = CASES[case]
    assert f.nogil is not None
    head = sentence_with(explain(f), "per element, pure Python took")
    assert head is not None and "faster" not in head and "slower" not in head
    ratio = f.ns_per_element(f.pure) / f.ns_per_element(f.nogil)
    assert f"pure Python took {x(ratio)} the time of the kernel" in head
    if case == "kernel slower per element":
        assert ratio < 1 and "took 0.50x the time of the kernel" in head


def test_summary_plurals():
    from gilfree.lab.step1_gil import _summary
    lines = _summary(CASES["one worker"])
    assert lines[0].startswith("Serial: 1 pure-Python call of cpu_bound")
    assert lines[1].startswith("Threads: the same 1 call in 1 thread:")
