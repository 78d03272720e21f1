"""CPU-bound workloads in pure Python: the reference twins of ``ext/_cpu_c.pyx``.

These are the lab's own loops, written the plain way a Python programmer would. Every thread that
runs them holds the GIL for the whole call, which is exactly what lab step 1 sets out to show.
The compiled twins return the same values, bit for bit, and raise the same errors.
"""

from __future__ import annotations

from ._checks import as_index, check_count, check_flag, check_range, check_seed

__all__ = [
    "count_primes",
    "cpu_bound",
    "is_prime",
    "monte_carlo_hits",
    "monte_carlo_pi",
    "splitmix64",
    "sum_squares",
    "uniform",
]

_MASK64 = 0xFFFFFFFFFFFFFFFF
_GAMMA = 0x9E3779B97F4A7C15
_TWO_POW_MINUS_53 = 1.0 / 9007199254740992.0


def sum_squares(lo: int, hi: int, *, release_gil: bool = True) -> int:
    """Return the exact sum of ``i * i`` for ``i`` in ``range(lo, hi)``.

    ``release_gil`` exists so that both twins share one signature: the compiled kernel can be
    asked to keep the GIL (the control in lab step 1); pure Python always holds it.
    """
    lo, hi = check_range(lo, hi)
    check_flag(release_gil, "release_gil")
    total = 0
    for i in range(lo, hi):
        total += i * i
    return total


def cpu_bound(n: int) -> int:
    """The lab's ``cpu_bound(n)``: the sum of ``i * i`` for ``i`` in ``range(n)``, exactly."""
    return sum_squares(0, check_count(n, "n", minimum=0))


def is_prime(n: int) -> bool:
    """Trial division by 2, 3 and then 6k +/- 1: cost grows with the square root of ``n``."""
    n = as_index(n, "n")
    if n < 2:
        return False
    if n < 4:
        return True
    if n % 2 == 0 or n % 3 == 0:
        return False
    d = 5
    while d * d <= n:
        if n % d == 0 or n % (d + 2) == 0:
            return False
        d += 6
    return True


def count_primes(lo: int, hi: int) -> int:
    """Count the primes in ``range(lo, hi)`` by trial division.

    The cost of each number grows along the range, so equal-width chunks take unequal time:
    the work that makes ``imap_unordered`` and ``as_completed`` hand back results out of order.
    """
    lo, hi = check_range(lo, hi)
    count = 0
    for n in range(lo, hi):
        if is_prime(n):
            count += 1
    return count


def splitmix64(seed: int, counter: int) -> int:
    """Output number ``counter`` (0-based) of the splitmix64 generator started at ``seed``.

    splitmix64 steps its state by a fixed odd constant, so any output can be computed directly
    from its index: chunks of a random stream can be generated independently, in any order, by
    any worker, and still join into the very stream a single loop would have produced.
    """
    seed = as_index(seed, "seed")
    counter = as_index(counter, "counter")
    z = (seed + (counter + 1) * _GAMMA) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def uniform(seed: int, counter: int) -> float:
    """A double in [0, 1) from the top 53 bits of ``splitmix64(seed, counter)``."""
    return (splitmix64(seed, counter) >> 11) * _TWO_POW_MINUS_53


def monte_carlo_hits(start: int, stop: int, seed: int) -> int:
    """Count the samples ``k`` in ``range(start, stop)`` whose point falls in the unit circle.

    Sample ``k`` is the point ``(uniform(seed, 2k), uniform(seed, 2k + 1))``. Because samples are
    addressed by index, ``hits(a, c) == hits(a, b) + hits(b, c)`` for any split point ``b``.
    """
    start, stop = check_range(start, stop, ("start", "stop"))
    seed = check_seed(seed)
    hits = 0
    for k in range(start, stop):
        x = uniform(seed, 2 * k)
        y = uniform(seed, 2 * k + 1)
        if x * x + y * y < 1.0:
            hits += 1
    return hits


def monte_carlo_pi(samples: int, seed: int) -> float:
    """Estimate pi from ``samples`` seeded random points: ``4 * hits / samples``."""
    samples = check_count(samples, "samples")
    return 4.0 * monte_carlo_hits(0, samples, seed) / samples
