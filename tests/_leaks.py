"""Leak checks shared by the tests: shared-memory segments this process created and left.

Other programs on the machine may create and remove ``psm_`` segments while a test runs, so a
plain before/after listing of /dev/shm is not enough. ``track_segments`` records the names that
``SharedArray.create`` hands out in this process and reports only those still present.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from gilfree.shm import SharedArray

SHM_DIR = "/dev/shm"


class Segments:
    """What a tracked block created, and which of those it left behind."""

    def __init__(self) -> None:
        self.created: list[str] = []
        self.left: set[str] = set()


def _present(name: str) -> bool:
    return os.path.exists(os.path.join(SHM_DIR, name.lstrip("/")))


@contextmanager
def track_segments() -> Iterator[Segments]:
    """Record every segment ``SharedArray.create`` makes in the block; afterwards ``.left``
    holds those still in /dev/shm."""
    seen = Segments()
    original = SharedArray.create.__func__

    def create(cls, *args, **kwargs):
        shared = original(cls, *args, **kwargs)
        seen.created.append(shared.handle.name.lstrip("/"))
        return shared

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SharedArray, "create", classmethod(create))
        try:
            yield seen
        finally:
            seen.left = {name for name in seen.created if _present(name)}


# -- a gilfree command run in another process ------------------------------------------------------

def tracked_gilfree(log: Path, *args: str) -> list[str]:
    """The command line of ``python -m gilfree ARGS`` that logs each segment it creates to ``log``.

    See ``tests/_tracked_gilfree.py``. Give the child ``TMPDIR`` of its own (:func:`child_env`)
    and its temporary files are just as easy to check.
    """
    return [sys.executable, str(Path(__file__).with_name("_tracked_gilfree.py")), str(log), *args]


def child_env(tmpdir: Path) -> dict[str, str]:
    """The environment for a tracked child: a private temporary folder, paths made absolute."""
    tmpdir.mkdir(exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", TMPDIR=str(tmpdir))
    if env.get("PYTHONPATH"):  # the child runs elsewhere: keep relative entries pointing here
        env["PYTHONPATH"] = os.pathsep.join(str(Path(p).resolve()) for p in env["PYTHONPATH"].split(os.pathsep))
    return env


def wait_for_marker(proc: subprocess.Popen, marker: Path, limit_s: float = 120.0) -> bool:
    """Wait for the tracked run's handshake: True once it has created ``marker`` (see the
    ``GILFREE_TEST_*`` variables of ``tests/_tracked_gilfree.py``), False if it ended first.

    The file is polled; ``limit_s`` only turns a run that never says so into a failure instead of
    a hang (it is not a guess of how long the run takes).
    """
    deadline = time.monotonic() + limit_s
    while not marker.exists():
        if proc.poll() is not None:
            return marker.exists()
        if time.monotonic() > deadline:
            raise AssertionError(f"the run did not create {marker.name} within {limit_s:.0f} s")
        time.sleep(0.01)
    return True


def logged_segments_left(log: Path) -> list[str]:
    """The segments the tracked run logged that are still in /dev/shm."""
    names = log.read_text().split() if log.exists() else []
    return sorted(name for name in names if _present(name))


def joblib_folders_of(pid: int) -> list[str]:
    """joblib's memmapping folders in /dev/shm that process ``pid`` created (joblib names them so)."""
    try:
        entries = os.listdir(SHM_DIR)
    except OSError:
        return []
    return sorted(e for e in entries if e.startswith(f"joblib_memmapping_folder_{pid}_"))


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs: a zombie (exited, not yet reaped) counts as gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            return False
    except OSError:
        pass
    try:  # no /proc: ask the kernel
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
