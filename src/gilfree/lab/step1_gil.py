"""Step 1: what the GIL does to CPU-bound threads.

The lab's experiment (``cpu_bound(n)`` twice, serially and in two threads), extended: the same
calls on pure Python, on the nogil kernel, on the same kernel told to keep the GIL (the control),
and in worker processes. One call per worker, so the ideal speedup is the worker count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, NamedTuple

from .._checks import check_count
from .._select import C_EXTENSION, PURE_PYTHON, Implementation
from .._timing import Timing, environment, run_in_threads, usable_cores
from ..chunked import run_chunks
from ..strategies import open_executor
from ._plan import (Ticker, chosen_implementations, speedup_of, sum_of_squares_below, time_variants, timed_row,
                    worker_count)
from ._result import Progress, Row, StepResult, no_progress

TITLE = "the GIL and CPU-bound threads"

PURE = "pure Python"
NOGIL = "nogil kernel"
HOLDING = "kernel holding the GIL"


@dataclass(frozen=True)
class Kernel:
    """One kernel setup of the step: which twin, how many elements per call, whether it lets go of the GIL."""

    variant: str
    implementation: str
    size: int
    release_gil: bool


class Key(NamedTuple):
    """A measured variant: a kernel setup run one way (serial, threads or processes)."""

    variant: str
    mode: str


def _label(key: Key) -> str:
    return f"{key.variant}, {key.mode}"


def _kernels(impls: Mapping[str, Implementation], n: int, big: int) -> list[Kernel]:
    """Pure Python at ``n``; with the compiled twin, its nogil kernel and its control at ``big``."""
    kernels = [Kernel(PURE, PURE_PYTHON, n, True)]
    if C_EXTENSION in impls:
        kernels += [Kernel(NOGIL, C_EXTENSION, big, True), Kernel(HOLDING, C_EXTENSION, big, False)]
    return kernels


def _variants(kernels: list[Kernel], impls: Mapping[str, Implementation], k: int,
              pool: Executor) -> dict[Key, Callable[[], Sequence[object]]]:
    """``k`` calls of each kernel serially and in ``k`` threads; pure Python also in ``k`` processes."""
    variants: dict[Key, Callable[[], Sequence[object]]] = {}
    for kern in kernels:
        call = partial(impls[kern.implementation].sum_squares, 0, kern.size, release_gil=kern.release_gil)
        variants[Key(kern.variant, "serial")] = partial(_in_turn, [call] * k)
        variants[Key(kern.variant, "threads")] = partial(run_in_threads, [call] * k)
    # impl.cpu_bound travels to the workers as a function, pickled by reference.
    variants[Key(PURE, "processes")] = partial(run_chunks, pool, impls[PURE_PYTHON].cpu_bound,
                                               [(kernels[0].size,)] * k)
    return variants


def _in_turn(calls: list[Callable[[], int]]) -> list[int]:
    return [call() for call in calls]


def _measure(kernels: list[Kernel], impls: Mapping[str, Implementation], k: int, repeats: int,
             progress: Progress) -> tuple[dict[str, bool], dict[Key, Timing]]:
    """Run every variant once to check its sums, then time them all, interleaved."""
    size = {kern.variant: kern.size for kern in kernels}
    with open_executor("processes", k) as pool:
        variants = _variants(kernels, impls, k, pool)
        ticker = Ticker(progress, len(variants) * (repeats + 1))
        checks = {}
        for key, fn in variants.items():
            expected = [sum_of_squares_below(size[key.variant])] * k
            checks[f"{_label(key)}: sum equals the closed form"] = fn() == expected
            ticker.tick(_label(key))
        return checks, time_variants(variants, repeats, ticker, _label)


def _rows(kernels: list[Kernel], timings: dict[Key, Timing], k: int) -> list[Row]:
    rows = []
    for kern in kernels:
        serial = timings[Key(kern.variant, "serial")]
        for mode in ("serial", "threads", "processes"):
            t = timings.get(Key(kern.variant, mode))
            if t is None:
                continue
            rows.append(timed_row(
                kern.variant, kern.implementation, mode, 1 if mode == "serial" else k, t,
                speedup=serial.median / t.median,
                extra={"n per call": kern.size, "calls": k, "ns/elem": serial.median / (kern.size * k) * 1e9}))
    return rows


def _summary(timings: dict[Key, Timing], k: int) -> list[str]:
    pure_serial = timings[Key(PURE, "serial")].median
    pure_threads = timings[Key(PURE, "threads")].median
    return [
        f"Serial ({k} calls): {pure_serial * 1000:.0f}ms",
        f"{k} Threads: {pure_threads * 1000:.0f}ms",
        f"Thread speedup: {pure_serial / pure_threads:.2f}x",
    ]


def run(n: int = 2_000_000, workers: int | None = None, kernel_scale: int = 500, repeats: int = 3,
        progress: Progress = no_progress,
        implementations: Mapping[str, Implementation] | None = None) -> StepResult:
    """Time ``workers`` calls of ``cpu_bound`` serially, in threads and in processes.

    ``n`` is the lab's size for pure Python; the compiled kernel gets ``n * kernel_scale`` so
    that its calls last long enough to time (it is two orders of magnitude faster).
    ``implementations`` (default: every one that imports here) decides whether the compiled
    twin runs; pure Python always does.
    """
    k = worker_count(workers, max(2, usable_cores()))
    n, kernel_scale = check_count(n, "n"), check_count(kernel_scale, "kernel_scale")
    repeats = check_count(repeats, "repeats")
    impls = chosen_implementations(implementations)
    has_c = C_EXTENSION in impls
    big = n * kernel_scale

    kernels = _kernels(impls, n, big)
    checks, timings = _measure(kernels, impls, k, repeats, progress)
    rows = _rows(kernels, timings, k)
    env = environment()
    return StepResult(
        step=1, title=TITLE,
        params={"n": n, "workers": k, "kernel_n": big if has_c else None, "repeats": repeats},
        rows=rows, checks=checks, summary=_summary(timings, k),
        explanation=_explain(rows, k, env["gil_enabled"], has_c), env=env,
        columns=("variant", "strategy", "workers", "n per call", "ms", "cpu ms", "speedup", "ns/elem"),
    )


def _explain(rows: list[Row], k: int, gil: bool, has_c: bool) -> list[str]:
    def find(variant: str, strategy: str) -> Row:
        return next(r for r in rows if r.variant == variant and r.strategy == strategy)

    pure_t = find(PURE, "threads")
    pure_p = find(PURE, "processes")
    lines = []
    if gil:
        cpu = (f"used {pure_t.cpu_seconds * 1000:.0f} ms of CPU for" if pure_t.cpu_seconds is not None
               else "took")  # a row may come without its CPU time: then only the wall time is said
        lines.append(
            f"Pure-Python threads ran at {pure_t.speedup:.2f}x and {cpu} {pure_t.seconds * 1000:.0f} ms "
            "of wall time: with the GIL on, one thread runs "
            "Python bytecode at a time, so threads take turns on the cores instead of sharing them.")
    else:
        lines.append(
            f"This interpreter runs without the GIL: pure-Python threads reached {pure_t.speedup:.2f}x "
            f"on {k} threads.")
    lines.append(
        f"{k} worker processes ran the same pure-Python calls at {pure_p.speedup:.2f}x: each process has "
        "its own interpreter and its own GIL (the pool was started before timing).")
    if has_c:
        kern, ctrl = find(NOGIL, "threads"), find(HOLDING, "threads")
        per_elem = find(PURE, "serial").extra["ns/elem"] / find(NOGIL, "serial").extra["ns/elem"]
        lines.append(
            f"The Cython kernel is {per_elem:.0f}x faster per element, and its threads reached "
            f"{kern.speedup:.2f}x ({speedup_of(kern) / k:.0%} of the ideal {k}x) because it releases the GIL "
            f"for its whole loop. The control, the very same compiled loop holding the GIL, stayed at "
            f"{ctrl.speedup:.2f}x: compiled code alone does not make threads parallel.")
    else:
        lines.append("The compiled kernels did not run (not installed here, or not among the implementations "
                     "asked for): only pure-Python rows.")
    return lines


#: Parameters for ``gilfree lab`` (DEFAULT), ``--quick`` (QUICK) and the tests (TINY).
DEFAULT: dict[str, Any] = {}
QUICK = {"n": 500_000, "kernel_scale": 500, "repeats": 3}
TINY = {"n": 5_000, "kernel_scale": 10, "repeats": 1, "workers": 2}
