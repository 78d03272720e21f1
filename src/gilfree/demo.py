"""Lab step 1, first version: what the GIL does to CPU-bound threads, measured side by side.

The same work (``cpu_bound(n)``, once per thread) runs serially and in threads, three ways:
pure Python, the nogil Cython kernel, and the same kernel told to keep the GIL (the control).
Only the middle one can use more than one core while the GIL is on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import partial

from ._select import C_EXTENSION, PURE_PYTHON, implementations
from ._timing import environment, interleaved, run_in_threads, usable_cores

__all__ = ["GilDemo", "Row", "format_gil_demo", "run_gil_demo"]


@dataclass(frozen=True)
class Row:
    """One way of doing the work: serial and threaded timings, and what they imply."""

    variant: str
    implementation: str
    releases_gil: bool
    n: int
    threads: int
    serial_s: float
    threads_s: float
    serial_spread: float
    threads_spread: float
    threads_cpu_s: float

    @property
    def speedup(self) -> float:
        """Serial time over threaded time for the same total work (ideal: ``threads``)."""
        return self.serial_s / self.threads_s

    @property
    def efficiency(self) -> float:
        """Speedup as a fraction of the ideal."""
        return self.speedup / self.threads

    @property
    def ns_per_element(self) -> float:
        """Serial nanoseconds per loop iteration: the cost of the work itself."""
        return self.serial_s / (self.n * self.threads) * 1e9


@dataclass(frozen=True)
class GilDemo:
    """Result of :func:`run_gil_demo`."""

    threads: int
    rows: tuple[Row, ...]
    result_checked: bool
    env: dict = field(default_factory=dict)

    def row(self, variant: str) -> Row:
        for row in self.rows:
            if row.variant == variant:
                return row
        raise KeyError(variant)

    def to_dict(self) -> dict:
        out = asdict(self)
        for row, data in zip(self.rows, out["rows"]):
            data.update(speedup=row.speedup, efficiency=row.efficiency,
                        ns_per_element=row.ns_per_element)
        return out


def run_gil_demo(n: int = 2_000_000, threads: int | None = None, kernel_scale: int = 100,
                 repeats: int = 3) -> GilDemo:
    """Time ``threads`` calls of ``cpu_bound`` serially and in ``threads`` threads.

    ``n`` is the lab's size for pure Python; the compiled kernel gets ``n * kernel_scale`` so
    that its calls last long enough to time (it is about two orders of magnitude faster).
    """
    if threads is None:
        threads = max(2, usable_cores())
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if n < 1 or kernel_scale < 1:
        raise ValueError("n and kernel_scale must be >= 1")
    impls = implementations()
    plans = [("pure Python", impls[PURE_PYTHON], n, True)]
    if C_EXTENSION in impls:
        big = n * kernel_scale
        plans.append(("nogil kernel", impls[C_EXTENSION], big, True))
        plans.append(("kernel holding the GIL (control)", impls[C_EXTENSION], big, False))

    variants = {}
    expected = {}
    for name, impl, size, release in plans:
        call = partial(impl.sum_squares, 0, size, release_gil=release)
        expected[name] = size * (size - 1) * (2 * size - 1) // 6
        variants[f"{name}|serial"] = lambda call=call: [call() for _ in range(threads)]
        variants[f"{name}|threads"] = lambda call=call: run_in_threads([call] * threads)

    checked = all(
        variants[f"{name}|{mode}"]() == [expected[name]] * threads
        for name, *_ in plans
        for mode in ("serial", "threads")
    )
    timings = interleaved(variants, repeats=repeats, warmup=1)
    rows = tuple(
        Row(
            variant=name,
            implementation=impl.name,
            releases_gil=release and impl.name == C_EXTENSION,
            n=size,
            threads=threads,
            serial_s=timings[f"{name}|serial"].median,
            threads_s=timings[f"{name}|threads"].median,
            serial_spread=timings[f"{name}|serial"].spread,
            threads_spread=timings[f"{name}|threads"].spread,
            threads_cpu_s=timings[f"{name}|threads"].cpu_median,
        )
        for name, impl, size, release in plans
    )
    return GilDemo(threads=threads, rows=rows, result_checked=checked, env=environment())


def format_gil_demo(demo: GilDemo) -> str:
    """The demo as the lab prints it, then a table and a plain-words reading of the numbers."""
    env = demo.env
    pure = demo.row("pure Python")
    k = demo.threads
    lines = [
        f"Step 1: the GIL and CPU-bound threads  (Python {env.get('python')}, "
        f"GIL {'on' if env.get('gil_enabled') else 'off'}, {env.get('usable_cores')} cores)",
        "",
        f"Serial ({k} calls): {pure.serial_s * 1000:.0f}ms",
        f"{k} Threads: {pure.threads_s * 1000:.0f}ms",
        f"Thread speedup: {pure.speedup:.2f}x",
        "",
        f"{'variant':<34}{'n per call':>14}{'serial ms':>11}{f'{k} threads ms':>15}"
        f"{'speedup':>9}{'ns/elem':>9}",
    ]
    for row in demo.rows:
        lines.append(
            f"{row.variant:<34}{row.n:>14,}{row.serial_s * 1000:>11.1f}{row.threads_s * 1000:>15.1f}"
            f"{row.speedup:>8.2f}x{row.ns_per_element:>9.2f}"
        )
    lines.append("")
    lines.append(f"Results checked against the closed form: {'yes' if demo.result_checked else 'NO'}")
    lines.append("")
    gil = env.get("gil_enabled", True)
    if gil:
        lines.append(
            f"Pure-Python threads ran {pure.speedup:.2f}x as fast as one thread: with the GIL on, only "
            "one thread runs Python bytecode at a time, so threads take turns instead of sharing "
            "the cores."
        )
    else:
        lines.append(
            f"This interpreter runs without the GIL, so pure-Python threads reached {pure.speedup:.2f}x "
            f"on {k} threads."
        )
    try:
        kernel, control = demo.row("nogil kernel"), demo.row("kernel holding the GIL (control)")
    except KeyError:
        lines.append("The compiled kernels are not installed here (pure-Python mode), so only the "
                     "pure-Python row is shown.")
    else:
        lines.append(
            f"The nogil kernel is {pure.ns_per_element / kernel.ns_per_element:.0f}x faster per "
            f"element and its threads reached {kernel.speedup:.2f}x ({kernel.efficiency:.0%} of the "
            f"ideal {k}x), because it releases the GIL for the whole loop."
        )
        lines.append(
            f"The control runs the very same compiled loop but keeps the GIL: {control.speedup:.2f}x. "
            "Compiled code alone does not make threads parallel; releasing the GIL does."
        )
    return "\n".join(lines)
