"""``map`` and ``starmap`` in batches (gilfree._batching): what the caller sees is ``chunksize=1``'s.

Fixed and automatic batch sizes on ``FailSafePool`` and ``PoolExecutor``: every result in order,
an error where its item was due (after the results before it in its batch), ``timeout`` over the
whole wait, the batches not started cancelled when the iterator is left, a dead worker costing
its batch and naming its items, ``chunksize`` checked. The automatic sizes are checked as a pure
function (``batch_sizes``) and by counting submissions, never by timing anything.
"""

from __future__ import annotations

import gc
import math
import multiprocessing
import os
import re
import signal
import threading
import weakref
from concurrent.futures import CancelledError, Executor, Future, TimeoutError
from typing import Any, Callable

import _tasks
import pytest
from _posix import ctx

from gilfree import _batching
from gilfree._batching import (AUTO, CHUNKS_PER_WORKER, MAX_BATCH_S, MIN_BATCH_S, batch_sizes, check_chunksize,
                               run_map)
from gilfree.errors import RemoteTraceback, WorkerDied
from gilfree.mp_pool import PoolExecutor
from gilfree.pool import FailSafePool
from gilfree.serial import SerialExecutor

#: Generous bound for "within seconds": a hang shows up as a failure, never a slow pass.
PROMPT_S = 30.0
EXECUTORS: dict[str, Callable[..., Any]] = {"failsafe": FailSafePool, "pool": PoolExecutor}


@pytest.fixture(params=sorted(EXECUTORS))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def fork() -> Any:
    return ctx("fork")  # skips where there is no fork


class Counted:
    """An executor's ``submit``, counted: how many tasks ``map`` sent, and their futures."""

    def __init__(self, executor: Any) -> None:
        self.submit = executor.submit
        self.futures: list[Future[Any]] = []
        executor.submit = self

    def __call__(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = self.submit(fn, *args, **kwargs)
        self.futures.append(future)
        return future


# -- what the workers run (module level, so that every start method can import them) -------------

def square_or_fail(x: int, bad: int) -> int:
    if x == bad:
        raise ValueError(f"no square for {x}")
    return x * x


def square_unless(x: int, fatal: int) -> int:
    if x == fatal:
        import faulthandler

        faulthandler.disable()  # a forked worker inherits pytest's: keep its crash report quiet
        os.kill(os.getpid(), signal.SIGKILL)
    return x * x


def sleep_unless_zero(seconds: float) -> float:
    if seconds:
        _tasks.sleep_then(seconds)
    return seconds


def unpicklable_at(x: int, bad: int) -> int:
    if x == bad:
        raise _tasks.Unpicklable()
    return x * x


class Token:
    """A result whose life the caller can watch (a weak reference)."""

    def __init__(self, n: int) -> None:
        self.n = n


def make_token(n: int) -> Token:
    return Token(n)


# -- chunksize ------------------------------------------------------------------------------------

@pytest.mark.parametrize("chunksize, error, message", [
    (0, ValueError, "chunksize must be >= 1, got 0"),
    (-3, ValueError, "chunksize must be >= 1, got -3"),
    (True, TypeError, "chunksize must be an int, not bool"),
    (2.0, TypeError, "chunksize must be an int, not float"),
    ("AUTO", TypeError, "chunksize must be an int, not str .or 'auto'"),
    (None, TypeError, "chunksize must be an int, not NoneType"),
])
def test_chunksize_is_an_int_of_at_least_1_or_auto(chunksize: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        check_chunksize(chunksize)
    assert check_chunksize("auto") == AUTO and check_chunksize(7) == 7


@pytest.mark.parametrize("call", ["map", "starmap"])
def test_a_bad_chunksize_is_refused_before_anything_is_submitted(kind: str, call: str) -> None:
    with EXECUTORS[kind](2, fork()) as executor:
        counted = Counted(executor)
        args = (range(3),) if call == "map" else ([(1,), (2,)],)
        with pytest.raises(ValueError, match="chunksize must be >= 1, got 0"):
            getattr(executor, call)(_tasks.square, *args, chunksize=0)
        assert counted.futures == []


# -- the automatic sizes, as a pure function ------------------------------------------------------

@pytest.mark.parametrize("count", [1, 2, 7, 100, 10_000, 1_000_003])
@pytest.mark.parametrize("workers", [1, 2, 5])
@pytest.mark.parametrize("per_item", [None, 0.0, 1e-7, 1e-4, 0.01, 5.0])
def test_the_batches_carry_every_item_once_in_sizes_within_their_bounds(count: int, workers: int,
                                                                         per_item: float | None) -> None:
    sizes = batch_sizes(count, workers, per_item)
    assert sum(sizes) == count and all(size >= 1 for size in sizes)
    assert max(sizes) <= -(-count // workers), "no batch holds more than a worker's share of the whole"
    if per_item:
        # Every batch but the last of each size's run holds at least MIN_BATCH_S of work (or all
        # that remains) and at most MAX_BATCH_S (unless one item is more than that).
        lo = min(-(-count // workers), max(1, math.ceil(MIN_BATCH_S / per_item)))
        assert all(size >= lo for size in sizes[:-1])
        assert all(size <= max(1, int(MAX_BATCH_S / per_item), lo) for size in sizes)


def test_without_a_measurement_the_batches_shrink_towards_the_end_as_pool_map_would_start() -> None:
    sizes = batch_sizes(10_000, 2, None)
    assert sizes[0] == 10_000 // (CHUNKS_PER_WORKER * 2)  # multiprocessing.Pool.map's chunk, then less
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] == 1


def test_tiny_items_go_in_few_large_batches_and_long_ones_nearly_one_by_one() -> None:
    tiny = batch_sizes(20_000, 2, 1e-6)  # 20 ms of work in all
    assert len(tiny) <= math.ceil(20_000 * 1e-6 / MIN_BATCH_S) and min(tiny) >= MIN_BATCH_S / 1e-6
    long_ones = batch_sizes(100, 2, 0.1)  # 0.2 s per batch at most: 2 items
    assert max(long_ones) == 2 and len(long_ones) >= 50


# -- run_map on an in-process executor: the sizes are measured, and deterministic ------------------

def test_auto_submits_a_probe_per_worker_then_batches_sized_from_it(monkeypatch: pytest.MonkeyPatch) -> None:
    executor = SerialExecutor()
    counted = Counted(executor)
    seen: list[float | None] = []
    real = _batching.batch_sizes

    def spy(count: int, workers: int, per_item: float | None) -> list[int]:
        seen.append(per_item)
        return real(count, workers, per_item)

    monkeypatch.setattr(_batching, "batch_sizes", spy)
    got = list(run_map(counted, _tasks.add, ((i, i) for i in range(5000)), star=True, timeout=None,
                       chunksize=AUTO, workers=3))
    assert got == [2 * i for i in range(5000)]
    assert len(seen) == 1 and seen[0] is not None and seen[0] >= 0, "the probe was measured"
    assert 3 < len(counted.futures) < 5000 // 10, "three probes, then batches"


def test_as_many_items_as_workers_or_fewer_go_one_per_task() -> None:
    executor = SerialExecutor()
    counted = Counted(executor)
    assert list(run_map(counted, _tasks.square, [1, 2], star=False, timeout=None, chunksize=AUTO,
                        workers=2)) == [1, 4]
    assert list(run_map(counted, _tasks.square, [], star=False, timeout=None, chunksize=AUTO, workers=2)) == []
    assert len(counted.futures) == 2


def test_a_submit_that_fails_half_way_cancels_what_it_had_submitted() -> None:
    pending: list[Future[Any]] = []

    def submit(fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        if len(pending) == 2:
            raise RuntimeError("cannot submit after shutdown")
        pending.append(Future())
        return pending[-1]

    with pytest.raises(RuntimeError, match="after shutdown"):
        run_map(submit, _tasks.square, range(10), star=False, timeout=None, chunksize=3, workers=2)
    assert len(pending) == 2 and all(f.cancelled() for f in pending)


# -- on the pools ---------------------------------------------------------------------------------

@pytest.mark.parametrize("chunksize", [1, 3, 64, "auto"])
def test_map_and_starmap_return_every_result_in_order(kind: str, chunksize: Any) -> None:
    with EXECUTORS[kind](2, fork()) as executor:
        assert list(executor.map(_tasks.square, range(500), timeout=PROMPT_S, chunksize=chunksize)) == \
            [i * i for i in range(500)]
        assert list(executor.map(_tasks.add, range(300), range(300, 600), timeout=PROMPT_S,
                                 chunksize=chunksize)) == [i + i + 300 for i in range(300)]
        pairs = ([i, 2 * i] for i in range(300))  # any iterable of argument iterables, lazily
        assert list(executor.starmap(_tasks.add, pairs, timeout=PROMPT_S, chunksize=chunksize)) == \
            [3 * i for i in range(300)]


def test_auto_is_the_default_and_sends_far_fewer_tasks_than_items(kind: str) -> None:
    with EXECUTORS[kind](2, fork()) as executor:
        counted = Counted(executor)
        assert list(executor.map(_tasks.square, range(4000), timeout=PROMPT_S)) == [i * i for i in range(4000)]
        # Two probes, then batches: whether or not the probes answered in time, far fewer than items.
        assert 2 < len(counted.futures) <= 4000 // 20


def test_with_a_task_timeout_auto_sends_one_item_per_task() -> None:
    with FailSafePool(2, fork(), task_timeout=PROMPT_S) as pool:
        counted = Counted(pool)
        assert list(pool.map(_tasks.square, range(50), timeout=PROMPT_S)) == [i * i for i in range(50)]
        assert len(counted.futures) == 50


@pytest.mark.parametrize("chunksize", [4, "auto"])
def test_an_error_comes_where_its_item_was_due_after_the_results_before_it(kind: str, chunksize: Any) -> None:
    with EXECUTORS[kind](2, fork()) as executor:
        results = executor.map(square_or_fail, range(200), [150] * 200, timeout=PROMPT_S, chunksize=chunksize)
        assert [next(results) for _ in range(150)] == [i * i for i in range(150)]
        with pytest.raises(ValueError, match="no square for 150") as info:
            next(results)
        assert isinstance(info.value.__cause__, RemoteTraceback)
        assert "square_or_fail" in info.value.__cause__.text, "the worker's traceback"
        with pytest.raises(StopIteration):
            next(results)


def test_an_exception_that_cannot_travel_becomes_its_pickling_error_after_the_results_before_it(kind: str) -> None:
    with EXECUTORS[kind](2, fork()) as executor:
        results = executor.map(unpicklable_at, range(40), [30] * 40, timeout=PROMPT_S, chunksize=20)
        assert [next(results) for _ in range(30)] == [i * i for i in range(30)]
        with pytest.raises(TypeError, match="pickle") as info:
            next(results)
        notes = " ".join(getattr(info.value, "__notes__", []))
        assert "the exception Unpicklable" in notes and "map's item 30" in notes


def test_the_timeout_bounds_the_whole_wait_from_the_call(kind: str) -> None:
    executor = EXECUTORS[kind](2, fork())
    try:
        got = []
        with pytest.raises(TimeoutError):
            for value in executor.map(sleep_unless_zero, [0, 0, 0, 3600], timeout=2.0):
                got.append(value)
        assert got == [0, 0, 0]
    finally:
        executor.terminate()  # the hour-long item goes with its worker


def test_leaving_the_iterator_early_cancels_the_batches_not_started() -> None:
    with FailSafePool(2, fork()) as pool:
        counted = Counted(pool)
        results = pool.map(_tasks.sleep_then, [0.2] * 20, timeout=PROMPT_S, chunksize=2)
        assert next(results) is None
        results.close()
        # Ten batches on two workers, each worker one batch at a time: when the first result
        # came, at most four batches had started.
        assert sum(f.cancelled() for f in counted.futures) >= 6
        for future in counted.futures:
            if not future.cancelled():
                future.result(timeout=PROMPT_S)
        with pytest.raises(CancelledError):
            counted.futures[-1].result(timeout=0)


def test_a_dead_worker_costs_its_batch_and_the_error_names_its_items() -> None:
    with FailSafePool(2, fork()) as pool:
        results = pool.map(square_unless, range(3000), [2000] * 3000, timeout=PROMPT_S)  # auto
        got = []
        with pytest.raises(WorkerDied) as info:
            for value in results:
                got.append(value)
        found = re.search(r"square_unless\(\) on map's items (\d+) to (\d+)", str(info.value))
        assert found, str(info.value)
        first, last = int(found[1]), int(found[2])
        assert first <= 2000 <= last and last - first + 1 < 3000
        assert got == [i * i for i in range(first)], "every result before the lost batch arrived"
        # The pool goes on with a replacement worker (the stdlib's would now be broken).
        assert list(pool.map(_tasks.square, range(100), timeout=PROMPT_S)) == [i * i for i in range(100)]


def test_the_results_handed_out_are_not_kept(kind: str) -> None:
    """As the stdlib's ``test_free_reference``: the iterator keeps no result it has handed out."""
    with EXECUTORS[kind](2, fork()) as executor:
        for token in executor.map(make_token, range(40), timeout=PROMPT_S):
            ref = weakref.ref(token)
            del token
            gc.collect()
            assert ref() is None


def test_auto_works_from_a_fresh_interpreter_too() -> None:
    """spawn: the batch and its function are pickled by reference, the probe measured in the worker."""
    with FailSafePool(2, multiprocessing.get_context("spawn")) as pool:
        assert list(pool.starmap(_tasks.add, [(i, 1) for i in range(300)], timeout=PROMPT_S)) == \
            [i + 1 for i in range(300)]


def test_map_does_not_wait_for_a_busy_pool_longer_than_the_probe_allows() -> None:
    """Both workers busy for an hour with earlier tasks: ``map`` still returns, its probes queued."""
    pool = FailSafePool(2, fork())
    try:
        blockers = [pool.submit(_tasks.sleep_then, 3600) for _ in range(2)]
        returned: list[Any] = []
        caller = threading.Thread(target=lambda: returned.append(pool.map(_tasks.square, range(100))))
        caller.start()
        caller.join(PROMPT_S)
        assert returned, "map waited for the busy pool"
        assert not any(b.done() for b in blockers)
    finally:
        pool.terminate()


def test_every_executor_here_offers_starmap_with_the_same_signature() -> None:
    import inspect

    for executor_type in (FailSafePool, PoolExecutor):
        params = inspect.signature(executor_type.starmap).parameters
        assert list(params) == ["self", "fn", "iterable", "timeout", "chunksize"]
        assert params["chunksize"].default == AUTO
        assert inspect.signature(executor_type.map).parameters["chunksize"].default == AUTO
    assert issubclass(FailSafePool, Executor)


# -- what a pool remembers between calls ----------------------------------------------------------

def test_a_second_map_of_the_same_function_needs_no_probe() -> None:
    executor = SerialExecutor()
    counted = Counted(executor)
    times = _batching.ItemTimes()
    first = list(run_map(counted, _tasks.square, range(3000), star=False, timeout=None, chunksize=AUTO,
                         workers=2, times=times))
    probes = len(counted.futures)
    assert first == [i * i for i in range(3000)] and times.per_item(_tasks.square) is not None
    counted.futures.clear()
    second = list(run_map(counted, _tasks.square, range(3000), star=False, timeout=None, chunksize=AUTO,
                          workers=2, times=times))
    assert second == first and probes > len(counted.futures) >= 1
    assert times.per_item(_tasks.add) is None, "remembered per function"


def test_the_times_weigh_recent_batches_most_and_forget_the_oldest_functions() -> None:
    times = _batching.ItemTimes()
    times.record(_tasks.square, 1.0, 1)  # a cold first call: 1 s per item
    times.record(_tasks.square, 0.001, 1000)  # then 1 us per item, a thousand items at a time
    assert times.per_item(_tasks.square) < 1e-3, "the cold item's weight halves with every batch"
    for _ in range(20):
        times.record(_tasks.square, 0.001, 1000)
    assert times.per_item(_tasks.square) == pytest.approx(1e-6, rel=0.01)
    functions = [lambda: None for _ in range(times.KEEP + 5)]
    for fn in functions:
        times.record(fn, 1.0, 1)
    assert times.per_item(functions[0]) is None and times.per_item(functions[-1]) == 1.0
    assert times.per_item(_tasks.square) is None, "the oldest went first"


def test_each_pool_keeps_its_own_times_and_they_go_with_it(kind: str) -> None:
    with EXECUTORS[kind](2, fork()) as executor:
        list(executor.map(_tasks.square, range(500), timeout=PROMPT_S))
        assert _batching.times_of(executor).per_item(_tasks.square) is not None
    serial = SerialExecutor()
    assert _batching.times_of(serial).per_item(_tasks.square) is None
    ref = weakref.ref(_batching.times_of(serial))
    del serial  # the times hold no reference to their executor
    gc.collect()
    assert ref() is None
