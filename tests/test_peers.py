"""The peers behind gilfree's interfaces (joblib), and the timing helpers the benchmark stands on."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from gilfree._arrays_py import chunk_stats
from gilfree._timing import descendants, interleaved, tree_cpu_clock
from gilfree.chunked import run_chunks, runs_in_process
from gilfree.strategies import open_executor
from gilfree.transports import WholeArray, run_on_chunks

from gilfree.peers import joblib_version
from gilfree.registry import strategies

JOBLIB = tuple(s.name for s in strategies() if "joblib" in s.requires)
needs_joblib = pytest.mark.skipif(joblib_version() is None, reason="joblib is not installed")


@needs_joblib
@pytest.mark.parametrize("strategy", JOBLIB)
def test_run_chunks_on_joblib_keeps_order_and_files_every_result(strategy, impl):
    argsets = [(lo, lo + 1000) for lo in range(0, 10_000, 1000)]
    seen, kept = [], {}
    with open_executor(strategy, 2) as pool:
        got = run_chunks(pool, impl.sum_squares, argsets, on_result=lambda i, r: seen.append(i), results=kept)
    want = [impl.sum_squares(a, b) for a, b in argsets]
    assert got == want
    assert kept == dict(enumerate(want)) and sorted(seen) == list(range(len(argsets)))


@needs_joblib
@pytest.mark.parametrize("strategy", JOBLIB)
def test_joblib_gets_the_whole_array_and_each_task_its_range(strategy, impl):
    x = np.random.default_rng(7).random(300_000)  # over joblib's 1 MB memmapping threshold
    with open_executor(strategy, 2) as pool:
        from gilfree._stats import merge_stats

        chunks = [(0, 131_072), (131_072, 262_144), (262_144, 300_000)]
        got = merge_stats(run_on_chunks(pool, impl.chunk_stats, [x], chunks, transport=WholeArray()))
    assert got == impl.chunk_stats(x)


@needs_joblib
def test_joblib_task_errors_reach_the_caller_and_submit_works():
    with open_executor("joblib-threads", 2) as pool:
        with pytest.raises(ValueError, match="math domain error"):
            run_chunks(pool, math.sqrt, [(4.0,), (-1.0,)])
        assert pool.submit(pow, 2, 10).result() == 1024
        assert isinstance(pool.submit(math.sqrt, -1.0).exception(), ValueError)


@needs_joblib
def test_joblib_knows_where_its_tasks_run():
    with open_executor("joblib-threads", 2) as threads, open_executor("joblib-loky", 2) as loky:
        assert runs_in_process(threads) and not runs_in_process(loky)


@needs_joblib
def test_joblib_strategies_refuse_what_does_not_apply():
    with pytest.raises(ValueError, match="start_method does not apply"):
        with open_executor("joblib-loky", 2, start_method="spawn"):
            pass
    with pytest.raises(ValueError, match="task_timeout needs a strategy that can stop one task"):
        with open_executor("joblib-loky", 2, task_timeout=1.0):
            pass
    with pytest.raises(ValueError, match="workers"):
        with open_executor("joblib-threads", 0):
            pass
    from gilfree.peers import JoblibExecutor

    with pytest.raises(ValueError, match="backend must be one of"):
        JoblibExecutor(2, "dask")
    pool = JoblibExecutor(1, "threading")
    pool.shutdown()
    pool.shutdown()  # twice is fine
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.run_batch(pow, [(2, 2)])


@needs_joblib
def test_joblib_sees_an_array_changed_between_calls():
    """The trap gilfree's adapter avoids: every batch is a fresh Parallel call, so a changed array
    is dumped again instead of served from the memmap of an earlier call."""
    x = np.zeros(200_000)
    with open_executor("joblib-loky", 2) as pool:
        for value in (1.0, 2.0, 3.0):
            x[:] = value
            firsts = run_on_chunks(pool, chunk_stats, [x], [(0, 10), (100_000, 100_010)], transport=WholeArray())
            assert [s.max for s in firsts] == [value, value]


def test_interleaved_calls_the_hooks_around_every_timed_call():
    events = []
    timings = interleaved({"a": lambda: events.append("a") or 1, "b": lambda: events.append("b") or 2},
                          repeats=2, warmup=1, before=lambda k: events.append(f"before {k}"),
                          after=lambda k, r: events.append(f"after {k}={r}"))
    round_ = ["before a", "a", "after a=1", "before b", "b", "after b=2"]
    assert events == round_ * 3
    assert all(len(t.wall) == 2 and len(t.cpu) == 2 for t in timings.values())


def test_interleaved_refuses_zero_repeats():
    with pytest.raises(ValueError, match="repeats"):
        interleaved({"a": lambda: None}, repeats=0)


#: Says "ready", waits for "go", spends 0.4 s of CPU from then on, says "done": only CPU time
#: spent after the parent's first reading counts, however late a busy machine runs either side.
_SPIN = ("import sys, time\n"
         "print('ready', flush=True)\n"
         "sys.stdin.readline()\n"
         "start = time.process_time()\n"
         "while time.process_time() - start < 0.4: pass\n"
         "print('done', flush=True)\n"
         "sys.stdin.read()\n")


def test_the_tree_clock_counts_a_child_process():
    if descendants() is None:
        pytest.skip("no /proc here")
    child = subprocess.Popen([sys.executable, "-c", _SPIN], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        assert child.pid in descendants()
        clock = tree_cpu_clock([child.pid])
        before = clock()
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline() == "done\n"  # the child has spent 0.4 s of CPU since "go"
        assert clock() - before >= 0.2
        own = tree_cpu_clock([])
        assert own() == pytest.approx(time.process_time(), abs=0.05)
    finally:
        child.stdin.close()
        child.stdout.close()
        child.wait(timeout=10)


def test_descendants_of_a_process_with_no_children_is_empty():
    if descendants() is None:
        pytest.skip("no /proc here")
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        assert descendants(child.pid) == []
        assert os.getpid() not in descendants()
    finally:
        child.stdin.close()
        child.wait(timeout=10)


# --- Ctrl-C reaches joblib's workers too ----------------------------------------------------------

def sigint_disposition(_: int) -> str:
    import signal

    return str(signal.getsignal(signal.SIGINT))


@needs_joblib
def test_loky_workers_ignore_sigint_as_gilfree_workers_do():
    from gilfree.peers import JoblibExecutor

    executor = JoblibExecutor(2, "loky")
    try:
        seen = executor.run_batch(sigint_disposition, [(i,) for i in range(8)])
    finally:
        executor.shutdown()
    assert set(seen) == {str(__import__("signal").SIG_IGN)}


def marker_then_sleep(path: str, seconds: float) -> None:
    """A task that says it runs (the handshake), then takes a while."""
    with open(path + ".tmp", "w") as f:
        f.write("running")
    os.replace(path + ".tmp", path)
    time.sleep(seconds)


@needs_joblib
@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT to a process group")
def test_ctrl_c_during_a_joblib_run_prints_no_traceback_from_a_worker(tmp_path):
    """A terminal's Ctrl-C reaches every process of the group: the parent handles it once; a
    loky worker, busy or idle, neither dies of it nor prints its KeyboardInterrupt."""
    import signal
    import textwrap

    marker = tmp_path / "running"
    code = textwrap.dedent(f"""
        import sys
        from gilfree.chunked import run_chunks
        from gilfree.strategies import open_executor
        from test_peers import marker_then_sleep

        try:
            with open_executor("joblib-loky", 2) as pool:  # one busy worker, one idle
                run_chunks(pool, marker_then_sleep, [({str(marker)!r}, 30.0)])
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)
    """)
    tests = os.path.dirname(__file__)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")])),
               TMPDIR=str(tmp_path))
    with subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True, env=env,
                          start_new_session=True) as proc:
        try:
            deadline = time.monotonic() + 120
            while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            assert marker.exists(), "the task never started"
            os.killpg(proc.pid, signal.SIGINT)
            _, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert proc.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr[-3000:]
