"""Every kernel, called from many threads at once, returns exactly what one serial call returns.

The compiled kernels run without the GIL, so on a multi-core machine their calls truly overlap;
the pure twins are interleaved by the interpreter, here every microsecond (a tiny switch
interval). Threads start together at a barrier, and each round hands the calls to the threads in
another order. Calls in one round differ in their arguments, so a kernel that kept any state
between calls (a static accumulator, a shared scratch buffer, a cached generator) would hand one
thread's partial result to another and fail. Readers share one read-only buffer; writers get
disjoint slices of one shared buffer, whose bytes must then equal those of a serial pass.

Sizes are small for the pure twins and about a millisecond of work per call for the compiled
ones, so the module takes seconds, under the sanitizers (``.ci/sanitize``) too.
"""

from __future__ import annotations

import reprlib
import sys
import threading
from typing import Any, Callable

import numpy as np
import pytest

from gilfree._select import C_EXTENSION

THREADS = 8
ROUNDS = 5
#: How many times each thread makes its call in a row, within one round.
REPEATS = 3
MASK64 = 2**64 - 1

Call = tuple[Callable[..., Any], tuple]


@pytest.fixture(autouse=True)
def tiny_switch_interval():
    """Make the interpreter hand the GIL between threads as often as it can."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


@pytest.fixture
def compiled(impl) -> bool:
    """True for the compiled kernels, which get the larger sizes."""
    return impl.name == C_EXTENSION


def stats_bits(stats) -> tuple:
    """A Stats with every float as its exact hexadecimal form (so -0.0 differs from 0.0)."""
    return tuple(v.hex() if isinstance(v, float) else v for v in stats)


def run_together(calls: list[Call], repeats: int = 1) -> list[list[Any]]:
    """Run ``calls`` on one thread each, all released at once by a barrier, each call ``repeats``
    times in a row; for every call, in order, the list of its results."""
    barrier = threading.Barrier(len(calls))
    results: list[list[Any]] = [[] for _ in calls]
    errors: list[BaseException] = []

    def work(index: int) -> None:
        fn, args = calls[index]
        try:
            barrier.wait(timeout=30)
            for _ in range(repeats):
                results[index].append(fn(*args))
        except BaseException as exc:  # reported in the main thread below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(i,), name=f"stress-{i}") for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a kernel call did not return"
    if errors:
        raise errors[0]
    return results


def assert_concurrent_equals_serial(calls: list[Call]) -> None:
    """Each round runs THREADS of ``calls`` at once (rotated, so that threads and calls pair up
    differently every round) and compares every result with the serial one."""
    expected = [fn(*args) for fn, args in calls]
    for round_ in range(ROUNDS):
        order = [(round_ * 3 + t) % len(calls) for t in range(max(THREADS, len(calls)))]
        got = run_together([calls[i] for i in order], REPEATS)
        for i, results in zip(order, got):
            fn, args = calls[i]
            assert results == [expected[i]] * REPEATS, f"round {round_}: {fn.__name__}{reprlib.repr(args)}"


# --- scalar kernels: arguments only, nothing shared but the code ---------------------------------


def test_sum_squares_and_cpu_bound(impl, compiled):
    width = 2_000_000 if compiled else 2_000
    sum_squares, cpu_bound = impl.sum_squares, impl.cpu_bound

    def held(lo, hi):
        return sum_squares(lo, hi, release_gil=False)

    calls: list[Call] = [
        # Every path of the compiled kernel: narrow (below 2**28), 32-bit halves, 128-bit squares,
        # and ranges that cross from one to the next.
        (sum_squares, (0, width)),
        (sum_squares, (7, 7 + width // 3)),
        (sum_squares, (2**28 - width // 2, 2**28 + width // 2)),
        (sum_squares, (2**32 - width // 2, 2**32 + width // 2)),
        (sum_squares, (2**63 - width // 4, 2**63)),
        (sum_squares, (5, 5)),
        (held, (2**26, 2**26 + width)),
        (cpu_bound, (30_000_000 if compiled else 3_000,)),  # past 2**63 for the compiled twin
    ]
    assert_concurrent_equals_serial(calls)


def test_count_primes_and_is_prime(impl, compiled):
    count_primes, is_prime = impl.count_primes, impl.is_prime

    def primes_among(values):
        return [is_prime(v) for v in values]

    width = 100_000 if compiled else 1_500
    calls: list[Call] = [
        (count_primes, (0, width)),
        (count_primes, (10**6, 10**6 + width // 4)),
        (count_primes, (10**10, 10**10 + width // 200)),
        (count_primes, (2, 3)),
        (primes_among, ([2**31 - 1, 2**31 + 1, 561, 7919 * 7919, 7907 * 7919, 2**32 + 15, 2**64 + 1],)),
        (primes_among, (list(range(-3, 400)),)),
        (is_prime, (10**12 + 39 if compiled else 10**8 + 7,)),
        (is_prime, (10**12 + 37 if compiled else 10**8 + 9,)),
    ]
    assert_concurrent_equals_serial(calls)


def test_monte_carlo_and_generator(impl, compiled):
    samples = 500_000 if compiled else 1_000
    hits, pi = impl.monte_carlo_hits, impl.monte_carlo_pi

    def stream(seed, start, stop):
        return [(impl.splitmix64(seed, k), impl.uniform(seed, k)) for k in range(start, stop)]

    calls: list[Call] = [
        (hits, (0, samples, 1)),
        (hits, (samples, 2 * samples, 1)),
        (hits, (2**62, 2**62 + samples // 2, MASK64)),
        (hits, (3, 3, 0)),
        (pi, (samples, 12345)),
        (pi, (samples // 3 + 1, 7)),
        (stream, (42, 0, 300)),
        (stream, (MASK64, 2**63 - 150, 2**63 + 150)),
    ]
    assert_concurrent_equals_serial(calls)


# --- readers of one shared, read-only buffer -------------------------------------------------------


@pytest.fixture
def shared_data(compiled) -> np.ndarray:
    """One read-only float64 array: not a whole number of 1024-element blocks, signed zeros and
    infinities planted, so that every branch of the statistics kernel runs."""
    n = 1_000_003 if compiled else 5_003
    x = np.random.default_rng(2024).normal(0.5, 2.0, n)
    x[[3, n // 2, n - 1]] = [-0.0, np.inf, 0.0]
    x.setflags(write=False)
    return x


def test_chunk_stats(impl, shared_data):
    x = shared_data
    n = len(x)

    def stats(view):
        return stats_bits(impl.chunk_stats(view))

    calls: list[Call] = [
        (stats, (x,)),
        (stats, (x[: n // 2],)),  # its sum is finite: the infinity sits in the second half
        (stats, (x[n // 2 :],)),
        (stats, (x[1024:3072],)),
        (stats, (x[5:1029],)),
        (stats, (x[n - 9 :],)),
        (stats, (memoryview(x)[17 : n // 3],)),
        (stats, (x[:1],)),
    ]
    assert_concurrent_equals_serial(calls)


def test_checksum(impl, shared_data, compiled):
    data = np.random.default_rng(7).bytes(4_000_003 if compiled else 20_003)
    view = memoryview(data)
    checksum = impl.checksum
    calls: list[Call] = [
        (checksum, (data,)),
        (checksum, (view[: len(data) // 2],)),
        (checksum, (view[len(data) // 2 :],)),
        (checksum, (view[1:9],)),
        (checksum, (view[3:-5],)),
        (checksum, (view[-7:],)),
        (checksum, (shared_data,)),
        (checksum, (memoryview(shared_data)[100:],)),
    ]
    assert_concurrent_equals_serial(calls)


def test_filter_greater_into_one_output_per_call(impl, shared_data):
    x = shared_data

    def filtered(data, threshold):
        out = np.full(len(data) + 3, -1.5)  # its tail must stay untouched
        k = impl.filter_greater(data, out, threshold)
        return k, out.tobytes()

    calls: list[Call] = [
        (filtered, (x, 0.5)),
        (filtered, (x, -np.inf)),
        (filtered, (x, np.inf)),
        (filtered, (x, np.nan)),
        (filtered, (x, 3.25)),
        (filtered, (x[11:], -1.0)),
        (filtered, (x[: len(x) // 3], 0.0)),
        (filtered, (x[-20:], 1.0)),
    ]
    assert_concurrent_equals_serial(calls)


# --- writers on disjoint slices of one shared buffer -----------------------------------------------


def slice_bounds(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` uneven, adjacent slices of ``range(n)``, most of them not on a block or lane edge."""
    cuts = sorted({0, n, *(n * k // parts + (k * 37) % 101 - 50 for k in range(1, parts))})
    return list(zip(cuts, cuts[1:]))


def assert_disjoint_writes_equal_serial(buffer: np.ndarray, kernel: Callable[[np.ndarray, int], Any]) -> None:
    """``kernel(slice, start)`` on every slice of ``buffer`` at once, in THREADS threads, must
    leave the very bytes (and return the very values) of the same calls made one by one."""
    bounds = slice_bounds(len(buffer), THREADS)
    serial = buffer.copy()
    expected = [kernel(serial[a:b], a) for a, b in bounds]
    for round_ in range(ROUNDS):
        shared = buffer.copy()
        # Rotate which thread gets which slice, so that neighbours start at different moments.
        order = [(t + round_) % len(bounds) for t in range(len(bounds))]
        got = run_together([(kernel, (shared[bounds[i][0] : bounds[i][1]], bounds[i][0])) for i in order])
        assert shared.tobytes() == serial.tobytes(), f"round {round_}: the shared buffer differs"
        assert [got[order.index(i)] for i in range(len(bounds))] == [[e] for e in expected], f"round {round_}"


@pytest.fixture
def shared_buffer(compiled) -> np.ndarray:
    """Values in [0, 1), where the logistic map stays bounded."""
    return np.random.default_rng(99).random(400_011 if compiled else 4_011)


def test_transform_inplace_on_disjoint_slices(impl, shared_buffer):
    def transform(part, start):
        impl.transform_inplace(part, 3 + start % 2, 3.9)

    assert_disjoint_writes_equal_serial(shared_buffer, transform)


def test_fill_uniform_on_disjoint_slices(impl, shared_buffer):
    def fill(part, start):
        impl.fill_uniform(part, 2**64 - 3, start)

    assert_disjoint_writes_equal_serial(shared_buffer, fill)
    # Filled slice by slice with their own starts, the buffer is what one call gives.
    whole, pieces = shared_buffer.copy(), shared_buffer.copy()
    impl.fill_uniform(whole, 2**64 - 3)
    run_together([(fill, (pieces[a:b], a)) for a, b in slice_bounds(len(pieces), THREADS)])
    assert pieces.tobytes() == whole.tobytes()


def test_filter_greater_in_place_on_disjoint_slices(impl, shared_buffer):
    def compact(part, start):
        return impl.filter_greater(part, part, 0.25 + (start % 5) / 10)

    assert_disjoint_writes_equal_serial(shared_buffer, compact)


def test_mixed_kernels_on_disjoint_slices(impl, shared_buffer):
    """Readers and writers of different kernels at once, each on its own slice."""

    kinds = {start: i % 4 for i, (start, _) in enumerate(slice_bounds(len(shared_buffer), THREADS))}

    def mixed(part, start):
        kind = kinds[start]
        if kind == 0:
            return impl.transform_inplace(part, 2)
        if kind == 1:
            return impl.fill_uniform(part, 5, start)
        if kind == 2:
            return impl.filter_greater(part, part, 0.5)
        return stats_bits(impl.chunk_stats(part)), impl.checksum(part)

    assert_disjoint_writes_equal_serial(shared_buffer, mixed)
