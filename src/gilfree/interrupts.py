"""SIGTERM as an exception, so that a terminated run cleans up like an interrupted one.

Ctrl-C raises ``KeyboardInterrupt`` in the main thread, and every ``with`` block on the way out
stops its pool and releases its shared memory. SIGTERM (what ``kill``, a job scheduler or a
container stop sends) kills the process by default without running any of that: shared-memory
segments stay in /dev/shm and worker processes are orphaned. Inside :func:`sigterm_raises`,
SIGTERM raises :class:`Terminated` instead, which unwinds the same way and ends the program
with the conventional status 143 (128 + 15) if nobody catches it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Any, Iterator

__all__ = ["Terminated", "sigterm_raises"]


class Terminated(SystemExit):
    """Raised in the main thread when SIGTERM arrives inside :func:`sigterm_raises`.

    A ``SystemExit`` (not an ``Exception``), so ``except Exception`` blocks let it pass, as
    they let ``KeyboardInterrupt`` pass; its exit status is 143.
    """

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


#: The forking thread's signal mask before :func:`_block_across_fork` blocked SIGTERM (per
#: thread: two threads may fork at once); None when it blocked nothing.
_mask_before_fork = threading.local()


def _block_across_fork() -> None:
    """Before a fork under the handler: block SIGTERM in the forking thread until both sides
    have settled (the child inherits the mask).

    A SIGTERM that reaches the child between ``fork()`` and the reset below would otherwise be
    lost: the interpreter's C handler notes it, and the child's interpreter then forgets every
    signal noted before it has run its after-fork code (so that a signal is not handled twice).
    A ``multiprocessing.Pool`` closed at once after its start (``with Pool() as p: p.map(f, [x])``)
    sends its SIGTERMs in exactly that window, and then waits forever for a worker that never
    got one. Blocked, the signal stays pending and is delivered once the child runs the default
    action; in the parent it is delivered, to the handler, as soon as ``fork()`` has returned.
    """
    _mask_before_fork.mask = None
    if signal.getsignal(signal.SIGTERM) is _raise_terminated and hasattr(signal, "pthread_sigmask"):
        _mask_before_fork.mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})


def _unblock_after_fork() -> None:
    mask = getattr(_mask_before_fork, "mask", None)
    if mask is not None:
        _mask_before_fork.mask = None
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _default_in_forked_child() -> None:
    """A forked child (a pool worker) must not inherit the handler: it runs Python code only
    when the child's main thread gets to run bytecode, so a child stuck in a lock copied in its
    held state by the fork would never die of the SIGTERM a pool sends to stop it. The default
    action first, then the mask of before the fork: a SIGTERM that came in between kills it."""
    if signal.getsignal(signal.SIGTERM) is _raise_terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _unblock_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_block_across_fork, after_in_parent=_unblock_after_fork,
                        after_in_child=_default_in_forked_child)


def _raise_again_if_swallowed(previous: Any) -> Any:
    """An unraisable hook that sends SIGTERM (SIGINT) again when a :class:`Terminated`
    (``KeyboardInterrupt``) was swallowed.

    Python runs a signal handler at the next bytecode of the main thread, which may be inside
    code whose exceptions cannot propagate: an ``os.register_at_fork`` callback in the parent
    right after a fork (logging registers one, so every pool start has one), or a ``__del__``.
    There the exception is reported as "ignored" and the program would go on as if SIGTERM never
    came. The hook sends the signal again instead, a moment later and from another thread (sent
    from here, it would be handled here, inside the hook, and lost once more): the handler then
    runs where the main thread has got to, and so on until the exception can unwind the program.
    """
    def hook(unraisable: Any) -> None:
        # Ctrl-C's KeyboardInterrupt is lost the same way: send SIGINT again for it.
        signum = (signal.SIGTERM if isinstance(unraisable.exc_value, Terminated)
                  else signal.SIGINT if isinstance(unraisable.exc_value, KeyboardInterrupt) else None)
        if signum is None:
            previous(unraisable)
            return
        again = threading.Timer(_RESEND_AFTER_S, os.kill, (os.getpid(), signum))
        again.daemon = True
        again.start()
    return hook


#: How long after a swallowed :class:`Terminated` the signal is sent again: long enough for the
#: main thread to leave the callback that swallowed it, short next to any grace period.
_RESEND_AFTER_S = 0.05


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread.

    Does nothing outside the main thread (only it may set signal handlers) or where the process
    already handles SIGTERM its own way; the previous handler is restored afterwards. A
    :class:`Terminated` or ``KeyboardInterrupt`` raised where Python cannot propagate it (an
    at-fork callback, a ``__del__``) is raised again at the next point that can.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous not in (signal.SIG_DFL, None):
        yield  # someone else already handles SIGTERM: leave theirs in place
        return
    signal.signal(signal.SIGTERM, _raise_terminated)
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _raise_again_if_swallowed(previous_hook)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        sys.unraisablehook = previous_hook
