"""Step 4: ``ProcessPoolExecutor`` with ``as_completed``: results as they finish, errors as values.

Prime counts over ranges whose width (and so whose cost) grows are submitted heaviest and
lightest alternately to a ``ProcessPoolExecutor``. ``concurrent.futures.as_completed`` hands back
each future when it is done, so light tasks submitted late are handled before heavy tasks
submitted early; waiting on the futures in submission order instead holds every result behind the
slowest one ahead of it. A third run submits one range reversed: the kernels reject it with
``ValueError``, that future carries the exception, and every other result still arrives.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, Future, as_completed
from dataclasses import asdict, dataclass
from typing import Any, Callable, NamedTuple

from .._checks import as_index, check_count
from .._select import Implementation
from .._timing import Timing, environment, usable_cores
from ..strategies import open_executor
from ._order import interleave_heavy_light, overtaken
from ._plan import Ticker, chosen_implementations, scaled, speedup_of, time_variants, timed_row, worker_count
from ._result import Progress, Row, StepResult, no_progress

TITLE = "ProcessPoolExecutor and as_completed"

SERIAL = "serial reference"
AS_COMPLETED = "as_completed"
IN_ORDER = "futures in submission order"
ONE_FAILS = "as_completed, one task fails"
KINDS = (SERIAL, AS_COMPLETED, IN_ORDER, ONE_FAILS)


def growing_ranges(n: int, parts: int) -> list[tuple[int, int]]:
    """Cut ``[0, n)`` into ``parts`` ranges whose widths grow as 1, 2, 3, ...: later ones cost more."""
    n, parts = as_index(n, "n"), check_count(parts, "parts")
    triangle = parts * (parts + 1) // 2
    if n < triangle:
        raise ValueError(f"n must be at least {triangle} for {parts} growing ranges, got {n}")
    bounds = [n * (i * (i + 1) // 2) // triangle for i in range(parts + 1)]
    return list(zip(bounds, bounds[1:]))


class Task(NamedTuple):
    """One submitted task: the kernel itself (it travels by reference) and the range it counts."""

    kernel: Callable[[int, int], int]
    lo: int
    hi: int


@dataclass
class Arrival:
    """One future as it was handled: which task, when, and what it carried."""

    task: int
    lo: int
    hi: int
    seconds: float
    result: int | None = None
    error_type: str | None = None
    error: str | None = None


class Outcome(NamedTuple):
    """One run of a variant: its arrivals in the order they were handled, and the seconds to the first."""

    arrivals: list[Arrival]
    first: float


class Key(NamedTuple):
    """A measured variant: one implementation's tasks, handled one of the KINDS of way."""

    implementation: str
    kind: str


@dataclass(frozen=True)
class Job:
    """One implementation's tasks over growing ranges of ``[0, top)``, and the same with task ``bad`` reversed."""

    tasks: list[Task]
    broken: list[Task]
    top: int


def _label(key: Key) -> str:
    return f"{key.implementation}, {key.kind}"


def gather(executor: Executor, tasks: Sequence[tuple[Callable[[int, int], int], int, int]], *,
           ordered: bool = False) -> tuple[list[Arrival], float]:
    """Submit ``kernel(lo, hi)`` for every task ``(kernel, lo, hi)``; handle each future as it completes
    (or, with ``ordered``, in submission order). Returns the arrivals and the seconds to the first one.

    A task's exception is caught and recorded on its arrival; the other futures go on.
    """
    futures: dict[Future[int], int] = {}
    submitted: list[float] = []
    t0 = time.perf_counter()
    for i, (kernel, lo, hi) in enumerate(tasks):
        futures[executor.submit(kernel, lo, hi)] = i
        submitted.append(time.perf_counter())
    arrivals = []
    first = None
    for future in (list(futures) if ordered else as_completed(futures)):
        i = futures[future]
        _, lo, hi = tasks[i]
        try:
            value = future.result()
        except Exception as exc:  # a task's own failure: report it and keep the others
            arrival = Arrival(i, lo, hi, 0.0, error_type=type(exc).__name__, error=str(exc))
        else:
            arrival = Arrival(i, lo, hi, 0.0, result=value)
        now = time.perf_counter()
        arrival.seconds = now - submitted[i]
        if first is None:
            first = now - t0
        arrivals.append(arrival)
    return arrivals, first if first is not None else time.perf_counter() - t0


def _serial(tasks: list[Task]) -> Outcome:
    """The tasks one after another in this process: the reference, and the serial timing."""
    t0 = time.perf_counter()
    arrivals = []
    for i, task in enumerate(tasks):
        arrivals.append(Arrival(i, task.lo, task.hi, 0.0, result=task.kernel(task.lo, task.hi)))
        arrivals[-1].seconds = time.perf_counter() - t0
    return Outcome(arrivals, arrivals[0].seconds)


def _jobs(impls: Mapping[str, Implementation], n: int, tasks: int, kernel_scale: int, bad: int) -> dict[str, Job]:
    jobs = {}
    for name, impl in impls.items():
        top = scaled(name, n, kernel_scale)
        ranges = interleave_heavy_light(growing_ranges(top, tasks))
        good = [Task(impl.count_primes, lo, hi) for lo, hi in ranges]
        broken = [task if i != bad else task._replace(lo=task.hi, hi=task.lo) for i, task in enumerate(good)]
        jobs[name] = Job(good, broken, top)
    return jobs


def _counts(arrivals: list[Arrival]) -> list[int]:
    """The counts of a serial run: every arrival carries one (a task that fails there raises out of it)."""
    counts = [a.result for a in arrivals if a.result is not None]
    if len(counts) != len(arrivals):
        raise RuntimeError("a task of the serial reference returned no count")
    return counts


def _variant(key: Key, job: Job, executor: Executor, outcomes: list[Outcome]) -> Callable[[], None]:
    def call() -> None:
        if key.kind == SERIAL:
            outcomes.append(_serial(job.tasks))
        else:
            submit = job.broken if key.kind == ONE_FAILS else job.tasks
            outcomes.append(Outcome(*gather(executor, submit, ordered=key.kind == IN_ORDER)))
    return call


def _run_once(variants: dict[Key, Callable[[], None]], impls: Mapping[str, Implementation], jobs: dict[str, Job],
              outcomes: dict[Key, list[Outcome]], ticker: Ticker) -> tuple[dict[str, bool], dict[str, list[int]]]:
    """Run the serial references (checked against one count over the whole range), then every variant once."""
    checks: dict[str, bool] = {}
    reference: dict[str, list[int]] = {}
    for name, job in jobs.items():
        variants[Key(name, SERIAL)]()
        reference[name] = _counts(outcomes[Key(name, SERIAL)][0].arrivals)
        checks[f"{name}, serial: the ranges' counts add up to one count over [0, {job.top:,})"] = (
            sum(reference[name]) == impls[name].count_primes(0, job.top))
        ticker.tick(f"{name}, serial check")
    for key, fn in variants.items():
        if key.kind != SERIAL:
            fn()
        ticker.tick(_label(key))
    return checks, reference


def _measure(impls: Mapping[str, Implementation], jobs: dict[str, Job], keys: list[Key], k: int, repeats: int,
             progress: Progress) -> tuple[dict[str, bool], dict[str, list[int]], dict[Key, Timing],
                                          dict[Key, list[Outcome]]]:
    outcomes: dict[Key, list[Outcome]] = {key: [] for key in keys}
    ticker = Ticker(progress, len(keys) * (repeats + 1) + len(jobs))
    with open_executor("processes", k) as executor:
        variants = {key: _variant(key, jobs[key.implementation], executor, outcomes[key]) for key in keys}
        checks, reference = _run_once(variants, impls, jobs, outcomes, ticker)
        timings = time_variants(variants, repeats, ticker, _label)
    return checks, reference, timings, outcomes


def _rows(keys: list[Key], jobs: dict[str, Job], timings: dict[Key, Timing], outcomes: dict[Key, list[Outcome]],
          k: int) -> list[Row]:
    rows = []
    for key in keys:
        t, serial = timings[key], timings[Key(key.implementation, SERIAL)].median
        arrivals = outcomes[key][0].arrivals
        order = [a.task for a in arrivals]
        firsts = [o.first for o in outcomes[key]]
        rows.append(timed_row(
            key.kind, key.implementation, "serial" if key.kind == SERIAL else "processes",
            1 if key.kind == SERIAL else k, t, serial / t.median,
            extra={"tasks": len(jobs[key.implementation].tasks), "n": jobs[key.implementation].top,
                   "first result ms": statistics.median(firsts) * 1000, "overtaken": overtaken(order),
                   "failed": sum(a.error is not None for a in arrivals), "arrival": " ".join(map(str, order)),
                   "total": sum(a.result for a in arrivals if a.result is not None)}))
    return rows


def _data(jobs: dict[str, Job], bad: int, reference: dict[str, list[int]], keys: list[Key],
          outcomes: dict[Key, list[Outcome]]) -> dict[str, Any]:
    return {
        "submitted": {name: [[task.lo, task.hi] for task in job.tasks] for name, job in jobs.items()},
        "failed_task": bad,
        "reference": reference,
        "runs": [{"implementation": key.implementation, "variant": key.kind, "first_seconds": o.first,
                  "arrivals": [asdict(a) for a in o.arrivals]}
                 for key in keys for o in outcomes[key]],
    }


def run(n: int = 300_000, tasks: int = 8, kernel_scale: int = 10, workers: int | None = None,
        fail: int | None = None, repeats: int = 5, progress: Progress = no_progress,
        implementations: Mapping[str, Implementation] | None = None) -> StepResult:
    """Submit ``tasks`` prime counts over growing ranges of ``[0, n)`` and handle them as they finish.

    The compiled kernel gets ``n * kernel_scale``. ``fail`` is the submission index of the task
    that the failing run submits reversed (default: the middle one). ``implementations``
    (default: every one that imports here) decides whether the compiled twin runs.
    """
    k = worker_count(workers, max(2, usable_cores()))
    n, tasks = check_count(n, "n"), check_count(tasks, "tasks", minimum=2)
    kernel_scale, repeats = check_count(kernel_scale, "kernel_scale"), check_count(repeats, "repeats")
    bad = tasks // 2 if fail is None else as_index(fail, "fail")
    if not 0 <= bad < tasks:
        raise ValueError(f"fail must be a task index in [0, {tasks}), got {fail}")
    impls = chosen_implementations(implementations)
    jobs = _jobs(impls, n, tasks, kernel_scale, bad)
    keys = [Key(name, kind) for name in impls for kind in KINDS]

    checks, reference, timings, outcomes = _measure(impls, jobs, keys, k, repeats, progress)
    checks.update(_check_runs(keys, outcomes, reference, bad))
    rows = _rows(keys, jobs, timings, outcomes, k)
    shown = list(impls)[-1]
    return StepResult(
        step=4, title=TITLE,
        params={"n": n, "tasks": tasks, "kernel_scale": kernel_scale, "workers": k, "fail": bad,
                "repeats": repeats},
        rows=rows, checks=checks, summary=_summary(shown, outcomes, reference[shown], bad),
        explanation=_explain(rows, shown, outcomes, bad, k), env=environment(),
        data=_data(jobs, bad, reference, keys, outcomes),
        columns=("variant", "implementation", "workers", "n", "ms", "speedup", "first result ms", "overtaken",
                 "failed", "total", "arrival"),
    )


def _check_runs(keys: list[Key], outcomes: dict[Key, list[Outcome]], reference: dict[str, list[int]],
                bad: int) -> dict[str, bool]:
    """Every run of every pool variant against the serial reference (the failing run: all but one)."""
    checks: dict[str, bool] = {}
    for key in keys:
        if key.kind != SERIAL:
            for run_no, outcome in enumerate(outcomes[key]):
                checks.update(_check(key.implementation, key.kind, run_no, outcome.arrivals,
                                     reference[key.implementation], bad))
    return checks


def _check(impl: str, kind: str, run_no: int, arrivals: list[Arrival], ref: list[int],
           bad: int) -> dict[str, bool]:
    name = f"{impl}, {kind}, run {run_no + 1}"
    got = {a.task: a for a in arrivals}
    if sorted(got) != list(range(len(ref))) or len(arrivals) != len(ref):
        return {f"{name}: every task answered once": False}
    if kind != ONE_FAILS:
        return {f"{name}: results equal the serial reference":
                all(got[i].error is None and got[i].result == ref[i] for i in range(len(ref)))}
    failed = got[bad]
    others = [a for a in arrivals if a.task != bad]
    return {
        f"{name}: the reversed task failed with ValueError": failed.error_type == "ValueError"
        and failed.result is None and "reversed" in (failed.error or ""),
        f"{name}: every other result arrived and equals the reference": all(
            a.error is None and a.result == ref[a.task] for a in others),
        f"{name}: total equals the serial total minus the failed task": sum(
            a.result for a in others if a.result is not None) == sum(ref) - ref[bad],
    }


def _summary(impl: str, outcomes: dict[Key, list[Outcome]], ref: list[int], bad: int) -> list[str]:
    arrivals = outcomes[Key(impl, ONE_FAILS)][0].arrivals
    lines = [f"{ONE_FAILS} ({impl}): submitted tasks 0..{len(ref) - 1}, task {bad} with its range reversed"]
    for place, a in enumerate(arrivals, 1):
        what = (f"{a.error_type}: {a.error}" if a.error is not None else f"{a.result:,} primes")
        lines.append(f"  arrived #{place:<2} task {a.task:<2} [{a.lo:,}, {a.hi:,})  "
                     f"after {a.seconds * 1000:7.1f} ms  -> {what}")
    got = sum(a.result for a in arrivals if a.result is not None)
    lines.append(f"Total of the {len(arrivals) - 1} results: {got:,} = serial total {sum(ref):,} "
                 f"- failed task's {ref[bad]:,}")
    for kind in (AS_COMPLETED, IN_ORDER):
        order = [a.task for a in outcomes[Key(impl, kind)][0].arrivals]
        lines.append(f"{kind} ({impl}): handled in order " + " ".join(map(str, order)))
    return lines


def _explain(rows: list[Row], impl: str, outcomes: dict[Key, list[Outcome]], bad: int, k: int) -> list[str]:
    def find(kind: str) -> Row:
        return next(r for r in rows if r.variant == kind and r.implementation == impl)

    ac, io, fl = find(AS_COMPLETED), find(IN_ORDER), find(ONE_FAILS)
    widest = max(outcomes[Key(impl, AS_COMPLETED)][0].arrivals, key=lambda a: a.hi - a.lo).task == 0
    lines = [
        f"With as_completed ({impl}, {k} workers), {ac.extra['overtaken']} of {ac.extra['tasks']} results were "
        f"handled after a task submitted later than theirs, and the first was in hand after "
        f"{ac.extra['first result ms']:.1f} ms; waiting on the futures in submission order, the first came "
        f"after {io.extra['first result ms']:.1f} ms"
        + ((", because that first future is task 0" + (", the widest range." if widest else "."))
           if io.extra["first result ms"] > ac.extra["first result ms"] else
           ": at this size as_completed brought no result sooner.")]

    serial_arrivals = outcomes[Key(impl, SERIAL)][0].arrivals
    ends = [a.seconds for a in serial_arrivals]
    durations = [b - a for a, b in zip([0.0] + ends, ends)]
    share = max(durations) / ends[-1]
    cap = 1 / max(share, 1 / k)
    ratio = ac.seconds / io.seconds
    noise = max(ac.spread, io.spread)
    same = abs(ratio - 1) <= noise
    if noise == 0:
        verdict = "One repeat gives no spread to judge that gap by."
    elif same:
        verdict = (f"The {abs(ratio - 1):.0%} difference is within the {noise:.0%} spread of the repeats: the "
                   "order of handling changes when each result is in hand, not how long the batch takes.")
    else:
        verdict = f"The gap of {abs(ratio - 1):.0%} is beyond the {noise:.0%} spread of the repeats."
    if max(speedup_of(ac), speedup_of(io)) > cap * 1.05:
        verdict += (f" A speedup above the {cap:.2f}x cap cannot come from the work itself: other load on this "
                    "machine slowed some of the runs.")
    lines.append(
        f"The whole batch took {ac.seconds * 1000:.1f} ms with as_completed and {io.seconds * 1000:.1f} ms in "
        f"submission order ({ac.speedup:.2f}x and {io.speedup:.2f}x the serial loop; the largest task alone is "
        f"{share:.0%} of the serial work, which caps {k} workers at {cap:.2f}x). "
        + verdict)
    failed = next(a for a in outcomes[Key(impl, ONE_FAILS)][0].arrivals if a.task == bad)
    lines.append(
        f"Task {bad}'s reversed range raised {failed.error_type} in its worker; the future carried it back and "
        f"result() re-raised it here, where it was reported, while the other {fl.extra['tasks'] - 1} results "
        f"still arrived and added up to {fl.extra['total']:,}, the serial total minus the failed range.")
    return lines


#: Parameters for ``gilfree lab`` (DEFAULT), ``--quick`` (QUICK) and the tests (TINY).
DEFAULT: dict[str, Any] = {}
QUICK = {"n": 100_000, "tasks": 8, "repeats": 3}
TINY = {"n": 3_000, "tasks": 6, "kernel_scale": 5, "repeats": 1, "workers": 2}
