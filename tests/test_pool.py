"""A pool that fails fast and says why: FailSafePool, and the errors it raises (in-process tests).

The end-to-end fault drill, in fresh processes, is tests/test_faults.py; the guarded
multiprocessing.Pool and the explained ProcessPoolExecutor are tests/test_strategies.py; the
SIGTERM helper is tests/test_interrupts.py.
"""

from __future__ import annotations

import math
import multiprocessing
import pickle
import signal
import time
from concurrent.futures import CancelledError
from concurrent.futures.process import BrokenProcessPool

import _tasks
import pytest

from gilfree.errors import PoolStopped, RemoteTraceback, TaskTimeout, WorkerDied, describe_exit
from gilfree.pool import FailSafePool

METHODS = [m for m in ("fork", "spawn", "forkserver") if m in multiprocessing.get_all_start_methods()]

#: Generous bound for "within seconds": a hang shows up as a failure, never a slow pass.
PROMPT_S = 20.0


def ctx(method: str):
    return multiprocessing.get_context(method)


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


def test_system_exit_in_a_task_is_the_tasks_result_and_the_worker_lives_on():
    # multiprocessing.Pool loses a task that raises SystemExit (its worker exits) and waits forever.
    with FailSafePool(1, mp_context=ctx("spawn")) as pool:
        before = pool.submit(_tasks.pid).result(timeout=PROMPT_S)
        with pytest.raises(SystemExit):
            pool.submit(_tasks.exit_task, 4).result(timeout=PROMPT_S)
        assert pool.submit(_tasks.pid).result(timeout=PROMPT_S) == before


@pytest.mark.parametrize("sig, words", [(signal.SIGKILL, "out-of-memory"), (signal.SIGSEGV, "segmentation"),
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
    assert time.monotonic() - started < 5
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
    while not first.running():
        time.sleep(0.01)
    pool.shutdown(wait=True, cancel_futures=True)
    assert first.result() == "first"
    assert all(f.cancelled() for f in rest)


def test_what_cannot_be_pickled_is_refused_clearly():
    with FailSafePool(1, mp_context=ctx("spawn")) as pool:
        with pytest.raises(TypeError, match="must pickle"):
            pool.submit(lambda: 1)
        with pytest.raises(TypeError, match="could not be pickled"):
            pool.submit(_tasks.unpicklable_result).result(timeout=PROMPT_S)
        with pytest.raises(TypeError, match="could not be pickled"):
            pool.submit(_tasks.raise_unpicklable).result(timeout=PROMPT_S)
        with pytest.raises(TypeError, match="callable"):
            pool.submit(42)
        assert pool.submit(_tasks.square, 4).result(timeout=PROMPT_S) == 16


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
    (-signal.SIGKILL, "SIGKILL (signal 9)"), (-signal.SIGSEGV, "segmentation fault"),
    (-signal.SIGBUS, "/dev/shm"), (-signal.SIGABRT, "sanitizer"), (3, "status 3"),
    (0, "status 0 in the middle of a task"), (None, "without an exit status"), (-200, "signal 200")])
def test_describe_exit(code, words):
    assert words in describe_exit(code)


def test_worker_died_pickles_with_its_fields():
    error = WorkerDied.of(123, -9, "f()")
    again = pickle.loads(pickle.dumps(error))
    assert (again.pid, again.exitcode, again.task, str(again)) == (123, -9, "f()", str(error))
    assert isinstance(again, BrokenProcessPool)
