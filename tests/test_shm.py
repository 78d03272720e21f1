"""SharedArray: one owner unlinks, attaching never registers, views outlive close() safely."""

from __future__ import annotations

import gc
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from gilfree.shm import SharedArray, SharedArrayHandle

#: Run against every built wheel, on every OS (see the marker in pyproject.toml).
pytestmark = pytest.mark.portable

SHM = Path("/dev/shm")
posix_shm = pytest.mark.skipif(not SHM.is_dir(), reason="needs /dev/shm")


def _exists(handle: SharedArrayHandle) -> bool:
    return (SHM / handle.name.lstrip("/")).exists()


def test_copy_attach_and_unlink_once():
    data = np.arange(1000, dtype=np.float64)
    with SharedArray.copy_of(data) as owner:
        with owner.handle.attach() as other:
            assert not other.owner
            np.testing.assert_array_equal(other.array, data)
            other.array[0] = -1.0
        assert owner.array[0] == -1.0  # the same memory, not a copy
        if SHM.is_dir():
            assert _exists(owner.handle)  # closing the attached side does not unlink
    if SHM.is_dir():
        assert not _exists(owner.handle)
    assert owner.closed
    owner.close()  # twice is fine


def test_handle_pickles_small_whatever_the_size():
    with SharedArray.create((4_000_000,)) as big:
        assert len(pickle.dumps(big.handle)) < 300


@posix_shm
def test_close_with_a_live_view_unlinks_now_and_unmaps_later():
    shared = SharedArray.create(1000)
    view = shared.array[10:20]
    shared.close()
    assert not _exists(shared.handle)
    view[:] = 7.0  # still mapped: reading and writing must not crash
    assert view.sum() == 70.0
    assert shared._unmap.alive
    del view
    gc.collect()
    assert not shared._unmap.alive


def test_close_while_a_thread_runs_a_kernel_on_a_view():
    import gilfree

    shared = SharedArray.create(4_000_000)
    view = shared.array[:]
    started = threading.Event()
    results = []

    def work(v):
        started.set()
        for _ in range(5):
            results.append(gilfree.chunk_stats(v).count)

    t = threading.Thread(target=work, args=(view,))
    del view
    t.start()
    started.wait()
    shared.close()  # must not unmap under the running kernel
    t.join()
    assert results == [4_000_000] * 5


@posix_shm
def test_attach_in_another_process_registers_nothing():
    """The child attaches, writes and exits: no tracker warning, and the segment survives."""
    with SharedArray.create(10) as shared:
        code = (
            "import sys, pickle; from gilfree.shm import SharedArray;"
            "h = pickle.loads(bytes.fromhex(sys.argv[1]));"
            "s = h.attach(); s.array[:] = 5.0; s.close()"
        )
        env = dict(os.environ)
        if env.get("PYTHONPATH"):
            env["PYTHONPATH"] = os.pathsep.join(str(Path(p).resolve()) for p in env["PYTHONPATH"].split(os.pathsep))
        proc = subprocess.run([sys.executable, "-W", "error", "-c", code, pickle.dumps(shared.handle).hex()],
                              capture_output=True, text=True, timeout=60, env=env)
        assert proc.returncode == 0, proc.stderr
        assert "leaked" not in proc.stderr and "resource_tracker" not in proc.stderr, proc.stderr
        assert _exists(shared.handle)
        assert shared.array.sum() == 50.0


@pytest.mark.parametrize(
    ("shape", "error"),
    [(0, ValueError), (-3, ValueError), ((), ValueError), ((4, 0), ValueError), ("x", TypeError), (None, TypeError)],
)
def test_bad_shapes(shape, error):
    with pytest.raises(error):
        SharedArray.create(shape)


def test_object_dtype_and_bad_handle_are_refused():
    with pytest.raises(TypeError):
        SharedArray.create(3, dtype=object)
    with pytest.raises(TypeError):
        SharedArray.attach("psm_nothing")
    with pytest.raises(FileNotFoundError):
        SharedArrayHandle("gilfree_no_such_segment", (3,), "<f8").attach()


def test_closed_array_says_so():
    shared = SharedArray.create(3)
    shared.close()
    with pytest.raises(ValueError, match="closed"):
        shared.array
