"""From figures to words: the rules every explanation of the lab and verdict of the bench follows.

A sentence that names a cause must state the figure it rests on and hold only when that figure
supports it. These functions are the tests of "supports": each returns a judgement (a bool or a
short verdict) from measured figures, and the small phrase builders make sure a ratio always says
what it is relative to and a range covers every value it describes. Thresholds are named here,
once, so that a reader can see what a word stands for.

Nothing here knows a step or a workload; lab steps and bench verdicts import it.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = [
    "Timed",
    "ABOUT_ONE",
    "GIL_CPU_PER_WALL",
    "GIL_SPEEDUP",
    "SHORT_TASK_SECONDS",
    "MIN_NOISE",
    "above_ideal",
    "beyond_noise",
    "busy_cores",
    "clearly_faster",
    "gap",
    "gil_fingerprint",
    "gil_reading",
    "judged",
    "ms",
    "ms_span",
    "nbytes",
    "noise_of",
    "plural",
    "ratio",
    "repeat_advice",
    "small_tasks",
    "span",
    "time_ratio",
    "versus",
    "x",
]

#: The repeats of a quiet machine still disagree by a few percent: no difference below this is real.
MIN_NOISE = 0.05
#: A speedup within this factor of 1 is "about the same".
ABOUT_ONE = 0.15
#: The GIL's fingerprint: CPU seconds per wall second within this range of 1 (one core busy)...
GIL_CPU_PER_WALL = (0.8, 1.25)
#: ...and a thread speedup no better than this.
GIL_SPEEDUP = 1.15
#: A task shorter than this is too small to pay for a round trip to a worker process.
SHORT_TASK_SECONDS = 1e-3

Gap = Literal["shorter", "longer", "same", "unknown"]


class _HasTiming(Protocol):
    @property
    def seconds(self) -> float: ...
    @property
    def cpu_seconds(self) -> float: ...
    @property
    def spread(self) -> float: ...


@dataclass(frozen=True)
class Timed:
    """One measured variant as the words need it: median wall and CPU seconds, the repeats' spread,
    and how many repeats it rests on (None: not said; one repeat has no spread to judge by)."""

    seconds: float
    cpu_seconds: float | None = None
    spread: float = 0.0
    repeats: int | None = None

    @property
    def cpu_per_wall(self) -> float | None:
        """CPU seconds per wall second: about 1 when one core was busy, about k when k were."""
        if self.cpu_seconds is None or self.seconds <= 0:
            return None
        return self.cpu_seconds / self.seconds

    @classmethod
    def of(cls, m: _HasTiming) -> Timed:
        """The figures of a measured variant (:class:`gilfree.experiment.Measured`)."""
        timing = getattr(m, "timing", None)
        return cls(m.seconds, m.cpu_seconds, m.spread, len(timing.wall) if timing is not None else None)

    @classmethod
    def from_samples(cls, samples: Sequence[float]) -> Timed:
        """Median and spread of wall-clock samples (no CPU time)."""
        median = statistics.median(samples)
        return cls(median, None, (max(samples) - min(samples)) / median if median > 0 else 0.0, len(samples))


def x(value: float) -> str:
    """A ratio as users read it: ``1.84x``, ``35x``, ``1,204x``."""
    return f"{value:.2f}x" if value < 10 else f"{value:.0f}x" if value < 1000 else f"{value:,.0f}x"


def ms(seconds: float) -> str:
    """A short time with the digits it needs: ``12 ms``, ``1.5 ms``, ``150 us``, ``4.2 us``."""
    value = seconds * 1000
    if value >= 10:
        return f"{value:,.0f} ms"
    if value >= 1:
        return f"{value:.1f} ms"
    micro = value * 1000
    return f"{micro:.0f} us" if micro >= 10 else f"{micro:.1f} us"


def nbytes(count: float) -> str:
    """A byte count in the unit that gives it a few digits: ``196 bytes``, ``524 KB``, ``1.6 MB``, ``14.6 GB``."""
    if count >= 1e9:
        return f"{count / 1e9:.1f} GB"
    if count >= 1e6:
        return f"{count / 1e6:.1f} MB"
    if count >= 1e3:
        return f"{count / 1e3:.0f} KB"
    return f"{count:.0f} bytes"


def plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def noise_of(*spreads: float | None) -> float:
    """The noise two or more measurements share: the worst of their spreads, and at least :data:`MIN_NOISE`."""
    return max([MIN_NOISE] + [s for s in spreads if s is not None])


def beyond_noise(ratio_value: float, *spreads: float | None) -> bool:
    """True when ``ratio_value`` (a faster one's speed over a slower one's) exceeds 1 by more than the noise."""
    return ratio_value > 1 + noise_of(*spreads)


def clearly_faster(fast_seconds: float, fast_spread: float | None, slow_seconds: float,
                   slow_spread: float | None) -> bool:
    """True when the first time is shorter than the second by more than either's spread."""
    return fast_seconds > 0 and beyond_noise(slow_seconds / fast_seconds, fast_spread, slow_spread)


def gil_fingerprint(speedup: float, cpu_per_wall: float | None, spread: float | None = None) -> bool:
    """What the README calls the GIL's fingerprint: about one core busy and no speedup.

    Both must hold: CPU seconds per wall second within :data:`GIL_CPU_PER_WALL` (threads took
    turns on one core) and a speedup at most :data:`GIL_SPEEDUP`. A run at 0.5 CPU seconds per
    second was waiting on something else (a busy machine, I/O), not on the GIL.

    Given the repeats' ``spread``, the speedup must also be within it (not :func:`beyond_noise`):
    1.14x with a 2% spread is a small real gain, not "no speedup". Without one (None), the
    threshold alone decides.
    """
    if cpu_per_wall is None:
        return False
    if spread is not None and beyond_noise(speedup, spread):
        return False
    low, high = GIL_CPU_PER_WALL
    return low <= cpu_per_wall <= high and speedup <= GIL_SPEEDUP


GilReading = Literal["no gil", "took turns", "waited", "scaled", "unclear"]


def gil_reading(speedup: float, cpu_per_wall: float | None, workers: int, gil: bool,
                spread: float | None = None) -> GilReading:
    """What a pure-Python thread speedup says, from its figures alone.

    * ``"no gil"``: the interpreter runs without the GIL (the caller says).
    * ``"took turns"``: :func:`gil_fingerprint` holds (judged with ``spread`` when given).
    * ``"waited"``: no speedup, but well under one core busy: the threads waited on something
      other than each other (another process, I/O).
    * ``"scaled"``: the speedup is beyond noise over 1 and uses more than one core.
    * ``"unclear"``: none of these; say what was seen and suggest a repeat.
    """
    if not gil:
        return "no gil"
    if gil_fingerprint(speedup, cpu_per_wall, spread):
        return "took turns"
    if cpu_per_wall is not None and cpu_per_wall < GIL_CPU_PER_WALL[0] and speedup <= GIL_SPEEDUP:
        return "waited"
    if workers > 1 and beyond_noise(speedup, spread) and (cpu_per_wall is None or cpu_per_wall > GIL_CPU_PER_WALL[1]):
        return "scaled"
    return "unclear"


def ratio(value: float, against: str) -> str:
    """A ratio that says what it is relative to: ``1.84x against serial``."""
    return f"{x(value)} against {against}"


def span(values: Iterable[float]) -> str:
    """The range that covers every value: ``0.91x to 1.82x`` (or one figure when they agree to the digit)."""
    vals = sorted(values)
    if not vals:
        raise ValueError("span needs at least one value")
    low, high = x(vals[0]), x(vals[-1])
    return low if low == high else f"{low} to {high}"


def above_ideal(speedup: float, ideal: float, spread: float | None = None) -> str | None:
    """A clause for a speedup above the ideal (``ideal`` times), else None.

    Within the noise it is noise; beyond it, the usual cause is a cache effect (each worker's
    share of the data fits a cache the whole did not) or a serial reference slowed by the machine.
    """
    if speedup <= ideal:
        return None
    if not beyond_noise(speedup / ideal, spread):
        return (f"{x(speedup)} is above the ideal {x(ideal)} by less than the repeats' spread "
                f"({noise_of(spread):.0%}): noise, not a real gain")
    return (f"{x(speedup)} is above the ideal {x(ideal)} by more than the repeats' spread "
            f"({noise_of(spread):.0%}): a cache effect (each worker's share fits a cache the whole did not) "
            "or a serial run slowed by the machine, never extra cores")


def repeat_advice(seen: str) -> str:
    """The sentence for figures that do not tell the expected story: what was seen, and what to do."""
    return f"{seen[0].upper()}{seen[1:]}: the figures do not support a cause here; repeat the run, on a quieter machine if you can."


def versus(speedup: float, noise: float, against: str = "serial") -> str:
    """A speedup that is not a gain, against ``against``: slower beyond the noise, or no faster beyond it."""
    if beyond_noise(1 / speedup, noise):
        return f"slower than {against} by more than the repeats' spread ({noise:.0%})"
    return f"no faster than {against} beyond the repeats' spread ({noise:.0%})"


def gap(a: Timed, b: Timed) -> Gap:
    """``a`` against ``b``: clearly shorter or longer (beyond both spreads), the same within them,
    or unknown (one repeat has no spread to judge by)."""
    if min(r for r in (a.repeats, b.repeats, 2) if r is not None) < 2:
        return "unknown"
    if clearly_faster(a.seconds, a.spread, b.seconds, b.spread):
        return "shorter"
    if clearly_faster(b.seconds, b.spread, a.seconds, a.spread):
        return "longer"
    return "same"


def judged(a: Timed, b: Timed) -> str:
    """How far to trust the gap between ``a`` and ``b``, in words."""
    noise = noise_of(a.spread, b.spread)
    return {"unknown": "one repeat gives no spread to judge that gap by",
            "same": f"within the {noise:.0%} spread of the repeats",
            "shorter": f"beyond the {noise:.0%} spread of the repeats",
            "longer": f"beyond the {noise:.0%} spread of the repeats"}[gap(a, b)]


def time_ratio(a: Timed, b: Timed, of: str) -> str:
    """``0.68x the time of <of>``: a time ratio that says what it is relative to."""
    return f"{x(a.seconds / b.seconds)} the time of {of}"


def busy_cores(values: Iterable[float]) -> str:
    """CPU seconds per wall second, as a range that covers every value:
    ``0.98 to 1.03 CPU seconds per wall second``."""
    vals = sorted(values)
    if not vals:
        raise ValueError("busy_cores needs at least one value")
    low, high = f"{vals[0]:.2f}", f"{vals[-1]:.2f}"
    return f"{low if low == high else f'{low} to {high}'} CPU seconds per wall second"


def ms_span(seconds: Iterable[float]) -> str:
    """Times as a range that covers every one: ``12 ms to 15 ms`` (one figure when they agree)."""
    vals = sorted(seconds)
    if not vals:
        raise ValueError("ms_span needs at least one value")
    low, high = ms(vals[0]), ms(vals[-1])
    return low if low == high else f"{low} to {high}"


def small_tasks(per_task_seconds: float) -> str | None:
    """The clause for tasks holding less than :data:`SHORT_TASK_SECONDS` of work each, else None."""
    if per_task_seconds >= SHORT_TASK_SECONDS:
        return None
    return (f"each task held about {ms(per_task_seconds)} of work, too little to pay for handing it "
            "to a worker")
