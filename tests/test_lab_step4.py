"""Lab step 4 (ProcessPoolExecutor + as_completed) at TINY size, and its helpers.

``result`` runs the step on pure Python alone, and again with the compiled twin beside it (skipped
with ``--no-c-extensions`` or where it is not built): the caller decides which twins run.
"""

import json

import pytest

from gilfree.lab import format_result, run_step
from gilfree.experiment import Checks
from gilfree.lab.step4_as_completed import (AS_COMPLETED, IN_ORDER, KINDS, ONE_FAILS, SERIAL, TITLE, Arrival, Job,
                                            Outcome, Plan, Task, _check, gather, growing_ranges, run)
from gilfree.strategies import open_executor


@pytest.fixture(scope="module")
def result(ran):
    return run_step(4, "tiny", implementations=ran)


def test_rows_cover_every_variant_and_implementation(result, ran):
    seen = {(r.variant, r.implementation) for r in result.rows}
    assert seen == {(kind, impl) for kind in (SERIAL, AS_COMPLETED, IN_ORDER, ONE_FAILS) for impl in ran}
    assert set(result.data["reference"]) == set(ran)
    for row in result.rows:
        assert row.extra["failed"] == (1 if row.variant == ONE_FAILS else 0)
        assert sorted(map(int, row.extra["arrival"].split())) == list(range(result.params["tasks"]))
        if row.variant in (SERIAL, IN_ORDER):
            assert row.extra["overtaken"] == 0


def test_every_speedup_is_against_what_the_summary_says(result, ran):
    """Against the serial reference; the run that skips the failed task's work against that time less its share."""
    assert result.summary[0].startswith("Speedup column: each row against the serial reference of its implementation")
    shares = result.data["failed_task_share"]
    assert set(shares) == set(ran) and all(0 <= share < 1 for share in shares.values())
    assert all(f"{share:.0%} for {impl}" in result.summary[0] for impl, share in shares.items())
    for row in result.rows:
        serial = next(r for r in result.rows if r.implementation == row.implementation and r.variant == SERIAL)
        against = serial.seconds * ((1 - shares[row.implementation]) if row.variant == ONE_FAILS else 1)
        assert row.speedup == pytest.approx(against / row.seconds)


def test_failure_is_reported_and_the_rest_add_up(result):
    bad = result.params["fail"]
    for impl, ref in result.data["reference"].items():
        runs = [r for r in result.data["runs"] if r["implementation"] == impl and r["variant"] == ONE_FAILS]
        assert runs
        for entry in runs:
            failed = [a for a in entry["arrivals"] if a["error"] is not None]
            assert [a["task"] for a in failed] == [bad]
            assert failed[0]["error_type"] == "ValueError" and "reversed" in failed[0]["error"]
            assert sum(a["result"] for a in entry["arrivals"] if a["error"] is None) == sum(ref) - ref[bad]


def test_semantics_are_named_checks_and_all_passed(result, ran):
    for impl in ran:
        assert result.checks[f"{impl}: reference"]
        for kind in KINDS:
            assert result.checks[f"{impl}, {kind}: arrival order"]
            assert result.checks[f"{impl}, {kind}: no lost results"]
        assert result.checks[f"{impl}, {ONE_FAILS}: the failing task's error"]
    assert set(result.check_sentences) == set(result.checks) and result.ok


def _arrivals(order, results, error=None):
    return Outcome([Arrival(i, 0, 1, 0.0, result=results[i], error_type=error if results[i] is None else None,
                            error="range is reversed" if results[i] is None else None) for i in order], 0.0)


@pytest.mark.parametrize("kind, got, failed", [
    (IN_ORDER, _arrivals([0, 1, 2], [5, 6, 7]), set()),
    (AS_COMPLETED, _arrivals([2, 0, 1], [5, 6, 7]), set()),
    (IN_ORDER, _arrivals([1, 0, 2], [5, 6, 7]), {"arrival order"}),
    (AS_COMPLETED, _arrivals([0, 2], [5, 6, 7]), {"arrival order", "no lost results"}),
    (AS_COMPLETED, _arrivals([0, 1, 2], [5, 6, 8]), {"no lost results"}),
    (ONE_FAILS, _arrivals([0, 2, 1], [5, None, 7], "ValueError"), set()),
    (ONE_FAILS, _arrivals([0, 2, 1], [5, None, 7], "TypeError"), {"the failing task's error"}),
    (ONE_FAILS, _arrivals([0, 1, 2], [5, 6, 7]), {"the failing task's error"}),
    (ONE_FAILS, _arrivals([0, 1], [5, None, 7], "ValueError"), {"arrival order", "no lost results"}),
])
def test_named_checks_catch_lost_results_wrong_errors_and_order(kind, got, failed):
    job = Job("pure-python", [Task(max, 0, 1)] * 3, 1, 3, lambda: 18)
    checks = Checks()
    passed = _check(Plan(job, kind), got, [5, 6, 7], checks)
    assert {c.name for c in checks if not c.passed} == {f"pure-python, {kind}: {name}" for name in failed}
    assert passed == (not failed)


def test_json_round_trip_and_text(result):
    doc = json.loads(json.dumps(result.to_dict(), default=str))
    assert doc["step"] == 4 and doc["ok"] is True
    assert "busy" in doc["machine"]
    text = format_result(result)
    assert TITLE in text and "ValueError" in text and "as_completed" in text
    assert len(result.explanation) == 3


def test_growing_ranges():
    ranges = growing_ranges(100, 4)
    assert ranges[0][0] == 0 and ranges[-1][1] == 100
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    widths = [hi - lo for lo, hi in ranges]
    assert widths == sorted(widths) and widths[0] < widths[-1]
    assert growing_ranges(1, 1) == [(0, 1)]
    with pytest.raises(ValueError):
        growing_ranges(5, 4)
    with pytest.raises(ValueError):
        growing_ranges(10, 0)
    with pytest.raises(TypeError, match="n must be an int"):
        growing_ranges(10.0, 2)
    with pytest.raises(TypeError, match="parts must be an int"):
        growing_ranges(10, True)


def test_gather_keeps_going_past_a_failure(impl):
    jobs = [Task(impl.count_primes, 0, 100), Task(impl.count_primes, 50, 10), Task(impl.count_primes, 100, 200)]
    with open_executor("serial") as executor:
        arrivals, first = gather(executor, jobs)
    assert first >= 0
    by_task = {a.task: a for a in arrivals}
    assert by_task[0].result == 25 and by_task[2].result == 21
    assert by_task[1].result is None and by_task[1].error_type == "ValueError"
    assert (by_task[1].lo, by_task[1].hi) == (50, 10)


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"n": "x"}, TypeError, "n must be an int"),
    ({"n": 5, "tasks": 4}, ValueError, "n must be at least 10"),
    ({"tasks": 1}, ValueError, "tasks must be >= 2"),
    ({"tasks": 4, "fail": 4}, ValueError, r"fail must be a task index in \[0, 4\)"),
    ({"fail": 1.0}, TypeError, "fail must be an int"),
    ({"kernel_scale": 0}, ValueError, "kernel_scale must be >= 1"),
    ({"repeats": True}, TypeError, "repeats must be an int, not bool"),
    ({"workers": 0}, ValueError, "workers must be >= 1"),
    ({"implementations": {}}, ValueError, "must include 'pure-python'"),
])
def test_bad_parameters(kwargs, error, fragment):
    params = {"n": 100, "tasks": 4, "workers": 2, "repeats": 1, **kwargs}
    with pytest.raises(error, match=fragment):
        run(**params)
