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
import struct
from typing import Any, Callable

import numpy as np

from ..arrays import fill_uniform, merge_stats
from .._select import C_EXTENSION, PURE_PYTHON, implementations
from .._stats import Stats
from .._timing import environment, interleaved, load_average, usable_cores
from ..chunked import array_chunks, default_parts
from ..shm import SharedArray, SharedArrayHandle
from ..strategies import check_workers, get_strategy, open_executor
from ..transports import TRANSPORTS, Transport, run_on_chunks
from ._result import Progress, Row, StepResult, no_progress

TITLE = "SharedMemory + numpy: zero-copy arrays across processes"

SERIAL = "serial, one array"
SHARED = "shared memory"
PICKLED = "pickled slices"
THREADS = "threads on views"
VARIANTS = (SERIAL, SHARED, PICKLED, THREADS)

#: Where POSIX shared-memory segments appear as files (Linux); elsewhere the leak check attaches.
DEV_SHM = "/dev/shm"

def _same_stats(a: Stats, b: Stats) -> bool:
    """Bitwise equality of two Stats (``==`` would call 0.0 and -0.0 equal)."""
    return a.count == b.count and all(struct.pack("<d", float(x)) == struct.pack("<d", float(y))
                                      for x, y in zip(a[1:], b[1:]))


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

    def __init__(self, kernels: Any, x0: np.ndarray, shared: SharedArray, procs: Any,
                 threads: Any, k: int, rounds: int) -> None:
        self.kernels, self.x0, self.rounds = kernels, x0, rounds
        self.shared = shared
        self.local = x0.copy()
        self.chunks = array_chunks(x0.size, default_parts(k))
        self.procs, self.threads = procs, threads

    def targets(self) -> dict[str, np.ndarray]:
        """The array each variant transforms (threads share the processes' segment)."""
        return {SERIAL: self.local, SHARED: self.shared.array, PICKLED: self.local,
                THREADS: self.shared.array}

    def routes(self) -> dict[str, tuple[Any, Transport, Any]]:
        """Per parallel variant: (executor, transport, the data it starts from)."""
        return {SHARED: (self.procs, TRANSPORTS["shared-memory"], self.shared),
                PICKLED: (self.procs, TRANSPORTS["copies"], self.local),
                THREADS: (self.threads, TRANSPORTS["views"], self.shared)}

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

    def _tasks(self, transport: Transport, source: Any) -> list[tuple]:
        """What the two calls pickle per task: (function, arguments), as a process pool sends them."""
        out = []
        for kernel, extra, writes in ((self.kernels.transform_inplace, (self.rounds,), True),
                                      (self.kernels.chunk_stats, (), False)):
            fn, argsets = transport.tasks(kernel, [source], self.chunks, lambda a, b, e=extra: e, writes)
            out.extend((fn, args) for args in argsets)
        return out

    def traffic(self, result: Stats) -> dict[str, tuple[int, int]]:
        """Per variant: (bytes pickled for the first task, bytes pickled per run, both directions)."""
        out: dict[str, tuple[int, int]] = {SERIAL: (0, 0), THREADS: (0, 0)}
        for variant in (SHARED, PICKLED):
            _, transport, source = self.routes()[variant]
            tasks = self._tasks(transport, source)
            back = [None if variant == SHARED else (self.local[a:b], None) for a, b in self.chunks]
            replies = sum(map(_pickled_size, back)) + _pickled_size(result) * len(self.chunks)
            out[variant] = (_pickled_size(tasks[0]), sum(map(_pickled_size, tasks)) + replies)
        return out


def _task_sizes(kernels: Any, sizes: list[int], parts: int, rounds: int,
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


def run(n: int = 8_000_000, rounds: int = 8, workers: int | None = None, pure_scale: int = 50,
        strategy: str = "processes", repeats: int = 5, seed: int = 5,
        progress: Progress = no_progress) -> StepResult:
    """Transform and summarise one array with ``workers`` workers, shared vs pickled vs threads.

    ``n`` elements for the compiled kernel, ``n // pure_scale`` for pure Python (about a hundred
    times slower per element). ``strategy`` is the process executor: "processes" or "pool".
    """
    k = check_workers(workers if workers is not None else max(2, usable_cores()))
    if n < 1 or rounds < 1 or pure_scale < 1 or repeats < 1:
        raise ValueError("n, rounds, pure_scale and repeats must be >= 1")
    if get_strategy(strategy).capabilities.in_process:
        raise ValueError(f"strategy must run tasks in worker processes, not {strategy!r}: this step "
                         "compares shared memory with pickling across processes")
    impls = implementations()
    has_c = C_EXTENSION in impls
    sizes = {PURE_PYTHON: max(1, n // pure_scale)}
    if has_c:
        sizes[C_EXTENSION] = n
    main = C_EXTENSION if has_c else PURE_PYTHON
    zero_copy_sizes = sorted({max(1, sizes[main] // 4), sizes[main], sizes[main] * 4})

    total = len(sizes) * len(VARIANTS) * (repeats + 1) + len(zero_copy_sizes)
    done = [0]

    def tick(label: str) -> None:
        done[0] += 1
        progress(done[0], total, label)

    load = load_average()
    before = _shm_entries()
    handles: list[SharedArrayHandle] = []
    checks: dict[str, bool] = {}
    references: dict[str, tuple[np.ndarray, Stats]] = {}
    traffic: dict[tuple[str, str], tuple[int, int]] = {}
    stats_of: dict[str, Stats] = {}
    chunk_counts: dict[str, int] = {}
    try:
        with open_executor(strategy, k) as procs, open_executor("threads", k) as threads:
            plans: dict[str, _Plan] = {}
            shared_arrays: list[SharedArray] = []
            targets: dict[str, np.ndarray] = {}
            try:
                for impl, m in sizes.items():
                    x0 = np.empty(m)
                    fill_uniform(x0, seed)
                    ref = x0.copy()
                    impls[impl].transform_inplace(ref, rounds)
                    ref_stats = impls[impl].chunk_stats(ref)
                    references[impl] = (ref, ref_stats)
                    stats_of[impl] = ref_stats
                    shared = SharedArray.copy_of(x0)
                    shared_arrays.append(shared)
                    handles.append(shared.handle)
                    plans[impl] = _Plan(impls[impl], x0, shared, procs, threads, k, rounds)
                    chunk_counts[impl] = len(plans[impl].chunks)

                # Check run (also the warm-up): every variant from the same starting array.
                for impl, plan in plans.items():
                    ref, ref_stats = references[impl]
                    targets = plan.targets()
                    for variant, fn in plan.functions().items():
                        targets[variant][...] = plan.x0
                        got = fn()
                        checks[f"{impl}, {variant}: transformed array equals the serial reference"] = \
                            _same_bytes(targets[variant], ref)
                        checks[f"{impl}, {variant}: statistics equal the serial reference"] = \
                            _same_stats(got, ref_stats)
                        tick(f"{impl}, {variant}")
                    for variant, cost in plan.traffic(ref_stats).items():
                        traffic[(impl, variant)] = cost
                    targets = {}

                if has_c:
                    pure_x0 = plans[PURE_PYTHON].x0.copy()
                    impls[C_EXTENSION].transform_inplace(pure_x0, rounds)
                    pure_ref, pure_stats = references[PURE_PYTHON]
                    checks["pure Python and the compiled kernel agree (same array, same statistics)"] = (
                        _same_bytes(pure_x0, pure_ref)
                        and _same_stats(impls[C_EXTENSION].chunk_stats(pure_x0), pure_stats))

                def counted(key: tuple[str, str], fn: Callable[[], Stats]) -> Callable[[], Stats]:
                    def wrapper() -> Stats:
                        out = fn()
                        tick(f"{key[0]}, {key[1]}")
                        return out
                    return wrapper

                # Timed runs keep transforming the same arrays: the cost per element does not
                # depend on the values, and the check run above already proved the results.
                timings = interleaved({(impl, variant): counted((impl, variant), fn)
                                       for impl, plan in plans.items()
                                       for variant, fn in plan.functions().items()},
                                      repeats=repeats, warmup=0)
            finally:
                # Drop every view of the segments first, so that closing them unmaps at once.
                targets = {}
                plans.clear()
                for shared in shared_arrays:
                    shared.close()

        task_sizes = []
        for entry in _task_sizes(impls[main], zero_copy_sizes, default_parts(k), rounds, handles):
            task_sizes.append(entry)
            tick(f"task size at {entry['elements']:,} elements")
    finally:
        after = _shm_entries()

    leaked = [h.name for h in handles if _still_there(h)]
    if before is not None and after is not None:
        ours = {h.name.lstrip("/") for h in handles}
        leaked = sorted(set(leaked) | ((after - before) & ours))
    checks["no shared-memory segment left behind"] = not leaked

    shm_task = [t["shared_memory"] for t in task_sizes]
    checks["a shared-memory task pickles to the same size at every array size"] = (
        max(shm_task) - min(shm_task) <= 32 and max(shm_task) < 1024)
    checks["a pickled-slice task grows with its slice (its bytes plus a fixed header)"] = all(
        0 <= t["pickled_slice"] - t["slice_bytes"] < 1024 for t in task_sizes)

    rows = []
    for impl, m in sizes.items():
        serial = timings[(impl, SERIAL)]
        for variant in VARIANTS:
            t = timings[(impl, variant)]
            per_task, per_run = traffic[(impl, variant)]
            rows.append(Row(
                variant=variant, implementation=impl,
                strategy={SERIAL: "serial", THREADS: "threads"}.get(variant, strategy),
                workers=1 if variant == SERIAL else k,
                seconds=t.median, spread=t.spread, cpu_seconds=t.cpu_median,
                speedup=serial.median / t.median,
                extra={"elements": m, "chunks": chunk_counts[impl], "ns/elem": t.median / m * 1e9,
                       "B/task": per_task, "MB pickled/run": per_run / 1e6},
            ))

    s = stats_of[main]
    summary = [
        f"Array: {sizes[main]:,} float64 ({sizes[main] * 8 / 1e6:.1f} MB) in shared memory, "
        f"{rounds} rounds of the logistic map in place, then chunk statistics; {k} workers"
        + (f" (pure Python: {sizes[PURE_PYTHON]:,} elements)" if has_c else ""),
        f"Result ({main}): mean={s.mean:.6f} std={s.std:.6f} min={s.min:.6f} max={s.max:.6f}",
    ]
    summary += [f"Bytes pickled per task at {t['elements']:,} elements: shared memory "
                f"{t['shared_memory']:,} B, pickled slice {t['pickled_slice']:,} B" for t in task_sizes]
    for impl in sizes:
        mine = {r.variant: r for r in rows if r.implementation == impl}
        summary.append(f"{impl}: " + ", ".join(
            f"{v} {mine[v].seconds * 1000:.0f}ms ({mine[v].speedup:.2f}x)" for v in VARIANTS))

    env = environment()
    return StepResult(
        step=5, title=TITLE,
        params={"n": n, "pure_n": sizes[PURE_PYTHON], "rounds": rounds, "workers": k,
                "strategy": strategy, "repeats": repeats, "seed": seed, "chunks": default_parts(k)},
        rows=rows, checks=checks, summary=summary,
        explanation=_explain(rows, task_sizes, k, env["gil_enabled"], has_c, env["usable_cores"]),
        env=env,
        columns=("variant", "implementation", "strategy", "workers", "elements", "ms", "cpu ms",
                 "speedup", "ns/elem", "B/task", "MB pickled/run"),
        data={"task_bytes": task_sizes, "leaked_segments": leaked, "load_average_at_start": load,
              "new_dev_shm_entries": sorted((after or set()) - (before or set())),
              "statistics": {impl: st._asdict() for impl, st in stats_of.items()}},
    )


def _explain(rows: list[Row], task_sizes: list[dict[str, int]], k: int, gil: bool,
             has_c: bool, cores: int) -> list[str]:
    def find(impl: str, variant: str) -> Row:
        return next(r for r in rows if r.implementation == impl and r.variant == variant)

    first, last = task_sizes[0], task_sizes[-1]
    growth = last["elements"] / first["elements"]
    lines = [
        f"A shared-memory task pickled to {first['shared_memory']} bytes at {first['elements']:,} "
        f"elements and {last['shared_memory']} bytes at {last['elements']:,}, while a pickled slice "
        f"grew from {first['pickled_slice']:,} to {last['pickled_slice']:,} bytes "
        f"({last['pickled_slice'] / first['pickled_slice']:.1f}x for {growth:.0f}x the data): "
        "only the segment's name, shape and the task's range cross the process boundary."]

    main = C_EXTENSION if has_c else PURE_PYTHON
    sh, pk = find(main, SHARED), find(main, PICKLED)
    moved = pk.extra["MB pickled/run"]
    line = (f"With the {main} kernel, shared memory ran at {sh.speedup:.2f}x of serial and pickled "
            f"slices at {pk.speedup:.2f}x; pickling moved {moved:.1f} MB per run and used "
            f"{pk.cpu_seconds * 1000:.0f} ms of this process's CPU, against "
            f"{sh.cpu_seconds * 1000:.0f} ms for shared memory")
    if pk.seconds > sh.seconds:
        line += f", so not copying saved {(pk.seconds - sh.seconds) * 1000:.0f} ms per run."
    else:
        line += "; at this size the copies did not decide the run time."
    lines.append(line)

    pt = find(PURE_PYTHON, THREADS)
    contended = False
    if has_c:
        ct = find(C_EXTENSION, THREADS)
        used = ct.cpu_seconds / ct.seconds if ct.cpu_seconds and ct.seconds > 0 else 0.0
        serial = find(C_EXTENSION, SERIAL)
        chunk_ms = serial.seconds / ct.extra["chunks"] * 1000
        want = min(k, cores)
        contended = chunk_ms >= 0.1 and used < 0.75 * want  # a thread hand-off costs ~0.02 ms
        line = (f"Threads on views of the same segment reached {ct.speedup:.2f}x with the compiled "
                f"kernel and {pt.speedup:.2f}x with pure Python on {k} threads")
        if not gil:
            line += ": this interpreter runs without the GIL, so pure-Python threads can scale too."
        elif ct.speedup > pt.speedup + 0.2:
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
        lines.append(line)
    else:
        lines.append(f"Pure-Python threads on views of the segment reached {pt.speedup:.2f}x on {k} "
                     "threads (the compiled kernels are not installed, so there is no nogil row).")
    pure_sh = find(PURE_PYTHON, SHARED)
    if pure_sh.speedup < 1 and not contended:
        lines.append(f"For pure Python at {pure_sh.extra['elements']:,} elements, worker processes "
                     f"were slower than serial ({pure_sh.speedup:.2f}x): at that size the tasks' "
                     "round trips cost more than the work they split.")
    return lines


#: Parameters for ``gilfree lab`` (DEFAULT), ``--quick`` (QUICK) and the tests (TINY).
DEFAULT: dict = {}
QUICK = {"n": 1_000_000, "rounds": 8, "pure_scale": 50, "repeats": 3}
TINY = {"n": 65_536, "rounds": 2, "pure_scale": 50, "repeats": 1, "workers": 2}
