# cython: language_level=3
"""CPU-bound workloads as Cython kernels that release the GIL: twins of ``gilfree._cpu_py``.

Each ``def`` checks its arguments while it holds the GIL, through the same checks as the pure
twin, then does all of its work in ``cdef ... noexcept nogil`` helpers inside ``with nogil:``.
Integer results are exact: sums of squares are carried in 192 bits, enough for every range the
twins accept (``hi <= 2**63``), and joined into a Python int only after the GIL is back.
"""

from libc.math cimport sqrt
from libc.stdint cimport uint32_t, uint64_t

from _rng cimport splitmix64 as _splitmix64, uniform as _uniform

from gilfree._checks import as_index, check_count, check_flag, check_range, check_seed

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

cdef uint64_t _M32 = 0xFFFFFFFFULL
cdef uint64_t _TWO_POW_28 = 0x10000000ULL
cdef uint64_t _TWO_POW_32 = 0x100000000ULL
# 2**31 terms, each half below 2**32, keep a 64-bit half-accumulator below 2**63.
cdef uint64_t _SEGMENT = 0x80000000ULL


cdef extern from "_sumsq.h" nogil:
    uint64_t gilfree_sumsq_u64(uint32_t lo, uint32_t hi)
    void gilfree_sumsq_halves(uint32_t lo, uint32_t hi, uint64_t *sum_lo, uint64_t *sum_hi)


ctypedef struct u192:
    uint64_t w0
    uint64_t w1
    uint64_t w2


cdef inline void _add128(u192 *acc, uint64_t lo, uint64_t hi) noexcept nogil:
    """acc += hi * 2**64 + lo, carrying into the top word."""
    cdef uint64_t s = acc.w0 + lo
    cdef uint64_t carry = s < lo
    acc.w0 = s
    s = acc.w1 + hi
    cdef uint64_t carry2 = s < hi
    acc.w1 = s + carry
    carry2 += acc.w1 < s
    acc.w2 += carry2


cdef inline void _mul64(uint64_t a, uint64_t b, uint64_t *lo, uint64_t *hi) noexcept nogil:
    """Full 64 x 64 -> 128-bit product from 32-bit halves (portable: no __int128 needed)."""
    cdef uint64_t a0 = a & _M32, a1 = a >> 32, b0 = b & _M32, b1 = b >> 32
    cdef uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1
    cdef uint64_t mid = (p00 >> 32) + (p01 & _M32) + (p10 & _M32)
    lo[0] = (mid << 32) | (p00 & _M32)
    hi[0] = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32)


cdef void _sum_squares_narrow(uint64_t lo, uint64_t hi, u192 *acc) noexcept nogil:
    """Sum of squares for lo <= i < hi <= 2**28: the hot loop at the lab's sizes.

    A 32 x 32 -> 64-bit multiply and one 64-bit add per term, in SIMD lanes (``_sumsq.h``).
    It stays exact by cutting the range into segments
    short enough that no segment's sum can pass 2**64: at most (2**64 - 1) // (last i)**2 terms
    (256 or more below 2**28); each segment's sum then joins the 192-bit total.
    """
    cdef uint64_t seg_hi, seg_len
    while lo < hi:
        seg_hi = lo + lo + 4096  # try to double the range; shortened below if it could overflow
        if seg_hi > hi:
            seg_hi = hi
        if seg_hi > 1:  # only i = 0 otherwise, and 0 * 0 cannot overflow anything
            seg_len = 0xFFFFFFFFFFFFFFFFULL // ((seg_hi - 1) * (seg_hi - 1))
            if seg_hi - lo > seg_len:
                seg_hi = lo + seg_len
        _add128(acc, gilfree_sumsq_u64(<uint32_t>lo, <uint32_t>seg_hi), 0)
        lo = seg_hi


cdef void _sum_squares_small(uint64_t lo, uint64_t hi, u192 *acc) noexcept nogil:
    """Sum of squares for 2**28 <= lo <= i < hi <= 2**32.

    Here a square still fits in 64 bits but too few fit in a 64-bit sum, so the low and high
    32-bit halves of each square are summed separately (``_sumsq.h``, in SIMD lanes): 2**31
    terms cannot overflow either.
    """
    cdef uint64_t seg_hi, a_lo, a_hi
    while lo < hi:
        seg_hi = hi if hi - lo <= _SEGMENT else lo + _SEGMENT
        # seg_hi may be 2**32 itself, which does not fit a uint32: take the last term apart.
        if seg_hi == _TWO_POW_32:
            gilfree_sumsq_halves(<uint32_t>lo, <uint32_t>(seg_hi - 1), &a_lo, &a_hi)
            _add128(acc, 0xFFFFFFFE00000001ULL, 0)  # (2**32 - 1)**2
        else:
            gilfree_sumsq_halves(<uint32_t>lo, <uint32_t>seg_hi, &a_lo, &a_hi)
        _add128(acc, a_lo, 0)
        _add128(acc, a_hi << 32, a_hi >> 32)
        lo = seg_hi


cdef void _sum_squares_wide(uint64_t lo, uint64_t hi, u192 *acc) noexcept nogil:
    """Sum of squares for 2**32 <= lo <= i < hi <= 2**63: full 128-bit squares."""
    cdef uint64_t i, sq_lo, sq_hi
    i = lo
    while i < hi:
        _mul64(i, i, &sq_lo, &sq_hi)
        _add128(acc, sq_lo, sq_hi)
        i += 1


cdef void _sum_squares(uint64_t lo, uint64_t hi, u192 *acc) noexcept nogil:
    acc.w0 = 0
    acc.w1 = 0
    acc.w2 = 0
    cdef uint64_t split = hi if hi < _TWO_POW_28 else _TWO_POW_28
    if lo < split:
        _sum_squares_narrow(lo, split, acc)
        lo = split
    split = hi if hi < _TWO_POW_32 else _TWO_POW_32
    if lo < split:
        _sum_squares_small(lo, split, acc)
        lo = split
    if lo < hi:
        _sum_squares_wide(lo, hi, acc)


def sum_squares(lo, hi, *, release_gil=True):
    """Return the exact sum of ``i * i`` for ``i`` in ``range(lo, hi)``.

    With ``release_gil=False`` the very same loop runs while holding the GIL: the control that
    shows it is the released GIL, not compiled code alone, that lets threads run in parallel.
    """
    lo, hi = check_range(lo, hi)
    cdef bint release = check_flag(release_gil, "release_gil")
    cdef uint64_t c_lo = lo, c_hi = hi
    cdef u192 acc
    if release:
        with nogil:
            _sum_squares(c_lo, c_hi, &acc)
    else:
        _sum_squares(c_lo, c_hi, &acc)
    return (int(acc.w2) << 128) | (int(acc.w1) << 64) | int(acc.w0)


def cpu_bound(n):
    """The lab's ``cpu_bound(n)``: the sum of ``i * i`` for ``i`` in ``range(n)``, exactly."""
    return sum_squares(0, check_count(n, "n", minimum=0))


cdef inline uint64_t _isqrt(uint64_t n) noexcept nogil:
    """floor(sqrt(n)) for any 64-bit n: a double estimate, corrected without overflow."""
    cdef uint64_t r = <uint64_t>sqrt(<double>n)
    if r > 0xFFFFFFFFULL:
        r = 0xFFFFFFFFULL
    while r > 0 and r > n // r:
        r -= 1
    while r + 1 <= n // (r + 1):
        r += 1
    return r


cdef inline bint _is_prime(uint64_t n) noexcept nogil:
    """The pure twin's trial division; its bound ``d * d <= n`` is ``d <= isqrt(n)`` here, which
    cannot wrap around for n near 2**64."""
    if n < 2:
        return False
    if n < 4:
        return True
    if n % 2 == 0 or n % 3 == 0:
        return False
    cdef uint64_t d = 5, limit = _isqrt(n)
    while d <= limit:
        if n % d == 0 or n % (d + 2) == 0:
            return False
        d += 6
    return True


def is_prime(n):
    """Trial division by 2, 3 and then 6k +/- 1: cost grows with the square root of ``n``."""
    n = as_index(n, "n")
    if n < 2:
        return False
    if n >= 2**64:
        # Beyond the kernel's word size: answer as the pure twin does.
        from gilfree._cpu_py import is_prime as _py_is_prime
        return _py_is_prime(n)
    return _is_prime(<uint64_t>n)


cdef uint64_t _count_primes(uint64_t lo, uint64_t hi) noexcept nogil:
    cdef uint64_t count = 0, n
    for n in range(lo, hi):
        count += _is_prime(n)
    return count


def count_primes(lo, hi):
    """Count the primes in ``range(lo, hi)`` by trial division (cost grows along the range)."""
    lo, hi = check_range(lo, hi)
    cdef uint64_t c_lo = lo, c_hi = hi, count
    with nogil:
        count = _count_primes(c_lo, c_hi)
    return count


def splitmix64(seed, counter):
    """Output number ``counter`` (0-based) of the splitmix64 generator started at ``seed``."""
    cdef uint64_t c_seed = as_index(seed, "seed") & 0xFFFFFFFFFFFFFFFF
    cdef uint64_t c_counter = as_index(counter, "counter") & 0xFFFFFFFFFFFFFFFF
    return _splitmix64(c_seed, c_counter)


def uniform(seed, counter):
    """A double in [0, 1) from the top 53 bits of ``splitmix64(seed, counter)``."""
    cdef uint64_t c_seed = as_index(seed, "seed") & 0xFFFFFFFFFFFFFFFF
    cdef uint64_t c_counter = as_index(counter, "counter") & 0xFFFFFFFFFFFFFFFF
    return _uniform(c_seed, c_counter)


cdef uint64_t _monte_carlo_hits(uint64_t start, uint64_t stop, uint64_t seed) noexcept nogil:
    cdef uint64_t hits = 0, k
    cdef double x, y
    for k in range(start, stop):
        x = _uniform(seed, 2 * k)
        y = _uniform(seed, 2 * k + 1)
        if x * x + y * y < 1.0:
            hits += 1
    return hits


def monte_carlo_hits(start, stop, seed):
    """Count the samples ``k`` in ``range(start, stop)`` whose point falls in the unit circle."""
    start, stop = check_range(start, stop, ("start", "stop"))
    seed = check_seed(seed)
    cdef uint64_t c_start = start, c_stop = stop, c_seed = seed, hits
    with nogil:
        hits = _monte_carlo_hits(c_start, c_stop, c_seed)
    return hits


def monte_carlo_pi(samples, seed):
    """Estimate pi from ``samples`` seeded random points: ``4 * hits / samples``."""
    samples = check_count(samples, "samples")
    return 4.0 * monte_carlo_hits(0, samples, seed) / samples
