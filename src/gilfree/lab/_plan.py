"""What every lab step shares around the experiment runner (:mod:`gilfree.experiment`).

Which implementations run (the caller decides; pure Python, the reference, always among them), how
large a call each twin gets, how a measured variant becomes a table row, and how an experiment
becomes a step's result. Each step says what it runs and what it means; the runner measures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import Executor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from .. import _select
from .._select import C_EXTENSION, PURE_PYTHON, Implementation
from .._timing import environment
from ..experiment import Experiment, Measured
from ..mp_pool import GuardedPool, PoolExecutor
from .._compat import executor_workers
from ..registry import capabilities_of
from ..strategies import check_workers, open_executor
from ..transports import default_transport
from ._result import Row, StepResult

__all__ = [
    "Runner",
    "open_runners",
        "chosen_implementations",
    "guarded_pool",
    "scaled",
    "measured_row",
    "speedup_of",
    "step_result",
    "sum_of_squares_below",
    "worker_count",
]

def chosen_implementations(implementations: Mapping[str, Implementation] | None | object) -> dict[str, Implementation]:
    """The implementations a step runs, by name, pure Python first.

    ``None`` means every one that imports here (:func:`gilfree._select.implementations`). The
    pure-Python twin is the reference every step compares against, so it must be among them;
    leaving out ``"c-extension"`` runs the step without compiled code.
    """
    impls = _select.implementations() if implementations is None else implementations
    if not isinstance(impls, Mapping):
        raise TypeError("implementations must be a mapping of implementation name to Implementation, "
                        f"not {type(impls).__name__}")
    known = (PURE_PYTHON, C_EXTENSION)
    unknown = [name for name in impls if name not in known]
    if unknown:
        raise ValueError(f"implementations must be named {PURE_PYTHON!r} or {C_EXTENSION!r}, got {unknown[0]!r}")
    if PURE_PYTHON not in impls:
        raise ValueError(f"implementations must include {PURE_PYTHON!r}: it is the reference of every step")
    for name, impl in impls.items():
        if not isinstance(impl, Implementation):
            raise TypeError(f"implementations[{name!r}] must be a gilfree._select.Implementation, "
                            f"not {type(impl).__name__}")
    return {name: impls[name] for name in known if name in impls}


def worker_count(workers: object, default: int) -> int:
    """``workers`` checked as a positive int, or ``default`` when it is None."""
    return check_workers(default if workers is None else workers)


def scaled(implementation: str, n: int, kernel_scale: int) -> int:
    """``n`` for pure Python, ``n * kernel_scale`` for the compiled kernel, so both last long enough to time."""
    return n if implementation == PURE_PYTHON else n * kernel_scale


def sum_of_squares_below(n: int) -> int:
    """The sum of ``i * i`` for ``i`` in ``range(n)``, in closed form: the reference of steps 1 and 2."""
    return (n - 1) * n * (2 * n - 1) // 6


def speedup_of(row: Row) -> float:
    """``row.speedup``, for a row that :func:`timed_row` was given one (every timed pool row of steps 1 to 4).

    ``Row.speedup`` is optional because a reference row may have nothing to be faster than; an
    explanation that reads a speedup from such a row is a bug in the step, and is named here.
    """
    if row.speedup is None:
        raise ValueError(f"the {row.variant!r} row ({row.implementation}, {row.strategy}) has no speedup")
    return row.speedup


def guarded_pool(executor: Executor) -> GuardedPool:
    """The ``multiprocessing.Pool`` calls (``map``, ``starmap``, ``imap``, ...) of an executor that a
    step opened with the ``"pool"`` strategy: steps 2 and 3 time those calls themselves."""
    if not isinstance(executor, PoolExecutor):
        raise TypeError(f"the 'pool' strategy opened a {type(executor).__name__}, not a "
                        "gilfree.mp_pool.PoolExecutor: steps 2 and 3 need its Pool calls (executor.pool)")
    return executor.pool


def measured_row(m: Measured, speedup: float | None, extra: dict[str, Any] | None = None) -> Row:
    """A table row for one measured variant; its tags give implementation, strategy and workers.

    The variant's tags must hold ``variant`` (the row's name in the table; the variant's own name
    when absent), ``implementation``, ``strategy`` and ``workers``.
    """
    t = m.tags
    return Row(variant=t.get("variant", m.name), implementation=t["implementation"], strategy=t["strategy"],
               workers=t["workers"], seconds=m.seconds, spread=m.spread, cpu_seconds=m.cpu_seconds,
               speedup=speedup, extra=dict(extra or {}))


def step_result(ex: Experiment, *, step: int | str, title: str, params: dict[str, Any], rows: list[Row],
                summary: list[str], explanation: list[str], columns: tuple[str, ...] = (),
                data: dict[str, Any] | None = None, env: dict[str, Any] | None = None) -> StepResult:
    """The step's result from its experiment: checks, how busy the machine was, the environment.

    Call it last: it ends the experiment's reading of the machine.
    """
    machine = ex.finish()
    return StepResult(step=step, title=title, params=params, rows=rows, checks=ex.checks.as_dict(),
                      summary=summary, explanation=explanation, env=env if env is not None else environment(),
                      columns=columns, data=dict(data or {}), machine=machine.as_dict(),
                      check_sentences=ex.checks.sentences())


def _cluster_options(name: str, scheduler: str | None) -> dict[str, Any]:
    from ..registry import get_strategy

    return {"scheduler": scheduler} if scheduler is not None and get_strategy(name).capabilities.connects else {}


def check_scheduler(scheduler: object, strategies: Iterable[str]) -> str | None:
    """``scheduler`` checked: None, or an address for at least one strategy that joins a cluster."""
    from ..registry import get_strategy

    if scheduler is None:
        return None
    if not isinstance(scheduler, str) or not scheduler.strip():
        raise TypeError(f"scheduler must be an address such as 'tcp://host:8786', not {scheduler!r}")
    if not any(get_strategy(name).capabilities.connects for name in strategies):
        raise ValueError("scheduler needs a strategy that joins an existing cluster among the strategies "
                         "run (--strategy dask)")
    return scheduler.strip()


@dataclass(frozen=True)
class Runner:
    """Where a variant of steps 7 and 8 runs: an opened executor (None: the reference, done in
    one call) and what its capabilities say it is, never its name."""

    name: str
    executor: Executor | None
    workers: int
    uses: str  # "serial", "threads", "processes", or lab._words.REFERENCE for the reference
    transport: str  # how a chunk of a shared array reaches a task


def open_runners(stack: ExitStack, names: Iterable[str], workers: int,
                 given: Mapping[str, Executor] | None = None, scheduler: str | None = None) -> list[Runner]:
    """Open every strategy of ``names`` with ``workers`` workers (closed with ``stack``), then add
    the caller's own executors of ``given`` (which stay theirs), each described by its capabilities.

    ``scheduler`` (an address) goes to the strategies that join an existing cluster (``dask``).
    """
    opened = {name: stack.enter_context(open_executor(name, workers, **_cluster_options(name, scheduler)))
              for name in names}
    opened.update(given or {})
    runners = []
    for name, executor in opened.items():
        caps = capabilities_of(executor)
        count = 1 if caps.uses == "serial" else executor_workers(executor) or workers
        transport = caps.transport if caps.transport == "description" else default_transport(executor).name
        runners.append(Runner(name, executor, count, caps.uses, transport or "copies"))
    return runners
