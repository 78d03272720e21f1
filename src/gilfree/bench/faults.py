"""``gilfree bench --suite faults``: how long after a worker dies does the caller hear about it?

For each process strategy gilfree stands behind and each start method, a pool runs one task that
kills its own worker with SIGKILL (as the out-of-memory killer would). The task writes the moment
of its death to a file first; the time from then until the caller's ``future.result()`` raises
:class:`~gilfree.errors.WorkerDied` is the detection latency. :class:`gilfree.experiment.Experiment`
runs the strategies interleaved, round after round (one checked warm-up round first, which also
starts a forkserver), so that a drift of a shared machine falls on all of them alike; the median
and the worst latency of the timed rounds are reported, with each round's whole time (open the
pool, kill, detect, close).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from .._checks import check_choices, check_count
from .._timing import environment, usable_cores
from ..errors import WorkerDied
from ..experiment import Experiment, Measured, Progress, Variant, no_progress
from ..figures import plural
from ..registry import strategies
from ..strategies import open_executor
from .report import fill, terminal_width
from .verdict import machine_line

__all__ = ["SCHEMA", "FaultsPlan", "die_now", "format_faults", "process_strategies", "run_faults",
           "time_to_error"]

SCHEMA = "gilfree-bench-faults/1"
#: The detection a round waits for before it calls the death lost.
TIMEOUT_S = 60.0
#: Untimed rounds first: their latency is left out (the first also starts a forkserver).
WARMUP = 1


def process_strategies() -> tuple[str, ...]:
    """The process strategies gilfree stands behind (peers excluded) that can run here, from the registry."""
    return tuple(s.name for s in strategies(available_only=True)
                 if s.capabilities.uses == "processes" and not s.peer)


def _start_methods() -> tuple[str, ...]:
    return tuple(m for m in ("fork", "spawn", "forkserver") if m in multiprocessing.get_all_start_methods())


@dataclass(frozen=True)
class FaultsPlan:
    """Rounds, and the start methods to measure (None: every one this platform has)."""

    repeats: int = 15
    start_methods: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "repeats", check_count(self.repeats, "repeats"))
        if self.start_methods is not None:
            object.__setattr__(self, "start_methods",
                               check_choices(self.start_methods, "start_methods", _start_methods()))

    @property
    def methods(self) -> tuple[str, ...]:
        return self.start_methods if self.start_methods is not None else _start_methods()


def die_now(stamp: str) -> None:
    """Record the time, then die of SIGKILL mid-task."""
    with open(stamp, "w", encoding="ascii") as f:
        f.write(repr(time.time()))
    os.kill(os.getpid(), signal.SIGKILL)


def time_to_error(strategy: str, method: str, stamp: str) -> float:
    """Seconds from a worker's death to the caller's :class:`WorkerDied`, on a fresh 2-worker pool."""
    with open_executor(strategy, 2, start_method=method) as executor:
        executor.submit(abs, -1).result(timeout=TIMEOUT_S)  # the workers are up
        future = executor.submit(die_now, stamp)
        try:
            future.result(timeout=TIMEOUT_S)
        except WorkerDied:
            with open(stamp, encoding="ascii") as f:
                return time.time() - float(f.read())
    raise RuntimeError(f"{strategy}/{method}: the worker's death did not surface as WorkerDied")


def run_faults(plan: FaultsPlan | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Measure every process strategy with every start method; one JSON-ready dict (schema :data:`SCHEMA`)."""
    plan = plan or FaultsPlan()
    started = time.perf_counter()
    ex = Experiment(progress or no_progress, errors="record")
    latencies: dict[str, list[float]] = {}

    def round_of(strategy: str, method: str, stamp: str) -> float:
        latency = time_to_error(strategy, method, stamp)
        latencies.setdefault(f"{strategy} {method}", []).append(latency)  # the figure each call returns
        return latency

    with tempfile.TemporaryDirectory(prefix="gilfree-bench-faults-") as tmp:
        stamp = os.path.join(tmp, "died-at")
        runs = [Variant(f"{s} {m}", partial(round_of, s, m, stamp), lambda t: 0 <= t < TIMEOUT_S,
                        tags={"strategy": s, "start_method": m})
                for s in process_strategies() for m in plan.methods]
        got = ex.measure(runs, repeats=plan.repeats, warmup=WARMUP)
    return {"schema": SCHEMA, "suite": "faults", "environment": environment(), "machine": ex.finish().as_dict(),
            "plan": {**asdict(plan), "start_methods": list(plan.methods)}, "cores": usable_cores(),
            "rows": [_row(m, latencies.get(m.name, [])[WARMUP:]) for m in got.values()],
            "checks": ex.checks.as_dict(), "seconds": time.perf_counter() - started}


def _row(m: Measured, timed: list[float]) -> dict[str, Any]:
    """One strategy and start method: the latencies of its timed rounds (the warm-up's is left out)."""
    row: dict[str, Any] = {"strategy": m.tags["strategy"], "start_method": m.tags["start_method"],
                           "ok": m.ok and bool(timed), "error": m.error}
    if not row["ok"]:
        row["error"] = m.error or "the death surfaced too late, or not at all"
        return row
    return {**row, "median_ms": statistics.median(timed) * 1e3, "worst_ms": max(timed) * 1e3,
            "repeats": len(timed), "round_ms": m.seconds * 1e3, "spread": m.spread}


def format_faults(doc: dict[str, Any], width: int | None = None) -> str:
    """The suite's figures for a terminal: one line per strategy and start method, the prose
    wrapped to ``width`` (default: the terminal's)."""
    env, width = doc["environment"], width or terminal_width()
    out = [fill(line, width) for line in (machine_line(doc),) if line]
    rounds = plural(doc["plan"]["repeats"], "round", "rounds")
    out.append(fill(f"worker death -> the caller's WorkerDied ({env['python_implementation']} {env['python']}, "
                    f"{env['usable_cores']} cores; median and worst of {rounds})", width))
    for row in doc["rows"]:
        if row["ok"]:
            out.append(f"  {row['strategy']:<10} {row['start_method']:<11} {row['median_ms']:7.1f} ms  "
                       f"(worst {row['worst_ms']:.1f} ms; a whole round {row['round_ms']:.0f} ms)")
        else:
            out.append(fill(f"{row['strategy']:<10} {row['start_method']:<11} failed: {row['error']}", width,
                            "  ", "    "))
    return "\n".join(out)
