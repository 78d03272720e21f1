"""Small pieces that lab steps 5 and 6 share, so that neither copies the other.

Which implementations run (the caller decides; pure Python, the reference, always among them),
which strategy may carry the worker processes, how progress is counted, and how two results are
compared bit for bit. This is not an experiment framework: each step still says what it runs and
what it means.

``chosen_implementations``, ``worker_count`` and ``Ticker`` have the same names, signatures and
behaviour as those of steps 1 to 4 (``lab/_plan.py`` on the branch of those steps): when both
branches meet, one home for them is enough.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Callable

from .. import _select
from .._select import C_EXTENSION, PURE_PYTHON, Implementation
from .._stats import Stats
from ..strategies import check_workers, get_strategy
from ._result import Progress

__all__ = [
    "Ticker",
    "chosen_implementations",
    "main_implementation",
    "process_strategy",
    "same_stats",
    "worker_count",
]


def chosen_implementations(implementations: Mapping[str, Implementation] | None) -> dict[str, Implementation]:
    """The implementations a step runs, by name, pure Python first.

    ``None`` means every one that imports here (:func:`gilfree._select.implementations`). The
    pure-Python twin is the reference every step compares against, so it must be among them;
    leaving out ``"c-extension"`` runs the step without compiled code.
    """
    impls = _select.implementations() if implementations is None else implementations
    if not isinstance(impls, Mapping):
        raise TypeError("implementations must be a mapping of implementation name to Implementation, "
                        f"not {type(impls).__name__}")
    known = (PURE_PYTHON, C_EXTENSION)
    unknown = [name for name in impls if name not in known]
    if unknown:
        raise ValueError(f"implementations must be named {PURE_PYTHON!r} or {C_EXTENSION!r}, got {unknown[0]!r}")
    if PURE_PYTHON not in impls:
        raise ValueError(f"implementations must include {PURE_PYTHON!r}: it is the reference of every step")
    for name, impl in impls.items():
        if not isinstance(impl, Implementation):
            raise TypeError(f"implementations[{name!r}] must be a gilfree._select.Implementation, "
                            f"not {type(impl).__name__}")
    return {name: impls[name] for name in known if name in impls}


def main_implementation(impls: Mapping[str, Implementation]) -> str:
    """The implementation a step's summary speaks of: the compiled one when it runs."""
    return C_EXTENSION if C_EXTENSION in impls else PURE_PYTHON


def worker_count(workers: object, default: int) -> int:
    """``workers`` checked as a positive int, or ``default`` when it is None."""
    return check_workers(default if workers is None else workers)


def process_strategy(strategy: object, why: str) -> str:
    """``strategy`` checked as a registered strategy whose tasks run in worker processes.

    ``why`` ends the message that refuses an in-process strategy: what the step needs processes for.
    """
    found = get_strategy(strategy)  # type: ignore[arg-type]  # it checks the type itself
    if found.capabilities.in_process:
        raise ValueError(f"strategy must run tasks in worker processes, not {found.name!r}: {why}")
    return found.name


class Ticker:
    """Progress over a known total: every :meth:`tick` counts one step done and reports it."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress = progress
        self.total = total
        self.done = 0

    def tick(self, label: str) -> None:
        self.done += 1
        self.progress(self.done, self.total, label)

    def counted(self, fn: Callable[[], object], label: str) -> Callable[[], object]:
        """``fn`` that ticks with ``label`` after each call."""
        def call() -> object:
            out = fn()
            self.tick(label)
            return out
        return call


def same_stats(a: Stats, b: Stats) -> bool:
    """Bitwise equality of two Stats (``==`` would call 0.0 and -0.0 equal)."""
    return a.count == b.count and all(struct.pack("<d", float(x)) == struct.pack("<d", float(y))
                                      for x, y in zip(a[1:], b[1:]))
