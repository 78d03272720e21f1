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
from typing import Any, Callable, Mapping, Sequence

from .._checksum import Checksum
from .._select import C_EXTENSION, PURE_PYTHON, Implementation
from .._select import implementations as _available_implementations
from .._stats import stats_bits
from .._timing import environment, interleaved, load_average, usable_cores
from ..chunked import array_chunks, default_parts
from ..pipeline import RECORD_BYTES, STAGES, PipelineJob, PipelineOutput, one_pass, run_pipeline
from ..shm import SharedArray
from ..strategies import check_workers, get_strategy, open_executor, strategy_names
from ._result import Progress, Row, StepResult, busy_machine_note, no_progress

TITLE = "capstone: a parallel data pipeline over shared memory"

#: The reference: one kernel call per stage, no executor.
ONE_PASS = "one pass"


def _ms(seconds: float) -> str:
    """Milliseconds with as many digits as a short time needs."""
    ms = seconds * 1000
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms" if ms >= 0.1 else f"{ms:.2f} ms"


def _kept_checksum(out: SharedArray, kept: int) -> Checksum:
    from ..bytebuf import checksum

    return checksum(out.array[:kept]) if kept else Checksum(0, 0, 0)


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


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
    """
    k = check_workers(workers if workers is not None else max(2, usable_cores()))
    _check_int("records", records, 1)
    _check_int("pure_records", pure_records, 1)
    _check_int("rounds", rounds, 1)
    _check_int("seed", seed, 0)
    _check_int("per_worker", per_worker, 1)
    _check_int("repeats", repeats, 1)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise TypeError(f"threshold must be a real number, not {type(threshold).__name__}")
    chosen = tuple(strategy_names(available_only=True, peers=False) if strategies is None else strategies)
    for name in chosen:
        get_strategy(name)
    if not chosen:
        raise ValueError("strategies must name at least one strategy")
    lineup = (ONE_PASS, *dict.fromkeys(chosen))
    impls = dict(implementations) if implementations is not None else _available_implementations()
    sizes = {impl: (records if impl == C_EXTENSION else pure_records) for impl in impls}
    parts = default_parts(k, per_worker)
    load = load_average()

    chunk_count = {impl: len(array_chunks(n, parts)) for impl, n in sizes.items()}
    # Progress units: a chunked run ticks once per chunk of generate, transform and filter, and
    # once each for compact and aggregate; a one pass ticks once per stage.
    total = sum((1 + repeats) * (len(STAGES) + (len(lineup) - 1) * (3 * chunk_count[impl] + 2))
                for impl in impls)
    done = [0]

    def tick_for(impl: str, strategy: str) -> Callable[[str], None]:
        def tick(stage: str) -> None:
            done[0] += 1
            progress(done[0], total, f"{impl}, {strategy}: {stage}")
        return tick

    outputs: dict[tuple[str, str], list[PipelineOutput]] = {}
    checks: dict[str, bool] = {}
    reference: dict[str, tuple[int, Any, Checksum]] = {}
    with ExitStack() as stack:
        # Per implementation: the records, and the region-per-chunk output of the filter.
        arrays = {impl: (stack.enter_context(SharedArray.create(n)),
                         stack.enter_context(SharedArray.create(n)))
                  for impl, n in sizes.items()}
        executors = {name: stack.enter_context(open_executor(name, k)) for name in lineup[1:]}

        def thunk(impl: str, strategy: str) -> Callable[[], PipelineOutput]:
            data, out = arrays[impl]
            tick = tick_for(impl, strategy)
            if strategy == ONE_PASS:
                kernels = impls[impl]
                return lambda: one_pass(kernels, data, out, sizes[impl], seed, rounds, threshold, tick)
            job = PipelineJob(impls[impl], executors[strategy], data, out, sizes[impl], parts, seed, rounds,
                       threshold, tick)
            return lambda: run_pipeline(job)

        variants = {(impl, s): thunk(impl, s) for impl in impls for s in lineup}

        # Untimed first run of every variant: the full checks (checksum of the kept records too)
        # and the warm-up of the pools. The one pass of each implementation runs first.
        for (impl, strategy), fn in variants.items():
            result = fn()
            outputs[(impl, strategy)] = []
            digest = _kept_checksum(arrays[impl][1], result.kept)
            if strategy == ONE_PASS:
                reference[impl] = (result.kept, stats_bits(result.stats), digest)
                continue
            want = reference[impl]
            checks[f"{impl}, {strategy}: kept records, stats and checksum equal the one pass"] = (
                (result.kept, stats_bits(result.stats), digest) == want)
        if C_EXTENSION in impls and PURE_PYTHON in impls:
            data, out = arrays[PURE_PYTHON]
            twin = one_pass(impls[C_EXTENSION], data, out, pure_records, seed, rounds, threshold,
                             lambda stage: None)
            checks[f"both twins give the same pipeline output on {pure_records:,} records"] = (
                (twin.kept, stats_bits(twin.stats), _kept_checksum(out, twin.kept))
                == reference[PURE_PYTHON])

        def recorded(key: tuple[str, str]) -> Callable[[], None]:
            fn = variants[key]

            def timed() -> None:
                outputs[key].append(fn())
            return timed

        timings = interleaved({key: recorded(key) for key in variants}, repeats=repeats, warmup=0)

    for key, outs in outputs.items():
        want_kept, want_stats, _ = reference[key[0]]
        checks[f"{key[0]}, {key[1]}: every timed run kept the same records with the same stats"] = all(
            (o.kept, stats_bits(o.stats)) == (want_kept, want_stats) for o in outs)

    rows, stage_table = _rows(impls, sizes, timings, outputs, reference, k, lineup)
    summary = _summary(impls, sizes, rows, reference, outputs, rounds, threshold, parts, k, lineup)
    env = environment()
    explanation = _explain(impls, rows, sizes, k, load, env.get("usable_cores"),
                           bool(env.get("gil_enabled", True)), chunk_count, lineup)
    return StepResult(
        step=8, title=TITLE,
        params={"records": records, "pure_records": pure_records, "rounds": rounds,
                "threshold": threshold, "seed": seed, "workers": k, "per_worker": per_worker,
                "chunks": chunk_count, "repeats": repeats},
        rows=rows, checks=checks, summary=summary, explanation=explanation, env=env,
        columns=("variant", "implementation", "strategy", "workers", "records", "ms", "cpu ms",
                 "spread", "speedup", "Mrec/s", "MB/s"),
        data={"stages": stage_table, "load_average_at_start": load,
              "reference": {impl: {"kept": ref[0], "checksum": ref[2].hexdigest()}
                            for impl, ref in reference.items()}},
    )


def _rows(impls: dict, sizes: dict, timings: dict, outputs: dict, reference: dict,
          k: int, lineup: tuple[str, ...]) -> tuple[list[Row], dict[str, Any]]:
    """A pipeline row per implementation and strategy; stage rows for the larger dataset."""
    staged = C_EXTENSION if C_EXTENSION in impls else PURE_PYTHON
    rows: list[Row] = []
    table: dict[str, Any] = {}
    for impl in impls:
        n = sizes[impl]
        kept = reference[impl][0]
        base = timings[(impl, "one pass")].median
        base_stage = {s: statistics.median([o.seconds[s] for o in outputs[(impl, "one pass")]])
                      for s in STAGES}
        for strategy in lineup:
            t = timings[(impl, strategy)]
            workers = 1 if strategy in ("one pass", "serial") else k
            rows.append(Row(
                variant="pipeline", implementation=impl, strategy=strategy, workers=workers,
                seconds=t.median, spread=t.spread, cpu_seconds=t.cpu_median, speedup=base / t.median,
                extra={"records": n, "Mrec/s": n / t.median / 1e6,
                       "MB/s": n * RECORD_BYTES / t.median / 1e6},
            ))
            per_stage = {}
            for stage in STAGES:
                samples = [o.seconds[stage] for o in outputs[(impl, strategy)]]
                sec = statistics.median(samples)
                handled = n if stage in ("generate", "transform", "filter") else kept
                if stage == "compact" and strategy == "one pass":
                    handled = 0  # one filter call over everything leaves nothing to compact
                per_stage[stage] = {
                    "ms": sec * 1000, "records": handled,
                        "records_per_s": handled / sec if sec > 0 and handled else None,
                    "MB_per_s": handled * RECORD_BYTES / sec / 1e6 if sec > 0 and handled else None,
                }
                if impl == staged:
                    ref = base_stage[stage]
                    rows.append(Row(
                        variant=f"{STAGES.index(stage) + 1} {stage}", implementation=impl,
                        strategy=strategy, workers=workers, seconds=sec,
                        spread=(max(samples) - min(samples)) / sec if sec > 0 else 0.0,
                        speedup=(ref / sec) if sec > 0 and ref > 0 and stage != "compact" else None,
                        extra={"records": handled,
                               "Mrec/s": handled / sec / 1e6 if sec > 0 and handled else "",
                               "MB/s": handled * RECORD_BYTES / sec / 1e6 if sec > 0 and handled else ""},
                    ))
            table[f"{impl} | {strategy}"] = per_stage
    return rows, table


def _find(rows: list[Row], variant: str, impl: str, strategy: str) -> Row:
    return next(r for r in rows if r.variant == variant and r.implementation == impl
                and r.strategy == strategy)


def _summary(impls: dict, sizes: dict, rows: list[Row], reference: dict, outputs: dict, rounds: int,
             threshold: float, parts: int, k: int, lineup: tuple[str, ...]) -> list[str]:
    lines = [f"Pipeline: generate -> transform ({rounds} rounds) -> filter (> {threshold}) -> compact "
             f"-> aggregate, about {parts} chunks per stage, {k} workers"]
    for impl in impls:
        n = sizes[impl]
        kept = reference[impl][0]
        stats = outputs[(impl, "one pass")][0].stats if outputs[(impl, "one pass")] else None
        times = ", ".join(f"{s} {_find(rows, 'pipeline', impl, s).seconds * 1000:.0f}ms"
                          for s in lineup)
        lines.append(f"{impl}: {n:,} records ({n * RECORD_BYTES / 2**20:.1f} MB): {times}")
        if stats is not None:
            lines.append(f"  kept {kept:,} ({kept / n:.1%}): mean {stats.mean:.6f}, std {stats.std:.6f}, "
                         f"min {stats.min:.6f}, max {stats.max:.6f}; "
                         f"checksum {reference[impl][2].hexdigest()}")
        else:
            lines.append(f"  kept nothing above {threshold}")
    return lines


def _gil_note(thread_speedup: float, gil: bool) -> str:
    """What a pure-Python thread speedup says about the GIL, worded to fit the number."""
    if not gil:
        return "no GIL in this interpreter"
    if thread_speedup < 1.2:
        return "the GIL lets one of them run at a time"
    return "more than the GIL allows: that ratio is within this run's noise"


def _slow_note(pipe: dict[str, Row], chunks: int) -> str:
    """Why no parallel strategy beat the one pass, in the terms the numbers support."""
    if max(pipe[s].speedup for s in ("threads", "processes")) >= 1:
        return ""
    per_chunk = pipe["one pass"].seconds / chunks
    if per_chunk < 1e-3:
        return (f" No strategy beat the one pass: each chunk held about {per_chunk * 1e6:.0f} us of work "
                "over all stages, too little to pay for handing it to a worker.")
    return (" No strategy beat the one pass here; the serial executor's ratio, the same work in the "
            "same chunks, is a yardstick of this run's noise.")


def _explain(impls: dict, rows: list[Row], sizes: dict, k: int, load: float | None,
             cores: Any, gil: bool, chunks: dict[str, int], lineup: tuple[str, ...]) -> list[str]:
    staged = C_EXTENSION if C_EXTENSION in impls else PURE_PYTHON
    pipe = {s: _find(rows, "pipeline", staged, s) for s in lineup}
    note = busy_machine_note(load, cores)
    if not {"serial", "threads", "processes"} <= set(lineup):  # what the story below compares
        ratios = ", ".join(f"{s} {pipe[s].speedup:.2f}x" for s in lineup if s != ONE_PASS)
        return [f"Every strategy kept the same {sizes[staged]:,}-record pipeline output as the one pass, "
                f"bit for bit. {staged} on {k} workers, against the one pass: {ratios}."] + ([note] if note else [])
    best = max(("threads", "processes"), key=lambda s: pipe[s].speedup or 0)
    stage_rows = {(st, s): _find(rows, f"{STAGES.index(st) + 1} {st}", staged, s)
                  for st in STAGES for s in lineup}
    scaled = {st: stage_rows[(st, best)].speedup or 0.0 for st in ("generate", "transform", "filter")}
    top = max(scaled, key=scaled.get)
    low = min(scaled, key=scaled.get)
    compact_share = stage_rows[("compact", best)].seconds / pipe[best].seconds
    lines = [
        f"Every strategy kept the same {sizes[staged]:,}-record pipeline output as the one pass, bit for "
        f"bit. {staged} on {k} workers: threads ran the whole pipeline at {pipe['threads'].speedup:.2f}x "
        f"of the one pass ({pipe['threads'].extra['Mrec/s']:.3g} Mrec/s) and processes at "
        f"{pipe['processes'].speedup:.2f}x ({pipe['processes'].extra['Mrec/s']:.3g} Mrec/s); the serial "
        f"executor, same chunks and no parallelism, at {pipe['serial'].speedup:.2f}x."
        + _slow_note(pipe, chunks[staged]),
        f"By stage ({best}, against the same stage of the one pass): {top} ran at {scaled[top]:.2f}x, "
        f"{low} at {scaled[low]:.2f}x. "
        f"The compact stage runs in the parent alone and took {compact_share:.1%} of the {best} "
        "pipeline's time: a serial step caps the speedup of the whole, however well the rest scales.",
    ]
    proc_gen = stage_rows[("generate", "processes")].seconds
    thr_gen = stage_rows[("generate", "threads")].seconds
    if staged == C_EXTENSION and proc_gen > thr_gen * 1.2:
        lines.append(
            f"Processes took {_ms(proc_gen)} to generate what threads wrote in {_ms(thr_gen)}: "
            "each process task attaches the segments and maps their pages on first touch, while "
            "threads write through the parent's mapping.")
    if PURE_PYTHON in impls and C_EXTENSION in impls:
        py = {s: _find(rows, "pipeline", PURE_PYTHON, s) for s in lineup}
        ratio = pipe["one pass"].extra["Mrec/s"] / py["one pass"].extra["Mrec/s"]
        thr = py["serial"].seconds / py["threads"].seconds
        prc = py["serial"].seconds / py["processes"].seconds
        lines.append(
            f"Pure Python moved {py['one pass'].extra['Mrec/s'] * 1000:.0f} thousand records/s in one pass, "
            f"{ratio:.0f}x fewer than the compiled kernels. Against the same chunks run serially, its "
            f"threads ran at {thr:.2f}x ({_gil_note(thr, gil)}) "
            f"and its processes at {prc:.2f}x.")
    if note:
        lines.append(note)
    return lines


#: Parameters for ``gilfree lab`` (DEFAULT), ``--quick`` (QUICK) and the tests (TINY).
DEFAULT: dict = {}
QUICK = {"records": 2_000_000, "pure_records": 20_000, "repeats": 3}
TINY = {"records": 20_000, "pure_records": 4_000, "rounds": 2, "repeats": 1, "workers": 2}
