"""How late a sleeping thread wakes up while other threads keep the CPU busy.

Throughput is half of the GIL's story; the other half is latency. A thread that sleeps until a
deadline (an I/O handler, a GUI's timer, a heartbeat) needs the GIL again to run its next line,
and under a GIL it gets it only when the running thread lets go: a thread running Python
bytecode lets go once the waiting thread has asked for it, one switch interval
(:func:`sys.setswitchinterval`) after it began to wait; a C call that holds the GIL lets go only
when it returns. A kernel that releases the GIL is never in the way.

This module measures that and nothing else: :func:`wake_lateness` is the waking thread,
:class:`BusyThreads` keeps threads busy calling one function (on the ``threads`` strategy),
:func:`switch_interval` sets the interval for a block and always puts the old value back, and
:class:`Percentiles` summarises the lateness. Lab's latency step decides what to run and what it
means.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from types import TracebackType

from ._checks import check_callable, check_count, check_seconds
from .strategies import open_executor

__all__ = ["BusyRun", "BusyThreads", "Percentiles", "Sampled", "percentile", "sample_lateness", "switch_interval",
           "wake_lateness"]

#: How long a busy thread's first call may take before :class:`BusyThreads` gives up (seconds).
START_LIMIT_S = 60.0


@contextmanager
def switch_interval(seconds: float) -> Iterator[float]:
    """Within the block the interpreter's switch interval is ``seconds``; yields the old value.

    The old value is put back however the block ends (an error, Ctrl-C). The interval is a
    setting of the whole process: set it from one thread at a time.
    """
    seconds = check_seconds(seconds, "the switch interval")
    original = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield original
    finally:
        sys.setswitchinterval(original)


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0 to 100) of ``ordered`` (sorted), interpolated between the two
    nearest samples as numpy's default ("linear") does."""
    if not ordered:
        raise ValueError("percentile needs at least one sample")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be between 0 and 100, got {q}")
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Percentiles:
    """The lateness of ``count`` wake-ups, in seconds: the median, the 99th percentile, the worst."""

    p50: float
    p99: float
    max: float
    count: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Percentiles:
        ordered = sorted(samples)
        if not ordered:
            raise ValueError("Percentiles needs at least one sample")
        return cls(percentile(ordered, 50), percentile(ordered, 99), ordered[-1], len(ordered))


def wake_lateness(wakeups: int, period: float) -> list[float]:
    """Sleep ``period`` seconds ``wakeups`` times; return how late each wake-up ran (seconds).

    Each sleep has its own deadline, taken just before it, so a late wake-up does not make the
    next one look late as well. Lateness is measured on the thread that calls this.
    """
    wakeups = check_count(wakeups, "wakeups")
    period = check_seconds(period, "period")
    late = []
    clock, sleep = time.perf_counter, time.sleep
    for _ in range(wakeups):
        deadline = clock() + period
        sleep(period)
        late.append(clock() - deadline)
    return late


@dataclass(frozen=True)
class BusyRun:
    """What one busy thread did: its calls, how many returned a wrong result, their seconds, and
    the seconds from its first call to its return (its life)."""

    calls: int
    wrong: int
    seconds: float
    wall: float

    @property
    def per_call(self) -> float:
        """The mean length of one call (seconds)."""
        return self.seconds / self.calls

    @property
    def duty(self) -> float:
        """The share of its life the thread spent inside its calls. Between two calls it runs a
        few bytecodes, which need the GIL: a low share is a thread that waited there, for the GIL
        or for a core."""
        return min(1.0, self.seconds / self.wall) if self.wall > 0 else 1.0


def _spin(call: Callable[[], object], expected: object, stop: threading.Event,
          started: threading.Event) -> BusyRun:
    """Call ``call`` until ``stop`` is set (at least once), checking each result; set ``started``
    once the first call has returned (it is timed and counted like the others)."""
    calls = wrong = 0
    spent = 0.0
    clock = time.perf_counter
    born = clock()
    while True:
        t0 = clock()
        result = call()
        spent += clock() - t0
        calls += 1
        wrong += result != expected
        if calls == 1:
            started.set()
        if stop.is_set():
            return BusyRun(calls, wrong, spent, clock() - born)


class BusyThreads:
    """``count`` threads calling ``call`` over and over, from the block's start to its end.

    The block starts once every thread's first call has returned (a handshake, not a sleep), so
    every thread is busy when it begins; at its end the threads finish the call they are in and
    stop, and :attr:`runs` says what each did. An exception from a first call is raised as the
    block is entered, a later one at the block's end. The threads come from the
    ``threads`` strategy (:func:`gilfree.strategies.open_executor`).
    """

    def __init__(self, call: Callable[[], object], expected: object, count: int = 1) -> None:
        self._call = check_callable(call, "call")
        self._expected = expected
        self.count = check_count(count, "count")
        self.runs: tuple[BusyRun, ...] = ()
        self._stop = threading.Event()
        self._stack = ExitStack()
        self._futures: list[Future[BusyRun]] = []

    def __enter__(self) -> BusyThreads:
        with ExitStack() as stack:
            pool = stack.enter_context(open_executor("threads", self.count))
            stack.callback(self._stop.set)  # runs before the pool's shutdown waits for the threads
            started = [threading.Event() for _ in range(self.count)]
            self._futures = [pool.submit(_spin, self._call, self._expected, self._stop, ev) for ev in started]
            self._await(started)
            self._stack = stack.pop_all()
        return self

    def _await(self, started: list[threading.Event]) -> None:
        deadline = time.monotonic() + START_LIMIT_S
        for event, future in zip(started, self._futures):
            while not event.wait(0.05):
                if future.done():
                    future.result()  # its first call raised
                if time.monotonic() > deadline:
                    raise RuntimeError(f"a busy thread's first call did not return within {START_LIMIT_S:g} s")

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stack.__exit__(kind, value, tb)
        if kind is None:
            self.runs = tuple(f.result() for f in self._futures)


@dataclass(frozen=True)
class Sampled:
    """One run of the waking thread: each wake-up's lateness (seconds), and what the busy threads
    beside it did (none for the baseline)."""

    lateness: tuple[float, ...]
    busy: tuple[BusyRun, ...] = ()

    @property
    def right(self) -> bool:
        """Every busy thread's every call returned the expected result."""
        return all(run.wrong == 0 for run in self.busy)


def sample_lateness(wakeups: int, period: float, interval: float, call: Callable[[], object] | None = None,
                    expected: object = None, threads: int = 1) -> Sampled:
    """``wakeups`` wake-ups of this thread at switch interval ``interval``, with ``threads`` threads
    calling ``call`` meanwhile (None: nothing else running, the baseline)."""
    with switch_interval(interval):
        if call is None:
            return Sampled(tuple(wake_lateness(wakeups, period)))
        with BusyThreads(call, expected, threads) as busy:
            late = wake_lateness(wakeups, period)
        return Sampled(tuple(late), busy.runs)
