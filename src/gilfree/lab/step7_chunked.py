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

from concurrent.futures import Executor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, NamedTuple, Sequence

import numpy as np

from .._checks import check_callable, check_count, check_executor, check_seed
from .._compat import executor_workers
from .._select import C_EXTENSION, PURE_PYTHON, Implementation
from .._stats import Stats, merge_stats, stats_bits
from .._timing import Timing, environment, interleaved, load_average, usable_cores
from ..chunked import array_chunks, default_parts, parallel_reduce, split_range
from ..registry import capabilities_of
from ..shm import SharedArray
from ..strategies import open_executor, strategy_names
from ..transports import run_on_chunks
from ._result import Progress, Row, StepResult, busy_machine_note, no_progress
from ._plan import Ticker, chosen_implementations, worker_count
from ._words import CLEARLY_SLOWER, SMALL_CHUNK_SECONDS, find_row, gil_verdict, ms, plural, small_chunks, speedup

TITLE = "chunked processing: split, run in parallel, aggregate"

#: The workloads of the main table, and of the chunk-count sweep.
WORKLOADS = ("sum of squares", "array stats", "monte carlo pi")
SWEEP_WORKLOADS = ("monte carlo pi", "prime count")
#: Chunks per worker in the sweep, besides the caller's ``many_per_worker``.
SWEEP_PER_WORKER = (1, 4)

#: The reference every variant is held against: the whole job as one kernel call.
ONE_CALL = "one call"

#: Roughly how much slower per element the pure-Python twin is: it gets that much less work,
#: so that its runs last about as long as the compiled ones (rows compare per element).
PURE_DIVISOR = {"sum of squares": 150, "array stats": 600, "monte carlo pi": 500, "prime count": 40}

_UNIT = {"sum of squares": "term", "array stats": "value", "monte carlo pi": "sample",
         "prime count": "number"}

#: An array this large is well past the caches: main memory sets the pace of its statistics.
_PAST_THE_CACHES = 16 * 2**20

_GIL_WORDS = {"no gil": "with no GIL in this interpreter",
              "turns": "which take turns on the GIL",
              "noise": "more than the GIL allows, so that ratio is within this run's noise"}


def strategies_here() -> tuple[str, ...]:
    """The registered strategies this step opens: every one that can run here, but the peers."""
    return strategy_names(available_only=True, peers=False)


# -- what to run ---------------------------------------------------------------------------------

class Variant(NamedTuple):
    """One measured variant: its table, its work, its kernels, where it runs, in how many parts."""

    table: str  # "main" or "sweep"
    workload: str
    impl: str
    strategy: str  # ONE_CALL, a registered strategy, or "given <type>"
    parts: int

    @property
    def reference(self) -> Variant:
        """The single call whose answer and time this variant is held against."""
        return self._replace(strategy=ONE_CALL, parts=1)


def _single(workload: str, impl: str) -> Variant:
    """The main table's single call of ``workload`` on ``impl``."""
    return Variant("main", workload, impl, ONE_CALL, 1)


class Plan(NamedTuple):
    """How one variant runs, and the number of chunks it makes."""

    call: Callable[[], Any]
    chunks: int


@dataclass(frozen=True)
class _Setup:
    """The checked arguments, and what follows from them."""

    workers: int
    sizes: Mapping[str, int]  # workload -> n for the compiled kernels
    many_per_worker: int
    repeats: int
    seed: int
    impls: Mapping[str, Implementation]
    executor: Executor | None

    @property
    def has_c(self) -> bool:
        return C_EXTENSION in self.impls

    @property
    def sweep_impl(self) -> str:
        """The sweep's kernels, and the explanation's: compiled where there are some."""
        return C_EXTENSION if self.has_c else PURE_PYTHON

    @property
    def given(self) -> str | None:
        """The row name of the caller's executor."""
        return f"given {type(self.executor).__name__}" if self.executor is not None else None

    def size(self, workload: str, impl: str) -> int:
        n = self.sizes[workload]
        return n if impl == C_EXTENSION else max(1, n // PURE_DIVISOR[workload])


def _checked(squares_n: object, stats_n: object, samples: object, primes_n: object, workers: object,
             many_per_worker: object, repeats: object, seed: object, executor: object,
             implementations: object, progress: object) -> _Setup:
    """Every argument checked, before any segment or pool exists."""
    k = worker_count(workers, max(2, usable_cores()))
    sizes = {"sum of squares": check_count(squares_n, "squares_n"),
             "array stats": check_count(stats_n, "stats_n"),
             "monte carlo pi": check_count(samples, "samples"),
             "prime count": check_count(primes_n, "primes_n")}
    many = check_count(many_per_worker, "many_per_worker")
    if many <= max(SWEEP_PER_WORKER):
        raise ValueError(f"many_per_worker must be more than {max(SWEEP_PER_WORKER)} (the sweep's "
                         f"default chunks per worker), got {many}")
    repeats = check_count(repeats, "repeats")
    seed = check_seed(seed)
    given = check_executor(executor) if executor is not None else None
    check_callable(progress, "progress")
    return _Setup(k, sizes, many, repeats, seed, chosen_implementations(implementations), given)


def _variants(setup: _Setup, strategies: tuple[str, ...]) -> Iterator[Variant]:
    """The main table (every workload, implementation and strategy), then the chunk-count sweep."""
    k = setup.workers
    for workload in WORKLOADS:
        for impl in setup.impls:
            yield _single(workload, impl)
            for strategy in strategies:
                yield Variant("main", workload, impl, strategy, default_parts(k))
    sweep_parts = [k * p for p in SWEEP_PER_WORKER] + [k * setup.many_per_worker]
    for workload in SWEEP_WORKLOADS:
        yield Variant("sweep", workload, setup.sweep_impl, ONE_CALL, 1)
        for strategy in ("threads", "processes"):  # the sweep compares these two (see _explain)
            for parts in sweep_parts:
                yield Variant("sweep", workload, setup.sweep_impl, strategy, parts)


def _plan(variant: Variant, setup: _Setup, executors: Mapping[str, Executor],
          data: SharedArray) -> Plan:
    n = setup.size(variant.workload, variant.impl)
    kernels = setup.impls[variant.impl]
    if variant.strategy == ONE_CALL:
        return Plan(lambda: _one_call(variant.workload, kernels, n, data, setup.seed), 1)
    job, chunks = _chunked(variant.workload, kernels, n, variant.parts, data, setup.seed)
    executor = executors[variant.strategy]
    return Plan(lambda: job(executor), chunks)


def _total(counts: list[int]) -> int:
    """The aggregate of the integer workloads: the chunks' counts (or sums), added in chunk order."""
    return sum(counts)


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
    argsets: Sequence[tuple[int, ...]]
    fn: Callable[..., int]
    if workload == "sum of squares":
        fn, argsets = kernels.sum_squares, ranges
    elif workload == "monte carlo pi":
        fn, argsets = kernels.monte_carlo_hits, [(lo, hi, seed) for lo, hi in ranges]
    elif workload == "prime count":
        fn, argsets = kernels.count_primes, ranges
    else:
        raise ValueError(f"unknown workload {workload!r}")
    return (lambda ex: parallel_reduce(ex, fn, argsets, _total)), len(argsets)


def _one_call(workload: str, kernels: Any, n: int, data: SharedArray, seed: int) -> Any:
    """The reference: the whole job as one kernel call, no executor, no chunks."""
    if workload == "array stats":
        return kernels.chunk_stats(data.array[:n])
    if workload == "sum of squares":
        return kernels.sum_squares(0, n)
    if workload == "monte carlo pi":
        return kernels.monte_carlo_hits(0, n, seed)
    return kernels.count_primes(0, n)


# -- running it ----------------------------------------------------------------------------------

def run(squares_n: int = 2**28, stats_n: int = 2**24, samples: int = 2**26, primes_n: int = 2_000_000,
        workers: int | None = None, many_per_worker: int = 256, repeats: int = 3, seed: int = 2024,
        executor: Executor | None = None, implementations: Mapping[str, Implementation] | None = None,
        progress: Progress = no_progress) -> StepResult:
    """Run the three workloads chunked on every executor, then sweep the chunk count.

    The sizes are for the compiled kernels; pure Python gets each size divided by
    :data:`PURE_DIVISOR`. ``executor``, if given, is used as it is (this step neither starts nor
    stops it) in extra rows named ``given <type>``; tasks on an executor that is not a thread
    pool or serial receive shared-memory handles, so a process pool of the caller's works too.
    ``implementations`` (default: every one available here) maps names to the kernels to run.
    """
    setup = _checked(squares_n, stats_n, samples, primes_n, workers, many_per_worker, repeats, seed,
                     executor, implementations, progress)
    load = load_average()
    with ExitStack() as stack:
        data = _random_array(stack, setup)
        executors = _open_executors(stack, setup)
        workers_of = _workers_of(executors, setup.workers)
        plans = {v: _plan(v, setup, executors, data) for v in _variants(setup, tuple(executors))}
        results, timings = _measure(plans, setup.repeats, progress)
        twins = _twin_checks(results, setup, data)
        data_bytes = data.array.nbytes

    rows = [_row(v, plan, timings, setup, workers_of) for v, plan in plans.items()]
    checks = {**_chunk_checks(plans, results), **twins}
    summary, data_out = _summary(rows, results, setup, data_bytes, tuple(executors))
    env = environment()
    explanation = _explain(rows, setup.workers, setup.has_c, setup.sweep_impl,
                           setup.size("array stats", setup.sweep_impl),
                           bool(env.get("gil_enabled", True)), load, env.get("usable_cores"))
    return StepResult(
        step=7, title=TITLE,
        params={"squares_n": squares_n, "stats_n": stats_n, "samples": samples, "primes_n": primes_n,
                "workers": setup.workers, "many_per_worker": many_per_worker, "repeats": repeats,
                "seed": seed, "executor": setup.given, "pure_divisor": PURE_DIVISOR},
        rows=rows, checks=checks, summary=summary, explanation=explanation, env=env,
        columns=("variant", "implementation", "strategy", "workers", "chunks", "n", "ms", "cpu ms",
                 "spread", "speedup", "ns/elem"),
        data={**data_out, "load_average_at_start": load},
    )


def _random_array(stack: ExitStack, setup: _Setup) -> SharedArray:
    """The statistics' input, in shared memory, long enough for every implementation's size."""
    data = stack.enter_context(SharedArray.create(
        max(setup.size("array stats", impl) for impl in setup.impls)))
    np.random.default_rng(setup.seed).random(out=data.array)
    return data


def _open_executors(stack: ExitStack, setup: _Setup) -> dict[str, Executor]:
    """Every strategy that runs here, opened, and the caller's executor (which stays theirs)."""
    executors: dict[str, Executor] = {
        name: stack.enter_context(open_executor(name, setup.workers)) for name in strategies_here()}
    if setup.executor is not None and setup.given is not None:
        executors[setup.given] = setup.executor
    return executors


def _workers_of(executors: Mapping[str, Executor], k: int) -> dict[str, int]:
    return {name: (1 if capabilities_of(ex).uses == "serial" else executor_workers(ex) or k)
            for name, ex in executors.items()}


def _measure(plans: Mapping[Variant, Plan], repeats: int,
             progress: Progress) -> tuple[dict[Variant, Any], dict[Variant, Timing]]:
    """One untimed run of everything (the result checks, and the warm-up of every pool), then
    ``repeats`` timed rounds, interleaved."""
    ticker = Ticker(progress, len(plans) * (repeats + 1))
    results: dict[Variant, Any] = {}
    for v, plan in plans.items():
        results[v] = plan.call()
        ticker.tick(f"{v.workload}, {v.impl}, {v.strategy}")

    def timed(v: Variant, result: object) -> None:
        ticker.tick(f"{v.workload}, {v.impl}, {v.strategy}, {plans[v].chunks} chunks")

    timings = interleaved({v: plan.call for v, plan in plans.items()}, repeats=repeats, warmup=0,
                          after=timed)
    return results, timings


# -- what it means -------------------------------------------------------------------------------

def _bits(value: Any) -> Any:
    """Results compared bit for bit: a float field equal only to the very same double."""
    return stats_bits(value) if isinstance(value, Stats) else value


def _row(v: Variant, plan: Plan, timings: Mapping[Variant, Timing], setup: _Setup,
         workers_of: Mapping[str, int]) -> Row:
    t = timings[v]
    n = setup.size(v.workload, v.impl)
    w = workers_of.get(v.strategy, 1)
    return Row(
        variant=v.workload if v.table == "main" else f"chunks: {v.workload}",
        implementation=v.impl, strategy=v.strategy, workers=w,
        seconds=t.median, spread=t.spread, cpu_seconds=t.cpu_median,
        speedup=timings[v.reference].median / t.median,
        extra={"n": n, "chunks": plan.chunks, "per worker": round(plan.chunks / w, 2),
               "ns/elem": t.median / n * 1e9, "unit": _UNIT[v.workload]},
    )


def _chunk_checks(plans: Mapping[Variant, Plan], results: Mapping[Variant, Any]) -> dict[str, bool]:
    """Every chunked variant against its single call, bit for bit."""
    checks = {}
    for v, plan in plans.items():
        if v.strategy == ONE_CALL:
            continue
        label = (f"{v.workload}, {v.impl}, {v.strategy}" if v.table == "main"
                 else f"chunk sweep: {v.workload}, {v.strategy}, {plan.chunks} chunks")
        checks[f"{label}: equals the single call"] = _bits(results[v]) == _bits(results[v.reference])
    return checks


def _twin_checks(results: Mapping[Variant, Any], setup: _Setup, data: SharedArray) -> dict[str, bool]:
    """The single calls themselves: a closed form, and (where both exist) twin against twin."""
    checks = {}
    for impl in setup.impls:
        n = setup.size("sum of squares", impl)
        got = results[_single("sum of squares", impl)]
        checks[f"sum of squares, {impl}, one call: equals (n-1)n(2n-1)/6"] = (
            got == (n - 1) * n * (2 * n - 1) // 6)
    if setup.has_c:
        c = setup.impls[C_EXTENSION]
        for workload in WORKLOADS:
            n = setup.size(workload, PURE_PYTHON)
            pure = results[_single(workload, PURE_PYTHON)]
            twin = _one_call(workload, c, n, data, setup.seed)
            checks[f"{workload}: the compiled twin gives the same at n={n:,}"] = _bits(pure) == _bits(twin)
    return checks


def _summary(rows: list[Row], results: Mapping[Variant, Any], setup: _Setup, data_bytes: int,
             strategies: tuple[str, ...]) -> tuple[list[str], dict[str, Any]]:
    impl = C_EXTENSION if any(r.implementation == C_EXTENSION for r in rows) else PURE_PYTHON
    lines = []
    for workload in WORKLOADS:
        n = setup.size(workload, impl)
        parts = find_row(rows, workload, impl, "processes").extra["chunks"]
        times = ", ".join(f"{s} {find_row(rows, workload, impl, s).seconds * 1000:.0f}ms"
                          for s in (ONE_CALL, *strategies))
        lines.append(f"{workload} ({n:,} {_UNIT[workload]}s, {parts} chunks, {impl}): {times}")
    samples = setup.size("monte carlo pi", impl)
    hits = results[_single("monte carlo pi", impl)]
    stats = results[_single("array stats", impl)]
    lines.append(f"pi ~ {4 * hits / samples:.6f} from {samples:,} samples; array mean {stats.mean:.6f}, "
                 f"std {stats.std:.6f} over {stats.count:,} values: the same bits from every executor")
    sweep = [r for r in rows if r.variant.startswith("chunks: ") and r.strategy == "processes"]
    for workload in SWEEP_WORKLOADS:
        cells = [f"{r.extra['chunks']} chunks {r.seconds * 1000:.0f}ms" for r in sweep
                 if r.variant == f"chunks: {workload}"]
        lines.append(f"chunk count, {workload}, {setup.workers} processes: " + ", ".join(cells))
    data = {
        "pi_estimate": 4 * hits / samples,
        "array_stats": stats._asdict(),
        "array_bytes": data_bytes,
        "sum_of_squares": str(results[_single("sum of squares", impl)]),
        "results_by_variant": {f"{r.variant} | {r.implementation} | {r.strategy} | {r.extra['chunks']}":
                               {"ms": r.seconds * 1000, "speedup": r.speedup} for r in rows},
    }
    return lines, data


def _explain(rows: list[Row], k: int, has_c: bool, sweep_impl: str, stats_n: int, gil: bool,
             load: float | None, cores: Any) -> list[str]:
    """The CPU-bound kernels, the memory-bound statistics, the chunk count: what the rows say."""
    lines = [_cpu_paragraph(rows, k, has_c, gil), _memory_paragraph(rows, has_c, stats_n)]
    sweep = _Sweep.of(rows, sweep_impl)
    if not sweep.complete:
        return lines + [f"The sizes were too small for the chunk counts asked for ({sweep.counts})."]
    lines.append(_chunk_count_paragraph(sweep, k))
    note = busy_machine_note(load, cores)
    if note:
        lines.append(note)
    return lines


def _cpu_paragraph(rows: list[Row], k: int, has_c: bool, gil: bool) -> str:
    """Exact answers everywhere; the CPU-bound speedups; what pure-Python threads say of the GIL."""
    best = C_EXTENSION if has_c else PURE_PYTHON
    cpu = [find_row(rows, w, best, s) for w in ("sum of squares", "monte carlo pi")
           for s in ("threads", "processes")]
    py_t = find_row(rows, "monte carlo pi", PURE_PYTHON, "threads")
    py_p = find_row(rows, "monte carlo pi", PURE_PYTHON, "processes")
    why = _GIL_WORDS[gil_verdict(speedup(py_t), gil)]
    text = (f"The same split/run/merge code gave the single call's exact answer on every executor. On "
            f"the CPU-bound kernels ({best}) {k} workers ran at {min(map(speedup, cpu)):.2f}x to "
            f"{max(map(speedup, cpu)):.2f}x of the one-call time")
    if has_c:
        text += (f"; the pure-Python Monte Carlo ran at {py_t.speedup:.2f}x on threads, {why}, and at "
                 f"{py_p.speedup:.2f}x in processes.")
    else:
        text += f" (the threads {why})."
    if max(map(speedup, cpu + [py_p])) < 1:
        text += _no_winner(rows, best)
    return text


def _no_winner(rows: list[Row], best: str) -> str:
    """Why no executor beat the one call, in the terms the numbers support."""
    mc = find_row(rows, "monte carlo pi", best, "threads")
    serial = find_row(rows, "monte carlo pi", best, "serial")
    per_chunk = find_row(rows, "monte carlo pi", best, ONE_CALL).seconds / mc.extra["chunks"]
    if per_chunk < SMALL_CHUNK_SECONDS:
        return f" No executor beat the one call: {small_chunks(per_chunk)}"
    return (f" No executor beat the one call here; the serial executor, which does the same work "
            f"in the same chunks, ran at {serial.speedup:.2f}x, a yardstick of this run's noise.")


def _memory_paragraph(rows: list[Row], has_c: bool, stats_n: int) -> str:
    """The array statistics: the one call's rate, then threads (views) against processes (handles)."""
    best = C_EXTENSION if has_c else PURE_PYTHON
    one = find_row(rows, "array stats", best, ONE_CALL)
    st_t = find_row(rows, "array stats", best, "threads")
    st_p = find_row(rows, "array stats", best, "processes")
    if has_c:
        rate = (f"read {stats_n * 8 / 2**20:.1f} MB at {stats_n * 8 / one.seconds / 1e9:.1f} GB/s "
                f"in {ms(one.seconds)}")
        if stats_n * 8 >= _PAST_THE_CACHES:
            text = f"The compiled array statistics are memory-bound: one call {rate}."
        else:
            text = f"One call of the compiled array statistics {rate}."
    else:
        text = f"The array statistics of {stats_n:,} values took {ms(one.seconds)} in one call."
    text += (f" Threads, which get views of the array, ran at {st_t.speedup:.2f}x; processes at "
             f"{st_p.speedup:.2f}x")
    if st_p.seconds > st_t.seconds * CLEARLY_SLOWER:
        return text + (": each process task attaches the shared segment and maps its pages before "
                       "it can read them, a cost a thread never pays.")
    return text + "."


@dataclass(frozen=True)
class _Sweep:
    """The processes' rows of the chunk-count sweep, by chunk count: even and uneven cost."""

    counts: list[int]  # the chunk counts of the even-cost rows, ascending
    even: dict[int, Row]  # the Monte Carlo: every chunk costs the same
    uneven: dict[int, Row]  # prime counting: chunks get dearer along the range

    @classmethod
    def of(cls, rows: list[Row], impl: str) -> _Sweep:
        def counts_of(workload: str) -> list[int]:
            return sorted({r.extra["chunks"] for r in rows
                           if r.variant == f"chunks: {workload}" and r.strategy == "processes"})

        counts = counts_of("monte carlo pi")
        uneven_counts = set(counts_of("prime count"))
        return cls(counts,
                   {c: find_row(rows, "chunks: monte carlo pi", impl, "processes", c) for c in counts},
                   {c: find_row(rows, "chunks: prime count", impl, "processes", c)
                    for c in counts if c in uneven_counts})

    @property
    def one_each(self) -> int:
        return self.counts[0]

    @property
    def a_few(self) -> int:
        return self.counts[min(1, len(self.counts) - 1)]  # fewer counts if n < chunks

    @property
    def many(self) -> int:
        return self.counts[-1]

    @property
    def complete(self) -> bool:
        """Whether the uneven work reached the counts the paragraph compares."""
        return self.one_each in self.uneven and self.a_few in self.uneven


def _chunk_count_paragraph(sweep: _Sweep, k: int) -> str:
    """One chunk per worker against a few: uneven work gains, even work does not; many cost a toll."""
    one_each, a_few = sweep.one_each, sweep.a_few
    gain = sweep.uneven[one_each].seconds / sweep.uneven[a_few].seconds
    verdict = ("faster: the workers end closer together" if gain > 1.05 else
               "no clear difference" if gain > 0.95 else "slower here")
    return (f"Chunk count on {plural(k, 'worker process', 'worker processes')}: prime counting, whose "
            f"chunks get dearer along the range, took {ms(sweep.uneven[one_each].seconds)} in "
            f"{plural(one_each, 'chunk', 'chunks')} (one per worker) and "
            f"{ms(sweep.uneven[a_few].seconds)} in {a_few} ({verdict}); the Monte Carlo, whose chunks "
            f"all cost the same, took {ms(sweep.even[one_each].seconds)} and "
            f"{ms(sweep.even[a_few].seconds)}. " + _many_chunks_sentence(sweep))


def _many_chunks_sentence(sweep: _Sweep) -> str:
    """What the many small chunks cost per extra task, when that is measurable."""
    many, a_few = sweep.many, sweep.a_few
    even = sweep.even
    per_task = (even[many].seconds - even[a_few].seconds) / (many - a_few) * 1e6 if many > a_few else 0.0
    if per_task > 1:
        return (f"{many} small chunks took {ms(even[many].seconds)}, about {per_task:.0f} us "
                "more per extra task: each one is submitted, pickled, run and collected on its own. "
                "A few chunks per worker keeps the load even without paying that toll too often.")
    return (f"{many} small chunks took {ms(even[many].seconds)}: no measurable cost per "
            "extra task at this size.")


#: Parameters for ``gilfree lab`` (DEFAULT), ``--quick`` (QUICK) and the tests (TINY).
DEFAULT: dict[str, Any] = {}
QUICK = {"squares_n": 2**25, "stats_n": 2**22, "samples": 2**23, "primes_n": 500_000,
         "many_per_worker": 128, "repeats": 2}
TINY = {"squares_n": 200_000, "stats_n": 2**17, "samples": 100_000, "primes_n": 20_000,
        "many_per_worker": 8, "repeats": 1, "workers": 2}
