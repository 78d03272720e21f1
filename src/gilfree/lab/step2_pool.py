"""Step 2: ``multiprocessing.Pool.map`` over worker counts, and what a pool costs to open.

One CPU-bound job, the exact sum of ``i * i`` over ``[0, n)``, cut into equal ranges and handed
to ``Pool.map`` on pools of 1, 2, 4, ... workers up to the core count. Each worker process has its
own interpreter and its own GIL, so pure Python scales here as it could not in threads (step 1).
How far from linear it stays, and what opening a pool costs before the first task runs, are
measured separately: the timed maps run on pools opened beforehand, and start-up (open the pool,
get the first reply) and shut-down are timed on fresh pools of their own.
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, NamedTuple

from .._checks import check_count
from .._select import C_EXTENSION, Implementation
from .._timing import Timing, environment, usable_cores
from ..chunked import split_range
from ..strategies import check_workers, open_executor
from ..mp_pool import GuardedPool
from ._plan import (Ticker, chosen_implementations, guarded_pool, scaled, sum_of_squares_below, time_variants,
                    timed_row, worker_count)
from ._result import Progress, Row, StepResult, no_progress
from ._tasks import call_packed

TITLE = "multiprocessing.Pool.map over worker counts"

SERIAL = 0  # the worker count that stands for the in-process reference loop


#: One task for ``call_packed``: the kernel and the range ``[lo, hi)`` it sums.
Task = tuple[Callable[[int, int], int], int, int]


class Key(NamedTuple):
    """A measured variant: one implementation's job, in process (``workers == SERIAL``) or on a pool."""

    implementation: str
    workers: int


@dataclass(frozen=True)
class Startup:
    """Median seconds to open a pool and get every worker's first reply, and to close it."""

    open: float
    close: float


def _label(key: Key) -> str:
    return f"{key.implementation}, " + ("serial" if key.workers == SERIAL else f"Pool.map, {key.workers} workers")


def worker_counts(top: int) -> list[int]:
    """1, 2, then powers of two up to ``top``, and ``top`` itself (always at least 1 and 2)."""
    top = max(2, check_workers(top))
    counts = {1, 2, top}
    w = 4
    while w < top:
        counts.add(w)
        w *= 2
    return sorted(counts)


def _startup(kernel: Callable[..., Any], w: int, repeats: int) -> Startup:
    """Open a pool of ``w``, get every worker's first reply (an empty ``kernel`` call), close it."""
    opened: list[float] = []
    closed: list[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        with open_executor("pool", w) as executor:
            guarded_pool(executor).map(call_packed, [(kernel, 0, 0)] * w, chunksize=1)
            t1 = time.perf_counter()
            executor.shutdown(wait=True)
            t2 = time.perf_counter()
        opened.append(t1 - t0)
        closed.append(t2 - t1)
    return Startup(statistics.median(opened), statistics.median(closed))


def _measure_startup(impls: Mapping[str, Implementation], counts: list[int], repeats: int,
                     ticker: Ticker) -> dict[Key, Startup]:
    startup = {}
    for name, impl in impls.items():
        for w in counts:
            startup[Key(name, w)] = _startup(impl.sum_squares, w, repeats)
            ticker.tick(f"start-up, {w} workers")
    return startup


def _variants(impls: Mapping[str, Implementation], jobs: Mapping[str, list[Task]],
              pools: Mapping[int, GuardedPool]) -> dict[Key, Callable[[], list[int]]]:
    """Each implementation's job in a plain loop, and through ``Pool.map`` on every pool."""
    variants: dict[Key, Callable[[], list[int]]] = {}
    for name, tasks in jobs.items():
        variants[Key(name, SERIAL)] = partial(_in_process, impls[name].sum_squares, tasks)
        for w, pool in pools.items():
            variants[Key(name, w)] = partial(pool.map, call_packed, tasks, chunksize=1)
    return variants


def _in_process(kern: Callable[[int, int], int], tasks: list[Task]) -> list[int]:
    return [kern(lo, hi) for _, lo, hi in tasks]


def _measure(impls: Mapping[str, Implementation], jobs: Mapping[str, list[Task]], sizes: dict[str, int],
             counts: list[int], repeats: int, ticker: Ticker) -> tuple[dict[str, bool], dict[Key, Timing], str]:
    """Check every variant's sum once, then time them all on pools opened beforehand."""
    with ExitStack() as stack:
        pools = {w: guarded_pool(stack.enter_context(open_executor("pool", w))) for w in counts}
        start_method = multiprocessing.get_start_method()
        variants = _variants(impls, jobs, pools)
        checks = {}
        for key, fn in variants.items():
            checks[f"{_label(key)}: sum equals the closed form"] = (
                sum(fn()) == sum_of_squares_below(sizes[key.implementation]))
            ticker.tick(_label(key))
        return checks, time_variants(variants, repeats, ticker, _label), start_method


def _rows(sizes: dict[str, int], counts: list[int], timings: dict[Key, Timing],
          startup: dict[Key, Startup]) -> list[Row]:
    rows = []
    for impl, size in sizes.items():
        serial = timings[Key(impl, SERIAL)]
        rows.append(timed_row("in-process reference", impl, "serial", 1, serial, None,
                              extra={"n": size, "vs serial": 1.0, "ns/elem": serial.median / size * 1e9}))
        one = timings[Key(impl, 1)].median
        for w in counts:
            t, up = timings[Key(impl, w)], startup[Key(impl, w)]
            rows.append(timed_row(
                "Pool.map", impl, "pool", w, t, one / t.median,
                extra={"n": size, "efficiency": one / t.median / w, "vs serial": serial.median / t.median,
                       "ns/elem": t.median / size * 1e9, "start ms": up.open * 1000, "stop ms": up.close * 1000}))
    return rows


def _summary(rows: list[Row], sizes: dict[str, int]) -> list[str]:
    summary = []
    for impl in sizes:
        mine = [r for r in rows if r.implementation == impl]
        summary.append(f"{impl}: serial {mine[0].seconds * 1000:.0f}ms, " + ", ".join(
            f"Pool({r.workers}) {r.seconds * 1000:.0f}ms ({r.speedup:.2f}x)" for r in mine[1:]))
    return summary


def run(n: int = 8_000_000, workers: int | None = None, kernel_scale: int = 100, tasks: int | None = None,
        repeats: int = 5, progress: Progress = no_progress,
        implementations: Mapping[str, Implementation] | None = None) -> StepResult:
    """Time ``Pool.map`` of ``sum_squares`` over ``tasks`` ranges on pools of 1 .. ``workers``.

    ``n`` is the range for pure Python; the compiled kernel gets ``n * kernel_scale``. ``tasks``
    defaults to four per worker of the largest pool, handed out one at a time (``chunksize=1``).
    ``implementations`` (default: every one that imports here) decides whether the compiled
    twin runs; pure Python always does.
    """
    counts = worker_counts(worker_count(workers, usable_cores()))
    n, kernel_scale = check_count(n, "n"), check_count(kernel_scale, "kernel_scale")
    repeats = check_count(repeats, "repeats")
    parts = check_count(4 * counts[-1] if tasks is None else tasks, "tasks")
    impls = chosen_implementations(implementations)
    sizes = {name: scaled(name, n, kernel_scale) for name in impls}
    jobs: dict[str, list[Task]] = {
        name: [(impls[name].sum_squares, lo, hi) for lo, hi in split_range(0, size, parts)]
        for name, size in sizes.items()}

    variants = len(sizes) * (1 + len(counts))
    ticker = Ticker(progress, len(sizes) * len(counts) + variants * (repeats + 1))
    startup = _measure_startup(impls, counts, repeats, ticker)
    checks, timings, start_method = _measure(impls, jobs, sizes, counts, repeats, ticker)
    rows = _rows(sizes, counts, timings, startup)
    env = environment()
    return StepResult(
        step=2, title=TITLE,
        params={"n": n, "kernel_n": sizes.get(C_EXTENSION), "worker_counts": counts, "tasks": parts,
                "chunksize": 1, "repeats": repeats, "start_method": start_method},
        rows=rows, checks=checks, summary=_summary(rows, sizes),
        explanation=_explain(rows, counts, env["usable_cores"], start_method, parts, repeats), env=env,
        columns=("variant", "implementation", "workers", "n", "ms", "speedup", "efficiency", "vs serial",
                 "ns/elem", "start ms", "stop ms"),
        data={"startup_seconds": [{"implementation": key.implementation, "workers": key.workers,
                                   "open": up.open, "close": up.close} for key, up in startup.items()]},
    )


def _scaling_words(efficiency: float) -> str:
    if efficiency >= 0.9:
        return "close to linear"
    if efficiency >= 0.7:
        return "somewhat short of linear"
    return "far from linear"


def _explain(rows: list[Row], counts: list[int], cores: int, start_method: str, parts: int,
             repeats: int) -> list[str]:
    top = counts[-1]
    pool_rows = [r for r in rows if r.strategy == "pool"]
    best = {r.implementation: r for r in pool_rows if r.workers == top}
    parts_text = "; ".join(
        f"{impl} {r.speedup:.2f}x ({r.extra['efficiency']:.0%} efficiency)" for impl, r in best.items())
    worst_eff = min(r.extra["efficiency"] for r in best.values())
    lines = [
        f"With {top} workers Pool.map ran {parts_text} against one worker: {_scaling_words(worst_eff)}."
    ]
    if max(r.extra["efficiency"] for r in best.values()) > 1.05:
        lines[0] += (" Above 100% efficiency cannot come from the work itself: other load on this machine "
                     "slowed some runs, the one-worker ones more.")
    if top > cores:
        lines[0] += (f" Only {cores} core{'s' if cores != 1 else ''} can run at once here, so workers beyond "
                     "that take turns.")
    elif worst_eff < 0.97:
        lines[0] += (f" The {parts} tasks are independent and send back one integer each, so what is missing "
                     "went to overhead and to whatever else was using the cores.")
        spread = max(r.spread for r in pool_rows)
        if repeats > 1:
            lines[0] += f" Repeats disagreed by up to {spread:.0%}: read small differences as noise."
    ones = [r for r in pool_rows if r.workers == 1]
    ratios = "; ".join(f"{r.implementation} {1 / r.extra['vs serial']:.2f}x" for r in ones)
    if all(1 / r.extra["vs serial"] < 1.2 for r in ones):
        cost = "sending ranges and sums between processes costs little next to the work itself"
    else:
        cost = "at this size the per-task messages are a visible share of the work"
    lines.append(f"A pool of one worker took {ratios} the time of the in-process loop for {parts} tasks: {cost}.")
    big = max((r for r in pool_rows if r.workers == top), key=lambda r: r.extra["start ms"] / (r.seconds * 1000))
    share = big.extra["start ms"] / (big.seconds * 1000)
    share_text = f"{share:.0%} of" if share < 1 else f"{share:.1f}x the time of"
    lines.append(
        f"Opening a pool ({start_method!r} start method) and getting a first reply from every worker took "
        f"{big.extra['start ms']:.1f} ms for {top} workers and closing it {big.extra['stop ms']:.1f} ms, "
        f"{share_text} one {big.implementation} map of this job"
        + ("; at this size start-up dominates, so keep a pool open across many maps." if share >= 0.5 else
           "; a pool is worth keeping open across many maps when the maps are short."))
    return lines


#: Parameters for ``gilfree lab`` (DEFAULT), ``--quick`` (QUICK) and the tests (TINY).
DEFAULT: dict[str, Any] = {}
QUICK = {"n": 2_000_000, "kernel_scale": 50, "repeats": 3}
TINY = {"n": 20_000, "kernel_scale": 10, "repeats": 1, "workers": 2}
