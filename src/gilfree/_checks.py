"""Argument checks shared by both implementations of every kernel.

The pure-Python twins and the Cython kernels call these same functions before any work starts,
so a bad argument gets the very same exception, with the very same message, whichever
implementation was chosen. The Cython kernels call them while holding the GIL, before they enter
their ``with nogil:`` block, so nothing inside that block can meet an argument it cannot handle.
"""

from __future__ import annotations

import math
import mmap
import numbers
import operator
import os
import re
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Literal, overload

#: Largest exclusive upper bound accepted by the integer-range kernels. Every ``i`` they visit is
#: then below 2**63, so ``i * i`` fits in 126 bits and any sum of squares in 192 bits.
MAX_RANGE = 2**63

#: Largest value of a 64-bit unsigned seed.
MAX_SEED = 2**64 - 1

_NATIVE_ORDER = "<" if sys.byteorder == "little" else ">"
_FLOAT64_FORMATS = frozenset({"d", "@d", "=d", _NATIVE_ORDER + "d"})

_RAW_HINT = (
    "for raw bytes such as SharedMemory.buf or an mmap, pass memoryview(buf).cast('d') "
    "or numpy.frombuffer(buf, dtype=numpy.float64)"
)


def _is_numpy_bool(value: object) -> bool:
    kind = type(value)
    return kind.__module__ == "numpy" and kind.__name__ in ("bool", "bool_")


def as_index(value: object, name: str) -> int:
    """Return ``value`` as a Python int, refusing bools, floats and other non-integers.

    numpy bools are refused like Python's: older numpy versions let them pass ``__index__``
    with only a DeprecationWarning.
    """
    if isinstance(value, bool) or _is_numpy_bool(value):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    try:
        return operator.index(value)  # type: ignore[arg-type]  # refused below
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}") from None


def check_range(lo: object, hi: object, names: tuple[str, str] = ("lo", "hi")) -> tuple[int, int]:
    """Validate a half-open integer range ``[lo, hi)`` for the integer kernels.

    ``names`` are the kernel's own parameter names (``start``, ``stop``...), for the messages.
    """
    lo_name, hi_name = names
    lo = as_index(lo, lo_name)
    hi = as_index(hi, hi_name)
    if lo < 0:
        raise ValueError(f"{lo_name} must be >= 0, got {lo}")
    if hi < lo:
        raise ValueError(
            f"range is reversed: {lo_name}={lo} > {hi_name}={hi}; pass {lo_name} <= {hi_name}"
        )
    if hi > MAX_RANGE:
        raise OverflowError(
            f"{hi_name} must be at most 2**63, got {hi}; split the work into smaller ranges"
        )
    return lo, hi


def check_count(value: object, name: str, *, minimum: int = 1) -> int:
    """Validate a count such as ``n``, ``samples`` or ``rounds``."""
    value = as_index(value, name)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if value > MAX_RANGE:
        raise OverflowError(f"{name} must be at most 2**63, got {value}")
    return value


def check_flag(value: object, name: str) -> bool:
    """A yes/no switch must be True or False (a numpy bool too), not any object with a truth value."""
    if isinstance(value, bool):
        return value
    if _is_numpy_bool(value):
        return bool(value)
    raise TypeError(f"{name} must be True or False, not {type(value).__name__}")


def check_seed(seed: object) -> int:
    """Validate a 64-bit unsigned generator seed."""
    seed = as_index(seed, "seed")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be in [0, 2**64 - 1], got {seed}")
    return seed


def check_float(value: object, name: str) -> float:
    """Validate a real-valued parameter (an int, a float or a numpy scalar; not a bool or str)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, not {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:  # an int (or Fraction) beyond the float64 range
        raise OverflowError(f"{name} is too large for a float64 ({type(value).__name__} "
                            "beyond +-1.8e308)") from None


def check_int(value: object, name: str, *, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """Validate an integer parameter (a Python or numpy int; not a bool, float or str).

    ``minimum`` and ``maximum`` are inclusive bounds; either may be left out.
    """
    value = as_index(value, name)
    if minimum is not None and maximum is not None:
        if not minimum <= value <= maximum:
            raise ValueError(f"{name} must be in [{minimum}, {maximum}], got {value}")
    elif minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    elif maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def _bounds_text(minimum: float | None, minimum_exclusive: float | None) -> str:
    if minimum is not None:
        return f">= {minimum:g}"
    if minimum_exclusive is not None:
        return f"> {minimum_exclusive:g}"
    return ""


def _real(value: object, name: str, what: str, *, allow_none: bool, minimum: float | None,
          minimum_exclusive: float | None, finite: bool, unit: str) -> float | None:
    """The one check behind :func:`check_real` and :func:`check_seconds`."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {what}{' or None' if allow_none else ''}, "
                        f"not {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # an int (or Fraction) beyond the float64 range
        raise OverflowError(f"{name} is too large for a float64 ({type(value).__name__} "
                            "beyond +-1.8e308)") from None
    ok = number == number  # NaN is never a valid bound-checked number
    if minimum is not None:
        ok = ok and number >= minimum
    elif minimum_exclusive is not None:
        ok = ok and number > minimum_exclusive
    if finite:
        ok = ok and number not in (math.inf, -math.inf)
    if not ok:
        bound = _bounds_text(minimum, minimum_exclusive)
        if finite:
            rule = f"a finite {what.removeprefix('a ')}" + (f" {bound}" if bound else "")
        else:
            rule = f"{bound}{unit}" if bound else f"{what} (not NaN)"
        raise ValueError(f"{name} must be {rule}, got {number}")
    return number


@overload
def check_real(value: object, name: str, *, minimum: float | None = ...,
               minimum_exclusive: float | None = ..., finite: bool = ...,
               allow_none: Literal[False] = ...) -> float: ...
@overload
def check_real(value: object, name: str, *, minimum: float | None = ...,
               minimum_exclusive: float | None = ..., finite: bool = ...,
               allow_none: bool) -> float | None: ...


def check_real(value: object, name: str, *, minimum: float | None = None,
               minimum_exclusive: float | None = None, finite: bool = False,
               allow_none: bool = False) -> float | None:
    """Validate a real-valued parameter with bounds: ``minimum`` (inclusive) or
    ``minimum_exclusive``, and ``finite`` to refuse infinities. NaN is always refused.

    Where a kernel takes any float (NaN included), use :func:`check_float` instead.
    """
    return _real(value, name, "a real number", allow_none=allow_none, minimum=minimum,
                 minimum_exclusive=minimum_exclusive, finite=finite, unit="")


@overload
def check_seconds(value: object, name: str, *, allow_none: Literal[False] = ...,
                  minimum_exclusive: float | None = ..., minimum: float | None = ...,
                  allow_inf: bool = ...) -> float: ...
@overload
def check_seconds(value: object, name: str, *, allow_none: bool,
                  minimum_exclusive: float | None = ..., minimum: float | None = ...,
                  allow_inf: bool = ...) -> float | None: ...


def check_seconds(value: object, name: str, *, allow_none: bool = False,
                  minimum_exclusive: float | None = 0, minimum: float | None = None,
                  allow_inf: bool = False) -> float | None:
    """Validate a duration in seconds: by default a finite real number > 0 (not a bool or str).

    ``allow_none``: None is accepted (and returned) where it means "no limit". ``minimum``
    (inclusive, e.g. ``minimum=0`` for a timeout of zero, "look once") replaces
    ``minimum_exclusive``. ``allow_inf``: ``float('inf')`` is accepted (wait for ever, poll
    at the slowest rate).
    """
    return _real(value, name, "a number of seconds", allow_none=allow_none, minimum=minimum,
                 minimum_exclusive=None if minimum is not None else minimum_exclusive,
                 finite=not allow_inf, unit=" seconds")


def _choices_text(choices: Iterable[object]) -> str:
    return repr(tuple(choices))


def check_choice(value: object, name: str, choices: Iterable[str]) -> str:
    """``value`` must be one of the names in ``choices`` (exactly: case and spaces count)."""
    choices = tuple(choices)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, one of {_choices_text(choices)}, "
                        f"not {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {_choices_text(choices)}, got {value!r}")
    return value


def check_choices(values: object, name: str, choices: Iterable[str], *,
                  allow_empty: bool = False) -> tuple[str, ...]:
    """A tuple or list of names, each one of ``choices``; returned as a tuple without repeats.

    A lone str is refused rather than read letter by letter (``("threads",)``, not
    ``"threads"``).
    """
    choices = tuple(choices)
    if not isinstance(values, (tuple, list)):
        hint = f"; pass ({values!r},)" if isinstance(values, str) else ""
        raise TypeError(f"{name} must be a tuple or list of names from {_choices_text(choices)}, "
                        f"not {type(values).__name__}{hint}")
    if not values and not allow_empty:
        raise ValueError(f"{name} must name at least one of {_choices_text(choices)}")
    for i, value in enumerate(values):
        check_choice(value, f"{name}[{i}]", choices)
    return tuple(dict.fromkeys(values))


def check_path(value: object, name: str = "path") -> str | bytes | os.PathLike[str] | os.PathLike[bytes]:
    """A file-system path: a str, bytes or ``os.PathLike`` (a ``pathlib.Path``), never an int.

    ``open()`` reads an int as a file descriptor it then closes, so a stray number would write
    into (and close) whatever this process has open under it.
    """
    if isinstance(value, (str, bytes, os.PathLike)):
        if not os.fspath(value):
            raise ValueError(f"{name} must not be empty")
        return value
    raise TypeError(f"{name} must be a str or os.PathLike (a pathlib.Path), not {type(value).__name__}")


def check_callable(value: object, name: str) -> Callable[..., Any]:
    """``value`` must be callable (a function, a class, an object with ``__call__``)."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, not {type(value).__name__}")
    return value


def check_executor(value: object, name: str = "executor") -> Any:
    """``value`` must be a ``concurrent.futures.Executor`` instance (not the class itself)."""
    from concurrent.futures import Executor  # here, so that the kernels' import stays light

    if not isinstance(value, Executor):
        raise TypeError(f"{name} must be a concurrent.futures.Executor, not {type(value).__name__}")
    return value


def _memoryview_of(obj: object, name: str, what: str) -> memoryview[Any]:
    try:
        return memoryview(obj)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"{name} must be an object supporting the buffer protocol ({what}), "
            f"not {type(obj).__name__}"
        ) from None
    except ValueError as exc:
        if isinstance(obj, (memoryview, mmap.mmap)):
            # The right kind of object, in the wrong state: as with a closed file, a ValueError.
            raise ValueError(
                f"{name} is a released memoryview or a closed mmap ({exc}); pass an open buffer"
            ) from None
        # numpy raises ValueError for dtypes it cannot export (datetime64, timedelta64).
        raise TypeError(
            f"{name} must be an object supporting the buffer protocol ({what}), "
            f"not {type(obj).__name__} ({exc}); for datetime64 data pass x.view('int64')"
        ) from None


# A struct format's field names sit between colons (``T{d:x:O:y:}``); item codes are outside.
_FIELD_NAMES = re.compile(r":[^:]*:")


def _holds_objects(fmt: str) -> bool:
    """Whether buffer format ``fmt`` has Python object pointers (``'O'``) among its items."""
    return "O" in _FIELD_NAMES.sub("", fmt)


@contextmanager
def float64_view(
    obj: object, name: str = "data", *, writable: bool = False
) -> Iterator[memoryview[float]]:
    """Yield ``obj`` as a flat, C-contiguous, float64 memoryview, and release it afterwards.

    Accepts any object with the buffer protocol whose items are native float64: a numpy array,
    ``array.array('d')``, a memoryview cast to ``'d'``. Raw byte buffers are refused with a hint,
    because reading them as float64 would silently reinterpret whatever they hold.
    """
    views: list[memoryview[Any]] = []
    try:
        what = "a float64 numpy array, array.array('d') or memoryview"
        mv: memoryview[float] = _memoryview_of(obj, name, what)
        views.append(mv)
        if mv.format not in _FLOAT64_FORMATS:
            raise TypeError(
                f"{name} must hold float64 items (buffer format 'd'), got format {mv.format!r}; "
                f"convert with numpy.asarray(x, dtype=numpy.float64), or {_RAW_HINT}"
            )
        if mv.ndim == 0:
            raise ValueError(f"{name} must have at least one dimension, got a 0-d buffer")
        if not mv.c_contiguous:
            raise ValueError(
                f"{name} must be C-contiguous; pass numpy.ascontiguousarray(x) (a copy) "
                "or a contiguous slice"
            )
        if writable and mv.readonly:
            raise ValueError(
                f"{name} is read-only but this kernel writes into it; pass a writable buffer "
                "(for a numpy array: x.copy(), or x.setflags(write=True) if you own it)"
            )
        if mv.nbytes == 0:
            raise ValueError(f"{name} is empty; pass at least one element")
        if mv.ndim != 1 or mv.format != "d":
            flat = mv.cast("B")
            views.append(flat)
            mv = flat.cast("d")
            views.append(mv)
        yield mv
    finally:
        for view in reversed(views):
            view.release()


@contextmanager
def byte_view(obj: object, name: str = "data") -> Iterator[memoryview[int]]:
    """Yield the raw bytes of any C-contiguous, non-empty buffer as a flat ``'B'`` memoryview."""
    views: list[memoryview[Any]] = []
    try:
        mv = _memoryview_of(obj, name, "bytes, bytearray, mmap, numpy array or memoryview")
        views.append(mv)
        if _holds_objects(mv.format):
            raise TypeError(
                f"{name} holds Python object references (buffer format {mv.format!r}): its bytes "
                "are memory addresses, not data; pass an array of numbers or bytes"
            )
        if not mv.c_contiguous:
            raise ValueError(
                f"{name} must be C-contiguous; pass bytes(x) or numpy.ascontiguousarray(x) (a copy)"
            )
        if mv.nbytes == 0:
            raise ValueError(f"{name} is empty; pass at least one byte")
        if mv.ndim != 1 or mv.format != "B":
            mv = mv.cast("B")
            views.append(mv)
        yield mv
    finally:
        for view in reversed(views):
            view.release()
