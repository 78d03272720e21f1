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
"""

from __future__ import annotations

import time
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Callable

from ._checks import check_callable, check_count, check_executor, check_real, check_seed
from ._select import Implementation
from ._stats import Stats, merge_stats
from .chunked import array_chunks, compact_runs
from .shm import SharedArray
from .transports import Extra, run_on_chunks

__all__ = ["RECORD_BYTES", "STAGES", "PipelineJob", "PipelineOutput", "one_pass", "run_pipeline"]

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
    kept: int
    stats: Stats | None
    seconds: dict[str, float] = field(default_factory=dict)


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
    """The chunked pipeline, stage by stage, with each stage's wall time."""
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
