"""The eight steps of the lab gilfree grew from, each as a function returning a ``StepResult``.

=====  =====================================  ===========================================
step   module                                 what it shows
=====  =====================================  ===========================================
1      :mod:`.step1_gil`                      the GIL and CPU-bound threads
2      :mod:`.step2_pool`                     ``multiprocessing.Pool.map`` over worker counts
3      :mod:`.step3_map_variants`             ``map`` vs ``starmap`` vs ``imap`` vs ``imap_unordered``
4      :mod:`.step4_as_completed`             ``ProcessPoolExecutor`` with ``as_completed``
5      :mod:`.step5_shared_memory`            ``SharedMemory`` + numpy, zero-copy
6      :mod:`.step6_mmap`                     ``mmap`` for inter-process communication
7      :mod:`.step7_chunked`                  split / parallel / aggregate on any Executor
8      :mod:`.step8_pipeline`                 a parallel data pipeline over shared memory
=====  =====================================  ===========================================

Beside the eight, a step named rather than numbered, run only when asked for
(``run_step("latency")``, ``gilfree lab --step latency``): :mod:`.step_latency`, how late a
waking thread runs beside pure Python, a nogil kernel and a kernel holding the GIL, across
switch intervals. ``gilfree lab`` and ``run_lab()`` run the eight, as before.

Every step module has ``TITLE``, ``run(**params, progress=...)`` and three parameter sets:
``DEFAULT`` (``gilfree lab``), ``QUICK`` (``--quick``) and ``TINY`` (the tests).
``format_result(result, width)`` prints a result as the command line does, no line longer than
``width`` (default: the terminal's); ``result.to_dict()`` holds every figure.
"""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType
from typing import Any, Iterator

from .._checks import as_index, check_callable, check_choice
from ._result import Progress, Row, StepResult, format_result, format_table, no_progress

__all__ = ["NAMED_STEPS", "STEPS", "Progress", "Row", "StepResult", "format_result", "format_table", "run_lab",
           "run_step", "step_module"]

STEPS = {
    1: "step1_gil",
    2: "step2_pool",
    3: "step3_map_variants",
    4: "step4_as_completed",
    5: "step5_shared_memory",
    6: "step6_mmap",
    7: "step7_chunked",
    8: "step8_pipeline",
}

#: Steps outside the eight, by name: run only when asked for, never by ``run_lab()`` alone.
NAMED_STEPS = {
    "latency": "step_latency",
}

SIZES = ("default", "quick", "tiny")

#: A step: its number (1 to 8) or its name (one of :data:`NAMED_STEPS`).
Step = int | str


def step_module(step: Step) -> ModuleType:
    """The module of lab step ``step`` (1 to 8, or ``"latency"``)."""
    step = _check_step(step)
    module = NAMED_STEPS[step] if isinstance(step, str) else STEPS[step]
    return importlib.import_module(f"{__name__}.{module}")


def _check_step(step: object) -> Step:
    if isinstance(step, str):
        if step in NAMED_STEPS:
            return step
        # A wrong name is the wrong type for a number, as before named steps existed: "1" stays a TypeError.
        raise TypeError(f"step must be an int, not str, or the name of a step outside the eight ({_named()}); "
                        f"got {step!r}")
    # An int, not merely something equal to one: True and 1.0 would otherwise pass as step 1.
    step = as_index(step, "step")
    if step not in STEPS:
        raise ValueError(f"step must be one of 1..8, got {step!r} (or {_named()})")
    return step


def _named() -> str:
    return " or ".join(repr(name) for name in NAMED_STEPS)


def run_step(step: Step, size: str = "default", progress: Progress = no_progress,
             **overrides: Any) -> StepResult:
    """Run one step at ``size`` ("default", "quick" or "tiny"), with optional parameter overrides.

    ``step`` is a number from 1 to 8, or the name of a step outside the eight (``"latency"``).
    """
    step = _check_step(step)
    size = check_choice(size, "size", SIZES)
    check_callable(progress, "progress")
    module = step_module(step)
    _check_overrides(step, module, overrides)
    params = dict(getattr(module, size.upper()))
    params.update(overrides)
    result: StepResult = module.run(progress=progress, **params)
    return result


def _check_overrides(step: Step, module: ModuleType, overrides: dict[str, Any]) -> None:
    """Name the step's parameters when an override names none of them (a typo, say)."""
    accepted = inspect.signature(module.run).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        return
    names = [name for name in accepted if name != "progress"]
    for name in overrides:
        if name not in names:
            raise TypeError(f"run_step() got an unexpected keyword argument {name!r}: step {step} "
                            f"takes {', '.join(names)}")


def run_lab(steps: list[Step] | None = None, size: str = "default",
            progress: Progress = no_progress) -> Iterator[StepResult]:
    """Run the steps in order, yielding each result as soon as it is ready.

    ``None`` means the eight numbered steps; name ``"latency"`` among ``steps`` to run it too.
    The steps and the size are all checked here, in the call, before the first step starts: a
    typo at the end of the list does not cost the run of the steps before it, and a bad argument
    is reported where it was written, not at the first ``next()``.
    """
    checked = sorted(STEPS) if steps is None else [_check_step(step) for step in steps]
    size = check_choice(size, "size", SIZES)
    check_callable(progress, "progress")
    return (run_step(step, size, progress) for step in checked)
