"""Execution strategies: one ``concurrent.futures.Executor`` interface over every way to run work.

==================  ===================================================  ==========================
name                runs tasks on                                        the GIL
==================  ===================================================  ==========================
``serial``          the calling thread, one after another (reference)    irrelevant
``threads``         a ``ThreadPoolExecutor``                             shared: only nogil code scales
``pool``            a ``multiprocessing.Pool`` (behind an Executor)      one per process
``processes``       a ``concurrent.futures.ProcessPoolExecutor``         one per process
``failsafe``        a :class:`gilfree.pool.FailSafePool`                 one per process
``joblib-loky``     ``joblib.Parallel``, loky backend (a peer)           one per process
``joblib-threads``  ``joblib.Parallel``, threading backend (a peer)      shared
==================  ===================================================  ==========================

How data reaches the tasks (pickled arguments, a :class:`gilfree.shm.SharedArray` handle, a
file offset into an ``mmap``) is the caller's choice of *arguments*: the task functions in
:mod:`gilfree._workers` take each of them.
Lab steps and benchmarks open their executors here and never write a pool loop of their own.

Every process strategy here fails fast and says why when a worker dies (see
:mod:`gilfree.errors`): the standard pools are wrapped so that a dead worker becomes a
:class:`~gilfree.errors.WorkerDied` naming its signal or exit status, within a fraction of a
second, instead of a hang (``multiprocessing.Pool``) or a cause-less ``BrokenProcessPool``.
How much survives differs, and that is the lesson: ``failsafe`` loses only the dead worker's
task and carries on; ``processes`` fails every unfinished task (the stdlib pool is broken for
good); ``pool`` cannot tell which task died with the worker, so it fails every outstanding one.
Completed results are kept in every case (their futures hold them). The joblib peers
(:mod:`gilfree.peers`) come as joblib ships them, for comparison: none of this is added to them.
"""

from __future__ import annotations

import itertools
import multiprocessing
import signal
import threading
import time
from concurrent.futures import Executor, Future, InvalidStateError, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing.connection import wait
from typing import Any, Callable, Iterable, Iterator

from ._checks import check_count
from .errors import WorkerDied, oom_kill_count
from .peers import JOBLIB_BACKENDS, JoblibExecutor
from .pool import FailSafePool

__all__ = [
    "STRATEGIES",
    "FailSafePool",
    "PoolExecutor",
    "ProcessesExecutor",
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
    "failsafe": "gilfree's FailSafePool: one pipe per worker; a dead worker fails only its task",
    "joblib-loky": "joblib.Parallel on loky worker processes (a peer; needs joblib)",
    "joblib-threads": "joblib.Parallel on threads (a peer; needs joblib)",
}

PROCESS_STRATEGIES = frozenset({"pool", "processes", "failsafe"})


def check_workers(workers: object) -> int:
    """A worker count must be a positive int."""
    return check_count(workers, "workers")


def _worker_ignores_sigint() -> None:
    """Worker-process initializer: Ctrl-C is the parent's to handle.

    A terminal's Ctrl-C reaches every process in the foreground group. Workers that died of it
    on their own would leave the pool's queues half-written and its management thread waiting
    forever; instead the parent catches KeyboardInterrupt once and stops them all in order.
    SIGTERM gets its default action back, in case a forked worker inherited the parent's
    :func:`gilfree.interrupts.sigterm_raises` handler: a pool stops its workers with it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


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


def _settle(future: Future, value: Any = None, error: BaseException | None = None) -> None:
    """Complete ``future`` unless something else (a watchdog, a cancel) completed it first."""
    try:
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)
    except InvalidStateError:
        pass


class PoolExecutor(Executor):
    """A ``multiprocessing.Pool`` behind the ``Executor`` interface, with a watchdog.

    A ``multiprocessing.Pool`` whose worker dies replaces the worker but loses the task it was
    running, and whoever waits for that task waits forever. A watchdog thread here follows the
    workers' process sentinels: the moment one dies, every outstanding task fails with
    :class:`~gilfree.errors.WorkerDied` (which task was on the dead worker cannot be known) and
    the pool is terminated. ``.pool`` offers the Pool's own ``map``, ``starmap``, ``imap`` and
    ``imap_unordered`` (lab step 3) under the same watch; ``.raw`` is the Pool itself.
    """

    def __init__(self, workers: int, mp_context: Any = None) -> None:
        ctx = mp_context or multiprocessing.get_context()
        self.workers = check_workers(workers)
        self.raw = ctx.Pool(processes=self.workers, initializer=_worker_ignores_sigint)
        self.pool = GuardedPool(self)
        self._lock = threading.Lock()
        self._shutdown = False
        self._outstanding: set[Future] = set()
        self._terminating = False
        self._terminated = threading.Event()
        self.broken: WorkerDied | None = None
        self._oom_before = oom_kill_count()
        self._stop_r, self._stop_w = multiprocessing.Pipe(duplex=False)
        self._watchdog = threading.Thread(target=self._watch, name="gilfree-pool-watchdog", daemon=True)
        self._watchdog.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        with self._lock:
            if self.broken is not None:
                raise self.broken
            if self._shutdown:
                raise RuntimeError("cannot submit to a PoolExecutor after shutdown")
            future: Future = Future()
            future.set_running_or_notify_cancel()
            self._outstanding.add(future)

        def done(value: Any = None, error: BaseException | None = None) -> None:
            with self._lock:
                self._outstanding.discard(future)
            _settle(future, value, error)

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

    def _watch(self) -> None:
        known: dict[Any, Any] = {}
        while True:
            # The Pool's worker list is private but has had this shape since Python 3.0.
            for process in list(getattr(self.raw, "_pool", ())):
                try:
                    known.setdefault(process.sentinel, process)
                except ValueError:  # closed already
                    pass
            try:
                ready = wait([self._stop_r, *known], timeout=0.25)
            except OSError:  # the stop pipe was closed under us: we are done
                return
            if self._stop_r in ready:
                return
            for sentinel in ready:
                process = known.pop(sentinel)
                with self._lock:
                    if self._shutdown:
                        return
                self._break(WorkerDied.of(
                    process.pid, self._reaped_exitcode(process), oom_kills_before=self._oom_before,
                    context="A multiprocessing.Pool loses the task its dead worker held and would "
                            "wait for it forever: gilfree stopped the pool and failed every "
                            "outstanding task instead (finished tasks keep their results)"))
                return

    def _reaped_exitcode(self, process: Any) -> int | None:
        """The dead worker's exit code, read after the Pool's own thread has reaped it.

        Two threads must not collect one exit status: under forkserver the status is one
        message on a pipe, and the thread that finds the pipe already read records 255 in
        place of the real code. The Pool's maintenance thread reaps dead workers every 0.1 s,
        so wait (briefly) for it to drop this one from its list, then read the recorded code.
        """
        deadline = time.monotonic() + 1.0
        while process in list(getattr(self.raw, "_pool", ())) and time.monotonic() < deadline:
            time.sleep(0.01)
        return _exitcode(process)

    def _break(self, error: WorkerDied) -> None:
        with self._lock:
            self.broken = error
            self._shutdown = True
            futures = list(self._outstanding)
            self._outstanding.clear()
        for future in futures:
            _settle(future, error=error)
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
        if self._terminated.wait(self.TERMINATE_GRACE_S):
            return
        while not self._terminated.wait(0.2):
            for process in list(getattr(self.raw, "_pool", ())):
                try:
                    if process.exitcode is None:
                        process.kill()
                except (OSError, ValueError, AttributeError):
                    pass


def _dead_workers(processes: list[Any]) -> list[tuple[int, int | None]]:
    """(pid, exit code) of the processes that have ended.

    A process's sentinel fires as its files close, a moment before the kernel can report its
    exit status, so the status is waited for (briefly) once the sentinel has fired.
    """
    try:
        ended = set(wait([p.sentinel for p in processes], timeout=0))
    except (OSError, ValueError):
        return []
    return [(p.pid, _exitcode(p)) for p in processes if p.sentinel in ended]


def _exitcode(process: Any) -> int | None:
    """A dead process's exit code, also when another thread is reaping it at the same moment."""
    deadline = time.monotonic() + 1.0
    while True:
        try:
            code = process.exitcode
        except ValueError:  # closed
            return None
        if code is not None or time.monotonic() > deadline:
            return code
        time.sleep(0.01)


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

    def map(self, fn: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int | None = None) -> list:
        return self._wait(self.raw.map_async(fn, iterable, chunksize))

    def starmap(self, fn: Callable[..., Any], iterable: Iterable[Iterable[Any]],
                chunksize: int | None = None) -> list:
        return self._wait(self.raw.starmap_async(fn, iterable, chunksize))

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


def _batches(iterable: Iterable[Any], size: int) -> Iterator[list]:
    iterator = iter(iterable)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _apply_to_batch(task: tuple[Callable[[Any], Any], list]) -> list:
    fn, batch = task
    return [fn(item) for item in batch]


class _ExplainedFuture(Future):
    """A ``ProcessPoolExecutor`` future whose ``BrokenProcessPool`` names the dead worker."""

    def __init__(self, inner: Future, executor: "ProcessesExecutor") -> None:
        super().__init__()
        self._inner = inner
        self._executor = executor
        inner.add_done_callback(self._copy)

    def cancel(self) -> bool:
        return self._inner.cancel()  # its callback then cancels this one

    def running(self) -> bool:
        return self._inner.running()

    def _copy(self, inner: Future) -> None:
        if inner.cancelled():
            Future.cancel(self)
            self.set_running_or_notify_cancel()  # tells as_completed()/wait() waiters
            return
        error = inner.exception()
        if error is None:
            _settle(self, inner.result())
        else:
            _settle(self, error=self._executor.explain(error))


class ProcessesExecutor(ProcessPoolExecutor):
    """A ``ProcessPoolExecutor`` whose ``BrokenProcessPool`` says which worker died and why.

    The stdlib raises "A process in the process pool was terminated abruptly" whatever the
    cause. Here the same failure arrives as :class:`~gilfree.errors.WorkerDied` (a
    ``BrokenProcessPool`` too) naming the worker's signal or exit status, with the original as
    ``__cause__``. Everything else is ``ProcessPoolExecutor``'s own behaviour.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._oom_before = oom_kill_count()
        self._explained: dict[int, BaseException] = {}
        self._explain_lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        return _ExplainedFuture(super().submit(fn, *args, **kwargs), self)

    def explain(self, error: BaseException) -> BaseException:
        if not isinstance(error, BrokenProcessPool) or isinstance(error, WorkerDied):
            return error
        with self._explain_lock:  # one explanation per break, shared like the original
            if id(error) not in self._explained:
                # At this moment the dead worker has exited and the others are not yet stopped.
                dead = _dead_workers(list((getattr(self, "_processes", None) or {}).values()))
                context = ("ProcessPoolExecutor cannot tell which task died with it, so every "
                           "unfinished task fails and the pool cannot be used again; finished "
                           "tasks keep their results")
                if dead:
                    pid, code = dead[0]
                    explained = WorkerDied.of(pid, code, oom_kills_before=self._oom_before,
                                              context=context)
                else:
                    explained = WorkerDied(f"{error} {context}")
                explained.__cause__ = error
                self._explained[id(error)] = explained
            return self._explained[id(error)]


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
    if isinstance(executor, (PoolExecutor, FailSafePool)):
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
def open_executor(strategy: str, workers: int = 1, *, start_method: str | None = None,
                  task_timeout: float | None = None) -> Iterator[Executor]:
    """An executor for ``strategy`` with ``workers`` workers, stopped when the block ends.

    If the block raises (a task's exception, Ctrl-C), the tasks not yet started are dropped
    (see :func:`stop_executor`). Worker processes ignore SIGINT: Ctrl-C is handled once, here.
    ``start_method`` (``"fork"``, ``"spawn"``, ``"forkserver"``) applies to the process
    strategies; ``task_timeout`` (seconds) to ``failsafe`` only, the one pool that can stop a
    single task.
    """
    workers = check_workers(workers)
    if strategy is not None and not isinstance(strategy, str):
        raise TypeError(f"strategy must be a str, one of {sorted(STRATEGIES)}, not {type(strategy).__name__}")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {sorted(STRATEGIES)}")
    ctx = _mp_context(start_method)
    if task_timeout is not None and strategy != "failsafe":
        raise ValueError(
            f"task_timeout needs strategy='failsafe', not {strategy!r}: threads cannot be stopped "
            "from outside, and the standard pools cannot stop one task without breaking the pool")
    if strategy == "serial":
        executor: Executor = SerialExecutor()
    elif strategy == "threads":
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gilfree")
    elif strategy == "pool":
        executor = PoolExecutor(workers, ctx)
    elif strategy == "failsafe":
        executor = FailSafePool(workers, mp_context=ctx, task_timeout=task_timeout)
    elif strategy in JOBLIB_BACKENDS:
        if start_method is not None:
            raise ValueError(f"start_method does not apply to {strategy!r}: joblib starts its own workers")
        executor = JoblibExecutor(workers, JOBLIB_BACKENDS[strategy])
    else:
        executor = ProcessesExecutor(max_workers=workers, mp_context=ctx,
                                     initializer=_worker_ignores_sigint)
    try:
        yield executor
    except BaseException:
        stop_executor(executor, abort=True)
        raise
    else:
        stop_executor(executor, abort=False)
