"""The ``pool`` strategy: a ``multiprocessing.Pool`` behind the ``Executor`` interface, watched.

A ``multiprocessing.Pool`` whose worker dies loses that worker's task and leaves whoever waits
for it waiting forever. :class:`PoolExecutor` follows its workers' sentinels and turns a death
into :class:`~gilfree.errors.WorkerDied` for every outstanding task within a fraction of a
second; :class:`GuardedPool` offers the Pool's own ``map``, ``starmap``, ``imap`` and
``imap_unordered`` (lab steps 2 and 3) under the same watch.
"""

from __future__ import annotations

import collections
import functools
import itertools
import logging
import multiprocessing
import os
import pickle
import threading
import time
import traceback
import weakref
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection, wait
from multiprocessing.reduction import ForkingPickler
from typing import Any, Callable, Iterable, Iterator

from . import _lifeline
from ._checks import check_count
from ._compat import pool_processes, register_exit_hook, release_queue_locks_of_dead_workers
from ._futures import exitcode, settle, worker_ignores_sigint
from ._batching import AUTO, Chunksize, check_chunksize, map_args, run_map, times_of
from .errors import PoolStopped, RemoteTraceback, WorkerDied, oom_kill_count
# The task's round trip is FailSafePool's (one protocol, one set of errors): its worker-side runner
# and the outcome kinds it sends back.
from .pool import (_NOT_LOADED, _RETURNED, _describe_call, _run_task, add_note, check_initializer, check_max_workers,
                   describe_initializer)

__all__ = ["GuardedPool", "PoolExecutor"]


class PoolExecutor(Executor):
    """A ``multiprocessing.Pool`` behind the ``Executor`` interface, with a watchdog.

    A ``multiprocessing.Pool`` whose worker dies replaces the worker but loses the task it was
    running, and whoever waits for that task waits forever. A watchdog thread here follows the
    workers' process sentinels: the moment one dies, every outstanding task fails with
    :class:`~gilfree.errors.WorkerDied` (which task was on the dead worker cannot be known) and
    the pool is terminated, also while ``shutdown()`` waits. ``.pool`` offers the Pool's own
    ``map``, ``starmap``, ``imap`` and ``imap_unordered`` (lab step 3) under the same watch;
    ``.raw`` is the Pool itself.

    The arguments are ``ProcessPoolExecutor``'s: ``max_workers`` (``None``: one per usable
    core), ``mp_context``, ``initializer(*initargs)``, run in every worker before its first
    task, and ``max_tasks_per_child`` (the Pool's ``maxtasksperchild``: a worker leaves after
    that many tasks and a new one takes its place; as in the stdlib it is refused with the
    fork start method, and without ``mp_context`` it means spawn). A ``multiprocessing.Pool``
    whose initializer raises starts a new worker for ever, each failing the same way; here the
    first failure (or a worker's death inside the initializer) breaks the pool as it breaks a
    ``ProcessPoolExecutor``: every outstanding task fails with
    :class:`~gilfree.errors.WorkerDied` naming the initializer and its exception (the
    ``__cause__``), and ``submit`` raises it from then on.

    As with ``ProcessPoolExecutor``, a future stays PENDING (and can be cancelled) until it is
    handed to the Pool: at most :attr:`HANDOFF_PER_WORKER` tasks per worker are in the Pool at
    a time, the rest wait here, so ``shutdown(cancel_futures=True)`` cancels them, and
    ``terminate()`` cancels them and fails the handed-off ones with
    :class:`~gilfree.errors.PoolStopped`: every future is settled. The task, its arguments
    and its result travel pickled by gilfree, so errors keep their own types where the stdlib
    keeps them: arguments that cannot be pickled fail the future (not ``submit``) with their
    pickling error; a result or exception the worker cannot pickle arrives as that pickling
    error (gilfree's explanation is a note on it). Where gilfree differs on purpose, as
    :class:`~gilfree.pool.FailSafePool` does: a task whose arguments cannot be unpickled in the
    worker, or whose result cannot be unpickled here, fails alone with ``BrokenProcessPool``
    (the error is its ``__cause__``) and the pool goes on, where ``ProcessPoolExecutor`` breaks;
    ``SystemExit`` raised in a task is that task's exception, not the end of its worker; a task
    exception's ``__cause__`` is :class:`~gilfree.errors.RemoteTraceback`.

    At the interpreter's exit, pending futures are waited for (as the stdlib does) and
    ``submit`` raises ``RuntimeError``. An executor dropped without ``shutdown()`` is
    collected once its running tasks are done, and its workers go with it.
    """

    #: Tasks per worker in the Pool's own queue at a time: one running and one waiting, so
    #: that a worker never idles for a round trip to the parent; the rest stay cancellable here.
    HANDOFF_PER_WORKER = 2

    def __init__(self, max_workers: int | None = None, mp_context: Any = None,
                 initializer: Callable[..., object] | None = None, initargs: tuple[Any, ...] = (), *,
                 max_tasks_per_child: int | None = None) -> None:
        self.workers = check_max_workers(max_workers)
        initializer, initargs = check_initializer(initializer, initargs)
        if max_tasks_per_child is not None:
            max_tasks_per_child = check_count(max_tasks_per_child, "max_tasks_per_child")
            if mp_context is None:  # as ProcessPoolExecutor: fork cannot replace workers safely
                mp_context = multiprocessing.get_context("spawn")
            elif mp_context.get_start_method(allow_none=False) == "fork":
                raise ValueError("max_tasks_per_child is incompatible with the 'fork' multiprocessing "
                                 "start method; supply a different mp_context")
        ctx = mp_context or multiprocessing.get_context()
        #: The context the workers are started with (the stdlib's name for it, kept for its tests).
        self._mp_context = ctx
        self.max_tasks_per_child = max_tasks_per_child
        self._init_label = describe_initializer(initializer) if initializer is not None else None
        # Workers with an initializer report on this pipe how it went: (pid, error, traceback).
        self._reports: Connection | None = None
        reports_out: tuple[Connection, Any] | None = None
        if initializer is not None:
            self._reports, writer = ctx.Pipe(duplex=False)
            reports_out = (writer, ctx.Lock())
        self._initialized: set[int] = set()
        self.raw = ctx.Pool(processes=self.workers, initializer=_init_worker,
                            initargs=(reports_out, initializer, initargs, _lifeline.child_end()),
                            maxtasksperchild=max_tasks_per_child)
        self.pool = GuardedPool(self)
        self._lock = threading.Lock()
        self._shutdown = False
        self._queue: collections.deque[tuple[Future[Any], bytes, str]] = collections.deque()
        self._running: set[Future[Any]] = set()  # handed to the Pool, not settled yet
        self._tasks_done: dict[int, int] = {}  # tasks answered, by worker pid (max_tasks_per_child)
        self._handoff = self.HANDOFF_PER_WORKER * self.workers
        self._closed = False  # Pool.close() called: no task can be handed over any more
        self._wound_down = threading.Event()  # closed or terminated: Pool.join() may be called
        self._terminating = False
        self._terminated = threading.Event()
        self.broken: WorkerDied | None = None
        self._oom_before = oom_kill_count()
        stop_r, self._stop_w = multiprocessing.Pipe(duplex=False)
        # The watchdog holds the executor weakly, so that a dropped executor can be collected;
        # collecting it terminates the Pool (its workers go) and stops the watchdog.
        self._watchdog = threading.Thread(
            target=_watch, args=(weakref.ref(self), self.raw, stop_r, self._reports),
            name="gilfree-pool-watchdog", daemon=True)
        self._watchdog.start()
        weakref.finalize(self, _release, self.raw, self._stop_w)
        _track(self)

    @property
    def _broken(self) -> WorkerDied | None:
        """:attr:`broken` under ``ProcessPoolExecutor``'s name for it."""
        return self.broken

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any], timeout: float | None = None,
            chunksize: Chunksize = AUTO) -> Iterator[Any]:
        """``Executor.map`` with batches, as :meth:`gilfree.pool.FailSafePool.map` (which see):
        ``chunksize="auto"`` by default, an int, or 1 for one task per item. ``.pool.map`` is
        the ``multiprocessing.Pool``'s own."""
        items, star = map_args(iterables)
        return self._map(fn, items, star, timeout, chunksize)

    def starmap(self, fn: Callable[..., Any], iterable: Iterable[Iterable[Any]], timeout: float | None = None,
                chunksize: Chunksize = AUTO) -> Iterator[Any]:
        """``fn(*args)`` for each ``args`` of ``iterable``, as :meth:`map` runs it."""
        return self._map(fn, iterable, True, timeout, chunksize)

    def _map(self, fn: Callable[..., Any], items: Iterable[Any], star: bool, timeout: float | None,
             chunksize: object) -> Iterator[Any]:
        return run_map(self.submit, fn, items, star=star, timeout=timeout, chunksize=check_chunksize(chunksize),
                       workers=self.workers, times=times_of(self))

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if not callable(fn):
            raise TypeError(f"submit needs a callable, not {type(fn).__name__}")
        self._check_open()
        label = _describe_call(fn)
        future: Future[Any] = Future()
        try:
            # multiprocessing's own pickler, as the Pool would use: a Connection, a socket or a
            # lock travels as a duplicated handle.
            payload = bytes(ForkingPickler.dumps((fn, args, kwargs), pickle.HIGHEST_PROTOCOL))
        except Exception as exc:  # as the stdlib: the pickling error lands on the future
            add_note(exc, f"gilfree: cannot send {label} to a worker process. Tasks and their arguments "
                          "must pickle: module-level functions, no lambdas or local functions")
            future.set_exception(exc)
            return future
        with self._lock:
            self._check_open()
            self._queue.append((future, payload, label))
            self._hand_off()
        return future

    def _check_open(self) -> None:
        if self.broken is not None:
            raise self.broken
        if _exiting:
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")

    def _hand_off(self) -> None:
        """Hand queued tasks to the Pool while it has room (the lock is held)."""
        while self._queue and len(self._running) < self._handoff and not self._terminating:
            future, payload, label = self._queue.popleft()
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while it waited here
            self._running.add(future)
            try:
                self.raw.apply_async(_run_in_worker, (payload,), callback=functools.partial(self._done, future, label),
                                     error_callback=functools.partial(self._failed, future))
            except ValueError as exc:  # "Pool not running": terminated under us
                self._running.discard(future)
                settle(future, error=PoolStopped(f"the pool was stopped before this task started: {exc}"))
        if self._shutdown and not self._queue and not self._closed and not self._terminating:
            self._closed = True
            self.raw.close()  # tasks handed over still run; then the workers leave
            self._wound_down.set()

    def _done(self, future: Future[Any], label: str, answer: tuple[int, bytes]) -> None:
        """The Pool's callback (its result thread): hand over the next task, settle the future.

        The future leaves the running set before it is settled, so whoever its result wakes
        finds the room it left. Must never raise: that would kill the Pool's result thread.
        """
        try:
            pid, message = answer
            del answer
            if self.max_tasks_per_child is not None:
                with self._lock:
                    self._tasks_done[pid] = self._tasks_done.get(pid, 0) + 1
            ok, value = _read_outcome(message, label, pid)
            del message
        except BaseException as exc:  # pragma: no cover - a bug here must not hang anyone
            ok, value = False, PoolStopped(f"gilfree could not settle this task: {exc!r}")
        self._finished(future)
        if ok:
            settle(future, value)
        else:
            settle(future, error=value)
        del value

    def _failed(self, future: Future[Any], error: BaseException) -> None:
        """The Pool's error callback: an error the Pool itself caught (its queue, not the task)."""
        self._finished(future)
        settle(future, error=error)

    def _finished(self, future: Future[Any]) -> None:
        try:
            with self._lock:
                self._running.discard(future)
                self._hand_off()
        except BaseException:  # pragma: no cover - the Pool was terminated meanwhile
            pass

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking tasks; ``cancel_futures`` cancels those not yet handed to the Pool.

        Tasks already handed over run to the end. ``wait=True`` returns when every worker has
        left; a worker dying meanwhile fails the outstanding tasks and ends the wait (the
        watchdog stays on through shutdown), so it cannot hang on a lost task.
        """
        cancelled: list[Future[Any]] = []
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                cancelled = [item[0] for item in self._queue]
                self._queue.clear()
            self._hand_off()  # closes the Pool once nothing waits here
        for future in cancelled:
            future.cancel()
        if wait:
            self._wound_down.wait()
            self.raw.join()
            self._stop_watching()

    def terminate(self) -> None:
        """Stop every worker now (used on errors and Ctrl-C); every future is settled.

        Tasks not yet handed to the Pool are cancelled; those handed over and not finished fail
        with :class:`~gilfree.errors.PoolStopped`; results already in keep their futures.
        """
        with self._lock:
            self._shutdown = True
            queued = [item[0] for item in self._queue]
            self._queue.clear()
        for future in queued:
            future.cancel()
        self._terminate_raw()
        with self._lock:
            running = list(self._running)
            self._running.clear()
        for future in running:
            settle(future, error=PoolStopped("the pool was stopped while this task was handed to it"))
        self.raw.join()
        self._stop_watching()

    def abort(self, grace: float | None = None) -> None:
        """Stop after an error or Ctrl-C: ``Pool.terminate()`` is built for that (no grace)."""
        self.terminate()

    def raise_if_broken(self) -> None:
        if self.broken is not None:
            raise self.broken

    def _stop_watching(self) -> None:
        try:
            self._stop_w.send_bytes(b"!")
        except OSError:
            pass
        if threading.current_thread() is not self._watchdog:
            self._watchdog.join(timeout=5)
        self._stop_w.close()
        if self._reports is not None:
            # Workers that report later get a broken pipe and ignore it; the writing end stays
            # open for the workers the Pool may still start while it winds down.
            self._reports.close()

    def _on_death(self, process: Any) -> bool:
        """A worker's sentinel fired: True to go on watching, False when the pool is done."""
        if self._reports is not None:
            if self._read_reports():
                return False
            with self._lock:
                terminating = self._terminating
            if terminating:  # we stopped it, perhaps in its initializer
                return False
            if process.pid not in self._initialized:  # also while shutting down: the
                self._break_in_initializer(process)   # Pool would start another for ever
                return False
        with self._lock:
            if self._terminating:
                return False
            closed = self._closed
            outstanding = bool(self._running or self._queue)
        if closed and not outstanding:
            return True  # winding down with nothing left to lose (its exit code is not read:
            #              Pool.join() reaps it, and two threads must not reap one process)
        code = self._reaped_exitcode(process)
        if code == 0 and self._served_its_tasks(process.pid):
            return True  # a worker leaving after its max_tasks_per_child tasks, as asked
        self._break(WorkerDied.of(
            process.pid, code, oom_kills_before=self._oom_before,
            context="A multiprocessing.Pool loses the task its dead worker held and would "
                    "wait for it forever: gilfree stopped the pool and failed every "
                    "outstanding task instead (finished tasks keep their results)"))
        return False

    def _served_its_tasks(self, pid: int) -> bool:
        """Whether a worker that exited with status 0 had answered its ``max_tasks_per_child``.

        A Pool's worker leaves on its own only then (after ``close()`` it leaves once every
        task is answered, which the caller has ruled out): one that exited 0 sooner ended in a
        task (``os._exit(0)``), and that task is lost. Its last answer may still be on its way
        through the Pool's result thread, so it is waited for, briefly.
        """
        if self.max_tasks_per_child is None:
            return False
        deadline = time.monotonic() + 1.0
        while True:
            with self._lock:
                if self._tasks_done.get(pid, 0) >= self.max_tasks_per_child:
                    del self._tasks_done[pid]
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)

    def _read_reports(self) -> bool:
        """Read the initializers' reports; True if one failed (the pool is then broken)."""
        assert self._reports is not None
        try:
            while self._reports.poll():
                pid, error, tb = pickle.loads(self._reports.recv_bytes())
                if error is None:
                    self._initialized.add(pid)
                    continue
                if tb:
                    error.__cause__ = RemoteTraceback(tb)
                broken = WorkerDied(
                    f"the initializer {self._init_label} of this PoolExecutor failed in worker process "
                    f"{pid}: {error!r}. A pool whose workers cannot be initialized is broken, as a "
                    "ProcessPoolExecutor is: no task runs on it", pid=pid, task=f"initializer {self._init_label}")
                broken.__cause__ = error
                self._await_exit(pid)
                self._break(broken)
                return True
        except (EOFError, OSError):
            pass
        return False

    def _await_exit(self, pid: int, timeout: float = 5.0) -> None:
        """Let a worker whose initializer failed leave on its own before the pool is stopped.

        On its way out it flushes what it still has to send (a record its initializer logged
        through a ``multiprocessing`` queue, whose feeder thread writes it); stopping the pool
        first would kill it mid-way. Its sentinel says when it is gone (nothing is reaped here).
        """
        for process in pool_processes(self.raw):
            if process.pid == pid:
                try:
                    wait([process.sentinel], timeout)
                except (OSError, ValueError):
                    pass
                return

    def _break_in_initializer(self, process: Any) -> None:
        """A worker died before its initializer said how it went: it died in it."""
        death = WorkerDied.of(process.pid, self._reaped_exitcode(process), oom_kills_before=self._oom_before)
        self._break(WorkerDied(
            f"{death} while running the initializer {self._init_label} of this PoolExecutor. A pool "
            "whose workers cannot be initialized is broken, as a ProcessPoolExecutor is: no task runs "
            "on it", pid=death.pid, exitcode=death.exitcode, cause=death.cause,
            task=f"initializer {self._init_label}"))

    def _reaped_exitcode(self, process: Any) -> int | None:
        """The dead worker's exit code, read after the Pool's own thread has reaped it.

        Two threads must not collect one exit status: under forkserver the status is one
        message on a pipe, and the thread that finds the pipe already read records 255 in
        place of the real code. The Pool's maintenance thread reaps dead workers every 0.1 s,
        so wait (briefly) for it to drop this one from its list, then read the recorded code.
        """
        deadline = time.monotonic() + 1.0
        while process in pool_processes(self.raw) and time.monotonic() < deadline:
            time.sleep(0.01)
        return exitcode(process)

    def _break(self, error: WorkerDied) -> None:
        """Fail every outstanding task (handed over or waiting here) with ``error``; stop the Pool."""
        with self._lock:
            self.broken = error
            self._shutdown = True
            futures = [item[0] for item in self._queue] + list(self._running)
            self._queue.clear()
            self._running.clear()
        for future in futures:
            settle(future, error=error)
        self._terminate_raw()

    #: Seconds ``Pool.terminate()`` may take before the workers still alive are killed outright.
    TERMINATE_GRACE_S = 3.0

    def _terminate_raw(self) -> None:
        """``Pool.terminate()``, once, from whichever thread comes first, with a time limit.

        ``Pool.terminate()`` sends SIGTERM to the workers it knows and then waits for each
        without a limit. A worker the pool forked from its maintenance thread at that very
        moment can miss the signal (or die of it in a lock-holding state), and the wait never
        ends. After a grace period every worker still alive is killed with SIGKILL, so the
        wait always ends; another thread asking meanwhile waits for the same outcome.
        """
        with self._lock:
            first = not self._terminating
            self._terminating = True
        if not first:
            self._terminated.wait()
            return
        reaper = threading.Thread(target=self._kill_stragglers, name="gilfree-pool-reaper", daemon=True)
        reaper.start()
        try:
            self.raw.terminate()
        finally:
            self._terminated.set()
            self._wound_down.set()

    def _kill_stragglers(self) -> None:
        # Workers found all dead (a SIGTERM to the whole group) need no grace period: only the
        # queue locks they may have died holding keep terminate() waiting, so free those now.
        # Nor do the live ones of a pool that a dead worker broke: its queues may be in any
        # state (the Pool forks replacements that wait on them for ever).
        deadline = time.monotonic() + self.TERMINATE_GRACE_S
        while not self._terminated.wait(0.2):
            alive = []
            for process in pool_processes(self.raw):
                try:  # the sentinel reaps nothing: the Pool's own thread collects the exit status
                    if not wait([process.sentinel], timeout=0):
                        alive.append(process)
                except (OSError, ValueError):  # closed: joined, so dead
                    pass
            if not alive:
                release_queue_locks_of_dead_workers(self.raw)
            elif self.broken is not None or time.monotonic() >= deadline:
                for process in alive:
                    try:
                        process.kill()
                    except (OSError, ValueError, AttributeError):
                        pass


def _run_in_worker(payload: bytes) -> tuple[int, bytes]:
    """In a Pool worker: FailSafePool's task runner (the outcome, pickled), and which worker answered.

    The runner catches everything, ``SystemExit`` included, and sends a result or exception that
    cannot be pickled as its pickling error: the Pool's own worker loop, which catches only
    ``Exception`` and dies of the rest, never sees a task fail.
    """
    return os.getpid(), _run_task(payload)


def _read_outcome(message: bytes, label: str, pid: int) -> tuple[bool, Any]:
    """``(True, result)`` or ``(False, exception)`` from a worker's answer; never raises.

    As FailSafePool reads it: the worker's traceback becomes the exception's ``__cause__``
    (:class:`~gilfree.errors.RemoteTraceback`); a task whose arguments the worker could not
    unpickle, or whose outcome cannot be unpickled here, fails alone with ``BrokenProcessPool``
    (the error is its ``__cause__``): the pool goes on.
    """
    try:
        kind, value, tb = pickle.loads(message)
    except BaseException as exc:  # SystemExit from a __reduce__ too: it must not end the Pool's thread
        error = BrokenProcessPool(
            f"the outcome of {label} could not be unpickled in this process: {exc!r}. Only this task is "
            "lost: the pool goes on")
        error.__cause__ = exc
        return False, error
    if kind == _RETURNED:
        return True, value
    if tb:
        value.__cause__ = RemoteTraceback(tb)
    if kind == _NOT_LOADED:
        error = BrokenProcessPool(
            f"worker process {pid} could not unpickle {label}: {value!r}, so the task did not run. Only "
            "this task is lost: the pool goes on")
        error.__cause__ = value
        return False, error
    return False, value


def _watch(ref: weakref.ref[PoolExecutor], raw: Any, stop: Connection, reports: Connection | None) -> None:
    """The watchdog's loop: follow the Pool's workers; hold the executor only while acting."""
    known: dict[Any, Any] = {}
    seen: set[int] = set()  # workers already handled (the Pool lists them until it reaps them)
    try:
        while True:
            # The Pool's worker list is private but has had this shape since Python 3.0.
            for process in pool_processes(raw):
                if process.pid in seen:
                    continue
                try:
                    known.setdefault(process.sentinel, process)
                except ValueError:  # closed already
                    pass
            readable = [reports] if reports is not None and not reports.closed else []
            try:
                ready = wait([stop, *readable, *known], timeout=0.25)
            except OSError:  # a pipe was closed under us: we are done
                return
            if stop in ready:
                return
            executor = ref()
            if executor is None:
                return
            try:
                if readable and readable[0] in ready and executor._read_reports():
                    return
                for sentinel in ready:
                    if sentinel not in known:
                        continue
                    process = known.pop(sentinel)
                    seen.add(process.pid)
                    if not executor._on_death(process):
                        return
            finally:
                del executor
    finally:
        stop.close()


def _release(raw: Any, stop: Connection) -> None:
    """An executor was collected without ``shutdown()``: its workers go, its watchdog stops."""
    try:
        raw.terminate()
    except Exception:  # pragma: no cover - at interpreter exit
        pass
    try:
        stop.send_bytes(b"!")
    except (OSError, ValueError):
        pass


# -- the interpreter's exit: wait for pending futures, refuse new ones --------------------------

_exiting = False
_live: weakref.WeakKeyDictionary[PoolExecutor, int] = weakref.WeakKeyDictionary()  # -> creator's pid
_live_lock = threading.Lock()
_hooked = False


def _track(executor: PoolExecutor) -> None:
    global _hooked, _exiting
    with _live_lock:
        _live[executor] = os.getpid()
        if not _hooked:
            try:
                register_exit_hook(_at_exit)
                _hooked = True
            except RuntimeError:  # created while the interpreter exits: it takes no work, as the stdlib's
                _exiting = True


def _forget_pools_in_child() -> None:
    """After a fork: the parent's executors are not this process's, and its lock may be held.

    Another thread of the parent may have held ``_live_lock`` (in :func:`_track` or
    :func:`_at_exit`) at the instant of the fork: the child's copy then stays locked for good, and
    a forked worker's exit, which runs the threading exit hooks (``_at_exit`` among them), would
    wait on it forever, and ``Pool.join()`` in the parent with it. A fresh lock and table, as
    :mod:`gilfree.pool` does for its own.
    """
    global _live_lock, _live
    _live_lock = threading.Lock()
    _live = weakref.WeakKeyDictionary()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools_in_child)


def _at_exit() -> None:
    """As ``concurrent.futures`` does at exit: no new futures, and the pending ones finish.

    Without this, the Pool's daemon threads and ``multiprocessing``'s exit handler (which
    terminates every Pool) would drop the tasks still running when the program ends.
    """
    global _exiting
    _exiting = True
    with _live_lock:
        # A process forked from the creator (os.fork(), not a Pool worker) has copies it must not touch.
        executors = [executor for executor, pid in _live.items() if pid == os.getpid()]
    for executor in executors:
        try:
            executor.shutdown(wait=True)
        except Exception:  # pragma: no cover - one pool's failure must not keep the others
            pass


def _init_worker(reports: tuple[Connection, Any] | None, initializer: Callable[..., object] | None,
                 initargs: tuple[Any, ...], lifeline: Connection | None = None) -> None:
    """The Pool's initializer: leave with the parent (``lifeline``), ignore SIGINT, run the
    user's initializer, report how it went.

    A failure is logged on the ``concurrent.futures`` logger (as ``ProcessPoolExecutor``'s
    workers do), reported to the parent, and ends the worker (exit status 1).
    """
    worker_ignores_sigint(lifeline)
    if initializer is None or reports is None:
        return
    writer, lock = reports
    failed: BaseException | None = None
    try:
        initializer(*initargs)
        message = pickle.dumps((os.getpid(), None, None))
    except BaseException as exc:
        logging.getLogger("concurrent.futures").critical("Exception in initializer:", exc_info=True)
        failed = exc
        try:
            message = pickle.dumps((os.getpid(), exc, traceback.format_exc()), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException:
            message = pickle.dumps((os.getpid(), RuntimeError(repr(exc)), traceback.format_exc()))
    try:
        with lock:
            writer.send_bytes(message)
    except (BrokenPipeError, OSError):
        pass
    if failed is not None:
        raise SystemExit(1)


class GuardedPool:
    """The ``multiprocessing.Pool`` calls, failing fast when the watchdog finds a dead worker.

    Same names and arguments as the Pool's own; each waits in short slices and raises the
    executor's :class:`~gilfree.errors.WorkerDied` instead of waiting forever.
    """

    _SLICE_S = 0.05

    def __init__(self, executor: PoolExecutor) -> None:
        self._executor = executor

    @property
    def raw(self) -> Any:
        return self._executor.raw

    def map(self, fn: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int | None = None) -> list[Any]:
        return list(self._wait(self.raw.map_async(fn, iterable, chunksize)))

    def starmap(self, fn: Callable[..., Any], iterable: Iterable[Iterable[Any]],
                chunksize: int | None = None) -> list[Any]:
        return list(self._wait(self.raw.starmap_async(fn, iterable, chunksize)))

    def imap(self, fn: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int = 1) -> Iterator[Any]:
        return self._iterate(self.raw.imap, fn, iterable, chunksize)

    def imap_unordered(self, fn: Callable[[Any], Any], iterable: Iterable[Any],
                       chunksize: int = 1) -> Iterator[Any]:
        return self._iterate(self.raw.imap_unordered, fn, iterable, chunksize)

    def _wait(self, pending: Any) -> Any:
        while not pending.ready():
            self._executor.raise_if_broken()
            pending.wait(self._SLICE_S)
        return pending.get()

    def _iterate(self, call: Callable[..., Any], fn: Callable[[Any], Any], iterable: Iterable[Any],
                 chunksize: int) -> Iterator[Any]:
        if chunksize < 1:
            raise ValueError(f"chunksize must be 1 or more, not {chunksize}")
        if chunksize == 1:
            results = call(fn, iterable, 1)
        else:
            # What Pool.imap does with a chunksize, spelled out so that the waiting below can
            # reach the underlying iterator: one task per batch, the batch's results in order.
            results = call(_apply_to_batch, ((fn, batch) for batch in _batches(iterable, chunksize)), 1)
        while True:
            try:
                item = results.next(timeout=self._SLICE_S)
            except multiprocessing.TimeoutError:
                self._executor.raise_if_broken()
                continue
            except StopIteration:
                return
            if chunksize == 1:
                yield item
            else:
                yield from item


def _batches(iterable: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(iterable)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _apply_to_batch(task: tuple[Callable[[Any], Any], list[Any]]) -> list[Any]:
    fn, batch = task
    return [fn(item) for item in batch]
