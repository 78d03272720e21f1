"""Step 1: what the GIL does to CPU-bound threads.

The lab's experiment (``cpu_bound(n)`` twice, serially and in two threads), extended: the same
calls on pure Python, on the nogil kernel, on the same kernel told to keep the GIL (the control),
and in worker processes. One call per worker, so the ideal speedup is the worker count.
"""

from __future__ import annotations

from functools import partial

from .._select import C_EXTENSION, PURE_PYTHON, implementations
from .._timing import environment, interleaved, run_in_threads, usable_cores
from .._workers import call_kernel
from ..chunked import run_chunks
from ..strategies import check_workers, open_executor
from ._result import Progress, Row, StepResult, no_progress

TITLE = "the GIL and CPU-bound threads"


def _expected(n: int) -> int:
    return (n - 1) * n * (2 * n - 1) // 6


def run(n: int = 2_000_000, workers: int | None = None, kernel_scale: int = 500, repeats: int = 3,
        progress: Progress = no_progress) -> StepResult:
    """Time ``workers`` calls of ``cpu_bound`` serially, in threads and in processes.

    ``n`` is the lab's size for pure Python; the compiled kernel gets ``n * kernel_scale`` so
    that its calls last long enough to time (it is two orders of magnitude faster).
    """
    k = check_workers(workers if workers is not None else max(2, usable_cores()))
    if n < 1 or kernel_scale < 1 or repeats < 1:
        raise ValueError("n, kernel_scale and repeats must be >= 1")
    impls = implementations()
    has_c = C_EXTENSION in impls
    big = n * kernel_scale

    plans = [("pure Python", PURE_PYTHON, n, True)]
    if has_c:
        plans += [("nogil kernel", C_EXTENSION, big, True),
                  ("kernel holding the GIL", C_EXTENSION, big, False)]

    with open_executor("processes", k) as pool:
        variants = {}
        for name, impl, size, release in plans:
            call = partial(impls[impl].sum_squares, 0, size, release_gil=release)
            variants[(name, "serial")] = lambda call=call: [call() for _ in range(k)]
            variants[(name, "threads")] = lambda call=call: run_in_threads([call] * k)
        variants[("pure Python", "processes")] = lambda: run_chunks(
            pool, call_kernel, [(PURE_PYTHON, "cpu_bound", n)] * k)

        checks = {}
        for i, ((name, mode), fn) in enumerate(variants.items()):
            size = big if name != "pure Python" else n
            checks[f"{name}, {mode}: sum equals the closed form"] = fn() == [_expected(size)] * k
            progress(i + 1, len(variants) * (repeats + 1), f"{name}, {mode}")
        done = [len(variants)]

        def counted(key, fn):
            def wrapper():
                out = fn()
                done[0] += 1
                progress(done[0], len(variants) * (repeats + 1), f"{key[0]}, {key[1]}")
                return out
            return wrapper

        timings = interleaved({key: counted(key, fn) for key, fn in variants.items()},
                              repeats=repeats, warmup=0)

    rows = []
    for name, impl, size, release in plans:
        serial = timings[(name, "serial")]
        modes = ["serial", "threads"] + (["processes"] if (name, "processes") in timings else [])
        for mode in modes:
            t = timings[(name, mode)]
            rows.append(Row(
                variant=name, implementation=impl, strategy=mode,
                workers=1 if mode == "serial" else k,
                seconds=t.median, spread=t.spread, cpu_seconds=t.cpu_median,
                speedup=serial.median / t.median,
                extra={"n per call": size, "calls": k,
                       "ns/elem": serial.median / (size * k) * 1e9},
            ))

    pure_serial = timings[("pure Python", "serial")].median
    pure_threads = timings[("pure Python", "threads")].median
    summary = [
        f"Serial ({k} calls): {pure_serial * 1000:.0f}ms",
        f"{k} Threads: {pure_threads * 1000:.0f}ms",
        f"Thread speedup: {pure_serial / pure_threads:.2f}x",
    ]
    env = environment()
    explanation = _explain(rows, k, env["gil_enabled"], has_c)
    return StepResult(
        step=1, title=TITLE,
        params={"n": n, "workers": k, "kernel_n": big if has_c else None, "repeats": repeats},
        rows=rows, checks=checks, summary=summary, explanation=explanation, env=env,
        columns=("variant", "strategy", "workers", "n per call", "ms", "cpu ms", "speedup", "ns/elem"),
    )


def _explain(rows: list[Row], k: int, gil: bool, has_c: bool) -> list[str]:
    def find(variant: str, strategy: str) -> Row:
        return next(r for r in rows if r.variant == variant and r.strategy == strategy)

    pure_t = find("pure Python", "threads")
    pure_p = find("pure Python", "processes")
    lines = []
    if gil:
        lines.append(
            f"Pure-Python threads ran at {pure_t.speedup:.2f}x and used {pure_t.cpu_seconds * 1000:.0f} ms "
            f"of CPU for {pure_t.seconds * 1000:.0f} ms of wall time: with the GIL on, one thread runs "
            "Python bytecode at a time, so threads take turns on the cores instead of sharing them.")
    else:
        lines.append(
            f"This interpreter runs without the GIL: pure-Python threads reached {pure_t.speedup:.2f}x "
            f"on {k} threads.")
    lines.append(
        f"{k} worker processes ran the same pure-Python calls at {pure_p.speedup:.2f}x: each process has "
        "its own interpreter and its own GIL (the pool was started before timing).")
    if has_c:
        kern, ctrl = find("nogil kernel", "threads"), find("kernel holding the GIL", "threads")
        per_elem = find("pure Python", "serial").extra["ns/elem"] / find("nogil kernel", "serial").extra["ns/elem"]
        lines.append(
            f"The Cython kernel is {per_elem:.0f}x faster per element, and its threads reached "
            f"{kern.speedup:.2f}x ({kern.speedup / k:.0%} of the ideal {k}x) because it releases the GIL "
            f"for its whole loop. The control, the very same compiled loop holding the GIL, stayed at "
            f"{ctrl.speedup:.2f}x: compiled code alone does not make threads parallel.")
    else:
        lines.append("The compiled kernels are not installed (pure-Python mode): only pure-Python rows.")
    return lines


#: Parameters for ``gilfree lab`` (DEFAULT), ``--quick`` (QUICK) and the tests (TINY).
DEFAULT: dict = {}
QUICK = {"n": 500_000, "kernel_scale": 500, "repeats": 3}
TINY = {"n": 5_000, "kernel_scale": 10, "repeats": 1, "workers": 2}
