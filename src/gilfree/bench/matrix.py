"""The benchmark matrix: workloads x implementations x strategies x worker counts x sizes.

Method, in the order it runs:

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

from .._checks import check_choices, check_count
from .._select import C_EXTENSION, PURE_PYTHON, Implementation, implementations
from .._timing import Timing, descendants, environment, interleaved, tree_cpu_clock, usable_cores
from ..chunked import default_parts, run_chunks
from ..peers import joblib_version
from ..registry import get_strategy
from ..strategies import check_workers, open_executor
from .workloads import SIZES, WORKLOADS, Prepared, Variant, variants

__all__ = ["DEFAULT", "QUICK", "SCHEMA", "Plan", "default_workers", "run_matrix", "strategy_choices"]

SCHEMA = "gilfree-bench/1"
SIZE_NAMES = ("small", "medium", "large")


def strategy_choices() -> tuple[str, ...]:
    """Every variant the matrix can run, in the order tables list them (read from the registry)."""
    return tuple(variants())

Progress = Callable[[int, int, str], None]


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
    chunks_per_worker: int = 4
    elements: dict[str, dict[str, dict[str, int]]] | None = None
    label: str = "default"

    def __post_init__(self) -> None:
        for name, known in (("workloads", tuple(WORKLOADS)), ("strategies", strategy_choices()),
                            ("sizes", SIZE_NAMES), ("implementations", (C_EXTENSION, PURE_PYTHON))):
            object.__setattr__(self, name, check_choices(getattr(self, name), name, known))
        if isinstance(self.workers, str) or not isinstance(self.workers, (tuple, list)):
            raise TypeError(f"workers must be a tuple of worker counts, not {type(self.workers).__name__}")
        if not self.workers:
            raise ValueError("workers must name at least one worker count")
        object.__setattr__(self, "workers", tuple(check_workers(k) for k in self.workers))
        for name in ("repeats", "chunks_per_worker"):
            object.__setattr__(self, name, check_count(getattr(self, name), name))

    def elements_of(self, workload: str, size: str, impl: str) -> int:
        table = self.elements if self.elements is not None else SIZES
        return table[workload][size][impl]


#: ``gilfree bench``: every size, 5 repeats (about 5 minutes on 2 cores).
DEFAULT: dict[str, Any] = {}
#: ``gilfree bench --quick``: the small and medium sizes, 3 repeats (well under a minute).
QUICK: dict[str, Any] = {"sizes": ("small", "medium"), "repeats": 3, "label": "quick"}


@dataclass
class _Variant:
    impl: str  # the data's implementation; the row says "numpy" for numpy's own call
    variant: Variant
    prepared: Prepared

    @property
    def strategy(self) -> str:
        return self.variant.name

    @property
    def row_impl(self) -> str:
        return "numpy" if self.strategy == "numpy" else self.impl

    @property
    def key(self) -> tuple[str, str]:
        return self.row_impl, self.strategy


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


def _startup(name: str, k: int, stack: ExitStack) -> tuple[Executor, float]:
    """Open executor ``name`` with ``k`` workers; seconds until one tiny task per worker has run."""
    t0 = time.perf_counter()
    executor = stack.enter_context(open_executor(name, k))
    run_chunks(executor, os.getpid, [()] * k)
    return executor, time.perf_counter() - t0


def run_matrix(plan: Plan | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Run ``plan`` (default: :data:`DEFAULT`) and return the results as one JSON-ready dict."""
    plan = plan or Plan()
    started = time.perf_counter()
    cores = usable_cores()
    impls = {name: kern for name, kern in implementations().items() if name in plan.implementations}
    if not impls:
        raise RuntimeError(f"none of the implementations {plan.implementations} can be imported here")
    strategies, skipped = _available_strategies(plan)
    not_applicable = [{"workload": w, "strategy": v.name, "reason": WORKLOADS[w].applies(v, C_EXTENSION)}
                      for w in plan.workloads for v in strategies
                      if WORKLOADS[w].applies(v, C_EXTENSION) is not None]

    def variants_of(wname: str, size: str) -> list[_Variant]:
        out = []
        for impl in impls:
            for variant in strategies:
                if WORKLOADS[wname].applies(variant, impl) is not None:
                    continue
                out.append(_Variant(impl, variant, prepared[(wname, size, impl)]))
        return out

    rows: list[dict[str, Any]] = []
    startup: list[dict[str, Any]] = []
    twins: list[dict[str, Any]] = []
    prepared: dict[tuple[str, str, str], Prepared] = {}
    with tempfile.TemporaryDirectory(prefix="gilfree-bench-") as workdir, ExitStack() as data:
        for wname in plan.workloads:
            for size in plan.sizes:
                for impl, kern in impls.items():
                    n = plan.elements_of(wname, size, impl)
                    try:
                        prepared[(wname, size, impl)] = WORKLOADS[wname].prepare(kern, n, data, workdir)
                    except OSError as exc:  # /dev/shm or the temporary folder is full
                        raise RuntimeError(
                            f"cannot hold the {wname} workload's {size} data ({n:,} elements, "
                            f"{n * WORKLOADS[wname].bytes_per_element / 1e6:,.0f} MB) for {impl}: {exc}. "
                            "Free space in /dev/shm and the temporary folder (in Docker: --shm-size=2g) "
                            "or leave the large size out (--size small --size medium).") from exc
                if C_EXTENSION in impls and PURE_PYTHON in impls:
                    twins.append(_twin_check(wname, size, plan, impls, workdir))

        cells = [(k, w, s) for k in plan.workers for w in plan.workloads for s in plan.sizes]
        total = sum(len(variants_of(w, s)) * (1 + plan.repeats) for _, w, s in cells)
        done = [0]

        def tick(label: str) -> None:
            done[0] += 1
            if progress is not None:
                progress(done[0], total, label)

        for k in plan.workers:
            with ExitStack() as pools:
                executors: dict[str, Executor] = {}
                for name in dict.fromkeys(v.executor for v in strategies):
                    if name is not None:
                        executors[name], seconds = _startup(name, k, pools)
                        startup.append({"executor": name, "workers": k, "seconds": seconds})
                for wname in plan.workloads:
                    for size in plan.sizes:
                        rows.extend(_cell(plan, k, cores, wname, size, variants_of(wname, size),
                                          executors, tick))
    doc = {
        "schema": SCHEMA,
        "environment": _environment(),
        "plan": {**{key: list(value) if isinstance(value, tuple) else value
                    for key, value in asdict(plan).items() if key != "elements"},
                 "cores": cores,
                 "sizes_elements": {w: {s: {i: plan.elements_of(w, s, i) for i in impls}
                                        for s in plan.sizes} for w in plan.workloads}},
        "workloads": {w: {"title": WORKLOADS[w].title, "nature": WORKLOADS[w].nature,
                          "bytes_per_element": WORKLOADS[w].bytes_per_element} for w in plan.workloads},
        "strategies": {v.name: v.note for v in strategies},
        "variants": {v.name: v.as_dict() for v in strategies},
        "rows": rows,
        "startup": startup,
        "twin_checks": twins,
        "not_applicable": not_applicable,
        "skipped": skipped,
        "seconds": time.perf_counter() - started,
    }
    return doc


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


def _cell(plan: Plan, k: int, cores: int, wname: str, size: str, variants: list[_Variant],
          executors: Mapping[str, Executor], tick: Callable[[str], None]) -> list[dict[str, Any]]:
    """Warm up and check every variant of one cell, then time them interleaved."""
    parts = default_parts(k, plan.chunks_per_worker)
    failures: dict[tuple[str, str], str] = {}
    by_key = {v.key: v for v in variants}

    def run(v: _Variant) -> Any:
        name = v.variant.executor
        return v.prepared.run(v.variant, executors.get(name) if name else None, parts)

    def label(v: _Variant) -> str:
        return f"{k} workers | {wname} {size} | {v.row_impl} {v.strategy}"

    for v in variants:  # the untimed warm-up, checked
        try:
            v.prepared.reset(v.variant)
            result = run(v)
            if not v.prepared.check(v.variant, result):
                failures[v.key] = "wrong result in the warm-up run"
        except Exception as exc:  # reported in its row; the rest of the matrix goes on
            failures[v.key] = f"{type(exc).__name__}: {exc}"
        tick(label(v))
    timed: dict[tuple[str, str], Callable[[], object]] = {
        v.key: partial(run, v) for v in variants if v.key not in failures}

    def before(key: tuple[str, str]) -> None:
        by_key[key].prepared.reset(by_key[key].variant)

    def after(key: tuple[str, str], result: Any) -> None:
        v = by_key[key]
        if key not in failures and not v.prepared.check(v.variant, result):
            failures[key] = "wrong result in a timed run"
        tick(label(v))

    pids = descendants()
    clock = tree_cpu_clock(pids) if pids is not None else None
    timings = interleaved(timed, repeats=plan.repeats, warmup=0, before=before, after=after,
                          **({"cpu_clock": clock} if clock is not None else {})) if timed else {}
    for v in variants:  # ticks of the timed runs a failed variant did not make
        if v.key not in timed:
            for _ in range(plan.repeats):
                tick(label(v))

    serial = {impl: timings.get((impl, "serial")) for impl in {v.impl for v in variants}}
    rows = []
    for v in variants:
        workers = 1 if v.variant.executor is None else k
        rows.append({
            "workload": wname, "size": size, "implementation": v.row_impl, "strategy": v.strategy,
            "workers": workers, "group_workers": k,
            "uses": v.variant.uses, "transport": v.variant.transport,
            "chunks": 1 if v.variant.executor is None else parts,
            "elements": v.prepared.elements, "bytes": v.prepared.nbytes,
            **_outcome(timings.get(v.key), failures.get(v.key), serial.get(v.impl), min(workers, cores),
                       v.strategy in WORKLOADS[wname].approximate),
        })
    return rows


def _outcome(t: Timing | None, error: str | None, base: Timing | None, ideal: int,
             approximate: bool) -> dict[str, Any]:
    """A row's fields from ``ok`` on: figures only for a variant that ran and was right every time.

    ``base`` is the serial reference's timing in the same cell (None if it did not run), and
    ``ideal`` the speedup that ``min(workers, cores)`` would allow.
    """
    if error is not None or t is None:
        return {"ok": False, "check": "failed", "error": error, "wall_s": [], "cpu_s": [],
                "median_s": None, "cpu_median_s": None, "spread": None, "cpu_per_wall": None,
                "speedup": None, "ideal": ideal, "efficiency": None}
    speedup = base.median / t.median if base is not None and t.median > 0 else None
    return {"ok": True, "check": "approximate" if approximate else "exact", "error": None,
            "wall_s": list(t.wall), "cpu_s": list(t.cpu), "median_s": t.median, "cpu_median_s": t.cpu_median,
            "spread": t.spread, "cpu_per_wall": t.cpu_median / t.median if t.median > 0 else None,
            "speedup": speedup, "ideal": ideal, "efficiency": speedup / ideal if speedup is not None else None}


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
