"""gilfree: when can threads beat the GIL, and what should you use instead when they can't?

Every workload exists twice: as plain Python (``gilfree._<unit>_py``) and as a Cython kernel that
releases the GIL (``gilfree._<unit>_c``). The names exported here are the ones chosen for this
process; :func:`implementations` gives both, side by side.

Beside the kernels, the primitives to build on::

    from gilfree import FailSafePool, SharedArray, open_executor, run_chunks, WorkerDied

and the advisor, which measures your own function on each of them: ``gilfree.advise(fn, inputs)``.

``__all__`` is the documented surface. The lab (:mod:`gilfree.lab`) and the benchmark
(:mod:`gilfree.bench`) stay in their subpackages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    # the kernels, and which twin they are
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
    # executors and the fail-safe pool
    "FailSafePool",
    "open_executor",
    "stop_executor",
    # split / run / merge on any executor
    "array_chunks",
    "default_parts",
    "parallel_reduce",
    "run_chunks",
    "split_range",
    # shared memory
    "SharedArray",
    "SharedArrayHandle",
    # the advisor: your own function on every strategy
    "advise",
    # errors and interrupts
    "PoolStopped",
    "RemoteTraceback",
    "TaskTimeout",
    "Terminated",
    "WorkerDied",
    "sigterm_raises",
]

#: The primitives, by the module they live in. They are imported on first use, so that
#: ``import gilfree`` costs what the kernels cost (no numpy, no multiprocessing): the command
#: line, ``gilfree --version`` and every spawned worker start without them.
_LAZY = {
    "FailSafePool": "pool",
    "open_executor": "strategies",
    "stop_executor": "strategies",
    "array_chunks": "chunked",
    "default_parts": "chunked",
    "parallel_reduce": "chunked",
    "run_chunks": "chunked",
    "split_range": "chunked",
    "SharedArray": "shm",
    "SharedArrayHandle": "shm",
    "advise": "advisor",
    "PoolStopped": "errors",
    "RemoteTraceback": "errors",
    "TaskTimeout": "errors",
    "WorkerDied": "errors",
    "Terminated": "interrupts",
    "sigterm_raises": "interrupts",
}

if TYPE_CHECKING:
    # What a type checker sees: the same names, imported at once (tests/test_public_api.py
    # checks that this list and _LAZY agree).
    from .advisor import advise
    from .chunked import array_chunks, default_parts, parallel_reduce, run_chunks, split_range
    from .errors import PoolStopped, RemoteTraceback, TaskTimeout, WorkerDied
    from .interrupts import Terminated, sigterm_raises
    from .pool import FailSafePool
    from .shm import SharedArray, SharedArrayHandle
    from .strategies import open_executor, stop_executor
else:

    def __getattr__(name: str) -> object:
        home = _LAZY.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
        globals()[name] = value  # found once; later lookups never come back here
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *_LAZY})
