"""POSIX-only facilities, looked up when a test runs, never when the suite is collected.

Windows has no ``signal.SIGKILL``, ``os.fork``, ``os.killpg``, no ``fork`` or ``forkserver``
start method. A test module that names one at import time (a default argument, a
parametrization) stops the whole suite's collection there; these helpers let such a test be
collected everywhere and skip, saying what it lacks, where the platform has no such facility.
``tests/_posixless.py`` collects the suite with those names removed, to keep it so.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from typing import Any

import pytest

__all__ = ["ctx", "killed_by_signals", "methods", "needs", "needs_fork", "needs_start_method", "signal_param",
           "signum"]


def _lacks(what: str) -> str:
    return f"needs {what}, which this platform ({sys.platform}) lacks"


def methods(*wanted: str) -> list[str]:
    """The start methods of ``wanted`` that this platform has, in that order."""
    available = multiprocessing.get_all_start_methods()
    return [m for m in wanted if m in available]


def ctx(method: str) -> Any:
    """``multiprocessing.get_context(method)``; the test skips where there is no such method."""
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(_lacks(f"the {method!r} start method"))
    return multiprocessing.get_context(method)


def needs_start_method(method: str) -> pytest.MarkDecorator:
    """Skip the test where the platform has no ``method`` start method."""
    return pytest.mark.skipif(method not in multiprocessing.get_all_start_methods(),
                              reason=_lacks(f"the {method!r} start method"))


def needs(module: Any, *names: str) -> pytest.MarkDecorator:
    """Skip the test where ``module`` (``os``, ``signal``) lacks one of ``names``."""
    missing = [name for name in names if not hasattr(module, name)]
    return pytest.mark.skipif(bool(missing), reason=_lacks(
        ", ".join(f"{module.__name__}.{name}" for name in missing) or "nothing"))


def signum(name: str) -> int:
    """``signal.<name>``'s number; the test skips where the platform has no such signal."""
    number = getattr(signal, name, None)
    if number is None:
        pytest.skip(_lacks(f"signal.{name}"))
    return int(number)


def signal_param(name: str, *values: Any, negate: bool = False) -> Any:
    """``pytest.param(number, *values)`` for the signal ``name`` (``-number`` with ``negate``, an
    exit code), skipped where the platform has no such signal. Where it has one, the test id is
    what ``(signal.<name>, *values)`` gave."""
    number = getattr(signal, name, None)
    if number is None:
        return pytest.param(name, *values, marks=pytest.mark.skip(reason=_lacks(f"signal.{name}")))
    return pytest.param(-number if negate else number, *values)


#: ``os.fork``, for the tests that fork by hand (not through multiprocessing).
needs_fork = needs(os, "fork")

#: For tests that kill a process with a signal and read it back from a negative exit code: on
#: Windows ``os.kill`` terminates the process with the signal's number as its exit status.
killed_by_signals = pytest.mark.skipif(os.name != "posix", reason=_lacks(
    "a process killed by a signal, told by a negative exit code (POSIX)"))
