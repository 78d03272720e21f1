"""What steps 7 and 8 say about their rows: executors grouped by what they are, and only what a
group's figures support.

Both steps time a reference (one call, one pass) and the same work chunked on every strategy.
Each row's ``extra`` carries what its executor is, from the strategy's capabilities, never from
its name: ``uses`` (``"serial"``, ``"threads"``, ``"processes"``, or :data:`REFERENCE` for the
reference itself) and ``transport`` (how a chunk of a shared array reaches its task). So a
plugin strategy is described by what it does, and every range covers every row it describes.
The rules from figures to words are :mod:`gilfree.figures`; this module applies them to rows.
A row measured once (``extra["repeats"]`` is 1) has no spread: no gain or loss of it is judged,
and no cause named on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..figures import (Timed, beyond_noise, busy_cores, clearly_faster, gil_reading, ms, ms_span, noise_of,
                       repeat_advice, span)
from .._select import PURE_PYTHON
from ._common import ideal_clause, measured_once, no_spread, too_little
from ._result import Row

__all__ = [
    "REFERENCE",
    "RefOf",
    "above_ideal_lines",
    "attach_sentence",
    "by_uses",
    "gained",
    "group_phrase",
    "names",
    "no_gain_sentence",
    "noise",
    "of_uses",
    "on_workers",
    "once",
    "process_reading",
    "readings",
    "serial_note",
    "speedup",
    "thread_reading",
    "transport_words",
    "uses",
]

#: The ``uses`` of a reference row (the one call, the one pass).
REFERENCE = "reference"
#: How a chunk reaches its task, by transport name (:mod:`gilfree.transports`).
_TRANSPORT = {"views": "read views of the parent's arrays",
              "shared-memory": "attach the shared segment by handle",
              "copies": "get pickled copies", "whole-array": "get the whole array and a range",
              "description": "get a description of their chunk and make it in the worker"}

#: A row's reference row: the same work done the reference way (one call, one pass).
RefOf = Callable[[Row], Row]


def uses(row: Row) -> str:
    return str(row.extra["uses"])


def speedup(row: Row) -> float:
    """A row's speedup against its reference: every row an explanation compares has one."""
    if row.speedup is None:
        raise ValueError(f"the row {row.variant!r}, {row.strategy!r} has no speedup to compare")
    return row.speedup


def transport_words(name: str) -> str:
    return _TRANSPORT.get(name, f"get their chunks by {name}")


def of_uses(rows: Sequence[Row], kind: str) -> list[Row]:
    return [r for r in rows if uses(r) == kind]


def by_uses(rows: Sequence[Row]) -> dict[str, list[Row]]:
    """The rows grouped by what their executors use, threads first, then processes, then serial."""
    return {kind: of_uses(rows, kind) for kind in ("threads", "processes", "serial")}


def serial_note(costs: str) -> str:
    """Why the serial executor's ratio is worth a look: it is what ``costs`` without parallelism."""
    return (" The serial executor runs the same chunks one after another in this thread: its ratio is "
            f"what {costs} without any parallelism.")


def readings(groups: dict[str, list[Row]], impl: str, ref_of: RefOf, gil: bool, per_task: float,
             against: str) -> list[str]:
    """What the groups' figures say against the reference ``against``: for pure Python, how its
    threads and processes read with the GIL; then every group that gained nothing, and why."""
    said: list[str | None] = []
    idle = [groups["processes"]]
    if impl == PURE_PYTHON:
        said.append(thread_reading(groups["threads"], ref_of, gil, against) if groups["threads"] else None)
        said.append(process_reading(groups["processes"], ref_of, against, gil))
    else:
        idle.insert(0, groups["threads"])
    said.append(no_gain_sentence(idle, ref_of, per_task, against))
    return [s for s in said if s]


def names(rows: Sequence[Row]) -> str:
    """The strategies of ``rows``, each once, in order."""
    return ", ".join(dict.fromkeys(r.strategy for r in rows))


def _count(values: Sequence[int]) -> tuple[str, bool]:
    low, high = min(values), max(values)
    return (str(low) if low == high else f"{low} to {high}"), high == 1


def on_workers(rows: Sequence[Row]) -> str:
    """Where ``rows`` ran, from their capabilities: ``on 2 threads``, ``on 2 to 4 worker processes``."""
    kind = uses(rows[0])
    if kind == "serial":
        return "one chunk after another"
    count, one = _count([r.workers for r in rows])
    word = {"threads": ("thread", "threads"), "processes": ("worker process", "worker processes")}.get(
        kind, ("worker", "workers"))
    return f"on {count} {word[0] if one else word[1]}"


def group_phrase(rows: Sequence[Row]) -> str:
    """``on 2 threads (threads, toy) at 0.97x to 1.82x``: the range covers every row."""
    return f"{on_workers(rows)} ({names(rows)}) at {span(speedup(r) for r in rows)}"


def noise(row: Row, ref_of: RefOf) -> float:
    """The noise of a row's speedup: the worse of its own spread and its reference's."""
    return noise_of(row.spread, ref_of(row).spread)


def gained(row: Row, ref_of: RefOf) -> bool:
    """The row beat its reference by more than the noise."""
    return beyond_noise(speedup(row), row.spread, ref_of(row).spread)


def once(rows: Sequence[Row], ref_of: RefOf) -> bool:
    """Some row of ``rows``, or its reference, rests on one repeat: no gap to judge."""
    return any(measured_once(r, ref_of(r)) for r in rows)


def above_ideal_lines(rows: Sequence[Row], ref_of: RefOf, label: Callable[[Row], str], cores: int) -> list[str]:
    """A sentence for every row whose speedup is above its ideal: its worker count, at most ``cores``."""
    out = []
    for r in rows:
        if uses(r) != REFERENCE and r.speedup is not None:
            clause = ideal_clause(r.speedup, float(min(r.workers, cores)), noise(r, ref_of), once=once([r], ref_of))
            if clause:
                out.append(f"{label(r)}: {clause}.")
    return out


def thread_reading(rows: Sequence[Row], ref_of: RefOf, gil: bool, against: str) -> str:
    """What pure-Python thread rows say of the GIL, from their speedups and CPU time per wall second."""
    cpws = [Timed(r.seconds, r.cpu_seconds).cpu_per_wall for r in rows]
    known = [c for c in cpws if c is not None]
    readings = {gil_reading(speedup(r), c, r.workers, gil, noise(r, ref_of)) for r, c in zip(rows, cpws)}
    seen = (f"pure-Python threads ({names(rows)}) ran at {span(speedup(r) for r in rows)} against {against}"
            + (f", using {busy_cores(known)}" if known else ""))
    if readings == {"took turns"}:
        return f"{seen[0].upper()}{seen[1:]}: the GIL's fingerprint, one thread ran Python at a time."
    if readings == {"no gil"}:
        if once(rows, ref_of):
            return f"This interpreter runs without the GIL, and {seen}; {no_spread('that gain')}."
        if all(gained(r, ref_of) for r in rows):
            return f"This interpreter runs without the GIL, and {seen}: the threads ran Python in parallel."
        return repeat_advice(f"this interpreter runs without the GIL, yet {seen}, no faster beyond the spread")
    if readings == {"waited"}:
        return (f"{seen[0].upper()}{seen[1:]}, less than one core busy: the threads waited on something "
                "besides each other and the GIL (other processes, I/O); repeat the run on a quieter machine "
                "to see what the GIL alone does.")
    if readings == {"scaled"}:
        return repeat_advice(f"{seen}, although the GIL lets one thread run Python at a time")
    return repeat_advice(seen)


def process_reading(rows: Sequence[Row], ref_of: RefOf, against: str, gil: bool) -> str | None:
    """Why pure-Python worker processes sped up, when every one of them did beyond the noise (and
    none rests on one repeat): each has its own interpreter, and under a GIL its own GIL."""
    if not rows or once(rows, ref_of) or not all(gained(r, ref_of) for r in rows):
        return None
    why = "and its own GIL" if gil else "so the work ran on separate cores"
    return (f"Pure-Python worker processes ({names(rows)}) ran at {span(speedup(r) for r in rows)} against "
            f"{against}, beyond the spread: each process has its own interpreter, {why}.")


def no_gain_sentence(groups: Sequence[Sequence[Row]], ref_of: RefOf, per_task: float, against: str) -> str | None:
    """For the groups none of whose rows beat its reference beyond the noise: why, if the figures
    say (tasks too small to pay for handing them to a thread, or for a round trip to a worker
    process); else what was seen and a repeat. Groups measured once are not judged: the sentence
    says so. None when every group had a row that gained."""
    groups = [g for g in groups if g]
    said = []
    unjudged = [g for g in groups if once(g, ref_of)]
    if unjudged:
        where = " or ".join(f"{on_workers(g)} ({names(g)})" for g in unjudged)
        said.append(f"One repeat gives no spread to judge whether the executors {where} beat {against}, so no "
                    "cause is named for them.")
    for g in groups:
        if once(g, ref_of) or any(gained(r, ref_of) for r in g):
            continue
        who = f"no executor {on_workers(g)} ({names(g)}) beat {against} beyond the spread"
        clause = too_little(uses(g[0]), per_task)
        if clause:
            said.append(f"{who[0].upper()}{who[1:]}: each task held about {ms(per_task)} of work, {clause}.")
        else:
            said.append(repeat_advice(f"{who}, though each task held about {ms(per_task)} of work"))
    return " ".join(said) or None


def attach_sentence(rows: Sequence[Row], doing: str) -> str:
    """The cost of attaching a shared segment, when every executor whose tasks attach it took
    clearly longer than every one whose tasks read views; else nothing. Measured once, the times
    are stated without a cause, where the attaching ones were the slower."""
    views = [r for r in rows if r.extra["transport"] == "views"]
    attached = [r for r in rows if r.extra["transport"] == "shared-memory"]
    if not views or not attached:
        return ""
    slowest_view = max(views, key=lambda r: r.seconds)
    fastest_attached = min(attached, key=lambda r: r.seconds)
    seen = (f"Every executor whose tasks attach the shared segment ({names(attached)}) took "
            f"{ms_span(r.seconds for r in attached)} {doing}, against {ms_span(r.seconds for r in views)} for "
            f"those reading views ({names(views)})")
    if measured_once(*views, *attached):
        return f"{seen}: {no_spread()}." if slowest_view.seconds < fastest_attached.seconds else ""
    if not clearly_faster(slowest_view.seconds, slowest_view.spread, fastest_attached.seconds,
                          fastest_attached.spread):
        return ""
    noise = noise_of(slowest_view.spread, fastest_attached.spread)
    return (f"{seen}, longer by more than the repeats' spread ({noise:.0%}): each such task travels to another "
            "process and attaches the segment before it touches the data, costs a task reading a view in this "
            "process never pays.")
