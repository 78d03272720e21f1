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


def T(seconds: float, cpu: float | None = None, spread: float = 0.02) -> Timed:
    return Timed(seconds, seconds if cpu is None else cpu, spread)


def run_of(speedup: float, *, cpu_per_wall: float = 1.0, spread: float = 0.02, serial: float = 0.2,
           per_call: int = 2_000_000, processes: float | None = None) -> Run:
    """A kernel's run whose threads reached ``speedup`` against serial (and processes ``processes``)."""
    par = serial / speedup
    procs = None if processes is None else T(serial / processes, 0.001, spread)
    return Run(per_call, T(serial, spread=spread), T(par, par * cpu_per_wall, spread), procs)


def figures(*, threads: float, cpu_per_wall: float, processes: float, nogil: float | None, control: float | None,
            spread: float = 0.02, gil: bool = True, cores: int = 2, workers: int = 2,
            control_cpu: float = 1.0) -> Figures:
    kern = None if nogil is None else run_of(nogil, cpu_per_wall=nogil, spread=spread, serial=0.37,
                                             per_call=1_000_000_000)
    ctrl = None if control is None else run_of(control, cpu_per_wall=control_cpu, spread=spread, serial=0.36,
                                               per_call=1_000_000_000)
    pure = run_of(threads, cpu_per_wall=cpu_per_wall, spread=spread, serial=0.176, processes=processes)
    return Figures(workers, cores, gil, pure, kern, ctrl)


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
        supported = any(word in paragraph for word in ("because", "fingerprint", "without the GIL", "only 1 core",
                                                      "did not run"))
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
