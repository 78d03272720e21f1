"""Hypothesis fuzzing of every kernel against its pure twin, over the whole accepted input space.

The property tests in test_cpu.py, test_arrays.py and test_bytebuf.py hold each kernel equal to
its twin on plain numpy arrays and Python ints. This module widens the input space rather than
repeating them:

* float64 buffers of every accepted kind (numpy 1-D and 2-D, slices at 8-byte offsets, views at
  odd byte offsets, ``array.array``, memoryviews over ``bytearray``, ``bytes`` and anonymous
  ``mmap``, ctypes arrays), lengths around the lane and block sizes (1, 7, 8, 9, 1023, 1024,
  1025...), and values with NaNs of every sign and payload, infinities, -0.0, subnormals and
  the extremes of the range;
* results compared bit for bit (``struct``), NaN included: both twins promise one canonical NaN,
  and every byte of the backing buffer, around the kernel's view too, must come out the same;
* ``filter_greater`` with ``out`` overlapping ``data`` at an offset on either side;
* integer arguments of every accepted type (numpy integers, int subclasses, 0-d arrays) and the
  primality boundaries (squares and products of nearby primes, numbers around 2**32, 2**63 and
  2**64);
* and, for every kernel, a mixed strategy that draws valid and invalid arguments alike: both
  twins must then give the same result, or raise the same exception type with the same message,
  and leave the same bytes in every buffer.

Fuzzed elsewhere and not repeated here: the values of splitmix64 and uniform over all ints and
of the Monte Carlo kernels near 0, 2**31, 2**62 and 2**63 (test_cpu; this module adds argument
types and the 2**32 and 2**53 boundaries), merges of chunk statistics (test_arrays), checksums
of split buffers (test_bytebuf).
"""

from __future__ import annotations

import array
import ctypes
import math
import mmap
import struct
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from fractions import Fraction
from typing import Any, Callable, Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gilfree import Checksum, Stats

#: Run against every built wheel, on every OS (see the marker in pyproject.toml).
pytestmark = pytest.mark.portable

FUZZ = settings(
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MIXED = settings(FUZZ, max_examples=300)

MAX = 2**63
MASK64 = 2**64 - 1


# --- bitwise comparison -----------------------------------------------------------------------


def fbits(value: float) -> str:
    """A double's exact bit pattern: -0.0 differs from 0.0, and each NaN pattern from the others."""
    return struct.pack("<d", value).hex()


def plain(result: Any) -> Any:
    """A kernel's result as plain, exactly comparable data (floats as bit patterns)."""
    if isinstance(result, Stats):
        assert type(result.count) is int
        return ("Stats", result.count, *(fbits(v) for v in result[1:]))
    if isinstance(result, Checksum):
        return ("Checksum", *result)
    if isinstance(result, float):
        return ("float", fbits(result))
    if isinstance(result, bool) or result is None:
        return result
    assert type(result) is int, type(result)
    return ("int", result)


# --- float64 data -------------------------------------------------------------------------------

#: Bit patterns planted into arrays: NaNs of both signs with and without payloads (quiet and
#: signalling), infinities, zeros, subnormals, the extremes of the normal range.
SPECIAL_BITS = [
    0x7FF8000000000000, 0xFFF8000000000000, 0x7FF0000000000001, 0xFFF0000000000001,
    0x7FF8DEADBEEF0001, 0x7FFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF,
    0x7FF0000000000000, 0xFFF0000000000000,
    0x0000000000000000, 0x8000000000000000,
    0x0000000000000001, 0x8000000000000001, 0x000FFFFFFFFFFFFF,
    0x0010000000000000, 0x7FEFFFFFFFFFFFFF, 0xFFEFFFFFFFFFFFFF,
    0x3FF0000000000000, 0x3FE0000000000000, 0x3FEFFFFFFFFFFFFF,
]
SPECIALS = np.array(SPECIAL_BITS, dtype=np.uint64).view(np.float64)

#: Lengths where the lane (8) and block (1024) loops change their path, and some others.
SIZES = st.one_of(
    st.sampled_from([1, 2, 3, 7, 8, 9, 15, 16, 17, 1023, 1024, 1025, 2047, 2048, 2049, 3071, 3072, 3073]),
    st.integers(1, 3100),
)

any_float = st.floats(width=64, allow_nan=True, allow_infinity=True, allow_subnormal=True)


@st.composite
def float_data(draw, sizes=SIZES) -> np.ndarray:
    """A float64 array: drawn element by element, or dense random data of one of several kinds,
    with special bit patterns planted anywhere."""
    n = draw(sizes)
    kind = draw(st.sampled_from(["drawn", "normal", "unit", "huge", "tiny", "ints", "specials"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "drawn":
        x = draw(hnp.arrays(np.float64, n, elements=any_float))
    elif kind == "normal":
        x = rng.normal(draw(st.floats(-1e6, 1e6)), draw(st.floats(1e-3, 1e6)), n)
    elif kind == "unit":
        x = rng.random(n)
    elif kind == "huge":
        x = rng.normal(0.0, 1e307, n)
    elif kind == "tiny":
        x = rng.normal(0.0, 1e-310, n)
    elif kind == "ints":
        x = rng.integers(-5, 5, n).astype(np.float64)
    else:
        x = rng.choice(SPECIALS, n)
    x = np.array(x, dtype=np.float64)  # writable, owned
    plants = draw(st.lists(st.tuples(st.integers(0, n - 1), st.sampled_from(SPECIAL_BITS)), max_size=6))
    bits = x.view(np.uint64)
    for index, pattern in plants:
        bits[index] = pattern
    return x


FLOAT_KINDS = ["numpy", "numpy-2d", "numpy-slice", "numpy-unaligned", "array", "bytearray",
               "mmap", "mmap-unaligned", "ctypes"]
READONLY_FLOAT_KINDS = ["bytes", "numpy-readonly"]


@contextmanager
def float_buffer(kind: str, values: np.ndarray, offset: int) -> Iterator[tuple[Any, Callable[[], bytes]]]:
    """A float64 buffer of ``kind`` holding ``values``: yields ``(buffer, backing)`` where
    ``backing()`` returns every byte of the memory behind it, around the view too."""
    raw = values.tobytes()
    n = values.size
    with ExitStack() as stack:
        if kind == "numpy":
            x = values.copy()
            yield x, x.tobytes
        elif kind == "numpy-2d":
            rows = next(d for d in (7, 5, 3, 2, 1) if n % d == 0)
            x = values.copy().reshape(rows, n // rows)
            yield x, x.tobytes
        elif kind == "numpy-slice":  # 8-byte aligned, not necessarily 16- or 32-byte aligned
            base = np.full(n + 2 * offset + 1, -7.25)
            base[offset:offset + n] = values
            yield base[offset:offset + n], base.tobytes
        elif kind == "numpy-unaligned":  # an odd byte offset: no double is 8-byte aligned
            backing = bytearray(8 * n + 16)
            start = 1 + offset % 7
            backing[start:start + 8 * n] = raw
            yield np.frombuffer(backing, np.float64, count=n, offset=start), lambda: bytes(backing)
        elif kind == "array":
            x = array.array("d")
            x.frombytes(raw)
            yield x, x.tobytes
        elif kind == "bytearray":
            backing = bytearray(raw)
            view = stack.enter_context(memoryview(backing))
            yield stack.enter_context(view.cast("d")), lambda: bytes(backing)
        elif kind in ("mmap", "mmap-unaligned"):
            start = 8 * offset if kind == "mmap" else 8 * offset + 1 + offset % 7
            mm = stack.enter_context(mmap.mmap(-1, start + 8 * n + 8))
            mm[start:start + 8 * n] = raw
            whole = stack.enter_context(memoryview(mm))
            part = stack.enter_context(whole[start:start + 8 * n])
            yield stack.enter_context(part.cast("d")), lambda: bytes(whole)
        elif kind == "ctypes":
            x = (ctypes.c_double * n).from_buffer_copy(raw)
            yield x, lambda: bytes(x)
        elif kind == "bytes":
            view = stack.enter_context(memoryview(raw))
            yield stack.enter_context(view.cast("d")), lambda: raw
        elif kind == "numpy-readonly":
            x = values.copy()
            x.setflags(write=False)
            yield x, x.tobytes
        else:  # pragma: no cover
            raise AssertionError(kind)


def on_both(both, kind: str, values: np.ndarray, offset: int, call: Callable[[Any, Any], Any]):
    """Run ``call(twin, buffer)`` on a fresh buffer for each twin; return (result, bytes) per twin."""
    out = []
    for twin in both:
        with float_buffer(kind, values, offset) as (buf, backing):
            result = call(twin, buf)
            out.append((plain(result), backing()))
    return out


offsets = st.integers(0, 9)


# --- chunk_stats ------------------------------------------------------------------------------


@FUZZ
@given(values=float_data(), kind=st.sampled_from(FLOAT_KINDS + READONLY_FLOAT_KINDS), offset=offsets)
def test_chunk_stats_any_buffer_bit_identical(both, values, kind, offset):
    (pure, p_bytes), (c, c_bytes) = on_both(both, kind, values, offset, lambda t, b: t.chunk_stats(b))
    assert c == pure
    assert c_bytes == p_bytes  # a reader writes nothing
    for field in pure[2:]:  # every NaN that comes out is the one canonical NaN
        value = struct.unpack("<d", bytes.fromhex(field))[0]
        assert value == value or field == fbits(math.nan)


# --- transform_inplace ------------------------------------------------------------------------

r_values = st.one_of(
    st.floats(-4.5, 4.5),
    st.sampled_from([3.9, 4.0, 0.0, -0.0, 1.0, math.nan, math.inf, -math.inf, 5e-324, 1.7976931348623157e308]),
    any_float,
    st.integers(-5, 5),
    st.sampled_from([np.float32(3.5), np.float64(2.5), np.int64(3), Fraction(7, 2)]),
)


@FUZZ
@given(values=float_data(sizes=st.one_of(st.sampled_from([1, 7, 8, 9, 1023, 1024, 1025]), st.integers(1, 1500))),
       kind=st.sampled_from(FLOAT_KINDS), offset=offsets, rounds=st.integers(1, 5), r=r_values)
def test_transform_inplace_any_buffer_bit_identical(both, values, kind, offset, rounds, r):
    (p_res, p_bytes), (c_res, c_bytes) = on_both(
        both, kind, values, offset, lambda t, b: t.transform_inplace(b, rounds, r))
    assert p_res is None and c_res is None
    assert c_bytes == p_bytes  # every NaN written is the canonical one, in both


@FUZZ
@given(n=st.sampled_from([1, 8, 1024, 1025]), rounds=st.sampled_from([1, 2, 3, 17, 100]), seed=st.integers(0, 99))
def test_transform_inplace_many_rounds(both, n, rounds, seed):
    values = np.random.default_rng(seed).random(n)
    (_, p_bytes), (_, c_bytes) = on_both(both, "numpy", values, 0, lambda t, b: t.transform_inplace(b, rounds))
    assert c_bytes == p_bytes


# --- fill_uniform -----------------------------------------------------------------------------

seeds = st.one_of(st.integers(0, MASK64), st.sampled_from([0, 1, 2**32 - 1, 2**32, 2**63 - 1, 2**63, MASK64]))
starts = st.one_of(st.integers(0, 2**40), st.integers(MAX - 3200, MAX), st.sampled_from([0, 1, 2**32 - 1, 2**53]))
class IntSubclass(int):
    pass


#: The integer types a kernel accepts wherever it accepts an int (all have ``__index__``).
index_types = st.sampled_from(["int", "int64", "uint64", "0-d array", "int subclass"])


def typed(kind: str, value: int) -> Any:
    """``value`` as an integer of ``kind``, or as a plain int where that kind cannot hold it."""
    if kind == "int64" and -(2**63) <= value < 2**63:
        return np.int64(value)
    if kind == "uint64" and 0 <= value <= MASK64:
        return np.uint64(value)
    if kind == "0-d array" and 0 <= value <= MASK64:
        return np.array(value, dtype=np.uint64)
    if kind == "int subclass":
        return IntSubclass(value)
    return value


@FUZZ
@given(values=float_data(sizes=st.one_of(st.sampled_from([1, 7, 8, 9, 1024, 1025]), st.integers(1, 2100))),
       kind=st.sampled_from(FLOAT_KINDS), offset=offsets, seed=seeds, start=starts, wrap=index_types)
def test_fill_uniform_any_buffer_bit_identical(both, values, kind, offset, seed, start, wrap):
    (_, p_bytes), (_, c_bytes) = on_both(
        both, kind, values, offset, lambda t, b: t.fill_uniform(b, typed(wrap, seed), typed(wrap, start)))
    assert c_bytes == p_bytes


# --- filter_greater ---------------------------------------------------------------------------

thresholds = st.one_of(
    any_float,
    st.sampled_from([0.0, -0.0, 0.5, math.nan, math.inf, -math.inf, 5e-324, -5e-324]),
    st.integers(-3, 3),
    st.sampled_from([np.float32(0.25), np.float64(-1.5), np.int32(0), Fraction(1, 3)]),
)


@FUZZ
@given(values=float_data(), data_kind=st.sampled_from(FLOAT_KINDS + READONLY_FLOAT_KINDS),
       out_kind=st.sampled_from(FLOAT_KINDS), offset=offsets, extra=st.integers(0, 3), threshold=thresholds)
def test_filter_greater_any_buffers_bit_identical(both, values, data_kind, out_kind, offset, extra, threshold):
    """Separate data and out of any kinds; out may be longer (its tail must stay as it was)."""
    fill = np.full(values.size + extra, -3.5)
    outcomes = []
    for twin in both:
        with float_buffer(data_kind, values, offset) as (data, data_bytes), \
                float_buffer(out_kind, fill, offset + 1) as (out, out_bytes):
            k = twin.filter_greater(data, out, threshold)
            outcomes.append((k, data_bytes(), out_bytes()))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == int((values > float(threshold)).sum())


@FUZZ
@given(values=float_data(sizes=st.integers(1, 2100)), shift=st.integers(-40, 40), threshold=thresholds)
def test_filter_greater_overlapping_views(both, values, shift, threshold):
    """``out`` and ``data`` as two views of one array, ``out`` starting ``shift`` elements after
    ``data`` (before it when negative): the twins must read and write in the same order."""
    n = values.size
    pad = abs(shift)
    results = []
    for twin in both:
        base = np.full(n + 2 * pad, 9.0)
        base[pad:pad + n] = values
        data = base[pad:pad + n]
        out = base[pad + shift:pad + shift + n]
        k = twin.filter_greater(data, out, threshold)
        results.append((k, base.tobytes()))
    assert results[0] == results[1]


# --- checksum ---------------------------------------------------------------------------------

BYTE_DTYPES = ["u1", "i1", "?", "<u2", ">i4", "<f4", "<f8", ">f8", "<c16", "V3", "M8[s]"]


@contextmanager
def byte_buffer(kind: str, raw: bytes, start: int, stop: int, dtype: str) -> Iterator[tuple[Any, bytes]]:
    """A buffer of ``kind`` and the bytes it exposes (``raw`` or a slice of it)."""
    with ExitStack() as stack:
        if kind == "bytes":
            yield raw, raw
        elif kind == "bytearray":
            yield bytearray(raw), raw
        elif kind == "memoryview-slice":
            view = stack.enter_context(memoryview(raw))
            yield stack.enter_context(view[start:stop]), raw[start:stop]
        elif kind == "numpy":
            dt = np.dtype(dtype)
            usable = raw[:len(raw) - len(raw) % dt.itemsize] or bytes(dt.itemsize)
            x = np.frombuffer(usable, dtype=dt).copy()
            if dt.kind == "M":  # datetime64 does not export a buffer: its int64 view does
                x = x.view("<i8")
            yield x, usable
        elif kind == "numpy-2d":
            usable = raw[:len(raw) - len(raw) % 6] or bytes(6)
            yield np.frombuffer(usable, np.uint8).reshape(-1, 6).copy().view("<u2"), usable
        elif kind == "numpy-0d":
            x = np.array(int.from_bytes(raw[:8].ljust(8, b"\0"), "little"), dtype="<u8")
            yield x, x.tobytes()
        elif kind == "array":
            usable = raw[:len(raw) - len(raw) % 8] or bytes(8)
            x = array.array("q")
            x.frombytes(usable)
            yield x, usable
        elif kind == "mmap":
            mm = stack.enter_context(mmap.mmap(-1, len(raw)))
            mm[:] = raw
            yield mm, raw
        elif kind == "mmap-slice":
            mm = stack.enter_context(mmap.mmap(-1, len(raw)))
            mm[:] = raw
            whole = stack.enter_context(memoryview(mm))
            yield stack.enter_context(whole[start:stop]), raw[start:stop]
        else:  # pragma: no cover
            raise AssertionError(kind)


byte_sizes = st.one_of(st.sampled_from([1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1023, 1024, 1025]),
                       st.integers(1, 4100))


@st.composite
def byte_data(draw) -> bytes:
    n = draw(byte_sizes)
    kind = draw(st.sampled_from(["drawn", "random", "ff", "zeros"]))
    if kind == "drawn" and n <= 512:
        return draw(st.binary(min_size=n, max_size=n))
    if kind == "ff":
        return b"\xff" * n
    if kind == "zeros":
        return bytes(n)
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(0, 256, n, np.uint8).tobytes()


@FUZZ
@given(raw=byte_data(), kind=st.sampled_from(["bytes", "bytearray", "memoryview-slice", "numpy", "numpy-2d",
                                              "numpy-0d", "array", "mmap", "mmap-slice"]),
       cut=st.tuples(st.integers(0, 4100), st.integers(1, 4100)), dtype=st.sampled_from(BYTE_DTYPES))
def test_checksum_any_buffer(both, raw, kind, cut, dtype):
    pure, c = both
    start = cut[0] % len(raw)
    stop = min(start + cut[1], len(raw))
    with byte_buffer(kind, raw, start, stop, dtype) as (buf, exposed):
        got_c, got_pure = c.checksum(buf), pure.checksum(buf)
    assert got_c == got_pure == pure.checksum(exposed)
    assert got_c.length == len(exposed)


# --- integer kernels --------------------------------------------------------------------------


def _primes_below(n: int) -> np.ndarray:
    flags = np.ones(n, dtype=bool)
    flags[:2] = False
    for p in range(2, math.isqrt(n - 1) + 1):
        if flags[p]:
            flags[p * p::p] = False
    return np.flatnonzero(flags)


PRIMES = _primes_below(1 << 20)
SMALL_PRIMES = PRIMES[PRIMES < 2000]


def near(boundary: int, width: int) -> st.SearchStrategy[int]:
    return st.integers(max(boundary - width, 0), boundary + width)


@st.composite
def prime_boundary_numbers(draw) -> int:
    """Numbers whose trial division is cheap in pure Python yet probes the compiled loop's limits:
    squares of primes and products of neighbouring primes (the ``d * d <= n`` bound and the
    ``6k +/- 1`` steps), multiples of small primes near 2**32, 2**63 and 2**64, numbers just
    around 2**32 (prime or not)."""
    shape = draw(st.sampled_from(["square", "neighbours", "small-factor", "near-2**32", "plain"]))
    i = draw(st.integers(2, len(PRIMES) - 2))
    p, q = int(PRIMES[i]), int(PRIMES[i + 1])
    if shape == "square":
        return p * p + draw(st.sampled_from([-2, -1, 0, 1, 2]))
    if shape == "neighbours":
        return p * q + draw(st.sampled_from([-1, 0, 1]))
    if shape == "small-factor":
        s = int(draw(st.sampled_from(SMALL_PRIMES)))
        boundary = draw(st.sampled_from([2**32, 2**53, 2**63, 2**64, 2**64 + 2**32, 2**70]))
        return s * (boundary // s + draw(st.integers(-3, 3)))
    if shape == "near-2**32":
        return draw(near(2**32, 60))
    return draw(st.integers(-(2**70), 10**6))


@FUZZ
@given(n=prime_boundary_numbers(), wrap=index_types)
def test_is_prime_at_its_boundaries(both, n, wrap):
    pure, c = both
    assert c.is_prime(typed(wrap, n)) is pure.is_prime(n)
    assert pure.is_prime(typed(wrap, n)) is pure.is_prime(n)


@FUZZ
@given(lo=st.one_of(near(2**32, 100), near(2**31, 100), near(65521**2, 50), st.integers(0, 2000)),
       width=st.integers(0, 40), wrap=index_types)
def test_count_primes_at_its_boundaries(both, lo, width, wrap):
    pure, c = both
    assert c.count_primes(typed(wrap, lo), typed(wrap, lo + width)) == pure.count_primes(lo, lo + width)


range_boundaries = [0, 1, 2**16, 2**26, 2**28, 2**31, 2**32, 2**53, 2**62, MAX]


@FUZZ
@given(boundary=st.sampled_from(range_boundaries), below=st.integers(0, 300), above=st.integers(0, 300),
       wrap_lo=index_types, wrap_hi=index_types, release=st.sampled_from([True, False, np.True_, np.False_]))
def test_sum_squares_argument_types_and_boundaries(both, boundary, below, above, wrap_lo, wrap_hi, release):
    pure, c = both
    lo, hi = max(boundary - below, 0), min(boundary + above, MAX)
    expected = pure.sum_squares(lo, hi)
    got = c.sum_squares(typed(wrap_lo, lo), typed(wrap_hi, hi), release_gil=release)
    assert type(got) is int and got == expected
    assert pure.sum_squares(typed(wrap_lo, lo), typed(wrap_hi, hi), release_gil=release) == expected


@FUZZ
@given(n=st.one_of(st.integers(0, 3000), st.sampled_from([0, 1, 2, 3, 7, 8, 9])), wrap=index_types)
def test_cpu_bound_argument_types(both, n, wrap):
    pure, c = both
    got = c.cpu_bound(typed(wrap, n))
    assert type(got) is int and got == pure.cpu_bound(n)


@FUZZ
@given(seed=st.one_of(st.integers(-(2**66), 2**66), seeds), counter=st.one_of(st.integers(-(2**66), 2**66), starts),
       wrap=index_types)
def test_splitmix64_and_uniform_argument_types(both, seed, counter, wrap):
    pure, c = both
    s, k = typed(wrap, seed), typed(wrap, counter)
    assert plain(c.splitmix64(s, k)) == plain(pure.splitmix64(seed, counter))
    assert plain(c.uniform(s, k)) == plain(pure.uniform(seed, counter))


@FUZZ
@given(start=st.one_of(near(2**32, 300), near(2**53, 300), near(MAX - 300, 300), st.integers(0, 300)),
       width=st.integers(0, 300), seed=seeds, wrap=index_types)
def test_monte_carlo_argument_types_and_boundaries(both, start, width, seed, wrap):
    pure, c = both
    stop = min(start + width, MAX)
    start = min(start, stop)
    hits = c.monte_carlo_hits(typed(wrap, start), typed(wrap, stop), typed(wrap, seed))
    assert hits == pure.monte_carlo_hits(start, stop, seed)
    if 1 <= stop <= 1500:
        pi = c.monte_carlo_pi(typed(wrap, stop), typed(wrap, seed))
        assert plain(pi) == plain(pure.monte_carlo_pi(stop, seed))


# --- the mixed strategy: valid and invalid arguments alike, for every kernel ---------------------

#: Values that no integer parameter accepts.
NOT_INTS = [None, "1", b"1", 1.5, math.nan, math.inf, True, False, np.True_, np.float64(2), np.float32(1),
            2j, [1], (1,), Decimal(1), Fraction(1), np.array([1, 2]), object()]
#: Values that no real-number parameter accepts.
NOT_REALS = [None, "0.5", b"1", True, np.False_, 1j, np.complex128(1), Decimal("0.5"), [0.5],
             np.array([0.5]), 10**400, -(10**400), Fraction(10**400, 3), object()]
OUT_OF_RANGE = [-1, -(2**70), MAX + 1, 2**64, 2**70]

# Buffers are named here and built afresh for each twin (the kernels may write into them).
GOOD_F64 = ["f64", "f64-2d", "f64-array", "f64-memoryview", "f64-unaligned"]
READABLE_F64 = ["f64-readonly", "f64-bytes"]
BAD_F64 = ["list", "none", "float32", "int64", "complex", "object", "bytes", "bytearray", "strided",
           "reversed", "fortran", "empty", "zero-d", "released", "datetime", "f64-short"]
GOOD_BYTES = ["bytes", "bytearray", "f64", "f64-2d", "u2-array", "memoryview-slice", "zero-d-int"]
BAD_BYTES = ["str", "list", "none", "int", "empty", "strided", "object", "released", "closed-mmap", "datetime"]


def build(name: str, n: int, seed: int) -> Any:
    """A fresh buffer (or non-buffer) called ``name``, ``n`` elements where that means something."""
    x = np.random.default_rng(seed).random(n) * 2.0 - 0.25
    if name == "f64":
        return x
    if name == "f64-short":
        return x[: max(n - 1, 1)].copy()
    if name == "f64-2d":
        return np.concatenate([x, x]).reshape(2, n)
    if name == "f64-array":
        return array.array("d", x.tolist())
    if name == "f64-memoryview":
        return memoryview(bytearray(x.tobytes())).cast("d")
    if name == "f64-unaligned":
        backing = bytearray(8 * n + 3)
        backing[3:] = x.tobytes()
        return np.frombuffer(backing, np.float64, offset=3)
    if name == "f64-readonly":
        x.setflags(write=False)
        return x
    if name == "f64-bytes":
        return memoryview(x.tobytes()).cast("d")
    if name == "list":
        return x.tolist()
    if name in ("none",):
        return None
    if name == "float32":
        return x.astype(np.float32)
    if name == "int64":
        return (x * 100).astype(np.int64)
    if name == "complex":
        return x.astype(np.complex128)
    if name == "object":
        return x.astype(object)
    if name == "bytes":
        return x.tobytes()
    if name == "bytearray":
        return bytearray(x.tobytes())
    if name == "u2-array":
        return array.array("H", range(n))
    if name == "memoryview-slice":
        return memoryview(x.tobytes())[1:]
    if name == "zero-d-int":
        return np.array(seed, dtype=np.int64)
    if name == "strided":
        return np.concatenate([x, x])[::2]
    if name == "reversed":
        return x[::-1]
    if name == "fortran":
        return np.asfortranarray(np.concatenate([x, x]).reshape(n, 2))
    if name == "empty":
        return np.empty(0)
    if name == "zero-d":
        return np.array(x[0])
    if name == "released":
        view = memoryview(x)
        view.release()
        return view
    if name == "closed-mmap":
        mm = mmap.mmap(-1, 16)
        mm.close()
        return mm
    if name == "datetime":
        return np.zeros(n, "M8[s]")
    if name == "str":
        return "abc"
    if name == "int":
        return n
    raise AssertionError(name)  # pragma: no cover


class Buf:
    """A buffer argument, by name: built afresh at each call."""

    def __init__(self, name: str, n: int, seed: int) -> None:
        self.name, self.n, self.seed = name, n, seed

    def __repr__(self) -> str:
        return f"Buf({self.name!r}, {self.n}, {self.seed})"


def buffers(good: list[str], bad: list[str], readable: list[str] = ()) -> st.SearchStrategy[Buf]:
    return st.builds(Buf, st.sampled_from([*good, *readable, *bad]), st.integers(1, 70), st.integers(0, 2**16))


reals = st.one_of(any_float, st.integers(-3, 3), st.sampled_from([np.float32(0.5), Fraction(1, 2)]),
                  st.sampled_from(NOT_REALS))
small_counts = st.integers(0, 5)


@st.composite
def ranges(draw, top: int = MAX, width: int = 40) -> tuple[Any, Any]:
    """(lo, hi): short valid ranges near 0 and ``top``, or anything invalid on either side; never
    a valid range that takes pure Python more than a moment (primes near 2**63 would)."""
    lo = draw(st.one_of(st.integers(0, 50), st.integers(top - 50, top), st.sampled_from(OUT_OF_RANGE),
                        st.sampled_from(NOT_INTS)))
    if type(lo) is int and draw(st.booleans()):
        hi = lo + draw(st.integers(-3, width))
    else:
        hi = draw(st.one_of(st.integers(0, 50), st.sampled_from(OUT_OF_RANGE), st.sampled_from(NOT_INTS)))
        if type(hi) is int and type(lo) is int and 0 <= lo <= hi <= MAX and hi - lo > width:
            hi = lo + width
    return lo, hi


def kernel_calls() -> dict[str, st.SearchStrategy[tuple[tuple, dict]]]:
    """For each kernel, a strategy of (args, kwargs) mixing valid and invalid arguments."""
    seed = st.one_of(st.integers(0, MASK64), st.sampled_from(OUT_OF_RANGE), st.sampled_from(NOT_INTS))
    flag = st.sampled_from([True, False, np.True_, None, 0, 1, "yes", np.array(True)])
    any_int = st.one_of(st.integers(-(2**70), 2**70), st.sampled_from(NOT_INTS))
    f64_in = buffers(GOOD_F64, BAD_F64, READABLE_F64)
    f64_out = buffers(GOOD_F64, BAD_F64 + READABLE_F64)
    return {
        "sum_squares": st.builds(lambda r, f: (r, {"release_gil": f}), ranges(), flag),
        "cpu_bound": st.builds(lambda n: ((n,), {}), st.one_of(st.integers(0, 2000), st.sampled_from(OUT_OF_RANGE),
                                                                st.sampled_from(NOT_INTS))),
        "is_prime": st.builds(lambda n: ((n,), {}), st.one_of(st.integers(-(2**70), 10**6), st.sampled_from(
            [MASK64, 2**64, 2**64 + 1, 2**70]), st.sampled_from(NOT_INTS))),
        "count_primes": st.builds(lambda r: (r, {}), ranges(top=2**32)),
        "splitmix64": st.builds(lambda s, k: ((s, k), {}), any_int, any_int),
        "uniform": st.builds(lambda s, k: ((s, k), {}), any_int, any_int),
        "monte_carlo_hits": st.builds(lambda r, s: ((*r, s), {}), ranges(), seed),
        "monte_carlo_pi": st.builds(lambda n, s: ((n, s), {}), st.one_of(small_counts, st.integers(1, 40),
                                                                          st.sampled_from(OUT_OF_RANGE),
                                                                          st.sampled_from(NOT_INTS)), seed),
        "chunk_stats": st.builds(lambda b: ((b,), {}), buffers(GOOD_F64, BAD_F64, READABLE_F64)),
        "transform_inplace": st.builds(lambda b, k, r: ((b, k, r), {}), f64_out,
                                       st.one_of(st.integers(1, 4), small_counts, st.sampled_from(OUT_OF_RANGE),
                                                 st.sampled_from(NOT_INTS)), reals),
        "fill_uniform": st.builds(lambda b, s, k: ((b, s, k), {}), f64_out, seed,
                                  st.one_of(st.integers(0, 2**40), st.just(MAX), st.sampled_from(OUT_OF_RANGE),
                                            st.sampled_from(NOT_INTS))),
        "filter_greater": st.builds(lambda d, o, t: ((d, o, t), {}), f64_in, f64_out, reals),
        "checksum": st.builds(lambda b: ((b,), {}), buffers(GOOD_BYTES, BAD_BYTES)),
    }


CALLS = kernel_calls()


def materialize(value: Any) -> Any:
    return build(value.name, value.n, value.seed) if isinstance(value, Buf) else value


def outcome(fn: Callable, args: tuple, kwargs: dict) -> tuple:
    """What one call does: its result or its exception, and the bytes its buffers hold after it."""
    args = tuple(materialize(a) for a in args)
    kwargs = {k: materialize(v) for k, v in kwargs.items()}
    try:
        result: tuple = ("returned", plain(fn(*args, **kwargs)))
    except Exception as exc:  # noqa: BLE001 - comparing the twins' errors is the point
        result = ("raised", type(exc), str(exc))
    after = []
    for value in [*args, *kwargs.values()]:
        try:
            with memoryview(value) as view:
                # Object arrays hold addresses, which differ from one build to the next.
                after.append(view.format if "O" in view.format else view.tobytes())
        except (TypeError, ValueError):
            after.append(None)
    return result, after


def test_every_kernel_is_fuzzed(both):
    pure, _ = both
    assert set(CALLS) == set(pure.kernels)


@MIXED
@pytest.mark.parametrize("kernel", sorted(CALLS))
@given(data=st.data())
def test_mixed_valid_and_invalid_arguments(both, kernel, data):
    pure, c = both
    args, kwargs = data.draw(CALLS[kernel], label="call")
    got_pure = outcome(pure.kernels[kernel], args, kwargs)
    got_c = outcome(c.kernels[kernel], args, kwargs)
    assert got_c == got_pure
    if got_pure[0][0] == "raised":
        assert got_pure[0][1] in (TypeError, ValueError, OverflowError), got_pure
