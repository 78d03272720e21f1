"""Lab step 2 (Pool.map over worker counts) at TINY size: exact, complete, serializable, no leaks."""

import json

import pytest

from gilfree._select import C_EXTENSION, PURE_PYTHON, available
from gilfree._workers import call_packed
from gilfree.lab import format_result, run_step
from gilfree.lab.step2_pool import TITLE, run, worker_counts


@pytest.fixture(scope="module")
def result():
    return run_step(2, "tiny")


def test_rows_cover_every_worker_count_and_implementation(result):
    impls = {row.implementation for row in result.rows}
    assert impls == set(available())
    counts = result.params["worker_counts"]
    assert counts == [1, 2]
    for impl in impls:
        mine = [r for r in result.rows if r.implementation == impl]
        assert [r.workers for r in mine if r.variant == "Pool.map"] == counts
        assert [r.variant for r in mine].count("in-process reference") == 1
        one = next(r for r in mine if r.variant == "Pool.map" and r.workers == 1)
        assert one.speedup == pytest.approx(1.0)
        for r in mine:
            if r.variant == "Pool.map":
                assert r.extra["efficiency"] == pytest.approx(r.speedup / r.workers)
                assert r.extra["start ms"] > 0 and r.extra["stop ms"] >= 0
    assert len(result.checks) == len(impls) * (1 + len(counts))


def test_json_round_trip_and_text(result):
    doc = json.loads(json.dumps(result.to_dict(), default=str))
    assert doc["step"] == 2 and doc["ok"] is True
    assert len(doc["data"]["startup_seconds"]) == len(available()) * 2
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


def test_bad_parameters():
    with pytest.raises(ValueError):
        run(n=0, workers=2, repeats=1)
    with pytest.raises(ValueError):
        run(n=10, workers=2, repeats=0)
    with pytest.raises(TypeError):
        run(n=10, workers="2", repeats=1)
    with pytest.raises(ValueError):
        run(n=10, workers=2, tasks=0, repeats=1)


@pytest.mark.parametrize("name", available())
def test_call_packed(name):
    assert call_packed((name, "sum_squares", 0, 10)) == 285
    with pytest.raises(TypeError):
        call_packed([name, "sum_squares", 0, 10])
    with pytest.raises(ValueError):
        call_packed((name, "no_such_kernel", 0, 10))
    with pytest.raises(ValueError):
        call_packed((name, "sum_squares", 10, 0))


def test_implementation_names_are_the_known_ones(result):
    assert {r.implementation for r in result.rows} <= {PURE_PYTHON, C_EXTENSION}
