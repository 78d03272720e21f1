"""Workers that die with their parent: the kernel's death signal, and a "lifeline" pipe everywhere.

A worker process outlives a parent killed with SIGKILL (the out-of-memory killer, ``kill -9``):
nothing tells it, and an orphan holds the resource tracker's pipe, so the parent's shared
memory stays in /dev/shm as long as it lives. Two mechanisms end such a worker; it has both
wherever it can.

**The lifeline** (every POSIX platform, every start method). Every process that starts
gilfree workers creates, once and lazily, a pipe whose write end only that process keeps
open. Each worker gets the read end (inherited under ``fork``; sent with the process object
under ``spawn`` and ``forkserver``, as multiprocessing sends any
:class:`~multiprocessing.connection.Connection`) and, before any user code, starts a daemon
thread that blocks reading it. The parent never writes: the read returns end of file only when
every copy of the write end is closed, that is when the parent process is gone, however it
ended. The worker then leaves at once with :data:`EXIT_PARENT_GONE`.

**The kernel's death signal** (Linux). The lifeline thread needs the GIL to act on the end of
file, and a worker busy in a long C call that holds the GIL (a compiled extension's loop, a
``sum`` over a huge ``range``) never lets it run: it would live, orphaned, until that call
returns. So a Linux worker also asks the kernel, through ``prctl(PR_SET_PDEATHSIG, SIGKILL)``,
to kill it when its parent dies; the kernel needs no GIL. The trap: the kernel sends that
signal when the *thread* that created the child exits, not only the process. A worker started
by a caller's short-lived thread, or by a dispatcher thread replacing a dead worker, would be
killed with that thread. So the signal is asked for only where the creating thread lasts as
long as the process:

* under ``fork`` and ``spawn`` the parent is the gilfree process, and the signal is set only if
  the worker was started by its main thread (recorded at the fork by a before-fork hook, or at
  the pickling of the process object, which happens in the starting thread);
* under ``forkserver`` the parent is the fork server, single-threaded, which leaves when its
  "alive" pipe reaches end of file: the signal is always set, once the worker has checked that
  its parent is that fork server (a child of the gilfree process). Every child of the fork
  server inherits a copy of that pipe's write end, so a worker stuck in a C call would keep
  the server alive, and so itself: the worker closes its copy first (it never uses it).

Anything else (a worker started by another thread, an unexpected parent, another platform)
keeps the lifeline alone: such a worker, stuck in a C call that holds the GIL when its parent
dies, leaves only when that call returns. The parent may die between the fork and the ``prctl`` call, and the
kernel then sends nothing: right after the call the worker checks that its parent is still the
one it had, and leaves with :data:`EXIT_PARENT_GONE` if not.

The write end never leaks into other processes: ``os.pipe()`` descriptors are not inherited
across ``exec`` (subprocesses, the fork server, the resource tracker), and every ``fork`` of
the owning process (gilfree's own ``fork`` workers, and anyone else's) closes its copy in the
child at once, through :func:`os.register_at_fork`, before any other code runs there.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any, Callable, Iterable

__all__ = ["EXIT_PARENT_GONE", "Lifeline", "child_end", "death_signal", "watch", "worker_init"]

#: A worker's exit status when it left because its parent process was gone.
EXIT_PARENT_GONE = 75

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_PR_GET_PDEATHSIG = 2


class Lifeline:
    """What a worker gets from the process that starts it: the pipe's read end, and who made it.

    ``creator_pid`` and ``from_main_thread`` are filled in as the object is pickled for a
    ``spawn`` or ``forkserver`` worker (the pickling happens in the thread that starts the
    worker); a ``fork`` worker, which gets the parent's object as it is, reads the same facts
    from the before-fork hook instead.
    """

    __slots__ = ("end", "creator_pid", "from_main_thread")

    def __init__(self, end: Connection, creator_pid: int | None = None, from_main_thread: bool = False) -> None:
        self.end = end
        self.creator_pid = creator_pid
        self.from_main_thread = from_main_thread

    def __reduce__(self) -> tuple[Any, ...]:
        return (Lifeline, (self.end, os.getpid(), _on_main_thread()))

    def fileno(self) -> int:
        return self.end.fileno()

    def origin(self) -> tuple[int, bool] | None:
        """(pid of the process that started this worker, whether its main thread did), if known."""
        if self.creator_pid is not None:
            return self.creator_pid, self.from_main_thread
        return _fork_origin


_lock = threading.Lock()
_end: Lifeline | None = None  # the end handed to workers; this process keeps one too
_write_fd = -1  # the end only this process holds: its closing is the signal
_watching: set[int] = set()  # lifeline descriptors a thread of this process is reading
_forking: dict[int, tuple[int, bool]] = {}  # thread ident -> (pid, main thread?) while it forks
_fork_origin: tuple[int, bool] | None = None  # in a forked child: who forked it, from which thread


def child_end() -> Lifeline:
    """This process's lifeline, created on first use: pass it to each new worker."""
    global _end, _write_fd
    with _lock:
        if _end is None:
            r, w = os.pipe()  # both not inheritable across exec
            _end, _write_fd = Lifeline(Connection(r, writable=False)), w
        return _end


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _before_fork() -> None:
    """In the forking thread, just before the fork: the child learns from this who made it."""
    _forking[threading.get_ident()] = (os.getpid(), _on_main_thread())


def _after_fork_in_parent() -> None:
    _forking.pop(threading.get_ident(), None)


def _forget_in_child() -> None:
    """After any fork: the child must not hold its parent's write end, or nobody sees the EOF."""
    global _end, _write_fd, _lock, _watching, _forking, _fork_origin
    _lock = threading.Lock()  # another thread may have held it at the fork
    _watching = set()  # threads do not survive a fork
    _fork_origin = _forking.get(threading.get_ident())  # the one thread left is the forking one
    _forking = {}
    if _write_fd >= 0:
        try:
            os.close(_write_fd)
        except OSError:
            pass
    _write_fd = -1
    # The read end stays open (a fork worker got this very object as its lifeline) but is no
    # longer this process's own: a pool started in the child makes a lifeline of its own.
    _end = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_forget_in_child)


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


# -- the kernel's death signal (Linux) ---------------------------------------------------------

def _prctl(option: int, arg: Any) -> int:
    """``prctl(option, arg, 0, 0, 0)`` through ctypes; -1 where there is no such call."""
    if not sys.platform.startswith("linux"):
        return -1
    try:
        import ctypes

        call = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):  # no ctypes, or a libc without prctl
        return -1
    call.restype = ctypes.c_int
    return int(call(ctypes.c_int(option), arg, ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)))


def death_signal() -> int | None:
    """The signal the kernel sends this process when its parent dies: 0 for none, None if unknown."""
    try:
        import ctypes
    except ImportError:  # pragma: no cover - ctypes is part of every CPython build we support
        return None
    value = ctypes.c_int(0)
    if _prctl(_PR_GET_PDEATHSIG, ctypes.byref(value)) != 0:
        return None
    return value.value


def _parent_of(pid: int) -> int | None:
    """The parent of process ``pid`` (Linux /proc), None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return int(stat.rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _ask_the_kernel(origin: tuple[int, bool] | None) -> bool:
    """Set SIGKILL as this worker's parent-death signal where that is safe; True if set.

    Leaves with :data:`EXIT_PARENT_GONE` at once if the parent died before the request.
    """
    if origin is None or not sys.platform.startswith("linux"):
        return False
    creator, from_main_thread = origin
    parent = os.getppid()
    if parent == creator:  # fork, spawn: the kernel's "parent" is the thread that started us
        if not from_main_thread:
            return False  # that thread may end long before its process: the lifeline alone
    elif _parent_of(parent) != creator:
        # Not the creator's fork server (single-threaded, it leaves when the creator dies), or
        # the creator is already gone: the lifeline alone, which then ends this worker.
        return False
    else:
        # The fork server leaves when every copy of its "alive" pipe is closed, and it gave us
        # one: held by a worker stuck in a C call, it would keep the server, and through this
        # very signal the worker, alive after the creator's death.
        from ._compat import close_fork_server_keepalive

        close_fork_server_keepalive()
    import ctypes

    if _prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL)) != 0:
        return False
    if os.getppid() != parent:  # the parent died before the kernel was asked: no signal comes
        os._exit(EXIT_PARENT_GONE)
    return True


def watch(lifeline: Lifeline | Connection | None) -> None:
    """In a worker, first thing: exit the moment the process that started it is gone.

    The lifeline thread always; on Linux the kernel's death signal too where it is safe (see
    the module's docstring). ``None`` (a worker started without a lifeline) does nothing; a
    bare :class:`~multiprocessing.connection.Connection` gets the thread only. Safe to call
    more than once.
    """
    if lifeline is None:
        return
    if isinstance(lifeline, Lifeline):
        _ask_the_kernel(lifeline.origin())
    fd = lifeline.fileno()
    with _lock:
        if fd in _watching:
            return
        _watching.add(fd)
    threading.Thread(target=_wait_for_eof, args=(fd,), name="gilfree-lifeline", daemon=True).start()


def worker_init(lifeline: Lifeline | Connection | None, initializer: Callable[..., Any] | None = None,
                initargs: Iterable[Any] = ()) -> None:
    """A worker initializer: :func:`watch` the lifeline, then run ``initializer(*initargs)``."""
    watch(lifeline)
    if initializer is not None:
        initializer(*initargs)
