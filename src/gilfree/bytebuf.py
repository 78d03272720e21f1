"""Byte-buffer workloads (a mergeable checksum), compiled or pure.

Which twin these names are is decided once, in :mod:`gilfree._select`.
"""

from ._checksum import Checksum, combine_checksums
from ._select import load

_impl = load("bytebuf")

checksum = _impl.checksum

__all__ = [*_impl.__all__, "Checksum", "combine_checksums"]
