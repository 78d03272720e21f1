"""Step 8 (capstone): a parallel data pipeline whose data never leaves shared memory.

Five stages over a synthetic dataset of float64 records, each one parallel over chunks of the
same two shared arrays:

1. **generate**: ``fill_uniform(chunk, seed, start)``; the generator is counter-based, so
   chunks filled by different workers join into exactly the stream one call would write;
2. **transform**: ``transform_inplace(chunk, rounds)``, the CPU-heavy stage;
3. **filter**: ``filter_greater(chunk, out_chunk, threshold)`` writes each chunk's kept records
   to the front of the matching region of a second shared array and returns how many;
4. **compact**: the parent slides those runs together, in chunk order (a memmove, no kernel);
5. **aggregate**: ``chunk_stats`` over ``BLOCK * 2**k`` chunks of the kept records, merged.

The reference is the same pipeline as one kernel call per stage over the whole dataset. Every
strategy (the chunked pipeline on a serial executor, on threads, on worker processes that attach
the arrays by handle, on any strategy a plugin registers) must produce the same kept count, the
same statistics bit for bit, and the same checksum of the kept records. Pure Python runs the
pipeline too, on a smaller dataset; rows report records/s and MB/s so that the two compare. The
explanation reads each strategy's capabilities (threads or processes, views or shared memory),
never its name.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from .._checks import check_callable, check_choices, check_count, check_real, check_seed
from .._checksum import Checksum
from .._select import C_EXTENSION, PURE_PYTHON, Implementation
from .._stats import Stats, stats_bits
from .._timing import environment, usable_cores
from ..chunked import array_chunks, default_parts
from ..experiment import Experiment, Measured, Variant
from ..figures import Timed, ms, nbytes, x
from ..pipeline import RECORD_BYTES, STAGES, PipelineJob, PipelineOutput, one_pass, run_pipeline
from ..shm import SharedArray
from ..strategies import strategy_names
from ._plan import (Runner, check_scheduler, chosen_implementations, measured_row, open_runners, step_result,
                    worker_count)
from ._result import Progress, Row, StepResult, no_progress
from ._words import (REFERENCE, above_ideal_lines, attach_sentence, by_uses, group_phrase, on_workers, readings,
                     RefOf, serial_note, speedup, uses)

TITLE = "capstone: a parallel data pipeline over shared memory"

#: The reference: one kernel call per stage, no executor.
ONE_PASS = "one pass"
#: Untimed runs of every variant before the timed ones (each checked like the timed ones).
WARMUP = 1

#: The stages that handle every record (the others handle the kept ones).
_EVERY_RECORD = ("generate", "transform", "filter")

COLUMNS = ("variant", "implementation", "strategy", "workers", "records", "ms", "cpu ms", "spread", "speedup",
           "Mrec/s", "MB/s")


# -- what to run ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Setup:
    """The checked arguments, and what follows from them."""

    workers: int
    sizes: Mapping[str, int]  # implementation -> records
    pure_records: int
    rounds: int
    threshold: float
    seed: int
    parts: int
    repeats: int
    strategies: tuple[str, ...]
    impls: Mapping[str, Implementation]

    @property
    def chunk_count(self) -> dict[str, int]:
        return {impl: len(array_chunks(n, self.parts)) for impl, n in self.sizes.items()}

    @property
    def staged(self) -> str:
        """The implementation whose stages get rows of their own: compiled where there is one."""
        return C_EXTENSION if C_EXTENSION in self.impls else PURE_PYTHON


ONE_PASS_RUNNER = Runner(ONE_PASS, None, 1, REFERENCE, "none")


class _Arrays(NamedTuple):
    """One implementation's records, and the region-per-chunk output of its filter."""

    data: SharedArray
    out: SharedArray


@dataclass(frozen=True)
class Produced:
    """What a run of the pipeline produced, compared bit for bit: kept count, statistics, checksum."""

    kept: int
    bits: Any  # stats_bits of the kept records' statistics
    checksum: Checksum
    stats: Stats | None = field(default=None, compare=False)


def _checked(records: object, pure_records: object, rounds: object, threshold: object, seed: object,
             workers: object, per_worker: object, repeats: object, strategies: object,
             implementations: object, progress: object) -> _Setup:
    """Every argument checked, before any segment or pool exists."""
    k = worker_count(workers, max(2, usable_cores()))
    records = check_count(records, "records")
    pure_records = check_count(pure_records, "pure_records")
    rounds = check_count(rounds, "rounds")
    threshold = check_real(threshold, "threshold")
    seed = check_seed(seed)
    per_worker = check_count(per_worker, "per_worker")
    repeats = check_count(repeats, "repeats")
    chosen = (strategy_names(available_only=True, peers=False) if strategies is None
              else check_choices(strategies, "strategies", strategy_names()))
    check_callable(progress, "progress")
    impls = chosen_implementations(implementations)
    sizes = {impl: (records if impl == C_EXTENSION else pure_records) for impl in impls}
    return _Setup(k, sizes, pure_records, rounds, threshold, seed, default_parts(k, per_worker),
                  repeats, tuple(dict.fromkeys(chosen)), impls)


def _variant(impl: str, runner: Runner, setup: _Setup, arrays: _Arrays, reference: Produced,
             ex: Experiment) -> Variant:
    """One run of the pipeline, the one pass or chunked on the runner's executor; every stage ticks."""
    kernels, n = setup.impls[impl], setup.sizes[impl]

    def tick(stage: str) -> None:
        ex.tick(f"{impl}, {runner.name}: {stage}")

    call: Callable[[], PipelineOutput]
    if runner.executor is None:
        call = lambda: one_pass(kernels, arrays.data, arrays.out, n, setup.seed,  # noqa: E731
                                setup.rounds, setup.threshold, tick)
    else:
        job = PipelineJob(kernels, runner.executor, arrays.data, arrays.out, n, setup.parts, setup.seed,
                          setup.rounds, setup.threshold, tick)
        call = lambda: run_pipeline(job)  # noqa: E731
    chunks = 1 if runner.executor is None else setup.chunk_count[impl]
    return Variant(
        name=f"pipeline, {impl}, {runner.name}", run=call,
        check=lambda out: _produced(out, arrays.out) == reference,
        tags={"variant": "pipeline", "implementation": impl, "strategy": runner.name, "workers": runner.workers,
              "records": n, "chunks": chunks, "uses": runner.uses, "transport": runner.transport})


def _stage_ticks(setup: _Setup) -> int:
    """Progress the runs report from inside: a one pass ticks once per stage; a chunked run once per
    chunk of generate, transform and filter, once each for compact and aggregate."""
    per_impl = [len(STAGES) + len(setup.strategies) * (3 * chunks + 2) for chunks in setup.chunk_count.values()]
    return (WARMUP + setup.repeats) * sum(per_impl)


# -- running it ----------------------------------------------------------------------------------

def run(records: int = 10_000_000, pure_records: int = 200_000, rounds: int = 8,
        threshold: float = 0.5, seed: int = 8, workers: int | None = None, per_worker: int = 4,
        repeats: int = 5, strategies: Sequence[str] | None = None,
        implementations: Mapping[str, Implementation] | None = None,
        progress: Progress = no_progress, scheduler: str | None = None) -> StepResult:
    """Run the pipeline as one pass and chunked on every strategy; check and time each stage.

    ``records`` is the dataset of the compiled kernels, ``pure_records`` that of pure Python.
    Each chunked stage cuts its array into about ``workers * per_worker`` chunks. ``strategies``
    (default: every registered one that runs here, but the peers) run the chunked pipeline;
    their capabilities decide how chunks reach the tasks (views here, shared memory elsewhere).
    ``implementations`` (default: every one available here) maps names to the kernels to run.
    ``scheduler`` (an address) points the strategies that join a cluster (``dask``) at one; on
    such a strategy the chunks travel as descriptions and the kept records stay on the workers.
    """
    setup = _checked(records, pure_records, rounds, threshold, seed, workers, per_worker, repeats,
                     strategies, implementations, progress)
    scheduler = check_scheduler(scheduler, setup.strategies)
    ex = Experiment(progress)
    with ExitStack() as stack:
        arrays = {impl: _Arrays(stack.enter_context(SharedArray.create(n)), stack.enter_context(SharedArray.create(n)))
                  for impl, n in setup.sizes.items()}
        runners = [ONE_PASS_RUNNER] + open_runners(stack, setup.strategies, setup.workers, scheduler=scheduler)
        refs = {impl: ex.step(f"{impl}: the reference one pass", lambda: _reference(
            setup, setup.impls[impl], arrays[impl], setup.sizes[impl])) for impl in setup.impls}
        _twin_check(ex, setup, arrays, refs)
        variants = [_variant(impl, r, setup, arrays[impl], refs[impl], ex) for impl in setup.impls for r in runners]
        ex.expect(_stage_ticks(setup))
        measured = ex.measure(variants, repeats=setup.repeats, warmup=WARMUP, cpu="tree", keep_results=True)
    (rows, stage_table), env = _rows(setup, measured, refs), environment()
    return step_result(
        ex, step=8, title=TITLE, env=env,
        params={"records": records, "pure_records": pure_records, "rounds": rounds,
                "threshold": setup.threshold, "seed": seed, "workers": setup.workers,
                "per_worker": per_worker, "chunks": setup.chunk_count, "repeats": repeats},
        rows=rows, summary=_summary(setup, rows, refs),
        explanation=explain(rows, gil=env["gil_enabled"], right=ex.checks.ok, cores=env["usable_cores"]),
        columns=COLUMNS,
        data={"stages": stage_table,
              "reference": {impl: {"kept": ref.kept, "checksum": ref.checksum.hexdigest()}
                            for impl, ref in refs.items()}})


def _kept_checksum(out: SharedArray, kept: int) -> Checksum:
    from ..bytebuf import checksum

    return checksum(out.array[:kept]) if kept else Checksum(0, 0, 0)


def _produced(result: PipelineOutput, out: SharedArray) -> Produced:
    """What a run produced, in the form the one pass's is compared in (a run by description kept
    its records on the workers and brought their checksum back instead)."""
    digest = result.checksum if result.checksum is not None else _kept_checksum(out, result.kept)
    return Produced(result.kept, stats_bits(result.stats), digest, result.stats)


def _reference(setup: _Setup, kernels: Implementation, arrays: _Arrays, n: int) -> Produced:
    """The one pass of ``kernels`` over ``n`` records, untimed: what every run must produce."""
    out = one_pass(kernels, arrays.data, arrays.out, n, setup.seed, setup.rounds, setup.threshold,
                   lambda stage: None)
    return _produced(out, arrays.out)


def _twin_check(ex: Experiment, setup: _Setup, arrays: Mapping[str, _Arrays],
                refs: Mapping[str, Produced]) -> None:
    """The compiled one pass on the pure twin's dataset, where both twins run."""
    if not (C_EXTENSION in setup.impls and PURE_PYTHON in setup.impls):
        return
    twin = ex.step("pipeline: the compiled twin", lambda: _reference(
        setup, setup.impls[C_EXTENSION], arrays[PURE_PYTHON], setup.pure_records))
    ex.checks.add("pipeline: both twins", twin == refs[PURE_PYTHON],
                  f"both twins give the same pipeline output on {setup.pure_records:,} records")


# -- the figures ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _StageFigure:
    """One stage of one variant over its timed runs, and how many records it handled."""

    timed: Timed
    handled: int

    @property
    def seconds(self) -> float:
        return self.timed.seconds

    @property
    def spread(self) -> float:
        return self.timed.spread

    def rate(self, per: int = 1) -> float | None:
        """Records (``per=1``) or bytes (``per=RECORD_BYTES``) per second."""
        return self.handled * per / self.seconds if self.seconds > 0 else None


def _stage_figures(m: Measured, kept: int) -> dict[str, _StageFigure]:
    """Every stage that handled something (the one pass has nothing to compact; with nothing kept,
    nothing is compacted or aggregated): no row measures nothing."""
    timed = list(m.results)
    out = {}
    for stage in STAGES:
        handled = m.tags["records"] if stage in _EVERY_RECORD else kept
        if stage == "compact" and m.tags["uses"] == REFERENCE:
            handled = 0
        if handled and timed:
            out[stage] = _StageFigure(Timed.from_samples([o.seconds[stage] for o in timed]), handled)
    return out


def _rows(setup: _Setup, measured: Mapping[str, Measured],
          refs: Mapping[str, Produced]) -> tuple[list[Row], dict[str, Any]]:
    """A pipeline row per implementation and strategy; stage rows for the staged implementation."""
    rows: list[Row] = []
    stage_rows: list[Row] = []
    table: dict[str, Any] = {}
    for m in measured.values():
        impl = m.tags["implementation"]
        one = measured[f"pipeline, {impl}, {ONE_PASS}"]
        n = m.tags["records"]
        rows.append(measured_row(m, one.seconds / m.seconds, {
            "records": n, "chunks": m.tags["chunks"], "Mrec/s": n / m.seconds / 1e6,
            "MB/s": n * RECORD_BYTES / m.seconds / 1e6, "uses": m.tags["uses"], "transport": m.tags["transport"],
            "repeats": Timed.of(m).repeats}))
        stages = _stage_figures(m, refs[impl].kept)
        if impl == setup.staged:
            ones = _stage_figures(one, refs[impl].kept)
            stage_rows += [_stage_row(m, stage, fig, ones.get(stage)) for stage, fig in stages.items()]
        table[f"{impl} | {m.tags['strategy']}"] = {
            stage: {"ms": fig.seconds * 1000, "spread": fig.spread, "records": fig.handled,
                    "records_per_s": fig.rate(), "MB_per_s": _millions(fig.rate(RECORD_BYTES))}
            for stage, fig in stages.items()}
    return rows + stage_rows, table


def _stage_row(m: Measured, stage: str, fig: _StageFigure, one: _StageFigure | None) -> Row:
    """One stage against the same stage of the one pass (compact has no counterpart there)."""
    t = m.tags
    return Row(
        variant=f"{STAGES.index(stage) + 1} {stage}", implementation=t["implementation"], strategy=t["strategy"],
        workers=t["workers"], seconds=fig.seconds, spread=fig.spread,
        speedup=one.seconds / fig.seconds if one is not None and fig.seconds > 0 else None,
        extra={"records": fig.handled, "Mrec/s": _millions(fig.rate(), ""),
               "MB/s": _millions(fig.rate(RECORD_BYTES), ""), "uses": t["uses"], "transport": t["transport"],
               "repeats": fig.timed.repeats})


def _millions(rate: float | None, missing: Any = None) -> Any:
    return missing if rate is None else rate / 1e6


def _summary(setup: _Setup, rows: list[Row], refs: Mapping[str, Produced]) -> list[str]:
    lines = [f"Pipeline: generate -> transform ({setup.rounds} rounds) -> filter (> {setup.threshold}) "
             f"-> compact -> aggregate, about {setup.parts} chunks per stage, {setup.workers} workers"]
    for impl in setup.impls:
        n, ref = setup.sizes[impl], refs[impl]
        times = ", ".join(f"{r.strategy} {ms(r.seconds)}" for r in rows
                          if r.variant == "pipeline" and r.implementation == impl)
        lines.append(f"{impl}: {n:,} records ({nbytes(n * RECORD_BYTES)}): {times}")
        if ref.stats is not None:
            lines.append(f"  kept {ref.kept:,} ({ref.kept / n:.1%}): mean {ref.stats.mean:.6f}, "
                         f"std {ref.stats.std:.6f}, min {ref.stats.min:.6f}, max {ref.stats.max:.6f}; "
                         f"checksum {ref.checksum.hexdigest()}")
        else:
            lines.append(f"  kept nothing above {setup.threshold}")
    lines.append(f"Speedup column: pipeline rows against the {ONE_PASS} of the same implementation; stage rows "
                 f"against the same stage of the {ONE_PASS} (compact has none)")
    return lines


# -- what it means -------------------------------------------------------------------------------

def explain(rows: Sequence[Row], *, gil: bool, right: bool, cores: int) -> list[str]:
    """What the rows say: the whole pipeline per implementation, its stages, the cost of attaching
    the segments, pure Python against the compiled kernels, and any speedup above its ideal. Only
    figures go in: rows (with their executors' ``uses`` and ``transport``, and the repeats they
    rest on), whether the GIL is on, whether every check passed, and the usable cores (a speedup's
    ideal is its worker count, at most these)."""
    ref_of = _reference_of(rows)
    impls = [i for i in (C_EXTENSION, PURE_PYTHON) if any(r.implementation == i for r in rows)]
    answers = ("Every strategy kept the same records as the one pass, with the same statistics bit for bit "
               "and the same checksum. " if right
               else "Some strategies did not produce the one pass's output (see the failed checks above). ")
    lines = [answers + _pipeline_paragraph(rows, impls[0], gil, ref_of, True)]
    lines += [_pipeline_paragraph(rows, impl, gil, ref_of, False) for impl in impls[1:]]
    lines += [_stages_paragraph(rows, impls[0]), _generate_sentence(rows, impls[0]), _rate_sentence(rows, impls)]
    lines.append(" ".join(above_ideal_lines(rows, ref_of, _label, cores)))
    return [line for line in lines if line]


def _reference_of(rows: Sequence[Row]) -> RefOf:
    refs = {(r.variant, r.implementation): r for r in rows if uses(r) == REFERENCE}
    return lambda row: refs[(row.variant, row.implementation)]


def _label(row: Row) -> str:
    what = "The whole pipeline" if row.variant == "pipeline" else f"The {row.variant.split(' ', 1)[1]} stage"
    return f"{what} on {row.strategy} ({row.implementation})"


def _pipeline_paragraph(rows: Sequence[Row], impl: str, gil: bool, ref_of: RefOf, note_serial: bool) -> str:
    """The whole pipeline of one implementation on every strategy, grouped by what each uses."""
    pipe = [r for r in rows if r.variant == "pipeline" and r.implementation == impl]
    one = next(r for r in pipe if uses(r) == REFERENCE)
    chunked = [r for r in pipe if uses(r) != REFERENCE]
    groups = by_uses(chunked)
    text = (f"On {one.extra['records']:,} records ({impl}), the one pass moved {_per_second(one.extra['Mrec/s'])}; "
            "against it, the chunked pipeline ran " + "; ".join(group_phrase(g) for g in groups.values() if g) + ".")
    if groups["serial"] and note_serial:
        text += serial_note("chunking costs")
    # The work of a task: generate, transform and filter each hand out one task per chunk.
    per_task = one.seconds / (len(_EVERY_RECORD) * max(r.extra["chunks"] for r in chunked))
    return " ".join([text] + readings(groups, impl, ref_of, gil, per_task, "the one pass"))


def _stages_paragraph(rows: Sequence[Row], impl: str) -> str:
    """The stages of the fastest parallel strategy, against the same stages of the one pass, and
    the share of the compact stage that only the parent runs."""
    pipe = [r for r in rows if r.variant == "pipeline" and r.implementation == impl
            and uses(r) in ("threads", "processes")]
    if not pipe:
        return ""
    best = max(pipe, key=speedup)
    mine = [r for r in rows if r.variant != "pipeline" and r.implementation == impl and r.strategy == best.strategy]
    scaled = ", ".join(f"{r.variant.split(' ', 1)[1]} {x(speedup(r))}" for r in mine if r.speedup is not None)
    text = (f"By stage on {best.strategy}, the fastest whole pipeline of {impl} ({on_workers([best])}), against "
            f"the same stage of the one pass: {scaled}.")
    compact = next((r for r in mine if r.variant.endswith(" compact")), None)
    if compact is None:
        return text + " Nothing passed the filter, so nothing was compacted or aggregated."
    return (text + f" The compact stage runs in the parent alone and took {compact.seconds / best.seconds:.0%} "
            f"of that pipeline's time: a serial step caps the speedup of the whole, however well the rest "
            "scales. The one pass has no compact stage: its single filter call leaves the kept records "
            "together already.")


def _generate_sentence(rows: Sequence[Row], impl: str) -> str:
    """The generate stage on executors whose tasks attach the segments against those reading views."""
    generate = [r for r in rows if r.variant == f"{STAGES.index('generate') + 1} generate"
                and r.implementation == impl and uses(r) in ("threads", "processes")]
    return attach_sentence(generate, "to generate")


def _rate_sentence(rows: Sequence[Row], impls: Sequence[str]) -> str:
    """Pure Python's one pass against the compiled one, in records per second."""
    if not (C_EXTENSION in impls and PURE_PYTHON in impls):
        return ""
    rate = {r.implementation: r.extra["Mrec/s"] for r in rows if r.variant == "pipeline" and uses(r) == REFERENCE}
    return (f"In one pass pure Python moved {_per_second(rate[PURE_PYTHON])} and the compiled kernels "
            f"{_per_second(rate[C_EXTENSION])}: {x(rate[C_EXTENSION] / rate[PURE_PYTHON])} as many.")


def _per_second(mrec: float) -> str:
    """Millions of records per second in words: ``12.3 million records/s``, ``797 thousand records/s``."""
    return f"{mrec:.3g} million records/s" if mrec >= 1 else f"{mrec * 1000:.3g} thousand records/s"


#: Parameters for ``gilfree lab`` (DEFAULT), ``--quick`` (QUICK) and the tests (TINY).
DEFAULT: dict[str, Any] = {}
QUICK = {"records": 2_000_000, "pure_records": 20_000, "repeats": 3}
TINY = {"records": 20_000, "pure_records": 4_000, "rounds": 2, "repeats": 1, "workers": 2}
