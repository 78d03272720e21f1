"""``gilfree.advise`` and ``gilfree advise``: the classifier on hand-made figures, the planner, the
refusals, and the verdict on real functions whose effect is large.

Timing-derived verdicts are tested two ways. The classifier (:func:`gilfree.advisor.verdict.judge`)
gets synthetic figures, clear and contradicting. End to end, each case uses a workload whose
effect is large (sleeping tasks on 4 threads, a task a thousand times shorter than a hand-off,
arrays whose pickling costs many times the work); where the effect cannot be large on a 2-core
machine (a pure-Python loop or a nogil kernel on 2 threads), the test accepts ``unclear`` only
when the advisor itself measured the machine as busy or noisy, never the opposite verdict.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from pathlib import Path

import pytest

import _advise_cases
from _leaks import alive
import gilfree
from gilfree import cli, examples
from gilfree._load import MachineLoad
from gilfree.advisor import Advice, BudgetTooSmall, advise, choose_strategies
from gilfree.advisor import measure
from gilfree.advisor.measure import (PLAN_SHARE, Plan, Spec, default_worker_counts, group_units, plan, run_groups,
                                     same_results)
from gilfree.experiment import Experiment
from gilfree.advisor.report import format_advice
from gilfree.advisor.target import MOST_TASKS, as_tasks, literal_task, named_inputs, process_refusal, resolve
from gilfree.advisor.verdict import FREE_CORES_NEEDED, Row, TaskCosts, judge

GIL = gilfree.gil_enabled()
DOCS = Path(__file__).resolve().parent.parent / "docs" / "advise.md"


# -- the classifier, on hand-made figures ---------------------------------------------------------


def _rows(threads=None, processes=None, shm=None, *, serial=(1.0, 1.0), spread=0.02, workers=2):
    """A serial reference and the rows given as (seconds, cpu_seconds)."""
    ref = Row("serial", "serial", 1, serial[0], serial[1], spread, 5)
    out = [ref]
    for label, uses, figures, in_shm in (("threads", "threads", threads, False),
                                         ("processes", "processes", processes, False),
                                         ("processes+shm", "processes", shm, True)):
        if figures is not None:
            out.append(Row(label, uses, workers, figures[0], figures[1], spread, 5, 0.01, ref, shared_memory=in_shm))
    return out


TASK = TaskCosts(seconds=0.25, cpu_seconds=0.25, pickle_seconds=1e-5, pickle_bytes=60)


def test_one_core_busy_and_no_speedup_holds_the_gil():
    v = judge(_rows(threads=(1.0, 1.0), processes=(0.52, 1.0)), TASK, gil=True, free_cores=2.0)
    assert v.threads == "holds the gil"
    assert v.processes == "parallel"
    assert v.recommend == "processes x2"
    assert any("holds the GIL" in s and "1.00x" in s for s in v.sentences)


def test_the_same_figures_without_the_gil_name_no_cause():
    v = judge(_rows(threads=(1.0, 1.0)), TASK, gil=False, free_cores=2.0)
    assert v.threads == "took turns"
    assert not any("holds the GIL" in s for s in v.sentences)
    assert any("do not say" in s for s in v.sentences)


@pytest.mark.parametrize("gil, why", [(True, "releases the GIL"), (False, "without the GIL")])
def test_faster_on_more_cores_is_parallel(gil, why):
    v = judge(_rows(threads=(0.5, 1.0), processes=(0.55, 1.0)), TASK, gil=gil, free_cores=2.0)
    assert v.threads == "parallel"
    assert any(why in s for s in v.sentences)
    # Threads within the noise of the best (no processes to start, nothing to pickle) are the pick.
    assert v.recommend == "threads x2"


def test_processes_clearly_ahead_of_threads_are_the_pick():
    v = judge(_rows(threads=(0.8, 1.25), processes=(0.5, 1.0)), TASK, gil=True, free_cores=2.0)
    assert v.recommend == "processes x2"


def test_a_waiting_function_is_named_so():
    v = judge(_rows(threads=(0.26, 0.01), serial=(1.0, 0.01)), TASK, gil=True)
    assert v.threads == "waits"
    assert any("mostly waits" in s for s in v.sentences)


def test_waiting_without_a_speedup_is_unclear():
    v = judge(_rows(threads=(1.0, 0.01), serial=(1.0, 0.01)), TASK, gil=True)
    assert v.threads == "unclear"
    assert any("repeat the run" in s for s in v.sentences)


def test_a_busy_machine_makes_the_gil_question_unclear():
    """One core busy means nothing when other processes left only one core free."""
    v = judge(_rows(threads=(1.0, 1.0)), TASK, gil=True, free_cores=FREE_CORES_NEEDED - 0.6)
    assert v.threads == "unclear"
    assert not any(": your function holds the GIL" in s for s in v.sentences)
    assert any("cores free" in s for s in v.sentences)
    # A speedup seen on a busy machine is still a speedup.
    assert judge(_rows(threads=(0.55, 1.0)), TASK, gil=True, free_cores=0.9).threads == "parallel"


def test_a_speedup_within_the_spread_is_not_a_gain():
    rows = _rows(threads=(0.8, 1.25), spread=0.4)
    v = judge(rows, TASK, gil=True, free_cores=2.0)
    assert v.threads == "unclear"  # 1.25x, 1.25 cores: neither a fingerprint nor a gain beyond 40%
    assert v.recommend == "serial"
    assert any("stay serial" in s for s in v.sentences)


def test_contradicting_figures_are_unclear():
    """Faster beyond the noise, yet no more cores busy than serial: no cause is named."""
    v = judge(_rows(threads=(0.5, 0.5)), TASK, gil=True, free_cores=2.0)
    assert v.threads == "unclear"
    assert any("do not support a cause" in s for s in v.sentences)


def test_more_cpu_and_slower_is_no_gain():
    v = judge(_rows(threads=(1.3, 2.6)), TASK, gil=True, free_cores=2.0)
    assert v.threads == "no gain"


def test_one_thread_says_nothing_about_the_gil():
    v = judge(_rows(threads=(1.0, 1.0), workers=1), TASK, gil=True, free_cores=2.0)
    assert v.threads == "unclear"
    assert any("one thread cannot show" in s for s in v.sentences)


def test_missing_cpu_figures_are_unclear():
    rows = _rows(threads=(1.0, None))
    assert judge(rows, TASK, gil=True).threads == "unclear"


def test_a_tiny_task_says_parallelism_does_not_pay():
    tiny = TaskCosts(seconds=2e-6, cpu_seconds=2e-6, pickle_seconds=1e-5, pickle_bytes=40)
    v = judge(_rows(threads=(10.0, 10.0), processes=(30.0, 30.0)), tiny, gil=True, free_cores=2.0)
    assert (v.threads, v.processes, v.recommend) == ("too small", "too small", "serial")
    assert any("too little to pay" in s for s in v.sentences)
    assert not any("GIL" in s or "pickling" in s for s in v.sentences)


def test_a_tiny_task_that_still_got_faster_is_not_called_too_small():
    tiny = TaskCosts(seconds=5e-4, cpu_seconds=1e-6)
    v = judge(_rows(threads=(0.3, 0.01), serial=(1.0, 0.01)), tiny, gil=True)
    assert v.threads == "waits"


def test_pickling_a_large_share_of_each_task_points_to_shared_memory():
    costs = TaskCosts(seconds=0.002, cpu_seconds=0.002, pickle_seconds=0.004, pickle_bytes=8_000_000,
                      array_bytes=8_000_000, handle_bytes=120)
    v = judge(_rows(processes=(3.0, 3.0), shm=(0.6, 1.2)), costs, gil=True, free_cores=2.0)
    assert v.pickling_bound
    said = next(s for s in v.sentences if "pickling costs" in s)
    assert "200%" in said and "shared memory" in said and "120 bytes" in said
    assert v.recommend == "processes+shm x2"


def test_pickling_without_arrays_says_send_less():
    costs = TaskCosts(seconds=0.01, cpu_seconds=0.01, pickle_seconds=0.005, pickle_bytes=2_000_000)
    v = judge(_rows(processes=(0.9, 1.0)), costs, gil=True)
    assert v.pickling_bound
    assert any("send less" in s for s in v.sentences)


def test_cheap_pickling_is_not_mentioned():
    v = judge(_rows(processes=(0.5, 1.0)), TASK, gil=True)
    assert not v.pickling_bound
    assert not any("pickling" in s for s in v.sentences)


def test_a_row_whose_results_differ_is_never_recommended():
    rows = _rows(threads=(0.5, 1.0), processes=(0.7, 1.0))
    rows[1] = Row(**{**rows[1].__dict__, "same_results": False})
    v = judge(rows, TASK, gil=True, free_cores=2.0)
    assert v.recommend == "processes x2"
    assert any("threads x2 returned results that differ" in s for s in v.sentences)


def _differs(row: Row) -> Row:
    return Row(**{**row.__dict__, "same_results": False})


def test_a_faster_row_whose_results_differ_is_no_reason_to_use_it():
    """Threads 2x faster but wrong: not "threads help", not "too small", not "nothing ran faster"."""
    rows = _rows(threads=(0.5, 1.0))
    rows[1] = _differs(rows[1])
    for costs in (TASK, TaskCosts(seconds=2e-4, cpu_seconds=2e-4)):
        v = judge(rows, costs, gil=True, free_cores=2.0)
        assert v.recommend == "serial" and v.threads != "too small"
        assert not any("threads help" in s or "nothing ran faster" in s or "too little" in s for s in v.sentences)
        assert any("ran faster than serial but returned other results: stay serial until they agree" in s
                   for s in v.sentences)


def test_faster_processes_whose_results_differ_say_so():
    rows = _rows(processes=(0.5, 1.0))
    rows[1] = _differs(rows[1])
    v = judge(rows, TASK, gil=True, free_cores=2.0)
    assert v.processes == "parallel" and v.recommend == "serial"
    assert any("but their results differ" in s for s in v.sentences)


def test_shared_memory_is_advised_only_where_it_paid():
    """Processes 0.33x pickled, 0.62x through shared memory: both lost to serial."""
    costs = TaskCosts(seconds=0.002, cpu_seconds=0.002, pickle_seconds=0.004, pickle_bytes=8_000_000,
                      array_bytes=8_000_000, handle_bytes=120)
    v = judge(_rows(processes=(3.0, 3.0), shm=(1.6, 1.6)), costs, gil=True, free_cores=2.0)
    said = next(s for s in v.sentences if "pickling costs" in s)
    assert "pass arrays through shared memory" not in said
    assert "shared memory cuts that cost" in said and "0.62x" in said and "0.33x" in said and "slower than" in said
    # No better through shared memory than pickled: pickling is not the obstacle.
    v = judge(_rows(processes=(1.6, 1.6), shm=(1.6, 1.6)), costs, gil=True, free_cores=2.0)
    said = next(s for s in v.sentences if "pickling costs" in s)
    assert "pass arrays" not in said and "not what holds processes back" in said


@pytest.mark.parametrize("serial, gil, words", [
    ((1.0, 0.01), True, "the calls waited side by side"),
    ((1.0, 1.0), True, "its own interpreter and GIL"),
    ((1.0, 1.0), False, "ran on more than one core"),
])
def test_processes_say_how_they_ran_side_by_side(serial, gil, words):
    v = judge(_rows(processes=(0.5, serial[1]), serial=serial), TASK, gil=gil, free_cores=2.0)
    said = next(s for s in v.sentences if s.startswith("processes "))
    assert words in said
    if not gil or serial[1] < 0.5:
        assert "GIL" not in said


def test_threads_keeping_fewer_cores_busy_than_serial_do_not_hold_the_gil():
    v = judge(_rows(threads=(1.0, 0.4)), TASK, gil=True, free_cores=2.0)
    assert v.threads == "unclear"
    assert not any("holds the GIL" in s for s in v.sentences)
    assert any("fewer cores busy than serial (0.40 CPU seconds per wall second against 1.00)" in s
               for s in v.sentences)


def test_a_crowded_machine_is_not_called_waiting():
    """Serial kept 0.4 of a core busy because other processes left only 0.4 free: not 'mostly waits'."""
    v = judge(_rows(threads=(0.5, 0.4), serial=(1.0, 0.4)), TASK, gil=True, free_cores=0.4)
    assert v.threads == "unclear"
    assert not any("mostly waits" in s for s in v.sentences)
    assert any("0.4 cores free" in s for s in v.sentences)
    # The same serial figure with the cores free is waiting; far below the free share, waiting too.
    assert judge(_rows(threads=(0.5, 0.4), serial=(1.0, 0.4)), TASK, gil=True, free_cores=2.0).threads == "waits"
    assert judge(_rows(threads=(0.5, 0.02), serial=(1.0, 0.01)), TASK, gil=True, free_cores=0.4).threads == "waits"
    # Others fill whatever a waiting call leaves idle: no cores free, yet a sleeping call still waits.
    assert judge(_rows(threads=(0.25, 0.01), serial=(1.0, 0.001)), TASK, gil=True, free_cores=0.0).threads == "waits"


def test_a_group_s_own_free_cores_come_first():
    rows = _rows(threads=(1.0, 1.0))
    rows[1] = Row(**{**rows[1].__dict__, "free_cores": 0.9})
    assert judge(rows, TASK, gil=True, free_cores=2.0).threads == "unclear"


def test_a_one_core_machine_says_so_not_other_processes():
    v = judge(_rows(threads=(1.0, 1.0)), TASK, gil=True, free_cores=1.0, cores=1)
    assert v.threads == "unclear"
    assert any("this machine has 1 usable core" in s for s in v.sentences)
    assert not any("other processes" in s for s in v.sentences)
    v = judge(_rows(threads=(1.0, 1.0)), TASK, gil=True, free_cores=0.9, cores=2)
    assert any("other processes left only 0.9 of the 2 cores free" in s for s in v.sentences)


def test_same_results():
    np = pytest.importorskip("numpy")
    assert same_results([1, 2.0, float("nan")], [1, 2.0, float("nan")])
    assert not same_results([1, 2], [1, 3])
    assert not same_results([1], [1, 1])
    assert same_results([np.array([1.0, np.nan])], [np.array([1.0, np.nan])])
    assert not same_results([np.arange(3)], [np.arange(1, 4)])
    assert same_results([object()], [object()])  # == is identity: nothing to say about objects without it


def test_strategies_not_run_are_labelled_so():
    v = judge(_rows(), TASK, gil=True)
    assert (v.threads, v.processes, v.recommend) == ("not run", "not run", "serial")


# -- the planner: the budget is kept by planning -----------------------------------------------


SPECS = [Spec("threads", "threads", "threads"), Spec("processes", "processes", "processes")]


def test_a_plan_fits_its_share_of_the_budget():
    costs = TaskCosts(seconds=0.05, cpu_seconds=0.05, pickle_seconds=1e-5)
    p = plan(costs, SPECS, (1, 2, 4), budget=20)
    assert p.estimate_seconds <= PLAN_SHARE * 20
    assert p.repeats >= 3 and p.tasks >= 4


def test_a_tight_budget_drops_repeats_and_worker_counts_before_giving_up():
    costs = TaskCosts(seconds=0.1, cpu_seconds=0.1)
    p = plan(costs, SPECS, (1, 2, 4), budget=6)
    assert p.estimate_seconds <= PLAN_SHARE * 6
    assert p.repeats == 3
    assert 4 in p.worker_counts and p.dropped_counts
    with pytest.raises(BudgetTooSmall, match="raise the budget"):
        plan(costs, SPECS, (1, 2, 4), budget=0.5)


def test_a_group_that_no_longer_fits_is_skipped_with_the_reason():
    """The run's own guard: past the deadline, the groups left are listed as skipped, not run."""
    costs = TaskCosts(seconds=0.01, cpu_seconds=0.01)
    the_plan = Plan(tasks=4, repeats=3, worker_counts=(1, 2), estimate_seconds=1.0)
    called = []
    seen = []
    experiment = Experiment(lambda d, t, label: seen.append((d, t)))
    experiment.plan(2 * group_units(SPECS[:1], the_plan.repeats))
    rows, skipped, loads = run_groups(lambda n: called.append(n), [(1,)] * 4, None, SPECS[:1], the_plan,
                                      experiment, deadline=0.0, costs=costs)
    assert rows == [] and called == [] and loads == []
    assert seen[-1] == (0, 0)  # the skipped groups' units are off the total: a bar ends full
    assert [name for name, _ in skipped] == ["threads x1", "threads x2"]
    assert all("budget was spent" in why for _, why in skipped)


def test_a_run_slower_than_its_plan_starts_no_group_after_the_deadline(monkeypatch):
    """The probe sees a quick function; from the plan on each call sleeps: the first group runs past
    the deadline, and the later ones are listed as skipped, never started, the bar still ending full."""
    slow = threading.Event()

    def no_estimate(*args, **kwargs):
        slow.set()  # the plan is made after the probe: from here on, calls are slow
        return 0.0

    monkeypatch.setattr(measure, "_estimate", no_estimate)
    monkeypatch.setattr(measure, "MOST_TASKS_PER_WORKER", 1)
    seen = []
    advice = advise(_advise_cases.Sleeper(slow, 0.01), [(1,)], strategies=["threads"], workers=[1, 2, 4],
                    budget=0.3, progress=lambda d, t, label: seen.append((d, t, label)))
    assert [name for name, why in advice.skipped if "budget was spent" in why] == ["threads x2", "threads x4"]
    assert {r.workers for r in advice.rows if r.uses == "threads"} == {1}
    assert not any("x2" in label or "x4" in label for _, _, label in seen if "budget" not in label)
    assert seen[-1][0] == seen[-1][1]
    assert [w for w, _ in advice.group_loads] == [1]


def test_a_strategy_that_cannot_start_takes_its_units_off_the_bar(monkeypatch):
    from gilfree import strategies

    real = strategies.open_executor

    def refuse_processes(name, workers, **options):
        if name == "processes":
            raise OSError("no processes today")
        return real(name, workers, **options)

    monkeypatch.setattr(strategies, "open_executor", refuse_processes)
    seen = []
    advice = _quick(examples.tiny, [(1,)], strategies=["threads", "processes"], budget=5,
                    progress=lambda d, t, label: seen.append((d, t)))
    row = advice.row("processes")
    assert row is not None and "could not start: OSError: no processes today" in row.error
    assert seen[-1][0] == seen[-1][1]


def test_the_estimate_gives_processes_no_more_speedup_than_the_cores(monkeypatch):
    costs = TaskCosts(seconds=0.01, cpu_seconds=0.01)
    monkeypatch.setattr(measure, "usable_cores", lambda: 2)
    at_2 = measure._estimate(costs, SPECS[1:], 80, 3, [2])
    at_8 = measure._estimate(costs, SPECS[1:], 80, 3, [8])
    assert at_8 >= at_2 * 0.9  # 8 workers on 2 cores run no faster than 2 (start-up aside)


def test_process_pools_open_before_the_thread_pool(monkeypatch):
    """Forking while a thread pool's workers live copies their locks mid-use: processes open first."""
    from gilfree import strategies

    real = strategies.open_executor
    opened = []

    def spy(name, workers, **options):
        opened.append(name)
        return real(name, workers, **options)

    monkeypatch.setattr(strategies, "open_executor", spy)
    _quick(examples.tiny, [(1,)], strategies=["threads", "processes"], budget=5)
    assert opened == ["processes", "threads"]


def test_default_worker_counts():
    assert default_worker_counts(1) == (1, 2)
    assert default_worker_counts(2) == (1, 2)
    assert default_worker_counts(6) == (1, 2, 4, 6)
    assert default_worker_counts(16) == (1, 2, 4, 8, 16)


# -- naming the function and its inputs -------------------------------------------------------


def test_resolve_finds_a_function_by_module_and_name():
    assert resolve("gilfree.examples:python_loop") is examples.python_loop


@pytest.mark.parametrize("target, words", [
    ("gilfree.examples.python_loop", "a colon"),
    ("no_such_module_14:f", "cannot import module 'no_such_module_14'"),
    ("gilfree.examples:no_such_function", "has no attribute 'no_such_function'"),
])
def test_resolve_says_what_is_wrong(target, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        resolve(target)


def test_resolve_refuses_a_non_callable():
    with pytest.raises(TypeError, match="not a function"):
        resolve("gilfree.examples:__all__")


def test_literal_tasks():
    assert literal_task("300000") == (300000,)
    assert literal_task("(0, 10)") == (0, 10)
    assert literal_task("[1, 2]") == ([1, 2],)
    with pytest.raises(ValueError, match="not a Python literal"):
        literal_task("__import__('os')")


def test_named_inputs_call_a_factory():
    tasks = named_inputs("gilfree.examples:big_arrays")
    assert len(tasks) == 4 and tasks[0][0].shape == (1_000_000,)


def test_an_endless_iterator_of_inputs_is_refused_not_listed_forever():
    import itertools

    with pytest.raises(ValueError, match="endless iterator"):
        as_tasks(itertools.repeat((1,)))
    assert len(as_tasks(itertools.repeat((1,), MOST_TASKS))) == MOST_TASKS


def test_a_repeated_task_is_pickled_once(monkeypatch):
    from gilfree.advisor import target

    calls = []
    real = target._pickles
    monkeypatch.setattr(target, "_pickles", lambda obj: calls.append(obj) or real(obj))
    task = (1,)
    assert process_refusal(examples.tiny, [task] * 1000) is None
    assert calls == [examples.tiny, task]
    calls.clear()
    assert process_refusal(examples.tiny, as_tasks([5] * 1000)) is None
    assert calls == [examples.tiny, (5,)]


def test_a_module_that_fails_to_import_is_not_called_missing(tmp_path, monkeypatch):
    (tmp_path / "broken_14.py").write_text("def work(n:\n    return n\n")
    (tmp_path / "needs_14.py").write_text("import no_such_dependency_14\ndef work(n):\n    return n\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RuntimeError, match="importing 'broken_14' .*raised SyntaxError"):
        resolve("broken_14:work")
    with pytest.raises(RuntimeError, match="importing 'needs_14' .*no_such_dependency_14.*not installed"):
        resolve("needs_14:work")
    with pytest.raises(RuntimeError, match="importing 'broken_14' .*raised SyntaxError"):
        named_inputs("broken_14:work")
    with pytest.raises(ValueError, match="cannot import module 'gilfree.no_such_14'"):
        resolve("gilfree.no_such_14:work")


def test_an_inputs_function_that_raises_is_named():
    with pytest.raises(RuntimeError, match=r"--inputs _advise_cases:inputs_fail\(\) raised OSError: disk gone"):
        named_inputs("_advise_cases:inputs_fail")


@pytest.mark.parametrize("implementation, n", [("c-extension", 400_000_000), ("pure-python", 400_000)])
def test_kernel_loop_keeps_a_call_about_as_long_on_either_implementation(monkeypatch, implementation, n):
    """The docs' kernel_loop command fits its budget on a pure-Python install too: the twin sums a
    thousandth of the range (a pure-Python call over the whole would take about a second)."""
    seen = []
    monkeypatch.setattr(gilfree, "IMPLEMENTATION", implementation)
    monkeypatch.setattr(gilfree, "sum_squares", lambda lo, hi: seen.append((lo, hi)) or 0)
    examples.kernel_loop(400_000_000)
    assert seen == [(0, n)]
    if DOCS.exists():
        assert "kernel_loop --args 400000000 " in DOCS.read_text()


def test_inputs_are_tasks():
    assert as_tasks([1, (2, 3)]) == [(1,), (2, 3)]
    with pytest.raises(TypeError, match="iterable of tasks"):
        as_tasks(5)
    with pytest.raises(ValueError, match="no task"):
        as_tasks([])


def test_process_refusals_name_the_reason():
    assert process_refusal(examples.tiny, [(1,)]) is None
    assert "lambda" in process_refusal(lambda n: n, [(1,)])

    def local(n):
        return n

    assert "inside another function" in process_refusal(local, [(1,)])
    assert "do not pickle" in process_refusal(_advise_cases.takes_anything, [(1,), (threading.Lock(),)])


def test_peers_run_only_when_asked():
    specs, skipped = choose_strategies(None, arrays=False, refusal=None)
    names = {s.strategy for s in specs}
    assert {"threads", "processes"} <= names and "dask" not in names and "serial" not in names
    assert any(name == "dask" and "only when asked" in why for name, why in skipped)
    with pytest.raises(ValueError, match="unknown strategy"):
        choose_strategies(["no-such-strategy"], arrays=False, refusal=None)


# -- advise(): bad input is refused before anything runs --------------------------------------


@pytest.mark.parametrize("kwargs, error, words", [
    ({"budget": 0}, ValueError, "budget"),
    ({"workers": 2}, TypeError, "list of worker counts"),
    ({"workers": []}, ValueError, "at least one worker count"),
    ({"workers": [0]}, ValueError, "worker count"),
    ({"strategies": "threads"}, TypeError, "list of names"),
])
def test_advise_refuses_bad_arguments(kwargs, error, words):
    with pytest.raises(error, match=words):
        advise(examples.tiny, [(1,)], **kwargs)


def test_a_function_that_raises_is_reported_with_its_task():
    with pytest.raises(RuntimeError, match=r"fails raised ZeroDivisionError: no work for 7 .*task 0"):
        advise(_advise_cases.fails, [(7,)], strategies=["threads"], workers=[2], budget=5)


def test_a_function_that_raises_only_when_timed_is_reported_with_its_task():
    with pytest.raises(RuntimeError, match=r"raised ZeroDivisionError: late .*task 0"):
        advise(_advise_cases.FailsLater(), [(7,)], strategies=["threads"], workers=[2], budget=5)


def test_a_call_longer_than_the_budget_allows_is_refused():
    with pytest.raises(BudgetTooSmall,
                       match=r"one call \(task 0\) took \d+\.\d s, more than a quarter of the 0.2 s budget"):
        advise(examples.wait, [(0.1,)], strategies=["threads"], workers=[2], budget=0.2)


# -- end to end, on effects too large for a busy machine to hide ------------------------------


def _quick(fn, inputs, **kwargs) -> Advice:
    kwargs.setdefault("budget", 8)
    kwargs.setdefault("workers", [2])
    return advise(fn, inputs, **kwargs)


def _allowed(advice: Advice, clear: str, workers: int = 2) -> set[str]:
    """The clear verdict, and "unclear" too where the advisor measured the machine busy or noisy
    while the group that the verdict reads (``workers``) ran, or over the whole run."""
    group = advice.group_load(workers)
    hazy = any(load is not None and (load.busy or load.noisy) for load in (group, advice.load))
    return {clear, "unclear"} if hazy else {clear}


def test_sleeping_tasks_wait_and_threads_help():
    advice = _quick(examples.wait, [(0.02,)], strategies=["threads"], workers=[4])
    assert advice.verdict.threads == "waits", format_advice(advice)
    assert advice.verdict.recommend == "threads x4"


def test_tiny_tasks_do_not_pay():
    advice = _quick(examples.tiny, [(1,)], strategies=["threads", "processes"])
    assert (advice.verdict.threads, advice.verdict.processes) == ("too small", "too small"), format_advice(advice)
    assert advice.verdict.recommend == "serial"


@pytest.mark.slow
def test_a_pure_python_loop(request):
    """GIL on: threads keep one core busy and hold the GIL. GIL off (3.13t): they run in parallel."""
    advice = _quick(examples.python_loop, [(150_000,)], strategies=["threads"], budget=10)
    clear = "holds the gil" if GIL else "parallel"
    assert advice.verdict.threads in _allowed(advice, clear), format_advice(advice)
    assert advice.gil is GIL


@pytest.mark.slow
def test_a_nogil_kernel_runs_in_parallel_on_threads(c_impl):
    # 100 million squares: several milliseconds of work a call (20 million took one, the edge of "too small").
    advice = _quick(c_impl.sum_squares, [(0, 100_000_000)], strategies=["threads"], budget=10)
    assert advice.verdict.threads in _allowed(advice, "parallel"), format_advice(advice)


def test_large_arrays_go_through_shared_memory(no_shm_leak):
    np = pytest.importorskip("numpy")
    arrays = [(np.full(500_000, 0.5),), (np.full(500_000, 0.25),)]
    advice = _quick(_advise_cases.array_sum, arrays, strategies=["processes"], budget=10)
    v, c = advice.verdict, advice.costs
    assert v.pickling_bound, format_advice(advice)
    assert c.array_bytes == 4_000_000 and c.pickle_bytes > 4_000_000 and c.handle_bytes < 1000
    shm = advice.row("processes+shm")
    assert shm is not None and shm.ok and shm.shared_memory
    assert any("shared memory" in s for s in v.sentences)
    assert len(no_shm_leak) == 2  # one segment per distinct array, each unlinked by the end


def test_shared_memory_that_is_full_skips_the_shm_row(monkeypatch):
    import errno

    np = pytest.importorskip("numpy")
    from gilfree import shm

    def full(array):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shm.SharedArray, "copy_of", staticmethod(full))
    advice = _quick(_advise_cases.array_sum, [(np.full(1000, 0.5),)], strategies=["processes"], budget=5)
    assert advice.row("processes+shm") is None and advice.row("processes") is not None
    assert any(name == "processes+shm" and "No space left" in why for name, why in advice.skipped)


def test_a_lambda_runs_on_threads_and_is_refused_processes():
    advice = _quick(lambda n: n + 1, [(1,)], strategies=["threads", "processes"], budget=5)
    assert {r.label for r in advice.rows} == {"serial", "threads"}
    assert any(name == "processes" and "lambda" in why for name, why in advice.skipped)


def test_arguments_that_do_not_pickle_skip_processes():
    advice = _quick(_advise_cases.takes_anything, [(threading.Lock(),)], strategies=["threads", "processes"],
                    budget=5)
    assert any(name == "processes" and "do not pickle" in why for name, why in advice.skipped)
    assert advice.row("threads") is not None


def test_a_result_that_does_not_pickle_skips_processes():
    advice = _quick(_advise_cases.returns_lock, [(1,)], strategies=["processes"], budget=5)
    assert any(name == "processes" and "result" in why for name, why in advice.skipped)


def test_results_that_differ_from_serial_are_flagged():
    advice = _quick(_advise_cases.which_thread, [(1,)], strategies=["threads"], budget=4)
    row = advice.row("threads")
    assert row is not None and row.same_results is False
    assert advice.verdict.recommend == "serial"
    assert "results differ from serial's" in format_advice(advice)


def test_progress_is_reported_to_the_end():
    seen = []
    _quick(examples.tiny, [(1,)], strategies=["threads"], progress=lambda d, t, label: seen.append((d, t, label)))
    assert seen and seen[-1][0] == seen[-1][1]
    assert all(d <= t for d, t, _ in seen)


def test_advice_as_json_and_text():
    advice = _quick(examples.tiny, [(1,)], strategies=["threads"])
    doc = json.loads(json.dumps(advice.to_dict(), default=str))
    assert doc["verdict"]["recommend"] == "serial"
    assert doc["function"] == "gilfree.examples:tiny"
    assert {r["strategy"] for r in doc["rows"]} == {"serial", "threads"}
    text = format_advice(advice, width=80)
    assert "Verdict:" in text and "threads" in text
    assert max(map(len, text.splitlines())) <= 80


def test_the_report_names_a_busy_machine_first():
    advice = _quick(examples.tiny, [(1,)], strategies=["threads"])
    busy = MachineLoad(cores=2, seconds=1.0, others_cores=1.5, load_before=3.0, load_after=3.0)
    text = format_advice(Advice(**{**advice.__dict__, "load": busy}), width=200)
    assert text.splitlines()[2].startswith("Busy machine")


# -- the command line ------------------------------------------------------------------------


def test_cli_advise_json(capsys):
    code = cli.main(["advise", "gilfree.examples:tiny", "--args", "1", "--args", "2", "--strategy", "threads",
                     "--workers", "2", "--budget", "5", "--json", "--no-progress"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"]["threads"] == "too small"


@pytest.mark.parametrize("argv, words", [
    (["gilfree.examples.tiny", "--args", "1"], "a colon"),
    (["no_such_module_14:f", "--args", "1"], "cannot import module"),
    (["gilfree.examples:tiny", "--args", "open('x')"], "not a Python literal"),
    (["gilfree.examples:tiny"], "one of the arguments --args --inputs is required"),
    (["gilfree.examples:tiny", "--args", "1", "--budget", "0"], "more than 0 seconds"),
    (["gilfree.examples:tiny", "--args", "1", "--strategy", "nope"], "unknown strategy"),
])
def test_cli_advise_refuses_clearly(argv, words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["advise", *argv, "--no-progress"])
    assert exit_info.value.code == 2
    assert words in capsys.readouterr().err


def test_cli_advise_reports_a_failing_function(capsys):
    code = cli.main(["advise", "_advise_cases:fails", "--args", "3", "--strategy", "threads", "--no-progress"])
    assert code == 1
    assert "ZeroDivisionError" in capsys.readouterr().err


def test_cli_advise_reports_a_failing_inputs_function_without_usage(capsys):
    code = cli.main(["advise", "gilfree.examples:tiny", "--inputs", "_advise_cases:inputs_fail", "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err
    assert "raised OSError: disk gone" in err and "usage:" not in err and "Traceback" not in err


def test_the_report_ends_each_sentence_with_one_full_stop():
    advice = _quick(examples.tiny, [(1,)], strategies=["threads"])
    said = "threads 1.00x against serial: the figures do not support a cause here; repeat the run."
    verdict = type(advice.verdict)(**{**advice.verdict.__dict__, "sentences": (said,)})
    text = format_advice(Advice(**{**advice.__dict__, "verdict": verdict}), width=200)
    assert "repeat the run." in text and ".." not in text


def test_cli_advise_finds_a_module_in_the_current_folder(tmp_path, monkeypatch, capsys):
    """As ``python -m`` does: the ``gilfree`` script alone would look for it beside itself."""
    (tmp_path / "my_module_14.py").write_text("def work(n):\n    return sum(range(n))\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "my_module_14", raising=False)
    code = cli.main(["advise", "my_module_14:work", "--args", "1000", "--strategy", "threads", "--workers", "2",
                     "--budget", "3", "--json", "--no-progress"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["function"] == "my_module_14:work"
    monkeypatch.delitem(sys.modules, "my_module_14")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM ends a Windows process outright")
def test_sigterm_stops_the_run_and_its_workers(tmp_path):
    """SIGTERM mid-run: exit status 143, and every worker process the run started is gone."""
    import signal
    import subprocess
    import time

    folder = tmp_path / "pids"
    folder.mkdir()
    env = dict(os.environ)
    here = Path(__file__).resolve().parent
    env["PYTHONPATH"] = os.pathsep.join([str(Path(gilfree.__file__).resolve().parent.parent), str(here),
                                         *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.Popen([sys.executable, "-m", "gilfree", "advise", "_advise_cases:note_pid_then_wait",
                             "--args", repr(str(folder)), "--strategy", "processes", "--workers", "2",
                             "--budget", "60", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        give_up = time.monotonic() + 60
        while not [p for p in folder.iterdir() if int(p.name) != proc.pid]:  # a worker has run a task
            assert proc.poll() is None and time.monotonic() < give_up, proc.communicate(timeout=10)
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err
    assert "workers stopped" in err and "Traceback" not in err
    workers = [int(p.name) for p in folder.iterdir() if int(p.name) != proc.pid]
    give_up = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < give_up:
        time.sleep(0.01)
    assert not [pid for pid in workers if alive(pid)]


def test_the_docs_commands_parse():
    """Every ``$ python -m gilfree advise`` line of the docs page is a command this parser accepts
    (tests/test_docs.py runs them)."""
    if not DOCS.exists():
        pytest.skip("no docs/ beside the tests (an installed wheel's run)")
    prefix = "$ python -m gilfree advise"
    commands = [line[2:].split() for line in DOCS.read_text().splitlines() if line.startswith(prefix)]
    assert commands
    parser = cli._parser()
    for command in commands:
        assert command[:3] == ["python", "-m", "gilfree"]
        args, unknown = parser.parse_known_args(command[3:])
        assert not unknown and args.command == "advise"
        assert args.budget is not None and args.budget <= 15  # each docs command stays quick
        resolve(args.function)
