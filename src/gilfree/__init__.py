"""gilfree: when can threads beat the GIL, and what should you use instead when they can't?

Every workload exists twice: as plain Python (``gilfree._<unit>_py``) and as a Cython kernel that
releases the GIL (``gilfree._<unit>_c``). The names exported here are the ones chosen for this
process; :func:`implementations` gives both, side by side.
"""

from __future__ import annotations

from ._checksum import Checksum, combine_checksums
from ._select import IMPLEMENTATION, Implementation, implementations
from ._stats import BLOCK, Stats, aligned_chunk_size, merge_stats
from ._timing import gil_enabled
from .arrays import chunk_stats, fill_uniform, filter_greater, transform_inplace
from .bytebuf import checksum
from .cpu import count_primes, cpu_bound, monte_carlo_hits, monte_carlo_pi, sum_squares

from ._version import __version__

__all__ = [
    "__version__",
    "BLOCK",
    "IMPLEMENTATION",
    "Checksum",
    "Implementation",
    "Stats",
    "aligned_chunk_size",
    "checksum",
    "chunk_stats",
    "combine_checksums",
    "count_primes",
    "cpu_bound",
    "fill_uniform",
    "filter_greater",
    "gil_enabled",
    "implementations",
    "merge_stats",
    "monte_carlo_hits",
    "monte_carlo_pi",
    "sum_squares",
    "transform_inplace",
]

