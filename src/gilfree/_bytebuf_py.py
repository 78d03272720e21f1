"""Byte-buffer workloads in pure Python: the reference twin of ``ext/_bytebuf_c.pyx``.

The lab's mmap step shares a file between processes; this checksum is the work each process does
on its slice of the mapping.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._checks import byte_view
from ._checksum import Checksum

if TYPE_CHECKING:
    from ._typing import BufferLike

__all__ = ["checksum"]

_MASK64 = 0xFFFFFFFFFFFFFFFF


def checksum(data: BufferLike) -> Checksum:
    """Fletcher-style 64-bit checksum of the raw bytes of any C-contiguous buffer.

    Accepts bytes, bytearray, mmap, ``SharedMemory.buf``, numpy arrays of any dtype that exports
    a buffer (for datetime64, pass ``x.view("int64")``). The checksums of adjacent slices
    combine exactly (:meth:`Checksum.combine`).
    """
    with byte_view(data, "data") as x:
        a = 0
        b = 0
        for byte in x:
            a = (a + byte) & _MASK64
            b = (b + a) & _MASK64
        return Checksum(len(x), a, b)
