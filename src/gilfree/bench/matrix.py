"""The benchmark matrix: workloads x implementations x strategies x worker counts x sizes.

Method, in the order it runs (the runner is :class:`gilfree.experiment.Experiment`, the same
one the lab uses, with ``errors="record"`` and the CPU time of the whole process tree):

1. Every workload is prepared at every size for every implementation, and its reference
   result is computed by one serial call. Where both twins exist, the compiled twin is run on
   the pure twin's input too, and must give the same result.
2. For each worker count (1, 2, 4, ... up to the cores, the core count, and one oversubscribed
   point at twice the cores), every executor is opened once and kept for all cells; the time
   from opening it to having run one tiny task per worker is its start-up cost.
3. In each cell (workload, size, worker count) every variant (implementation x strategy, with
   the serial reference and numpy's own call among them) runs once untimed and is checked
   against the reference, then ``repeats`` times, round-robin, so that a drift of a shared
   machine hits every variant alike. Every timed run is checked too: a variant whose result is
   ever wrong is reported as wrong and gets no time. Wall time and CPU time of the whole process
   tree (this process and its workers) are recorded for each run.
4. How busy the machine was, from the first preparation to the last cell, is read once for the
   whole run (``doc["machine"]``): the verdict speaks of the whole run, so its opening line does.

A speedup is the serial reference's median over the variant's median, both measured in the same
cell. The ideal is ``min(workers, cores)``; efficiency is the speedup over that ideal.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import Executor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, Callable

from .. import experiment
from .._checks import check_choices, check_count
from .._select import C_EXTENSION, PURE_PYTHON, Implementation, implementations
from .._timing import descendants, environment, usable_cores
from ..chunked import OVERHEAD_SHARE, auto_parts, default_parts, run_chunks
from ..experiment import Experiment, Measured, no_progress
from ..peers import joblib_version
from ..registry import get_strategy
from ..strategies import check_workers, open_executor
from .workloads import SIZES, WORKLOADS, Prepared, Variant, variants

__all__ = ["DEFAULT", "QUICK", "SCHEMA", "SCHEMAS", "Plan", "default_workers", "run_matrix", "strategy_choices"]

#: The shape of the JSON this version writes: 2 added ``machine`` (how busy the machine was).
SCHEMA = "gilfree-bench/2"
#: Every shape the report and the verdict still read (a 1 has no ``machine``).
SCHEMAS = ("gilfree-bench/1", SCHEMA)
SIZE_NAMES = ("small", "medium", "large")

Progress = Callable[[int, int, str], None]


def strategy_choices() -> tuple[str, ...]:
    """Every variant the matrix can run, in the order tables list them (read from the registry)."""
    return tuple(variants())


def default_workers(cores: int | None = None) -> tuple[int, ...]:
    """1, 2, 4, ... up to ``cores``, ``cores`` itself, and one oversubscribed point (2 x cores)."""
    cores = check_workers(cores if cores is not None else usable_cores())
    counts = {1, cores, 2 * cores}
    k = 2
    while k < cores:
        counts.add(k)
        k *= 2
    return tuple(sorted(counts))


@dataclass(frozen=True)
class Plan:
    """What to measure. ``elements`` overrides :data:`~gilfree.bench.workloads.SIZES` (tests)."""

    workloads: tuple[str, ...] = tuple(WORKLOADS)
    strategies: tuple[str, ...] = field(default_factory=strategy_choices)
    workers: tuple[int, ...] = field(default_factory=default_workers)
    sizes: tuple[str, ...] = SIZE_NAMES
    implementations: tuple[str, ...] = (C_EXTENSION, PURE_PYTHON)
    repeats: int = 5
    #: Chunks per worker in a call; None (the default): chosen per executor by
    #: :func:`~gilfree.chunked.auto_parts` from its measured per-task cost, at most
    #: :data:`MOST_CHUNKS_PER_WORKER`.
    chunks_per_worker: int | None = None
    elements: dict[str, dict[str, dict[str, int]]] | None = None
    label: str = "default"
    #: An existing cluster's address for the strategies that join one (``dask``); None: they
    #: start their own on this machine.
    scheduler: str | None = None

    def __post_init__(self) -> None:
        for name, known in (("workloads", tuple(WORKLOADS)), ("strategies", strategy_choices()),
                            ("sizes", SIZE_NAMES), ("implementations", (C_EXTENSION, PURE_PYTHON))):
            object.__setattr__(self, name, check_choices(getattr(self, name), name, known))
        if isinstance(self.workers, str) or not isinstance(self.workers, (tuple, list)):
            raise TypeError(f"workers must be a tuple of worker counts, not {type(self.workers).__name__}")
        if not self.workers:
            raise ValueError("workers must name at least one worker count")
        object.__setattr__(self, "workers", tuple(check_workers(k) for k in self.workers))
        object.__setattr__(self, "repeats", check_count(self.repeats, "repeats"))
        if self.chunks_per_worker is not None:
            object.__setattr__(self, "chunks_per_worker", check_count(self.chunks_per_worker, "chunks_per_worker"))

    def elements_of(self, workload: str, size: str, impl: str) -> int:
        table = self.elements if self.elements is not None else SIZES
        return table[workload][size][impl]


#: The most chunks per worker an automatic choice gives: enough to balance uneven chunks.
MOST_CHUNKS_PER_WORKER = 4

#: ``gilfree bench``: every size, 5 repeats (about 4 minutes on 2 cores: 250 s in the committed run).
DEFAULT: dict[str, Any] = {}
#: ``gilfree bench --quick``: the small and medium sizes, 3 repeats (about 30 seconds on 2 cores).
QUICK: dict[str, Any] = {"sizes": ("small", "medium"), "repeats": 3, "label": "quick"}


@dataclass(frozen=True)
class _Entry:
    """One variant of a cell: a strategy run on one implementation's prepared data."""

    impl: str  # the data's implementation; the row says "numpy" for numpy's own call
    variant: Variant
    prepared: Prepared

    @property
    def strategy(self) -> str:
        return self.variant.name

    @property
    def row_impl(self) -> str:
        return "numpy" if self.strategy == "numpy" else self.impl


@dataclass
class _Matrix:
    """What one run found it can run here, and what it has measured so far."""

    plan: Plan
    cores: int
    impls: dict[str, Implementation]
    strategies: list[Variant]
    skipped: list[dict[str, str]]
    prepared: dict[tuple[str, str, str], Prepared] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    startup: list[dict[str, Any]] = field(default_factory=list)
    twins: list[dict[str, Any]] = field(default_factory=list)

    @property
    def executors(self) -> list[str]:
        return list(dict.fromkeys(v.executor for v in self.strategies if v.executor is not None))

    def applicable(self, wname: str) -> list[tuple[str, Variant]]:
        return [(impl, v) for impl in self.impls for v in self.strategies
                if WORKLOADS[wname].applies(v, impl) is None]

    def entries(self, wname: str, size: str) -> list[_Entry]:
        return [_Entry(impl, v, self.prepared[(wname, size, impl)]) for impl, v in self.applicable(wname)]

    def planned_units(self) -> int:
        """Every progress unit the run will count: preparations, twin checks, pool starts and their
        per-task probes, calls."""
        p = self.plan
        cells = len(p.sizes) * len(p.workers) * sum(len(self.applicable(w)) for w in p.workloads)
        twins = len(p.workloads) * len(p.sizes) if self.both_twins else 0
        timed_once = 0 if p.chunks_per_worker is not None else len(p.sizes) * len(p.workers) * sum(
            1 for w in p.workloads for _, v in self.applicable(w) if v.name == "serial")  # auto chunks
        return (len(p.workloads) * len(p.sizes) * len(self.impls) + twins
                + 2 * len(p.workers) * len(self.executors) + cells * (1 + p.repeats) + timed_once)

    @property
    def both_twins(self) -> bool:
        return C_EXTENSION in self.impls and PURE_PYTHON in self.impls


def _available_strategies(plan: Plan) -> tuple[list[Variant], list[dict[str, str]]]:
    """The plan's variants that can run here, and the reasons for those that cannot."""
    known = variants()
    missing = []
    chosen = []
    for name in plan.strategies:
        variant = known[name]
        reason = get_strategy(variant.executor).missing() if variant.executor else None
        if reason:
            missing.append({"strategy": name, "reason": reason})
        else:
            chosen.append(variant)
    return chosen, missing


def run_matrix(plan: Plan | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Run ``plan`` (default: :data:`DEFAULT`) and return the results as one JSON-ready dict."""
    plan = plan or Plan()
    started = time.perf_counter()
    impls = {name: kern for name, kern in implementations().items() if name in plan.implementations}
    if not impls:
        raise RuntimeError(f"none of the implementations {plan.implementations} can be imported here")
    m = _Matrix(plan, usable_cores(), impls, *_available_strategies(plan))
    ex = Experiment(no_progress if progress is None else progress, errors="record")
    ex.plan(m.planned_units())
    with tempfile.TemporaryDirectory(prefix="gilfree-bench-") as workdir, ExitStack() as data:
        _prepare(ex, m, data, workdir)
        for k in plan.workers:
            with ExitStack() as pools:
                executors = {name: _startup(ex, m, name, k, pools) for name in m.executors}
                for wname in plan.workloads:
                    for size in plan.sizes:
                        m.rows.extend(_cell(ex, m, k, wname, size, executors))
    return _document(m, ex, time.perf_counter() - started)


def _prepare(ex: Experiment, m: _Matrix, data: ExitStack, workdir: str) -> None:
    """Every workload's data and reference at every size for every implementation; the twin checks."""
    for wname in m.plan.workloads:
        for size in m.plan.sizes:
            for impl, kern in m.impls.items():
                n = m.plan.elements_of(wname, size, impl)
                try:
                    m.prepared[(wname, size, impl)] = ex.step(
                        f"prepare {wname} {size} {impl}", partial(WORKLOADS[wname].prepare, kern, n, data, workdir))
                except OSError as exc:  # /dev/shm or the temporary folder is full
                    raise RuntimeError(
                        f"cannot hold the {wname} workload's {size} data ({n:,} elements, "
                        f"{n * WORKLOADS[wname].bytes_per_element / 1e6:,.0f} MB) for {impl}: {exc}. "
                        "Free space in /dev/shm and the temporary folder (in Docker: --shm-size=2g) "
                        "or leave the large size out (--size small --size medium).") from exc
            if m.both_twins:
                m.twins.append(ex.step(f"twin check {wname} {size}",
                                       partial(_twin_check, wname, size, m.plan, m.impls, workdir)))


def _startup(ex: Experiment, m: _Matrix, name: str, k: int, stack: ExitStack) -> Executor:
    """Open executor ``name`` with ``k`` workers, recording the seconds until one tiny task per worker has run."""
    def start() -> tuple[Executor, float]:
        t0 = time.perf_counter()
        joins = m.plan.scheduler is not None and get_strategy(name).capabilities.connects
        executor = stack.enter_context(open_executor(name, k, scheduler=m.plan.scheduler if joins else None))
        run_chunks(executor, os.getpid, [()] * k)
        return executor, time.perf_counter() - t0

    executor, seconds = ex.step(f"{k} workers | open {name}", start)
    per_task = ex.step(f"{k} workers | {name}: per-task overhead", partial(_per_task, executor, k))
    m.startup.append({"executor": name, "workers": k, "seconds": seconds, "per_task_s": per_task})
    return executor


#: Empty tasks per worker behind the per-task overhead figure.
PER_TASK_PROBES = 25


def _per_task(executor: Executor, k: int) -> float:
    """Seconds per empty task, submitted all at once and waited for: what a chunk costs besides its work."""
    tasks = PER_TASK_PROBES * k
    t0 = time.perf_counter()
    run_chunks(executor, os.getpid, [()] * tasks)
    return (time.perf_counter() - t0) * min(k, usable_cores()) / tasks


def _twin_check(wname: str, size: str, plan: Plan, impls: Mapping[str, Implementation],
                workdir: str) -> dict[str, Any]:
    """The compiled twin on the pure twin's input must give the pure twin's reference."""
    n = plan.elements_of(wname, size, PURE_PYTHON)
    with ExitStack() as stack:
        compiled = WORKLOADS[wname].prepare(impls[C_EXTENSION], n, stack, workdir)
        pure_reference = _comparable(WORKLOADS[wname].prepare(impls[PURE_PYTHON], n, stack, workdir))
        same = _comparable(compiled) == pure_reference
    return {"workload": wname, "size": size, "elements": n, "equal": bool(same)}


def _comparable(p: Prepared) -> Any:
    ref = p.reference
    return ref.tobytes() if hasattr(ref, "tobytes") else ref


def _cell(ex: Experiment, m: _Matrix, k: int, wname: str, size: str,
          executors: Mapping[str, Executor]) -> list[dict[str, Any]]:
    """One cell: every variant warmed up and checked, then timed interleaved; one row each."""
    entries = m.entries(wname, size)
    parts = _parts(ex, m, k, entries)
    runs = [experiment.Variant(
        name=f"{k} workers | {wname} {size} | {e.row_impl} {e.strategy}",
        run=partial(e.prepared.run, e.variant, executors.get(e.variant.executor or ""), parts[e.strategy, e.impl]),
        check=partial(e.prepared.check, e.variant), reset=partial(e.prepared.reset, e.variant))
        for e in entries]
    measured = list(ex.measure(runs, repeats=m.plan.repeats, warmup=1, cpu="tree").values())
    serial = {e.impl: got for e, got in zip(entries, measured) if e.strategy == "serial" and got.ok}
    rows = []
    for e, got in zip(entries, measured):
        workers = 1 if e.variant.executor is None else k
        rows.append({
            "workload": wname, "size": size, "implementation": e.row_impl, "strategy": e.strategy,
            "workers": workers, "group_workers": k, "uses": e.variant.uses, "transport": e.variant.transport,
            "chunks": 1 if e.variant.executor is None else parts[e.strategy, e.impl],
            "elements": e.prepared.elements, "bytes": e.prepared.nbytes,
            **_outcome(got, serial.get(e.impl), min(workers, m.cores), e.strategy in WORKLOADS[wname].approximate),
        })
    return rows


def _parts(ex: Experiment, m: _Matrix, k: int, entries: list[_Entry]) -> dict[tuple[str, str], int]:
    """The chunks each entry's call is cut into: the plan's fixed count per worker, or (by
    default) :func:`~gilfree.chunked.auto_parts` from the executor's per-task cost measured at
    start-up and the call's serial time, timed here once per implementation (a warm-up as well)."""
    if m.plan.chunks_per_worker is not None:
        fixed = default_parts(k, m.plan.chunks_per_worker)
        return {(e.strategy, e.impl): fixed for e in entries}
    per_task = {s["executor"]: s["per_task_s"] for s in m.startup if s["workers"] == k}
    work: dict[str, float] = {}
    for e in entries:
        if e.strategy == "serial":
            def once(e: _Entry = e) -> float:
                t0 = time.perf_counter()
                e.prepared.run(e.variant, None, 1)
                seconds = time.perf_counter() - t0
                e.prepared.reset(e.variant)
                return seconds

            work[e.impl] = ex.step(f"{k} workers | {e.prepared.workload.name}: time one serial call", once)
    out = {}
    for e in entries:
        executor = e.variant.executor
        cost = per_task.get(executor) if executor else None
        out[e.strategy, e.impl] = (default_parts(k, MOST_CHUNKS_PER_WORKER) if cost is None or e.impl not in work
                                   else auto_parts(k, work[e.impl], cost, MOST_CHUNKS_PER_WORKER, OVERHEAD_SHARE))
    return out


#: A row's error when its results were not the reference's (the runner checks every call).
WRONG_RESULT = "wrong result: it differed from the serial reference in the warm-up or a timed run"


def _outcome(got: Measured, base: Measured | None, ideal: int, approximate: bool) -> dict[str, Any]:
    """A row's fields from ``ok`` on: figures only for a variant that ran and was right every time.

    ``base`` is the serial reference in the same cell (None if it failed), and ``ideal`` the
    speedup that ``min(workers, cores)`` would allow.
    """
    if not got.ok or got.timing is None:
        return {"ok": False, "check": "failed", "error": got.error or WRONG_RESULT, "wall_s": [], "cpu_s": [],
                "median_s": None, "cpu_median_s": None, "spread": None, "cpu_per_wall": None,
                "speedup": None, "ideal": ideal, "efficiency": None}
    t = got.timing
    speedup = base.seconds / t.median if base is not None and t.median > 0 else None
    return {"ok": True, "check": "approximate" if approximate else "exact", "error": None,
            "wall_s": list(t.wall), "cpu_s": list(t.cpu), "median_s": t.median, "cpu_median_s": t.cpu_median,
            "spread": t.spread, "cpu_per_wall": t.cpu_median / t.median if t.median > 0 else None,
            "speedup": speedup, "ideal": ideal, "efficiency": speedup / ideal if speedup is not None else None}


def _document(m: _Matrix, ex: Experiment, seconds: float) -> dict[str, Any]:
    """The run as one JSON-ready dict (schema :data:`SCHEMA`)."""
    plan = m.plan
    not_applicable = [{"workload": w, "strategy": v.name, "reason": WORKLOADS[w].applies(v, C_EXTENSION)}
                      for w in plan.workloads for v in m.strategies
                      if WORKLOADS[w].applies(v, C_EXTENSION) is not None]
    return {
        "schema": SCHEMA,
        "environment": _environment(),
        "machine": ex.finish().as_dict(),
        "plan": {**{key: list(value) if isinstance(value, tuple) else value
                    for key, value in asdict(plan).items() if key != "elements"},
                 "cores": m.cores, "most_chunks_per_worker": MOST_CHUNKS_PER_WORKER, "overhead_share": OVERHEAD_SHARE,
                 "sizes_elements": {w: {s: {i: plan.elements_of(w, s, i) for i in m.impls}
                                        for s in plan.sizes} for w in plan.workloads}},
        "workloads": {w: {"title": WORKLOADS[w].title, "nature": WORKLOADS[w].nature,
                          "bytes_per_element": WORKLOADS[w].bytes_per_element,
                          "writes": WORKLOADS[w].writes} for w in plan.workloads},
        "strategies": {v.name: v.note for v in m.strategies},
        "variants": {v.name: v.as_dict() for v in m.strategies},
        "rows": m.rows,
        "startup": m.startup,
        "twin_checks": m.twins,
        "not_applicable": not_applicable,
        "skipped": m.skipped,
        "seconds": seconds,
    }


def _environment() -> dict[str, Any]:
    env = environment()
    try:
        import matplotlib

        mpl = matplotlib.__version__
    except ImportError:
        mpl = None
    env.update({
        "joblib": joblib_version(),
        "matplotlib": mpl,
        "machine": platform.machine(),
        "cpu_time_scope": "process tree (this process and its workers, from /proc)"
        if descendants() is not None else "this process only (no /proc here)",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })
    return env
