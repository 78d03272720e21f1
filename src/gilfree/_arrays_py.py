"""Array workloads on float64 buffers in pure Python: the reference twins of ``ext/_arrays_c.pyx``.

They accept any C-contiguous float64 buffer (a numpy array, ``array.array('d')``, a memoryview cast
to ``'d'`` over ``SharedMemory.buf`` or an ``mmap``) and walk it in exactly the order that the
compiled kernels use (see :mod:`gilfree._stats`), so the two agree bit for bit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._checks import check_count, check_float, check_seed, float64_view
from ._cpu_py import uniform
from ._stats import BLOCK, LANES, Stats, canonical, merge_stats

if TYPE_CHECKING:
    from ._typing import BufferLike

__all__ = ["chunk_stats", "fill_uniform", "filter_greater", "transform_inplace"]

_INF = float("inf")
_NAN = float("nan")


def _pairwise_sum(v: list[float]) -> float:
    return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]))


def _lane_min(a: float, b: float) -> float:
    return b if b < a else a


def _lane_max(a: float, b: float) -> float:
    return b if b > a else a


def _block_stats(x: memoryview[float], start: int, stop: int) -> Stats:
    sums = [0.0] * LANES
    lows = [_INF] * LANES
    highs = [-_INF] * LANES
    for i in range(start, stop):
        v = x[i]
        j = (i - start) % LANES
        sums[j] += v
        if v < lows[j]:
            lows[j] = v
        if v > highs[j]:
            highs[j] = v
    m = stop - start
    total = _pairwise_sum(sums)
    lo = _lane_min(
        _lane_min(_lane_min(lows[0], lows[1]), _lane_min(lows[2], lows[3])),
        _lane_min(_lane_min(lows[4], lows[5]), _lane_min(lows[6], lows[7])),
    )
    hi = _lane_max(
        _lane_max(_lane_max(highs[0], highs[1]), _lane_max(highs[2], highs[3])),
        _lane_max(_lane_max(highs[4], highs[5]), _lane_max(highs[6], highs[7])),
    )
    mean = total / m
    squares = [0.0] * LANES
    for i in range(start, stop):
        d = x[i] - mean
        squares[(i - start) % LANES] += d * d
    m2 = _pairwise_sum(squares)
    if total != total:
        # A NaN sum has a NaN or two opposite infinities behind it; only a NaN makes min/max NaN.
        for i in range(start, stop):
            if x[i] != x[i]:
                lo = hi = x[i]
                break
    return Stats(m, total, lo, hi, mean, m2)


def chunk_stats(data: BufferLike) -> Stats:
    """Count, sum, min, max, mean and ``m2`` of a float64 buffer, as a mergeable :class:`Stats`."""
    with float64_view(data, "data") as x:
        n = len(x)
        return canonical(merge_stats(_block_stats(x, b, min(b + BLOCK, n)) for b in range(0, n, BLOCK)))


def transform_inplace(data: BufferLike, rounds: int = 1, r: float = 3.9) -> None:
    """Replace every element ``x`` by ``r * x * (1 - x)``, ``rounds`` times (the logistic map).

    ``rounds`` sets the arithmetic per byte: 1 round is bound by memory bandwidth, 100 rounds by
    the CPU, so one kernel shows both regimes. A NaN result is stored as the canonical NaN.
    """
    rounds = check_count(rounds, "rounds")
    r = check_float(r, "r")
    with float64_view(data, "data", writable=True) as x:
        for i in range(len(x)):
            v = x[i]
            for _ in range(rounds):
                v = r * v * (1.0 - v)
            x[i] = v if v == v else _NAN  # one canonical NaN, as in the compiled twin


def fill_uniform(out: BufferLike, seed: int, start: int = 0) -> None:
    """Fill ``out[i]`` with ``uniform(seed, start + i)``: doubles in [0, 1), seeded and splittable.

    Filling a buffer in chunks (each with its own ``start``) gives the same values as one call.
    """
    seed = check_seed(seed)
    start = check_count(start, "start", minimum=0)
    with float64_view(out, "out", writable=True) as x:
        for i in range(len(x)):
            x[i] = uniform(seed, start + i)


def filter_greater(data: BufferLike, out: BufferLike, threshold: float) -> int:
    """Copy the elements of ``data`` greater than ``threshold`` to the front of ``out``, in order.

    Returns how many were copied. ``out`` needs room for all of ``data``; it may be ``data`` itself
    (the filter then compacts in place).
    """
    threshold = check_float(threshold, "threshold")
    with float64_view(data, "data") as x, float64_view(out, "out", writable=True) as y:
        if len(y) < len(x):
            raise ValueError(
                f"out is too small: it has {len(y)} elements but data has {len(x)}; "
                "pass an out at least as long as data"
            )
        k = 0
        for i in range(len(x)):
            v = x[i]
            if v > threshold:
                y[k] = v
                k += 1
        return k
