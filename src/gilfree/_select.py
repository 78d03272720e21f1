"""The one place that decides which implementation of the kernels gilfree uses.

Rule: ``GILFREE_NO_EXTENSIONS=1`` (or any interpreter other than CPython) means pure Python;
otherwise the compiled kernels, falling back to pure Python if any of them fails to import. The
choice is all or nothing, so ``IMPLEMENTATION`` is true of every kernel at once.
"""

from __future__ import annotations

import functools

import importlib
import os
import platform
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from . import _arrays_py, _bytebuf_py, _cpu_py

__all__ = [
    "C_EXTENSION",
    "IMPLEMENTATION",
    "PURE_PYTHON",
    "UNITS",
    "Implementation",
    "available",
    "extensions_disabled",
    "implementations",
    "load",
]

PURE_PYTHON = "pure-python"
C_EXTENSION = "c-extension"

#: The accelerated units: each is ``_<unit>_py.py`` + ``ext/_<unit>_c.pyx`` + ``<unit>.py``.
UNITS = ("cpu", "arrays", "bytebuf")


def extensions_disabled() -> bool:
    """True when the environment or the interpreter asks for pure Python."""
    flag = os.environ.get("GILFREE_NO_EXTENSIONS", "").strip().lower()
    if flag not in ("", "0", "false", "no", "off"):
        return True
    return platform.python_implementation() != "CPython"


def _import(unit: str, suffix: str) -> ModuleType:
    return importlib.import_module(f"gilfree._{unit}_{suffix}")


def _compiled_usable() -> bool:
    """Whether the compiled kernels are wanted here and every one of them imports."""
    if extensions_disabled():
        return False
    try:
        for unit in UNITS:
            _import(unit, "c")
    except ImportError:
        return False
    return True


def _choose() -> str:
    return C_EXTENSION if _compiled_usable() else PURE_PYTHON


#: ``"c-extension"`` or ``"pure-python"``: what the public kernels in this process are.
IMPLEMENTATION = _choose()


def load(unit: str, implementation: str = IMPLEMENTATION) -> ModuleType:
    """The module of ``unit`` for ``implementation`` (``"pure-python"`` or ``"c-extension"``)."""
    if implementation == C_EXTENSION:
        return _import(unit, "c")
    if implementation == PURE_PYTHON:
        return _import(unit, "py")
    raise ValueError(f"implementation must be {PURE_PYTHON!r} or {C_EXTENSION!r}, got {implementation!r}")


def available() -> tuple[str, ...]:
    """The implementations that can be used here: pure Python always, compiled when importable."""
    names = [PURE_PYTHON]
    if _compiled_usable():
        names.append(C_EXTENSION)
    return tuple(names)


class Implementation:
    """Every kernel of one implementation, as attributes: ``impl.sum_squares(0, 10)``.

    Lets tests and benchmarks run both implementations side by side without touching the
    process-wide choice. ``kernels`` holds the same functions by name.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.modules: tuple[ModuleType, ...] = tuple(load(unit, name) for unit in UNITS)
        self.kernels: dict[str, Callable[..., Any]] = {}
        for module in self.modules:
            for attr in module.__all__:
                self.kernels[attr] = getattr(module, attr)
        self.__dict__.update(self.kernels)
        if TYPE_CHECKING:
            # What a type checker sees: every kernel with its pure twin's signature, which the
            # compiled twin shares (its .pyi stub says so). At run time the loop above set them.
            self.sum_squares = _cpu_py.sum_squares
            self.cpu_bound = _cpu_py.cpu_bound
            self.is_prime = _cpu_py.is_prime
            self.count_primes = _cpu_py.count_primes
            self.splitmix64 = _cpu_py.splitmix64
            self.uniform = _cpu_py.uniform
            self.monte_carlo_hits = _cpu_py.monte_carlo_hits
            self.monte_carlo_pi = _cpu_py.monte_carlo_pi
            self.chunk_stats = _arrays_py.chunk_stats
            self.transform_inplace = _arrays_py.transform_inplace
            self.fill_uniform = _arrays_py.fill_uniform
            self.filter_greater = _arrays_py.filter_greater
            self.checksum = _bytebuf_py.checksum

    def __repr__(self) -> str:
        return f"<gilfree implementation {self.name!r}>"

    def __reduce__(self) -> tuple[Callable[[str], "Implementation"], tuple[str]]:
        # Travels by name (a task on another process or machine loads the same kernels there).
        return _implementation_named, (self.name,)


@functools.lru_cache(maxsize=None)
def _implementation_named(name: str) -> Implementation:
    return Implementation(name)


def implementations() -> dict[str, Implementation]:
    """Both implementations that can be imported here, by name (pure Python first)."""
    return {name: Implementation(name) for name in available()}
