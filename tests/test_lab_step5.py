"""Lab step 5 (SharedMemory + numpy) at TINY size: exact, zero-copy, serializable, no leaks."""

import json

import pytest

from _leaks import track_segments
from gilfree._select import available
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
        for variant in step5.VARIANTS:
            assert result.checks[f"{impl}, {variant}: transformed array equals the serial reference"]
            assert result.checks[f"{impl}, {variant}: statistics equal the serial reference"]


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
    assert 3 <= len(result.explanation) <= 5


def test_the_pool_strategy_gives_the_same_results():
    with track_segments() as seen:
        out = run_step(5, "tiny", strategy="pool", repeats=1)
    assert out.ok, [name for name, passed in out.checks.items() if not passed]
    assert {r.strategy for r in out.rows if r.variant in (step5.SHARED, step5.PICKLED)} == {"pool"}
    assert seen.created and not seen.left


def test_a_failure_midway_still_unlinks_every_segment(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("interrupted on purpose")

    monkeypatch.setattr(step5, "interleaved", boom)
    with track_segments() as seen:
        with pytest.raises(RuntimeError, match="on purpose"):
            run_step(5, "tiny")
    assert seen.created and not seen.left


@pytest.mark.parametrize("kwargs, error", [
    ({"n": 0}, ValueError),
    ({"rounds": 0}, ValueError),
    ({"repeats": 0}, ValueError),
    ({"strategy": "threads"}, ValueError),
    ({"workers": 0}, ValueError),
    ({"workers": "2"}, TypeError),
])
def test_bad_parameters_are_refused_before_any_work(kwargs, error):
    with pytest.raises(error):
        step5.run(**{**step5.TINY, **kwargs})
