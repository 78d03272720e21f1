"""Workers that die with their parent: a "lifeline" pipe whose end of file means "exit now".

A worker process outlives a parent killed with SIGKILL (the out-of-memory killer, ``kill -9``):
nothing tells it, and an orphan holds the resource tracker's pipe, so the parent's shared
memory stays in /dev/shm as long as it lives. Here every process that starts gilfree workers
creates, once and lazily, a pipe whose write end only that process keeps open. Each worker
gets the read end (inherited under ``fork``; sent with the process object under ``spawn`` and
``forkserver``, as multiprocessing sends any :class:`~multiprocessing.connection.Connection`)
and, before any user code, starts a daemon thread that blocks reading it. The parent never
writes: the read returns end of file only when every copy of the write end is closed, that
is when the parent process is gone, however it ended. The worker then leaves at once with
:data:`EXIT_PARENT_GONE`.

Why not ``prctl(PR_SET_PDEATHSIG)``: the kernel sends that signal when the *thread* that
created the child exits, not the process (a worker started by a caller's short-lived thread,
or by a dispatcher thread replacing a dead worker, would be killed with that thread), and
under ``forkserver`` the worker's parent is the fork server, not the gilfree process. The
pipe follows the process that matters, on every start method and every POSIX platform.

The write end never leaks into other processes: ``os.pipe()`` descriptors are not inherited
across ``exec`` (subprocesses, the fork server, the resource tracker), and every ``fork`` of
the owning process (gilfree's own ``fork`` workers, and anyone else's) closes its copy in the
child at once, through :func:`os.register_at_fork`, before any other code runs there.
"""

from __future__ import annotations

import os
import threading
from multiprocessing.connection import Connection
from typing import Any, Callable, Iterable

__all__ = ["EXIT_PARENT_GONE", "child_end", "watch", "worker_init"]

#: A worker's exit status when it left because its parent process was gone.
EXIT_PARENT_GONE = 75

_lock = threading.Lock()
_read: Connection | None = None  # the end handed to workers; this process keeps one too
_write_fd = -1  # the end only this process holds: its closing is the signal
_watching: set[int] = set()  # lifeline descriptors a thread of this process is reading


def child_end() -> Connection:
    """This process's lifeline read end, created on first use: pass it to each new worker."""
    global _read, _write_fd
    with _lock:
        if _read is None:
            r, w = os.pipe()  # both not inheritable across exec
            _read, _write_fd = Connection(r, writable=False), w
        return _read


def _forget_in_child() -> None:
    """After any fork: the child must not hold its parent's write end, or nobody sees the EOF."""
    global _read, _write_fd, _lock, _watching
    _lock = threading.Lock()  # another thread may have held it at the fork
    _watching = set()  # threads do not survive a fork
    if _write_fd >= 0:
        try:
            os.close(_write_fd)
        except OSError:
            pass
    _write_fd = -1
    # The read end stays open (a fork worker got this very object as its lifeline) but is no
    # longer this process's own: a pool started in the child makes a lifeline of its own.
    _read = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def _wait_for_eof(fd: int) -> None:
    while True:
        try:
            data = os.read(fd, 1)
        except InterruptedError:  # pragma: no cover - PEP 475 retries, kept for safety
            continue
        except OSError:
            data = b""  # closed under us: treat as the parent's end
        if not data:
            os._exit(EXIT_PARENT_GONE)  # nothing else: no cleanup, no flush, no atexit


def watch(lifeline: Connection | None) -> None:
    """In a worker, first thing: exit the moment the process that started it is gone.

    ``None`` (a worker started without a lifeline) does nothing. Safe to call more than once.
    """
    if lifeline is None:
        return
    fd = lifeline.fileno()
    with _lock:
        if fd in _watching:
            return
        _watching.add(fd)
    threading.Thread(target=_wait_for_eof, args=(fd,), name="gilfree-lifeline", daemon=True).start()



def worker_init(lifeline: Connection | None, initializer: Callable[..., Any] | None = None,
                initargs: Iterable[Any] = ()) -> None:
    """A worker initializer: :func:`watch` the lifeline, then run ``initializer(*initargs)``."""
    watch(lifeline)
    if initializer is not None:
        initializer(*initargs)
