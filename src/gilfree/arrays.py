"""Array workloads on float64 buffers (statistics, transform, generate, filter), compiled or pure.

Which twin these names are is decided once, in :mod:`gilfree._select`.
"""

from ._select import load
from ._stats import BLOCK, Stats, aligned_chunk_size, merge_stats

_impl = load("arrays")

chunk_stats = _impl.chunk_stats
transform_inplace = _impl.transform_inplace
fill_uniform = _impl.fill_uniform
filter_greater = _impl.filter_greater

__all__ = [*_impl.__all__, "BLOCK", "Stats", "aligned_chunk_size", "merge_stats"]
