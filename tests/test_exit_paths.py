"""No way out of a process pool waits for ever, whatever dies first.

The case that hung: a worker killed while it wrote its result leaves the result pipe
half-written, and a ``ProcessPoolExecutor``'s management thread waits for the rest of that
message for ever, and with it ``shutdown(wait=True)`` and ``concurrent.futures``' own exit hook.
Here a task writes half a message itself and kills its own worker, so the case is certain,
not a matter of timing. Each run happens in a child process with a time limit: a regression
fails the test instead of hanging the suite.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.name != "posix", reason="kills a worker with SIGKILL")

METHODS = [m for m in ("fork", "forkserver", "spawn") if m in multiprocessing.get_all_start_methods()]
LIMIT_S = 60  # far beyond what the child needs; reached only if it hangs


def half_a_result_then_die() -> None:
    """A task that writes the start of a result message on its worker's result pipe, then kills
    its own worker: the manager reads the header and waits for bytes that never come."""
    frame = sys._getframe(1)  # the stdlib's worker loop, which holds the result queue
    while frame is not None and "result_queue" not in frame.f_locals:
        frame = frame.f_back
    assert frame is not None, "not run by a ProcessPoolExecutor worker"
    writer = frame.f_locals["result_queue"]._writer
    os.write(writer.fileno(), struct.pack("!i", 1 << 20) + b"only the start")
    os.kill(os.getpid(), signal.SIGKILL)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    tests = str(Path(__file__).parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")])))
    try:
        return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                              env=env, timeout=LIMIT_S, start_new_session=True)
    except subprocess.TimeoutExpired as timeout:
        pytest.fail(f"hung: {timeout.stderr!r}")


@pytest.mark.parametrize("method", METHODS)
def test_shutdown_returns_after_a_worker_died_halfway_through_its_result(method):
    done = _run(f"""
        import multiprocessing
        from gilfree.errors import WorkerDied
        from gilfree.processes import ProcessesExecutor
        from test_exit_paths import half_a_result_then_die

        with ProcessesExecutor(1, mp_context=multiprocessing.get_context({method!r})) as executor:
            future = executor.submit(half_a_result_then_die)
        # shutdown(wait=True) returned: the task's future says what happened
        assert isinstance(future.exception(timeout=0), WorkerDied), future.exception(timeout=0)
        print("returned")
    """)
    assert done.returncode == 0 and done.stdout.strip() == "returned", done.stderr
    assert "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("method", METHODS)
def test_the_program_ends_when_a_plain_process_pool_has_no_live_worker(method):
    """concurrent.futures' exit hook joins the management thread: gilfree's hook, which runs
    just before it, ends that thread's wait once the pool's workers are all dead."""
    done = _run(f"""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, wait
        import gilfree.processes  # its exit hook
        from test_exit_paths import half_a_result_then_die

        executor = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context({method!r}))
        future = executor.submit(half_a_result_then_die)
        executor.submit(pow, 2, 10)  # pending work: the stdlib's hook waits for it
        print("leaving without shutdown", flush=True)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "leaving without shutdown"
    assert "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("method", METHODS)
def test_abort_after_a_worker_died_halfway_through_its_result(method):
    done = _run(f"""
        import multiprocessing, time
        from gilfree.processes import ProcessesExecutor
        from test_exit_paths import half_a_result_then_die

        executor = ProcessesExecutor(2, mp_context=multiprocessing.get_context({method!r}))
        doomed = executor.submit(half_a_result_then_die)
        queued = [executor.submit(time.sleep, 0.01) for _ in range(20)]
        executor.abort(grace=0.5)
        assert doomed.done() and all(f.done() for f in queued)
        print("aborted")
    """)
    assert done.returncode == 0 and done.stdout.strip() == "aborted", done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def pid_then_sleep(path: str) -> None:
    """A task that says which worker runs it (the handshake), then waits to be killed."""
    import time

    with open(path + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(path + ".tmp", path)
    time.sleep(60)


def test_a_cancelled_future_does_not_break_the_broken_pool_clean_up(tmp_path):
    """Before 3.12, a ProcessPoolExecutor whose worker died failed on a future cancelled meanwhile
    (``InvalidStateError`` in its management thread, printed as a traceback, its clean-up
    skipped): what a run interrupted while its workers die does."""
    done = _run(f"""
        import os, signal, time
        from gilfree.errors import WorkerDied
        from gilfree.processes import ProcessesExecutor
        from test_exit_paths import pid_then_sleep

        marker = {str(tmp_path / "pid")!r}
        with ProcessesExecutor(1) as executor:
            running = executor.submit(pid_then_sleep, marker)
            queued = [executor.submit(time.sleep, 0) for _ in range(4)]  # the last ones wait in the executor
            assert queued[-1].cancel(), "the last task had already started"
            while not os.path.exists(marker):
                time.sleep(0.01)
            os.kill(int(open(marker).read()), signal.SIGKILL)
            assert isinstance(running.exception(timeout=30), WorkerDied)
        print("clean")
    """)
    assert done.returncode == 0 and done.stdout.strip() == "clean", done.stderr
    assert "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("method", METHODS)
def test_a_pool_executor_stops_after_its_idle_worker_died_holding_the_task_lock(method):
    """An idle ``multiprocessing.Pool`` worker waits for its next task holding the task queue's
    read lock, and ``Pool.terminate()`` takes that lock without a limit: killed there (a group
    SIGTERM), the worker kept the pool's terminate, and the program, waiting for ever."""
    done = _run(f"""
        import multiprocessing, os, signal
        from gilfree.mp_pool import PoolExecutor

        executor = PoolExecutor(1, mp_context=multiprocessing.get_context({method!r}))
        pid = executor.submit(os.getpid).result(timeout=60)  # the worker is up; now it idles
        os.kill(pid, signal.SIGKILL)
        executor.terminate()
        print("stopped")
    """)
    assert done.returncode == 0 and done.stdout.strip() == "stopped", done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def take_the_result_lock_then_die() -> None:
    """A task that takes its worker's result-queue write lock, as a worker sending a result
    does, and dies holding it."""
    frame = sys._getframe(1)  # multiprocessing.pool.worker, which holds the result queue
    while frame is not None and "outqueue" not in frame.f_locals:
        frame = frame.f_back
    assert frame is not None, "not run by a multiprocessing.Pool worker"
    frame.f_locals["outqueue"]._wlock.acquire()
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_pool_executor_stops_after_a_worker_died_holding_the_result_lock():
    done = _run("""
        from gilfree.errors import WorkerDied
        from gilfree.mp_pool import PoolExecutor
        from test_exit_paths import take_the_result_lock_then_die

        executor = PoolExecutor(2)
        future = executor.submit(take_the_result_lock_then_die)
        assert isinstance(future.exception(timeout=60), WorkerDied)
        executor.terminate()  # what an interrupted run does
        print("stopped")
    """)
    assert done.returncode == 0 and done.stdout.strip() == "stopped", done.stderr
    assert "Traceback" not in done.stderr, done.stderr
