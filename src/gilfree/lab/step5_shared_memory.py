"""Step 5: ``SharedMemory`` + numpy, and what "zero-copy" means in bytes.

One float64 array is transformed in place (the logistic map, ``rounds`` times per element) and
then summarised (count, sum, min, max, mean, variance), by ``workers`` workers at once, three ways:

* **shared memory**: the array lives in a :class:`gilfree.shm.SharedArray`; each worker process
  receives the segment's *handle* and a range, attaches, and works on its slice where it lies;
* **pickled slices**: the same array in ordinary memory; each task carries a copy of its slice
  to a worker process, and the transformed copy comes back to be written into place;
* **threads on views**: threads of this process work on numpy views of the same shared array:
  nothing is copied, but only a kernel that releases the GIL runs them in parallel.

Every variant must give exactly the serial result, array bytes and statistics alike: each call
starts from the same array (its ``reset``), and the runner checks every result. Zero-copy is
shown in bytes: a shared-memory task pickles to the same few hundred bytes at every array size,
a pickled slice grows with the data.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from concurrent.futures import Executor
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Literal, Mapping

import numpy as np

from .._checks import check_callable, check_count, check_seed
from .._select import C_EXTENSION, PURE_PYTHON, Implementation
from .._stats import Stats
from .._timing import environment, usable_cores
from ..arrays import fill_uniform, merge_stats
from ..chunked import array_chunks, default_parts
from ..experiment import Experiment, Measured, Variant
from ..figures import Timed, beyond_noise, clearly_faster, gil_reading, ms, nbytes, noise_of, repeat_advice, versus, x
from ..shm import SharedArray, SharedArrayHandle
from ..strategies import open_executor
from ..transports import TRANSPORTS, run_on_chunks
from ._common import (ideal_notes, main_implementation, measured_once, no_spread, process_strategy,
                      processes_clause, same_stats, too_little)
from ._plan import chosen_implementations, measured_row, speedup_of, step_result, worker_count
from ._result import Progress, Row, StepResult, no_progress

TITLE = "SharedMemory + numpy: zero-copy arrays across processes"

SERIAL = "serial, one array"
SHARED = "shared memory"
PICKLED = "pickled slices"
THREADS = "threads on views"

#: The checks of this step besides each variant's own (named by the variant).
TWINS = "twins agree"
NO_LEAK = "no segment left"
FLAT_TASK = "shared-memory task size is flat"
GROWING_TASK = "pickled-slice task grows with its slice"


@dataclass(frozen=True)
class Way:
    """One way of doing the work: where it runs, how its tasks reach the array, which array it changes."""

    name: str
    runs_on: Literal["serial", "processes", "threads"]
    transport: str | None  # a gilfree.transports.TRANSPORTS name; None: no tasks at all
    on_segment: bool  # it transforms the shared segment (else an array in this process's memory)


WAYS = (Way(SERIAL, "serial", None, False), Way(SHARED, "processes", "shared-memory", True),
        Way(PICKLED, "processes", "copies", False), Way(THREADS, "threads", "views", True))
VARIANTS = tuple(way.name for way in WAYS)


@dataclass(frozen=True)
class _Settings:
    """The checked parameters of one run (``workers`` resolved to a count)."""

    n: int
    rounds: int
    workers: int
    pure_scale: int
    strategy: str
    repeats: int
    seed: int


@dataclass(frozen=True)
class _Reference:
    """The serial result of one implementation: the transformed array and its statistics."""

    array: np.ndarray
    stats: Stats


@dataclass(frozen=True)
class Traffic:
    """Bytes pickled for the first task, and per run (every task and reply, both directions)."""

    per_task: int
    per_run: int


@dataclass(frozen=True)
class TaskBytes:
    """Bytes pickled for the first transform task at one array size, both ways of sending it."""

    elements: int
    slice_bytes: int
    shared_memory: int
    pickled_slice: int


def _pickled_size(obj: object) -> int:
    """Bytes that sending ``obj`` to or from a worker process pickles."""
    return len(pickle.dumps(obj))


def _same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a.view(np.uint64), b.view(np.uint64)))


def _rounds(rounds: int, start: int, stop: int) -> tuple[int]:
    """The transform's extra argument for every chunk: the number of rounds."""
    return (rounds,)


def _nothing(start: int, stop: int) -> tuple[()]:
    return ()


def _matches(target: np.ndarray, ref: _Reference, got: Stats) -> bool:
    """A variant's result is right when its array and its statistics equal the serial ones bit for bit."""
    return _same_bytes(target, ref.array) and same_stats(got, ref.stats)


class _Plan:
    """The four ways for one implementation, on the same seeded array.

    Each parallel way is the same two calls (transform in place, then statistics) through
    :func:`gilfree.transports.run_on_chunks`; only the executor and the transport differ.
    """

    def __init__(self, impl: str, kernels: Implementation, x0: np.ndarray, shared: SharedArray,
                 reference: _Reference, executors: Mapping[str, Executor], s: _Settings) -> None:
        self.impl, self.kernels, self.x0, self.shared, self.reference = impl, kernels, x0, shared, reference
        self.executors, self.rounds, self.strategy, self.workers = executors, s.rounds, s.strategy, s.workers
        self.local = x0.copy()
        self.chunks = array_chunks(x0.size, default_parts(s.workers))

    def _source(self, way: Way) -> SharedArray | np.ndarray:
        return self.shared if way.on_segment else self.local

    def _target(self, way: Way) -> np.ndarray:
        return self.shared.array if way.on_segment else self.local

    def run(self, way: Way) -> Stats:
        if way.transport is None:
            self.kernels.transform_inplace(self.local, self.rounds)
            return self.kernels.chunk_stats(self.local)
        executor, transport, source = self.executors[way.runs_on], TRANSPORTS[way.transport], self._source(way)
        run_on_chunks(executor, self.kernels.transform_inplace, [source], self.chunks,
                      extra=partial(_rounds, self.rounds), writes=True, transport=transport)
        return merge_stats(run_on_chunks(executor, self.kernels.chunk_stats, [source], self.chunks,
                                         transport=transport))

    def traffic(self, way: Way) -> Traffic:
        """What a run pickles (nothing when it runs in this process): both calls' tasks and replies."""
        if way.runs_on != "processes" or way.transport is None:
            return Traffic(0, 0)
        transport, source = TRANSPORTS[way.transport], self._source(way)
        tasks = []
        for kernel, extra, writes in ((self.kernels.transform_inplace, partial(_rounds, self.rounds), True),
                                      (self.kernels.chunk_stats, _nothing, False)):
            fn, argsets = transport.tasks(kernel, [source], self.chunks, extra, writes)
            tasks += [(fn, args) for args in argsets]
        back = [None if way.on_segment else (self.local[a:b], None) for a, b in self.chunks]
        replies = sum(map(_pickled_size, back)) + _pickled_size(self.reference.stats) * len(self.chunks)
        return Traffic(_pickled_size(tasks[0]), sum(map(_pickled_size, tasks)) + replies)

    def variants(self) -> list[Variant]:
        """Every way as a variant that starts from the seeded array and must give the reference."""
        return [Variant(
            name=f"{self.impl}, {way.name}", run=partial(self.run, way),
            check=partial(_matches, self._target(way), self.reference),
            reset=partial(np.copyto, self._target(way), self.x0),
            tags={"variant": way.name, "implementation": self.impl,
                  "strategy": self.strategy if way.runs_on == "processes" else way.runs_on,
                  "workers": 1 if way.runs_on == "serial" else self.workers,
                  "elements": self.x0.size, "chunks": len(self.chunks), "traffic": self.traffic(way)},
        ) for way in WAYS]


# -- what to run --------------------------------------------------------------------------------

def _checked(n: object, rounds: object, workers: object, pure_scale: object, strategy: object,
             repeats: object, seed: object, progress: object) -> _Settings:
    """Every parameter checked, before any pool or segment exists."""
    settings = _Settings(
        n=check_count(n, "n"), rounds=check_count(rounds, "rounds"),
        workers=worker_count(workers, max(2, usable_cores())),
        pure_scale=check_count(pure_scale, "pure_scale"),
        strategy=process_strategy(strategy, "this step compares shared memory with pickling across processes"),
        repeats=check_count(repeats, "repeats"), seed=check_seed(seed))
    check_callable(progress, "progress")
    return settings


def _array_sizes(impls: Mapping[str, Implementation], s: _Settings) -> dict[str, int]:
    """Elements per implementation: ``n`` for the compiled kernel, ``n // pure_scale`` for pure Python."""
    sizes = {PURE_PYTHON: max(1, s.n // s.pure_scale)}
    if C_EXTENSION in impls:
        sizes[C_EXTENSION] = s.n
    return sizes


def _zero_copy_sizes(m: int) -> list[int]:
    """The array sizes at which a task's pickled bytes are compared: a quarter, as run, four times."""
    return sorted({max(1, m // 4), m, m * 4})


def _plan(impl: str, kernels: Implementation, m: int, s: _Settings, executors: Mapping[str, Executor],
          segments: ExitStack, handles: list[SharedArrayHandle]) -> _Plan:
    """The seeded array, its serial reference, and a copy of it in a segment that ``segments`` closes."""
    x0 = np.empty(m)
    fill_uniform(x0, s.seed)
    ref = x0.copy()
    kernels.transform_inplace(ref, s.rounds)
    shared = SharedArray.copy_of(x0)
    segments.callback(shared.close)
    handles.append(shared.handle)
    return _Plan(impl, kernels, x0, shared, _Reference(ref, kernels.chunk_stats(ref)), executors, s)


def _twins_agree(impls: Mapping[str, Implementation], pure: _Plan, rounds: int) -> bool:
    """The compiled kernel, given pure Python's array, gives pure Python's result bit for bit."""
    x0 = pure.x0.copy()
    impls[C_EXTENSION].transform_inplace(x0, rounds)
    return _matches(x0, pure.reference, impls[C_EXTENSION].chunk_stats(x0))


def _measure(ex: Experiment, impls: Mapping[str, Implementation], sizes: dict[str, int], s: _Settings,
             handles: list[SharedArrayHandle]) -> tuple[dict[str, Measured], dict[str, _Reference]]:
    """Every way of every implementation, measured; every segment is closed (and unlinked) on the way out."""
    with open_executor(s.strategy, s.workers) as procs, open_executor("threads", s.workers) as threads, \
            ExitStack() as segments:
        executors = {"processes": procs, "threads": threads}
        plans = {impl: ex.step(f"{impl}: the serial reference",
                               partial(_plan, impl, impls[impl], m, s, executors, segments, handles))
                 for impl, m in sizes.items()}
        segments.callback(plans.clear)  # drop the plans' views of the segments before closing them
        measured = ex.measure([v for plan in plans.values() for v in plan.variants()], repeats=s.repeats,
                              cpu="tree")
        if C_EXTENSION in plans:
            ex.checks.add(TWINS, _twins_agree(impls, plans[PURE_PYTHON], s.rounds),
                          "pure Python and the compiled kernel agree (same array, same statistics)")
        return measured, {impl: plan.reference for impl, plan in plans.items()}


def _task_bytes(kernels: Implementation, m: int, parts: int, rounds: int,
                handles: list[SharedArrayHandle]) -> TaskBytes:
    """Bytes pickled for the first transform task at ``m`` elements, by handle and by copy."""
    first = array_chunks(m, parts)[:1]
    kernel, rounds_of = kernels.transform_inplace, partial(_rounds, rounds)
    with SharedArray.create(m) as shared:  # untouched pages: costs no memory
        handles.append(shared.handle)
        fn, argsets = TRANSPORTS["shared-memory"].tasks(kernel, [shared], first, rounds_of, True)
        by_handle = _pickled_size((fn, argsets[0]))
    piece = np.zeros(first[0][1] - first[0][0])
    fn, argsets = TRANSPORTS["copies"].tasks(kernel, [piece], [(0, piece.size)], rounds_of, True)
    return TaskBytes(m, piece.nbytes, by_handle, _pickled_size((fn, argsets[0])))


def _still_there(handle: SharedArrayHandle) -> bool:
    """True if the segment of ``handle`` can still be opened (that is, it leaked)."""
    try:
        shared = handle.attach()
    except FileNotFoundError:
        return False
    shared.close()
    return True


def _zero_copy_checks(task_bytes: Sequence[TaskBytes]) -> dict[str, tuple[bool, str]]:
    """Zero-copy in bytes: ``{check name: (passed, what it checked)}``."""
    by_handle = [t.shared_memory for t in task_bytes]
    return {
        FLAT_TASK: (max(by_handle) - min(by_handle) <= 32 and max(by_handle) < 1024,
                    "a shared-memory task pickles to the same size at every array size"),
        GROWING_TASK: (all(0 <= t.pickled_slice - t.slice_bytes < 1024 for t in task_bytes),
                       "a pickled-slice task grows with its slice (its bytes plus a fixed header)"),
    }


def _rows(measured: dict[str, Measured]) -> list[Row]:
    """One row per variant; speedups against the same implementation's serial pass."""
    rows = []
    for m in measured.values():
        t = m.tags
        serial = measured[f"{t['implementation']}, {SERIAL}"]
        rows.append(measured_row(m, serial.seconds / m.seconds, {
            "elements": t["elements"], "chunks": t["chunks"], "ns/elem": m.seconds / t["elements"] * 1e9,
            "B/task": t["traffic"].per_task, "MB pickled/run": t["traffic"].per_run / 1e6,
            "repeats": Timed.of(m).repeats}))
    return rows


def _summary(references: dict[str, _Reference], sizes: dict[str, int], task_bytes: Sequence[TaskBytes],
             main: str, s: _Settings) -> list[str]:
    st = references[main].stats
    return [
        f"Array: {sizes[main]:,} float64 ({nbytes(sizes[main] * 8)}) in shared memory, {s.rounds} rounds "
        f"of the logistic map in place, then chunk statistics; {s.workers} workers"
        + (f" (pure Python: {sizes[PURE_PYTHON]:,} elements)" if C_EXTENSION in sizes else ""),
        f"Result ({main}): mean={st.mean:.6f} std={st.std:.6f} min={st.min:.6f} max={st.max:.6f}",
    ] + [f"Bytes pickled per task at {t.elements:,} elements: shared memory {t.shared_memory:,} B, "
         f"pickled slice {t.pickled_slice:,} B" for t in task_bytes] + [
        f"Speedup column: against the same implementation's serial pass ({SERIAL})"]


def run(n: int = 8_000_000, rounds: int = 8, workers: int | None = None, pure_scale: int = 50,
        strategy: str = "processes", repeats: int = 5, seed: int = 5,
        progress: Progress = no_progress,
        implementations: Mapping[str, Implementation] | None = None) -> StepResult:
    """Transform and summarise one array with ``workers`` workers, shared vs pickled vs threads.

    ``n`` elements for the compiled kernel, ``n // pure_scale`` for pure Python (about a hundred
    times slower per element). ``strategy`` is the process executor: any registered strategy whose
    tasks run in worker processes ("processes", "pool", "failsafe", ...). ``implementations``
    (default: every one that imports here) decides whether the compiled kernel runs.
    """
    s = _checked(n, rounds, workers, pure_scale, strategy, repeats, seed, progress)
    impls = chosen_implementations(implementations)
    sizes = _array_sizes(impls, s)
    main = main_implementation(impls)
    ex = Experiment(progress)
    handles: list[SharedArrayHandle] = []  # every segment this step creates, by name, for the leak check
    measured, references = _measure(ex, impls, sizes, s, handles)
    task_bytes = [ex.step(f"bytes per task at {m:,} elements",
                          partial(_task_bytes, impls[main], m, default_parts(s.workers), s.rounds, handles))
                  for m in _zero_copy_sizes(sizes[main])]
    leaked = sorted(h.name for h in handles if _still_there(h))
    ex.checks.add(NO_LEAK, not leaked, "no shared-memory segment this step created is left behind")
    for name, (passed, says) in _zero_copy_checks(task_bytes).items():
        ex.checks.add(name, passed, says)
    rows, env = _rows(measured), environment()
    return step_result(
        ex, step=5, title=TITLE, rows=rows, env=env,
        params={"n": s.n, "pure_n": sizes[PURE_PYTHON], "rounds": s.rounds, "workers": s.workers,
                "strategy": s.strategy, "repeats": s.repeats, "seed": s.seed,
                "chunks": default_parts(s.workers)},
        summary=_summary(references, sizes, task_bytes, main, s),
        explanation=explain(Figures(rows, task_bytes, s.workers, env["usable_cores"], env["gil_enabled"])),
        columns=("variant", "implementation", "strategy", "workers", "elements", "ms", "cpu ms",
                 "speedup", "ns/elem", "B/task", "MB pickled/run"),
        data={"task_bytes": [asdict(t) for t in task_bytes], "leaked_segments": leaked,
              "segments_created": [h.name for h in handles],
              "statistics": {impl: ref.stats._asdict() for impl, ref in references.items()}},
    )


# -- what it means ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ways:
    """One implementation's four rows, by what they measured."""

    impl: str
    serial: Row
    shared: Row
    pickled: Row
    threads: Row

    def noise(self, row: Row) -> float:
        """The noise of ``row``'s speedup against serial: the worse of the two spreads."""
        return noise_of(row.spread, self.serial.spread)

    def once(self, *rows: Row) -> bool:
        """Some of ``rows``, or the serial row, rests on one repeat: no gap to judge."""
        return measured_once(self.serial, *rows)

    @property
    def chunks(self) -> int:
        return int(self.serial.extra["chunks"])

    @property
    def per_chunk(self) -> float:
        """Seconds of serial work in one chunk."""
        return self.serial.seconds / max(1, self.chunks)


@dataclass(frozen=True)
class Figures:
    """What the explanation reads: the table's rows, the bytes per task, and the run's setting."""

    rows: Sequence[Row]
    task_bytes: Sequence[TaskBytes]
    workers: int
    cores: int
    gil: bool

    @property
    def implementations(self) -> list[str]:
        return list(dict.fromkeys(r.implementation for r in self.rows))

    @property
    def main(self) -> str:
        return C_EXTENSION if C_EXTENSION in self.implementations else PURE_PYTHON

    def ways(self, impl: str) -> Ways:
        mine = {r.variant: r for r in self.rows if r.implementation == impl}
        return Ways(impl, mine[SERIAL], mine[SHARED], mine[PICKLED], mine[THREADS])


def explain(f: Figures) -> list[str]:
    """What the figures show, each cause stated only where its figure supports it."""
    lines = [_zero_copy_line(f.task_bytes), _copies_line(f.ways(f.main))]
    lines += [_processes_line(f.ways(impl), f) for impl in f.implementations]
    lines.append(_pure_threads_line(f.ways(PURE_PYTHON), f))
    if C_EXTENSION in f.implementations:
        lines.append(_kernel_threads_line(f.ways(C_EXTENSION), f.ways(PURE_PYTHON), f))
    if f.main == C_EXTENSION or not f.gil:
        lines.append(_threads_or_processes_line(f.ways(f.main), f))
    serials = {impl: f.ways(impl).serial for impl in f.implementations}
    above = " ".join(ideal_notes(f.rows, serials, f.cores))
    return lines + ([above] if above else [])


def _zero_copy_line(task_bytes: Sequence[TaskBytes]) -> str:
    first, last = task_bytes[0], task_bytes[-1]
    line = (f"A shared-memory task pickled to {first.shared_memory} bytes at {first.elements:,} elements "
            f"and {last.shared_memory} bytes at {last.elements:,}, a pickled-slice task to "
            f"{first.pickled_slice:,} and {last.pickled_slice:,} bytes "
            f"({x(last.pickled_slice / first.pickled_slice)} the bytes for "
            f"{x(last.elements / first.elements)} the elements)")
    if all(passed for passed, _ in _zero_copy_checks(task_bytes).values()):
        return line + ": only the segment's name, shape and the task's range cross the process boundary."
    return line + ": the shared-memory task did not keep one small size, so this run does not show zero-copy."


def _copies_line(w: Ways) -> str:
    """Shared memory against pickled slices: "nothing is copied" only when that won beyond the noise."""
    sh, pk = w.shared, w.pickled
    moved = nbytes(pk.extra["MB pickled/run"] * 1e6)
    noise = noise_of(sh.spread, pk.spread)
    line = (f"With the {w.impl} kernel, shared memory took {ms(sh.seconds)} per run and pickled slices "
            f"{ms(pk.seconds)}")
    if w.once(sh, pk):
        return (line + f": {no_spread()}; a shared-memory task carried {sh.extra['B/task']:,} bytes, a "
                f"pickled-slice task {pk.extra['B/task']:,} bytes, {moved} per run both ways.")
    if clearly_faster(sh.seconds, sh.spread, pk.seconds, pk.spread):
        return (line + f": pickled slices took {x(pk.seconds / sh.seconds)} the time of shared memory, "
                f"beyond the repeats' spread ({noise:.0%}), because nothing is copied: a shared-memory task "
                f"carried {sh.extra['B/task']:,} bytes, a pickled-slice task {pk.extra['B/task']:,} bytes, "
                f"{moved} per run both ways.")
    if clearly_faster(pk.seconds, pk.spread, sh.seconds, sh.spread):
        return repeat_advice(line + f", so shared memory took {x(sh.seconds / pk.seconds)} the time of pickled "
                             f"slices, although the copies moved {moved} per run")
    return repeat_advice(line + f", within the repeats' spread ({noise:.0%}) of each other, although the copies "
                         f"moved {moved} per run") + " A larger n makes the copies larger."


def _processes_line(w: Ways, f: Figures) -> str:
    """Worker processes on shared memory against the serial pass, and why, where a figure says."""
    p = w.shared
    s, noise = speedup_of(p), w.noise(p)
    gained = beyond_noise(s, noise)
    if w.once(p):
        return (f"With the {w.impl} kernel, {f.workers} worker processes on shared memory ran at {x(s)} against "
                f"serial: {no_spread('that ratio')}.")
    line = (f"With the {w.impl} kernel, {f.workers} worker processes on shared memory ran at {x(s)} against "
            "serial" + ("" if gained else f", {versus(s, noise)}"))
    clause = processes_clause(gained, w.per_chunk, w.chunks, pure=w.impl == PURE_PYTHON, gil=f.gil)
    return f"{line}: {clause}." if clause else repeat_advice(line)


def _cpu_per_wall(row: Row) -> float | None:
    return Timed(row.seconds, row.cpu_seconds, row.spread).cpu_per_wall


def _threads_head(who: str, t: Row, workers: int) -> str:
    cpw = _cpu_per_wall(t)
    return (f"{who} reached {x(speedup_of(t))} against serial on {workers} threads"
            + ("" if cpw is None else f", at {cpw:.2f} CPU seconds per wall second"))


def _pure_threads_line(w: Ways, f: Figures) -> str:
    """Pure-Python threads: the GIL's fingerprint only where CPU per wall is ~1 and there is no speedup."""
    t = w.threads
    line = _threads_head("Pure-Python threads on views of the segment", t, f.workers)
    reading = gil_reading(speedup_of(t), _cpu_per_wall(t), f.workers, f.gil, w.noise(t))
    if reading == "no gil":
        if w.once(t):
            return line + f", and this interpreter runs without the GIL; {no_spread('that ratio')}."
        if beyond_noise(speedup_of(t), w.noise(t)):
            return line + ": this interpreter runs without the GIL, so they ran at once."
        return repeat_advice(line + ", although this interpreter runs without the GIL")
    if reading == "took turns":
        return line + (": the GIL's fingerprint (about one core busy, no speedup), so they took turns "
                       "holding it.")
    if reading == "waited":
        return repeat_advice(line + ", well under one core busy")
    if reading == "scaled":
        return repeat_advice(line + ", more than one core busy although the GIL runs one thread's Python "
                             "at a time")
    return repeat_advice(line)


def _kernel_threads_line(w: Ways, pure: Ways, f: Figures) -> str:
    """Compiled threads: "releases the GIL" only where they beat the pure-Python threads beyond the noise."""
    t, pt = w.threads, pure.threads
    line = _threads_head("The compiled kernel's threads", t, f.workers)
    if w.once(t) or pure.once(pt):
        return line + f": {no_spread('that ratio')}."
    if beyond_noise(speedup_of(t), w.noise(t)):
        if not f.gil:
            return line + ": without the GIL, threads of any code run at once; nothing was copied."
        vs = speedup_of(t) / speedup_of(pt)
        if beyond_noise(vs, w.noise(t), pure.noise(pt)):
            return (line + f", {x(vs)} the pure-Python threads' speedup ({x(speedup_of(pt))} against "
                    "serial): the kernel releases the GIL inside its loops, so its threads ran at once on "
                    "views of one segment, with nothing copied.")
        return repeat_advice(line + f", no more than the pure-Python threads' {x(speedup_of(pt))} against "
                             "serial beyond the spread")
    small = too_little("threads", w.per_chunk)
    if small:
        return line + f": each of its {w.chunks} chunks held about {ms(w.per_chunk)} of work, {small}."
    return repeat_advice(line + f", although each of its {w.chunks} chunks held {ms(w.per_chunk)} of work")


def _threads_or_processes_line(w: Ways, f: Figures) -> str:
    """Threads that can run at once (a nogil kernel or interpreter) against processes on the same segment."""
    t, p = w.threads, w.shared
    line = (f"On the same segment, {w.impl} threads took {ms(t.seconds)} per run and {f.workers} processes "
            f"{ms(p.seconds)}")
    if w.once(t, p):
        return line + f": {no_spread()}."
    if clearly_faster(t.seconds, t.spread, p.seconds, p.spread):
        return (line + f": the processes took {x(p.seconds / t.seconds)} the threads' time, for the tasks "
                "they pickle and send to other processes, which threads do not need.")
    if clearly_faster(p.seconds, p.spread, t.seconds, t.spread):
        return repeat_advice(line + f", so the threads took {x(t.seconds / p.seconds)} the processes' time")
    return line + f", within the repeats' spread ({noise_of(t.spread, p.spread):.0%}) of each other."


#: Parameters for ``gilfree lab`` (DEFAULT), ``--quick`` (QUICK) and the tests (TINY).
DEFAULT: dict[str, Any] = {}
QUICK = {"n": 1_000_000, "rounds": 8, "pure_scale": 50, "repeats": 3}
TINY = {"n": 65_536, "rounds": 2, "pure_scale": 50, "repeats": 1, "workers": 2}
