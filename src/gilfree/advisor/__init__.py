"""The advisor: run *your* function serially, on threads and on processes, and say what pays.

``gilfree.advise(fn, inputs)`` (and ``gilfree advise module:function``) times one task, plans a
run that fits the budget, measures every strategy that applies at a few worker counts (wall and
CPU time, start-up, pickling per task; arrays also through shared memory), and judges the
figures (:mod:`gilfree.advisor.verdict`)::

    >>> advice = gilfree.advise(my_module.work, [(10_000,)] * 4)   # doctest: +SKIP
    >>> advice.verdict.threads, advice.verdict.recommend            # doctest: +SKIP
    ('holds the gil', 'processes x2')

It declares nothing of its own: the strategies come from the registry (:mod:`gilfree.registry`),
the rounds are timed by :class:`gilfree.experiment.Experiment`, and the words follow the rules of
:mod:`gilfree.figures`. The module is called ``advisor`` so that ``gilfree.advise`` can stay the
function.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from .._checks import check_callable, check_count, check_seconds
from .._load import MachineLoad
from .._timing import environment, gil_enabled
from ..experiment import Experiment, Progress, no_progress
from .measure import (MOST_TASKS_PER_WORKER, BudgetTooSmall, Plan, Spec, array_args, default_worker_counts,
                      free_cores, group_units, measure_costs, plan, run_groups)
from .target import as_tasks, process_refusal
from .verdict import Row, TaskCosts, Verdict, judge

__all__ = ["DEFAULT_BUDGET", "Advice", "BudgetTooSmall", "advise", "choose_strategies"]

#: Seconds ``advise`` may take unless told otherwise.
DEFAULT_BUDGET = 20.0
#: The label of the processes row whose arrays travel as shared-memory handles.
SHM_LABEL = "processes+shm"


@dataclass(frozen=True)
class Advice:
    """Everything the advisor measured and concluded; :meth:`to_dict` for JSON."""

    function: str
    costs: TaskCosts
    plan: Plan
    rows: tuple[Row, ...]
    skipped: tuple[tuple[str, str], ...]
    verdict: Verdict
    load: MachineLoad
    gil: bool
    budget_seconds: float
    elapsed_seconds: float
    shm_setup_seconds: float | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    #: How busy the machine was while each group ran: (worker count, its reading).
    group_loads: tuple[tuple[int, MachineLoad], ...] = ()

    def group_load(self, workers: int) -> MachineLoad | None:
        """The machine's reading while the group at ``workers`` ran (None: it did not run)."""
        return next((load for w, load in self.group_loads if w == workers), None)

    def row(self, label: str, workers: int | None = None) -> Row | None:
        """The measured row of strategy ``label`` (at ``workers``, default the most measured)."""
        found = [r for r in self.rows if r.label == label and (workers is None or r.workers == workers)]
        return max(found, key=lambda r: r.workers) if found else None

    def to_dict(self) -> dict[str, Any]:
        return {"function": self.function, "gil_enabled": self.gil, "budget_seconds": self.budget_seconds,
                "elapsed_seconds": self.elapsed_seconds, "plan": self.plan.as_dict(), "task": self.costs.as_dict(),
                "shm_setup_seconds": self.shm_setup_seconds, "verdict": self.verdict.as_dict(),
                "rows": [r.as_dict() for r in self.rows],
                "skipped": [{"strategy": s, "why": why} for s, why in self.skipped],
                "machine": self.load.as_dict(),
                "groups": [{"workers": w, "machine": load.as_dict()} for w, load in self.group_loads],
                "environment": self.environment}


def _name(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}:{getattr(fn, '__qualname__', None) or repr(fn)}"


def choose_strategies(asked: Sequence[str] | None, *, arrays: bool,
                      refusal: str | None) -> tuple[list[Spec], list[tuple[str, str]]]:
    """The rows to measure, read from the registry, and every strategy left out with the reason.

    By default every registered strategy that can run here, other libraries' executors (peers,
    Dask among them) only when ``asked``; serial is always the reference. Strategies that run
    tasks in other processes are skipped, with ``refusal``, when the function or its arguments
    cannot travel there. With numpy arrays among the arguments, the standard process pool (or
    the first process strategy run whose workers are on this machine) also runs with the arrays
    in shared memory.
    """
    from ..registry import get_strategy, strategies, strategy_names

    if asked is not None:
        if isinstance(asked, str):
            raise TypeError("strategies must be a list of names, e.g. ['threads', 'processes'], not one str")
        names = list(dict.fromkeys(asked))
        for name in names:
            get_strategy(name)  # an unknown name: a ValueError naming the choices
    else:
        names = list(strategy_names(peers=False))
    specs: list[Spec] = []
    skipped: list[tuple[str, str]] = []
    for s in strategies():
        if s.name == "serial":
            continue
        if s.name not in names:
            if s.peer and asked is None:
                skipped.append((s.name, f"another library's executor: measured only when asked "
                                        f"(strategies=[{s.name!r}], --strategy {s.name})"))
            continue
        missing = s.missing()
        if missing:
            skipped.append((s.name, missing))
            continue
        caps = s.capabilities
        if caps.uses == "processes" and refusal is not None:
            skipped.append((s.name, refusal))
            continue
        specs.append(Spec(s.name, s.name, caps.uses, caps.batches, False, cluster=caps.connects))
    if arrays:
        # A shared-memory handle means nothing to a worker on another machine (a cluster's).
        processes = [sp for sp in specs if sp.uses == "processes" and not sp.cluster]
        if processes:
            from ..strategies import typical

            base = next((sp for sp in processes if sp.strategy == typical("processes")), processes[0])
            specs.append(Spec(SHM_LABEL if base.strategy == typical("processes") else f"{base.strategy}+shm",
                              base.strategy, "processes", base.batches, True))
        elif refusal is None:
            skipped.append((SHM_LABEL, "no process strategy was chosen"))
    return specs, skipped


def advise(fn: Callable[..., Any], inputs: Iterable[Any], *, strategies: Sequence[str] | None = None,
           workers: Sequence[int] | None = None, budget: float = DEFAULT_BUDGET,
           progress: Progress = no_progress) -> Advice:
    """Measure ``fn`` on ``inputs`` serially, on threads and on processes, and judge what pays.

    ``inputs`` holds the tasks: each a tuple of positional arguments, or any other object as the
    one argument; a short list is repeated to make rounds of tasks for every worker. ``strategies``
    names registered strategies to measure (default: every one that runs here but other
    libraries' peers); ``workers`` the worker counts (default 1, 2, 4, ... up to the usable
    cores). ``budget`` is in seconds: the run is planned to fit it. ``progress(done, total,
    label)`` is called as rounds complete.
    """
    check_callable(fn, "fn")
    budget = check_seconds(budget, "budget")
    if budget <= 0:
        raise ValueError(f"budget must be more than 0 seconds, not {budget}")
    check_callable(progress, "progress")
    tasks = as_tasks(inputs)
    if workers is None:
        counts = default_worker_counts()
    else:
        if isinstance(workers, (int, str)):
            raise TypeError(f"workers must be a list of worker counts, e.g. [1, 2], not {workers!r}")
        counts = tuple(sorted({check_count(w, "each worker count") for w in workers}))
        if not counts:
            raise ValueError("workers is empty: give at least one worker count, e.g. [2]")
    # A round holds at most this many tasks: the ones after it are never run, nor checked.
    tasks = tasks[:MOST_TASKS_PER_WORKER * max(counts)]
    started = time.perf_counter()
    deadline = started + budget
    refusal = process_refusal(fn, tasks)
    arrays = any(array_args(t) for t in tasks)
    specs, skipped = choose_strategies(strategies, arrays=arrays, refusal=refusal)
    costs, results = measure_costs(fn, tasks, picklable=refusal is None, budget=budget)
    if refusal is None:
        result_refusal = _result_refusal(results)
        if result_refusal is not None:
            skipped += [(sp.label, result_refusal) for sp in specs if sp.uses == "processes"]
            specs = [sp for sp in specs if sp.uses != "processes"]
    the_plan = plan(costs, specs, counts, max(budget - (time.perf_counter() - started), 0.0) or 1e-9)
    round_tasks = [tasks[i % len(tasks)] for i in range(the_plan.tasks)]
    experiment = Experiment(progress, errors="record")
    with ExitStack() as segments:
        shm_tasks, shm_setup = None, None
        if any(sp.shared_memory for sp in specs):
            t0 = time.perf_counter()
            try:
                shm_tasks, handle_bytes = _into_shared_memory(round_tasks, segments)
            # An object array has no place in a segment (TypeError, ValueError); /dev/shm may be
            # full or missing (OSError): either way the row is skipped and the rest still runs.
            except (TypeError, ValueError, OSError) as exc:
                skipped += [(sp.label, f"its arrays cannot go into shared memory: {exc}")
                            for sp in specs if sp.shared_memory]
                specs = [sp for sp in specs if not sp.shared_memory]
            else:
                shm_setup = time.perf_counter() - t0
                costs = TaskCosts(costs.seconds, costs.cpu_seconds, costs.pickle_seconds, costs.pickle_bytes,
                                  costs.array_bytes, handle_bytes)
        # Counted once the rows are known (a shm row may just have been dropped).
        experiment.plan(group_units(specs, the_plan.repeats) * len(the_plan.worker_counts))
        rows, over, group_loads = run_groups(fn, round_tasks, shm_tasks, specs, the_plan, experiment, deadline, costs)
    skipped += over
    load = experiment.finish()
    gil = gil_enabled()
    verdict = judge(rows, costs, gil=gil, free_cores=free_cores(load, load_average=True), cores=load.cores)
    return Advice(_name(fn), costs, the_plan, tuple(rows), tuple(skipped), verdict, load, gil, budget,
                  time.perf_counter() - started, shm_setup, environment(), tuple(group_loads))


def _result_refusal(results: Sequence[Any]) -> str | None:
    import pickle

    for i, result in enumerate(results):
        try:
            pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # pickling raises many kinds
            return (f"the result of task {i} does not pickle ({type(exc).__name__}: {exc}): worker processes "
                    "send results back pickled")
    return None


def _into_shared_memory(tasks: Sequence[tuple[Any, ...]], segments: ExitStack) -> tuple[list[tuple[Any, ...]], int]:
    """The tasks with each numpy array argument copied once into a segment and replaced by its handle."""
    import pickle
    import statistics

    import numpy as np

    from ..shm import SharedArray

    handles: dict[int, Any] = {}
    out = []
    for task in tasks:
        args = []
        for a in task:
            if isinstance(a, np.ndarray):
                if id(a) not in handles:
                    handles[id(a)] = segments.enter_context(SharedArray.copy_of(a)).handle
                args.append(handles[id(a)])
            else:
                args.append(a)
        out.append(tuple(args))
    sizes = [len(pickle.dumps(t, protocol=pickle.HIGHEST_PROTOCOL)) for t in out[:8]]
    return out, int(statistics.median(sizes))

