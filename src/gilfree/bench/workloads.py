"""The benchmark's workloads, and how each strategy hands a workload's data to its workers.

A workload is the same work whatever runs it; a strategy is an executor from
:mod:`gilfree.strategies` (or a peer from :mod:`gilfree.peers`) plus a *transport*, the way the
data reaches the tasks:

================  ===============================  ===========================================
strategy          executor                         data reaches a task as
================  ===============================  ===========================================
``serial``        none: one call in this thread    the whole array (the reference)
``threads``       ``ThreadPoolExecutor``           a view of the caller's array (no copy)
``pool``          ``multiprocessing.Pool``         a pickled copy of its chunk (and back)
``processes``     ``ProcessPoolExecutor``          a pickled copy of its chunk (and back)
``shared-memory`` ``ProcessPoolExecutor``          a :class:`~gilfree.shm.SharedArray` handle
``mmap``          ``ProcessPoolExecutor``          a path and offset into a file it maps
``joblib-loky``   ``joblib.Parallel`` (loky)       the whole array, memmapped by joblib, and a range
``joblib-threads`` ``joblib.Parallel`` (threads)   a view of the caller's array
``numpy``         none: numpy's own call           the whole array (what a user would write)
================  ===============================  ===========================================

Each workload builds the argument sets for a strategy and runs them with
:func:`gilfree.chunked.run_chunks` (the capstone with :func:`gilfree.pipeline.run_pipeline`):
no pool loop is written here. A combination that does not make sense (shared memory for a
loop that has no data) is *not applicable*, with the reason recorded.
"""

from __future__ import annotations

import math
import os
import struct
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import numpy as np

from .._checksum import Checksum
from .._select import C_EXTENSION, Implementation
from .._stats import merge_stats, stats_bits
from .._workers import (call_kernel, inplace_on_array, inplace_on_range, kernel_on_array, kernel_on_mmap,
                        kernel_on_range, kernel_on_shared)
from ..chunked import array_chunks, run_chunks, split_range
from ..peers import numpy_logistic, numpy_sum
from ..pipeline import PipelineJob, one_pass, run_pipeline
from ..shm import SharedArray

__all__ = ["EXECUTOR_OF", "SIZES", "STRATEGY_NOTES", "WORKLOADS", "Prepared", "Workload"]

#: The executor (a name of :func:`gilfree.strategies.open_executor`) each strategy runs on.
EXECUTOR_OF = {
    "serial": None,
    "threads": "threads",
    "pool": "pool",
    "processes": "processes",
    "shared-memory": "processes",
    "mmap": "processes",
    "joblib-loky": "joblib-loky",
    "joblib-threads": "joblib-threads",
    "numpy": None,
}

STRATEGY_NOTES = {
    "serial": "one call on the whole input, in the calling thread: the reference",
    "threads": "ThreadPoolExecutor; tasks read views of the caller's array",
    "pool": "multiprocessing.Pool; each chunk is pickled to its worker (and back, if changed)",
    "processes": "ProcessPoolExecutor; each chunk is pickled to its worker (and back, if changed)",
    "shared-memory": "ProcessPoolExecutor; tasks attach gilfree's SharedArray by handle (zero-copy)",
    "mmap": "ProcessPoolExecutor; tasks map their chunk of a file (the page cache is shared)",
    "joblib-loky": "joblib.Parallel, loky backend, joblib's defaults: the whole array goes to every task "
                   "and joblib memory-maps it (once per call); each task cuts its range. With 1 worker "
                   "joblib runs the tasks in the calling process",
    "joblib-threads": "joblib.Parallel, threading backend; tasks read views",
    "numpy": "numpy's own single-threaded call on the same array",
}

#: Elements per size, per implementation: pure Python gets less work so that a size takes
#: about as long in both twins (pure-Python kernels are 100x to 1000x slower per element).
SIZES: dict[str, dict[str, dict[str, int]]] = {
    "cpu": {
        "small": {"c-extension": 1_000_000, "pure-python": 10_000},
        "medium": {"c-extension": 100_000_000, "pure-python": 200_000},
        "large": {"c-extension": 1_000_000_000, "pure-python": 3_000_000},
    },
    "reduction": {
        "small": {"c-extension": 125_000, "pure-python": 2_000},
        "medium": {"c-extension": 5_000_000, "pure-python": 20_000},
        "large": {"c-extension": 50_000_000, "pure-python": 500_000},
    },
    "transform": {
        "small": {"c-extension": 10_000, "pure-python": 500},
        "medium": {"c-extension": 1_000_000, "pure-python": 10_000},
        "large": {"c-extension": 10_000_000, "pure-python": 150_000},
    },
    "pipeline": {
        "small": {"c-extension": 100_000, "pure-python": 500},
        "medium": {"c-extension": 2_000_000, "pure-python": 5_000},
        "large": {"c-extension": 16_000_000, "pure-python": 80_000},
    },
}

_SEED = 5
_TRANSFORM_ROUNDS = 20
_PIPELINE = {"seed": 8, "rounds": 8, "threshold": 0.5}


@dataclass
class Prepared:
    """One workload at one size for one implementation: its data, reference and strategies."""

    workload: "Workload"
    impl: str
    kernels: Implementation
    elements: int
    state: dict[str, Any]
    reference: Any = None

    @property
    def nbytes(self) -> int:
        return self.workload.bytes_per_element * self.elements

    def run(self, strategy: str, executor: Executor | None, parts: int) -> Any:
        return self.workload.run(self, strategy, executor, parts)

    def reset(self, strategy: str) -> None:
        self.workload.reset(self, strategy)

    def check(self, strategy: str, result: Any) -> bool:
        """Whether ``result`` equals the serial reference (bit for bit; numpy's sum: closely)."""
        return self.workload.check(self, strategy, result)


class Workload:
    """A unit of work that every strategy can run. Subclasses fill in the hooks."""

    name = ""
    title = ""
    #: What a parallel split of it costs and buys, in a phrase, for the verdict.
    nature = ""
    bytes_per_element = 8
    #: strategy -> why it does not apply to this workload.
    not_applicable: dict[str, str] = {}
    #: Strategies whose result is compared closely rather than bit for bit (another algorithm).
    approximate: frozenset[str] = frozenset()

    def prepare(self, kernels: Implementation, elements: int, stack: Any, workdir: str) -> Prepared:
        raise NotImplementedError

    def run(self, p: Prepared, strategy: str, executor: Executor | None, parts: int) -> Any:
        raise NotImplementedError

    def reset(self, p: Prepared, strategy: str) -> None:
        """Put the input back as it was (for workloads that change it in place). Untimed."""

    def check(self, p: Prepared, strategy: str, returned: Any) -> bool:
        return returned == p.reference

    def applies(self, strategy: str, impl: str) -> str | None:
        """None if ``strategy`` runs this workload, else the reason it does not."""
        if strategy == "numpy" and impl != C_EXTENSION:
            return "numpy's row is run once, on the compiled twin's data"
        return self.not_applicable.get(strategy)


def _on_chunks(p: Prepared, strategy: str, executor: Executor, parts: int, name: str, *args: Any,
               writes: bool = False) -> list[Any]:
    """Run kernel ``name`` on every chunk of ``p``'s array, the data travelling as ``strategy`` says.

    The one place where the table in this module's docstring becomes code. ``writes`` marks an
    in-place kernel: chunks that travel by value come back and are written into the array here.
    """
    x = p.state["shared"].array
    chunks = array_chunks(p.elements, parts)
    fn: Callable[..., Any]
    if strategy in ("threads", "joblib-threads"):  # views of the caller's array
        fn, argsets = call_kernel, [(p.impl, name, x[a:b], *args) for a, b in chunks]
    elif strategy in ("pool", "processes"):  # a pickled copy of each chunk
        fn = inplace_on_array if writes else kernel_on_array
        argsets = [(p.impl, name, x[a:b], *args) for a, b in chunks]
    elif strategy == "joblib-loky":  # joblib's idiom: the whole array to every task, memmapped once
        fn = inplace_on_range if writes else kernel_on_range
        argsets = [(p.impl, name, x, a, b, *args) for a, b in chunks]
    elif strategy == "shared-memory":
        handle = p.state["shared"].handle
        fn, argsets = kernel_on_shared, [(p.impl, name, handle, a, b, *args) for a, b in chunks]
    elif strategy == "mmap":
        fn = partial(kernel_on_mmap, writable=True) if writes else kernel_on_mmap
        argsets = [(p.impl, name, p.state["path"], a * 8, (b - a) * 8, *args) for a, b in chunks]
    else:  # pragma: no cover - the plan only asks for known strategies
        raise ValueError(f"unknown strategy {strategy!r}")
    results = run_chunks(executor, fn, argsets)
    if writes and strategy in ("pool", "processes", "joblib-loky"):
        for (a, b), chunk in zip(chunks, results):  # the changed data travels back, then lands
            x[a:b] = chunk
    return results


def _write_file(workdir: str, name: str, data: np.ndarray) -> str:
    path = os.path.join(workdir, name)
    data.tofile(path)
    return path


class CpuLoop(Workload):
    """Sum of squares over a range of integers: pure CPU, no data at all."""

    name = "cpu"
    title = "CPU-bound loop (sum of squares over a range)"
    nature = "pure CPU: no data to move, only ranges and one integer back per task"
    bytes_per_element = 0
    not_applicable = {
        "shared-memory": "the loop has no data to share",
        "mmap": "the loop has no data to map",
        "numpy": "numpy has no exact sum of squares past int64",
    }

    def prepare(self, kernels, elements, stack, workdir):
        p = Prepared(self, kernels.name, kernels, elements, {})
        p.reference = kernels.sum_squares(0, elements)
        if p.reference != (elements - 1) * elements * (2 * elements - 1) // 6:  # the closed form
            raise RuntimeError(f"{kernels.name} sum_squares(0, {elements}) is not the closed form")
        return p

    def run(self, p, strategy, executor, parts):
        if strategy == "serial":
            return p.kernels.sum_squares(0, p.elements)
        argsets = [(p.impl, "sum_squares", a, b) for a, b in split_range(0, p.elements, parts)]
        return sum(run_chunks(executor, call_kernel, argsets))


class ArrayReduction(Workload):
    """Statistics (count, sum, min, max, mean, m2) of a float64 array: bound by memory bandwidth."""

    name = "reduction"
    title = "array reduction (statistics of a float64 array)"
    nature = "memory-bound: one pass over the data, a few numbers back per task"
    approximate = frozenset({"numpy"})

    def prepare(self, kernels, elements, stack, workdir):
        shared = stack.enter_context(SharedArray.create(elements))
        shared.array[:] = np.random.default_rng(_SEED).random(elements)
        path = _write_file(workdir, f"reduction-{kernels.name}-{elements}.f64", shared.array)
        p = Prepared(self, kernels.name, kernels, elements, {"shared": shared, "path": path})
        p.reference = stats_bits(kernels.chunk_stats(shared.array))
        return p

    def run(self, p, strategy, executor, parts):
        x = p.state["shared"].array
        if strategy == "serial":
            return p.kernels.chunk_stats(x)
        if strategy == "numpy":
            return numpy_sum(x)
        return merge_stats(_on_chunks(p, strategy, executor, parts, "chunk_stats"))

    def check(self, p, strategy, returned):
        if strategy == "numpy":  # pairwise summation in another order: equal to rounding
            want = struct.unpack("<d", p.reference[1])[0]  # (count, sum, ...)
            return math.isclose(returned, want, rel_tol=1e-9)
        return stats_bits(returned) == p.reference


class ArrayTransform(Workload):
    """The logistic map, 20 rounds, in place on a float64 array: compute-bound, data changes."""

    name = "transform"
    title = f"in-place array transform (logistic map, {_TRANSFORM_ROUNDS} rounds)"
    nature = "compute-bound per byte, and the data changes: it must come back to the caller"

    def prepare(self, kernels, elements, stack, workdir):
        shared = stack.enter_context(SharedArray.create(elements))
        original = np.random.default_rng(_SEED).random(elements)
        path = os.path.join(workdir, f"transform-{kernels.name}-{elements}.f64")
        want = original.copy()
        kernels.transform_inplace(want, _TRANSFORM_ROUNDS)
        p = Prepared(self, kernels.name, kernels, elements,
                     {"shared": shared, "path": path, "original": original})
        p.reference = want
        return p

    def reset(self, p, strategy):
        if strategy == "mmap":
            p.state["original"].tofile(p.state["path"])
        else:
            p.state["shared"].array[:] = p.state["original"]

    def run(self, p, strategy, executor, parts):
        x = p.state["shared"].array
        rounds = _TRANSFORM_ROUNDS
        if strategy == "serial":
            return p.kernels.transform_inplace(x, rounds)
        if strategy == "numpy":
            return numpy_logistic(x, rounds)
        _on_chunks(p, strategy, executor, parts, "transform_inplace", rounds, writes=True)
        return None

    def check(self, p, strategy, returned):
        if strategy == "mmap":
            got = np.fromfile(p.state["path"], dtype=np.float64)
        else:
            got = p.state["shared"].array
        return got.shape == p.reference.shape and got.tobytes() == p.reference.tobytes()


class Pipeline(Workload):
    """The capstone: generate, transform, filter, compact, aggregate over shared memory."""

    name = "pipeline"
    title = "capstone pipeline (generate, transform, filter, compact, aggregate)"
    nature = "five stages over shared memory, one of them serial (compact), with data that stays put"
    not_applicable = {
        "pool": "the pipeline keeps its data in shared memory; pickling every stage's data both ways "
                "is what it is built to avoid (see the transform workload for that cost)",
        "processes": "as for pool: its process rows are the shared-memory ones",
        "mmap": "the pipeline's arrays live in shared memory, not in a file",
        "joblib-loky": "joblib's memmaps are read-only in its workers, and four of the five stages write",
        "numpy": "no single numpy call does the pipeline",
    }

    def prepare(self, kernels, elements, stack, workdir):
        data = stack.enter_context(SharedArray.create(elements))
        out = stack.enter_context(SharedArray.create(elements))
        p = Prepared(self, kernels.name, kernels, elements, {"data": data, "out": out})
        p.reference = self._digest(p, self._one_pass(p))
        return p

    def _one_pass(self, p):
        return one_pass(p.kernels, p.state["data"], p.state["out"], p.elements, _PIPELINE["seed"],
                        _PIPELINE["rounds"], _PIPELINE["threshold"], _no_tick)

    def _digest(self, p, output) -> tuple:
        out = p.state["out"].array
        digest = p.kernels.checksum(out[:output.kept]) if output.kept else Checksum(0, 0, 0)
        return output.kept, stats_bits(output.stats), tuple(digest)

    def run(self, p, strategy, executor, parts):
        if strategy == "serial":
            return self._one_pass(p)
        job = PipelineJob(p.impl, executor, p.state["data"], p.state["out"], p.elements, parts,
                          _PIPELINE["seed"], _PIPELINE["rounds"], _PIPELINE["threshold"], _no_tick)
        return run_pipeline(job)

    def check(self, p, strategy, returned):
        return self._digest(p, returned) == p.reference


def _no_tick(stage: str) -> None:
    pass


WORKLOADS: dict[str, Workload] = {w.name: w for w in (CpuLoop(), ArrayReduction(), ArrayTransform(), Pipeline())}
