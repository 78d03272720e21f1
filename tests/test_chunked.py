"""The chunked helpers (gilfree.chunked): split the work, run the chunks on any executor, merge."""

from __future__ import annotations

import math
import threading

import _tasks
import numpy as np
import pytest

from gilfree import aligned_chunk_size, merge_stats
from gilfree.chunked import (array_chunks, auto_parts, compact_runs, default_parts, parallel_reduce, run_chunks,
                              runs_in_process, split_range)
from gilfree.strategies import SerialExecutor, open_executor

#: Generous bound for "within seconds": a hang shows up as a failure, never a slow pass.
PROMPT_S = 20.0


@pytest.mark.parametrize("lo, hi, parts", [(0, 10, 3), (5, 5, 2), (-7, 3, 4), (0, 2, 5),
                                           (2**64, 2**64 + 9, 2)])
def test_split_range_covers_the_range_in_near_equal_pieces(lo, hi, parts):
    pieces = split_range(lo, hi, parts)
    assert len(pieces) == min(parts, hi - lo)
    assert [a for a, _ in pieces[1:]] == [b for _, b in pieces[:-1]]  # contiguous, in order
    if pieces:
        assert pieces[0][0] == lo and pieces[-1][1] == hi
        lengths = [b - a for a, b in pieces]
        assert min(lengths) >= 1 and max(lengths) - min(lengths) <= 1


@pytest.mark.parametrize("n, parts", [(1, 1), (10, 3), (5000, 7), (4096, 4), (3, 8)])
def test_array_chunks_cover_the_array_in_aligned_chunks(n, parts):
    chunks = array_chunks(n, parts)
    assert chunks[0][0] == 0 and chunks[-1][1] == n
    assert [a for a, _ in chunks[1:]] == [b for _, b in chunks[:-1]]
    sizes = [b - a for a, b in chunks]
    assert set(sizes[:-1]) <= {aligned_chunk_size(n, parts)} and 1 <= sizes[-1] <= sizes[0]


def test_default_parts_is_a_few_chunks_per_worker():
    assert default_parts(1) == 4
    assert default_parts(3) == 12
    assert default_parts(3, per_worker=1) == 3


@pytest.mark.parametrize("work_s, per_task_s, expected", [
    (0.2, 0.0012, 8),     # a process pool on a 200 ms call: the most, 4 per worker
    (0.2, 0.0079, 2),     # a distributed scheduler's 8 ms per task: one per worker
    (0.2, 0.004, 4),      # 100 ms per worker, 10 ms of it for tasks: two of 4 ms
    (0.001, 0.0012, 2),   # too little work for even one task's cost: still one per worker
    (0.2, 0.0, 8),        # a free task: the most
])
def test_auto_parts_keeps_the_per_task_cost_under_a_tenth_of_each_chunk(work_s, per_task_s, expected):
    assert auto_parts(2, work_s, per_task_s) == expected


def test_auto_parts_takes_its_bounds():
    assert auto_parts(3, 10.0, 0.001, most_per_worker=2) == 6
    assert auto_parts(1, 1.0, 0.01, overhead_share=0.5) == 4
    assert auto_parts(1, 1.0, 0.01, overhead_share=0.02) == 2


@pytest.mark.parametrize("args, error, match", [
    ((0, 1.0, 0.1), ValueError, "workers"),
    ((2, -1.0, 0.1), ValueError, "work_s must be a finite number"),
    ((2, 1.0, float("nan")), ValueError, "per_task_s must be a finite number"),
    ((2, "1", 0.1), TypeError, "work_s must be a number of seconds, not str"),
    ((2, 1.0, 0.1, 0), ValueError, "most_per_worker"),
    ((2, 1.0, 0.1, 4, 0.0), ValueError, r"overhead_share must be a fraction in \(0, 1\]"),
])
def test_auto_parts_refuses_what_is_not_a_time(args, error, match):
    with pytest.raises(error, match=match):
        auto_parts(*args)


@pytest.mark.parametrize("strategy", ["serial", "threads"])
def test_parallel_reduce_sums_the_chunks(strategy, impl):
    with open_executor(strategy, 2) as executor:
        total = parallel_reduce(executor, impl.sum_squares, split_range(0, 5000, 7), sum)
    assert total == impl.sum_squares(0, 5000)


def test_parallel_reduce_hands_combine_the_results_in_chunk_order(impl):
    x = np.random.default_rng(3).standard_normal(10_000)
    chunks = array_chunks(x.size, 5)
    with open_executor("threads", 2) as executor:
        ordered = parallel_reduce(executor, impl.chunk_stats, [(x[a:b],) for a, b in chunks], list)
        merged = parallel_reduce(executor, impl.chunk_stats, [(x[a:b],) for a, b in chunks], merge_stats)
    assert [s.count for s in ordered] == [b - a for a, b in chunks]
    assert merged == impl.chunk_stats(x)


def test_parallel_reduce_reports_each_chunk():
    seen = []
    with open_executor("threads", 2) as executor:
        parallel_reduce(executor, pow, [(2, i) for i in range(6)], sum,
                        on_result=lambda i, r: seen.append((i, r)))
    assert sorted(seen) == [(i, 2**i) for i in range(6)]


def test_parallel_reduce_refuses_no_work_and_a_bad_combine():
    with open_executor("serial") as executor:
        with pytest.raises(ValueError, match="at least one chunk"):
            parallel_reduce(executor, pow, [], sum)
        with pytest.raises(TypeError, match="combine must be callable"):
            parallel_reduce(executor, pow, [(2, 3)], "sum")


def test_parallel_reduce_raises_a_task_error():
    with open_executor("threads", 2) as executor:
        with pytest.raises(ValueError, match="math domain error"):
            parallel_reduce(executor, math.sqrt, [(4.0,), (-1.0,)], sum)


def test_runs_in_process_tells_views_from_handles():
    assert runs_in_process(SerialExecutor())
    with open_executor("threads", 1) as threads:
        assert runs_in_process(threads)
    with open_executor("processes", 1) as processes:
        assert not runs_in_process(processes)
    with open_executor("pool", 1) as pool:
        assert not runs_in_process(pool)
    with pytest.raises(TypeError, match="Executor"):
        runs_in_process(object())


def test_run_chunks_and_parallel_reduce_agree():
    with open_executor("threads", 2) as executor:
        argsets = [(3, e) for e in range(5)]
        assert parallel_reduce(executor, pow, argsets, sum) == sum(run_chunks(executor, pow, argsets))


def test_compact_runs_gathers_chunked_filter_output_like_one_filter(impl):
    x = np.random.default_rng(9).random(5000)
    whole = np.zeros_like(x)
    kept = impl.filter_greater(x, whole, 0.3)
    out = np.full_like(x, -1.0)
    chunks = split_range(0, x.size, 7)
    runs = [(a, impl.filter_greater(x[a:b], out[a:b], 0.3)) for a, b in chunks]
    assert compact_runs(out, runs) == kept
    assert out[:kept].tobytes() == whole[:kept].tobytes()


def test_compact_runs_handles_empty_and_unmoved_runs():
    a = np.arange(10.0)
    assert compact_runs(a, []) == 0
    assert compact_runs(a, [(0, 3), (3, 0), (5, 2)]) == 5
    assert a[:5].tolist() == [0.0, 1.0, 2.0, 5.0, 6.0]


@pytest.mark.parametrize("array, runs, error", [
    (np.arange(10.0), [(4, 2), (3, 1)], ValueError),  # out of order
    (np.arange(10.0), [(0, 5), (4, 1)], ValueError),  # overlapping
    (np.arange(10.0), [(8, 5)], ValueError),  # past the end
    (np.arange(10.0), [(0, -1)], ValueError),
    (np.arange(10.0), [(0.5, 1)], TypeError),
    (np.arange(10.0), [(True, 1)], TypeError),
    (np.zeros((2, 5)), [(0, 1)], TypeError),
    ([1.0, 2.0], [(0, 1)], TypeError),
])
def test_compact_runs_refuses_bad_runs(array, runs, error):
    with pytest.raises(error):
        compact_runs(array, runs)


class _Results(dict):
    """A caller's ``results`` dict that says when it holds ``n`` results (a handshake for the test,
    set from the executor's callbacks)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.full = n, threading.Event()

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        if len(self) >= self.n:
            self.full.set()


def test_run_chunks_results_hold_every_completed_chunk_after_a_failure():
    kept = _Results(7)
    with open_executor("failsafe", 2, start_method="spawn") as pool:
        argsets = [(_tasks.square, i) for i in range(7)]
        with pytest.raises(ValueError, match="chunk 7 fails"):
            run_chunks(pool, _call, [*argsets, (_tasks.fail, "chunk 7 fails")], results=kept)
        # cancelled or not, the chunks that finished are all in ``kept``, in their own slots
        assert all(kept[i] == i * i for i in kept)
        # the others still running arrive too, while the pool is open (the limit is for a hang)
        assert kept.full.wait(PROMPT_S), f"only {sorted(kept)} arrived"
    assert kept == {i: i * i for i in range(7)}


def _call(fn, *args):
    return fn(*args)
