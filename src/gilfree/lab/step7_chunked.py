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

The explanation reads each executor's capabilities (threads or processes, how a chunk reaches
its task), never its name, so a plugin strategy is described as what it is.
"""

from __future__ import annotations

from concurrent.futures import Executor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from .._checks import check_callable, check_choices, check_count, check_executor, check_seed
from .._select import C_EXTENSION, PURE_PYTHON, Implementation
from .._stats import Stats, merge_stats, stats_bits
from .._timing import environment, usable_cores
from ..chunked import array_chunks, default_parts, parallel_reduce, split_range
from ..experiment import Experiment, Measured, Variant
from ..figures import Timed, clearly_faster, gap, ms, nbytes, noise_of, ratio, repeat_advice, span, x
from ..registry import USES
from ..shm import SharedArray
from ..strategies import strategy_names, typical
from ..transports import NumpyRandom, run_on_chunks
from ._common import largest_cache_bytes, measured_once, no_spread, timed, too_little
from ._plan import (Runner, check_scheduler, chosen_implementations, measured_row, open_runners, step_result,
                    worker_count)
from ._result import Progress, Row, StepResult, no_progress
from ._words import (REFERENCE, above_ideal_lines, attach_sentence, by_uses, group_phrase, names, on_workers,
                     readings, RefOf, serial_note, speedup, transport_words, uses)

TITLE = "chunked processing: split, run in parallel, aggregate"

#: The workloads of the main table, and of the chunk-count sweep.
WORKLOADS = ("sum of squares", "array stats", "monte carlo pi")
SWEEP_WORKLOADS = ("monte carlo pi", "prime count")
#: The CPU-bound workloads of the main table (the array statistics read memory).
CPU_BOUND = ("sum of squares", "monte carlo pi")
#: Chunks per worker in the sweep, besides the caller's ``many_per_worker``.
SWEEP_PER_WORKER = (1, 4)
#: The strategies the sweep runs on: the typical one for threads and for worker processes.
SWEEP_STRATEGIES = tuple(typical(uses) for uses in USES if uses != "serial")

#: The reference every variant is held against: the whole job as one kernel call.
ONE_CALL = "one call"

#: Roughly how much slower per element the pure-Python twin is: it gets that much less work,
#: so that its runs last about as long as the compiled ones (rows compare per element).
PURE_DIVISOR = {"sum of squares": 150, "array stats": 600, "monte carlo pi": 500, "prime count": 40}

_UNIT = {"sum of squares": "term", "array stats": "value", "monte carlo pi": "sample",
         "prime count": "number"}

COLUMNS = ("variant", "implementation", "strategy", "workers", "chunks", "n", "ms", "cpu ms", "spread",
           "speedup", "ns/elem")


def strategies_here() -> tuple[str, ...]:
    """The registered strategies this step opens: every one that can run here, but the peers."""
    return strategy_names(available_only=True, peers=False)


# -- what to run ---------------------------------------------------------------------------------

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
    def sweep_impl(self) -> str:
        """The sweep's kernels: compiled where there are some."""
        return C_EXTENSION if C_EXTENSION in self.impls else PURE_PYTHON

    @property
    def given(self) -> str | None:
        """The row name of the caller's executor."""
        return f"given {type(self.executor).__name__}" if self.executor is not None else None

    @property
    def sweep_parts(self) -> list[int]:
        return [self.workers * p for p in SWEEP_PER_WORKER] + [self.workers * self.many_per_worker]

    def size(self, workload: str, impl: str) -> int:
        n = self.sizes[workload]
        return n if impl == C_EXTENSION else max(1, n // PURE_DIVISOR[workload])


ONE_CALL_RUNNER = Runner(ONE_CALL, None, 1, REFERENCE, "none")


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


def _lineup(setup: _Setup, runners: Sequence[Runner]) -> Iterator[tuple[str, str, str, Runner, int]]:
    """(table, workload, implementation, runner, parts): the main table, then the chunk-count sweep."""
    for workload in WORKLOADS:
        for impl in setup.impls:
            yield "main", workload, impl, ONE_CALL_RUNNER, 1
            for runner in runners:
                yield "main", workload, impl, runner, default_parts(setup.workers)
    sweepers = [r for r in runners if r.name in SWEEP_STRATEGIES]
    for workload in SWEEP_WORKLOADS:
        yield "sweep", workload, setup.sweep_impl, ONE_CALL_RUNNER, 1
        for runner in sweepers:
            for parts in setup.sweep_parts:
                yield "sweep", workload, setup.sweep_impl, runner, parts


def _variants(setup: _Setup, runners: Sequence[Runner], data: SharedArray,
              refs: Mapping[tuple[str, str], Any]) -> list[Variant]:
    """Every variant of :func:`_lineup`, each checked bit for bit against its single call.

    Chunk counts that come out equal (a range shorter than the parts asked for) run once.
    """
    out: dict[str, Variant] = {}
    for table, workload, impl, runner, parts in _lineup(setup, runners):
        v = _variant(table, workload, impl, runner, parts, setup, data, refs[(workload, impl)])
        out.setdefault(v.name, v)
    return list(out.values())


def _variant(table: str, workload: str, impl: str, runner: Runner, parts: int, setup: _Setup,
             data: SharedArray, reference: Any) -> Variant:
    kernels, n = setup.impls[impl], setup.size(workload, impl)
    if runner.executor is None:
        call, chunks = (lambda: _one_call(workload, kernels, n, data, setup.seed)), 1
    else:
        job, chunks = _chunked(workload, kernels, n, parts, data, setup.seed,
                               described=runner.transport == "description")
        executor = runner.executor
        call = lambda: job(executor)  # noqa: E731
    row = workload if table == "main" else f"chunks: {workload}"
    suffix = f", {chunks} chunks" if table == "sweep" and runner.executor is not None else ""
    return Variant(
        name=f"{row}, {impl}, {runner.name}{suffix}", run=call,
        check=lambda got: _bits(got) == _bits(reference),
        tags={"variant": row, "implementation": impl, "strategy": runner.name, "workers": runner.workers,
              "reference": f"{row}, {impl}, {ONE_CALL}", "n": n, "chunks": chunks, "unit": _UNIT[workload],
              "uses": runner.uses, "transport": runner.transport})


def _total(counts: list[int]) -> int:
    """The aggregate of the integer workloads: the chunks' counts (or sums), added in chunk order."""
    return sum(counts)


def _chunked(workload: str, kernels: Implementation, n: int, parts: int, data: SharedArray,
             seed: int, described: bool = False) -> tuple[Callable[[Executor], Any], int]:
    """Split, run, merge: a function of the executor, and the number of chunks it makes.

    ``described``: the array's chunks travel as descriptions (each worker makes its chunk of
    the same seeded stream the shared array holds), for executors whose workers may be elsewhere.
    """
    if workload == "array stats":
        chunks = array_chunks(n, parts)  # BLOCK * 2**k long: the merge is exact
        if described:
            recipe = NumpyRandom(seed, n)
            return (lambda ex: merge_stats(run_on_chunks(ex, kernels.chunk_stats, [recipe], chunks)),
                    len(chunks))
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


def _bits(value: Any) -> Any:
    """Results compared bit for bit: a float field equal only to the very same double."""
    return stats_bits(value) if isinstance(value, Stats) else value


# -- running it ----------------------------------------------------------------------------------

def run(squares_n: int = 2**28, stats_n: int = 2**24, samples: int = 2**26, primes_n: int = 2_000_000,
        workers: int | None = None, many_per_worker: int = 256, repeats: int = 3, seed: int = 2024,
        executor: Executor | None = None, implementations: Mapping[str, Implementation] | None = None,
        progress: Progress = no_progress, strategies: Sequence[str] | None = None,
        scheduler: str | None = None) -> StepResult:
    """Run the three workloads chunked on every executor, then sweep the chunk count.

    The sizes are for the compiled kernels; pure Python gets each size divided by
    :data:`PURE_DIVISOR`. ``executor``, if given, is used as it is (this step neither starts nor
    stops it) in extra rows named ``given <type>``; tasks on an executor that is not a thread
    pool or serial receive shared-memory handles, so a process pool of the caller's works too.
    ``implementations`` (default: every one available here) maps names to the kernels to run.
    ``strategies`` (default: every registered one that runs here, but the peers) are opened;
    ``scheduler`` (an address) points those that join a cluster (``dask``) at one. On such a
    strategy the statistics' chunks travel as descriptions: each worker makes its own.
    """
    setup = _checked(squares_n, stats_n, samples, primes_n, workers, many_per_worker, repeats, seed,
                     executor, implementations, progress)
    names = strategies_here() if strategies is None else check_choices(strategies, "strategies", strategy_names())
    scheduler = check_scheduler(scheduler, names)
    ex = Experiment(progress)
    with ExitStack() as stack:
        data = _random_array(stack, setup)
        given = {setup.given: setup.executor} if setup.executor is not None and setup.given is not None else {}
        runners = open_runners(stack, names, setup.workers, given, scheduler=scheduler)
        refs = _references(ex, setup, data)
        _twin_checks(ex, setup, data, refs)
        measured = ex.measure(_variants(setup, runners, data, refs), repeats=setup.repeats, cpu="tree")
        data_bytes = data.array.nbytes
    rows, env = _rows(measured), environment()
    summary, data_out = _summary(rows, refs, setup, data_bytes, ex.checks.ok)
    return step_result(
        ex, step=7, title=TITLE, env=env,
        params={"squares_n": squares_n, "stats_n": stats_n, "samples": samples, "primes_n": primes_n,
                "workers": setup.workers, "many_per_worker": many_per_worker, "repeats": repeats,
                "seed": seed, "executor": setup.given, "pure_divisor": PURE_DIVISOR},
        rows=rows, summary=summary, columns=COLUMNS, data=data_out,
        explanation=explain(rows, gil=env["gil_enabled"], right=ex.checks.ok, cores=env["usable_cores"],
                            cache_bytes=largest_cache_bytes()))


def _random_array(stack: ExitStack, setup: _Setup) -> SharedArray:
    """The statistics' input, in shared memory, long enough for every implementation's size."""
    data = stack.enter_context(SharedArray.create(
        max(setup.size("array stats", impl) for impl in setup.impls)))
    np.random.default_rng(setup.seed).random(out=data.array)
    return data


def _references(ex: Experiment, setup: _Setup, data: SharedArray) -> dict[tuple[str, str], Any]:
    """The single call of every workload on every implementation it runs on, untimed."""
    pairs = [(w, i) for w in WORKLOADS for i in setup.impls] + [(w, setup.sweep_impl) for w in SWEEP_WORKLOADS]
    refs: dict[tuple[str, str], Any] = {}
    for workload, impl in dict.fromkeys(pairs):
        kernels, n = setup.impls[impl], setup.size(workload, impl)
        refs[(workload, impl)] = ex.step(f"{workload}, {impl}: the reference",
                                         lambda: _one_call(workload, kernels, n, data, setup.seed))
    return refs


def _twin_checks(ex: Experiment, setup: _Setup, data: SharedArray, refs: Mapping[tuple[str, str], Any]) -> None:
    """The single calls themselves: a closed form, and (where both exist) twin against twin."""
    for impl in setup.impls:
        n = setup.size("sum of squares", impl)
        ex.checks.add(f"sum of squares, {impl}: closed form",
                      refs[("sum of squares", impl)] == (n - 1) * n * (2 * n - 1) // 6,
                      f"sum of squares, {impl}: the one call equals (n-1)n(2n-1)/6 at n={n:,}")
    if C_EXTENSION not in setup.impls:
        return
    compiled = setup.impls[C_EXTENSION]
    for workload in WORKLOADS:
        n = setup.size(workload, PURE_PYTHON)
        twin = ex.step(f"{workload}: the compiled twin", lambda: _one_call(workload, compiled, n, data, setup.seed))
        ex.checks.add(f"{workload}: compiled twin", _bits(twin) == _bits(refs[(workload, PURE_PYTHON)]),
                      f"{workload}: the compiled twin gives the pure-Python answer at n={n:,}")


def _rows(measured: Mapping[str, Measured]) -> list[Row]:
    """A row per variant, its speedup against its own single call."""
    rows = []
    for m in measured.values():
        t = m.tags
        rows.append(measured_row(m, measured[t["reference"]].seconds / m.seconds, {
            "n": t["n"], "chunks": t["chunks"], "per worker": round(t["chunks"] / t["workers"], 2),
            "ns/elem": m.seconds / t["n"] * 1e9, "unit": t["unit"], "uses": t["uses"],
            "transport": t["transport"], "repeats": Timed.of(m).repeats}))
    return rows


def _summary(rows: list[Row], refs: Mapping[tuple[str, str], Any], setup: _Setup, data_bytes: int,
             right: bool) -> tuple[list[str], dict[str, Any]]:
    impl = setup.sweep_impl
    lines = []
    for workload in WORKLOADS:
        mine = [r for r in rows if r.variant == workload and r.implementation == impl]
        chunks = max(r.extra["chunks"] for r in mine)
        times = ", ".join(f"{r.strategy} {ms(r.seconds)}" for r in mine)
        lines.append(f"{workload} ({mine[0].extra['n']:,} {_UNIT[workload]}s, {chunks} chunks, {impl}): {times}")
    samples, hits = setup.size("monte carlo pi", impl), refs[("monte carlo pi", impl)]
    stats = refs[("array stats", impl)]
    lines.append(f"pi ~ {4 * hits / samples:.6f} from {samples:,} samples; array mean {stats.mean:.6f}, "
                 f"std {stats.std:.6f} over {stats.count:,} values"
                 + (": the same bits from every executor" if right else ""))
    for workload in SWEEP_WORKLOADS:
        for strategy in SWEEP_STRATEGIES:
            cells = [f"{r.extra['chunks']} chunks {ms(r.seconds)}" for r in rows
                     if r.variant == f"chunks: {workload}" and r.strategy == strategy]
            if cells:
                lines.append(f"chunk count, {workload}, {strategy} ({setup.workers} workers): " + ", ".join(cells))
    lines.append(f"Speedup column: against the same workload's {ONE_CALL} on the same implementation")
    data = {
        "pi_estimate": 4 * hits / samples,
        "array_stats": stats._asdict(),
        "array_bytes": data_bytes,
        "sum_of_squares": str(refs[("sum of squares", impl)]),
        "results_by_variant": {f"{r.variant} | {r.implementation} | {r.strategy} | {r.extra['chunks']}":
                               {"ms": r.seconds * 1000, "speedup": r.speedup} for r in rows},
    }
    return lines, data


# -- what it means -------------------------------------------------------------------------------

def explain(rows: Sequence[Row], *, gil: bool, right: bool, cores: int, cache_bytes: int | None = None) -> list[str]:
    """What the rows say: the CPU-bound kernels per implementation, the memory-bound statistics,
    the chunk count, and any speedup above its ideal. Only figures go in: rows (with their
    executors' ``uses`` and ``transport``, and the repeats they rest on), whether the GIL is on,
    whether every check passed, the usable cores (a speedup's ideal is its worker count, at most
    these), and the largest cache's bytes (None: unknown)."""
    ref_of = _reference_of(rows)
    impls = [i for i in (C_EXTENSION, PURE_PYTHON) if any(r.implementation == i for r in rows)]
    answers = ("The same split/run/merge code gave the single call's exact answer on every executor. " if right
               else "Some executors did not give the single call's answer (see the failed checks above). ")
    lines = [answers + _cpu_paragraph(rows, impls[0], gil, ref_of, True)]
    lines += [_cpu_paragraph(rows, impl, gil, ref_of, False) for impl in impls[1:]]
    lines += [_memory_paragraph(rows, impls[0], cache_bytes), _chunk_count_paragraph(rows)]
    lines.append(" ".join(above_ideal_lines(rows, ref_of, _label, cores)))
    return [line for line in lines if line]


def _reference_of(rows: Sequence[Row]) -> RefOf:
    refs = {(r.variant, r.implementation): r for r in rows if uses(r) == REFERENCE}
    return lambda row: refs[(row.variant, row.implementation)]


def _label(row: Row) -> str:
    what = row.variant.removeprefix("chunks: ")
    return f"{what[0].upper()}{what[1:]} on {row.strategy} ({row.implementation}, {row.extra['chunks']} chunks)"


def _cpu_paragraph(rows: Sequence[Row], impl: str, gil: bool, ref_of: RefOf, note_serial: bool) -> str:
    """The CPU-bound kernels of one implementation, every executor grouped by what it uses."""
    mine = [r for r in rows if r.variant in CPU_BOUND and r.implementation == impl and uses(r) != REFERENCE]
    groups = by_uses(mine)
    text = (f"On the CPU-bound kernels ({impl}: {', '.join(CPU_BOUND)}), against the one call: "
            + "; ".join(group_phrase(g) for g in groups.values() if g) + ".")
    if groups["serial"] and note_serial:
        text += serial_note("splitting and merging cost")
    per_task = max(ref_of(r).seconds / r.extra["chunks"] for r in mine)
    return " ".join([text] + readings(groups, impl, ref_of, gil, per_task, "the one call"))


def _memory_paragraph(rows: Sequence[Row], impl: str, cache_bytes: int | None) -> str:
    """The array statistics: the one call's rate, then the executors grouped by how a chunk reaches them."""
    stats = [r for r in rows if r.variant == "array stats" and r.implementation == impl]
    one = next(r for r in stats if uses(r) == REFERENCE)
    size = one.extra["n"] * 8
    text = (f"One call of the {impl} array statistics read {nbytes(size)}{_against_cache(size, cache_bytes)} "
            f"at {nbytes(size / one.seconds)}/s ({ms(one.seconds)}).")
    parallel = [r for r in stats if uses(r) in ("threads", "processes")]
    by_transport: dict[str, list[Row]] = {}
    for r in parallel:
        by_transport.setdefault(r.extra["transport"], []).append(r)
    if by_transport:
        text += " Against it, executors whose tasks " + "; those whose tasks ".join(
            f"{transport_words(t)} ({names(g)}) ran at {span(speedup(r) for r in g)}"
            for t, g in by_transport.items()) + "."
    return " ".join(s for s in (text, attach_sentence(parallel, "for the statistics")) if s)


def _against_cache(size: int, cache_bytes: int | None) -> str:
    """The data against the largest cache, in bytes: nothing where the cache's size is unknown."""
    if cache_bytes is None:
        return ""
    if size > cache_bytes:
        return f", more than the largest cache here holds ({nbytes(cache_bytes)}),"
    return f" (the largest cache here holds {nbytes(cache_bytes)})"


def _chunk_count_paragraph(rows: Sequence[Row]) -> str:
    """One chunk per worker against a few, on even and uneven work; then many small chunks."""
    sweep = [r for r in rows if r.variant.startswith("chunks: ") and uses(r) == "processes"]
    if not sweep:
        return ""
    sweep = [r for r in sweep if r.strategy == sweep[0].strategy]
    even = {r.extra["chunks"]: r for r in sweep if r.variant == "chunks: monte carlo pi"}
    uneven = {r.extra["chunks"]: r for r in sweep if r.variant == "chunks: prime count"}
    counts = sorted(set(even) & set(uneven))
    if len(counts) < 2:
        return (f"The chunk-count sweep needs two chunk counts on both of its workloads; these sizes gave "
                f"{sorted(even)} and {sorted(uneven)}: too small for the counts asked for.")
    c0, c1 = counts[0], counts[1]
    head = (f"Chunk count {on_workers(sweep)} ({names(sweep)}): prime counting, whose chunks get dearer "
            f"along the range, took {ms(uneven[c0].seconds)} in {c0} chunks and {ms(uneven[c1].seconds)} "
            f"in {c1}; the Monte Carlo, whose chunks all cost the same, took {ms(even[c0].seconds)} and "
            f"{ms(even[c1].seconds)}.")
    one = next(r for r in rows if r.variant == "chunks: prime count" and uses(r) == REFERENCE)
    said = [head, _balance_sentence(uneven[c0], uneven[c1], even[c0], even[c1], one.seconds / c1),
            _toll_sentence(even[c1], even[max(even)])]
    return " ".join(s for s in said if s)


def _balance_sentence(uneven0: Row, uneven1: Row, even0: Row, even1: Row, per_task: float) -> str:
    """What a few chunks per worker bought, on uneven and on even work: each judged faster, slower
    or the same against the repeats' spread; the balance named as the cause only when the uneven
    work gained beyond it and the even work stayed within it."""
    c0, c1 = uneven0.extra["chunks"], uneven1.extra["chunks"]
    gain_u, gain_e = uneven0.seconds / uneven1.seconds, even0.seconds / even1.seconds
    u, e = gap(timed(uneven1), timed(uneven0)), gap(timed(even1), timed(even0))
    noise_u, noise_e = noise_of(uneven0.spread, uneven1.spread), noise_of(even0.spread, even1.spread)
    ran_u = f"in {c1} chunks the uneven work ran {ratio(gain_u, f'{c0} chunks')}"
    if "unknown" in (u, e):
        return f"{ran_u[0].upper()}{ran_u[1:]} and the even work {x(gain_e)}: {no_spread('either')}."
    if u == "shorter" and e == "same":
        return (f"{ran_u[0].upper()}{ran_u[1:]}, faster beyond the repeats' spread ({noise_u:.0%}), and the even "
                f"work {x(gain_e)}, within its spread ({noise_e:.0%}): with a few chunks each, the workers end "
                "closer together.")
    if u == "shorter" and e == "shorter":
        return (f"Both ran faster in {c1} chunks beyond the repeats' spread ({x(gain_u)} and {x(gain_e)} against "
                f"{c0} chunks, spreads {noise_u:.0%} and {noise_e:.0%}), so the gain is not the uneven cost alone.")
    if u == "shorter":
        return repeat_advice(f"{ran_u}, faster beyond the repeats' spread ({noise_u:.0%}), but the even work "
                             f"{x(gain_e)}, slower beyond its spread ({noise_e:.0%})")
    seen = f"{ran_u}, {'slower' if u == 'longer' else 'no faster'} beyond the repeats' spread ({noise_u:.0%})"
    clause = too_little(uses(uneven1), per_task)
    if clause:
        return f"{seen[0].upper()}{seen[1:]}: each task held about {ms(per_task)} of work, {clause}."
    return repeat_advice(seen)


def _toll_sentence(few: Row, many: Row) -> str:
    """What many small chunks cost per extra task, when that shows beyond the spread."""
    c1, cn = few.extra["chunks"], many.extra["chunks"]
    if cn <= c1:
        return ""
    noise = noise_of(few.spread, many.spread)
    seen = f"{cn} small chunks took {ms(many.seconds)}, against {ms(few.seconds)} in {c1}"
    if measured_once(few, many):
        return f"{seen}: {no_spread()}."
    if clearly_faster(few.seconds, few.spread, many.seconds, many.spread):
        per_task = (many.seconds - few.seconds) / (cn - c1)
        return (f"{seen}, about {ms(per_task)} more per extra task, beyond the repeats' spread ({noise:.0%}): each "
                "task is submitted, pickled, run and collected on its own. A few chunks per worker keeps the load "
                "even without paying that toll too often.")
    return f"{seen}: no cost per extra task beyond the repeats' spread ({noise:.0%}) at this size."


#: Parameters for ``gilfree lab`` (DEFAULT), ``--quick`` (QUICK) and the tests (TINY).
DEFAULT: dict[str, Any] = {}
QUICK = {"squares_n": 2**25, "stats_n": 2**22, "samples": 2**23, "primes_n": 500_000,
         "many_per_worker": 128, "repeats": 2}
TINY = {"squares_n": 200_000, "stats_n": 2**17, "samples": 100_000, "primes_n": 20_000,
        "many_per_worker": 8, "repeats": 1, "workers": 2}
