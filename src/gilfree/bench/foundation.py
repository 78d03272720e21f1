"""``gilfree bench --suite foundation``: are the nogil kernels fast, and do they scale on threads?

Three ratios, measured side by side in one run by :class:`gilfree.experiment.Experiment` (every
variant warmed up and checked, then timed interleaved, every timed result checked):

1. ``cpu_bound`` per element: the nogil kernel against pure Python, one thread (the kernel gets
   :data:`PURE_SHARE` times more elements, so that both calls take comparable time).
2. Threads on the nogil kernel: the same work per thread, 1 thread against ``threads`` threads
   (a throughput ratio; the ideal is the thread count, at most the cores).
3. Array statistics on one thread against ``numpy.sum`` on the same float64 array (a throughput
   ratio). ``chunk_stats`` computes count, sum, min, max, mean and m2; numpy.sum only the sum.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, Callable

import numpy as np

from .._checks import check_count
from .._select import C_EXTENSION, PURE_PYTHON, Implementation, implementations
from .._stats import stats_bits
from .._timing import environment, run_in_threads, usable_cores
from ..experiment import Experiment, Measured, Progress, Variant, no_progress
from ..figures import above_ideal, beyond_noise, noise_of, repeat_advice, x
from .report import fill, terminal_width
from .verdict import machine_line

__all__ = ["PURE_SHARE", "SCHEMA", "FoundationPlan", "format_foundation", "run_foundation"]

SCHEMA = "gilfree-bench-foundation/1"
#: Pure Python's loop is this many times shorter than the kernel's (it is 100x to 1000x slower).
PURE_SHARE = 200


def _default_threads() -> int:
    return max(2, usable_cores())


@dataclass(frozen=True)
class FoundationPlan:
    """What the foundation suite measures: sizes, thread count, repeats."""

    mb: int = 400
    threads: int = field(default_factory=_default_threads)
    repeats: int = 15  # the medians of a shared VM need more than a handful: one descheduled run is 1.8x
    elements: int = 400_000_000  # the kernel's sum of squares; pure Python gets 1 / PURE_SHARE

    def __post_init__(self) -> None:
        for name in ("mb", "threads", "repeats", "elements"):
            object.__setattr__(self, name, check_count(getattr(self, name), name))

    @property
    def pure_elements(self) -> int:
        return max(1, self.elements // PURE_SHARE)


def _sum_of_squares_below(n: int) -> int:
    return (n - 1) * n * (2 * n - 1) // 6


def _variants(plan: FoundationPlan, pure: Implementation, kern: Implementation,
              data: np.ndarray) -> list[Variant]:
    n_pure, n_kern, k = plan.pure_elements, plan.elements, plan.threads
    want_pure, want_kern = _sum_of_squares_below(n_pure), _sum_of_squares_below(n_kern)
    want_stats = stats_bits(kern.chunk_stats(data))
    want_sum = float(kern.chunk_stats(data).sum)
    call = partial(kern.sum_squares, 0, n_kern)
    return [
        Variant("pure Python, 1 thread", partial(pure.sum_squares, 0, n_pure), lambda r: bool(r == want_pure)),
        Variant("kernel, 1 thread", call, lambda r: bool(r == want_kern)),
        Variant("kernel in 1 thread", partial(run_in_threads, [call]),
                lambda r: bool(r == [want_kern])),
        Variant(f"kernel in {k} threads", partial(run_in_threads, [call] * k),
                lambda r: bool(r == [want_kern] * k)),
        Variant("numpy.sum", partial(np.sum, data),
                lambda r: math.isclose(float(r), want_sum, rel_tol=1e-9)),
        Variant("chunk_stats", partial(kern.chunk_stats, data), lambda r: bool(stats_bits(r) == want_stats)),
    ]


def run_foundation(plan: FoundationPlan | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Measure the three ratios; return one JSON-ready dict (schema :data:`SCHEMA`)."""
    plan = plan or FoundationPlan()
    impls = implementations()
    if C_EXTENSION not in impls:
        raise RuntimeError("the compiled kernels are not installed here: nothing to compare "
                           "(the foundation suite measures them against pure Python)")
    started = time.perf_counter()
    ex = Experiment(progress or no_progress, errors="record")
    n = plan.mb * 1_000_000 // 8
    data = ex.step(f"{plan.mb} MB of float64", lambda: np.random.default_rng(0).random(n))
    runs = _variants(plan, impls[PURE_PYTHON], impls[C_EXTENSION], data)
    # Each ratio's two variants are interleaved with each other only: a 400 MB pass between two
    # compute-bound calls would leave them a different cache and memory bus each round.
    ex.plan(Experiment.units(runs, repeats=plan.repeats))
    got = {name: m for pair in (runs[0:2], runs[2:4], runs[4:6])
           for name, m in ex.measure(pair, repeats=plan.repeats, warmup=1).items()}
    return {
        "schema": SCHEMA, "suite": "foundation", "environment": environment(),
        "machine": ex.finish().as_dict(), "plan": asdict(plan), "cores": usable_cores(),
        "rows": _rows(plan, got, data.nbytes), "checks": ex.checks.as_dict(),
        "errors": {name: m.error for name, m in got.items() if m.error},
        "seconds": time.perf_counter() - started,
    }


def _rows(plan: FoundationPlan, got: dict[str, Measured], nbytes: int) -> list[dict[str, Any]]:
    k, ideal = plan.threads, min(plan.threads, usable_cores())
    pure, kern, one, many, npsum, stats = got.values()
    rows = [{"row": "cpu_bound per element: kernel vs pure Python", "baseline": "pure Python, 1 thread",
             "target": ">= 100x", **_ratio(pure, kern, lambda a, b: (a / plan.pure_elements) / (b / plan.elements))},
            {"row": f"nogil kernel: {k} threads vs 1, same work each", "baseline": "1 thread",
             "target": f">= {0.95 * ideal:.1f}x", **_ratio(one, many, lambda a, b: k * a / b)},
            {"row": f"chunk_stats vs numpy.sum: 1 thread, {nbytes / 1e6:,.0f} MB", "baseline": "numpy.sum",
             "target": ">= 0.8x", **_ratio(npsum, stats, lambda a, b: a / b)}]
    if rows[0]["ok"]:
        rows[0]["baseline_ns_per_element"] = pure.seconds / plan.pure_elements * 1e9
        rows[0]["kernel_ns_per_element"] = kern.seconds / plan.elements * 1e9
    if rows[1]["ok"]:
        rows[1].update(ideal=ideal, efficiency=rows[1]["ratio"] / ideal,
                       cpu_per_wall=many.cpu_seconds / many.seconds if many.seconds > 0 else None)
    if rows[2]["ok"]:
        rows[2]["numpy_sum_GBps"] = nbytes / npsum.seconds / 1e9
        rows[2]["chunk_stats_GBps"] = nbytes / stats.seconds / 1e9
    return rows


def _ratio(base: Measured, other: Measured, of: Callable[[float, float], float]) -> dict[str, Any]:
    """``of(base seconds, other seconds)`` with the worse spread, or a failure naming the variant."""
    bad = [v for v in (base, other) if not v.ok]
    if bad:
        why = bad[0].error or "its result differed from the reference"
        return {"ok": False, "ratio": None, "spread": None, "error": f"{bad[0].name}: {why}"}
    return {"ok": True, "ratio": of(base.seconds, other.seconds), "spread": max(base.spread, other.spread),
            "error": None}


def _words(doc: dict[str, Any]) -> list[str]:
    """What the thread row shows, from its figures alone."""
    row = doc["rows"][1]
    if not row["ok"]:
        return []
    k, s = doc["plan"]["threads"], row["ratio"]
    clause = above_ideal(s, row["ideal"], row["spread"])
    if clause is not None:
        return [f"The thread row: {clause}."]
    if k > 1 and not beyond_noise(s, row["spread"]):
        return [repeat_advice(f"the nogil kernel on {k} threads did {x(s)} the work of 1 thread per second, "
                              f"no more than the repeats' spread ({noise_of(row['spread']):.0%}) above 1x")]
    return []


def format_foundation(doc: dict[str, Any], width: int | None = None) -> str:
    """The suite's figures for a terminal: a table (under 80 columns), the per-element figures, and
    the prose wrapped to ``width`` (default: the terminal's)."""
    env, width = doc["environment"], width or terminal_width()
    out = [fill(line, width) for line in (machine_line(doc),) if line]
    out.append(fill(f"gilfree {env['gilfree']} ({env['implementation']}) on {env['cpu']} ({env['usable_cores']} "
                    f"cores); {env['python_implementation']} {env['python']}, "
                    f"GIL {'on' if env['gil_enabled'] else 'off'}", width))
    out.append(f"  {'ratio':<46} {'measured':>8}  {'target':<8} spread")
    for row in doc["rows"]:
        if row["ok"]:
            out.append(f"  {row['row']:<46} {x(row['ratio']):>8}  {row['target']:<8} {row['spread']:.0%}")
        else:
            out.append(fill(f"{row['row']:<46} {'failed':>8}  {row['error']}", width, "  ", "    "))
    r1, _, r3 = doc["rows"]
    if r1["ok"]:
        out.append(f"  per element: pure Python {r1['baseline_ns_per_element']:.1f} ns, "
                   f"kernel {r1['kernel_ns_per_element']:.3f} ns")
    if r3["ok"]:
        out.append(f"  numpy.sum {r3['numpy_sum_GBps']:.1f} GB/s, chunk_stats {r3['chunk_stats_GBps']:.1f} GB/s")
    return "\n".join(out + [fill(line, width) for line in _words(doc)])
