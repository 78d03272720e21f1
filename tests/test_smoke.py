"""Fast end-to-end checks of the foundation: both twins, exact results, the selector."""

import struct

import numpy as np
import pytest

import gilfree
from gilfree._select import C_EXTENSION, load

#: Run against every built wheel, on every OS (see the marker in pyproject.toml).
pytestmark = pytest.mark.portable


def test_cpu_bound_is_exact_past_int64(impl):
    n = 3_100_000 if impl.name == C_EXTENSION else 300_000
    expected = (n - 1) * n * (2 * n - 1) // 6
    assert impl.cpu_bound(n) == expected
    if impl.name == C_EXTENSION:
        assert expected > 2**63 - 1


def test_chunked_statistics_merge_to_the_single_pass(impl):
    x = np.random.default_rng(5).standard_normal(5000)
    whole = impl.chunk_stats(x)
    size = gilfree.aligned_chunk_size(x.size, 3)
    parts = [impl.chunk_stats(x[i:i + size]) for i in range(0, x.size, size)]
    merged = gilfree.merge_stats(parts)
    assert [struct.pack("d", float(v)) for v in merged] == [struct.pack("d", float(v)) for v in whole]
    assert whole.min == x.min() and whole.max == x.max() and whole.count == x.size
    assert whole.sum == pytest.approx(x.sum(), rel=1e-12)
    assert whole.variance == pytest.approx(x.var(), rel=1e-12)


def test_public_names_are_the_selected_implementation():
    chosen = gilfree.IMPLEMENTATION
    assert gilfree.sum_squares is load("cpu", chosen).sum_squares
    assert gilfree.chunk_stats is load("arrays", chosen).chunk_stats
    assert gilfree.checksum is load("bytebuf", chosen).checksum
