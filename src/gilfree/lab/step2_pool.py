"""Step 2: ``multiprocessing.Pool.map`` over worker counts, and what a pool costs to open.

One CPU-bound job, the exact sum of ``i * i`` over ``[0, n)``, cut into equal ranges and handed
to ``Pool.map`` on pools of 1, 2, 4, ... workers up to the core count, beside the same ranges
summed in a plain in-process loop (the serial reference). The timed maps run on pools opened
beforehand; start-up (open a pool, get every worker's first reply) and shut-down are timed on
fresh pools of their own.

Every ratio says what it is against: the in-process loop (``speedup``), or ``Pool.map`` on one
worker (``vs Pool(1)`` and ``efficiency``: how the pool scales with its own overheads included).
The words come from the figures (:mod:`gilfree.figures`): scaling words only for a gain beyond
the repeats' spread, a gain above the ideal called out, the advice to repeat otherwise.
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

from .._checks import check_count
from .._load import NOISY_SPREAD
from .._select import C_EXTENSION, Implementation
from .._timing import environment, usable_cores
from ..chunked import split_range
from ..experiment import Experiment, Measured, Variant
from ..figures import Timed, above_ideal, beyond_noise, ms, noise_of, plural, repeat_advice, versus, x
from ..mp_pool import GuardedPool
from ..strategies import check_workers, open_executor
from ._plan import chosen_implementations, guarded_pool, measured_row, scaled, step_result, sum_of_squares_below, \
    worker_count
from ._result import Progress, Row, StepResult, no_progress
from ._tasks import call_packed

TITLE = "multiprocessing.Pool.map over worker counts"

LOOP = "in-process reference"
MAP = "Pool.map"
#: Untimed calls of each start-up variant before the timed ones (their notes are dropped).
WARMUP = 1

#: One task for ``call_packed``: the kernel and the range ``[lo, hi)`` it sums.
Task = tuple[Callable[[int, int], int], int, int]


def worker_counts(top: int) -> list[int]:
    """1, 2, then powers of two up to ``top``, and ``top`` itself (always at least 1 and 2)."""
    top = max(2, check_workers(top))
    counts = {1, 2, top}
    w = 4
    while w < top:
        counts.add(w)
        w *= 2
    return sorted(counts)


# -- what to run ---------------------------------------------------------------------------

@dataclass
class PoolLife:
    """Open a pool of ``workers``, get every worker's first reply (an empty call), close it.

    The runner times the whole life; each call also notes how long opening and closing took,
    so that the step can report both halves (the warm-up call's notes are dropped).
    """

    kernel: Callable[..., int]
    workers: int
    opened: list[float] = field(default_factory=list)
    closed: list[float] = field(default_factory=list)

    def __call__(self) -> list[int]:
        t0 = time.perf_counter()
        with open_executor("pool", self.workers) as executor:
            replies: list[int] = guarded_pool(executor).map(
                call_packed, [(self.kernel, 0, 0)] * self.workers, chunksize=1)
            t1 = time.perf_counter()
            executor.shutdown(wait=True)
            t2 = time.perf_counter()
        self.opened.append(t1 - t0)
        self.closed.append(t2 - t1)
        return replies

    def medians(self, warmup: int) -> tuple[float, float]:
        """Median seconds to open and to close, over the timed calls."""
        return statistics.median(self.opened[warmup:]), statistics.median(self.closed[warmup:])


def _life_variants(lives: Mapping[tuple[str, int], PoolLife]) -> list[Variant]:
    return [Variant(f"{name}, start-up, {plural(w, 'worker', 'workers')}", life) for (name, w), life in lives.items()]


def _map_variants(impls: Mapping[str, Implementation], sizes: Mapping[str, int], parts: int,
                  pools: Mapping[int, GuardedPool]) -> list[Variant]:
    """Each implementation's job in a plain loop, and through ``Pool.map`` on every pool."""
    variants = []
    for name, size in sizes.items():
        kern = impls[name].sum_squares
        tasks: list[Task] = [(kern, lo, hi) for lo, hi in split_range(0, size, parts)]
        right = partial(_sums_to, sum_of_squares_below(size))
        tags = {"implementation": name, "elements": size, "tasks": len(tasks)}
        variants.append(Variant(f"{name}, serial", partial(_in_process, kern, tasks), check=right,
                                tags={**tags, "variant": LOOP, "strategy": "serial", "workers": 1}))
        variants += [Variant(f"{name}, Pool.map, {plural(w, 'worker', 'workers')}",
                             partial(pool.map, call_packed, tasks, chunksize=1), check=right,
                             tags={**tags, "variant": MAP, "strategy": "pool", "workers": w})
                     for w, pool in pools.items()]
    return variants


def _in_process(kern: Callable[[int, int], int], tasks: list[Task]) -> list[int]:
    return [kern(lo, hi) for _, lo, hi in tasks]


def _sums_to(expected: int, sums: list[int]) -> bool:
    return sum(sums) == expected


# -- the figures the words rest on ---------------------------------------------------------

@dataclass(frozen=True)
class Pooled:
    """One implementation's figures: the in-process loop, ``Pool.map`` on each pool, a pool's life."""

    implementation: str
    serial: Timed
    maps: Mapping[int, Timed]
    #: Median seconds to open a pool of ``w`` and get every worker's first reply, and to close it.
    opened: Mapping[int, float] = field(default_factory=dict)
    closed: Mapping[int, float] = field(default_factory=dict)

    def vs_one(self, w: int) -> float:
        """``Pool.map`` on ``w`` workers against ``Pool.map`` on one (Pool(1) time over its time)."""
        return self.maps[1].seconds / self.maps[w].seconds

    def vs_loop(self, w: int) -> float:
        """``Pool.map`` on ``w`` workers against the in-process loop (loop time over its time)."""
        return self.serial.seconds / self.maps[w].seconds


@dataclass(frozen=True)
class Figures:
    """What step 2's explanation reads: the cores, the job's task count, the start method, each implementation."""

    cores: int
    tasks: int
    start_method: str
    pooled: tuple[Pooled, ...]

    @property
    def top(self) -> int:
        return max(self.pooled[0].maps)

    @property
    def ideal(self) -> int:
        """The best ``top`` workers can do against one here: one per core at most."""
        return max(1, min(self.top, self.cores))


def _figures(measured: Mapping[str, Measured], lives: Mapping[tuple[str, int], PoolLife], cores: int,
             start_method: str) -> Figures:
    pooled = []
    for impl in dict.fromkeys(m.tags["implementation"] for m in measured.values()):
        mine = [m for m in measured.values() if m.tags["implementation"] == impl]
        halves = {w: life.medians(WARMUP) for (name, w), life in lives.items() if name == impl}
        pooled.append(Pooled(impl, next(Timed.of(m) for m in mine if m.tags["variant"] == LOOP),
                             {m.tags["workers"]: Timed.of(m) for m in mine if m.tags["variant"] == MAP},
                             {w: h[0] for w, h in halves.items()}, {w: h[1] for w, h in halves.items()}))
    return Figures(cores, next(iter(measured.values())).tags["tasks"], start_method, tuple(pooled))


# -- the step ------------------------------------------------------------------------------

def _rows(measured: Mapping[str, Measured], f: Figures) -> list[Row]:
    """Speedup against the in-process loop; vs Pool(1) and efficiency against one pool worker."""
    rows = []
    pooled = {p.implementation: p for p in f.pooled}
    for m in measured.values():
        p, w, elements = pooled[m.tags["implementation"]], m.tags["workers"], m.tags["elements"]
        extra: dict[str, Any] = {"n": elements, "ns/elem": m.seconds / elements * 1e9}
        if m.tags["variant"] == MAP:
            extra.update({"vs Pool(1)": p.vs_one(w), "efficiency": p.vs_one(w) / w,
                          "start ms": p.opened[w] * 1000, "stop ms": p.closed[w] * 1000})
        rows.append(measured_row(m, p.serial.seconds / m.seconds, extra))
    return rows


def _summary(f: Figures) -> list[str]:
    lines = ["Speedup column: against the in-process loop (serial).",
             "vs Pool(1) and efficiency columns: against Pool.map on 1 worker."]
    for p in f.pooled:
        lines.append(f"{p.implementation}, against the in-process loop ({ms(p.serial.seconds)}): " + ", ".join(
            f"Pool({w}) {ms(t.seconds)} {x(p.vs_loop(w))}" for w, t in sorted(p.maps.items())))
    return lines


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

    ex = Experiment(progress)
    lives = {(name, w): PoolLife(impl.sum_squares, w) for name, impl in impls.items() for w in counts}
    ex.measure(_life_variants(lives), repeats=repeats, warmup=WARMUP)
    with ExitStack() as stack:
        pools = {w: guarded_pool(stack.enter_context(open_executor("pool", w))) for w in counts}
        start_method = multiprocessing.get_start_method()
        measured = ex.measure(_map_variants(impls, sizes, parts, pools), repeats=repeats)
    env = environment()
    figures = _figures(measured, lives, env["usable_cores"], start_method)
    return step_result(
        ex, step=2, title=TITLE,
        params={"n": n, "kernel_n": sizes.get(C_EXTENSION), "worker_counts": counts, "tasks": parts,
                "chunksize": 1, "repeats": repeats, "start_method": start_method},
        rows=_rows(measured, figures), summary=_summary(figures), explanation=explain(figures), env=env,
        columns=("variant", "implementation", "workers", "n", "ms", "speedup", "vs Pool(1)", "efficiency",
                 "ns/elem", "start ms", "stop ms"),
        data={"startup_seconds": [{"implementation": p.implementation, "workers": w, "open": p.opened[w],
                                   "close": p.closed[w]} for p in figures.pooled for w in sorted(p.opened)]})


# -- what it means -------------------------------------------------------------------------

def explain(f: Figures) -> list[str]:
    """Three paragraphs: scaling against one pool worker, the pool against the loop, a pool's start-up."""
    return [_scaling_words(f), _loop_words(f), _startup_words(f)]


def _linear(efficiency: float) -> str:
    if efficiency >= 0.9:
        return "close to linear"
    if efficiency >= 0.7:
        return "somewhat short of linear"
    return "far from linear"


#: What ratios resting on one repeat get instead of a verdict (:func:`gilfree.figures.gap` says "unknown").
ONE_REPEAT = "one repeat gives no spread to judge them by; repeat the run with more repeats"


def _one_repeat(*timed: Timed) -> bool:
    """Whether any of these figures rests on one repeat: then no gap between them can be judged."""
    return any(t.repeats is not None and t.repeats < 2 for t in timed)


def _scaling_of(p: Pooled, top: int, ideal: int) -> tuple[str, str, str]:
    """One implementation's Pool(top) against Pool(1): its figure (with its share of the ideal when that is
    a gain beyond the noise), the sentence for a gain above the ideal, and the doubt to report."""
    s, noise = p.vs_one(top), noise_of(p.maps[1].spread, p.maps[top].spread)
    said = f"{x(s)} for {p.implementation}"
    if _one_repeat(p.maps[1], p.maps[top]):
        above = "" if s <= ideal or x(s) == x(ideal) else (
            f" For {p.implementation}, {x(s)} is above the ideal {x(ideal)}, and one repeat gives no spread to tell "
            "noise from a cache effect.")
        return said, above, ""
    if above_ideal(s, ideal, noise) is not None:
        return said, f" For {p.implementation}, {above_ideal(s, ideal, noise)}.", ""
    if ideal > 1 and beyond_noise(s, noise):
        return f"{said} ({s / ideal:.0%} of the ideal {x(ideal)}: {_linear(s / ideal)})", "", ""
    if ideal > 1:
        return said, "", f"Pool.map on {top} workers was {versus(s, noise, 'Pool(1)')} for {p.implementation}"
    return said, "", ""


def _scaling_words(f: Figures) -> str:
    top, ideal = f.top, f.ideal
    parts, above, unclear = zip(*(_scaling_of(p, top, ideal) for p in f.pooled))
    line = f"Against Pool.map on 1 worker, Pool.map on {top} workers ran " + " and ".join(parts) + "."
    if top > f.cores:
        line += (f" Only {plural(f.cores, 'core', 'cores')} can run at once here, so {top} workers can reach "
                 f"{x(ideal)} against 1 at best.")
    line += "".join(above)
    if any(_one_repeat(p.maps[1], p.maps[top]) for p in f.pooled):
        line += f" {_cap(ONE_REPEAT)}."
    doubts = [d for d in unclear if d]
    if doubts:
        line += " " + repeat_advice("; ".join(doubts))
    return line


def _loop_words(f: Figures) -> str:
    """Pool(1) against the loop (a time ratio: the pool's own cost), then the top pool against it (a speedup)."""
    costs, visible, odd, noises = [], [], [], []
    for p in f.pooled:
        t, noise = p.maps[1].seconds / p.serial.seconds, noise_of(p.maps[1].spread, p.serial.spread)
        costs.append(f"{x(t)} the time of the loop for {p.implementation}")
        noises.append(noise)
        if beyond_noise(t, noise):
            visible.append(f"{p.implementation} (beyond the repeats' spread, {noise:.0%})")
        elif beyond_noise(1 / t, noise):
            odd.append(f"Pool.map on 1 worker beat the loop it hands the same work to for {p.implementation}")
    line = f"Pool.map on 1 worker took {' and '.join(costs)}, for the same {plural(f.tasks, 'task', 'tasks')}"
    if _one_repeat(*(t for p in f.pooled for t in (p.serial, *p.maps.values()))):
        return f"{line}. {_against_loop(f)} {_cap(ONE_REPEAT)}."
    if visible:
        line += (f": handing the tasks to another process and back is a visible share of the work for "
                 f"{' and '.join(visible)}.")
        if odd:
            line += " " + repeat_advice("; ".join(odd))
    elif odd:
        line = repeat_advice(line + "; " + "; ".join(odd))
    elif max(noises) > NOISY_SPREAD:  # "within the spread" of repeats this far apart says nothing
        line = repeat_advice(f"{line}, within repeats that disagreed by up to {max(noises):.0%}")
    else:
        line += ": within the repeats' spread, so handing them to a worker process and back costs little next to "
        line += "the work."
    return line + " " + _pool_vs_loop(f)


def _against_loop(f: Figures) -> str:
    """The top pool's speedups against the in-process loop, as one sentence of figures."""
    return f"Against the in-process loop, Pool.map on {f.top} workers ran " + " and ".join(
        f"{x(p.vs_loop(f.top))} for {p.implementation}" for p in f.pooled) + "."


def _pool_vs_loop(f: Figures) -> str:
    """The top pool against the in-process loop; slower than the loop is said, with its reason only if seen."""
    top = f.top
    line = _against_loop(f)
    for p in f.pooled:
        if not beyond_noise(1 / p.vs_loop(top), noise_of(p.serial.spread, p.maps[top].spread)):
            continue
        cost, gain = p.maps[1].seconds / p.serial.seconds, p.vs_one(top)
        costly = beyond_noise(cost, noise_of(p.maps[1].spread, p.serial.spread))
        gained = beyond_noise(gain, noise_of(p.maps[1].spread, p.maps[top].spread))
        slower = f"for {p.implementation}, Pool.map on {top} workers was slower than the loop"
        if costly and (gained or f.ideal == 1):
            line += (f" {_cap(slower)}: its cost on 1 worker ({x(cost)} the loop's time) outweighed what {top} "
                     f"workers made up against 1 ({x(gain)}).")
        elif costly:
            line += " " + repeat_advice(f"{slower}, and {top} workers gained nothing against 1 beyond the repeats' "
                                        f"spread ({x(gain)})")
        else:
            line += " " + repeat_advice(f"{slower}, though on 1 worker it cost no more than the loop beyond the "
                                        "repeats' spread")
    return line


def _startup_words(f: Figures) -> str:
    """A fresh pool's life against one map of the job on a pool already open: the case for keeping pools open."""
    top = f.top
    lives = [p for p in f.pooled if top in p.opened]
    if not lives:
        return "Pool start-up was not measured."
    p = max(lives, key=lambda q: (q.opened[top] + q.closed[top]) / q.maps[top].seconds)
    life = p.opened[top] + p.closed[top]
    share = life / p.maps[top].seconds
    line = (f"Opening a pool of {top} workers ({f.start_method!r} start method) and getting every worker's first "
            f"reply took {ms(p.opened[top])}, closing it {ms(p.closed[top])}: a fresh pool for each map would add "
            f"{x(share)} the time of one {p.implementation} Pool.map of this job on an open pool "
            f"({ms(p.maps[top].seconds)})")
    if share >= 0.5:
        return line + "; at this size, keep one pool open across many maps."
    return line + "; a pool is worth keeping open across many maps when the maps are short."


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


#: Parameters for ``gilfree lab`` (DEFAULT), ``--quick`` (QUICK) and the tests (TINY).
DEFAULT: dict[str, Any] = {}
QUICK = {"n": 2_000_000, "kernel_scale": 50, "repeats": 3}
TINY = {"n": 20_000, "kernel_scale": 10, "repeats": 1, "workers": 2}
