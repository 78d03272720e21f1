"""Type stub for the compiled twin: the same signatures as ``gilfree._cpu_py``."""

from gilfree._cpu_py import (
    count_primes as count_primes,
    cpu_bound as cpu_bound,
    is_prime as is_prime,
    monte_carlo_hits as monte_carlo_hits,
    monte_carlo_pi as monte_carlo_pi,
    splitmix64 as splitmix64,
    sum_squares as sum_squares,
    uniform as uniform,
)

__all__ = ["count_primes", "cpu_bound", "is_prime", "monte_carlo_hits", "monte_carlo_pi", "splitmix64", "sum_squares", "uniform"]
