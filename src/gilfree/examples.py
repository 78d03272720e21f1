"""Small functions to try ``gilfree advise`` on, one per clear case, shipped so that the docs'
commands run from an installed package as well as from a checkout::

    gilfree advise gilfree.examples:python_loop --args 300000
    gilfree advise gilfree.examples:kernel_loop --args 20000000
    gilfree advise gilfree.examples:wait --args 0.02
    gilfree advise gilfree.examples:tiny --args 1
    gilfree advise gilfree.examples:array_sines --inputs gilfree.examples:big_arrays

Each one's docstring says what the advisor should find.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["array_sines", "big_arrays", "kernel_loop", "python_loop", "tiny", "wait"]


def python_loop(n: int) -> int:
    """A pure-Python loop: holds the GIL, so threads do not help (unless the GIL is off)."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def kernel_loop(n: int) -> int:
    """gilfree's compiled ``sum_squares``, which releases the GIL: threads help (pure-Python
    installs run the twin, which holds it)."""
    from . import sum_squares

    return sum_squares(0, n)


def wait(seconds: float) -> float:
    """Waits, as an I/O call does: threads wait side by side, so they help."""
    time.sleep(seconds)
    return seconds


def tiny(x: int) -> int:
    """Too little work to hand to anyone: parallelism does not pay."""
    return x + 1


def array_sines(a: Any) -> float:
    """One numpy pass over a large array (``numpy.sin`` releases the GIL): pickling the array to a
    worker process costs a large share of the work; shared memory does not."""
    import numpy as np

    return float(np.sin(a).sum())


def big_arrays(count: int = 4, elements: int = 1_000_000) -> list[tuple[Any]]:
    """``count`` tasks, each one float64 array of ``elements`` (8 MB by default)."""
    import numpy as np

    rng = np.random.default_rng(14)
    return [(rng.random(elements),) for _ in range(count)]
