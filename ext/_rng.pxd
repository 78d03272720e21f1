# cython: language_level=3
"""splitmix64 as inline C, shared by the kernels (``from _rng cimport ...``).

Output ``counter`` of the generator seeded with ``seed`` is computed directly from the counter,
so any slice of a random stream can be produced by any worker. ``gilfree._cpu_py.splitmix64`` is
the pure-Python twin; both wrap modulo 2**64.
"""

from libc.stdint cimport uint64_t


cdef inline uint64_t splitmix64(uint64_t seed, uint64_t counter) noexcept nogil:
    cdef uint64_t z = seed + (counter + 1) * 0x9E3779B97F4A7C15ULL
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline double uniform(uint64_t seed, uint64_t counter) noexcept nogil:
    """The top 53 bits of an output, scaled to a double in [0, 1) (exact: no rounding)."""
    return <double>(splitmix64(seed, counter) >> 11) * (1.0 / 9007199254740992.0)
