"""The serial strategy: every task runs at once, in the calling thread.

It is the reference every other strategy must match, and the executor to hand a chunked job
when parallelism does not pay (tiny tasks, one core): the same code, no workers.
"""

from __future__ import annotations

from concurrent.futures import Executor, Future
from typing import Any, Callable

__all__ = ["SerialExecutor"]


class SerialExecutor(Executor):
    """Runs each task immediately in the calling thread: the reference every strategy must match."""

    def __init__(self) -> None:
        self._shutdown = False

    @property
    def workers(self) -> int:
        """Always one: the calling thread."""
        return 1

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if self._shutdown:
            raise RuntimeError("cannot submit to a SerialExecutor after shutdown")
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # the Future carries it, as a pool's would
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shutdown = True
