"""The ``processes`` strategy: a ``ProcessPoolExecutor`` whose broken pool names the dead worker.

The stdlib raises "A process in the process pool was terminated abruptly" whatever the cause.
:class:`ProcessesExecutor` delivers the same failure as :class:`~gilfree.errors.WorkerDied`
(a ``BrokenProcessPool`` too) naming the worker's signal or exit status, and :meth:`abort`
stops it after an error or Ctrl-C without leaving its result pipe half-written.
"""

from __future__ import annotations

import threading
import time
import weakref
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable

from . import _lifeline
from ._compat import executor_manager_thread, executor_processes, max_workers
from ._futures import dead_workers, settle
from .errors import WorkerDied, oom_kill_count

__all__ = ["ABORT_GRACE_S", "ProcessesExecutor", "abort_process_pool"]

#: Seconds an aborted process pool gets to finish its running tasks before they are stopped.
ABORT_GRACE_S = 2.0


class _ExplainedFuture(Future[Any]):
    """A ``ProcessPoolExecutor`` future whose ``BrokenProcessPool`` names the dead worker.

    It holds its executor weakly: an executor dropped while its futures are alive is collected
    (and shuts down) as a ``ProcessPoolExecutor`` is; a break found after that arrives as the
    stdlib's own ``BrokenProcessPool``.
    """

    def __init__(self, inner: Future[Any], executor: "ProcessesExecutor") -> None:
        super().__init__()
        self._inner = inner
        self._executor = weakref.ref(executor)
        inner.add_done_callback(self._copy)

    def cancel(self) -> bool:
        return self._inner.cancel()  # its callback then cancels this one

    def running(self) -> bool:
        return self._inner.running()

    def _copy(self, inner: Future[Any]) -> None:
        if inner.cancelled():
            Future.cancel(self)
            self.set_running_or_notify_cancel()  # tells as_completed()/wait() waiters
            return
        error = inner.exception()
        if error is None:
            settle(self, inner.result())
        else:
            executor = self._executor()
            settle(self, error=error if executor is None else executor.explain(error))


class ProcessesExecutor(ProcessPoolExecutor):
    """A ``ProcessPoolExecutor`` whose ``BrokenProcessPool`` says which worker died and why.

    The stdlib raises "A process in the process pool was terminated abruptly" whatever the
    cause. Here the same failure arrives as :class:`~gilfree.errors.WorkerDied` (a
    ``BrokenProcessPool`` too) naming the worker's signal or exit status, with the original as
    ``__cause__``. Everything else is ``ProcessPoolExecutor``'s own behaviour.
    """

    def __init__(self, max_workers: int | None = None, mp_context: Any = None,
                 initializer: Callable[..., Any] | None = None, initargs: tuple[Any, ...] = (),
                 **kwargs: Any) -> None:
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        # Every worker first watches this process's lifeline: it exits when the parent is gone.
        super().__init__(max_workers, mp_context, _lifeline.worker_init,
                         (_lifeline.child_end(), initializer, initargs), **kwargs)
        self._oom_before = oom_kill_count()
        self._explained: dict[int, BaseException] = {}
        self._explain_lock = threading.Lock()

    @property
    def workers(self) -> int:
        """The number of worker processes."""
        return max_workers(self) or 1

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return _ExplainedFuture(super().submit(fn, *args, **kwargs), self)

    def abort(self, grace: float = ABORT_GRACE_S) -> None:
        """Stop after an error or Ctrl-C: see :func:`abort_process_pool`."""
        abort_process_pool(self, grace)

    def explain(self, error: BaseException) -> BaseException:
        if not isinstance(error, BrokenProcessPool) or isinstance(error, WorkerDied):
            return error
        with self._explain_lock:  # one explanation per break, shared like the original
            if id(error) not in self._explained:
                # At this moment the dead worker has exited and the others are not yet stopped.
                dead = dead_workers(executor_processes(self))
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


def abort_process_pool(executor: ProcessPoolExecutor, grace: float = ABORT_GRACE_S) -> None:
    """Stop a ``ProcessPoolExecutor`` after an error or Ctrl-C, losing no finished result.

    Tasks not yet started are cancelled; running ones get ``grace`` seconds to finish: they are
    chunks, short by design, and a worker stopped while it sends its result would leave the
    executor's result pipe half-written. A worker still busy after that (blocked on something,
    say) is killed, and the management thread is waited for.
    """
    # Take the worker list first: shutdown() forgets it (Python 3.11 sets it to None).
    processes = executor_processes(executor)
    manager = executor_manager_thread(executor)
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
            join_thread(manager, timeout=5)


def join_thread(thread: threading.Thread, timeout: float) -> None:
    """``thread.join(timeout)``, also for a thread whose ``start()`` a signal cut short.

    A Ctrl-C or SIGTERM raised inside ``Thread.start()`` (the executor starts its management
    thread at the first submit) leaves a thread that runs but has not yet said so, and ``join``
    refuses it ("cannot join thread before it is started"), which would replace the interrupt
    with a RuntimeError. It says so within moments: wait for that, up to ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
            return
        except RuntimeError:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.001)
