"""The latency step (``gilfree lab --step latency``): its measuring, its result, its words, its CLI.

Real runs are TINY (a few wake-ups) and assert structure and exactness, never timing. What the
words say is tested on hand-made figures, one case per branch, including contradicting ones.
"""

from __future__ import annotations

import _thread
import json
import math
import os
import sys
import threading
import time

import pytest

import gilfree._latency as latency
import gilfree.lab
from gilfree import cli
from gilfree._latency import (BusyThreads, Percentiles, percentile, sample_lateness, switch_interval,
                              wake_lateness)
from gilfree._select import C_EXTENSION, PURE_PYTHON
from gilfree.figures import ms
from gilfree.lab import NAMED_STEPS, STEPS, format_result, run_lab, run_step, step_module
from gilfree.lab import step_latency
from gilfree.lab.step_latency import (BASELINE, HOLDING, LATE_FLOOR_S, NOGIL, ONE_REPEAT, PURE, TITLE, Figures,
                                      Reading, explain)

pytestmark = pytest.mark.thread_unsafe(reason="sets the process-wide switch interval and counts threads")


def _threads() -> set[int]:
    return {t.ident for t in threading.enumerate() if t.ident is not None}


# --- the measuring (gilfree._latency) -------------------------------------------------------------

def test_percentile_matches_numpys_linear_interpolation():
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 10, 101):
        values = sorted(rng.random(n).tolist())
        for q in (0, 1, 50, 99, 100):
            assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), abs=1e-15)


def test_percentiles_are_ordered_and_exact_on_known_samples():
    p = Percentiles.of([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (p.p50, p.max, p.count) == (3.0, 5.0, 5)
    assert p.p50 <= p.p99 <= p.max and p.p99 == pytest.approx(4.96)
    with pytest.raises(ValueError, match="at least one sample"):
        Percentiles.of([])
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], 101)


def test_switch_interval_is_restored_on_error_and_on_ctrl_c():
    before = sys.getswitchinterval()
    with switch_interval(0.0007) as old:
        assert old == before and sys.getswitchinterval() == pytest.approx(0.0007)
    assert sys.getswitchinterval() == before
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with switch_interval(0.02):
                raise exc
        assert sys.getswitchinterval() == before


@pytest.mark.parametrize("value, error", [(0, ValueError), (-1e-3, ValueError), (math.nan, ValueError),
                                          (math.inf, ValueError), ("5", TypeError), (True, TypeError)])
def test_switch_interval_refuses_what_is_not_a_duration(value, error):
    before = sys.getswitchinterval()
    with pytest.raises(error, match="the switch interval must be"):
        with switch_interval(value):
            pass
    assert sys.getswitchinterval() == before


def test_wake_lateness_records_one_figure_per_wake_up():
    late = wake_lateness(3, 0.0005)
    assert len(late) == 3 and all(v > -1e-3 for v in late)  # a clock's rounding, never an early wake-up
    with pytest.raises(ValueError, match="wakeups must be >= 1"):
        wake_lateness(0, 0.001)
    with pytest.raises(ValueError, match="period must be"):
        wake_lateness(1, 0)


def test_busy_threads_run_until_the_block_ends_and_check_every_result(impl):
    before = _threads()
    with BusyThreads(lambda: impl.sum_squares(0, 100), impl.sum_squares(0, 100), 2) as busy:
        assert len(_threads() - before) >= 2
    assert len(busy.runs) == 2 and all(r.calls >= 1 and r.wrong == 0 for r in busy.runs)
    assert _threads() <= before
    with BusyThreads(lambda: 1, 2) as wrong:
        pass
    assert wrong.runs[0].wrong == wrong.runs[0].calls >= 1


def test_the_block_begins_once_every_busy_thread_has_returned_from_its_first_call():
    """A first call that takes a while: the block must not begin before it returns in every thread,
    and that call is counted and timed with the rest."""
    returned = []

    def slow_first():
        if threading.get_ident() not in returned:
            time.sleep(0.05)  # a first call of 50 ms, as a cold kernel's may be (a workload, not a wait for an event)
            returned.append(threading.get_ident())
        return 0

    with BusyThreads(slow_first, 0, 2) as busy:
        assert len(set(returned)) == 2  # both first calls had returned when the block began
    assert all(r.calls >= 1 and r.seconds >= 0.05 and r.wrong == 0 for r in busy.runs)


def test_a_busy_threads_error_is_raised_on_entering_or_at_the_end_of_the_block():
    def fails():
        raise ZeroDivisionError("in a busy thread")

    before, entered = _threads(), []
    with pytest.raises(ZeroDivisionError, match="in a busy thread"):
        with BusyThreads(fails, None):
            entered.append(True)
    assert not entered and _threads() <= before  # the first call raised: the block never began

    calls, second = [], threading.Event()

    def fails_later():
        calls.append(1)
        if len(calls) > 1:
            second.set()
            raise ZeroDivisionError("in a later call")
        return None

    with pytest.raises(ZeroDivisionError, match="in a later call"):
        with BusyThreads(fails_later, None):
            entered.append(True)
            assert second.wait(30)  # the failing call was made (a handshake); its error waits for the end
    assert entered and _threads() <= before


def test_ctrl_c_while_sampling_restores_the_interval_and_stops_the_busy_threads(monkeypatch):
    """The interrupt comes from the busy thread once the waking thread has begun to sample (a
    handshake, not a timer), so it lands inside the switch interval and the busy threads' block."""
    before, interval = _threads(), sys.getswitchinterval()
    sampling, fired = threading.Event(), threading.Event()
    real = latency.wake_lateness

    def announced(*args):
        sampling.set()
        return real(*args)

    def call():
        if sampling.is_set() and not fired.is_set():
            fired.set()
            _thread.interrupt_main()
        return 0

    monkeypatch.setattr(latency, "wake_lateness", announced)

    with pytest.raises(KeyboardInterrupt):
        sample_lateness(10_000, 0.001, 0.0005, call, 0)
    assert fired.is_set() and sys.getswitchinterval() == interval
    assert _threads() <= before


# --- a real run of the step, TINY ----------------------------------------------------------------

@pytest.fixture(scope="module")
def result(ran):
    before = sys.getswitchinterval()
    out = run_step("latency", "tiny", implementations=ran)
    assert sys.getswitchinterval() == before
    return out


def _expected_loads(ran) -> list[str]:
    return [BASELINE, PURE] + ([NOGIL, HOLDING] if C_EXTENSION in ran else [])


def test_rows_cover_every_load_at_every_interval(result, ran):
    intervals = result.params["intervals_ms"]
    assert intervals == sorted(step_latency.TINY["intervals_ms"])
    loads = _expected_loads(ran)
    assert [(r.extra["switch ms"], r.variant) for r in result.rows] == [(i, v) for i in intervals for v in loads]
    assert result.ok, [name for name, ok in result.checks.items() if not ok]
    assert len(result.checks) == len(result.rows)
    assert {r.implementation for r in result.rows} - {""} == set(ran)
    for r in result.rows:
        assert r.workers == r.extra["threads"] == (0 if r.variant == BASELINE else 1)
    assert (result.params["kernel_n"] is None) == (C_EXTENSION not in ran)


def test_percentiles_are_those_of_the_recorded_samples(result):
    wakeups, repeats = result.params["wakeups"], result.params["repeats"]
    samples = result.data["lateness_s"]
    assert len(samples) == len(result.rows)
    for row in result.rows:
        mine = samples[f"{row.variant}, switch interval {row.extra['switch ms']:g} ms"]
        assert len(mine) == row.extra["wakeups"] == wakeups * repeats
        p = Percentiles.of(mine)
        assert (row.extra["p50 ms"], row.extra["p99 ms"], row.extra["max ms"]) == (
            p.p50 * 1000, p.p99 * 1000, p.max * 1000)
        assert row.extra["p50 ms"] <= row.extra["p99 ms"] <= row.extra["max ms"]
        assert row.seconds == p.p50
        assert (row.extra["call ms"] is None) == (row.variant == BASELINE) == (row.extra["busy %"] is None)
        assert row.extra["busy %"] is None or 0 < row.extra["busy %"] <= 100


def test_the_switch_interval_is_put_back(result):
    assert result.data["switch_interval_before_s"] == result.data["switch_interval_after_s"] == sys.getswitchinterval()


def test_json_round_trip_and_text(result, ran):
    doc = json.loads(json.dumps(result.to_dict()))
    assert doc["step"] == "latency" and doc["ok"] is True and doc["title"] == TITLE
    assert len(doc["rows"]) == len(result.rows) and "lateness_s" in doc["data"]
    text = format_result(result, 80)
    assert f"Step latency: {TITLE}" in text and all(len(line) <= 80 for line in text.splitlines())
    assert len(result.explanation) == 4
    if C_EXTENSION not in ran:
        assert "did not run" in result.explanation[2] and "did not run" in result.explanation[3]
        # The selector's reason where it chose pure Python, else the caller's choice.
        assert ("GILFREE_NO_EXTENSIONS" in result.explanation[2]
                or "not among the implementations asked for" in result.explanation[2])


def test_the_words_state_the_rows_figures(result):
    """Each paragraph states the p50 of every row it reads, as the table has it."""
    for load, paragraph in zip((BASELINE, PURE, NOGIL, HOLDING), result.explanation):
        for row in (r for r in result.rows if r.variant == load):
            assert ms(row.seconds) in paragraph, (load, paragraph)


def test_progress_counts_up_to_its_total_and_the_machine_is_read():
    calls = []
    result = run_step("latency", "tiny", progress=lambda *call: calls.append(call),
                      implementations={PURE_PYTHON: _pure()})
    dones = [done for done, _, _ in calls]
    assert dones == sorted(dones) and dones[-1] == calls[-1][1] and all(label for _, _, label in calls)
    assert {"busy", "others_cores", "line"} <= set(result.machine)


def test_ctrl_c_during_the_step_puts_the_interval_back_and_leaves_no_thread():
    before, interval = _threads(), sys.getswitchinterval()

    def progress(done, total, label):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_step("latency", "tiny", progress=progress, implementations={PURE_PYTHON: _pure()})
    assert sys.getswitchinterval() == interval
    assert _threads() <= before


def _pure():
    from gilfree._select import Implementation

    return Implementation(PURE_PYTHON)


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"wakeups": 0}, ValueError, "wakeups must be >= 1"),
    ({"repeats": 1.5}, TypeError, "repeats must be an int"),
    ({"period_ms": 0}, ValueError, "period_ms must be"),
    ({"call_ms": math.nan}, ValueError, "call_ms must be"),
    ({"intervals_ms": ()}, ValueError, "intervals_ms must hold at least one"),
    ({"intervals_ms": "5"}, TypeError, "intervals_ms must be a list"),
    ({"intervals_ms": (5, -1)}, ValueError, "each of intervals_ms must be"),
    ({"workers": 0}, ValueError, "workers"),
    ({"pure_n": 0}, ValueError, "pure_n must be >= 1"),
    ({"nonsense": 1}, TypeError, "step latency takes wakeups, period_ms"),
])
def test_bad_parameters_say_what_to_do(kwargs, error, fragment):
    before = sys.getswitchinterval()
    with pytest.raises(error, match=fragment):
        run_step("latency", "tiny", **kwargs)
    assert sys.getswitchinterval() == before


# --- the step among the others --------------------------------------------------------------------

def test_the_eight_steps_stay_eight_and_latency_is_asked_for_by_name():
    assert sorted(STEPS) == list(range(1, 9)) and "latency" in NAMED_STEPS
    assert step_module("latency") is step_latency
    for name in ("DEFAULT", "QUICK", "TINY", "TITLE"):
        assert hasattr(step_latency, name)
    with pytest.raises(TypeError, match=r"step must be an int, not str, or the name of a step outside the eight "
                                        r"\('latency'\); got 'lat'"):
        run_step("lat", "tiny")
    with pytest.raises(ValueError, match=r"step must be one of 1..8, got 9 \(or 'latency'\)"):
        run_step(9, "tiny")
    with pytest.raises(TypeError, match="step must be an int"):
        run_lab(["latency", "nine"])  # checked in the call, before the first step runs


# --- the words, on hand-made figures --------------------------------------------------------------

def _r(load, interval_ms, p50_ms, p99_ms=None, *, repeats=3, spread=0.0, call_ms=None):
    """A reading: ``repeats`` repeats whose medians disagree by ``spread`` around ``p50_ms``."""
    p50, p99 = p50_ms / 1000, (p99_ms if p99_ms is not None else p50_ms * 1.2) / 1000
    p50s = (p50 * (1 - spread / 2), p50, p50 * (1 + spread / 2))[:repeats] if repeats > 1 else (p50,)
    call = None if load == BASELINE else (call_ms if call_ms is not None else 2.0) / 1000
    return Reading(load, interval_ms / 1000, Percentiles(p50, p99, p99 * 1.1, 100 * repeats), p50s,
                   (p99,) * len(p50s), call)


INTERVALS = (0.5, 5.0, 20.0)


def _figures(pure=None, nogil=None, holding=None, *, base=0.1, gil=True, cores=2, threads=1, busy=False,
             repeats=3, call_ms=5.0, c=True):
    """Textbook figures unless told otherwise: pure Python late by the interval, the nogil kernel like
    the baseline, the control by the interval plus most of a call."""
    rows = []
    for i, s in enumerate(INTERVALS):
        rows.append(_r(BASELINE, s, base, repeats=repeats))
        late = (pure or [s + base] * 3)[i]
        rows.append(_r(PURE, s, late, late + min(0.3, 0.2 * late), repeats=repeats))
        if c:
            rows.append(_r(NOGIL, s, (nogil or [base] * 3)[i], repeats=repeats, call_ms=call_ms))
            late = (holding or [s + call_ms / 2 for s in INTERVALS])[i]
            rows.append(_r(HOLDING, s, late, (s + 0.98 * call_ms) * 1.0 if holding is None else late * 1.2,
                           repeats=repeats, call_ms=call_ms))
    return Figures(gil, cores, threads, tuple(rows), busy)


def test_textbook_figures_name_every_cause():
    base, pure, nogil, ctrl = explain(_figures())
    assert "Alone" in base and ms(0.0001) in base and "busy" not in base
    assert "so it waited for the GIL" in pure and ms(0.0201) in pure
    assert "like the baseline" in nogil and "releases the GIL" in nogil
    assert "only when it returns" in ctrl and "later at every switch interval" in ctrl


def test_a_busy_machine_is_named_in_the_baseline():
    assert "other processes kept the machine busy" in explain(_figures(busy=True))[0]


def test_pure_python_not_tracking_the_interval_names_no_cause():
    text = explain(_figures(pure=[0.1, 0.1, 0.1]))[1]
    assert "waited for the GIL" not in text and "not about the switch interval" in text
    assert "repeat the run" in text


def test_pure_python_tracking_some_intervals_says_which():
    text = explain(_figures(pure=[0.6, 5.1, 1.0]))[1]  # 20 ms: late by 1 ms only
    assert "waited for the GIL" not in text
    assert "at 0.5 ms and 5 ms, not at 20 ms" in text and "repeat the run" in text


def test_pure_python_far_beyond_the_interval_is_not_the_interval():
    text = explain(_figures(pure=[10.0, 50.0, 200.0]))[1]
    assert "waited for the GIL" not in text and "repeat the run" in text


def test_one_repeat_names_no_cause():
    words = explain(_figures(repeats=1))
    for paragraph in words[1:]:
        assert ONE_REPEAT in paragraph
        assert "waited for the GIL" not in paragraph and "releases the GIL" not in paragraph


def test_nogil_later_than_the_baseline_on_too_few_cores_says_so():
    text = explain(_figures(nogil=[0.9, 0.9, 0.9], threads=2, cores=2))[2]
    assert "like the baseline" not in text and "3 threads want a core" in text and "2 cores" in text
    assert "not by about each switch interval" in text


def test_nogil_later_on_a_busy_machine_says_so():
    text = explain(_figures(nogil=[0.9, 0.9, 0.9], busy=True))[2]
    assert "the machine was busy" in text and "at the median and the 99th percentile" in text


def test_nogil_later_in_its_tail_only_says_where():
    f = _figures(busy=True)
    tail = Figures(f.gil, f.cores, f.threads, tuple(
        _r(NOGIL, r.interval * 1000, r.pooled.p50 * 1000, 4.5) if r.load == NOGIL else r for r in f.readings), f.busy)
    text = explain(tail)[2]
    assert "later than the baseline at the 99th percentile, but" in text and "waited for a core" in text


def test_nogil_later_for_no_reason_the_figures_give_asks_for_a_repeat():
    text = explain(_figures(nogil=[0.9, 0.9, 0.9]))[2]
    assert "later than the baseline" in text and "repeat the run" in text and "releases" not in text


def test_nogil_later_by_the_switch_interval_is_not_blamed_on_cores():
    text = explain(_figures(nogil=[0.6, 5.1, 20.1], threads=2, cores=2))[2]
    assert "waited for a core" not in text and "repeat the run" in text


def test_differences_within_the_floor_or_the_spread_are_like_the_baseline():
    assert "like the baseline" in explain(_figures(nogil=[0.1 + 0.05] * 3))[2]  # p50 and p99 < LATE_FLOOR_S apart
    assert LATE_FLOOR_S == pytest.approx(1e-4)
    noisy = _figures(nogil=[0.5] * 3, base=0.45)
    noisy = Figures(noisy.gil, noisy.cores, noisy.threads,
                    tuple(_r(r.load, r.interval * 1000, r.pooled.p50 * 1000, spread=0.3, call_ms=5.0)
                          if r.load in (BASELINE, NOGIL) else r for r in noisy.readings))
    assert "like the baseline" in explain(noisy)[2]


def test_a_nogil_kernel_earlier_than_the_baseline_is_no_later_than_it():
    assert "like the baseline" in explain(_figures(nogil=[0.05, 0.05, 0.05], base=0.5))[2]


def test_a_busy_thread_kept_from_its_calls_is_named_with_its_share():
    f = _figures()
    starved = tuple(Reading(r.load, r.interval, r.pooled, r.p50s, r.p99s, r.call,
                            (0.97, 0.03, 0.95) if r.load == HOLDING and r.interval == 0.02 else (0.99,) * 3)
                    for r in f.readings)
    words = explain(Figures(f.gil, f.cores, f.threads, starved))
    assert "In 1 of its 9 runs the busy thread spent as little as 3% of its time in its calls" in words[3]
    assert "as little as" not in " ".join(words[:3])
    assert "as little as" not in " ".join(explain(f))


def test_without_the_compiled_kernels_the_nogil_and_control_paragraphs_say_why():
    _, _, nogil, ctrl = explain(_figures(c=False))
    assert nogil.startswith("The nogil kernel did not run") and "holds the GIL" in nogil
    why = "GILFREE_NO_EXTENSIONS is set (to get them: unset GILFREE_NO_EXTENSIONS)"
    f = _figures(c=False)
    told = explain(Figures(f.gil, f.cores, f.threads, f.readings, no_kernels=why))[2]
    assert f"did not run: {why}." in told
    assert ctrl.startswith("The control") and "did not run" in ctrl


def _with_spread(f, load, spread):
    return Figures(f.gil, f.cores, f.threads,
                   tuple(_r(r.load, r.interval * 1000, r.pooled.p50 * 1000, r.pooled.p99 * 1000, spread=spread,
                            call_ms=(r.call or 0.002) * 1000) if r.load == load else r for r in f.readings))


def test_the_controls_gap_is_judged_as_a_ratio_against_the_noise():
    """A control whose repeats disagree by 100% is still later than pure Python where the ratio is
    far beyond that (0.5 ms: 3.1 ms against 0.6 ms), and not where it is within it."""
    wide = _with_spread(_figures(), HOLDING, 1.0)
    assert "only when it returns" not in explain(wide)[3]  # 20 ms: 22.5 ms against 20.1 ms, within 100%
    far = _with_spread(_figures(holding=[3.1, 12.0, 45.0]), HOLDING, 1.0)
    assert "only when it returns" in explain(far)[3]


def test_a_late_control_beside_pure_python_that_missed_the_interval_names_no_mechanism():
    """Paragraph 2 found pure Python not about the switch interval: the control paragraph must not
    then state how a thread running Python lets go of the GIL, however late the control was."""
    words = explain(_figures(pure=[0.1, 0.1, 0.1], holding=[4.0, 8.0, 24.0]))
    assert "not about the switch interval" in words[1]
    assert "at its next bytecode" not in words[3] and "only when it returns" not in words[3]
    assert "pure Python's lateness did not track the switch interval" in words[3] and "repeat the run" in words[3]
    assert "the control was later at every switch interval, by a quarter of a kernel call or more" in words[3]


def test_a_control_no_later_than_pure_python_names_no_cause():
    text = explain(_figures(holding=[s + 0.1 for s in INTERVALS]))[3]
    assert "only when it returns" not in text and "repeat the run" in text


def test_without_the_gil_nothing_waits_for_it():
    words = explain(_figures(gil=False, pure=[0.1] * 3, holding=[0.1] * 3))
    assert "runs without the GIL" in words[1] and "no GIL to wait for" in words[1]
    assert "wanting a core" in words[0] and "GIL" not in words[0]
    assert "waited for the GIL" not in " ".join(words)
    assert "like the baseline" in words[2] and "like the baseline" in words[3]


def test_without_the_gil_a_later_pure_thread_on_few_cores_waited_for_a_core():
    words = explain(_figures(gil=False, pure=[0.9] * 3, threads=2))
    assert "runs without the GIL" in words[1] and "waited for a core" in words[1]
    quiet = explain(_figures(gil=False, pure=[0.9] * 3))[1]
    assert "waited for a core" not in quiet and "repeat the run" in quiet


# --- the plot -------------------------------------------------------------------------------------

def test_the_plot_is_drawn_from_a_result_and_from_its_json(result, tmp_path):
    pytest.importorskip("matplotlib")
    for source, name in ((result, "a.png"), (json.loads(json.dumps(result.to_dict())), "b.png")):
        path = step_latency.plot(source, tmp_path / name)
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(TypeError, match="StepResult or its to_dict"):
        step_latency.plot([1, 2], tmp_path / "c.png")
    with pytest.raises(ValueError, match="latency step's"):
        step_latency.plot({"rows": [{"variant": "x", "extra": {}}]}, tmp_path / "d.png")


def _plot_doc():
    """A latency result's JSON form as the plot reads it, from the textbook figures."""
    return {"rows": [{"variant": r.load, "extra": {"switch ms": r.interval * 1000, "p50 ms": r.pooled.p50 * 1000,
                                                   "p99 ms": r.pooled.p99 * 1000}} for r in _figures().readings],
            "env": {}}


def test_the_plot_is_drawn_as_its_suffix_says_and_refuses_other_names_before_drawing(tmp_path):
    pytest.importorskip("matplotlib")
    result = _plot_doc()
    assert step_latency.plot(result, tmp_path / "a.svg").endswith("a.svg")
    assert (tmp_path / "a.svg").read_text()[:200].lstrip().startswith("<?xml")
    assert (tmp_path / step_latency.plot(result, tmp_path / "a.PDF")).read_bytes()[:5] == b"%PDF-"
    # No suffix: a PNG, and the name returned is the one written (matplotlib adds ".png").
    written = step_latency.plot(result, str(tmp_path / "bare"))
    assert written == str(tmp_path / "bare.png") and (tmp_path / "bare.png").read_bytes()[:4] == b"\x89PNG"
    for bad in ("x.txt", "x.jpeg", "x."):
        with pytest.raises(ValueError, match=r"drawn as PNG, SVG or PDF: name a file ending in \.png, \.svg, \.pdf"):
            step_latency.plot(result, tmp_path / bad)
    with pytest.raises(TypeError, match="path must be a file name"):
        step_latency.plot(result, 5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.PDF", "a.svg", "bare.png"]


def test_the_plot_leaves_the_callers_backend_alone(tmp_path, monkeypatch):
    """Drawn on a Figure of its own: no pyplot (a notebook's figure list), no matplotlib.use()."""
    matplotlib = pytest.importorskip("matplotlib")

    def switched(*args, **kwargs):
        raise AssertionError(f"the plot switched the backend: matplotlib.use{args}")

    monkeypatch.setattr(matplotlib, "use", switched)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)  # importing pyplot now fails
    path = step_latency.plot(_plot_doc(), tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG" and path == str(tmp_path / "a.png")


# --- the command line ------------------------------------------------------------------------------

@pytest.fixture
def tiny_quick(monkeypatch):
    """``--quick`` runs the latency step at its TINY size: the CLI path, real, in a second."""
    monkeypatch.setattr(step_latency, "QUICK", step_latency.TINY)


def test_cli_step_latency_json_holds_every_figure(tiny_quick, capsys):
    before = sys.getswitchinterval()
    assert cli.main(["lab", "--step", "latency", "--quick", "--json", "--no-progress"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (step,) = doc["steps"]
    assert step["step"] == "latency" and step["ok"] is True
    assert all({"p50 ms", "p99 ms", "max ms", "switch ms"} <= set(row["extra"]) for row in step["rows"])
    assert sys.getswitchinterval() == before


def test_cli_latency_combines_with_numbered_steps_and_the_lab_alone_runs_the_eight(monkeypatch, capsys):
    calls = []

    def fake(step, size, progress, **overrides):
        calls.append(step)
        return gilfree.lab.StepResult(step=step, title="fake", params={}, rows=[], checks={"fine": True},
                                      summary=[], explanation=[], env={})

    monkeypatch.setattr(gilfree.lab, "run_step", fake)
    assert cli.main(["lab", "--step", "latency", "--step", "2", "--step", "Latency", "--no-progress"]) == 0
    assert calls == ["latency", 2]
    assert "Step latency: fake" in capsys.readouterr().out
    calls.clear()
    assert cli.main(["lab", "--no-progress"]) == 0
    assert calls == list(range(1, 9))


def test_cli_plot_writes_the_png(tiny_quick, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    target = tmp_path / "latency.png"
    assert cli.main(["lab", "--step", "latency", "--quick", "--plot", str(target), "--no-progress"]) == 0
    assert f"Plot: {target}" in capsys.readouterr().out
    assert target.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, fragment", [
    (["--step", "9"], "argument --step: steps are numbered 1..8, got 9 (or latency, the GIL latency step)"),
    (["--step", "lat"], "argument --step: expected a step number 1..8, got 'lat'; did you mean latency?"),
    (["--step", "x"], "expected a step number 1..8, got 'x' (or latency, the GIL latency step)"),
    (["--step", "latency", "--strategy", "threads"], "--strategy and --scheduler apply to steps 7 and 8"),
    (["--step", "1", "--plot", "x.png"], "--plot draws the latency step: add --step latency"),
    (["--step", "latency", "--plot", "/nonexistent-folder/x.png"], "is not a writable folder"),
    (["--step", "latency", "--plot", "x.txt"], "--plot: the latency plot is drawn as PNG, SVG or PDF: name a file "
                                               "ending in .png, .svg, .pdf (or with no suffix, for PNG), not 'x.txt'"),
    (["--step", "latency", "--plot", ""], "--plot: the latency plot needs a file name such as latency.png"),
])
def test_cli_bad_values_say_what_to_do(argv, fragment, capsys, monkeypatch):
    ran = []
    monkeypatch.setattr(gilfree.lab, "run_step", lambda *args, **kwargs: ran.append(args))
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["lab", *argv, "--no-progress"])
    assert exit_info.value.code == 2 and not ran  # refused before any step ran
    err = " ".join(capsys.readouterr().err.split())
    assert fragment in err, err


def test_cli_plot_without_matplotlib_says_what_to_install(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["lab", "--step", "latency", "--plot", "x.png", "--no-progress"])
    assert exit_info.value.code == 2
    assert 'needs matplotlib: pip install "gilfree[bench]"' in capsys.readouterr().err


def test_cli_steps_are_the_labs_own(monkeypatch):
    """--step reads gilfree.lab.NAMED_STEPS, not a copy of it."""
    monkeypatch.setitem(gilfree.lab.NAMED_STEPS, "another", "step_latency")
    assert cli._step("Another") == "another" and cli._step("latency") == "latency" and cli._step(" 3") == 3


def test_cli_help_names_the_latency_step(capsys):
    with pytest.raises(SystemExit):
        cli.main(["lab", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "'latency'" in out and "--plot FILE" in out
