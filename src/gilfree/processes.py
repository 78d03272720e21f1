"""The ``processes`` strategy: a ``ProcessPoolExecutor`` whose broken pool names the dead worker.

The stdlib raises "A process in the process pool was terminated abruptly" whatever the cause.
:class:`ProcessesExecutor` delivers the same failure as :class:`~gilfree.errors.WorkerDied`
(a ``BrokenProcessPool`` too) naming the worker's signal or exit status, and :meth:`abort`
stops it after an error or Ctrl-C without leaving its result pipe half-written.

No way out waits for ever. A worker killed while it writes its result (a SIGTERM to the whole
process group, the out-of-memory killer) leaves the result pipe half-written, and the
``ProcessPoolExecutor``'s management thread then waits for the rest of that message for ever:
``shutdown(wait=True)`` never returns, and neither does ``concurrent.futures``' own exit hook,
which joins that thread when the program ends. Once every worker of the pool is dead, gilfree
ends that wait (:func:`gilfree._compat.release_after_dead_workers`): in :func:`abort_process_pool`,
in :meth:`ProcessesExecutor.shutdown`, and, for every ``ProcessPoolExecutor`` of the program, in
a hook that does the stdlib's own exit hook's work just before it, with that bound. The manager then finds the pool broken,
as it does for any dead worker; results already complete are read first and kept.
"""

from __future__ import annotations

import threading
import time
import weakref
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import wait as wait_for
from multiprocessing.process import BaseProcess
from typing import Any, Callable, Iterable

from . import _lifeline
from ._compat import (executor_manager_thread, executor_processes, manager_queues, max_workers,
                      register_before_executor_exit, release_after_dead_workers, skip_settled_futures_when_broken,
                      start_executor_exit)
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
        self._fixed_manager: threading.Thread | None = None

    @property
    def workers(self) -> int:
        """The number of worker processes."""
        return max_workers(self) or 1

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = _ExplainedFuture(super().submit(fn, *args, **kwargs), self)
        manager = executor_manager_thread(self)  # started by the first submit
        if manager is not None and manager is not self._fixed_manager:
            skip_settled_futures_when_broken(manager)
            self._fixed_manager = manager
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """``ProcessPoolExecutor.shutdown``, except that ``wait=True`` cannot wait for ever.

        The stdlib's waits as long as the management thread runs; that thread never ends once a
        worker died halfway through writing its result. Here a watcher thread ends that wait
        once every worker is dead (:func:`join_manager`); while workers live, their tasks
        finish, as documented. The stdlib's own shutdown does the rest, unchanged.
        """
        manager = executor_manager_thread(self)
        if wait and manager is not None and manager.is_alive():
            try:
                threading.Thread(target=join_manager, args=(manager,), name="gilfree-shutdown-watch",
                                 daemon=True).start()
            except RuntimeError:  # at exit, where 3.12 starts no thread: the exit hook watches
                pass
        super().shutdown(wait=wait, cancel_futures=cancel_futures)

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
    if manager is not None:  # cancelled futures and dying workers meet here: see the function
        skip_settled_futures_when_broken(manager)
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
            # Every worker is dead now (a SIGKILL cannot be ignored): if one died halfway
            # through writing its result, the manager would wait for the rest for ever.
            join_manager(manager, timeout=5, workers_dead=all_dead(processes))


#: Seconds between two looks at a management thread whose workers may all be dead.
_LOOK_EVERY_S = 0.1


def all_dead(processes: Iterable[BaseProcess]) -> bool:
    """Whether there is at least one process and every one has ended (read from their sentinels,
    which reaps nothing: the pool's own threads collect the exit statuses)."""
    sentinels, seen = [], 0
    for proc in processes:
        seen += 1
        try:
            sentinels.append(proc.sentinel)
        except ValueError:  # closed: it was joined, so it is dead
            continue
    try:
        return seen > 0 and len(wait_for(sentinels, timeout=0)) == len(sentinels)
    except (OSError, ValueError):
        return False


def join_manager(manager: threading.Thread, timeout: float | None = None, *,
                 workers_dead: bool = False) -> None:
    """Wait for a ``ProcessPoolExecutor``'s management thread, which must already be told to stop.

    For as long as any of its workers lives, this waits as ``Thread.join`` does (up to
    ``timeout``). Once they are all dead (seen twice, a moment apart, or ``workers_dead``
    from a caller that killed them), the waits a worker can leave behind are ended
    (:func:`gilfree._compat.release_after_dead_workers`), and the thread finishes.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    seen_dead = released = False
    while True:
        dead = workers_dead or all_dead(list(manager_queues(manager)[2].values()))
        if dead and (seen_dead or workers_dead) and not released:
            release_after_dead_workers(manager)
            released = True
        seen_dead = dead
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return
        join_thread(manager, _LOOK_EVERY_S if left is None else min(left, _LOOK_EVERY_S))
        if not manager.is_alive():
            return


def _release_dead_pools_at_exit() -> None:
    """``concurrent.futures``' exit hook, done first and with :func:`join_manager`'s waits.

    The stdlib's hook tells every management thread that the interpreter is exiting and joins
    each without a limit; one whose workers are all dead, stuck on a half-written result,
    would keep the program from ending for ever. This hook, run just before it, does the same
    but ends such a wait (the stdlib's then finds every thread done). Pools whose workers live
    still keep the program waiting for their pending work, as documented. (A watcher thread
    beside the stdlib's hook would be simpler, but 3.12 refuses new threads at that point.)
    """
    for manager in start_executor_exit():
        join_manager(manager)


register_before_executor_exit(_release_dead_pools_at_exit)


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
