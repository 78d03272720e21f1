"""How a chunk reaches a task: every transport gives the single call's bits, and says no clearly."""

from __future__ import annotations

import pickle
from contextlib import ExitStack

import numpy as np
import pytest
from _posix import methods

from gilfree._stats import merge_stats, stats_bits
from gilfree.chunked import array_chunks
from gilfree.shm import SharedArray
from gilfree.strategies import open_executor
from gilfree.transports import (TRANSPORTS, Copies, MmapFile, SharedMemory, Transport, Views, WholeArray,
                                _ATTACHMENTS, attached, default_transport, run_on_chunks, transport_named)

N = 5000
ROUNDS = 3


@pytest.fixture(scope="module")
def pools():
    with open_executor("threads", 2) as threads, open_executor("processes", 2) as processes:
        yield {"threads": threads, "processes": processes}


def _data(seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).random(N)


def _source(kind: str, x: np.ndarray, tmp_path, stack) -> tuple[object, Transport]:
    if kind == "mmap":
        path = tmp_path / "data.f64"
        x.tofile(path)
        return x, MmapFile(str(path))
    if kind == "shared-memory":
        return stack.enter_context(SharedArray.copy_of(x)), TRANSPORTS[kind]
    return x, TRANSPORTS[kind]


ROUTES = [("views", "threads"), ("copies", "processes"), ("whole-array", "processes"),
          ("shared-memory", "processes"), ("shared-memory", "threads"), ("mmap", "processes")]


@pytest.mark.parametrize("kind, where", ROUTES)
def test_every_transport_reads_the_same_bits_as_one_call(impl, pools, kind, where, tmp_path, no_shm_leak):
    x = _data()
    with ExitStack() as stack:
        source, transport = _source(kind, x.copy(), tmp_path, stack)
        chunks = array_chunks(N, 4)
        parts = run_on_chunks(pools[where], impl.chunk_stats, [source], chunks, transport=transport)
        assert stats_bits(merge_stats(parts)) == stats_bits(impl.chunk_stats(x))


@pytest.mark.parametrize("kind, where", ROUTES)
def test_every_transport_brings_in_place_changes_home(impl, pools, kind, where, tmp_path, no_shm_leak):
    x = _data(4)
    want = x.copy()
    impl.transform_inplace(want, ROUNDS)
    with ExitStack() as stack:
        source, transport = _source(kind, x.copy(), tmp_path, stack)
        run_on_chunks(pools[where], impl.transform_inplace, [source], array_chunks(N, 3),
                      extra=lambda a, b: (ROUNDS,), writes=True, transport=transport)
        if kind == "mmap":
            got = np.fromfile(transport.path, dtype=np.float64)
        else:
            got = source.array if isinstance(source, SharedArray) else source
        assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("where", ["threads", "processes"])
def test_a_kernel_over_two_arrays_gets_the_same_range_of_each(impl, pools, where, no_shm_leak):
    x = _data(5)
    with SharedArray.copy_of(x) as src, SharedArray.create(N) as dst:
        chunks = array_chunks(N, 4)
        counts = run_on_chunks(pools[where], impl.filter_greater, [src, dst], chunks,
                               extra=lambda a, b: (0.5,))
        for (a, b), count in zip(chunks, counts):
            assert dst.array[a:a + count].tobytes() == x[a:b][x[a:b] > 0.5].tobytes()


def test_per_chunk_arguments_come_after_the_chunks(impl, pools, no_shm_leak):
    with SharedArray.create(N) as shared:
        run_on_chunks(pools["processes"], impl.fill_uniform, [shared], array_chunks(N, 4),
                      extra=lambda a, b: (7, a))
        whole = np.empty(N)
        impl.fill_uniform(whole, 7, 0)
        assert shared.array.tobytes() == whole.tobytes()


def test_the_executor_chooses_the_transport_when_the_caller_does_not(pools):
    assert isinstance(default_transport(pools["threads"]), Views)
    assert isinstance(default_transport(pools["processes"]), SharedMemory)
    assert isinstance(default_transport(pools["processes"], shared=False), Copies)
    pytest.importorskip("joblib")
    with open_executor("joblib-loky", 1) as loky:
        assert isinstance(default_transport(loky, shared=False), WholeArray)


def test_kernels_travel_by_reference_in_a_few_bytes(impl):
    assert len(pickle.dumps(impl.chunk_stats)) < 100
    assert pickle.loads(pickle.dumps(impl.chunk_stats)) is impl.chunk_stats


def test_transports_refuse_what_they_cannot_carry(pools, tmp_path, no_shm_leak):
    from gilfree._arrays_py import chunk_stats, filter_greater

    x = _data()
    chunks = array_chunks(N, 2)
    with pytest.raises(ValueError, match="views of this process's memory.*use shared memory"):
        run_on_chunks(pools["processes"], chunk_stats, [x], chunks, transport=TRANSPORTS["views"])
    with pytest.raises(ValueError, match="sends one array per task, not 2"):
        run_on_chunks(pools["processes"], filter_greater, [x, x.copy()], chunks, transport=Copies())
    with pytest.raises(TypeError, match="needs gilfree SharedArrays.*SharedArray.create"):
        run_on_chunks(pools["processes"], chunk_stats, [x], chunks, transport=SharedMemory())
    with pytest.raises(TypeError, match="non-empty sequence of arrays, e.g. \\[shared\\]"):
        run_on_chunks(pools["threads"], chunk_stats, x, chunks)
    with pytest.raises(TypeError, match="kernel must be callable, not str"):
        run_on_chunks(pools["threads"], "chunk_stats", [x], chunks)
    with pytest.raises(TypeError, match="transport must be a gilfree.transports.Transport, not str"):
        run_on_chunks(pools["threads"], chunk_stats, [x], chunks, transport="views")
    with pytest.raises(TypeError, match="numpy arrays or gilfree SharedArrays, not list"):
        run_on_chunks(pools["threads"], chunk_stats, [[1.0, 2.0]], [(0, 2)])
    with pytest.raises(ValueError, match="unknown transport 'pigeon'; choose one of views, copies"):
        transport_named("pigeon")
    with pytest.raises(TypeError, match="transport must be a str"):
        transport_named(3)


# -- attachments kept by worker processes between tasks -------------------------------------------

def _data_address(handle, start, stop):
    with attached(handle) as shared:
        return shared.array.ctypes.data, float(shared.array.reshape(-1)[start:stop].sum())


@pytest.mark.parametrize("method", methods("fork", "spawn"))
def test_a_worker_keeps_its_attachment_but_never_serves_a_stale_one(method, no_shm_leak):
    with open_executor("failsafe", 1, start_method=method) as pool:
        with SharedArray.copy_of(np.arange(1000.0)) as first:
            a1, s1 = pool.submit(_data_address, first.handle, 0, 10).result(timeout=60)
            a2, s2 = pool.submit(_data_address, first.handle, 10, 20).result(timeout=60)
            assert a1 == a2  # mapped once, used twice
            assert (s1, s2) == (45.0, 145.0)
            stale = first.handle
        # the owner has unlinked it: the worker must not answer from its kept mapping
        with pytest.raises(FileNotFoundError):
            pool.submit(_data_address, stale, 0, 10).result(timeout=60)
        with SharedArray.copy_of(np.full(1000, 2.0)) as second:
            assert pool.submit(_data_address, second.handle, 0, 10).result(timeout=60)[1] == 20.0


def test_the_main_process_keeps_no_attachment(no_shm_leak):
    with SharedArray.copy_of(np.arange(10.0)) as shared:
        with attached(shared.handle) as mine:
            assert float(mine.array.sum()) == 45.0
        assert mine.closed
    assert not _ATTACHMENTS._kept
