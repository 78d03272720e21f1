"""Step 4: ``ProcessPoolExecutor`` with ``as_completed``: results as they finish, errors as values.

Prime counts over ranges whose width (and so whose cost) grows are submitted heaviest and
lightest alternately to a ``ProcessPoolExecutor``. ``concurrent.futures.as_completed`` hands back
each future when it is done, so light tasks submitted late are handled before heavy tasks
submitted early; waiting on the futures in submission order instead holds every result behind the
slowest one ahead of it. A third run submits one range reversed: the kernels reject it with
``ValueError``, that future carries the exception, and every other result still arrives.

The module reads top-down: the records (tasks, arrivals, jobs, plans), what runs (``run``), then
what the figures mean (the ``*_words`` functions take small figure records, so tests can hand-pick
them). Time ratios and the noise they are judged by follow step 3's rules (:func:`gilfree.figures.gap`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, Future, as_completed
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, Callable

from .._checks import as_index, check_count
from .._select import Implementation
from .._timing import usable_cores
from ..experiment import Checks, Experiment, Measured, Variant
from ..figures import (MIN_NOISE, SHORT_TASK_SECONDS, Timed, above_ideal, gap, judged, ms, noise_of, plural,
                       repeat_advice, time_ratio, x)
from ..strategies import open_executor
from ._order import interleave_heavy_light, overtaken
from ._plan import chosen_implementations, measured_row, scaled, step_result, worker_count
from ._result import Progress, Row, StepResult, no_progress

TITLE = "ProcessPoolExecutor and as_completed"

SERIAL = "serial reference"
AS_COMPLETED = "as_completed"
IN_ORDER = "futures in submission order"
ONE_FAILS = "as_completed, one task fails"
KINDS = (SERIAL, AS_COMPLETED, IN_ORDER, ONE_FAILS)


# -- what runs -------------------------------------------------------------------------------

def growing_ranges(n: int, parts: int) -> list[tuple[int, int]]:
    """Cut ``[0, n)`` into ``parts`` ranges whose widths grow as 1, 2, 3, ...: later ones cost more."""
    n, parts = as_index(n, "n"), check_count(parts, "parts")
    triangle = parts * (parts + 1) // 2
    if n < triangle:
        raise ValueError(f"n must be at least {triangle} for {parts} growing ranges, got {n}")
    bounds = [n * (i * (i + 1) // 2) // triangle for i in range(parts + 1)]
    return list(zip(bounds, bounds[1:]))


@dataclass(frozen=True)
class Task:
    """One submitted task: the kernel itself (it travels by reference) and the range it counts."""

    kernel: Callable[[int, int], int]
    lo: int
    hi: int

    def reversed(self) -> Task:
        """The same task with its range reversed: the kernels reject it with ValueError."""
        return Task(self.kernel, self.hi, self.lo)


@dataclass(frozen=True)
class Arrival:
    """One future as it was handled: which task, after how long since its submission, what it carried."""

    task: int
    lo: int
    hi: int
    seconds: float
    result: int | None = None
    error_type: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Outcome:
    """One run of a variant: its arrivals in the order they were handled, and the seconds to the first."""

    arrivals: list[Arrival]
    first: float

    @property
    def order(self) -> list[int]:
        return [a.task for a in self.arrivals]


@dataclass(frozen=True, eq=False)
class Job:
    """One implementation's tasks over growing ranges of ``[0, top)``; task ``bad`` fails when reversed."""

    implementation: str
    tasks: list[Task]
    bad: int
    top: int
    whole: Callable[[], int]

    @property
    def broken(self) -> list[Task]:
        return [task.reversed() if i == self.bad else task for i, task in enumerate(self.tasks)]


@dataclass(eq=False)
class Plan:
    """One variant: a job's tasks handled one of the KINDS of way, and every run of it."""

    job: Job
    kind: str
    runs: list[Outcome] = field(default_factory=list)  # every call: the warm-up first
    measured: Measured | None = None

    @property
    def name(self) -> str:
        return f"{self.job.implementation}, {self.kind}"

    def tags(self, workers: int) -> dict[str, Any]:
        pooled = self.kind != SERIAL
        return {"variant": self.kind, "implementation": self.job.implementation,
                "strategy": "processes" if pooled else "serial", "workers": workers if pooled else 1}

    def time(self) -> Timed:
        if self.measured is None:
            raise ValueError(f"{self.name} was not measured")
        return Timed.of(self.measured)

    def first(self) -> Timed:
        """Seconds to the first result over the timed calls (the warm-up's alone if none was timed)."""
        return Timed.from_samples([run.first for run in self.runs[1:]] or [self.runs[0].first])


def _handled(future: Future[int], index: int, task: Task, since: float) -> Arrival:
    """The arrival of one future: its result, or the exception it carried (the others go on)."""
    try:
        value = future.result()
    except Exception as exc:  # a task's own failure: report it and keep the others
        return Arrival(index, task.lo, task.hi, time.perf_counter() - since, error_type=type(exc).__name__,
                       error=str(exc))
    return Arrival(index, task.lo, task.hi, time.perf_counter() - since, result=value)


def gather(executor: Executor, tasks: Sequence[Task], *, ordered: bool = False) -> tuple[list[Arrival], float]:
    """Submit ``task.kernel(task.lo, task.hi)`` for every task; handle each future as it completes
    (or, with ``ordered``, in submission order). Returns the arrivals and the seconds to the first one.

    A task's exception is caught and recorded on its arrival; the other futures go on.
    """
    futures: dict[Future[int], int] = {}
    submitted: list[float] = []
    t0 = time.perf_counter()
    for i, task in enumerate(tasks):
        futures[executor.submit(task.kernel, task.lo, task.hi)] = i
        submitted.append(time.perf_counter())
    arrivals: list[Arrival] = []
    first: float | None = None
    for future in (list(futures) if ordered else as_completed(futures)):
        i = futures[future]
        arrivals.append(_handled(future, i, tasks[i], submitted[i]))
        first = time.perf_counter() - t0 if first is None else first
    return arrivals, time.perf_counter() - t0 if first is None else first


def _serial(tasks: list[Task]) -> Outcome:
    """The tasks one after another in this process; each arrival's seconds count from the start."""
    t0 = time.perf_counter()
    arrivals = []
    for i, task in enumerate(tasks):
        value = task.kernel(task.lo, task.hi)
        arrivals.append(Arrival(i, task.lo, task.hi, time.perf_counter() - t0, result=value))
    return Outcome(arrivals, arrivals[0].seconds)


def _jobs(impls: Mapping[str, Implementation], n: int, tasks: int, kernel_scale: int, bad: int) -> list[Job]:
    jobs = []
    for name, impl in impls.items():
        top = scaled(name, n, kernel_scale)
        ranges = interleave_heavy_light(growing_ranges(top, tasks))
        jobs.append(Job(name, [Task(impl.count_primes, lo, hi) for lo, hi in ranges], bad, top,
                        partial(impl.count_primes, 0, top)))
    return jobs


def _reference(ex: Experiment, job: Job) -> list[int]:
    """The job's counts one after another here, checked against one count over the whole range."""
    counts = ex.step(f"{job.implementation}: reference", lambda: [t.kernel(t.lo, t.hi) for t in job.tasks])
    ex.checks.add(f"{job.implementation}: reference", sum(counts) == job.whole(),
                  f"{job.implementation}: the ranges' counts add up to one count over [0, {job.top:,})")
    return counts


def _check(plan: Plan, got: Outcome, ref: list[int], checks: Checks) -> bool:
    """Arrival order, no lost results and, in the failing run, the failing task's error, as named checks."""
    name, every = plan.name, list(range(len(ref)))
    by_task = {a.task: a for a in got.arrivals}
    if plan.kind in (SERIAL, IN_ORDER):
        order = checks.add(f"{name}: arrival order", got.order == every, f"{name}: handled in submission order")
    else:
        order = checks.add(f"{name}: arrival order", sorted(got.order) == every,
                           f"{name}: every future handled exactly once, in the order they finished")
    fails = plan.job.bad if plan.kind == ONE_FAILS else None
    kept = checks.add(f"{name}: no lost results", all(
        i in by_task and by_task[i].error is None and by_task[i].result == ref[i] for i in every if i != fails),
        f"{name}: every " + ("other " if fails is not None else "") + "task's result arrived and equals the reference")
    if fails is None:
        return order and kept
    failed = by_task.get(fails)
    error = checks.add(f"{name}: the failing task's error", failed is not None and failed.result is None
                       and failed.error_type == "ValueError" and "reversed" in (failed.error or ""),
                       f"{name}: the reversed task's ValueError came back on its future")
    return order and kept and error


def _variant(plan: Plan, executor: Executor, ref: list[int], checks: Checks, workers: int) -> Variant:
    def call() -> Outcome:
        if plan.kind == SERIAL:
            got = _serial(plan.job.tasks)
        else:
            tasks = plan.job.broken if plan.kind == ONE_FAILS else plan.job.tasks
            got = Outcome(*gather(executor, tasks, ordered=plan.kind == IN_ORDER))
        plan.runs.append(got)
        return got
    return Variant(plan.name, call, check=lambda got: _check(plan, got, ref, checks), tags=plan.tags(workers))


def _measure(ex: Experiment, jobs: list[Job], plans: list[Plan], workers: int, repeats: int) -> dict[str, list[int]]:
    references = {job.implementation: _reference(ex, job) for job in jobs}
    with open_executor("processes", workers) as executor:
        variants = [_variant(plan, executor, references[plan.job.implementation], ex.checks, workers)
                    for plan in plans]
        measured = ex.measure(variants, repeats=repeats, cpu="tree")
    for plan in plans:
        plan.measured = measured[plan.name]
    return references


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
    shown = list(impls)[-1]
    jobs = _jobs(impls, n, tasks, kernel_scale, bad)
    plans = [Plan(job, kind) for job in jobs for kind in KINDS]
    ex = Experiment(progress)
    references = _measure(ex, jobs, plans, k, repeats)
    failed = {plan.job.implementation: _failed_share(plan) for plan in plans if plan.kind == SERIAL}

    mine = {plan.kind: plan for plan in plans if plan.job.implementation == shown}
    explanation = [order_words(_order_figures(mine, k)), batch_words(_batch_figures(mine, k, usable_cores())),
                   failure_words(_failure_figures(mine[ONE_FAILS], references[shown]))]
    return step_result(
        ex, step=4, title=TITLE,
        params={"n": n, "tasks": tasks, "kernel_scale": kernel_scale, "workers": k, "fail": bad, "repeats": repeats},
        rows=_rows(plans, failed), summary=_summary(mine, references[shown], failed),
        explanation=explanation, data={**_data(jobs, plans, references), "failed_task_share": failed},
        columns=("variant", "implementation", "workers", "n", "ms", "speedup", "first result ms", "overtaken",
                 "failed", "total", "arrival"))


# -- rows, summary, data ---------------------------------------------------------------------

def _rows(plans: Sequence[Plan], failed: Mapping[str, float]) -> list[Row]:
    """Every plan's row: its speedup against the serial reference of its implementation (less the failed
    task's share of it, for the run that skips that task's work), and its arrivals."""
    serial = {plan.job.implementation: plan.time() for plan in plans if plan.kind == SERIAL}
    rows = []
    for plan in plans:
        assert plan.measured is not None
        arrivals = plan.runs[0].arrivals
        order = [a.task for a in arrivals]
        impl = plan.job.implementation
        against = serial[impl].seconds * (1 - failed[impl] if plan.kind == ONE_FAILS else 1.0)
        rows.append(measured_row(plan.measured, against / plan.measured.seconds, {
            "tasks": len(plan.job.tasks), "n": plan.job.top, "first result ms": plan.first().seconds * 1000,
            "first result spread": plan.first().spread, "overtaken": overtaken(order),
            "failed": sum(a.error is not None for a in arrivals), "arrival": " ".join(map(str, order)),
            "total": sum(a.result for a in arrivals if a.result is not None)}))
    return rows


def _summary(mine: Mapping[str, Plan], ref: list[int], failed: Mapping[str, float]) -> list[str]:
    plan = mine[ONE_FAILS]
    impl, bad, arrivals = plan.job.implementation, plan.job.bad, plan.runs[0].arrivals
    shares = ", ".join(f"{share:.0%} for {name}" for name, share in failed.items())
    lines = ["Speedup column: each row against the serial reference of its implementation (its time over the row's); "
             f"the '{ONE_FAILS}' rows against that time less task {bad}'s share of it ({shares}), as that run "
             "skips the failed task's work.",
             f"{ONE_FAILS} ({impl}): submitted tasks 0..{len(ref) - 1}, task {bad} with its range reversed"]
    for place, a in enumerate(arrivals, 1):
        what = f"{a.error_type}: {a.error}" if a.error is not None else f"{a.result:,} primes"
        lines.append(f"  arrived #{place:<2} task {a.task:<2} [{a.lo:,}, {a.hi:,})  "
                     f"after {a.seconds * 1000:7.1f} ms  -> {what}")
    got = sum(a.result for a in arrivals if a.result is not None)
    lines.append(f"Total of the {len(arrivals) - 1} results: {got:,} = serial total {sum(ref):,} "
                 f"- failed task's {ref[bad]:,}")
    for kind in (AS_COMPLETED, IN_ORDER):
        lines.append(f"{kind} ({impl}): handled in order " + " ".join(map(str, mine[kind].runs[0].order)))
    return lines


def _data(jobs: list[Job], plans: list[Plan], references: dict[str, list[int]]) -> dict[str, Any]:
    return {
        "submitted": {job.implementation: [[task.lo, task.hi] for task in job.tasks] for job in jobs},
        "failed_task": jobs[0].bad,
        "reference": references,
        "runs": [{"implementation": plan.job.implementation, "variant": plan.kind, "first_seconds": run.first,
                  "arrivals": [asdict(a) for a in run.arrivals]}
                 for plan in plans for run in plan.runs],
    }


# -- what the figures mean -------------------------------------------------------------------

@dataclass(frozen=True)
class OrderFigures:
    """When the first result was in hand, with as_completed and in submission order (one implementation)."""

    implementation: str
    workers: int
    tasks: int
    overtaken: int  # results as_completed handled after a later-submitted task's (its first run)
    completed_first: Timed  # seconds to the first result with as_completed
    in_order_first: Timed  # seconds to the first result waiting in submission order
    widest_first: bool  # task 0, the first submitted, is the widest range


def _order_figures(mine: Mapping[str, Plan], workers: int) -> OrderFigures:
    ac, io = mine[AS_COMPLETED], mine[IN_ORDER]
    tasks = ac.job.tasks
    widest = max(range(len(tasks)), key=lambda i: tasks[i].hi - tasks[i].lo)
    return OrderFigures(ac.job.implementation, workers, len(tasks), overtaken(ac.runs[0].order), ac.first(),
                        io.first(), widest == 0)


def order_words(f: OrderFigures) -> str:
    """How many results as_completed handled out of submission order, and whether its first came sooner."""
    ac, io = f.completed_first, f.in_order_first
    if f.overtaken:
        seen = (f"With as_completed ({f.implementation}, {plural(f.workers, 'worker', 'workers')}), {f.overtaken} of "
                f"{f.tasks} results "
                f"{'was' if f.overtaken == 1 else 'were'} handled after a task submitted later than theirs")
    else:
        seen = (f"With as_completed ({f.implementation}, {plural(f.workers, 'worker', 'workers')}), no result was "
                "handled after a task "
                "submitted later than theirs: in this run the tasks finished in the order they were submitted")
    said = (f"{seen}. The first result was in hand after {ms(ac.seconds)} with as_completed and after "
            f"{ms(io.seconds)} waiting on the futures in submission order: "
            f"{time_ratio(ac, io, 'the first in submission order')}, {judged(ac, io)}")
    verdict = gap(ac, io)
    if verdict == "shorter":
        return said + (", because the first future submitted is task 0, the widest range." if f.widest_first else
                       ", because the first future submitted was not the first to finish.")
    if verdict == "same" and noise_of(ac.spread, io.spread) > MIN_NOISE:
        return said + ": the repeats disagree too much to tell whether it came sooner; repeat the run."
    if verdict == "same":
        return said + ": at this size as_completed brought no result sooner."
    if verdict == "longer":
        return f"{said}. " + repeat_advice("as_completed brought its first result later than submission order")
    return said + "."


@dataclass(frozen=True)
class BatchFigures:
    """How long the whole batch took each way, against the serial loop (one implementation)."""

    implementation: str
    workers: int
    cores: int  # usable cores: at most this many workers run at once
    tasks: int
    serial: Timed
    completed: Timed  # the whole batch with as_completed
    in_order: Timed  # the whole batch in submission order
    largest_share: float  # the largest task's share of the serial work

    @property
    def ideal(self) -> int:
        """The best speedup ``workers`` can reach here, whatever the tasks: one per core at most."""
        return max(1, min(self.workers, self.cores))


def _task_shares(serial: Plan) -> list[list[float]]:
    """Each task's share of the serial loop's time, for each timed run (the warm-up's alone if none was timed).

    The serial loop handles the tasks in submission order, so a run's arrivals are its tasks in order.
    """
    shares = []
    for run in serial.runs[1:] or serial.runs:
        ends = [a.seconds for a in run.arrivals]
        durations = [b - a for a, b in zip([0.0] + ends, ends)]
        shares.append([d / ends[-1] for d in durations] if ends[-1] > 0 else [1 / len(ends)] * len(ends))
    return shares


def _largest_share(serial: Plan) -> float:
    """The largest task's share of the serial loop's time, the median over its timed runs."""
    return statistics.median(max(run) for run in _task_shares(serial))


def _failed_share(serial: Plan) -> float:
    """The share of the serial loop's time that the task the failing run reverses takes, the median over its runs."""
    return statistics.median(run[serial.job.bad] for run in _task_shares(serial))


def _batch_figures(mine: Mapping[str, Plan], workers: int, cores: int) -> BatchFigures:
    serial = mine[SERIAL]
    return BatchFigures(serial.job.implementation, workers, cores, len(serial.job.tasks), serial.time(),
                        mine[AS_COMPLETED].time(), mine[IN_ORDER].time(), _largest_share(serial))


def batch_words(f: BatchFigures) -> str:
    """The whole batch each way (a time ratio), then against the serial loop (speedups), in separate sentences."""
    ac, io = f.completed, f.in_order
    said = (f"The whole batch ({f.implementation}) took {ms(ac.seconds)} with as_completed and {ms(io.seconds)} in "
            f"submission order: as_completed took {time_ratio(ac, io, 'submission order')}, {judged(ac, io)}")
    verdict = gap(ac, io)
    if verdict == "same" and noise_of(ac.spread, io.spread) > MIN_NOISE:
        said += ": the repeats disagree too much to tell whether the order of handling changed it; repeat the run."
    elif verdict == "same":
        said += ": the order of handling changes when each result is in hand, not how long the batch takes."
    elif verdict == "unknown":
        said += "."
    else:
        said += ". " + repeat_advice("the same tasks on the same pool took different times in the two orders")
    return f"{said} {_speedup_words(f)}"


def _bound(f: BatchFigures) -> tuple[float, str]:
    """The best speedup the batch can reach here, and words naming the bound that sets it (the other in brackets)."""
    ideal = float(f.ideal)
    who = plural(f.workers, "worker", "workers") + ("" if f.workers <= f.cores else
                                                    f" on {plural(f.cores, 'core', 'cores')}")
    caps = f"{who} {'caps' if f.workers == 1 else 'cap'} the speedup at {x(ideal)}"
    if f.largest_share <= 0:
        return ideal, caps
    by_task = 1 / f.largest_share
    task = f"the largest task alone, {f.largest_share:.0%} of the serial work"
    if ideal <= by_task:
        return ideal, f"{caps} ({task}, would allow {x(by_task)})"
    return by_task, f"{task}, caps the speedup at {x(by_task)} ({who} would allow {x(ideal)})"


def _at_once(f: BatchFigures) -> str:
    """How many tasks ran at once: every worker, or one per core when the cores are fewer."""
    if f.workers <= f.cores:
        return f"{plural(f.workers, 'worker process', 'worker processes')} at once"
    return f"{f.workers} worker processes, {f.cores} at a time on {f.cores} cores"


def _speedup_words(f: BatchFigures) -> str:
    """Both ways' speedups against the serial loop, the bound that caps them, and what they mean."""
    cap, bound = _bound(f)
    speedups = {AS_COMPLETED: f.serial.seconds / f.completed.seconds,
                "submission order": f.serial.seconds / f.in_order.seconds}
    said = (f"Speedups against the serial loop ({ms(f.serial.seconds)}): {x(speedups[AS_COMPLETED])} with "
            f"as_completed and {x(speedups['submission order'])} in submission order; {bound}.")
    verdicts = [gap(f.completed, f.serial), gap(f.in_order, f.serial)]
    best = max(speedups.values())
    if verdicts == ["shorter", "shorter"]:
        above = above_ideal(best, cap, noise_of(f.serial.spread, f.completed.spread, f.in_order.spread))
        why = f": the tasks ran in {_at_once(f)}" if f.ideal > 1 else ""
        return (f"{said} Both beat the serial loop beyond the spread of the repeats{why}."
                + (f" The better speedup against serial, {above}." if above else ""))
    if "unknown" in verdicts:
        return f"{said} One repeat gives no spread to judge these speedups by."
    each = f.serial.seconds / f.tasks
    slower = "Both were slower than" if verdicts == ["longer", "longer"] else "Neither beat"
    if each < SHORT_TASK_SECONDS:
        return (f"{said} {slower} the serial loop beyond the spread of the repeats: a task took {ms(each)} "
                "serially, too little to pay for sending it to a worker process and its result back.")
    return f"{said} " + repeat_advice(f"{slower.lower()} the serial loop although a task took {ms(each)} "
                                      "serially")


@dataclass(frozen=True)
class FailureFigures:
    """The run in which one task failed: its error, and what the other tasks brought back."""

    task: int
    error_type: str | None
    error: str | None
    others: int  # other tasks whose result arrived and equals the reference
    expected_others: int
    total: int  # the sum of the results that arrived
    expected_total: int  # the serial total minus the failed task's count


def _failure_figures(plan: Plan, ref: list[int]) -> FailureFigures:
    arrivals, bad = plan.runs[0].arrivals, plan.job.bad
    failed = next((a for a in arrivals if a.task == bad), None)
    others = sum(a.task != bad and a.error is None and a.result == ref[a.task] for a in arrivals)
    return FailureFigures(bad, failed.error_type if failed else None, failed.error if failed else None, others,
                          len(ref) - 1, sum(a.result for a in arrivals if a.result is not None), sum(ref) - ref[bad])


def failure_words(f: FailureFigures) -> str:
    """What became of the failing task's error and of the other results."""
    if f.error_type is None:
        error = (f"Task {f.task} was submitted with its range reversed, yet no error came back on its future "
                 "(see the failed checks)")
    else:
        error = (f"Task {f.task}'s reversed range raised {f.error_type} in its worker; the future carried it back "
                 "and result() re-raised it here, where it was reported")
    if f.others == f.expected_others and f.total == f.expected_total:
        return (f"{error}, while the other {f.others} results still arrived and added up to {f.total:,}, the serial "
                "total minus the failed range.")
    return (f"{error}; only {f.others} of the other {f.expected_others} results arrived intact, adding up to "
            f"{f.total:,} where the serial total minus the failed range is {f.expected_total:,} (see the failed "
            "checks).")


#: Parameters for ``gilfree lab`` (DEFAULT), ``--quick`` (QUICK) and the tests (TINY).
DEFAULT: dict[str, Any] = {}
QUICK = {"n": 100_000, "tasks": 8, "repeats": 3}
TINY = {"n": 3_000, "tasks": 6, "kernel_scale": 5, "repeats": 1, "workers": 2}
