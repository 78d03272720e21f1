"""Lab step 2 (Pool.map over worker counts) at TINY size: exact, complete, serializable, no leaks.

``result`` runs the step on pure Python alone, and again with the compiled twin beside it (skipped
with ``--no-c-extensions`` or where it is not built): the caller decides which twins run.
"""

import dataclasses
import json

import pytest

from _words import opening_line
from gilfree._load import MachineLoad
from gilfree._select import C_EXTENSION, PURE_PYTHON, Implementation
from gilfree.figures import plural, x
from gilfree.lab import format_result, run_step
from gilfree.lab._tasks import call_packed
from gilfree.lab.step2_pool import TITLE, run, worker_counts


@pytest.fixture(scope="module")
def result(ran):
    return run_step(2, "tiny", implementations=ran)


def test_rows_cover_every_worker_count_and_implementation(result, ran):
    impls = {row.implementation for row in result.rows}
    assert impls == set(ran)
    assert (result.params["kernel_n"] is None) == (C_EXTENSION not in ran)
    counts = result.params["worker_counts"]
    assert counts == [1, 2]
    for impl in impls:
        mine = [r for r in result.rows if r.implementation == impl]
        assert [r.workers for r in mine if r.variant == "Pool.map"] == counts
        assert [r.variant for r in mine].count("in-process reference") == 1
        loop = next(r for r in mine if r.variant == "in-process reference")
        one = next(r for r in mine if r.variant == "Pool.map" and r.workers == 1)
        assert loop.speedup == pytest.approx(1.0)
        for r in mine:
            assert r.speedup == pytest.approx(loop.seconds / r.seconds)  # against the in-process loop
            assert r.extra["ns/elem"] == pytest.approx(r.seconds / r.extra["n"] * 1e9)  # the row's own
            if r.variant == "Pool.map":
                assert r.extra["vs Pool(1)"] == pytest.approx(one.seconds / r.seconds)
                assert r.extra["efficiency"] == pytest.approx(r.extra["vs Pool(1)"] / r.workers)
                assert r.extra["start ms"] > 0 and r.extra["stop ms"] >= 0
    expected = {f"{impl}, serial" for impl in impls} | {f"{impl}, Pool.map, {plural(w, 'worker', 'workers')}"
                                                       for impl in impls for w in counts}
    assert set(result.checks) == expected  # checks by short names; the start-up calls are not the job


def test_every_ratio_says_what_it_is_against(result):
    assert result.summary[0].startswith("Speedup column: against the in-process loop")
    assert result.summary[1].startswith("vs Pool(1) and efficiency columns: against Pool.map on 1 worker")
    for impl_line in result.summary[2:]:
        assert "against the in-process loop" in impl_line
    assert result.explanation[0].startswith("Against Pool.map on 1 worker")
    assert "the time of the loop" in result.explanation[1] and "Against the in-process loop" in result.explanation[1]


def test_the_words_state_the_rows_figures(result):
    top = result.params["worker_counts"][-1]
    for impl in {r.implementation for r in result.rows}:
        row = next(r for r in result.rows
                   if r.implementation == impl and r.variant == "Pool.map" and r.workers == top)
        assert f"{x(row.extra['vs Pool(1)'])} for {impl}" in result.explanation[0]
        assert f"{x(row.speedup)} for {impl}" in result.explanation[1]
        summary = next(line for line in result.summary if line.startswith(impl))
        assert f"Pool({top}) " in summary and summary.endswith(x(row.speedup))


def test_progress_counts_every_call_up_to_its_total():
    calls = []
    run(n=1000, workers=2, kernel_scale=2, tasks=4, repeats=1,
        implementations={PURE_PYTHON: Implementation(PURE_PYTHON)},
        progress=lambda done, total, label: calls.append((done, total, label)))
    # 2 start-up variants, then the loop and 2 maps: a warm-up and one repeat each
    assert [done for done, _, _ in calls] == list(range(1, 2 * 2 + 3 * 2 + 1))
    assert calls[-1][1] == calls[-1][0] and all(total >= done for done, total, _ in calls)
    assert calls[0][2] == f"{PURE_PYTHON}, start-up, 1 worker" and calls[-1][2] == f"{PURE_PYTHON}, Pool.map, 2 workers"


def test_json_round_trip_and_text(result, ran):
    doc = json.loads(json.dumps(result.to_dict(), default=str))
    assert doc["step"] == 2 and doc["ok"] is True
    assert set(doc["machine"]) >= {"busy", "others_cores", "line"}
    assert len(doc["data"]["startup_seconds"]) == len(ran) * 2
    text = format_result(result)
    assert TITLE in text and "Pool.map" in text and "start ms" in text
    assert len(result.explanation) == 3


def test_worker_counts():
    assert worker_counts(1) == [1, 2]
    assert worker_counts(2) == [1, 2]
    assert worker_counts(6) == [1, 2, 4, 6]
    assert worker_counts(16) == [1, 2, 4, 8, 16]
    with pytest.raises(ValueError):
        worker_counts(0)
    with pytest.raises(TypeError):
        worker_counts(2.0)


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"n": "x"}, TypeError, "n must be an int"),
    ({"n": 0}, ValueError, "n must be >= 1"),
    ({"repeats": True}, TypeError, "repeats must be an int, not bool"),
    ({"repeats": 0}, ValueError, "repeats must be >= 1"),
    ({"kernel_scale": 0}, ValueError, "kernel_scale must be >= 1"),
    ({"workers": 0}, ValueError, "workers must be >= 1"),
    ({"workers": "2"}, TypeError, "workers must be an int"),
    ({"tasks": 0}, ValueError, "tasks must be >= 1"),
    ({"tasks": 1.5}, TypeError, "tasks must be an int"),
    ({"implementations": {}}, ValueError, "must include 'pure-python'"),
])
def test_bad_parameters(kwargs, error, fragment):
    params = {"n": 10, "workers": 2, "repeats": 1, **kwargs}
    with pytest.raises(error, match=fragment):
        run(**params)


def test_call_packed(impl):
    assert call_packed((impl.sum_squares, 0, 10)) == 285
    with pytest.raises(TypeError, match=r"task must be a tuple \(fn, \*args\), not list"):
        call_packed([impl.sum_squares, 0, 10])
    with pytest.raises(TypeError, match="empty tuple"):
        call_packed(())
    with pytest.raises(TypeError, match="fn must be a callable"):
        call_packed(("sum_squares", 0, 10))
    with pytest.raises(ValueError, match="reversed"):
        call_packed((impl.sum_squares, 10, 0))


def test_implementation_names_are_the_known_ones(result):
    assert {r.implementation for r in result.rows} <= {PURE_PYTHON, C_EXTENSION}


def test_a_busy_machine_opens_the_step(result):
    """The step records the machine's reading; a busy one is the first thing its text says."""
    busy = MachineLoad(cores=2, seconds=1.0, others_cores=1.8, load_before=6.4, load_after=6.1)
    text = format_result(dataclasses.replace(result, machine=busy.as_dict()))
    assert opening_line(text).startswith("Busy machine: other processes used 1.8 of its 2 cores")
