"""Every read of the standard library's private state, in one place.

gilfree's executors need a few facts that the standard pools do not publish:

* the worker processes of a ``multiprocessing.Pool`` (``Pool._pool``), for the watchdog that
  turns a dead worker into an error instead of a hang;
* the worker processes of a ``concurrent.futures.ProcessPoolExecutor`` (``_processes``), to name
  the worker that broke the pool and to stop busy workers after an aborted run;
* the executor's management thread (``_executor_manager_thread``), to wait for it after an abort;
* the file descriptor behind a ``multiprocessing.shared_memory.SharedMemory`` (``_fd``, POSIX),
  to tell whether a kept mapping is still the segment its name opens;
* the worker count a standard pool settled on (``_max_workers``);
* the threading module's exit hook (``threading._register_atexit``), where ``concurrent.futures``
  waits for its executors at interpreter exit, for :class:`gilfree.pool.FailSafePool` to do the same;
* in a ``forkserver`` child, its copy of the fork server's "alive" pipe
  (``_forkserver_alive_fd``), which :mod:`gilfree._lifeline` closes;
* the management threads of ``ProcessPoolExecutor`` (``_threads_wakeups``, ``_global_shutdown``)
  and the queues they hold (``call_queue``, ``result_queue``), to end the waits of a pool whose workers are all
  dead, ``concurrent.futures``' own exit hook included, and the queues and threads of a
  ``multiprocessing.Pool`` whose workers all died (the last block below).

Each is read through one function here that degrades to "nothing known" (an empty list, None)
if a future Python renames the attribute, so gilfree then loses a detail in its messages but
never crashes. :data:`CHECKED_ON` lists the Python versions on which these names were checked;
``tests/test_compat.py`` pins them, so a new version fails loudly there first.
"""

from __future__ import annotations

import atexit
import os
import select
import sys
import threading
import weakref
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.process import BaseProcess
from typing import Any, Callable

__all__ = ["CHECKED_ON", "executor_manager_thread", "executor_processes",
           "executor_workers", "forget_parent_executors_in_child", "manager_queues", "max_workers",
           "pool_processes",
           "register_before_executor_exit", "release_after_dead_workers",
           "release_queue_locks_of_dead_workers", "shared_memory_fd", "skip_settled_futures_when_broken",
           "start_executor_exit"]

#: (major, minor) versions whose private names below were read in CPython's own sources.
CHECKED_ON = ((3, 10), (3, 11), (3, 12), (3, 13), (3, 14))


def pool_processes(pool: Any) -> list[BaseProcess]:
    """The worker processes a ``multiprocessing.Pool`` holds now (``Pool._pool``, since 3.0).

    The list changes as the pool replaces dead workers; this is a copy taken at the call.
    """
    return list(getattr(pool, "_pool", None) or ())


def executor_processes(executor: ProcessPoolExecutor) -> list[BaseProcess]:
    """The worker processes of a ``ProcessPoolExecutor`` (``_processes``, a dict by pid).

    Empty before the first submit and after ``shutdown()`` (3.11 sets it to None), so callers
    that need the list after a shutdown take it before.
    """
    return list((getattr(executor, "_processes", None) or {}).values())


def executor_manager_thread(executor: ProcessPoolExecutor) -> threading.Thread | None:
    """The thread that feeds and reaps a ``ProcessPoolExecutor`` (3.9+), or None."""
    thread = getattr(executor, "_executor_manager_thread", None)
    return thread if isinstance(thread, threading.Thread) else None


def shared_memory_fd(shm: object) -> int | None:
    """The descriptor a POSIX ``SharedMemory`` keeps open for its segment (``_fd``), or None."""
    fd = getattr(shm, "_fd", None)
    return fd if isinstance(fd, int) and fd >= 0 else None


def max_workers(executor: object) -> int | None:
    """The worker count a standard ``ThreadPoolExecutor`` or ``ProcessPoolExecutor`` settled on
    (``_max_workers``, after its default of one per CPU was applied), else None."""
    value = getattr(executor, "_max_workers", None)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def executor_workers(executor: object) -> int | None:
    """An executor's worker count where it can be read, else None.

    gilfree's executors (and joblib's adapter) publish ``workers``; the standard pools keep it
    in private state (:func:`max_workers`).
    """
    value = getattr(executor, "workers", None)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return max_workers(executor)


def checked_here() -> bool:
    """Whether this interpreter's version is one of :data:`CHECKED_ON`."""
    return sys.version_info[:2] in CHECKED_ON


# -- interpreter exit (FailSafePool) ----------------------------------------------------------------
# concurrent.futures runs its exit hook (``_python_exit``: wait for every executor's pending work)
# through ``threading._register_atexit`` (private, 3.9+): the threading module calls such hooks at
# interpreter exit before it joins non-daemon threads, and so before the atexit handlers, among
# them multiprocessing's, which reaps child processes. FailSafePool's hook needs that same slot.

__all__ += ["register_exit_hook"]


def register_exit_hook(hook: Callable[[], object]) -> None:
    """Call ``hook()`` at interpreter exit, where ``concurrent.futures`` waits for its executors.

    Through ``threading._register_atexit`` where it exists (it raises RuntimeError once the exit
    has begun, as the stdlib's own executors find); else an ``atexit`` handler, which runs after
    non-daemon threads are joined but still before multiprocessing's own (registered earlier).
    """
    register = getattr(threading, "_register_atexit", None)
    if callable(register):
        register(hook)
    else:  # pragma: no cover - a future Python without it
        atexit.register(hook)


# -- the fork server's "alive" pipe (gilfree._lifeline) ------------------------------------------

__all__ += ["close_fork_server_keepalive"]


def close_fork_server_keepalive() -> bool:
    """In a ``forkserver`` child: close its copy of the fork server's "alive" write end.

    The fork server leaves when that pipe reaches end of file, and every child it forks gets a
    copy (``_forkserver._forkserver_alive_fd``, set in ``multiprocessing.forkserver._serve_one``
    since 3.4; the child itself never uses it: starting processes of its own launches a fork
    server of its own). A child whose parent-death signal is tied to the fork server would
    otherwise keep that server, and so itself, alive after the process that started them both
    is gone. Does nothing (returns False) elsewhere, above all in the process that started the
    fork server (there ``_forkserver_pid`` is set and the pipe is the one that keeps it running).
    """
    module = sys.modules.get("multiprocessing.forkserver")
    server = getattr(module, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if not isinstance(fd, int) or getattr(server, "_forkserver_pid", 0) is not None:
        return False
    setattr(server, "_forkserver_alive_fd", None)
    try:
        os.close(fd)
    except OSError:
        return False
    return True
# -- The way out of a pool whose workers are dead (one block: the exit paths) -----------------------
#
# A worker killed while it wrote its result leaves a ProcessPoolExecutor's result pipe
# half-written. The pool's management thread
# then waits in ``Connection.recv`` for bytes that never come: the parent holds the pipe's write
# end too, so no end of file arrives. The queue feeder thread, meanwhile, may sit in a write to
# the call pipe that nobody reads any more. ``shutdown(wait=True)`` and ``concurrent.futures``'
# own exit hook (``_python_exit``, which joins every management thread without a limit) then
# wait for ever. Once every worker is known dead, nothing can write to the result pipe again, so
# the functions below end those two waits: the manager sees the end of file, finds the pool
# broken, and finishes as the stdlib does for any dead worker. A multiprocessing.Pool's workers
# die holding its queues' locks instead, which Pool.terminate() takes without a time limit.


def manager_queues(thread: threading.Thread) -> tuple[Any, Any, dict[Any, BaseProcess]]:
    """What a ``ProcessPoolExecutor``'s management thread holds: its call queue, result queue and
    worker processes by pid (``call_queue``, ``result_queue``, ``processes``, 3.9+), or
    None, None, {} where the thread has none of them."""
    processes = getattr(thread, "processes", None)
    return (getattr(thread, "call_queue", None), getattr(thread, "result_queue", None),
            processes if isinstance(processes, dict) else {})


def start_executor_exit() -> list[threading.Thread]:
    """Do what ``concurrent.futures``' exit hook does before it joins (``_python_exit``): mark
    the interpreter as shutting down for every ``ProcessPoolExecutor`` (``_global_shutdown``)
    and wake each management thread (``_threads_wakeups``, 3.9+). Returns those still alive,
    for the caller to join; the stdlib's hook, run afterwards, then finds them done.
    """
    from concurrent.futures import process

    wakeups = getattr(process, "_threads_wakeups", None)
    if wakeups is None or not hasattr(process, "_global_shutdown"):
        return []
    items = list(wakeups.items())
    process._global_shutdown = True
    for _, wakeup in items:
        try:
            wakeup.wakeup()
        except (OSError, ValueError, AttributeError):  # closed by its manager meanwhile
            pass
    return [thread for thread, _ in items if isinstance(thread, threading.Thread) and thread.is_alive()]


def forget_parent_executors_in_child() -> None:
    """After a fork: drop the parent's ``ProcessPoolExecutor`` management threads
    (``_threads_wakeups``) from the child's copy of ``concurrent.futures.process``.

    Those threads do not exist in the child, and their wakeup locks (3.12+) are copies: one that
    another thread of the parent held at the fork (waking its executor, for an instant) stays
    locked forever. A forked worker ends through ``threading._shutdown()`` (3.12+), which runs
    ``concurrent.futures``' exit hook, which wakes every registered thread: that worker hangs at
    its exit, and the pool that waits for it with it. Pools opened from several threads at once
    make it likely (free-threaded CPython). CPython clears the thread pools' twin of this registry
    at fork (gh-88110), not this one.
    """
    process = sys.modules.get("concurrent.futures.process")
    wakeups = getattr(process, "_threads_wakeups", None)
    if isinstance(wakeups, (dict, weakref.WeakKeyDictionary)):
        wakeups.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=forget_parent_executors_in_child)


def release_after_dead_workers(manager: threading.Thread) -> None:
    """End the waits of the ``ProcessPoolExecutor`` that ``manager`` manages, whose worker
    processes are all dead.

    Call it only then: it drops this process's write end of the result pipe (the management
    thread reads what was complete, then an end of file, and declares the pool broken), and
    lets the call queue's feeder thread finish without a reader. The feeder may be inside a
    write that nobody will read: a private thread reads that pipe to its end (a duplicate of its
    read end keeps the write from failing, which would print a ``BrokenPipeError`` traceback
    from the feeder), and nobody waits for the feeder at exit (``cancel_join_thread``, public).
    Safe to call more than once.
    """
    call_queue, result_queue, _ = manager_queues(manager)
    skip_settled_futures_when_broken(manager)
    if call_queue is not None:
        call_queue.cancel_join_thread()
        feeder = getattr(call_queue, "_thread", None)
        reader = getattr(call_queue, "_reader", None)
        if os.name == "posix" and isinstance(feeder, threading.Thread) and feeder.is_alive() \
                and reader is not None and call_queue not in _drained:
            try:
                fd = os.dup(reader.fileno())
            except (OSError, ValueError):  # closed already: the feeder's write fails on its own
                fd = -1
            if fd >= 0:
                _drained.add(call_queue)
                try:
                    threading.Thread(target=_drain, args=(fd, feeder), name="gilfree-drain-calls",
                                     daemon=True).start()
                except RuntimeError:  # at exit (3.12 starts no thread then): the duplicate stays
                    pass  # open, so the feeder's write waits, silently, until the process ends
    writer = getattr(result_queue, "_writer", None)
    if writer is not None and manager.is_alive():  # once it ended, the stdlib closes the queue
        _end_of_file_for_readers(writer)


def skip_settled_futures_when_broken(manager: threading.Thread) -> None:
    """Before Python 3.12, have the management thread ``manager`` of a ``ProcessPoolExecutor``
    leave alone the futures already settled when it finds its pool broken.

    Its ``terminate_broken`` sets ``BrokenProcessPool`` on every future it still lists, and one
    that the caller cancelled meanwhile (a run interrupted while a worker died) raises
    ``InvalidStateError`` there: the thread dies printing a traceback, its clean-up undone
    (3.12 ignores that error). Here ``terminate_broken`` first drops the settled futures, in
    the manager's own thread, so that nobody else touches its list, and sweeps again if a future
    is cancelled while it runs. Safe to call more than once.
    """
    if sys.version_info >= (3, 12):
        return
    original = getattr(manager, "terminate_broken", None)
    if not callable(original) or getattr(original, "_gilfree_skips_settled", False):
        return

    def terminate_broken(*args: Any, **kwargs: Any) -> Any:
        from concurrent.futures import InvalidStateError

        pending = getattr(manager, "pending_work_items", None)
        while True:
            if isinstance(pending, dict):  # this runs in the manager thread: nobody else iterates it
                for work_id in [k for k, item in list(pending.items()) if item.future.done()]:
                    pending.pop(work_id, None)
            try:
                return original(*args, **kwargs)
            except InvalidStateError:
                # The caller cancelled a future between the sweep and its turn: sweep again (the
                # futures settled so far go too, so every round makes progress). What comes
                # before the loop in ``terminate_broken`` (marking the executor broken) can run
                # twice.
                if not isinstance(pending, dict):
                    raise

    terminate_broken._gilfree_skips_settled = True  # type: ignore[attr-defined]
    manager.terminate_broken = terminate_broken  # type: ignore[attr-defined]


def _end_of_file_for_readers(writer: Any) -> None:
    """Drop this process's write end of a pipe, so that its reader sees the end of file once the
    other writers (the dead workers) are gone.

    Not ``writer.close()``: the stdlib closes that same connection after the manager ends, from
    another thread, and two closes of one descriptor race (the second may close a file that
    reused the number). On POSIX the descriptor is pointed at /dev/null instead (``dup2`` drops
    the pipe atomically); it stays valid until the stdlib closes it.
    """
    if os.name != "posix":  # pragma: no cover - Windows pipes are handles, closed the plain way
        writer.close()
        return
    try:
        fd = writer.fileno()
    except (OSError, ValueError):  # closed already
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd, inheritable=False)
    finally:
        os.close(devnull)


#: Call queues already given a drain thread.
_drained: "weakref.WeakSet[Any]" = weakref.WeakSet()


def _drain(fd: int, feeder: threading.Thread) -> None:
    """Read and drop what arrives on ``fd`` while the feeder thread lives, then close it.

    Not "until the end of file": a child forked later from this process may hold a copy of the
    write end, so the end of file might never come; the feeder's end is what matters.
    """
    readable = select.poll()
    readable.register(fd, select.POLLIN)
    try:
        while True:
            alive = feeder.is_alive()
            while readable.poll(100 if alive else 0):
                if not os.read(fd, 1 << 16):
                    return
            if not alive:
                return
    except (OSError, ValueError):
        pass
    finally:
        os.close(fd)


def release_queue_locks_of_dead_workers(pool: Any) -> None:
    """Free what a ``multiprocessing.Pool``'s ``terminate()`` waits for when every worker is dead:
    the locks of its queues that a worker took and died with (``Pool._inqueue._rlock``,
    ``Pool._outqueue._wlock``), and the stop sentinel of its task thread, which its worker
    thread sends and never did if it died (``Pool._worker_handler``, ``Pool._taskqueue``).
    Call it only once every worker is dead.

    An idle worker waits for its next task holding the task queue's read lock, and a worker
    holds the result queue's write lock while it sends a result. Killed there (a SIGTERM to the
    whole process group), it never gives them back, and ``Pool.terminate()`` takes both without
    a time limit (the first before it stops anything, the second to send its sentinel): it
    waits for ever. With every worker dead, only this process's own threads can hold them, and
    for moments (``terminate()`` keeps the read lock, but has no use for it once it has it): a
    lock that cannot be had within a short wait is held by the dead, and is released.
    """
    for queue, name in (("_inqueue", "_rlock"), ("_outqueue", "_wlock")):
        lock = getattr(getattr(pool, queue, None), name, None)
        if lock is None:
            continue
        try:
            lock.acquire(True, _HELD_BY_THE_DEAD_AFTER_S)  # had: free, or freed by a live holder
            lock.release()  # either way, free now
        except (ValueError, OSError):  # released meanwhile (too many times), or closed
            pass
    # Under forkserver a group SIGTERM kills the fork server too: the worker thread, starting a
    # replacement, dies of ConnectionRefusedError before it sends the task thread its sentinel,
    # and terminate() joins the task thread for ever.
    handler, tasks = getattr(pool, "_worker_handler", None), getattr(pool, "_taskqueue", None)
    if isinstance(handler, threading.Thread) and not handler.is_alive() and tasks is not None \
            and pool not in _sent_stop:
        _sent_stop.add(pool)
        tasks.put(None)


#: Pools whose task thread was sent its stop sentinel here.
_sent_stop: "weakref.WeakSet[Any]" = weakref.WeakSet()

#: How long this process's own threads can hold a pool queue's lock at most, when no worker lives.
_HELD_BY_THE_DEAD_AFTER_S = 0.2


def register_before_executor_exit(hook: Callable[[], None]) -> None:
    """Run ``hook`` at interpreter exit just before ``concurrent.futures``' own exit hook.

    ``threading._register_atexit`` (3.9+) runs its callbacks, last registered first, before the
    interpreter joins its non-daemon threads: registered after ``concurrent.futures.process`` was
    imported (which registers ``_python_exit`` at import), ``hook`` runs before it. Where that
    function is missing, ``atexit`` is the fallback (it runs later: after the thread joins).
    """
    import concurrent.futures.process  # noqa: F401  (its hook first, so that ours runs before it)

    register_exit_hook(hook)
