"""Lab step 5 (SharedMemory + numpy) at TINY size: exact, zero-copy, serializable, no leaks."""

import dataclasses
import json

import pytest

from _leaks import track_segments
from _words import opening_line
from gilfree._load import MachineLoad
from gilfree._select import PURE_PYTHON, Implementation, available
from gilfree.experiment import Experiment
from gilfree.lab import format_result, run_step
from gilfree.lab import step5_shared_memory as step5


@pytest.fixture(scope="module")
def result():
    with track_segments() as seen:
        out = run_step(5, "tiny")
    assert seen.created, "the step created no shared memory at all"
    out.leaked = seen.left
    return out


def test_step_passes_and_leaves_nothing(result):
    assert result.ok, [name for name, passed in result.checks.items() if not passed]
    assert not result.leaked
    assert result.data["leaked_segments"] == []


def test_rows_cover_every_variant_and_implementation(result):
    impls = set(available())
    assert {r.implementation for r in result.rows} == impls
    for impl in impls:
        mine = {r.variant: r for r in result.rows if r.implementation == impl}
        assert list(mine) == list(step5.VARIANTS)
        assert mine[step5.SERIAL].speedup == pytest.approx(1.0)
        assert mine[step5.SERIAL].extra["MB pickled/run"] == 0
        assert mine[step5.THREADS].strategy == "threads"
        # Zero-copy in numbers: a shared-memory run pickles a tiny fraction of a pickled run.
        assert mine[step5.SHARED].extra["B/task"] < 1024
        assert mine[step5.PICKLED].extra["MB pickled/run"] > 10 * mine[step5.SHARED].extra["MB pickled/run"]
    for impl in impls:
        for variant in step5.VARIANTS:  # checked by the runner: array bytes and statistics
            assert result.checks[f"{impl}, {variant}"]
    assert result.checks[step5.NO_LEAK] and result.checks[step5.FLAT_TASK] and result.checks[step5.GROWING_TASK]
    assert result.data["segments_created"], "the step names the segments it created"


def test_task_bytes_stay_flat_for_shared_memory_and_grow_for_pickles(result):
    sizes = result.data["task_bytes"]
    assert len(sizes) == 3
    assert [s["elements"] for s in sizes] == sorted(s["elements"] for s in sizes)
    shm = [s["shared_memory"] for s in sizes]
    assert max(shm) - min(shm) <= 32
    for s in sizes:
        assert s["slice_bytes"] <= s["pickled_slice"] < s["slice_bytes"] + 1024


def test_json_round_trip_and_text(result):
    doc = json.loads(json.dumps(result.to_dict(), default=str))
    assert doc["step"] == 5 and doc["ok"] is True
    assert set(doc["data"]["statistics"]) == set(available())
    text = format_result(result)
    assert step5.TITLE in text and "B/task" in text and "shared memory" in text
    assert 4 <= len(result.explanation) <= 9
    assert result.summary[-1] == f"Speedup column: against the same implementation's serial pass ({step5.SERIAL})"
    # TINY times each variant once: no gap is judged, and the words say so.
    assert all(r.extra["repeats"] == 1 for r in result.rows)
    assert "one repeat gives no spread" in " ".join(result.explanation)
    for cause in ("because nothing is copied", "split the work", "own GIL", "too little to pay", "releases the GIL"):
        assert cause not in " ".join(result.explanation), cause
    assert "load_average_at_start" not in doc["data"] and "new_dev_shm_entries" not in doc["data"]
    assert doc["machine"]["cores"] >= 1 and "busy" in doc["machine"]


@pytest.mark.parametrize("strategy", ["pool", "failsafe"])
def test_other_process_strategies_give_the_same_results(strategy):
    with track_segments() as seen:
        out = run_step(5, "tiny", strategy=strategy, repeats=1)
    assert out.ok, [name for name, passed in out.checks.items() if not passed]
    assert {r.strategy for r in out.rows if r.variant in (step5.SHARED, step5.PICKLED)} == {strategy}
    assert seen.created and not seen.left


def test_pure_python_alone_runs_no_compiled_kernel():
    with track_segments() as seen:
        out = step5.run(**step5.TINY, implementations={PURE_PYTHON: Implementation(PURE_PYTHON)})
    assert out.ok, [name for name, passed in out.checks.items() if not passed]
    assert {r.implementation for r in out.rows} == {PURE_PYTHON}
    assert set(out.data["statistics"]) == {PURE_PYTHON}
    assert step5.TWINS not in out.checks
    assert not seen.left


def test_a_failure_midway_still_unlinks_every_segment(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("interrupted on purpose")

    monkeypatch.setattr(Experiment, "measure", boom)
    with track_segments() as seen:
        with pytest.raises(RuntimeError, match="on purpose"):
            run_step(5, "tiny")
    assert seen.created and not seen.left



def test_a_busy_machine_opens_the_step(result):
    """The step records the runner's reading of the machine; a busy one is the first thing its text says."""
    assert (result.busy_line is not None) == result.machine["busy"]
    busy = MachineLoad(cores=2, seconds=1.0, others_cores=1.8, load_before=6.4, load_after=6.1)
    text = format_result(dataclasses.replace(result, machine=busy.as_dict()))
    assert opening_line(text).startswith("Busy machine: other processes used 1.8 of its 2 cores")

@pytest.mark.parametrize("kwargs, error, words", [
    ({"n": 0}, ValueError, "n must be >= 1"),
    ({"n": "x"}, TypeError, "n must be an int, not str"),
    ({"rounds": 0}, ValueError, "rounds must be >= 1"),
    ({"rounds": 2.0}, TypeError, "rounds must be an int, not float"),
    ({"pure_scale": 0}, ValueError, "pure_scale must be >= 1"),
    ({"repeats": 0}, ValueError, "repeats must be >= 1"),
    ({"repeats": True}, TypeError, "repeats must be an int, not bool"),
    ({"seed": -1}, ValueError, "seed must be in"),
    ({"strategy": "threads"}, ValueError, "worker processes, not 'threads'"),
    ({"strategy": "no-such"}, ValueError, "unknown strategy 'no-such'"),
    ({"strategy": 3}, TypeError, "strategy must be a str"),
    ({"workers": 0}, ValueError, "workers must be >= 1"),
    ({"workers": "2"}, TypeError, "workers must be an int, not str"),
    ({"progress": 3}, TypeError, "progress must be callable"),
    ({"implementations": {"c-extension": None}}, ValueError, "must include 'pure-python'"),
    ({"implementations": ["pure-python"]}, TypeError, "implementations must be a mapping"),
])
def test_bad_parameters_are_refused_before_any_pool_starts(monkeypatch, kwargs, error, words):
    def no_pool(*args, **kw):
        raise AssertionError("a pool was opened before the parameters were checked")

    monkeypatch.setattr(step5, "open_executor", no_pool)
    with pytest.raises(error, match=words):
        step5.run(**{**step5.TINY, **kwargs})
