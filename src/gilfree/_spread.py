"""Exact statistics of a buffer whose consecutive runs are held by different workers.

``chunk_stats`` over a whole buffer folds blocks of :data:`~gilfree._stats.BLOCK` elements with
a fixed tree (see :mod:`gilfree._stats`), counted from the buffer's first element. When the
buffer exists only in pieces (each worker holds the run it filtered, at an offset it learns
later), the pieces cannot simply be merged: their edges are not block edges. Each holder
instead describes its run at its offset with :func:`pieces_of`: the statistics of every whole
aligned power-of-two group of blocks inside it (each a node of the fold's tree), plus the raw
values of the partial blocks at its two ends (under a block each, so at most 16 KiB). The
caller, :func:`merge_pieces`, computes the blocks that straddle two holders from those values and
folds everything with the same tree: the result equals one ``chunk_stats`` call over the whole
buffer, bit for bit, while the runs themselves never travel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ._stats import BLOCK, Stats, merge_two

__all__ = ["Pieces", "merge_pieces", "pieces_of"]

StatsKernel = Callable[[np.ndarray], Stats]


@dataclass(frozen=True)
class Pieces:
    """One run at ``offset`` of ``count`` values: whole tree nodes and the values at its edges."""

    offset: int
    count: int
    #: (first block, blocks, statistics) of each aligned power-of-two group of whole blocks.
    nodes: tuple[tuple[int, int, Stats], ...]
    #: (position, values) of the run's parts that do not fill a whole block of their own.
    edges: tuple[tuple[int, np.ndarray], ...]


def pieces_of(chunk_stats: StatsKernel, values: np.ndarray, offset: int) -> Pieces:
    """Describe ``values``, which sit at ``offset`` of the whole buffer, for :func:`merge_pieces`."""
    count = int(values.shape[0])
    end = offset + count
    first, last = -(-offset // BLOCK), end // BLOCK  # the whole blocks are [first, last)
    if first >= last:
        return Pieces(offset, count, (), ((offset, np.array(values)),) if count else ())
    edges = []
    if first * BLOCK > offset:
        edges.append((offset, np.array(values[:first * BLOCK - offset])))
    nodes = []
    block = first
    while block < last:
        size = 1
        while block % (2 * size) == 0 and block + 2 * size <= last:
            size *= 2
        lo = block * BLOCK - offset
        nodes.append((block, size, chunk_stats(values[lo:lo + size * BLOCK])))
        block += size
    if end > last * BLOCK:
        edges.append((last * BLOCK, np.array(values[last * BLOCK - offset:])))
    return Pieces(offset, count, tuple(nodes), tuple(edges))


def merge_pieces(chunk_stats: StatsKernel, pieces: Sequence[Pieces], total: int) -> Stats | None:
    """The statistics of the whole ``total`` values that ``pieces`` describe (None when empty)."""
    covered = sorted((p.offset, p.count) for p in pieces if p.count)
    at = 0
    for offset, count in covered:
        if offset != at:
            raise ValueError(f"the pieces do not tile the buffer: a run starts at {offset}, not {at}")
        at += count
    if at != total:
        raise ValueError(f"the pieces hold {at} values, not {total}")
    if total == 0:
        return None
    nodes = {start: (size, stats) for p in pieces for start, size, stats in p.nodes}
    edges: dict[int, list[tuple[int, np.ndarray]]] = {}
    for p in pieces:
        for position, values in p.edges:
            while values.shape[0]:  # an edge may straddle a block boundary: cut it there
                block = position // BLOCK
                room = (block + 1) * BLOCK - position
                edges.setdefault(block, []).append((position, values[:room]))
                position, values = position + room, values[room:]

    def leaf(block: int) -> Stats:
        parts = sorted(edges.get(block, []), key=lambda e: e[0])
        return chunk_stats(np.concatenate([v for _, v in parts]))

    def fold(start: int, stop: int) -> Stats:
        node = nodes.get(start)
        if node is not None and node[0] == stop - start:
            return node[1]
        if stop - start == 1:
            return leaf(start)
        half = 1 << ((stop - start - 1).bit_length() - 1)  # the largest power of two below the count
        return merge_two(fold(start, start + half), fold(start + half, stop))

    return fold(0, -(-total // BLOCK))
