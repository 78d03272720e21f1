"""Small pieces that lab steps 5 and 6 share, so that neither copies the other.

Which implementation a summary speaks of, which strategy may carry the worker processes, how
two results are compared bit for bit, and the words both steps
use for worker processes against a serial pass. What every step shares (the implementations to
run, the worker count, rows, the result) lives in :mod:`gilfree.lab._plan`; the general rules
from figures to words in :mod:`gilfree.figures`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .._select import C_EXTENSION, PURE_PYTHON, Implementation
from .._stats import Stats, stats_bits
from ..figures import SHORT_TASK_SECONDS, above_ideal, ms, noise_of
from ..strategies import get_strategy
from ._result import Row

__all__ = [
    "ideal_notes",
    "main_implementation",
    "process_strategy",
    "processes_clause",
    "same_stats",
]


def main_implementation(impls: Mapping[str, Implementation]) -> str:
    """The implementation a step's summary speaks of: the compiled one when it runs."""
    return C_EXTENSION if C_EXTENSION in impls else PURE_PYTHON


def process_strategy(strategy: object, why: str) -> str:
    """``strategy`` checked as a registered strategy whose tasks run in worker processes.

    ``why`` ends the message that refuses an in-process strategy: what the step needs processes for.
    """
    found = get_strategy(strategy)  # type: ignore[arg-type]  # it checks the type itself
    if found.capabilities.in_process:
        raise ValueError(f"strategy must run tasks in worker processes, not {found.name!r}: {why}")
    return found.name


def same_stats(a: Stats, b: Stats) -> bool:
    """Bitwise equality of two Stats (``==`` would call 0.0 and -0.0 equal)."""
    return stats_bits(a) == stats_bits(b)


def processes_clause(gained: bool, per_chunk_seconds: float, chunks: int, *, pure: bool,
                     gil: bool) -> str | None:
    """Why worker processes gained or lost against a serial pass, or None where no figure shows why.

    ``gained``: the speedup is beyond the noise. A gain is the processes working at once (for
    pure Python under a GIL, because each process has its own); no gain is the tasks' round trips
    only when each chunk held less work than one costs (:data:`SHORT_TASK_SECONDS`), the
    figure then stated.
    """
    if gained:
        if pure and gil:
            return "each process has its own interpreter and its own GIL, so they ran at once"
        return "the processes split the work across the cores"
    if per_chunk_seconds < SHORT_TASK_SECONDS:
        return (f"each of its {chunks} chunks held about {ms(per_chunk_seconds)} of work, too little "
                "to pay for a task's round trip to a worker process")
    return None


def ideal_notes(rows: Sequence[Row], reference: Mapping[str, Row], ideal: float) -> list[str]:
    """One sentence for every row above the ideal speedup ``ideal``x (noise, or a cache effect).

    ``reference`` maps an implementation to the row its speedups are measured against; its
    spread counts in the noise.
    """
    out = []
    for row in rows:
        ref = reference[row.implementation]
        if row.speedup is None or row is ref:
            continue
        clause = above_ideal(row.speedup, ideal, noise_of(row.spread, ref.spread))
        if clause is not None:
            name = f"{row.variant} ({row.implementation}, {row.strategy})"
            out.append(f"{name[0].upper()}{name[1:]} against {ref.variant}: {clause}.")
    return out
