"""gilfree bench: the matrix runs every applicable cell, checks every run, and reports honestly.

The matrix runs here at tiny sizes (a few thousand elements): these tests assert what is run,
checked, recorded and said, never how fast anything was.
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from gilfree._select import C_EXTENSION, PURE_PYTHON, available
from gilfree.bench import SCHEMA, WORKLOADS, Plan, default_workers, run_matrix, strategy_choices
from gilfree.bench.workloads import variants
from gilfree.bench import workloads as bench_workloads
from gilfree.bench.report import PLOTS, complete, markdown, write_all
from gilfree._load import MachineLoad
from gilfree.bench.matrix import WRONG_RESULT
from gilfree.peers import joblib_version
from gilfree.registry import get_strategy, strategy_names

HAVE_JOBLIB = joblib_version() is not None
SIZES = ("small", "medium")


def _tiny(c: int, pure: int) -> dict:
    return {"c-extension": c, "pure-python": pure}


TINY = {w: {"small": _tiny(3000, 300), "medium": _tiny(30_000, 1200), "large": _tiny(60_000, 2400)}
        for w in WORKLOADS}


@pytest.fixture(scope="module")
def implementations_under_test(request) -> tuple[str, ...]:
    wanted = [PURE_PYTHON]
    if C_EXTENSION in available() and not request.config.getoption("--no-c-extensions"):
        wanted.insert(0, C_EXTENSION)
    return tuple(wanted)


@pytest.fixture(scope="module")
def tiny_run(implementations_under_test, tmp_path_factory):
    """One small matrix for the whole module: every workload, strategy and size, 1 and 2 workers.

    Its temporary files go to a folder of its own, so that what it leaves can be told apart
    from what other runs on the machine are doing in the shared temporary folder.
    """
    from _leaks import track_segments

    private_tmp = tmp_path_factory.mktemp("bench-tmp")
    with track_segments() as seen, pytest.MonkeyPatch.context() as mp:
        mp.setattr(tempfile, "tempdir", str(private_tmp))
        doc = run_matrix(Plan(workers=(1, 2), repeats=2, sizes=SIZES, elements=TINY,
                              implementations=implementations_under_test))
    return {"doc": complete(doc), "segments": seen, "tmp": private_tmp,
            "impls": implementations_under_test}


def test_default_workers_reach_the_cores_and_one_oversubscribed_point():
    assert default_workers(1) == (1, 2)
    assert default_workers(2) == (1, 2, 4)
    assert default_workers(6) == (1, 2, 4, 6, 12)
    assert default_workers(16) == (1, 2, 4, 8, 16, 32)
    assert default_workers(64) == (1, 2, 4, 8, 16, 32, 64, 128)


@pytest.mark.parametrize("options, error, message", [
    ({"workloads": ("cpu", "nbody")}, ValueError, "workloads\\[1\\] must be one of .*got 'nbody'"),
    ({"workloads": "cpu"}, TypeError, "tuple or list of names .*pass \\('cpu',\\)"),
    ({"workloads": ()}, ValueError, "workloads must name at least one of"),
    ({"strategies": ("threads", "greenlets")}, ValueError, "strategies\\[1\\] must be one of .*got 'greenlets'"),
    ({"sizes": ("huge",)}, ValueError, "sizes\\[0\\] must be one of .*got 'huge'"),
    ({"implementations": ("cython",)}, ValueError, "implementations\\[0\\] must be one of .*got 'cython'"),
    ({"workers": ()}, ValueError, "at least one worker count"),
    ({"workers": (1, 0)}, ValueError, "workers"),
    ({"workers": (-2,)}, ValueError, "workers"),
    ({"workers": (True,)}, TypeError, "workers"),
    ({"workers": (2.0,)}, TypeError, "workers"),
    ({"repeats": 0}, ValueError, "repeats must be >= 1"),
    ({"repeats": 1.5}, TypeError, "repeats must be an int"),
    ({"chunks_per_worker": -1}, ValueError, "chunks_per_worker must be >= 1"),
])
def test_plan_refuses_bad_choices_with_a_message(options, error, message):
    with pytest.raises(error, match=message):
        Plan(**options)


def test_every_applicable_cell_ran_and_every_run_was_checked(tiny_run):
    doc, impls = tiny_run["doc"], tiny_run["impls"]
    rows = doc["rows"]
    assert doc["schema"] == SCHEMA
    failed = [(r["workload"], r["implementation"], r["strategy"], r["error"]) for r in rows if not r["ok"]]
    assert failed == []
    known = variants()
    # A registered strategy whose library is not installed (joblib, Dask) has no rows: the bench
    # lists it under skipped instead.
    strategies = [s for s in strategy_choices() if s not in strategy_names() or get_strategy(s).available]
    expected = set()
    for w, workload in WORKLOADS.items():
        for impl in impls:
            for s in strategies:
                if workload.applies(known[s], impl) is None:
                    expected |= {(w, size, "numpy" if s == "numpy" else impl, s, k)
                                 for size in SIZES for k in (1, 2)}
    got = {(r["workload"], r["size"], r["implementation"], r["strategy"], r["group_workers"]) for r in rows}
    assert got == expected
    for r in rows:
        assert len(r["wall_s"]) == len(r["cpu_s"]) == 2
        assert all(t > 0 for t in r["wall_s"])
        assert r["median_s"] > 0 and r["speedup"] > 0
        approximate = (r["workload"], r["strategy"]) == ("reduction", "numpy")  # numpy.sum's own order
        assert r["check"] == ("approximate" if approximate else "exact")
        assert r["workers"] == (1 if r["strategy"] in ("serial", "numpy") else r["group_workers"])
        assert r["ideal"] == min(r["workers"], doc["plan"]["cores"])
        if r["strategy"] == "serial":
            assert r["speedup"] == 1.0
    assert all(t["equal"] for t in doc["twin_checks"])
    if C_EXTENSION in impls:
        assert len(doc["twin_checks"]) == len(WORKLOADS) * len(SIZES)


def test_what_does_not_apply_is_said_with_a_reason(tiny_run):
    na = {(d["workload"], d["strategy"]): d["reason"] for d in tiny_run["doc"]["not_applicable"]}
    assert "no data" in na[("cpu", "shared-memory")]
    assert ("pipeline", "pool") in na and ("reduction", "pool") not in na
    if not HAVE_JOBLIB:
        assert {d["strategy"] for d in tiny_run["doc"]["skipped"]} == {"joblib-loky", "joblib-threads"}


def test_the_run_records_the_machine_interpreter_and_gil(tiny_run):
    env = tiny_run["doc"]["environment"]
    for key in ("cpu", "cores", "usable_cores", "memory_bytes", "os", "python", "python_implementation",
                "gil_enabled", "free_threaded_build", "gilfree", "numpy", "joblib", "cpu_time_scope"):
        assert key in env
    assert env["gil_enabled"] == (getattr(sys, "_is_gil_enabled", lambda: True)())
    assert json.loads(json.dumps(tiny_run["doc"])) == tiny_run["doc"]


def test_the_run_records_how_busy_the_machine_was(tiny_run):
    doc = tiny_run["doc"]
    machine = doc["machine"]
    reading = MachineLoad.from_dict(machine)
    assert machine == reading.as_dict(), "the JSON holds the whole reading, and it loads back"
    assert reading.cores == doc["plan"]["cores"] and reading.seconds > 0
    assert machine["worst_spread"] == max(r["spread"] for r in doc["rows"] if r["ok"])
    text = markdown(doc)
    assert "Load: " in text
    if machine["busy"]:  # the report opens with the busy line, right under its title
        assert text.split("\n")[2] == f"**{machine['line']}**"
    else:
        assert "Busy machine" not in text


def test_progress_is_counted_once_by_the_runner_and_reaches_the_planned_total(implementations_under_test):
    seen: list[tuple[int, int, str]] = []
    plan = Plan(workloads=("cpu",), strategies=("serial", "threads"), workers=(1, 2), sizes=("small",),
                repeats=2, elements=TINY, implementations=implementations_under_test)
    doc = run_matrix(plan, progress=lambda done, total, label: seen.append((done, total, label)))
    assert [done for done, _, _ in seen] == list(range(1, len(seen) + 1))
    assert {total for _, total, _ in seen} == {len(seen)}, "the bar's total is the whole plan from the start"
    calls = [label for _, _, label in seen if " | cpu small | " in label]
    assert len(calls) == len(doc["rows"]) * (1 + plan.repeats), "one unit per call: a warm-up and the repeats"
    assert sum("open threads" in label for _, _, label in seen) == 2


def test_the_matrix_leaves_no_segment_temporary_file_or_worker(tiny_run):
    import multiprocessing
    import time

    deadline = time.monotonic() + 10
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not multiprocessing.active_children()
    assert not tiny_run["segments"].left
    assert tiny_run["segments"].created, "the array workloads live in shared memory"
    assert not list(tiny_run["tmp"].iterdir()), "the run left files in its temporary folder"


def test_process_cpu_time_counts_the_workers(tiny_run):
    """Worker processes' CPU seconds are in the row: the parent alone would read near zero."""
    if "process tree" not in tiny_run["doc"]["environment"]["cpu_time_scope"]:
        pytest.skip("no /proc here: CPU time covers this process only")
    # A whole-matrix total is robust to the 10 ms tick of /proc accounting.
    procs = [r for r in tiny_run["doc"]["rows"] if r["strategy"] in ("pool", "processes")]
    assert sum(sum(r["cpu_s"]) for r in procs) > 0


def _run_one(monkeypatch, workload: str, fake) -> list[dict]:
    monkeypatch.setattr(type(WORKLOADS[workload]), "run", fake)
    doc = run_matrix(Plan(workloads=(workload,), strategies=("serial", "threads"), workers=(2,),
                          sizes=("small",), repeats=3, elements=TINY, implementations=(PURE_PYTHON,)))
    return doc["rows"]


def test_a_wrong_result_is_reported_and_gets_no_time(monkeypatch):
    real = bench_workloads.CpuLoop.run

    def off_by_one(self, p, strategy, executor, parts):
        value = real(self, p, strategy, executor, parts)
        return value + 1 if strategy.name == "threads" else value

    rows = {r["strategy"]: r for r in _run_one(monkeypatch, "cpu", off_by_one)}
    assert rows["serial"]["ok"]
    bad = rows["threads"]
    assert not bad["ok"] and bad["check"] == "failed" and "wrong result" in bad["error"]
    assert bad["median_s"] is None and bad["wall_s"] == [] and bad["speedup"] is None


def test_a_result_that_goes_wrong_after_the_warm_up_is_caught(monkeypatch):
    real = bench_workloads.CpuLoop.run
    calls = {"n": 0}

    def wrong_later(self, p, strategy, executor, parts):
        value = real(self, p, strategy, executor, parts)
        if strategy.name == "threads":
            calls["n"] += 1
            if calls["n"] == 3:
                return value - 1
        return value

    bad = {r["strategy"]: r for r in _run_one(monkeypatch, "cpu", wrong_later)}["threads"]
    assert calls["n"] > 3, "the runner went on calling after the wrong result"
    assert not bad["ok"] and bad["error"] == WRONG_RESULT and bad["median_s"] is None


def test_a_variant_that_raises_is_reported_and_the_rest_goes_on(monkeypatch):
    real = bench_workloads.CpuLoop.run

    def broken(self, p, strategy, executor, parts):
        if strategy.name == "threads":
            raise MemoryError("simulated")
        return real(self, p, strategy, executor, parts)

    rows = {r["strategy"]: r for r in _run_one(monkeypatch, "cpu", broken)}
    assert rows["serial"]["ok"]
    assert not rows["threads"]["ok"] and rows["threads"]["error"] == "MemoryError: simulated"


def test_the_markdown_report_has_every_table_the_verdicts_and_the_checks(tiny_run):
    doc = tiny_run["doc"]
    text = markdown(doc)
    for workload in WORKLOADS:
        for size in SIZES:
            assert f"### {workload}, {size} (" in text
        assert WORKLOADS[workload].title in text
    assert "## Verdicts" in text and "## Start-up" in text and "## Checks" in text
    assert doc["environment"]["python"] in text and ("GIL on" in text or "GIL off" in text)
    n = len(doc["rows"])
    assert f"{n} of {n} variants gave the reference result" in text


def test_report_files_and_plots_are_written_and_can_be_redrawn(tiny_run, tmp_path):
    written = write_all(tiny_run["doc"], str(tmp_path / "out"))
    with open(written["json"], encoding="utf-8") as f:
        saved = json.load(f)
    assert saved["rows"] == tiny_run["doc"]["rows"]
    if importlib.util.find_spec("matplotlib") is None:
        with open(written["markdown"], encoding="utf-8") as f:
            assert written["plots"] == [] and "matplotlib is not installed" in f.read()
        return
    assert sorted(os.path.basename(p) for p in written["plots"]) == sorted(PLOTS)
    for path in written["plots"]:
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    redo = subprocess.run([sys.executable, "-m", "gilfree", "bench", "--from", written["json"],
                           "--out", str(tmp_path / "again")], capture_output=True, text=True, timeout=120)
    assert redo.returncode == 0, redo.stderr
    again = (tmp_path / "again" / "bench.md").read_text(encoding="utf-8")
    with open(written["markdown"], encoding="utf-8") as f:
        assert again == f.read()


# --- the command line --------------------------------------------------------------------------

def _cli(*args: str, timeout: float = 300, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gilfree", "bench", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, env={**os.environ, "COLUMNS": "80"})


@pytest.mark.parametrize("args, message", [
    (["--workload", "nbody"], "workloads[0] must be one of ('cpu', 'reduction', 'transform', 'pipeline'), got 'nbody'"),
    (["--strategy", "greenlets"], "got 'greenlets'"),
    (["--workers", "0"], "must be >= 1"),
    (["--workers", "two"], "expected a whole number"),
    (["--size", "huge"], "invalid choice"),
    (["--repeats", "-3"], "must be >= 1"),
])
def test_cli_refuses_bad_options_without_a_traceback(args, message, tmp_path):
    done = _cli(*args, cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert not list(tmp_path.iterdir()), "a refused run wrote nothing"


def test_cli_refuses_an_output_folder_it_cannot_write(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = _cli("--workload", "cpu", "--size", "small", "--workers", "1", "--out", str(blocker / "out"))
    assert done.returncode == 2 and "cannot write the results to --out" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_refuses_a_file_that_is_not_a_bench_result(tmp_path):
    other = tmp_path / "other.json"
    other.write_text('{"rows": []}')
    done = _cli("--from", str(other))
    assert done.returncode == 2 and "not a gilfree bench result" in done.stderr
    done = _cli("--from", str(tmp_path / "missing.json"))
    assert done.returncode == 2 and "cannot read" in done.stderr


def test_cli_runs_a_selection_and_writes_its_report(tmp_path, implementations_under_test):
    impl_args = [a for impl in implementations_under_test for a in ("--implementation", impl)]
    done = _cli("--workload", "cpu", "--size", "small", "--workers", "1", "--workers", "2",
                "--strategy", "threads", "--strategy", "processes", "--repeats", "1", "--no-plots",
                "--no-progress", "--out", str(tmp_path), *impl_args)
    assert done.returncode == 0, done.stderr
    assert "\nVerdicts\n" in done.stdout and "Full tables:" in done.stdout
    assert all(len(line) <= 80 for line in done.stdout.splitlines() if " " in line.strip()), \
        "at 80 columns, every line but a lone long word (a path) fits"
    doc = json.loads((tmp_path / "bench.json").read_text())
    assert {r["strategy"] for r in doc["rows"]} == {"serial", "threads", "processes"}
    assert {r["group_workers"] for r in doc["rows"]} == {1, 2}
    assert not list(tmp_path.glob("*.png"))


# --- the pieces the matrix stands on -----------------------------------------------------------

def test_numpy_logistic_is_bit_identical_to_the_kernels(impl):
    from gilfree.peers import numpy_logistic

    x = np.concatenate([np.random.default_rng(3).random(3000), [0.0, 0.5, 1.0, 1e-300, 0.999999]])
    want = x.copy()
    impl.transform_inplace(want, 7)
    got = x.copy()
    numpy_logistic(got, 7)
    assert got.tobytes() == want.tobytes()


def test_a_copy_that_arrives_read_only_is_copied_before_an_in_place_kernel(impl):
    from gilfree.transports import on_copy

    x = np.random.default_rng(4).random(100)
    frozen = x.copy()
    frozen.flags.writeable = False
    out, _ = on_copy(impl.transform_inplace, frozen, True, 3)
    want = x.copy()
    impl.transform_inplace(want, 3)
    assert out.tobytes() == want.tobytes() and frozen.tobytes() == x.tobytes()


def test_the_numpy_sum_check_tolerates_rounding_but_not_a_wrong_sum(impl, tmp_path):
    from contextlib import ExitStack

    workload = WORKLOADS["reduction"]
    with ExitStack() as stack:
        p = workload.prepare(impl, 5000, stack, str(tmp_path))
        os.unlink(p.state["path"])
        total = struct.unpack("<d", p.reference[1])[0]
        numpy = variants()["numpy"]
        assert p.check(numpy, float(np.sum(p.state["shared"].array)))
        assert p.check(numpy, total * (1 + 1e-12))
        assert not p.check(numpy, total * (1 + 1e-6))


# --- Ctrl-C and SIGTERM mid-run -----------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/dev/shm") or os.name != "posix", reason="needs POSIX /dev/shm")
@pytest.mark.parametrize("sig, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_mid_run_stops_every_worker_and_leaves_nothing(sig, code, tmp_path):
    import signal
    import time

    from _leaks import child_env, joblib_folders_of, logged_segments_left, tracked_gilfree, wait_for_marker

    signum = getattr(signal, sig)
    log, tmpdir = tmp_path / "segments.log", tmp_path / "tmp"
    args = tracked_gilfree(log, "bench", "--workload", "reduction", "--workload", "transform",
                           "--size", "medium", "--workers", "2", "--repeats", "10", "--no-plots",
                           "--no-progress", "--out", str(tmp_path / "out"))
    marker = tmp_path / "measuring"
    env = {**child_env(tmpdir), "GILFREE_TEST_MEASURING": str(marker)}
    with subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          cwd=tmp_path, env=env, start_new_session=True) as proc:
        try:
            # tests/_tracked_gilfree.py writes the marker when the first cell is done and the
            # second begins: a handshake, not a guess of the time
            assert wait_for_marker(proc, marker), "the run ended before it said it was measuring"
            if signum == signal.SIGINT:
                os.killpg(proc.pid, signum)  # a terminal's Ctrl-C reaches the whole group
            else:
                proc.send_signal(signum)  # a service manager signals the main process
            _, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert proc.returncode == code, stderr[-2000:]
    assert "Traceback" not in stderr
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)  # any process of the run's group still alive?
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("worker processes outlived the interrupted run")
    assert log.read_text().split(), "the run made no segment before the signal: nothing was tested"
    left = logged_segments_left(log) + joblib_folders_of(proc.pid)
    assert not left, f"left in /dev/shm: {left}"
    assert not list(tmpdir.iterdir()), "left in the run's temporary folder"
    assert not (tmp_path / "out" / "bench.json").exists(), "an interrupted run writes no results"


def test_each_call_is_cut_into_one_to_four_chunks_per_worker(tiny_run):
    for row in tiny_run["doc"]["rows"]:
        if row["strategy"] not in ("serial", "numpy"):
            k = row["workers"]
            assert row["chunks"] % k == 0 and k <= row["chunks"] <= 4 * k, row
    assert tiny_run["doc"]["plan"]["chunks_per_worker"] is None


@pytest.mark.parametrize("per_task_s, per_worker", [(10.0, 1), (0.0, 4)])
def test_the_chunk_count_follows_the_executors_per_task_cost(monkeypatch, per_task_s, per_worker,
                                                              implementations_under_test):
    """A costly task gets one chunk per worker, a free one the most (the cost is stubbed: the
    choice is what is tested, not the machine)."""
    import gilfree.bench.matrix as matrix

    monkeypatch.setattr(matrix, "_per_task", lambda executor, k: per_task_s)
    doc = run_matrix(Plan(workloads=("cpu",), strategies=("serial", "threads", "processes"), workers=(2,),
                          sizes=("small",), repeats=1, elements=TINY, implementations=implementations_under_test))
    assert {r["chunks"] for r in doc["rows"] if r["strategy"] != "serial"} == {2 * per_worker}
    assert "chosen per executor" in markdown(complete(doc))


def test_a_fixed_chunk_count_is_kept(implementations_under_test):
    doc = run_matrix(Plan(workloads=("cpu",), strategies=("serial", "threads"), workers=(2,), sizes=("small",),
                          repeats=1, elements=TINY, implementations=implementations_under_test, chunks_per_worker=3))
    assert {r["chunks"] for r in doc["rows"] if r["strategy"] != "serial"} == {6}
    assert "3 chunks per worker" in markdown(complete(doc))
