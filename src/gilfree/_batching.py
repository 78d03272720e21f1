"""``map`` and ``starmap`` over any ``submit``: many items per task, fixed or sized from measurements.

One round trip to a worker process costs tens of microseconds (pickling, a pipe, a wake-up); a
task of ``x * x`` costs a fraction of one. Sent one per task, small items spend their time in
transit, which is why ``multiprocessing.Pool.map`` cuts its input into about four chunks per
worker and ``ProcessPoolExecutor.map`` takes a ``chunksize``. gilfree's executors do both:

* ``chunksize=n`` (an int, 1 or more): ``n`` items per task, as ``ProcessPoolExecutor.map`` does.
* ``chunksize="auto"``: batches sized from measured task times, joblib's idea (its
  ``BatchedCalls`` and ``compute_batch_size``) adapted to ``Executor.map``'s contract that every
  item is submitted by the time ``map`` returns. Every batch times its items inside the worker
  and the executor remembers the figure per function (:class:`ItemTimes`, recent batches
  weighing most). The first ``map`` of a function on an executor sends one item per worker
  first, as a probe, and waits for the first answer (at most :data:`PROBE_WAIT_S`); later ones
  start from what the earlier batches measured. The items then go in batches that each hold at
  least :data:`MIN_BATCH_S` of work (the round trip is then a small part of it) and at most
  :data:`MAX_BATCH_S` (a long batch delays the first results and the balance between workers),
  shrinking towards the end as the remaining items are shared out (about
  :data:`CHUNKS_PER_WORKER` batches per worker of what remains, as ``Pool.map`` does for the
  whole input), so that the workers finish together. A probe that has not answered in time
  (long tasks, or a busy pool) leaves the sizes to that sharing alone.

Whatever the size, the caller sees what ``chunksize=1`` gives: the results in order, ``timeout``
bounding the whole wait from the call, the batches not started cancelled when the iterator is
left early, and a task's exception raised where that item's result was due, after the results of
the items before it in its batch (a batch stops at its first failing item and sends back what it
has, so nothing computed is lost; the standard library's chunks lose the whole chunk). What a
batch cannot save is a worker that dies under it: the batch is lost, and the error names its
items by their position in the input (:attr:`_Batch.label`).
"""

from __future__ import annotations

import itertools
import math
import pickle
import threading
import time
import traceback
import weakref
from concurrent.futures import FIRST_COMPLETED, Future, wait
from functools import partial
from typing import Any, Callable, Final, Iterable, Iterator, Literal, TypeVar, Union

from ._checks import as_index
from .errors import RemoteTraceback

__all__ = ["AUTO", "CHUNKS_PER_WORKER", "MAX_BATCH_S", "MIN_BATCH_S", "PROBE_WAIT_S", "Chunksize",
           "ItemTimes", "batch_sizes", "check_chunksize", "describe_call", "map_args", "map_in_batches", "run_map",
           "times_of"]

_T = TypeVar("_T")

AUTO: Final = "auto"
#: ``chunksize`` as the executors take it: an int of at least 1, or ``"auto"``.
Chunksize = Union[int, Literal["auto"]]
#: An automatic batch holds at least this much work (seconds, as measured) ...
MIN_BATCH_S = 0.005
#: ... and at most this much.
MAX_BATCH_S = 0.2
#: Within those bounds, each batch takes about 1 / (this x workers) of the items that remain.
CHUNKS_PER_WORKER = 4
#: How long ``map`` waits for the first probe before it sizes the batches without one.
PROBE_WAIT_S = 0.05

#: What a batch sends back: its results, the seconds they took, and the first failure, if any
#: (the exception and its traceback as text).
_Outcome = tuple[list[Any], float, Union[tuple[BaseException, str], None]]


def check_chunksize(chunksize: object) -> Chunksize:
    """``map``'s ``chunksize``: an int of at least 1 (``ValueError`` below), or ``"auto"``.

    Anything else is a ``TypeError``, as with the standard library (``None`` included: it means
    "choose for me" to ``multiprocessing.Pool.map``, but not to ``Executor.map``).
    """
    if chunksize == AUTO and isinstance(chunksize, str):
        return AUTO
    try:
        value = as_index(chunksize, "chunksize")
    except TypeError as exc:
        raise TypeError(f"{exc} (or 'auto': batches sized from measured task times)") from None
    if value < 1:
        raise ValueError(f"chunksize must be >= 1, got {value}")
    return value


def describe_call(fn: Callable[..., Any]) -> str:
    """How an error names a task: ``module.name()``, or a batch of ``map``'s items."""
    if isinstance(fn, _Batch):
        return fn.label
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    module = getattr(fn, "__module__", None)
    return f"{module}.{name}()" if module else f"{name}()"


class _Batch:
    """``fn`` over a batch of ``map``'s items, in a worker: one task, one round trip, a list back.

    Named after ``fn`` and the items it holds (by position in the input), so that the error of
    a batch whose worker died says which items were lost. It sends back an :data:`_Outcome`:
    the results, how long they took (the automatic mode's measurement), and the exception that
    stopped it, if one did (every item before it keeps its result).
    """

    __slots__ = ("fn", "first", "last", "star")

    def __init__(self, fn: Callable[..., Any], first: int, last: int, star: bool = True) -> None:
        self.fn = fn
        self.first = first
        self.last = last
        self.star = star  # items are argument tuples (fn(*item)), or single arguments (fn(item))

    def __call__(self, batch: list[Any]) -> _Outcome:
        fn = self.fn
        results: list[Any] = []
        started = time.perf_counter()
        try:
            if self.star:
                for args in batch:
                    results.append(fn(*args))
            else:
                for arg in batch:
                    results.append(fn(arg))
        except BaseException as exc:  # as a task's own failure: SystemExit and all, like the pools
            return results, time.perf_counter() - started, _sendable(exc, self.first + len(results))
        return results, time.perf_counter() - started, None

    @property
    def label(self) -> str:
        items = f"item {self.first}" if self.first == self.last else f"items {self.first} to {self.last}"
        return f"{describe_call(self.fn)} on map's {items}"


def _sendable(exc: BaseException, item: int) -> tuple[BaseException, str]:
    """A batch's failure as it can travel: the exception, or the error that keeps it from pickling.

    Checked here, on the error path only, so that the results before it still reach the caller
    (the pool would otherwise fail the whole batch on the one exception). The pickling error keeps
    its own type, with a note that names what could not be sent, as the pools do for one task.
    """
    text = traceback.format_exc()
    try:
        pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as error:
        note = (f"gilfree: the exception {type(exc).__name__}: {exc!r} raised by map's item {item} could "
                "not be pickled to send it back from the worker process; raise something that pickles")
        adder = getattr(error, "add_note", None)
        if callable(adder):
            adder(note)
        else:  # pragma: no cover - Python 3.10
            setattr(error, "__notes__", [*getattr(error, "__notes__", ()), note])
        return error, text
    return exc, text


def run_map(submit: Callable[..., Future[Any]], fn: Callable[..., _T], items: Iterable[Any], *, star: bool,
            timeout: float | None, chunksize: Chunksize, workers: int,
            times: ItemTimes | None = None) -> Iterator[_T]:
    """``Executor.map`` over ``items``: argument tuples (``star``: ``fn(*item)``, what ``starmap``
    takes) or single arguments (``fn(item)``, ``map`` over one iterable, which spares a tuple per
    item on both sides of the pipe).

    ``chunksize`` is already checked (:func:`check_chunksize`); ``workers`` is the executor's
    worker count, which the automatic mode shares the items between; ``times`` what it has
    measured before (:func:`times_of`). Every item is submitted before this returns, as
    ``Executor.map`` does.
    """
    end_time = None if timeout is None else timeout + time.monotonic()
    futures: list[tuple[Future[Any], bool]] = []  # (future, whether it runs a _Batch)
    try:
        if chunksize == 1:
            futures.extend((submit(fn, *item) if star else submit(fn, item), False) for item in items)
        elif chunksize == AUTO:
            _submit_auto(submit, fn, list(items), star, workers, end_time, futures, times)
        else:
            iterator, first = iter(items), 0
            while batch := list(itertools.islice(iterator, chunksize)):
                futures.append((submit(_Batch(fn, first, first + len(batch) - 1, star), batch), True))
                first += len(batch)
    except BaseException:
        for future, _ in futures:  # submitted before the failure: nobody will read them
            future.cancel()
        raise
    return _results(futures, end_time)


def map_args(iterables: tuple[Iterable[Any], ...]) -> tuple[Iterable[Any], bool]:
    """``map``'s iterables as :func:`run_map`'s items: the one iterable itself, or their zip (``star``)."""
    return (iterables[0], False) if len(iterables) == 1 else (zip(*iterables), True)


def map_in_batches(submit: Callable[..., Future[Any]], fn: Callable[..., _T],
                   iterables: tuple[Iterable[Any], ...], timeout: float | None,
                   chunksize: int) -> Iterator[_T]:
    """``Executor.map`` with ``chunksize`` items per task, as ``ProcessPoolExecutor.map`` does it."""
    items, star = map_args(iterables)
    return run_map(submit, fn, items, star=star, timeout=timeout, chunksize=chunksize, workers=1)


def _submit_auto(submit: Callable[..., Future[Any]], fn: Callable[..., Any], items: list[Any], star: bool,
                 workers: int, end_time: float | None, futures: list[tuple[Future[Any], bool]],
                 times: ItemTimes | None) -> None:
    """Size from what ``times`` knows of ``fn``, or probe with one item per worker first; then
    submit the rest in batches, each of which reports its own time back to ``times``."""
    if len(items) <= workers:  # one item each: nothing to batch
        futures.extend((submit(fn, *item) if star else submit(fn, item), False) for item in items)
        return
    per_item = times.per_item(fn) if times is not None else None
    first = 0
    if per_item is None:
        for i in range(workers):
            futures.append((_timed(submit(_Batch(fn, i, i, star), items[i:i + 1]), fn, times), True))
        wait_s = PROBE_WAIT_S if end_time is None else max(0.0, min(PROBE_WAIT_S, end_time - time.monotonic()))
        done, _ = wait([f for f, _ in futures], timeout=wait_s, return_when=FIRST_COMPLETED)
        per_item, first = _seconds_per_item(done), workers
    for size in batch_sizes(len(items) - first, workers, per_item):
        batch = _Batch(fn, first, first + size - 1, star)
        futures.append((_timed(submit(batch, items[first:first + size]), fn, times), True))
        first += size


def _timed(future: Future[Any], fn: Callable[..., Any], times: ItemTimes | None) -> Future[Any]:
    if times is not None:
        future.add_done_callback(partial(times.record_batch, fn))
    return future


class ItemTimes:
    """What an executor has measured of each function: seconds per item, recent batches first.

    Every batch of the automatic mode says how long its items took (in the worker); the next
    ``map`` of the same function on the same executor sizes its batches from that, with no
    probe. Each new batch halves the weight of what came before, and weighs by its item count,
    so a drift in the work per item shows within a call or two. At most :attr:`KEEP` functions
    are remembered (the oldest go first).
    """

    KEEP = 32

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[Any, tuple[float, float]] = {}  # fn -> (decayed seconds, decayed items)

    def per_item(self, fn: Callable[..., Any]) -> float | None:
        try:
            with self._lock:
                seconds, items = self._seen.get(fn, (0.0, 0.0))
        except TypeError:  # an unhashable callable: never remembered
            return None
        return seconds / items if items > 0 else None

    def record(self, fn: Callable[..., Any], seconds: float, items: int) -> None:
        try:
            with self._lock:
                old_seconds, old_items = self._seen.pop(fn, (0.0, 0.0))
                self._seen[fn] = (old_seconds / 2 + seconds, old_items / 2 + items)
                while len(self._seen) > self.KEEP:
                    del self._seen[next(iter(self._seen))]
        except TypeError:
            pass

    def record_batch(self, fn: Callable[..., Any], future: Future[Any]) -> None:
        """A batch's done-callback: record its items' time (a failed or cancelled one tells nothing)."""
        if future.cancelled() or future.exception() is not None:
            return
        results, seconds, failure = future.result()
        self.record(fn, seconds, len(results) + (failure is not None))


_TIMES: weakref.WeakKeyDictionary[Any, ItemTimes] = weakref.WeakKeyDictionary()
_TIMES_LOCK = threading.Lock()


def times_of(executor: Any) -> ItemTimes:
    """The :class:`ItemTimes` of ``executor`` (made on first use, gone with the executor)."""
    with _TIMES_LOCK:
        times = _TIMES.get(executor)
        if times is None:
            times = _TIMES[executor] = ItemTimes()
        return times


def _seconds_per_item(done: Iterable[Future[Any]]) -> float | None:
    """The slowest probe's seconds per item (an overestimate errs towards smaller batches)."""
    seen = []
    for future in done:
        if future.cancelled() or future.exception() is not None:
            continue
        results, seconds, failure = future.result()
        seen.append(seconds / max(1, len(results) + (failure is not None)))
    return max(seen) if seen else None


def batch_sizes(count: int, workers: int, per_item: float | None) -> list[int]:
    """The sizes of the batches that carry ``count`` items to ``workers`` workers, in order.

    Each takes about 1 / (:data:`CHUNKS_PER_WORKER` x ``workers``) of what remains (guided
    scheduling: large batches first, small ones at the end, so that the workers finish
    together); with a measured ``per_item`` (seconds), every batch holds between
    :data:`MIN_BATCH_S` and :data:`MAX_BATCH_S` of work, and none more than a worker's share of
    the whole, so that every worker gets some.
    """
    sizes: list[int] = []
    cap = math.ceil(count / workers) if count else 0
    lo, hi = 1, count
    if per_item is not None:
        lo = count if per_item <= 0 else math.ceil(MIN_BATCH_S / per_item)
        hi = max(lo, int(MAX_BATCH_S / per_item) if per_item > 0 else count)
    remaining = count
    while remaining:
        share = math.ceil(remaining / (CHUNKS_PER_WORKER * workers))
        size = max(1, min(max(share, lo), hi, cap, remaining))
        sizes.append(size)
        remaining -= size
    return sizes


def _result_or_cancel(future: Future[Any], end_time: float | None) -> Any:
    try:
        return future.result(None if end_time is None else end_time - time.monotonic())
    finally:
        future.cancel()


def _results(futures: list[tuple[Future[Any], bool]], end_time: float | None) -> Iterator[Any]:
    """The results in order; each future let go once read, the rest cancelled if the caller leaves."""
    try:
        futures.reverse()  # pop from the end
        while futures:
            future, batched = futures.pop()
            if not batched:
                yield _result_or_cancel(future, end_time)  # no local name keeps the result alive
                continue
            results, _, failure = _result_or_cancel(future, end_time)
            del future
            results.reverse()
            while results:
                yield results.pop()
            if failure is not None:
                error, text = failure
                del failure
                error.__cause__ = RemoteTraceback(text)
                raise error
    finally:
        for future, _ in futures:
            future.cancel()
