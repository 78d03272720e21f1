"""Errors that say what happened to a worker, and why it most likely happened.

A worker process that dies leaves an exit status and nothing else. ``multiprocessing.Pool``
waits for its result forever; ``ProcessPoolExecutor`` raises ``BrokenProcessPool`` with the
same sentence whatever the cause. gilfree turns the exit status into a cause a reader can act
on: :class:`WorkerDied` names the signal or the exit code and what usually sends it.
:func:`describe_exit` is the translation on its own.

``WorkerDied`` is a ``BrokenProcessPool``, so code written for ``ProcessPoolExecutor`` keeps
catching it.
"""

from __future__ import annotations

import signal
from concurrent.futures import BrokenExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable

from ._checks import as_index

__all__ = ["PoolStopped", "RemoteTraceback", "TaskTimeout", "WorkerDied", "describe_exit",
           "oom_kill_count"]

# What usually sends each signal to a worker, in a few words the reader can act on.
_SIGNAL_CAUSES = {
    "SIGKILL": "the kernel's out-of-memory killer sends it when memory runs out (check `dmesg` "
               "or the container's memory limit), and so does `kill -9`",
    "SIGTERM": "a request to stop, from a job scheduler, a container stop or `kill`",
    "SIGINT": "Ctrl-C reached the worker",
    "SIGSEGV": "a segmentation fault: a bug in compiled code, or a buffer used after its memory "
               "was released",
    "SIGBUS": "a bus error: a memory-mapped file or shared-memory segment that shrank, or "
              "/dev/shm ran out of space",
    "SIGABRT": "an abort: a failed assertion or a sanitizer report in compiled code",
    "SIGFPE": "an arithmetic fault in compiled code (an integer division by zero, say)",
    "SIGILL": "an illegal instruction: compiled code built for a newer CPU than this one",
    "SIGPIPE": "a write to a pipe that nobody reads any more",
}


def oom_kill_count() -> int | None:
    """The out-of-memory kills counted for this process's memory cgroup (Linux), or None.

    Compared before and after a worker's death it tells an out-of-memory kill from a plain
    ``kill -9``. None where the counter cannot be read (another OS, no permission).
    """
    try:
        entries = [line.split(":", 2) for line in Path("/proc/self/cgroup").read_text().splitlines()]
    except OSError:
        return None
    candidates = []
    for _, controllers, path in (e for e in entries if len(e) == 3):
        rel = path.lstrip("/")
        if controllers == "":  # cgroup v2: one unified hierarchy
            candidates.append(Path("/sys/fs/cgroup", rel, "memory.events"))
        elif "memory" in controllers.split(","):  # cgroup v1: the memory controller's own tree
            candidates.append(Path("/sys/fs/cgroup/memory", rel, "memory.oom_control"))
    for candidate in candidates:
        try:
            text = candidate.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
    return None


def describe_exit(exitcode: int | None, *, oom_kills_before: int | None = None) -> str:
    """A plain-words cause for a worker process that ended with ``exitcode``.

    ``exitcode`` follows ``multiprocessing.Process.exitcode``: negative for a signal, the exit
    status otherwise. ``oom_kills_before`` (from :func:`oom_kill_count`) lets a SIGKILL be
    confirmed as the out-of-memory killer's.
    """
    if oom_kills_before is not None:
        oom_kills_before = as_index(oom_kills_before, "oom_kills_before")
    if exitcode is None:
        return "vanished without an exit status"
    exitcode = as_index(exitcode, "exitcode")
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            return f"killed by signal {-exitcode}"
        cause = _SIGNAL_CAUSES.get(name, "see `man 7 signal`")
        if name == "SIGKILL" and oom_kills_before is not None:
            after = oom_kill_count()
            if after is not None and after > oom_kills_before:
                cause = "the kernel's out-of-memory killer (this cgroup counted a new OOM kill)"
        return f"killed by {name} (signal {-exitcode}): {cause}"
    if exitcode == 0:
        return "exited with status 0 in the middle of a task (sys.exit() or os._exit(0) in the task?)"
    return (f"exited with status {exitcode}: the task (or code it called) ended the process, "
            "with os._exit() or a fatal error")


class WorkerDied(BrokenProcessPool):
    """A worker process ended while it ran a task (or before the pool could use it).

    ``pid`` and ``exitcode`` are the worker's; ``cause`` is :func:`describe_exit`'s sentence;
    ``task`` names the task it was running, when known. Results of tasks that completed before
    are unaffected: their futures still hold them.
    """

    def __init__(self, message: str, *, pid: int | None = None, exitcode: int | None = None,
                 cause: str = "", task: str | None = None) -> None:
        super().__init__(message)
        self.pid = pid
        self.exitcode = exitcode
        self.cause = cause
        self.task = task

    @classmethod
    def of(cls, pid: int | None, exitcode: int | None, task: str | None = None, *,
           oom_kills_before: int | None = None, context: str = "") -> "WorkerDied":
        cause = describe_exit(exitcode, oom_kills_before=oom_kills_before)
        where = f" while running {task}" if task else ""
        message = f"worker process {pid}{where} {cause}"
        if context:
            message += f". {context}"
        return cls(message, pid=pid, exitcode=exitcode, cause=cause, task=task)

    def __reduce__(self) -> tuple[Callable[..., WorkerDied], tuple[Any, ...]]:
        # keep the fields across pickling (a result sent between processes)
        return (_rebuild_worker_died,
                (self.args, self.pid, self.exitcode, self.cause, self.task))


def _rebuild_worker_died(args: tuple[Any, ...], pid: int | None, exitcode: int | None, cause: str,
                        task: str | None) -> WorkerDied:
    return WorkerDied(*args, pid=pid, exitcode=exitcode, cause=cause, task=task)


class TaskTimeout(TimeoutError):
    """A task ran longer than the pool's ``task_timeout``; its worker was stopped and replaced."""


class PoolStopped(BrokenExecutor):
    """The pool was stopped (an error elsewhere, Ctrl-C) while this task was running."""


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker process, as text.

    It becomes the ``__cause__`` of the exception re-raised in the caller, so the report shows
    where in the worker the error happened.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'
