"""Small functions to try ``gilfree advise`` on, one per clear case, shipped so that the docs'
commands run from an installed package as well as from a checkout::

    gilfree advise gilfree.examples:python_loop --args 300000
    gilfree advise gilfree.examples:kernel_loop --args 400000000
    gilfree advise gilfree.examples:wait --args 0.02
    gilfree advise gilfree.examples:tiny --args 1
    gilfree advise gilfree.examples:array_sines --inputs gilfree.examples:big_arrays

Each one's docstring says what the advisor should find.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["PURE_PYTHON_SHARE", "array_sines", "big_arrays", "kernel_loop", "python_loop", "tiny", "wait"]

#: The compiled ``sum_squares`` sums about this many times as many squares per second as its
#: pure-Python twin (measured here at 800 to 1000): :func:`kernel_loop` on a pure-Python install
#: sums this many times fewer, so that one call takes about as long on either.
PURE_PYTHON_SHARE = 1000


def python_loop(n: int) -> int:
    """A pure-Python loop: holds the GIL, so threads do not help (unless the GIL is off)."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def kernel_loop(n: int) -> int:
    """gilfree's compiled ``sum_squares`` over ``range(n)``, which releases the GIL: threads help.

    A pure-Python install runs the twin, which holds the GIL, over ``range(n //``
    :data:`PURE_PYTHON_SHARE` ``)``: the same command then takes about as long per call (and
    fits the same budget) instead of a thousand times longer.
    """
    from . import IMPLEMENTATION, sum_squares
    from ._select import C_EXTENSION

    return sum_squares(0, n if IMPLEMENTATION == C_EXTENSION else n // PURE_PYTHON_SHARE)


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
