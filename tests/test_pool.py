"""A pool that fails fast and says why: FailSafePool, and the errors it raises (in-process tests).

The end-to-end fault drill, in fresh processes, is tests/test_faults.py; the guarded
multiprocessing.Pool and the explained ProcessPoolExecutor are tests/test_strategies.py; the
SIGTERM helper is tests/test_interrupts.py.
"""

from __future__ import annotations

import concurrent.futures
import gc
import math
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from concurrent.futures import CancelledError
from concurrent.futures.process import BrokenProcessPool

import _tasks
import pytest
from _posix import ctx, killed_by_signals, methods, signal_param

import gilfree
from gilfree.errors import PoolStopped, RemoteTraceback, TaskTimeout, WorkerDied, describe_exit
from gilfree.pool import FailSafePool

METHODS = methods("fork", "spawn", "forkserver")

#: Generous bound for "within seconds": a hang shows up as a failure, never a slow pass.
PROMPT_S = 20.0


@pytest.fixture(params=METHODS)
def method(request: pytest.FixtureRequest) -> str:
    return request.param


# -- FailSafePool ---------------------------------------------------------------------------------

def test_results_arguments_and_map(method):
    with FailSafePool(2, mp_context=ctx(method)) as pool:
        assert pool.submit(_tasks.square, 12).result(timeout=PROMPT_S) == 144
        assert pool.submit(_tasks.add, 1, 2, c=3).result(timeout=PROMPT_S) == 6
        assert list(pool.map(_tasks.square, range(20), timeout=PROMPT_S)) == [i * i for i in range(20)]
        assert pool.start_method == method
        assert len(pool.processes) == 2


def test_a_task_exception_arrives_with_the_workers_traceback():
    with FailSafePool(1, mp_context=ctx("spawn")) as pool:
        future = pool.submit(_tasks.fail, "no good")
        with pytest.raises(ValueError, match="no good") as info:
            future.result(timeout=PROMPT_S)
    cause = info.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert "_tasks.py" in str(cause) and "in fail" in str(cause)


@pytest.mark.portable
def test_system_exit_in_a_task_is_the_tasks_result_and_the_worker_lives_on():
    # multiprocessing.Pool loses a task that raises SystemExit (its worker exits) and waits forever.
    with FailSafePool(1, mp_context=ctx("spawn")) as pool:
        before = pool.submit(_tasks.pid).result(timeout=PROMPT_S)
        with pytest.raises(SystemExit):
            pool.submit(_tasks.exit_task, 4).result(timeout=PROMPT_S)
        assert pool.submit(_tasks.pid).result(timeout=PROMPT_S) == before


@killed_by_signals
@pytest.mark.parametrize("sig, words", [signal_param("SIGKILL", "out-of-memory"), (signal.SIGSEGV, "segmentation"),
                                        (signal.SIGTERM, "request to stop")])
def test_a_dead_worker_fails_its_task_with_the_cause_and_is_replaced(method, sig, words):
    with FailSafePool(2, mp_context=ctx(method)) as pool:
        slow = pool.submit(_tasks.sleep_then, 0.5, "kept")
        doomed = pool.submit(_tasks.die, sig)
        started = time.monotonic()
        with pytest.raises(WorkerDied) as info:
            doomed.result(timeout=PROMPT_S)
        assert time.monotonic() - started < PROMPT_S
        error = info.value
        assert error.exitcode == -sig and error.pid is not None
        assert signal.Signals(sig).name in str(error) and words in str(error)
        assert error.task is not None and "die" in error.task
        assert slow.result(timeout=PROMPT_S) == "kept"  # the other task is unaffected
        # the pool carries on at full strength (a fork pool's replacement comes from forkserver)
        assert sorted(pool.map(_tasks.square, range(6), timeout=PROMPT_S)) == [0, 1, 4, 9, 16, 25]
        assert len(pool.processes) == 2


@pytest.mark.portable
def test_os_exit_in_a_task_names_the_status():
    with FailSafePool(1, mp_context=ctx("spawn")) as pool:
        with pytest.raises(WorkerDied, match="exited with status 3") as info:
            pool.submit(_tasks.hard_exit, 3).result(timeout=PROMPT_S)
        assert info.value.exitcode == 3
        assert pool.submit(_tasks.square, 3).result(timeout=PROMPT_S) == 9


def test_a_task_past_its_timeout_is_stopped_and_the_pool_goes_on(method):
    with FailSafePool(1, mp_context=ctx(method), task_timeout=0.5) as pool:
        started = time.monotonic()
        with pytest.raises(TaskTimeout, match="task_timeout of 0.5 s"):
            pool.submit(_tasks.sleep_then, 60).result(timeout=PROMPT_S)
        assert time.monotonic() - started < PROMPT_S
        assert pool.submit(_tasks.square, 5).result(timeout=PROMPT_S) == 25


def test_terminate_stops_running_tasks_and_cancels_queued_ones_at_once():
    pool = FailSafePool(1, mp_context=ctx("spawn"))
    running = pool.submit(_tasks.sleep_then, 60)
    queued = pool.submit(_tasks.square, 2)
    deadline = time.monotonic() + PROMPT_S
    while not running.running() and time.monotonic() < deadline:
        time.sleep(0.01)
    workers = pool.processes
    started = time.monotonic()
    pool.terminate()
    assert time.monotonic() - started < PROMPT_S  # a hang detector, generous on a busy machine
    with pytest.raises(PoolStopped):
        running.result(timeout=PROMPT_S)
    with pytest.raises(CancelledError):
        queued.result(timeout=PROMPT_S)
    assert not any(p.is_alive() for p in workers if _open(p))
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(_tasks.square, 1)


def _open(process) -> bool:
    try:
        process.is_alive()
    except ValueError:
        return False
    return True


def test_shutdown_runs_the_queue_or_cancels_it():
    with FailSafePool(1, mp_context=ctx("spawn")) as pool:
        futures = [pool.submit(_tasks.sleep_then, 0.05, i) for i in range(4)]
    assert [f.result() for f in futures] == [0, 1, 2, 3]
    pool = FailSafePool(1, mp_context=ctx("spawn"))
    first = pool.submit(_tasks.sleep_then, 0.3, "first")
    rest = [pool.submit(_tasks.square, i) for i in range(5)]
    deadline = time.monotonic() + PROMPT_S
    while not first.running() and time.monotonic() < deadline:  # a state the pool reports, polled
        time.sleep(0.01)
    assert first.running(), "the first task never started"
    pool.shutdown(wait=True, cancel_futures=True)
    assert first.result() == "first"
    assert all(f.cancelled() for f in rest)


def _notes(error: BaseException) -> str:
    return "\n".join(getattr(error, "__notes__", ()))


def _pickling_error(obj: object) -> type[BaseException]:
    """The type of error pickling ``obj`` raises here (which one varies with the Python version)."""
    try:
        pickle.dumps(obj)
    except Exception as exc:
        return type(exc)
    raise AssertionError(f"{obj!r} pickles")


def test_arguments_that_cannot_be_pickled_fail_their_future_with_their_own_error():
    # As with ProcessPoolExecutor: the pickling error lands on the future, not from submit().
    with FailSafePool(1, mp_context=ctx("spawn")) as pool:
        local = lambda: 1  # noqa: E731
        future = pool.submit(local)
        with pytest.raises(_pickling_error(local)) as info:
            future.result(timeout=PROMPT_S)
        assert "must pickle" in _notes(info.value) and "lambda" in _notes(info.value)
        locked = pool.submit(_tasks.ignore, threading.Lock())
        with pytest.raises(TypeError, match="pickle") as info:
            locked.result(timeout=PROMPT_S)
        assert "cannot send" in _notes(info.value)
        with pytest.raises(TypeError, match="callable"):
            pool.submit(42)
        assert pool.submit(_tasks.square, 4).result(timeout=PROMPT_S) == 16


def test_unpicklable_arguments_fail_their_future_after_shutdown():
    # CPython's test_shutdown_deadlock_pickle, less its read of private state.
    pool = FailSafePool(2, mp_context=ctx("spawn"))
    assert pool.submit(_tasks.square, 3).result(timeout=PROMPT_S) == 9
    local = lambda: 1  # noqa: E731
    future = pool.submit(_tasks.ignore, local)
    pool.shutdown(wait=False)
    with pytest.raises(_pickling_error(local)):
        future.result(timeout=PROMPT_S)
    pool.shutdown(wait=True)


def test_a_result_or_exception_that_cannot_be_pickled_arrives_as_its_own_error():
    with FailSafePool(1, mp_context=ctx("spawn")) as pool:
        worker = pool.submit(_tasks.pid).result(timeout=PROMPT_S)
        with pytest.raises(_pickling_error(_tasks.unpicklable_result())) as info:
            pool.submit(_tasks.unpicklable_result).result(timeout=PROMPT_S)
        assert "result (function) could not be pickled" in _notes(info.value)
        assert isinstance(info.value.__cause__, RemoteTraceback)
        with pytest.raises(TypeError, match="pickle") as info:
            pool.submit(_tasks.raise_unpicklable).result(timeout=PROMPT_S)
        assert "exception Unpicklable" in _notes(info.value)
        assert pool.submit(_tasks.pid).result(timeout=PROMPT_S) == worker  # the worker lives on


def test_what_cannot_be_unpickled_fails_only_its_own_task():
    # The stdlib breaks the whole pool here; gilfree loses the one task (a BrokenProcessPool,
    # with the unpickling error as its cause) and goes on with the same worker.
    with FailSafePool(1, mp_context=ctx("spawn")) as pool:
        worker = pool.submit(_tasks.pid).result(timeout=PROMPT_S)
        with pytest.raises(BrokenProcessPool, match="could not unpickle .*did not run") as info:
            pool.submit(_tasks.ignore, _tasks.LoadsNowhere()).result(timeout=PROMPT_S)
        assert isinstance(info.value.__cause__, pickle.UnpicklingError)
        assert not isinstance(info.value, WorkerDied)
        with pytest.raises(BrokenProcessPool, match="could not be unpickled in this process") as info:
            pool.submit(_tasks.loads_nowhere).result(timeout=PROMPT_S)
        assert isinstance(info.value.__cause__, pickle.UnpicklingError)
        assert pool.submit(_tasks.pid).result(timeout=PROMPT_S) == worker
        assert pool._broken is None


def test_a_worker_lets_go_of_a_tasks_objects_once_it_has_answered(method, tmp_path):
    marker = tmp_path / "collected"
    with FailSafePool(1, mp_context=ctx(method)) as pool:
        pool.submit(_tasks.ignore, _tasks.MarksItsEnd(str(marker))).result(timeout=PROMPT_S)
        # No next task arrives to replace it: the worker must have dropped it on its own.
        deadline = time.monotonic() + PROMPT_S
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert marker.exists()


def test_shutdown_with_cancel_futures_settles_every_future():
    pool = FailSafePool(2, mp_context=ctx("spawn"))
    futures = [pool.submit(_tasks.sleep_then, 0.05, i) for i in range(30)]
    pool.shutdown(wait=True, cancel_futures=True)
    assert all(f.done() for f in futures)
    assert any(f.cancelled() for f in futures)
    # As the stdlib: what idle workers could take when shutdown() was called still runs.
    assert not all(f.cancelled() for f in futures)
    assert all(f.result() == i for i, f in enumerate(futures) if not f.cancelled())
    pool = FailSafePool(2, mp_context=ctx("spawn"))
    futures = [pool.submit(_tasks.sleep_then, 0.05, i) for i in range(30)]
    pool.shutdown(wait=False, cancel_futures=True)
    done, pending = concurrent.futures.wait(futures, timeout=PROMPT_S)
    assert not pending
    pool.shutdown(wait=True)


def test_max_tasks_per_child_replaces_the_worker():
    with FailSafePool(1, mp_context=ctx("spawn"), max_tasks_per_child=2) as pool:
        pids = [pool.submit(_tasks.pid).result(timeout=PROMPT_S) for _ in range(5)]
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]
    # The early shutdown of CPython's test_max_tasks_early_shutdown: every task still runs.
    pool = FailSafePool(3, mp_context=ctx("spawn"), max_tasks_per_child=1)
    futures = [pool.submit(_tasks.square, i) for i in range(6)]
    pool.shutdown()
    assert [f.result() for f in futures] == [i * i for i in range(6)]


def test_max_tasks_per_child_defaults_to_spawn():
    # As ProcessPoolExecutor: no mp_context means spawn, and fork is refused.
    with FailSafePool(1, max_tasks_per_child=3) as pool:
        assert pool.start_method == "spawn"
        assert pool.max_tasks_per_child == 3
    if "fork" in METHODS:
        with pytest.raises(ValueError, match="incompatible with the 'fork' start method"):
            FailSafePool(1, mp_context=ctx("fork"), max_tasks_per_child=3)
    with pytest.raises(ValueError, match="max_tasks_per_child must be >= 1"):
        FailSafePool(1, mp_context=ctx("spawn"), max_tasks_per_child=0)
    with pytest.raises(TypeError, match="max_tasks_per_child"):
        FailSafePool(1, mp_context=ctx("spawn"), max_tasks_per_child=1.5)


def test_a_pool_dropped_without_shutdown_is_collected_and_its_workers_go(method):
    pool = FailSafePool(2, mp_context=ctx(method))
    future = pool.submit(_tasks.sleep_then, 0.2, "kept")
    workers = pool.processes
    dropped = weakref.ref(pool)
    del pool
    gc.collect()
    assert dropped() is None  # the dispatcher thread does not hold it
    assert future.result(timeout=PROMPT_S) == "kept"  # what was submitted still runs
    sentinels = {p.sentinel for p in workers}
    deadline = time.monotonic() + PROMPT_S
    while sentinels and time.monotonic() < deadline:
        sentinels -= set(multiprocessing.connection.wait(list(sentinels), deadline - time.monotonic()))
    assert not sentinels, "the dropped pool's workers are still running"


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter that imports this gilfree and tests/_tasks.py."""
    src = os.path.dirname(os.path.dirname(os.path.abspath(gilfree.__file__)))
    path = os.pathsep.join([src, os.path.dirname(os.path.abspath(_tasks.__file__)),
                            os.environ.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=PROMPT_S * 3, env={**os.environ, "PYTHONPATH": path})


def test_the_program_waits_for_pending_futures_at_exit(method):
    # The stdlib's promise: a script that ends without shutdown() still gets its tasks run,
    # and exits without a traceback from multiprocessing's exit handler.
    run = _python(f"""
        import multiprocessing, _tasks
        from gilfree.pool import FailSafePool
        if __name__ == "__main__":
            pool = FailSafePool(2, mp_context=multiprocessing.get_context({method!r}))
            pool.submit(_tasks.say_later, 0.5, "apple")
            pool.submit(_tasks.say_later, 0.2, "pear")
    """)
    assert run.returncode == 0, run.stderr
    assert sorted(run.stdout.split()) == ["apple", "pear"]
    assert run.stderr == ""


def test_submit_during_interpreter_exit_raises():
    run = _python("""
        import atexit, multiprocessing, _tasks
        @atexit.register
        def late():
            try:
                pool.submit(_tasks.square, 2)
            except RuntimeError as exc:
                print("refused:", exc)
        from gilfree.pool import FailSafePool
        if __name__ == "__main__":
            pool = FailSafePool(1, mp_context=multiprocessing.get_context("spawn"))
            print(pool.submit(_tasks.square, 3).result())
    """)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[:2] == ["9", "refused: cannot schedule new futures after interpreter shutdown"]


@pytest.mark.parametrize("workers, exc", [(0, ValueError), (-1, ValueError), (1.5, TypeError),
                                          (True, TypeError), ("2", TypeError)])
def test_bad_worker_counts(workers, exc):
    with pytest.raises(exc, match="workers"):
        FailSafePool(workers)


@pytest.mark.parametrize("timeout, exc", [(0, ValueError), (-1, ValueError), (math.nan, ValueError),
                                          (math.inf, ValueError), (True, TypeError), ("1", TypeError)])
def test_bad_task_timeouts(timeout, exc):
    with pytest.raises(exc, match="task_timeout"):
        FailSafePool(1, task_timeout=timeout)


# -- errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("code, words", [
    signal_param("SIGKILL", "SIGKILL (signal 9)", negate=True), (-signal.SIGSEGV, "segmentation fault"),
    signal_param("SIGBUS", "/dev/shm", negate=True), (-signal.SIGABRT, "sanitizer"), (3, "status 3"),
    (0, "status 0 in the middle of a task"), (None, "without an exit status"), (-200, "signal 200")])
def test_describe_exit(code, words):
    assert words in describe_exit(code)


def test_worker_died_pickles_with_its_fields():
    error = WorkerDied.of(123, -9, "f()")
    again = pickle.loads(pickle.dumps(error))
    assert (again.pid, again.exitcode, again.task, str(again)) == (123, -9, "f()", str(error))
    assert isinstance(again, BrokenProcessPool)
