"""Array kernels: values against numpy and plain loops, bit-identical twins, exact chunked merges,
and every kind of float64 buffer (numpy, array.array, SharedMemory, mmap)."""

from __future__ import annotations

import array
import math
import mmap
import os
import struct
import subprocess
import sys
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gilfree
from gilfree import BLOCK, Stats, aligned_chunk_size, merge_stats

#: Run against every built wheel, on every OS (see the marker in pyproject.toml).
pytestmark = pytest.mark.portable

PROPERTY = settings(
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MASK64 = 2**64 - 1
SIZES = [1, 2, 7, 8, 9, 15, 1023, 1024, 1025, 2048, 3 * 1024 + 5, 5000]


def bits(value: float) -> bytes:
    """The bit pattern of a double, except that every NaN compares equal to every other NaN.

    -0.0 and 0.0 still differ. NaN sign and payload are left out because CPython itself does not
    keep them stable: see test_nan_bits_are_repeatable below.
    """
    return b"nan" if value != value else struct.pack("<d", value)


def strict_bits(value: float) -> bytes:
    return struct.pack("<d", value)


def stats_bits(s: Stats, pack=bits) -> tuple:
    """A Stats as comparable bit patterns."""
    assert isinstance(s, Stats)
    assert type(s.count) is int
    return (s.count, *(pack(v) for v in s[1:]))


def array_bits(x) -> bytes:
    """The bytes of a float64 array with every NaN made the same NaN (see :func:`bits`)."""
    a = np.array(x, dtype=np.float64)
    a[np.isnan(a)] = math.nan
    return a.tobytes()


def rng_array(n: int, seed: int = 0, loc: float = 3.0, scale: float = 2.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(loc, scale, n)


# Hypothesis float64 arrays: whatever floats() gives (NaN payloads, infinities, -0.0, subnormals)...
_any_float = st.floats(width=64, allow_nan=True, allow_infinity=True, allow_subnormal=True)
raw_arrays = hnp.arrays(np.float64, st.integers(1, 5000), elements=_any_float)

# ...and dense random arrays spanning several 1024-element blocks, with special values planted.
_specials = st.sampled_from(
    [math.nan, -math.nan, math.inf, -math.inf, -0.0, 0.0, 5e-324, -5e-324, 2.2250738585072014e-308,
     1.7976931348623157e308, -1.7976931348623157e308, 1e300, -1e300]
)


@st.composite
def dense_arrays(draw, max_size: int = 5000) -> np.ndarray:
    n = draw(st.integers(1, max_size))
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(["normal", "uniform", "huge", "tiny", "ints"]))
    rng = np.random.default_rng(seed)
    if kind == "normal":
        x = rng.normal(draw(st.floats(-1e6, 1e6)), draw(st.floats(1e-3, 1e6)), n)
    elif kind == "uniform":
        x = rng.random(n)
    elif kind == "huge":
        x = rng.normal(0.0, 1e307, n)
    elif kind == "tiny":
        x = rng.normal(0.0, 1e-310, n)
    else:
        x = rng.integers(-5, 5, n).astype(np.float64)
    for index, value in draw(st.lists(st.tuples(st.integers(0, n - 1), _specials), max_size=4)):
        x[index] = value
    return x


float_arrays = st.one_of(raw_arrays, dense_arrays())


# --- chunk_stats ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", SIZES)
def test_chunk_stats_against_numpy(impl, n):
    x = rng_array(n, seed=n)
    s = impl.chunk_stats(x)
    assert s.count == n
    assert s.min == x.min()
    assert s.max == x.max()
    assert s.sum == pytest.approx(math.fsum(x), rel=1e-12)
    assert s.mean == pytest.approx(x.mean(), rel=1e-12)
    assert s.variance == pytest.approx(x.var(), rel=1e-12, abs=1e-300)
    assert s.std == pytest.approx(x.std(), rel=1e-12, abs=1e-300)
    assert s.m2 == pytest.approx(((x - math.fsum(x) / n) ** 2).sum(), rel=1e-12, abs=1e-300)


@pytest.mark.parametrize(
    "values, expected",
    [
        ([5.0], Stats(1, 5.0, 5.0, 5.0, 5.0, 0.0)),
        ([1.0, 2.0, 3.0], Stats(3, 6.0, 1.0, 3.0, 2.0, 2.0)),
        ([2.0] * 1025, Stats(1025, 2050.0, 2.0, 2.0, 2.0, 0.0)),
        ([-1.0, 1.0] * 700, Stats(1400, 0.0, -1.0, 1.0, 0.0, 1400.0)),
    ],
)
def test_chunk_stats_exact_small_cases(impl, values, expected):
    assert stats_bits(impl.chunk_stats(np.array(values))) == stats_bits(expected)


def test_chunk_stats_nan_wins_min_and_max(impl):
    for n, where in [(1, 0), (10, 3), (3000, 2047), (3000, 2999)]:
        x = np.arange(n, dtype=np.float64)
        x[where] = math.nan
        s = impl.chunk_stats(x)
        assert s.count == n
        assert all(math.isnan(v) for v in s[1:]), s


def test_chunk_stats_opposite_infinities(impl):
    s = impl.chunk_stats(np.array([1.0, math.inf, -math.inf, 2.0]))
    assert s.min == -math.inf and s.max == math.inf
    assert math.isnan(s.sum)
    s = impl.chunk_stats(np.array([1.0, math.inf, 2.0] * 500))
    assert (s.min, s.max, s.sum) == (1.0, math.inf, math.inf)


def test_chunk_stats_signed_zeros_and_subnormals(impl):
    s = impl.chunk_stats(np.array([-0.0, -0.0]))
    assert (s.min, s.max, s.sum) == (0.0, 0.0, 0.0)
    tiny = 5e-324
    s = impl.chunk_stats(np.array([tiny] * 3000))
    assert s.min == s.max == tiny
    assert s.sum == 3000 * tiny


# Two different NaNs meet in one addition here: the data NaN (0x7ff8...) and the NaN that
# inf + -inf makes (0xfff8... on x86). Which one comes out is not fixed by IEEE 754 or C.
NAN_MEETS_NAN = [math.nan, 0.0, math.inf, -math.inf]


def test_nan_bits_are_repeatable(impl):
    """The same input must give the same bits on every call, NaN sign included.

    Run in a fresh interpreter: CPython 3.11+ specializes a float addition after a few calls, and
    the generic and the specialized additions may return different operands' NaN.
    """
    code = (
        "import math, struct, sys\n"
        "import numpy as np\n"
        "from gilfree._select import Implementation\n"
        "impl = Implementation(sys.argv[1])\n"
        f"x = np.array([{', '.join(f'float({str(v)!r})' for v in NAN_MEETS_NAN)}])\n"
        "seen = {struct.pack('<5d', *impl.chunk_stats(x)[1:]).hex() for _ in range(20)}\n"
        "print(len(seen), sorted(seen))\n"
    )
    env = dict(os.environ)
    src = str(Path(gilfree.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.run([sys.executable, "-c", code, impl.name], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("1 "), proc.stdout


def test_nan_bits_twins_agree(both):
    """Bit for bit includes the sign of a NaN: a data NaN in block 0 meets inf + -inf of block 2."""
    pure, c = both
    x = np.ones(2050)
    x[0], x[2048], x[2049] = math.nan, math.inf, -math.inf
    for _ in range(20):  # let CPython specialize the pure twin's arithmetic first
        pure.chunk_stats(x)
    assert stats_bits(c.chunk_stats(x), strict_bits) == stats_bits(pure.chunk_stats(x), strict_bits)


@PROPERTY
@given(x=float_arrays)
def test_chunk_stats_twins_are_bit_identical(both, x):
    pure, c = both
    assert stats_bits(c.chunk_stats(x)) == stats_bits(pure.chunk_stats(x))


@PROPERTY
@given(x=dense_arrays())
def test_chunk_stats_min_max_count_match_numpy(impl, x):
    s = impl.chunk_stats(x)
    assert s.count == x.size
    if np.isnan(x).any():
        assert math.isnan(s.min) and math.isnan(s.max) and math.isnan(s.sum)
    else:
        assert s.min == x.min() and s.max == x.max()
        if np.isfinite(x).all() and np.abs(x).max() < 1e300:
            bound = 1e-12 * math.fsum(np.abs(x)) + 1e-300
            assert abs(s.sum - math.fsum(x)) <= bound


# --- merging ----------------------------------------------------------------------------------


def _chunked(stats_fn, x: np.ndarray, chunk: int) -> Stats:
    return merge_stats(stats_fn(x[i : i + chunk]) for i in range(0, x.size, chunk))


@pytest.mark.parametrize("n", [1, 1000, 1024, 1025, 2048, 4097, 5000, 9 * 1024 + 3, 20_000])
@pytest.mark.parametrize("parts", range(1, 9))
def test_aligned_chunks_merge_bit_identically(impl, n, parts):
    x = rng_array(n, seed=n * 31 + parts, loc=0.1, scale=1e3)
    chunk = aligned_chunk_size(n, parts)
    assert stats_bits(_chunked(impl.chunk_stats, x, chunk)) == stats_bits(impl.chunk_stats(x))


@PROPERTY
@given(x=dense_arrays(max_size=200_000), parts=st.integers(1, 16))
def test_aligned_chunks_merge_bit_identically_large_compiled(c_impl, x, parts):
    chunk = aligned_chunk_size(x.size, parts)
    assert stats_bits(_chunked(c_impl.chunk_stats, x, chunk)) == stats_bits(c_impl.chunk_stats(x))


def test_unaligned_chunks_would_not_be_bit_identical(impl):
    """The merge property needs the alignment: this shows the bitwise comparison can tell."""
    differ = 0
    for seed in range(20):
        x = rng_array(4096, seed=seed, loc=0.1, scale=1e3)
        whole = impl.chunk_stats(x)
        merged = _chunked(impl.chunk_stats, x, 1000)
        assert merged.count == whole.count
        assert merged.sum == pytest.approx(whole.sum, rel=1e-12)
        assert merged.m2 == pytest.approx(whole.m2, rel=1e-12)
        differ += stats_bits(merged) != stats_bits(whole)
    assert differ > 0


@pytest.mark.parametrize("n, parts", [(1, 1), (1023, 4), (1024, 1), (2048, 1), (2048, 2), (4096, 3),
                                      (10**6, 8), (10**6, 1), (5, 100), (2**20, 2**10)])
def test_aligned_chunk_size(n, parts):
    size = aligned_chunk_size(n, parts)
    blocks = size // BLOCK
    assert size % BLOCK == 0 and blocks & (blocks - 1) == 0
    assert size == BLOCK or size * parts <= n
    assert size * 2 * parts > n


@pytest.mark.parametrize("n, parts", [(0, 1), (-1, 1), (10, 0), (10, -3)])
def test_aligned_chunk_size_refuses_bad_arguments(n, parts):
    with pytest.raises(ValueError):
        aligned_chunk_size(n, parts)


def test_merge_stats_refuses_nothing():
    with pytest.raises(ValueError, match="at least one"):
        merge_stats([])


def test_merge_of_two_pieces_is_exact_on_easy_numbers(impl):
    a = impl.chunk_stats(np.array([1.0, 2.0]))
    b = impl.chunk_stats(np.array([3.0]))
    merged = a.merge(b)
    assert merged == Stats(3, 6.0, 1.0, 3.0, 2.0, 2.0)
    assert merge_stats([a, b]) == merged
    assert merge_stats([a]) is a


# --- transform_inplace ------------------------------------------------------------------------


def logistic(values, rounds: int, r: float) -> list[float]:
    out = []
    for v in values:
        for _ in range(rounds):
            v = r * v * (1.0 - v)
        out.append(v)
    return out


@pytest.mark.parametrize("rounds, r", [(1, 3.9), (3, 3.9), (10, 2.5), (1, 0.0), (2, -1.5)])
def test_transform_inplace_is_the_logistic_map(impl, rounds, r):
    x = np.random.default_rng(rounds).random(1500)
    before = x.tolist()
    assert impl.transform_inplace(x, rounds, r) is None
    assert array_bits(x) == array_bits(logistic(before, rounds, r))


def test_transform_inplace_defaults(impl):
    x = np.array([0.0, 0.25, 0.5, 1.0])
    impl.transform_inplace(x)
    assert x.tolist() == logistic([0.0, 0.25, 0.5, 1.0], 1, 3.9)
    assert x[2] == 3.9 * 0.5 * 0.5


@PROPERTY
@given(x=float_arrays, rounds=st.integers(1, 4), r=st.floats(-4, 4) | st.just(3.9))
def test_transform_inplace_twins_are_bit_identical(both, x, rounds, r):
    pure, c = both
    a, b = x.copy(), x.copy()
    pure.transform_inplace(a, rounds, r)
    c.transform_inplace(b, rounds=rounds, r=r)
    assert array_bits(a) == array_bits(b)


# --- fill_uniform -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed, start", [(0, 0), (1, 0), (12345, 77), (MASK64, 2**63 - 100), (7, 2**63)])
def test_fill_uniform_values(impl, seed, start):
    out = np.full(100, -1.0)
    assert impl.fill_uniform(out, seed, start) is None
    assert out.tolist() == [impl.uniform(seed, start + i) for i in range(100)]
    assert ((out >= 0.0) & (out < 1.0)).all()


def test_fill_uniform_default_start(impl):
    a, b = np.empty(10), np.empty(10)
    impl.fill_uniform(a, 99)
    impl.fill_uniform(b, 99, 0)
    assert a.tobytes() == b.tobytes()
    assert a[0] == impl.uniform(99, 0)


@pytest.mark.parametrize("chunk", [1, 7, 1000, 1024, 2500])
def test_fill_uniform_in_chunks_equals_one_fill(impl, chunk):
    n, seed = 5000, 2024
    whole = np.empty(n)
    impl.fill_uniform(whole, seed)
    pieces = np.empty(n)
    for start in range(0, n, chunk):
        impl.fill_uniform(pieces[start : start + chunk], seed, start)
    assert pieces.tobytes() == whole.tobytes()
    assert len(set(whole.tolist())) == n  # distinct values: the stream really advances


@PROPERTY
@given(n=st.integers(1, 3000), seed=st.integers(0, MASK64),
       start=st.integers(0, 2**20) | st.integers(2**63 - 3000, 2**63))
def test_fill_uniform_twins_are_bit_identical(both, n, seed, start):
    pure, c = both
    a, b = np.empty(n), np.empty(n)
    pure.fill_uniform(a, seed, start)
    c.fill_uniform(b, seed, start)
    assert a.tobytes() == b.tobytes()


# --- filter_greater ---------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [-math.inf, -1.0, 0.0, 0.5, 2.0, math.inf, math.nan])
def test_filter_greater_matches_numpy(impl, threshold):
    x = np.random.default_rng(3).normal(0.5, 1.0, 3000)
    x[10] = math.nan
    x[11] = math.inf
    out = np.full(3000, -7.0)
    k = impl.filter_greater(x, out, threshold)
    expected = x[x > threshold]
    assert type(k) is int
    assert k == expected.size
    assert out[:k].tobytes() == expected.tobytes()
    assert (out[k:] == -7.0).all()  # nothing past the kept elements is written


def test_filter_greater_compacts_in_place(impl):
    x = np.random.default_rng(4).random(2500)
    original = x.copy()
    k = impl.filter_greater(x, x, 0.5)
    expected = original[original > 0.5]
    assert k == expected.size > 0
    assert x[:k].tobytes() == expected.tobytes()
    assert x[k:].tobytes() == original[k:].tobytes()


def test_filter_greater_out_may_be_longer(impl):
    x = np.array([3.0, -1.0, 4.0, 1.0, 5.0])
    out = np.zeros(8)
    assert impl.filter_greater(x, out, 2) == 3
    assert out.tolist() == [3.0, 4.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert impl.filter_greater(x, out, np.float32(10)) == 0


@PROPERTY
@given(x=float_arrays, threshold=_any_float, in_place=st.booleans())
def test_filter_greater_twins_are_bit_identical(both, x, threshold, in_place):
    pure, c = both
    a, b = x.copy(), x.copy()
    out_a, out_b = (a, b) if in_place else (np.zeros(x.size), np.zeros(x.size))
    k_a = pure.filter_greater(a, out_a, threshold)
    k_b = c.filter_greater(b, out_b, threshold)
    assert k_a == k_b == int((x > threshold).sum())
    assert out_a.tobytes() == out_b.tobytes()


# --- buffers of every kind --------------------------------------------------------------------


def _run_all_kernels(impl, buf, n: int) -> dict:
    """Every array kernel on one writable float64 buffer of n elements; results as plain data."""
    impl.fill_uniform(buf, 5)
    filled = array_bits(np.frombuffer(memoryview(buf).cast("B"), dtype=np.float64)[:n])
    stats = stats_bits(impl.chunk_stats(buf))
    impl.transform_inplace(buf, 2)
    transformed = array_bits(np.array(memoryview(buf).cast("B").cast("d").tolist()))
    k = impl.filter_greater(buf, buf, 0.5)
    final = array_bits(np.array(memoryview(buf).cast("B").cast("d").tolist()))
    return {"filled": filled, "stats": stats, "transformed": transformed, "k": k, "final": final}


def _expected_all_kernels(impl, n: int) -> dict:
    return _run_all_kernels(impl, np.empty(n), n)


N_BUF = 3000


def test_array_array(impl):
    buf = array.array("d", [0.0]) * N_BUF
    assert _run_all_kernels(impl, buf, N_BUF) == _expected_all_kernels(impl, N_BUF)


def test_two_dimensional_c_contiguous_numpy(impl):
    x = rng_array(3000).reshape(30, 100)
    assert stats_bits(impl.chunk_stats(x)) == stats_bits(impl.chunk_stats(x.ravel()))
    assert _run_all_kernels(impl, np.empty((30, 100)), N_BUF) == _expected_all_kernels(impl, N_BUF)


def test_contiguous_slice_of_a_numpy_array(impl):
    x = rng_array(5000)
    assert stats_bits(impl.chunk_stats(x[100:4100])) == stats_bits(impl.chunk_stats(x[100:4100].copy()))


def test_shared_memory(impl):
    shm = shared_memory.SharedMemory(create=True, size=N_BUF * 8)
    try:
        view = memoryview(shm.buf).cast("d")
        try:
            n = len(view)
            assert n >= N_BUF
            got = _run_all_kernels(impl, view, n)
            assert got == _expected_all_kernels(impl, n)
            with pytest.raises(TypeError, match="float64"):
                impl.chunk_stats(shm.buf)  # raw bytes are refused, and no view is left behind
        finally:
            view.release()
        shm.close()  # BufferError here would mean a kernel kept an export of the buffer alive
    finally:
        shm.unlink()


def test_mmap_of_a_temp_file(impl, tmp_path):
    path = tmp_path / "data.f64"
    x = rng_array(N_BUF)
    path.write_bytes(x.tobytes())
    with path.open("r+b") as f, mmap.mmap(f.fileno(), 0) as mm:
        view = memoryview(mm).cast("d")
        try:
            assert stats_bits(impl.chunk_stats(view)) == stats_bits(impl.chunk_stats(x))
            got = _run_all_kernels(impl, view, N_BUF)
        finally:
            view.release()
        mm.flush()
        # closing the mmap at the end of the with block raises BufferError if an export leaked
    assert got == _expected_all_kernels(impl, N_BUF)
    assert path.read_bytes() == got["final"]  # the kernels wrote through the mapping to the file


def test_readonly_buffer_is_fine_for_readers(impl):
    x = rng_array(2000)
    ro = x.copy()
    ro.setflags(write=False)
    assert stats_bits(impl.chunk_stats(ro)) == stats_bits(impl.chunk_stats(x))
    out = np.empty(2000)
    assert impl.filter_greater(ro, out, 3.0) == int((x > 3.0).sum())
    assert stats_bits(impl.chunk_stats(memoryview(x.tobytes()).cast("d"))) == stats_bits(impl.chunk_stats(x))


def test_public_names_work():
    x = rng_array(100)
    assert gilfree.chunk_stats(x).count == 100
    out = np.empty(100)
    assert gilfree.filter_greater(x, out, 3.0) == int((x > 3.0).sum())
