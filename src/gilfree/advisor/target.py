"""What the advisor runs: the user's function, named or given, and the tasks to call it with.

Three ways in, one shape out (a list of argument tuples, one per task):

* ``gilfree.advise(fn, inputs)``: ``inputs`` is an iterable of tasks; a task is a tuple of
  positional arguments, or any other object as the one argument.
* ``--args LITERAL`` (repeatable): a Python literal per task, read with :func:`ast.literal_eval`
  (numbers, strings, tuples, lists, dicts: nothing is executed).
* ``--inputs module:name``: an iterable of tasks in the user's module, or a function returning
  one: the way to pass numpy arrays, or anything a literal cannot spell.

And what can cross a process boundary: :func:`process_refusal` says, before anything runs,
why worker processes cannot run this function on these tasks (a lambda, a local function,
arguments that do not pickle), so that the advisor skips them with the reason and still runs
serial and threads.
"""

from __future__ import annotations

import ast
import importlib
import itertools
import pickle
from typing import Any, Callable, Iterable

__all__ = ["MOST_TASKS", "as_tasks", "literal_task", "named_inputs", "process_refusal", "resolve"]

#: The most tasks ``inputs`` may hold: far more than any round runs (a round holds at most 64
#: per worker), and few enough that an endless iterator is refused instead of hanging.
MOST_TASKS = 100_000


def _import(module_name: str, target: str) -> Any:
    """The module ``module_name`` (for ``target``): a name that is not there is a ValueError; the
    module's own code failing as it is imported (a SyntaxError, a missing dependency of its own)
    is a RuntimeError that says so, not a hint to check the path."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (missing == module_name or module_name.startswith(missing + ".")):
            raise ValueError(f"cannot import module {module_name!r} (for {target!r}): {exc}; is it on the Python "
                             "path (run from its folder, or pip install it)?") from exc
        raise RuntimeError(f"importing {module_name!r} (for {target!r}) raised ModuleNotFoundError: {exc}: "
                           "the module was found, but it imports something that is not installed") from exc
    except Exception as exc:  # the module's own code: SyntaxError, ImportError, anything it raises
        raise RuntimeError(f"importing {module_name!r} (for {target!r}) raised {type(exc).__name__}: {exc}: "
                           "fix the module first") from exc


def resolve(target: str) -> Callable[..., Any]:
    """The callable named ``package.module:function`` (or ``module:Class.method``)."""
    if not isinstance(target, str):
        raise TypeError(f"name the function as 'package.module:function', not a {type(target).__name__}")
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"name the function as 'package.module:function' (a colon before the function), "
                         f"not {target!r}")
    found: Any = _import(module_name, target)
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
    """``--inputs module:name``: the object named, called first if it is a function.

    Whatever the function raises is a RuntimeError naming it: the user's code failed, not the name.
    """
    found = _peek(target)
    if not callable(found):
        return found
    try:
        return found()
    except Exception as exc:
        raise RuntimeError(f"--inputs {target}() raised {type(exc).__name__}: {exc}: fix the function that "
                           "makes the inputs first") from exc


def _peek(target: str) -> Any:
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"name the inputs as 'package.module:name', not {target!r}")
    found: Any = _import(module_name, f"--inputs {target}")
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
    tasks = [item if isinstance(item, tuple) else (item,) for item in itertools.islice(inputs, MOST_TASKS + 1)]
    if not tasks:
        raise ValueError("inputs holds no task: give at least one (a tuple of arguments), e.g. [(100_000,)]")
    if len(tasks) > MOST_TASKS:
        raise ValueError(f"inputs holds more than {MOST_TASKS:,} tasks (an endless iterator?): a round runs at "
                         "most 64 per worker, so give a few typical ones, e.g. itertools.islice(inputs, 100)")
    return tasks


def _pickles(obj: object) -> str | None:
    """Why ``obj`` does not pickle (None: it does). Buffers that support it (numpy arrays) stay
    out of band, so an array's data is not copied just to learn that it pickles."""
    try:
        pickle.dumps(obj, protocol=5, buffer_callback=lambda buffer: False)
    except Exception as exc:  # pickling raises many kinds: PicklingError, TypeError, AttributeError...
        return f"{type(exc).__name__}: {exc}"
    return None


def process_refusal(fn: Callable[..., Any], tasks: Iterable[tuple[Any, ...]]) -> str | None:
    """Why worker processes cannot run ``fn`` on ``tasks`` (None: they can, as far as pickling goes).

    Each distinct set of arguments is pickled once (a list that repeats one task costs one pickle).
    """
    qualname = getattr(fn, "__qualname__", "")
    if "<lambda>" in qualname or "<locals>" in qualname:
        kind = "a lambda" if "<lambda>" in qualname else "a function defined inside another function"
        return (f"{kind} cannot be sent to worker processes (they import a function by its module and name): "
                "define it at the top level of a module")
    why = _pickles(fn)
    if why is not None:
        return f"the function does not pickle ({why}): worker processes import a function by its module and name"
    seen: set[tuple[int, ...]] = set()
    for i, task in enumerate(tasks):
        key = tuple(map(id, task))  # the same arguments, whether or not in the same tuple
        if key in seen:
            continue
        seen.add(key)
        why = _pickles(task)
        if why is not None:
            return f"task {i}'s arguments do not pickle ({why}): worker processes receive pickled arguments"
    return None
