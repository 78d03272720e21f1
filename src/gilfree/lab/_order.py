"""Submission and arrival orders, shared by the steps about ``imap_unordered`` and ``as_completed``.

Which task a result answers is tracked by its index in submission order; these helpers build an
order that makes finishing order differ from it, and measure how far an arrival order strayed.
"""

from __future__ import annotations

from typing import Sequence, TypeVar

__all__ = ["interleave_heavy_light", "overtaken"]

T = TypeVar("T")


def interleave_heavy_light(items: Sequence[T]) -> list[T]:
    """``[last, first, second-to-last, second, ...]``: for items sorted by cost, heavy and light alternate.

    Handed to a pool in this order, a light task submitted after a heavy one finishes first.
    """
    out = []
    lo, hi = 0, len(items) - 1
    while lo <= hi:
        out.append(items[hi])
        if lo < hi:
            out.append(items[lo])
        lo, hi = lo + 1, hi - 1
    return out


def overtaken(order: Sequence[int]) -> int:
    """How many results arrived after the result of a task submitted later than theirs.

    ``order`` lists submission indices in arrival order: ``[1, 0, 2]`` has one (task 0 was
    overtaken by task 1). Indices need not be contiguous.
    """
    count, highest = 0, None
    for index in order:
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"order must hold int indices, got {type(index).__name__}")
        if highest is not None and index < highest:
            count += 1
        else:
            highest = index
    return count
