"""The latency step: how late a waking thread runs while CPU-bound threads run beside it.

Step 1 shows what the GIL does to throughput; this step shows what it does to response time. A
thread sleeps for a short period again and again, as an I/O handler waits for its socket, and
records how late it woke. It does so alone (the baseline), then beside a pure-Python CPU-bound
thread, beside the nogil kernel, and beside the same kernel told to hold the GIL (the control),
at several switch intervals (:func:`sys.setswitchinterval`), each put back afterwards.

What it means is read from the figures: "it waited for the GIL" only where the lateness beside
pure Python is about the switch interval above the baseline's, "like the baseline" only where
the two are within the repeats' spread (or :data:`LATE_FLOOR_S` apart), and "only when it
returns" only where pure Python waited for the GIL and the control was later than it by
:data:`CALL_SHARE` of a kernel call or more, at every interval. Figures that tell another
story are reported as seen, with the advice to repeat. The measuring lives in
:mod:`gilfree._latency`; :func:`plot` draws a result.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from .._checks import check_count, check_real
from .._latency import Percentiles, Sampled, sample_lateness
from .._select import C_EXTENSION, PURE_PYTHON, Implementation, pure_python_reason
from .._timing import environment
from ..experiment import Experiment, Measured, Variant
from ..figures import Timed, ms, noise_of, plural, repeat_advice
from ._plan import chosen_implementations, step_result, sum_of_squares_below, worker_count
from ._plot import plot_latency as plot
from ._result import Progress, Row, StepResult, no_progress

__all__ = ["BASELINE", "DEFAULT", "Figures", "HOLDING", "NOGIL", "PURE", "QUICK", "Reading", "STEP", "TINY",
           "TITLE", "explain", "plot", "run"]

#: The step's name where the others have a number: ``gilfree lab --step latency``.
STEP = "latency"
TITLE = "the GIL and a waking thread's latency"

BASELINE = "nothing else"
PURE = "pure Python"
NOGIL = "nogil kernel"
HOLDING = "kernel holding the GIL"
LOADS = (BASELINE, PURE, NOGIL, HOLDING)

#: Two lateness figures closer than this are the same: waking a sleeping thread costs tens of
#: microseconds of timer slack and scheduling on an idle machine, and more on a shared one.
LATE_FLOOR_S = 1e-4
#: Beside pure Python, lateness above the baseline's within this range of the switch interval
#: (times the interval, plus :data:`LATE_FLOOR_S` at the top) is "about the switch interval".
GIL_WAIT_BAND = (0.5, 2.0)
#: The control's median lateness must exceed pure Python's by at least this share of one kernel
#: call for "a C call holding the GIL lets go only when it returns". A request to let go finds
#: the call anywhere in its course, so the control's extra lateness spreads evenly from none to
#: one whole call: about half a call at the median. A quarter leaves room for a shared machine's
#: jitter. (The medians, not the p99s: on a busy machine the p99s are the other processes'.)
CALL_SHARE = 0.25
#: A busy thread that spent less than this share of its life inside its calls was kept from them
#: (between calls it needs the GIL and a core): its row's lateness is not what a busy thread causes.
DUTY_FLOOR = 0.5
#: How many numbers a call of the compiled kernel sums while it is sized (a fraction of a ms).
_PROBE_N = 1_000_000


# -- what to run ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Load:
    """What runs beside the waking thread: a call its busy threads repeat (None: nothing)."""

    variant: str
    implementation: str
    call: Callable[[], object] | None = None
    expected: object = None


def _kernel_size(impl: Implementation, call_s: float) -> int:
    """How many numbers a nogil kernel call sums in about ``call_s`` seconds here."""
    best = min(_timed(partial(impl.sum_squares, 0, _PROBE_N, release_gil=True)) for _ in range(3))
    return max(1_000, round(call_s / max(best, 1e-9) * _PROBE_N))


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _loads(impls: Mapping[str, Implementation], pure_n: int, kernel_n: int | None) -> list[Load]:
    """The baseline, pure Python, and with the compiled twin its nogil kernel and its control."""
    pure = impls[PURE_PYTHON]
    loads = [Load(BASELINE, ""),
             Load(PURE, PURE_PYTHON, partial(pure.sum_squares, 0, pure_n), sum_of_squares_below(pure_n))]
    if kernel_n is not None:
        kern = impls[C_EXTENSION]
        expected = sum_of_squares_below(kernel_n)
        loads += [Load(NOGIL, C_EXTENSION, partial(kern.sum_squares, 0, kernel_n, release_gil=True), expected),
                  Load(HOLDING, C_EXTENSION, partial(kern.sum_squares, 0, kernel_n, release_gil=False), expected)]
    return loads


def _interval_words(seconds: float) -> str:
    return f"{seconds * 1000:g} ms"


def _name(load: str, interval: float) -> str:
    """A variant's name: its progress label, its check's name and its key in the figures."""
    return f"{load}, switch interval {_interval_words(interval)}"


def _variants(loads: list[Load], intervals: Sequence[float], wakeups: int, period: float,
              threads: int) -> list[Variant]:
    variants = []
    for interval in intervals:
        for load in loads:
            count = 0 if load.call is None else threads
            variants.append(Variant(
                _name(load.variant, interval),
                partial(sample_lateness, wakeups, period, interval, load.call, load.expected, threads),
                check=partial(_complete, wakeups, count),
                tags={"variant": load.variant, "implementation": load.implementation, "interval": interval,
                      "threads": count}))
    return variants


def _complete(wakeups: int, threads: int, sampled: Sampled) -> bool:
    """Every wake-up was timed, every busy thread ran, and every sum it computed was right."""
    return len(sampled.lateness) == wakeups and len(sampled.busy) == threads and sampled.right


# -- the figures the words rest on ---------------------------------------------------------

@dataclass(frozen=True)
class Reading:
    """One load at one switch interval: every wake-up's lateness pooled, and each repeat's."""

    load: str
    interval: float
    pooled: Percentiles
    p50s: tuple[float, ...]
    p99s: tuple[float, ...]
    #: The mean length of one call of the busy threads (seconds); None for the baseline.
    call: float | None = None
    #: Each repeat's lowest share of a busy thread's life spent in its calls (:attr:`BusyRun.duty`).
    duties: tuple[float, ...] = ()

    @property
    def duty(self) -> float | None:
        """The lowest share of any repeat (None for the baseline)."""
        return min(self.duties) if self.duties else None

    @property
    def repeats(self) -> int:
        return len(self.p50s)

    @property
    def spread(self) -> float:
        """How much the repeats' medians disagreed: (max - min) / median, 0 when within
        :data:`LATE_FLOOR_S` of each other or measured once."""
        return _spread(self.p50s)

    @property
    def spread99(self) -> float:
        """The same for the repeats' 99th percentiles."""
        return _spread(self.p99s)

    @classmethod
    def of(cls, load: str, interval: float, runs: Sequence[Sampled]) -> Reading:
        per = [Percentiles.of(r.lateness) for r in runs]
        busy = [b for r in runs for b in r.busy]
        call = sum(b.seconds for b in busy) / sum(b.calls for b in busy) if busy else None
        duties = tuple(min(b.duty for b in r.busy) for r in runs if r.busy)
        return cls(load, interval, Percentiles.of([v for r in runs for v in r.lateness]),
                   tuple(p.p50 for p in per), tuple(p.p99 for p in per), call, duties)


def _spread(values: Sequence[float]) -> float:
    """The repeats' spread as every figure has it (:meth:`gilfree.figures.Timed.from_samples`),
    but 0 when they lie within :data:`LATE_FLOOR_S`: a few microseconds of timer slack apart,
    two small lateness figures would otherwise disagree by a large share."""
    if max(values) - min(values) < LATE_FLOOR_S:
        return 0.0
    return Timed.from_samples(values).spread


@dataclass(frozen=True)
class Figures:
    """What the explanation reads: the GIL, the cores, the busy threads beside the waking one,
    whether the machine was busy, and a reading per load and interval."""

    gil: bool
    cores: int
    threads: int
    readings: tuple[Reading, ...]
    busy: bool = False
    #: Why the compiled kernels did not run, when they did not (:func:`gilfree._select.pure_python_reason`).
    no_kernels: str | None = None

    @property
    def intervals(self) -> list[float]:
        return sorted({r.interval for r in self.readings})

    def at(self, load: str, interval: float) -> Reading | None:
        return next((r for r in self.readings if r.load == load and r.interval == interval), None)

    def of(self, load: str) -> list[Reading]:
        """``load``'s readings, shortest interval first ([] when it did not run)."""
        return sorted((r for r in self.readings if r.load == load), key=lambda r: r.interval)

    def base(self, reading: Reading) -> Reading:
        """The baseline at ``reading``'s interval."""
        found = self.at(BASELINE, reading.interval)
        if found is None:
            raise ValueError(f"no baseline at the switch interval {_interval_words(reading.interval)}")
        return found

    @property
    def crowded(self) -> bool:
        """More threads want a core (the busy ones and the waking one) than there are cores."""
        return self.threads + 1 > self.cores


def _figures(measured: Mapping[str, Measured], gil: bool, cores: int, threads: int, busy: bool) -> Figures:
    readings = []
    for m in measured.values():
        readings.append(Reading.of(m.tags["variant"], m.tags["interval"], m.results))
    return Figures(gil, cores, threads, tuple(readings), busy)


# -- the step ------------------------------------------------------------------------------

def _rows(f: Figures) -> list[Row]:
    rows = []
    for interval in f.intervals:
        for load in LOADS:
            r = f.at(load, interval)
            if r is None:
                continue
            threads = 0 if r.load == BASELINE else f.threads
            rows.append(Row(
                variant=r.load, implementation=PURE_PYTHON if r.load == PURE else
                (C_EXTENSION if r.load in (NOGIL, HOLDING) else ""),
                strategy="threads" if threads else "alone", workers=threads, seconds=r.pooled.p50,
                spread=r.spread, extra={
                    "switch ms": interval * 1000, "threads": threads, "p50 ms": r.pooled.p50 * 1000,
                    "p99 ms": r.pooled.p99 * 1000, "max ms": r.pooled.max * 1000, "wakeups": r.pooled.count,
                    "repeats": r.repeats, "call ms": None if r.call is None else r.call * 1000,
                    "busy %": None if r.duty is None else r.duty * 100,
                    "p50 per repeat ms": [v * 1000 for v in r.p50s], "p99 per repeat ms": [v * 1000 for v in r.p99s]}))
    return rows


def _summary(f: Figures, wakeups: int, repeats: int, period: float, original: float, pure_n: int,
             kernel_n: int | None) -> list[str]:
    lines = [
        f"Each row: {plural(wakeups, 'wake-up', 'wake-ups')} a repeat, {plural(repeats, 'repeat', 'repeats')}, of a "
        f"thread that sleeps {ms(period)} and records how late it woke, with "
        f"{plural(f.threads, 'busy thread', 'busy threads')} beside it running what the row names",
        f"Busy threads: pure Python sums {pure_n:,} squares a call"
        + ("" if kernel_n is None else f"; each kernel {kernel_n:,} a call") + ", over and over",
        f"Switch interval: each row's, set for its run and put back to {_interval_words(original)} after it",
        "p50, p99, max: the median, the 99th percentile and the worst lateness of the row's wake-ups; "
        "spread: how much the repeats' medians disagreed",
    ]
    if wakeups * repeats < 100:
        lines.append(f"With {wakeups * repeats} wake-ups a row, its p99 is close to its worst")
    return lines


def run(wakeups: int = 60, period_ms: float = 1.0, intervals_ms: Sequence[float] = (0.5, 5.0, 20.0),
        call_ms: float = 5.0, pure_n: int = 20_000, workers: int | None = None, repeats: int = 3,
        progress: Progress = no_progress,
        implementations: Mapping[str, Implementation] | None = None) -> StepResult:
    """Time ``wakeups`` wake-ups of a thread sleeping ``period_ms`` at each switch interval of
    ``intervals_ms``, alone and beside ``workers`` (default 1) busy threads of each load.

    The kernels' calls are sized to last about ``call_ms``; pure Python's sum ``pure_n`` squares.
    ``implementations`` (default: every one that imports here) decides whether the compiled
    twin runs; pure Python always does. The switch interval is put back however the run ends.
    """
    wakeups, repeats = check_count(wakeups, "wakeups"), check_count(repeats, "repeats")
    period = check_real(period_ms, "period_ms", minimum_exclusive=0, finite=True) / 1000
    intervals = _check_intervals(intervals_ms)
    call_s = check_real(call_ms, "call_ms", minimum_exclusive=0, finite=True) / 1000
    pure_n = check_count(pure_n, "pure_n")
    threads = worker_count(workers, 1)
    impls = chosen_implementations(implementations)

    original = sys.getswitchinterval()
    ex = Experiment(progress)
    try:
        kernel_n = (ex.step("sizing the kernel's calls", partial(_kernel_size, impls[C_EXTENSION], call_s))
                    if C_EXTENSION in impls else None)
        variants = _variants(_loads(impls, pure_n, kernel_n), intervals, wakeups, period, threads)
        measured = ex.measure(variants, repeats=repeats, warmup=0, keep_results=True)
    finally:
        sys.setswitchinterval(original)  # each run puts it back; this is the belt to those braces
    env = environment()
    f = _figures(measured, env["gil_enabled"], env["usable_cores"], threads, busy=False)
    # The machine's noise is the lateness repeats' disagreement, not the wall time of a run of sleeps.
    machine = ex.finish(spreads=[r.spread for r in f.readings])
    f = Figures(f.gil, f.cores, f.threads, f.readings, busy=machine.busy, no_kernels=_no_kernels(impls))
    return step_result(
        ex, step=STEP, title=TITLE,
        params={"wakeups": wakeups, "period_ms": period * 1000, "intervals_ms": [i * 1000 for i in intervals],
                "call_ms": call_s * 1000, "pure_n": pure_n, "kernel_n": kernel_n, "workers": threads,
                "repeats": repeats},
        rows=_rows(f), summary=_summary(f, wakeups, repeats, period, original, pure_n, kernel_n),
        explanation=explain(f), env=env,
        data={"switch_interval_before_s": original, "switch_interval_after_s": sys.getswitchinterval(),
              "lateness_s": {name: [v for s in m.results for v in s.lateness] for name, m in measured.items()}},
        columns=("variant", "switch ms", "threads", "p50 ms", "p99 ms", "max ms", "spread"))


def _no_kernels(impls: Mapping[str, Implementation]) -> str | None:
    """Why the compiled kernels did not run (None when they did): the selector's reason, or the caller's choice."""
    if C_EXTENSION in impls:
        return None
    reason = pure_python_reason()
    if reason is None:
        return "the compiled kernels were not among the implementations asked for"
    return f"{reason.why} (to get them: {reason.how})"


def _check_intervals(values: object) -> list[float]:
    """Switch intervals in ms: a non-empty list of positive finite numbers; seconds, sorted, once each."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"intervals_ms must be a list of switch intervals in milliseconds, such as (0.5, 5, 20), "
                        f"not {type(values).__name__}")
    if not values:
        raise ValueError("intervals_ms must hold at least one switch interval, such as (0.5, 5, 20)")
    return sorted({check_real(v, "each of intervals_ms", minimum_exclusive=0, finite=True) / 1000 for v in values})


# -- what it means -------------------------------------------------------------------------

#: What "like the baseline" stands for (:func:`_no_later`).
NO_LATER = (f"like the baseline, no later than it at any switch interval (at the median and the 99th percentile, "
            f"beyond the repeats' spread or {ms(LATE_FLOOR_S)})")
#: What a figure resting on one repeat gets instead of a verdict.
ONE_REPEAT = "one repeat gives no spread to judge it by, so no cause is named; repeat the run with more repeats"


def explain(f: Figures) -> list[str]:
    """Four paragraphs, each stating the figures it rests on: alone, beside pure Python, beside
    the nogil kernel, beside the control."""
    return [_baseline_words(f), _pure_words(f) + _kept_from(f.of(PURE)), _nogil_words(f) + _kept_from(f.of(NOGIL)),
            _control_words(f) + _kept_from(f.of(HOLDING))]


def _kept_from(rows: Sequence[Reading]) -> str:
    """A sentence for a load whose busy thread spent under :data:`DUTY_FLOOR` of its life in its
    calls in some repeat; else ``""``."""
    low = [(r, d) for r in rows for d in r.duties if d < DUTY_FLOOR]
    if not low:
        return ""
    total = sum(len(r.duties) for r in rows)
    worst = min(d for _, d in low)
    return (f" In {len(low)} of its {total} runs the busy thread spent as little as {worst:.0%} of its time in its "
            "calls: something kept it from them (waiting between calls for the GIL or a core), and while it waits "
            "there it holds up no one, so those runs understate what it costs a waking thread.")


def _noise(a: Reading, b: Reading) -> float:
    return noise_of(a.spread, b.spread)


def _later(a: float, b: float, noise: float) -> bool:
    """``a`` later than ``b``: by more than :data:`LATE_FLOOR_S`, and their ratio beyond the
    noise (the rule of :func:`gilfree.figures.beyond_noise`)."""
    return a - b > LATE_FLOOR_S and (b <= 0 or a / b > 1 + noise)


def _judged(*readings: Reading) -> bool:
    return all(r.repeats >= 2 for r in readings)


def _each(readings: Sequence[Reading], value: Callable[[Reading], float], named: bool = False) -> str:
    """``0.6 ms at 0.5 ms, 5.2 ms at 5 ms and 20 ms at 20 ms``: a figure at each switch interval
    (``named``: the first says ``at a switch interval of``)."""
    parts = [f"{ms(value(r))} at {_interval_words(r.interval)}" for r in readings]
    if named:
        parts[0] = parts[0].replace(" at ", " at a switch interval of ", 1)
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _intervals(readings: Sequence[Reading]) -> str:
    """``0.5 ms, 5 ms and 20 ms``: the readings' switch intervals."""
    words = [_interval_words(r.interval) for r in readings]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _late(readings: Sequence[Reading]) -> str:
    """``a p50 of ... (p99 ...)``: every reading's median and 99th percentile."""
    return (f"a p50 of {_each(readings, lambda r: r.pooled.p50, named=True)} "
            f"(p99 {_each(readings, lambda r: r.pooled.p99)})")


def _baseline_words(f: Figures) -> str:
    base = f.of(BASELINE)
    return (f"Alone, the waking thread woke late by {_late(base)}, at worst "
            f"{ms(max(r.pooled.max for r in base))}: what waking a sleeping thread costs here (the timer and "
            f"the scheduler), with no other thread of this run wanting {'the GIL or ' if f.gil else ''}a core"
            + (", though other processes kept the machine busy." if f.busy else "."))


def _gil_wait(f: Figures, r: Reading) -> bool:
    """Beside pure Python, the lateness above the baseline's is about the switch interval."""
    excess = r.pooled.p50 - f.base(r).pooled.p50
    low, high = GIL_WAIT_BAND
    return low * r.interval <= excess <= high * r.interval + LATE_FLOOR_S


def _waited_for_gil(f: Figures, r: Reading) -> bool:
    """Beside pure Python, later than the baseline beyond the noise, by about the switch interval:
    what paragraph 2 calls waiting for the GIL, and what the control's words rest on too."""
    return _gil_wait(f, r) and _later(r.pooled.p50, f.base(r).pooled.p50, _noise(r, f.base(r)))


def _later_where(f: Figures, rows: Sequence[Reading]) -> str | None:
    """Where ``rows`` were later than the baseline beyond the repeats' spread of each figure (and
    :data:`LATE_FLOOR_S`) at some interval: ``"at the median"``, ``"at the 99th percentile"``,
    both, or None: no later than it anywhere."""
    median = any(_later(r.pooled.p50, f.base(r).pooled.p50, _noise(r, f.base(r))) for r in rows)
    tail = any(_later(r.pooled.p99, f.base(r).pooled.p99, noise_of(r.spread99, f.base(r).spread99)) for r in rows)
    if median and tail:
        return "at the median and the 99th percentile"
    if median or tail:
        return "at the median" if median else "at the 99th percentile"
    return None


def _no_later(f: Figures, rows: Sequence[Reading]) -> bool:
    """At every interval, neither the median nor the 99th percentile was later than the baseline's."""
    return _later_where(f, rows) is None


def _core_clause(f: Figures) -> str | None:
    """Why a waking thread may wait for a core, when the figures say so; else None."""
    if f.crowded:
        return (f"{plural(f.threads + 1, 'thread wants', 'threads want')} a core (the busy "
                f"{'one' if f.threads == 1 else 'ones'} and the waking one) and there "
                f"{'is' if f.cores == 1 else 'are'} {plural(f.cores, 'core', 'cores')} here, so it waited for a core")
    if f.busy:
        return "the machine was busy (see the line at the top), so it waited for a core"
    return None


def _pure_words(f: Figures) -> str:
    pure = f.of(PURE)
    seen = f"with a pure-Python thread beside it, the waking thread was late by {_late(pure)}"
    if not f.gil:
        return _no_gil_words(f, pure, seen, "there is no GIL to wait for, and the switch interval has nothing to "
                                            "switch")
    if not _judged(*pure, *(f.base(r) for r in pure)):
        return f"{_cap(seen)}: {ONE_REPEAT}."
    about = [r for r in pure if _waited_for_gil(f, r)]
    if len(about) == len(pure):
        return (f"{_cap(seen)}: each time about the switch interval beyond the baseline's p50, so it waited for the "
                "GIL. A thread running Python keeps the GIL until a waiting thread has asked for it for one switch "
                "interval: a shorter interval wakes the waiting thread sooner, at the cost of more switching.")
    if about:
        others = [r for r in pure if r not in about]
        return repeat_advice(f"{seen}: about the switch interval beyond the baseline's p50 at {_intervals(about)}, "
                             f"not at {_intervals(others)}")
    return repeat_advice(f"{seen}, not about the switch interval beyond the baseline's p50 at any interval")


def _no_gil_words(f: Figures, rows: Sequence[Reading], seen: str, why: str) -> str:
    """Words for a load on an interpreter without the GIL: like the baseline, or not, and why."""
    head = f"This interpreter runs without the GIL, and {seen}"
    if not _judged(*rows, *(f.base(r) for r in rows)):
        return f"{head}: {ONE_REPEAT}."
    if _no_later(f, rows):
        return f"{head}: {NO_LATER}; {why}."
    clause = _core_clause(f)
    if clause:
        return f"{head}: later than the baseline {_later_where(f, rows)}; {clause}."
    return repeat_advice(f"{head}, later than the baseline {_later_where(f, rows)}")


def _nogil_words(f: Figures) -> str:
    nogil = f.of(NOGIL)
    if not nogil:
        why = f.no_kernels or "the compiled kernels did not run"
        return (f"The nogil kernel did not run: {why}. The pure-Python twin holds the GIL, so no row shows a "
                "thread that computes without it.")
    seen = f"with the nogil kernel beside it, the waking thread was late by {_late(nogil)}"
    if not f.gil:
        return _no_gil_words(f, nogil, seen, "with the GIL off, no thread waits for it")
    if not _judged(*nogil, *(f.base(r) for r in nogil)):
        return f"{_cap(seen)}: {ONE_REPEAT}."
    if _no_later(f, nogil):
        return (f"{_cap(seen)}: {NO_LATER}. The kernel releases the GIL for its whole call, so the waking "
                "thread never waited for it.")
    clause = _core_clause(f)
    tracks = all(_gil_wait(f, r) for r in nogil)  # the GIL's pattern: later by about each interval
    if clause and not tracks:
        return (f"{_cap(seen)}: later than the baseline {_later_where(f, nogil)}, but not by about each switch "
                f"interval as beside pure Python, so not waiting for the GIL; {clause}.")
    return repeat_advice(f"{seen}, later than the baseline {_later_where(f, nogil)}")


def _control_words(f: Figures) -> str:
    ctrl = f.of(HOLDING)
    if not ctrl:
        return "The control (the kernel told to hold the GIL) did not run: it needs the compiled kernels."
    call = max(r.call or 0.0 for r in ctrl)
    seen = (f"beside the control (the same kernel told to hold the GIL, about {ms(call)} a call), the waking thread "
            f"was late by {_late(ctrl)}")
    if not f.gil:
        return _no_gil_words(f, ctrl, seen, "the control holds nothing when there is no GIL")
    pairs = [(r, f.at(PURE, r.interval)) for r in ctrl]
    if not _judged(*ctrl, *(p for _, p in pairs if p is not None)):
        return f"{_cap(seen)}: {ONE_REPEAT}."
    pure_p50 = _each([p for _, p in pairs if p is not None], lambda r: r.pooled.p50)
    longer = all(p is not None and r.pooled.p50 - p.pooled.p50 >= CALL_SHARE * call
                 and _later(r.pooled.p50, p.pooled.p50, _noise(r, p)) for r, p in pairs)
    # The mechanism has two halves, and pure Python's figures must bear out the first: that a
    # thread running Python let go about one switch interval after the waking thread asked.
    pure_waited = all(p is not None and _waited_for_gil(f, p) for _, p in pairs)
    if longer and pure_waited:
        return (f"{_cap(seen)}; beside pure Python the p50 was {pure_p50}: later at every switch interval, by "
                f"a quarter of a kernel call or more, beyond the repeats' spread. The switch interval is only a "
                "request: a thread running Python lets go of the GIL at its next bytecode, a C call holding it only "
                "when it returns. Compiled code spares a waking thread only when it releases the GIL.")
    if longer:
        return repeat_advice(f"{seen}; beside pure Python the p50 was {pure_p50}: the control was later at every "
                             "switch interval, by a quarter of a kernel call or more, but pure Python's lateness did "
                             "not track the switch interval")
    return repeat_advice(f"{seen}; beside pure Python the p50 was {pure_p50}, so the control was not later by a "
                         "quarter of a kernel call at every switch interval")


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


#: Parameters for ``gilfree lab --step latency`` (DEFAULT), ``--quick`` (QUICK) and the tests (TINY).
DEFAULT: dict[str, Any] = {}
QUICK = {"wakeups": 25, "repeats": 2}
TINY = {"wakeups": 4, "repeats": 1, "intervals_ms": (0.5, 5.0), "call_ms": 2.0, "pure_n": 2_000}
