"""A shared-memory file system too small for a new segment: a clear error at creation, no crash.

tmpfs gives a segment its pages on first write and, when it has none left, kills the writer with
SIGBUS (Docker's /dev/shm is 64 MB by default). SharedArray.create reserves every page first, so
asking for more than the file system holds fails there, with ENOSPC and a way out, and leaves no
segment behind.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys

import numpy as np
import pytest

from gilfree import shm as shm_module
from gilfree.shm import SharedArray

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not os.path.isdir("/dev/shm") or not hasattr(os, "posix_fallocate"),
    reason="reserves pages with posix_fallocate in /dev/shm (Linux)")


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the segments this test creates (and only those)."""
    names: list[str] = []
    real = shm_module.shared_memory.SharedMemory

    class Recording(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            if kwargs.get("create"):
                names.append(self.name)

    monkeypatch.setattr(shm_module.shared_memory, "SharedMemory", Recording)
    return names


def test_more_than_the_file_system_holds_is_enospc_with_a_way_out(created: list[str]) -> None:
    # More bytes than /dev/shm holds in all: the kernel refuses the reservation outright, without
    # filling the file system that other processes share.
    too_many = shutil.disk_usage("/dev/shm").total // 8 + 4096
    with pytest.raises(OSError) as info:
        SharedArray.create(too_many, np.float64)
    assert info.value.errno == errno.ENOSPC
    message = str(info.value)
    assert "/dev/shm has" in message and "--shm-size" in message
    assert f"{too_many * 8:,}-byte" in message
    assert len(created) == 1
    assert not os.path.exists(os.path.join("/dev/shm", created[0].lstrip("/")))


def test_a_segment_that_fits_is_reserved_and_zeroed(created: list[str]) -> None:
    with SharedArray.create((1000, 3), np.float64) as shared:
        path = os.path.join("/dev/shm", shared.handle.name.lstrip("/"))
        # Every page is allocated up front (st_blocks counts 512-byte blocks), not sparse.
        assert os.stat(path).st_blocks * 512 >= 1000 * 3 * 8
        assert not shared.array.any()
    assert created and not os.path.exists(os.path.join("/dev/shm", created[0].lstrip("/")))
