"""Small pieces that lab steps 5 to 8 share, so that none copies another.

Which implementation a summary speaks of, which strategy may carry the worker processes, how
two results are compared bit for bit, the words the steps use for worker processes against a
serial pass, for tasks too small to hand out, for a speedup above its ideal and for a figure
measured once, and how large the machine's largest cache is. What every step shares (the
implementations to run, the worker count, rows, the result) lives in :mod:`gilfree.lab._plan`;
the general rules from figures to words in :mod:`gilfree.figures`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from .._select import C_EXTENSION, PURE_PYTHON, Implementation
from .._stats import Stats, stats_bits
from ..figures import SHORT_TASK_SECONDS, Timed, above_ideal, ms, noise_of, x
from ..strategies import get_strategy
from ._result import Row

__all__ = [
    "CACHE_FOLDER",
    "THREAD_TASK_SECONDS",
    "ideal_clause",
    "ideal_notes",
    "largest_cache_bytes",
    "main_implementation",
    "measured_once",
    "no_spread",
    "process_strategy",
    "processes_clause",
    "same_stats",
    "timed",
    "too_little",
]

#: Less work than this in a task does not pay for handing it to a thread (a hand-off costs about
#: 20 us); a round trip to a worker process costs more (:data:`gilfree.figures.SHORT_TASK_SECONDS`).
THREAD_TASK_SECONDS = 1e-4

#: Where Linux describes the caches of the first CPU: ``index*/size`` holds ``32K``, ``32768K``...
CACHE_FOLDER = "/sys/devices/system/cpu/cpu0/cache"
_SIZE = re.compile(r"^\s*(\d+)\s*([KMG]?)B?\s*$", re.IGNORECASE)
_UNIT = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}


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


def timed(row: Row) -> Timed:
    """A row's figures as :mod:`gilfree.figures` judges them: wall and CPU time, spread, and the
    repeats they rest on (``extra["repeats"]``; absent: not said)."""
    repeats = row.extra.get("repeats")
    return Timed(row.seconds, row.cpu_seconds, row.spread, int(repeats) if repeats is not None else None)


def measured_once(*rows: Row) -> bool:
    """Some of ``rows`` rests on one repeat: its spread reads 0, and no gap to it can be judged."""
    return any(r is not None and r < 2 for r in (timed(row).repeats for row in rows))


def no_spread(what: str = "that gap") -> str:
    """What to say instead of a cause when a figure rests on one repeat."""
    return f"one repeat gives no spread to judge {what} by"


def too_little(uses: str, per_task: float) -> str | None:
    """``too little to pay for handing it to a thread`` (or ``for a round trip to a worker
    process``) when ``per_task`` seconds of work is less than handing a task to an executor that
    ``uses`` threads (:data:`THREAD_TASK_SECONDS`) or processes costs; else None."""
    if uses == "threads":
        cost, words = THREAD_TASK_SECONDS, "handing it to a thread"
    elif uses == "processes":
        cost, words = SHORT_TASK_SECONDS, "a round trip to a worker process"
    else:
        return None
    return None if per_task >= cost else f"too little to pay for {words}"


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
    small = too_little("processes", per_chunk_seconds)
    if small:
        return f"each of its {chunks} chunks held about {ms(per_chunk_seconds)} of work, {small}"
    return None


def ideal_clause(speedup: float, ideal: float, noise: float, *, once: bool = False) -> str | None:
    """A clause for a speedup above the ideal ``ideal``x, else None.

    Within the noise it is noise, beyond it a cache effect or a slowed reference
    (:func:`gilfree.figures.above_ideal`); measured ``once``, there is no spread to tell which.
    """
    if speedup <= ideal:
        return None
    if once:
        return (f"{x(speedup)} is above the ideal {x(ideal)}, and one repeat gives no spread to tell noise from "
                "a real gain")
    return above_ideal(speedup, ideal, noise)


def ideal_notes(rows: Sequence[Row], reference: Mapping[str, Row], cores: int) -> list[str]:
    """One sentence for every row above its ideal speedup (noise, or a cache effect).

    A row's ideal is its worker count, at most ``cores``. ``reference`` maps an implementation to
    the row its speedups are measured against; its spread counts in the noise.
    """
    out = []
    for row in rows:
        ref = reference[row.implementation]
        if row.speedup is None or row is ref:
            continue
        clause = ideal_clause(row.speedup, float(min(row.workers, cores)), noise_of(row.spread, ref.spread),
                              once=measured_once(row, ref))
        if clause is not None:
            name = f"{row.variant} ({row.implementation}, {row.strategy})"
            out.append(f"{name[0].upper()}{name[1:]} against {ref.variant}: {clause}.")
    return out


def _cache_size(text: str) -> int | None:
    """``32K``, ``32768K``, ``1M``, ``512`` in bytes; None for anything else."""
    found = _SIZE.match(text)
    return int(found.group(1)) * _UNIT[found.group(2).upper()] if found else None


def largest_cache_bytes(folder: str | Path = CACHE_FOLDER) -> int | None:
    """The size of the largest cache that Linux lists in ``folder`` (``index*/size``), or None
    where none can be read (another system, a container that hides it)."""
    sizes = []
    try:
        for index in Path(folder).glob("index*"):
            try:
                size = _cache_size((index / "size").read_text())
            except OSError:
                continue
            if size:
                sizes.append(size)
    except OSError:
        return None
    return max(sizes, default=None)
