"""The mergeable statistics record that both array-kernel twins return, and its exact merge.

Floating-point addition is not associative, so "the sum of an array" depends on the order of the
additions. gilfree fixes one order and uses it everywhere:

* The array is cut into blocks of ``BLOCK`` elements. Inside a block, element ``i`` goes to lane
  ``i % LANES``; the lanes are combined pairwise. That is the order a C compiler can vectorize,
  and the pure-Python twin follows it step for step.
* Block results are combined by a binary tree in which the left part of any node holds the largest
  power of two of blocks smaller than the node's count (a running "binary counter" fold).

Because of that tree, a buffer cut into chunks of ``BLOCK * 2**k`` elements (see
:func:`aligned_chunk_size`), whose chunk results are combined with :func:`merge_stats`, gives
*bit for bit* the same :class:`Stats` as one call on the whole buffer. Parallel reductions in
gilfree are therefore exact: not close to the serial answer, equal to it.

The mean and the sum of squared deviations (``m2``) merge with Chan, Golub and LeVeque's
pairwise formula, so the variance never suffers the cancellation of ``E[x**2] - E[x]**2``.
"""

from __future__ import annotations

import math
import struct
from typing import Iterable, NamedTuple

from ._checks import check_count

__all__ = ["BLOCK", "LANES", "Stats", "aligned_chunk_size", "canonical", "merge_stats", "merge_two", "stats_bits"]

#: Elements per leaf block (8 KiB of float64: small enough to stay in L1 for the second pass).
BLOCK = 1024
#: Independent accumulators inside a block (what lets the compiler vectorize the sum).
LANES = 8


class Stats(NamedTuple):
    """Count, sum, min, max, mean and ``m2`` (sum of squared deviations) of float64 data."""

    count: int  # type: ignore[assignment]  # shadows tuple.count() on purpose: the field reads best
    sum: float
    min: float
    max: float
    mean: float
    m2: float

    @property
    def variance(self) -> float:
        """Population variance, ``m2 / count`` (numpy's ``var`` with ``ddof=0``)."""
        return self.m2 / self.count

    @property
    def std(self) -> float:
        """Population standard deviation."""
        return math.sqrt(self.variance)

    def merge(self, other: "Stats") -> "Stats":
        """The statistics of this data followed by ``other``'s (see :func:`merge_two`)."""
        return merge_two(self, other)


_NAN = float("nan")


def canonical(stats: Stats) -> Stats:
    """The same statistics with every NaN replaced by the one canonical quiet NaN.

    Which NaN bit pattern an operation yields (its sign, its payload) depends on operand order
    and even on the interpreter's specialization state, so the twins agree bit for bit only
    once NaN is made canonical. Both twins return results through this rule.
    """
    if all(v == v for v in stats[1:]):
        return stats
    return Stats(stats.count, *(v if v == v else _NAN for v in stats[1:]))


def stats_bits(stats: Stats | None) -> tuple[int | bytes, ...] | None:
    """Stats as exact bits: two results compare equal only if every bit of every field is equal
    (``==`` on floats would call 0.0 and -0.0 equal, and NaN unequal to itself)."""
    if stats is None:
        return None
    return (stats.count, *(struct.pack("<d", float(v)) for v in stats[1:]))


def _min2(a: float, b: float) -> float:
    # NaN wins, so a NaN anywhere shows in the result as numpy's min would show it.
    if a != a:
        return a
    if b != b:
        return b
    return b if b < a else a


def _max2(a: float, b: float) -> float:
    if a != a:
        return a
    if b != b:
        return b
    return b if b > a else a


def _check_stats(value: object, name: str) -> None:
    # A plain 6-tuple would fail later with an AttributeError that names no argument.
    if not isinstance(value, Stats):
        raise TypeError(f"{name} must be a Stats (from chunk_stats or merge_stats), "
                        f"not {type(value).__name__}")


def merge_two(a: Stats, b: Stats) -> Stats:
    """Merge the statistics of two adjacent pieces of data, ``a`` first.

    The C kernels carry out exactly these operations, in this order, on C doubles.
    """
    _check_stats(a, "a")
    _check_stats(b, "b")
    count = a.count + b.count
    n_a = float(a.count)
    n_b = float(b.count)
    n = float(count)
    delta = b.mean - a.mean
    frac_b = n_b / n
    mean = a.mean + delta * frac_b
    m2 = a.m2 + b.m2 + delta * delta * (n_a * frac_b)
    return canonical(Stats(count, a.sum + b.sum, _min2(a.min, b.min), _max2(a.max, b.max), mean, m2))


def merge_stats(parts: Iterable[Stats]) -> Stats:
    """Merge consecutive chunk results with the same binary-counter tree the kernels use.

    With chunks of ``BLOCK * 2**k`` elements (only the last may be shorter) the result equals,
    bit for bit, the statistics of the whole buffer computed in one call.
    """
    stack: list[tuple[int, Stats]] = []  # (level, stats of 2**level leaves)
    for i, part in enumerate(parts):
        _check_stats(part, f"parts[{i}]")
        level, node = 0, part
        while stack and stack[-1][0] == level:
            _, left = stack.pop()
            node = merge_two(left, node)
            level += 1
        stack.append((level, node))
    if not stack:
        raise ValueError("merge_stats needs at least one Stats")
    _, result = stack.pop()
    while stack:
        _, left = stack.pop()
        result = merge_two(left, result)
    return result


def aligned_chunk_size(n: int, parts: int) -> int:
    """A chunk length (in elements) for splitting ``n`` elements into about ``parts`` chunks.

    The length is ``BLOCK * 2**k`` (the largest such length that still gives at least ``parts``
    chunks, and never less than one block), so merged chunk results are bit-identical to a
    single pass. Ask for a few chunks per worker to keep the load balanced.
    """
    n, parts = check_count(n, "n"), check_count(parts, "parts")
    size = BLOCK
    while size * 2 * parts <= n:
        size *= 2
    return size
