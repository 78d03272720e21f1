"""Lab step 8 (the pipeline over shared memory) at TINY size: results, cleanup on every exit."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import time

import numpy as np
import pytest

from gilfree._select import PURE_PYTHON, available, implementations
from gilfree._stats import stats_bits
from gilfree.chunked import array_chunks
from gilfree.lab import format_result, run_step
from gilfree import pipeline
from gilfree.lab import step8_pipeline as step8
from gilfree.shm import SharedArray
from gilfree.registry import capabilities_of
from gilfree.strategies import open_executor, strategy_names


def _children_gone(deadline_s: float = 10.0) -> bool:
    """True once no worker process of this test is left (polled: see the note below)."""
    stop = time.monotonic() + deadline_s
    while multiprocessing.active_children():
        if time.monotonic() > stop:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def no_leak(no_shm_leak):
    """No segment left (the shared ``no_shm_leak``), and no worker process left either."""
    yield no_shm_leak
    assert _children_gone()


#: The variants step 8 runs by default: the one pass, then every strategy that runs here but the peers.
LINEUP = ("one pass", *strategy_names(available_only=True, peers=False))


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
    assert stages == {(f"{n} {stage}", s) for n, stage in enumerate(step8.STAGES, 1)
                      for s in LINEUP}
    assert {r.implementation for r in result.rows if r.variant != "pipeline"} == {staged}
    for row in result.rows:
        if row.variant == "pipeline":
            assert row.extra["records"] == (result.params["records"] if row.implementation == "c-extension"
                                            else result.params["pure_records"])
            assert row.extra["Mrec/s"] > 0 and row.extra["MB/s"] > 0
    assert any("checksum" in check for check in result.checks)
    doc = json.loads(json.dumps(result.to_dict(), default=str))
    assert doc["ok"] is True
    assert set(doc["data"]["stages"]) == {f"{i} | {s}" for i in impls for s in LINEUP}
    out = format_result(result)
    assert step8.TITLE in out and "FAILED" not in out


def test_step8_reports_progress_for_every_stage():
    seen = []
    run_step(8, "tiny", progress=lambda done, total, label: seen.append((done, total, label)))
    totals = {total for _, total, _ in seen}
    assert len(totals) == 1
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
    assert {(r.variant, r.strategy) for r in result.rows if r.variant != "pipeline"} == {
        (f"{n} {stage}", s) for n, stage in enumerate(step8.STAGES, 1) for s in ("one pass", "threads")}
    assert not any("processes" in check or "serial" in check for check in result.checks)
    first = result.explanation[0]
    assert "against the one pass: threads " in first and "processes" not in first
    threads = next(r for r in result.rows if r.variant == "pipeline" and r.strategy == "threads"
                   and r.implementation == ("c-extension" if "c-extension" in available() else PURE_PYTHON))
    assert f"threads {threads.speedup:.2f}x." in first


def test_step8_runs_only_the_implementations_it_is_given(no_leak):
    pure = {PURE_PYTHON: implementations()[PURE_PYTHON]}
    result = run_step(8, "tiny", implementations=pure)
    assert len(no_leak) == 2  # records and filter output, for the one implementation
    assert result.ok, [name for name, passed in result.checks.items() if not passed]
    assert {r.implementation for r in result.rows} == {PURE_PYTHON}
    assert not any("c-extension" in check or "twins" in check for check in result.checks)
    assert {r.strategy for r in result.rows} == set(LINEUP)
    assert not any("Pure Python moved" in line for line in result.explanation)


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

    monkeypatch.setattr(step8, "open_executor", no_pool)
    with pytest.raises(error, match=match):
        step8.run(**{**step8.TINY, **bad})
    assert not no_leak  # refused before any shared array was made, too


@pytest.mark.parametrize("threshold, n", [(-1.0, 3000), (0.5, 5000), (0.9, 1025), (2.0, 4100)])
@pytest.mark.parametrize("strategy", ["serial", "threads"])
def test_chunked_pipeline_equals_one_pass_at_the_edges(impl, strategy, threshold, n, no_leak):
    """Everything kept, nothing kept, sizes off the block grid: chunked equals one pass."""
    with SharedArray.create(n) as data, SharedArray.create(n) as out:
        want = pipeline.one_pass(impl, data, out, n, 5, 3, threshold, lambda stage: None)
        want_kept = out.array[:want.kept].copy()
        out.array[:] = -7.0
        with open_executor(strategy, 2) as executor:
            job = pipeline.PipelineJob(impl.name, executor, data, out, n, 3, 5, 3, threshold, lambda stage: None)
            got = pipeline.run_pipeline(job)
        assert got.kept == want.kept
        assert stats_bits(got.stats) == stats_bits(want.stats)
        assert out.array[:got.kept].tobytes() == want_kept.tobytes()
        assert (got.stats is None) == (got.kept == 0)
        assert set(got.seconds) == set(step8.STAGES)


def test_kernel_on_shared_pair_filters_a_region_into_the_same_region(impl, no_leak):
    x = np.linspace(0.0, 1.0, 4000)
    with SharedArray.copy_of(x) as src, SharedArray.create(4000) as dst:
        count = kernel_on_shared_pair(impl.name, "filter_greater", src.handle, dst.handle, 1000, 3000, 0.5)
        region = x[1000:3000]
        assert count == int((region > 0.5).sum())
        assert dst.array[1000:1000 + count].tobytes() == region[region > 0.5].tobytes()
        assert not dst.array[:1000].any() and not dst.array[1000 + count:].any()


def test_kernel_on_shared_pair_refuses_what_is_not_a_handle(no_leak):
    with SharedArray.create(10) as a:
        with pytest.raises(TypeError, match="SharedArrayHandle"):
            kernel_on_shared_pair("pure-python", "filter_greater", a.handle, "psm_nothing", 0, 10, 0.5)
        with pytest.raises(TypeError, match="SharedArrayHandle"):
            kernel_on_shared_pair("pure-python", "filter_greater", a.array, a.handle, 0, 10, 0.5)
