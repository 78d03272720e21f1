"""Small helpers that gilfree's own executors share: settling a future once, a dead process's code."""

from __future__ import annotations

import signal
import time
from concurrent.futures import Future, InvalidStateError
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from . import _lifeline

__all__ = ["dead_workers", "exitcode", "settle", "worker_ignores_sigint"]


def settle(future: Future[Any], value: Any = None, error: BaseException | None = None) -> None:
    """Complete ``future`` unless something else (a watchdog, a cancel) completed it first."""
    try:
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)
    except InvalidStateError:
        pass


def dead_workers(processes: list[BaseProcess]) -> list[tuple[int, int | None]]:
    """(pid, exit code) of the processes that have ended.

    A process's sentinel fires as its files close, a moment before the kernel can report its
    exit status, so the status is waited for (briefly) once the sentinel has fired.
    """
    try:
        ended = set(wait([p.sentinel for p in processes], timeout=0))
    except (OSError, ValueError):
        return []
    return [(p.pid or 0, exitcode(p)) for p in processes if p.sentinel in ended]


def exitcode(process: BaseProcess) -> int | None:
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


def worker_ignores_sigint(lifeline: Connection | None = None) -> None:
    """Worker-process initializer: Ctrl-C is the parent's to handle; leave with the parent.

    A terminal's Ctrl-C reaches every process in the foreground group. Workers that died of it
    on their own would leave the pool's queues half-written and its management thread waiting
    forever; instead the parent catches KeyboardInterrupt once and stops them all in order.
    SIGTERM gets its default action back, in case a forked worker inherited the parent's
    :func:`gilfree.interrupts.sigterm_raises` handler: a pool stops its workers with it.
    With ``lifeline`` (:func:`gilfree._lifeline.child_end` in the parent) the worker exits the
    moment its parent process is gone, however it ended.
    """
    _lifeline.watch(lifeline)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):  # started while the parent deferred them
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
