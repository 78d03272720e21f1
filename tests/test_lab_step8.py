"""Lab step 8 (the pipeline over shared memory) at TINY size: results, cleanup on every exit.

The pipeline itself (gilfree.pipeline) is tested in tests/test_pipeline.py.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from gilfree._select import available
from gilfree.chunked import array_chunks
from gilfree.lab import format_result, run_step
from gilfree import pipeline
from gilfree.lab import step8_pipeline as step8


def test_step8_tiny_matches_the_reference_on_every_strategy(no_leak):
    result = run_step(8, "tiny")
    assert len(no_leak) == 2 * len(available())  # records and filter output, per implementation
    assert result.ok, [name for name, passed in result.checks.items() if not passed]
    assert result.step == 8 and result.title == step8.TITLE
    impls = set(available())
    assert {r.implementation for r in result.rows} == impls
    pipeline = {(r.implementation, r.strategy) for r in result.rows if r.variant == "pipeline"}
    assert pipeline == {(i, s) for i in impls for s in step8.STRATEGIES}
    staged = "c-extension" if "c-extension" in impls else "pure-python"
    stages = {(r.variant, r.strategy) for r in result.rows if r.variant != "pipeline"}
    assert stages == {(f"{n} {stage}", s) for n, stage in enumerate(step8.STAGES, 1)
                      for s in step8.STRATEGIES}
    assert {r.implementation for r in result.rows if r.variant != "pipeline"} == {staged}
    for row in result.rows:
        if row.variant == "pipeline":
            assert row.extra["records"] == (result.params["records"] if row.implementation == "c-extension"
                                            else result.params["pure_records"])
            assert row.extra["Mrec/s"] > 0 and row.extra["MB/s"] > 0
    assert any("checksum" in check for check in result.checks)
    doc = json.loads(json.dumps(result.to_dict(), default=str))
    assert doc["ok"] is True
    assert set(doc["data"]["stages"]) == {f"{i} | {s}" for i in impls for s in step8.STRATEGIES}
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
        for strategy in step8.STRATEGIES:
            assert any(label.endswith(f"{strategy}: {stage}") for _, _, label in seen)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_step8_cleans_up_when_a_stage_fails_midway(monkeypatch, error, no_leak):
    """The error strikes in the processes strategy's transform, after its first chunk came back
    and while the other chunks are still queued or running in the workers."""
    original = pipeline._transform
    struck = []

    def failing(job):
        if job.in_process:
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
        if job.in_process:
            return original(job)
        return pipeline._each_chunk(job, "transform", "no_such_kernel", (job.data,),
                                 array_chunks(job.n, job.parts))

    monkeypatch.setattr(pipeline, "_transform", broken)
    with pytest.raises(ValueError, match="no kernel named 'no_such_kernel'"):
        run_step(8, "tiny")


@pytest.mark.parametrize("bad, error", [
    ({"records": 0}, ValueError),
    ({"rounds": 0}, ValueError),
    ({"threshold": "0.5"}, TypeError),
    ({"per_worker": 2.0}, TypeError),
    ({"workers": 0}, ValueError),
])
def test_step8_refuses_bad_parameters(bad, error, no_leak):
    with pytest.raises(error):
        step8.run(**{**step8.TINY, **bad})
