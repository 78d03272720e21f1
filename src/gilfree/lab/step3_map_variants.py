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
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Callable, NamedTuple

from .._checks import check_count, check_seed
from .._select import C_EXTENSION, PURE_PYTHON, Implementation
from .._timing import Timing, environment, usable_cores
from ..chunked import split_range
from ..strategies import check_workers, open_executor
from ._order import interleave_heavy_light, overtaken
from ..mp_pool import GuardedPool
from ._plan import Ticker, chosen_implementations, guarded_pool, scaled, time_variants, timed_row, worker_count
from ._result import Progress, Row, StepResult, no_progress
from ._tasks import indexed_call, indexed_packed

TITLE = "Pool.map vs starmap vs imap vs imap_unordered"

APIS = ("map", "starmap", "imap", "imap_unordered")
SERIAL = "serial"
UNEVEN = "uneven"
SMALL = "many small"


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
class Job:
    """One workload on one implementation: its index-tagged tasks ``(index, fn, *args)``, the range
    each covers, and one call over the whole range that the serial results must add up to."""

    tasks: list[tuple[Any, ...]]
    ranges: list[tuple[int, int]]
    whole: Callable[[], int]

    def serial(self) -> list[int]:
        return [fn(*args) for _, fn, *args in self.tasks]


class Key(NamedTuple):
    """A measured variant: a workload on an implementation, run serially or through one Pool call."""

    workload: str
    implementation: str
    api: str  # SERIAL or one of APIS
    chunksize: int  # 0 for SERIAL

    @property
    def job(self) -> tuple[str, str]:
        return self.workload, self.implementation


class Outcome(NamedTuple):
    """One run of a variant: task indices in the order their results arrived, and the seconds to the first."""

    order: list[int]
    first: float


def _label(key: Key) -> str:
    return f"{key.workload}, {key.implementation}, " + (
        "serial" if key.api == SERIAL else f"{key.api}, chunksize {key.chunksize}")


def chunksizes(tasks: int, workers: int) -> list[int]:
    """1, the geometric middle, and ``tasks // workers`` (an even split), without repeats."""
    top = max(1, tasks // check_workers(workers))
    return sorted({1, max(1, round(math.sqrt(top))), top})


def _call(pool: GuardedPool, api: str, tasks: list[tuple[Any, ...]],
          chunksize: int) -> tuple[list[tuple[int, Any]], float]:
    """Run ``tasks`` through ``pool.<api>``; return the (index, result) pairs as they came, and the
    seconds until the first one reached this process."""
    t0 = time.perf_counter()
    results: Iterable[tuple[int, Any]]
    if api == "map":
        results = pool.map(indexed_packed, tasks, chunksize=chunksize)
    elif api == "starmap":
        results = pool.starmap(indexed_call, tasks, chunksize=chunksize)
    elif api == "imap":
        results = pool.imap(indexed_packed, tasks, chunksize=chunksize)
    elif api == "imap_unordered":
        results = pool.imap_unordered(indexed_packed, tasks, chunksize=chunksize)
    else:
        raise ValueError(f"api must be one of {APIS}, got {api!r}")
    pairs: list[tuple[int, Any]] = []
    first = None
    for pair in results:
        if first is None:
            first = time.perf_counter() - t0
        pairs.append(pair)
    return pairs, first if first is not None else time.perf_counter() - t0


def _checked(n: object, tasks: object, small_tasks: object, small_samples: object, kernel_scale: object,
             seed: object, workers: object, repeats: object) -> Params:
    k = worker_count(workers, max(2, usable_cores()))
    counts = {name: check_count(value, name) for name, value in (
        ("n", n), ("tasks", tasks), ("small_tasks", small_tasks), ("small_samples", small_samples),
        ("kernel_scale", kernel_scale), ("repeats", repeats))}
    if counts["n"] < counts["tasks"]:
        raise ValueError(f"n must be at least tasks ({tasks}), got {n}")
    return Params(seed=check_seed(seed), workers=k, **counts)


def _jobs(impls: Mapping[str, Implementation], p: Params) -> dict[tuple[str, str], Job]:
    """Uneven prime counts and many small Monte Carlo slices, for every implementation."""
    jobs = {}
    for name, impl in impls.items():
        top = scaled(name, p.n, p.kernel_scale)
        ranges = interleave_heavy_light(split_range(0, top, p.tasks))
        jobs[(UNEVEN, name)] = Job([(i, impl.count_primes, lo, hi) for i, (lo, hi) in enumerate(ranges)],
                                   ranges, partial(impl.count_primes, 0, top))
        size = scaled(name, p.small_samples, p.kernel_scale)
        ranges = [(i * size, (i + 1) * size) for i in range(p.small_tasks)]
        jobs[(SMALL, name)] = Job([(i, impl.monte_carlo_hits, lo, hi, p.seed) for i, (lo, hi) in enumerate(ranges)],
                                  ranges, partial(impl.monte_carlo_hits, 0, p.small_tasks * size, p.seed))
    return jobs


def _keys(jobs: dict[tuple[str, str], Job], sizes: dict[str, list[int]]) -> list[Key]:
    """For every job, its serial reference first, then every Pool call at every chunksize."""
    keys = []
    for workload, impl in jobs:
        keys.append(Key(workload, impl, SERIAL, 0))
        keys += [Key(workload, impl, api, cs) for api in APIS for cs in sizes[workload]]
    return keys


def _variant(key: Key, job: Job, pool: GuardedPool, outcomes: list[Outcome]) -> Callable[[], list[int]]:
    """A call of ``key`` that records its outcome and returns the results in task order."""
    def call() -> list[int]:
        if key.api == SERIAL:
            t0 = time.perf_counter()
            values = job.serial()
            outcomes.append(Outcome(list(range(len(values))), time.perf_counter() - t0))
            return values
        pairs, first = _call(pool, key.api, job.tasks, key.chunksize)
        outcomes.append(Outcome([i for i, _ in pairs], first))
        return [value for _, value in sorted(pairs, key=lambda p: p[0])]
    return call


def _check_once(variants: dict[Key, Callable[[], list[int]]], jobs: dict[tuple[str, str], Job],
                outcomes: dict[Key, list[Outcome]], ticker: Ticker) -> dict[str, bool]:
    """Run every variant once: serial results against one call over the whole range, the others
    against the serial results (every task answered once)."""
    checks: dict[str, bool] = {}
    expected: dict[tuple[str, str], list[int]] = {}
    for key, fn in variants.items():
        got, job = fn(), jobs[key.job]
        if key.api == SERIAL:
            expected[key.job] = got
            checks[f"{key.workload}, {key.implementation}: serial results add up to one call over the whole "
                   "range"] = len(got) == len(job.tasks) and sum(got) == job.whole()
        else:
            order = outcomes[key][-1].order
            checks[f"{_label(key)}: every task answered once, results equal the serial reference"] = (
                sorted(order) == list(range(len(job.tasks))) and got == expected[key.job])
        ticker.tick(_label(key))
    return checks


def _measure(jobs: dict[tuple[str, str], Job], keys: list[Key], p: Params,
             progress: Progress) -> tuple[dict[str, bool], dict[Key, Timing], dict[Key, list[Outcome]]]:
    outcomes: dict[Key, list[Outcome]] = {key: [] for key in keys}
    ticker = Ticker(progress, len(keys) * (p.repeats + 1))
    with open_executor("pool", p.workers) as executor:
        pool = guarded_pool(executor)
        variants = {key: _variant(key, jobs[key.job], pool, outcomes[key]) for key in keys}
        checks = _check_once(variants, jobs, outcomes, ticker)
        timings = time_variants(variants, p.repeats, ticker, _label)
    return checks, timings, outcomes


def _rows(keys: list[Key], jobs: dict[tuple[str, str], Job], timings: dict[Key, Timing],
          outcomes: dict[Key, list[Outcome]], k: int) -> list[Row]:
    rows = []
    for key in keys:
        t, serial = timings[key], timings[key._replace(api=SERIAL, chunksize=0)].median
        runs = outcomes[key]
        count = len(jobs[key.job].tasks)
        row = timed_row(f"{key.workload}: {key.api}", key.implementation,
                        "serial" if key.api == SERIAL else "pool", 1 if key.api == SERIAL else k, t,
                        serial / t.median, extra={"tasks": count, "us/task": t.median / count * 1e6})
        if key.api != SERIAL:
            firsts = [o.first for o in runs[1:]] or [runs[0].first]
            row.extra.update({
                "chunksize": key.chunksize, "first result ms": statistics.median(firsts) * 1000,
                "arrival": " ".join(map(str, runs[0].order[:8])) + (" ..." if count > 8 else ""),
                "overtaken": overtaken(runs[0].order)})
        rows.append(row)
    return rows


def _summary(outcomes: dict[Key, list[Outcome]], shown: str) -> list[str]:
    return [f"{api:<15} ({shown}, chunksize 1): task indices in arrival order "
            + " ".join(map(str, outcomes[Key(UNEVEN, shown, api, 1)][0].order)) for api in APIS]


def _data(jobs: dict[tuple[str, str], Job], names: list[str], keys: list[Key],
          outcomes: dict[Key, list[Outcome]]) -> dict[str, Any]:
    return {
        "uneven_ranges": {impl: [list(r) for r in jobs[(UNEVEN, impl)].ranges] for impl in names},
        "arrivals": [{"workload": key.workload, "implementation": key.implementation, "api": key.api,
                      "chunksize": key.chunksize, "orders": [o.order[:32] for o in outcomes[key]],
                      "overtaken": [overtaken(o.order) for o in outcomes[key]]}
                     for key in keys if key.api != SERIAL],
    }


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
    names = list(impls)
    shown = C_EXTENSION if C_EXTENSION in names else PURE_PYTHON
    sizes = {UNEVEN: chunksizes(p.tasks, p.workers), SMALL: chunksizes(p.small_tasks, p.workers)}
    jobs = _jobs(impls, p)
    keys = _keys(jobs, sizes)

    checks, timings, outcomes = _measure(jobs, keys, p, progress)
    rows = _rows(keys, jobs, timings, outcomes, p.workers)
    return StepResult(
        step=3, title=TITLE, params={**asdict(p), "chunksizes": dict(sizes)},
        rows=rows, checks=checks, summary=_summary(outcomes, shown),
        explanation=_explain(rows, sizes, shown, names, p.workers), env=environment(),
        data=_data(jobs, names, keys, outcomes),
        columns=("variant", "implementation", "chunksize", "tasks", "ms", "speedup", "us/task",
                 "first result ms", "overtaken", "arrival"),
    )


def _versus(a: Row, b: Row, what: str) -> str:
    """``a`` against ``b`` in words, calling a gap inside the repeats' spread what it is."""
    ratio = a.seconds / b.seconds
    noise = max(a.spread, b.spread)
    text = f"{ratio:.2f}x the time of {what}"
    return text + (f" (a gap within the {noise:.0%} spread of the repeats)" if abs(ratio - 1) <= noise else "")


def _find(rows: list[Row], workload: str, impl: str, api: str, cs: int) -> Row:
    return next(r for r in rows if r.variant == f"{workload}: {api}" and r.implementation == impl
                and r.extra.get("chunksize") == cs)


def _explain(rows: list[Row], sizes: dict[str, list[int]], shown: str, names: list[str], k: int) -> list[str]:
    return [_explain_order(rows, sizes, shown), _explain_chunksize(rows, sizes, names),
            _explain_one_chunk(rows, sizes, shown, k)]


def _explain_order(rows: list[Row], sizes: dict[str, list[int]], shown: str) -> str:
    """When each API hands over its first result, and in what order the uneven tasks arrived."""
    un = _find(rows, UNEVEN, shown, "imap_unordered", 1)
    im, mp = _find(rows, UNEVEN, shown, "imap", 1), _find(rows, UNEVEN, shown, "map", 1)
    mid = sizes[UNEVEN][1] if len(sizes[UNEVEN]) > 1 else 1
    im_mid = _find(rows, UNEVEN, shown, "imap", mid)
    return (
        f"Uneven tasks ({shown}, chunksize 1): with imap_unordered {un.extra['overtaken']} of "
        f"{un.extra['tasks']} results arrived after a later-submitted one, and the first came after "
        f"{un.extra['first result ms']:.1f} ms; imap yields in submission order (first after "
        f"{im.extra['first result ms']:.1f} ms, when task 0 was done"
        + (f"; {im_mid.extra['first result ms']:.1f} ms at chunksize {mid}, when its whole first chunk was"
           if mid != 1 else "")
        + f"), and map hands over the whole list at once, after {mp.extra['first result ms']:.1f} ms. "
        "Sorted back by index, every variant equals the serial results.")


def _explain_chunksize(rows: list[Row], sizes: dict[str, list[int]], names: list[str]) -> str:
    """What the smallest and the largest chunksize did to many tiny tasks, beyond the repeats' spread."""
    lo, hi = sizes[SMALL][0], sizes[SMALL][-1]
    parts, gained = [], []
    for impl in names:
        a, b = _find(rows, SMALL, impl, "map", lo), _find(rows, SMALL, impl, "map", hi)
        parts.append(f"{impl} {a.seconds * 1000:.1f} ms at chunksize {lo} and {b.seconds * 1000:.1f} ms at "
                     f"{hi} ({a.seconds / b.seconds:.1f}x)")
        if a.seconds / b.seconds > 1 + max(a.spread, b.spread):
            gained.append(impl)
    count = _find(rows, SMALL, names[-1], "map", lo).extra["tasks"]
    text = f"{count:,} tiny tasks through map: " + "; ".join(parts) + ". "
    if not gained:
        return text + ("In this run larger chunks gained nothing beyond the spread of the repeats: rerun on a "
                       "quieter machine.")
    fast = gained[-1]
    per_one = _find(rows, SMALL, fast, "map", lo).extra["us/task"]
    per_big = _find(rows, SMALL, fast, "map", hi).extra["us/task"]
    text += (f"For {fast} a task cost {per_one:.1f} us at chunksize {lo} and {per_big:.1f} us at {hi}: every "
             "chunk is a round trip between processes, so the smaller the task, the more chunksize decides.")
    missed = [impl for impl in names if impl not in gained]
    if missed:
        text += f" {', '.join(missed)} gained nothing beyond the spread of the repeats in this run."
    return text


def _explain_one_chunk(rows: list[Row], sizes: dict[str, list[int]], shown: str, k: int) -> str:
    """One chunk per worker against one task at a time, and starmap against map."""
    top = sizes[UNEVEN][-1]
    mp, big = _find(rows, UNEVEN, shown, "map", 1), _find(rows, UNEVEN, shown, "map", top)
    st = _find(rows, UNEVEN, shown, "starmap", 1)
    ratio, noise = big.seconds / mp.seconds, max(big.spread, mp.spread)
    if ratio > 1 + noise:
        why = ("with one fixed chunk per worker, a worker that falls behind (on a heavier chunk, or on a core "
               "shared with other programs) cannot pass work to the others")
    elif ratio < 1 - noise:
        why = f"{mp.extra['tasks']} tasks in {k} chunks take fewer hand-offs than one task at a time"
    else:
        why = f"heavy and light tasks alternate, so the {k} chunks hold similar work"
    return (f"Uneven tasks in one chunk per worker (chunksize {top}) took {_versus(big, mp, 'chunksize 1')}: "
            f"{why}. map and starmap differ only in how each tuple reaches the function: starmap took "
            f"{_versus(st, mp, 'map')}.")


#: Parameters for ``gilfree lab`` (DEFAULT), ``--quick`` (QUICK) and the tests (TINY).
DEFAULT: dict[str, Any] = {}
QUICK = {"n": 60_000, "tasks": 16, "small_tasks": 400, "small_samples": 10, "repeats": 2}
TINY = {"n": 2_000, "tasks": 8, "small_tasks": 40, "small_samples": 5, "kernel_scale": 5, "repeats": 1,
        "workers": 2}
