"""The capstone pipeline, on any ``concurrent.futures.Executor``: data never leaves shared memory.

Five stages over float64 records held in two shared arrays (:class:`gilfree.shm.SharedArray`),
each stage parallel over chunks of them:

1. **generate**: ``fill_uniform(chunk, seed, start)``; the generator is counter-based, so
   chunks filled by different workers join into exactly the stream one call would write;
2. **transform**: ``transform_inplace(chunk, rounds)``, the CPU-heavy stage;
3. **filter**: ``filter_greater(chunk, out_chunk, threshold)`` writes each chunk's kept records
   to the front of the matching region of the second array and returns how many;
4. **compact**: the caller slides those runs together, in chunk order (a memmove, no kernel);
5. **aggregate**: ``chunk_stats`` over aligned chunks of the kept records, merged.

:func:`one_pass` is the reference, one kernel call per stage over the whole dataset;
:func:`run_pipeline` is the chunked pipeline on whatever executor the job names; the chunks
travel as :mod:`gilfree.transports` decides for that executor (views of the arrays in this
process, shared-memory handles elsewhere). Lab step 8 and the benchmark matrix both run it;
neither owns a copy.

On an executor whose chunks travel as descriptions (the ``dask`` strategy: workers that may
be on other machines) the same stages run without shared memory (:func:`run_described`): each
task gets a chunk's description (seed, range, rounds, threshold), generates, transforms and
filters its chunk in the worker and keeps the survivors there, sending back only their count
and checksum; once the counts give every run its place in the compacted output, one task per
worker, on the worker that holds the runs, sends back the run's exact statistics pieces
(:mod:`gilfree._spread`). The kept records stay on the workers; the count, statistics and
checksum equal the one pass's bit for bit. A task that finds no run kept for it (its worker
died and the scheduler moved it) makes the run again from the description.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ._checks import check_callable, check_count, check_executor, check_real, check_seed
from ._checksum import Checksum, combine_checksums
from ._select import Implementation
from ._spread import Pieces, merge_pieces, pieces_of
from ._stats import Stats, merge_stats
from .chunked import array_chunks, compact_runs, run_chunks
from .cluster import where_am_i
from .registry import capabilities_of
from .shm import SharedArray
from .transports import Extra, run_on_chunks

__all__ = ["RECORD_BYTES", "STAGES", "PipelineJob", "PipelineOutput", "one_pass", "run_described", "run_pipeline"]

STAGES = ("generate", "transform", "filter", "compact", "aggregate")
#: Bytes per record: float64.
RECORD_BYTES = 8


@dataclass
class PipelineJob:
    """One run of the chunked pipeline: where the data lives and where the tasks run."""

    kernels: Implementation
    executor: Executor
    data: SharedArray
    out: SharedArray
    n: int
    parts: int
    seed: int
    rounds: int
    threshold: float
    tick: Callable[[str], None]

    def __post_init__(self) -> None:
        if not isinstance(self.kernels, Implementation):
            raise TypeError("kernels must be a gilfree Implementation (gilfree.implementations()[name]), "
                            f"not {type(self.kernels).__name__}")
        check_executor(self.executor)
        for name in ("data", "out"):
            if not isinstance(getattr(self, name), SharedArray):
                raise TypeError(f"{name} must be a gilfree SharedArray, not {type(getattr(self, name)).__name__}")
        self.n = check_count(self.n, "n")
        self.parts = check_count(self.parts, "parts")
        self.rounds = check_count(self.rounds, "rounds")
        self.seed = check_seed(self.seed)
        self.threshold = check_real(self.threshold, "threshold")
        check_callable(self.tick, "tick")
        for name in ("data", "out"):
            if getattr(self, name).array.size < self.n:
                raise ValueError(f"{name} holds {getattr(self, name).array.size:,} elements, fewer than "
                                 f"n={self.n:,}")


@dataclass
class PipelineOutput:
    """What a run produced. ``checksum`` is set when the kept records stayed on the workers
    (a run by description), ``retried`` lists the tasks that lost their worker and ran again."""

    kept: int
    stats: Stats | None
    seconds: dict[str, float] = field(default_factory=dict)
    checksum: Checksum | None = None
    retried: tuple[str, ...] = ()
    #: Runs by description: chunks whose survivors were not where the second round ran, and
    #: were made again from their description (a worker lost, or an executor that cannot place).
    remade: int = 0


def _each_chunk(job: PipelineJob, stage: str, kernel: Callable[..., Any], arrays: tuple[SharedArray, ...],
                ranges: list[tuple[int, int]], extra: Extra | None = None, *,
                tick_each: bool = True) -> list[Any]:
    """Run ``kernel`` on the ``ranges`` of ``arrays`` on the job's executor, results in order.

    With ``tick_each`` every finished chunk reports progress; otherwise the stage reports once.
    """
    on_result = (lambda i, r: job.tick(stage)) if tick_each else None
    results = run_on_chunks(job.executor, kernel, arrays, ranges, extra=extra, on_result=on_result)
    if not tick_each:
        job.tick(stage)
    return results


def _generate(job: PipelineJob) -> None:
    _each_chunk(job, "generate", job.kernels.fill_uniform, (job.data,), array_chunks(job.n, job.parts),
                lambda a, b: (job.seed, a))


def _transform(job: PipelineJob) -> None:
    _each_chunk(job, "transform", job.kernels.transform_inplace, (job.data,), array_chunks(job.n, job.parts),
                lambda a, b: (job.rounds,))


def _filter(job: PipelineJob) -> list[tuple[int, int]]:
    """Each chunk's kept records land at the front of its own region of ``out``: (start, count)."""
    chunks = array_chunks(job.n, job.parts)
    counts = _each_chunk(job, "filter", job.kernels.filter_greater, (job.data, job.out), chunks,
                         lambda a, b: (job.threshold,))
    return [(a, count) for (a, _), count in zip(chunks, counts)]


def _compact(job: PipelineJob, runs: list[tuple[int, int]]) -> int:
    """Slide the kept runs together, in chunk order: ``out[:kept]`` is then the filtered data."""
    kept = compact_runs(job.out.array, runs)
    job.tick("compact")
    return kept


def _aggregate(job: PipelineJob, kept: int) -> Stats | None:
    if kept == 0:
        job.tick("aggregate")
        return None
    parts = _each_chunk(job, "aggregate", job.kernels.chunk_stats, (job.out,), array_chunks(kept, job.parts),
                        tick_each=False)
    return merge_stats(parts)


def run_pipeline(job: PipelineJob) -> PipelineOutput:
    """The chunked pipeline, stage by stage, with each stage's wall time.

    On an executor whose declared transport is ``description`` this is :func:`run_described`.
    """
    if capabilities_of(job.executor).transport == "description":
        return run_described(job)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    _generate(job)
    t1 = time.perf_counter()
    _transform(job)
    t2 = time.perf_counter()
    runs = _filter(job)
    t3 = time.perf_counter()
    kept = _compact(job, runs)
    t4 = time.perf_counter()
    stats = _aggregate(job, kept)
    t5 = time.perf_counter()
    for stage, (a, b) in zip(STAGES, [(t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5)]):
        seconds[stage] = b - a
    return PipelineOutput(kept, stats, seconds)


def one_pass(kernels: Implementation, data: SharedArray, out: SharedArray, n: int, seed: int,
              rounds: int, threshold: float, tick: Callable[[str], None]) -> PipelineOutput:
    """The reference: one kernel call per stage over the whole dataset, in this thread."""
    x, y = data.array[:n], out.array[:n]
    t0 = time.perf_counter()
    kernels.fill_uniform(x, seed, 0)
    tick("generate")
    t1 = time.perf_counter()
    kernels.transform_inplace(x, rounds)
    tick("transform")
    t2 = time.perf_counter()
    kept = kernels.filter_greater(x, y, threshold)
    tick("filter")
    t3 = time.perf_counter()
    tick("compact")  # nothing to compact: one filter call already wrote out[:kept]
    t4 = time.perf_counter()
    stats = kernels.chunk_stats(y[:kept]) if kept else None
    tick("aggregate")
    t5 = time.perf_counter()
    seconds = dict(zip(STAGES, [t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4]))
    return PipelineOutput(kept, stats, seconds)


# -- the pipeline by description: the data is made, kept and summed on the workers ---------------

class _KeptRuns:
    """The runs a worker's filter kept, until the caller asks for their statistics.

    Keyed by (run token, chunk index); only the last few runs' entries are kept, so a run that
    stopped half-way (an error, Ctrl-C) leaves nothing behind for long. A run's buffer, once
    its statistics are out, is kept for the next chunk of the same length (a few at most): a
    fresh buffer costs a page fault per 4 KiB on first touch, as much as generating its data,
    where the shared-memory pipeline writes into pages it touched on the previous run.
    """

    RUNS = 2
    SPARE = 4

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: OrderedDict[str, dict[int, np.ndarray]] = OrderedDict()
        self._spare: list[np.ndarray] = []

    def buffer(self, length: int) -> np.ndarray:
        """A float64 buffer of ``length`` elements, one kept from an earlier chunk where there is one."""
        with self._lock:
            for i, spare in enumerate(self._spare):
                if spare.shape[0] == length:
                    return self._spare.pop(i)
        return np.empty(length, dtype=np.float64)

    def give_back(self, values: np.ndarray) -> None:
        """Keep the buffer under ``values`` (a run that was filtered in place) for a later chunk."""
        base = values.base if isinstance(values.base, np.ndarray) else values
        with self._lock:
            self._spare.append(base)
            del self._spare[:-self.SPARE]

    def put(self, token: str, index: int, values: np.ndarray) -> None:
        with self._lock:
            self._runs.setdefault(token, {})[index] = values
            self._runs.move_to_end(token)
            while len(self._runs) > self.RUNS:
                self._runs.popitem(last=False)

    def take(self, token: str, index: int) -> np.ndarray | None:
        with self._lock:
            run = self._runs.get(token)
            return None if run is None else run.pop(index, None)


_KEPT = _KeptRuns()


def _survivors(kernels: Implementation, seed: int, start: int, stop: int, rounds: int,
               threshold: float) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Generate, transform and filter one chunk here: its kept records and each stage's seconds."""
    t0 = time.perf_counter()
    chunk = _KEPT.buffer(stop - start)
    kernels.fill_uniform(chunk, seed, start)  # what Uniform(fill_uniform, seed, n) makes of the range
    t1 = time.perf_counter()
    kernels.transform_inplace(chunk, rounds)
    t2 = time.perf_counter()
    kept = kernels.filter_greater(chunk, chunk, threshold)  # in place: the kept records move forward
    return chunk[:kept], (t1 - t0, t2 - t1, time.perf_counter() - t2)


def keep_chunk(kernels: Implementation, seed: int, start: int, stop: int, rounds: int, threshold: float,
               token: str, index: int) -> tuple[int, Checksum, str, tuple[float, float, float]]:
    """Task: make, transform and filter chunk ``index`` in this worker and keep its survivors here.

    Returns their count and checksum, where they are kept, and the three stages' seconds.
    """
    values, seconds = _survivors(kernels, seed, start, stop, rounds, threshold)
    _KEPT.put(token, index, values)
    digest = kernels.checksum(values) if values.shape[0] else Checksum(0, 0, 0)
    return int(values.shape[0]), digest, where_am_i(), seconds


def kept_pieces(kernels: Implementation, seed: int, start: int, stop: int, rounds: int, threshold: float,
                token: str, index: int, offset: int) -> tuple[Pieces, bool]:
    """Task: the statistics pieces of chunk ``index``'s survivors, placed at ``offset`` of the kept
    records, and whether they had to be made again (they were not kept on this worker)."""
    values = _KEPT.take(token, index)
    again = values is None
    if values is None:
        values, _ = _survivors(kernels, seed, start, stop, rounds, threshold)
    pieces = pieces_of(kernels.chunk_stats, values, offset)
    _KEPT.give_back(values)
    return pieces, again


def kept_pieces_of(kernels: Implementation, seed: int, rounds: int, threshold: float, token: str,
                   chunks: list[tuple[int, int, int, int]]) -> list[tuple[Pieces, bool]]:
    """Task: :func:`kept_pieces` for each ``(start, stop, index, offset)`` of ``chunks``: every run
    one worker kept, in one task (a task costs milliseconds on a cluster; a run's pieces, less)."""
    return [kept_pieces(kernels, seed, start, stop, rounds, threshold, token, index, offset)
            for start, stop, index, offset in chunks]


def run_described(job: PipelineJob) -> PipelineOutput:
    """The pipeline with its data made, filtered and kept on the workers (see the module's notes).

    ``job.data`` and ``job.out`` are not used: nothing is written to them. Stage times: the
    first three stages run fused in each task, so their wall time is split in proportion to
    the seconds the tasks spent in each; "compact" is the placing of the runs, "aggregate"
    the second round of tasks and the merge.
    """
    token = uuid.uuid4().hex
    chunks = array_chunks(job.n, job.parts)
    common = (job.seed,)
    t0 = time.perf_counter()

    def ticked(i: int, result: Any) -> None:
        for stage in STAGES[:3]:
            job.tick(stage)

    first = run_chunks(job.executor, keep_chunk,
                       [(job.kernels, *common, a, b, job.rounds, job.threshold, token, i)
                        for i, (a, b) in enumerate(chunks)], on_result=ticked)
    t1 = time.perf_counter()
    offsets, at = [], 0
    for count, *_ in first:
        offsets.append(at)
        at += count
    kept = at
    job.tick("compact")
    t2 = time.perf_counter()
    held: dict[str, list[tuple[int, int, int, int]]] = {}  # worker -> the runs it keeps
    for i, (count, _, where, _) in enumerate(first):
        if count:
            held.setdefault(where, []).append((*chunks[i], i, offsets[i]))
    second = [one for many in run_chunks(
        job.executor, kept_pieces_of, [(job.kernels, *common, job.rounds, job.threshold, token, runs)
                                       for runs in held.values()], where=list(held)) for one in many]
    stats = merge_pieces(job.kernels.chunk_stats, [pieces for pieces, _ in second], kept)
    checksum = combine_checksums([digest for count, digest, *_ in first if count]) if kept else Checksum(0, 0, 0)
    job.tick("aggregate")
    t3 = time.perf_counter()
    spent = [sum(r[3][k] for r in first) for k in range(3)]
    whole = sum(spent) or 1.0
    seconds = {stage: (t1 - t0) * part / whole for stage, part in zip(STAGES[:3], spent)}
    seconds.update({"compact": t2 - t1, "aggregate": t3 - t2})
    rescheduled = getattr(job.executor, "rescheduled", None)
    retried = tuple(rescheduled()) if callable(rescheduled) else ()
    remade = sum(1 for _, again in second if again)
    return PipelineOutput(kept, stats, seconds, checksum, retried, remade)
