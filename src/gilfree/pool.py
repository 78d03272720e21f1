"""A process pool that fails fast, says why, and never hangs: ``FailSafePool``.

The standard pools share one task queue and one result queue between all their workers. A
worker that dies in the middle of a task, or while it writes its result, takes the task with it
(``multiprocessing.Pool`` then waits forever) or leaves the shared queue in a state nobody can
trust (``ProcessPoolExecutor`` declares the whole pool broken). ``FailSafePool`` gives every
worker a pipe of its own and one task at a time, and watches each worker's process sentinel
beside its pipe. So:

* **A dead worker costs one task, and the error says why.** Its task fails with
  :class:`~gilfree.errors.WorkerDied`, naming the signal or exit status and what usually causes
  it (the out-of-memory killer, a segfault...); results already sent are kept; the worker is
  replaced (except under the ``fork`` start method, see below) and the other tasks go on.
* **Task exceptions arrive with the worker's traceback** (as ``__cause__``), including
  ``SystemExit`` and ``KeyboardInterrupt`` raised inside a task, which kill a
  ``multiprocessing.Pool`` worker and hang the pool.
* **Optional per-task timeouts**: a task that runs longer than ``task_timeout`` seconds fails
  with :class:`~gilfree.errors.TaskTimeout` and its worker is killed and replaced.
* **Stopping is immediate and safe**: :meth:`FailSafePool.terminate` (used on errors and
  Ctrl-C by :func:`gilfree.strategies.open_executor`) kills every worker at once; a worker
  killed half-way through writing corrupts only its own pipe, which is thrown away with it.
* Workers ignore SIGINT (Ctrl-C is the parent's to handle) and leave on their own when the
  parent process is gone.

With the ``fork`` start method the first workers are forked, but a replacement never is: the
pool's dispatcher thread is running by then, and forking a process that has threads can copy a
lock in its held state into the child (Python 3.12 warns about it). Replacements in a fork pool
are started by ``forkserver`` (``spawn`` where there is none), so they import the task's module
afresh, as every worker of a ``spawn`` pool does.
"""

from __future__ import annotations

import collections
import itertools
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
import traceback
from concurrent.futures import Executor, Future
from multiprocessing.connection import Connection, wait
from multiprocessing.reduction import ForkingPickler
from typing import Any, Callable, Iterable, Iterator, ParamSpec, TypeVar

from . import _lifeline
from ._checks import as_index, check_count, check_flag, check_seconds
from ._timing import usable_cores
from .errors import PoolStopped, RemoteTraceback, TaskTimeout, WorkerDied, oom_kill_count

__all__ = ["FailSafePool", "check_chunksize", "check_max_workers", "map_in_batches"]

_P = ParamSpec("_P")
_T = TypeVar("_T")

_STOP = b""  # sent to an idle worker: leave the loop and exit
_PARENT_CHECK_S = 1.0  # how often an idle worker checks that its parent is still alive


def check_max_workers(max_workers: object, name: str = "max_workers") -> int:
    """A pool's worker count: ``None`` means one per usable core, as the standard library does.

    ``ProcessPoolExecutor(max_workers=None)`` starts ``os.process_cpu_count()`` workers; gilfree
    counts the cores this process may run on (:func:`gilfree._timing.usable_cores`, the affinity
    mask where the OS has one). Anything else must be an int of at least 1.
    """
    if max_workers is None:
        return usable_cores()
    return check_count(max_workers, name)


def check_chunksize(chunksize: object) -> int:
    """``map``'s ``chunksize``: an int of at least 1 (``ValueError`` below, ``TypeError`` if not an int)."""
    value = as_index(chunksize, "chunksize")
    if value < 1:
        raise ValueError(f"chunksize must be >= 1, got {value}")
    return value


def describe_initializer(initializer: Callable[..., Any]) -> str:
    """How an error names a pool's initializer: ``module.name()``."""
    return _describe_call(initializer)


def check_initializer(initializer: object, initargs: object) -> tuple[Any, tuple[Any, ...]]:
    """``initializer`` must be a callable or None; ``initargs`` a tuple (or any iterable)."""
    if initializer is not None and not callable(initializer):
        raise TypeError(f"initializer must be a callable or None, not {type(initializer).__name__}")
    if isinstance(initargs, (str, bytes)) or not isinstance(initargs, Iterable):
        raise TypeError(f"initargs must be a tuple, not {type(initargs).__name__}")
    return initializer, tuple(initargs)


class _Batch:
    """``fn`` over a batch of ``map``'s items, in a worker: one task, one round trip, a list back.

    Named after ``fn`` and the items it holds (by position in the input), so that the error of
    a batch whose worker died says which items were lost.
    """

    __slots__ = ("fn", "first", "last")

    def __init__(self, fn: Callable[..., Any], first: int, last: int) -> None:
        self.fn = fn
        self.first = first
        self.last = last

    def __call__(self, batch: list[tuple[Any, ...]]) -> list[Any]:
        fn = self.fn
        return [fn(*args) for args in batch]

    @property
    def label(self) -> str:
        items = f"item {self.first}" if self.first == self.last else f"items {self.first} to {self.last}"
        return f"{_describe_call(self.fn)} on map's {items}"


def map_in_batches(submit: Callable[..., Future[list[_T]]], fn: Callable[..., _T],
                   iterables: tuple[Iterable[Any], ...], timeout: float | None,
                   chunksize: int) -> Iterator[_T]:
    """``Executor.map`` with ``chunksize`` items per task, as ``ProcessPoolExecutor.map`` does it.

    Every batch is submitted at the call (as ``Executor.map`` submits every item); results come
    back in order; ``timeout`` bounds the whole wait from the call; leaving the iterator early
    cancels the batches not started. A batch whose task fails raises its error where its first
    result was due (the results before it in that batch are lost with it, as in the stdlib).
    """
    end_time = None if timeout is None else timeout + time.monotonic()
    items = zip(*iterables)
    futures: list[Future[list[_T]]] = []
    first = 0
    while batch := list(itertools.islice(items, chunksize)):
        futures.append(submit(_Batch(fn, first, first + len(batch) - 1), batch))
        first += len(batch)
    return _batch_results(futures, end_time)


def _batch_results(futures: list[Future[list[_T]]], end_time: float | None) -> Iterator[_T]:
    try:
        futures.reverse()  # pop from the end: each future is let go once read
        while futures:
            future = futures.pop()
            try:
                results = future.result(None if end_time is None else end_time - time.monotonic())
            finally:
                future.cancel()
            del future
            results.reverse()
            while results:
                yield results.pop()
    finally:
        for future in futures:
            future.cancel()


def _describe_call(fn: Callable[..., Any]) -> str:
    if isinstance(fn, _Batch):
        return fn.label
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    module = getattr(fn, "__module__", None)
    return f"{module}.{name}()" if module else f"{name}()"


def _worker_main(conn: Connection, lifeline: Connection | None = None,
                 initializer: Callable[..., Any] | None = None, initargs: tuple[Any, ...] = ()) -> None:
    """A worker's whole life: take one task from ``conn``, run it, send the outcome back."""
    _lifeline.watch(lifeline)  # first: exit the moment the parent process is gone
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not a handler a forked worker inherited
    if hasattr(signal, "pthread_sigmask"):  # started while the parent deferred them
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    if initializer is not None and not _run_initializer(conn, initializer, initargs):
        return
    parent = multiprocessing.parent_process()
    parent_pid = os.getppid()
    watch = [conn] + ([parent.sentinel] if parent is not None else [])
    while True:
        if not wait(watch, timeout=_PARENT_CHECK_S):
            if os.getppid() != parent_pid:
                return  # orphaned: nobody will read our results
            continue
        if not conn.poll():
            return  # the parent's sentinel fired: it is gone
        try:
            payload = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if payload == _STOP:
            return
        try:
            fn, args, kwargs = pickle.loads(payload)
            outcome: tuple[bool, Any, str | None] = (True, fn(*args, **kwargs), None)
        except BaseException as exc:  # every failure, SystemExit included, is the task's result
            outcome = (False, exc, traceback.format_exc())
        try:
            message = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:
            what = "result" if outcome[0] else f"exception {type(outcome[1]).__name__}"
            error = TypeError(f"the task's {what} could not be pickled to send it back: {exc!r}")
            message = pickle.dumps((False, error, outcome[2] or traceback.format_exc()))
        del outcome
        try:
            conn.send_bytes(message)
        except (BrokenPipeError, OSError):
            return


def _run_initializer(conn: Connection, initializer: Callable[..., Any], initargs: tuple[Any, ...]) -> bool:
    """Run the pool's initializer and tell the parent how it went: ``(None, error, traceback)``.

    The parent waits for that first message from a worker that has an initializer, and breaks
    the pool if the initializer failed (or the worker died before answering) instead of starting
    replacements that would fail the same way. The failure is also logged on the
    ``concurrent.futures`` logger, as ``ProcessPoolExecutor``'s workers do.
    """
    try:
        initializer(*initargs)
    except BaseException as exc:
        logging.getLogger("concurrent.futures").critical("Exception in initializer:", exc_info=True)
        try:
            message = pickle.dumps((None, exc, traceback.format_exc()), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException:
            message = pickle.dumps((None, RuntimeError(repr(exc)), traceback.format_exc()))
        ok = False
    else:
        message, ok = pickle.dumps((None, None, None)), True
    try:
        conn.send_bytes(message)
    except (BrokenPipeError, OSError):
        return False
    return ok


class _Task:
    __slots__ = ("future", "payload", "label", "deadline")

    def __init__(self, future: Future[Any], payload: bytes, label: str) -> None:
        self.future = future
        self.payload = payload
        self.label = label
        self.deadline: float | None = None


class _Worker:
    __slots__ = ("process", "conn", "task", "timed_out", "ready")

    def __init__(self, process: Any, conn: Connection, ready: bool = True) -> None:
        self.process = process
        self.conn = conn
        self.task: _Task | None = None
        self.timed_out = False
        self.ready = ready  # False until a worker with an initializer says how it went

    @property
    def expecting(self) -> bool:
        """Whether the worker owes the parent a message (a task's outcome, its initializer's)."""
        return self.task is not None or not self.ready


class FailSafePool(Executor):
    """A ``concurrent.futures.Executor`` over ``max_workers`` processes that fails fast and says why.

    The arguments are ``ProcessPoolExecutor``'s: ``max_workers`` (``None``: one per usable
    core), ``mp_context`` picks the start method (``multiprocessing.get_context("spawn")``...;
    the interpreter's default otherwise), ``initializer(*initargs)`` runs in every worker
    before its first task, replacements included. ``task_timeout`` (seconds, optional) bounds
    every task. Use it as a context manager, or call :meth:`shutdown`; :meth:`terminate` stops
    it at once.

    An initializer that raises (or a worker that dies while running it) breaks the pool, as in
    ``ProcessPoolExecutor``: the tasks submitted so far fail with
    :class:`~gilfree.errors.WorkerDied` (a ``BrokenProcessPool``) naming the initializer and
    its exception (the exception itself is the ``__cause__``), tasks already running on other
    workers finish, no replacement is started, and ``submit`` raises the same error from then
    on. Where gilfree differs on purpose: a worker that dies while running a *task* costs only
    that task, not the pool.
    """

    def __init__(self, max_workers: int | None = None, mp_context: Any = None,
                 initializer: Callable[..., object] | None = None, initargs: tuple[Any, ...] = (), *,
                 task_timeout: float | None = None) -> None:
        self.workers = check_max_workers(max_workers)
        self.task_timeout = check_seconds(task_timeout, "task_timeout", allow_none=True)
        self._initializer, self._initargs = check_initializer(initializer, initargs)
        self._ctx = _check_context(mp_context)
        self.start_method = self._ctx.get_start_method()
        # See the module docstring: never fork once the dispatcher thread exists.
        self._replace_ctx = self._ctx if self.start_method != "fork" else multiprocessing.get_context(
            "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
        self._lock = threading.Lock()
        self._queue: collections.deque[_Task] = collections.deque()
        self._pool: dict[int, _Worker] = {}  # by process sentinel; owned by the dispatcher
        self._shutdown = False
        self._abort = False
        self._broken: WorkerDied | None = None
        self._last_death: WorkerDied | None = None
        self._oom_before = oom_kill_count()
        self._wake_r, self._wake_w = multiprocessing.Pipe(duplex=False)
        try:
            for _ in range(self.workers):
                self._start_worker(self._ctx)
        except BaseException:
            for worker in self._pool.values():
                worker.process.kill()
                worker.process.join()
            raise
        self._thread = threading.Thread(target=self._dispatch, name="gilfree-failsafe-pool",
                                        daemon=True)
        self._thread.start()

    # -- the caller's side ----------------------------------------------------------------

    def map(self, fn: Callable[..., _T], *iterables: Iterable[Any], timeout: float | None = None,
            chunksize: int = 1) -> Iterator[_T]:
        """``Executor.map``: results in order; ``timeout`` bounds the whole wait from the call.

        ``chunksize`` items go to a worker as one task, as with ``ProcessPoolExecutor.map``
        (an int, 1 or more; larger batches save a round trip per item on small tasks). A worker
        that dies costs its batch: the :class:`~gilfree.errors.WorkerDied` names the items lost
        (by their position in the input).
        """
        chunksize = check_chunksize(chunksize)
        if chunksize == 1:
            return super().map(fn, *iterables, timeout=timeout)
        return map_in_batches(self.submit, fn, iterables, timeout, chunksize)

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        if not callable(fn):
            raise TypeError(f"submit needs a callable, not {type(fn).__name__}")
        label = _describe_call(fn)
        try:
            # multiprocessing's own pickler, as Pool and ProcessPoolExecutor use: it sends a
            # Connection, a socket or a lock as a duplicated handle, where plain pickle would
            # send a file descriptor's number, which means something else in the worker.
            payload = bytes(ForkingPickler.dumps((fn, args, kwargs), pickle.HIGHEST_PROTOCOL))
        except Exception as exc:
            raise TypeError(
                f"cannot send {label} to a worker process: {exc}. Tasks and their arguments "
                "must pickle: module-level functions, no lambdas or local functions"
            ) from exc
        future: Future[_T] = Future()
        with self._lock:
            if self._broken is not None:
                raise self._broken
            if self._shutdown:
                raise RuntimeError("cannot submit to a FailSafePool after shutdown")
            self._queue.append(_Task(future, payload, label))
        self._wake()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking tasks; run the queued ones (or cancel them) and let the workers exit."""
        wait = check_flag(wait, "wait")
        cancel_futures = check_flag(cancel_futures, "cancel_futures")
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                self._cancel_queued()
        self._wake()
        if wait:
            self._thread.join()

    def abort(self, grace: float | None = None) -> None:
        """Stop after an error or Ctrl-C: the same as :meth:`terminate` (no grace is needed)."""
        self.terminate()

    def terminate(self) -> None:
        """Stop now: cancel queued tasks, kill every worker, fail the running tasks.

        Safe at any moment, since each worker has a pipe of its own. Running tasks fail with
        :class:`~gilfree.errors.PoolStopped`; results already received stay in their futures.
        """
        with self._lock:
            self._shutdown = True
            self._abort = True
            self._cancel_queued()
            workers = list(self._pool.values())
        for worker in workers:
            _kill(worker.process)
        self._wake()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=10)

    @property
    def processes(self) -> list[Any]:
        """The live worker processes (a snapshot)."""
        with self._lock:
            return [w.process for w in self._pool.values()]

    def __repr__(self) -> str:
        state = "broken" if self._broken else ("shut down" if self._shutdown else "running")
        return f"<FailSafePool workers={self.workers} start_method={self.start_method} {state}>"

    # -- internals ------------------------------------------------------------------------

    def _wake(self) -> None:
        try:
            self._wake_w.send_bytes(b"!")
        except (OSError, ValueError):  # closed: the dispatcher has finished
            pass

    def _cancel_queued(self) -> None:  # with the lock held
        while self._queue:
            self._queue.popleft().future.cancel()

    def _start_worker(self, ctx: Any) -> None:
        parent_end, child_end = multiprocessing.Pipe(duplex=True)
        process = ctx.Process(target=_worker_main,
                              args=(child_end, _lifeline.child_end(), self._initializer, self._initargs),
                              name="gilfree-failsafe-worker", daemon=True)
        try:
            process.start()
        finally:
            child_end.close()
        with self._lock:
            self._pool[process.sentinel] = _Worker(process, parent_end, ready=self._initializer is None)

    def _dispatch(self) -> None:
        try:
            while self._step():
                pass
        except BaseException as exc:  # a bug here must not leave callers waiting forever
            self._fail_everything(PoolStopped(f"the pool's dispatcher failed: {exc!r}"))
            raise
        finally:
            self._close()

    def _step(self) -> bool:
        """One round: hand out tasks, wait for results, deaths and deadlines. False when done."""
        self._assign()
        with self._lock:
            workers = list(self._pool.values())
            abort, shutdown, queued = self._abort, self._shutdown, bool(self._queue)
        busy = [w for w in workers if w.task is not None]
        if abort:
            self._stop_workers(workers, kill=True)
            return False
        if shutdown and not queued and not busy:
            self._stop_workers(workers, kill=False)
            return False
        if not workers and queued:  # every worker died and none could be started
            self._give_up()
            return True
        deadlines = [t.deadline for w in busy if (t := w.task) is not None and t.deadline is not None]
        timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        watch: list[Any] = [self._wake_r]
        watch += [w.conn for w in workers if w.expecting]
        watch += [w.process.sentinel for w in workers]
        ready = set(wait(watch, timeout))
        if self._wake_r in ready:
            while self._wake_r.poll():
                self._wake_r.recv_bytes()
        for worker in workers:  # results first: a worker may have answered, then died
            if worker.expecting and worker.conn in ready:
                self._receive(worker)
        for worker in workers:
            if worker.process.sentinel in ready:
                self._bury(worker)
        now = time.monotonic()
        for worker in busy:
            task = worker.task
            if task is not None and task.deadline is not None and now >= task.deadline:
                worker.timed_out = True
                _kill(worker.process)  # its sentinel fires next round; _bury fails the task
        return True

    def _assign(self) -> None:
        """Give queued tasks to idle workers (cancelled futures are skipped)."""
        while True:
            with self._lock:
                if self._abort:
                    return
                idle = next((w for w in self._pool.values()
                             if w.task is None and w.ready and w.process.is_alive()), None)
                if idle is None or not self._queue:
                    return
                task = self._queue.popleft()
            if not task.future.set_running_or_notify_cancel():
                continue  # cancelled while queued
            if self.task_timeout is not None:
                task.deadline = time.monotonic() + self.task_timeout
            idle.task = task
            try:
                idle.conn.send_bytes(task.payload)
            except (BrokenPipeError, OSError):
                pass  # it died: its sentinel reports it and the task fails with the cause
            task.payload = b""

    def _receive(self, worker: _Worker) -> None:
        task = worker.task
        try:
            message = worker.conn.recv_bytes()
        except (EOFError, OSError):
            return  # the worker died mid-message; _bury reports it
        if not worker.ready:  # its first message: how the initializer went
            worker.ready = True
            self._initialized(worker, message)
            return
        worker.task = None
        if task is None:
            return
        try:
            ok, value, tb = pickle.loads(message)
        except BaseException as exc:
            ok, value, tb = False, TypeError(f"the result of {task.label} could not be unpickled: {exc!r}"), None
        if ok:
            task.future.set_result(value)
            return
        if tb:
            value.__cause__ = RemoteTraceback(tb)
        task.future.set_exception(value)

    def _salvage(self, worker: _Worker) -> None:
        """Read what a stopped worker sent before it ended: its initializer's report, a result."""
        for _ in range(2):
            if not (worker.expecting and worker.conn.poll()):
                return
            self._receive(worker)

    def _initialized(self, worker: _Worker, message: bytes) -> None:
        """A worker's initializer finished: nothing to do, or break the pool with its error."""
        try:
            _, error, tb = pickle.loads(message)
        except BaseException as exc:
            error, tb = RuntimeError(f"its report could not be unpickled: {exc!r}"), None
        if error is None:
            return
        if tb:
            error.__cause__ = RemoteTraceback(tb)
        broken = WorkerDied(
            f"the initializer {_describe_call(self._initializer)} of this FailSafePool failed in "
            f"worker process {worker.process.pid}: {error!r}. A pool whose workers cannot be "
            "initialized is broken, as a ProcessPoolExecutor is: no task runs on it",
            pid=worker.process.pid, task=f"initializer {_describe_call(self._initializer)}")
        broken.__cause__ = error
        self._break(broken, worker)

    def _break(self, broken: WorkerDied, worker: _Worker) -> None:
        """The pool cannot go on (its initializer failed): fail ``worker``'s task and the queue.

        Tasks running on other workers finish; the workers then stop, and ``submit`` raises
        ``broken`` from now on.
        """
        with self._lock:
            if self._broken is None:
                self._broken = broken
            self._shutdown = True
            tasks = list(self._queue)
            self._queue.clear()
        task, worker.task = worker.task, None
        if task is not None:
            task.future.set_exception(broken)
        for task in tasks:
            if task.future.set_running_or_notify_cancel():
                task.future.set_exception(broken)

    def _bury(self, worker: _Worker) -> None:
        """A worker's process ended: salvage an answer it sent, fail its task, replace it."""
        self._salvage(worker)
        with self._lock:
            abort = self._abort
        if not worker.ready and not abort:  # it died in its initializer (killed, os._exit...)
            worker.process.join(timeout=5)
            worker.ready = True
            death = WorkerDied.of(worker.process.pid, worker.process.exitcode,
                                  oom_kills_before=self._oom_before)
            self._break(WorkerDied(
                f"{death} while running the initializer {_describe_call(self._initializer)} of "
                "this FailSafePool. A pool whose workers cannot be initialized is broken, as a "
                "ProcessPoolExecutor is: no task runs on it", pid=death.pid, exitcode=death.exitcode,
                cause=death.cause, task=f"initializer {_describe_call(self._initializer)}"), worker)
        worker.process.join(timeout=5)
        with self._lock:
            self._pool.pop(worker.process.sentinel, None)
            stopping = self._shutdown and not self._queue
            abort = self._abort
        task, worker.task = worker.task, None
        worker.conn.close()
        pid, code = worker.process.pid, worker.process.exitcode
        error: BaseException | None = None
        if task is not None:
            if abort:
                error = PoolStopped(f"the pool was stopped while {task.label} ran")
            elif worker.timed_out:
                error = TaskTimeout(
                    f"{task.label} ran longer than the pool's task_timeout of {self.task_timeout} s; "
                    f"its worker process {pid} was stopped and replaced")
            else:
                error = WorkerDied.of(pid, code, task.label, oom_kills_before=self._oom_before)
        # No worker.process.close(): at exit, multiprocessing joins every child it still lists
        # while this (daemon) thread may be burying one, and joining a closed Process raises
        # "process object is closed" from the atexit handler. The reaped process's descriptors
        # go with the object: multiprocessing forgets it at its next start or exit.
        if task is not None and error is not None:
            task.future.set_exception(error)
        self._last_death = WorkerDied.of(pid, code, oom_kills_before=self._oom_before)
        if abort or stopping:
            return
        try:
            self._start_worker(self._replace_ctx)
        except Exception as exc:  # out of processes or memory: go on with fewer workers
            self._last_death = WorkerDied(f"{self._last_death}; starting a replacement failed: {exc!r}")

    def _give_up(self) -> None:
        """No worker left and none may be started: fail the queued tasks with the cause."""
        last = self._last_death
        reason = f" (the last one: {last})" if last is not None else ""
        broken = WorkerDied(f"every worker process of this pool has died and none could be "
                            f"started in their place{reason}")
        with self._lock:
            self._broken = broken
            tasks = list(self._queue)
            self._queue.clear()
        for task in tasks:
            if task.future.set_running_or_notify_cancel():
                task.future.set_exception(broken)

    def _stop_workers(self, workers: list[_Worker], *, kill: bool) -> None:
        for worker in workers:
            if kill:
                _kill(worker.process)
            else:
                try:
                    worker.conn.send_bytes(_STOP)
                except (BrokenPipeError, OSError):
                    pass
        deadline = time.monotonic() + 5.0
        for worker in workers:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                _kill(worker.process)
                worker.process.join(timeout=5)
            self._salvage(worker)  # it answered before it stopped: keep the result
            if worker.task is not None:
                worker.task.future.set_exception(
                    PoolStopped(f"the pool was stopped while {worker.task.label} ran"))
                worker.task = None
            worker.conn.close()
        with self._lock:
            self._pool.clear()

    def _fail_everything(self, error: BaseException) -> None:
        with self._lock:
            workers = list(self._pool.values())
            tasks = list(self._queue)
            self._queue.clear()
            self._shutdown = True
        for worker in workers:
            _kill(worker.process)
            if worker.task is not None and not worker.task.future.done():
                worker.task.future.set_exception(error)
        for task in tasks:
            task.future.cancel()

    def _close(self) -> None:
        for end in (self._wake_r, self._wake_w):
            try:
                end.close()
            except OSError:
                pass


def _check_context(mp_context: object) -> Any:
    """None (the interpreter's default start method) or a context from ``get_context(name)``."""
    if mp_context is None:
        return multiprocessing.get_context()
    if not isinstance(mp_context, multiprocessing.context.BaseContext):
        hint = f"; pass multiprocessing.get_context({mp_context!r})" if isinstance(mp_context, str) else ""
        raise TypeError("mp_context must be a multiprocessing context (from multiprocessing.get_context()) "
                        f"or None, not {type(mp_context).__name__}{hint}")
    return mp_context


def _kill(process: Any) -> None:
    try:
        process.kill()
    except (ValueError, OSError, AttributeError):  # already closed or reaped
        pass
