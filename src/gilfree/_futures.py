"""Small helpers that gilfree's own executors share: settling a future once, a dead process's code,
a task's outcome sent back from a worker as bytes (so that the parent, not a pool's thread, unpickles it).
"""

from __future__ import annotations

import pickle
import signal
import time
import traceback
from concurrent.futures import Future, InvalidStateError
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from . import _lifeline
from .errors import RemoteTraceback

__all__ = ["add_note", "dead_workers", "decode_outcome", "exitcode", "run_pickled", "settle",
           "worker_ignores_sigint"]


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


def add_note(error: BaseException, note: str) -> None:
    """``error.add_note(note)`` (Python 3.11+); on 3.10 the note is kept in ``__notes__`` unshown."""
    if hasattr(error, "add_note"):
        error.add_note(note)
    else:  # pragma: no cover - Python 3.10
        notes = getattr(error, "__notes__", None)
        if not isinstance(notes, list):
            notes = []
        notes.append(note)
        try:
            error.__notes__ = notes
        except AttributeError:
            pass


def run_pickled(payload: bytes) -> bytes:
    """In a worker: run the pickled ``(fn, args, kwargs)`` and return the pickled outcome.

    The outcome is ``(True, result, None)`` or ``(False, exception, traceback text)``. Every
    exception is the task's, ``SystemExit`` included (a pool's own worker loop would die of it
    and lose the task). A result or exception that cannot be pickled sends back the pickling
    error itself, its own type kept (``PicklingError``, ``AttributeError`` for a local object,
    ``SystemExit`` from a ``__reduce__`` that exits...), with a note saying what could not be
    sent. The function, arguments and result are let go before the bytes are returned, so a
    worker keeps nothing of a finished task alive.
    """
    try:
        fn, args, kwargs = pickle.loads(payload)
        outcome: tuple[bool, Any, str | None] = (True, fn(*args, **kwargs), None)
    except BaseException as exc:
        outcome = (False, exc, traceback.format_exc())
    fn = args = kwargs = None
    try:
        return pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:
        what = "result" if outcome[0] else f"exception {type(outcome[1]).__name__}"
        trace = outcome[2] or traceback.format_exc()
        del outcome
        return _unsendable(exc, f"gilfree: the task ran, but its {what} could not be pickled to send it "
                                "back to the parent process", trace)


def _unsendable(error: BaseException, note: str, trace: str) -> bytes:
    """The pickled outcome for an error raised while pickling a task's outcome."""
    add_note(error, note)
    try:
        return pickle.dumps((False, error, trace), protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:
        # The pickling error cannot be pickled either: its type and words travel instead.
        stand_in = pickle.PicklingError(f"{type(error).__name__}: {error}")
        add_note(stand_in, note)
        return pickle.dumps((False, stand_in, trace), protocol=pickle.HIGHEST_PROTOCOL)


def decode_outcome(message: bytes) -> tuple[bool, Any]:
    """In the parent: ``(True, result)`` or ``(False, exception)`` from :func:`run_pickled`'s bytes.

    The worker's traceback becomes the exception's ``__cause__``
    (:class:`~gilfree.errors.RemoteTraceback`). A result that cannot be unpickled here is that
    task's failure, not the pool's: its unpickling error comes back (a ``BaseException`` such
    as ``SystemExit`` raised by a ``__reduce__`` is wrapped in ``pickle.UnpicklingError``, so
    that it cannot end the caller's program), with a note. Never raises.
    """
    try:
        ok, value, trace = pickle.loads(message)
    except BaseException as exc:
        error: BaseException = exc
        if not isinstance(exc, Exception):
            error = pickle.UnpicklingError(f"unpickling the task's result raised {exc!r}")
            error.__cause__ = exc
        add_note(error, "gilfree: the task's result reached the parent process but could not be "
                        "unpickled there; only this task failed, the pool goes on")
        return False, error
    if not ok and trace and isinstance(value, BaseException):
        value.__cause__ = RemoteTraceback(trace)
    return bool(ok), value
