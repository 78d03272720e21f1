"""Tiny task functions for the pool tests, importable by worker processes of every start method."""

from __future__ import annotations

import os
import signal
import sys
import time


def square(x: int) -> int:
    return x * x


def add(a: int, b: int, *, c: int = 0) -> int:
    return a + b + c


def fail(message: str) -> None:
    raise ValueError(message)


def exit_task(code: int) -> None:
    sys.exit(code)


def die(sig: int | None = None) -> None:
    """Die of ``sig``; by default of SIGKILL (Windows has none: os.kill's SIGTERM is as abrupt
    there, a TerminateProcess), looked up here so that importing this module works everywhere."""
    import faulthandler

    if sig is None:
        sig = getattr(signal, "SIGKILL", signal.SIGTERM)

    faulthandler.disable()  # a forked worker inherits pytest's: keep its crash report quiet
    os.kill(os.getpid(), sig)
    time.sleep(10)  # a signal that does not kill at once must not look like a result


def hard_exit(code: int) -> None:
    os._exit(code)


def sleep_then(seconds: float, value: object = None) -> object:
    time.sleep(seconds)
    return value


def pid() -> int:
    return os.getpid()


def unpicklable_result() -> object:
    return lambda: None


class Unpicklable(Exception):
    """An exception whose instances cannot be pickled (a lock among its arguments)."""

    def __init__(self) -> None:
        import threading

        super().__init__(threading.Lock())


def raise_unpicklable() -> None:
    raise Unpicklable()


def _refuse_to_load(what: str) -> None:
    import pickle

    raise pickle.UnpicklingError(f"{what} refuses to be unpickled")


class LoadsNowhere:
    """Pickles fine; unpickling it raises UnpicklingError (in the worker, or back in the parent)."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return _refuse_to_load, ("LoadsNowhere",)


def loads_nowhere() -> LoadsNowhere:
    return LoadsNowhere()


class MarksItsEnd:
    """Creates the file ``path`` when a copy of it in another process (a worker) is collected."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.maker = os.getpid()  # unpickling keeps it: only a copy in another process marks

    def __del__(self) -> None:
        if os.getpid() != self.maker:
            with open(self.path, "w"):
                pass


def ignore(_obj: object) -> None:
    return None


def say_later(seconds: float, text: str) -> None:
    time.sleep(seconds)
    print(text, flush=True)
