"""Bad input: each one raises one exact exception type, the same type and message in both twins."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

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


# (id, kernel, factory of (args, kwargs), exact exception type, a fragment of the message)
CASES = [
    # integer ranges
    ("negative-lo", "sum_squares", lambda: ((-1, 5), {}), ValueError, "lo must be >= 0"),
    ("reversed-range", "sum_squares", lambda: ((5, 4), {}), ValueError, "range is reversed"),
    ("hi-past-2**63", "sum_squares", lambda: ((0, BIG + 1), {}), OverflowError, "at most 2**63"),
    ("lo-and-hi-past-2**64", "sum_squares", lambda: ((2**64, 2**65), {}), OverflowError, "at most 2**63"),
    ("float-lo", "sum_squares", lambda: ((0.0, 5), {}), TypeError, "lo must be an int, not float"),
    ("float-hi", "sum_squares", lambda: ((0, 5.0), {}), TypeError, "hi must be an int, not float"),
    ("str-lo", "sum_squares", lambda: (("0", 5), {}), TypeError, "not str"),
    ("bool-lo", "sum_squares", lambda: ((True, 5), {}), TypeError, "not bool"),
    ("bool-hi", "sum_squares", lambda: ((0, False), {}), TypeError, "not bool"),
    ("none-hi", "sum_squares", lambda: ((0, None), {}), TypeError, "not NoneType"),
    ("numpy-float-hi", "sum_squares", lambda: ((0, np.float64(3)), {}), TypeError, "not float64"),
    ("negative-lo-held", "sum_squares", lambda: ((-1, 5), {"release_gil": False}), ValueError, "lo must be"),
    ("negative-n", "cpu_bound", lambda: ((-1,), {}), ValueError, "n must be >= 0"),
    ("n-past-2**63", "cpu_bound", lambda: ((BIG + 1,), {}), OverflowError, "n must be at most"),
    ("float-n", "cpu_bound", lambda: ((1e6,), {}), TypeError, "n must be an int"),
    ("bool-n", "cpu_bound", lambda: ((True,), {}), TypeError, "not bool"),
    ("primes-negative-lo", "count_primes", lambda: ((-5, 10), {}), ValueError, "lo must be >= 0"),
    ("primes-reversed", "count_primes", lambda: ((10, 9), {}), ValueError, "reversed"),
    ("primes-hi-past-2**63", "count_primes", lambda: ((0, BIG + 1), {}), OverflowError, "2**63"),
    ("primes-str", "count_primes", lambda: ((0, "10"), {}), TypeError, "hi must be an int, not str"),
    ("is-prime-float", "is_prime", lambda: ((7.0,), {}), TypeError, "n must be an int, not float"),
    ("is-prime-bool", "is_prime", lambda: ((True,), {}), TypeError, "not bool"),
    ("splitmix-float-seed", "splitmix64", lambda: ((1.0, 0), {}), TypeError, "seed must be an int"),
    ("splitmix-bool-counter", "splitmix64", lambda: ((0, True), {}), TypeError, "counter must be an int"),
    ("uniform-str-seed", "uniform", lambda: (("1", 0), {}), TypeError, "seed must be an int"),
    # Monte Carlo
    ("hits-negative-seed", "monte_carlo_hits", lambda: ((0, 10, -1), {}), ValueError, "seed must be in"),
    ("hits-seed-2**64", "monte_carlo_hits", lambda: ((0, 10, 2**64), {}), ValueError, "seed must be in"),
    ("hits-float-seed", "monte_carlo_hits", lambda: ((0, 10, 1.0), {}), TypeError, "seed must be an int"),
    ("hits-bool-seed", "monte_carlo_hits", lambda: ((0, 10, True), {}), TypeError, "not bool"),
    ("hits-negative-start", "monte_carlo_hits", lambda: ((-1, 10, 0), {}), ValueError, "lo must be >= 0"),
    ("hits-reversed", "monte_carlo_hits", lambda: ((10, 0, 0), {}), ValueError, "reversed"),
    ("hits-stop-past-2**63", "monte_carlo_hits", lambda: ((0, BIG + 1, 0), {}), OverflowError, "2**63"),
    ("pi-zero-samples", "monte_carlo_pi", lambda: ((0, 1), {}), ValueError, "samples must be >= 1"),
    ("pi-negative-samples", "monte_carlo_pi", lambda: ((-5, 1), {}), ValueError, "samples must be >= 1"),
    ("pi-samples-past-2**63", "monte_carlo_pi", lambda: ((BIG + 1, 1), {}), OverflowError, "samples must be"),
    ("pi-float-samples", "monte_carlo_pi", lambda: ((1000.0, 1), {}), TypeError, "samples must be an int"),
    ("pi-negative-seed", "monte_carlo_pi", lambda: ((10, -1), {}), ValueError, "seed must be in"),
    ("pi-seed-2**64", "monte_carlo_pi", lambda: ((10, SEED_MAX + 1), {}), ValueError, "seed must be in"),
    ("pi-str-seed", "monte_carlo_pi", lambda: ((10, "1"), {}), TypeError, "seed must be an int"),
    ("pi-samples-checked-first", "monte_carlo_pi", lambda: ((0, -1), {}), ValueError, "samples"),
    # float64 buffers
    ("list", "chunk_stats", lambda: (([1.0, 2.0],), {}), TypeError, "buffer protocol"),
    ("none", "chunk_stats", lambda: ((None,), {}), TypeError, "not NoneType"),
    ("scalar", "chunk_stats", lambda: ((1.5,), {}), TypeError, "not float"),
    ("float32", "chunk_stats", lambda: ((np.ones(8, np.float32),), {}), TypeError, "float64 items"),
    ("int64", "chunk_stats", lambda: ((np.ones(8, np.int64),), {}), TypeError, "float64 items"),
    ("uint8-bytes", "chunk_stats", lambda: ((bytes(64),), {}), TypeError, "float64 items"),
    ("bytearray", "chunk_stats", lambda: ((bytearray(64),), {}), TypeError, "float64 items"),
    ("big-endian-f8", "chunk_stats", lambda: ((np.ones(8, ">f8"),), {}), TypeError, "float64 items"),
    ("complex128", "chunk_stats", lambda: ((np.ones(8, np.complex128),), {}), TypeError, "float64 items"),
    ("non-contiguous", "chunk_stats", lambda: ((f64(32)[::2],), {}), ValueError, "C-contiguous"),
    ("fortran-2d", "chunk_stats", lambda: ((fortran2d(),), {}), ValueError, "C-contiguous"),
    ("empty", "chunk_stats", lambda: ((np.empty(0),), {}), ValueError, "empty"),
    ("empty-2d", "chunk_stats", lambda: ((np.empty((0, 3)),), {}), ValueError, "empty"),
    ("zero-d", "chunk_stats", lambda: ((np.array(1.0),), {}), ValueError, "at least one dimension"),
    ("transform-readonly", "transform_inplace", lambda: ((readonly(),), {}), ValueError, "read-only"),
    ("transform-readonly-memoryview", "transform_inplace",
     lambda: ((memoryview(f64().tobytes()).cast("d"),), {}), ValueError, "read-only"),
    ("transform-zero-rounds", "transform_inplace", lambda: ((f64(), 0), {}), ValueError, "rounds must be >= 1"),
    ("transform-negative-rounds", "transform_inplace", lambda: ((f64(), -3), {}), ValueError, "rounds"),
    ("transform-float-rounds", "transform_inplace", lambda: ((f64(), 1.5), {}), TypeError, "rounds must be an int"),
    ("transform-bool-rounds", "transform_inplace", lambda: ((f64(), True), {}), TypeError, "not bool"),
    ("transform-huge-rounds", "transform_inplace", lambda: ((f64(), BIG + 1), {}), OverflowError, "rounds"),
    ("transform-str-r", "transform_inplace", lambda: ((f64(),), {"r": "3.9"}), TypeError, "r must be a real"),
    ("transform-bool-r", "transform_inplace", lambda: ((f64(),), {"r": True}), TypeError, "r must be a real"),
    ("transform-complex-r", "transform_inplace", lambda: ((f64(),), {"r": 1j}), TypeError, "r must be a real"),
    ("transform-list", "transform_inplace", lambda: (([0.5],), {}), TypeError, "buffer protocol"),
    ("transform-float32", "transform_inplace", lambda: ((np.ones(8, np.float32),), {}), TypeError, "float64"),
    ("transform-bytes", "transform_inplace", lambda: ((bytes(64),), {}), TypeError, "float64 items"),
    ("transform-non-contiguous", "transform_inplace", lambda: ((f64(32)[::2],), {}), ValueError, "C-contiguous"),
    ("transform-empty", "transform_inplace", lambda: ((np.empty(0),), {}), ValueError, "empty"),
    ("transform-rounds-checked-first", "transform_inplace", lambda: (([0.5], 0), {}), ValueError, "rounds"),
    ("fill-readonly", "fill_uniform", lambda: ((readonly(), 1), {}), ValueError, "read-only"),
    ("fill-negative-seed", "fill_uniform", lambda: ((f64(), -1), {}), ValueError, "seed must be in"),
    ("fill-seed-2**64", "fill_uniform", lambda: ((f64(), 2**64), {}), ValueError, "seed must be in"),
    ("fill-float-seed", "fill_uniform", lambda: ((f64(), 1.0), {}), TypeError, "seed must be an int"),
    ("fill-negative-start", "fill_uniform", lambda: ((f64(), 1, -1), {}), ValueError, "start must be >= 0"),
    ("fill-start-past-2**63", "fill_uniform", lambda: ((f64(), 1, BIG + 1), {}), OverflowError, "start"),
    ("fill-bool-start", "fill_uniform", lambda: ((f64(), 1, True), {}), TypeError, "not bool"),
    ("fill-int64-out", "fill_uniform", lambda: ((np.zeros(8, np.int64), 1), {}), TypeError, "float64 items"),
    ("fill-list-out", "fill_uniform", lambda: (([0.0], 1), {}), TypeError, "buffer protocol"),
    ("fill-empty", "fill_uniform", lambda: ((np.empty(0), 1), {}), ValueError, "empty"),
    ("fill-fortran-2d", "fill_uniform", lambda: ((fortran2d(), 1), {}), ValueError, "C-contiguous"),
    ("fill-seed-checked-first", "fill_uniform", lambda: (([0.0], -1), {}), ValueError, "seed"),
    ("filter-readonly-out", "filter_greater", lambda: ((f64(), readonly(), 0.5), {}), ValueError, "read-only"),
    ("filter-out-too-small", "filter_greater", lambda: ((f64(16), np.empty(15), 0.5), {}), ValueError,
     "out is too small: it has 15 elements but data has 16"),
    ("filter-str-threshold", "filter_greater", lambda: ((f64(), f64(), "0.5"), {}), TypeError, "threshold"),
    ("filter-bool-threshold", "filter_greater", lambda: ((f64(), f64(), False), {}), TypeError, "threshold"),
    ("filter-none-threshold", "filter_greater", lambda: ((f64(), f64(), None), {}), TypeError, "threshold"),
    ("filter-list-data", "filter_greater", lambda: (([1.0], f64(), 0.5), {}), TypeError, "data must be"),
    ("filter-list-out", "filter_greater", lambda: ((f64(), [0.0] * 16, 0.5), {}), TypeError, "out must be"),
    ("filter-float32-data", "filter_greater", lambda: ((np.ones(16, np.float32), f64(), 0.5), {}), TypeError,
     "data must hold float64"),
    ("filter-int64-out", "filter_greater", lambda: ((f64(), np.zeros(16, np.int64), 0.5), {}), TypeError,
     "out must hold float64"),
    ("filter-empty-data", "filter_greater", lambda: ((np.empty(0), f64(), 0.5), {}), ValueError, "data is empty"),
    ("filter-empty-out", "filter_greater", lambda: ((f64(), np.empty(0), 0.5), {}), ValueError, "out is empty"),
    ("filter-non-contiguous-data", "filter_greater", lambda: ((f64(32)[::2], f64(), 0.5), {}), ValueError,
     "data must be C-contiguous"),
    ("filter-non-contiguous-out", "filter_greater", lambda: ((f64(), f64(64)[::2], 0.5), {}), ValueError,
     "out must be C-contiguous"),
    ("filter-fortran-data", "filter_greater", lambda: ((fortran2d(), f64(), 0.5), {}), ValueError, "C-contiguous"),
    # byte buffers
    ("checksum-empty-bytes", "checksum", lambda: ((b"",), {}), ValueError, "empty"),
    ("checksum-empty-array", "checksum", lambda: ((np.empty(0),), {}), ValueError, "empty"),
    ("checksum-str", "checksum", lambda: (("abc",), {}), TypeError, "not str"),
    ("checksum-list", "checksum", lambda: (([1, 2],), {}), TypeError, "not list"),
    ("checksum-none", "checksum", lambda: ((None,), {}), TypeError, "not NoneType"),
    ("checksum-int", "checksum", lambda: ((123,), {}), TypeError, "not int"),
    ("checksum-non-contiguous", "checksum", lambda: ((np.arange(10)[::2],), {}), ValueError, "C-contiguous"),
    ("checksum-fortran-2d", "checksum", lambda: ((fortran2d(),), {}), ValueError, "C-contiguous"),
]

IDS = [case[0] for case in CASES]


@pytest.mark.parametrize("case_id, kernel, make, exc, fragment", CASES, ids=IDS)
def test_bad_input_raises_the_exact_type(impl, case_id, kernel, make, exc, fragment):
    args, kwargs = make()
    with pytest.raises(exc) as excinfo:
        getattr(impl, kernel)(*args, **kwargs)
    assert excinfo.type is exc
    assert fragment in str(excinfo.value)


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


def test_a_refused_buffer_is_left_untouched(impl):
    x = f64()
    before = x.tobytes()
    for call in (lambda: impl.transform_inplace(x, 0), lambda: impl.fill_uniform(x, -1),
                 lambda: impl.filter_greater(x, x[:3], 0.5), lambda: impl.transform_inplace(x, r="x")):
        with pytest.raises((ValueError, TypeError)):
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
