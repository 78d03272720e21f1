"""The capstone pipeline (gilfree.pipeline): chunked on any executor, it equals one pass."""

from __future__ import annotations

import numpy as np
import pytest

from gilfree import pipeline
from gilfree._stats import stats_bits
from gilfree.shm import SharedArray
from gilfree.strategies import open_executor
from gilfree.transports import on_shared


@pytest.mark.parametrize("threshold, n", [(-1.0, 3000), (0.5, 5000), (0.9, 1025), (2.0, 4100)])
@pytest.mark.parametrize("strategy", ["serial", "threads"])
def test_chunked_pipeline_equals_one_pass_at_the_edges(impl, strategy, threshold, n, no_leak):
    """Everything kept, nothing kept, sizes off the block grid: chunked equals one pass."""
    with SharedArray.create(n) as data, SharedArray.create(n) as out:
        want = pipeline.one_pass(impl, data, out, n, 5, 3, threshold, lambda stage: None)
        want_kept = out.array[:want.kept].copy()
        out.array[:] = -7.0
        with open_executor(strategy, 2) as executor:
            job = pipeline.PipelineJob(impl, executor, data, out, n, 3, 5, 3, threshold, lambda stage: None)
            got = pipeline.run_pipeline(job)
        assert got.kept == want.kept
        assert stats_bits(got.stats) == stats_bits(want.stats)
        assert out.array[:got.kept].tobytes() == want_kept.tobytes()
        assert (got.stats is None) == (got.kept == 0)
        assert set(got.seconds) == set(pipeline.STAGES)


def test_a_kernel_over_two_shared_arrays_filters_a_region_into_the_same_region(impl, no_leak):
    x = np.linspace(0.0, 1.0, 4000)
    with SharedArray.copy_of(x) as src, SharedArray.create(4000) as dst:
        count = on_shared(impl.filter_greater, (src.handle, dst.handle), 1000, 3000, 0.5)
        region = x[1000:3000]
        assert count == int((region > 0.5).sum())
        assert dst.array[1000:1000 + count].tobytes() == region[region > 0.5].tobytes()
        assert not dst.array[:1000].any() and not dst.array[1000 + count:].any()


def test_a_shared_task_refuses_what_is_not_a_handle(impl, no_leak):
    with SharedArray.create(10) as a:
        with pytest.raises(TypeError, match="SharedArrayHandle"):
            on_shared(impl.filter_greater, (a.handle, "psm_nothing"), 0, 10, 0.5)
        with pytest.raises(TypeError, match="SharedArrayHandle"):
            on_shared(impl.filter_greater, (a.array, a.handle), 0, 10, 0.5)


@pytest.mark.parametrize("change, error, fragment", [
    ({"kernels": "pure-python"}, TypeError, "kernels must be a gilfree Implementation"),
    ({"executor": None}, TypeError, "executor"),
    ({"data": None}, TypeError, "data must be a gilfree SharedArray, not NoneType"),
    ({"n": 0}, ValueError, "n must be >= 1"),
    ({"n": 11}, ValueError, "data holds 10 elements, fewer than n=11"),
    ({"parts": True}, TypeError, "parts must be an int, not bool"),
    ({"rounds": 2.0}, TypeError, "rounds must be an int, not float"),
    ({"threshold": float("nan")}, ValueError, "threshold"),
    ({"tick": "print"}, TypeError, "tick"),
])
def test_a_pipeline_job_refuses_bad_parts(impl, change, error, fragment, no_leak):
    with SharedArray.create(10) as data, SharedArray.create(10) as out, open_executor("serial") as executor:
        args = dict(kernels=impl, executor=executor, data=data, out=out, n=10, parts=2, seed=1, rounds=1,
                    threshold=0.5, tick=lambda stage: None)
        args.update(change)
        with pytest.raises(error, match=fragment):
            pipeline.PipelineJob(**args)
