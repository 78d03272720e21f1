"""Lab step 8 (the pipeline over shared memory) at TINY size: results, cleanup on every exit."""

from __future__ import annotations

import dataclasses
import json

import pytest

from gilfree.lab import _plan
from gilfree._select import PURE_PYTHON, available, implementations
from gilfree.chunked import array_chunks
from gilfree.lab import format_result, run_step
from gilfree import pipeline
from gilfree.lab import step8_pipeline as step8
from gilfree.registry import capabilities_of
from gilfree.strategies import strategy_names


#: The variants step 8 runs by default: the one pass, then every strategy that runs here but the peers.
LINEUP = ("one pass", *strategy_names(available_only=True, peers=False))


def stage_rows(lineup):
    """The stage rows of ``lineup``: every stage of every strategy, but the one pass's compact
    (one filter call leaves nothing to compact: no row measures nothing)."""
    return {(f"{n} {stage}", s) for n, stage in enumerate(step8.STAGES, 1) for s in lineup
            if (stage, s) != ("compact", "one pass")}


def test_step8_tiny_matches_the_reference_on_every_strategy(no_leak):
    result = run_step(8, "tiny")
    assert len(no_leak) == 2 * len(available())  # records and filter output, per implementation
    assert result.ok, [name for name, passed in result.checks.items() if not passed]
    assert result.step == 8 and result.title == step8.TITLE
    impls = set(available())
    assert {r.implementation for r in result.rows} == impls
    pipeline = {(r.implementation, r.strategy) for r in result.rows if r.variant == "pipeline"}
    assert pipeline == {(i, s) for i in impls for s in LINEUP}
    staged = "c-extension" if "c-extension" in impls else "pure-python"
    stages = {(r.variant, r.strategy) for r in result.rows if r.variant != "pipeline"}
    assert stages == stage_rows(LINEUP)
    assert all(r.extra["records"] > 0 for r in result.rows)
    assert {r.implementation for r in result.rows if r.variant != "pipeline"} == {staged}
    for row in result.rows:
        if row.variant == "pipeline":
            assert row.extra["records"] == (result.params["records"] if row.implementation == "c-extension"
                                            else result.params["pure_records"])
            assert row.extra["Mrec/s"] > 0 and row.extra["MB/s"] > 0
    assert {f"pipeline, {i}, {s}" for i in impls for s in LINEUP} <= set(result.checks)
    assert "the same checksum" in result.explanation[0]
    assert result.summary[-1].startswith("Speedup column: pipeline rows against the one pass of the same "
                                         "implementation; stage rows against the same stage of the one pass")
    # TINY times each variant once: no gap is judged, and the words say so.
    assert all(r.extra["repeats"] == 1 for r in result.rows)
    explained = " ".join(result.explanation)
    assert "one repeat gives no spread" in explained.lower()
    for cause in ("own GIL", "separate cores", "too little to pay", "never pays", "cache effect"):
        assert cause not in explained, cause
    doc = json.loads(json.dumps(result.to_dict(), default=str))
    assert doc["ok"] is True
    assert set(doc["data"]["stages"]) == {f"{i} | {s}" for i in impls for s in LINEUP}
    assert "compact" not in doc["data"]["stages"][f"{staged} | one pass"]
    assert set(doc["machine"]) >= {"busy", "cores", "line"}
    out = format_result(result)
    assert step8.TITLE in out and "FAILED" not in out


def test_step8_reports_progress_for_every_stage():
    seen = []
    run_step(8, "tiny", progress=lambda done, total, label: seen.append((done, total, label)))
    totals = [total for _, total, _ in seen]
    assert totals == sorted(totals)  # the total grows only as work is announced
    assert [d for d, _, _ in seen] == list(range(1, len(seen) + 1))
    assert seen[-1][0] == seen[-1][1]
    for stage in step8.STAGES:
        for strategy in LINEUP:
            assert any(label.endswith(f"{strategy}: {stage}") for _, _, label in seen)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_step8_cleans_up_when_a_stage_fails_midway(monkeypatch, error, no_leak):
    """The error strikes in the processes strategy's transform, after its first chunk came back
    and while the other chunks are still queued or running in the workers."""
    original = pipeline._transform
    struck = []

    def failing(job):
        if capabilities_of(job.executor).in_process:
            return original(job)

        def tick(stage):
            job.tick(stage)
            struck.append(stage)
            raise error("stop here")

        return original(dataclasses.replace(job, tick=tick))

    monkeypatch.setattr(pipeline, "_transform", failing)
    with pytest.raises(error, match="stop here"):
        run_step(8, "tiny")
    assert struck == ["transform"]
    assert no_leak  # segments existed, and the fixture checks that none is left


def test_step8_cleans_up_when_a_worker_task_fails(monkeypatch, no_leak):
    original = pipeline._transform

    def broken(job):
        if capabilities_of(job.executor).in_process:
            return original(job)
        # A kernel error raised in the worker tasks: transform with zero rounds.
        return pipeline._each_chunk(job, "transform", job.kernels.transform_inplace, (job.data,),
                                    array_chunks(job.n, job.parts), lambda a, b: (0,))

    monkeypatch.setattr(pipeline, "_transform", broken)
    with pytest.raises(ValueError, match="rounds must be >= 1, got 0"):
        run_step(8, "tiny")


def test_step8_runs_only_the_strategies_it_is_given(no_leak):
    result = run_step(8, "tiny", strategies=("threads",))
    assert result.ok, [name for name, passed in result.checks.items() if not passed]
    assert {r.strategy for r in result.rows} == {"one pass", "threads"}
    assert {(r.variant, r.strategy) for r in result.rows if r.variant != "pipeline"} == stage_rows(
        ("one pass", "threads"))
    assert not any("processes" in check or "serial" in check for check in result.checks)
    first = result.explanation[0]
    assert "worker processes" not in first and "serial" not in first
    threads = next(r for r in result.rows if r.variant == "pipeline" and r.strategy == "threads"
                   and r.implementation == ("c-extension" if "c-extension" in available() else PURE_PYTHON))
    assert f"on 2 threads (threads) at {threads.speedup:.2f}x." in first


def test_step8_runs_only_the_implementations_it_is_given(no_leak):
    pure = {PURE_PYTHON: implementations()[PURE_PYTHON]}
    result = run_step(8, "tiny", implementations=pure)
    assert len(no_leak) == 2  # records and filter output, for the one implementation
    assert result.ok, [name for name, passed in result.checks.items() if not passed]
    assert {r.implementation for r in result.rows} == {PURE_PYTHON}
    assert not any("c-extension" in check or "twins" in check for check in result.checks)
    assert {r.strategy for r in result.rows} == set(LINEUP)
    assert not any("compiled" in line or "c-extension" in line for line in result.explanation)


@pytest.mark.parametrize("bad, error, match", [
    ({"records": 0}, ValueError, "records must be >= 1"),
    ({"records": "x"}, TypeError, "records must be an int, not str"),
    ({"rounds": 0}, ValueError, "rounds must be >= 1"),
    ({"repeats": True}, TypeError, "repeats must be an int, not bool"),
    ({"threshold": "0.5"}, TypeError, "threshold must be a real number, not str"),
    ({"threshold": float("nan")}, ValueError, "threshold must be a real number \\(not NaN\\)"),
    ({"per_worker": 2.0}, TypeError, "per_worker must be an int, not float"),
    ({"workers": 0}, ValueError, "workers must be >= 1"),
    ({"seed": -1}, ValueError, "seed must be in"),
    ({"strategies": ("nope",)}, ValueError, "strategies\\[0\\] must be one of"),
    ({"strategies": "threads"}, TypeError, "strategies must be a tuple or list"),
    ({"strategies": ()}, ValueError, "strategies must name at least one"),
    ({"progress": None}, TypeError, "progress must be callable"),
    ({"implementations": ["pure-python"]}, TypeError, "implementations must be a mapping"),
])
def test_step8_refuses_bad_parameters_before_any_pool_starts(bad, error, match, no_leak, monkeypatch):
    def no_pool(*args, **kwargs):
        raise AssertionError("a pool was opened before the arguments were checked")

    monkeypatch.setattr(_plan, "open_executor", no_pool)  # steps 7 and 8 open pools there
    with pytest.raises(error, match=match):
        step8.run(**{**step8.TINY, **bad})
    assert not no_leak  # refused before any shared array was made, too
