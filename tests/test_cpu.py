"""CPU kernels: exact values against closed forms and independent references, and twin equality."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gilfree

#: Run against every built wheel, on every OS (see the marker in pyproject.toml).
pytestmark = pytest.mark.portable

MAX = 2**63
INT64_MAX = 2**63 - 1
MASK64 = 2**64 - 1

PROPERTY = settings(
    deadline=None,
    max_examples=80,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: Where the compiled sum_squares switches paths or a machine word fills up.
BOUNDARIES = [0, 1, 2, 3, 4096, 2**16, 2**26, 2**27, 2**28, 2**31, 2**32, 2**33, 2**53, 2**62, MAX]


def S(n: int) -> int:
    """Closed form: the sum of i*i for i in range(n)."""
    return (n - 1) * n * (2 * n - 1) // 6


def squares(lo: int, hi: int) -> int:
    return S(hi) - S(lo)


def sieve(n: int) -> list[bool]:
    flags = [True] * n
    flags[:2] = [False] * min(2, n)
    for p in range(2, math.isqrt(max(n - 1, 0)) + 1):
        if flags[p]:
            flags[p * p :: p] = [False] * len(range(p * p, n, p))
    return flags


def ref_splitmix64(seed: int, counter: int) -> int:
    """splitmix64 as Vigna's reference C: state += golden gamma once per output, then mix."""
    z = (seed + (counter + 1) * 0x9E3779B97F4A7C15) % 2**64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2**64
    return z ^ (z >> 31)


def ref_uniform(seed: int, counter: int) -> float:
    return math.ldexp(ref_splitmix64(seed, counter) >> 11, -53)


def ref_hits(start: int, stop: int, seed: int) -> int:
    hits = 0
    for k in range(start, stop):
        x, y = ref_uniform(seed, 2 * k), ref_uniform(seed, 2 * k + 1)
        hits += x * x + y * y < 1.0
    return hits


def near(boundary: int, width: int = 2000) -> st.SearchStrategy[tuple[int, int]]:
    """Short ranges [lo, hi) inside [0, 2**63] that start, end or straddle ``boundary``."""

    def build(a: int, b: int) -> tuple[int, int]:
        lo = min(max(boundary + a, 0), MAX)
        hi = min(max(lo + b, lo), MAX)
        return lo, hi

    return st.builds(build, st.integers(-width, width), st.integers(0, width))


short_ranges = st.one_of(
    *[near(b) for b in BOUNDARIES],
    st.integers(0, MAX).flatmap(lambda lo: st.tuples(st.just(lo), st.integers(lo, min(lo + 2000, MAX)))),
)


# --- sum_squares and cpu_bound ------------------------------------------------------------------


@pytest.mark.parametrize(
    "lo, hi",
    [(0, 0), (0, 1), (0, 2), (0, 3), (5, 5), (3, 4), (0, 10), (7, 1000), (0, 4097), (0, 10**5),
     (12345, 67890)],
)
def test_sum_squares_small_closed_form(impl, lo, hi):
    got = impl.sum_squares(lo, hi)
    assert type(got) is int
    assert got == squares(lo, hi) == sum(i * i for i in range(lo, hi))
    assert impl.sum_squares(lo, hi, release_gil=False) == got


def test_sum_squares_known_values(impl):
    assert impl.sum_squares(0, 10) == 285
    assert impl.sum_squares(1, 4) == 1 + 4 + 9
    assert impl.sum_squares(10, 11) == 100


def test_integer_like_arguments_are_accepted(impl):
    """Anything with __index__ (numpy integers included) is an int; the result is a Python int."""
    got = impl.sum_squares(np.int64(1), np.uint64(4))
    assert got == 14 and type(got) is int
    assert impl.count_primes(np.int32(0), np.int16(10)) == 4
    assert impl.monte_carlo_hits(np.uint8(0), np.int64(50), np.uint64(2**64 - 1)) == ref_hits(0, 50, 2**64 - 1)
    assert impl.is_prime(np.int64(97)) is True


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("below, above", [(0, 3), (3, 0), (5, 5), (1000, 1000)])
def test_sum_squares_around_boundaries(impl, boundary, below, above):
    lo, hi = max(boundary - below, 0), min(boundary + above, MAX)
    expected = sum(i * i for i in range(lo, hi))
    assert expected == squares(lo, hi)
    assert impl.sum_squares(lo, hi) == expected
    assert impl.sum_squares(lo, hi, release_gil=False) == expected


def test_sum_squares_at_the_top_of_the_range(impl):
    lo, hi = 2**63 - 5, 2**63
    expected = sum(i * i for i in range(lo, hi))
    assert expected > 2**127
    assert impl.sum_squares(lo, hi) == expected
    assert impl.sum_squares(MAX, MAX) == 0
    assert impl.sum_squares(MAX - 1, MAX) == (MAX - 1) ** 2


@pytest.mark.parametrize("n", [3_000_000, 3_100_000, 4_000_000])
def test_cpu_bound_past_int64_exactly(impl, n):
    """S(3_000_000) is just below 2**63; 3_100_000 passes int64 and 4_000_000 passes uint64."""
    got = impl.cpu_bound(n)
    assert type(got) is int
    assert got == S(n)
    if n > 3_000_000:
        assert got > INT64_MAX
    if n == 4_000_000:
        assert got > MASK64


@pytest.mark.parametrize("n, expected", [(0, 0), (1, 0), (2, 1), (3, 5), (10, 285), (1000, S(1000))])
def test_cpu_bound_small(impl, n, expected):
    assert impl.cpu_bound(n) == expected == impl.sum_squares(0, n)


@pytest.mark.parametrize(
    "lo, hi",
    [(0, 2**28 + 4321), (2**26 - 77, 2**28 + 99), (2**28 - 3, 2**28 + 5_000_000),
     (2**32 - 3_000_000, 2**32 + 3_000_000), (2**63 - 2_000_000, 2**63)],
)
def test_compiled_sum_squares_long_ranges_closed_form(c_impl, lo, hi):
    """Ranges whose pure-Python sum would take seconds: only the closed form checks them."""
    assert c_impl.sum_squares(lo, hi) == squares(lo, hi)


@pytest.mark.slow
def test_compiled_sum_squares_more_than_one_segment_below_two_pow_32(c_impl):
    """Over 2**31 terms between 2**28 and 2**32: more than one 64-bit half-accumulator segment."""
    assert c_impl.sum_squares(2**32 - 2**31 - 5, 2**32 + 7) == squares(2**32 - 2**31 - 5, 2**32 + 7)


@PROPERTY
@given(r=short_ranges)
def test_sum_squares_twins_agree(both, r):
    pure, c = both
    lo, hi = r
    expected = squares(lo, hi)
    assert c.sum_squares(lo, hi) == expected
    assert c.sum_squares(lo, hi, release_gil=False) == expected
    assert pure.sum_squares(lo, hi) == expected
    assert pure.sum_squares(lo, hi, release_gil=False) == expected


@PROPERTY
@given(n=st.integers(0, 3000) | st.integers(2**26 - 10, 2**26 + 10))
def test_cpu_bound_twins_agree(both, n):
    pure, c = both
    if n > 10_000:
        assert c.cpu_bound(n) == S(n)
    else:
        assert c.cpu_bound(n) == pure.cpu_bound(n) == S(n)


# --- primes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("hi, pi", [(0, 0), (1, 0), (2, 0), (3, 1), (10, 4), (100, 25), (10**4, 1229)])
def test_count_primes_known_values(impl, hi, pi):
    assert impl.count_primes(0, hi) == pi


def test_count_primes_against_a_sieve(impl):
    flags = sieve(20_000)
    for lo, hi in [(0, 20_000), (1, 2), (2, 3), (4, 5), (7919, 7920), (9_000, 9_100), (19_990, 20_000)]:
        assert impl.count_primes(lo, hi) == sum(flags[lo:hi])


def test_count_primes_is_additive(impl):
    assert impl.count_primes(0, 5000) == impl.count_primes(0, 1234) + impl.count_primes(1234, 5000)


@pytest.mark.slow
def test_compiled_count_primes_at_the_top_of_the_range(c_impl):
    # 2**63 - 25 is the largest prime below 2**63 (trial division up to about 3e9).
    assert c_impl.count_primes(2**63 - 25, 2**63) == 1


def test_is_prime_against_a_sieve(impl):
    flags = sieve(5000)
    assert [impl.is_prime(n) for n in range(5000)] == flags
    for n in (-1, -7, -(2**70)):
        assert impl.is_prime(n) is False


@pytest.mark.parametrize(
    "n, expected",
    [(2**31 - 1, True), (2**31 + 1, False), (561, False), (7919 * 7919, False), (7907 * 7919, False),
     (65521 * 65521, False), (2**32 + 15, True), (2**64 + 1, False), (3 * 2**64 + 3, False),
     (5 * 2**64, False)],
)
def test_is_prime_selected(impl, n, expected):
    assert impl.is_prime(n) is expected


@PROPERTY
@given(n=st.integers(-10, 10**7) | st.integers(2**32 - 100, 2**32 + 100))
def test_is_prime_twins_agree(both, n):
    pure, c = both
    assert c.is_prime(n) is pure.is_prime(n)


@PROPERTY
@given(r=st.integers(0, 50_000).flatmap(lambda lo: st.tuples(st.just(lo), st.integers(lo, lo + 1500))))
def test_count_primes_twins_agree(both, r):
    pure, c = both
    assert c.count_primes(*r) == pure.count_primes(*r)


@pytest.mark.slow
@pytest.mark.thread_unsafe(reason="runs a 3 s subprocess bounded by a 20 s hang detector: four at once on a "
                           "busy 2-core machine can outlast it, and the threads would share nothing")
def test_compiled_is_prime_terminates_just_below_two_pow_64(c_impl):
    """2**64 - 59 is prime; trial division must stop once d*d passes n, even where d*d wraps."""
    code = "import gilfree._cpu_c as c; print(c.is_prime(2**64 - 59))"
    env = dict(os.environ)
    src = str(Path(gilfree.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    try:
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                              timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("is_prime(2**64 - 59) did not return within 20 s (about 3 s of trial division)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True"


# --- splitmix64, uniform, Monte Carlo -----------------------------------------------------------


def test_splitmix64_reference_outputs(impl):
    # The first outputs of Vigna's splitmix64.c seeded with 0.
    assert [impl.splitmix64(0, i) for i in range(3)] == [
        0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F,
    ]


@PROPERTY
@given(seed=st.integers(0, MASK64), counter=st.integers(0, MASK64))
def test_splitmix64_and_uniform_match_the_reference(impl, seed, counter):
    z = impl.splitmix64(seed, counter)
    assert type(z) is int
    assert z == ref_splitmix64(seed, counter)
    u = impl.uniform(seed, counter)
    assert type(u) is float
    assert 0.0 <= u < 1.0
    assert u == ref_uniform(seed, counter)


@PROPERTY
@given(seed=st.integers(-(2**70), 2**70), counter=st.integers(-(2**70), 2**70))
def test_splitmix64_and_uniform_twins_agree_beyond_64_bits(both, seed, counter):
    pure, c = both
    assert c.splitmix64(seed, counter) == pure.splitmix64(seed, counter)
    assert c.uniform(seed, counter) == pure.uniform(seed, counter)


@pytest.mark.parametrize("seed", [0, 1, 12345, MASK64])
def test_monte_carlo_hits_against_a_reference(impl, seed):
    assert impl.monte_carlo_hits(0, 500, seed) == ref_hits(0, 500, seed)
    assert impl.monte_carlo_hits(MAX - 300, MAX, seed) == ref_hits(MAX - 300, MAX, seed)
    assert impl.monte_carlo_hits(7, 7, seed) == 0


@pytest.mark.parametrize("a, b, c", [(0, 0, 1000), (0, 1, 1000), (0, 517, 1000), (100, 999, 1000),
                                     (MAX - 1000, MAX - 10, MAX)])
def test_monte_carlo_hits_is_additive(impl, a, b, c):
    whole = impl.monte_carlo_hits(a, c, 42)
    assert whole == impl.monte_carlo_hits(a, b, 42) + impl.monte_carlo_hits(b, c, 42)
    assert 0 < whole <= c - a


def test_monte_carlo_pi_estimate(impl):
    samples = 10**5
    estimate = impl.monte_carlo_pi(samples, 2024)
    assert abs(estimate - math.pi) < 0.01
    assert estimate == 4.0 * impl.monte_carlo_hits(0, samples, 2024) / samples
    assert impl.monte_carlo_pi(samples, 2025) != estimate  # the seed matters


def test_monte_carlo_pi_single_sample(impl):
    assert impl.monte_carlo_pi(1, 0) in (0.0, 4.0)
    assert impl.monte_carlo_pi(1, 0) == 4.0 * ref_hits(0, 1, 0)


@PROPERTY
@given(
    r=st.one_of(near(0, 500), near(MAX, 500), near(2**31, 500), near(2**62, 500)),
    seed=st.integers(0, MASK64),
)
def test_monte_carlo_twins_agree(both, r, seed):
    pure, c = both
    assert c.monte_carlo_hits(*r, seed) == pure.monte_carlo_hits(*r, seed)


@PROPERTY
@given(samples=st.integers(1, 1500), seed=st.integers(0, MASK64))
def test_monte_carlo_pi_twins_agree(both, samples, seed):
    pure, c = both
    assert c.monte_carlo_pi(samples, seed) == pure.monte_carlo_pi(samples, seed)


def test_public_names_compute_the_same_as_the_chosen_twin():
    assert gilfree.sum_squares(0, 10) == 285
    assert gilfree.cpu_bound(10) == 285
    assert gilfree.count_primes(0, 100) == 25
    assert gilfree.monte_carlo_hits(0, 500, 1) == ref_hits(0, 500, 1)
