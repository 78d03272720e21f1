"""The words of lab step 5, from hand-picked figures: no sentence states a cause its figures contradict.

Each case builds the rows a run would have measured (no pool, no segment) and reads the
explanation back: every cause it names must hold for the figures it was given, the figures it
states must be the ones it was given, and where the expected story is not there it says so and
asks for a repeat.
"""

from __future__ import annotations

import re

import pytest

from _words import ratios, sentences
from gilfree.figures import SHORT_TASK_SECONDS, beyond_noise, clearly_faster, gil_fingerprint, x
from gilfree.lab import step5_shared_memory as step5
from gilfree.lab._common import THREAD_TASK_SECONDS
from gilfree.lab._result import Row

C, PURE = "c-extension", "pure-python"
WAYS = {"serial": step5.SERIAL, "shared": step5.SHARED, "pickled": step5.PICKLED, "threads": step5.THREADS}
REPEAT = "repeat the run"
#: Words that name a cause: each may appear only where its figure supports it.
CAUSES = ("because", "releases the GIL", "own GIL", "fingerprint", "took turns", "split the work",
          "too little to pay", "for the tasks they pickle")

TASK_BYTES = [step5.TaskBytes(250_000, 250_000, 196, 250_243), step5.TaskBytes(1_000_000, 1_000_000, 198, 1_000_243),
              step5.TaskBytes(4_000_000, 4_000_000, 198, 4_000_243)]


def rows_of(impl: str, ms: dict[str, tuple[float, float]], spread: float, chunks: int = 8,
            elements: int = 1_000_000, workers: int = 2, repeats: int | None = None) -> list[Row]:
    """Rows for one implementation from ``{way: (wall ms, cpu ms)}``, speedups against its serial row."""
    serial = ms["serial"][0] / 1000
    out = []
    for key, variant in WAYS.items():
        wall, cpu = ms[key][0] / 1000, ms[key][1] / 1000
        per_task = {"shared": 198, "pickled": elements // chunks * 8 + 243}.get(key, 0)
        out.append(Row(variant=variant, implementation=impl,
                       strategy={"serial": "serial", "threads": "threads"}.get(key, "processes"),
                       workers=1 if key == "serial" else workers, seconds=wall, spread=spread, cpu_seconds=cpu,
                       speedup=serial / wall,
                       extra={"elements": elements, "chunks": chunks, "ns/elem": wall / elements * 1e9,
                              "B/task": per_task, "MB pickled/run": per_task * chunks * 4 / 1e6,
                              "repeats": repeats}))
    return out


def figures(c: dict[str, tuple[float, float]] | None, pure: dict[str, tuple[float, float]], *,
            spread: float = 0.03, gil: bool = True, cores: int = 2, workers: int = 2,
            chunks: int = 8, repeats: int | None = None) -> step5.Figures:
    rows = rows_of(PURE, pure, spread, chunks, 20_000, workers, repeats)
    if c is not None:
        rows += rows_of(C, c, spread, chunks, 1_000_000, workers, repeats)
    return step5.Figures(rows, TASK_BYTES, workers, cores, gil)


CLEAN_C = {"serial": (40, 40), "shared": (21.5, 43), "pickled": (33, 50), "threads": (20.8, 40.5)}
CLEAN_PURE = {"serial": (60, 60), "shared": (32, 63), "pickled": (34, 66), "threads": (62, 61)}


def row(f: step5.Figures, impl: str, key: str) -> Row:
    return next(r for r in f.rows if r.implementation == impl and r.variant == WAYS[key])


def check_words(lines: list[str], f: step5.Figures) -> None:
    """Every cause a sentence names holds for the figures; every figure it states is one of them."""
    speedups = {x(r.speedup) for r in f.rows if r.speedup is not None}
    ideal = min(f.workers, f.cores)
    for s in sentences(lines):
        for value in re.findall(r"(\d[\d,]*(?:\.\d+)?x) against serial", s):
            assert value in speedups, (value, s)
        impl = C if C in s or s.startswith("The compiled kernel's") else PURE
        w = f.ways(impl)
        if "because nothing is copied" in s:
            sh, pk = w.shared, w.pickled
            assert clearly_faster(sh.seconds, sh.spread, pk.seconds, pk.spread), s
            assert ratios(s)[0] == float(x(pk.seconds / sh.seconds)[:-1]), s
            assert f"{sh.extra['B/task']:,} bytes" in s, s  # the bytes per task are stated
        if "releases the GIL" in s:
            t, pt = f.ways(C).threads, f.ways(PURE).threads
            assert f.gil and beyond_noise(t.speedup, t.spread) and beyond_noise(t.speedup / pt.speedup, t.spread), s
        if "own GIL" in s:
            assert f.gil and beyond_noise(ratios(s)[0], w.shared.spread), s
        if "fingerprint" in s or "took turns" in s:
            cpw = float(re.search(r"at (\d+\.\d+) CPU seconds per wall second", s).group(1))
            assert f.gil and gil_fingerprint(ratios(s)[0], cpw), s
        if "split the work" in s:
            assert beyond_noise(ratios(s)[0], w.shared.spread), s
        if "slower than serial" in s:
            assert ratios(s)[0] < 1, s
        if "too little to pay" in s:
            assert not beyond_noise(ratios(s)[0], w.serial.spread), s
            limit = THREAD_TASK_SECONDS if "handing it to a thread" in s else SHORT_TASK_SECONDS
            assert "a round trip to a worker process" in s or "handing it to a thread" in s, s
            assert w.per_chunk < limit, s
        if "one repeat gives no spread" in s:
            assert not any(cause in s for cause in CAUSES), s
        if "for the tasks they pickle" in s:
            t, p = w.threads, w.shared
            assert clearly_faster(t.seconds, t.spread, p.seconds, p.spread), s
        if "above the ideal" in s:
            assert ratios(s)[0] > ideal, s
        if REPEAT in s:
            assert not any(cause in s for cause in CAUSES), s
    above = [r for r in f.rows if r.speedup is not None and r.speedup > min(r.workers, f.cores)
             and r.variant != step5.SERIAL]
    assert len([s for s in sentences(lines) if "above the ideal" in s]) == len(above)


def text(lines: list[str]) -> str:
    return " ".join(lines)


def test_a_clean_two_core_run_names_every_cause_its_figures_support():
    f = figures(CLEAN_C, CLEAN_PURE)
    lines = step5.explain(f)
    check_words(lines, f)
    all_text = text(lines)
    for words in ("because nothing is copied", "own GIL", "split the work", "fingerprint", "releases the GIL",
                  "only the segment's name"):
        assert words in all_text, words
    assert REPEAT not in all_text
    assert "against serial" in all_text and "the time of shared memory" in all_text  # ratios say against what


def test_a_busy_machine_names_no_cause_and_asks_for_a_repeat():
    busy_c = {"serial": (40, 40), "shared": (36, 30), "pickled": (41, 40), "threads": (30, 24)}
    busy_pure = {"serial": (60, 60), "shared": (50, 40), "pickled": (55, 45), "threads": (70, 35)}
    f = figures(busy_c, busy_pure, spread=0.35)
    lines = step5.explain(f)
    check_words(lines, f)
    assert not any(cause in s for s in sentences(lines)[1:] for cause in CAUSES), lines
    assert sum(REPEAT in s for s in sentences(lines)) >= 4


def test_a_free_threaded_build_says_no_gil_not_the_gils_fingerprint():
    free_c = {"serial": (40, 40), "shared": (22, 43), "pickled": (33, 50), "threads": (21, 41)}
    free_pure = {"serial": (60, 60), "shared": (32, 63), "pickled": (34, 66), "threads": (32, 62)}
    f = figures(free_c, free_pure, gil=False)
    lines = step5.explain(f)
    check_words(lines, f)
    all_text = text(lines)
    assert "without the GIL" in all_text
    for words in ("fingerprint", "own GIL", "releases the GIL", "took turns"):
        assert words not in all_text, words


def test_pure_python_threads_that_scale_under_a_gil_are_not_explained_away():
    # The GIL-holding control scales (1.9x): the compiled threads' 1.92x is no sign of releasing the GIL.
    scaling_pure = {**CLEAN_PURE, "threads": (31.5, 60)}
    scaling_c = {**CLEAN_C, "threads": (20.8, 40.5)}
    f = figures(scaling_c, scaling_pure)
    lines = step5.explain(f)
    check_words(lines, f)
    all_text = text(lines)
    assert "releases the GIL" not in all_text and "fingerprint" not in all_text
    threads = [s for s in sentences(lines) if s.startswith(("Pure-Python threads", "The compiled kernel's threads"))]
    assert len(threads) == 2 and all(REPEAT in s for s in threads), threads


@pytest.mark.parametrize("serial_ms, expect_round_trips", [(2.0, True), (40.0, False)])
def test_processes_slower_than_serial(serial_ms, expect_round_trips):
    scale = serial_ms / 40
    slow_c = {"serial": (serial_ms, serial_ms), "shared": (serial_ms / 0.4, serial_ms),
              "pickled": (serial_ms / 0.2, serial_ms), "threads": (serial_ms / 1.8, serial_ms * 1.1)}
    slow_pure = {"serial": (60 * scale, 60 * scale), "shared": (60 * scale / 0.5, 60 * scale),
                 "pickled": (60 * scale / 0.45, 60 * scale), "threads": (62 * scale, 61 * scale)}
    f = figures(slow_c, slow_pure)
    lines = step5.explain(f)
    check_words(lines, f)
    processes = [s for s in sentences(lines) if "worker processes on shared memory" in s]
    assert len(processes) == 2 and all("slower than serial" in s for s in processes)
    assert not any("own GIL" in s or "split the work" in s for s in processes)
    if expect_round_trips:  # 0.25 ms of work per chunk: the round trips outweigh it, and the text says how much
        assert all("too little to pay" in s and "of work" in s for s in processes)
    else:  # 5 ms per chunk is plenty: the figures do not explain the loss
        assert all(REPEAT in s for s in processes)


def test_copies_as_fast_as_shared_memory_make_no_zero_copy_claim():
    same_c = {**CLEAN_C, "pickled": (21.8, 44)}
    f = figures(same_c, CLEAN_PURE)
    lines = step5.explain(f)
    check_words(lines, f)
    copies = next(s for s in sentences(lines) if "pickled slices" in s and "shared memory took" in s)
    assert "because" not in copies and "within the repeats' spread (5%) of each other" in copies and REPEAT in copies
    faster_copies = figures({**CLEAN_C, "pickled": (15, 30)}, CLEAN_PURE)
    lines = step5.explain(faster_copies)
    check_words(lines, faster_copies)
    assert "because nothing is copied" not in text(lines)


@pytest.mark.parametrize("shared_ms, cores, words", [(18.0, 2, "cache effect"), (19.6, 2, "noise, not a real gain"),
                                                      (30.0, 1, "cache effect")])
def test_a_speedup_above_the_ideal_is_called_out(shared_ms, cores, words):
    f = figures({**CLEAN_C, "shared": (shared_ms, 40)}, CLEAN_PURE, cores=cores)
    lines = step5.explain(f)
    check_words(lines, f)
    note = next(s for s in sentences(lines) if "above the ideal" in s and s.startswith("Shared memory (c-extension"))
    assert words in note and "against serial, one array" in note


def test_pure_python_alone_speaks_of_its_own_rows_only():
    f = figures(None, CLEAN_PURE)
    lines = step5.explain(f)
    check_words(lines, f)
    assert "compiled" not in text(lines) and C not in text(lines)
    assert "With the pure-python kernel, shared memory took" in text(lines)


def test_zero_copy_is_claimed_only_when_the_task_bytes_show_it():
    f = figures(CLEAN_C, CLEAN_PURE)
    grown = [step5.TaskBytes(t.elements, t.slice_bytes, t.elements // 100, t.pickled_slice) for t in TASK_BYTES]
    lines = step5.explain(step5.Figures(f.rows, grown, f.workers, f.cores, f.gil))
    assert "only the segment's name" not in lines[0] and "does not show zero-copy" in lines[0]
    assert ratios(lines[0]) == [float(x(4_000_243 / 250_243)[:-1]), 16.0]


def test_workers_beyond_the_cores_have_the_cores_as_their_ideal():
    """4 workers on 2 cores: 2.5x is above the ideal 2x."""
    f = figures({**CLEAN_C, "shared": (16.0, 60)}, CLEAN_PURE, workers=4, cores=2)
    lines = step5.explain(f)
    check_words(lines, f)
    note = next(s for s in sentences(lines) if "above the ideal" in s and s.startswith("Shared memory (c-extension"))
    assert "2.50x is above the ideal 2.00x" in note


@pytest.mark.parametrize("serial_ms, words", [(0.4, "too little to pay for handing it to a thread"),
                                              (2.0, REPEAT)])
def test_compiled_threads_without_a_gain_are_blamed_on_the_hand_off_only_below_its_cost(serial_ms, words):
    """Chunks of 50 us are too small to hand to a thread; chunks of 250 us are not (though they are
    too small for a worker process)."""
    scale = serial_ms / 40
    c = {key: (wall * scale, cpu * scale) for key, (wall, cpu) in CLEAN_C.items()}
    c["threads"] = (serial_ms, serial_ms)
    f = figures(c, CLEAN_PURE)
    lines = step5.explain(f)
    check_words(lines, f)
    said = next(s for s in sentences(lines) if s.startswith("The compiled kernel's threads"))
    assert words in said and "worker process" not in said


def test_one_repeat_names_no_cause_on_a_gap():
    """Measured once, every spread reads 0: no gap is judged and no cause named on one; the GIL's
    fingerprint (CPU time per wall second, no speedup) and the bytes per task still stand."""
    f = figures(CLEAN_C, CLEAN_PURE, spread=0.0, repeats=1)
    lines = step5.explain(f)
    check_words(lines, f)
    all_text = text(lines)
    for cause in ("because", "releases the GIL", "own GIL", "split the work", "too little to pay",
                  "for the tasks they pickle"):
        assert cause not in all_text, cause
    assert "fingerprint" in all_text and "only the segment's name" in all_text
    once = [s for s in sentences(lines) if "one repeat gives no spread" in s]
    assert len(once) == 5, once  # copies, processes (twice), compiled threads, threads against processes
    assert REPEAT not in all_text
