"""float64 buffers that do not start on an 8-byte boundary work like any other, in both twins.

numpy.frombuffer at an odd offset, or a slice of an mmap or of SharedMemory.buf cast to 'd', hands
a kernel doubles at any byte address. The pure twins read them through a memoryview; the compiled
kernels once dereferenced them as ``double *``, which is undefined behaviour in C (UBSan stopped
the sanitizer pass, ``.ci/sanitize``, on every one of these tests). They now load and store
through ``ext/_unaligned.h``. On a normal build these tests hold the results equal to those on an
aligned copy; under the sanitizers they also prove that no misaligned access is left.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

#: Run against every built wheel, on every OS (see the marker in pyproject.toml).
pytestmark = pytest.mark.portable

#: Not a whole number of 1024-element blocks, nor of 8-element lanes: every tail loop runs.
N = 2 * 1024 + 13
OFFSETS = [1, 3, 4, 7]


def misaligned(values: np.ndarray, offset: int) -> np.ndarray:
    """A writable float64 array holding ``values``, starting ``offset`` bytes past an 8-byte boundary."""
    raw = np.zeros(values.size * 8 + 16, dtype=np.uint8)
    start = (-raw.ctypes.data) % 8 + offset
    x = raw[start : start + values.size * 8].view(np.float64)
    assert x.ctypes.data % 8 == offset and not x.flags.aligned
    x[:] = values
    return x


def sample(nan_at: int | None = None) -> np.ndarray:
    x = np.random.default_rng(3).random(N)
    x[[0, 5]] = [-0.0, 1e-310]
    if nan_at is not None:
        x[nan_at] = math.nan
    return x


def stats_bits(stats) -> tuple:
    return tuple(v.hex() if isinstance(v, float) else v for v in stats)


@pytest.mark.parametrize("offset", OFFSETS)
@pytest.mark.parametrize("nan_at", [None, 3, N - 2])
def test_chunk_stats(impl, offset, nan_at):
    values = sample(nan_at)
    x = misaligned(values, offset)
    assert stats_bits(impl.chunk_stats(x)) == stats_bits(impl.chunk_stats(values))
    assert stats_bits(impl.chunk_stats(x[1025:])) == stats_bits(impl.chunk_stats(values[1025:]))


@pytest.mark.parametrize("offset", OFFSETS)
def test_transform_inplace(impl, offset):
    values = sample()
    x = misaligned(values, offset)
    impl.transform_inplace(x, 3)
    impl.transform_inplace(values, 3)
    assert x.tobytes() == values.tobytes()


@pytest.mark.parametrize("offset", OFFSETS)
def test_fill_uniform(impl, offset):
    expected = np.empty(N)
    impl.fill_uniform(expected, 11, 5)
    x = misaligned(np.zeros(N), offset)
    impl.fill_uniform(x, 11, 5)
    assert x.tobytes() == expected.tobytes()


@pytest.mark.parametrize("offset", OFFSETS)
def test_filter_greater(impl, offset):
    values = sample()
    expected = np.full(N, -1.0)
    k = impl.filter_greater(values, expected, 0.5)
    out = misaligned(np.full(N, -1.0), offset)
    assert impl.filter_greater(misaligned(values, 8 - offset), out, 0.5) == k
    assert out.tobytes() == expected.tobytes()
    # In place, compacting the misaligned buffer itself.
    x = misaligned(values, offset)
    assert impl.filter_greater(x, x, 0.5) == k
    assert x[:k].tobytes() == expected[:k].tobytes()


@pytest.mark.parametrize("offset", OFFSETS)
def test_twins_agree(both, offset):
    pure, c = both
    values = sample(nan_at=700)
    assert stats_bits(pure.chunk_stats(misaligned(values, offset))) == stats_bits(
        c.chunk_stats(misaligned(values, offset))
    )
    a, b = misaligned(sample(), offset), misaligned(sample(), offset)
    pure.transform_inplace(a, 2)
    c.transform_inplace(b, 2)
    assert a.tobytes() == b.tobytes()
    assert pure.checksum(a) == c.checksum(b)
