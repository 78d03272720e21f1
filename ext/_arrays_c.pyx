# cython: language_level=3
"""Array workloads on float64 buffers as Cython kernels that release the GIL.

Twins of ``gilfree._arrays_py``: same names, signatures, errors and, bit for bit, results. The
summation order (lanes inside a block, a binary-counter tree over blocks) is documented in
``gilfree._stats``; it lets the compiler vectorize the sums, keeps the kernel close to memory
bandwidth, and makes chunked parallel reductions equal to a single pass.
"""

from libc.stdint cimport uint64_t
from libc.math cimport INFINITY, NAN

from _rng cimport uniform

from gilfree._checks import check_count, check_float, check_seed, float64_view
from gilfree._stats import BLOCK as _PY_BLOCK, LANES as _PY_LANES, Stats

__all__ = ["chunk_stats", "fill_uniform", "filter_greater", "transform_inplace"]

cdef enum:
    C_BLOCK = 1024
    C_LANES = 8
if _PY_BLOCK != C_BLOCK or _PY_LANES != C_LANES:  # pragma: no cover - guards a future edit
    raise ImportError("gilfree._arrays_c was built for another BLOCK/LANES than gilfree._stats")


ctypedef struct cstats:
    uint64_t count
    double sum
    double min
    double max
    double mean
    double m2


cdef inline double _min2(double a, double b) noexcept nogil:
    if a != a:
        return a
    if b != b:
        return b
    return b if b < a else a


cdef inline double _max2(double a, double b) noexcept nogil:
    if a != a:
        return a
    if b != b:
        return b
    return b if b > a else a


cdef inline double _canonical(double v) noexcept nogil:
    return v if v == v else NAN


cdef inline double _lane_min(double a, double b) noexcept nogil:
    return b if b < a else a


cdef inline double _lane_max(double a, double b) noexcept nogil:
    return b if b > a else a


cdef inline cstats _merge_two(cstats a, cstats b) noexcept nogil:
    """Same operations, same order, as ``gilfree._stats.merge_two``."""
    cdef cstats out
    out.count = a.count + b.count
    cdef double n_a = <double>a.count
    cdef double n = <double>out.count
    cdef double delta = b.mean - a.mean
    cdef double frac_b = <double>b.count / n
    out.mean = a.mean + delta * frac_b
    out.m2 = (a.m2 + b.m2) + (delta * delta) * (n_a * frac_b)
    out.sum = a.sum + b.sum
    out.min = _min2(a.min, b.min)
    out.max = _max2(a.max, b.max)
    return out


# A buffer may sit at any byte address: the kernels below read and write its doubles through
# load_f64 and store_f64, never through a double * (a misaligned one is undefined behaviour).
cdef extern from "_unaligned.h" nogil:
    double load_f64 "gilfree_load_f64"(const void *p)
    void store_f64 "gilfree_store_f64"(void *p, double v)


cdef extern from "_lanes.h" nogil:
    void gilfree_lanes_sum_min_max(const double *x, Py_ssize_t m, double *sums, double *lows,
                                   double *highs)
    void gilfree_lanes_squares(const double *x, Py_ssize_t m, double mean, double *squares)


cdef cstats _block_first_pass(const double *x, Py_ssize_t m) noexcept nogil:
    """Count, sum, min, max and mean of one block (``m2`` is left for the second pass)."""
    cdef double sums[C_LANES]
    cdef double lows[C_LANES]
    cdef double highs[C_LANES]
    cdef Py_ssize_t i
    cdef double v
    cdef cstats out
    gilfree_lanes_sum_min_max(x, m, sums, lows, highs)
    out.count = m
    out.sum = ((sums[0] + sums[1]) + (sums[2] + sums[3])) + ((sums[4] + sums[5]) + (sums[6] + sums[7]))
    out.mean = out.sum / <double>m
    out.m2 = 0.0
    out.min = _lane_min(_lane_min(_lane_min(lows[0], lows[1]), _lane_min(lows[2], lows[3])),
                        _lane_min(_lane_min(lows[4], lows[5]), _lane_min(lows[6], lows[7])))
    out.max = _lane_max(_lane_max(_lane_max(highs[0], highs[1]), _lane_max(highs[2], highs[3])),
                        _lane_max(_lane_max(highs[4], highs[5]), _lane_max(highs[6], highs[7])))
    if out.sum != out.sum:
        # A NaN sum has a NaN or two opposite infinities behind it; only a NaN makes min/max NaN.
        for i in range(m):
            v = load_f64(x + i)
            if v != v:
                out.min = v
                out.max = v
                break
    return out


cdef inline void _block_second_pass(const double *x, cstats *block) noexcept nogil:
    """Sum of squared deviations from the block's mean."""
    cdef double squares[C_LANES]
    gilfree_lanes_squares(x, <Py_ssize_t>block.count, block.mean, squares)
    block.m2 = ((squares[0] + squares[1]) + (squares[2] + squares[3])) + (
        (squares[4] + squares[5]) + (squares[6] + squares[7]))


cdef inline void _push(cstats *stack, int *levels, int *top, cstats node) noexcept nogil:
    """Add one block to the binary-counter tree: merge equal-sized subtrees as they complete."""
    cdef int level = 0
    while top[0] > 0 and levels[top[0] - 1] == level:
        top[0] -= 1
        node = _merge_two(stack[top[0]], node)
        level += 1
    stack[top[0]] = node
    levels[top[0]] = level
    top[0] += 1


cdef cstats _chunk_stats(const double *x, Py_ssize_t n) noexcept nogil:
    """Leaf blocks folded by a binary counter: ``stack[k]`` holds ``2**levels[k]`` blocks."""
    cdef cstats stack[66]
    cdef int levels[66]
    cdef int top = 0
    cdef Py_ssize_t start = 0, stop
    cdef cstats node
    while start < n:
        stop = start + C_BLOCK if n - start > C_BLOCK else n
        node = _block_first_pass(x + start, stop - start)
        _block_second_pass(x + start, &node)
        _push(stack, levels, &top, node)
        start = stop
    top -= 1
    node = stack[top]
    while top > 0:
        top -= 1
        node = _merge_two(stack[top], node)
    return node


def chunk_stats(data):
    """Count, sum, min, max, mean and ``m2`` of a float64 buffer, as a mergeable ``Stats``."""
    cdef const double[::1] x
    cdef cstats s
    with float64_view(data, "data") as view:
        x = view
        with nogil:
            s = _chunk_stats(&x[0], x.shape[0])
        x = None
    # One canonical NaN, as gilfree._stats.canonical gives in the pure twin.
    return Stats(s.count, _canonical(s.sum), _canonical(s.min), _canonical(s.max),
                 _canonical(s.mean), _canonical(s.m2))


cdef void _transform(double *x, Py_ssize_t n, uint64_t rounds, double r) noexcept nogil:
    cdef Py_ssize_t i
    cdef uint64_t k
    cdef double v
    for i in range(n):
        v = load_f64(x + i)
        for k in range(rounds):
            v = r * v * (1.0 - v)
        store_f64(x + i, _canonical(v))


def transform_inplace(data, rounds=1, r=3.9):
    """Replace every element ``x`` by ``r * x * (1 - x)``, ``rounds`` times (the logistic map)."""
    rounds = check_count(rounds, "rounds")
    cdef double c_r = check_float(r, "r")
    cdef uint64_t c_rounds = rounds
    cdef double[::1] x
    with float64_view(data, "data", writable=True) as view:
        x = view
        with nogil:
            _transform(&x[0], x.shape[0], c_rounds, c_r)
        x = None


cdef void _fill_uniform(double *x, Py_ssize_t n, uint64_t seed, uint64_t start) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        store_f64(x + i, uniform(seed, start + <uint64_t>i))


def fill_uniform(out, seed, start=0):
    """Fill ``out[i]`` with ``uniform(seed, start + i)``: doubles in [0, 1), seeded and splittable."""
    seed = check_seed(seed)
    start = check_count(start, "start", minimum=0)
    cdef uint64_t c_seed = seed, c_start = start
    cdef double[::1] x
    with float64_view(out, "out", writable=True) as view:
        x = view
        with nogil:
            _fill_uniform(&x[0], x.shape[0], c_seed, c_start)
        x = None


cdef Py_ssize_t _filter_greater(const double *x, Py_ssize_t n, double *y,
                                double threshold) noexcept nogil:
    cdef Py_ssize_t i, k = 0
    cdef double v
    for i in range(n):
        v = load_f64(x + i)
        if v > threshold:
            store_f64(y + k, v)
            k += 1
    return k


def filter_greater(data, out, threshold):
    """Copy the elements of ``data`` greater than ``threshold`` to the front of ``out``, in order."""
    cdef double c_threshold = check_float(threshold, "threshold")
    cdef const double[::1] x
    cdef double[::1] y
    cdef Py_ssize_t k = 0
    with float64_view(data, "data") as xv, float64_view(out, "out", writable=True) as yv:
        if len(yv) < len(xv):
            raise ValueError(
                f"out is too small: it has {len(yv)} elements but data has {len(xv)}; "
                "pass an out at least as long as data"
            )
        x = xv
        y = yv
        with nogil:
            k = _filter_greater(&x[0], x.shape[0], &y[0], c_threshold)
        x = None
        y = None
    return k
