"""A numpy array in a ``multiprocessing.shared_memory`` segment, shared by handle, unlinked once.

The rules it enforces are the ones that trip people up with raw ``SharedMemory``:

* **One owner.** The process that creates the segment is the only one that unlinks it, once,
  when its ``SharedArray`` is closed (or its ``with`` block ends, exception or not).
* **Attaching never registers.** Before Python 3.13, merely opening an existing segment
  registered it with the resource tracker, which then warned about "leaked shared_memory
  objects" or unlinked it while the owner still used it. Attaching here never registers, on
  every supported Python (``track=False`` where it exists, otherwise the registration is
  skipped for the duration of the attach).
* **Handles, not arrays, cross process boundaries.** A :class:`SharedArrayHandle` (segment
  name, shape, dtype) pickles to a few dozen bytes whatever the array's size: that is what
  makes shared memory zero-copy.
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import sys
import threading
import weakref
from collections.abc import Sized
from dataclasses import dataclass
from multiprocessing import resource_tracker, shared_memory
from typing import Any

import numpy as np

from ._checks import as_index
from ._compat import shared_memory_fd

__all__ = ["SharedArray", "SharedArrayHandle"]

_REGISTER_LOCK = threading.Lock()


def _close_mapping(shm: shared_memory.SharedMemory) -> None:
    """Unmap a segment once nothing in this process can read it any more."""
    try:
        shm.close()
    except BufferError:  # a buffer export is still alive: the mmap is freed with it
        pass


@dataclass(frozen=True)
class SharedArrayHandle:
    """What another process needs to attach: the segment name, the shape and the dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    def attach(self) -> "SharedArray":
        """Open the segment in this process (it is not registered with the resource tracker)."""
        return SharedArray.attach(self)

    @property
    def nbytes(self) -> int:
        # Python ints: numpy's int64 product would wrap around for absurd shapes.
        return math.prod(_check_shape(self.shape)) * np.dtype(self.dtype).itemsize


def _open_untracked(name: str) -> shared_memory.SharedMemory:
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(name=name, track=False)
    # Python < 3.13 registers every attach; skip that registration (and only that one).
    with _REGISTER_LOCK:
        original = resource_tracker.register

        def register(name: Sized, rtype: str) -> None:  # the signature of the one it stands in for
            if rtype != "shared_memory":
                original(name, rtype)

        resource_tracker.register = register
        try:
            return shared_memory.SharedMemory(name=name)
        finally:
            resource_tracker.register = original


def _check_shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"shape must be an int or a tuple of ints, not {type(shape).__name__}")
    dims = tuple(as_index(d, "each dimension of shape") for d in shape)
    if not dims or any(d <= 0 for d in dims):
        raise ValueError(f"shape must have at least one dimension and only sizes >= 1, got {shape}")
    return dims


def _check_dtype(dtype: Any) -> np.dtype[Any]:
    dt: np.dtype[Any] = np.dtype(dtype)
    if dt.hasobject:
        raise TypeError(f"dtype {dt} holds Python objects, which cannot live in shared memory")
    return dt


def _check_nbytes(dims: tuple[int, ...], dt: np.dtype[Any]) -> int:
    nbytes = math.prod(dims) * dt.itemsize
    if nbytes <= 0:
        raise ValueError(f"an array of shape {dims} and dtype {dt} has no bytes to share")
    if nbytes > sys.maxsize:
        raise ValueError(f"an array of shape {dims} and dtype {dt} needs {nbytes} bytes, more than "
                         "this platform can map")
    return nbytes


def _reserve(shm: shared_memory.SharedMemory, nbytes: int) -> None:
    """Give a new segment all its pages now: a full ``/dev/shm`` is then an error here, not a crash.

    A segment is a file in a memory file system (tmpfs on Linux) whose pages are handed out on
    first write; when none are left, that write kills the process with SIGBUS, somewhere in a
    kernel or a numpy copy. A container's ``/dev/shm`` is small (64 MB under Docker by default),
    so this is the usual way large shared arrays fail. ``posix_fallocate`` asks for every page at
    once, and a refusal becomes an ``OSError`` (ENOSPC) that says what to do. Where the call does
    not exist (macOS, Windows) or the file system cannot reserve, nothing changes.
    """
    fd = shared_memory_fd(shm)
    fallocate = getattr(os, "posix_fallocate", None)
    if fd is None or fallocate is None:
        return
    try:
        fallocate(fd, 0, nbytes)
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EFBIG):
            if error.errno in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                return  # this file system cannot reserve: pages come on first write, as before
            raise
        where = "/dev/shm" if os.path.isdir("/dev/shm") else "the shared-memory file system"
        try:
            usage = shutil.disk_usage(where)
            room = f"{where} has {usage.free:,} of {usage.total:,} bytes free"
        except OSError:
            room = f"{where} is full"
        raise OSError(
            errno.ENOSPC,
            f"not enough room for a {nbytes:,}-byte shared-memory segment: {room}. Close the "
            "shared arrays you no longer need, or use smaller ones; in a container, give it more "
            "(docker run --shm-size=1g)",
        ) from None


class SharedArray:
    """A numpy array whose memory is a shared-memory segment.

    Create one with :meth:`create` or :meth:`copy_of` (this process owns it and will unlink
    it), send ``.handle`` to workers, and attach there with :meth:`attach` (or
    ``handle.attach()``). Use it as a context manager so that it is closed, and for the owner
    unlinked, whatever happens::

        with SharedArray.copy_of(data) as shared:
            pool.map(work, [(shared.handle, lo, hi) for lo, hi in chunks])
            result = shared.array.copy()
    """

    def __init__(self, shm: shared_memory.SharedMemory, shape: tuple[int, ...], dtype: np.dtype,
                 owner: bool) -> None:
        self._shm: shared_memory.SharedMemory | None = shm
        self._array: np.ndarray | None = np.ndarray(shape, dtype=dtype, buffer=shm.buf)
        self.owner = owner
        self.handle = SharedArrayHandle(shm.name, shape, dtype.str)
        # numpy keeps no buffer export on shm.buf, so SharedMemory.close() would unmap the
        # segment under any view still in use (a thread's kernel, say) and the next access would
        # crash. The mapping is therefore closed only when the array and every view of it are
        # gone: this finalizer runs at that moment (at once, if nothing else holds them).
        self._unmap = weakref.finalize(self._array, _close_mapping, shm)

    @classmethod
    def create(cls, shape: Any, dtype: Any = np.float64) -> "SharedArray":
        """A new zero-filled segment holding an array of ``shape`` and ``dtype``; this process owns it."""
        dims = _check_shape(shape)
        dt = _check_dtype(dtype)
        nbytes = _check_nbytes(dims, dt)
        # Under the attach lock: an attach in another thread (Python < 3.13) briefly stops
        # shared-memory registrations, and this segment's own must not fall in that window.
        with _REGISTER_LOCK:
            shm = shared_memory.SharedMemory(create=True, size=nbytes)
        try:
            _reserve(shm, nbytes)
            return cls(shm, dims, dt, owner=True)
        except BaseException:
            shm.close()
            shm.unlink()
            raise

    @classmethod
    def copy_of(cls, array: Any) -> "SharedArray":
        """A new segment holding a copy of ``array``; this process owns it."""
        src = np.asarray(array)
        shared = cls.create(src.shape, src.dtype)
        try:
            shared.array[...] = src
        except BaseException:
            shared.close()
            raise
        return shared

    @classmethod
    def attach(cls, handle: SharedArrayHandle) -> "SharedArray":
        """Open an existing segment by handle; closing it never unlinks it.

        The handle is checked as :meth:`create` checks its arguments before anything is opened:
        a handle is plain data that may have been built by hand or sent by another program, and
        an object dtype or a wrong shape would map garbage as Python objects or as numbers.
        """
        if not isinstance(handle, SharedArrayHandle):
            raise TypeError(f"attach needs a SharedArrayHandle, not {type(handle).__name__}")
        if not isinstance(handle.name, str):
            raise TypeError(f"handle.name must be a str naming a shared-memory segment, "
                            f"not {type(handle.name).__name__}")
        if not handle.name.strip("/"):
            raise ValueError(f"handle.name must name a shared-memory segment, got {handle.name!r}")
        dims = _check_shape(handle.shape)
        if handle.dtype is None:  # numpy would read None as float64 and map whatever is there
            raise TypeError("handle.dtype must name a dtype (such as '<f8', from a handle's .dtype), "
                            "not NoneType")
        dt = _check_dtype(handle.dtype)
        nbytes = _check_nbytes(dims, dt)
        try:
            shm = _open_untracked(handle.name)
        except FileNotFoundError:
            raise FileNotFoundError(
                errno.ENOENT,
                "no shared-memory segment by that name: its owner has closed it (a stale handle) "
                "or never created it",
                handle.name,
            ) from None
        try:
            if shm.size < nbytes:
                raise ValueError(
                    f"segment {handle.name!r} has {shm.size} bytes, fewer than the {nbytes} "
                    "its handle describes"
                )
            return cls(shm, dims, dt, owner=False)
        except BaseException:
            shm.close()
            raise

    @property
    def array(self) -> np.ndarray:
        """The numpy view of the segment (valid until :meth:`close`)."""
        if self._array is None:
            raise ValueError("this SharedArray is closed")
        return self._array

    @property
    def closed(self) -> bool:
        return self._shm is None

    def still_linked(self) -> bool:
        """Whether this mapping's segment is still the one its name opens (Linux /dev/shm).

        False once the owner has unlinked it (or the name now belongs to a new segment), and
        wherever segments have no path to check: a caller keeping a mapping open between uses
        must then attach afresh.
        """
        shm = self._shm
        if shm is None:
            return False
        try:
            fd = shared_memory_fd(shm)
            if fd is None:
                return False
            here = os.fstat(fd)
            there = os.stat(os.path.join("/dev/shm", shm.name.lstrip("/")))
        except (OSError, AttributeError):
            return False
        return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)

    def close(self) -> None:
        """Release the segment here; the owner also unlinks it. Safe to call more than once.

        The owner's unlink happens now, always: the name disappears from /dev/shm. The mapping
        itself is closed as soon as no view of ``.array`` is left, which is at once unless some
        code (another thread, a caller) still holds one: unmapping under it would crash.
        """
        shm, self._shm, self._array = self._shm, None, None
        if shm is None:
            return
        try:
            if self.owner:
                try:
                    shm.unlink()
                except FileNotFoundError:
                    pass
        finally:
            del shm  # the finalizer holds the segment until the last view is gone

    def __enter__(self) -> "SharedArray":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # last resort: an owner dropped without close() still unlinks
        if getattr(self, "_shm", None) is not None and getattr(self, "owner", False):
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("owner" if self.owner else "attached")
        return f"<SharedArray {self.handle.name} shape={self.handle.shape} dtype={self.handle.dtype} {state}>"
