"""Functions the advisor's tests run in worker processes: defined at module level, so they pickle."""

from __future__ import annotations

import threading
from typing import Any


def array_sum(a: Any) -> float:
    """One cheap pass over an array: pickling the array costs far more than the work."""
    return float(a.sum())


def returns_lock(n: int) -> Any:
    """A result that does not pickle."""
    return threading.Lock()


def fails(n: int) -> int:
    raise ZeroDivisionError(f"no work for {n}")


def takes_anything(x: Any) -> int:
    return 1


def which_thread(n: int) -> int:
    """A result that depends on where the call ran: serial and threads disagree."""
    return threading.get_ident()


def note_pid_then_wait(folder: str) -> int:
    """Leave this process's id in ``folder`` (the test's handshake), then wait a little, as I/O would."""
    import os
    import time

    path = os.path.join(folder, str(os.getpid()))
    if not os.path.exists(path):
        with open(path, "w", encoding="ascii"):
            pass
    time.sleep(0.05)
    return 0


def inputs_fail() -> Any:
    """An ``--inputs`` function that fails as it reads its data."""
    raise OSError("disk gone")


class FailsLater:
    """Works on its first call (the untimed one), fails on the timed ones that follow."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, n: int) -> int:
        self.calls += 1
        if self.calls > 1:
            raise ZeroDivisionError(f"late for {n}")
        return n


class Sleeper:
    """Returns at once until ``slow`` is set, then sleeps ``seconds`` a call: a function that
    turns slower than the advisor's probe saw."""

    def __init__(self, slow: threading.Event, seconds: float) -> None:
        self.slow, self.seconds = slow, seconds

    def __call__(self, n: int) -> int:
        if self.slow.is_set():
            import time

            time.sleep(self.seconds)
        return n
