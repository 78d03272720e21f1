"""What steps 7 and 8 share: their words.

One copy of each: how a short time is written, where a thread speedup stops being the GIL's
fingerprint, when a chunk holds too little work to be worth handing to a worker, how a row is
looked up by what it measured. The thresholds are named here so that the words of both steps
follow the same figures.
"""

from __future__ import annotations

from typing import Literal, Sequence

from ._result import Row

#: A pure-Python thread speedup below this is what taking turns on the GIL looks like.
GIL_BOUND_SPEEDUP = 1.2
#: One variant is "clearly slower" than another when it takes this many times as long.
CLEARLY_SLOWER = 1.2
#: Less work than this per chunk does not pay for handing the chunk to a worker.
SMALL_CHUNK_SECONDS = 1e-3

GilVerdict = Literal["no gil", "turns", "noise"]


def ms(seconds: float) -> str:
    """Milliseconds with as many digits as a short time needs."""
    value = seconds * 1000
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms" if value >= 0.1 else f"{value:.2f} ms"


def plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def gil_verdict(thread_speedup: float, gil: bool) -> GilVerdict:
    """What a pure-Python thread speedup says about the GIL: absent, taken in turns, or noise."""
    if not gil:
        return "no gil"
    if thread_speedup < GIL_BOUND_SPEEDUP:
        return "turns"
    return "noise"  # more than the GIL allows


def small_chunks(per_chunk_seconds: float, *, of_work: str = "of work") -> str:
    """The clause for chunks below :data:`SMALL_CHUNK_SECONDS`."""
    return (f"each chunk held about {per_chunk_seconds * 1e6:.0f} us {of_work}, too little to pay for "
            "handing it to a worker.")


def speedup(row: Row) -> float:
    """A row's speedup: every row an explanation compares has one (stage rows of compact do not)."""
    if row.speedup is None:
        raise ValueError(f"the row {row.variant!r}, {row.strategy!r} has no speedup to compare")
    return row.speedup


def find_row(rows: Sequence[Row], variant: str, impl: str, strategy: str,
             chunks: int | None = None) -> Row:
    """The row that measured ``variant`` on ``impl`` and ``strategy`` (and ``chunks``, if given)."""
    return next(r for r in rows if r.variant == variant and r.implementation == impl
                and r.strategy == strategy and (chunks is None or r.extra["chunks"] == chunks))
