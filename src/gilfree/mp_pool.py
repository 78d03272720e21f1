"""The ``pool`` strategy: a ``multiprocessing.Pool`` behind the ``Executor`` interface, watched.

A ``multiprocessing.Pool`` whose worker dies loses that worker's task and leaves whoever waits
for it waiting forever. :class:`PoolExecutor` follows its workers' sentinels and turns a death
into :class:`~gilfree.errors.WorkerDied` for every outstanding task within a fraction of a
second; :class:`GuardedPool` offers the Pool's own ``map``, ``starmap``, ``imap`` and
``imap_unordered`` (lab steps 2 and 3) under the same watch.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import pickle
import threading
import time
import traceback
from concurrent.futures import Executor, Future
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Iterable, Iterator

from . import _lifeline
from ._compat import pool_processes, release_queue_locks_of_dead_workers
from ._futures import exitcode, settle, worker_ignores_sigint
from .errors import RemoteTraceback, WorkerDied, oom_kill_count
from ._batching import AUTO, Chunksize, check_chunksize, map_args, run_map, times_of
from .pool import check_initializer, check_max_workers, describe_initializer

__all__ = ["GuardedPool", "PoolExecutor"]


class PoolExecutor(Executor):
    """A ``multiprocessing.Pool`` behind the ``Executor`` interface, with a watchdog.

    A ``multiprocessing.Pool`` whose worker dies replaces the worker but loses the task it was
    running, and whoever waits for that task waits forever. A watchdog thread here follows the
    workers' process sentinels: the moment one dies, every outstanding task fails with
    :class:`~gilfree.errors.WorkerDied` (which task was on the dead worker cannot be known) and
    the pool is terminated. ``.pool`` offers the Pool's own ``map``, ``starmap``, ``imap`` and
    ``imap_unordered`` (lab step 3) under the same watch; ``.raw`` is the Pool itself.

    The arguments are ``ProcessPoolExecutor``'s: ``max_workers`` (``None``: one per usable
    core), ``mp_context``, and ``initializer(*initargs)``, run in every worker before its first
    task. A ``multiprocessing.Pool`` whose initializer raises starts a new worker for ever, each
    failing the same way; here the first failure (or a worker's death inside the initializer)
    breaks the pool as it breaks a ``ProcessPoolExecutor``: every outstanding task fails with
    :class:`~gilfree.errors.WorkerDied` naming the initializer and its exception (the
    ``__cause__``), and ``submit`` raises it from then on.
    """

    def __init__(self, max_workers: int | None = None, mp_context: Any = None,
                 initializer: Callable[..., object] | None = None, initargs: tuple[Any, ...] = ()) -> None:
        ctx = mp_context or multiprocessing.get_context()
        self.workers = check_max_workers(max_workers)
        initializer, initargs = check_initializer(initializer, initargs)
        self._init_label = describe_initializer(initializer) if initializer is not None else None
        # Workers with an initializer report on this pipe how it went: (pid, error, traceback).
        self._reports: Connection | None = None
        reports_out: tuple[Connection, Any] | None = None
        if initializer is not None:
            self._reports, writer = ctx.Pipe(duplex=False)
            reports_out = (writer, ctx.Lock())
        self._initialized: set[int] = set()
        self.raw = ctx.Pool(processes=self.workers, initializer=_init_worker,
                            initargs=(reports_out, initializer, initargs, _lifeline.child_end()))
        self.pool = GuardedPool(self)
        self._lock = threading.Lock()
        self._shutdown = False
        self._outstanding: set[Future[Any]] = set()
        self._terminating = False
        self._terminated = threading.Event()
        self.broken: WorkerDied | None = None
        self._oom_before = oom_kill_count()
        self._stop_r, self._stop_w = multiprocessing.Pipe(duplex=False)
        self._watchdog = threading.Thread(target=self._watch, name="gilfree-pool-watchdog", daemon=True)
        self._watchdog.start()

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
        with self._lock:
            if self.broken is not None:
                raise self.broken
            if self._shutdown:
                raise RuntimeError("cannot submit to a PoolExecutor after shutdown")
            future: Future[Any] = Future()
            future.set_running_or_notify_cancel()
            self._outstanding.add(future)

        def done(value: Any = None, error: BaseException | None = None) -> None:
            with self._lock:
                self._outstanding.discard(future)
            settle(future, value, error)

        self.raw.apply_async(fn, args, kwargs, callback=done,
                             error_callback=lambda exc: done(error=exc))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            if self._shutdown:
                return
            self._shutdown = True
        if cancel_futures:
            self._terminate_raw()
        else:
            self.raw.close()
        if wait:
            self.raw.join()
        self._stop_watching()

    def terminate(self) -> None:
        """Stop every worker now (used on errors and Ctrl-C)."""
        with self._lock:
            self._shutdown = True
        self._terminate_raw()
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
        for end in (self._stop_r, self._stop_w):
            end.close()
        if self._reports is not None:
            # Workers that report later get a broken pipe and ignore it; the writing end stays
            # open for the workers the Pool may still start while it winds down.
            self._reports.close()

    def _watch(self) -> None:
        known: dict[Any, Any] = {}
        while True:
            # The Pool's worker list is private but has had this shape since Python 3.0.
            for process in pool_processes(self.raw):
                try:
                    known.setdefault(process.sentinel, process)
                except ValueError:  # closed already
                    pass
            reports = [self._reports] if self._reports is not None else []
            try:
                ready = wait([self._stop_r, *reports, *known], timeout=0.25)
            except OSError:  # the stop pipe was closed under us: we are done
                return
            if self._stop_r in ready:
                return
            if reports and reports[0] in ready and self._read_reports():
                return
            for sentinel in ready:
                if sentinel not in known:
                    continue
                process = known.pop(sentinel)
                if self._reports is not None:
                    if self._read_reports():
                        return
                    with self._lock:
                        terminating = self._terminating
                    if terminating:  # we stopped it, perhaps in its initializer
                        return
                    if process.pid not in self._initialized:  # also while shutting down: the
                        self._break_in_initializer(process)   # Pool would start another for ever
                        return
                with self._lock:
                    if self._shutdown:
                        return
                self._break(WorkerDied.of(
                    process.pid, self._reaped_exitcode(process), oom_kills_before=self._oom_before,
                    context="A multiprocessing.Pool loses the task its dead worker held and would "
                            "wait for it forever: gilfree stopped the pool and failed every "
                            "outstanding task instead (finished tasks keep their results)"))
                return

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
                self._break(broken)
                return True
        except (EOFError, OSError):
            pass
        return False

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
        with self._lock:
            self.broken = error
            self._shutdown = True
            futures = list(self._outstanding)
            self._outstanding.clear()
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
