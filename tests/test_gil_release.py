"""Proof that the compiled kernels release the GIL, by a counter that cannot advance by luck.

A worker thread runs one long kernel call while the main thread counts in a pure-Python loop until
the worker is done, noting the time every 1024 counts. The main thread can only count while it
holds the GIL, so its counting rate over the *middle half* of the call (the edges, where the worker
runs Python code and the OS may be slow to hand the GIL back, are left out) measures how much of
the GIL the kernel left free. Two controls run beside it in the same test:

* positive: the worker merely sleeps (``time.sleep`` releases the GIL): the free counting rate;
* negative: the very same compiled loop told to keep the GIL (``sum_squares(...,
  release_gil=False)``): the counter cannot move at all in the middle of that call.

Only rates measured in the same run are compared, so a slow or loaded machine scales every figure
alike; the thresholds leave a wide margin (a held GIL gives a rate of 0, a released one well over
half the free rate on two idle cores).
"""

from __future__ import annotations

import bisect
import mmap
import sys
import threading
import time

import numpy as np
import pytest

import gilfree

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not gilfree.gil_enabled(), reason="no GIL in this interpreter: nothing to release"),
]

#: How long each measured kernel call should take.
TARGET_S = 0.3
#: A released kernel must leave the counter at least this fraction of its free-running rate...
MIN_FREE_SHARE = 0.2
#: ...and at least this many times the rate it reaches beside the GIL-holding control.
MIN_RATIO = 20.0


@pytest.fixture(autouse=True)
def short_switch_interval():
    """Hand the GIL over quickly, so the counter starts and stops close to the edges of a call.

    Only the middle of each call is measured, so this does not change the verdict; it keeps the
    edges short, and so the middle long, on a machine where threads wait long for a core.
    """
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def count_during(work) -> float:
    """Counts per second of a pure-Python loop here, over the middle half of ``work()`` elsewhere."""
    started = threading.Event()
    done = [False]
    span = [0.0, 0.0]
    errors: list[BaseException] = []

    def worker() -> None:
        started.set()
        span[0] = time.perf_counter()
        try:
            work()
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)
        span[1] = time.perf_counter()
        done[0] = True

    thread = threading.Thread(target=worker, daemon=True)
    clock = time.perf_counter
    thread.start()
    started.wait()
    times, counts = [clock()], [0]
    count = 0
    while not done[0]:
        count += 1
        if not count & 1023:
            times.append(clock())
            counts.append(count)
    times.append(clock())
    counts.append(count)
    thread.join()
    if errors:
        raise errors[0]

    t0, t1 = span
    assert t1 > t0
    a, b = t0 + (t1 - t0) / 4, t1 - (t1 - t0) / 4

    def count_at(t: float) -> int:
        return counts[max(bisect.bisect_right(times, t) - 1, 0)]

    return (count_at(b) - count_at(a)) / (b - a)


def calibrate(make_call, size: int, exponent: float = 1.0, limit: int = 2**62) -> int:
    """The size at which ``make_call(size)()`` takes about TARGET_S (cost ~ size**exponent)."""
    while True:
        t0 = time.perf_counter()
        make_call(size)()
        elapsed = time.perf_counter() - t0
        if elapsed >= TARGET_S / 4 or size * 2 > limit:
            return min(limit, max(1, int(size * (TARGET_S / elapsed) ** (1.0 / exponent))))
        size *= 2


def free_rate() -> float:
    return count_during(lambda: time.sleep(TARGET_S))


_HELD_SIZE: list[int] = []


def held_rate(c_impl) -> float:
    """Counting rate beside the negative control (its size calibrated once per session)."""
    if not _HELD_SIZE:
        _HELD_SIZE.append(calibrate(lambda n: lambda: c_impl.sum_squares(0, n, release_gil=False), 2**24))
    n = _HELD_SIZE[0]
    return count_during(lambda: c_impl.sum_squares(0, n, release_gil=False))


def check(released: float, held: float, free: float) -> None:
    detail = (f"counting rate: {released:.3g}/s beside the kernel, {held:.3g}/s beside the GIL-holding "
              f"control, {free:.3g}/s beside a sleeping thread")
    assert free > 0, detail
    assert released >= MIN_FREE_SHARE * free, "the kernel kept the GIL; " + detail
    assert released >= MIN_RATIO * held, "no clear gap between the kernel and the held control; " + detail


def test_the_counter_stops_beside_a_held_gil(c_impl):
    """The negative control alone: the counter all but stops while the GIL is held."""
    free = free_rate()
    held = held_rate(c_impl)
    assert free > 0
    assert held <= 0.01 * free, (held, free)


def test_sum_squares_releases_the_gil(c_impl):
    n = calibrate(lambda n: lambda: c_impl.sum_squares(0, n), 2**24)
    free = free_rate()
    released = count_during(lambda: c_impl.sum_squares(0, n, release_gil=True))
    held = count_during(lambda: c_impl.sum_squares(0, n, release_gil=False))  # the same n
    check(released, held, free)


def test_count_primes_releases_the_gil(c_impl):
    n = calibrate(lambda n: lambda: c_impl.count_primes(0, n), 2**14, exponent=1.5)
    free = free_rate()
    released = count_during(lambda: c_impl.count_primes(0, n))
    check(released, held_rate(c_impl), free)


def _zero_pages(nbytes: int):
    """A read-only private anonymous mapping: reads fault in the shared zero page, so a buffer of
    gigabytes costs page tables only, not memory."""
    return mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)


@pytest.mark.skipif(not hasattr(mmap, "MAP_PRIVATE"), reason="needs POSIX mmap flags")
def test_chunk_stats_releases_the_gil(c_impl):
    # chunk_stats runs near memory bandwidth: one call lasting TARGET_S would need gigabytes of
    # data. Untouched zero pages of a read-only mapping make such a call cheap in memory; every
    # page touched for the first time costs a page fault, inside the nogil block, like data.
    def make(nbytes):
        def run():
            with _zero_pages(nbytes) as mm:
                view = memoryview(mm).cast("d")
                try:
                    s = c_impl.chunk_stats(view)
                finally:
                    view.release()
            assert (s.count, s.sum, s.min, s.max) == (nbytes // 8, 0.0, 0.0, 0.0)
        return run

    nbytes = calibrate(make, 2**26, limit=2**38) // 8 * 8
    free = free_rate()
    released = count_during(make(nbytes))
    check(released, held_rate(c_impl), free)


@pytest.mark.skipif(hasattr(mmap, "MAP_PRIVATE"), reason="the zero-page test above is sharper")
def test_chunk_stats_releases_the_gil_on_a_numpy_array(c_impl):
    """Repeated calls on a 128 MB array, each lasting many switch intervals: a weaker proof, as
    the counter may also advance between calls, used where the zero-page mapping is not available."""
    x = np.random.default_rng(0).random(2**24)
    expected = c_impl.chunk_stats(x)

    def make(calls):
        def run():
            for _ in range(calls):
                assert c_impl.chunk_stats(x) == expected
        return run

    calls = calibrate(make, 4)
    free = free_rate()
    released = count_during(make(calls))
    check(released, held_rate(c_impl), free)
