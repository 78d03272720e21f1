"""Byte-buffer workloads (a mergeable checksum), compiled or pure.

Which twin these names are is decided once, in :mod:`gilfree._select`. A type checker sees the
pure twin's signature, which the compiled twin shares (``_bytebuf_c.pyi``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._checksum import Checksum, combine_checksums

__all__ = ["checksum", "Checksum", "combine_checksums"]

if TYPE_CHECKING:
    from ._bytebuf_py import checksum as checksum
else:
    from ._select import load

    _impl = load("bytebuf")

    checksum = _impl.checksum
