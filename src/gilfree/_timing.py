"""Timing and environment helpers shared by the demo, the lab steps and the benchmarks.

Rules: warm up once, repeat, report the median and the spread, and interleave the variants being
compared so that a drift of a shared machine hits them all alike.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import sysconfig
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, TypeVar

from ._checks import as_index, check_callable, check_count

K = TypeVar("K")

__all__ = [
    "Timing",
    "descendants",
    "environment",
    "gil_enabled",
    "interleaved",
    "load_average",
    "run_in_threads",
    "tree_cpu_clock",
    "usable_cores",
]


@dataclass(frozen=True)
class Timing:
    """Wall and CPU seconds of repeated runs of one variant."""

    wall: tuple[float, ...]
    cpu: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def spread(self) -> float:
        """(max - min) / median of the wall times: how much the repeats disagreed."""
        return (max(self.wall) - min(self.wall)) / self.median if self.median > 0 else 0.0


def interleaved(variants: dict[K, Callable[[], object]], repeats: int = 5, warmup: int = 1, *,
                before: Callable[[K], object] | None = None,
                after: Callable[[K, object], object] | None = None,
                cpu_clock: Callable[[], float] = time.process_time) -> dict[K, Timing]:
    """Time every variant ``repeats`` times, round-robin, after ``warmup`` untimed rounds.

    ``before(name)`` runs untimed before every call (to reset an array an in-place variant
    changes); ``after(name, result)`` runs untimed after it (to check the result). ``cpu_clock``
    reads CPU seconds: this process by default, or :func:`tree_cpu_clock` for worker processes too.
    """
    if not isinstance(variants, Mapping):
        raise TypeError(f"variants must be a dict of name -> callable, not {type(variants).__name__}")
    for name, fn in variants.items():
        check_callable(fn, f"variants[{name!r}]")
    repeats = check_count(repeats, "repeats")
    warmup = check_count(warmup, "warmup", minimum=0)
    for hook_name, hook in (("before", before), ("after", after)):
        if hook is not None:
            check_callable(hook, hook_name)
    check_callable(cpu_clock, "cpu_clock")

    def call(name: K, fn: Callable[[], object]) -> tuple[float, float]:
        if before is not None:
            before(name)
        c0, t0 = cpu_clock(), time.perf_counter()
        result = fn()
        t1, c1 = time.perf_counter(), cpu_clock()
        if after is not None:
            after(name, result)
        return t1 - t0, c1 - c0

    for _ in range(warmup):
        for name, fn in variants.items():
            call(name, fn)
    wall: dict[K, list[float]] = {name: [] for name in variants}
    cpu: dict[K, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            w, c = call(name, fn)
            wall[name].append(w)
            cpu[name].append(c)
    return {name: Timing(tuple(wall[name]), tuple(cpu[name])) for name in variants}


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system CPU seconds) of a live process, from /proc (Linux)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    # The command name, field 2, is in parentheses and may hold spaces: split after its end.
    fields = text[text.rindex(b")") + 2:].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def descendants(pid: int | None = None) -> list[int] | None:
    """Every live process below ``pid`` (default: this one), or None where /proc is missing.

    Forkserver workers are the server's children and loky's are its own: a walk down the tree
    finds all of them, whoever started them.
    """
    root = os.getpid() if pid is None else as_index(pid, "pid")
    try:
        entries = [int(e) for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return None
    children: dict[int, list[int]] = {}
    for entry in entries:
        stat = _proc_stat(entry)
        if stat is not None:
            children.setdefault(stat[0], []).append(entry)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def tree_cpu_clock(pids: Sequence[int]) -> Callable[[], float]:
    """A CPU clock for this process plus the processes ``pids`` (worker processes, say).

    A worker's CPU seconds come from /proc in clock ticks (usually 10 ms), so short calls read
    coarse there; a worker that exits stops counting. Where /proc is missing the clock is this
    process's alone.
    """
    pids = [as_index(pid, "each pid") for pid in pids]

    def clock() -> float:
        total = time.process_time()
        for pid in pids:
            stat = _proc_stat(pid)
            if stat is not None:
                total += stat[1]
        return total
    return clock


def run_in_threads(calls: Sequence[Callable[[], object]]) -> list[object]:
    """Run each call in its own thread, started together; return results in call order.

    An exception in any call is re-raised here after every thread has finished.
    """
    calls = list(calls)
    if not calls:
        raise ValueError("run_in_threads needs at least one call")
    for i, fn in enumerate(calls):
        check_callable(fn, f"calls[{i}]")
    results: list[object] = [None] * len(calls)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(calls))

    def work(i: int, fn: Callable[[], object]) -> None:
        try:
            barrier.wait()
            results[i] = fn()
        except BaseException as exc:  # handed back to the caller below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, fn), daemon=True) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def gil_enabled() -> bool:
    """Whether this interpreter runs with the GIL right now (always True before Python 3.13)."""
    probe = getattr(sys, "_is_gil_enabled", None)
    return True if probe is None else bool(probe())


def load_average() -> float | None:
    """The 1-minute load average, where the OS reports one (None elsewhere)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def environment() -> dict[str, Any]:
    """What a result needs to be read correctly: machine, interpreter, GIL, implementation."""
    from ._select import IMPLEMENTATION
    from ._version import __version__

    try:
        import numpy

        numpy_version = numpy.__version__
    except ImportError:  # pragma: no cover - numpy is a dependency
        numpy_version = None
    return {
        "gilfree": __version__,
        "implementation": IMPLEMENTATION,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "free_threaded_build": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
        "gil_enabled": gil_enabled(),
        "numpy": numpy_version,
        "os": platform.platform(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "memory_bytes": _memory_bytes(),
        "load_average_1min": load_average(),
    }
