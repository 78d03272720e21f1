"""The experiment runner: warm-up checked, every timed result checked, progress counted once."""

from __future__ import annotations

import pytest

from gilfree.experiment import Checks, Experiment, Variant


def _counter(values: list[object]):
    it = iter(values)
    return lambda: next(it)


def test_measure_checks_warmup_and_every_timed_run() -> None:
    ex = Experiment()
    # right in the warm-up, wrong in the second timed run: the variant is wrong
    out = ex.measure([Variant("a", _counter([1, 1, 2, 1]), check=lambda r: r == 1),
                      Variant("b", lambda: 1, check=lambda r: r == 1)], repeats=3)
    assert out["a"].right is False and out["b"].right is True
    assert ex.checks.as_dict() == {"a": False, "b": True}
    assert out["a"].result == 1  # the warm-up result
    assert len(out["a"].timing.wall) == 3 and len(out["b"].timing.cpu) == 3
    assert out["b"].seconds >= 0 and out["b"].spread >= 0


def test_repeats_are_interleaved_and_reset_runs_before_every_call() -> None:
    calls: list[str] = []
    ex = Experiment()
    ex.measure([Variant("a", lambda: calls.append("a"), reset=lambda: calls.append("reset a")),
                Variant("b", lambda: calls.append("b"))], repeats=2, warmup=1)
    assert calls == ["reset a", "a", "b"] * 3


def test_progress_is_counted_once_per_call_and_step() -> None:
    seen: list[tuple[int, int, str]] = []
    ex = Experiment(lambda d, t, label: seen.append((d, t, label)))
    assert ex.step("prepare", lambda: 42) == 42
    ex.measure([Variant("a", lambda: None), Variant("b", lambda: None)], repeats=2, warmup=1)
    assert [d for d, _, _ in seen] == list(range(1, 8))
    assert seen[-1][:2] == (7, 7)
    assert all(d <= t for d, t, _ in seen)
    assert [label for _, _, label in seen[1:3]] == ["a", "b"]


def test_errors_raise_by_default_and_are_recorded_on_request() -> None:
    def boom() -> None:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        Experiment().measure([Variant("x", boom)], repeats=1)
    ex = Experiment(errors="record")
    out = ex.measure([Variant("x", boom), Variant("y", lambda: 1)], repeats=2)
    assert out["x"].timing is None and out["x"].error == "RuntimeError: no" and not out["x"].ok
    assert out["y"].ok
    assert ex.checks.as_dict() == {"x": False}
    with pytest.raises(ValueError, match="no timing"):
        out["x"].seconds


def test_bad_arguments_are_refused() -> None:
    ex = Experiment()
    with pytest.raises(ValueError, match="unique"):
        ex.measure([Variant("a", lambda: 1), Variant("a", lambda: 2)], repeats=1)
    with pytest.raises(ValueError):
        ex.measure([Variant("a", lambda: 1)], repeats=0)
    with pytest.raises(ValueError, match="cpu"):
        ex.measure([Variant("a", lambda: 1)], repeats=1, cpu="wall")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="errors"):
        Experiment(errors="ignore")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Experiment(progress=3)  # type: ignore[arg-type]


def test_tree_cpu_clock_counts_worker_processes() -> None:
    from concurrent.futures import ProcessPoolExecutor

    from gilfree import cpu

    with ProcessPoolExecutor(1) as pool:
        pool.submit(int).result()  # the worker exists before the clock lists the tree
        ex = Experiment()
        out = ex.measure([Variant("worker", lambda: pool.submit(cpu.cpu_bound, 300_000).result())],
                         repeats=1, warmup=0, cpu="tree")
    assert out["worker"].right and out["worker"].timing is not None


def test_checks_keep_the_worst_outcome_and_the_first_sentence() -> None:
    checks = Checks()
    assert checks.add("sums", True, "the sums equal the closed form")
    assert not checks.add("sums", False)
    assert checks.add("order", True)
    assert checks.as_dict() == {"sums": False, "order": True}
    assert checks.sentences() == {"sums": "the sums equal the closed form", "order": "order"}
    assert "sums" in checks and len(checks) == 2 and not checks.ok
    assert [c.name for c in checks] == ["sums", "order"]


def test_finish_reads_the_machine() -> None:
    ex = Experiment()
    ex.measure([Variant("a", lambda: sum(range(1000)))], repeats=3)
    reading = ex.finish()
    assert reading.cores >= 1 and reading.seconds > 0
    assert reading.worst_spread is not None and reading.worst_spread >= 0


def test_finish_judges_the_noise_by_the_spreads_given_and_reads_the_machine_once() -> None:
    ex = Experiment()
    ex.measure([Variant("a", lambda: sum(range(1000)))], repeats=3)
    reading = ex.finish(spreads=[0.5, None, 0.1])
    assert (reading.worst_spread, reading.median_spread) == (0.5, 0.3)
    assert ex.finish() is reading  # a step's words and its result read the same figures
    with pytest.raises(ValueError, match="give spreads to its first call"):
        ex.finish(spreads=[0.2])


def test_a_planned_total_stays_fixed() -> None:
    seen: list[tuple[int, int]] = []
    ex = Experiment(lambda d, t, label: seen.append((d, t)))
    variants = [Variant("a", lambda: None), Variant("b", lambda: None)]
    ex.plan(1 + 2 * Experiment.units(variants, repeats=2))
    ex.step("prepare", lambda: None)
    ex.measure(variants, repeats=2)
    ex.measure(variants, repeats=2)
    assert {t for _, t in seen} == {13} and seen[-1] == (13, 13)


def test_every_timed_result_is_kept_on_request() -> None:
    ex = Experiment()
    out = ex.measure([Variant("a", _counter([0, 1, 2, 3]))], repeats=3, keep_results=True)
    assert out["a"].result == 0 and out["a"].results == (1, 2, 3)
    assert Experiment().measure([Variant("b", lambda: 1)], repeats=2)["b"].results == ()
