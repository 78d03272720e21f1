"""Task functions that run inside workers (threads or processes).

They take only small, picklable arguments (implementation and kernel names, a shared-memory
handle, a file path, offsets), resolve the kernel in the worker, and hand back the kernel's
result. Kept at module level so that every start method (fork, spawn, forkserver) can find them.
"""

from __future__ import annotations

import mmap
import os
from functools import lru_cache
from typing import Any

import numpy as np

from ._select import Implementation
from .shm import SharedArray, SharedArrayHandle

__all__ = ["call_kernel", "kernel_on_array", "kernel_on_mmap", "kernel_on_shared"]


@lru_cache(maxsize=None)
def _implementation(name: str) -> Implementation:
    return Implementation(name)


def kernel(impl: str, name: str) -> Any:
    """The kernel ``name`` of implementation ``impl`` (resolved once per process)."""
    try:
        return _implementation(impl).kernels[name]
    except KeyError:
        raise ValueError(f"no kernel named {name!r} in the {impl!r} implementation") from None


def call_kernel(impl: str, name: str, *args: Any) -> Any:
    """``kernel(impl, name)(*args)``: for work whose arguments are plain numbers."""
    return kernel(impl, name)(*args)


def kernel_on_array(impl: str, name: str, data: np.ndarray, *args: Any, inplace: bool = False) -> Any:
    """Run a kernel on an array that arrived pickled; in-place kernels send the array back."""
    result = kernel(impl, name)(data, *args)
    return data if inplace else result


def kernel_on_shared(impl: str, name: str, handle: SharedArrayHandle, start: int, stop: int,
                     *args: Any) -> Any:
    """Attach to a shared array, run a kernel on ``[start:stop]`` of its flat view, detach."""
    with SharedArray.attach(handle) as shared:
        view = shared.array.reshape(-1)[start:stop]
        try:
            return kernel(impl, name)(view, *args)
        finally:
            del view


def kernel_on_mmap(impl: str, name: str, path: str, offset: int, length: int, *args: Any,
                   writable: bool = False, dtype: str = "d") -> Any:
    """Map ``length`` bytes of ``path`` from ``offset``, run a kernel on them, flush and unmap.

    ``offset`` need not be page-aligned: the mapping starts at the page below it.
    """
    page = mmap.ALLOCATIONGRANULARITY
    start = offset - offset % page
    access = mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ
    with open(path, "r+b" if writable else "rb") as f:
        with mmap.mmap(f.fileno(), length + (offset - start), access=access, offset=start) as mm:
            with memoryview(mm) as whole:
                with whole[offset - start:] as raw:
                    view = raw.cast(dtype) if dtype != "B" else raw
                    try:
                        return kernel(impl, name)(view, *args)
                    finally:
                        if view is not raw:
                            view.release()
            if writable:
                mm.flush()


def file_size(path: str) -> int:
    return os.stat(path).st_size
