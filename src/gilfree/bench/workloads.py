"""The benchmark's workloads, and the variants that run them: an executor plus a transport.

A workload is the same work whatever runs it. A *variant* (a row's "strategy") is a registered
strategy (:mod:`gilfree.registry`: serial, threads, pool, processes, failsafe, the joblib peers,
and any a user registers), run with the transport its capabilities declare
(:mod:`gilfree.transports`: views in this process, pickled copies for the standard pools, the
whole array plus a range for joblib's loky), plus three variants that only the bench adds:

=================  ==================================  =======================================
variant            executor                            data reaches a task as
=================  ==================================  =======================================
``shared-memory``  the ``processes`` strategy          a :class:`~gilfree.shm.SharedArray` handle
``mmap``           the ``processes`` strategy          a path and offset into a file it maps
``numpy``          none: numpy's own call              the whole array (what a user would write)
=================  ==================================  =======================================

The ``serial`` variant makes one call on the whole input in this thread: the reference.
Each workload runs its chunks with :func:`gilfree.transports.run_on_chunks` or
:func:`gilfree.chunked.run_chunks` (the capstone with :func:`gilfree.pipeline.run_pipeline`):
no pool loop is written here. A combination that does not make sense (shared memory for a
loop that has no data) is *not applicable*, with the reason recorded.
"""

from __future__ import annotations

import math
import os
import struct
from concurrent.futures import Executor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .._checksum import Checksum
from .._select import C_EXTENSION, Implementation
from .._stats import merge_stats, stats_bits
from ..chunked import array_chunks, run_chunks, split_range
from ..peers import numpy_logistic, numpy_sum
from ..pipeline import PipelineJob, PipelineOutput, one_pass, run_pipeline
from ..registry import strategies
from ..shm import SharedArray
from ..transports import MmapFile, NumpyRandom, Transport, run_on_chunks, transport_named

__all__ = ["SIZES", "WORKLOADS", "Prepared", "Variant", "Workload", "variants"]

#: The ``processes`` strategy carries the bench's own transport variants.
_TRANSPORT_HOST = "processes"
_TRANSPORT_NOTES = {
    "views": "tasks read views of the caller's array",
    "copies": "each chunk is pickled to its worker (and back, if changed)",
    "whole-array": "the whole array goes to every task and each task cuts its range (joblib's idiom: "
                   "joblib memory-maps it once per call)",
    "shared-memory": "tasks attach gilfree's SharedArray by handle (zero-copy)",
    "mmap": "tasks map their chunk of a file (the page cache is shared)",
    "description": "each task gets a description of its chunk (seed, range) and makes the chunk in its "
                   "worker; only partial aggregates come back (a cluster's way)",
}


@dataclass(frozen=True)
class Variant:
    """One row kind of the matrix: which executor runs it, and how array chunks travel."""

    name: str
    #: A registered strategy to open, or None (one call in this thread: serial, numpy).
    executor: str | None
    #: ``"views"``, ``"copies"``, ``"whole-array"``, ``"shared-memory"``, ``"mmap"``, or None.
    transport: str | None
    #: ``"serial"``, ``"threads"`` or ``"processes"``: where the tasks run.
    uses: str
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {"note": self.note, "executor": self.executor, "transport": self.transport, "uses": self.uses}


def variants() -> dict[str, Variant]:
    """Every variant the matrix knows, from the registry as it stands, in table order."""
    out = {"serial": Variant("serial", None, None, "serial",
                             "one call on the whole input, in the calling thread: the reference")}
    for strategy in strategies():
        if strategy.capabilities.uses == "serial":
            continue  # a serial executor adds nothing to the one-call reference
        transport = strategy.capabilities.transport or "copies"
        note = f"{strategy.description}; {_TRANSPORT_NOTES[transport]}"
        out[strategy.name] = Variant(strategy.name, strategy.name, transport, strategy.capabilities.uses, note)
    host = out.get(_TRANSPORT_HOST)
    if host is not None:
        for extra in ("shared-memory", "mmap"):
            out[extra] = Variant(extra, _TRANSPORT_HOST, extra, "processes",
                                 f"the {_TRANSPORT_HOST} strategy; {_TRANSPORT_NOTES[extra]}")
    out["numpy"] = Variant("numpy", None, None, "serial", "numpy's own single-threaded call on the same array")
    return out


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
_PIPELINE_SEED = 8
_PIPELINE_ROUNDS = 8
_PIPELINE_THRESHOLD = 0.5


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

    def run(self, variant: Variant, executor: Executor | None, parts: int) -> Any:
        return self.workload.run(self, variant, executor, parts)

    def reset(self, variant: Variant) -> None:
        self.workload.reset(self, variant)

    def check(self, variant: Variant, result: Any) -> bool:
        """Whether ``result`` equals the serial reference (bit for bit; numpy's sum: closely)."""
        return self.workload.check(self, variant, result)


class Workload:
    """A unit of work that every strategy can run. Subclasses fill in the hooks."""

    name = ""
    title = ""
    #: What a parallel split of it costs and buys, in a phrase, for the verdict.
    nature = ""
    bytes_per_element = 8
    #: variant name -> why it does not apply to this workload.
    not_applicable: dict[str, str] = {}
    #: transport -> why variants that move data that way do not apply to this workload.
    transport_not_applicable: dict[str, str] = {}
    #: Variants whose result is compared closely rather than bit for bit (another algorithm).
    approximate: frozenset[str] = frozenset()
    #: True when its tasks write their chunk (the data must come back to the caller).
    writes = False

    def prepare(self, kernels: Implementation, elements: int, stack: ExitStack, workdir: str) -> Prepared:
        raise NotImplementedError

    def run(self, p: Prepared, variant: Variant, executor: Executor | None, parts: int) -> Any:
        raise NotImplementedError

    def reset(self, p: Prepared, variant: Variant) -> None:
        """Put the input back as it was (for workloads that change it in place). Untimed."""

    def check(self, p: Prepared, variant: Variant, returned: Any) -> bool:
        return bool(returned == p.reference)

    def applies(self, variant: Variant, impl: str) -> str | None:
        """None if ``variant`` runs this workload, else the reason it does not."""
        if variant.name == "numpy" and impl != C_EXTENSION:
            return "numpy's row is run once, on the compiled twin's data"
        if variant.name in self.not_applicable:
            return self.not_applicable[variant.name]
        return self.transport_not_applicable.get(variant.transport or "")


def _pooled(variant: Variant, executor: Executor | None) -> Executor:
    """The executor that a variant with a strategy runs on: the matrix opened it, so never None."""
    if executor is None:
        raise TypeError(f"variant {variant.name!r} runs on the {variant.executor!r} strategy: "
                        "it needs a concurrent.futures.Executor, not None")
    return executor


def _on_chunks(p: Prepared, variant: Variant, executor: Executor | None, parts: int,
               kernel: Callable[..., Any], *args: Any, writes: bool = False) -> list[Any]:
    """Run ``kernel`` on every chunk of ``p``'s array, the data travelling as ``variant`` says."""
    transport: Transport
    if variant.transport == "mmap":
        transport = MmapFile(p.state["path"])
    elif variant.transport == "description":
        return run_on_chunks(_pooled(variant, executor), kernel, [p.state["recipe"]],
                             array_chunks(p.elements, parts), extra=(lambda a, b: args), writes=writes)
    else:
        transport = transport_named(variant.transport or "copies")
    return run_on_chunks(_pooled(variant, executor), kernel, [p.state["shared"]],
                         array_chunks(p.elements, parts), extra=(lambda a, b: args), writes=writes,
                         transport=transport)


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
    transport_not_applicable: dict[str, str] = {}

    def prepare(self, kernels: Implementation, elements: int, stack: ExitStack, workdir: str) -> Prepared:
        p = Prepared(self, kernels.name, kernels, elements, {})
        p.reference = kernels.sum_squares(0, elements)
        if p.reference != (elements - 1) * elements * (2 * elements - 1) // 6:  # the closed form
            raise RuntimeError(f"{kernels.name} sum_squares(0, {elements}) is not the closed form")
        return p

    def run(self, p: Prepared, variant: Variant, executor: Executor | None, parts: int) -> Any:
        if variant.executor is None:
            return p.kernels.sum_squares(0, p.elements)
        ranges = split_range(0, p.elements, parts)
        return sum(run_chunks(_pooled(variant, executor), p.kernels.sum_squares, ranges))


class ArrayReduction(Workload):
    """Statistics (count, sum, min, max, mean, m2) of a float64 array: bound by memory bandwidth."""

    name = "reduction"
    title = "array reduction (statistics of a float64 array)"
    nature = "memory-bound: one pass over the data, a few numbers back per task"
    approximate = frozenset({"numpy"})

    def prepare(self, kernels: Implementation, elements: int, stack: ExitStack, workdir: str) -> Prepared:
        shared = stack.enter_context(SharedArray.create(elements))
        recipe = NumpyRandom(_SEED, elements)  # what a worker makes of its chunk, by description
        shared.array[:] = recipe.make(0, elements)
        path = _write_file(workdir, f"reduction-{kernels.name}-{elements}.f64", shared.array)
        p = Prepared(self, kernels.name, kernels, elements, {"shared": shared, "path": path, "recipe": recipe})
        p.reference = stats_bits(kernels.chunk_stats(shared.array))
        return p

    def run(self, p: Prepared, variant: Variant, executor: Executor | None, parts: int) -> Any:
        x = p.state["shared"].array
        if variant.name == "numpy":
            return numpy_sum(x)
        if variant.executor is None:
            return p.kernels.chunk_stats(x)
        return merge_stats(_on_chunks(p, variant, executor, parts, p.kernels.chunk_stats))

    def check(self, p: Prepared, variant: Variant, returned: Any) -> bool:
        if variant.name == "numpy":  # pairwise summation in another order: equal to rounding
            want = struct.unpack("<d", p.reference[1])[0]  # (count, sum, ...)
            return math.isclose(returned, want, rel_tol=1e-9)
        return bool(stats_bits(returned) == p.reference)


class ArrayTransform(Workload):
    """The logistic map, 20 rounds, in place on a float64 array: compute-bound, data changes."""

    name = "transform"
    title = f"in-place array transform (logistic map, {_TRANSFORM_ROUNDS} rounds)"
    nature = "compute-bound per byte, and the data changes: it must come back to the caller"
    writes = True
    transport_not_applicable = {
        "description": "the transformed array must come back whole, and a chunk made from its description "
                       "sends back only what the kernel returns",
    }

    def prepare(self, kernels: Implementation, elements: int, stack: ExitStack, workdir: str) -> Prepared:
        shared = stack.enter_context(SharedArray.create(elements))
        original = np.random.default_rng(_SEED).random(elements)
        path = os.path.join(workdir, f"transform-{kernels.name}-{elements}.f64")
        want = original.copy()
        kernels.transform_inplace(want, _TRANSFORM_ROUNDS)
        p = Prepared(self, kernels.name, kernels, elements,
                     {"shared": shared, "path": path, "original": original})
        p.reference = want
        return p

    def reset(self, p: Prepared, variant: Variant) -> None:
        if variant.transport == "mmap":
            p.state["original"].tofile(p.state["path"])
        else:
            p.state["shared"].array[:] = p.state["original"]

    def run(self, p: Prepared, variant: Variant, executor: Executor | None, parts: int) -> Any:
        x = p.state["shared"].array
        rounds = _TRANSFORM_ROUNDS
        if variant.name == "numpy":
            return numpy_logistic(x, rounds)
        if variant.executor is None:
            return p.kernels.transform_inplace(x, rounds)
        _on_chunks(p, variant, executor, parts, p.kernels.transform_inplace, rounds, writes=self.writes)
        return None

    def check(self, p: Prepared, variant: Variant, returned: Any) -> bool:
        if variant.transport == "mmap":
            got = np.fromfile(p.state["path"], dtype=np.float64)
        else:
            got = p.state["shared"].array
        return bool(got.shape == p.reference.shape and got.tobytes() == p.reference.tobytes())


#: What the pipeline's check compares: rows kept, their statistics' bits, their checksum.
_Digest = tuple[int, tuple[int | bytes, ...] | None, tuple[int, ...]]


class Pipeline(Workload):
    """The capstone: generate, transform, filter, compact, aggregate over shared memory."""

    name = "pipeline"
    title = "capstone pipeline (generate, transform, filter, compact, aggregate)"
    nature = "five stages over shared memory, one of them serial (compact), with data that stays put"
    not_applicable = {"numpy": "no single numpy call does the pipeline"}
    transport_not_applicable = {
        "copies": "the pipeline keeps its data in shared memory; pickling every stage's data both ways "
                  "is what it is built to avoid (see the transform workload for that cost); its "
                  "process rows are the shared-memory ones",
        "mmap": "the pipeline's arrays live in shared memory, not in a file",
        "whole-array": "the whole array would reach the workers read-only (joblib memory-maps it), "
                       "and four of the five stages write",
    }
    # "description" applies: the pipeline's first three stages then run fused in each worker, the
    # kept records stay there, and only counts, checksums and statistics pieces come back.

    def prepare(self, kernels: Implementation, elements: int, stack: ExitStack, workdir: str) -> Prepared:
        data = stack.enter_context(SharedArray.create(elements))
        out = stack.enter_context(SharedArray.create(elements))
        p = Prepared(self, kernels.name, kernels, elements, {"data": data, "out": out})
        p.reference = self._digest(p, self._one_pass(p))
        return p

    def _one_pass(self, p: Prepared) -> PipelineOutput:
        return one_pass(p.kernels, p.state["data"], p.state["out"], p.elements, _PIPELINE_SEED,
                        _PIPELINE_ROUNDS, _PIPELINE_THRESHOLD, _no_tick)

    def _digest(self, p: Prepared, output: PipelineOutput) -> _Digest:
        out = p.state["out"].array
        if output.checksum is not None:  # the kept records stayed on the workers
            digest = output.checksum
        else:
            digest = p.kernels.checksum(out[:output.kept]) if output.kept else Checksum(0, 0, 0)
        return output.kept, stats_bits(output.stats), tuple(digest)

    def run(self, p: Prepared, variant: Variant, executor: Executor | None, parts: int) -> Any:
        if variant.executor is None:
            return self._one_pass(p)
        job = PipelineJob(p.kernels, _pooled(variant, executor), p.state["data"], p.state["out"], p.elements,
                          parts, _PIPELINE_SEED, _PIPELINE_ROUNDS, _PIPELINE_THRESHOLD, _no_tick)
        return run_pipeline(job)

    def check(self, p: Prepared, variant: Variant, returned: Any) -> bool:
        return bool(self._digest(p, returned) == p.reference)


def _no_tick(stage: str) -> None:
    pass


WORKLOADS: dict[str, Workload] = {w.name: w for w in (CpuLoop(), ArrayReduction(), ArrayTransform(), Pipeline())}
