"""One-argument and index-tagged task forms, for the ``multiprocessing.Pool`` calls of lab steps 2 and 3.

``Pool.map``, ``imap`` and ``imap_unordered`` hand each task ONE argument and ``starmap`` unpacks
a tuple into several, so a kernel and its arguments travel packed as ``(fn, *args)``. The kernel
itself travels as a function: the kernels are module-level functions of ``gilfree._cpu_py`` and
``gilfree._cpu_c``, which pickle by reference (their module and name, about 50 bytes). The index
tag lets results that arrive in completion order be put back in place.

Kept at module level so that every start method (fork, spawn, forkserver) can find them.
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["call_packed", "indexed_call", "indexed_packed"]


def _check_task(task: object, form: str) -> tuple[Any, ...]:
    if not isinstance(task, tuple):
        raise TypeError(f"task must be a tuple {form}, not {type(task).__name__}")
    return task


def _check_fn(fn: object) -> Callable[..., Any]:
    if not callable(fn):
        raise TypeError(f"fn must be a callable (a kernel such as impl.sum_squares), not {type(fn).__name__}")
    return fn


def call_packed(task: tuple[Any, ...]) -> Any:
    """``fn(*args)`` with ``task = (fn, *args)``: one argument per task."""
    task = _check_task(task, "(fn, *args)")
    if not task:
        raise TypeError("task must be a tuple (fn, *args), got an empty tuple")
    fn, *args = task
    return _check_fn(fn)(*args)


def indexed_call(index: int, fn: Callable[..., Any], *args: Any) -> tuple[int, Any]:
    """``(index, fn(*args))``: a result that names the task it answers."""
    if isinstance(index, bool) or not isinstance(index, int):
        raise TypeError(f"index must be an int, not {type(index).__name__}")
    return index, _check_fn(fn)(*args)


def indexed_packed(task: tuple[Any, ...]) -> tuple[int, Any]:
    """``indexed_call(*task)`` with ``task = (index, fn, *args)``: one argument per task."""
    task = _check_task(task, "(index, fn, *args)")
    if len(task) < 2:
        raise TypeError(f"task must be a tuple (index, fn, *args), got {len(task)} item(s)")
    return indexed_call(*task)
