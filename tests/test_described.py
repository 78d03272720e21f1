"""Data by description, without Dask: recipes make exactly their slice, the description transport
runs on any executor, and statistics of runs held apart (gilfree._spread) merge bit for bit."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gilfree._spread import merge_pieces, pieces_of
from gilfree._stats import BLOCK, merge_stats, stats_bits
from gilfree.bytebuf import checksum
from gilfree.chunked import array_chunks
from gilfree.pipeline import PipelineJob, one_pass, run_described
from gilfree.shm import SharedArray
from gilfree.strategies import open_executor
from gilfree.transports import FileChunks, NumpyRandom, Uniform, run_on_chunks


@pytest.mark.portable
@settings(max_examples=60, deadline=None)
@given(total=st.integers(0, 6 * BLOCK + 7), cuts=st.lists(st.integers(0, 6 * BLOCK + 7), max_size=8),
       seed=st.integers(0, 2**32))
def test_runs_held_apart_merge_to_the_one_call(impl, total, cuts, seed):
    x = np.random.default_rng(seed).random(total)
    bounds = [0, *sorted(c for c in cuts if c <= total), total]
    pieces = [pieces_of(impl.chunk_stats, x[a:b], a) for a, b in zip(bounds, bounds[1:])]
    want = impl.chunk_stats(x) if total else None
    assert stats_bits(merge_pieces(impl.chunk_stats, pieces, total)) == stats_bits(want)


@pytest.mark.portable
def test_pieces_must_tile_the_buffer(impl):
    x = np.arange(3000, dtype=np.float64)
    with pytest.raises(ValueError, match="do not tile"):
        merge_pieces(impl.chunk_stats, [pieces_of(impl.chunk_stats, x[:1000], 0),
                                        pieces_of(impl.chunk_stats, x[1500:], 1500)], 3000)


@pytest.mark.portable
def test_recipes_make_exactly_their_slice(impl, tmp_path):
    whole = np.empty(30_000)
    impl.fill_uniform(whole, 9, 0)
    assert Uniform(impl.fill_uniform, 9, 30_000).make(7_001, 20_000).tobytes() == whole[7_001:20_000].tobytes()
    path = tmp_path / "data.f64"
    whole.tofile(path)
    assert FileChunks(str(path), 30_000).make(123, 4_567).tobytes() == whole[123:4_567].tobytes()
    assert NumpyRandom(9, 30_000).make(5, 900).tobytes() == np.random.default_rng(9).random(30_000)[5:900].tobytes()
    assert pickle.loads(pickle.dumps(impl)) is pickle.loads(pickle.dumps(impl)), "kernels travel by name"


@pytest.mark.parametrize("strategy", ["serial", "threads", "processes"])
def test_the_description_transport_runs_on_any_executor(impl, strategy):
    n = 40_000
    with open_executor(strategy, 2) as ex:
        got = merge_stats(run_on_chunks(ex, impl.chunk_stats, [NumpyRandom(4, n)], array_chunks(n, 6)))
        with pytest.raises(ValueError, match="cannot come back"):
            run_on_chunks(ex, impl.transform_inplace, [NumpyRandom(4, n)], array_chunks(n, 6), writes=True)
    assert stats_bits(got) == stats_bits(impl.chunk_stats(np.random.default_rng(4).random(n)))


@pytest.mark.parametrize("strategy", ["threads", "processes"])
def test_the_pipeline_by_description_without_a_cluster(impl, strategy, no_shm_leak):
    n = 30_000 if impl.name == "c-extension" else 6_000
    with SharedArray.create(n) as data, SharedArray.create(n) as out, open_executor(strategy, 2) as ex:
        ref = one_pass(impl, data, out, n, 5, 2, 0.5, lambda stage: None)
        digest = checksum(out.array[:ref.kept])
        got = run_described(PipelineJob(impl, ex, data, out, n, 6, 5, 2, 0.5, lambda stage: None))
    # processes cannot be asked for the worker that kept a run: some runs are made again, same bits
    assert (got.kept, stats_bits(got.stats), got.checksum) == (ref.kept, stats_bits(ref.stats), digest)
