"""The byte checksum: a plain reference, exact combination of slices, every kind of buffer."""

from __future__ import annotations

import array
import mmap
from multiprocessing import shared_memory

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gilfree
from gilfree import Checksum, combine_checksums

#: Run against every built wheel, on every OS (see the marker in pyproject.toml).
pytestmark = pytest.mark.portable

PROPERTY = settings(
    deadline=None,
    max_examples=80,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MASK64 = 2**64 - 1


def reference(data: bytes) -> Checksum:
    """The definition: a = sum of the bytes, b = sum of (n - i) * x[i], both modulo 2**64."""
    n = len(data)
    a = sum(data) % 2**64
    b = sum((n - i) * x for i, x in enumerate(data)) % 2**64
    return Checksum(n, a, b)


def random_bytes(n: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"\x00", Checksum(1, 0, 0)),
        (b"\x01", Checksum(1, 1, 1)),
        (b"\x01\x02", Checksum(2, 3, 4)),
        (b"abc", Checksum(3, 97 + 98 + 99, 3 * 97 + 2 * 98 + 99)),
        (b"\xff" * 9, Checksum(9, 9 * 255, 45 * 255)),
    ],
)
def test_checksum_small_known_values(impl, data, expected):
    got = impl.checksum(data)
    assert isinstance(got, Checksum)
    assert got == expected


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4099])
def test_checksum_against_reference(impl, n):
    data = random_bytes(n, seed=n)
    assert impl.checksum(data) == reference(data)


def test_checksum_wraps_modulo_two_pow_64(c_impl):
    """b passes 2**64 after about 2.3e8 bytes of 0xff: the compiled kernel must wrap, not saturate."""
    n = 400_000_000
    data = np.full(n, 0xFF, dtype=np.uint8)
    got = c_impl.checksum(data)
    assert got == Checksum(n, (255 * n) % 2**64, (255 * n * (n + 1) // 2) % 2**64)
    assert 255 * n * (n + 1) // 2 > MASK64


def test_checksum_wraps_pure_by_combination(impl):
    """The same wrap for both twins: combine the checksum of a block with itself many times."""
    block = impl.checksum(b"\xff" * 4096)
    whole = block
    for _ in range(16):
        whole = whole.combine(whole)  # 4096 * 2**16 bytes of 0xff
    n = 4096 * 2**16
    assert whole == Checksum(n, (255 * n) % 2**64, (255 * n * (n + 1) // 2) % 2**64)


def test_value_and_hexdigest():
    c = Checksum(3, 0x1234, 0xABCD)
    assert c.value == (0xABCD << 64) | 0x1234
    assert c.hexdigest() == f"{0xABCD:016x}{0x1234:016x}"
    assert len(Checksum(1, MASK64, MASK64).hexdigest()) == 32


@PROPERTY
@given(data=st.binary(min_size=1, max_size=3000), cuts=st.lists(st.integers(0, 3000), max_size=6))
def test_combine_over_random_split_points(impl, data, cuts):
    points = sorted({0, len(data), *(c for c in cuts if 0 < c < len(data))})
    parts = [impl.checksum(data[a:b]) for a, b in zip(points, points[1:])]
    whole = impl.checksum(data)
    assert combine_checksums(parts) == whole
    joined = parts[0]
    for p in parts[1:]:
        joined = joined.combine(p)
    assert joined == whole == reference(data)


def test_combine_order_matters():
    a, b = gilfree.checksum(b"\x01\x02"), gilfree.checksum(b"\x03")
    assert a.combine(b) != b.combine(a)
    assert a.combine(b) == gilfree.checksum(b"\x01\x02\x03")


def test_combine_checksums_refuses_nothing():
    with pytest.raises(ValueError, match="at least one"):
        combine_checksums([])


@PROPERTY
@given(data=st.binary(min_size=1, max_size=5000))
def test_twins_equal(both, data):
    pure, c = both
    assert c.checksum(data) == pure.checksum(data) == reference(data)


# --- buffers of every kind --------------------------------------------------------------------

DATA = random_bytes(5003, seed=42)


def test_bytes_bytearray_memoryview(impl):
    expected = reference(DATA)
    assert impl.checksum(DATA) == expected
    assert impl.checksum(bytearray(DATA)) == expected
    assert impl.checksum(memoryview(DATA)) == expected
    assert impl.checksum(memoryview(DATA)[100:200]) == reference(DATA[100:200])
    assert impl.checksum(array.array("B", DATA)) == expected


def test_mmap(impl, tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(DATA)
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        assert impl.checksum(mm) == reference(DATA)
        view = memoryview(mm)
        try:
            assert impl.checksum(view[1000:3000]) == reference(DATA[1000:3000])
        finally:
            view.release()
    # leaving the with block closes the mmap: a BufferError there would mean a leaked export


def test_shared_memory(impl):
    shm = shared_memory.SharedMemory(create=True, size=len(DATA))
    try:
        shm.buf[: len(DATA)] = DATA
        expected = reference(bytes(shm.buf))
        assert impl.checksum(shm.buf) == expected
        shm.close()  # BufferError here would mean the kernel kept an export alive
    finally:
        shm.unlink()


@pytest.mark.parametrize(
    "dtype",
    ["u1", "i1", "?", "u2", "i4", ">i4", "<u8", "f2", "f4", "f8", ">f8", "c16", "V3", [("a", "i2"), ("b", "f8")]],
)
def test_numpy_arrays_of_any_dtype(impl, dtype):
    raw = random_bytes(np.dtype(dtype).itemsize * 301, seed=3)
    x = np.frombuffer(raw, dtype=dtype).copy()
    assert impl.checksum(x) == reference(raw)


def test_numpy_multidimensional_c_contiguous(impl):
    x = np.arange(600, dtype=np.int32).reshape(20, 30)
    assert impl.checksum(x) == reference(x.tobytes())


def test_float64_and_its_bytes_agree(impl):
    x = np.random.default_rng(0).random(777)
    assert impl.checksum(x) == impl.checksum(x.tobytes()) == impl.checksum(memoryview(x).cast("B"))
