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
from concurrent.futures import Executor, Future, as_completed
from dataclasses import asdict, dataclass
from typing import Callable

from .._select import C_EXTENSION, PURE_PYTHON, implementations
from .._timing import environment, interleaved, usable_cores
from .._workers import call_kernel
from ..strategies import check_workers, open_executor
from ._order import interleave_heavy_light, overtaken
from ._result import Progress, Row, StepResult, no_progress

TITLE = "ProcessPoolExecutor and as_completed"

SERIAL = "serial reference"
AS_COMPLETED = "as_completed"
IN_ORDER = "futures in submission order"
ONE_FAILS = "as_completed, one task fails"


def growing_ranges(n: int, parts: int) -> list[tuple[int, int]]:
    """Cut ``[0, n)`` into ``parts`` ranges whose widths grow as 1, 2, 3, ...: later ones cost more."""
    if isinstance(n, bool) or not isinstance(n, int) or isinstance(parts, bool) or not isinstance(parts, int):
        raise TypeError("n and parts must be ints")
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    triangle = parts * (parts + 1) // 2
    if n < triangle:
        raise ValueError(f"n must be at least {triangle} for {parts} growing ranges, got {n}")
    bounds = [n * (i * (i + 1) // 2) // triangle for i in range(parts + 1)]
    return list(zip(bounds, bounds[1:]))


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


def gather(executor: Executor, jobs: list[tuple], *, ordered: bool = False) -> tuple[list[Arrival], float]:
    """Submit ``call_kernel(*job)`` for every job; handle each future as it completes (or, with
    ``ordered``, in submission order). Returns the arrivals and the seconds to the first one.

    A task's exception is caught and recorded on its arrival; the other futures go on.
    """
    futures: dict[Future, int] = {}
    submitted: list[float] = []
    t0 = time.perf_counter()
    for i, job in enumerate(jobs):
        futures[executor.submit(call_kernel, *job)] = i
        submitted.append(time.perf_counter())
    arrivals = []
    first = None
    for future in (list(futures) if ordered else as_completed(futures)):
        i = futures[future]
        try:
            value = future.result()
        except Exception as exc:  # a task's own failure: report it and keep the others
            arrival = Arrival(i, jobs[i][2], jobs[i][3], 0.0, error_type=type(exc).__name__, error=str(exc))
        else:
            arrival = Arrival(i, jobs[i][2], jobs[i][3], 0.0, result=value)
        now = time.perf_counter()
        arrival.seconds = now - submitted[i]
        if first is None:
            first = now - t0
        arrivals.append(arrival)
    return arrivals, first if first is not None else time.perf_counter() - t0


def run(n: int = 300_000, tasks: int = 8, kernel_scale: int = 10, workers: int | None = None,
        fail: int | None = None, repeats: int = 5, progress: Progress = no_progress) -> StepResult:
    """Submit ``tasks`` prime counts over growing ranges of ``[0, n)`` and handle them as they finish.

    The compiled kernel gets ``n * kernel_scale``. ``fail`` is the submission index of the task
    that the failing run submits reversed (default: the middle one).
    """
    k = check_workers(workers if workers is not None else max(2, usable_cores()))
    if tasks < 2 or kernel_scale < 1 or repeats < 1:
        raise ValueError("tasks must be >= 2, kernel_scale and repeats >= 1")
    bad = tasks // 2 if fail is None else fail
    if not 0 <= bad < tasks:
        raise ValueError(f"fail must be a task index in [0, {tasks}), got {fail}")
    impls = implementations()
    names = [PURE_PYTHON] + ([C_EXTENSION] if C_EXTENSION in impls else [])

    jobs: dict[str, list[tuple]] = {}
    broken: dict[str, list[tuple]] = {}
    whole: dict[str, int] = {}
    for impl in names:
        top = n * (1 if impl == PURE_PYTHON else kernel_scale)
        ranges = interleave_heavy_light(growing_ranges(top, tasks))
        jobs[impl] = [(impl, "count_primes", lo, hi) for lo, hi in ranges]
        lo, hi = ranges[bad]
        broken[impl] = [job if i != bad else (impl, "count_primes", hi, lo) for i, job in enumerate(jobs[impl])]
        whole[impl] = top

    kinds = (SERIAL, AS_COMPLETED, IN_ORDER, ONE_FAILS)
    keys = [(impl, kind) for impl in names for kind in kinds]
    total = len(keys) * (repeats + 1) + len(names)
    done = [0]

    def tick(label: str) -> None:
        done[0] += 1
        progress(done[0], total, label)

    outcomes: dict[tuple[str, str], list[tuple[list[Arrival], float]]] = {key: [] for key in keys}
    checks: dict[str, bool] = {}
    reference: dict[str, list[int]] = {}
    with open_executor("processes", k) as executor:

        def variant(impl: str, kind: str) -> Callable[[], None]:
            kern = impls[impl].count_primes

            def call() -> None:
                if kind == SERIAL:
                    t0 = time.perf_counter()
                    arrivals = []
                    for i, (_, _, lo, hi) in enumerate(jobs[impl]):
                        arrivals.append(Arrival(i, lo, hi, 0.0, result=kern(lo, hi)))
                        arrivals[-1].seconds = time.perf_counter() - t0
                    outcomes[(impl, kind)].append((arrivals, arrivals[0].seconds))
                else:
                    submit = broken[impl] if kind == ONE_FAILS else jobs[impl]
                    outcomes[(impl, kind)].append(gather(executor, submit, ordered=kind == IN_ORDER))
            return call

        variants = {key: variant(*key) for key in keys}
        for impl in names:
            variants[(impl, SERIAL)]()
            reference[impl] = [a.result for a in outcomes[(impl, SERIAL)][0][0]]
            checks[f"{impl}, serial: the ranges' counts add up to one count over [0, {whole[impl]:,})"] = (
                sum(reference[impl]) == impls[impl].count_primes(0, whole[impl]))
            tick(f"{impl}, serial check")
        for key, fn in variants.items():
            if key[1] != SERIAL:
                fn()
            tick(f"{key[0]}, {key[1]}")

        def counted(key, fn):
            def wrapper():
                fn()
                tick(f"{key[0]}, {key[1]}")
            return wrapper

        timings = interleaved({key: counted(key, fn) for key, fn in variants.items()}, repeats=repeats, warmup=0)

    for impl in names:
        ref = reference[impl]
        for kind in (AS_COMPLETED, IN_ORDER, ONE_FAILS):
            for run_no, (arrivals, _) in enumerate(outcomes[(impl, kind)]):
                checks.update(_check(impl, kind, run_no, arrivals, ref, bad))

    rows = []
    for impl, kind in keys:
        t = timings[(impl, kind)]
        serial = timings[(impl, SERIAL)].median
        arrivals, _ = outcomes[(impl, kind)][0]
        order = [a.task for a in arrivals]
        firsts = [first for _, first in outcomes[(impl, kind)]]
        rows.append(Row(
            variant=kind, implementation=impl, strategy="serial" if kind == SERIAL else "processes",
            workers=1 if kind == SERIAL else k, seconds=t.median, spread=t.spread, cpu_seconds=t.cpu_median,
            speedup=serial / t.median,
            extra={"tasks": tasks, "n": whole[impl], "first result ms": statistics.median(firsts) * 1000,
                   "overtaken": overtaken(order), "failed": sum(a.error is not None for a in arrivals),
                   "arrival": " ".join(map(str, order)),
                   "total": sum(a.result for a in arrivals if a.result is not None)},
        ))

    shown = names[-1]
    summary = _summary(shown, outcomes, reference[shown], bad)
    env = environment()
    data = {
        "submitted": {impl: [list(job[2:]) for job in jobs[impl]] for impl in names},
        "failed_task": bad,
        "reference": reference,
        "runs": [{"implementation": impl, "variant": kind, "first_seconds": first,
                  "arrivals": [asdict(a) for a in arrivals]}
                 for (impl, kind) in keys for arrivals, first in outcomes[(impl, kind)]],
    }
    return StepResult(
        step=4, title=TITLE,
        params={"n": n, "tasks": tasks, "kernel_scale": kernel_scale, "workers": k, "fail": bad,
                "repeats": repeats},
        rows=rows, checks=checks, summary=summary, explanation=_explain(rows, shown, outcomes, bad, k),
        env=env, data=data,
        columns=("variant", "implementation", "workers", "n", "ms", "speedup", "first result ms", "overtaken",
                 "failed", "total", "arrival"),
    )


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
        f"{name}: total equals the serial total minus the failed task": sum(a.result for a in others)
        == sum(ref) - ref[bad],
    }


def _summary(impl: str, outcomes: dict, ref: list[int], bad: int) -> list[str]:
    arrivals, _ = outcomes[(impl, ONE_FAILS)][0]
    lines = [f"{ONE_FAILS} ({impl}): submitted tasks 0..{len(ref) - 1}, task {bad} with its range reversed"]
    for place, a in enumerate(arrivals, 1):
        what = (f"{a.error_type}: {a.error}" if a.error is not None else f"{a.result:,} primes")
        lines.append(f"  arrived #{place:<2} task {a.task:<2} [{a.lo:,}, {a.hi:,})  "
                     f"after {a.seconds * 1000:7.1f} ms  -> {what}")
    got = sum(a.result for a in arrivals if a.result is not None)
    lines.append(f"Total of the {len(arrivals) - 1} results: {got:,} = serial total {sum(ref):,} "
                 f"- failed task's {ref[bad]:,}")
    for kind in (AS_COMPLETED, IN_ORDER):
        order = [a.task for a in outcomes[(impl, kind)][0][0]]
        lines.append(f"{kind} ({impl}): handled in order " + " ".join(map(str, order)))
    return lines


def _explain(rows: list[Row], impl: str, outcomes: dict, bad: int, k: int) -> list[str]:
    def find(kind: str) -> Row:
        return next(r for r in rows if r.variant == kind and r.implementation == impl)

    ac, io, fl = find(AS_COMPLETED), find(IN_ORDER), find(ONE_FAILS)
    widest = max(outcomes[(impl, AS_COMPLETED)][0][0], key=lambda a: a.hi - a.lo).task == 0
    lines = [
        f"With as_completed ({impl}, {k} workers), {ac.extra['overtaken']} of {ac.extra['tasks']} results were "
        f"handled after a task submitted later than theirs, and the first was in hand after "
        f"{ac.extra['first result ms']:.1f} ms; waiting on the futures in submission order, the first came "
        f"after {io.extra['first result ms']:.1f} ms"
        + ((", because that first future is task 0" + (", the widest range." if widest else "."))
           if io.extra["first result ms"] > ac.extra["first result ms"] else
           ": at this size as_completed brought no result sooner.")]

    serial_arrivals = outcomes[(impl, SERIAL)][0][0]
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
    if max(ac.speedup, io.speedup) > cap * 1.05:
        verdict += (f" A speedup above the {cap:.2f}x cap cannot come from the work itself: other load on this "
                    "machine slowed some of the runs.")
    lines.append(
        f"The whole batch took {ac.seconds * 1000:.1f} ms with as_completed and {io.seconds * 1000:.1f} ms in "
        f"submission order ({ac.speedup:.2f}x and {io.speedup:.2f}x the serial loop; the largest task alone is "
        f"{share:.0%} of the serial work, which caps {k} workers at {cap:.2f}x). "
        + verdict)
    failed = next(a for a in outcomes[(impl, ONE_FAILS)][0][0] if a.task == bad)
    lines.append(
        f"Task {bad}'s reversed range raised {failed.error_type} in its worker; the future carried it back and "
        f"result() re-raised it here, where it was reported, while the other {fl.extra['tasks'] - 1} results "
        f"still arrived and added up to {fl.extra['total']:,}, the serial total minus the failed range.")
    return lines


#: Parameters for ``gilfree lab`` (DEFAULT), ``--quick`` (QUICK) and the tests (TINY).
DEFAULT: dict = {}
QUICK = {"n": 100_000, "tasks": 8, "repeats": 3}
TINY = {"n": 3_000, "tasks": 6, "kernel_scale": 5, "repeats": 1, "workers": 2}
