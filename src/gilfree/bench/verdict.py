"""Plain words from the numbers: which strategy wins each workload, by how much, and what that shows.

Every sentence here is derived from the rows of one run, and every rule from figures to words is
one of :mod:`gilfree.figures`: a sentence that names a cause states the figure it rests on and is
said only when that figure supports it ("the GIL's fingerprint" only when
:func:`~gilfree.figures.gil_fingerprint` holds; "releases the GIL" only when the nogil threads
beat the pure-Python ones by more than the spread; "each process has its own interpreter" only when
the processes beat the serial call by more than the spread, and "and GIL" only for pure Python on
an interpreter with one). What the tasks carried is said from the row's transport and the
workload's data: nothing about arrays or copies for a workload with no array, "back" only for one
whose data changes. Ratios name what they are relative to; a range covers every row it
describes; a speedup above the ideal is called out. A row that rests on one repeat has no spread:
no "beyond the spread" is said of it. Where the figures do not tell the expected story, the
verdict says what was seen and that the run should be repeated
(:func:`~gilfree.figures.repeat_advice`).

The verdict takes rows (dicts, as the JSON holds them), so tests feed it hand-picked figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Literal

from .._load import MachineLoad
from ..figures import (GIL_CPU_PER_WALL, MIN_NOISE, above_ideal, beyond_noise, clearly_faster, gil_fingerprint,
                       gil_reading, ms, noise_of, plural, ratio, repeat_advice, span, x)

__all__ = ["HEADLINES", "headlines", "machine_line", "reference_workers", "summary", "verdicts"]

SIZE_ORDER = ("small", "medium", "large")

Row = dict[str, Any]
Rows = list[Row]


def reference_workers(doc: dict[str, Any]) -> int:
    """The worker count the verdict speaks of: the core count if measured, else the nearest below."""
    cores = doc["plan"]["cores"]
    counts = sorted(doc["plan"]["workers"])
    below = [k for k in counts if k <= cores]
    return int(max(below) if below else min(counts))


def machine_line(doc: dict[str, Any]) -> str | None:
    """The busy- or noisy-machine sentence the verdict opens with (:meth:`MachineLoad.line`), or None
    (a quiet run, or a schema-1 result)."""
    machine = doc.get("machine")
    return MachineLoad.from_dict(machine).line() if isinstance(machine, dict) else None


# -- reading rows -------------------------------------------------------------------------------

#: What a row resting on one repeat gets instead of a judgement: its spread of 0 is not a measurement.
NO_SPREAD = "one repeat gives no spread to judge by"

Judged = Literal["beyond", "within", "unknown"]


@dataclass(frozen=True)
class _Data:
    """What a workload's tasks carry: an array at all (``bytes_per_element`` > 0), and whether the
    data they change has to come back to the caller."""

    moves: bool
    comes_back: bool


def _data_of(doc: dict[str, Any], workload: str) -> _Data:
    """The workload's data as the document records it (``workloads``), else as today's table has it."""
    from .workloads import WORKLOADS

    recorded = doc.get("workloads", {}).get(workload, {})
    known = WORKLOADS.get(workload)
    per_element = recorded.get("bytes_per_element", known.bytes_per_element if known is not None else None)
    moves = bool(per_element) if per_element is not None else any(r["bytes"] for r in doc["rows"]
                                                                   if r["workload"] == workload)
    back = recorded.get("writes")
    if back is None:  # a result written before the field: today's table says
        back = known is not None and known.writes
    return _Data(moves, bool(back))


def _kind(row: Row) -> tuple[str, str | None]:
    """(where its tasks ran, how its data travelled) for a row: ``uses`` and ``transport``.

    Rows written before these fields existed get them from today's table of variants.
    """
    if "uses" in row:
        return row["uses"], row.get("transport")
    from .workloads import variants

    known = variants().get(row["strategy"])
    return (known.uses, known.transport) if known is not None else ("processes", None)


def _ok(rows: Iterable[Row], **match: Any) -> Rows:
    return [r for r in rows if r["ok"] and all(r.get(k) == v for k, v in match.items())]


def _one(rows: Rows, **match: Any) -> Row | None:
    found = _ok(rows, **match)
    return found[0] if found else None


def _one_repeat(*rows: Row | None) -> bool:
    """Whether any of ``rows`` rests on a single timed repeat (its spread of 0 says nothing)."""
    return any(r is not None and isinstance(r.get("wall_s"), list) and len(r["wall_s"]) == 1 for r in rows)


def _rate(row: Row) -> float:
    """Elements per second: the one measure that compares the twins (they get different sizes)."""
    return float(row["elements"] / row["median_s"])


def _mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:,.0f} MB" if nbytes >= 1e7 else f"{nbytes / 1e6:.1f} MB"


def _cpu(row: Row) -> str:
    c = row.get("cpu_per_wall")
    return f"{c:.2f} CPU seconds per second of wall time" if c is not None else "CPU time not measured"


def _name(row: Row) -> str:
    impl = {"c-extension": "the nogil kernel", "pure-python": "pure Python", "numpy": "numpy"}[row["implementation"]]
    if row["strategy"] == "numpy":
        return "numpy's own call"
    if row["strategy"] == "serial":
        return f"{impl}, serial"
    return f"{impl} on {row['strategy']}"


def _capital(text: str) -> str:
    return text[0].upper() + text[1:]


def _parallel(row: Row) -> bool:
    return _kind(row)[0] != "serial"


def _ideal_note(row: Row) -> str:
    """A sentence after one that quotes ``row``'s speedup, when that speedup is above its ideal."""
    if not _parallel(row) or row["speedup"] is None or row["speedup"] <= row["ideal"]:
        return ""
    if _one_repeat(row):
        return (f" {_capital(_name(row))}: {x(row['speedup'])} is above the ideal {x(row['ideal'])}, and "
                f"{NO_SPREAD}: it may be noise.")
    return f" {_capital(_name(row))}: {above_ideal(row['speedup'], row['ideal'], row['spread'])}."


def _largest_size(rows: Rows, workload: str) -> str | None:
    sizes = {r["size"] for r in _ok(rows, workload=workload)}
    ordered = [s for s in SIZE_ORDER if s in sizes]
    return ordered[-1] if ordered else None


def _serial_of(row: Row, cell: Rows) -> Row | None:
    """The serial reference a row's speedup is against (the compiled twin's for numpy's call)."""
    impl = "c-extension" if row["strategy"] == "numpy" else row["implementation"]
    return _one(cell, implementation=impl, strategy="serial")


def _noise(row: Row, cell: Rows) -> float | None:
    """The spread a row's speedup is judged by (its own and its serial call's), None on one repeat."""
    serial = _serial_of(row, cell)
    if _one_repeat(row, serial):
        return None
    return noise_of(row["spread"], serial["spread"] if serial else None)


def _gain(row: Row, cell: Rows) -> Judged:
    """Whether a row beat its serial call beyond the spread, within it, or cannot be judged."""
    noise = _noise(row, cell)
    if noise is None:
        return "unknown"
    return "beyond" if beyond_noise(row["speedup"], noise) else "within"


# -- the verdict --------------------------------------------------------------------------------

def verdicts(doc: dict[str, Any]) -> dict[str, list[str]]:
    """A few sentences per workload, each one computed from ``doc["rows"]``."""
    rows = doc["rows"]
    gil = bool(doc["environment"].get("gil_enabled", True))
    k = reference_workers(doc)
    cores = doc["plan"]["cores"]
    out: dict[str, list[str]] = {}
    for workload in doc["plan"]["workloads"]:
        size = _largest_size(rows, workload)
        if size is None:
            out[workload] = ["No variant of this workload completed: nothing to conclude."]
            continue
        cell = _ok(rows, workload=workload, size=size, group_workers=k)
        if not cell:
            out[workload] = [f"Nothing ran at {k} workers: nothing to conclude."]
            continue
        best = max(cell, key=_rate)
        data = _data_of(doc, workload)
        out[workload] = [_winner_line(best, cell, size, k), _why(best, cell, k, gil, data),
                         *_gil_lines(cell, k, gil), *_transport_lines(cell, k, data),
                         *_cluster_lines(doc, cell, k, data, second_round=workload == "pipeline"),
                         *_crossover_lines(rows, workload, k, data),
                         *_oversubscribed_lines(rows, workload, size, best, cores)]
    return out


def _winner_line(best: Row, cell: Rows, size: str, k: int) -> str:
    head = f"At the {size} size on {k} workers, the fastest was {_name(best)}: {ms(best['median_s'])}"
    if best["strategy"] != "serial":
        against = "the kernel's serial call" if best["strategy"] == "numpy" else "its serial call"
        head += f", {ratio(best['speedup'], against)}"
    others = sorted((r for r in cell if r is not best), key=_rate, reverse=True)
    if not others:
        return head + "." + _ideal_note(best)
    runner = others[0]
    lead = _rate(best) / _rate(runner)
    if _one_repeat(best, runner):
        head += (f"; in elements per second it did {x(lead)} the rate of the runner-up, {_name(runner)}, but "
                 f"{NO_SPREAD}, so the order of the two is not settled")
    elif beyond_noise(lead, best["spread"], runner["spread"]):
        head += f"; in elements per second it did {x(lead)} the rate of the runner-up, {_name(runner)}"
    else:
        head += (f"; the runner-up, {_name(runner)}, came within the repeats' spread "
                 f"({noise_of(best['spread'], runner['spread']):.0%}): in elements per second the winner did "
                 f"{x(lead)} the runner-up's, so the order of the two is not settled")
    return head + "." + _ideal_note(best)


def _why(best: Row, cell: Rows, k: int, gil: bool, data: _Data) -> str:
    """Why the winner won, from its own figures: a cause only where they support one."""
    if best["strategy"] == "serial":
        rivals = [r for r in cell if _parallel(r) and r["implementation"] == best["implementation"]]
        if not rivals:
            return "Why: no parallel variant of it ran here."
        top = max(rivals, key=lambda r: r["speedup"])
        return (f"Why: no parallel variant earned back its overhead at this size; the best, {_name(top)}, "
                f"ran at {ratio(top['speedup'], 'the serial call')}.")
    if best["strategy"] == "numpy":
        return "Why: numpy's call is one vectorized loop, with no task to start, hand out or collect."
    gain = _gain(best, cell)
    if gain == "unknown":
        return (f"Why: {_name(best)} ran at {ratio(best['speedup'], 'its serial call')}, but {NO_SPREAD}, "
                "so no cause is named; repeat the run with more repeats.")
    if gain == "within":
        return _why_within(best, cell)
    return _why_parallel(best, cell, k, gil, data)


def _why_within(best: Row, cell: Rows) -> str:
    """A parallel winner whose speedup is within the spread: what the other parallel rows showed."""
    spread = _noise(best, cell)
    seen = (f"{_name(best)}, ran at {ratio(best['speedup'], 'its serial call')}, within the repeats' spread "
            f"({spread:.0%})")
    others = [r for r in cell if _parallel(r) and r is not best]
    gained = sorted((r for r in others if _gain(r, cell) == "beyond"), key=lambda r: r["speedup"], reverse=True)
    if not gained:
        unjudged = sum(_gain(r, cell) == "unknown" for r in others)
        tail = (f" ({plural(unjudged, 'other rests', 'others rest')} on one repeat, which gives no spread to "
                "judge by)") if unjudged else ""
        return (f"Why: no parallel variant here beat its serial call by more than the repeats' spread{tail}; "
                f"the fastest, {seen}.")
    listed = ", ".join(f"{_name(r)} {x(r['speedup'])} (spread {_noise(r, cell):.0%})" for r in gained[:3])
    more = f", and {len(gained) - 3} more" if len(gained) > 3 else ""
    return (f"Why: the fastest, {seen}, so its figures show no gain from its workers; "
            f"{plural(len(gained), 'other parallel variant', 'other parallel variants')} did beat the serial "
            f"call beyond the spread, each against its own: {listed}{more}.")


def _beats(kern: Row, control: Row, cell: Rows) -> Judged:
    """Whether the nogil kernel's speedup beat the GIL-holding control's by more than every spread involved."""
    involved = (kern, control, _serial_of(kern, cell), _serial_of(control, cell))
    if _one_repeat(*involved):
        return "unknown"
    spreads = [r["spread"] for r in involved if r is not None]
    return "beyond" if beyond_noise(kern["speedup"] / control["speedup"], *spreads) else "within"


def _on_views(data: _Data) -> str:
    """Where threads found their data: only a workload with an array has one to speak of."""
    return " on views of the caller's array, nothing copied" if data.moves else ""


def _why_parallel(best: Row, cell: Rows, k: int, gil: bool, data: _Data) -> str:
    """The cause of a parallel winner's speedup (beyond the spread), where its figures support one."""
    c = best.get("cpu_per_wall")
    figures = f"{ratio(best['speedup'], 'its serial call')}, {_cpu(best)}"
    if _kind(best)[0] != "threads":
        return _why_processes(best, gil, data, figures)
    if c is None or c <= GIL_CPU_PER_WALL[1]:
        return repeat_advice(f"{_name(best)} ran at {figures}; threads that beat the serial call should keep "
                             "more than one core busy")
    if best["implementation"] == "c-extension":
        control = _one(cell, implementation="pure-python", strategy=best["strategy"])
        if gil and control is not None and _beats(best, control, cell) == "beyond":
            return (f"Why: the kernel releases the GIL and the pure-Python loop holds it: on the same "
                    f"{best['strategy']}, the kernel ran at {x(best['speedup'])} against its serial call and pure "
                    f"Python at {x(control['speedup'])} against its own; the kernel's {k} threads ran at once "
                    f"({_cpu(best)}){_on_views(data)}.")
        return f"Why: its {k} threads ran at once ({figures}){_on_views(data)}."
    if not gil:
        return f"Why: this interpreter runs without a GIL, so pure-Python threads ran at once ({figures})."
    return repeat_advice(f"{_name(best)} ran at {figures} with the GIL on, which lets one thread run at a time")


def _why_processes(best: Row, gil: bool, data: _Data, figures: str) -> str:
    """Worker processes that beat the serial call beyond the spread: separate interpreters, and how
    the data reached them (nothing about data for a workload with none)."""
    own = "interpreter and GIL" if gil and best["implementation"] == "pure-python" else "interpreter"
    transport = _kind(best)[1]
    back = " and back" if data.comes_back else ""
    if not data.moves:
        where = "each task carried only its arguments, and only its result came back"
    elif transport in ("shared-memory", "mmap"):
        where = "each reads the data where it lies: only a handle or an offset crosses to it"
    elif transport == "whole-array":
        where = "the whole array went to every task, and sending it cost less than the parallel run saved"
    else:
        where = f"each was sent its chunk by copy{back}, and copying cost less than the parallel run saved"
    return f"Why: each worker process has its own {own} ({figures}), so the work ran on separate cores; {where}."


def _gil_lines(cell: Rows, k: int, gil: bool) -> list[str]:
    if k < 2:
        return []
    pure = _one(cell, implementation="pure-python", strategy="threads")
    kern = _one(cell, implementation="c-extension", strategy="threads")
    lines = [] if pure is None else [_pure_threads_line(pure, k, gil, cell)]
    if kern is not None:
        lines.append(_kernel_threads_line(kern, pure, gil, cell))
    return lines


def _pure_threads_line(pure: Row, k: int, gil: bool, cell: Rows) -> str:
    s, noise = pure["speedup"], _noise(pure, cell)
    seen = f"pure-Python threads ran at {ratio(s, 'serial')} on {k} threads, using {_cpu(pure)}"
    reading = gil_reading(s, pure.get("cpu_per_wall"), k, gil, noise)
    if reading == "took turns":
        return (f"Pure-Python threads: {ratio(s, 'serial')} on {k} threads, using {_cpu(pure)}: the GIL's "
                "fingerprint (about one core busy, no speedup); one thread ran at a time.")
    if reading == "no gil" and noise is None:
        return repeat_advice(seen + f", on an interpreter without a GIL, but {NO_SPREAD}")
    if reading == "no gil" and beyond_noise(s, noise):
        return (f"Pure-Python threads: {ratio(s, 'serial')} on {k} threads ({_cpu(pure)}): this interpreter "
                "runs without a GIL, so plain Python ran on the threads at once." + _ideal_note(pure))
    if reading == "no gil":
        return repeat_advice(seen + ", no faster than serial beyond the spread, although this interpreter "
                             "runs without a GIL")
    if reading == "waited":
        return repeat_advice(seen + ": less than one core busy, which taking turns for the GIL alone does "
                             "not explain (other processes on this machine may have held the cores)")
    if reading == "scaled":
        return repeat_advice(seen + ", with the GIL on, which lets one of them run at a time")
    return repeat_advice(seen)


def _kernel_threads_line(kern: Row, pure: Row | None, gil: bool, cell: Rows) -> str:
    s = kern["speedup"]
    # Above the ideal, the note after the sentence says so: a share of it above 100% would not.
    share = f" ({kern['efficiency']:.0%} of the ideal {x(kern['ideal'])})" if s <= kern["ideal"] else ""
    line = f"The same threads on the nogil kernel: {ratio(s, 'its serial call')}{share}"
    if pure is None or not gil:
        return line + "." + _ideal_note(kern)
    gain = s / pure["speedup"]
    judged = _beats(kern, pure, cell)
    if judged == "beyond":
        return (line + f", {x(gain)} the pure-Python threads' speedup: the kernel releases the GIL, the "
                "pure-Python loop holds it." + _ideal_note(kern))
    if judged == "unknown":
        return (line + f", {x(gain)} the pure-Python threads' speedup, but {NO_SPREAD}, so no cause is named."
                + _ideal_note(kern))
    return repeat_advice(line + f", no better than the pure-Python threads' "
                         f"{ratio(pure['speedup'], 'serial')} beyond the spread; nothing here shows the "
                         "released GIL at work") + _ideal_note(kern)


def _transport_lines(cell: Rows, k: int, data: _Data) -> list[str]:
    def get(strategy: str) -> Row | None:
        return _one(cell, implementation="c-extension", strategy=strategy)

    shm, pickled, loky, threads, mm = (get(s) for s in ("shared-memory", "processes", "joblib-loky",
                                                         "threads", "mmap"))
    lines = [] if shm is None or pickled is None else [_pickling_line(shm, pickled, data)]
    for other, what in ((loky, "joblib's loky backend (automatic memmapping)"), (mm, "A memory-mapped file")):
        if shm is not None and other is not None:
            lines.append(f"{what} took {ms(other['median_s'])}, "
                         f"{x(other['median_s'] / shm['median_s'])} the shared-memory time.")
    if shm is not None and threads is not None:
        lines.append(f"Nogil threads took {ms(threads['median_s'])}; shared-memory processes "
                     f"{ms(shm['median_s'])}, {x(shm['median_s'] / threads['median_s'])} the threads' time.")
    numpy = _one(cell, strategy="numpy")
    if numpy is not None and threads is not None and numpy["bytes"]:
        def gbs(row: Row) -> float:
            return float(row["bytes"] / row["median_s"] / 1e9)

        lines.append(f"numpy's own single-threaded call read {gbs(numpy):.1f} GB/s; the nogil kernel on "
                     f"{k} threads {gbs(threads):.1f} GB/s ({x(gbs(threads) / gbs(numpy))} numpy's rate).")
    return lines


#: How far behind shared memory a cluster's row may be and still be called close on one machine.
CLUSTER_CLOSE = 1.5


def _startup_of(doc: dict[str, Any], executor: str, k: int) -> dict[str, Any] | None:
    for entry in doc.get("startup", []):
        if entry.get("executor") == executor and entry.get("workers") == k:
            return dict(entry)
    return None


def _tasks_of(row: Row, k: int, data: _Data, second_round: bool) -> int:
    """The tasks one call of a row submits: its chunks (an array's are whole blocks, so there may
    be more than the parts asked for), plus one per worker where a second round gathers results."""
    parts = int(row.get("chunks") or 0)
    if data.moves and parts and row.get("elements"):
        from ..chunked import array_chunks

        parts = len(array_chunks(int(row["elements"]), parts))
    return parts + (k if second_round else 0)


def _cluster_lines(doc: dict[str, Any], cell: Rows, k: int, data: _Data, *,
                   second_round: bool = False) -> list[str]:
    """A cluster's row (chunks by description) against shared-memory processes on the same work:
    the ratio, what the cluster's own start-up and per-task costs account for, and when it pays.

    ``second_round``: the workload by description runs a second round of tasks, one per worker
    (the pipeline's statistics pieces)."""
    shm = _one(cell, implementation="c-extension", strategy="shared-memory")
    lines = []
    for row in cell:
        if row.get("implementation") != "c-extension" or _kind(row)[1] != "description" or shm is None:
            continue
        d, t = row["median_s"], shm["median_s"]
        head = (f"On {row['strategy']} ({k} worker processes, each chunk made in its worker from a description, "
                f"only partial results back) the call took {ms(d)}, {x(d / t)} the shared-memory processes' "
                f"{ms(t)}")
        if _one_repeat(row, shm):
            lines.append(head + f"; {NO_SPREAD}, so the gap is not judged.")
            continue
        if not clearly_faster(t, shm["spread"], d, row["spread"]):
            lines.append(head + ": the same within the repeats' spread.")
        else:
            close = f"within {CLUSTER_CLOSE:g}x of it" if d / t <= CLUSTER_CLOSE else f"more than {CLUSTER_CLOSE:g}x"
            lines.append(head + f" ({close}).")
        own, pool = _startup_of(doc, row["strategy"], k), _startup_of(doc, "processes", k)
        if own is not None and own.get("per_task_s") is not None:
            per, tasks = own["per_task_s"], _tasks_of(row, k, data, second_round)
            spent = tasks * per / max(1, min(k, doc["plan"]["cores"]))
            pool_part = (f" (the process pool: {ms(pool['seconds'])} to start, {ms(pool['per_task_s'])} per task)"
                         if pool is not None and pool.get("per_task_s") is not None else "")
            text = (f"Its own costs, measured apart: start-up {ms(own['seconds'])}, paid once per cluster, and "
                    f"about {ms(per)} of a worker's time per task{pool_part}")
            gap = d - t
            if tasks and gap > 0:
                share = spent / gap
                text += (f"; the {tasks} tasks of a call account for about {ms(spent)} of the {ms(gap)} "
                         f"gap ({share:.0%})")
                second = ", a second round of tasks" if second_round else ""
                text += (", so per-task overhead is most of it." if share >= 0.5 else
                         f": the other {ms(gap - spent)} is not per-task overhead; this run does not time apart "
                         f"what else differs (each chunk made in its worker{second}, the cluster's own processes "
                         "on the same cores).")
            else:
                text += "."
            lines.append(text)
        lines.append("A cluster pays where one machine ends: data that does not fit its memory, or more cores "
                     "than it has; on one machine shared memory moves nothing at all.")
    return lines


def _pickling_line(shm: Row, pickled: Row, data: _Data) -> str:
    t_shm, t_pickled = shm["median_s"], pickled["median_s"]
    head = (f"Moving the data: on the same ProcessPoolExecutor, shared memory took {ms(t_shm)} and pickling "
            f"the chunks {ms(t_pickled)} ({x(t_pickled / t_shm)} the shared-memory time)")
    size = _mb(pickled["bytes"])
    copied = f"{size} to the workers and {size} back" if data.comes_back else f"{size} to the workers"
    if _one_repeat(shm, pickled):
        return head + f"; {NO_SPREAD}, so the gap is not judged."
    if clearly_faster(t_shm, shm["spread"], t_pickled, pickled["spread"]):
        return head + f": pickling copies {copied} through pipes on every call, shared memory none."
    if clearly_faster(t_pickled, pickled["spread"], t_shm, shm["spread"]):
        return repeat_advice(head + ": the copying variant was the faster one")
    return head + (f", the same within the repeats' spread: copying {copied} is not yet what costs most.")


def _crossover_lines(rows: Rows, workload: str, k: int, data: _Data) -> list[str]:
    """The smallest size at which process-based strategies beat one serial call beyond the spread."""
    if k < 2:
        return []
    lines = []
    for impl in ("c-extension", "pure-python"):
        best: dict[str, tuple[Row, float | None]] = {}  # size -> (the best process row, the noise it is judged by)
        for s in SIZE_ORDER:
            cell = _ok(rows, workload=workload, size=s, group_workers=k, implementation=impl)
            procs = [r for r in cell if _kind(r)[0] == "processes"]
            if procs:
                top = max(procs, key=lambda r: r["speedup"])
                best[s] = top, _noise(top, cell)
        if len(best) >= 2:
            lines.append(_crossover_line(impl, best, data))
    return lines


def _overhead(row: Row, data: _Data) -> str:
    """What a process row pays that a serial call does not, from its transport and the workload's data
    (the executors are open before the timing starts: no start-up is in it)."""
    copies = data.moves and _kind(row)[1] in ("copies", "whole-array")
    back = " both ways" if data.comes_back else ""
    return "handing out the tasks and collecting their results" + (f", and copying the data{back}," if copies else "")


def _crossover_line(impl: str, best: dict[str, tuple[Row, float | None]], data: _Data) -> str:
    sizes = list(best)
    if any(noise is None for _, noise in best.values()):
        seen = ", ".join(f"{ratio(r['speedup'], 'serial')} with {r['strategy']} at the {s} size"
                         for s, (r, _) in best.items())
        return f"Crossover ({impl}): the best worker processes ran at {seen}; {NO_SPREAD}, so no crossover is named."
    wins = [s for s, (r, noise) in best.items() if beyond_noise(r["speedup"], noise)]
    if not wins:
        top = max((r for r, _ in best.values()), key=lambda r: r["speedup"])
        return (f"Crossover ({impl}): no process strategy beat the serial call by more than the repeats' "
                f"spread at any size measured (the best: {_name(top)} at the {top['size']} size, "
                f"{ratio(top['speedup'], 'serial')}).")
    r = best[wins[0]][0]
    if wins[0] == sizes[0]:
        return (f"Crossover ({impl}): worker processes beat the serial call already at the {r['size']} size "
                f"({ratio(r['speedup'], 'serial')} with {r['strategy']}).")
    below, noise = best[sizes[sizes.index(wins[0]) - 1]]
    head = (f"Crossover ({impl}): worker processes first beat the serial call beyond the spread at the "
            f"{r['size']} size ({ratio(r['speedup'], 'serial')} with {r['strategy']}, about {ms(_per_task(r))} of "
            f"serial work per task); at the {below['size']} size the best of them ran at "
            f"{ratio(below['speedup'], 'serial')}")
    if beyond_noise(1 / below["speedup"], noise):
        return (head + f" with {below['strategy']}, about {ms(_per_task(below))} of serial work per task: "
                f"{_overhead(below, data)} cost more than splitting that work saved.")
    return head + f", within the repeats' spread ({noise_of(noise):.0%}) of it."


def _per_task(row: Row) -> float:
    """The serial time of a row's work, over its tasks."""
    return float(row["median_s"] * row["speedup"] / row["chunks"])


def _oversubscribed_lines(rows: Rows, workload: str, size: str, best: Row, cores: int) -> list[str]:
    if not _parallel(best):
        return []
    over = [r for r in _ok(rows, workload=workload, size=size, implementation=best["implementation"],
                           strategy=best["strategy"]) if r["group_workers"] > cores]
    if not over:
        return []
    r = max(over, key=lambda r: r["group_workers"])
    head = (f"Oversubscribed, with {r['group_workers']} workers on {cores} cores, {_name(best)} ran at "
            f"{ratio(r['speedup'], 'its serial call')}, against {x(best['speedup'])} with "
            f"{best['group_workers']} workers")
    if _one_repeat(r, best):
        return [head + f"; {NO_SPREAD}, so the difference is not judged."]
    noise = noise_of(r["spread"], best["spread"])
    rel = r["speedup"] / best["speedup"]
    if beyond_noise(rel, noise) and r["speedup"] > r["ideal"]:
        return [head + "." + _ideal_note(r)]
    if not beyond_noise(rel, noise) and not beyond_noise(1 / rel, noise):
        return [head + f", the same within the repeats' spread ({noise:.0%}): past the core count, more workers "
                "add nothing here."]
    slower = rel < 1
    seen = head + f", {'slower' if slower else 'faster'} beyond the repeats' spread ({noise:.0%})"
    if r.get("cpu_per_wall") is None or best.get("cpu_per_wall") is None:
        return [seen + "; CPU time was not measured, so no cause is named."]
    figures, cause = _busier(r, best, cores, slower)
    if cause is None:
        return [repeat_advice(seen + figures + ", which more workers than cores alone do not explain")]
    return [f"{seen}{figures}: {cause}."]


def _busier(over: Row, best: Row, cores: int, slower: bool) -> tuple[str, str | None]:
    """The CPU figures of an oversubscribed row against the reference one, and the cause they hold
    (None where they hold none): slower with no more CPU time per wall second, the extra workers
    shared the same cores; faster with more, they filled moments the cores had sat idle."""
    c_over, c_best = over["cpu_per_wall"], best["cpu_per_wall"]
    seen = (f"; {c_over:.2f} CPU seconds per second of wall time were busy with {over['group_workers']} workers, "
            f"{c_best:.2f} with {best['group_workers']}")
    more = c_over > c_best * (1 + MIN_NOISE)
    if slower and not more:
        return seen, f"the extra workers kept no more of the {cores} cores busy, only shared them, at a cost"
    if not slower and more:
        return seen, "the extra workers filled moments the cores had sat idle (uneven chunks, waits)"
    return seen, None


# -- the run in short ---------------------------------------------------------------------------

def summary(doc: dict[str, Any]) -> list[str]:
    """The run in a few sentences across workloads, each range covering every row it describes."""
    rows, k = doc["rows"], reference_workers(doc)
    gil = bool(doc["environment"].get("gil_enabled", True))
    biggest = [r for w in doc["plan"]["workloads"] for r in _ok(rows, workload=w, size=_largest_size(rows, w),
                                                                group_workers=k)]
    lines = []
    kern = [r for r in biggest if r["implementation"] == "c-extension" and r["strategy"] == "threads"]
    if kern and k > 1:
        lines.append(f"Threads on the nogil kernel ran at {span(r['speedup'] for r in kern)} against their serial "
                     f"call on {k} workers (largest size, {plural(len(kern), 'workload', 'workloads')}).")
    pure = [r for r in biggest if r["implementation"] == "pure-python" and r["strategy"] == "threads"]
    if pure and k > 1:
        lines.append(_pure_summary(pure, k, gil, biggest))
    return lines


def _pure_summary(pure: Rows, k: int, gil: bool, biggest: Rows) -> str:
    cpus = [f"{c:.2f}" for c in sorted(r["cpu_per_wall"] for r in pure if r.get("cpu_per_wall") is not None)]
    used = "" if not cpus else \
        f", using {' to '.join(dict.fromkeys((cpus[0], cpus[-1])))} CPU seconds per second of wall time"
    head = (f"Pure-Python threads ran at {span(r['speedup'] for r in pure)} against serial on {k} workers "
            f"(largest size, {plural(len(pure), 'workload', 'workloads')}){used}")
    if not gil:
        return head + ": this interpreter runs without a GIL."
    turns = sum(gil_fingerprint(r["speedup"], r.get("cpu_per_wall"),
                                _noise(r, [b for b in biggest if b["workload"] == r["workload"]])) for r in pure)
    if turns == len(pure):
        return (head + ": the GIL's fingerprint" + (" in every one" if turns > 1 else "")
                + " (about one core busy, no speedup).")
    seen = "none of them shows" if turns == 0 else f"{turns} of {len(pure)} show"
    return repeat_advice(head + f"; {seen} the GIL's fingerprint (about one core busy, no speedup)"
                         + ("" if turns == 0 else ", the others do not"))


#: The ratios this project watches, each computed from one run (see :func:`headlines`).
HEADLINES = (
    ("nogil kernel threads, 2 workers vs 1", ">= 1.9x"),
    ("pure-Python threads, 2 workers vs serial", "reported as measured"),
    ("shared memory vs pickled chunks, large reduction", ">= 20x"),
    ("shared memory vs joblib loky, large reduction", ">= 3x"),
    ("nogil threads vs shared memory, large reduction", "<= 2x"),
    ("nogil threads vs numpy.sum (1 thread), large reduction", "> 1x"),
)


def headlines(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The watched ratios, where this run measured what they need (2 workers, the large size)."""
    rows = doc["rows"]
    k = 2 if 2 in doc["plan"]["workers"] else reference_workers(doc)
    out = []

    def add(index: int, value: float, detail: str) -> None:
        name, target = HEADLINES[index]
        out.append({"ratio": name, "value": value, "target": target, "workers": k, "detail": detail})

    big = _largest_size(rows, "cpu")
    one = _one(rows, workload="cpu", size=big, group_workers=1, implementation="c-extension", strategy="threads")
    two = _one(rows, workload="cpu", size=big, group_workers=2, implementation="c-extension", strategy="threads")
    if one and two:
        add(0, two["speedup"] / one["speedup"], f"sum of squares, {big} size, each against its own serial call")
    pure = _one(rows, workload="cpu", size=big, group_workers=2, implementation="pure-python", strategy="threads")
    if pure:
        cpu = pure.get("cpu_per_wall")
        add(1, pure["speedup"], "CPU seconds per wall second: " + ("not measured" if cpu is None else f"{cpu:.2f}"))
    if "large" not in {r["size"] for r in rows}:
        return out

    def get(strategy: str) -> Row | None:
        return _one(rows, workload="reduction", size="large", group_workers=k,
                    implementation="numpy" if strategy == "numpy" else "c-extension", strategy=strategy)

    shm, pickled, loky, threads, numpy = (get(s) for s in ("shared-memory", "processes", "joblib-loky", "threads",
                                                           "numpy"))
    for index, fast, slow in ((2, shm, pickled), (3, shm, loky), (4, threads, shm), (5, threads, numpy)):
        if fast is not None and slow is not None:
            add(index, slow["median_s"] / fast["median_s"],
                f"{_mb(fast['bytes'])}: {ms(fast['median_s'])} vs {ms(slow['median_s'])}")
    return out
