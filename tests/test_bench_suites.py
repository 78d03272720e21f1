"""``gilfree bench --suite foundation|faults``: one entry point, each suite on the shared runner.

The suites run here at tiny sizes (one repeat, a few hundred thousand elements, one start method):
these tests check what is run, checked, recorded and printed, never how fast anything was.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys

import pytest
from _checkout import checkout_path

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
    """``gilfree bench ARGS`` in a child; a child still running after ``timeout`` seconds fails the
    test with its threads' stacks (faulthandler's dump on SIGABRT), so a hang says where it was."""
    argv = [sys.executable, "-m", "gilfree", "bench", *args]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONFAULTHANDLER": "1"}) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            try:
                out, err = proc.communicate(timeout=30)
            finally:
                proc.kill()
            pytest.fail(f"gilfree bench {' '.join(args)} still ran after {timeout} s; its stacks:\n{err[-6000:]}")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


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
    bench = str(checkout_path("bench"))
    ci_run = checkout_path(".ci", "run")
    scripts = [name for name in os.listdir(bench) if name.endswith(".py")]
    assert "bench_matrix.py" not in scripts
    for name in scripts:
        with open(os.path.join(bench, name), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        modules = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        modules += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [m for m in modules if m.startswith("gilfree") and "._" in m], name
    with open(ci_run, encoding="utf-8") as f:
        ci = f.read()
    assert "bench/bench_" not in ci
    for suite in ("matrix", "foundation", "faults"):
        assert f"python -m gilfree bench --suite {suite}" in ci


# -- overhead -------------------------------------------------------------------------------------

from gilfree.bench import overhead as overhead_suite  # noqa: E402
from gilfree.bench.overhead import (PER_ITEM_SHARE, REFERENCE, TASKS, OverheadPlan, contenders,  # noqa: E402
                                    findings, format_overhead, markdown_overhead, run_overhead, summary)

#: Tiny sizes, one round; joblib's loky workers take a second to start, and the rows are the same code.
TINY_OVERHEAD = OverheadPlan(tiny=300, small=20, medium=4, repeats=1, skip=("joblib", "loky", "mpire"))
COMMITTED_OVERHEAD = os.path.join(ROOT, "bench", "results", "bench-2core", "overhead.json")


@pytest.fixture(scope="module")
def overhead_doc():
    seen: list[tuple[int, int]] = []
    doc = run_overhead(TINY_OVERHEAD, progress=lambda done, total, label: seen.append((done, total)))
    doc["_progress"] = seen
    return doc


def test_the_overhead_suite_runs_every_task_size_through_every_pool_on_checked_runs(overhead_doc):
    doc = dict(overhead_doc)
    seen = doc.pop("_progress")
    _recorded(doc, overhead_suite.SCHEMA)
    names = [pool["name"] for pool in doc["pools"]]
    assert {"failsafe", "pool", "processes"} <= set(names) and names[:3] == list(process_strategies())
    assert REFERENCE in names and "ProcessPoolExecutor" in names and "joblib" not in names
    assert {"joblib", "loky", "mpire"} <= set(doc["missing"])
    assert [(r["task"], r["name"]) for r in doc["rows"]] == [(t, n) for t in TASKS for n in names]
    assert doc["checks"] and all(doc["checks"].values())
    for task in TASKS:
        rows = [r for r in doc["rows"] if r["task"] == task]
        assert all(r["ok"] and r["error"] is None and r["tasks_per_s"] > 0 for r in rows)
        assert sum(r["best"] for r in rows) == 1 and max(r["vs_best"] for r in rows) == 1.0
        assert next(r for r in rows if r["name"] == REFERENCE)["vs_reference"] == 1.0
        per_item = {c.name for c in contenders(TINY_OVERHEAD)[0] if c.per_item}
        assert per_item == {"processes"}, "ProcessesExecutor.map keeps the stdlib's chunksize=1"
        assert {r["items"] for r in rows if r["name"] not in per_item} == {TINY_OVERHEAD.items(task)}
        assert {r["items"] for r in rows if r["name"] in per_item} == {
            max(1, TINY_OVERHEAD.items(task) // PER_ITEM_SHARE)}
    assert [r["name"] for r in doc["startup"]] == names and all(r["ok"] and r["ms"] > 0 for r in doc["startup"])
    assert doc["plan"]["start_method"] in ("fork", "spawn", "forkserver") and doc["plan"]["repeats"] == 1
    assert [done for done, _ in seen] == list(range(1, len(seen) + 1)) and seen[-1][1] == len(seen)
    assert len(seen) == 2 * len(names) + len(names) + len(TASKS) * 2 * len(names), \
        "start-up rounds, one opening per pool, then each task size's rounds"


def test_the_overhead_figures_fit_80_columns_and_the_page_names_how_each_pool_was_called(overhead_doc):
    doc = {k: v for k, v in overhead_doc.items() if k != "_progress"}
    doc["machine"] = BUSY.as_dict()
    text = format_overhead(doc, width=80)
    assert all(len(line) <= 80 for line in text.splitlines()), [line for line in text.splitlines() if len(line) > 80]
    assert "In short: Busy machine:" in text, "a busy machine is named before any conclusion"
    for pool in doc["pools"]:
        assert pool["name"] in text
    page = markdown_overhead(doc)
    assert "| failsafe | FailSafePool.map, chunksize='auto' |" in page
    assert "| processes | ProcessPoolExecutor.map, chunksize=1 |" in page
    assert "Left out: joblib: left out by the plan" in page


def _findings_doc(failsafe: float, reference: float, best: float, spread: float, repeats: int = 5) -> dict:
    """Hand-picked rates (tasks per second) for every task size, each row with the same spread."""
    rows = []
    for task in TASKS:
        for name, rate in (("failsafe", failsafe), (REFERENCE, reference), ("loky", best)):
            rows.append({"task": task, "items": 1000, "name": name, "ok": True, "tasks_per_s": rate,
                         "spread": spread})
    return {"plan": {"workers": 2, "start_method": "fork", "repeats": repeats}, "rows": rows, "startup": [],
            "machine": None}


@pytest.mark.parametrize("failsafe, spread, repeats, judged, words", [
    (110.0, 0.02, 5, "met", "target >= 1.00x: met"),
    (97.0, 0.10, 5, "within", "short by less than the repeats' spread (10%), not a measured shortfall"),
    (80.0, 0.10, 5, "missed", "missed, beyond the repeats' spread (10%)"),
    (97.0, 0.0, 1, "unknown", "in one round, which gives no spread to judge by"),
])
def test_the_words_judge_failsafe_against_pool_map_from_the_figures_alone(failsafe, spread, repeats, judged, words):
    doc = _findings_doc(failsafe, 100.0, 50.0, spread, repeats)  # Pool.map is the fastest here
    tiny = next(f for f in findings(doc) if f["task"] == "tiny")
    assert tiny["judged"] == judged and tiny["against"] == REFERENCE
    assert tiny["ratio"] == pytest.approx(failsafe / 100.0)
    text = " ".join(summary(doc))
    assert f"{failsafe / 100:.2f}x multiprocessing.Pool.map's rate (target >= 1.00x: " in text
    assert words in text


def test_against_the_fastest_pool_the_words_name_it_or_say_failsafe_was_it():
    doc = _findings_doc(90.0, 60.0, 100.0, 0.02)
    small = next(f for f in findings(doc) if f["task"] == "small")
    assert small["against"] == "loky" and small["judged"] == "met" and small["ratio"] == pytest.approx(0.9)
    medium = next(f for f in findings(doc) if f["task"] == "medium")
    assert medium["judged"] == "missed"  # 0.90x of the fastest: the target is 0.95x, the noise 5%
    assert "0.90x the rate of the fastest pool (loky)" in " ".join(summary(doc))
    fastest = " ".join(summary(_findings_doc(120.0, 60.0, 100.0, 0.02)))
    assert "the fastest of the pools (target >= 0.90x: met)" in fastest
    just_short = " ".join(summary(_findings_doc(89.9, 60.0, 100.0, 0.0, repeats=1)))
    assert "0.899x the rate of the fastest pool (loky) (target >= 0.90x: short of it" in just_short


def test_cli_runs_the_overhead_suite_and_prints_it_again_from_its_json(tmp_path):
    done = _cli("--suite", "overhead", "--quick", "--repeats", "1", "--workers", "2", "--start-method", "fork",
                "--no-progress", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    saved = tmp_path / "out" / "overhead.json"
    doc = json.loads(saved.read_text())
    assert doc["schema"] == overhead_suite.SCHEMA and doc["plan"]["tiny"] == overhead_suite.QUICK["tiny"]
    assert doc["plan"]["start_method"] == "fork" and doc["plan"]["workers"] == 2
    assert (tmp_path / "out" / "overhead.md").read_text().startswith("# Per-task overhead")
    again = _cli("--from", str(saved), "--out", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr
    assert again.stdout.split("\n\nTable: ")[0] == done.stdout.split("\n\nTable: ")[0]
    assert "In short:" in again.stdout


@pytest.mark.parametrize("args, message", [
    (["--suite", "overhead", "--workers", "2", "--workers", "3"], "the overhead suite runs one at a time"),
    (["--suite", "overhead", "--mb", "3"], "--mb: not for --suite overhead"),
    (["--suite", "foundation", "--start-method", "fork"], "use --suite faults or --suite overhead"),
])
def test_cli_refuses_what_the_overhead_suite_cannot_do(args, message, tmp_path):
    done = _cli(*args, "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_the_overhead_plan_refuses_bad_sizes_and_start_methods():
    with pytest.raises(ValueError, match="tiny must be >= 1"):
        OverheadPlan(tiny=0)
    with pytest.raises(ValueError, match="start method 'threads' is not available here"):
        OverheadPlan(start_method="threads")
    with pytest.raises(TypeError, match="skip must be a tuple of pool names"):
        OverheadPlan(skip="joblib")


def test_the_readme_quotes_the_committed_overhead_run_or_says_it_is_pending():
    """After the committed run (`python -m gilfree bench --suite overhead --out bench/results/bench-2core`),
    paste the "In short" of `python -m gilfree bench --from bench/results/bench-2core/overhead.json` into the
    README's per-task overhead section, in place of the sentence that says the run is pending."""
    readme = checkout_path("README.md")
    with open(readme, encoding="utf-8") as f:
        text = " ".join(f.read().split())
    assert "python -m gilfree bench --suite overhead --out bench/results/bench-2core" in text
    pending = "The committed run of this suite is pending"
    if not os.path.exists(COMMITTED_OVERHEAD):
        assert pending in text
        return
    with open(COMMITTED_OVERHEAD, encoding="utf-8") as f:
        doc = json.load(f)
    assert pending not in text
    assert " ".join(" ".join(summary(doc)).split()) in text
