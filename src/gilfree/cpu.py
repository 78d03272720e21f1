"""CPU-bound workloads (sum of squares, prime count, Monte Carlo), compiled or pure.

Which twin these names are is decided once, in :mod:`gilfree._select`. A type checker sees the
pure twin's signatures, which the compiled twin shares (``_cpu_c.pyi``), as propcache's
selector does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from ._cpu_py import (
        count_primes as count_primes,
        cpu_bound as cpu_bound,
        is_prime as is_prime,
        monte_carlo_hits as monte_carlo_hits,
        monte_carlo_pi as monte_carlo_pi,
        splitmix64 as splitmix64,
        sum_squares as sum_squares,
        uniform as uniform,
    )
else:
    from ._select import load

    _impl = load("cpu")

    sum_squares = _impl.sum_squares
    cpu_bound = _impl.cpu_bound
    is_prime = _impl.is_prime
    count_primes = _impl.count_primes
    splitmix64 = _impl.splitmix64
    uniform = _impl.uniform
    monte_carlo_hits = _impl.monte_carlo_hits
    monte_carlo_pi = _impl.monte_carlo_pi
