"""Type aliases for the kernels' signatures: for type checkers only, nothing here runs.

The kernels take any C-contiguous buffer. ``typing_extensions.Buffer`` (``collections.abc.Buffer``
from Python 3.12) names those, but numpy's stubs give ``ndarray`` its ``__buffer__`` only on
3.12 and later, so numpy arrays are named beside it. The twins check the item format and
contiguity at run time (:mod:`gilfree._checks`); a type cannot say "float64 and contiguous".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["BufferLike"]

if TYPE_CHECKING:
    from typing import Any, Union

    import numpy as np
    from typing_extensions import Buffer, TypeAlias

    #: Bytes, bytearray, mmap, ``array.array``, a memoryview (``SharedMemory.buf``), a numpy array.
    BufferLike: TypeAlias = Union[Buffer, "np.ndarray[Any, Any]"]
