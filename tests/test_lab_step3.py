"""Lab step 3 (map / starmap / imap / imap_unordered) at TINY size, and its order helpers.

``result`` runs the step on pure Python alone, and again with the compiled twin beside it (skipped
with ``--no-c-extensions`` or where it is not built): the caller decides which twins run.
"""

import json

import pytest

from gilfree.lab import format_result, run_step
from gilfree.lab._order import interleave_heavy_light, overtaken
from gilfree.lab._tasks import indexed_call, indexed_packed
from gilfree.experiment import Checks
from gilfree.lab.step3_map_variants import (APIS, ORDERED, SMALL, TITLE, UNEVEN, Arrived, Job, Plan, Task, _check,
                                            chunksizes, run)


@pytest.fixture(scope="module")
def result(ran):
    return run_step(3, "tiny", implementations=ran)


def test_rows_cover_every_api_chunksize_workload_and_implementation(result, ran):
    sizes = result.params["chunksizes"]
    assert sizes == {UNEVEN: [1, 2, 4], SMALL: chunksizes(result.params["small_tasks"], 2)}
    assert {r.implementation for r in result.rows} == set(ran)
    assert set(result.data["uneven_ranges"]) == set(ran)
    seen = {(r.variant, r.implementation, r.extra.get("chunksize")) for r in result.rows}
    for impl in ran:
        for workload in (UNEVEN, SMALL):
            assert (f"{workload}: serial", impl, None) in seen
            for api in APIS:
                for cs in sizes[workload]:
                    assert (f"{workload}: {api}", impl, cs) in seen
    assert len(result.rows) == len(seen)


def test_ordered_apis_keep_submission_order(result):
    for row in result.rows:
        if row.variant.endswith((": map", ": starmap", ": imap")):
            assert row.extra["overtaken"] == 0
    for entry in result.data["arrivals"]:
        for order in entry["orders"]:
            if entry["api"] != "imap_unordered":
                assert order == list(range(len(order)))


def test_checks_are_named_and_all_passed(result, ran):
    for impl in ran:
        for workload in (UNEVEN, SMALL):
            assert result.checks[f"{workload}, {impl}: reference"]
        for api in APIS:
            assert result.checks[f"{impl}, {api}: every task answered once"]
        for api in ORDERED:
            assert result.checks[f"{impl}, {api}: submission order"]
    assert "imap_unordered" not in " ".join(name for name in result.checks if name.endswith("submission order"))
    assert set(result.check_sentences) == set(result.checks) and result.ok


@pytest.mark.parametrize("api, got, failed", [
    ("imap", Arrived([1, 2, 3], [0, 1, 2], 0.0), set()),
    ("imap_unordered", Arrived([1, 2, 3], [2, 0, 1], 0.0), set()),
    ("imap", Arrived([1, 2, 3], [2, 0, 1], 0.0), {"pure-python, imap: submission order"}),
    ("map", Arrived([1, 2, 3], [0, 1, 1], 0.0), {"pure-python, map: every task answered once",
                                                 "pure-python, map: submission order"}),
    ("imap_unordered", Arrived([1, 2, 3], [0, 1], 0.0), {"pure-python, imap_unordered: every task answered once"}),
    ("starmap", Arrived([1, 2, 4], [0, 1, 2], 0.0), set()),  # a wrong value fails the variant's own check
])
def test_named_checks_catch_lost_repeated_and_reordered_results(api, got, failed):
    job = Job(UNEVEN, "pure-python", [Task(i, max, (i, i)) for i in range(3)], [(0, 1)] * 3, lambda: 6)
    checks = Checks()
    passed = _check(Plan(job, api, 1), got, [1, 2, 3], checks)
    assert {c.name for c in checks if not c.passed} == failed
    assert passed == (not failed and got.values == [1, 2, 3])


def test_json_round_trip_and_text(result):
    doc = json.loads(json.dumps(result.to_dict(), default=str))
    assert doc["step"] == 3 and doc["ok"] is True
    assert "busy" in doc["machine"]
    text = format_result(result)
    assert TITLE in text and "imap_unordered" in text
    assert result.summary[0].startswith("Speedup column: each row against the serial row of its own workload")
    assert len(result.explanation) == 3


def test_interleave_heavy_light():
    assert interleave_heavy_light([]) == []
    assert interleave_heavy_light([1]) == [1]
    assert interleave_heavy_light([0, 1, 2, 3, 4]) == [4, 0, 3, 1, 2]
    assert sorted(interleave_heavy_light(list(range(9)))) == list(range(9))


def test_overtaken():
    assert overtaken([]) == 0
    assert overtaken([0, 1, 2]) == 0
    assert overtaken([1, 0, 2]) == 1
    assert overtaken([2, 3, 0, 1]) == 2
    assert overtaken([3, 2, 1, 0]) == 3
    with pytest.raises(TypeError):
        overtaken([0, 1.0])
    with pytest.raises(TypeError):
        overtaken([True])


def test_chunksizes():
    assert chunksizes(16, 2) == [1, 3, 8]
    assert chunksizes(2000, 2) == [1, 32, 1000]
    assert chunksizes(3, 4) == [1]
    with pytest.raises(ValueError):
        chunksizes(10, 0)


def test_indexed_calls(impl):
    assert indexed_call(7, impl.count_primes, 0, 10) == (7, 4)
    hits = indexed_call(0, impl.monte_carlo_hits, 0, 4, 1)[1]
    assert indexed_packed((3, impl.monte_carlo_hits, 0, 4, 1)) == (3, hits)
    with pytest.raises(TypeError, match="index must be an int, not str"):
        indexed_call("7", impl.count_primes, 0, 10)
    with pytest.raises(TypeError, match="index must be an int, not bool"):
        indexed_call(True, impl.count_primes, 0, 10)
    with pytest.raises(TypeError, match="fn must be a callable"):
        indexed_call(0, "count_primes", 0, 10)
    with pytest.raises(TypeError, match=r"task must be a tuple \(index, fn, \*args\), not list"):
        indexed_packed([0, impl.count_primes, 0, 10])
    with pytest.raises(TypeError, match="got 1 item"):
        indexed_packed((0,))
    with pytest.raises(ValueError, match="reversed"):
        indexed_packed((0, impl.count_primes, 10, 0))


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"n": "x"}, TypeError, "n must be an int"),
    ({"tasks": 0}, ValueError, "tasks must be >= 1"),
    ({"n": 5, "tasks": 8}, ValueError, "n must be at least tasks"),
    ({"small_tasks": 0}, ValueError, "small_tasks must be >= 1"),
    ({"small_samples": 2.5}, TypeError, "small_samples must be an int"),
    ({"repeats": True}, TypeError, "repeats must be an int, not bool"),
    ({"workers": 0}, ValueError, "workers must be >= 1"),
    ({"seed": -1}, ValueError, "seed must be in"),
    ({"implementations": {}}, ValueError, "must include 'pure-python'"),
])
def test_bad_parameters(kwargs, error, fragment):
    params = {"n": 100, "tasks": 4, "workers": 2, "repeats": 1, **kwargs}
    with pytest.raises(error, match=fragment):
        run(**params)
