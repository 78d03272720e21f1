"""How a chunk of an array reaches a task, and how its changes come back: one small object each.

=================  ==============================================  ===============================
transport          what each task receives                         changes made by the task
=================  ==============================================  ===============================
``views``          a numpy view of its chunk (same process only)   are in the caller's array
``copies``         a pickled copy of its chunk                     travel back, then land here
``whole-array``    the whole array and its range (joblib's idiom)  travel back, then land here
``shared-memory``  a :class:`~gilfree.shm.SharedArrayHandle`       are in the shared segment
``mmap``           a file path, a byte offset and a length         are in the file (page cache)
``description``    a :class:`Recipe` and its range: the worker     cannot come back: only the
                   makes (generates or reads) its chunk itself     kernel's result does
=================  ==============================================  ===============================

:func:`run_on_chunks` is the one call that every chunked array job goes through (the pipeline,
the lab steps, the bench)::

    run_on_chunks(executor, kernels.chunk_stats, [shared], array_chunks(n, parts))

The kernel is a function (gilfree's kernels pickle by reference, in about 50 bytes); the
arrays are :class:`~gilfree.shm.SharedArray` objects (every transport can use them) or plain
numpy arrays (for ``views``, ``copies`` and ``whole-array``). With no transport named, the
executor's capabilities choose: views for executors that run tasks in this process, shared
memory for the rest (:func:`default_transport`). Results come back in chunk order.

Data that a worker can make for itself (a seeded generator, a file every worker can read) need
not travel at all: pass a :class:`Recipe` (:class:`Uniform`, :class:`NumpyRandom`,
:class:`FileChunks`) instead of an array, and each task gets the recipe and its range, makes its
chunk where it runs, and sends back only what the kernel returns. That is how data moves on a
cluster (the ``dask`` strategy declares it); shared memory stays the single-machine path.

The task functions (:func:`on_copy`, :func:`on_range`, :func:`on_shared`, :func:`on_mmap`) are
module-level, so every start method can find them, and take only small picklable arguments.
"""

from __future__ import annotations

import mmap as _mmap
import multiprocessing
import os
import threading
from collections import OrderedDict
from concurrent.futures import Executor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterator, Sequence, Union

import numpy as np

from .chunked import run_chunks
from .registry import capabilities_of
from .shm import SharedArray, SharedArrayHandle

__all__ = [
    "TRANSPORTS",
    "Copies",
    "MmapFile",
    "SharedMemory",
    "Transport",
    "Views",
    "WholeArray",
    "Described",
    "FileChunks",
    "NumpyRandom",
    "Recipe",
    "Uniform",
    "attached",
    "default_transport",
    "on_copy",
    "on_description",
    "on_mmap",
    "on_range",
    "on_shared",
    "run_on_chunks",
    "transport_named",
]

class Recipe:
    """A description of a float64 array that a worker turns into any chunk of it, where it runs.

    Subclasses are small frozen dataclasses (they travel with every task) with ``n``, the
    array's length, and :meth:`make`; the chunk made must be exactly that range of the array
    the caller means, so that results equal the one call's bit for bit.
    """

    n: int

    def make(self, start: int, stop: int) -> np.ndarray:
        raise NotImplementedError

    @property
    def nbytes(self) -> int:
        return self.n * 8


@dataclass(frozen=True)
class Uniform(Recipe):
    """``fill(x, seed, start)`` over the range: gilfree's counter-based generator (``fill_uniform``)."""

    fill: Callable[..., Any]
    seed: int
    n: int

    def make(self, start: int, stop: int) -> np.ndarray:
        chunk = np.empty(stop - start, dtype=np.float64)
        self.fill(chunk, self.seed, start)
        return chunk


@dataclass(frozen=True)
class NumpyRandom(Recipe):
    """``numpy.random.default_rng(seed).random(n)``, made a range at a time: PCG64 jumps ahead
    ``start`` draws (one 64-bit draw per double), so each chunk is exactly its slice."""

    seed: int
    n: int

    def make(self, start: int, stop: int) -> np.ndarray:
        bits = np.random.PCG64(self.seed)  # what default_rng(seed) uses
        bits.advance(start)
        return np.random.Generator(bits).random(stop - start)


@dataclass(frozen=True)
class FileChunks(Recipe):
    """float64 elements of a file that every worker can read (a shared or replicated path)."""

    path: str
    n: int
    offset: int = 0

    def make(self, start: int, stop: int) -> np.ndarray:
        return np.fromfile(self.path, dtype=np.float64, count=stop - start, offset=self.offset + start * 8)


Source = Union[SharedArray, np.ndarray, Recipe]
Ranges = Sequence[tuple[int, int]]
Extra = Callable[[int, int], tuple[Any, ...]]


def _no_extra(start: int, stop: int) -> tuple[Any, ...]:
    return ()


def _flat(source: Source, what: str) -> np.ndarray:
    array = source.array if isinstance(source, SharedArray) else source
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{what} needs numpy arrays or gilfree SharedArrays, not {type(source).__name__}")
    return array.reshape(-1)


class Transport:
    """How chunks of arrays travel to tasks. Subclasses fill in :meth:`tasks` (and :meth:`land`)."""

    name: ClassVar[str] = ""
    #: Tasks must run in this process (views point into its memory).
    needs_in_process: ClassVar[bool] = False
    #: Changed chunks come back as results, to be written into the caller's array.
    returns_chunks: ClassVar[bool] = False

    def tasks(self, kernel: Callable[..., Any], sources: Sequence[Source], ranges: Ranges,
              extra: Extra, writes: bool) -> tuple[Callable[..., Any], list[tuple[Any, ...]]]:
        """The task function and one argument tuple per range."""
        raise NotImplementedError

    def land(self, sources: Sequence[Source], ranges: Ranges, results: list[Any]) -> list[Any]:
        """Write chunks that came back into the caller's array; return the kernels' results."""
        return results

    def __repr__(self) -> str:
        return f"<gilfree transport {self.name!r}>"


class Views(Transport):
    """Numpy views of the caller's arrays: nothing copied, for tasks in this process only."""

    name = "views"
    needs_in_process = True

    def tasks(self, kernel: Callable[..., Any], sources: Sequence[Source], ranges: Ranges,
              extra: Extra, writes: bool) -> tuple[Callable[..., Any], list[tuple[Any, ...]]]:
        flats = [_flat(s, "the views transport") for s in sources]
        return kernel, [(*(f[a:b] for f in flats), *extra(a, b)) for a, b in ranges]


class Copies(Transport):
    """Each task gets a pickled copy of its chunk; a chunk the kernel changed is sent back."""

    name = "copies"
    returns_chunks = True

    def tasks(self, kernel: Callable[..., Any], sources: Sequence[Source], ranges: Ranges,
              extra: Extra, writes: bool) -> tuple[Callable[..., Any], list[tuple[Any, ...]]]:
        if len(sources) != 1:
            raise ValueError("the copies transport sends one array per task, not "
                             f"{len(sources)}: use shared memory for kernels over several arrays")
        flat = _flat(sources[0], "the copies transport")
        return on_copy, [(kernel, flat[a:b], writes, *extra(a, b)) for a, b in ranges]

    def land(self, sources: Sequence[Source], ranges: Ranges, results: list[Any]) -> list[Any]:
        return _land(sources, ranges, results)


class WholeArray(Transport):
    """joblib's idiom: every task gets the whole array and cuts its own range from it.

    joblib's loky backend memory-maps a large array once per call and hands every worker the
    same read-only map, so a task that changes its chunk changes a copy and sends it back.
    """

    name = "whole-array"
    returns_chunks = True

    def tasks(self, kernel: Callable[..., Any], sources: Sequence[Source], ranges: Ranges,
              extra: Extra, writes: bool) -> tuple[Callable[..., Any], list[tuple[Any, ...]]]:
        if len(sources) != 1:
            raise ValueError(f"the whole-array transport sends one array per task, not {len(sources)}")
        whole = _flat(sources[0], "the whole-array transport")
        return on_range, [(kernel, whole, a, b, writes, *extra(a, b)) for a, b in ranges]

    def land(self, sources: Sequence[Source], ranges: Ranges, results: list[Any]) -> list[Any]:
        return _land(sources, ranges, results)


class SharedMemory(Transport):
    """Each task attaches the arrays' shared-memory segments by handle: zero-copy, any process."""

    name = "shared-memory"

    def tasks(self, kernel: Callable[..., Any], sources: Sequence[Source], ranges: Ranges,
              extra: Extra, writes: bool) -> tuple[Callable[..., Any], list[tuple[Any, ...]]]:
        handles = []
        for source in sources:
            if not isinstance(source, SharedArray):
                raise TypeError("the shared-memory transport needs gilfree SharedArrays (their handles "
                                f"travel), not {type(source).__name__}: create the data with SharedArray.create")
            handles.append(source.handle)
        handles_t = tuple(handles)
        return on_shared, [(kernel, handles_t, a, b, *extra(a, b)) for a, b in ranges]


@dataclass(frozen=True, repr=False)
class MmapFile(Transport):
    """Each task maps its chunk of ``path`` (float64 elements from ``offset`` bytes) and unmaps it.

    The file holds the data (the caller wrote it there); changes land in the page cache that
    every process shares, and are flushed before the task returns.
    """

    path: str
    offset: int = 0
    name: ClassVar[str] = "mmap"

    def tasks(self, kernel: Callable[..., Any], sources: Sequence[Source], ranges: Ranges,
              extra: Extra, writes: bool) -> tuple[Callable[..., Any], list[tuple[Any, ...]]]:
        if len(sources) != 1:
            raise ValueError(f"the mmap transport maps one file per task, not {len(sources)} arrays")
        item = _flat(sources[0], "the mmap transport").itemsize
        return on_mmap, [(kernel, self.path, self.offset + a * item, (b - a) * item, writes, *extra(a, b))
                         for a, b in ranges]


class Described(Transport):
    """Each task gets a :class:`Recipe` and its range, and makes its chunk where it runs.

    Nothing but the description (tens of bytes) goes out and nothing but the kernel's result
    comes back, so it is the transport for workers on other machines. A kernel that changes
    its chunk changes the worker's copy only: ask for ``writes`` and it refuses.
    """

    name = "description"

    def tasks(self, kernel: Callable[..., Any], sources: Sequence[Source], ranges: Ranges,
              extra: Extra, writes: bool) -> tuple[Callable[..., Any], list[tuple[Any, ...]]]:
        if writes:
            raise ValueError("the description transport makes each chunk in its worker: changes to it "
                             "cannot come back. Use shared memory (one machine) or copies")
        recipes = tuple(sources)
        for recipe in recipes:
            if not isinstance(recipe, Recipe):
                raise TypeError("the description transport needs Recipes (Uniform, NumpyRandom, FileChunks), "
                                f"not {type(recipe).__name__}")
        return on_description, [(kernel, recipes, a, b, *extra(a, b)) for a, b in ranges]


def _land(sources: Sequence[Source], ranges: Ranges, results: list[Any]) -> list[Any]:
    """Chunks that travelled by value come back as (chunk, result): write each into place."""
    flat = _flat(sources[0], "landing")
    out = []
    for (a, b), (chunk, result) in zip(ranges, results):
        if chunk is not None:
            flat[a:b] = chunk
        out.append(result)
    return out


#: One object of each transport that needs no settings, by name.
TRANSPORTS: dict[str, Transport] = {t.name: t for t in (Views(), Copies(), WholeArray(), SharedMemory(),
                                                         Described())}


def transport_named(name: str) -> Transport:
    """The transport called ``name`` (``mmap`` needs a path: build :class:`MmapFile` instead)."""
    if not isinstance(name, str):
        raise TypeError(f"transport must be a str, one of {', '.join(TRANSPORTS)}, not {type(name).__name__}")
    if name not in TRANSPORTS:
        raise ValueError(f"unknown transport {name!r}; choose one of {', '.join(TRANSPORTS)} "
                         "(or MmapFile(path) for a file)")
    return TRANSPORTS[name]


def default_transport(executor: Executor, *, shared: bool = True) -> Transport:
    """Views for an executor whose tasks run in this process; otherwise shared memory.

    (Recipes instead of arrays always travel as descriptions: :func:`run_on_chunks` sees to it.)

    With ``shared=False`` (the data is not in a SharedArray) an out-of-process executor gets the
    transport its strategy declares (pickled copies for the standard pools).
    """
    caps = capabilities_of(executor)
    if caps.in_process:
        return TRANSPORTS["views"]
    if shared:
        return TRANSPORTS["shared-memory"]
    # A description needs a Recipe, not an array: an array for such an executor travels by value.
    name = caps.transport if caps.transport not in ("views", "description") else "copies"
    return TRANSPORTS[name or "copies"]


def run_on_chunks(executor: Executor, kernel: Callable[..., Any], sources: Sequence[Source],
                  ranges: Ranges, *, extra: Extra | None = None, writes: bool = False,
                  transport: Transport | None = None,
                  on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
    """``kernel(*chunks, *extra(a, b))`` for every range ``(a, b)``, on ``executor``; results in order.

    ``sources`` are the arrays the kernel reads (and writes, with ``writes``); every task gets
    the same range of each. ``extra(a, b)`` adds per-chunk arguments after the chunks (a seed
    and an offset, say). ``transport`` (default: :func:`default_transport`) says how the chunks
    travel; with ``writes``, chunks that travelled by value are written back before this returns.
    """
    if not callable(kernel):
        raise TypeError(f"kernel must be callable, not {type(kernel).__name__}")
    if isinstance(sources, (SharedArray, np.ndarray, Recipe)) or not sources:
        raise TypeError("sources must be a non-empty sequence of arrays, e.g. [shared]")
    if any(isinstance(s, Recipe) for s in sources) and transport is None:
        transport = TRANSPORTS["description"]
    if transport is None:
        transport = default_transport(executor, shared=all(isinstance(s, SharedArray) for s in sources))
    elif not isinstance(transport, Transport):
        raise TypeError(f"transport must be a gilfree.transports.Transport, not {type(transport).__name__}")
    if transport.needs_in_process and not capabilities_of(executor).in_process:
        raise ValueError(f"the {transport.name} transport hands tasks views of this process's memory, "
                         f"but {type(executor).__name__} runs tasks elsewhere: use shared memory")
    fn, argsets = transport.tasks(kernel, sources, ranges, extra or _no_extra, writes)
    results = run_chunks(executor, fn, argsets, on_result=on_result)
    if transport.returns_chunks:
        return transport.land(sources, ranges, results)
    return results


# -- the task functions, run inside workers ------------------------------------------------------

def on_copy(kernel: Callable[..., Any], data: np.ndarray, writes: bool, *args: Any) -> tuple[Any, Any]:
    """Run ``kernel`` on a chunk that arrived by value: ``(changed chunk or None, result)``.

    A read-only array (joblib hands large arguments over as read-only memmaps) is copied first
    when the kernel writes: the result has to travel back anyway.
    """
    if writes and not data.flags.writeable:
        data = np.array(data)
    result = kernel(data, *args)
    return (data if writes else None), result


def on_range(kernel: Callable[..., Any], data: np.ndarray, start: int, stop: int, writes: bool,
             *args: Any) -> tuple[Any, Any]:
    """Run ``kernel`` on ``data[start:stop]`` of a whole array passed to every task.

    A kernel that writes gets a copy of the range (the whole array may be a read-only map),
    and the copy travels back.
    """
    view = data.reshape(-1)[start:stop]
    if writes:
        chunk = np.array(view)
        del view
        return chunk, kernel(chunk, *args)
    try:
        return None, kernel(view, *args)
    finally:
        del view


class _Attachments:
    """The shared arrays a worker process keeps mapped from one task to the next.

    Mapping a segment costs page-table work proportional to its size (about 12 ms per 128 MB
    here), as much as a memory-bound pass over it: paid per task, it would swamp the tasks.
    A worker therefore keeps its last few attachments. Before each use, every kept mapping is
    checked against its name (:meth:`SharedArray.still_linked`): one whose segment the owner
    has unlinked, or whose name now opens another segment, is closed at once, so a stale
    handle fails as it should and memory goes back as soon as the owner lets go.
    """

    LIMIT = 8

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: OrderedDict[SharedArrayHandle, SharedArray] = OrderedDict()

    def get(self, handle: SharedArrayHandle) -> tuple[SharedArray, bool]:
        """The attachment for ``handle`` and whether it is kept (else the caller closes it)."""
        with self._lock:
            for key, shared in list(self._kept.items()):
                if not shared.still_linked():
                    del self._kept[key]
                    shared.close()
            kept = self._kept.get(handle)
            if kept is not None:
                self._kept.move_to_end(handle)
                return kept, True
            shared = SharedArray.attach(handle)
            if not shared.still_linked():  # no way to check it later: do not keep it
                return shared, False
            self._kept[handle] = shared
            while len(self._kept) > self.LIMIT:
                self._kept.popitem(last=False)[1].close()
            return shared, True


_ATTACHMENTS = _Attachments()


@contextmanager
def attached(handle: SharedArrayHandle) -> Iterator[SharedArray]:
    """A shared array for the length of one task.

    In a worker process the mapping is kept for the next task (see :class:`_Attachments`);
    in the main process (serial or threads strategies, which could simply pass views) it is
    closed at the end, so that no mapping outlives the owner's ``close()`` there.
    """
    if multiprocessing.parent_process() is None:
        with SharedArray.attach(handle) as shared:
            yield shared
        return
    shared, kept = _ATTACHMENTS.get(handle)
    if kept:
        yield shared
    else:
        with shared:
            yield shared


def on_shared(kernel: Callable[..., Any], handles: tuple[SharedArrayHandle, ...], start: int, stop: int,
              *args: Any) -> Any:
    """Attach each shared array and run ``kernel(a[start:stop], b[start:stop], ..., *args)``.

    Kernels over two arrays (``filter_greater`` reads one and writes the matching region of the
    other) get the same range of each: each chunk owns its region, so chunks never collide.
    """
    if isinstance(handles, SharedArrayHandle):
        handles = (handles,)
    with ExitStack() as stack:
        shared = [stack.enter_context(attached(h)) for h in handles]
        views = [s.array.reshape(-1)[start:stop] for s in shared]
        try:
            return kernel(*views, *args)
        finally:
            del views


def on_description(kernel: Callable[..., Any], recipes: tuple[Recipe, ...], start: int, stop: int,
                   *args: Any) -> Any:
    """Make the chunk ``[start, stop)`` of each recipe's array here and run the kernel on them."""
    return kernel(*(r.make(start, stop) for r in recipes), *args)


def on_mmap(kernel: Callable[..., Any], path: str | os.PathLike[str], offset: int, length: int,
            writes: bool, *args: Any, dtype: str = "d") -> Any:
    """Map ``length`` bytes of ``path`` from ``offset``, run ``kernel`` on them, flush and unmap.

    ``offset`` need not be page-aligned: the mapping starts at the page below it.
    """
    page = _mmap.ALLOCATIONGRANULARITY
    start = offset - offset % page
    access = _mmap.ACCESS_WRITE if writes else _mmap.ACCESS_READ
    with open(path, "r+b" if writes else "rb") as f:
        with _mmap.mmap(f.fileno(), length + (offset - start), access=access, offset=start) as mm:
            with memoryview(mm) as whole:
                with whole[offset - start:] as raw:
                    view = raw.cast(dtype) if dtype != "B" else raw  # type: ignore[call-overload]
                    try:
                        return kernel(view, *args)
                    finally:
                        if view is not raw:
                            view.release()
            if writes:
                mm.flush()
