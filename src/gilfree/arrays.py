"""Array workloads on float64 buffers (statistics, transform, generate, filter), compiled or pure.

Which twin these names are is decided once, in :mod:`gilfree._select`. A type checker sees the
pure twin's signatures, which the compiled twin shares (``_arrays_c.pyi``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._stats import BLOCK, Stats, aligned_chunk_size, merge_stats

__all__ = [
    "chunk_stats",
    "fill_uniform",
    "filter_greater",
    "transform_inplace",
    "BLOCK",
    "Stats",
    "aligned_chunk_size",
    "merge_stats",
]

if TYPE_CHECKING:
    from ._arrays_py import (
        chunk_stats as chunk_stats,
        fill_uniform as fill_uniform,
        filter_greater as filter_greater,
        transform_inplace as transform_inplace,
    )
else:
    from ._select import load

    _impl = load("arrays")

    chunk_stats = _impl.chunk_stats
    transform_inplace = _impl.transform_inplace
    fill_uniform = _impl.fill_uniform
    filter_greater = _impl.filter_greater
