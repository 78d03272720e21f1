"""One experiment runner for the lab and the bench: variants, checks, repeats, progress, load.

A lab step or a bench suite says *what* to run (a list of :class:`Variant`) and *what it means*
(its explanation, from the figures); :class:`Experiment` does the rest, the same way for all:

1. **Warm-up, checked.** Every variant runs ``warmup`` times untimed; each result goes through
   the variant's ``check`` (its result against the reference), recorded under the variant's name
   in :attr:`Experiment.checks`.
2. **Interleaved repeats.** Then ``repeats`` timed rounds, round-robin over the variants, so that
   a drift of a shared machine hits them all alike; ``reset`` runs untimed before every call.
   Every timed result is checked too: a variant that is ever wrong is marked so.
3. **Wall and CPU time** of each call: this process's CPU clock, or the whole process tree's
   (this process and its workers, from ``/proc``) with ``cpu="tree"``.
4. **Progress**, counted in one place: one unit per call, plus one per :meth:`Experiment.step`
   of untimed work; the total grows as work is announced, or is fixed up front by
   :meth:`Experiment.plan`.
5. **How busy the machine was** (:mod:`gilfree._load`), from the experiment's start to
   :meth:`Experiment.finish`, with the worst spread of the repeats.

Checks are named records (:class:`Check`), not sentences: a name to look up, a sentence to show.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from ._checks import check_callable, check_count
from ._load import LoadMeter, MachineLoad
from ._timing import Timing, descendants, tree_cpu_clock

__all__ = ["Check", "Checks", "Experiment", "Measured", "Progress", "Variant", "no_progress"]

T = TypeVar("T")

#: A progress callback: ``progress(done, total, label)``.
Progress = Callable[[int, int, str], None]


def no_progress(done: int, total: int, label: str) -> None:
    """The default progress callback: say nothing."""


@dataclass(frozen=True)
class Variant:
    """One way of doing the work: what to call, and how to tell that its result is right.

    ``name`` is unique within an experiment and labels its progress and its check. ``check``
    takes the call's result and returns True when it equals the reference (None: not checked);
    ``reset`` runs untimed before every call (to restore an array an in-place variant changes).
    ``tags`` carries whatever the step wants back with the figures (implementation, strategy,
    worker count...): the runner does not read it.
    """

    name: str
    run: Callable[[], Any]
    check: Callable[[Any], bool] | None = None
    reset: Callable[[], object] | None = None
    tags: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """A named check: ``passed``, and the sentence that says what was checked."""

    name: str
    passed: bool
    says: str


class Checks:
    """Named checks in the order they were made; a name made twice keeps the worst outcome."""

    def __init__(self) -> None:
        self._items: dict[str, Check] = {}

    def add(self, name: str, passed: bool, says: str = "") -> bool:
        """Record check ``name``; returns ``passed`` (so a caller can branch on it)."""
        passed = bool(passed)
        old = self._items.get(name)
        if old is not None:
            passed = passed and old.passed
            says = says or old.says
        self._items[name] = Check(name, passed, says or name)
        return passed

    def __getitem__(self, name: str) -> Check:
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[Check]:
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self._items.values())

    def as_dict(self) -> dict[str, bool]:
        """``{name: passed}``: what a result's ``checks`` field holds."""
        return {c.name: c.passed for c in self._items.values()}

    def sentences(self) -> dict[str, str]:
        """``{name: what was checked}``, for a reader of a failure."""
        return {c.name: c.says for c in self._items.values()}


@dataclass(frozen=True)
class Measured:
    """What one variant did: its timing (None if it raised), whether every result was right."""

    variant: Variant
    timing: Timing | None
    right: bool
    error: str | None = None
    result: Any = None  # the first (warm-up) result, for the step's own summary
    #: The result of every timed run, in order, when ``measure(keep_results=True)`` asked for them.
    results: tuple[Any, ...] = ()

    @property
    def name(self) -> str:
        return self.variant.name

    @property
    def tags(self) -> Mapping[str, Any]:
        return self.variant.tags

    @property
    def ok(self) -> bool:
        return self.timing is not None and self.right

    @property
    def seconds(self) -> float:
        return self._timing().median

    @property
    def cpu_seconds(self) -> float:
        return self._timing().cpu_median

    @property
    def spread(self) -> float:
        return self._timing().spread

    def _timing(self) -> Timing:
        if self.timing is None:
            raise ValueError(f"variant {self.name!r} has no timing: {self.error}")
        return self.timing


class Experiment:
    """The runner: counts progress, keeps the checks, times variants, reads the machine's load.

    ``errors="raise"`` (the lab) lets an exception in a variant end the experiment;
    ``errors="record"`` (the bench) records it in that variant's :class:`Measured` and goes on.
    """

    def __init__(self, progress: Progress = no_progress, *,
                 errors: Literal["raise", "record"] = "raise") -> None:
        check_callable(progress, "progress")
        if errors not in ("raise", "record"):
            raise ValueError(f"errors must be 'raise' or 'record', not {errors!r}")
        self.progress = progress
        self.errors = errors
        self.checks = Checks()
        self.done = 0
        self.total = 0
        self.spreads: list[float] = []
        self._planned = False
        self._meter = LoadMeter()
        self._finished: MachineLoad | None = None

    # -- progress -------------------------------------------------------------------------
    def expect(self, units: int) -> None:
        """Announce ``units`` more progress units (the total grows as work is announced)."""
        self.total += check_count(units, "units", minimum=0)

    def plan(self, units: int) -> None:
        """Say the whole run's progress units at once (with :meth:`units` for each measure and one
        per :meth:`step`): the total is then fixed, so a bar is not drawn nearly done early on."""
        self.total = self.done + check_count(units, "units", minimum=0)
        self._planned = True

    def _announce(self, units: int) -> None:
        if not self._planned:
            self.expect(units)

    def tick(self, label: str) -> None:
        """Count one unit done."""
        self.done += 1
        self.total = max(self.total, self.done)
        self.progress(self.done, self.total, label)

    def step(self, label: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` untimed as one announced unit of progress; return its result."""
        self._announce(1)
        out = fn()
        self.tick(label)
        return out

    # -- measuring ------------------------------------------------------------------------
    def measure(self, variants: Sequence[Variant], *, repeats: int, warmup: int = 1,
                cpu: Literal["process", "tree"] = "process", keep_results: bool = False) -> dict[str, Measured]:
        """Warm up and check every variant, then time them ``repeats`` times, interleaved.

        Returns ``{variant.name: Measured}`` in the order given. ``keep_results`` keeps every timed
        run's result (:attr:`Measured.results`: stage times a run reports itself, say).
        """
        repeats = check_count(repeats, "repeats")
        warmup = check_count(warmup, "warmup", minimum=0)
        names = [v.name for v in variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique, got {names}")
        self._announce(self.units(variants, repeats=repeats, warmup=warmup))
        right = {v.name: True for v in variants}
        first: dict[str, Any] = {}
        kept: dict[str, list[Any]] = {v.name: [] for v in variants}
        failed: dict[str, str] = {}
        for round_no in range(warmup):
            for v in variants:
                if v.name not in failed:
                    self._call(v, right, failed, first if round_no == 0 else None)
                self.tick(v.name)
        clock = self._clock(cpu)
        wall: dict[str, list[float]] = {v.name: [] for v in variants}
        cpus: dict[str, list[float]] = {v.name: [] for v in variants}
        for _ in range(repeats):
            for v in variants:
                if v.name not in failed:
                    times = self._call(v, right, failed, None, clock, kept[v.name] if keep_results else None)
                    if times is not None:
                        wall[v.name].append(times[0])
                        cpus[v.name].append(times[1])
                self.tick(v.name)
        out = {}
        for v in variants:
            timing = Timing(tuple(wall[v.name]), tuple(cpus[v.name])) if v.name not in failed and wall[v.name] \
                else None
            if timing is not None:
                self.spreads.append(timing.spread)
            out[v.name] = Measured(v, timing, right[v.name], failed.get(v.name), first.get(v.name),
                                   tuple(kept[v.name]))
        return out

    @staticmethod
    def units(variants: Sequence[Variant], *, repeats: int, warmup: int = 1) -> int:
        """The progress units :meth:`measure` takes for ``variants``: one per call."""
        return len(variants) * (warmup + repeats)

    def _call(self, v: Variant, right: dict[str, bool], failed: dict[str, str], first: dict[str, Any] | None,
              clock: Callable[[], float] = time.process_time,
              keep: list[Any] | None = None) -> tuple[float, float] | None:
        if v.reset is not None:
            v.reset()
        try:
            c0, t0 = clock(), time.perf_counter()
            result = v.run()
            t1, c1 = time.perf_counter(), clock()
        except Exception as exc:
            if self.errors == "raise":
                raise
            failed[v.name] = f"{type(exc).__name__}: {exc}"
            self.checks.add(v.name, False, f"{v.name}: raised {type(exc).__name__}: {exc}")
            return None
        if first is not None:
            first[v.name] = result
        if keep is not None:
            keep.append(result)
        if v.check is not None:
            passed = bool(v.check(result))
            right[v.name] = right[v.name] and passed
            self.checks.add(v.name, passed, f"{v.name}: its result equals the reference")
        return t1 - t0, c1 - c0

    @staticmethod
    def _clock(cpu: str) -> Callable[[], float]:
        if cpu == "process":
            return time.process_time
        if cpu != "tree":
            raise ValueError(f"cpu must be 'process' or 'tree', not {cpu!r}")
        pids = descendants()
        return tree_cpu_clock(pids) if pids is not None else time.process_time

    # -- the end --------------------------------------------------------------------------
    def finish(self, *, spreads: Sequence[float | None] | None = None) -> MachineLoad:
        """How busy the machine was from the start until the first call, with the repeats' worst
        and median spread.

        ``spreads`` (default: each timed variant's :attr:`Measured.spread`) are what the run's
        noise is judged by: a step whose figures are not a call's wall time gives its own (the
        latency step: how much each row's lateness disagreed across repeats, not how long a run of
        sleeps took). The machine is read once: a later call returns the same reading, so a step
        can read it for its words before :func:`gilfree.lab._plan.step_result` reads it for the
        result; giving ``spreads`` to a later call is an error.
        """
        if self._finished is None:
            self._finished = self._meter.stop(self.spreads if spreads is None else spreads)
        elif spreads is not None:
            raise ValueError("finish() has read the machine already: give spreads to its first call")
        return self._finished
