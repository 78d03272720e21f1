"""Execution strategies: one ``concurrent.futures.Executor`` interface over every way to run work.

==============  ===================================================  =============================
name            runs tasks on                                        the GIL
==============  ===================================================  =============================
``serial``      the calling thread, one after another (reference)    irrelevant
``threads``     a ``ThreadPoolExecutor``                             shared: only nogil code scales
``pool``        a ``multiprocessing.Pool`` (behind an Executor)      one per process
``processes``   a ``concurrent.futures.ProcessPoolExecutor``         one per process
==============  ===================================================  =============================

How data reaches the tasks (pickled arguments, a :class:`gilfree.shm.SharedArray` handle, a
file offset into an ``mmap``) is the caller's choice of *arguments*: the task functions in
:mod:`gilfree._workers` take each of them.
Lab steps and benchmarks open their executors here and never write a pool loop of their own.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Callable, Iterator

__all__ = [
    "STRATEGIES",
    "PoolExecutor",
    "SerialExecutor",
    "check_workers",
    "open_executor",
    "stop_executor",
]

#: Names accepted by :func:`open_executor`, with a one-line description each.
STRATEGIES = {
    "serial": "one task after another in the calling thread",
    "threads": "a ThreadPoolExecutor: threads share one interpreter and, with it, the GIL",
    "pool": "a multiprocessing.Pool: worker processes, each with its own interpreter",
    "processes": "a ProcessPoolExecutor: worker processes behind the futures interface",
}

PROCESS_STRATEGIES = frozenset({"pool", "processes"})


def check_workers(workers: object) -> int:
    """A worker count must be a positive int."""
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise TypeError(f"workers must be an int, not {type(workers).__name__}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    return workers


def _worker_ignores_sigint() -> None:
    """Worker-process initializer: Ctrl-C is the parent's to handle.

    A terminal's Ctrl-C reaches every process in the foreground group. Workers that died of it
    on their own would leave the pool's queues half-written and its management thread waiting
    forever; instead the parent catches KeyboardInterrupt once and stops them all in order.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class SerialExecutor(Executor):
    """Runs each task immediately in the calling thread: the reference every strategy must match."""

    def __init__(self) -> None:
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        if self._shutdown:
            raise RuntimeError("cannot submit to a SerialExecutor after shutdown")
        future: Future = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # the Future carries it, as a pool's would
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shutdown = True


class PoolExecutor(Executor):
    """A ``multiprocessing.Pool`` behind the ``Executor`` interface.

    ``.pool`` is the Pool itself, for its own ``map``, ``starmap``, ``imap`` and
    ``imap_unordered`` (lab step 3).
    """

    def __init__(self, workers: int, mp_context: Any = None) -> None:
        ctx = mp_context or multiprocessing.get_context()
        self.pool = ctx.Pool(processes=workers, initializer=_worker_ignores_sigint)
        self._lock = threading.Lock()
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit to a PoolExecutor after shutdown")
            future: Future = Future()
            future.set_running_or_notify_cancel()
            self.pool.apply_async(fn, args, kwargs, callback=future.set_result,
                                  error_callback=future.set_exception)
            return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            if self._shutdown:
                return
            self._shutdown = True
        if cancel_futures:
            self.pool.terminate()
        else:
            self.pool.close()
        if wait:
            self.pool.join()

    def terminate(self) -> None:
        """Stop every worker now (used on errors and Ctrl-C)."""
        self._shutdown = True
        self.pool.terminate()
        self.pool.join()


def _mp_context(start_method: str | None) -> Any:
    if start_method is None:
        return None
    if start_method not in multiprocessing.get_all_start_methods():
        raise ValueError(
            f"start method {start_method!r} is not available here; choose one of "
            f"{multiprocessing.get_all_start_methods()}"
        )
    return multiprocessing.get_context(start_method)


#: Seconds an aborted process pool gets to finish its running tasks before they are stopped.
ABORT_GRACE_S = 2.0


def stop_executor(executor: Executor, *, abort: bool, grace: float = ABORT_GRACE_S) -> None:
    """Shut an executor down; with ``abort`` (an error or Ctrl-C), drop the work not yet started.

    On abort, tasks not yet started are cancelled and running ones get ``grace`` seconds to
    finish: they are chunks, short by design, and a worker process stopped while it sends its
    result would leave ``ProcessPoolExecutor``'s result pipe half-written. A worker still busy
    after the grace period (blocked waiting on something, say) is killed. A
    ``multiprocessing.Pool`` is terminated at once: its ``terminate()`` is built for that.
    Threads cannot be stopped from outside; their running tasks are waited for.
    """
    if not abort:
        executor.shutdown(wait=True)
        return
    if isinstance(executor, PoolExecutor):
        executor.terminate()
        return
    if not isinstance(executor, ProcessPoolExecutor):
        executor.shutdown(wait=True, cancel_futures=True)
        return
    # Take the worker list first: shutdown() forgets it (Python 3.11 sets it to None).
    processes = list((getattr(executor, "_processes", None) or {}).values())
    manager = getattr(executor, "_executor_manager_thread", None)
    try:
        executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + grace
        for proc in processes:
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
    finally:  # also when a second Ctrl-C cuts the grace period short
        for proc in processes:
            if proc.is_alive():
                proc.kill()
        for proc in processes:
            proc.join(timeout=5)
        if manager is not None:
            manager.join(timeout=5)


@contextmanager
def open_executor(strategy: str, workers: int = 1, *, start_method: str | None = None) -> Iterator[Executor]:
    """An executor for ``strategy`` with ``workers`` workers, stopped when the block ends.

    If the block raises (a task's exception, Ctrl-C), the tasks not yet started are dropped
    (see :func:`stop_executor`). Worker processes ignore SIGINT: Ctrl-C is handled once, here.
    """
    workers = check_workers(workers)
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {sorted(STRATEGIES)}")
    ctx = _mp_context(start_method)
    if strategy == "serial":
        executor: Executor = SerialExecutor()
    elif strategy == "threads":
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gilfree")
    elif strategy == "pool":
        executor = PoolExecutor(workers, ctx)
    else:
        executor = ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                       initializer=_worker_ignores_sigint)
    try:
        yield executor
    except BaseException:
        stop_executor(executor, abort=True)
        raise
    else:
        stop_executor(executor, abort=False)
