"""Step 7: the chunked pattern: split the work, run the chunks in parallel, aggregate in order.

Three lines carry every parallel job in gilfree: cut the work into chunks (``split_range`` for an
index range, ``array_chunks`` for an array), run one task per chunk on an ``Executor``, and combine
the chunk results *in chunk order* (``sum`` for counts, ``merge_stats`` for statistics). The step
runs those lines unchanged on three workloads (an exact sum of squares, the statistics of an array
in shared memory, a seeded Monte Carlo estimate of pi) and on every registered strategy that can
run here (:mod:`gilfree.registry`: serial, threads, the process pools, the joblib peers when
joblib is installed, and any strategy a user registers), and on an executor the caller brings. Every
answer must equal the single call's, bit for bit. Then it varies the number of chunks: one per
worker, a few per worker (``default_parts``), and many small ones, on work of even and of uneven
cost, to show what the chunk count buys and what it costs.
"""

from __future__ import annotations

import struct
from concurrent.futures import Executor
from contextlib import ExitStack
from typing import Any, Callable, Mapping

import numpy as np

from .._compat import executor_workers
from .._select import C_EXTENSION, PURE_PYTHON, Implementation
from .._select import implementations as _available_implementations
from .._stats import Stats, merge_stats
from .._timing import environment, interleaved, load_average, usable_cores
from ..chunked import array_chunks, default_parts, parallel_reduce, split_range
from ..registry import capabilities_of
from ..shm import SharedArray
from ..strategies import check_workers, open_executor, strategy_names
from ..transports import run_on_chunks
from ._result import Progress, Row, StepResult, busy_machine_note, no_progress

TITLE = "chunked processing: split, run in parallel, aggregate"

#: The workloads of the main table, and of the chunk-count sweep.
WORKLOADS = ("sum of squares", "array stats", "monte carlo pi")
SWEEP_WORKLOADS = ("monte carlo pi", "prime count")
#: Chunks per worker in the sweep, besides the caller's ``many_per_worker``.
SWEEP_PER_WORKER = (1, 4)

#: Roughly how much slower per element the pure-Python twin is: it gets that much less work,
#: so that its runs last about as long as the compiled ones (rows compare per element).
PURE_DIVISOR = {"sum of squares": 150, "array stats": 600, "monte carlo pi": 500, "prime count": 40}

_UNIT = {"sum of squares": "term", "array stats": "value", "monte carlo pi": "sample",
         "prime count": "number"}


def _chunked(workload: str, kernels: Implementation, n: int, parts: int, data: SharedArray,
             seed: int) -> tuple[Callable[[Executor], Any], int]:
    """Split, run, merge: a function of the executor, and the number of chunks it makes."""
    if workload == "array stats":
        chunks = array_chunks(n, parts)  # BLOCK * 2**k long: the merge is exact
        # The executor's capabilities pick how the chunks travel: views in this process,
        # shared-memory handles in worker processes.
        return (lambda ex: merge_stats(run_on_chunks(ex, kernels.chunk_stats, [data], chunks)),
                len(chunks))
    ranges = split_range(0, n, parts)
    if workload == "sum of squares":
        fn, argsets = kernels.sum_squares, ranges
    elif workload == "monte carlo pi":
        fn, argsets = kernels.monte_carlo_hits, [(lo, hi, seed) for lo, hi in ranges]
    elif workload == "prime count":
        fn, argsets = kernels.count_primes, ranges
    else:
        raise ValueError(f"unknown workload {workload!r}")
    return (lambda ex: parallel_reduce(ex, fn, argsets, sum)), len(argsets)


def _one_call(workload: str, kernels: Any, n: int, data: SharedArray, seed: int) -> Any:
    """The reference: the whole job as one kernel call, no executor, no chunks."""
    if workload == "array stats":
        return kernels.chunk_stats(data.array[:n])
    if workload == "sum of squares":
        return kernels.sum_squares(0, n)
    if workload == "monte carlo pi":
        return kernels.monte_carlo_hits(0, n, seed)
    return kernels.count_primes(0, n)


def _ms(seconds: float) -> str:
    """Milliseconds with as many digits as a short time needs."""
    ms = seconds * 1000
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms" if ms >= 0.1 else f"{ms:.2f} ms"


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _gil_note(thread_speedup: float, gil: bool) -> str:
    """What a pure-Python thread speedup says about the GIL, worded to fit the number."""
    if not gil:
        return "with no GIL in this interpreter"
    if thread_speedup < 1.2:
        return "which take turns on the GIL"
    return "more than the GIL allows, so that ratio is within this run's noise"


def _bits(value: Any) -> Any:
    """Results compared bit for bit: a float field equal only to the very same double."""
    if isinstance(value, Stats):
        return (value.count, *(struct.pack("<d", float(v)) for v in value[1:]))
    return value


def strategies_here() -> tuple[str, ...]:
    """The registered strategies this step opens: every one that can run here, but the peers."""
    return strategy_names(available_only=True, peers=False)


def run(squares_n: int = 2**28, stats_n: int = 2**24, samples: int = 2**26, primes_n: int = 2_000_000,
        workers: int | None = None, many_per_worker: int = 256, repeats: int = 3, seed: int = 2024,
        executor: Executor | None = None, implementations: Mapping[str, Implementation] | None = None,
        progress: Progress = no_progress) -> StepResult:
    """Run the three workloads chunked on every executor, then sweep the chunk count.

    The sizes are for the compiled kernels; pure Python gets each size divided by
    :data:`PURE_DIVISOR`. ``executor``, if given, is used as it is (this step neither starts nor
    stops it) in extra rows named ``given <type>``; tasks on an executor that is not a thread
    pool or serial receive shared-memory handles, so a process pool of the caller's works too.
    """
    k = check_workers(workers if workers is not None else max(2, usable_cores()))
    sizes = {"sum of squares": squares_n, "array stats": stats_n, "monte carlo pi": samples,
             "prime count": primes_n}
    for name, value in [("squares_n", squares_n), ("stats_n", stats_n), ("samples", samples),
                        ("primes_n", primes_n), ("many_per_worker", many_per_worker),
                        ("repeats", repeats)]:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if many_per_worker <= max(SWEEP_PER_WORKER):
        raise ValueError(f"many_per_worker must be more than {max(SWEEP_PER_WORKER)} (the sweep's "
                         f"default chunks per worker), got {many_per_worker}")
    if executor is not None and not isinstance(executor, Executor):
        raise TypeError(f"executor must be a concurrent.futures.Executor, not {type(executor).__name__}")

    impls = dict(implementations) if implementations is not None else _available_implementations()
    has_c = C_EXTENSION in impls
    sweep_impl = C_EXTENSION if has_c else PURE_PYTHON

    def size(workload: str, impl: str) -> int:
        n = sizes[workload]
        return n if impl == C_EXTENSION else max(1, n // PURE_DIVISOR[workload])

    given = f"given {type(executor).__name__}" if executor is not None else None
    many = k * many_per_worker
    sweep_parts = [k * p for p in SWEEP_PER_WORKER] + [many]
    stats_len = max(size("array stats", impl) for impl in impls)
    load = load_average()

    with ExitStack() as stack:
        data = stack.enter_context(SharedArray.create(stats_len))
        np.random.default_rng(seed).random(out=data.array)
        executors: dict[str, Executor] = {
            name: stack.enter_context(open_executor(name, k)) for name in strategies_here()}
        if executor is not None:
            executors[given] = executor
        workers_of = {name: (1 if capabilities_of(ex).uses == "serial" else executor_workers(ex) or k)
                      for name, ex in executors.items()}

        # variant key -> (workload, impl, strategy, parts, thunk)
        plans: dict[tuple, tuple] = {}
        chunk_counts: dict[tuple, int] = {}

        def add(table: str, workload: str, impl: str, strategy: str, parts: int) -> None:
            n = size(workload, impl)
            kernels = impls[impl]
            if strategy == "one call":
                thunk = lambda: _one_call(workload, kernels, n, data, seed)  # noqa: E731
                count = 1
            else:
                job, count = _chunked(workload, kernels, n, parts, data, seed)
                thunk = lambda ex=executors[strategy], job=job: job(ex)  # noqa: E731
            plans[(table, workload, impl, strategy, parts)] = (workload, impl, strategy, parts, thunk)
            chunk_counts[(table, workload, impl, strategy, parts)] = count

        for workload in WORKLOADS:
            for impl in impls:
                add("main", workload, impl, "one call", 1)
                for strategy in executors:
                    add("main", workload, impl, strategy, default_parts(k))
        for workload in SWEEP_WORKLOADS:
            add("sweep", workload, sweep_impl, "one call", 1)
            for strategy in ("threads", "processes"):
                for parts in sweep_parts:
                    add("sweep", workload, sweep_impl, strategy, parts)

        total = len(plans) * (repeats + 1)
        done = [0]

        def tick(label: str) -> None:
            done[0] += 1
            progress(done[0], total, label)

        # One untimed run of everything: the result checks, and the warm-up of every pool.
        results: dict[tuple, Any] = {}
        for key, (workload, impl, strategy, parts, thunk) in plans.items():
            results[key] = thunk()
            tick(f"{workload}, {impl}, {strategy}")

        def counted(key: tuple) -> Callable[[], Any]:
            thunk = plans[key][4]

            def timed() -> Any:
                out = thunk()
                tick(f"{key[1]}, {key[2]}, {key[3]}, {chunk_counts[key]} chunks")
                return out
            return timed

        timings = interleaved({key: counted(key) for key in plans}, repeats=repeats, warmup=0)
        data_bytes = data.array.nbytes
        twins = _twin_checks(results, impls, size, data, seed)

    checks: dict[str, bool] = {}
    rows: list[Row] = []
    for key, (workload, impl, strategy, parts, _) in plans.items():
        table = key[0]
        reference = results[(table, workload, impl, "one call", 1)]
        if strategy != "one call":
            label = (f"{workload}, {impl}, {strategy}" if table == "main"
                     else f"chunk sweep: {workload}, {strategy}, {chunk_counts[key]} chunks")
            checks[f"{label}: equals the single call"] = _bits(results[key]) == _bits(reference)
        t = timings[key]
        base = timings[(table, workload, impl, "one call", 1)].median
        n = size(workload, impl)
        nchunks = chunk_counts[key]
        w = workers_of.get(strategy, 1)
        rows.append(Row(
            variant=workload if table == "main" else f"chunks: {workload}",
            implementation=impl, strategy=strategy, workers=w,
            seconds=t.median, spread=t.spread, cpu_seconds=t.cpu_median, speedup=base / t.median,
            extra={"n": n, "chunks": nchunks, "per worker": round(nchunks / w, 2),
                   "ns/elem": t.median / n * 1e9, "unit": _UNIT[workload]},
        ))
    checks.update(twins)

    summary, data_out = _summary(rows, results, size, k, data_bytes, tuple(executors))
    env = environment()
    explanation = _explain(rows, k, has_c, sweep_impl, size("array stats", C_EXTENSION if has_c
                                                               else PURE_PYTHON),
                           bool(env.get("gil_enabled", True)), load, env.get("usable_cores"))
    return StepResult(
        step=7, title=TITLE,
        params={"squares_n": squares_n, "stats_n": stats_n, "samples": samples, "primes_n": primes_n,
                "workers": k, "many_per_worker": many_per_worker, "repeats": repeats, "seed": seed,
                "executor": given, "pure_divisor": PURE_DIVISOR},
        rows=rows, checks=checks, summary=summary, explanation=explanation, env=env,
        columns=("variant", "implementation", "strategy", "workers", "chunks", "n", "ms", "cpu ms",
                 "spread", "speedup", "ns/elem"),
        data={**data_out, "load_average_at_start": load},
    )


def _twin_checks(results: dict, impls: dict, size: Callable, data: SharedArray,
                 seed: int) -> dict[str, bool]:
    """The single calls themselves: a closed form, and (where both exist) twin against twin."""
    checks = {}
    for impl in impls:
        n = size("sum of squares", impl)
        got = results[("main", "sum of squares", impl, "one call", 1)]
        checks[f"sum of squares, {impl}, one call: equals (n-1)n(2n-1)/6"] = (
            got == (n - 1) * n * (2 * n - 1) // 6)
    if C_EXTENSION in impls:
        c = impls[C_EXTENSION]
        for workload in WORKLOADS:
            n = size(workload, PURE_PYTHON)
            pure = results[("main", workload, PURE_PYTHON, "one call", 1)]
            twin = _one_call(workload, c, n, data, seed)
            checks[f"{workload}: the compiled twin gives the same at n={n:,}"] = _bits(pure) == _bits(twin)
    return checks


def _summary(rows: list[Row], results: dict, size: Callable, k: int, data_bytes: int,
             strategies: tuple[str, ...]) -> tuple[list[str], dict[str, Any]]:
    def row(variant: str, impl: str, strategy: str) -> Row:
        return next(r for r in rows if r.variant == variant and r.implementation == impl
                    and r.strategy == strategy)

    impl = C_EXTENSION if any(r.implementation == C_EXTENSION for r in rows) else PURE_PYTHON
    lines = []
    for workload in WORKLOADS:
        n = size(workload, impl)
        parts = row(workload, impl, "processes").extra["chunks"]
        times = ", ".join(f"{s} {row(workload, impl, s).seconds * 1000:.0f}ms"
                          for s in ("one call", *strategies))
        lines.append(f"{workload} ({n:,} {_UNIT[workload]}s, {parts} chunks, {impl}): {times}")
    samples = size("monte carlo pi", impl)
    hits = results[("main", "monte carlo pi", impl, "one call", 1)]
    stats = results[("main", "array stats", impl, "one call", 1)]
    lines.append(f"pi ~ {4 * hits / samples:.6f} from {samples:,} samples; array mean {stats.mean:.6f}, "
                 f"std {stats.std:.6f} over {stats.count:,} values: the same bits from every executor")
    sweep = [r for r in rows if r.variant.startswith("chunks: ") and r.strategy == "processes"]
    for workload in SWEEP_WORKLOADS:
        cells = [f"{r.extra['chunks']} chunks {r.seconds * 1000:.0f}ms" for r in sweep
                 if r.variant == f"chunks: {workload}"]
        lines.append(f"chunk count, {workload}, {k} processes: " + ", ".join(cells))
    data = {
        "pi_estimate": 4 * hits / samples,
        "array_stats": stats._asdict(),
        "array_bytes": data_bytes,
        "sum_of_squares": str(results[("main", "sum of squares", impl, "one call", 1)]),
        "results_by_variant": {f"{r.variant} | {r.implementation} | {r.strategy} | {r.extra['chunks']}":
                               {"ms": r.seconds * 1000, "speedup": r.speedup} for r in rows},
    }
    return lines, data


def _explain(rows: list[Row], k: int, has_c: bool, sweep_impl: str, stats_n: int, gil: bool,
             load: float | None, cores: Any) -> list[str]:
    def row(variant: str, impl: str, strategy: str, chunks: int | None = None) -> Row:
        return next(r for r in rows if r.variant == variant and r.implementation == impl
                    and r.strategy == strategy and (chunks is None or r.extra["chunks"] == chunks))

    lines = []
    best = C_EXTENSION if has_c else PURE_PYTHON
    cpu = [row(w, best, s) for w in ("sum of squares", "monte carlo pi") for s in ("threads", "processes")]
    py_t = row("monte carlo pi", PURE_PYTHON, "threads")
    py_p = row("monte carlo pi", PURE_PYTHON, "processes")
    why = _gil_note(py_t.speedup, gil)
    text = (f"The same split/run/merge code gave the single call's exact answer on every executor. On "
            f"the CPU-bound kernels ({best}) {k} workers ran at {min(r.speedup for r in cpu):.2f}x to "
            f"{max(r.speedup for r in cpu):.2f}x of the one-call time")
    if has_c:
        text += (f"; the pure-Python Monte Carlo ran at {py_t.speedup:.2f}x on threads, {why}, and at "
                 f"{py_p.speedup:.2f}x in processes.")
    else:
        text += f" (the threads {why})."
    if max(r.speedup for r in cpu + [py_p]) < 1:
        mc, serial = row("monte carlo pi", best, "threads"), row("monte carlo pi", best, "serial")
        per_chunk = row("monte carlo pi", best, "one call").seconds / mc.extra["chunks"]
        if per_chunk < 1e-3:
            text += (f" No executor beat the one call: each chunk held about {per_chunk * 1e6:.0f} us of "
                     "work, too little to pay for handing it to a worker.")
        else:
            text += (f" No executor beat the one call here; the serial executor, which does the same work "
                     f"in the same chunks, ran at {serial.speedup:.2f}x, a yardstick of this run's noise.")
    lines.append(text)

    one = row("array stats", best, "one call")
    st_t, st_p = row("array stats", best, "threads"), row("array stats", best, "processes")
    if has_c:
        rate = (f"read {stats_n * 8 / 2**20:.1f} MB at {stats_n * 8 / one.seconds / 1e9:.1f} GB/s "
                f"in {_ms(one.seconds)}")
        if stats_n * 8 >= 16 * 2**20:  # well past the caches: main memory sets the pace
            text = f"The compiled array statistics are memory-bound: one call {rate}."
        else:
            text = f"One call of the compiled array statistics {rate}."
    else:
        text = f"The array statistics of {stats_n:,} values took {_ms(one.seconds)} in one call."
    text += (f" Threads, which get views of the array, ran at {st_t.speedup:.2f}x; processes at "
             f"{st_p.speedup:.2f}x")
    if st_p.seconds > st_t.seconds * 1.2:
        text += (": each process task attaches the shared segment and maps its pages before it can "
                 "read them, a cost a thread never pays.")
    else:
        text += "."
    lines.append(text)

    p = "processes"
    few = sorted({r.extra["chunks"] for r in rows
                  if r.variant == "chunks: monte carlo pi" and r.strategy == p})
    one_each, a_few, many = few[0], few[min(1, len(few) - 1)], few[-1]  # fewer if n < chunks
    even = {c: row("chunks: monte carlo pi", sweep_impl, p, c) for c in few}
    uneven = {c: row("chunks: prime count", sweep_impl, p, c) for c in few if c in {
        r.extra["chunks"] for r in rows if r.variant == "chunks: prime count" and r.strategy == p}}
    if one_each not in uneven or a_few not in uneven:
        return lines + [f"The sizes were too small for the chunk counts asked for ({few})."]
    gain = uneven[one_each].seconds / uneven[a_few].seconds
    verdict = ("faster: the workers end closer together" if gain > 1.05 else
               "no clear difference" if gain > 0.95 else "slower here")
    text = (f"Chunk count on {_plural(k, 'worker process', 'worker processes')}: prime counting, whose "
            f"chunks get dearer along the range, took {_ms(uneven[one_each].seconds)} in "
            f"{_plural(one_each, 'chunk', 'chunks')} (one per worker) and "
            f"{_ms(uneven[a_few].seconds)} in {a_few} ({verdict}); the Monte Carlo, whose chunks "
            f"all cost the same, took {_ms(even[one_each].seconds)} and {_ms(even[a_few].seconds)}. ")
    per_task = (even[many].seconds - even[a_few].seconds) / (many - a_few) * 1e6 if many > a_few else 0.0
    if per_task > 1:
        text += (f"{many} small chunks took {_ms(even[many].seconds)}, about {per_task:.0f} us "
                 "more per extra task: each one is submitted, pickled, run and collected on its own. "
                 "A few chunks per worker keeps the load even without paying that toll too often.")
    else:
        text += (f"{many} small chunks took {_ms(even[many].seconds)}: no measurable cost per "
                 "extra task at this size.")
    lines.append(text)
    note = busy_machine_note(load, cores)
    if note:
        lines.append(note)
    return lines


#: Parameters for ``gilfree lab`` (DEFAULT), ``--quick`` (QUICK) and the tests (TINY).
DEFAULT: dict = {}
QUICK = {"squares_n": 2**25, "stats_n": 2**22, "samples": 2**23, "primes_n": 500_000,
         "many_per_worker": 128, "repeats": 2}
TINY = {"squares_n": 200_000, "stats_n": 2**17, "samples": 100_000, "primes_n": 20_000,
        "many_per_worker": 8, "repeats": 1, "workers": 2}
