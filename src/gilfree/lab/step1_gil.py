"""Step 1: what the GIL does to CPU-bound threads.

The lab's experiment (``cpu_bound(n)`` twice, serially and in two threads), extended: the same
calls on pure Python, on the nogil kernel, on the same kernel told to keep the GIL (the control),
and in worker processes. One call per worker, so the ideal speedup is the worker count (or the
core count, when there are fewer cores).

What it means is read from the figures (:mod:`gilfree.figures`): "took turns on the GIL" only with
the GIL's fingerprint, "because it releases the GIL" only when the nogil threads beat the control
by more than the repeats' spread, "its own GIL" as the reason only when processes sped up; figures
that do not tell that story are reported as seen, with the advice to repeat the run.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from typing import Any

from .._checks import check_count
from .._select import C_EXTENSION, PURE_PYTHON, Implementation
from .._timing import environment, run_in_threads, usable_cores
from ..chunked import run_chunks
from ..experiment import Experiment, Measured, Variant
from ..figures import (Timed, above_ideal, beyond_noise, gap, gil_reading, ms, noise_of, plural, repeat_advice, versus,
                       x)
from ..registry import USES
from ..strategies import open_executor
from ._plan import chosen_implementations, measured_row, step_result, sum_of_squares_below, worker_count
from ._result import Progress, Row, StepResult, no_progress

TITLE = "the GIL and CPU-bound threads"

PURE = "pure Python"
NOGIL = "nogil kernel"
HOLDING = "kernel holding the GIL"

#: How the k calls run: the kinds of work a strategy can use (the rows' "strategy" column).
SERIAL, THREADS, PROCESSES = USES


# -- what to run ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Kernel:
    """One kernel setup of the step: which twin, how many elements per call, whether it lets go of the GIL."""

    variant: str
    implementation: str
    size: int
    release_gil: bool


def _kernels(impls: Mapping[str, Implementation], n: int, big: int) -> list[Kernel]:
    """Pure Python at ``n``; with the compiled twin, its nogil kernel and its control at ``big``."""
    kernels = [Kernel(PURE, PURE_PYTHON, n, True)]
    if C_EXTENSION in impls:
        kernels += [Kernel(NOGIL, C_EXTENSION, big, True), Kernel(HOLDING, C_EXTENSION, big, False)]
    return kernels


def _name(variant: str, mode: str) -> str:
    """A variant's name: its progress label, its check's name and its key in the figures."""
    return f"{variant}, {mode}"


def _variants(kernels: list[Kernel], impls: Mapping[str, Implementation], k: int,
              pool: Executor) -> list[Variant]:
    """``k`` calls of each kernel serially and in ``k`` threads; pure Python also in ``k`` processes."""
    variants = []
    for kern in kernels:
        call = partial(impls[kern.implementation].sum_squares, 0, kern.size, release_gil=kern.release_gil)
        runs: dict[str, Callable[[], object]] = {SERIAL: partial(_in_turn, [call] * k),
                                                 THREADS: partial(run_in_threads, [call] * k)}
        if kern.variant == PURE:  # impl.cpu_bound travels to the workers as a function, pickled by reference
            runs[PROCESSES] = partial(run_chunks, pool, impls[PURE_PYTHON].cpu_bound, [(kern.size,)] * k)
        expected = [sum_of_squares_below(kern.size)] * k
        for mode, fn in runs.items():
            variants.append(Variant(
                _name(kern.variant, mode), fn, check=partial(operator.eq, expected),
                tags={"variant": kern.variant, "implementation": kern.implementation, "strategy": mode,
                      "workers": 1 if mode == SERIAL else k, "elements": kern.size * k, "n per call": kern.size}))
    return variants


def _in_turn(calls: list[Callable[[], int]]) -> list[int]:
    return [call() for call in calls]


# -- the figures the words rest on ---------------------------------------------------------

@dataclass(frozen=True)
class Run:
    """One kernel's ``k`` calls of ``per_call`` elements each: serially, in threads, and (pure Python) in processes."""

    per_call: int
    serial: Timed
    threads: Timed
    processes: Timed | None = None

    def speedup(self, parallel: Timed) -> float:
        """``parallel`` against this kernel's serial run (serial time over parallel time)."""
        return self.serial.seconds / parallel.seconds

    def noise(self, parallel: Timed) -> float:
        """The noise that speedup shares: the worse of the two spreads (at least figures.MIN_NOISE)."""
        return noise_of(self.serial.spread, parallel.spread)

    def judged(self, parallel: Timed) -> bool:
        """Whether that speedup can be judged against the repeats' spread: one repeat gives none (figures.gap)."""
        return gap(self.serial, parallel) != "unknown"


@dataclass(frozen=True)
class Figures:
    """What step 1's explanation reads: ``workers`` calls per run, the cores, the GIL, each kernel's run."""

    workers: int
    cores: int
    gil: bool
    pure: Run
    nogil: Run | None = None
    holding: Run | None = None

    @property
    def ideal(self) -> int:
        """The best speedup ``workers`` calls can reach here: one per core at most."""
        return max(1, min(self.workers, self.cores))

    def ns_per_element(self, run: Run) -> float:
        """``run``'s serial wall nanoseconds per element of work (``workers`` calls of ``per_call``)."""
        return run.serial.seconds / (run.per_call * self.workers) * 1e9


def _timed(measured: Mapping[str, Measured], variant: str, mode: str) -> Timed | None:
    m = measured.get(_name(variant, mode))
    return None if m is None else Timed.of(m)


def _figures(kernels: list[Kernel], measured: Mapping[str, Measured], k: int, cores: int, gil: bool) -> Figures:
    runs = {}
    for kern in kernels:
        serial, threads = _timed(measured, kern.variant, SERIAL), _timed(measured, kern.variant, THREADS)
        assert serial is not None and threads is not None  # every kernel runs serially and in threads
        runs[kern.variant] = Run(kern.size, serial, threads, _timed(measured, kern.variant, PROCESSES))
    return Figures(k, cores, gil, runs[PURE], runs.get(NOGIL), runs.get(HOLDING))


# -- the step ------------------------------------------------------------------------------

def _rows(measured: Mapping[str, Measured]) -> list[Row]:
    """Every variant against the serial run of its kernel; ns/elem is the row's own wall time per element."""
    rows = []
    for m in measured.values():
        serial = measured[_name(m.tags["variant"], SERIAL)]
        rows.append(measured_row(m, serial.seconds / m.seconds,
                                 {"n per call": m.tags["n per call"], "ns/elem": m.seconds / m.tags["elements"] * 1e9}))
    return rows


def _summary(f: Figures) -> list[str]:
    k, pure = f.workers, f.pure
    return [
        f"Serial: {plural(k, 'pure-Python call', 'pure-Python calls')} of cpu_bound({pure.per_call:,}), "
        f"one after another: {ms(pure.serial.seconds)}",
        f"Threads: the same {plural(k, 'call', 'calls')} in {plural(k, 'thread', 'threads')}: "
        f"{ms(pure.threads.seconds)}",
        f"Thread speedup: {x(pure.speedup(pure.threads))} against serial (serial time over threads time)",
        "Speedup column: each row against the serial row of its own variant.",
        "ns/elem column: each row's own wall time per element of work done.",
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
    big = n * kernel_scale
    kernels = _kernels(impls, n, big)

    ex = Experiment(progress)
    with open_executor("processes", k) as pool:  # started in the warm-up, before any timing
        measured = ex.measure(_variants(kernels, impls, k, pool), repeats=repeats, cpu="tree")
    env = environment()
    figures = _figures(kernels, measured, k, env["usable_cores"], env["gil_enabled"])
    return step_result(
        ex, step=1, title=TITLE,
        params={"n": n, "workers": k, "kernel_n": big if C_EXTENSION in impls else None, "repeats": repeats},
        rows=_rows(measured), summary=_summary(figures), explanation=explain(figures), env=env,
        columns=("variant", "strategy", "workers", "n per call", "ms", "cpu ms", "speedup", "ns/elem"))


# -- what it means -------------------------------------------------------------------------

#: What a figure resting on one repeat gets instead of a verdict (:func:`gilfree.figures.gap` says "unknown").
ONE_REPEAT = "one repeat gives no spread to judge it by; repeat the run with more repeats"


def explain(f: Figures) -> list[str]:
    """Three paragraphs, each stating the figures it rests on: threads, processes, the compiled kernel."""
    return [_threads_words(f), _processes_words(f), _kernel_words(f)]


def _of_ideal(speedup: float, ideal: int, noise: float) -> str:
    """`` (98% of the ideal 2.00x)`` for a speedup beyond noise and up to the ideal, else ``""``."""
    if ideal > 1 and beyond_noise(speedup, noise) and speedup <= ideal:
        return f" ({speedup / ideal:.0%} of the ideal {x(ideal)})"
    return ""


def _above(speedup: float, ideal: int, noise: float, judged: bool = True) -> str:
    """`` <sentence>.`` calling out a speedup above the ideal (noise, or a cache effect), else ``""``.

    On one repeat (``judged`` false) there is no spread to tell noise from a gain, and it says so.
    """
    if speedup <= ideal or x(speedup) == x(ideal):
        return ""
    if not judged:
        return (f" {x(speedup)} is above the ideal {x(ideal)}, and one repeat gives no spread to tell noise from "
                "a cache effect.")
    above = above_ideal(speedup, ideal, noise)
    return "" if above is None else f" {_cap(above)}."


def _alone(f: Figures) -> str:
    """Why nothing could run side by side (``f.ideal == 1``): one worker, or one core."""
    if f.workers == 1:
        return "with one worker, nothing runs side by side (the ideal is 1.00x)"
    return f"with only {plural(f.cores, 'core', 'cores')} here, nothing runs side by side (the ideal is 1.00x)"


def _versus(speedup: float, noise: float, judged: bool) -> str:
    """:func:`gilfree.figures.versus` where the repeats give a spread; on one repeat, that there is none."""
    return versus(speedup, noise) if judged else ONE_REPEAT


def _threads_words(f: Figures) -> str:
    pure, k = f.pure, f.workers
    s, cpw, noise = pure.speedup(pure.threads), pure.threads.cpu_per_wall, pure.noise(pure.threads)
    judged = pure.judged(pure.threads)
    reading = gil_reading(s, cpw, k, f.gil, noise)
    seen = f"pure-Python threads ran at {x(s)} against serial on {plural(k, 'thread', 'threads')}"
    if reading == "no gil" and f.ideal > 1:
        seen += _of_ideal(s, f.ideal, noise)
    if cpw is not None:
        seen += f", using {cpw:.2f} CPU seconds per wall second"
    if f.ideal == 1:
        return f"{_cap(seen)}: {_alone(f)}, so this run says nothing about the GIL." + _above(s, 1, noise, judged)
    if reading == "no gil":
        if judged and beyond_noise(s, noise):
            return f"This interpreter runs without the GIL: {seen}." + _above(s, f.ideal, noise)
        return repeat_advice(f"this interpreter runs without the GIL, yet {seen}, {_versus(s, noise, judged)}")
    if reading == "took turns":
        return (f"{_cap(seen)}: about one core busy and no speedup, the GIL's fingerprint. With "
                "the GIL on, one thread runs Python bytecode at a time, so the threads took turns on the cores "
                "instead of sharing them.")
    if reading == "waited":
        seen += ", well under the one core that threads sharing the GIL keep busy"
    elif reading == "scaled":
        seen += ", more than the GIL lets pure-Python threads reach"
    return repeat_advice(seen)


def _processes_words(f: Figures) -> str:
    pure, k = f.pure, f.workers
    procs = plural(k, "worker process", "worker processes")
    if pure.processes is None:
        return f"The {procs} did not run."
    s, noise, judged = pure.speedup(pure.processes), pure.noise(pure.processes), pure.judged(pure.processes)
    seen = f"{procs} ran the same pure-Python calls at {x(s)} against serial"
    if f.ideal == 1:
        return f"{_cap(seen)} on a pool started before timing: {_alone(f)}." + _above(s, 1, noise, judged)
    if not judged:
        return f"{_cap(seen)}: {ONE_REPEAT}." + _above(s, f.ideal, noise, judged)
    if not beyond_noise(s, noise):
        return repeat_advice(f"{seen}, {versus(s, noise)}")
    own = "its own interpreter and its own GIL" if f.gil else "its own interpreter"
    return (f"{_cap(seen)}{_of_ideal(s, f.ideal, noise)}. They sped up because each process has "
            f"{own}, so the calls ran side by side (the pool was started before timing)."
            + _above(s, f.ideal, noise))


def _kernel_words(f: Figures) -> str:
    nogil, ctrl = f.nogil, f.holding
    if nogil is None or ctrl is None:
        return ("The compiled kernels did not run (not installed here, or not among the implementations "
                "asked for): only pure-Python rows.")
    pure_ns, kern_ns = f.ns_per_element(f.pure), f.ns_per_element(nogil)
    head = (f"Serially, the compiled kernel took {kern_ns:.3g} ns per element against pure Python's "
            f"{pure_ns:.3g} ns: per element, pure Python took {x(pure_ns / kern_ns)} the time of the kernel.")
    s_k, s_c = nogil.speedup(nogil.threads), ctrl.speedup(ctrl.threads)
    own_noise, judged = nogil.noise(nogil.threads), nogil.judged(nogil.threads) and ctrl.judged(ctrl.threads)
    threads = f"its threads ran at {x(s_k)} against its serial run"
    control = f"the control (the same loop told to hold the GIL) ran its threads at {x(s_c)} against its own"
    if not f.gil:
        return (f"{head} This interpreter runs without the GIL, so the control holds nothing: {threads} and "
                f"{control}; their gap says nothing about the GIL.")
    if f.ideal == 1:
        return (f"{head} {_cap(threads)} and {control}: {_alone(f)}, so their gap says nothing about the GIL."
                + _above(s_k, 1, own_noise, judged) + _above(s_c, 1, ctrl.noise(ctrl.threads), judged))
    if not judged:
        return f"{head} {_cap(threads)} and {control}: {ONE_REPEAT}." + _above(s_k, f.ideal, own_noise, judged)
    return f"{head} {_nogil_against_control(f, nogil, ctrl)}"


def _nogil_against_control(f: Figures, nogil: Run, ctrl: Run) -> str:
    """The nogil threads against the control's: "because it releases the GIL" only when the figures say so."""
    s_k, s_c = nogil.speedup(nogil.threads), ctrl.speedup(ctrl.threads)
    own_noise, noise = nogil.noise(nogil.threads), noise_of(nogil.noise(nogil.threads), ctrl.noise(ctrl.threads))
    threads = f"its threads ran at {x(s_k)} against its serial run"
    control = f"the control (the same loop told to hold the GIL) ran its threads at {x(s_c)} against its own"
    scaled, beat = beyond_noise(s_k, own_noise), beyond_noise(s_k / s_c, noise)
    control_scaled = beyond_noise(s_c, ctrl.noise(ctrl.threads))
    if scaled and beat and not control_scaled:
        return (f"{_cap(threads)}{_of_ideal(s_k, f.ideal, own_noise)}; {control}. The nogil speedup is "
                f"{x(s_k / s_c)} the control's, more than the repeats' spread ({noise:.0%}), because the kernel "
                "releases the GIL for its whole loop: compiled code alone does not make threads parallel."
                + _above(s_k, f.ideal, own_noise))
    if control_scaled:
        seen = "the control sped up beyond the repeats' spread although it holds the GIL for its whole loop"
    elif not beat:
        seen = f"the nogil threads did not beat the control by more than the repeats' spread ({noise:.0%})"
    else:
        seen = f"the nogil threads were {versus(s_k, own_noise)}"
    return repeat_advice(f"{threads} and {control}, so {seen}")


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


#: Parameters for ``gilfree lab`` (DEFAULT), ``--quick`` (QUICK) and the tests (TINY).
DEFAULT: dict[str, Any] = {}
QUICK = {"n": 500_000, "kernel_scale": 500, "repeats": 3}
TINY = {"n": 5_000, "kernel_scale": 10, "repeats": 1, "workers": 2}
