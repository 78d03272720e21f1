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
* **Otherwise a ProcessPoolExecutor**: the same arguments, and CPython's own
  ``concurrent.futures`` tests pass against it (``tests/conformance``, skips listed there with
  their reasons): pending futures are waited for at exit, a dropped pool is collected, pickling
  errors keep their type. :class:`FailSafePool`'s docstring lists where it differs on purpose.

With the ``fork`` start method the first workers are forked, but a replacement never is: the
pool's dispatcher thread is running by then, and forking a process that has threads can copy a
lock in its held state into the child (Python 3.12 warns about it). Replacements in a fork pool
are started by ``forkserver`` (``spawn`` where there is none), so they import the task's module
afresh, as every worker of a ``spawn`` pool does.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
import traceback
import weakref
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection, wait
from multiprocessing.reduction import ForkingPickler
from typing import Any, Callable, Iterable, Iterator, ParamSpec, TypeVar

from . import _lifeline
from ._batching import _Batch, check_chunksize, map_in_batches  # importable from here, as before
from ._batching import AUTO, Chunksize, map_args, run_map, times_of
from ._batching import describe_call
from ._checks import as_index, check_count, check_flag, check_seconds
from ._compat import register_exit_hook
from ._timing import usable_cores
from .errors import PoolStopped, RemoteTraceback, TaskTimeout, WorkerDied, oom_kill_count

__all__ = ["FailSafePool", "check_chunksize", "check_max_workers", "map_in_batches"]

#: How errors name a task (a batch of map's items names them): the name mp_pool imports from here.
_describe_call = describe_call

_P = ParamSpec("_P")
_T = TypeVar("_T")

_STOP = b""  # sent to an idle worker: leave the loop and exit
_PARENT_CHECK_S = 1.0  # how often an idle worker checks that its parent is still alive
#: How long the pool waits for a worker whose initializer failed to leave before it breaks.
_INITIALIZER_EXIT_S = 5.0


def check_max_workers(max_workers: object, name: str = "max_workers") -> int:
    """A pool's worker count: ``None`` means one per usable core, as the standard library does.

    ``ProcessPoolExecutor(max_workers=None)`` starts ``os.process_cpu_count()`` workers; gilfree
    counts the cores this process may run on (:func:`gilfree._timing.usable_cores`, the affinity
    mask where the OS has one). Anything else must be an int of at least 1.
    """
    if max_workers is None:
        return usable_cores()
    value = as_index(max_workers, name)
    if value < 1:  # the stdlib's words (its own tests match them), then ours
        raise ValueError(f"{name} must be greater than 0 ({name} must be >= 1, got {value})")
    return check_count(value, name)


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


#: What a worker sends back about a task: its value, the exception it raised, or the error that
#: kept it from being unpickled at all (then the task never ran).
_RETURNED, _RAISED, _NOT_LOADED = 0, 1, 2


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
        message = _run_task(payload)
        del payload
        try:
            conn.send_bytes(message)
        except (BrokenPipeError, OSError):
            return
        del message  # nothing of the task stays alive while the worker waits for the next


def _run_task(payload: bytes) -> bytes:
    """Unpickle and run one task; its outcome, pickled. Nothing of the task outlives the call.

    The function, its arguments and its result (or exception, whose traceback holds the task's
    frames) are dropped before this returns, so that a worker does not keep the last task's
    objects alive until the next task arrives.
    """
    try:
        fn, args, kwargs = pickle.loads(payload)
    except BaseException as exc:  # an argument that cannot be rebuilt here (or exits while it is)
        return _pickle_outcome(_NOT_LOADED, exc, traceback.format_exc())
    try:
        outcome: tuple[int, Any, str | None] = (_RETURNED, fn(*args, **kwargs), None)
    except BaseException as exc:  # every failure, SystemExit included, is the task's result
        outcome = (_RAISED, exc, traceback.format_exc())
    del fn, args, kwargs
    try:
        return _pickle_outcome(*outcome)
    finally:
        del outcome


def _pickle_outcome(kind: int, value: Any, tb: str | None) -> bytes:
    """``(kind, value, traceback)`` pickled; a value that does not pickle becomes its pickling error.

    The pickling error keeps its own type (``PicklingError``, the ``TypeError`` of an object
    that refuses pickling, a ``SystemExit`` raised by a ``__reduce__``...), as with
    ``ProcessPoolExecutor``, with a note that says what could not be sent back.
    """
    try:
        return pickle.dumps((kind, value, tb), protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:
        what = {_RETURNED: f"result ({type(value).__name__})",
                _RAISED: f"exception {type(value).__name__}: {value!r}"}.get(kind, f"error {value!r}")
        add_note(exc, f"gilfree: the task's {what} could not be pickled to send it back from the worker "
                      "process; return (or raise) something that pickles")
        try:
            return pickle.dumps((_RAISED, exc, traceback.format_exc()), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException:  # the pickling error itself does not pickle: send its words
            error = RuntimeError(f"the task's {what} could not be pickled to send it back: {exc!r}")
            return pickle.dumps((_RAISED, error, traceback.format_exc()), protocol=pickle.HIGHEST_PROTOCOL)


def add_note(error: BaseException, note: str) -> None:
    """``error.add_note(note)`` (Python 3.11+); on 3.10, the same ``__notes__`` list by hand."""
    adder = getattr(error, "add_note", None)
    if callable(adder):
        adder(note)
    else:  # pragma: no cover - Python 3.10
        setattr(error, "__notes__", [*getattr(error, "__notes__", ()), note])


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
    __slots__ = ("process", "conn", "task", "timed_out", "ready", "done", "retiring")

    def __init__(self, process: Any, conn: Connection, ready: bool = True) -> None:
        self.process = process
        self.conn = conn
        self.task: _Task | None = None
        self.timed_out = False
        self.ready = ready  # False until a worker with an initializer says how it went
        self.done = 0  # tasks it finished (for max_tasks_per_child)
        self.retiring = False  # asked to leave after max_tasks_per_child tasks: no new task

    @property
    def expecting(self) -> bool:
        """Whether the worker owes the parent a message (a task's outcome, its initializer's)."""
        return self.task is not None or not self.ready

    @property
    def idle(self) -> bool:
        return self.task is None and self.ready and not self.retiring


# -- interpreter exit: the program waits for pending futures --------------------------------------
#
# As concurrent.futures does: a hook that the threading module runs at interpreter exit, before
# it joins non-daemon threads and before atexit handlers (multiprocessing's among them), shuts
# every live pool down and waits for it; from then on submit() refuses new work.

_live_lock = threading.Lock()
_live: "weakref.WeakSet[_Dispatcher]" = weakref.WeakSet()
_interpreter_exiting = False


def _python_exit() -> None:
    global _interpreter_exiting
    with _live_lock:
        _interpreter_exiting = True
        dispatchers = list(_live)
    for dispatcher in dispatchers:
        dispatcher.request_shutdown()
    for dispatcher in dispatchers:
        dispatcher.join()


def _forget_pools_in_child() -> None:
    """After a fork: the parent's pools and their threads are not this process's."""
    global _live_lock, _live, _interpreter_exiting
    _live_lock = threading.Lock()
    _live = weakref.WeakSet()
    _interpreter_exiting = False


try:
    register_exit_hook(_python_exit)
except RuntimeError:  # imported while the interpreter exits: no new work, as the stdlib's pools
    _interpreter_exiting = True
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools_in_child)


class FailSafePool(Executor):
    """A ``concurrent.futures.Executor`` over ``max_workers`` processes that fails fast and says why.

    The arguments are ``ProcessPoolExecutor``'s: ``max_workers`` (``None``: one per usable
    core), ``mp_context`` picks the start method (``multiprocessing.get_context("spawn")``...;
    the interpreter's default otherwise), ``initializer(*initargs)`` runs in every worker
    before its first task, replacements included, and ``max_tasks_per_child`` (optional)
    replaces a worker after that many tasks; as in the stdlib it needs a start method other
    than ``fork`` and, without an ``mp_context``, means ``spawn``. ``task_timeout`` (seconds,
    optional) bounds every task. Use it as a context manager, or call :meth:`shutdown`;
    :meth:`terminate` stops it at once.

    As with ``ProcessPoolExecutor``: the program waits for pending futures at exit (and
    ``submit`` then raises ``RuntimeError``); a pool dropped without ``shutdown()`` is
    garbage-collected, runs what was submitted and lets its workers go; an argument that cannot
    be pickled fails its future with its own pickling error (gilfree's explanation is a note on
    it), as does a result or exception that cannot be pickled in the worker; a result that
    cannot be unpickled here fails its future with ``BrokenProcessPool`` (its cause is the
    error).

    An initializer that raises (or a worker that dies while running it) breaks the pool, as in
    ``ProcessPoolExecutor``: the tasks submitted so far fail with
    :class:`~gilfree.errors.WorkerDied` (a ``BrokenProcessPool``) naming the initializer and
    its exception (the exception itself is the ``__cause__``), tasks already running on other
    workers finish, no replacement is started, and ``submit`` raises the same error from then
    on. Where gilfree differs on purpose:

    * a worker that dies while running a *task* costs only that task (its future fails with
      :class:`~gilfree.errors.WorkerDied`, naming the cause), not the pool: the worker is
      replaced and the other tasks go on. Likewise a task whose arguments cannot be unpickled
      in the worker, or whose result cannot be unpickled here, fails alone (``BrokenProcessPool``);
    * a task exception's ``__cause__`` is :class:`~gilfree.errors.RemoteTraceback` (the stdlib
      uses a private class), and a ``SystemExit`` raised in a task is that task's exception, not
      the end of its worker.
    """

    def __init__(self, max_workers: int | None = None, mp_context: Any = None,
                 initializer: Callable[..., object] | None = None, initargs: tuple[Any, ...] = (), *,
                 max_tasks_per_child: int | None = None, task_timeout: float | None = None) -> None:
        self.workers = check_max_workers(max_workers)
        self.task_timeout = check_seconds(task_timeout, "task_timeout", allow_none=True)
        initializer, initargs = check_initializer(initializer, initargs)
        if max_tasks_per_child is not None:
            max_tasks_per_child = check_count(max_tasks_per_child, "max_tasks_per_child")
        self.max_tasks_per_child = max_tasks_per_child
        if mp_context is None and max_tasks_per_child is not None:
            ctx = multiprocessing.get_context("spawn")  # as ProcessPoolExecutor: never fork then
        else:
            ctx = _check_context(mp_context)
        self.start_method = ctx.get_start_method()
        if max_tasks_per_child is not None and self.start_method == "fork":
            raise ValueError("max_tasks_per_child is incompatible with the 'fork' start method (as in "
                             "ProcessPoolExecutor); pass mp_context=multiprocessing.get_context('spawn') "
                             "or 'forkserver'")
        self._dispatcher = _Dispatcher(self.workers, ctx, initializer, initargs, self.task_timeout,
                                       max_tasks_per_child)
        self._dispatcher.start(self)

    # -- the caller's side ----------------------------------------------------------------

    def map(self, fn: Callable[..., _T], *iterables: Iterable[Any], timeout: float | None = None,
            chunksize: Chunksize = AUTO) -> Iterator[_T]:
        """``Executor.map``: results in order; ``timeout`` bounds the whole wait from the call.

        Small items travel in batches (:mod:`gilfree._batching`): ``chunksize="auto"`` (the
        default here) sizes them from measured task times, an int fixes them, as with
        ``ProcessPoolExecutor.map``; ``chunksize=1`` is one task per item. The results, their
        order, the errors and the timeout are those of ``chunksize=1`` whatever the size, with
        two differences, which is why ``"auto"`` is the default where the standard library's is
        1: the first ``map`` of a function on this pool waits (up to 50 ms) for one timed item
        per worker before it submits the rest (later ones size from what it measured), and a
        worker that dies costs its whole batch (the :class:`~gilfree.errors.WorkerDied` names
        the items lost, by position in the input).
        With a ``task_timeout`` the automatic mode sends one item per task, so the timeout is
        each item's; with an int ``chunksize`` it is each batch's.
        """
        items, star = map_args(iterables)
        return self._map(fn, items, star, timeout, chunksize)

    def starmap(self, fn: Callable[..., _T], iterable: Iterable[Iterable[Any]], timeout: float | None = None,
                chunksize: Chunksize = AUTO) -> Iterator[_T]:
        """``fn(*args)`` for each ``args`` of ``iterable``, as :meth:`map` runs it (and as
        ``multiprocessing.Pool.starmap``, but lazily: an iterator, with a ``timeout``)."""
        return self._map(fn, iterable, True, timeout, chunksize)

    def _map(self, fn: Callable[..., _T], items: Iterable[Any], star: bool, timeout: float | None,
             chunksize: object) -> Iterator[_T]:
        size = check_chunksize(chunksize)
        if size == AUTO and self.task_timeout is not None:
            size = 1  # the timeout is each item's
        return run_map(self.submit, fn, items, star=star, timeout=timeout, chunksize=size, workers=self.workers,
                       times=times_of(self))

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        """Schedule ``fn(*args, **kwargs)``; its :class:`~concurrent.futures.Future`.

        Raises ``RuntimeError`` after :meth:`shutdown` or during interpreter exit, the pool's
        error once it is broken, and ``TypeError`` for a ``fn`` that is not callable. Arguments
        that cannot be pickled fail the future with their pickling error, as in the stdlib.
        """
        if not callable(fn):
            raise TypeError(f"submit needs a callable, not {type(fn).__name__}")
        self._dispatcher.check_open()
        label = _describe_call(fn)
        future: Future[_T] = Future()
        try:
            # multiprocessing's own pickler, as Pool and ProcessPoolExecutor use: it sends a
            # Connection, a socket or a lock as a duplicated handle, where plain pickle would
            # send a file descriptor's number, which means something else in the worker.
            payload = bytes(ForkingPickler.dumps((fn, args, kwargs), pickle.HIGHEST_PROTOCOL))
        except Exception as exc:
            add_note(exc, f"gilfree: cannot send {label} to a worker process. Tasks and their arguments "
                          "must pickle: module-level functions, no lambdas or local functions")
            future.set_exception(exc)
            return future
        self._dispatcher.put(_Task(future, payload, label))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking tasks; run the queued ones (or cancel them) and let the workers exit.

        ``wait=True`` returns once every task has finished (or failed) and the workers are
        gone; with ``cancel_futures=True`` the queued tasks are cancelled first, so every
        future is settled either way. Called from one of this pool's own callbacks, it does
        not wait for itself.
        """
        wait = check_flag(wait, "wait")
        cancel_futures = check_flag(cancel_futures, "cancel_futures")
        self._dispatcher.request_shutdown(cancel_futures=cancel_futures)
        if wait:
            self._dispatcher.join()

    def abort(self, grace: float | None = None) -> None:
        """Stop after an error or Ctrl-C: the same as :meth:`terminate` (no grace is needed)."""
        self.terminate()

    def terminate(self) -> None:
        """Stop now: cancel queued tasks, kill every worker, fail the running tasks.

        Safe at any moment, since each worker has a pipe of its own. Running tasks fail with
        :class:`~gilfree.errors.PoolStopped`; results already received stay in their futures.
        """
        self._dispatcher.terminate()

    @property
    def processes(self) -> list[Any]:
        """The live worker processes (a snapshot)."""
        return self._dispatcher.processes()

    @property
    def _broken(self) -> WorkerDied | None:
        """The error that broke the pool (its initializer failed...), or None: the stdlib's name."""
        return self._dispatcher.broken

    @property
    def _thread(self) -> threading.Thread:
        """The dispatcher thread (tests wait for it to end)."""
        return self._dispatcher.thread

    def __repr__(self) -> str:
        dispatcher = self._dispatcher
        state = "broken" if dispatcher.broken else ("shut down" if dispatcher.stopping else "running")
        return f"<FailSafePool workers={self.workers} start_method={self.start_method} {state}>"


class _Dispatcher:
    """Everything a :class:`FailSafePool` runs on: its workers, its queue, and the thread that
    hands out tasks and watches the workers' pipes and process sentinels.

    It holds no reference to its ``FailSafePool`` (only a weak one), as ``ProcessPoolExecutor``'s
    manager thread does: a pool dropped without ``shutdown()`` is garbage-collected, and the
    dispatcher then shuts down as ``shutdown(wait=False)`` would (what was submitted still runs,
    since its futures may be held), and its workers exit.
    """

    def __init__(self, workers: int, ctx: Any, initializer: Callable[..., object] | None,
                 initargs: tuple[Any, ...], task_timeout: float | None, max_tasks_per_child: int | None) -> None:
        self.workers = workers
        self.ctx = ctx
        self.initializer = initializer
        self.initargs = initargs
        self.task_timeout = task_timeout
        self.max_tasks_per_child = max_tasks_per_child
        # See the module docstring: never fork once the dispatcher thread exists.
        self.replace_ctx = ctx if ctx.get_start_method() != "fork" else multiprocessing.get_context(
            "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
        self.lock = threading.Lock()
        self.queue: collections.deque[_Task] = collections.deque()
        self.pool: dict[int, _Worker] = {}  # by process sentinel; owned by the dispatcher thread
        self.stopping = False  # shutdown() was called, or the pool was dropped, or the program exits
        self.cancel_queued = False  # shutdown(cancel_futures=True): the dispatcher cancels the queue
        self.abort = False
        self.broken: WorkerDied | None = None
        self.last_death: WorkerDied | None = None
        self.oom_before = oom_kill_count()
        # A plain pipe, both ends non-blocking: a wake-up never blocks its caller (a full pipe
        # already holds one), and the weakref callback below may run in any thread, at any
        # allocation, so it takes no lock that code around it could hold (the RLock is re-entrant).
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._wake_lock = threading.RLock()
        self._owner: weakref.ref[FailSafePool] | None = None
        self.thread = threading.Thread(target=self._run, name="gilfree-failsafe-pool", daemon=True)

    # -- called from the pool's side --------------------------------------------------------

    def start(self, owner: FailSafePool) -> None:
        """Start the workers and the thread; follow ``owner`` through a weak reference."""
        try:
            for _ in range(self.workers):
                self._start_worker(self.ctx)
        except BaseException:
            for worker in self.pool.values():
                worker.process.kill()
                worker.process.join()
            self._close()
            raise
        self._owner = weakref.ref(owner, self._owner_gone)
        with _live_lock:
            if _interpreter_exiting:
                self.stopping = True
            _live.add(self)
        self.thread.start()

    def check_open(self) -> None:
        """Raise what ``submit`` raises on a pool that takes no more work."""
        if self.broken is not None:
            raise self.broken
        if _interpreter_exiting:
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")
        if self.stopping:
            raise RuntimeError("cannot schedule new futures after shutdown")

    def put(self, task: _Task) -> None:
        with self.lock:
            self.check_open()
            self.queue.append(task)
        self.wake()

    def request_shutdown(self, *, cancel_futures: bool = False) -> None:
        """Stop taking tasks; with ``cancel_futures``, the dispatcher cancels the queued ones.

        It does so after one more round of handing tasks to idle workers, as the stdlib's
        manager thread does: a task that a free worker can take now runs.
        """
        with self.lock:
            self.stopping = True
            self.cancel_queued = self.cancel_queued or cancel_futures
        self.wake()

    def join(self) -> None:
        """Wait for the dispatcher thread (not from that thread itself: a future's callback)."""
        if self.thread.ident is not None and threading.current_thread() is not self.thread:
            self.thread.join()

    def terminate(self) -> None:
        with self.lock:
            self.stopping = True
            self.abort = True
            queued = self._take_queue()
            workers = list(self.pool.values())
        _cancel(queued)
        for worker in workers:
            _kill(worker.process)
        self.wake()
        if self.thread.ident is not None and threading.current_thread() is not self.thread:
            self.thread.join(timeout=10)

    def processes(self) -> list[Any]:
        with self.lock:
            return [w.process for w in self.pool.values()]

    def wake(self) -> None:
        with self._wake_lock:
            if self._wake_w < 0:
                return  # closed: the dispatcher has finished
            try:
                os.write(self._wake_w, b"!")
            except (BlockingIOError, OSError):  # full: a wake-up is already pending
                pass

    def _owner_gone(self, _ref: object) -> None:
        """The FailSafePool was garbage-collected without shutdown(): shut down, don't wait."""
        self.stopping = True  # a plain store: no lock here (see __init__)
        self.wake()

    # -- the dispatcher thread ----------------------------------------------------------------

    def _take_queue(self) -> list[_Task]:  # with the lock held; cancel them once it is released
        tasks = list(self.queue)
        self.queue.clear()
        return tasks

    def _start_worker(self, ctx: Any) -> None:
        parent_end, child_end = multiprocessing.Pipe(duplex=True)
        process = ctx.Process(target=_worker_main,
                              args=(child_end, _lifeline.child_end(), self.initializer, self.initargs),
                              name="gilfree-failsafe-worker", daemon=True)
        try:
            process.start()
        finally:
            child_end.close()
        with self.lock:
            self.pool[process.sentinel] = _Worker(process, parent_end, ready=self.initializer is None)

    def _run(self) -> None:
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
        cancel = self.cancel_queued  # read before the hand-out, so that it sees every task queued then
        self._assign()
        with self.lock:
            cancelled = self._take_queue() if cancel else []
            workers = list(self.pool.values())
            abort, stopping, queued = self.abort, self.stopping, bool(self.queue)
        _cancel(cancelled)
        busy = [w for w in workers if w.task is not None]
        if abort:
            self._stop_workers(workers, kill=True)
            return False
        if stopping and not queued and not busy:
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
            self._drain_wakeups()
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

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _assign(self) -> None:
        """Give queued tasks to idle workers (cancelled futures are skipped)."""
        while True:
            with self.lock:
                if self.abort:
                    return
                idle = next((w for w in self.pool.values() if w.idle and w.process.is_alive()), None)
                if idle is None or not self.queue:
                    return
                task = self.queue.popleft()
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
        self._settle(task, message, worker.process.pid)
        del task, message
        worker.done += 1
        if self.max_tasks_per_child is not None and worker.done >= self.max_tasks_per_child:
            self._retire(worker)

    def _settle(self, task: _Task, message: bytes, pid: int | None) -> None:
        """Set a task's future from its worker's message."""
        try:
            kind, value, tb = pickle.loads(message)
        except BaseException as exc:  # SystemExit from a __reduce__ too: it must not end this thread
            error = BrokenProcessPool(
                f"the outcome of {task.label} could not be unpickled in this process: {exc!r}. Only "
                "this task is lost: the pool goes on")
            error.__cause__ = exc
            task.future.set_exception(error)
            return
        if kind == _RETURNED:
            task.future.set_result(value)
            return
        if tb:
            value.__cause__ = RemoteTraceback(tb)
        if kind == _NOT_LOADED:
            error = BrokenProcessPool(
                f"worker process {pid} could not unpickle {task.label}: {value!r}, so the task did not "
                "run. Only this task is lost: the pool goes on")
            error.__cause__ = value
            value = error
        task.future.set_exception(value)

    def _retire(self, worker: _Worker) -> None:
        """``max_tasks_per_child`` reached: ask the worker to exit; _bury starts its replacement."""
        worker.retiring = True
        try:
            worker.conn.send_bytes(_STOP)
        except (BrokenPipeError, OSError):
            pass  # already gone: its sentinel says so

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
        initializer = _describe_call(self.initializer) if self.initializer is not None else "?"
        broken = WorkerDied(
            f"the initializer {initializer} of this FailSafePool failed in "
            f"worker process {worker.process.pid}: {error!r}. A pool whose workers cannot be "
            "initialized is broken, as a ProcessPoolExecutor is: no task runs on it",
            pid=worker.process.pid, task=f"initializer {initializer}")
        broken.__cause__ = error
        # The worker leaves right after its report. Break the pool once it has gone, as the
        # stdlib's pool breaks when the process ends: what the worker's initializer or its exit
        # still sends elsewhere (a log record through a multiprocessing queue, flushed by the
        # queue's feeder thread at exit) has then arrived before anyone sees the pool broken.
        worker.process.join(timeout=_INITIALIZER_EXIT_S)
        self._break(broken, worker)

    def _break(self, broken: WorkerDied, worker: _Worker) -> None:
        """The pool cannot go on (its initializer failed): fail ``worker``'s task and the queue.

        Tasks running on other workers finish; the workers then stop, and ``submit`` raises
        ``broken`` from now on.
        """
        with self.lock:
            if self.broken is None:
                self.broken = broken
            self.stopping = True
            tasks = list(self.queue)
            self.queue.clear()
        task, worker.task = worker.task, None
        if task is not None:
            task.future.set_exception(broken)
        for task in tasks:
            if task.future.set_running_or_notify_cancel():
                task.future.set_exception(broken)

    def _bury(self, worker: _Worker) -> None:
        """A worker's process ended: salvage an answer it sent, fail its task, replace it."""
        self._salvage(worker)
        with self.lock:
            abort = self.abort
        initializer = _describe_call(self.initializer) if self.initializer is not None else "?"
        if not worker.ready and not abort:  # it died in its initializer (killed, os._exit...)
            worker.process.join(timeout=5)
            worker.ready = True
            death = WorkerDied.of(worker.process.pid, worker.process.exitcode,
                                  oom_kills_before=self.oom_before)
            self._break(WorkerDied(
                f"{death} while running the initializer {initializer} of "
                "this FailSafePool. A pool whose workers cannot be initialized is broken, as a "
                "ProcessPoolExecutor is: no task runs on it", pid=death.pid, exitcode=death.exitcode,
                cause=death.cause, task=f"initializer {initializer}"), worker)
        worker.process.join(timeout=5)
        with self.lock:
            self.pool.pop(worker.process.sentinel, None)
            stopping = self.stopping and not self.queue
            abort = self.abort
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
                error = WorkerDied.of(pid, code, task.label, oom_kills_before=self.oom_before)
        # No worker.process.close(): a Process object closed here while multiprocessing's
        # own bookkeeping still lists it makes a later join() raise "process object is
        # closed". The reaped process's descriptors go with the object.
        if task is not None and error is not None:
            task.future.set_exception(error)
        del task, error
        if not (worker.retiring and code == 0):  # a worker retired after max_tasks_per_child did not die
            self.last_death = WorkerDied.of(pid, code, oom_kills_before=self.oom_before)
        if abort or stopping:
            return
        try:
            self._start_worker(self.replace_ctx)
        except Exception as exc:  # out of processes or memory: go on with fewer workers
            self.last_death = WorkerDied(f"{self.last_death}; starting a replacement failed: {exc!r}")

    def _give_up(self) -> None:
        """No worker left and none may be started: fail the queued tasks with the cause."""
        last = self.last_death
        reason = f" (the last one: {last})" if last is not None else ""
        broken = WorkerDied(f"every worker process of this pool has died and none could be "
                            f"started in their place{reason}")
        with self.lock:
            self.broken = broken
            tasks = list(self.queue)
            self.queue.clear()
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
        with self.lock:
            self.pool.clear()

    def _fail_everything(self, error: BaseException) -> None:
        with self.lock:
            workers = list(self.pool.values())
            tasks = list(self.queue)
            self.queue.clear()
            self.stopping = True
        for worker in workers:
            _kill(worker.process)
            if worker.task is not None and not worker.task.future.done():
                worker.task.future.set_exception(error)
        _cancel(tasks)

    def _close(self) -> None:
        with self._wake_lock:
            for fd in (self._wake_r, self._wake_w):
                if fd >= 0:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._wake_r = self._wake_w = -1


def _check_context(mp_context: object) -> Any:
    """None (the interpreter's default start method) or a context from ``get_context(name)``."""
    if mp_context is None:
        return multiprocessing.get_context()
    if not isinstance(mp_context, multiprocessing.context.BaseContext):
        hint = f"; pass multiprocessing.get_context({mp_context!r})" if isinstance(mp_context, str) else ""
        raise TypeError("mp_context must be a multiprocessing context (from multiprocessing.get_context()) "
                        f"or None, not {type(mp_context).__name__}{hint}")
    return mp_context


def _cancel(tasks: list[_Task]) -> None:
    """Cancel queued tasks, and tell ``wait()`` and ``as_completed()`` (``cancel()`` alone does not)."""
    for task in tasks:
        if task.future.cancel():
            task.future.set_running_or_notify_cancel()


def _kill(process: Any) -> None:
    try:
        process.kill()
    except (ValueError, OSError, AttributeError):  # already closed or reaped
        pass
