"""The split / parallel / aggregate pattern, on any ``concurrent.futures.Executor``.

``split_range`` and ``array_chunks`` cut the work; ``run_chunks`` submits one task per chunk
and gathers the results *in chunk order*, so any order-sensitive aggregate (a float sum, a
tree merge of statistics) gives the same answer whichever worker finished first. If a task
fails, the tasks not yet started are cancelled and the error is raised with the worker's
traceback attached (``__cause__``) by the executor.
"""

from __future__ import annotations

from concurrent.futures import Executor, Future
from typing import Any, Callable, Iterable, Sequence, TypeVar

from ._stats import aligned_chunk_size
from .strategies import check_workers

__all__ = ["array_chunks", "default_parts", "run_chunks", "split_range"]

T = TypeVar("T")


def default_parts(workers: int, per_worker: int = 4) -> int:
    """A few chunks per worker: enough to balance uneven chunks, few enough to amortize a task."""
    return check_workers(workers) * per_worker


def split_range(lo: int, hi: int, parts: int) -> list[tuple[int, int]]:
    """Cut ``[lo, hi)`` into ``parts`` contiguous ranges whose lengths differ by at most one.

    Empty ranges are dropped, so fewer than ``parts`` come back when the range is short.
    """
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
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
    size = aligned_chunk_size(n, parts)
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def run_chunks(executor: Executor, fn: Callable[..., T], argsets: Iterable[Sequence[Any]],
               *, on_result: Callable[[int, T], None] | None = None) -> list[T]:
    """Submit ``fn(*args)`` for every argument set and return the results in submission order.

    ``on_result(index, result)`` is called as each task finishes (in completion order), for
    progress reports. On the first failure the remaining tasks are cancelled and it is raised.
    """
    futures: list[Future] = [executor.submit(fn, *args) for args in argsets]
    index = {f: i for i, f in enumerate(futures)}
    try:
        if on_result is not None:
            from concurrent.futures import as_completed

            for future in as_completed(futures):
                on_result(index[future], future.result())
        return [f.result() for f in futures]
    except BaseException:
        for f in futures:
            f.cancel()
        raise
