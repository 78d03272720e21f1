"""Task functions that run inside workers (threads or processes).

They take only small, picklable arguments (implementation and kernel names, a shared-memory
handle, a file path, offsets), resolve the kernel in the worker, and hand back the kernel's
result. Kept at module level so that every start method (fork, spawn, forkserver) can find them.
"""

from __future__ import annotations

import mmap
import multiprocessing
import threading
from collections import OrderedDict
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Iterator

import numpy as np

from ._select import Implementation
from .shm import SharedArray, SharedArrayHandle

__all__ = [
    "attached",
    "call_kernel",
    "call_packed",
    "checksum_from_channel",
    "checksum_from_pipe",
    "indexed_call",
    "indexed_packed",
    "inplace_on_array",
    "inplace_on_range",
    "kernel_on_array",
    "kernel_on_mmap",
    "kernel_on_range",
    "kernel_on_shared",
    "kernel_on_shared_pair",
]


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


def inplace_on_array(impl: str, name: str, data: np.ndarray, *args: Any) -> np.ndarray:
    """Run an in-place kernel on an array that arrived by value, and send the array back.

    A read-only array (joblib hands large arguments to its workers as read-only memmaps) is
    copied first: the result has to travel back to the caller anyway.
    """
    if not data.flags.writeable:
        data = np.array(data)
    kernel(impl, name)(data, *args)
    return data


def kernel_on_range(impl: str, name: str, data: np.ndarray, start: int, stop: int, *args: Any) -> Any:
    """Run a kernel on ``data[start:stop]`` of a whole array passed to every task.

    The idiom joblib recommends: pass the one large array to every task (its loky backend then
    memory-maps it once per call and hands each worker the map) and let each task cut its range.
    """
    view = data.reshape(-1)[start:stop]
    try:
        return kernel(impl, name)(view, *args)
    finally:
        del view


def inplace_on_range(impl: str, name: str, data: np.ndarray, start: int, stop: int, *args: Any) -> np.ndarray:
    """Run an in-place kernel on a copy of ``data[start:stop]`` and send the copy back.

    For arrays that reach the worker read-only (joblib's memmaps): the caller writes the returned
    chunk into its own array.
    """
    chunk = np.array(data.reshape(-1)[start:stop])
    kernel(impl, name)(chunk, *args)
    return chunk


class _Attachments:
    """The shared arrays a worker process keeps mapped from one task to the next.

    Mapping a segment costs page-table work proportional to its size (about 12 ms per 128 MB
    here), as much as a memory-bound pass over it: paid per task, it would swamp the tasks.
    A worker therefore keeps its last few attachments. Before each use, every kept mapping is
    checked against its name (:meth:`SharedArray.still_linked`): one whose segment the owner
    has unlinked, or whose name now opens another segment, is closed at once, so a stale
    handle fails as it should and memory goes back as soon as the owner lets go.
    """

    LIMIT = 8

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: OrderedDict[SharedArrayHandle, SharedArray] = OrderedDict()

    def get(self, handle: SharedArrayHandle) -> tuple[SharedArray, bool]:
        """The attachment for ``handle`` and whether it is kept (else the caller closes it)."""
        with self._lock:
            for key, shared in list(self._kept.items()):
                if not shared.still_linked():
                    del self._kept[key]
                    shared.close()
            shared = self._kept.get(handle)
            if shared is not None:
                self._kept.move_to_end(handle)
                return shared, True
            shared = SharedArray.attach(handle)
            if not shared.still_linked():  # no way to check it later: do not keep it
                return shared, False
            self._kept[handle] = shared
            while len(self._kept) > self.LIMIT:
                self._kept.popitem(last=False)[1].close()
            return shared, True


_ATTACHMENTS = _Attachments()


@contextmanager
def attached(handle: SharedArrayHandle) -> Iterator[SharedArray]:
    """A shared array for the length of one task.

    In a worker process the mapping is kept for the next task (see :class:`_Attachments`);
    in the main process (serial or threads strategies, which could simply pass views) it is
    closed at the end, so that no mapping outlives the owner's ``close()`` there.
    """
    if multiprocessing.parent_process() is None:
        with SharedArray.attach(handle) as shared:
            yield shared
        return
    shared, kept = _ATTACHMENTS.get(handle)
    if kept:
        yield shared
    else:
        with shared:
            yield shared


def kernel_on_shared(impl: str, name: str, handle: SharedArrayHandle, start: int, stop: int,
                     *args: Any) -> Any:
    """Run a kernel on ``[start:stop]`` of a shared array's flat view (attached by handle)."""
    with attached(handle) as shared:
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



# One-argument and index-tagged forms of call_kernel, for the Pool APIs of lab steps 2 and 3.
# ``Pool.map``/``imap``/``imap_unordered`` hand each task ONE argument, ``starmap`` unpacks a
# tuple into several; the tag lets results that arrive in completion order be put back in place.

def call_packed(task: tuple) -> Any:
    """``call_kernel(*task)`` with ``task = (impl, kernel, *args)``: one argument per task."""
    if not isinstance(task, tuple):
        raise TypeError(f"task must be a tuple (impl, kernel, *args), not {type(task).__name__}")
    return call_kernel(*task)


def indexed_call(index: int, impl: str, name: str, *args: Any) -> tuple[int, Any]:
    """``(index, call_kernel(impl, name, *args))``: a result that names the task it answers."""
    if isinstance(index, bool) or not isinstance(index, int):
        raise TypeError(f"index must be an int, not {type(index).__name__}")
    return index, call_kernel(impl, name, *args)


def indexed_packed(task: tuple) -> tuple[int, Any]:
    """``indexed_call(*task)`` with ``task = (index, impl, kernel, *args)``: one argument per task."""
    if not isinstance(task, tuple):
        raise TypeError(f"task must be a tuple (index, impl, kernel, *args), not {type(task).__name__}")
    return indexed_call(*task)


def kernel_on_shared_pair(impl: str, name: str, src: SharedArrayHandle, dst: SharedArrayHandle,
                          start: int, stop: int, *args: Any) -> Any:
    """Attach two shared arrays and run ``kernel(src[start:stop], dst[start:stop], *args)``.

    For kernels that read one array and write the matching region of another (``filter_greater``
    in the lab's pipeline): each chunk owns its region of ``dst``, so chunks never collide.
    """
    with attached(src) as a, attached(dst) as b:
        x = a.array.reshape(-1)[start:stop]
        y = b.array.reshape(-1)[start:stop]
        try:
            return kernel(impl, name)(x, y, *args)
        finally:
            del x, y


# Consumers for lab step 6: one message of bytes reaches a worker process either through a
# memory-mapped channel file (read in place) or through a multiprocessing Pipe (copied).

def checksum_from_channel(impl: str, path: str, sequence: int, timeout: float) -> Any:
    """Wait for message ``sequence`` of the mmap channel ``path`` and checksum its payload in place.

    The header is validated (:mod:`gilfree.mmapipc`); waiting stops with TimeoutError after
    ``timeout`` seconds, so a consumer never outlives a producer that failed.
    """
    from .mmapipc import receive

    with receive(path, sequence, timeout=timeout) as (_, payload):
        return kernel(impl, "checksum")(payload)


def checksum_from_pipe(impl: str, conn: Any, timeout: float) -> Any:
    """Receive one message of bytes on ``conn`` (a Connection), close it, checksum the bytes."""
    try:
        if not conn.poll(timeout):
            raise TimeoutError(f"no message arrived on the pipe within {timeout} s")
        data = conn.recv_bytes()
    finally:
        conn.close()
    return kernel(impl, "checksum")(data)


