"""What the advisor runs: the user's function, named or given, and the tasks to call it with.

Three ways in, one shape out (a list of argument tuples, one per task):

* ``gilfree.advise(fn, inputs)``: ``inputs`` is an iterable of tasks; a task is a tuple of
  positional arguments, or any other object as the one argument.
* ``--args LITERAL`` (repeatable): a Python literal per task, read with :func:`ast.literal_eval`
  (numbers, strings, tuples, lists, dicts: nothing is executed).
* ``--inputs module:name``: an iterable of tasks in the user's module, or a function returning
  one: the way to pass numpy arrays, or anything a literal cannot spell.

And what can cross a process boundary: :func:`process_refusals` says, before anything runs,
why worker processes cannot run this function on these tasks (a lambda, a local function,
arguments that do not pickle), so that the advisor skips them with the reason and still runs
serial and threads.
"""

from __future__ import annotations

import ast
import importlib
import pickle
from typing import Any, Callable, Iterable

__all__ = ["as_tasks", "literal_task", "named_inputs", "process_refusal", "resolve"]


def resolve(target: str) -> Callable[..., Any]:
    """The callable named ``package.module:function`` (or ``module:Class.method``)."""
    if not isinstance(target, str):
        raise TypeError(f"name the function as 'package.module:function', not a {type(target).__name__}")
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"name the function as 'package.module:function' (a colon before the function), "
                         f"not {target!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r} (for {target!r}): {exc}; is it on the Python "
                         "path (run from its folder, or pip install it)?") from exc
    found: Any = module
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise ValueError(f"module {module_name!r} has no attribute {attribute!r} (looked for {part!r})") from None
    if not callable(found):
        raise TypeError(f"{target!r} is a {type(found).__name__}, not a function")
    return found  # type: ignore[no-any-return]


def literal_task(text: str) -> tuple[Any, ...]:
    """One ``--args`` value: a Python literal; a tuple is the arguments, anything else the one argument."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ValueError(f"--args {text!r} is not a Python literal ({type(exc).__name__}): give numbers, strings, "
                         "tuples, lists or dicts (quote it for the shell), or name an iterable of argument tuples "
                         "in your module with --inputs module:name") from None
    return value if isinstance(value, tuple) else (value,)


def named_inputs(target: str) -> Any:
    """``--inputs module:name``: the object named, called first if it is a function."""
    found = _peek(target)
    return found() if callable(found) else found


def _peek(target: str) -> Any:
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"name the inputs as 'package.module:name', not {target!r}")
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r} (for --inputs {target!r}): {exc}") from exc
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise ValueError(f"module {module_name!r} has no attribute {attribute!r} (for --inputs)") from None
    return found


def as_tasks(inputs: Iterable[Any]) -> list[tuple[Any, ...]]:
    """The tasks of ``inputs``: each item a tuple of arguments, or (anything else) the one argument."""
    if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Iterable):
        raise TypeError(f"inputs must be an iterable of tasks (a tuple of arguments each, e.g. [(10,), (20,)]), "
                        f"not a {type(inputs).__name__}")
    tasks = [item if isinstance(item, tuple) else (item,) for item in inputs]
    if not tasks:
        raise ValueError("inputs holds no task: give at least one (a tuple of arguments), e.g. [(100_000,)]")
    return tasks


def _pickles(obj: object) -> str | None:
    try:
        pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # pickling raises many kinds: PicklingError, TypeError, AttributeError...
        return f"{type(exc).__name__}: {exc}"
    return None


def process_refusal(fn: Callable[..., Any], tasks: Iterable[tuple[Any, ...]]) -> str | None:
    """Why worker processes cannot run ``fn`` on ``tasks`` (None: they can, as far as pickling goes)."""
    qualname = getattr(fn, "__qualname__", "")
    if "<lambda>" in qualname or "<locals>" in qualname:
        kind = "a lambda" if "<lambda>" in qualname else "a function defined inside another function"
        return (f"{kind} cannot be sent to worker processes (they import a function by its module and name): "
                "define it at the top level of a module")
    why = _pickles(fn)
    if why is not None:
        return f"the function does not pickle ({why}): worker processes import a function by its module and name"
    for i, task in enumerate(tasks):
        why = _pickles(task)
        if why is not None:
            return f"task {i}'s arguments do not pickle ({why}): worker processes receive pickled arguments"
    return None
