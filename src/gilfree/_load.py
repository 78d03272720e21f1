"""How busy the machine was while an experiment ran: measured, so that the words can say so.

Three figures, each an honest reading of its own:

* **Other processes' CPU time.** The whole machine's busy CPU time (``/proc/stat``) over the run,
  less the CPU time of this process and everything below it (its workers, their children), per
  second of wall time: how many cores' worth of work something else did meanwhile. This is the
  figure that decides, because it is immediate and ours is taken out of it.
* **The 1-minute load average** before and after, against the usable cores. It lags by a minute
  and counts our own workers too, so it is reported, and decides only where ``/proc`` is missing.
* **The spread of the repeats** (given by the caller): repeats that disagree say the same thing
  from the inside.

Past :data:`BUSY_SHARE` of the cores taken by others, a run is *busy*; past :data:`NOISY_SPREAD`
of disagreement between a typical variant's repeats, it is *noisy*. Either way every step of the
lab and the bench's verdict open with :meth:`MachineLoad.line`, and the JSON records :meth:`as_dict`.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, replace
from typing import Any, Sequence

from ._timing import descendants, load_average, usable_cores

__all__ = ["BUSY_SHARE", "BUSY_LOAD", "NOISY_SPREAD", "LoadMeter", "MachineLoad", "idle_machine"]

#: Other processes using at least this share of the usable cores make the machine busy.
BUSY_SHARE = 0.25
#: Without /proc: a load average of at least this many times the cores makes the machine busy.
BUSY_LOAD = 1.5
#: Repeats disagreeing by more than this (max - min over the median) are called noisy.
NOISY_SPREAD = 0.25

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_busy_seconds() -> float | None:
    """CPU seconds every core of the machine spent busy since boot (user, nice, system, irq, steal)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [int(v) for v in fields[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice: already in user and nice]
    busy = values[0] + values[1] + values[2] + sum(values[5:8])
    return busy / _TICKS


def _tree_seconds() -> tuple[float, int] | None:
    """CPU seconds of this process, its reaped children and every live process below it, and
    how many processes were read (each read is coarse by up to one clock tick)."""
    own = os.times()
    total = own.user + own.system + own.children_user + own.children_system
    below = descendants()
    if below is None:
        return None
    for pid in below:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                text = f.read()
        except OSError:
            continue  # it ended between the listing and the read
        fields = text[text.rindex(b")") + 2:].split()
        # utime stime cutime cstime: its own time and that of the children it reaped
        total += sum(int(v) for v in fields[11:15]) / _TICKS
    return total, len(below) + 1


@dataclass(frozen=True)
class MachineLoad:
    """What the machine was doing besides our work during one measured run."""

    cores: int
    seconds: float
    others_cores: float | None
    load_before: float | None
    load_after: float | None
    worst_spread: float | None = None
    #: The median over the variants of their repeats' spread: how noisy a typical figure was.
    median_spread: float | None = None

    @property
    def busy(self) -> bool:
        """True when other processes took :data:`BUSY_SHARE` of the cores or more (or, without
        /proc, when the load average was :data:`BUSY_LOAD` times the cores or more)."""
        if self.others_cores is not None:
            return self.others_cores >= BUSY_SHARE * self.cores
        load = max((v for v in (self.load_before, self.load_after) if v is not None), default=None)
        return load is not None and load >= BUSY_LOAD * self.cores

    @property
    def noisy(self) -> bool:
        """True when a typical variant's repeats disagreed by more than :data:`NOISY_SPREAD` (the
        median spread; the worst one where no median was recorded)."""
        spread = self.median_spread if self.median_spread is not None else self.worst_spread
        return spread is not None and spread > NOISY_SPREAD

    def line(self) -> str | None:
        """One sentence opening a step or a verdict on a busy or a noisy machine; None on a quiet one.

        Busy: the figure that made it busy (other processes' cores, or without /proc the load
        average that reached the threshold). Noisy but not busy: how much the repeats disagreed.
        """
        if self.busy:
            parts = []
            if self.others_cores is not None:
                parts.append(f"other processes used {self.others_cores:.1f} of its {self.cores} cores")
            load = self._load_words()
            if load is not None:
                parts.append(load)
            if self.noisy:
                parts.append(self.spread_words())
            return ("Busy machine: " + ", ".join(parts) + ". Ratios below may be off; repeat the run on a "
                    "quieter machine before drawing conclusions.")
        if self.noisy:
            others = (f", although other processes used only {self.others_cores:.1f} of its {self.cores} cores"
                      if self.others_cores is not None else "")
            return (f"Noisy run: {self.spread_words()}{others}, so ratios below may be off; repeat the run "
                    "before drawing conclusions.")
        return None

    def _load_words(self) -> str | None:
        """The load average as the busy line states it: the reading taken as it began, or, where the
        load average decided (no /proc), the higher of the two readings, the one that did."""
        if self.others_cores is None:
            readings = [(v, when) for v, when in ((self.load_before, "as it began"), (self.load_after, "as it ended"))
                        if v is not None]
            if not readings:
                return None
            value, when = max(readings, key=lambda r: r[0])
            return f"the load average was {value:.1f} {when}"
        if self.load_before is None:
            return None
        return f"the load average was {self.load_before:.1f} as it began"

    def spread_words(self) -> str:
        """How much the repeats disagreed: the median variant's spread and the worst."""
        if self.median_spread is None:
            return f"repeats disagreed by up to {self.worst_spread or 0:.0%}"
        return (f"a typical variant's repeats disagreed by {self.median_spread:.0%} "
                f"(the worst by {self.worst_spread or 0:.0%})")

    def with_spread(self, spreads: Sequence[float | None]) -> MachineLoad:
        """The same reading with the worst and the median of ``spreads`` (the repeats' disagreement
        of each variant) recorded."""
        known = sorted(s for s in spreads if s is not None)
        if not known:
            return self
        return replace(self, worst_spread=known[-1], median_spread=statistics.median(known))

    def as_dict(self) -> dict[str, Any]:
        return {"busy": self.busy, "noisy": self.noisy, "cores": self.cores, "seconds": self.seconds,
                "others_cores": self.others_cores, "load_before": self.load_before,
                "load_after": self.load_after, "worst_spread": self.worst_spread,
                "median_spread": self.median_spread, "line": self.line()}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> MachineLoad:
        return cls(int(doc["cores"]), float(doc["seconds"]), doc.get("others_cores"), doc.get("load_before"),
                   doc.get("load_after"), doc.get("worst_spread"), doc.get("median_spread"))


def idle_machine(cores: int = 2) -> MachineLoad:
    """A reading of a machine that did nothing else (for tests and hand-made figures)."""
    return MachineLoad(cores=cores, seconds=1.0, others_cores=0.0, load_before=0.0, load_after=0.0)


class LoadMeter:
    """Reads the machine when created and again at :meth:`stop`."""

    def __init__(self) -> None:
        self.cores = usable_cores()
        self.load_before = load_average()
        self._machine = _machine_busy_seconds()
        self._tree = _tree_seconds()
        self._t0 = time.perf_counter()

    def stop(self, spreads: Sequence[float | None] = ()) -> MachineLoad:
        """The reading from creation until now."""
        seconds = time.perf_counter() - self._t0
        machine, tree = _machine_busy_seconds(), _tree_seconds()
        others = None
        if machine is not None and tree is not None and self._machine is not None and self._tree is not None \
                and seconds > 0:
            # Machine-wide busy time, less ours. Every counter read may be off by one clock tick
            # (each core's, each process's): that much is taken off, so a short run reads 0, not noise.
            slack = ((os.cpu_count() or self.cores) + tree[1] + self._tree[1]) / _TICKS
            taken = (machine - self._machine) - (tree[0] - self._tree[0])
            others = max(0.0, taken - slack) / seconds
            # Other processes cannot have used more cores than the machine has (usable or not).
            others = min(others, float(os.cpu_count() or self.cores))
        return MachineLoad(self.cores, seconds, others, self.load_before, load_average()).with_spread(spreads)
