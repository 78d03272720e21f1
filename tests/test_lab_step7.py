"""Lab step 7 (the chunked pattern) at TINY size: every workload, strategy and implementation."""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

import pytest
from _posix import methods

from gilfree.lab import _plan
from gilfree._select import PURE_PYTHON, available, implementations
from gilfree.lab import format_result, run_step
from gilfree.lab import step7_chunked as step7
from gilfree.strategies import strategy_names


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
            assert got == {"one call", *strategy_names(available_only=True, peers=False)}
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
    assert "Speedup column: against the same workload's one call on the same implementation" in result.summary
    # TINY times each variant once: no gap is judged, and the words say so.
    assert all(r.extra["repeats"] == 1 for r in result.rows)
    explained = " ".join(result.explanation)
    assert "one repeat gives no spread" in explained.lower()
    for cause in ("own GIL", "separate cores", "too little to pay", "closer together", "never pays", "cache effect"):
        assert cause not in explained, cause


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
        executor = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context(methods("fork", "spawn")[0]))
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


def test_step7_runs_only_the_implementations_it_is_given(no_shm_leak):
    pure = {PURE_PYTHON: implementations()[PURE_PYTHON]}
    result = run_step(7, "tiny", implementations=pure)
    assert result.ok, [name for name, passed in result.checks.items() if not passed]
    assert {r.implementation for r in result.rows} == {PURE_PYTHON}
    assert not any("c-extension" in check or "compiled twin" in check for check in result.checks)
    strategies = {r.strategy for r in result.rows if r.variant == "sum of squares"}
    assert strategies == {"one call", *strategy_names(available_only=True, peers=False)}
    assert "(pure-python:" in result.explanation[0] and "c-extension" not in " ".join(result.explanation)


@pytest.mark.parametrize("bad, error, match", [
    ({"squares_n": 0}, ValueError, "squares_n must be >= 1"),
    ({"repeats": 0}, ValueError, "repeats must be >= 1"),
    ({"repeats": True}, TypeError, "repeats must be an int, not bool"),
    ({"samples": 1.5}, TypeError, "samples must be an int, not float"),
    ({"stats_n": "x"}, TypeError, "stats_n must be an int, not str"),
    ({"workers": 0}, ValueError, "workers must be >= 1"),
    ({"many_per_worker": 4}, ValueError, "many_per_worker must be more than 4"),
    ({"seed": -1}, ValueError, "seed must be in"),
    ({"executor": "threads"}, TypeError, "executor must be a concurrent.futures.Executor, not str"),
    ({"executor": object()}, TypeError, "executor must be a concurrent.futures.Executor, not object"),
    ({"progress": "x"}, TypeError, "progress must be callable"),
    ({"implementations": {"cython": None}}, ValueError, "implementations must be named 'pure-python' or 'c-extension', got 'cython'"),
])
def test_step7_refuses_bad_parameters_before_any_pool_starts(bad, error, match, no_shm_leak, monkeypatch):
    def no_pool(*args, **kwargs):
        raise AssertionError("a pool was opened before the arguments were checked")

    monkeypatch.setattr(_plan, "open_executor", no_pool)  # steps 7 and 8 open pools there
    with pytest.raises(error, match=match):
        step7.run(**{**step7.TINY, **bad})
    assert not no_shm_leak  # refused before the shared array was made, too


# --- the helpers added to gilfree.chunked -----------------------------------------------------
