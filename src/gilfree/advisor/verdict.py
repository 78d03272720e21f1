"""From the advisor's figures to its verdict: a classifier that reads robust evidence only.

Nothing here runs anything. :func:`judge` takes measured figures (:class:`Row` per strategy and
worker count, :class:`TaskCosts` for one task) and returns a :class:`Verdict`: a label per
question, for programs and tests, and sentences, each printed only when the figure beside it
supports it (the rules of :mod:`gilfree.figures`). Tests feed it hand-made figures, including
contradicting ones.

The evidence, and why it is robust on a shared machine:

* **Does the function wait or compute?** Serial CPU seconds per wall second. A function that
  sleeps or waits on I/O uses a small fraction of a core (below :data:`WAITS_CPU_PER_WALL`);
  a CPU-bound one uses about one. A busy machine lowers it a little, never to a tenth.
* **Do threads run it in parallel?** Two figures together: the speedup against serial, judged
  against the repeats' spread, and the cores the threads kept busy *relative to serial's*
  (threads' CPU per wall over serial's). A function holding the GIL keeps about one core busy
  however many threads run it: the ratio stays near 1 and the speedup within noise. A function
  that releases the GIL (or a free-threaded interpreter) keeps more cores busy and runs faster.
  Measured in the same run, interleaved, both suffer a busy machine alike.
* **Is a task big enough to hand out?** The serial time of one task against
  :data:`gilfree.figures.SHORT_TASK_SECONDS`, and whether any strategy beat serial at all.
* **Does pickling eat the gain?** The time to pickle and unpickle one task's arguments and
  result, as a share of the task's own time (:data:`PICKLE_SHARE`): measured in this process,
  one after the other, so both sides of the ratio see the same machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Sequence

from ..figures import (GIL_CPU_PER_WALL, SHORT_TASK_SECONDS, beyond_noise, ms, nbytes, noise_of, plural,
                       repeat_advice, small_tasks, versus, x)

__all__ = [
    "FREE_CORES_NEEDED",
    "PICKLE_SHARE",
    "WAITS_CPU_PER_WALL",
    "Row",
    "TaskCosts",
    "Verdict",
    "judge",
]

#: A serial run using less than this many CPU seconds per wall second mostly waits (I/O, sleep).
WAITS_CPU_PER_WALL = 0.5
#: Below this, serial waited even on a crowded machine: the scheduler gives a call that computes a
#: larger share of a core than this, however busy the others keep it (and they fill whatever
#: a waiting call leaves idle, so "free cores" alone cannot tell the two apart).
SURELY_WAITS = 0.1
#: Pickling a task's arguments and result taking this share of the task's own time or more is
#: worth a sentence: the processes spend that much of their time copying, not computing.
PICKLE_SHARE = 0.2
#: Threads keeping more than this many times serial's cores busy ran on more than one core; fewer
#: than :data:`FEWER_CORES` times, they waited on something (a lock, I/O, the machine): between
#: the two, about serial's one core, the GIL's fingerprint.
FEWER_CORES, MORE_CORES = GIL_CPU_PER_WALL
#: Fewer free cores than this (the usable ones less what other processes took) cannot show
#: threads keeping :data:`MORE_CORES` times serial's cores busy: "one core busy" then says
#: nothing about the GIL.
FREE_CORES_NEEDED = 1.5

ThreadsLabel = Literal["parallel", "holds the gil", "took turns", "waits", "no gain", "too small", "unclear",
                       "not run"]
ProcessesLabel = Literal["parallel", "no gain", "too small", "unclear", "not run"]


@dataclass(frozen=True)
class Row:
    """One strategy at one worker count: the median wall and CPU seconds of a round of tasks.

    ``label`` is what the table shows (a strategy's name, or ``processes+shm``); ``uses`` is
    ``serial``, ``threads`` or ``processes``; ``reference`` is the serial row measured with it
    (interleaved, in the same group), against which its speedup is taken. ``error`` says why a
    row has no figures.
    """

    label: str
    uses: str
    workers: int
    seconds: float | None = None
    cpu_seconds: float | None = None
    spread: float = 0.0
    repeats: int = 0
    startup_seconds: float | None = None
    reference: Row | None = None
    error: str | None = None
    shared_memory: bool = False
    #: Every round returned what serial's first round did (None: not compared).
    same_results: bool | None = None
    #: The cores other processes left free while this row's group ran (None: not known).
    free_cores: float | None = None

    @property
    def ok(self) -> bool:
        return self.seconds is not None and self.seconds > 0 and self.error is None

    @property
    def cpu_per_wall(self) -> float | None:
        if not self.ok or self.cpu_seconds is None:
            return None
        assert self.seconds is not None
        return self.cpu_seconds / self.seconds

    @property
    def speedup(self) -> float | None:
        """Serial's time over this row's, both from the same group of interleaved repeats."""
        ref = self.reference
        if not self.ok or ref is None or not ref.ok:
            return None
        assert self.seconds is not None and ref.seconds is not None
        return ref.seconds / self.seconds

    @property
    def noise(self) -> float:
        """The spread this row's speedup is judged against: the worse of its own and serial's."""
        return noise_of(self.spread, self.reference.spread if self.reference is not None else None)

    @property
    def faster(self) -> bool:
        """Faster than serial beyond the repeats' spread."""
        s = self.speedup
        return s is not None and beyond_noise(s, self.spread, self.reference.spread if self.reference else None)

    @property
    def name(self) -> str:
        return f"{self.label} x{self.workers}"

    def as_dict(self) -> dict[str, Any]:
        return {"strategy": self.label, "uses": self.uses, "workers": self.workers, "seconds": self.seconds,
                "cpu_seconds": self.cpu_seconds, "cpu_per_wall": self.cpu_per_wall, "spread": self.spread,
                "repeats": self.repeats, "speedup": self.speedup, "startup_seconds": self.startup_seconds,
                "shared_memory": self.shared_memory, "same_results": self.same_results,
                "free_cores": self.free_cores, "error": self.error}


@dataclass(frozen=True)
class TaskCosts:
    """What one task costs in this process: its serial time, and the pickling a process pays.

    ``pickle_seconds`` is ``dumps`` + ``loads`` of the arguments and of the result (None when
    they do not pickle); ``pickle_bytes`` their sizes; ``array_bytes`` the numpy arrays among
    the arguments; ``handle_bytes`` what a task pickles when its arrays travel as shared-memory
    handles instead.
    """

    seconds: float
    cpu_seconds: float
    pickle_seconds: float | None = None
    pickle_bytes: int | None = None
    array_bytes: int = 0
    handle_bytes: int | None = None

    @property
    def cpu_per_wall(self) -> float | None:
        return self.cpu_seconds / self.seconds if self.seconds > 0 else None

    @property
    def pickle_share(self) -> float | None:
        """Pickling's time as a share of the task's own serial time."""
        if self.pickle_seconds is None or self.seconds <= 0:
            return None
        return self.pickle_seconds / self.seconds

    def as_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "cpu_seconds": self.cpu_seconds, "cpu_per_wall": self.cpu_per_wall,
                "pickle_seconds": self.pickle_seconds, "pickle_bytes": self.pickle_bytes,
                "pickle_share": self.pickle_share, "array_bytes": self.array_bytes,
                "handle_bytes": self.handle_bytes}


@dataclass(frozen=True)
class Verdict:
    """The advisor's answer: labels for programs and tests, sentences for people.

    ``threads``: ``parallel`` (faster, on more cores), ``holds the gil`` (about serial's cores
    and no faster, GIL on), ``took turns`` (the same, GIL off), ``waits`` (serial mostly waited
    and threads were faster), ``no gain`` (more CPU, no faster), ``too small``, ``unclear``,
    ``not run``. ``processes``: ``parallel``, ``no gain``, ``too small``, ``unclear``, ``not run``.
    ``pickling_bound``: pickling takes :data:`PICKLE_SHARE` of a task or more. ``recommend``: the
    row to use (``threads x2``...), or ``serial``.
    """

    threads: ThreadsLabel
    processes: ProcessesLabel
    pickling_bound: bool
    recommend: str
    sentences: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"threads": self.threads, "processes": self.processes, "pickling_bound": self.pickling_bound,
                "recommend": self.recommend, "sentences": list(self.sentences)}


def _top(rows: Sequence[Row], uses: str, shared_memory: bool = False) -> Row | None:
    """The measured row of ``uses`` at the most workers (the typical strategy's first)."""
    found = [r for r in rows if r.uses == uses and r.shared_memory == shared_memory and r.ok and r.speedup is not None]
    if not found:
        return None
    most = max(r.workers for r in found)
    at_most = [r for r in found if r.workers == most]
    from ..strategies import typical as typical_for

    typical = [r for r in at_most if r.label == typical_for(uses)]  # the standard library's own executor
    return (typical or at_most)[0]


def _cores(row: Row) -> str:
    return f"{row.cpu_per_wall:.2f} CPU seconds per wall second" if row.cpu_per_wall is not None else "no CPU figure"


def _threads(row: Row | None, gil: bool, free_cores: float | None,
             cores: int | None) -> tuple[ThreadsLabel, str | None]:
    if row is None:
        return "not run", None
    ref = row.reference
    assert ref is not None and row.speedup is not None
    s, noise = row.speedup, row.noise
    head = f"threads {x(s)} against serial on {plural(row.workers, 'thread', 'threads')}"
    # "Threads help" only of threads whose results agree with serial's (the verdict says why not).
    helps = ("threads help" if row.same_results is not False
             else "threads would help, but their results differ from serial's")
    serial_cpw, cpw = ref.cpu_per_wall, row.cpu_per_wall
    free = row.free_cores if row.free_cores is not None else free_cores
    if row.workers < 2:
        return "unclear", (f"{head}: one thread cannot show whether threads share cores; measure 2 or more "
                           "(--workers 2)")
    if serial_cpw is None or cpw is None:
        return "unclear", repeat_advice(f"{head}, without CPU figures to read it by")
    if serial_cpw < WAITS_CPU_PER_WALL:
        # Serial can keep busy at most the one core, or the share of one, that others left free;
        # but others also fill what a waiting call leaves idle, so below SURELY_WAITS it waited.
        crowded = max(SURELY_WAITS, WAITS_CPU_PER_WALL * min(1.0, free)) if free is not None else WAITS_CPU_PER_WALL
        if serial_cpw >= crowded:
            return "unclear", repeat_advice(f"{head}; serially it kept only {serial_cpw:.2f} CPU seconds per "
                                            f"wall second busy, but other processes left only {free:.1f} cores "
                                            "free, so waiting cannot be told from a crowded machine")
        if row.faster:
            return "waits", (f"{head}: your function mostly waits (serially it kept {serial_cpw:.2f} CPU seconds "
                             f"per wall second busy), and threads wait side by side: {helps}")
        return "unclear", repeat_advice(f"{head}; serially it kept only {serial_cpw:.2f} CPU seconds per wall "
                                        f"second busy, yet threads were {versus(s, noise)}")
    relative = cpw / serial_cpw
    busy = f"{cpw:.2f} CPU seconds per wall second against serial's {serial_cpw:.2f}"
    if row.faster and relative > MORE_CORES:
        why = ("this interpreter runs without the GIL" if not gil
               else "your function releases the GIL (a nogil kernel, a numpy call, I/O)")
        return "parallel", f"{head}, {busy}: the threads ran on more than one core because {why}: {helps}"
    if cores is not None and cores < 2:
        return "unclear", (f"{head}, {busy}: this machine has {plural(cores, 'usable core', 'usable cores')}, so "
                           "threads cannot show whether they could share cores (and so whether your function "
                           "holds the GIL); run it on a machine with 2 or more")
    if free is not None and free < FREE_CORES_NEEDED:
        of = f" of the {cores}" if cores is not None else ""
        return "unclear", (f"{head}, {busy}, but other processes left only {free:.1f}{of} cores free: too few "
                           "to tell whether threads could share cores (and so whether your function holds the "
                           "GIL); repeat the run on a quieter machine")
    if not row.faster and relative < FEWER_CORES:
        return "unclear", (f"{head}: the threads kept fewer cores busy than serial ({cpw:.2f} CPU seconds per "
                           f"wall second against {serial_cpw:.2f}): they waited on something (a lock, I/O, "
                           "the machine), which the figures do not name")
    if not row.faster and relative <= MORE_CORES:
        if gil:
            return "holds the gil", (f"{head}, {busy}: about one core busy however many threads, and "
                                     f"{versus(s, noise)}: your function holds the GIL (or a lock of its own)")
        return "took turns", (f"{head}, {busy}: the threads took turns on about one core although this "
                              "interpreter runs without the GIL; the figures do not say what they waited for")
    if not row.faster and s <= 1:
        return "no gain", (f"{head}, {busy}: more CPU, yet {versus(s, noise)}: the extra CPU went on "
                           "overhead or contention, not on your function's work")
    if not row.faster:
        return "unclear", repeat_advice(f"{head} (within the {noise:.0%} spread) at {busy}")
    return "unclear", repeat_advice(f"{head} (beyond the {noise:.0%} spread), yet at {busy}")


def _processes(row: Row | None, gil: bool, tiny: bool) -> tuple[ProcessesLabel, str | None]:
    if row is None:
        return "not run", None
    assert row.speedup is not None and row.reference is not None
    s = row.speedup
    head = f"{row.label} {x(s)} against serial on {plural(row.workers, 'worker process', 'worker processes')}"
    if row.faster:
        serial_cpw = row.reference.cpu_per_wall
        if serial_cpw is not None and serial_cpw < WAITS_CPU_PER_WALL:
            how = "the calls waited side by side"
        elif gil:
            how = "each process has its own interpreter and GIL, so the calls ran side by side"
        else:
            how = "the calls ran on more than one core"
        differ = ", but their results differ from serial's" if row.same_results is False else ""
        return "parallel", f"{head}: {how}{differ}"
    if tiny:
        return "too small", None
    return "no gain", f"{head}: {versus(s, row.noise)}"


def _pickling(costs: TaskCosts, shm: Row | None, pickled: Row | None) -> str | None:
    share = costs.pickle_share
    if share is None or share < PICKLE_SHARE:
        return None
    assert costs.pickle_bytes is not None and costs.pickle_seconds is not None
    said = (f"pickling costs {share:.0%} of each task ({ms(costs.pickle_seconds)} for {nbytes(costs.pickle_bytes)} "
            f"of arguments and result, against {ms(costs.seconds)} of work)")
    if not costs.array_bytes:
        return f"{said}: send less to each task (an index, a file name) and let the worker load its data"
    if shm is None or shm.speedup is None:
        return f"{said}: try passing the arrays through shared memory (not measured here)"
    seen = f"{shm.label} {x(shm.speedup)} against serial on {plural(shm.workers, 'worker', 'workers')}"
    if costs.handle_bytes is not None:
        seen += f", pickling {nbytes(costs.handle_bytes)} per task"
    has_pickled = pickled is not None and pickled.speedup is not None
    if has_pickled:
        assert pickled is not None and pickled.speedup is not None
        seen += f"; pickled: {x(pickled.speedup)}"
    if shm.faster:
        return f"{said}: pass arrays through shared memory ({seen})"
    if has_pickled:
        assert pickled is not None and pickled.speedup is not None
        if beyond_noise(shm.speedup / pickled.speedup, shm.spread, pickled.spread):
            return (f"{said}: shared memory cuts that cost ({seen}), yet processes stay "
                    f"{versus(shm.speedup, shm.noise)}")
        return (f"{said}, yet through shared memory processes were no faster than pickled beyond the repeats' "
                f"spread ({seen}): pickling is not what holds processes back here")
    return f"{said}; through shared memory ({seen}) processes were {versus(shm.speedup, shm.noise)}"


def judge(rows: Sequence[Row], costs: TaskCosts, *, gil: bool, free_cores: float | None = None,
          cores: int | None = None) -> Verdict:
    """The verdict on ``rows`` (every measured row, serial ones included) and one task's ``costs``.

    ``gil`` says whether the interpreter ran with the GIL (:func:`gilfree.gil_enabled`);
    ``free_cores`` how many cores other processes left us over the whole run (None: not known;
    a row's own :attr:`Row.free_cores`, measured while its group ran, comes first); ``cores``
    the usable cores of the machine (None: not known).
    """
    measured = [r for r in rows if r.uses != "serial" and r.ok and r.speedup is not None]
    differ = [r for r in measured if r.same_results is False]
    fast = [r for r in measured if r.faster]
    # A row whose results differ from serial's is no candidate, however fast.
    winners = [r for r in fast if r.same_results is not False]
    tiny = not fast and costs.seconds < SHORT_TASK_SECONDS
    threads_row = _top(rows, "threads")
    pickled_row = _top(rows, "processes")
    shm_row = _top(rows, "processes", shared_memory=True)
    if tiny:
        threads_label: ThreadsLabel = "too small" if threads_row is not None else "not run"
        threads_words = None
    else:
        threads_label, threads_words = _threads(threads_row, gil, free_cores, cores)
    processes_label, processes_words = _processes(pickled_row, gil, tiny)
    sentences = [s for s in (threads_words, processes_words) if s]
    small = small_tasks(costs.seconds)
    if tiny and small is not None:
        best = max(measured, key=lambda r: r.speedup or 0.0, default=None)
        seen = f" (the best, {best.name}, ran at {x(best.speedup or 0)} against serial)" if best else ""
        sentences.append(f"{small}: no strategy beat serial beyond the repeats' spread{seen}; give each task more "
                         "work (a batch of calls) before reaching for threads or processes")
    # For a tiny task without arrays, pickling's share only restates that the task is tiny.
    pickling = _pickling(costs, shm_row, pickled_row) if costs.array_bytes or not tiny else None
    if pickling:
        sentences.append(pickling)
    if shm_row is not None and shm_row.faster and not pickling:
        sentences.append(f"{shm_row.label} {x(shm_row.speedup or 0)} against serial on {shm_row.workers} workers")
    if differ:
        sentences.append(f"{', '.join(r.name for r in differ)} returned results that differ from serial's: check "
                         "that your function is deterministic and, for threads, that it shares no state it changes")
    if winners:
        best = max(winners, key=lambda r: r.speedup or 0.0)
        # Threads within the noise of the best win: no processes to start, nothing to pickle.
        close = [r for r in winners if r.uses == "threads"
                 and not beyond_noise((best.speedup or 0) / (r.speedup or 1), r.spread, best.spread)]
        pick = max(close, key=lambda r: r.speedup or 0.0) if close else best
        recommend = pick.name
        why = "" if pick is best else f", within the repeats' spread of {best.name}'s {x(best.speedup or 0)}"
        sentences.append(f"use {pick.label} on {pick.workers} workers: {x(pick.speedup or 0)} against serial{why}")
    else:
        recommend = "serial"
        if fast:
            sentences.append(f"{', '.join(r.name for r in fast)} ran faster than serial but returned other "
                             "results: stay serial until they agree")
        elif not tiny:
            noise = max((r.noise for r in measured), default=noise_of())
            sentences.append(f"stay serial: nothing ran faster than serial beyond the repeats' spread "
                             f"(up to {noise:.0%})")
    return Verdict(threads_label, processes_label, pickling is not None, recommend, tuple(sentences))
