"""CPU-bound workloads (sum of squares, prime count, Monte Carlo), compiled or pure.

Which twin these names are is decided once, in :mod:`gilfree._select`.
"""

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

__all__ = list(_impl.__all__)
