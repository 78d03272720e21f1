"""``gilfree bench --suite foundation|faults``: one entry point, each suite on the shared runner.

The suites run here at tiny sizes (one repeat, a few hundred thousand elements, one start method):
these tests check what is run, checked, recorded and printed, never how fast anything was.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import pytest

from gilfree._load import MachineLoad
from gilfree.bench import faults as faults_suite
from gilfree.bench import foundation as foundation_suite
from gilfree.bench.faults import FaultsPlan, format_faults, process_strategies, run_faults
from gilfree.bench.foundation import FoundationPlan, format_foundation, run_foundation

BUSY = MachineLoad(cores=2, seconds=30.0, others_cores=1.6, load_before=6.4, load_after=6.1, worst_spread=0.3)
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
TINY_FOUNDATION = FoundationPlan(mb=1, threads=2, repeats=1, elements=200_000)
ENVIRONMENT = ("cpu", "usable_cores", "python", "python_implementation", "gil_enabled", "free_threaded_build",
               "gilfree", "implementation", "numpy")


def _cli(*args: str, cwd=None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gilfree", "bench", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def _recorded(doc: dict, schema: str) -> None:
    """What every suite's JSON holds: its schema, the machine, the interpreter, the GIL, the load."""
    assert doc["schema"] == schema
    for key in ENVIRONMENT:
        assert key in doc["environment"]
    assert doc["environment"]["gil_enabled"] == getattr(sys, "_is_gil_enabled", lambda: True)()
    reading = MachineLoad.from_dict(doc["machine"])
    assert doc["machine"] == reading.as_dict() and reading.seconds > 0
    assert json.loads(json.dumps(doc)) == doc


# -- foundation -----------------------------------------------------------------------------------

def test_the_foundation_suite_measures_its_three_ratios_on_checked_runs(c_impl):
    seen: list[tuple[int, int, str]] = []
    doc = run_foundation(TINY_FOUNDATION, progress=lambda done, total, label: seen.append((done, total, label)))
    _recorded(doc, foundation_suite.SCHEMA)
    assert doc["checks"] and all(doc["checks"].values()) and doc["errors"] == {}
    per_element, threads, stats = doc["rows"]
    assert all(row["ok"] and row["ratio"] > 0 and row["spread"] >= 0 for row in doc["rows"])
    assert per_element["kernel_ns_per_element"] > 0 and per_element["baseline_ns_per_element"] > 0
    assert threads["ideal"] == min(2, doc["cores"]) and threads["cpu_per_wall"] is not None
    assert stats["numpy_sum_GBps"] > 0 and stats["chunk_stats_GBps"] > 0
    assert [done for done, _, _ in seen] == list(range(1, len(seen) + 1)) and seen[-1][1] == len(seen)
    assert len(seen) == 1 + 6 * (1 + TINY_FOUNDATION.repeats), "the data, then six variants' calls"


def test_the_foundation_figures_fit_80_columns_and_name_what_each_ratio_is_against(c_impl):
    doc = run_foundation(TINY_FOUNDATION)
    doc["machine"] = BUSY.as_dict()  # the busy line too
    text = format_foundation(doc, width=80)
    assert text.startswith("Busy machine:")
    assert all(len(line) <= 80 for line in text.splitlines()), [line for line in text.splitlines() if len(line) > 80]
    assert "kernel vs pure Python" in text and "2 threads vs 1" in text and "vs numpy.sum" in text
    assert "per element: pure Python" in text and "GB/s" in text


def test_the_foundation_suite_says_there_is_nothing_to_compare_without_the_kernels(monkeypatch):
    from gilfree._select import PURE_PYTHON, implementations

    pure_only = {PURE_PYTHON: implementations()[PURE_PYTHON]}
    monkeypatch.setattr(foundation_suite, "implementations", lambda: pure_only)
    with pytest.raises(RuntimeError, match="compiled kernels are not installed"):
        run_foundation(TINY_FOUNDATION)


@pytest.mark.parametrize("options, message", [
    ({"mb": 0}, "mb must be >= 1"),
    ({"threads": -1}, "threads must be >= 1"),
    ({"repeats": 1.5}, "repeats must be an int"),
])
def test_the_foundation_plan_refuses_bad_sizes(options, message):
    with pytest.raises((TypeError, ValueError), match=message):
        FoundationPlan(**options)


# -- faults ---------------------------------------------------------------------------------------

def test_the_faults_suite_times_every_process_strategy_from_death_to_error():
    seen: list[int] = []
    doc = run_faults(FaultsPlan(repeats=1, start_methods=("fork",)), progress=lambda d, t, label: seen.append(d))
    _recorded(doc, faults_suite.SCHEMA)
    assert [(r["strategy"], r["start_method"]) for r in doc["rows"]] == [(s, "fork") for s in process_strategies()]
    for row in doc["rows"]:
        assert row["ok"] and row["error"] is None and row["repeats"] == 1
        assert 0 < row["median_ms"] <= row["worst_ms"] and row["round_ms"] > 0
    assert all(doc["checks"].values()) and seen == list(range(1, 2 * len(doc["rows"]) + 1))
    assert {"failsafe", "pool", "processes"} <= set(process_strategies())
    lines = format_faults(doc, width=80).splitlines()
    assert len([line for line in lines if line.startswith("  ")]) == len(doc["rows"])
    assert "median and worst of 1 round)" in " ".join(lines) and all(len(line) <= 80 for line in lines)


def test_a_death_that_does_not_surface_is_reported_and_the_rest_goes_on(monkeypatch):
    real = faults_suite.time_to_error

    def lost(strategy: str, method: str, stamp: str) -> float:
        if strategy == "pool":
            raise RuntimeError(f"{strategy}/{method}: the worker's death did not surface as WorkerDied")
        return real(strategy, method, stamp)

    monkeypatch.setattr(faults_suite, "time_to_error", lost)
    rows = {r["strategy"]: r for r in run_faults(FaultsPlan(repeats=1, start_methods=("fork",)))["rows"]}
    assert not rows["pool"]["ok"] and "did not surface as WorkerDied" in rows["pool"]["error"]
    assert rows["failsafe"]["ok"] and rows["processes"]["ok"]


def test_the_faults_plan_refuses_an_unknown_start_method():
    with pytest.raises(ValueError, match="start_methods\\[0\\] must be one of"):
        FaultsPlan(start_methods=("threads",))


# -- one entry point ------------------------------------------------------------------------------

def test_cli_runs_the_foundation_suite_and_prints_it_again_from_its_json(c_impl, tmp_path):
    done = _cli("--suite", "foundation", "--mb", "1", "--elements", "200000", "--threads", "2", "--repeats", "1",
                "--no-progress", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    saved = tmp_path / "out" / "foundation.json"
    doc = json.loads(saved.read_text())
    assert doc["schema"] == foundation_suite.SCHEMA and doc["plan"]["mb"] == 1 and doc["plan"]["threads"] == 2
    assert format_foundation(doc) in done.stdout and f"Data: {saved}" in done.stdout
    again = _cli("--from", str(saved), "--out", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr
    assert again.stdout.split("\n\nData: ")[0] == done.stdout.split("\n\nData: ")[0]


def test_cli_runs_the_faults_suite(tmp_path):
    done = _cli("--suite", "faults", "--start-method", "fork", "--repeats", "1", "--no-progress",
                "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "faults.json").read_text())
    assert doc["plan"] == {"repeats": 1, "start_methods": ["fork"]}
    assert "worker death -> the caller's WorkerDied" in done.stdout


@pytest.mark.parametrize("args, message", [
    (["--suite", "foundation", "--workers", "2"],
     "--workers: not for --suite foundation; drop it, or use --suite matrix"),
    (["--mb", "3"], "--mb: not for --suite matrix; drop it, or use --suite foundation"),
    (["--suite", "faults", "--quick", "--threads", "2"], "--quick, --threads: not for --suite faults"),
    (["--suite", "matrix", "--start-method", "fork"], "use --suite faults"),
    (["--suite", "nbody"], "invalid choice"),
])
def test_cli_refuses_options_of_another_suite_without_a_traceback(args, message, tmp_path):
    done = _cli(*args, "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.startswith("usage: gilfree bench")
    assert not (tmp_path / "out").exists(), "a refused run wrote nothing"


def test_cli_from_refuses_measuring_options_and_a_result_of_another_suite(tmp_path):
    saved = tmp_path / "faults.json"
    saved.write_text(json.dumps({"schema": faults_suite.SCHEMA, "rows": []}))
    done = _cli("--from", str(saved), "--mb", "3")
    assert done.returncode == 2 and "measures nothing: drop --mb" in done.stderr
    done = _cli("--suite", "matrix", "--from", str(saved))
    assert done.returncode == 2 and "is a result of --suite faults, not --suite matrix" in done.stderr


def test_bench_holds_results_and_no_script_reaches_into_private_modules():
    bench = os.path.join(ROOT, "bench")
    scripts = [name for name in os.listdir(bench) if name.endswith(".py")]
    assert "bench_matrix.py" not in scripts
    for name in scripts:
        with open(os.path.join(bench, name), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        modules = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        modules += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [m for m in modules if m.startswith("gilfree") and "._" in m], name
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as f:
        ci = f.read()
    assert "bench/bench_" not in ci
    for suite in ("matrix", "foundation", "faults"):
        assert f"python -m gilfree bench --suite {suite}" in ci
