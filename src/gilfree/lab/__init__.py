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

Every step module has ``TITLE``, ``run(**params, progress=...)`` and three parameter sets:
``DEFAULT`` (``gilfree lab``), ``QUICK`` (``--quick``) and ``TINY`` (the tests).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Iterator

from .._checks import as_index
from ._result import Progress, Row, StepResult, format_result, no_progress

__all__ = ["STEPS", "Progress", "Row", "StepResult", "format_result", "run_lab", "run_step", "step_module"]

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

SIZES = ("default", "quick", "tiny")


def step_module(step: int) -> ModuleType:
    """The module of lab step ``step`` (1 to 8)."""
    return importlib.import_module(f"{__name__}.{STEPS[_check_step(step)]}")


def _check_step(step: object) -> int:
    # An int, not merely something equal to one: True and 1.0 would otherwise pass as step 1.
    step = as_index(step, "step")
    if step not in STEPS:
        raise ValueError(f"step must be one of 1..8, got {step!r}")
    return step


def run_step(step: int, size: str = "default", progress: Progress = no_progress,
             **overrides: Any) -> StepResult:
    """Run one step at ``size`` ("default", "quick" or "tiny"), with optional parameter overrides."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    module = step_module(step)
    params = dict(getattr(module, size.upper()))
    params.update(overrides)
    result: StepResult = module.run(progress=progress, **params)
    return result


def run_lab(steps: list[int] | None = None, size: str = "default",
            progress: Progress = no_progress) -> Iterator[StepResult]:
    """Run the steps in order, yielding each result as soon as it is ready.

    ``None`` means every step. The step numbers and the size are all checked before the first
    step starts, so a typo at the end of the list does not cost the run of the steps before it.
    """
    steps = sorted(STEPS) if steps is None else [_check_step(step) for step in steps]
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    for step in steps:
        yield run_step(step, size, progress)
