"""The one module that reads the standard library's private state, pinned to the versions checked."""

from __future__ import annotations

import multiprocessing
import sys
import threading
from concurrent.futures import ProcessPoolExecutor

import pytest

from gilfree import _compat


def test_this_python_is_one_the_private_names_were_checked_on():
    # A new Python fails here first: read its concurrent/futures/process.py and
    # multiprocessing/pool.py, then add it to CHECKED_ON.
    assert sys.version_info[:2] in _compat.CHECKED_ON
    assert _compat.checked_here()


def test_the_workers_of_a_multiprocessing_pool():
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        procs = _compat.pool_processes(pool)
        assert len(procs) == 2 and all(p.is_alive() for p in procs)
        pool.terminate()


def test_the_workers_and_manager_of_a_process_pool_executor():
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as executor:
        assert executor.submit(pow, 2, 5).result(timeout=60) == 32
        procs = _compat.executor_processes(executor)
        assert 1 <= len(procs) <= 2 and all(p.pid for p in procs)
        assert isinstance(_compat.executor_manager_thread(executor), threading.Thread)
        assert _compat.executor_workers(executor) == 2


def test_the_management_threads_and_queues_of_process_pool_executors():
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as executor:
        assert executor.submit(pow, 2, 5).result(timeout=60) == 32
        manager = _compat.executor_manager_thread(executor)
        call_queue, result_queue, processes = _compat.manager_queues(manager)
        assert call_queue is not None and result_queue is not None
        assert list(processes.values()) == _compat.executor_processes(executor)
    assert _compat.manager_queues(threading.current_thread()) == (None, None, {})


def test_the_queue_locks_a_dead_worker_held_are_freed():
    from types import SimpleNamespace

    lock_type = type(multiprocessing.get_context("spawn").Lock())
    with multiprocessing.get_context("spawn").Pool(1) as pool:  # the names it reads are there
        assert isinstance(pool._inqueue._rlock, lock_type) and isinstance(pool._outqueue._wlock, lock_type)
        assert isinstance(pool._worker_handler, threading.Thread) and callable(pool._taskqueue.put)
        pool.terminate()
    # Stand-ins: a live worker would take the real ones back.
    read, write = multiprocessing.Lock(), multiprocessing.Lock()
    pool_like = SimpleNamespace(_inqueue=SimpleNamespace(_rlock=read), _outqueue=SimpleNamespace(_wlock=write))
    _compat.release_queue_locks_of_dead_workers(pool_like)  # free: stay free
    assert read.acquire(False) and write.acquire(False)
    _compat.release_queue_locks_of_dead_workers(pool_like)  # taken (by the dead): freed
    assert read.acquire(False) and write.acquire(False)
    _compat.release_queue_locks_of_dead_workers(object())


def test_the_descriptor_of_a_shared_memory_segment():
    import os
    from multiprocessing import shared_memory

    shm = shared_memory.SharedMemory(create=True, size=4096)
    try:
        fd = _compat.shared_memory_fd(shm)
        assert fd is not None and os.fstat(fd).st_size >= 4096
    finally:
        shm.close()
        shm.unlink()


def test_what_is_not_there_reads_as_nothing_known():
    assert _compat.shared_memory_fd(object()) is None
    assert _compat.pool_processes(object()) == []
    assert _compat.executor_processes(object()) == []  # type: ignore[arg-type]
    assert _compat.executor_manager_thread(object()) is None  # type: ignore[arg-type]
    assert _compat.executor_workers(object()) is None


def test_no_other_module_reads_those_private_names():
    import pathlib

    import gilfree

    src = pathlib.Path(gilfree.__file__).parent
    # By name (getattr) or as an attribute; FailSafePool's own self._pool is its business.
    needles = ['"_pool"', '"_processes"', '"_executor_manager_thread"', '"_max_workers"', '"_fd"',
               "._processes", "._executor_manager_thread", "._max_workers", "._fd",
               '"_threads_wakeups"', '"_global_shutdown"', '"_inqueue"', '"_outqueue"', '"_worker_handler"', '"_taskqueue"', '"terminate_broken"', '"pending_work_items"']
    offenders = [f"{p.relative_to(src)}: {n}" for p in sorted(src.rglob("*.py")) if p.name != "_compat.py"
                 for n in needles if n in p.read_text()]
    assert not offenders, offenders


def _joins_or_fails(pool, why: str) -> None:
    """Close ``pool`` and join it, 60 s at most (a hang detector): a hang fails the test."""
    pool.close()
    joiner = threading.Thread(target=pool.join, daemon=True)
    joiner.start()
    joiner.join(60)
    if joiner.is_alive():
        pool.terminate()
        pytest.fail(f"Pool.join() hung: {why}")


def test_a_worker_forked_while_another_thread_wakes_an_executor_can_exit():
    """Another thread held a ``ProcessPoolExecutor``'s wakeup lock (waking its manager, for an
    instant) when a pool forked its worker. The worker's exit runs ``concurrent.futures``' exit
    hook (3.12+), which wakes the parent's executors: without the at-fork reset it waits forever
    on its copy of that lock, and ``Pool.join()`` with it (seen with pools opened on 4 threads at
    once under free-threaded 3.13)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs the fork start method")
    fork = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(1, mp_context=fork) as executor:
        assert executor.submit(abs, -1).result(timeout=60) == 1  # its manager thread now exists
        wakeup = getattr(executor, "_executor_manager_thread_wakeup", None)
        lock = getattr(wakeup, "_lock", None)
        if lock is None:
            pytest.skip("this Python's executor wakeup has no lock to inherit")
        with lock:  # as the other thread holds it, inside wakeup()
            pool = fork.Pool(1)  # forks its worker now
        _joins_or_fails(pool, "the worker forked under a held wakeup lock could not exit")


def test_a_worker_forked_while_another_thread_tracks_a_pool_executor_can_exit():
    """Another thread held ``gilfree.mp_pool``'s table lock (opening or closing a PoolExecutor, for
    an instant) when a pool forked its worker. The worker's exit runs the threading exit hooks,
    gilfree.mp_pool's among them, which takes that lock: without the at-fork reset it would wait
    forever on its copy, and ``Pool.join()`` with it."""
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs the fork start method")
    from gilfree import mp_pool

    fork = multiprocessing.get_context("fork")
    with mp_pool.PoolExecutor(1, fork) as executor:  # registers the exit hook that takes the lock
        assert executor.submit(abs, -1).result(timeout=60) == 1
        with mp_pool._live_lock:  # as another thread holds it, inside _track()
            pool = fork.Pool(1)  # forks its worker now
        _joins_or_fails(pool, "the worker forked under a held table lock could not exit")
