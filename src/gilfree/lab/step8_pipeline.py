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
the arrays by handle) must produce the same kept count, the same statistics bit for bit, and the
same checksum of the kept records. Pure Python runs the pipeline too, on a smaller dataset; rows
report records/s and MB/s so that the two compare.
"""

from __future__ import annotations

import statistics
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from .._checks import check_callable, check_choices, check_count, check_real, check_seed
from .._checksum import Checksum
from .._select import C_EXTENSION, PURE_PYTHON, Implementation
from .._stats import stats_bits
from .._timing import Timing, environment, interleaved, load_average, usable_cores
from ..chunked import array_chunks, default_parts
from ..pipeline import RECORD_BYTES, STAGES, PipelineJob, PipelineOutput, one_pass, run_pipeline
from ..shm import SharedArray
from ..strategies import get_strategy, open_executor, strategy_names
from ._result import Progress, Row, StepResult, busy_machine_note, no_progress
from ._plan import Ticker, chosen_implementations, worker_count
from ._words import CLEARLY_SLOWER, SMALL_CHUNK_SECONDS, find_row, gil_verdict, ms, small_chunks, speedup

TITLE = "capstone: a parallel data pipeline over shared memory"

#: The reference: one kernel call per stage, no executor.
ONE_PASS = "one pass"

#: The stages that handle every record (the others handle the kept ones).
_EVERY_RECORD = ("generate", "transform", "filter")

_GIL_WORDS = {"no gil": "no GIL in this interpreter",
              "turns": "the GIL lets one of them run at a time",
              "noise": "more than the GIL allows: that ratio is within this run's noise"}


# -- what to run ---------------------------------------------------------------------------------

class Variant(NamedTuple):
    """One measured variant: the kernels, and the strategy (or the one pass) that runs them."""

    impl: str
    strategy: str


class Reference(NamedTuple):
    """What the one pass produced: every other variant must produce the same."""

    kept: int
    stats: Any  # stats_bits of the kept records' statistics
    checksum: Checksum


class _Arrays(NamedTuple):
    """One implementation's records, and the region-per-chunk output of its filter."""

    data: SharedArray
    out: SharedArray


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
    lineup: tuple[str, ...]  # ONE_PASS, then the strategies
    impls: Mapping[str, Implementation]

    @property
    def chunk_count(self) -> dict[str, int]:
        return {impl: len(array_chunks(n, self.parts)) for impl, n in self.sizes.items()}

    @property
    def staged(self) -> str:
        """The implementation whose stages get rows of their own: compiled where there is one."""
        return C_EXTENSION if C_EXTENSION in self.impls else PURE_PYTHON

    def variants(self) -> list[Variant]:
        """Every implementation on every strategy; each implementation's one pass first."""
        return [Variant(impl, s) for impl in self.impls for s in self.lineup]


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
                  repeats, (ONE_PASS, *dict.fromkeys(chosen)), impls)


def _progress_total(setup: _Setup) -> int:
    """A chunked run ticks once per chunk of generate, transform and filter, and once each for
    compact and aggregate; a one pass ticks once per stage. Each runs once untimed, then timed."""
    chunked = len(setup.lineup) - 1
    return sum((1 + setup.repeats) * (len(STAGES) + chunked * (3 * chunks + 2))
               for chunks in setup.chunk_count.values())


def _variant_call(v: Variant, setup: _Setup, arrays: _Arrays, executors: Mapping[str, Any],
                  ticker: Ticker) -> Callable[[], PipelineOutput]:
    """One run of the pipeline: the one pass, or the chunked pipeline on the variant's executor."""
    def tick(stage: str) -> None:
        ticker.tick(f"{v.impl}, {v.strategy}: {stage}")

    kernels, n = setup.impls[v.impl], setup.sizes[v.impl]
    if v.strategy == ONE_PASS:
        return lambda: one_pass(kernels, arrays.data, arrays.out, n, setup.seed, setup.rounds,
                                setup.threshold, tick)
    job = PipelineJob(kernels, executors[v.strategy], arrays.data, arrays.out, n, setup.parts,
                      setup.seed, setup.rounds, setup.threshold, tick)
    return lambda: run_pipeline(job)


# -- running it ----------------------------------------------------------------------------------

def run(records: int = 10_000_000, pure_records: int = 200_000, rounds: int = 8,
        threshold: float = 0.5, seed: int = 8, workers: int | None = None, per_worker: int = 4,
        repeats: int = 5, strategies: Sequence[str] | None = None,
        implementations: Mapping[str, Implementation] | None = None,
        progress: Progress = no_progress) -> StepResult:
    """Run the pipeline as one pass and chunked on every strategy; check and time each stage.

    ``records`` is the dataset of the compiled kernels, ``pure_records`` that of pure Python.
    Each chunked stage cuts its array into about ``workers * per_worker`` chunks. ``strategies``
    (default: every registered one that runs here, but the peers) run the chunked pipeline;
    their capabilities decide how chunks reach the tasks (views here, shared memory elsewhere).
    ``implementations`` (default: every one available here) maps names to the kernels to run.
    """
    setup = _checked(records, pure_records, rounds, threshold, seed, workers, per_worker, repeats,
                     strategies, implementations, progress)
    load = load_average()
    ticker = Ticker(progress, _progress_total(setup))
    with ExitStack() as stack:
        arrays = {impl: _Arrays(stack.enter_context(SharedArray.create(n)),
                                stack.enter_context(SharedArray.create(n)))
                  for impl, n in setup.sizes.items()}
        executors = {name: stack.enter_context(open_executor(name, setup.workers))
                     for name in setup.lineup[1:]}
        calls = {v: _variant_call(v, setup, arrays[v.impl], executors, ticker) for v in setup.variants()}
        reference, checks = _first_runs(calls, arrays)
        checks.update(_twin_check(setup, arrays, reference))
        outputs, timings = _measure(calls, setup.repeats)
    checks.update(_repeat_checks(outputs, reference))

    rows, stage_table = _rows(setup, timings, outputs, reference)
    env = environment()
    explanation = _explain(setup.impls, rows, setup.sizes, setup.workers, load, env.get("usable_cores"),
                           bool(env.get("gil_enabled", True)), setup.chunk_count, setup.lineup)
    return StepResult(
        step=8, title=TITLE,
        params={"records": records, "pure_records": pure_records, "rounds": rounds,
                "threshold": setup.threshold, "seed": seed, "workers": setup.workers,
                "per_worker": per_worker, "chunks": setup.chunk_count, "repeats": repeats},
        rows=rows, checks=checks, summary=_summary(setup, rows, reference, outputs),
        explanation=explanation, env=env,
        columns=("variant", "implementation", "strategy", "workers", "records", "ms", "cpu ms",
                 "spread", "speedup", "Mrec/s", "MB/s"),
        data={"stages": stage_table, "load_average_at_start": load,
              "reference": {impl: {"kept": ref.kept, "checksum": ref.checksum.hexdigest()}
                            for impl, ref in reference.items()}},
    )


def _kept_checksum(out: SharedArray, kept: int) -> Checksum:
    from ..bytebuf import checksum

    return checksum(out.array[:kept]) if kept else Checksum(0, 0, 0)


def _produced(result: PipelineOutput, out: SharedArray) -> Reference:
    """What a run produced, in the form the one pass's is compared in."""
    return Reference(result.kept, stats_bits(result.stats), _kept_checksum(out, result.kept))


def _first_runs(calls: Mapping[Variant, Callable[[], PipelineOutput]],
                arrays: Mapping[str, _Arrays]) -> tuple[dict[str, Reference], dict[str, bool]]:
    """The untimed first run of every variant: the full checks (checksum of the kept records too)
    and the warm-up of the pools. The one pass of each implementation runs first."""
    reference: dict[str, Reference] = {}
    checks: dict[str, bool] = {}
    for v, call in calls.items():
        got = _produced(call(), arrays[v.impl].out)
        if v.strategy == ONE_PASS:
            reference[v.impl] = got
        else:
            checks[f"{v.impl}, {v.strategy}: kept records, stats and checksum equal the one pass"] = (
                got == reference[v.impl])
    return reference, checks


def _twin_check(setup: _Setup, arrays: Mapping[str, _Arrays],
                reference: Mapping[str, Reference]) -> dict[str, bool]:
    """The compiled one pass on the pure twin's dataset, where both twins run."""
    if not (C_EXTENSION in setup.impls and PURE_PYTHON in setup.impls):
        return {}
    pure = arrays[PURE_PYTHON]
    twin = one_pass(setup.impls[C_EXTENSION], pure.data, pure.out, setup.pure_records, setup.seed,
                    setup.rounds, setup.threshold, lambda stage: None)
    return {f"both twins give the same pipeline output on {setup.pure_records:,} records":
            _produced(twin, pure.out) == reference[PURE_PYTHON]}


def _measure(calls: Mapping[Variant, Callable[[], PipelineOutput]],
             repeats: int) -> tuple[dict[Variant, list[PipelineOutput]], dict[Variant, Timing]]:
    """``repeats`` timed rounds, interleaved; every output kept (its stage times, its result)."""
    outputs: dict[Variant, list[PipelineOutput]] = {v: [] for v in calls}

    def keep(v: Variant, output: Any) -> None:
        outputs[v].append(output)

    timings = interleaved(dict(calls), repeats=repeats, warmup=0, after=keep)
    return outputs, timings


def _repeat_checks(outputs: Mapping[Variant, list[PipelineOutput]],
                   reference: Mapping[str, Reference]) -> dict[str, bool]:
    checks = {}
    for v, outs in outputs.items():
        want = reference[v.impl]
        checks[f"{v.impl}, {v.strategy}: every timed run kept the same records with the same stats"] = all(
            (o.kept, stats_bits(o.stats)) == (want.kept, want.stats) for o in outs)
    return checks


# -- what it means -------------------------------------------------------------------------------

class _Stage(NamedTuple):
    """One stage of one variant: its timed runs, and how many records it handled."""

    samples: list[float]
    handled: int

    @property
    def seconds(self) -> float:
        return statistics.median(self.samples)

    def rate(self, per: int = 1) -> float | None:
        """Records (``per=1``) or bytes (``per=RECORD_BYTES``) per second; None for nothing handled."""
        sec = self.seconds
        return self.handled * per / sec if sec > 0 and self.handled else None


def _stage(outputs: Mapping[Variant, list[PipelineOutput]], v: Variant, stage: str, n: int,
           kept: int) -> _Stage:
    handled = n if stage in _EVERY_RECORD else kept
    if stage == "compact" and v.strategy == ONE_PASS:
        handled = 0  # one filter call over everything leaves nothing to compact
    return _Stage([o.seconds[stage] for o in outputs[v]], handled)


def _workers(strategy: str, k: int) -> int:
    if strategy == ONE_PASS or get_strategy(strategy).capabilities.uses == "serial":
        return 1
    return k


def _rows(setup: _Setup, timings: Mapping[Variant, Timing], outputs: Mapping[Variant, list[PipelineOutput]],
          reference: Mapping[str, Reference]) -> tuple[list[Row], dict[str, Any]]:
    """A pipeline row per implementation and strategy; stage rows for the larger dataset."""
    rows: list[Row] = []
    table: dict[str, Any] = {}
    for v in setup.variants():
        n, kept = setup.sizes[v.impl], reference[v.impl].kept
        workers = _workers(v.strategy, setup.workers)
        rows.append(_pipeline_row(v, n, timings, workers))
        stages = {stage: _stage(outputs, v, stage, n, kept) for stage in STAGES}
        if v.impl == setup.staged:
            one = Variant(v.impl, ONE_PASS)
            rows.extend(_stage_row(v, stage, measured, _stage(outputs, one, stage, n, kept).seconds,
                                   workers) for stage, measured in stages.items())
        table[f"{v.impl} | {v.strategy}"] = {
            stage: {"ms": m.seconds * 1000, "records": m.handled,
                    "records_per_s": m.rate(), "MB_per_s": _millions(m.rate(RECORD_BYTES))}
            for stage, m in stages.items()}
    return rows, table


def _pipeline_row(v: Variant, n: int, timings: Mapping[Variant, Timing], workers: int) -> Row:
    t = timings[v]
    return Row(
        variant="pipeline", implementation=v.impl, strategy=v.strategy, workers=workers,
        seconds=t.median, spread=t.spread, cpu_seconds=t.cpu_median,
        speedup=timings[Variant(v.impl, ONE_PASS)].median / t.median,
        extra={"records": n, "Mrec/s": n / t.median / 1e6, "MB/s": n * RECORD_BYTES / t.median / 1e6},
    )


def _stage_row(v: Variant, stage: str, m: _Stage, one_pass_seconds: float, workers: int) -> Row:
    """One stage against the same stage of the one pass (compact has no counterpart there)."""
    sec = m.seconds
    return Row(
        variant=f"{STAGES.index(stage) + 1} {stage}", implementation=v.impl,
        strategy=v.strategy, workers=workers, seconds=sec,
        spread=(max(m.samples) - min(m.samples)) / sec if sec > 0 else 0.0,
        speedup=(one_pass_seconds / sec) if sec > 0 and one_pass_seconds > 0 and stage != "compact" else None,
        extra={"records": m.handled, "Mrec/s": _millions(m.rate(), ""),
               "MB/s": _millions(m.rate(RECORD_BYTES), "")},
    )


def _millions(rate: float | None, missing: Any = None) -> Any:
    return missing if rate is None else rate / 1e6


def _summary(setup: _Setup, rows: list[Row], reference: Mapping[str, Reference],
             outputs: Mapping[Variant, list[PipelineOutput]]) -> list[str]:
    lines = [f"Pipeline: generate -> transform ({setup.rounds} rounds) -> filter (> {setup.threshold}) "
             f"-> compact -> aggregate, about {setup.parts} chunks per stage, {setup.workers} workers"]
    for impl in setup.impls:
        n, kept = setup.sizes[impl], reference[impl].kept
        ones = outputs[Variant(impl, ONE_PASS)]
        stats = ones[0].stats if ones else None
        times = ", ".join(f"{s} {find_row(rows, 'pipeline', impl, s).seconds * 1000:.0f}ms"
                          for s in setup.lineup)
        lines.append(f"{impl}: {n:,} records ({n * RECORD_BYTES / 2**20:.1f} MB): {times}")
        if stats is not None:
            lines.append(f"  kept {kept:,} ({kept / n:.1%}): mean {stats.mean:.6f}, std {stats.std:.6f}, "
                         f"min {stats.min:.6f}, max {stats.max:.6f}; "
                         f"checksum {reference[impl].checksum.hexdigest()}")
        else:
            lines.append(f"  kept nothing above {setup.threshold}")
    return lines


def _explain(impls: Mapping[str, Implementation], rows: list[Row], sizes: Mapping[str, int], k: int,
             load: float | None, cores: Any, gil: bool, chunks: Mapping[str, int],
             lineup: tuple[str, ...]) -> list[str]:
    """The whole pipeline per strategy, its stages, the cost of attaching, pure Python's threads."""
    staged = C_EXTENSION if C_EXTENSION in impls else PURE_PYTHON
    pipe = {s: find_row(rows, "pipeline", staged, s) for s in lineup}
    note = busy_machine_note(load, cores)
    if not {"serial", "threads", "processes"} <= set(lineup):  # what the story below compares
        return [_ratios_paragraph(pipe, lineup, staged, sizes[staged], k)] + ([note] if note else [])
    stage_rows = {(st, s): find_row(rows, f"{STAGES.index(st) + 1} {st}", staged, s)
                  for st in STAGES for s in lineup}
    lines = [_strategies_paragraph(pipe, staged, sizes[staged], k, chunks[staged]),
             _stages_paragraph(pipe, stage_rows),
             _attach_note(stage_rows, staged)]
    if PURE_PYTHON in impls and C_EXTENSION in impls:
        lines.append(_pure_paragraph(rows, pipe, lineup, gil))
    return [line for line in lines if line] + ([note] if note else [])


def _ratios_paragraph(pipe: Mapping[str, Row], lineup: tuple[str, ...], staged: str, n: int, k: int) -> str:
    """Strategies chosen by the caller, without the three the full story compares: the ratios alone."""
    ratios = ", ".join(f"{s} {pipe[s].speedup:.2f}x" for s in lineup if s != ONE_PASS)
    return (f"Every strategy kept the same {n:,}-record pipeline output as the one pass, "
            f"bit for bit. {staged} on {k} workers, against the one pass: {ratios}.")


def _strategies_paragraph(pipe: Mapping[str, Row], staged: str, n: int, k: int, chunks: int) -> str:
    return (
        f"Every strategy kept the same {n:,}-record pipeline output as the one pass, bit for "
        f"bit. {staged} on {k} workers: threads ran the whole pipeline at {pipe['threads'].speedup:.2f}x "
        f"of the one pass ({pipe['threads'].extra['Mrec/s']:.3g} Mrec/s) and processes at "
        f"{pipe['processes'].speedup:.2f}x ({pipe['processes'].extra['Mrec/s']:.3g} Mrec/s); the serial "
        f"executor, same chunks and no parallelism, at {pipe['serial'].speedup:.2f}x."
        + _slow_note(pipe, chunks))


def _slow_note(pipe: Mapping[str, Row], chunks: int) -> str:
    """Why no parallel strategy beat the one pass, in the terms the numbers support."""
    if max(speedup(pipe[s]) for s in ("threads", "processes")) >= 1:
        return ""
    per_chunk = pipe[ONE_PASS].seconds / chunks
    if per_chunk < SMALL_CHUNK_SECONDS:
        return f" No strategy beat the one pass: {small_chunks(per_chunk, of_work='of work over all stages')}"
    return (" No strategy beat the one pass here; the serial executor's ratio, the same work in the "
            "same chunks, is a yardstick of this run's noise.")


def _stages_paragraph(pipe: Mapping[str, Row], stage_rows: Mapping[tuple[str, str], Row]) -> str:
    """The parallel stages of the faster strategy, best and worst, and the serial compact."""
    best = max(("threads", "processes"), key=lambda s: pipe[s].speedup or 0)
    scaled = {st: stage_rows[(st, best)].speedup or 0.0 for st in _EVERY_RECORD}
    top = max(scaled, key=scaled.__getitem__)
    low = min(scaled, key=scaled.__getitem__)
    compact_share = stage_rows[("compact", best)].seconds / pipe[best].seconds
    return (f"By stage ({best}, against the same stage of the one pass): {top} ran at {scaled[top]:.2f}x, "
            f"{low} at {scaled[low]:.2f}x. "
            f"The compact stage runs in the parent alone and took {compact_share:.1%} of the {best} "
            "pipeline's time: a serial step caps the speedup of the whole, however well the rest scales.")


def _attach_note(stage_rows: Mapping[tuple[str, str], Row], staged: str) -> str:
    """Processes generating clearly slower than threads: the cost of attaching, when it shows."""
    proc_gen = stage_rows[("generate", "processes")].seconds
    thr_gen = stage_rows[("generate", "threads")].seconds
    if staged != C_EXTENSION or proc_gen <= thr_gen * CLEARLY_SLOWER:
        return ""
    return (f"Processes took {ms(proc_gen)} to generate what threads wrote in {ms(thr_gen)}: "
            "each process task attaches the segments and maps their pages on first touch, while "
            "threads write through the parent's mapping.")


def _pure_paragraph(rows: list[Row], pipe: Mapping[str, Row], lineup: tuple[str, ...], gil: bool) -> str:
    """Pure Python's rate against the compiled one, and its threads against its serial chunks."""
    py = {s: find_row(rows, "pipeline", PURE_PYTHON, s) for s in lineup}
    ratio = pipe[ONE_PASS].extra["Mrec/s"] / py[ONE_PASS].extra["Mrec/s"]
    thr = py["serial"].seconds / py["threads"].seconds
    prc = py["serial"].seconds / py["processes"].seconds
    return (f"Pure Python moved {py[ONE_PASS].extra['Mrec/s'] * 1000:.0f} thousand records/s in one pass, "
            f"{ratio:.0f}x fewer than the compiled kernels. Against the same chunks run serially, its "
            f"threads ran at {thr:.2f}x ({_GIL_WORDS[gil_verdict(thr, gil)]}) "
            f"and its processes at {prc:.2f}x.")


#: Parameters for ``gilfree lab`` (DEFAULT), ``--quick`` (QUICK) and the tests (TINY).
DEFAULT: dict[str, Any] = {}
QUICK = {"records": 2_000_000, "pure_records": 20_000, "repeats": 3}
TINY = {"records": 20_000, "pure_records": 4_000, "rounds": 2, "repeats": 1, "workers": 2}
