"""The executors behind open_executor (gilfree.strategies): the guarded multiprocessing.Pool and the
explained ProcessPoolExecutor fail fast and say why, and every strategy refuses what it cannot do.

FailSafePool has its own module (tests/test_pool.py); the joblib peers theirs (tests/test_peers.py).
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

import _tasks
import pytest
from _posix import ctx, signum

from gilfree.errors import WorkerDied
from gilfree.pool import FailSafePool
from gilfree.strategies import (PoolExecutor, ProcessesExecutor, SerialExecutor, check_workers, get_strategy,
                                open_executor, strategy_names,
                                stop_executor)

METHODS = [m for m in ("fork", "spawn", "forkserver") if m in multiprocessing.get_all_start_methods()]

#: Generous bound for "within seconds": a hang shows up as a failure, never a slow pass.
PROMPT_S = 20.0


@pytest.fixture(params=METHODS)
def method(request: pytest.FixtureRequest) -> str:
    return request.param


# -- open_executor --------------------------------------------------------------------------------

@pytest.mark.parametrize("strategy, kind", [
    ("serial", SerialExecutor), ("threads", ThreadPoolExecutor), ("pool", PoolExecutor),
    ("processes", ProcessesExecutor), ("failsafe", FailSafePool),
])
def test_each_strategy_opens_its_executor_and_runs_tasks(strategy, kind):
    with open_executor(strategy, 2) as executor:
        assert isinstance(executor, kind)
        futures = [executor.submit(pow, 2, i) for i in range(4)]
        assert [f.result(timeout=PROMPT_S) for f in futures] == [1, 2, 4, 8]


def test_the_serial_executor_runs_each_task_at_once_in_the_calling_thread():
    executor = SerialExecutor()
    done = executor.submit(threading.get_ident)
    assert done.done() and done.result() == threading.get_ident()
    failed = executor.submit(_tasks.fail, "kept in the future")
    assert isinstance(failed.exception(), ValueError)
    with pytest.raises(SystemExit):
        executor.submit(_tasks.exit_task, 3)  # not swallowed into a future
    executor.shutdown()
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(pow, 2, 2)


def test_an_error_in_the_block_drops_the_tasks_not_yet_started():
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="stop here"):
        with open_executor("processes", 1, start_method="spawn") as executor:
            futures = [executor.submit(_tasks.sleep_then, 0.2, i) for i in range(20)]
            futures[0].result(timeout=PROMPT_S)
            raise RuntimeError("stop here")
    assert time.monotonic() - started < PROMPT_S
    assert futures[-1].cancelled()


def test_stop_executor_without_abort_waits_for_every_task():
    executor = ThreadPoolExecutor(2)
    futures = [executor.submit(_tasks.sleep_then, 0.05, i) for i in range(6)]
    stop_executor(executor, abort=False)
    assert [f.result(timeout=0) for f in futures] == list(range(6))


def test_check_workers_returns_the_count():
    assert check_workers(3) == 3


def test_task_timeout_is_refused_where_a_task_cannot_be_stopped():
    for strategy in strategy_names(available_only=True):
        if get_strategy(strategy).capabilities.can_stop_task:
            continue
        with pytest.raises(ValueError, match="task_timeout needs a strategy that can stop one task"):
            with open_executor(strategy, 1, task_timeout=1.0):
                pass
    with open_executor("failsafe", 1, task_timeout=5.0, start_method="spawn") as pool:
        assert pool.task_timeout == 5.0


# -- multiprocessing.Pool, watched --------------------------------------------------------------

def test_a_dead_pool_worker_fails_every_outstanding_task_instead_of_hanging(method):
    executor = PoolExecutor(2, multiprocessing.get_context(method))
    try:
        done = executor.submit(_tasks.square, 3)
        assert done.result(timeout=PROMPT_S) == 9
        waiting = executor.submit(_tasks.sleep_then, 30)
        doomed = executor.submit(_tasks.die)
        for future in (waiting, doomed):
            with pytest.raises(WorkerDied, match="SIGKILL") as info:
                future.result(timeout=PROMPT_S)
            assert isinstance(info.value, BrokenProcessPool)
        assert done.result() == 9  # a finished task keeps its result
        with pytest.raises(WorkerDied):
            executor.submit(_tasks.square, 1)
    finally:
        executor.terminate()


@pytest.mark.parametrize("call", ["map", "starmap", "imap", "imap_unordered"])
@pytest.mark.parametrize("chunksize", [1, 3])
def test_the_pools_own_calls_fail_fast_too(call, chunksize):
    with open_executor("pool", 2, start_method="spawn") as executor:
        pool = executor.pool
        items = list(range(10))
        if call == "starmap":
            assert pool.starmap(_tasks.add, [(i, 1) for i in items], chunksize) == [i + 1 for i in items]
        else:
            got = list(getattr(pool, call)(_tasks.square, items, chunksize))
            assert sorted(got) == [i * i for i in items]
            if call != "imap_unordered":
                assert got == [i * i for i in items]
    with pytest.raises(WorkerDied, match="SIGKILL"):
        with open_executor("pool", 2, start_method="spawn") as executor:
            pool = executor.pool
            if call == "starmap":
                pool.starmap(_tasks.die, [(signum("SIGKILL"),)] * 4, chunksize)
            elif call == "map":
                pool.map(_tasks.die, [signum("SIGKILL")] * 4, chunksize)
            else:
                list(getattr(pool, call)(_tasks.die, [signum("SIGKILL")] * 4, chunksize))


def test_guarded_imap_refuses_a_zero_chunksize():
    with open_executor("pool", 1, start_method="spawn") as executor:
        with pytest.raises(ValueError, match="chunksize"):
            list(executor.pool.imap(_tasks.square, [1], 0))


# -- ProcessPoolExecutor, explained --------------------------------------------------------------

def test_a_broken_process_pool_names_the_dead_worker(method):
    with pytest.raises(WorkerDied) as info:
        with open_executor("processes", 2, start_method=method) as executor:
            assert isinstance(executor, ProcessesExecutor)
            ok = executor.submit(_tasks.square, 7)
            assert ok.result(timeout=PROMPT_S) == 49
            executor.submit(_tasks.die, signum("SIGKILL")).result(timeout=PROMPT_S)
    error = info.value
    assert isinstance(error, BrokenProcessPool)
    assert "SIGKILL" in str(error) and error.exitcode == -signum("SIGKILL")
    assert isinstance(error.__cause__, BrokenProcessPool)
    assert ok.result() == 49


def test_explained_futures_cancel_and_complete_like_the_originals():
    with open_executor("processes", 1, start_method="spawn") as executor:
        first = executor.submit(_tasks.sleep_then, 0.3, "first")
        rest = [executor.submit(_tasks.square, i) for i in range(30)]
        cancelled = rest[-1].cancel()
        results = {f: f.result() for f in as_completed([first, *rest[:-1]], timeout=PROMPT_S)}
        assert results[first] == "first"
        assert [results[f] for f in rest[:-1]] == [i * i for i in range(29)]
        if cancelled:
            assert rest[-1].cancelled()
            assert list(as_completed([rest[-1]], timeout=PROMPT_S)) == [rest[-1]]


def test_a_processes_executor_dropped_while_its_futures_live_is_collected():
    import gc
    import weakref

    executor = ProcessesExecutor(1, ctx("fork"))
    future = executor.submit(_tasks.square, 6)
    assert future.result(timeout=PROMPT_S) == 36
    gone = weakref.ref(executor)
    del executor
    gc.collect()
    assert gone() is None  # the future holds it weakly; the stdlib's collection then shuts it down
    assert future.result() == 36


def test_an_error_that_stops_a_run_is_not_replaced_by_a_failing_cleanup(monkeypatch):
    """Ctrl-C inside the executor's own start-up can leave it unable to stop cleanly; the
    interrupt must still be what the caller sees."""
    import gilfree.strategies as strategies

    def failing_stop(executor, *, abort, grace=0.0):
        raise RuntimeError("cannot join thread before it is started")

    monkeypatch.setattr(strategies, "stop_executor", failing_stop)
    with pytest.raises(KeyboardInterrupt) as caught:
        with strategies.open_executor("threads", 1):
            raise KeyboardInterrupt
    if hasattr(caught.value, "__notes__"):
        assert "cannot join thread" in caught.value.__notes__[0]


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="needs POSIX signal masks")
def test_ctrl_c_while_a_pool_starts_waits_until_it_exists_and_then_stops_it(monkeypatch):
    """The opener is where a pool starts its workers: Ctrl-C there must neither kill a worker in
    its start-up nor leave a half-built pool that nobody stops. It waits until the pool exists.
    A plugin's opener is not held so (its workers would not unblock the signals): Ctrl-C cuts it."""
    import os

    import gilfree.strategies as strategies
    from gilfree.registry import Strategy, register_strategy, unregister_strategy

    opened = []

    def starting(workers: int, **options: object) -> ThreadPoolExecutor:
        executor = ThreadPoolExecutor(workers)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C arrives while the pool starts
        opened.append(executor)  # reached only if the signal waits
        return executor

    monkeypatch.setattr(strategies, "FailSafePool", starting)  # what gilfree's "failsafe" opener builds
    release = threading.Event()
    bystander = threading.Thread(target=release.wait)  # a thread the kernel may hand the signal to
    bystander.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            with open_executor("failsafe", 1):
                pytest.fail("the block ran although Ctrl-C came first")
    finally:
        release.set()
        bystander.join()
    assert len(opened) == 1, "the interrupt cut the opener short"
    with pytest.raises(RuntimeError, match="after shutdown"):
        opened[0].submit(pow, 2, 2)  # and the executor it made was stopped

    register_strategy(Strategy("toy-interrupted", "a plugin's opener that gets Ctrl-C", starting,
                               get_strategy("threads").capabilities))
    try:
        with pytest.raises(KeyboardInterrupt):
            with open_executor("toy-interrupted", 1):
                pass
    finally:
        unregister_strategy("toy-interrupted")
    assert len(opened) == 1, "a plugin's opener ran on with the signals held"


def test_a_management_thread_whose_start_was_cut_short_is_still_joined():
    import threading

    from gilfree.processes import join_thread

    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    join_thread(thread, timeout=0.05)  # never started: no RuntimeError, it gives up at the deadline
    thread.start()
    release.set()
    join_thread(thread, timeout=5)
    assert not thread.is_alive()
