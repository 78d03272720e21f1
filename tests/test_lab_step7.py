"""Lab step 7 (the chunked pattern) at TINY size.

The chunked helpers the step stands on are tested in tests/test_chunked.py.
"""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

import pytest

from gilfree._select import available
from gilfree.lab import format_result, run_step
from gilfree.lab import step7_chunked as step7


def test_step7_tiny_covers_every_workload_strategy_and_implementation(no_shm_leak):
    result = run_step(7, "tiny")
    assert no_shm_leak  # the array of the statistics lived in shared memory
    assert result.ok, [name for name, passed in result.checks.items() if not passed]
    assert result.step == 7 and result.title == step7.TITLE
    variants = {r.variant for r in result.rows}
    assert variants == set(step7.WORKLOADS) | {f"chunks: {w}" for w in step7.SWEEP_WORKLOADS}
    assert {r.implementation for r in result.rows} == set(available())
    for workload in step7.WORKLOADS:
        for impl in available():
            got = {r.strategy for r in result.rows if r.variant == workload and r.implementation == impl}
            assert got == {"one call", *step7.STRATEGIES}
    sweep = [r for r in result.rows if r.variant == "chunks: monte carlo pi" and r.strategy == "processes"]
    chunks = sorted(r.extra["chunks"] for r in sweep)
    k = result.params["workers"]
    assert chunks == [k, 4 * k, k * step7.TINY["many_per_worker"]]
    assert all(r.seconds > 0 for r in result.rows)
    text = json.dumps(result.to_dict(), default=str)
    assert json.loads(text)["ok"] is True
    out = format_result(result)
    assert step7.TITLE in out and "FAILED" not in out
    assert result.summary and result.explanation


def test_step7_reports_progress_up_to_its_total():
    seen = []
    run_step(7, "tiny", progress=lambda done, total, label: seen.append((done, total, label)))
    assert seen and seen[-1][0] == seen[-1][1]
    assert [d for d, _, _ in seen] == sorted(d for d, _, _ in seen)


@pytest.mark.parametrize("kind", ["threads", "processes"])
def test_step7_runs_on_an_executor_the_caller_brings(kind, no_shm_leak):
    if kind == "threads":
        executor: Executor = ThreadPoolExecutor(max_workers=2)
    else:
        executor = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("fork"))
    with executor:
        result = run_step(7, "tiny", executor=executor)
        assert executor.submit(sum, [1, 2]).result() == 3  # the step left it running
    name = f"given {type(executor).__name__}"
    assert result.ok
    assert result.params["executor"] == name
    rows = [r for r in result.rows if r.strategy == name]
    assert {(r.variant, r.implementation) for r in rows} == {
        (w, i) for w in step7.WORKLOADS for i in available()}
    assert all(r.workers == 2 for r in rows)
    assert all(passed for check, passed in result.checks.items() if name in check)


@pytest.mark.parametrize("bad, error", [
    ({"squares_n": 0}, ValueError),
    ({"repeats": 0}, ValueError),
    ({"samples": 1.5}, TypeError),
    ({"workers": 0}, ValueError),
    ({"many_per_worker": 4}, ValueError),
    ({"executor": "threads"}, TypeError),
])
def test_step7_refuses_bad_parameters(bad, error, no_shm_leak):
    params = {**step7.TINY, **bad}
    with pytest.raises(error):
        step7.run(**params)
