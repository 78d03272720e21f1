"""``PoolExecutor`` (the ``multiprocessing.Pool`` strategy) against the ``concurrent.futures`` contract.

What issue 11 found and these pin: every future is settled by ``shutdown(cancel_futures=True)``
and ``terminate()`` (a future is PENDING until it is handed to the Pool, so it can be
cancelled); ``shutdown(wait=True)`` returns when a worker dies after shutdown began; errors keep
their own types (pickling errors of arguments on the future, unpicklable results, ``SystemExit``);
a result that cannot be unpickled in the parent fails its own future and the pool goes on (where
gilfree differs from ``ProcessPoolExecutor`` on purpose); ``max_tasks_per_child``; the program
waits for pending futures at exit; a dropped executor is collected and its workers go.

Synchronisation is by marker files in the test's own temporary directory (a task says "started"
and waits for "go"); every wait has a timeout, so a hang is a failure, never a stuck run.
"""

from __future__ import annotations

import gc
import multiprocessing
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
from pathlib import Path
from typing import Any

import _tasks
import pytest
from _posix import ctx, methods, needs_start_method

from gilfree._compat import pool_processes
from gilfree.errors import PoolStopped, RemoteTraceback, WorkerDied
from gilfree.mp_pool import PoolExecutor

#: Generous bound for "within seconds": a hang shows up as a failure, never a slow pass.
PROMPT_S = 60.0

SRC = str(Path(__file__).resolve().parents[1] / "src")


# -- what the workers run (module level, so that spawn workers can import them) -----------------


def started_then_wait(folder: str, name: str, value: object = None) -> object:
    """Say "started" (a marker file), then wait for the test's "go" marker; return ``value``."""
    Path(folder, f"{name}.started").touch()
    go = Path(folder, "go")
    deadline = time.monotonic() + PROMPT_S
    while not go.exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the test never said go")
        time.sleep(0.005)
    return value


def started_then_die(folder: str) -> None:
    """Say "started", wait for "go", then die of SIGKILL."""
    started_then_wait(folder, "doomed")
    os.kill(os.getpid(), signal.SIGKILL)


class _LoadsBadly:
    """Pickles fine; raises ``UnpicklingError`` when unpickled (in the parent, for a result)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return _refuse, ("no way back",)


def _refuse(message: str) -> None:
    raise pickle.UnpicklingError(message)


def returns_one_that_loads_badly() -> object:
    return _LoadsBadly()


class _ExitsOnLoad:
    def __reduce__(self) -> tuple[Any, ...]:
        return sys.exit, (7,)


def returns_one_that_exits_on_load() -> object:
    return _ExitsOnLoad()


def raise_runtime_error() -> None:
    raise RuntimeError("from the worker")


def wait_for(path: Path, what: str) -> None:
    """The handshake: wait (with a deadline) for a marker a task writes."""
    deadline = time.monotonic() + PROMPT_S
    while not path.exists():
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.005)


# -- futures stay PENDING until handed over; every future is settled ----------------------------


def test_futures_wait_pending_beyond_the_pools_hand_off_and_can_be_cancelled(tmp_path: Path) -> None:
    executor = PoolExecutor(1, ctx("fork"))
    try:
        first = executor.submit(started_then_wait, str(tmp_path), "first", "a")
        wait_for(tmp_path / "first.started", "the first task's start")
        rest = [executor.submit(_tasks.square, i) for i in range(6)]
        handed = PoolExecutor.HANDOFF_PER_WORKER - 1  # the first task holds one place
        assert all(f.running() for f in rest[:handed])
        assert not any(f.running() or f.done() for f in rest[handed:])  # PENDING, waiting here
        assert rest[-1].cancel()
        (tmp_path / "go").touch()
        assert first.result(timeout=PROMPT_S) == "a"
        assert [f.result(timeout=PROMPT_S) for f in rest[:-1]] == [i * i for i in range(5)]
        with pytest.raises(CancelledError):
            rest[-1].result(timeout=0)
    finally:
        executor.shutdown(wait=True)


def test_shutdown_cancel_futures_cancels_the_waiting_and_lets_the_handed_over_finish(tmp_path: Path) -> None:
    executor = PoolExecutor(1, ctx("fork"))
    first = executor.submit(started_then_wait, str(tmp_path), "first", "a")
    wait_for(tmp_path / "first.started", "the first task's start")
    rest = [executor.submit(_tasks.square, i) for i in range(8)]
    executor.shutdown(wait=False, cancel_futures=True)
    handed = PoolExecutor.HANDOFF_PER_WORKER - 1
    assert all(f.cancelled() for f in rest[handed:])
    (tmp_path / "go").touch()
    executor.shutdown(wait=True)
    assert first.result(timeout=0) == "a"
    assert [f.result(timeout=0) for f in rest[:handed]] == [i * i for i in range(handed)]
    with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown"):
        executor.submit(_tasks.square, 1)


def test_terminate_settles_every_future(tmp_path: Path) -> None:
    executor = PoolExecutor(1, ctx("fork"))
    done = executor.submit(_tasks.square, 3)
    assert done.result(timeout=PROMPT_S) == 9
    first = executor.submit(started_then_wait, str(tmp_path), "first")
    wait_for(tmp_path / "first.started", "the first task's start")
    rest = [executor.submit(_tasks.square, i) for i in range(5)]
    executor.terminate()
    futures = [first, *rest]
    assert all(f.done() for f in futures)  # nothing left RUNNING or PENDING for ever
    handed = PoolExecutor.HANDOFF_PER_WORKER
    for future in futures[:handed]:
        with pytest.raises(PoolStopped):
            future.result(timeout=0)
    assert all(f.cancelled() for f in futures[handed:])
    assert done.result(timeout=0) == 9  # a finished task keeps its result


def test_shutdown_wait_returns_when_a_worker_dies_after_shutdown_began(tmp_path: Path) -> None:
    executor = PoolExecutor(2, ctx("fork"))
    doomed = executor.submit(started_then_die, str(tmp_path))
    wait_for(tmp_path / "doomed.started", "the doomed task's start")
    stopper = threading.Thread(target=executor.shutdown, kwargs={"wait": True}, daemon=True)
    stopper.start()
    deadline = time.monotonic() + PROMPT_S
    while not getattr(executor, "_closed"):  # shutdown has begun: the Pool was closed
        assert time.monotonic() < deadline, "shutdown never closed the Pool"
        time.sleep(0.005)
    (tmp_path / "go").touch()
    stopper.join(timeout=PROMPT_S)
    hung = stopper.is_alive()
    if hung:
        executor.terminate()
    assert not hung, "shutdown(wait=True) hung after a worker died"
    with pytest.raises(WorkerDied, match="SIGKILL"):
        doomed.result(timeout=0)


# -- errors keep their own types ----------------------------------------------------------------


@pytest.mark.parametrize("method", methods("fork", "spawn"))
def test_a_result_that_cannot_be_unpickled_fails_its_own_future_and_the_pool_goes_on(method: str) -> None:
    # ProcessPoolExecutor breaks the whole pool here; gilfree (as FailSafePool) loses only this
    # task: BrokenProcessPool, with the unpickling error as its cause.
    executor = PoolExecutor(1, ctx(method))
    try:
        with pytest.raises(BrokenProcessPool, match="could not be unpickled in this process") as info:
            executor.submit(returns_one_that_loads_badly).result(timeout=PROMPT_S)
        assert not isinstance(info.value, WorkerDied)
        assert isinstance(info.value.__cause__, pickle.UnpicklingError)
        assert "returns_one_that_loads_badly()" in str(info.value)
        with pytest.raises(BrokenProcessPool) as exits:
            executor.submit(returns_one_that_exits_on_load).result(timeout=PROMPT_S)
        assert isinstance(exits.value.__cause__, SystemExit)  # it did not end the Pool's thread
        assert executor.submit(_tasks.square, 4).result(timeout=PROMPT_S) == 16
    finally:
        executor.terminate()  # does not raise (a dead result thread once made it an AssertionError)


def test_arguments_that_cannot_be_pickled_fail_the_future_not_submit() -> None:
    with PoolExecutor(1, ctx("fork")) as executor:
        future = executor.submit(_tasks.square, threading.Lock())
        with pytest.raises(TypeError, match="pickle") as info:  # the pickling error's own type
            future.result(timeout=PROMPT_S)
        assert any("cannot send" in note for note in getattr(info.value, "__notes__", []))
        assert executor.submit(_tasks.square, 5).result(timeout=PROMPT_S) == 25


def test_a_result_the_worker_cannot_pickle_arrives_as_its_pickling_error() -> None:
    with PoolExecutor(1, ctx("fork")) as executor:
        with pytest.raises((pickle.PicklingError, AttributeError), match="pickle") as info:
            executor.submit(_tasks.unpicklable_result).result(timeout=PROMPT_S)
        assert any("result (function) could not be pickled" in note for note in getattr(info.value, "__notes__", []))
        with pytest.raises(TypeError, match="pickle") as raised:  # an exception that cannot travel
            executor.submit(_tasks.raise_unpicklable).result(timeout=PROMPT_S)
        assert any("exception Unpicklable" in note for note in getattr(raised.value, "__notes__", []))
        assert executor.submit(_tasks.square, 6).result(timeout=PROMPT_S) == 36


def test_system_exit_in_a_task_is_that_tasks_exception_and_the_worker_lives() -> None:
    with PoolExecutor(1, ctx("fork")) as executor:
        before = executor.submit(_tasks.pid).result(timeout=PROMPT_S)
        with pytest.raises(SystemExit) as info:
            executor.submit(_tasks.exit_task, 4).result(timeout=PROMPT_S)
        assert info.value.code == 4
        assert executor.submit(_tasks.pid).result(timeout=PROMPT_S) == before


def test_a_task_exception_arrives_with_the_workers_traceback() -> None:
    with PoolExecutor(1, ctx("fork")) as executor:
        with pytest.raises(RuntimeError, match="from the worker") as info:
            executor.submit(raise_runtime_error).result(timeout=PROMPT_S)
        assert isinstance(info.value.__cause__, RemoteTraceback)
        assert 'raise RuntimeError("from the worker")' in info.value.__cause__.text


# -- max_tasks_per_child ------------------------------------------------------------------------


def test_max_tasks_per_child_replaces_the_worker() -> None:
    with PoolExecutor(1, ctx("spawn"), max_tasks_per_child=2) as executor:
        pids = [executor.submit(_tasks.pid).result(timeout=PROMPT_S) for _ in range(5)]
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]


def test_max_tasks_per_child_is_refused_with_fork_and_means_spawn_by_default() -> None:
    with pytest.raises(ValueError, match="incompatible with the 'fork'"):
        PoolExecutor(1, ctx("fork"), max_tasks_per_child=3)
    executor = PoolExecutor(1, max_tasks_per_child=3)
    try:
        assert getattr(executor, "_mp_context").get_start_method() == "spawn"
    finally:
        executor.terminate()


@pytest.mark.parametrize("bad, error, message", [
    (0, ValueError, "max_tasks_per_child must be >= 1, got 0"),
    (1.5, TypeError, "max_tasks_per_child must be an int, not float"),
])
def test_max_tasks_per_child_must_be_a_positive_int(bad: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        PoolExecutor(1, ctx("spawn"), max_tasks_per_child=bad)  # type: ignore[arg-type]


# -- the interpreter's exit; a dropped executor -------------------------------------------------


def _run_script(body: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(body)], capture_output=True, text=True,
                          env=env, timeout=PROMPT_S)


@needs_start_method("fork")
@pytest.mark.parametrize("ending", ["", "executor.shutdown(wait=False)"])
def test_the_program_waits_for_pending_futures_at_exit(ending: str) -> None:
    done = _run_script(f"""
        import multiprocessing, time
        from gilfree.mp_pool import PoolExecutor

        def late(text):
            time.sleep(0.5)  # the task itself: still running when the script ends
            print(text, flush=True)

        if __name__ == "__main__":
            executor = PoolExecutor(2, multiprocessing.get_context("fork"))
            executor.submit(late, "apple")
            {ending}
        """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "apple"
    assert done.stderr == ""


@needs_start_method("fork")
def test_submit_during_interpreter_exit_raises() -> None:
    done = _run_script("""
        import atexit, multiprocessing
        from gilfree.mp_pool import PoolExecutor

        @atexit.register
        def run_last():
            try:
                executor.submit(id, None)
            except RuntimeError as error:
                print(error, flush=True)

        if __name__ == "__main__":
            executor = PoolExecutor(2, multiprocessing.get_context("fork"))
            executor.submit(id, 42).result()
        """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "cannot schedule new futures after interpreter shutdown"


def test_a_dropped_executor_is_collected_and_its_workers_go() -> None:
    executor = PoolExecutor(2, ctx("fork"))
    assert executor.submit(_tasks.square, 7).result(timeout=PROMPT_S) == 49
    workers = pool_processes(executor.raw)
    watchdog = getattr(executor, "_watchdog")
    gone = weakref.ref(executor)
    del executor
    # The thread that settled the future may still be leaving a frame that holds the executor
    # (a busy machine keeps it off the cores): collect until it lets go, PROMPT_S at most (a hang
    # detector, not a timing).
    deadline = time.monotonic() + PROMPT_S
    gc.collect()
    while gone() is not None and time.monotonic() < deadline:
        time.sleep(0.01)
        gc.collect()
    assert gone() is None, "the executor was not collected"
    for worker in workers:
        worker.join(timeout=PROMPT_S)
        assert worker.exitcode is not None
    watchdog.join(timeout=PROMPT_S)
    assert not watchdog.is_alive()


class _LoadsBadlyInTheWorker:
    """An argument that pickles in the parent and fails to unpickle in the worker."""

    def __reduce__(self) -> tuple[Any, ...]:
        return _refuse, ("no way in",)


def test_a_task_that_cannot_be_unpickled_in_the_worker_fails_alone() -> None:
    # ProcessPoolExecutor breaks the whole pool here; gilfree (as FailSafePool) fails only this
    # task, BrokenProcessPool with the unpickling error as its cause, and the worker goes on.
    with PoolExecutor(1, ctx("fork")) as executor:
        before = executor.submit(_tasks.pid).result(timeout=PROMPT_S)
        with pytest.raises(BrokenProcessPool, match="could not unpickle builtins.id()") as info:
            executor.submit(id, _LoadsBadlyInTheWorker()).result(timeout=PROMPT_S)
        assert isinstance(info.value.__cause__, pickle.UnpicklingError)
        assert executor.submit(_tasks.pid).result(timeout=PROMPT_S) == before


@pytest.mark.parametrize("max_tasks_per_child", [None, 3])
def test_a_worker_that_exits_with_status_0_in_a_task_breaks_the_pool_instead_of_losing_it(
        max_tasks_per_child: int | None) -> None:
    # A Pool's worker leaves with status 0 on its own only after its max_tasks_per_child tasks
    # (or once the closed pool has answered every task): sooner, a task ended it and is lost.
    executor = PoolExecutor(1, ctx("spawn"), max_tasks_per_child=max_tasks_per_child)
    try:
        assert executor.submit(_tasks.square, 2).result(timeout=PROMPT_S) == 4
        with pytest.raises(WorkerDied, match="exit"):
            executor.submit(_tasks.hard_exit, 0).result(timeout=PROMPT_S)
    finally:
        executor.terminate()


class _FailsToPickle:
    def __reduce__(self) -> tuple[Any, ...]:
        raise pickle.PicklingError("not this one")


def test_unpicklable_arguments_fail_their_future_also_when_shutdown_follows() -> None:
    executor = PoolExecutor(2, ctx("fork"))
    assert executor.submit(_tasks.square, 2).result(timeout=PROMPT_S) == 4
    future = executor.submit(id, _FailsToPickle())
    executor.shutdown(wait=False)
    with pytest.raises(pickle.PicklingError, match="not this one"):
        future.result(timeout=PROMPT_S)
    executor.shutdown(wait=True)
