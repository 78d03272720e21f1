"""Step 3: ``Pool.map`` vs ``starmap`` vs ``imap`` vs ``imap_unordered``, and what chunksize does.

The same tasks go through the four calls of one ``multiprocessing.Pool``. Every task carries its
index and its result comes back tagged with it, so the order in which results reached the parent
can be recorded and the results put back in place before they are checked:

* ``map`` and ``starmap`` return one list when everything is done (``starmap`` unpacks each tuple
  into several arguments, ``map`` passes it whole); ``imap`` yields results in submission order as
  soon as each is ready; ``imap_unordered`` yields them in the order they finish.
* "uneven" tasks count primes over equal-width ranges (a later range costs more), submitted
  heaviest and lightest alternately, so finishing order differs from submission order.
* "many small" tasks are tiny Monte Carlo slices, so the cost of one round trip per chunk shows
  and ``chunksize`` decides the time.

The module reads top-down: the records (tasks, jobs, plans), what runs (``run``), then what the
figures mean (the ``*_words`` functions take small figure records, so tests can hand-pick them).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, Callable

from .._checks import check_count, check_seed
from .._select import Implementation
from .._timing import usable_cores
from ..chunked import split_range
from ..experiment import Checks, Experiment, Measured, Variant
from ..figures import (MIN_NOISE, SHORT_TASK_SECONDS, Timed, above_ideal, gap, judged, ms, noise_of, plural, ratio,
                       repeat_advice, span, time_ratio, x)
from ..mp_pool import GuardedPool
from ..strategies import check_workers, open_executor
from ._common import main_implementation
from ._order import interleave_heavy_light, overtaken
from ._plan import chosen_implementations, guarded_pool, measured_row, scaled, step_result, worker_count
from ._result import Progress, Row, StepResult, no_progress
from ._tasks import indexed_call, indexed_packed

TITLE = "Pool.map vs starmap vs imap vs imap_unordered"

APIS = ("map", "starmap", "imap", "imap_unordered")
#: The APIs that hand results back in submission order.
ORDERED = ("map", "starmap", "imap")
SERIAL = "serial"
UNEVEN = "uneven"
SMALL = "many small"


# -- what runs -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Params:
    """The step's checked parameters (see :func:`run`)."""

    n: int
    tasks: int
    small_tasks: int
    small_samples: int
    kernel_scale: int
    seed: int
    workers: int
    repeats: int


@dataclass(frozen=True)
class Task:
    """One task: its index in submission order, the kernel, and the kernel's arguments."""

    index: int
    kernel: Callable[..., int]
    args: tuple[int, ...]

    def packed(self) -> tuple[Any, ...]:
        """The form the Pool calls take, ``(index, kernel, *args)``: starmap unpacks it, the others pass it whole."""
        return (self.index, self.kernel, *self.args)


@dataclass(frozen=True, eq=False)
class Job:
    """One workload on one implementation: its tasks, the range each covers, and one call over the
    whole range that the serial results must add up to."""

    workload: str
    implementation: str
    tasks: list[Task]
    ranges: list[tuple[int, int]]
    whole: Callable[[], int]

    @property
    def name(self) -> str:
        return f"{self.workload}, {self.implementation}"

    def serial(self) -> list[int]:
        return [task.kernel(*task.args) for task in self.tasks]


@dataclass(frozen=True)
class Arrived:
    """One call of a variant: results in task order, task indices in arrival order, seconds to the first."""

    values: list[int]
    order: list[int]
    first: float


@dataclass(eq=False)
class Plan:
    """One variant: a job run serially or through one Pool call at one chunksize, and what it did."""

    job: Job
    api: str  # SERIAL or one of APIS
    chunksize: int | None = None  # None for SERIAL
    runs: list[Arrived] = field(default_factory=list)  # every call: the warm-up first
    measured: Measured | None = None

    @property
    def name(self) -> str:
        return f"{self.job.name}, {self.api}" + ("" if self.chunksize is None else f", chunksize {self.chunksize}")

    @property
    def pooled(self) -> bool:
        return self.api != SERIAL

    def tags(self, workers: int) -> dict[str, Any]:
        return {"variant": f"{self.job.workload}: {self.api}", "implementation": self.job.implementation,
                "strategy": "pool" if self.pooled else "serial", "workers": workers if self.pooled else 1}

    def time(self) -> Timed:
        if self.measured is None:
            raise ValueError(f"{self.name} was not measured")
        return Timed.of(self.measured)

    def first(self) -> Timed:
        """Seconds to the first result over the timed calls (the warm-up's alone if none was timed)."""
        return Timed.from_samples([a.first for a in self.runs[1:]] or [self.runs[0].first])


def chunksizes(tasks: int, workers: int) -> list[int]:
    """1, the geometric middle, and ``tasks // workers`` (an even split), without repeats."""
    top = max(1, tasks // check_workers(workers))
    return sorted({1, max(1, round(math.sqrt(top))), top})


def _checked(n: object, tasks: object, small_tasks: object, small_samples: object, kernel_scale: object,
             seed: object, workers: object, repeats: object) -> Params:
    k = worker_count(workers, max(2, usable_cores()))
    counts = {name: check_count(value, name) for name, value in (
        ("n", n), ("tasks", tasks), ("small_tasks", small_tasks), ("small_samples", small_samples),
        ("kernel_scale", kernel_scale), ("repeats", repeats))}
    if counts["n"] < counts["tasks"]:
        raise ValueError(f"n must be at least tasks ({tasks}), got {n}")
    return Params(seed=check_seed(seed), workers=k, **counts)


def _jobs(impls: Mapping[str, Implementation], p: Params) -> list[Job]:
    """Uneven prime counts and many small Monte Carlo slices, for every implementation."""
    jobs = []
    for name, impl in impls.items():
        top = scaled(name, p.n, p.kernel_scale)
        ranges = interleave_heavy_light(split_range(0, top, p.tasks))
        jobs.append(Job(UNEVEN, name, [Task(i, impl.count_primes, r) for i, r in enumerate(ranges)], ranges,
                        partial(impl.count_primes, 0, top)))
        size = scaled(name, p.small_samples, p.kernel_scale)
        ranges = [(i * size, (i + 1) * size) for i in range(p.small_tasks)]
        jobs.append(Job(SMALL, name, [Task(i, impl.monte_carlo_hits, (*r, p.seed)) for i, r in enumerate(ranges)],
                        ranges, partial(impl.monte_carlo_hits, 0, p.small_tasks * size, p.seed)))
    return jobs


def _plans(jobs: list[Job], sizes: Mapping[str, list[int]]) -> list[Plan]:
    """For every job, its serial run first, then every Pool call at every chunksize."""
    return [plan for job in jobs for plan in
            [Plan(job, SERIAL)] + [Plan(job, api, cs) for api in APIS for cs in sizes[job.workload]]]


def _pool_call(pool: GuardedPool, api: str, tasks: list[tuple[Any, ...]],
               chunksize: int) -> Iterable[tuple[int, Any]]:
    if api == "starmap":
        return pool.starmap(indexed_call, tasks, chunksize=chunksize)
    calls = {"map": pool.map, "imap": pool.imap, "imap_unordered": pool.imap_unordered}
    if api not in calls:
        raise ValueError(f"api must be one of {APIS}, got {api!r}")
    return calls[api](indexed_packed, tasks, chunksize=chunksize)


def _call(plan: Plan, pool: GuardedPool) -> Arrived:
    """Run the plan once; results put back in task order, with the order they arrived in."""
    t0 = time.perf_counter()
    if not plan.pooled:
        values = plan.job.serial()
        return Arrived(values, list(range(len(values))), time.perf_counter() - t0)
    assert plan.chunksize is not None
    first: float | None = None
    pairs = []
    for pair in _pool_call(pool, plan.api, [task.packed() for task in plan.job.tasks], plan.chunksize):
        first = time.perf_counter() - t0 if first is None else first
        pairs.append(pair)
    values = [value for _, value in sorted(pairs, key=lambda pair: pair[0])]
    return Arrived(values, [index for index, _ in pairs], time.perf_counter() - t0 if first is None else first)


def _reference(ex: Experiment, job: Job) -> list[int]:
    """The job's serial results, checked against one call over the whole range."""
    values = ex.step(f"{job.name}: reference", job.serial)
    ex.checks.add(f"{job.name}: reference", len(values) == len(job.tasks) and sum(values) == job.whole(),
                  f"{job.name}: the serial results add up to one call over the whole range")
    return values


def _check(plan: Plan, got: Arrived, reference: list[int], checks: Checks) -> bool:
    """Every task answered once, in submission order where the API promises it; results equal the reference."""
    if not plan.pooled:
        return got.values == reference
    impl_api = f"{plan.job.implementation}, {plan.api}"
    once = checks.add(f"{impl_api}: every task answered once", sorted(got.order) == list(range(len(reference))),
                      f"{impl_api}: every task's result arrived exactly once")
    ordered = plan.api not in ORDERED or checks.add(
        f"{impl_api}: submission order", got.order == list(range(len(reference))),
        f"{impl_api}: results arrived in submission order, as the API promises")
    return once and ordered and got.values == reference


def _variant(plan: Plan, pool: GuardedPool, reference: list[int], checks: Checks, workers: int) -> Variant:
    def call() -> Arrived:
        got = _call(plan, pool)
        plan.runs.append(got)
        return got
    return Variant(plan.name, call, check=lambda got: _check(plan, got, reference, checks), tags=plan.tags(workers))


def _measure(ex: Experiment, jobs: list[Job], plans: list[Plan], p: Params) -> None:
    references = {job.name: _reference(ex, job) for job in jobs}
    with open_executor("pool", p.workers) as executor:
        pool = guarded_pool(executor)
        variants = [_variant(plan, pool, references[plan.job.name], ex.checks, p.workers) for plan in plans]
        measured = ex.measure(variants, repeats=p.repeats, cpu="tree")
    for plan in plans:
        plan.measured = measured[plan.name]


def run(n: int = 200_000, tasks: int = 16, small_tasks: int = 2_000, small_samples: int = 20,
        kernel_scale: int = 10, seed: int = 8, workers: int | None = None, repeats: int = 3,
        progress: Progress = no_progress,
        implementations: Mapping[str, Implementation] | None = None) -> StepResult:
    """Run both workloads through the four Pool calls at a few chunksizes, on one pool.

    Pure Python counts primes below ``n`` in ``tasks`` ranges and draws ``small_samples`` points
    per small task; the compiled kernel gets ``kernel_scale`` times both. ``implementations``
    (default: every one that imports here) decides whether the compiled twin runs.
    """
    p = _checked(n, tasks, small_tasks, small_samples, kernel_scale, seed, workers, repeats)
    impls = chosen_implementations(implementations)
    shown = main_implementation(impls)
    sizes = {UNEVEN: chunksizes(p.tasks, p.workers), SMALL: chunksizes(p.small_tasks, p.workers)}
    jobs = _jobs(impls, p)
    plans = _plans(jobs, sizes)
    ex = Experiment(progress)
    _measure(ex, jobs, plans, p)

    explanation = [order_words(_order_figures(plans, shown, ex.checks.ok)),
                   chunksize_words([_chunk_figures(plans, name) for name in impls]),
                   uneven_words(_uneven_figures(plans, shown, p.workers, usable_cores()))]
    return step_result(
        ex, step=3, title=TITLE, params={**asdict(p), "chunksizes": dict(sizes)},
        rows=[_row(plan, plans) for plan in plans], summary=_summary(plans, shown),
        explanation=explanation, data=_data(jobs, plans),
        columns=("variant", "implementation", "chunksize", "tasks", "ms", "speedup", "us/task",
                 "first result ms", "overtaken", "arrival"))


# -- rows, summary, data ---------------------------------------------------------------------

def _pick(plans: Sequence[Plan], implementation: str, workload: str, api: str, chunksize: int | None) -> Plan:
    return next(plan for plan in plans if plan.job.implementation == implementation
                and plan.job.workload == workload and plan.api == api and plan.chunksize == chunksize)


def _row(plan: Plan, plans: Sequence[Plan]) -> Row:
    """The plan's row: its speedup against the serial run of the same job, and what arrived when."""
    assert plan.measured is not None
    serial = _pick(plans, plan.job.implementation, plan.job.workload, SERIAL, None).time()
    count = len(plan.job.tasks)
    extra: dict[str, Any] = {"tasks": count, "us/task": plan.measured.seconds / count * 1e6}
    if plan.pooled:
        first, order = plan.first(), plan.runs[0].order
        extra.update({"chunksize": plan.chunksize, "first result ms": first.seconds * 1000,
                      "first result spread": first.spread, "overtaken": overtaken(order),
                      "arrival": " ".join(map(str, order[:8])) + (" ..." if count > 8 else "")})
    return measured_row(plan.measured, serial.seconds / plan.measured.seconds, extra)


def _summary(plans: Sequence[Plan], shown: str) -> list[str]:
    return ["Speedup column: each row against the serial row of its own workload and implementation "
            "(serial time over its time)."] + [
        f"{api:<15} ({shown}, chunksize 1): task indices in arrival order "
        + " ".join(map(str, _pick(plans, shown, UNEVEN, api, 1).runs[0].order)) for api in APIS]


def _data(jobs: list[Job], plans: list[Plan]) -> dict[str, Any]:
    return {
        "uneven_ranges": {job.implementation: [list(r) for r in job.ranges] for job in jobs if job.workload == UNEVEN},
        "arrivals": [{"workload": plan.job.workload, "implementation": plan.job.implementation, "api": plan.api,
                      "chunksize": plan.chunksize, "orders": [run.order[:32] for run in plan.runs],
                      "overtaken": [overtaken(run.order) for run in plan.runs]}
                     for plan in plans if plan.pooled],
    }


# -- what the figures mean -------------------------------------------------------------------

@dataclass(frozen=True)
class OrderFigures:
    """The uneven tasks at chunksize 1 on one implementation: how their results came back."""

    implementation: str
    tasks: int
    overtaken: int  # results imap_unordered handed over after a later-submitted one (its first run)
    first: Mapping[str, Timed]  # seconds to the first result, by API
    imap_chunk: tuple[int, Timed] | None = None  # imap's first result at a middle chunksize
    all_right: bool = True  # every variant's results equalled the serial reference


def _order_figures(plans: Sequence[Plan], impl: str, all_right: bool) -> OrderFigures:
    sizes = sorted({plan.chunksize for plan in plans if plan.job.workload == UNEVEN and plan.chunksize})
    mid = sizes[1] if len(sizes) > 1 else None
    unordered = _pick(plans, impl, UNEVEN, "imap_unordered", 1)
    return OrderFigures(impl, len(unordered.job.tasks), overtaken(unordered.runs[0].order),
                        {api: _pick(plans, impl, UNEVEN, api, 1).first() for api in APIS},
                        None if mid is None else (mid, _pick(plans, impl, UNEVEN, "imap", mid).first()), all_right)


def order_words(f: OrderFigures) -> str:
    """When each API hands over its first result, and in what order the uneven tasks arrived."""
    un, im, mp = f.first["imap_unordered"], f.first["imap"], f.first["map"]
    if f.overtaken:
        arrived = (f"with imap_unordered, {f.overtaken} of {f.tasks} results arrived after a later-submitted "
                   "task's, as it hands results over when tasks finish")
    else:
        arrived = ("with imap_unordered, no result arrived after a later-submitted task's: in this run the "
                   "tasks finished in the order they were submitted")
    chunk = "" if f.imap_chunk is None else (
        f"; at chunksize {f.imap_chunk[0]}, after {ms(f.imap_chunk[1].seconds)}, when its whole first chunk was")
    sorted_back = ("Sorted back by index, every variant equals the serial results." if f.all_right else
                   "Sorted back by index, some variants did NOT equal the serial results: see the failed checks.")
    return (f"Uneven tasks ({f.implementation}, chunksize 1): {arrived}. With imap they come in submission order "
            f"(the first after {ms(im.seconds)}, when task 0 was done{chunk}), and with map as one list when all "
            f"are done. {_first_versus_all(un, mp)} {sorted_back}")


def _first_versus_all(un: Timed, mp: Timed) -> str:
    """imap_unordered's first result against map's whole list."""
    said = (f"The first result of imap_unordered came after {ms(un.seconds)} and map's whole list after "
            f"{ms(mp.seconds)}: {time_ratio(un, mp, 'the whole list')}, {judged(un, mp)}")
    verdict = gap(un, mp)
    if verdict == "same" and noise_of(un.spread, mp.spread) > MIN_NOISE:
        return (f"{said}: the repeats disagree too much to tell whether imap_unordered's first result came "
                "sooner; repeat the run.")
    if verdict == "same":
        return f"{said}: in this run imap_unordered brought no result sooner."
    if verdict == "longer":
        return f"{said}. " + repeat_advice("the whole list came before the first result")
    return f"{said}."


@dataclass(frozen=True)
class ChunkFigures:
    """Many small tasks through ``map`` on one implementation, at the smallest and the largest chunksize."""

    implementation: str
    tasks: int
    small: int
    small_time: Timed
    large: int
    large_time: Timed


def _chunk_figures(plans: Sequence[Plan], impl: str) -> ChunkFigures:
    sizes = sorted({plan.chunksize for plan in plans if plan.job.workload == SMALL and plan.chunksize})
    small, large = _pick(plans, impl, SMALL, "map", sizes[0]), _pick(plans, impl, SMALL, "map", sizes[-1])
    return ChunkFigures(impl, len(small.job.tasks), sizes[0], small.time(), sizes[-1], large.time())


def chunksize_words(figs: Sequence[ChunkFigures]) -> str:
    """What the largest chunksize did to many tiny tasks against the smallest, beyond the repeats' spread."""
    lo, hi, count = figs[0].small, figs[0].large, figs[0].tasks
    if lo == hi:
        return f"{count:,} tiny tasks through map ran at chunksize {lo} alone: there was no larger chunk to try."
    parts = [f"{f.implementation} {ms(f.small_time.seconds)} at chunksize {lo} and {ms(f.large_time.seconds)} at "
             f"{hi}, a speedup of {ratio(f.small_time.seconds / f.large_time.seconds, f'chunksize {lo}')} "
             f"({judged(f.large_time, f.small_time)})" for f in figs]
    text = f"{count:,} tiny tasks through map: " + "; ".join(parts) + ". "
    gained = [f for f in figs if gap(f.large_time, f.small_time) == "shorter"]
    if not gained:
        if all(gap(f.large_time, f.small_time) == "unknown" for f in figs):
            return text + "Run with more repeats to tell whether larger chunks helped."
        return text + repeat_advice("larger chunks gained nothing beyond the spread of the repeats")
    fast = gained[-1]
    text += (f"For {fast.implementation} a task cost {ms(fast.small_time.seconds / count)} at chunksize "
             f"{lo} and {ms(fast.large_time.seconds / count)} at {hi}: every chunk is a round trip between "
             "processes, so the smaller the task, the more chunksize decides.")
    missed = [f.implementation for f in figs if f not in gained]
    if missed:
        text += f" For {' and '.join(missed)} larger chunks gained nothing beyond the spread of the repeats."
    return text


@dataclass(frozen=True)
class UnevenFigures:
    """The uneven tasks on one implementation: chunksizes, starmap against map, and every call against serial."""

    implementation: str
    workers: int
    cores: int  # usable cores: at most this many workers run at once
    tasks: int
    serial: Timed
    map_one: Timed  # map at chunksize 1
    starmap_one: Timed  # starmap at chunksize 1
    split: tuple[int, Timed] | None  # map at one chunk per worker (None when that is chunksize 1)
    pool: Mapping[str, Timed]  # every Pool call, by "<api> at chunksize <n>"

    @property
    def ideal(self) -> int:
        """The best speedup against serial ``workers`` can reach here: one per core at most."""
        return max(1, min(self.workers, self.cores))

    @property
    def on_workers(self) -> str:
        """``on 2 workers``, or ``on 4 workers (2 cores)`` when the cores are fewer."""
        on = f"on {plural(self.workers, 'worker', 'workers')}"
        return on if self.workers <= self.cores else f"{on} ({plural(self.cores, 'core', 'cores')})"


def _uneven_figures(plans: Sequence[Plan], impl: str, workers: int, cores: int) -> UnevenFigures:
    mine = [plan for plan in plans if plan.job.implementation == impl and plan.job.workload == UNEVEN]
    top = max(plan.chunksize or 1 for plan in mine)
    return UnevenFigures(
        impl, workers, cores, len(mine[0].job.tasks), _pick(mine, impl, UNEVEN, SERIAL, None).time(),
        _pick(mine, impl, UNEVEN, "map", 1).time(), _pick(mine, impl, UNEVEN, "starmap", 1).time(),
        None if top == 1 else (top, _pick(mine, impl, UNEVEN, "map", top).time()),
        {f"{plan.api} at chunksize {plan.chunksize}": plan.time() for plan in mine if plan.pooled})


def uneven_words(f: UnevenFigures) -> str:
    """One chunk per worker against one task at a time, starmap against map, and the calls against serial."""
    return " ".join(part for part in (_split_words(f), _starmap_words(f), _against_serial(f)) if part)


def _split_words(f: UnevenFigures) -> str:
    if f.split is None:
        return ""
    size, big = f.split
    said = (f"Uneven tasks ({f.implementation}) in one chunk per worker (chunksize {size}) took "
            f"{time_ratio(big, f.map_one, 'chunksize 1')}, {judged(big, f.map_one)}")
    verdict = gap(big, f.map_one)
    if verdict == "longer":
        return (f"{said}: with one fixed chunk per worker, a worker that falls behind (on a heavier chunk, or on "
                "a core shared with other programs) cannot pass work to the others.")
    if verdict == "shorter":
        return (f"{said}: {f.tasks} tasks in {plural(f.workers, 'chunk', 'chunks')} take fewer hand-offs than one "
                "task at a time.")
    return f"{said}."


def _starmap_words(f: UnevenFigures) -> str:
    said = (f"The starmap call differs from map only in how each tuple reaches the function: it took "
            f"{time_ratio(f.starmap_one, f.map_one, 'map')}, {judged(f.starmap_one, f.map_one)}")
    if gap(f.starmap_one, f.map_one) in ("shorter", "longer"):
        return f"{said}, more than unpacking a tuple can cost. " + repeat_advice("starmap and map differed")
    return f"{said}."


def _against_serial(f: UnevenFigures) -> str:
    """Every Pool call's speedup against the serial loop, and what it means."""
    speedups = {name: f.serial.seconds / t.seconds for name, t in f.pool.items()}
    said = (f"Against the serial loop ({ms(f.serial.seconds)}), the {len(speedups)} Pool calls reached speedups "
            f"of {span(speedups.values())} against serial {f.on_workers}")
    verdicts = {name: gap(t, f.serial) for name, t in f.pool.items()}
    faster = [name for name in speedups if verdicts[name] == "shorter"]
    if faster:
        best = max(faster, key=lambda name: speedups[name])
        noise = noise_of(f.serial.spread, f.pool[best].spread)
        above = above_ideal(speedups[best], f.ideal, noise)
        return (f"{said}; the best was {best}, a speedup of {ratio(speedups[best], 'serial')} (beyond the "
                f"{noise:.0%} spread of the repeats)." + (f" That speedup against serial: {above}." if above else ""))
    each = f.serial.seconds / f.tasks
    if all(v == "unknown" for v in verdicts.values()):
        top = max(speedups.values())
        above = "" if top <= f.ideal or x(top) == x(f.ideal) else (
            f" The best speedup against serial, {x(top)}, is above the ideal {x(f.ideal)}, and one repeat gives no "
            "spread to tell noise from a cache effect.")
        return f"{said}; one repeat gives no spread to judge them by.{above}"
    if each < SHORT_TASK_SECONDS:
        slower = "every one was slower than" if all(v == "longer" for v in verdicts.values()) else \
            "none was faster than"
        return (f"{said}; {slower} the serial loop beyond the spread of the repeats: a task took "
                f"{ms(each)} serially, too little to pay for its round trip to a worker process.")
    return f"{said}. " + repeat_advice("no Pool call beat the serial loop by more than the spread of the repeats, "
                                       f"although a task took {ms(each)} serially")


#: Parameters for ``gilfree lab`` (DEFAULT), ``--quick`` (QUICK) and the tests (TINY).
DEFAULT: dict[str, Any] = {}
QUICK = {"n": 60_000, "tasks": 16, "small_tasks": 400, "small_samples": 10, "repeats": 2}
TINY = {"n": 2_000, "tasks": 8, "small_tasks": 40, "small_samples": 5, "kernel_scale": 5, "repeats": 1,
        "workers": 2}
