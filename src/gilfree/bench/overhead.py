"""``gilfree bench --suite overhead``: what a task costs on its way through each pool's ``map``.

Three task sizes go through ``map`` on every pool a user could pick, side by side in one run
(:class:`gilfree.experiment.Experiment`: one checked warm-up round, then interleaved timed
rounds, every result checked against the serial answer):

* ``tiny``: ``x * x``, 200,000 items: nothing but overhead (pickling, pipes, wake-ups). A pool
  that batches does them in a few milliseconds, where a busy core's wake-up alone is noise, so
  fewer items would measure the scheduler; a pool that sends one item per task (a ``map`` whose
  default ``chunksize`` is 1) gets a tenth of them, which already takes it seconds (its rate is
  per item, so the figures still compare);
* ``small``: about 100 us of work per item, 2,000 items;
* ``medium``: about 10 ms per item, 100 items: overhead should vanish into the work.

The pools: every process strategy of gilfree's registry that is not a peer (``failsafe``,
``pool``, ``processes``, and any a plugin registers), each through its own ``map`` with its own
default ``chunksize``; and what a user would pick instead: ``multiprocessing.Pool.map``,
``ProcessPoolExecutor.map`` with the chunksize ``Pool.map`` would pick, joblib's ``Parallel``
(loky, auto-batching), and loky's and mpire's own executors where those are installed (the
``bench`` extra). The pools are opened once and stay warm; what starting one costs (open it, get
one result, close it) is measured apart, in rounds of its own.

The work of ``small`` and ``medium`` is a busy wait on the clock, so the work per item is the same
on every machine and only the overhead differs. The figures are tasks per second (median of the
rounds) and each pool's rate relative to ``multiprocessing.Pool.map`` and to the fastest pool of
the same size; the words judge the issue's targets for ``FailSafePool.map`` (tiny tasks at least
as many per second as ``Pool.map``; ``small`` within 10% of the fastest; ``medium`` within 5%)
against the repeats' spread.
"""

from __future__ import annotations

import inspect
import math
import multiprocessing
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, ContextManager

from .._checks import check_count
from .._futures import worker_ignores_sigint
from .._timing import environment, usable_cores
from ..experiment import Experiment, Measured, Progress, Variant, no_progress
from ..figures import noise_of, x
from ..registry import get_strategy
from ..strategies import open_executor
from .faults import process_strategies
from .report import fill, terminal_width
from .verdict import machine_line

__all__ = ["PER_ITEM_SHARE", "QUICK", "REFERENCE", "SCHEMA", "TARGETS", "TASKS", "Contender", "OverheadPlan", "contenders",
           "findings", "format_overhead", "markdown_overhead", "medium_task", "run_overhead", "small_task",
           "summary", "tiny_task"]

SCHEMA = "gilfree-bench-overhead/1"
#: The pool every rate is also compared with: what most users reach for first.
REFERENCE = "multiprocessing.Pool"
#: The pool whose targets the words judge.
SUBJECT = "failsafe"
SMALL_S = 100e-6
MEDIUM_S = 10e-3
#: The task sizes: seconds of work per item (0: none), and what to call them.
TASKS: dict[str, tuple[float, str]] = {
    "tiny": (0.0, "x * x"),
    "small": (SMALL_S, "about 100 us of work"),
    "medium": (MEDIUM_S, "about 10 ms of work"),
}
#: The issue's targets for FailSafePool.map: (its rate over whose, at least this ratio).
TARGETS: dict[str, tuple[str, float]] = {
    "tiny": ("reference", 1.0),  # at least as many per second as multiprocessing.Pool.map
    "small": ("best", 0.90),  # within 10% of the fastest pool
    "medium": ("best", 0.95),  # within 5%
}
#: ``--quick``: a tenth of the items, 3 repeats (a smoke run: its figures are noise).
QUICK: dict[str, int] = {"tiny": 20_000, "small": 200, "medium": 10, "repeats": 3}
#: A pool that sends one item per task gets this share of the items (see the module docstring).
PER_ITEM_SHARE = 10


# -- the tasks (module level: every start method imports them by name) ----------------------------

def tiny_task(x: int) -> int:
    return x * x


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def small_task(x: int) -> int:
    _spin(SMALL_S)
    return x * x


def medium_task(x: int) -> int:
    _spin(MEDIUM_S)
    return x * x


_TASK_FNS: dict[str, Callable[[int], int]] = {"tiny": tiny_task, "small": small_task, "medium": medium_task}


# -- the plan -------------------------------------------------------------------------------------

def _start_methods() -> tuple[str, ...]:
    return tuple(multiprocessing.get_all_start_methods())


@dataclass(frozen=True)
class OverheadPlan:
    """Items per task size, workers, repeats, and the start method (None: the interpreter's default)."""

    tiny: int = 200_000
    small: int = 2_000
    medium: int = 100
    workers: int = 2
    repeats: int = 5
    start_method: str | None = None
    #: Peers to leave out (by name), e.g. in tests where one is slow to start.
    skip: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name in ("tiny", "small", "medium", "workers", "repeats"):
            object.__setattr__(self, name, check_count(getattr(self, name), name))
        if self.start_method is not None and self.start_method not in _start_methods():
            raise ValueError(f"start method {self.start_method!r} is not available here; choose one of "
                             f"{', '.join(_start_methods())}")
        if isinstance(self.skip, str) or not all(isinstance(s, str) for s in self.skip):
            raise TypeError("skip must be a tuple of pool names")
        object.__setattr__(self, "skip", tuple(self.skip))

    @property
    def method(self) -> str:
        """The start method the pools that take one use."""
        return self.start_method or str(multiprocessing.get_start_method(allow_none=False))

    def items(self, task: str) -> int:
        return int(getattr(self, task))


def pool_map_chunksize(items: int, workers: int) -> int:
    """The chunksize ``multiprocessing.Pool.map`` picks: about four chunks per worker."""
    return max(1, math.ceil(items / (4 * workers)))


# -- the pools ------------------------------------------------------------------------------------

#: ``session(plan)``: a context manager that opens the pool and yields ``run(fn, items) -> list``.
Session = Callable[[OverheadPlan], ContextManager[Callable[[Callable[[int], int], list[int]], list[int]]]]


@dataclass(frozen=True)
class Contender:
    """One pool and the way a user calls its ``map``."""

    name: str
    call: str
    kind: str  # "gilfree" or "peer"
    session: Session
    version: str | None = None
    start_method: bool = True  # it honours the plan's start method
    per_item: bool = False  # its map sends one item per task (chunksize 1 by default)

    def items(self, plan: OverheadPlan, task: str) -> int:
        """How many items this pool maps for ``task``: a share of them if it sends one per task."""
        count = plan.items(task)
        return max(1, count // PER_ITEM_SHARE) if self.per_item else count


def _default_chunksize(executor_type: type | None) -> str:
    try:
        default = inspect.signature(executor_type.map).parameters["chunksize"].default  # type: ignore[union-attr]
    except (AttributeError, KeyError, TypeError, ValueError):
        return "its default"
    return f"chunksize={default!r}" if default is not inspect.Parameter.empty else "its default"


def _gilfree(strategy: str) -> Contender:
    declared = get_strategy(strategy)
    type_name = declared.executor_type.__name__ if declared.executor_type is not None else strategy

    @contextmanager
    def session(plan: OverheadPlan) -> Iterator[Callable[[Callable[[int], int], list[int]], list[int]]]:
        with open_executor(strategy, plan.workers, start_method=plan.start_method) as executor:
            yield lambda fn, items: list(executor.map(fn, items))

    chunksize = _default_chunksize(declared.executor_type)
    return Contender(strategy, f"{type_name}.map, {chunksize}", "gilfree", session,
                     per_item=chunksize == "chunksize=1")


@contextmanager
def _mp_pool(plan: OverheadPlan) -> Iterator[Callable[[Callable[[int], int], list[int]], list[int]]]:
    with multiprocessing.get_context(plan.start_method).Pool(plan.workers, initializer=worker_ignores_sigint) as pool:
        yield lambda fn, items: pool.map(fn, items)


@contextmanager
def _ppe(plan: OverheadPlan) -> Iterator[Callable[[Callable[[int], int], list[int]], list[int]]]:
    ctx = multiprocessing.get_context(plan.start_method)
    with ProcessPoolExecutor(plan.workers, mp_context=ctx, initializer=worker_ignores_sigint) as executor:
        yield lambda fn, items: list(executor.map(fn, items,
                                                  chunksize=pool_map_chunksize(len(items), plan.workers)))


@contextmanager
def _joblib(plan: OverheadPlan) -> Iterator[Callable[[Callable[[int], int], list[int]], list[int]]]:
    from ..peers import JoblibExecutor

    executor = JoblibExecutor(plan.workers, "loky")
    try:  # Parallel(n_jobs)(delayed(fn)(x) for x in items), batch_size="auto": joblib's own defaults
        yield lambda fn, items: executor.run_batch(fn, ((item,) for item in items))
    finally:
        executor.shutdown(wait=True)


@contextmanager
def _loky(plan: OverheadPlan) -> Iterator[Callable[[Callable[[int], int], list[int]], list[int]]]:
    import loky

    executor = loky.get_reusable_executor(max_workers=plan.workers, initializer=worker_ignores_sigint)
    try:
        yield lambda fn, items: list(executor.map(fn, items, chunksize=pool_map_chunksize(len(items), plan.workers)))
    finally:
        executor.shutdown(wait=True)


@contextmanager
def _mpire(plan: OverheadPlan) -> Iterator[Callable[[Callable[[int], int], list[int]], list[int]]]:
    from mpire.pool import WorkerPool

    # keep_alive: the workers outlive one map call (mpire's default starts them for every call).
    with WorkerPool(n_jobs=plan.workers, start_method=plan.method, keep_alive=True) as pool:
        yield lambda fn, items: list(pool.map(fn, items, progress_bar=False))


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # not installed (or no metadata)
        return None


#: The peers: (name, how it is called, its session, the distribution it needs, honours the start method).
_PEERS: tuple[tuple[str, str, Session, str | None, bool], ...] = (
    (REFERENCE, "Pool.map, its own chunksize (about 4 chunks per worker)", _mp_pool, None, True),
    ("ProcessPoolExecutor", "map(chunksize=what Pool.map picks)", _ppe, None, True),
    ("joblib", "Parallel(n_jobs)(delayed(f)(x) ...), loky, auto batch size", _joblib, "joblib", False),
    ("loky", "get_reusable_executor().map(chunksize=what Pool.map picks)", _loky, "loky", False),
    ("mpire", "WorkerPool(keep_alive=True).map, its own chunk size", _mpire, "mpire", True),
)


def contenders(plan: OverheadPlan | None = None) -> tuple[list[Contender], dict[str, str]]:
    """The pools to measure, and the peers left out (name -> why: not installed, or skipped)."""
    plan = plan or OverheadPlan()
    chosen = [_gilfree(name) for name in process_strategies()]
    missing: dict[str, str] = {}
    for name, call, session, dist, honours in _PEERS:
        version = _version(dist) if dist is not None else None
        if name in plan.skip:
            missing[name] = "left out by the plan"
        elif dist is not None and version is None:
            missing[name] = f"not installed (pip install {dist}, or gilfree[bench])"
        else:
            chosen.append(Contender(name, call, "peer", session, version, honours))
    return [c for c in chosen if c.name not in plan.skip], missing


# -- measuring ------------------------------------------------------------------------------------

def _first_result(contender: Contender, plan: OverheadPlan) -> list[int]:
    with contender.session(plan) as run:
        return run(tiny_task, [3])


def run_overhead(plan: OverheadPlan | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Start-up rounds, then each task size through every warm pool; one JSON-ready dict (:data:`SCHEMA`)."""
    plan = plan or OverheadPlan()
    started = time.perf_counter()
    pools, missing = contenders(plan)
    ex = Experiment(progress or no_progress, errors="record")
    startup = [Variant(f"start {c.name}", partial(_first_result, c, plan), lambda r: r == [9], tags={"name": c.name})
               for c in pools]
    ex.plan(Experiment.units(startup, repeats=plan.repeats) + len(pools)
            + len(TASKS) * Experiment.units(startup, repeats=plan.repeats))  # one variant per pool in each
    started_up = ex.measure(startup, repeats=plan.repeats, warmup=1)
    rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        runners: dict[str, Callable[[Callable[[int], int], list[int]], list[int]]] = {}
        failed: dict[str, str] = {}
        for c in pools:
            try:
                runners[c.name] = ex.step(f"open {c.name}", partial(stack.enter_context, c.session(plan)))
            except Exception as exc:
                failed[c.name] = f"{type(exc).__name__}: {exc}"
                ex.tick(f"open {c.name}")
        for task, fn in _TASK_FNS.items():
            counts = {c.name: c.items(plan, task) for c in pools}
            variants = [Variant(f"{task} {c.name}", partial(runners[c.name], fn, list(range(counts[c.name]))),
                                [i * i for i in range(counts[c.name])].__eq__, tags={"name": c.name})
                        for c in pools if c.name in runners]
            got = ex.measure(variants, repeats=plan.repeats, warmup=1)
            rows += _rows(task, counts, pools, got, failed)
    return {"schema": SCHEMA, "suite": "overhead", "environment": environment(), "machine": ex.finish().as_dict(),
            "plan": {**asdict(plan), "skip": list(plan.skip), "start_method": plan.method}, "cores": usable_cores(),
            "pools": [{"name": c.name, "call": c.call, "kind": c.kind, "version": c.version,
                       "start_method": plan.method if c.start_method else "its own"} for c in pools],
            "missing": missing, "startup": [_startup_row(m) for m in started_up.values()], "rows": rows,
            "checks": ex.checks.as_dict(), "seconds": time.perf_counter() - started}


def _startup_row(m: Measured) -> dict[str, Any]:
    row: dict[str, Any] = {"name": m.tags["name"], "ok": m.ok, "error": m.error}
    if not m.ok:
        row["error"] = m.error or "its result differed from the reference"
        return row
    return {**row, "ms": m.seconds * 1e3, "spread": m.spread}


def _rows(task: str, counts: dict[str, int], pools: list[Contender], got: dict[str, Measured],
          failed: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for c in pools:
        count = counts[c.name]
        m = got.get(f"{task} {c.name}")
        row: dict[str, Any] = {"task": task, "items": count, "work_s": TASKS[task][0], "name": c.name, "ok": False}
        if m is None:
            row["error"] = f"the pool did not open: {failed.get(c.name, 'unknown')}"
        elif not m.ok:
            row["error"] = m.error or "its results differed from the serial answer"
        else:
            row.update(ok=True, error=None, seconds=m.seconds, spread=m.spread, tasks_per_s=count / m.seconds)
        rows.append(row)
    measured = [r for r in rows if r["ok"]]
    ref = next((r for r in measured if r["name"] == REFERENCE), None)
    best = max(measured, key=lambda r: r["tasks_per_s"], default=None)
    for row in measured:
        row["vs_reference"] = row["tasks_per_s"] / ref["tasks_per_s"] if ref is not None else None
        row["vs_best"] = row["tasks_per_s"] / best["tasks_per_s"] if best is not None else None
        row["best"] = best is row
    return rows


# -- words ----------------------------------------------------------------------------------------

def findings(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """FailSafePool.map against each task size's target: its ratio, the noise, and the judgement.

    ``judged`` is ``"met"`` (the ratio reaches the target), ``"within"`` (short of it by less than
    the two rows' spread: not a measured shortfall), ``"missed"``, or ``"unknown"`` (short of it
    in a run of one round, which has no spread to judge by); absent rows are left out.
    """
    out = []
    for task, (against, target) in TARGETS.items():
        rows = [r for r in doc["rows"] if r["task"] == task and r["ok"]]
        mine = next((r for r in rows if r["name"] == SUBJECT), None)
        other = (next((r for r in rows if r["name"] == REFERENCE), None) if against == "reference"
                 else max(rows, key=lambda r: r["tasks_per_s"], default=None))
        if mine is None or other is None:
            continue
        ratio = mine["tasks_per_s"] / other["tasks_per_s"]
        noise = noise_of(mine["spread"], other["spread"])
        if ratio >= target:
            judged = "met"
        elif doc["plan"]["repeats"] < 2:
            judged = "unknown"  # one round has no spread to tell a shortfall from noise
        else:
            judged = "within" if ratio * (1 + noise) >= target else "missed"
        out.append({"task": task, "kind": against, "against": other["name"], "ratio": ratio, "target": target, "noise": noise,
                    "judged": judged, "tasks_per_s": mine["tasks_per_s"], "items": mine["items"]})
    return out


def _rate(value: float) -> str:
    """Tasks per second with the digits they need: ``5.38 M``, ``6.8 k``, ``146``."""
    return f"{value / 1e6:.2f} M" if value >= 1e6 else f"{value / 1e3:,.1f} k" if value >= 1e3 else f"{value:,.0f}"


def _judgement(f: dict[str, Any]) -> str:
    target = f"target >= {f['target']:.2f}x"
    if f["judged"] == "met":
        return f"{target}: met"
    if f["judged"] == "unknown":
        return f"{target}: short of it, in one round, which gives no spread to judge by"
    if f["judged"] == "within":
        return f"{target}: short by less than the repeats' spread ({f['noise']:.0%}), not a measured shortfall"
    return f"{target}: missed, beyond the repeats' spread ({f['noise']:.0%})"


def summary(doc: dict[str, Any]) -> list[str]:
    """The run in a few sentences, each resting on the figures beside it (the README quotes them)."""
    plan = doc["plan"]
    lines = [line for line in (machine_line(doc),) if line]
    parts = []
    for f in findings(doc):
        what = TASKS[f["task"]][1]
        ratio = x(f["ratio"])
        if f["judged"] != "met" and ratio == x(f["target"]):  # 0.899x is short of 0.90x: show it
            ratio = f"{f['ratio']:.3f}x"
        if f["kind"] == "reference":
            relative = f"{ratio} multiprocessing.Pool.map's rate"
        elif f["against"] == SUBJECT:
            relative = "the fastest of the pools"
        else:
            relative = f"{ratio} the rate of the fastest pool ({f['against']})"
        parts.append(f"{f['task']} tasks ({what}, {f['items']:,} items) at {_rate(f['tasks_per_s'])} tasks/s, "
                     f"{relative} ({_judgement(f)})")
    if parts:
        lines.append(f"On {plan['workers']} warm workers ({plan['start_method']}), FailSafePool.map ran "
                     + "; ".join(parts) + ".")
    starts = {r["name"]: r for r in doc["startup"] if r["ok"]}
    if SUBJECT in starts and REFERENCE in starts:
        lines.append(f"Starting a FailSafePool (open it, one result, close it) took {starts[SUBJECT]['ms']:.0f} ms, "
                     f"multiprocessing.Pool {starts[REFERENCE]['ms']:.0f} ms (medians).")
    return lines


def _times(value: float) -> str:
    """A ratio, with the digits a small one needs (``0.004x``, not ``0.00x``)."""
    return f"{value:.3f}x" if value < 0.1 else x(value)


def _table(doc: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    out = []
    for row in doc["rows"]:
        if row["ok"]:
            ref = "" if row["vs_reference"] is None else _times(row["vs_reference"])
            out.append((row["task"], row["name"] + (" *" if row["best"] else ""), _rate(row["tasks_per_s"]),
                        ref, _times(row["vs_best"]), f"{row['spread']:.0%}"))
        else:
            out.append((row["task"], row["name"], "failed", "", "", str(row["error"])))
    return out


def format_overhead(doc: dict[str, Any], width: int | None = None) -> str:
    """The suite's figures for a terminal: one line per task size and pool, then the words."""
    env, width = doc["environment"], width or terminal_width()
    plan = doc["plan"]
    out = [fill(f"map on {plan['workers']} warm workers ({plan['start_method']}; {env['python_implementation']} "
                f"{env['python']}, GIL {'on' if env['gil_enabled'] else 'off'}, {env['usable_cores']} cores; "
                f"median of {plan['repeats']} rounds; * the fastest median)", width)]
    out.append(f"  {'task':<7}{'pool':<23}{'tasks/s':>9}{'vs Pool':>9}{'vs best':>9}  spread")
    for task, name, rate, ref, best, spread in _table(doc):
        if rate == "failed":
            out.append(fill(f"{task:<7}{name:<23}failed: {spread}", width, "  ", "    "))
        else:
            out.append(f"  {task:<7}{name:<23}{rate:>9}{ref:>9}{best:>9}  {spread}")
    starts = [r for r in doc["startup"] if r["ok"]]
    if starts:
        out.append(fill("start-up (open, one result, close): " + ", ".join(
            f"{r['name']} {r['ms']:.0f} ms" for r in starts), width, "  ", "    "))
    for r in doc["startup"]:
        if not r["ok"]:
            out.append(fill(f"start-up of {r['name']} failed: {r['error']}", width, "  ", "    "))
    if doc["missing"]:
        out.append(fill("left out: " + "; ".join(f"{k}: {v}" for k, v in doc["missing"].items()), width, "  ", "    "))
    out += [fill(line, width) for line in ["In short: " + " ".join(summary(doc))] if summary(doc)]
    return "\n".join(out)


def markdown_overhead(doc: dict[str, Any]) -> str:
    """The figures as a Markdown page (``overhead.md``): how each pool was called, the table, the words."""
    env, plan = doc["environment"], doc["plan"]
    out = ["# Per-task overhead: `gilfree bench --suite overhead`", "",
           f"{env['cpu']} ({env['usable_cores']} usable cores), {env['python_implementation']} {env['python']}, "
           f"GIL {'on' if env['gil_enabled'] else 'off'}, gilfree {env['gilfree']} ({env['implementation']}); "
           f"{plan['workers']} workers, start method {plan['start_method']}; median of {plan['repeats']} rounds "
           f"after a checked warm-up, every result checked.", ""]
    for line in summary(doc):
        out += [line, ""]
    out += ["| task | pool (* the fastest median) | tasks/s | vs multiprocessing.Pool | vs fastest | spread |",
            "|---|---|---:|---:|---:|---:|"]
    out += [f"| {' | '.join(cells)} |" for cells in _table(doc)]
    out += ["", "| pool | called as | start-up (open, one result, close) | version | start method |",
            "|---|---|---:|---|---|"]
    starts = {r["name"]: r for r in doc["startup"]}
    for pool in doc["pools"]:
        s = starts.get(pool["name"], {})
        start = f"{s['ms']:.0f} ms" if s.get("ok") else f"failed: {s.get('error')}"
        out.append(f"| {pool['name']} | {pool['call']} | {start} | {pool['version'] or ''} | {pool['start_method']} |")
    if doc["missing"]:
        out += ["", "Left out: " + "; ".join(f"{k}: {v}" for k, v in doc["missing"].items()) + "."]
    return "\n".join(out) + "\n"
