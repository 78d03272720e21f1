"""gilfree's executors against the ``concurrent.futures`` contract (issue 11, point 1, a first slice).

``FailSafePool`` and ``PoolExecutor`` take ``ProcessPoolExecutor``'s arguments: ``max_workers``
(``None``: one per usable core), ``mp_context``, ``initializer`` and ``initargs``; their ``map``
checks ``chunksize`` as the stdlib does. A failing initializer breaks the pool as it breaks a
``ProcessPoolExecutor``: the futures submitted so far fail with a ``BrokenProcessPool`` (gilfree's
:class:`~gilfree.errors.WorkerDied`) that names the initializer and its exception, and ``submit``
raises it once the pool is known to be broken. Never an endless respawn loop, never a hang: every
wait here has a timeout.

Fork runs every test; spawn (slow to start) runs two per executor.
"""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable

import _tasks
import pytest
from _posix import ctx, methods

from gilfree._timing import usable_cores
from gilfree.errors import RemoteTraceback, WorkerDied
from gilfree.mp_pool import PoolExecutor
from gilfree.pool import FailSafePool

#: Generous bound for "within seconds": a hang shows up as a failure, never a slow pass.
PROMPT_S = 30.0

EXECUTORS: dict[str, Callable[..., Executor]] = {"failsafe": FailSafePool, "pool": PoolExecutor}

# -- what the workers run (module level, so that spawn workers can import them) -----------------

_initialized_with: object = None


def remember(value: object) -> None:
    """An initializer whose effect a task can see."""
    global _initialized_with
    _initialized_with = value


def initialized_with() -> object:
    return _initialized_with


def initialized_with_after(_: object) -> object:
    return _initialized_with


def init_fails(message: str) -> None:
    raise ValueError(message)


def init_exits() -> None:
    os._exit(3)


# -- helpers ----------------------------------------------------------------------------------


def open_pool(kind: str, *args: Any, **kwargs: Any) -> Executor:
    return EXECUTORS[kind](*args, **kwargs)


def stop(executor: Executor) -> None:
    """Stop at once (the pools' own terminate): a test never waits on a broken pool's queue."""
    terminate = getattr(executor, "terminate")
    terminate()


@pytest.fixture(params=sorted(EXECUTORS))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def portable_spawn(*wanted: str) -> list[Any]:
    """The start methods of ``wanted`` this platform has; spawn's runs are in the portable set
    (spawn is the one start method every platform has)."""
    return [pytest.param(m, marks=pytest.mark.portable) if m == "spawn" else m for m in methods(*wanted)]


# -- the platform's default start method (no mp_context), as users get it ---------------------


@pytest.mark.portable
def test_the_contract_holds_with_the_platforms_default_start_method(kind: str) -> None:
    """No ``mp_context``: spawn on macOS and Windows, fork or forkserver on Linux."""
    with open_pool(kind, 2, None, remember, ("default",)) as executor:
        assert executor.submit(_tasks.add, 1, 2, c=3).result(timeout=PROMPT_S) == 6
        assert list(executor.map(_tasks.square, range(6), timeout=PROMPT_S)) == [0, 1, 4, 9, 16, 25]
        assert executor.submit(initialized_with).result(timeout=PROMPT_S) == "default"
        with pytest.raises(ValueError, match="no square for you"):
            executor.submit(_tasks.fail, "no square for you").result(timeout=PROMPT_S)
        assert executor.submit(_tasks.square, 7).result(timeout=PROMPT_S) == 49  # the pool goes on
    with pytest.raises(RuntimeError, match="shutdown"):
        executor.submit(_tasks.square, 1)


# -- max_workers ------------------------------------------------------------------------------


def test_max_workers_none_means_one_per_usable_core(kind: str) -> None:
    executor = open_pool(kind, None, ctx("fork"))
    try:
        assert getattr(executor, "workers") == usable_cores()
        assert executor.submit(_tasks.square, 5).result(timeout=PROMPT_S) == 25
    finally:
        stop(executor)
    executor = open_pool(kind, mp_context=ctx("fork"))  # the default is None, as in the stdlib
    try:
        assert getattr(executor, "workers") == usable_cores()
    finally:
        stop(executor)


@pytest.mark.parametrize("bad, error, message", [
    (0, ValueError, "max_workers must be >= 1, got 0"),
    (-2, ValueError, "max_workers must be >= 1, got -2"),
    (1.5, TypeError, "max_workers must be an int, not float"),
    (True, TypeError, "max_workers must be an int, not bool"),
    ("2", TypeError, "max_workers must be an int, not str"),
])
def test_max_workers_must_be_a_positive_int(kind: str, bad: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        open_pool(kind, bad, ctx("fork"))


def test_the_constructor_takes_process_pool_executors_arguments_by_name(kind: str) -> None:
    executor = open_pool(kind, max_workers=1, mp_context=ctx("fork"), initializer=remember, initargs=("kw",))
    try:
        assert executor.submit(initialized_with).result(timeout=PROMPT_S) == "kw"
    finally:
        executor.shutdown(wait=True)


@pytest.mark.parametrize("initializer, initargs, message", [
    (42, (), "initializer must be a callable or None, not int"),
    (remember, 5, "initargs must be a tuple, not int"),
    (remember, "ab", "initargs must be a tuple, not str"),
])
def test_initializer_arguments_are_checked(kind: str, initializer: Any, initargs: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        open_pool(kind, 1, ctx("fork"), initializer, initargs)


# -- initializer ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", portable_spawn("fork", "spawn"))
def test_the_initializer_runs_in_every_worker_before_its_first_task(kind: str, method: str) -> None:
    with open_pool(kind, 2, ctx(method), remember, ("ready",)) as executor:
        futures = [executor.submit(initialized_with) for _ in range(6)]
        assert [f.result(timeout=PROMPT_S) for f in futures] == ["ready"] * 6
        assert list(executor.map(initialized_with_after, range(4), timeout=PROMPT_S)) == ["ready"] * 4


def test_a_replacement_failsafe_worker_runs_the_initializer_too() -> None:
    # Under fork the replacement is started by forkserver (or spawn): it imports afresh, so
    # only the initializer can have set the value it returns.
    with FailSafePool(1, ctx("fork"), remember, ("again",)) as pool:
        first = pool.submit(_tasks.pid).result(timeout=PROMPT_S)
        with pytest.raises(WorkerDied):
            pool.submit(_tasks.die).result(timeout=PROMPT_S)
        assert pool.submit(initialized_with).result(timeout=PROMPT_S) == "again"
        assert pool.submit(_tasks.pid).result(timeout=PROMPT_S) != first


def _assert_broken_by_the_initializer(executor: Executor, submissions: int, what: str) -> WorkerDied:
    """Each submission fails with the pool's WorkerDied naming the initializer; submit then raises it.

    As with ProcessPoolExecutor, the initializer runs after the pool is created, so a task
    submitted before the pool knows that it failed gets the error on its future, and ``submit``
    raises it once the pool knows (the stdlib's own test accepts both the same way).
    """
    errors = []
    for i in range(submissions):
        with pytest.raises(WorkerDied, match=what) as info:
            executor.submit(_tasks.square, i).result(timeout=PROMPT_S)
        assert isinstance(info.value, BrokenProcessPool)
        assert "initializer" in str(info.value) and __name__ in str(info.value)
        errors.append(info.value)
    return errors[0]


def _fails_now(executor: Executor) -> None:
    """Once one future has failed, the pool knows it is broken: ``submit`` itself raises."""
    with pytest.raises(BrokenProcessPool, match="initializer"):
        executor.submit(_tasks.square, 2)


@pytest.mark.parametrize("method", portable_spawn("fork", "spawn"))
def test_a_failing_initializer_breaks_the_pool_with_its_error(kind: str, method: str) -> None:
    executor = open_pool(kind, 2, ctx(method), init_fails, ("no database",))
    try:
        error = _assert_broken_by_the_initializer(executor, 3, "no database")
        _fails_now(executor)
        assert "ValueError" in str(error)
        if kind == "failsafe":  # the initializer's own exception, with the worker's traceback
            assert isinstance(error.__cause__, ValueError)
            assert isinstance(error.__cause__.__cause__, RemoteTraceback)
            assert "in init_fails" in str(error.__cause__.__cause__)
    finally:
        stop(executor)


def test_a_failing_initializer_does_not_stop_shutdown(kind: str) -> None:
    executor = open_pool(kind, 2, ctx("fork"), init_fails, ("late",))
    with pytest.raises(BrokenProcessPool, match="late"):
        executor.submit(_tasks.square, 3).result(timeout=PROMPT_S)
    executor.shutdown(wait=True)  # returns: no worker is respawned, nothing is left waiting


def test_a_worker_that_dies_in_its_initializer_breaks_the_pool(kind: str) -> None:
    executor = open_pool(kind, 1, ctx("fork"), init_exits)
    try:
        error = _assert_broken_by_the_initializer(executor, 2, "init_exits")
        _fails_now(executor)
        assert error.exitcode == 3
    finally:
        stop(executor)


def test_a_failsafe_pool_whose_initializer_fails_breaks_without_any_task() -> None:
    # No task to fail: the pool must still notice, stop its workers and refuse new work,
    # rather than start replacements that fail the same way, for ever.
    pool = FailSafePool(2, ctx("fork"), init_fails, ("idle",))
    try:
        thread = getattr(pool, "_thread")
        thread.join(timeout=PROMPT_S)
        assert not thread.is_alive()  # the dispatcher stopped: no respawn loop
        with pytest.raises(WorkerDied, match="idle"):
            pool.submit(_tasks.square, 1)
    finally:
        pool.terminate()


# -- map's chunksize ----------------------------------------------------------------------------


@pytest.mark.parametrize("chunksize, error, message", [
    (0, ValueError, "chunksize must be >= 1, got 0"),
    (-1, ValueError, "chunksize must be >= 1, got -1"),
    (1.0, TypeError, "chunksize must be an int, not float"),
    ("4", TypeError, "chunksize must be an int, not str"),
    (None, TypeError, "chunksize must be an int, not NoneType"),
])
def test_map_checks_chunksize_as_the_stdlib_does(kind: str, chunksize: Any, error: type, message: str) -> None:
    with open_pool(kind, 1, ctx("fork")) as executor:
        with pytest.raises(error, match=message):
            executor.map(_tasks.square, range(3), chunksize=chunksize)


@pytest.mark.parametrize("chunksize", [1, 3, 100])
def test_map_with_a_chunksize_returns_every_result_in_order(kind: str, chunksize: int) -> None:
    with open_pool(kind, 2, ctx("fork")) as executor:
        got = list(executor.map(_tasks.add, range(10), range(10, 20), timeout=PROMPT_S, chunksize=chunksize))
        assert got == [a + b for a, b in zip(range(10), range(10, 20))]


def test_shutdown_right_after_submit_to_a_pool_whose_initializer_fails_returns(kind: str) -> None:
    # The failure may be found only after shutdown began: shutdown(wait=True) must still return
    # (a multiprocessing.Pool would start failing workers for ever and join them for ever).
    executor = open_pool(kind, 2, ctx("fork"), init_fails, ("while stopping",))
    try:
        futures = [executor.submit(_tasks.square, i) for i in range(3)]
    except BrokenProcessPool:
        futures = []
    stopper = threading.Thread(target=executor.shutdown, kwargs={"wait": True}, daemon=True)
    stopper.start()
    stopper.join(timeout=PROMPT_S)
    hung = stopper.is_alive()
    if hung:
        stop(executor)
    assert not hung, "shutdown(wait=True) hung"
    for future in futures:
        with pytest.raises(BrokenProcessPool, match="while stopping"):
            future.result(timeout=PROMPT_S)


def square_unless(x: int, bad: int) -> int:
    """x * x, except that the worker dies (SIGKILL) on ``bad``."""
    if x == bad:
        os.kill(os.getpid(), signal.SIGKILL)
    return x * x


def square_or_fail(x: int, bad: int) -> int:
    if x == bad:
        raise ValueError(f"no square for {x}")
    return x * x


def test_map_in_batches_raises_a_tasks_error_where_its_item_was_due(kind: str) -> None:
    with open_pool(kind, 2, ctx("fork")) as executor:
        results = executor.map(square_or_fail, range(10), [5] * 10, timeout=PROMPT_S, chunksize=4)
        # Items 4 to 7 are one task: item 4's result still comes, as with chunksize=1.
        assert [next(results) for _ in range(5)] == [0, 1, 4, 9, 16]
        with pytest.raises(ValueError, match="no square for 5"):
            next(results)


def test_a_dead_failsafe_worker_costs_its_batch_and_the_error_names_the_items() -> None:
    with FailSafePool(2, ctx("fork")) as pool:
        results = pool.map(square_unless, range(10), [6] * 10, timeout=PROMPT_S, chunksize=4)
        assert [next(results) for _ in range(4)] == [0, 1, 4, 9]
        with pytest.raises(WorkerDied, match=r"square_unless\(\) on map's items 4 to 7") as info:
            next(results)
        assert "SIGKILL" in str(info.value)
        # The pool goes on with a replacement worker (the stdlib's would now be broken).
        assert list(pool.map(square_unless, range(5), [-1] * 5, timeout=PROMPT_S, chunksize=2)) == [0, 1, 4, 9, 16]


def test_a_pool_stopped_while_its_initializer_runs_is_stopped_not_broken(kind: str) -> None:
    executor = open_pool(kind, 2, ctx("fork"), _tasks.sleep_then, (PROMPT_S,))
    stop(executor)  # kills the workers in their initializer: that is no initializer failure
    assert getattr(executor, "broken" if kind == "pool" else "_broken") is None
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(_tasks.square, 1)
