"""The advisor's measurements: one task's costs, a plan that fits the budget, and the rounds.

A *round* is the same list of tasks run once by one strategy at one worker count. Rounds are
measured by :class:`gilfree.experiment.Experiment`, one group per worker count: serial and every
strategy at that count, warmed up, then repeated, interleaved, with wall time and the CPU time
of this process and its workers. Each group's serial rounds are the reference for its rows.

The budget is kept by planning, not by stopping half-way: one task is timed first, and the round
size, the repeats and the worker counts are scaled down (in that order) until the estimate fits;
a group whose estimate no longer fits in what is left is skipped, with the reason.
"""

from __future__ import annotations

import math
import multiprocessing
import pickle
import statistics
import sys
import time
from concurrent.futures import Executor
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Sequence

from .._load import LoadMeter, MachineLoad
from .._timing import usable_cores
from ..experiment import Experiment, Variant
from .verdict import Row, TaskCosts

__all__ = ["BudgetTooSmall", "Plan", "Spec", "array_args", "attached_call", "default_worker_counts", "free_cores",
           "group_units", "handoff_seconds", "measure_costs", "plan", "run_groups", "run_round", "same_results",
           "startup_guess"]

#: A round of serial work should take at least this long, so that a timer and a scheduler tick
#: are small beside it (tiny tasks get more of them, up to :data:`MOST_TASKS_PER_WORKER` each).
ROUND_SECONDS = 0.1
MOST_TASKS_PER_WORKER = 64
#: What the estimate assumes a task costs on top of its work: a thread pool's hand-off, a
#: process pool's round trip (its pickling is measured and added), and a pool's start-up.
THREAD_HANDOFF_SECONDS = 50e-6
PROCESS_HANDOFF_SECONDS = 400e-6
#: A pickled task's trip through a pipe costs about this many times its pickling alone (the
#: bytes are copied into the pipe and out again): measured here at 2 for an 8 MB array.
PIPE_FACTOR = 2.5
DEFAULT_REPEATS, FEWEST_REPEATS = 5, 3
#: The share of the budget the plan may fill; the rest is the estimate's margin (a busy machine
#: slows the rounds down after the one task was timed).
PLAN_SHARE = 0.7
#: A group starts only if its estimate, times this, fits in what is left of the budget.
GUARD_MARGIN = 1.2


@dataclass(frozen=True)
class Spec:
    """One row to measure: a registered strategy, how it runs tasks, and whether arrays go by handle.

    ``cluster``: the strategy can join a cluster (its capability ``connects``), so its workers may
    sit on other machines, where a shared-memory handle means nothing, and it starts a scheduler.
    """

    label: str
    strategy: str
    uses: str
    batches: bool = False
    shared_memory: bool = False
    cluster: bool = False


@dataclass(frozen=True)
class Plan:
    """How much to run: tasks per round, timed repeats, worker counts, and the time it should take."""

    tasks: int
    repeats: int
    worker_counts: tuple[int, ...]
    estimate_seconds: float
    dropped_counts: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"tasks_per_round": self.tasks, "repeats": self.repeats, "worker_counts": list(self.worker_counts),
                "estimate_seconds": self.estimate_seconds, "dropped_worker_counts": list(self.dropped_counts)}


class BudgetTooSmall(ValueError):
    """The smallest useful run does not fit the budget."""


def default_worker_counts(cores: int | None = None) -> tuple[int, ...]:
    """1, 2, 4, ... up to the usable cores, and the cores themselves; always 1 and 2."""
    cores = usable_cores() if cores is None else cores
    counts = {1, 2, max(2, cores)}
    w = 4
    while w < cores:
        counts.add(w)
        w *= 2
    return tuple(sorted(counts))


def handoff_seconds(uses: str) -> float:
    """What handing one task to a worker is taken to cost, before anything is measured."""
    if uses == "processes":
        return PROCESS_HANDOFF_SECONDS
    return THREAD_HANDOFF_SECONDS if uses == "threads" else 0.0


def startup_guess(spec: Spec, workers: int) -> float:
    """A pool's start-up, guessed before it is measured: forked workers are quick, spawned ones
    not, a cluster's scheduler and workers slower still."""
    if spec.uses != "processes":
        return 0.0
    if spec.cluster:
        return 3.0 + 0.5 * workers
    fork = multiprocessing.get_start_method(allow_none=True) in (None, "fork") and sys.platform == "linux"
    return (0.05 + 0.02 * workers) if fork else (0.3 + 0.15 * workers)


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def array_args(task: tuple[Any, ...]) -> list[Any]:
    """The numpy arrays among a task's arguments (numpy is looked for only if it was imported)."""
    np = sys.modules.get("numpy")
    if np is None:
        return []
    return [a for a in task if isinstance(a, np.ndarray)]


def _call(fn: Callable[..., Any], task: tuple[Any, ...], i: int) -> Any:
    """``fn(*task)``, with an exception said as the user's function failing on task ``i``."""
    try:
        return fn(*task)
    except Exception as exc:
        name = getattr(fn, "__qualname__", repr(fn))
        raise RuntimeError(f"{name} raised {type(exc).__name__}: {exc} when called serially on task {i} "
                           "(before any timing): fix the function or its inputs first") from exc


def measure_costs(fn: Callable[..., Any], tasks: Sequence[tuple[Any, ...]], *, picklable: bool,
                  budget: float) -> tuple[TaskCosts, list[Any]]:
    """One task's serial wall and CPU time and its pickling, from the distinct tasks given.

    Each distinct task runs once untimed (imports, caches), then timed, again and again while the
    total stays under a small share of the budget. Returns the costs and the serial results.
    """
    candidates = list(tasks)[:8]
    results: list[Any] = []
    start = time.perf_counter()
    for i, task in enumerate(candidates):
        t0 = time.perf_counter()
        results.append(_call(fn, task, i))
        took = time.perf_counter() - t0
        if took > budget / 4:
            raise BudgetTooSmall(
                f"one call (task {i}) took {took:.1f} s, more than a quarter of the {budget:g} s budget, and the "
                "advisor runs each task at least a dozen times: give it a smaller input, or raise the budget")
        if time.perf_counter() - start > budget / 8:  # enough distinct tasks seen to time one
            break
    distinct = candidates[:len(results)]
    walls: list[float] = []
    cpus: list[float] = []
    spent = time.perf_counter() - start
    while True:
        for i, task in enumerate(distinct):
            t0, c0 = _clock()
            _call(fn, task, i)
            t1, c1 = _clock()
            walls.append(t1 - t0)
            cpus.append(c1 - c0)
        spent = time.perf_counter() - start
        if len(walls) >= 25 * len(distinct) or spent > min(0.05 * budget, 0.5) and len(walls) >= 3:
            break
        if spent > budget / 4:
            break
    pickle_seconds = pickle_bytes = None
    if picklable:
        secs, sizes = [], []
        try:
            for task, result in zip(distinct, results):
                t0 = time.perf_counter()
                blobs = [pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL),
                         pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)]
                for blob in blobs:
                    pickle.loads(blob)
                secs.append(time.perf_counter() - t0)
                sizes.append(sum(map(len, blobs)))
        except Exception:  # a result that does not pickle: the caller skips processes and says why
            pass
        else:
            pickle_seconds, pickle_bytes = statistics.median(secs), int(statistics.median(sizes))
    array_bytes = int(statistics.median(sum(a.nbytes for a in array_args(t)) for t in distinct))
    return TaskCosts(statistics.median(walls), statistics.median(cpus), pickle_seconds, pickle_bytes,
                     array_bytes), results


def _estimate(costs: TaskCosts, specs: Sequence[Spec], tasks: int, repeats: int,
              counts: Sequence[int]) -> float:
    """Seconds the groups should take: no speedup assumed for threads, for processes an ideal one
    on as many workers as there are usable cores."""
    t = costs.seconds
    pickled = costs.pickle_seconds or 0.0
    cores = usable_cores()
    total = 0.0
    for w in counts:
        per_round = tasks * t  # serial
        startups = 0.0
        for spec in specs:
            work = tasks * t / (min(w, cores) if spec.uses == "processes" else 1)
            extra = tasks * handoff_seconds(spec.uses)
            if spec.uses == "processes" and not spec.shared_memory:
                extra += tasks * pickled * PIPE_FACTOR
            per_round += work + extra
            startups += startup_guess(spec, w)
        total += (1 + repeats) * per_round + startups
    return total


def plan(costs: TaskCosts, specs: Sequence[Spec], counts: Sequence[int], budget: float) -> Plan:
    """The largest run that fits ``PLAN_SHARE`` of ``budget``: rounds shrink, then repeats, then worker counts."""
    counts = sorted(set(counts))
    wmax = counts[-1]
    per_worker = max(2, min(MOST_TASKS_PER_WORKER, math.ceil(ROUND_SECONDS / max(costs.seconds * wmax, 1e-9))))
    tasks, repeats, dropped = per_worker * wmax, DEFAULT_REPEATS, []
    room = PLAN_SHARE * budget
    while _estimate(costs, specs, tasks, repeats, counts) > room:
        if tasks > 2 * wmax:
            tasks = max(2 * wmax, tasks // 2 // wmax * wmax)
        elif repeats > FEWEST_REPEATS:
            repeats = FEWEST_REPEATS
        elif tasks > wmax:
            tasks = wmax
        elif len(counts) > 1:
            # Keep the most workers (the question asked) and 1 as long as possible; drop the middle first.
            victim = counts[-2] if len(counts) > 2 else counts[0]
            counts.remove(victim)
            dropped.append(victim)
            wmax = counts[-1]
            tasks = min(tasks, wmax) if tasks > wmax else tasks
        else:
            need = _estimate(costs, specs, tasks, repeats, counts)
            raise BudgetTooSmall(
                f"the smallest useful run ({tasks} tasks of {costs.seconds * 1000:.1f} ms, {repeats} repeats, "
                f"{len(specs) + 1} strategies, {wmax} workers) needs about {need:.1f} s, more than the "
                f"{room:.1f} s a plan may take ({PLAN_SHARE:.0%} of the {budget:.1f} s left of the budget): "
                "raise the budget (--budget) or give each call less work")
    return Plan(tasks, repeats, tuple(counts), _estimate(costs, specs, tasks, repeats, counts), tuple(dropped))


# -- running rounds -------------------------------------------------------------------------------


def _noop() -> None:
    """A task that does nothing: running one per worker makes a pool start its workers."""


#: The segments a worker process has attached, by name: a worker maps each array once, as a
#: program would, instead of paying for a fresh mapping (and its page faults) on every task.
#: They go with the worker; the owner unlinks the names when the advisor is done.
_ATTACHED: dict[str, Any] = {}


def attached_call(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn`` in a worker with each shared-memory handle among ``args`` attached as its array."""
    from ..shm import SharedArray, SharedArrayHandle

    def array(handle: SharedArrayHandle) -> Any:
        shared = _ATTACHED.get(handle.name)
        if shared is None:
            shared = _ATTACHED[handle.name] = SharedArray.attach(handle)
        return shared.array

    return fn(*(array(a) if isinstance(a, SharedArrayHandle) else a for a in args))


def run_round(executor: Executor | None, fn: Callable[..., Any], tasks: Sequence[tuple[Any, ...]],
              batches: bool = False) -> list[Any]:
    """Every task once: serially (no executor), as one batch, or submitted one by one."""
    if executor is None:
        return [fn(*task) for task in tasks]
    run_batch = getattr(executor, "run_batch", None)
    if batches and callable(run_batch):
        return list(run_batch(fn, tasks))
    futures = [executor.submit(fn, *task) for task in tasks]
    return [f.result() for f in futures]


def _open(stack: ExitStack, spec: Spec, workers: int) -> tuple[Executor, float]:
    from ..strategies import open_executor

    t0 = time.perf_counter()
    executor = stack.enter_context(open_executor(spec.strategy, workers))
    run_round(executor, _noop, [()] * workers, spec.batches)
    return executor, time.perf_counter() - t0


def free_cores(load: MachineLoad, *, load_average: bool = False) -> float | None:
    """The cores other processes left free while ``load`` was read (None: not known).

    Without ``/proc``, ``load_average=True`` takes the load average as the reading began for the
    others' share: it lags by a minute, so it stands for them only before our own work started.
    """
    others = load.others_cores
    if others is None and load_average:
        others = load.load_before
    return None if others is None else max(0.0, load.cores - others)


def group_units(specs: Sequence[Spec], repeats: int) -> int:
    """Progress units of one group: a start per spec, then serial and each spec, warmed up and repeated."""
    return len(specs) + (len(specs) + 1) * (1 + repeats)


def run_groups(fn: Callable[..., Any], tasks: Sequence[tuple[Any, ...]], shm_tasks: Sequence[tuple[Any, ...]] | None,
               specs: Sequence[Spec], the_plan: Plan, experiment: Experiment, deadline: float,
               costs: TaskCosts) -> tuple[list[Row], list[tuple[str, str]], list[tuple[int, MachineLoad]]]:
    """Measure every spec at every planned worker count.

    Returns the rows, what was skipped and why, and how busy the machine was during each group
    (by worker count). A group starts only if its estimate, scaled by how much longer than
    estimated the groups so far took, fits in what is left before ``deadline``; the progress
    total loses the units of a group skipped or a strategy that could not start.
    """
    rows: list[Row] = []
    skipped: list[tuple[str, str]] = []
    loads: list[tuple[int, MachineLoad]] = []
    # Process pools first: forking while a thread pool's workers live copies their locks mid-use.
    order = sorted(specs, key=lambda sp: sp.uses != "processes")
    slower = 1.0  # the most a group so far took over its estimate
    for i, workers in enumerate(the_plan.worker_counts):
        t0 = time.perf_counter()
        left = deadline - t0
        estimate = _estimate(costs, specs, the_plan.tasks, the_plan.repeats, [workers])
        need = estimate * slower
        if need * GUARD_MARGIN > left:
            rest = the_plan.worker_counts[i:]
            skipped.extend((f"{s.label} x{w}", f"the budget was spent (about {need:.1f} s needed, {max(left, 0):.1f} s "
                            "left)") for w in rest for s in specs)
            _drop_units(experiment, len(rest) * group_units(specs, the_plan.repeats), "the budget was spent")
            break
        with ExitStack() as stack:
            reference: list[Any] = []  # serial's first round, which runs before any other (warm-up order)

            def keep_first(result: Any) -> bool:
                if not reference:
                    reference.append(result)
                return True

            def same_as_serial(result: Any) -> bool:
                return not reference or same_results(result, reference[0])

            variants = [Variant("serial", partial(run_round, None, fn, tasks), check=keep_first)]
            startups: dict[str, float] = {}
            errors: dict[str, str] = {}
            for spec in order:
                name = f"{spec.label} x{workers}"
                try:
                    executor, startups[name] = experiment.step(f"start {name}", partial(_open, stack, spec, workers))
                except Exception as exc:  # a strategy that cannot start is a row with its reason
                    errors[name] = f"could not start: {type(exc).__name__}: {exc}"
                    experiment.tick(f"start {name}")
                    _drop_units(experiment, 1 + the_plan.repeats, f"start {name}")
                    continue
                if spec.shared_memory:
                    assert shm_tasks is not None
                    run = partial(run_round, executor, partial(attached_call, fn), shm_tasks, spec.batches)
                else:
                    run = partial(run_round, executor, fn, tasks, spec.batches)
                variants.append(Variant(name, run, check=same_as_serial))
            meter = LoadMeter()
            measured = experiment.measure(variants, repeats=the_plan.repeats, warmup=1, cpu="tree")
            load = meter.stop([m.spread for m in measured.values() if m.timing is not None])
        if estimate > 0:
            slower = max(slower, (time.perf_counter() - t0) / estimate)
        loads.append((workers, load))
        free = free_cores(load)
        serial = measured["serial"]
        ref = Row("serial", "serial", 1, *(_figures(serial)), error=serial.error, free_cores=free)
        rows.append(ref)
        for spec in specs:
            name = f"{spec.label} x{workers}"
            m = measured.get(name)
            if m is None:
                rows.append(Row(spec.label, spec.uses, workers, reference=ref, error=errors.get(name),
                                shared_memory=spec.shared_memory, free_cores=free))
                continue
            rows.append(Row(spec.label, spec.uses, workers, *(_figures(m)), startup_seconds=startups.get(name),
                            reference=ref, error=m.error, shared_memory=spec.shared_memory,
                            same_results=m.right if m.error is None else None, free_cores=free))
    return rows, skipped, loads


def _drop_units(experiment: Experiment, units: int, label: str) -> None:
    """Take ``units`` that will never run off the progress total, and say so, so a bar ends full."""
    experiment.total = max(experiment.done, experiment.total - units)
    experiment.progress(experiment.done, experiment.total, label)


_IDENTITY_EQ: Any = object.__eq__


def same_results(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """Whether two rounds returned the same results, task by task; results that cannot be
    compared (no ``==`` but identity, ``==`` raises, or gives something without a truth value)
    count as the same."""
    if len(a) != len(b):
        return False
    np = sys.modules.get("numpy")
    for x, y in zip(a, b):
        if x is y or getattr(type(x), "__eq__", None) is _IDENTITY_EQ:  # a worker's copy is never identical
            continue
        try:
            if np is not None and (isinstance(x, np.ndarray) or isinstance(y, np.ndarray)):
                equal = bool(np.array_equal(x, y, equal_nan=x.dtype.kind in "fc" if hasattr(x, "dtype") else False))
            elif isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
                equal = True
            else:
                equal = bool(x == y)
        except Exception:  # no comparison, or no truth value: nothing to say
            continue
        if not equal:
            return False
    return True


def _figures(m: Any) -> tuple[float | None, float | None, float, int]:
    if m.timing is None:
        return None, None, 0.0, 0
    return m.seconds, m.cpu_seconds, m.spread, len(m.timing.wall)
