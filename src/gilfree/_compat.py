"""Every read of the standard library's private state, in one place.

gilfree's executors need three facts that the standard pools do not publish:

* the worker processes of a ``multiprocessing.Pool`` (``Pool._pool``), for the watchdog that
  turns a dead worker into an error instead of a hang;
* the worker processes of a ``concurrent.futures.ProcessPoolExecutor`` (``_processes``), to name
  the worker that broke the pool and to stop busy workers after an aborted run;
* the executor's management thread (``_executor_manager_thread``), to wait for it after an abort;
* the file descriptor behind a ``multiprocessing.shared_memory.SharedMemory`` (``_fd``, POSIX),
  to tell whether a kept mapping is still the segment its name opens;
* the worker count a standard pool settled on (``_max_workers``);
* the threading module's exit hook (``threading._register_atexit``), where ``concurrent.futures``
  waits for its executors at interpreter exit, for :class:`gilfree.pool.FailSafePool` to do the same.

Each is read through one function here that degrades to "nothing known" (an empty list, None)
if a future Python renames the attribute, so gilfree then loses a detail in its messages but
never crashes. :data:`CHECKED_ON` lists the Python versions on which these names were checked;
``tests/test_compat.py`` pins them, so a new version fails loudly there first.
"""

from __future__ import annotations

import atexit
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.process import BaseProcess
from typing import Any, Callable

__all__ = ["CHECKED_ON", "executor_manager_thread", "executor_processes", "executor_workers", "max_workers",
           "pool_processes", "shared_memory_fd"]

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
