"""Bad input to every kernel: one exact exception type, the same type and message in both twins.

``CASES`` is the table the issue asks for: for every kernel and every parameter, the inputs that
must be refused (wrong types, numpy scalars of the wrong kind, wrong dtypes and shapes, views that
are not contiguous, read-only or released buffers, sizes and seeds out of range) and the error
each must raise. A refused call must also leave every buffer it was given as it was.
"""

from __future__ import annotations

import array
import inspect
import mmap
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from gilfree._select import PURE_PYTHON, Implementation

#: Run against every built wheel, on every OS (see the marker in pyproject.toml).
pytestmark = pytest.mark.portable

BIG = 2**63
SEED_MAX = 2**64 - 1


def f64(n: int = 16) -> np.ndarray:
    return np.linspace(0.1, 0.9, n)


def readonly(n: int = 16) -> np.ndarray:
    x = f64(n)
    x.setflags(write=False)
    return x


def fortran2d() -> np.ndarray:
    return np.asfortranarray(np.arange(12.0).reshape(3, 4))


def strided2d() -> np.ndarray:
    """A 2-D view with a stride in its last axis: neither C- nor Fortran-contiguous."""
    return np.arange(32.0).reshape(4, 8)[:, ::2]


def bytes_as_f64(n: int = 16) -> memoryview:
    """A float64 view of an immutable bytes object: readable, never writable."""
    return memoryview(f64(n).tobytes()).cast("d")


def readonly_mmap_f64(n: int = 16) -> memoryview:
    return memoryview(mmap.mmap(-1, 8 * n, access=mmap.ACCESS_READ)).cast("d")


def raw_mmap(n: int = 64) -> mmap.mmap:
    return mmap.mmap(-1, n)


def released() -> memoryview:
    view = memoryview(f64())
    view.release()
    return view


def closed_mmap() -> mmap.mmap:
    mm = mmap.mmap(-1, 64)
    mm.close()
    return mm


def objects(n: int = 4) -> np.ndarray:
    return np.array([1.0] * n, dtype=object)


# (id, kernel, factory of (args, kwargs), exact exception type, a fragment of the message)
CASES = [
    # --- sum_squares(lo, hi, *, release_gil) ------------------------------------------------
    ("negative-lo", "sum_squares", lambda: ((-1, 5), {}), ValueError, "lo must be >= 0"),
    ("very-negative-lo", "sum_squares", lambda: ((-(2**70), 5), {}), ValueError, "lo must be >= 0"),
    ("reversed-range", "sum_squares", lambda: ((5, 4), {}), ValueError, "range is reversed"),
    ("negative-hi", "sum_squares", lambda: ((0, -1), {}), ValueError, "range is reversed"),
    ("hi-past-2**63", "sum_squares", lambda: ((0, BIG + 1), {}), OverflowError, "at most 2**63"),
    ("lo-and-hi-past-2**64", "sum_squares", lambda: ((2**64, 2**65), {}), OverflowError, "at most 2**63"),
    ("float-lo", "sum_squares", lambda: ((0.0, 5), {}), TypeError, "lo must be an int, not float"),
    ("float-hi", "sum_squares", lambda: ((0, 5.0), {}), TypeError, "hi must be an int, not float"),
    ("nan-hi", "sum_squares", lambda: ((0, float("nan")), {}), TypeError, "hi must be an int, not float"),
    ("inf-hi", "sum_squares", lambda: ((0, float("inf")), {}), TypeError, "hi must be an int, not float"),
    ("str-lo", "sum_squares", lambda: (("0", 5), {}), TypeError, "not str"),
    ("str-hi", "sum_squares", lambda: ((0, "5"), {}), TypeError, "hi must be an int, not str"),
    ("bytes-hi", "sum_squares", lambda: ((0, b"5"), {}), TypeError, "hi must be an int, not bytes"),
    ("bool-lo", "sum_squares", lambda: ((True, 5), {}), TypeError, "not bool"),
    ("bool-hi", "sum_squares", lambda: ((0, False), {}), TypeError, "not bool"),
    ("numpy-bool-hi", "sum_squares", lambda: ((0, np.True_), {}), TypeError, "hi must be an int, not bool"),
    ("none-lo", "sum_squares", lambda: ((None, 5), {}), TypeError, "lo must be an int, not NoneType"),
    ("none-hi", "sum_squares", lambda: ((0, None), {}), TypeError, "not NoneType"),
    ("list-hi", "sum_squares", lambda: ((0, [5]), {}), TypeError, "hi must be an int, not list"),
    ("complex-hi", "sum_squares", lambda: ((0, 5j), {}), TypeError, "hi must be an int, not complex"),
    ("decimal-hi", "sum_squares", lambda: ((0, Decimal(5)), {}), TypeError, "hi must be an int, not Decimal"),
    ("fraction-hi", "sum_squares", lambda: ((0, Fraction(5)), {}), TypeError, "hi must be an int, not Fraction"),
    ("numpy-float-lo", "sum_squares", lambda: ((np.float64(0), 3), {}), TypeError, "lo must be an int, not float64"),
    ("numpy-float-hi", "sum_squares", lambda: ((0, np.float64(3)), {}), TypeError, "not float64"),
    ("numpy-float32-hi", "sum_squares", lambda: ((0, np.float32(3)), {}), TypeError, "not float32"),
    ("numpy-array-hi", "sum_squares", lambda: ((0, np.array([3, 4])), {}),
     TypeError, "hi must be an int, not ndarray"),
    ("negative-lo-held", "sum_squares", lambda: ((-1, 5), {"release_gil": False}), ValueError, "lo must be"),
    ("release-gil-none", "sum_squares", lambda: ((0, 5), {"release_gil": None}), TypeError,
     "release_gil must be True or False, not NoneType"),
    ("release-gil-int", "sum_squares", lambda: ((0, 5), {"release_gil": 1}), TypeError,
     "release_gil must be True or False, not int"),
    ("release-gil-str", "sum_squares", lambda: ((0, 5), {"release_gil": "no"}), TypeError,
     "release_gil must be True or False, not str"),
    ("release-gil-array", "sum_squares", lambda: ((0, 5), {"release_gil": np.array(True)}), TypeError,
     "release_gil must be True or False, not ndarray"),
    ("range-checked-before-flag", "sum_squares", lambda: ((-1, 5), {"release_gil": None}), ValueError,
     "lo must be >= 0"),
    # --- cpu_bound(n) -----------------------------------------------------------------------
    ("negative-n", "cpu_bound", lambda: ((-1,), {}), ValueError, "n must be >= 0"),
    ("n-past-2**63", "cpu_bound", lambda: ((BIG + 1,), {}), OverflowError, "n must be at most"),
    ("n-2**64", "cpu_bound", lambda: ((2**64,), {}), OverflowError, "n must be at most 2**63"),
    ("float-n", "cpu_bound", lambda: ((1e6,), {}), TypeError, "n must be an int"),
    ("bool-n", "cpu_bound", lambda: ((True,), {}), TypeError, "not bool"),
    ("numpy-bool-n", "cpu_bound", lambda: ((np.False_,), {}), TypeError, "n must be an int, not bool"),
    ("none-n", "cpu_bound", lambda: ((None,), {}), TypeError, "n must be an int, not NoneType"),
    ("str-n", "cpu_bound", lambda: (("10",), {}), TypeError, "n must be an int, not str"),
    ("numpy-float-n", "cpu_bound", lambda: ((np.float64(10),), {}), TypeError, "n must be an int, not float64"),
    ("complex-n", "cpu_bound", lambda: ((10j,), {}), TypeError, "n must be an int, not complex"),
    # --- is_prime(n): every int is accepted (negative ones are not prime) --------------------
    ("is-prime-float", "is_prime", lambda: ((7.0,), {}), TypeError, "n must be an int, not float"),
    ("is-prime-bool", "is_prime", lambda: ((True,), {}), TypeError, "not bool"),
    ("is-prime-numpy-bool", "is_prime", lambda: ((np.True_,), {}), TypeError, "n must be an int, not bool"),
    ("is-prime-str", "is_prime", lambda: (("7",), {}), TypeError, "n must be an int, not str"),
    ("is-prime-none", "is_prime", lambda: ((None,), {}), TypeError, "n must be an int, not NoneType"),
    ("is-prime-numpy-float", "is_prime", lambda: ((np.float64(7),), {}), TypeError, "n must be an int, not float64"),
    ("is-prime-decimal", "is_prime", lambda: ((Decimal(7),), {}), TypeError, "n must be an int, not Decimal"),
    ("is-prime-fraction", "is_prime", lambda: ((Fraction(7),), {}), TypeError, "n must be an int, not Fraction"),
    ("is-prime-list", "is_prime", lambda: (([7],), {}), TypeError, "n must be an int, not list"),
    # --- count_primes(lo, hi) ---------------------------------------------------------------
    ("primes-negative-lo", "count_primes", lambda: ((-5, 10), {}), ValueError, "lo must be >= 0"),
    ("primes-reversed", "count_primes", lambda: ((10, 9), {}), ValueError, "reversed"),
    ("primes-hi-past-2**63", "count_primes", lambda: ((0, BIG + 1), {}), OverflowError, "2**63"),
    ("primes-both-past-2**63", "count_primes", lambda: ((BIG + 1, BIG + 2), {}),
     OverflowError, "hi must be at most"),
    ("primes-str", "count_primes", lambda: ((0, "10"), {}), TypeError, "hi must be an int, not str"),
    ("primes-float-lo", "count_primes", lambda: ((1.0, 10), {}), TypeError, "lo must be an int, not float"),
    ("primes-bool-hi", "count_primes", lambda: ((0, True), {}), TypeError, "hi must be an int, not bool"),
    ("primes-none-lo", "count_primes", lambda: ((None, 10), {}), TypeError, "lo must be an int, not NoneType"),
    ("primes-numpy-float-hi", "count_primes", lambda: ((0, np.float64(10)), {}), TypeError, "not float64"),
    # --- splitmix64(seed, counter), uniform(seed, counter): any int, taken modulo 2**64 -------
    ("splitmix-float-seed", "splitmix64", lambda: ((1.0, 0), {}), TypeError, "seed must be an int"),
    ("splitmix-bool-counter", "splitmix64", lambda: ((0, True), {}), TypeError, "counter must be an int"),
    ("splitmix-numpy-bool-seed", "splitmix64", lambda: ((np.True_, 0), {}),
     TypeError, "seed must be an int, not bool"),
    ("splitmix-str-counter", "splitmix64", lambda: ((0, "1"), {}), TypeError, "counter must be an int, not str"),
    ("splitmix-none-seed", "splitmix64", lambda: ((None, 0), {}), TypeError, "seed must be an int, not NoneType"),
    ("splitmix-numpy-float-counter", "splitmix64", lambda: ((0, np.float64(1)), {}), TypeError,
     "counter must be an int, not float64"),
    ("splitmix-complex-seed", "splitmix64", lambda: ((1j, 0), {}), TypeError, "seed must be an int, not complex"),
    ("uniform-str-seed", "uniform", lambda: (("1", 0), {}), TypeError, "seed must be an int"),
    ("uniform-float-counter", "uniform", lambda: ((0, 0.5), {}), TypeError, "counter must be an int, not float"),
    ("uniform-bool-seed", "uniform", lambda: ((False, 0), {}), TypeError, "seed must be an int, not bool"),
    ("uniform-none-counter", "uniform", lambda: ((0, None), {}), TypeError, "counter must be an int, not NoneType"),
    ("uniform-numpy-float-seed", "uniform", lambda: ((np.float32(1), 0), {}),
     TypeError, "seed must be an int, not float32"),
    # --- monte_carlo_hits(start, stop, seed) ------------------------------------------------
    ("hits-negative-seed", "monte_carlo_hits", lambda: ((0, 10, -1), {}), ValueError, "seed must be in"),
    ("hits-seed-2**64", "monte_carlo_hits", lambda: ((0, 10, 2**64), {}), ValueError, "seed must be in"),
    ("hits-seed-very-negative", "monte_carlo_hits", lambda: ((0, 10, -(2**70)), {}), ValueError, "seed must be in"),
    ("hits-float-seed", "monte_carlo_hits", lambda: ((0, 10, 1.0), {}), TypeError, "seed must be an int"),
    ("hits-bool-seed", "monte_carlo_hits", lambda: ((0, 10, True), {}), TypeError, "not bool"),
    ("hits-numpy-bool-seed", "monte_carlo_hits", lambda: ((0, 10, np.True_), {}),
     TypeError, "seed must be an int, not bool"),
    ("hits-none-seed", "monte_carlo_hits", lambda: ((0, 10, None), {}),
     TypeError, "seed must be an int, not NoneType"),
    ("hits-numpy-float-seed", "monte_carlo_hits", lambda: ((0, 10, np.float64(1)), {}), TypeError, "not float64"),
    ("hits-negative-start", "monte_carlo_hits", lambda: ((-1, 10, 0), {}), ValueError, "start must be >= 0"),
    ("hits-reversed", "monte_carlo_hits", lambda: ((10, 0, 0), {}), ValueError,
     "range is reversed: start=10 > stop=0"),
    ("hits-stop-past-2**63", "monte_carlo_hits", lambda: ((0, BIG + 1, 0), {}), OverflowError,
     "stop must be at most 2**63"),
    ("hits-float-start", "monte_carlo_hits", lambda: ((0.0, 10, 0), {}),
     TypeError, "start must be an int, not float"),
    ("hits-str-stop", "monte_carlo_hits", lambda: ((0, "10", 0), {}), TypeError, "stop must be an int, not str"),
    ("hits-bool-start", "monte_carlo_hits", lambda: ((False, 10, 0), {}),
     TypeError, "start must be an int, not bool"),
    ("hits-range-checked-before-seed", "monte_carlo_hits", lambda: ((-1, 10, "x"), {}), ValueError, "start must be"),
    # --- monte_carlo_pi(samples, seed) ------------------------------------------------------
    ("pi-zero-samples", "monte_carlo_pi", lambda: ((0, 1), {}), ValueError, "samples must be >= 1"),
    ("pi-negative-samples", "monte_carlo_pi", lambda: ((-5, 1), {}), ValueError, "samples must be >= 1"),
    ("pi-samples-past-2**63", "monte_carlo_pi", lambda: ((BIG + 1, 1), {}), OverflowError, "samples must be"),
    ("pi-float-samples", "monte_carlo_pi", lambda: ((1000.0, 1), {}), TypeError, "samples must be an int"),
    ("pi-bool-samples", "monte_carlo_pi", lambda: ((True, 1), {}), TypeError, "samples must be an int, not bool"),
    ("pi-none-samples", "monte_carlo_pi", lambda: ((None, 1), {}),
     TypeError, "samples must be an int, not NoneType"),
    ("pi-numpy-float-samples", "monte_carlo_pi", lambda: ((np.float64(10), 1), {}), TypeError, "not float64"),
    ("pi-negative-seed", "monte_carlo_pi", lambda: ((10, -1), {}), ValueError, "seed must be in"),
    ("pi-seed-2**64", "monte_carlo_pi", lambda: ((10, SEED_MAX + 1), {}), ValueError, "seed must be in"),
    ("pi-str-seed", "monte_carlo_pi", lambda: ((10, "1"), {}), TypeError, "seed must be an int"),
    ("pi-float-seed", "monte_carlo_pi", lambda: ((10, 1.5), {}), TypeError, "seed must be an int, not float"),
    ("pi-bool-seed", "monte_carlo_pi", lambda: ((10, False), {}), TypeError, "seed must be an int, not bool"),
    ("pi-none-seed", "monte_carlo_pi", lambda: ((10, None), {}), TypeError, "seed must be an int, not NoneType"),
    ("pi-samples-checked-first", "monte_carlo_pi", lambda: ((0, -1), {}), ValueError, "samples"),
    # --- chunk_stats(data): float64 buffers --------------------------------------------------
    ("list", "chunk_stats", lambda: (([1.0, 2.0],), {}), TypeError, "buffer protocol"),
    ("tuple", "chunk_stats", lambda: (((1.0, 2.0),), {}),
     TypeError, "data must be an object supporting the buffer protocol"),
    ("none", "chunk_stats", lambda: ((None,), {}), TypeError, "not NoneType"),
    ("scalar", "chunk_stats", lambda: ((1.5,), {}), TypeError, "not float"),
    ("int", "chunk_stats", lambda: ((3,), {}), TypeError, "not int"),
    ("str", "chunk_stats", lambda: (("1.0",), {}), TypeError, "not str"),
    ("dict", "chunk_stats", lambda: (({0: 1.0},), {}), TypeError, "not dict"),
    ("numpy-float-scalar", "chunk_stats", lambda: ((np.float64(1.5),), {}), ValueError, "at least one dimension"),
    ("float32", "chunk_stats", lambda: ((np.ones(8, np.float32),), {}), TypeError, "float64 items"),
    ("float16", "chunk_stats", lambda: ((np.ones(8, np.float16),), {}), TypeError, "got format 'e'"),
    ("longdouble", "chunk_stats", lambda: ((np.ones(8, np.longdouble),), {}), TypeError, "float64 items"),
    ("int64", "chunk_stats", lambda: ((np.ones(8, np.int64),), {}), TypeError, "float64 items"),
    ("bool-array", "chunk_stats", lambda: ((np.ones(8, bool),), {}), TypeError, "got format '?'"),
    ("object-array", "chunk_stats", lambda: ((objects(),), {}), TypeError, "got format 'O'"),
    ("datetime64", "chunk_stats", lambda: ((np.zeros(4, "M8[s]"),), {}), TypeError, "datetime64"),
    ("structured-f8", "chunk_stats", lambda: ((np.zeros(4, [("a", "f8")]),), {}), TypeError, "float64 items"),
    ("uint8-bytes", "chunk_stats", lambda: ((bytes(64),), {}), TypeError, "float64 items"),
    ("bytearray", "chunk_stats", lambda: ((bytearray(64),), {}), TypeError, "float64 items"),
    ("raw-mmap", "chunk_stats", lambda: ((raw_mmap(),), {}), TypeError, "memoryview(buf).cast('d')"),
    ("array-float32", "chunk_stats", lambda: ((array.array("f", [1.0, 2.0]),), {}), TypeError, "got format 'f'"),
    ("array-int64", "chunk_stats", lambda: ((array.array("q", [1, 2]),), {}), TypeError, "got format 'q'"),
    ("big-endian-f8", "chunk_stats", lambda: ((np.ones(8, ">f8"),), {}), TypeError, "float64 items"),
    ("complex128", "chunk_stats", lambda: ((np.ones(8, np.complex128),), {}), TypeError, "float64 items"),
    ("non-contiguous", "chunk_stats", lambda: ((f64(32)[::2],), {}), ValueError, "C-contiguous"),
    ("reversed-view", "chunk_stats", lambda: ((f64(32)[::-1],), {}), ValueError, "C-contiguous"),
    ("strided-2d", "chunk_stats", lambda: ((strided2d(),), {}), ValueError, "C-contiguous"),
    ("fortran-2d", "chunk_stats", lambda: ((fortran2d(),), {}), ValueError, "C-contiguous"),
    ("empty", "chunk_stats", lambda: ((np.empty(0),), {}), ValueError, "empty"),
    ("empty-2d", "chunk_stats", lambda: ((np.empty((0, 3)),), {}), ValueError, "empty"),
    ("empty-array-array", "chunk_stats", lambda: ((array.array("d"),), {}), ValueError, "data is empty"),
    ("zero-d", "chunk_stats", lambda: ((np.array(1.0),), {}), ValueError, "at least one dimension"),
    ("released-memoryview", "chunk_stats", lambda: ((released(),), {}), ValueError, "released memoryview"),
    ("closed-mmap", "chunk_stats", lambda: ((closed_mmap(),), {}), ValueError, "closed mmap"),
    # --- transform_inplace(data, rounds=1, r=3.9) --------------------------------------------
    ("transform-readonly", "transform_inplace", lambda: ((readonly(),), {}), ValueError, "read-only"),
    ("transform-readonly-memoryview", "transform_inplace", lambda: ((bytes_as_f64(),), {}), ValueError, "read-only"),
    ("transform-readonly-mmap", "transform_inplace", lambda: ((readonly_mmap_f64(),), {}), ValueError,
     "data is read-only"),
    ("transform-readonly-view-of-writable", "transform_inplace",
     lambda: ((np.lib.stride_tricks.as_strided(f64(), writeable=False),), {}), ValueError, "read-only"),
    ("transform-zero-rounds", "transform_inplace", lambda: ((f64(), 0), {}), ValueError, "rounds must be >= 1"),
    ("transform-negative-rounds", "transform_inplace", lambda: ((f64(), -3), {}), ValueError, "rounds"),
    ("transform-float-rounds", "transform_inplace", lambda: ((f64(), 1.5), {}), TypeError, "rounds must be an int"),
    ("transform-bool-rounds", "transform_inplace", lambda: ((f64(), True), {}), TypeError, "not bool"),
    ("transform-numpy-bool-rounds", "transform_inplace", lambda: ((f64(), np.True_), {}), TypeError,
     "rounds must be an int, not bool"),
    ("transform-none-rounds", "transform_inplace", lambda: ((f64(), None), {}), TypeError,
     "rounds must be an int, not NoneType"),
    ("transform-str-rounds", "transform_inplace", lambda: ((f64(), "2"), {}),
     TypeError, "rounds must be an int, not str"),
    ("transform-numpy-float-rounds", "transform_inplace", lambda: ((f64(), np.float64(2)), {}), TypeError,
     "rounds must be an int, not float64"),
    ("transform-huge-rounds", "transform_inplace", lambda: ((f64(), BIG + 1), {}), OverflowError, "rounds"),
    ("transform-str-r", "transform_inplace", lambda: ((f64(),), {"r": "3.9"}), TypeError, "r must be a real"),
    ("transform-bool-r", "transform_inplace", lambda: ((f64(),), {"r": True}), TypeError, "r must be a real"),
    ("transform-numpy-bool-r", "transform_inplace", lambda: ((f64(),), {"r": np.True_}),
     TypeError, "r must be a real"),
    ("transform-none-r", "transform_inplace", lambda: ((f64(),), {"r": None}), TypeError,
     "r must be a real number, not NoneType"),
    ("transform-complex-r", "transform_inplace", lambda: ((f64(),), {"r": 1j}), TypeError, "r must be a real"),
    ("transform-numpy-complex-r", "transform_inplace", lambda: ((f64(),), {"r": np.complex128(1)}), TypeError,
     "r must be a real number, not complex128"),
    ("transform-decimal-r", "transform_inplace", lambda: ((f64(),), {"r": Decimal("3.9")}), TypeError,
     "r must be a real number, not Decimal"),
    ("transform-array-r", "transform_inplace", lambda: ((f64(),), {"r": np.array([3.9])}), TypeError,
     "r must be a real number, not ndarray"),
    ("transform-r-past-float64", "transform_inplace", lambda: ((f64(),), {"r": 10**400}), OverflowError,
     "r is too large for a float64"),
    ("transform-list", "transform_inplace", lambda: (([0.5],), {}), TypeError, "buffer protocol"),
    ("transform-none", "transform_inplace", lambda: ((None,), {}), TypeError, "data must be an object"),
    ("transform-float32", "transform_inplace", lambda: ((np.ones(8, np.float32),), {}), TypeError, "float64"),
    ("transform-int64", "transform_inplace", lambda: ((np.ones(8, np.int64),), {}), TypeError, "float64 items"),
    ("transform-complex128", "transform_inplace", lambda: ((np.ones(8, np.complex128),), {}),
     TypeError, "float64 items"),
    ("transform-object", "transform_inplace", lambda: ((objects(),), {}), TypeError, "got format 'O'"),
    ("transform-bytes", "transform_inplace", lambda: ((bytes(64),), {}), TypeError, "float64 items"),
    ("transform-bytearray", "transform_inplace", lambda: ((bytearray(64),), {}), TypeError, "float64 items"),
    ("transform-raw-mmap", "transform_inplace", lambda: ((raw_mmap(),), {}), TypeError, "float64 items"),
    ("transform-non-contiguous", "transform_inplace", lambda: ((f64(32)[::2],), {}), ValueError, "C-contiguous"),
    ("transform-strided-2d", "transform_inplace", lambda: ((strided2d(),), {}), ValueError, "C-contiguous"),
    ("transform-fortran-2d", "transform_inplace", lambda: ((fortran2d(),), {}), ValueError, "C-contiguous"),
    ("transform-empty", "transform_inplace", lambda: ((np.empty(0),), {}), ValueError, "empty"),
    ("transform-zero-d", "transform_inplace", lambda: ((np.array(0.5),), {}), ValueError, "at least one dimension"),
    ("transform-released", "transform_inplace", lambda: ((released(),), {}), ValueError, "released memoryview"),
    ("transform-closed-mmap", "transform_inplace", lambda: ((closed_mmap(),), {}), ValueError, "closed mmap"),
    ("transform-rounds-checked-first", "transform_inplace", lambda: (([0.5], 0), {}), ValueError, "rounds"),
    ("transform-r-checked-before-data", "transform_inplace", lambda: (([0.5], 1, "x"), {}), TypeError, "r must be"),
    ("transform-type-before-readonly", "transform_inplace", lambda: ((bytes(64),), {}), TypeError, "float64 items"),
    # --- fill_uniform(out, seed, start=0) ---------------------------------------------------
    ("fill-readonly", "fill_uniform", lambda: ((readonly(), 1), {}), ValueError, "read-only"),
    ("fill-readonly-memoryview", "fill_uniform", lambda: ((bytes_as_f64(), 1), {}), ValueError, "out is read-only"),
    ("fill-readonly-mmap", "fill_uniform", lambda: ((readonly_mmap_f64(), 1), {}), ValueError, "out is read-only"),
    ("fill-negative-seed", "fill_uniform", lambda: ((f64(), -1), {}), ValueError, "seed must be in"),
    ("fill-seed-2**64", "fill_uniform", lambda: ((f64(), 2**64), {}), ValueError, "seed must be in"),
    ("fill-float-seed", "fill_uniform", lambda: ((f64(), 1.0), {}), TypeError, "seed must be an int"),
    ("fill-bool-seed", "fill_uniform", lambda: ((f64(), True), {}), TypeError, "seed must be an int, not bool"),
    ("fill-none-seed", "fill_uniform", lambda: ((f64(), None), {}), TypeError, "seed must be an int, not NoneType"),
    ("fill-str-seed", "fill_uniform", lambda: ((f64(), "1"), {}), TypeError, "seed must be an int, not str"),
    ("fill-numpy-float-seed", "fill_uniform", lambda: ((f64(), np.float64(1)), {}), TypeError, "not float64"),
    ("fill-negative-start", "fill_uniform", lambda: ((f64(), 1, -1), {}), ValueError, "start must be >= 0"),
    ("fill-start-past-2**63", "fill_uniform", lambda: ((f64(), 1, BIG + 1), {}), OverflowError, "start"),
    ("fill-bool-start", "fill_uniform", lambda: ((f64(), 1, True), {}), TypeError, "not bool"),
    ("fill-float-start", "fill_uniform", lambda: ((f64(), 1, 2.0), {}),
     TypeError, "start must be an int, not float"),
    ("fill-none-start", "fill_uniform", lambda: ((f64(), 1, None), {}),
     TypeError, "start must be an int, not NoneType"),
    ("fill-int64-out", "fill_uniform", lambda: ((np.zeros(8, np.int64), 1), {}), TypeError, "float64 items"),
    ("fill-float32-out", "fill_uniform", lambda: ((np.zeros(8, np.float32), 1), {}),
     TypeError, "out must hold float64"),
    ("fill-complex-out", "fill_uniform", lambda: ((np.zeros(8, np.complex128), 1), {}), TypeError, "float64 items"),
    ("fill-bytearray-out", "fill_uniform", lambda: ((bytearray(64), 1), {}), TypeError, "float64 items"),
    ("fill-list-out", "fill_uniform", lambda: (([0.0], 1), {}), TypeError, "buffer protocol"),
    ("fill-none-out", "fill_uniform", lambda: ((None, 1), {}), TypeError, "out must be an object"),
    ("fill-empty", "fill_uniform", lambda: ((np.empty(0), 1), {}), ValueError, "empty"),
    ("fill-zero-d", "fill_uniform", lambda: ((np.array(0.0), 1), {}), ValueError, "at least one dimension"),
    ("fill-non-contiguous", "fill_uniform", lambda: ((f64(32)[::2], 1), {}), ValueError, "out must be C-contiguous"),
    ("fill-strided-2d", "fill_uniform", lambda: ((strided2d(), 1), {}), ValueError, "C-contiguous"),
    ("fill-fortran-2d", "fill_uniform", lambda: ((fortran2d(), 1), {}), ValueError, "C-contiguous"),
    ("fill-released", "fill_uniform", lambda: ((released(), 1), {}), ValueError, "released memoryview"),
    ("fill-seed-checked-first", "fill_uniform", lambda: (([0.0], -1), {}), ValueError, "seed"),
    ("fill-seed-checked-before-start", "fill_uniform", lambda: ((f64(), -1, -1), {}), ValueError, "seed must be in"),
    ("fill-start-checked-before-out", "fill_uniform", lambda: ((readonly(), 1, -1), {}),
     ValueError, "start must be"),
    # --- filter_greater(data, out, threshold) -----------------------------------------------
    ("filter-readonly-out", "filter_greater", lambda: ((f64(), readonly(), 0.5), {}), ValueError, "read-only"),
    ("filter-readonly-memoryview-out", "filter_greater", lambda: ((f64(), bytes_as_f64(), 0.5), {}), ValueError,
     "out is read-only"),
    ("filter-readonly-mmap-out", "filter_greater", lambda: ((f64(), readonly_mmap_f64(), 0.5), {}), ValueError,
     "out is read-only"),
    ("filter-out-too-small", "filter_greater", lambda: ((f64(16), np.empty(15), 0.5), {}), ValueError,
     "out is too small: it has 15 elements but data has 16"),
    ("filter-out-is-a-shorter-view-of-data", "filter_greater", lambda: (lambda x: ((x, x[:-1], 0.5), {}))(f64()),
     ValueError, "out is too small: it has 15 elements but data has 16"),
    ("filter-out-2d-too-small", "filter_greater", lambda: ((f64(16), np.empty((3, 5)), 0.5), {}), ValueError,
     "it has 15 elements but data has 16"),
    ("filter-str-threshold", "filter_greater", lambda: ((f64(), f64(), "0.5"), {}), TypeError, "threshold"),
    ("filter-bool-threshold", "filter_greater", lambda: ((f64(), f64(), False), {}), TypeError, "threshold"),
    ("filter-numpy-bool-threshold", "filter_greater", lambda: ((f64(), f64(), np.False_), {}), TypeError,
     "threshold must be a real number, not bool"),
    ("filter-none-threshold", "filter_greater", lambda: ((f64(), f64(), None), {}), TypeError, "threshold"),
    ("filter-complex-threshold", "filter_greater", lambda: ((f64(), f64(), 0.5j), {}), TypeError,
     "threshold must be a real number, not complex"),
    ("filter-numpy-complex-threshold", "filter_greater", lambda: ((f64(), f64(), np.complex64(0.5)), {}), TypeError,
     "threshold must be a real number, not complex64"),
    ("filter-threshold-past-float64", "filter_greater", lambda: ((f64(), f64(), -(10**400)), {}), OverflowError,
     "threshold is too large for a float64"),
    ("filter-fraction-threshold-past-float64", "filter_greater", lambda: ((f64(), f64(), Fraction(10**400, 3)), {}),
     OverflowError, "threshold is too large"),
    ("filter-list-data", "filter_greater", lambda: (([1.0], f64(), 0.5), {}), TypeError, "data must be"),
    ("filter-none-data", "filter_greater", lambda: ((None, f64(), 0.5), {}), TypeError, "data must be an object"),
    ("filter-list-out", "filter_greater", lambda: ((f64(), [0.0] * 16, 0.5), {}), TypeError, "out must be"),
    ("filter-none-out", "filter_greater", lambda: ((f64(), None, 0.5), {}), TypeError, "out must be an object"),
    ("filter-float32-data", "filter_greater", lambda: ((np.ones(16, np.float32), f64(), 0.5), {}), TypeError,
     "data must hold float64"),
    ("filter-complex-data", "filter_greater", lambda: ((np.ones(16, np.complex128), f64(), 0.5), {}), TypeError,
     "data must hold float64"),
    ("filter-object-data", "filter_greater", lambda: ((objects(16), f64(), 0.5), {}), TypeError, "got format 'O'"),
    ("filter-int64-out", "filter_greater", lambda: ((f64(), np.zeros(16, np.int64), 0.5), {}), TypeError,
     "out must hold float64"),
    ("filter-bytearray-out", "filter_greater", lambda: ((f64(), bytearray(128), 0.5), {}), TypeError,
     "out must hold float64"),
    ("filter-empty-data", "filter_greater", lambda: ((np.empty(0), f64(), 0.5), {}), ValueError, "data is empty"),
    ("filter-empty-out", "filter_greater", lambda: ((f64(), np.empty(0), 0.5), {}), ValueError, "out is empty"),
    ("filter-zero-d-data", "filter_greater", lambda: ((np.array(1.0), f64(), 0.5), {}), ValueError,
     "data must have at least one dimension"),
    ("filter-non-contiguous-data", "filter_greater", lambda: ((f64(32)[::2], f64(), 0.5), {}), ValueError,
     "data must be C-contiguous"),
    ("filter-non-contiguous-out", "filter_greater", lambda: ((f64(), f64(64)[::2], 0.5), {}), ValueError,
     "out must be C-contiguous"),
    ("filter-fortran-data", "filter_greater", lambda: ((fortran2d(), f64(), 0.5), {}), ValueError, "C-contiguous"),
    ("filter-strided-2d-out", "filter_greater", lambda: ((f64(), strided2d(), 0.5), {}), ValueError,
     "out must be C-contiguous"),
    ("filter-released-data", "filter_greater", lambda: ((released(), f64(), 0.5), {}), ValueError,
     "data is a released memoryview"),
    ("filter-threshold-checked-first", "filter_greater", lambda: (([1.0], [0.0], "x"), {}), TypeError, "threshold"),
    ("filter-data-checked-before-out", "filter_greater", lambda: (([1.0], readonly(), 0.5), {}), TypeError,
     "data must be"),
    ("filter-out-checked-before-length", "filter_greater", lambda: ((f64(16), readonly(4), 0.5), {}), ValueError,
     "out is read-only"),
    # --- checksum(data): any C-contiguous buffer of bytes --------------------------------------
    ("checksum-empty-bytes", "checksum", lambda: ((b"",), {}), ValueError, "empty"),
    ("checksum-empty-bytearray", "checksum", lambda: ((bytearray(),), {}), ValueError, "data is empty"),
    ("checksum-empty-slice", "checksum", lambda: ((memoryview(b"abc")[1:1],), {}), ValueError, "data is empty"),
    ("checksum-empty-array", "checksum", lambda: ((np.empty(0),), {}), ValueError, "empty"),
    ("checksum-empty-2d", "checksum", lambda: ((np.empty((3, 0)),), {}), ValueError, "data is empty"),
    ("checksum-str", "checksum", lambda: (("abc",), {}), TypeError, "not str"),
    ("checksum-list", "checksum", lambda: (([1, 2],), {}), TypeError, "not list"),
    ("checksum-tuple", "checksum", lambda: (((1, 2),), {}), TypeError, "not tuple"),
    ("checksum-none", "checksum", lambda: ((None,), {}), TypeError, "not NoneType"),
    ("checksum-int", "checksum", lambda: ((123,), {}), TypeError, "not int"),
    ("checksum-float", "checksum", lambda: ((1.5,), {}), TypeError, "not float"),
    ("checksum-bool", "checksum", lambda: ((True,), {}), TypeError, "not bool"),
    ("checksum-object-array", "checksum", lambda: ((objects(),), {}), TypeError, "Python object references"),
    ("checksum-object-field", "checksum", lambda: ((np.zeros(3, [("a", "f8"), ("O", "O")]),), {}), TypeError,
     "Python object references"),
    ("checksum-datetime64", "checksum", lambda: ((np.zeros(3, "M8[s]"),), {}), TypeError, "x.view('int64')"),
    ("checksum-timedelta64", "checksum", lambda: ((np.zeros(3, "m8[s]"),), {}), TypeError, "x.view('int64')"),
    ("checksum-non-contiguous", "checksum", lambda: ((np.arange(10)[::2],), {}), ValueError, "C-contiguous"),
    ("checksum-non-contiguous-memoryview", "checksum", lambda: ((memoryview(b"abcdef")[::2],), {}), ValueError,
     "C-contiguous"),
    ("checksum-reversed-view", "checksum", lambda: ((np.arange(10, dtype=np.uint8)[::-1],), {}), ValueError,
     "C-contiguous"),
    ("checksum-fortran-2d", "checksum", lambda: ((fortran2d(),), {}), ValueError, "C-contiguous"),
    ("checksum-strided-2d", "checksum", lambda: ((strided2d(),), {}), ValueError, "C-contiguous"),
    ("checksum-released", "checksum", lambda: ((released(),), {}), ValueError, "released memoryview"),
    ("checksum-closed-mmap", "checksum", lambda: ((closed_mmap(),), {}), ValueError, "closed mmap"),
]

IDS = [case[0] for case in CASES]
assert len(set(IDS)) == len(IDS), "duplicate case ids"


def _snapshot(args, kwargs) -> list:
    """The bytes of every readable buffer among the arguments (to check that nothing was written)."""
    out = []
    for value in [*args, *kwargs.values()]:
        try:
            with memoryview(value) as view:
                out.append(view.tobytes())
        except (TypeError, ValueError):
            out.append(None)
    return out


@pytest.mark.parametrize("case_id, kernel, make, exc, fragment", CASES, ids=IDS)
def test_bad_input_raises_the_exact_type(impl, case_id, kernel, make, exc, fragment):
    args, kwargs = make()
    before = _snapshot(args, kwargs)
    with pytest.raises(exc) as excinfo:
        getattr(impl, kernel)(*args, **kwargs)
    assert excinfo.type is exc
    assert fragment in str(excinfo.value)
    assert _snapshot(args, kwargs) == before, "a refused call wrote into a buffer"


@pytest.mark.parametrize("case_id, kernel, make, exc, fragment", CASES, ids=IDS)
def test_bad_input_twins_raise_the_same_error(both, case_id, kernel, make, exc, fragment):
    pure, c = both
    errors = []
    for twin in (pure, c):
        args, kwargs = make()
        with pytest.raises(Exception) as excinfo:
            getattr(twin, kernel)(*args, **kwargs)
        errors.append((excinfo.type, str(excinfo.value)))
    assert errors[0] == errors[1]
    assert errors[0][0] is exc


def test_every_kernel_and_parameter_has_rows():
    """The table covers every kernel of every unit, and each parameter of each is refused somewhere
    by name (a message starting "lo must be", "out is read-only", ...)."""
    pure = Implementation(PURE_PYTHON)
    assert {case[1] for case in CASES} == set(pure.kernels)
    blamed = set()
    for _, kernel, make, _, _ in CASES:
        args, kwargs = make()
        try:
            pure.kernels[kernel](*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the other tests check the type
            blamed.add((kernel, str(exc).split(" ", 1)[0]))
    for name, fn in pure.kernels.items():
        for param in inspect.signature(fn).parameters:
            assert (name, param) in blamed, f"no row refuses {name}({param}=...) by name"


def test_a_refused_buffer_is_left_untouched(impl):
    x = f64()
    before = x.tobytes()
    for call in (lambda: impl.transform_inplace(x, 0), lambda: impl.fill_uniform(x, -1),
                 lambda: impl.filter_greater(x, x[:3], 0.5), lambda: impl.transform_inplace(x, r="x"),
                 lambda: impl.fill_uniform(x, 1, 2**64), lambda: impl.filter_greater(x, x, 10**400),
                 lambda: impl.filter_greater([1.0], x, 0.5), lambda: impl.transform_inplace(x, r=10**400)):
        with pytest.raises((ValueError, TypeError, OverflowError)):
            call()
    assert x.tobytes() == before


def _parameters(fn):
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_twins_have_the_same_signatures(both):
    pure, c = both
    assert set(pure.kernels) == set(c.kernels)
    for name in pure.kernels:
        assert _parameters(c.kernels[name]) == _parameters(pure.kernels[name]), name


@pytest.mark.parametrize(
    "kernel, args, kwargs",
    [
        ("sum_squares", (0, 10, True), {}),  # release_gil is keyword-only
        ("sum_squares", (0,), {}),
        ("sum_squares", (0, 10), {"release": False}),
        ("chunk_stats", (), {}),
        ("checksum", (b"x", b"y"), {}),
        ("filter_greater", (np.ones(2), np.ones(2)), {}),
        ("is_prime", (), {"m": 7}),
        ("splitmix64", (1,), {}),
        ("monte_carlo_pi", (10, 1, 2), {}),
        ("fill_uniform", (np.ones(2),), {}),
        ("transform_inplace", (np.ones(2), 1, 3.9, 0), {}),
    ],
)
def test_call_shape_errors_are_type_errors_in_both(impl, kernel, args, kwargs):
    with pytest.raises(TypeError):
        getattr(impl, kernel)(*args, **kwargs)


def test_keyword_calls_work_alike(both):
    pure, c = both
    for twin in (pure, c):
        assert twin.sum_squares(lo=1, hi=4, release_gil=False) == 14
        assert twin.cpu_bound(n=4) == 14
        assert twin.count_primes(lo=0, hi=10) == 4
        assert twin.is_prime(n=7) is True
        assert twin.splitmix64(seed=0, counter=0) == 0xE220A8397B1DCDAF
        assert twin.uniform(seed=0, counter=0) == (0xE220A8397B1DCDAF >> 11) / 2**53
        assert twin.monte_carlo_hits(start=0, stop=10, seed=1) == pure.monte_carlo_hits(0, 10, 1)
        assert twin.monte_carlo_pi(samples=10, seed=1) == pure.monte_carlo_pi(10, 1)
        x = f64()
        assert twin.chunk_stats(data=x).count == 16
        twin.transform_inplace(data=x, rounds=2, r=3.0)
        twin.fill_uniform(out=x, seed=3, start=5)
        assert x[0] == pure.uniform(3, 5)
        assert twin.filter_greater(data=x, out=x, threshold=2.0) == 0
        assert twin.checksum(data=b"\x01\x02").a == 3


def test_release_gil_accepts_the_same_values_in_both(both):
    """The pure twin ignores ``release_gil``; the compiled one tests its truth. Any value one twin
    accepts, the other must accept too, with the same result (or both must refuse it)."""
    pure, c = both
    for value in (True, False, 0, 1, None, "", "yes", np.bool_(True), np.array([1, 2])):
        outcomes = []
        for twin in (pure, c):
            try:
                outcomes.append(("ok", twin.sum_squares(0, 10, release_gil=value)))
            except Exception as exc:  # noqa: BLE001 - the comparison is the point
                outcomes.append((type(exc).__name__, str(exc)))
        assert outcomes[0] == outcomes[1], f"release_gil={value!r}: pure {outcomes[0]}, compiled {outcomes[1]}"


def test_edge_values_that_are_accepted(impl):
    """Inputs near the refused ones that must NOT be refused (the table's other side)."""
    assert impl.sum_squares(2**63, 2**63) == 0
    assert impl.sum_squares(np.uint64(0), np.int8(3)) == 5
    assert impl.cpu_bound(np.array(3)) == 5  # a 0-d integer array is an index
    assert impl.is_prime(-(2**70)) is False
    assert impl.splitmix64(-1, 2**64) == impl.splitmix64(2**64 - 1, 0)  # taken modulo 2**64
    assert impl.monte_carlo_hits(0, 0, SEED_MAX) == 0
    assert impl.checksum(np.array(5, dtype="<u8")).length == 8  # a 0-d buffer still has bytes
    x = f64()
    impl.transform_inplace(x, 1, float("nan"))  # r may be NaN: every element becomes NaN
    assert np.isnan(x).all()
    assert impl.filter_greater(f64(), np.empty(17), float("nan")) == 0
    assert impl.filter_greater(f64(), np.empty(16), np.float32(0.5)) == 8
    assert impl.filter_greater(f64(), np.empty(16), Fraction(1, 2)) == 8
