"""Small pieces that lab steps 5 and 6 share, so that neither copies the other.

Which implementation a summary speaks of, which strategy may carry the worker processes, and
how two results are compared bit for bit. What every step shares (the implementations to run,
the worker count, progress) lives in :mod:`gilfree.lab._plan`. This is not an experiment
framework: each step still says what it runs and what it means.
"""

from __future__ import annotations

from collections.abc import Mapping

from .._select import C_EXTENSION, PURE_PYTHON, Implementation
from .._stats import Stats, stats_bits
from ..strategies import get_strategy

__all__ = [
    "main_implementation",
    "process_strategy",
    "same_stats",
]


def main_implementation(impls: Mapping[str, Implementation]) -> str:
    """The implementation a step's summary speaks of: the compiled one when it runs."""
    return C_EXTENSION if C_EXTENSION in impls else PURE_PYTHON


def process_strategy(strategy: object, why: str) -> str:
    """``strategy`` checked as a registered strategy whose tasks run in worker processes.

    ``why`` ends the message that refuses an in-process strategy: what the step needs processes for.
    """
    found = get_strategy(strategy)  # type: ignore[arg-type]  # it checks the type itself
    if found.capabilities.in_process:
        raise ValueError(f"strategy must run tasks in worker processes, not {found.name!r}: {why}")
    return found.name


def same_stats(a: Stats, b: Stats) -> bool:
    """Bitwise equality of two Stats (``==`` would call 0.0 and -0.0 equal)."""
    return stats_bits(a) == stats_bits(b)
