"""Step 5: ``SharedMemory`` + numpy, and what "zero-copy" means in bytes.

One float64 array is transformed in place (the logistic map, ``rounds`` times per element) and
then summarised (count, sum, min, max, mean, variance), by ``workers`` workers at once, three ways:

* **shared memory**: the array lives in a :class:`gilfree.shm.SharedArray`; each worker process
  receives the segment's *handle* and a range, attaches, and works on its slice where it lies;
* **pickled slices**: the same array in ordinary memory; each task carries a copy of its slice
  to a worker process, and the transformed copy comes back to be written into place;
* **threads on views**: threads of this process work on numpy views of the same shared array:
  nothing is copied, but only a kernel that releases the GIL runs them in parallel.

Every variant must give exactly the serial result, array bytes and statistics alike. Zero-copy is
shown in bytes: a shared-memory task pickles to the same few hundred bytes at every array size,
a pickled slice grows with the data.
"""

from __future__ import annotations

import os
import pickle
from concurrent.futures import Executor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, NamedTuple

import numpy as np

from .._checks import check_callable, check_count, check_seed
from .._select import C_EXTENSION, PURE_PYTHON, Implementation
from .._stats import Stats
from .._timing import Timing, environment, interleaved, load_average, usable_cores
from ..arrays import fill_uniform, merge_stats
from ..chunked import array_chunks, default_parts
from ..shm import SharedArray, SharedArrayHandle
from ..strategies import open_executor
from ..transports import TRANSPORTS, Transport, run_on_chunks
from ._common import main_implementation, process_strategy, same_stats
from ._plan import Ticker, chosen_implementations, cpu_of, speedup_of, worker_count
from ._result import Progress, Row, StepResult, no_progress

TITLE = "SharedMemory + numpy: zero-copy arrays across processes"

SERIAL = "serial, one array"
SHARED = "shared memory"
PICKLED = "pickled slices"
THREADS = "threads on views"
VARIANTS = (SERIAL, SHARED, PICKLED, THREADS)

#: Where POSIX shared-memory segments appear as files (Linux); elsewhere the leak check attaches.
DEV_SHM = "/dev/shm"


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


class _Reference(NamedTuple):
    """The serial result of one implementation: the transformed array and its statistics."""

    array: np.ndarray
    stats: Stats


class _Route(NamedTuple):
    """How a parallel variant reaches its data: the executor, the transport, the data it starts from."""

    executor: Executor
    transport: Transport
    source: Any


class _Traffic(NamedTuple):
    """Bytes pickled for the first task, and per run (every task and reply, both directions)."""

    per_task: int
    per_run: int


@dataclass
class _Measured:
    """What the pools produced: checks so far, timings, traffic, and every segment created."""

    handles: list[SharedArrayHandle]
    checks: dict[str, bool] = field(default_factory=dict)
    references: dict[str, _Reference] = field(default_factory=dict)
    traffic: dict[tuple[str, str], _Traffic] = field(default_factory=dict)
    chunk_counts: dict[str, int] = field(default_factory=dict)
    timings: dict[tuple[str, str], Timing] = field(default_factory=dict)
    task_sizes: list[dict[str, int]] = field(default_factory=list)
    before: set[str] | None = None
    after: set[str] | None = None


def _same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a.view(np.uint64), b.view(np.uint64)))


def _shm_entries() -> set[str] | None:
    try:
        return set(os.listdir(DEV_SHM))
    except OSError:
        return None


def _still_there(handle: SharedArrayHandle) -> bool:
    """True if the segment of ``handle`` can still be opened (that is, it leaked)."""
    try:
        shared = handle.attach()
    except FileNotFoundError:
        return False
    shared.close()
    return True


def _pickled_size(obj: object) -> int:
    """Bytes that sending ``obj`` to or from a worker process pickles."""
    return len(pickle.dumps(obj))


class _Plan:
    """The four variants for one implementation, on an array of ``m`` elements.

    Each parallel variant is the same two calls (transform in place, then statistics) through
    :func:`gilfree.transports.run_on_chunks`; only the executor and the transport differ.
    """

    def __init__(self, kernels: Implementation, x0: np.ndarray, shared: SharedArray, procs: Executor,
                 threads: Executor, k: int, rounds: int) -> None:
        self.kernels, self.x0, self.rounds = kernels, x0, rounds
        self.shared = shared
        self.local = x0.copy()
        self.chunks = array_chunks(x0.size, default_parts(k))
        self.procs, self.threads = procs, threads

    def targets(self) -> dict[str, np.ndarray]:
        """The array each variant transforms (threads share the processes' segment)."""
        return {SERIAL: self.local, SHARED: self.shared.array, PICKLED: self.local,
                THREADS: self.shared.array}

    def routes(self) -> dict[str, _Route]:
        return {SHARED: _Route(self.procs, TRANSPORTS["shared-memory"], self.shared),
                PICKLED: _Route(self.procs, TRANSPORTS["copies"], self.local),
                THREADS: _Route(self.threads, TRANSPORTS["views"], self.shared)}

    def _chunked(self, variant: str) -> Stats:
        executor, transport, source = self.routes()[variant]
        run_on_chunks(executor, self.kernels.transform_inplace, [source], self.chunks,
                      extra=lambda a, b: (self.rounds,), writes=True, transport=transport)
        return merge_stats(run_on_chunks(executor, self.kernels.chunk_stats, [source], self.chunks,
                                         transport=transport))

    def serial(self) -> Stats:
        self.kernels.transform_inplace(self.local, self.rounds)
        return self.kernels.chunk_stats(self.local)

    def functions(self) -> dict[str, Callable[[], Stats]]:
        return {SERIAL: self.serial, SHARED: lambda: self._chunked(SHARED),
                PICKLED: lambda: self._chunked(PICKLED), THREADS: lambda: self._chunked(THREADS)}

    def _tasks(self, transport: Transport, source: Any) -> list[tuple[Any, ...]]:
        """What the two calls pickle per task: (function, arguments), as a process pool sends them."""
        out: list[tuple[Any, ...]] = []
        rounds = self.rounds
        for kernel, extra, writes in ((self.kernels.transform_inplace, lambda a, b: (rounds,), True),
                                      (self.kernels.chunk_stats, lambda a, b: (), False)):
            fn, argsets = transport.tasks(kernel, [source], self.chunks, extra, writes)
            out.extend((fn, args) for args in argsets)
        return out

    def traffic(self, result: Stats) -> dict[str, _Traffic]:
        """What each variant pickles (nothing for serial and threads)."""
        out = {SERIAL: _Traffic(0, 0), THREADS: _Traffic(0, 0)}
        for variant in (SHARED, PICKLED):
            _, transport, source = self.routes()[variant]
            tasks = self._tasks(transport, source)
            back = [None if variant == SHARED else (self.local[a:b], None) for a, b in self.chunks]
            replies = sum(map(_pickled_size, back)) + _pickled_size(result) * len(self.chunks)
            out[variant] = _Traffic(_pickled_size(tasks[0]), sum(map(_pickled_size, tasks)) + replies)
        return out


def _task_sizes(kernels: Implementation, sizes: list[int], parts: int, rounds: int,
                handles: list[SharedArrayHandle]) -> list[dict[str, int]]:
    """Bytes pickled for the first transform task at each array size, both ways of sending it.

    The handle of every segment created is appended to ``handles``, for the leak check.
    """
    out = []
    kernel = kernels.transform_inplace
    for m in sizes:
        first = array_chunks(m, parts)[:1]
        with SharedArray.create(m) as shared:  # untouched pages: costs no memory
            handles.append(shared.handle)
            fn, argsets = TRANSPORTS["shared-memory"].tasks(kernel, [shared], first, lambda a, b: (rounds,), True)
            shm_bytes = _pickled_size((fn, argsets[0]))
        piece = np.zeros(first[0][1] - first[0][0])
        fn, argsets = TRANSPORTS["copies"].tasks(kernel, [piece], [(0, piece.size)], lambda a, b: (rounds,), True)
        pickled_bytes = _pickled_size((fn, argsets[0]))
        out.append({"elements": m, "slice_bytes": piece.nbytes, "shared_memory": shm_bytes,
                    "pickled_slice": pickled_bytes})
    return out


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


def _plans(impls: Mapping[str, Implementation], sizes: dict[str, int], procs: Executor, threads: Executor,
           s: _Settings, segments: ExitStack, handles: list[SharedArrayHandle]
           ) -> tuple[dict[str, _Plan], dict[str, _Reference]]:
    """Per implementation: the same seeded array in a segment, its plan, and its serial reference."""
    plans, references = {}, {}
    for impl, m in sizes.items():
        x0 = np.empty(m)
        fill_uniform(x0, s.seed)
        ref = x0.copy()
        impls[impl].transform_inplace(ref, s.rounds)
        references[impl] = _Reference(ref, impls[impl].chunk_stats(ref))
        shared = SharedArray.copy_of(x0)
        segments.callback(shared.close)
        handles.append(shared.handle)
        plans[impl] = _Plan(impls[impl], x0, shared, procs, threads, s.workers, s.rounds)
    return plans, references


# -- measurement --------------------------------------------------------------------------------

def _check_run(impl: str, plan: _Plan, ref: _Reference, checks: dict[str, bool], ticker: Ticker) -> None:
    """Every variant once from the same starting array (also the warm-up), against the reference."""
    targets = plan.targets()
    for variant, fn in plan.functions().items():
        targets[variant][...] = plan.x0
        got = fn()
        checks[f"{impl}, {variant}: transformed array equals the serial reference"] = \
            _same_bytes(targets[variant], ref.array)
        checks[f"{impl}, {variant}: statistics equal the serial reference"] = same_stats(got, ref.stats)
        ticker.tick(f"{impl}, {variant}")


def _twins_agree(impls: Mapping[str, Implementation], plans: dict[str, _Plan],
                 references: dict[str, _Reference], rounds: int) -> bool:
    """The compiled kernel, given pure Python's array, gives pure Python's result bit for bit."""
    pure_x0 = plans[PURE_PYTHON].x0.copy()
    impls[C_EXTENSION].transform_inplace(pure_x0, rounds)
    pure = references[PURE_PYTHON]
    return _same_bytes(pure_x0, pure.array) and same_stats(impls[C_EXTENSION].chunk_stats(pure_x0), pure.stats)


def _on_segments(impls: Mapping[str, Implementation], sizes: dict[str, int], procs: Executor,
                 threads: Executor, s: _Settings, m: _Measured, ticker: Ticker) -> None:
    """Check, then time, every variant; every segment is closed (and unlinked) on the way out."""
    with ExitStack() as segments:
        plans, m.references = _plans(impls, sizes, procs, threads, s, segments, m.handles)
        segments.callback(plans.clear)  # drop every view of the segments first: closing them unmaps at once
        for impl, plan in plans.items():
            _check_run(impl, plan, m.references[impl], m.checks, ticker)
            m.traffic.update({(impl, variant): cost
                              for variant, cost in plan.traffic(m.references[impl].stats).items()})
        if C_EXTENSION in impls:
            m.checks["pure Python and the compiled kernel agree (same array, same statistics)"] = (
                _twins_agree(impls, plans, m.references, s.rounds))
        m.chunk_counts = {impl: len(plan.chunks) for impl, plan in plans.items()}
        # Timed runs keep transforming the same arrays: the cost per element does not
        # depend on the values, and the check run above already proved the results.
        m.timings = interleaved({(impl, variant): ticker.counted(fn, f"{impl}, {variant}")
                                 for impl, plan in plans.items() for variant, fn in plan.functions().items()},
                                repeats=s.repeats, warmup=0)


def _measure(impls: Mapping[str, Implementation], sizes: dict[str, int], zero_copy_sizes: list[int],
             s: _Settings, ticker: Ticker) -> _Measured:
    """Run the variants on the pools, then the task sizes; note /dev/shm before and after."""
    m = _Measured(handles=[], before=_shm_entries())
    try:
        with open_executor(s.strategy, s.workers) as procs, open_executor("threads", s.workers) as threads:
            _on_segments(impls, sizes, procs, threads, s, m, ticker)
        m.task_sizes = _task_sizes(impls[main_implementation(impls)], zero_copy_sizes,
                                   default_parts(s.workers), s.rounds, m.handles)
        for entry in m.task_sizes:
            ticker.tick(f"task size at {entry['elements']:,} elements")
    finally:
        m.after = _shm_entries()
    return m


# -- what it means ------------------------------------------------------------------------------

def _leaked(m: _Measured) -> list[str]:
    """Segments this run created that can still be opened, or that /dev/shm still lists."""
    leaked = [h.name for h in m.handles if _still_there(h)]
    if m.before is not None and m.after is not None:
        ours = {h.name.lstrip("/") for h in m.handles}
        leaked = sorted(set(leaked) | ((m.after - m.before) & ours))
    return leaked


def _zero_copy_checks(task_sizes: list[dict[str, int]]) -> dict[str, bool]:
    shm_task = [t["shared_memory"] for t in task_sizes]
    return {
        "a shared-memory task pickles to the same size at every array size":
            max(shm_task) - min(shm_task) <= 32 and max(shm_task) < 1024,
        "a pickled-slice task grows with its slice (its bytes plus a fixed header)":
            all(0 <= t["pickled_slice"] - t["slice_bytes"] < 1024 for t in task_sizes),
    }


def _rows(m: _Measured, sizes: dict[str, int], s: _Settings) -> list[Row]:
    rows = []
    for impl, elements in sizes.items():
        serial = m.timings[(impl, SERIAL)]
        for variant in VARIANTS:
            t = m.timings[(impl, variant)]
            per_task, per_run = m.traffic[(impl, variant)]
            rows.append(Row(
                variant=variant, implementation=impl,
                strategy={SERIAL: "serial", THREADS: "threads"}.get(variant, s.strategy),
                workers=1 if variant == SERIAL else s.workers,
                seconds=t.median, spread=t.spread, cpu_seconds=t.cpu_median,
                speedup=serial.median / t.median,
                extra={"elements": elements, "chunks": m.chunk_counts[impl], "ns/elem": t.median / elements * 1e9,
                       "B/task": per_task, "MB pickled/run": per_run / 1e6},
            ))
    return rows


def _summary(rows: list[Row], m: _Measured, sizes: dict[str, int], main: str, s: _Settings) -> list[str]:
    st = m.references[main].stats
    summary = [
        f"Array: {sizes[main]:,} float64 ({sizes[main] * 8 / 1e6:.1f} MB) in shared memory, "
        f"{s.rounds} rounds of the logistic map in place, then chunk statistics; {s.workers} workers"
        + (f" (pure Python: {sizes[PURE_PYTHON]:,} elements)" if C_EXTENSION in sizes else ""),
        f"Result ({main}): mean={st.mean:.6f} std={st.std:.6f} min={st.min:.6f} max={st.max:.6f}",
    ]
    summary += [f"Bytes pickled per task at {t['elements']:,} elements: shared memory "
                f"{t['shared_memory']:,} B, pickled slice {t['pickled_slice']:,} B" for t in m.task_sizes]
    for impl in sizes:
        mine = {r.variant: r for r in rows if r.implementation == impl}
        summary.append(f"{impl}: " + ", ".join(
            f"{v} {mine[v].seconds * 1000:.0f}ms ({mine[v].speedup:.2f}x)" for v in VARIANTS))
    return summary


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
    zero_copy_sizes = _zero_copy_sizes(sizes[main])
    ticker = Ticker(progress, len(sizes) * len(VARIANTS) * (s.repeats + 1) + len(zero_copy_sizes))
    load = load_average()
    m = _measure(impls, sizes, zero_copy_sizes, s, ticker)
    leaked = _leaked(m)
    checks = {**m.checks, "no shared-memory segment left behind": not leaked, **_zero_copy_checks(m.task_sizes)}
    rows = _rows(m, sizes, s)
    env = environment()
    return StepResult(
        step=5, title=TITLE,
        params={"n": s.n, "pure_n": sizes[PURE_PYTHON], "rounds": s.rounds, "workers": s.workers,
                "strategy": s.strategy, "repeats": s.repeats, "seed": s.seed, "chunks": default_parts(s.workers)},
        rows=rows, checks=checks, summary=_summary(rows, m, sizes, main, s),
        explanation=_explain(rows, m.task_sizes, s.workers, env["gil_enabled"], C_EXTENSION in impls,
                             env["usable_cores"]),
        env=env,
        columns=("variant", "implementation", "strategy", "workers", "elements", "ms", "cpu ms",
                 "speedup", "ns/elem", "B/task", "MB pickled/run"),
        data={"task_bytes": m.task_sizes, "leaked_segments": leaked, "load_average_at_start": load,
              "new_dev_shm_entries": sorted((m.after or set()) - (m.before or set())),
              "statistics": {impl: ref.stats._asdict() for impl, ref in m.references.items()}},
    )


def _explain(rows: list[Row], task_sizes: list[dict[str, int]], k: int, gil: bool,
             has_c: bool, cores: int) -> list[str]:
    first, last = task_sizes[0], task_sizes[-1]
    growth = last["elements"] / first["elements"]
    lines = [
        f"A shared-memory task pickled to {first['shared_memory']} bytes at {first['elements']:,} "
        f"elements and {last['shared_memory']} bytes at {last['elements']:,}, while a pickled slice "
        f"grew from {first['pickled_slice']:,} to {last['pickled_slice']:,} bytes "
        f"({last['pickled_slice'] / first['pickled_slice']:.1f}x for {growth:.0f}x the data): "
        "only the segment's name, shape and the task's range cross the process boundary."]

    main = C_EXTENSION if has_c else PURE_PYTHON
    sh, pk = _find(rows, main, SHARED), _find(rows, main, PICKLED)
    moved = pk.extra["MB pickled/run"]
    line = (f"With the {main} kernel, shared memory ran at {sh.speedup:.2f}x of serial and pickled "
            f"slices at {pk.speedup:.2f}x; pickling moved {moved:.1f} MB per run and used "
            f"{cpu_of(pk) * 1000:.0f} ms of this process's CPU, against "
            f"{cpu_of(sh) * 1000:.0f} ms for shared memory")
    if pk.seconds > sh.seconds:
        line += f", so not copying saved {(pk.seconds - sh.seconds) * 1000:.0f} ms per run."
    else:
        line += "; at this size the copies did not decide the run time."
    lines.append(line)

    line, contended = _threads_line(rows, k, gil, has_c, cores)
    lines.append(line)
    pure_sh = _find(rows, PURE_PYTHON, SHARED)
    if speedup_of(pure_sh) < 1 and not contended:
        lines.append(f"For pure Python at {pure_sh.extra['elements']:,} elements, worker processes "
                     f"were slower than serial ({pure_sh.speedup:.2f}x): at that size the tasks' "
                     "round trips cost more than the work they split.")
    return lines


def _find(rows: list[Row], impl: str, variant: str) -> Row:
    return next(r for r in rows if r.implementation == impl and r.variant == variant)


def _threads_line(rows: list[Row], k: int, gil: bool, has_c: bool, cores: int) -> tuple[str, bool]:
    """What the threads on views showed, and whether other programs were contending for the cores."""
    pt = _find(rows, PURE_PYTHON, THREADS)
    if not has_c:
        return (f"Pure-Python threads on views of the segment reached {pt.speedup:.2f}x on {k} "
                "threads (the compiled kernels are not installed, so there is no nogil row)."), False
    ct = _find(rows, C_EXTENSION, THREADS)
    used = ct.cpu_seconds / ct.seconds if ct.cpu_seconds and ct.seconds > 0 else 0.0
    serial = _find(rows, C_EXTENSION, SERIAL)
    chunk_ms = serial.seconds / ct.extra["chunks"] * 1000
    want = min(k, cores)
    contended = chunk_ms >= 0.1 and used < 0.75 * want  # a thread hand-off costs ~0.02 ms
    line = (f"Threads on views of the same segment reached {ct.speedup:.2f}x with the compiled "
            f"kernel and {pt.speedup:.2f}x with pure Python on {k} threads")
    if not gil:
        line += ": this interpreter runs without the GIL, so pure-Python threads can scale too."
    elif speedup_of(ct) > speedup_of(pt) + 0.2:
        line += (f" (the compiled kernel's threads kept {used:.1f} cores busy): it releases the GIL "
                 "inside its loops, pure Python holds it, so pure-Python threads take turns; "
                 "neither needs a copy.")
    elif contended:
        line += (f"; the compiled kernel's threads kept only {used:.1f} of {want} cores busy although "
                 f"each chunk held {chunk_ms:.1f} ms of work: other programs were using the cores, "
                 "so every parallel speedup in this table understates an idle machine.")
    else:
        line += (f"; the compiled kernel's threads kept {used:.1f} cores busy on average: at "
                 f"{chunk_ms:.2f} ms of work per chunk, handing chunks to threads cost about as "
                 "much as the work itself.")
    return line, contended


#: Parameters for ``gilfree lab`` (DEFAULT), ``--quick`` (QUICK) and the tests (TINY).
DEFAULT: dict[str, Any] = {}
QUICK = {"n": 1_000_000, "rounds": 8, "pure_scale": 50, "repeats": 3}
TINY = {"n": 65_536, "rounds": 2, "pure_scale": 50, "repeats": 1, "workers": 2}
