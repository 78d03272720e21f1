"""The one place that decides which implementation of the kernels gilfree uses.

Rule: ``GILFREE_NO_EXTENSIONS=1`` (or any interpreter other than CPython) means pure Python;
otherwise the compiled kernels, falling back to pure Python if any of them fails to import. The
choice is all or nothing, so ``IMPLEMENTATION`` is true of every kernel at once.

When the choice is pure Python, :func:`pure_python_reason` says why and how to get the compiled
kernels, reading also how this copy was built: setup.py writes ``gilfree/_build_info.py`` into
every package it builds (a wheel, an install from the sdist), saying whether the kernels were
compiled and, if not, why (no C compiler, ``GILFREE_NO_EXTENSIONS`` set, not CPython). A source
checkout or an editable install has no such file.
"""

from __future__ import annotations

import functools

import importlib
import os
import platform
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

if TYPE_CHECKING:
    from . import _arrays_py, _bytebuf_py, _cpu_py

__all__ = [
    "C_EXTENSION",
    "IMPLEMENTATION",
    "PURE_PYTHON",
    "UNITS",
    "BuildRecord",
    "Implementation",
    "Obstacle",
    "PureReason",
    "available",
    "build_record",
    "extensions_disabled",
    "implementations",
    "load",
    "pure_python_reason",
]

PURE_PYTHON = "pure-python"
C_EXTENSION = "c-extension"

#: The accelerated units: each is ``_<unit>_py.py`` + ``ext/_<unit>_c.pyx`` + ``<unit>.py``.
UNITS = ("cpu", "arrays", "bytebuf")


def _flag_set() -> bool:
    flag = os.environ.get("GILFREE_NO_EXTENSIONS", "").strip().lower()
    return flag not in ("", "0", "false", "no", "off")


def extensions_disabled() -> bool:
    """True when the environment or the interpreter asks for pure Python."""
    return _flag_set() or platform.python_implementation() != "CPython"


def _import(unit: str, suffix: str) -> ModuleType:
    return importlib.import_module(f"gilfree._{unit}_{suffix}")


class Obstacle(NamedTuple):
    """What kept the compiled kernels out: ``kind`` is ``flag``, ``interpreter`` or ``import``."""

    kind: str
    words: str


def _obstacle() -> Obstacle | None:
    """What keeps the compiled kernels from being used here (None when nothing does): the rule."""
    if _flag_set():
        return Obstacle("flag", "GILFREE_NO_EXTENSIONS is set")
    if platform.python_implementation() != "CPython":
        return Obstacle("interpreter", f"this interpreter is {platform.python_implementation()}, "
                                       "and the compiled kernels are for CPython")
    try:
        for unit in UNITS:
            _import(unit, "c")
    except ImportError as exc:
        return Obstacle("import", str(exc))
    return None


def _compiled_usable() -> bool:
    """Whether the compiled kernels are wanted here and every one of them imports."""
    return _obstacle() is None


#: What made the choice below pure Python (None when it is not), as it stood when it was made.
_PURE_BECAUSE = _obstacle()

#: ``"c-extension"`` or ``"pure-python"``: what the public kernels in this process are.
IMPLEMENTATION = C_EXTENSION if _PURE_BECAUSE is None else PURE_PYTHON


class BuildRecord(NamedTuple):
    """How this installed copy of gilfree was built (``gilfree/_build_info.py``, by setup.py)."""

    compiled: bool
    #: Why not, when not: ``disabled`` (GILFREE_NO_EXTENSIONS), ``not-cpython``, ``no-cython``,
    #: ``no-compiler`` (setup.py's compiler check failed), ``build-failed`` (the kernels did not build).
    reason: str | None
    detail: str


def build_record() -> BuildRecord | None:
    """How this copy was built; None in a source checkout or an editable install (no record)."""
    try:
        module = importlib.import_module("gilfree._build_info")
    except ImportError:
        return None
    reason = getattr(module, "REASON", None)
    return BuildRecord(bool(getattr(module, "COMPILED", False)), None if reason is None else str(reason),
                       str(getattr(module, "DETAIL", "")))


#: The way back to the compiled kernels after an install that built without them (setup.py's
#: warning says the same). --no-cache-dir: pip keeps the pure wheel it built from the sdist.
REINSTALL = "pip install --force-reinstall --no-deps --no-cache-dir gilfree"
REBUILD = "pip install --force-reinstall --no-deps --no-cache-dir --no-binary gilfree gilfree"
HOW_TO_COMPILE = f"install a C compiler and the Python headers, then rebuild gilfree from its sdist: {REBUILD}"

_BUILT_WITHOUT = {
    "disabled": "it was built with GILFREE_NO_EXTENSIONS set",
    "not-cpython": "it was built on {detail}, not on CPython",
    "no-cython": "Cython was missing when it was built ({detail})",
    "no-compiler": "it was built without a working C compiler and Python headers ({detail})",
    "build-failed": "the C compiler failed on the kernels when it was built ({detail})",
}


class PureReason(NamedTuple):
    """Why the kernels in use are pure Python, and what would give the compiled ones."""

    why: str
    how: str


def _built_without(record: BuildRecord) -> PureReason:
    why = _BUILT_WITHOUT.get(record.reason or "", "it was built without them ({detail})")
    why = why.format(detail=record.detail or record.reason or "no reason recorded")
    if record.reason == "disabled":
        how = f"reinstall with GILFREE_NO_EXTENSIONS unset: {REINSTALL}"
    elif record.reason == "not-cpython":
        how = "install gilfree on CPython"
    else:
        how = HOW_TO_COMPILE
    return PureReason(why, how)


def pure_python_reason() -> PureReason | None:
    """Why ``IMPLEMENTATION`` is pure Python and how to get the compiled kernels; None when it is
    the compiled kernels. Reads what the selector met and how this copy was built."""
    return _explain(_PURE_BECAUSE, build_record())


def _explain(obstacle: Obstacle | None, record: BuildRecord | None) -> PureReason | None:
    if obstacle is None:
        return None
    built = None if record is None or record.compiled else _built_without(record)
    if obstacle.kind == "flag":
        if built is not None:  # unsetting the flag alone would not bring the kernels
            return PureReason(f"{obstacle.words}, and besides {built.why}", built.how)
        return PureReason(obstacle.words, "unset GILFREE_NO_EXTENSIONS")
    if obstacle.kind == "interpreter":
        return PureReason(obstacle.words, "run gilfree on CPython")
    if built is not None:
        return built
    if record is not None:  # built with the kernels, yet they do not import
        return PureReason(f"the compiled kernels were built but do not import ({obstacle.words})",
                          f"reinstall gilfree for this interpreter: {REINSTALL}")
    return PureReason(f"the compiled kernels are not built here ({obstacle.words})",
                      "in a source checkout, build them in place (a C compiler and the Python headers "
                      "needed): pip install -e . (or python setup.py build_ext --inplace)")


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
