"""Leak checks shared by the tests: shared-memory segments this process created and left.

Other programs on the machine may create and remove ``psm_`` segments while a test runs, so a
plain before/after listing of /dev/shm is not enough. ``track_segments`` records the names that
``SharedArray.create`` hands out in this process and reports only those still present.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
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
