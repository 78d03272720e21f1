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
from contextlib import ExitStack

from .._select import C_EXTENSION, PURE_PYTHON, implementations
from .._timing import environment, interleaved, usable_cores
from .._workers import call_packed
from ..chunked import split_range
from ..strategies import check_workers, open_executor
from ._result import Progress, Row, StepResult, no_progress

TITLE = "multiprocessing.Pool.map over worker counts"


def _expected(n: int) -> int:
    """The sum of ``i * i`` for ``i`` in ``range(n)``, in closed form."""
    return (n - 1) * n * (2 * n - 1) // 6


def worker_counts(top: int) -> list[int]:
    """1, 2, then powers of two up to ``top``, and ``top`` itself (always at least 1 and 2)."""
    top = max(2, check_workers(top))
    counts = {1, 2, top}
    w = 4
    while w < top:
        counts.add(w)
        w *= 2
    return sorted(counts)


def _startup(impl: str, w: int, repeats: int) -> tuple[float, float]:
    """Median seconds to open a pool of ``w`` and get every worker's first reply, and to close it."""
    opened, closed = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        with open_executor("pool", w) as executor:
            executor.pool.map(call_packed, [(impl, "sum_squares", 0, 0)] * w, chunksize=1)
            t1 = time.perf_counter()
            executor.shutdown(wait=True)
            t2 = time.perf_counter()
        opened.append(t1 - t0)
        closed.append(t2 - t1)
    return statistics.median(opened), statistics.median(closed)


def run(n: int = 8_000_000, workers: int | None = None, kernel_scale: int = 100, tasks: int | None = None,
        repeats: int = 5, progress: Progress = no_progress) -> StepResult:
    """Time ``Pool.map`` of ``sum_squares`` over ``tasks`` ranges on pools of 1 .. ``workers``.

    ``n`` is the range for pure Python; the compiled kernel gets ``n * kernel_scale``. ``tasks``
    defaults to four per worker of the largest pool, handed out one at a time (``chunksize=1``).
    """
    top = check_workers(workers if workers is not None else usable_cores())
    counts = worker_counts(top)
    if n < 1 or kernel_scale < 1 or repeats < 1:
        raise ValueError("n, kernel_scale and repeats must be >= 1")
    parts = tasks if tasks is not None else 4 * counts[-1]
    if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
        raise ValueError(f"tasks must be a positive int, got {tasks!r}")
    impls = implementations()
    sizes = {PURE_PYTHON: n}
    if C_EXTENSION in impls:
        sizes[C_EXTENSION] = n * kernel_scale
    jobs = {impl: [(impl, "sum_squares", lo, hi) for lo, hi in split_range(0, size, parts)]
            for impl, size in sizes.items()}

    total = len(sizes) * (len(counts) * (1 + (repeats + 1)) + repeats + 1)
    done = [0]

    def tick(label: str) -> None:
        done[0] += 1
        progress(done[0], total, label)

    startup = {}
    for impl in sizes:
        for w in counts:
            startup[(impl, w)] = _startup(impl, w, repeats)
            tick(f"start-up, {w} workers")

    checks: dict[str, bool] = {}
    with ExitStack() as stack:
        pools = {w: stack.enter_context(open_executor("pool", w)).pool for w in counts}
        start_method = multiprocessing.get_start_method()
        variants = {}
        for impl, jobs_of in jobs.items():
            kern = impls[impl].sum_squares
            variants[(impl, 0)] = lambda kern=kern, jobs_of=jobs_of: [kern(lo, hi) for _, _, lo, hi in jobs_of]
            for w in counts:
                variants[(impl, w)] = lambda pool=pools[w], jobs_of=jobs_of: pool.map(call_packed, jobs_of,
                                                                                      chunksize=1)

        def label(key: tuple[str, int]) -> str:
            impl, w = key
            return f"{impl}, " + ("serial" if w == 0 else f"Pool.map, {w} workers")

        for key, fn in variants.items():
            checks[f"{label(key)}: sum equals the closed form"] = sum(fn()) == _expected(sizes[key[0]])
            tick(label(key))

        def counted(key, fn):
            def wrapper():
                out = fn()
                tick(label(key))
                return out
            return wrapper

        timings = interleaved({key: counted(key, fn) for key, fn in variants.items()}, repeats=repeats,
                              warmup=0)

    rows = []
    for impl, size in sizes.items():
        serial = timings[(impl, 0)]
        rows.append(Row(
            variant="in-process reference", implementation=impl, strategy="serial", workers=1,
            seconds=serial.median, spread=serial.spread, cpu_seconds=serial.cpu_median, speedup=None,
            extra={"n": size, "vs serial": 1.0, "ns/elem": serial.median / size * 1e9},
        ))
        one = timings[(impl, 1)].median
        for w in counts:
            t = timings[(impl, w)]
            opened, closed = startup[(impl, w)]
            rows.append(Row(
                variant="Pool.map", implementation=impl, strategy="pool", workers=w,
                seconds=t.median, spread=t.spread, cpu_seconds=t.cpu_median, speedup=one / t.median,
                extra={"n": size, "efficiency": one / t.median / w, "vs serial": serial.median / t.median,
                       "ns/elem": t.median / size * 1e9, "start ms": opened * 1000, "stop ms": closed * 1000},
            ))

    summary = []
    for impl in sizes:
        mine = [r for r in rows if r.implementation == impl]
        summary.append(f"{impl}: serial {mine[0].seconds * 1000:.0f}ms, " + ", ".join(
            f"Pool({r.workers}) {r.seconds * 1000:.0f}ms ({r.speedup:.2f}x)" for r in mine[1:]))
    env = environment()
    return StepResult(
        step=2, title=TITLE,
        params={"n": n, "kernel_n": sizes.get(C_EXTENSION), "worker_counts": counts, "tasks": parts,
                "chunksize": 1, "repeats": repeats, "start_method": start_method},
        rows=rows, checks=checks, summary=summary,
        explanation=_explain(rows, counts, env["usable_cores"], start_method, parts, repeats), env=env,
        columns=("variant", "implementation", "workers", "n", "ms", "speedup", "efficiency", "vs serial",
                 "ns/elem", "start ms", "stop ms"),
        data={"startup_seconds": [{"implementation": impl, "workers": w, "open": o, "close": c}
                                  for (impl, w), (o, c) in startup.items()]},
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
DEFAULT: dict = {}
QUICK = {"n": 2_000_000, "kernel_scale": 50, "repeats": 3}
TINY = {"n": 20_000, "kernel_scale": 10, "repeats": 1, "workers": 2}
