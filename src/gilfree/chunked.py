"""The split / parallel / aggregate pattern, on any ``concurrent.futures.Executor``.

``split_range`` and ``array_chunks`` cut the work; ``run_chunks`` submits one task per chunk
and gathers the results *in chunk order*, so any order-sensitive aggregate (a float sum, a
tree merge of statistics) gives the same answer whichever worker finished first. If a task
fails, the tasks not yet started are cancelled and the error is raised with the worker's
traceback attached (``__cause__``) by the executor.

``parallel_reduce`` is the three steps in one call; ``runs_in_process`` tells whether tasks may
take array views (serial, threads) or need shared-memory handles (processes), from the
executor's declared capabilities (:func:`gilfree.registry.capabilities_of`); ``compact_runs``
joins the per-chunk output of a chunked filter into one contiguous result. How array chunks
travel to the tasks is :mod:`gilfree.transports`'s business.
"""

from __future__ import annotations

import operator
from concurrent.futures import Executor, Future, as_completed
from functools import partial
from typing import Any, Callable, Iterable, MutableMapping, Sequence, TypeVar

import numpy as np

from ._checks import as_index, check_callable, check_count, check_executor
from ._stats import aligned_chunk_size
from .registry import capabilities_of

__all__ = ["array_chunks", "auto_parts", "compact_runs", "default_parts", "parallel_reduce", "run_chunks",
           "runs_in_process", "split_range"]

T = TypeVar("T")
R = TypeVar("R")


def default_parts(workers: int, per_worker: int = 4) -> int:
    """A few chunks per worker: enough to balance uneven chunks, few enough to amortize a task."""
    return check_count(workers, "workers") * check_count(per_worker, "per_worker")


#: The share of a chunk's work that :func:`auto_parts` lets the executor's per-task cost take.
OVERHEAD_SHARE = 0.1


def auto_parts(workers: int, work_s: float, per_task_s: float, most_per_worker: int = 4,
               overhead_share: float = OVERHEAD_SHARE) -> int:
    """Chunks for one call, chosen from what a task costs on this executor (``chunksize="auto"``'s idea).

    More chunks per worker balance uneven chunks and cores; each one also pays the executor's
    per-task cost (``per_task_s``: about a millisecond for a process pool, several for a
    distributed scheduler). This gives each worker as many chunks as keep that cost under
    ``overhead_share`` of a chunk's work (``work_s`` is the whole call's serial time), at most
    ``most_per_worker`` and at least one.
    """
    workers = check_count(workers, "workers")
    most_per_worker = check_count(most_per_worker, "most_per_worker")
    for name, value in (("work_s", work_s), ("per_task_s", per_task_s)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
        if not 0 <= value < float("inf"):
            raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    if isinstance(overhead_share, bool) or not isinstance(overhead_share, (int, float)) \
            or not 0 < overhead_share <= 1:
        raise ValueError(f"overhead_share must be a fraction in (0, 1], got {overhead_share!r}")
    if per_task_s == 0:
        return workers * most_per_worker
    fits = int(work_s / workers * overhead_share / per_task_s)
    return workers * max(1, min(most_per_worker, fits))


def split_range(lo: int, hi: int, parts: int) -> list[tuple[int, int]]:
    """Cut ``[lo, hi)`` into ``parts`` contiguous ranges whose lengths differ by at most one.

    Empty ranges are dropped, so fewer than ``parts`` come back when the range is short.
    """
    lo, hi = as_index(lo, "lo"), as_index(hi, "hi")
    parts = check_count(parts, "parts")
    if hi < lo:
        raise ValueError(f"range is reversed: lo={lo} > hi={hi}")
    n = hi - lo
    base, extra = divmod(n, parts)
    out = []
    start = lo
    for i in range(parts):
        stop = start + base + (1 if i < extra else 0)
        if stop > start:
            out.append((start, stop))
        start = stop
    return out


def array_chunks(n: int, parts: int) -> list[tuple[int, int]]:
    """Cut ``n`` array elements into chunks of ``aligned_chunk_size(n, parts)`` elements.

    Those chunk lengths keep merged statistics bit-identical to a single pass (see
    :mod:`gilfree._stats`); the last chunk may be shorter.
    """
    n, parts = check_count(n, "n"), check_count(parts, "parts")
    size = aligned_chunk_size(n, parts)
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def run_chunks(executor: Executor, fn: Callable[..., T], argsets: Iterable[Sequence[Any]],
               *, on_result: Callable[[int, T], None] | None = None,
               results: MutableMapping[int, T] | None = None,
               where: Sequence[str] | None = None) -> list[T]:
    """Submit ``fn(*args)`` for every argument set and return the results in submission order.

    ``on_result(index, result)`` is called as each task finishes (in completion order), for
    progress reports. On the first failure the remaining tasks are cancelled and it is raised.

    ``results``, a dict of the caller's, receives ``results[index] = result`` the moment each
    task completes, whatever happens next: after a task's exception, a dead worker or Ctrl-C
    it still holds every result that was completed, so finished work is never lost.

    An executor that declares it runs whole batches only (``batches`` in its capabilities, as
    :class:`gilfree.peers.JoblibExecutor` does: joblib hands back every result or none) gets the
    whole batch at once through its ``run_batch(fn, argsets)``.

    ``where``, one entry per argument set, asks for the worker that holds each task's inputs
    (what :func:`gilfree.cluster.where_am_i` said there); an executor that declares
    ``places_tasks`` honours it through ``submit_to``, any other ignores it.
    """
    check_executor(executor)
    check_callable(fn, "fn")
    if on_result is not None:
        check_callable(on_result, "on_result")
    if capabilities_of(executor).batches:
        batch = executor.run_batch(fn, list(argsets))  # type: ignore[attr-defined]
        for i, value in enumerate(batch):
            if results is not None:
                results[i] = value
            if on_result is not None:
                on_result(i, value)
        return list(batch)
    futures: list[Future[Any]] = []
    places = where is not None and capabilities_of(executor).places_tasks
    for i, args in enumerate(argsets):
        if places:
            futures.append(executor.submit_to(where[i], fn, *args))  # type: ignore[attr-defined, index]
        else:
            futures.append(executor.submit(fn, *args))
        if results is not None:  # at once: a serial executor has finished the task already
            futures[-1].add_done_callback(partial(_keep, results, len(futures) - 1))
    index = {f: i for i, f in enumerate(futures)}
    try:
        if on_result is not None:
            for future in as_completed(futures):
                on_result(index[future], future.result())
        return [f.result() for f in futures]
    except BaseException:
        for f in futures:
            f.cancel()
        raise


def _keep(results: MutableMapping[int, Any], index: int, future: Future[Any]) -> None:
    if not future.cancelled() and future.exception() is None:
        results[index] = future.result()


def parallel_reduce(executor: Executor, fn: Callable[..., T], argsets: Iterable[Sequence[Any]],
                    combine: Callable[[list[T]], R], *,
                    on_result: Callable[[int, T], None] | None = None) -> R:
    """The whole pattern in one call: ``combine(run_chunks(executor, fn, argsets))``.

    ``combine`` receives the chunk results in chunk order (``sum``, ``merge_stats``,
    ``combine_checksums``...), so an order-sensitive aggregate is reproducible. A reduction of
    nothing has no answer that fits every ``combine``, so empty ``argsets`` raise ValueError.
    """
    if not callable(combine):
        raise TypeError(f"combine must be callable, not {type(combine).__name__}")
    argsets = list(argsets)
    if not argsets:
        raise ValueError("parallel_reduce needs at least one chunk of work")
    return combine(run_chunks(executor, fn, argsets, on_result=on_result))


def runs_in_process(executor: Executor) -> bool:
    """True when ``executor`` runs tasks in this process (serial or threads).

    Such tasks can take numpy views of the caller's arrays: nothing is pickled or copied. Tasks
    on any other executor (worker processes, a cluster) need something they can open themselves,
    such as a :class:`gilfree.shm.SharedArrayHandle`. The answer is the executor's declared
    capability (:func:`gilfree.registry.capabilities_of`), so a caller's own in-process executor
    says so with a ``gilfree_capabilities`` attribute; an executor that declares nothing is taken
    to run tasks elsewhere, where handles still work.
    """
    return capabilities_of(executor).in_process


def compact_runs(array: Any, runs: Iterable[tuple[int, int]]) -> int:
    """Slide runs of a 1-D array to its front, in order, and return how many elements they hold.

    ``runs`` are ``(start, count)`` pairs in increasing, non-overlapping order: what chunked
    filters leave behind when each chunk writes its survivors to the front of its own region.
    Afterwards ``array[:total]`` holds the survivors exactly as one filter over the whole array
    would have written them. The moves run in the calling thread, in order (a later run may
    land where an earlier one started, so they cannot run in parallel in place).
    """
    if not isinstance(array, np.ndarray) or array.ndim != 1:
        raise TypeError("compact_runs needs a 1-D numpy array")
    checked = []
    end = 0
    for start, count in runs:  # every run is checked before the first one moves
        if isinstance(start, bool) or isinstance(count, bool):
            raise TypeError("run starts and counts must be ints, not bools")
        start, count = operator.index(start), operator.index(count)
        if count < 0 or start < end or start + count > array.shape[0]:
            raise ValueError(
                f"run (start={start}, count={count}) is negative, overlaps the run before it or "
                f"ends past the array's {array.shape[0]} elements; runs must be in increasing order"
            )
        checked.append((start, count))
        end = start + count
    total = 0
    for start, count in checked:
        if count and start != total:
            array[total:total + count] = array[start:start + count]  # numpy copes with the overlap
        total += count
    return total
