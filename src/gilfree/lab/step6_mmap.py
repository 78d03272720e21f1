"""Step 6: ``mmap`` for inter-process communication: one file, mapped by several processes.

Two uses of a file-backed mapping, both in worker processes opened by the strategies layer:

(a) **Workers over one file.** A float64 array is written to a temporary file (behind the
    :mod:`gilfree.mmapipc` header). Each task carries only the path, a byte offset and a length;
    the worker maps that range and computes chunk statistics there. The parent merges them, and the
    result equals a single in-memory pass bit for bit.

(b) **A producer and a consumer.** The parent writes a payload into a mapped channel file and
    commits it with the header's sequence number; a consumer process, already waiting, sees the
    commit (polling, with a timeout), validates the header and checksums the payload in place.
    The same bytes are also sent through a ``multiprocessing.Pipe`` to a consumer process, for
    comparison, and checksummed in the parent (the reference).

Every variant is a :class:`gilfree.experiment.Variant` whose result the runner checks against
the serial reference (statistics bit for bit, the checksum); worker processes do the work, so
CPU time is the whole process tree's.
"""

from __future__ import annotations

import multiprocessing
import operator
import os
import pickle
import tempfile
from collections.abc import Sequence
from concurrent.futures import Executor
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Mapping

import numpy as np

from .._checks import check_callable, check_count, check_real, check_seconds, check_seed
from .._checksum import Checksum
from .._select import C_EXTENSION, PURE_PYTHON, Implementation
from .._stats import Stats
from .._timing import environment, usable_cores
from ..arrays import fill_uniform, merge_stats
from ..chunked import array_chunks, default_parts
from ..experiment import Experiment, Measured, Variant
from ..figures import Timed, beyond_noise, clearly_faster, ms, nbytes, noise_of, repeat_advice, versus, x
from ..mmapipc import (HEADER_SIZE, apply_to_message, create_channel, open_channel, read_header, write_file,
                       write_message)
from ..strategies import get_strategy, open_executor
from ..transports import MmapFile, Transport, run_on_chunks
from ._common import (ideal_clause, ideal_notes, main_implementation, measured_once, no_spread, process_strategy,
                      processes_clause, same_stats)
from ._plan import chosen_implementations, measured_row, speedup_of, step_result, worker_count
from ._result import Progress, Row, StepResult, no_progress

TITLE = "mmap: a file shared between processes"

IN_MEMORY = "array in memory"
VIA_MMAP = "array via mmap"
IN_PARENT = "checksum in parent"
CHANNEL_FLUSH = "mmap channel, flushed"
CHANNEL = "mmap channel, no flush"
PIPE = "Pipe"
PART_A = (IN_MEMORY, VIA_MMAP)
PART_B = (IN_PARENT, CHANNEL_FLUSH, CHANNEL, PIPE)

#: The checks of this step besides each variant's own (named by the variant) and each file's header.
TWINS = "twins agree"
NO_FILES = "temporary files removed"

_FLOAT64 = 8


@dataclass(frozen=True)
class _Settings:
    """The checked parameters of one run (``workers`` resolved to a count)."""

    n: int
    payload_mb: float
    workers: int
    pure_scale: int
    pure_payload_scale: int
    strategy: str
    repeats: int
    timeout: float
    seed: int

    @property
    def payload_seed(self) -> int:
        """The payload of part (b) is another seeded array than the file of part (a)."""
        return (self.seed + 1) % 2**64


@dataclass(frozen=True)
class _Sizes:
    """Float64 records per implementation: the array of part (a), the payload of part (b)."""

    records: int  # the payload as asked for, before pure Python's share
    elements: dict[str, int]
    payload_records: dict[str, int]


@dataclass
class _References:
    """The serial results every variant must give: statistics in part (a), a checksum in (b)."""

    stats: dict[str, Stats] = field(default_factory=dict)
    checksums: dict[str, Checksum] = field(default_factory=dict)


def name_of(impl: str, variant: str, strategy: str) -> str:
    """A variant's name, which is also the name of the check of its result."""
    return f"{impl}, {variant}, {strategy}"


def _array(m: int, seed: int) -> np.ndarray:
    x = np.empty(m)
    fill_uniform(x, seed)
    return x


# The consumers of part (b), run in a worker process: one message of bytes arrives either through
# the memory-mapped channel file (read in place) or through a multiprocessing Pipe (copied).

def apply_to_pipe_message(kernel: Callable[..., Any], conn: Any, timeout: float) -> Any:
    """Receive one message of bytes on ``conn`` (a Connection), close it, run ``kernel`` on the bytes.

    The channel's consumer is :func:`gilfree.mmapipc.apply_to_message`.
    """
    try:
        if not conn.poll(timeout):
            raise TimeoutError(f"no message arrived on the pipe within {timeout} s")
        data = conn.recv_bytes()
    finally:
        conn.close()
    return kernel(data)


def _stats_via_file(executor: Executor, kernels: Implementation, x: np.ndarray, transport: Transport,
                    chunks: list[tuple[int, int]]) -> Stats:
    """Part (a) on ``executor``: every task maps its own byte range of the file; merge in chunk order."""
    return merge_stats(run_on_chunks(executor, kernels.chunk_stats, [x], chunks, transport=transport))


class _Channel:
    """Part (b) for one implementation: a channel file kept mapped by the producer (this process)."""

    def __init__(self, kernels: Implementation, path: str, mm: Any, payload: bytes, procs: Executor,
                 timeout: float) -> None:
        self.kernels, self.path, self.mm, self.payload = kernels, path, mm, payload
        self.procs, self.timeout = procs, timeout
        self.sequence = 0

    def in_parent(self) -> Checksum:
        return self.kernels.checksum(self.payload)

    def send(self, flush: bool = True) -> Checksum:
        """Start a consumer waiting for the next message, write the message, wait for its checksum."""
        self.sequence += 1
        future = self.procs.submit(apply_to_message, self.kernels.checksum, self.path, self.sequence,
                                   self.timeout)
        write_message(self.mm, self.payload, sequence=self.sequence, record_size=_FLOAT64, flush=flush)
        got: Checksum = future.result(timeout=self.timeout + 10)
        return got

    def through_pipe(self) -> Checksum:
        receiver, sender = multiprocessing.Pipe(duplex=False)
        try:
            future = self.procs.submit(apply_to_pipe_message, self.kernels.checksum, receiver,
                                       self.timeout)
            sender.send_bytes(self.payload)
            got: Checksum = future.result(timeout=self.timeout + 10)
            return got
        finally:
            sender.close()
            receiver.close()

    def variants(self, impl: str, expected: Checksum, strategy: str) -> list[Variant]:
        """The payload checksummed here, then handed to a consumer process three ways."""
        check = partial(operator.eq, expected)
        tags = {"implementation": impl, "part": "b", "bytes": len(self.payload), "workers": 1}
        return [
            Variant(name_of(impl, IN_PARENT, "serial"), self.in_parent, check,
                    tags={**tags, "variant": IN_PARENT, "strategy": "serial", "B/task": ""}),
            Variant(name_of(impl, CHANNEL_FLUSH, strategy), partial(self.send, flush=True), check,
                    tags={**tags, "variant": CHANNEL_FLUSH, "strategy": strategy, "B/task": self.task_bytes()}),
            Variant(name_of(impl, CHANNEL, strategy), partial(self.send, flush=False), check,
                    tags={**tags, "variant": CHANNEL, "strategy": strategy, "B/task": self.task_bytes()}),
            # Only the channel's tasks have a fixed size; the Pipe's payload goes through the pipe.
            Variant(name_of(impl, PIPE, strategy), self.through_pipe, check,
                    tags={**tags, "variant": PIPE, "strategy": strategy, "B/task": ""}),
        ]

    def task_bytes(self) -> int:
        """What one channel task pickles: the consumer, the kernel, the path, a sequence number, a timeout."""
        return len(pickle.dumps((apply_to_message, self.kernels.checksum, self.path, 1, self.timeout)))

    def last_message_committed(self, records: int) -> bool:
        header = read_header(self.mm)
        return header.committed and header.sequence == self.sequence and header.record_count == records


# -- what to run --------------------------------------------------------------------------------

def _process_strategy(strategy: object) -> str:
    """A strategy whose workers run in other processes, one task at a time as it is submitted."""
    name = process_strategy(strategy, "this step maps one file from several processes")
    if get_strategy(name).capabilities.batches:
        raise ValueError(f"strategy must start each task as it is submitted, not {name!r}: a batch-only "
                         "executor would run the consumer of part (b) to its end before this process "
                         "writes the message it waits for")
    return name


def _checked(n: object, payload_mb: object, workers: object, pure_scale: object, pure_payload_scale: object,
             strategy: object, repeats: object, timeout: object, seed: object, progress: object) -> _Settings:
    """Every parameter checked, before any pool or file exists."""
    settings = _Settings(
        n=check_count(n, "n"),
        payload_mb=check_real(payload_mb, "payload_mb", minimum_exclusive=0, finite=True),
        workers=worker_count(workers, max(2, usable_cores())),
        pure_scale=check_count(pure_scale, "pure_scale"),
        pure_payload_scale=check_count(pure_payload_scale, "pure_payload_scale"),
        strategy=_process_strategy(strategy), repeats=check_count(repeats, "repeats"),
        timeout=check_seconds(timeout, "timeout"), seed=check_seed(seed))
    check_callable(progress, "progress")
    return settings


def _sizes(impls: Mapping[str, Implementation], s: _Settings) -> _Sizes:
    """Pure Python gets ``1 / pure_scale`` of the array and ``1 / pure_payload_scale`` of the payload."""
    records = max(1, int(s.payload_mb * 1e6) // _FLOAT64)
    sizes = _Sizes(records, {PURE_PYTHON: max(1, s.n // s.pure_scale)},
                   {PURE_PYTHON: max(1, records // s.pure_payload_scale)})
    if C_EXTENSION in impls:
        sizes.elements[C_EXTENSION] = s.n
        sizes.payload_records[C_EXTENSION] = records
    return sizes


def _array_file(ex: Experiment, impl: str, kernels: Implementation, m: int, tmp: str, s: _Settings,
                executors: Mapping[str, Executor], refs: _References) -> list[Variant]:
    """(a) One array file whose header is checked; its statistics in memory, then mapped chunk by chunk."""
    x = _array(m, s.seed)
    expected = refs.stats[impl] = kernels.chunk_stats(x)
    path = os.path.join(tmp, f"array-{impl}.bin")
    written = write_file(path, x, record_size=_FLOAT64)
    with open_channel(path) as mm:
        header = read_header(mm)
    ex.checks.add(f"{impl}: array file header", header == written and header.record_count == m
                  and header.record_size == _FLOAT64,
                  f"{impl}: the array file's header reads back ({m:,} records of 8 bytes)")
    transport = MmapFile(path, offset=HEADER_SIZE)
    chunks = array_chunks(m, default_parts(s.workers))
    fn, argsets = transport.tasks(kernels.chunk_stats, [x], chunks[:1], lambda a, b: (), False)
    tags = {"implementation": impl, "part": "a", "bytes": m * _FLOAT64, "chunks": len(chunks)}
    per_task = len(pickle.dumps((fn, argsets[0])))
    check = partial(same_stats, expected)
    return [Variant(name_of(impl, IN_MEMORY, "serial"), partial(kernels.chunk_stats, x), check,
                    tags={**tags, "variant": IN_MEMORY, "strategy": "serial", "workers": 1, "B/task": 0})] + [
        Variant(name_of(impl, VIA_MMAP, name), partial(_stats_via_file, executor, kernels, x, transport, chunks),
                check, tags={**tags, "variant": VIA_MMAP, "strategy": name, "B/task": per_task,
                             "workers": 1 if name == "serial" else s.workers})
        for name, executor in executors.items()]


def _channel(impl: str, kernels: Implementation, records: int, tmp: str, s: _Settings, procs: Executor,
             stack: ExitStack, refs: _References) -> _Channel:
    """(b) One channel file, mapped here until ``stack`` closes it."""
    payload = _array(records, s.payload_seed).tobytes()
    refs.checksums[impl] = kernels.checksum(payload)
    path = os.path.join(tmp, f"channel-{impl}.bin")
    create_channel(path, len(payload))
    return _Channel(kernels, path, stack.enter_context(open_channel(path, writable=True)), payload, procs,
                    s.timeout)


def _twins_agree(impls: Mapping[str, Implementation], sizes: _Sizes, s: _Settings, refs: _References) -> bool:
    """The compiled kernels, given pure Python's array and payload, give pure Python's results."""
    pure_x = _array(sizes.elements[PURE_PYTHON], s.seed)
    pure_payload = _array(sizes.payload_records[PURE_PYTHON], s.payload_seed).tobytes()
    return (same_stats(impls[C_EXTENSION].chunk_stats(pure_x), refs.stats[PURE_PYTHON])
            and impls[C_EXTENSION].checksum(pure_payload) == refs.checksums[PURE_PYTHON])


def _measure(ex: Experiment, impls: Mapping[str, Implementation], sizes: _Sizes,
             s: _Settings) -> tuple[dict[str, Measured], _References]:
    """Both parts on one executor; the files live in a temporary directory removed on the way out."""
    refs = _References()
    # One executor serves both parts: all its workers are started (forked) before this process
    # has any other thread, and the consumer of part (b) is simply one of them.
    with tempfile.TemporaryDirectory(prefix="gilfree-step6-") as tmp, ExitStack() as stack:
        procs = stack.enter_context(open_executor(s.strategy, s.workers))
        executors = {"serial": stack.enter_context(open_executor("serial")), s.strategy: procs}
        variants = [v for impl, m in sizes.elements.items()
                    for v in _array_file(ex, impl, impls[impl], m, tmp, s, executors, refs)]
        channels = {impl: _channel(impl, impls[impl], records, tmp, s, procs, stack, refs)
                    for impl, records in sizes.payload_records.items()}
        variants += [v for impl, channel in channels.items()
                     for v in channel.variants(impl, refs.checksums[impl], s.strategy)]
        measured = ex.measure(variants, repeats=s.repeats, cpu="tree")
        for impl, channel in channels.items():
            committed = channel.last_message_committed(sizes.payload_records[impl])
            ex.checks.add(f"{impl}: channel header", committed,
                          f"{impl}: the channel's last header is committed, with the last sequence number "
                          "and the payload's length")
        channels.clear()
        if C_EXTENSION in impls:
            ex.checks.add(TWINS, _twins_agree(impls, sizes, s, refs),
                          "pure Python and the compiled kernel agree (statistics and checksum)")
    ex.checks.add(NO_FILES, not os.path.exists(tmp), "the temporary directory and its files are gone")
    return measured, refs


def _rows(measured: dict[str, Measured], strategy: str) -> list[Row]:
    """Part (a) against the in-memory pass, part (b) against the checksum in this process."""
    rows = []
    for m in measured.values():
        t = m.tags
        impl, nbytes = t["implementation"], t["bytes"]
        ref = measured[name_of(impl, IN_MEMORY if t["part"] == "a" else IN_PARENT, "serial")]
        extra = {"part": t["part"], "MB": nbytes / 1e6, "ns/byte": m.seconds / nbytes * 1e9,
                 "B/task": t["B/task"], "repeats": Timed.of(m).repeats}
        if t["part"] == "a":
            extra["chunks"] = t["chunks"]
        elif t["variant"] != IN_PARENT:
            extra["vs Pipe"] = x(measured[name_of(impl, PIPE, strategy)].seconds / m.seconds)
        rows.append(measured_row(m, ref.seconds / m.seconds, extra))
    return rows


def _task_bytes(measured: dict[str, Measured]) -> dict[str, int]:
    """Bytes one task pickles: a mapped chunk's by implementation, a channel message's as "<impl> channel"."""
    out = {}
    for m in measured.values():
        if m.tags["variant"] == VIA_MMAP:
            out[m.tags["implementation"]] = m.tags["B/task"]
        elif m.tags["variant"] == CHANNEL:
            out[f"{m.tags['implementation']} channel"] = m.tags["B/task"]
    return out


def _summary(refs: _References, sizes: _Sizes, main: str, s: _Settings) -> list[str]:
    st, c = refs.stats[main], refs.checksums[main]
    return [
        f"(a) {sizes.elements[main]:,} float64 ({nbytes(sizes.elements[main] * 8)}) in one file; {s.workers} "
        f"worker processes map their byte ranges: mean={st.mean:.6f} min={st.min:.6f} max={st.max:.6f}",
        f"(b) {nbytes(sizes.payload_records[main] * 8)} from this process to a consumer process: "
        f"checksum {c.hexdigest()}",
        f"Speedup column: (a) against the in-memory pass ({IN_MEMORY}), (b) against the checksum in the parent "
        f"({IN_PARENT})",
    ]


def run(n: int = 4_000_000, payload_mb: float = 32, workers: int | None = None, pure_scale: int = 50,
        pure_payload_scale: int = 200, strategy: str = "processes", repeats: int = 5,
        timeout: float = 30.0, seed: int = 6, progress: Progress = no_progress,
        implementations: Mapping[str, Implementation] | None = None) -> StepResult:
    """Part (a) on ``n`` float64 elements, part (b) on ``payload_mb`` MB, with ``workers`` workers.

    Pure Python gets ``n // pure_scale`` elements and ``1 / pure_payload_scale`` of the payload:
    its checksum costs about 100 ns a byte. ``timeout`` bounds every wait for a consumer.
    ``strategy`` is any registered strategy whose tasks run in worker processes ("processes",
    "pool", "failsafe", ...); ``implementations`` (default: every one that imports here) decides
    whether the compiled kernels run.
    """
    s = _checked(n, payload_mb, workers, pure_scale, pure_payload_scale, strategy, repeats, timeout, seed,
                 progress)
    impls = chosen_implementations(implementations)
    sizes = _sizes(impls, s)
    main = main_implementation(impls)
    ex = Experiment(progress)
    measured, refs = _measure(ex, impls, sizes, s)
    rows, env = _rows(measured, s.strategy), environment()
    figures = Figures(rows, s.workers, env["usable_cores"], env["gil_enabled"], s.strategy,
                      exact=all(m.right for m in measured.values() if m.tags["variant"] == VIA_MMAP),
                      unflushed_ok=measured[name_of(main, CHANNEL, s.strategy)].right)
    return step_result(
        ex, step=6, title=TITLE, rows=rows, env=env,
        params={"n": s.n, "pure_n": sizes.elements[PURE_PYTHON], "payload_bytes": sizes.records * _FLOAT64,
                "pure_payload_bytes": sizes.payload_records[PURE_PYTHON] * _FLOAT64, "workers": s.workers,
                "strategy": s.strategy, "repeats": s.repeats, "timeout": s.timeout, "seed": s.seed,
                "header_bytes": HEADER_SIZE},
        summary=_summary(refs, sizes, main, s), explanation=explain(figures),
        columns=("part", "variant", "implementation", "strategy", "workers", "MB", "ms", "cpu ms",
                 "speedup", "vs Pipe", "ns/byte", "B/task"),
        data={"task_bytes": _task_bytes(measured),
              "statistics": {impl: st._asdict() for impl, st in refs.stats.items()},
              "checksums": {impl: ck.hexdigest() for impl, ck in refs.checksums.items()}},
    )


# -- what it means ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Figures:
    """What the explanation reads: the table's rows, the run's setting, and two checks' outcomes."""

    rows: Sequence[Row]
    workers: int
    cores: int
    gil: bool
    strategy: str
    exact: bool  # every mapped pass gave the in-memory statistics bit for bit
    unflushed_ok: bool  # the channel without a flush gave the right checksum every time

    @property
    def implementations(self) -> list[str]:
        return list(dict.fromkeys(r.implementation for r in self.rows))

    @property
    def main(self) -> str:
        return C_EXTENSION if C_EXTENSION in self.implementations else PURE_PYTHON

    def row(self, impl: str, variant: str, strategy: str | None = None) -> Row:
        return next(r for r in self.rows if r.implementation == impl and r.variant == variant
                    and (strategy is None or r.strategy == strategy))


def explain(f: Figures) -> list[str]:
    """What the figures show, each cause stated only where its figure supports it."""
    mapped = [r for r in f.rows if r.variant == VIA_MMAP]
    in_memory = {impl: f.row(impl, IN_MEMORY) for impl in f.implementations}
    above = " ".join(ideal_notes(mapped, in_memory, f.cores) + _consumer_notes(f))
    return _file_lines(f) + _channel_lines(f) + ([above] if above else [])


def _file_lines(f: Figures) -> list[str]:
    """Part (a): what mapping one file from several processes cost and bought."""
    mem, many = f.row(f.main, IN_MEMORY), f.row(f.main, VIA_MMAP, f.strategy)
    lines = [f"(a) {f.workers} worker processes mapped their own byte ranges of one "
             f"{nbytes(mem.extra['MB'] * 1e6)} file; each task pickled to {many.extra['B/task']} bytes "
             "(path, offset, length)"
             + (", and the merged statistics equal the in-memory pass bit for bit." if f.exact
                else "; the merged statistics did not always equal the in-memory pass (see the checks).")]
    lines.append(_mapped_line(f, f.main))
    if f.main == C_EXTENSION:
        pure = f.row(PURE_PYTHON, IN_MEMORY)
        slower = pure.extra["ns/byte"] / mem.extra["ns/byte"]
        lines.append(f"Pure Python took {x(slower)} the compiled kernel's time per byte in memory "
                     f"({pure.extra['ns/byte']:.3g} against {mem.extra['ns/byte']:.3g} ns/byte). "
                     + _mapped_line(f, PURE_PYTHON))
    return lines


def _mapped_line(f: Figures, impl: str) -> str:
    """The file mapped by worker processes against the in-memory pass, and why, where a figure says."""
    mem, alone = f.row(impl, IN_MEMORY), f.row(impl, VIA_MMAP, "serial")
    many = f.row(impl, VIA_MMAP, f.strategy)
    noise = noise_of(many.spread, mem.spread)
    s = speedup_of(many)
    gained = beyond_noise(s, noise)
    line = (f"With the {impl} kernel the in-memory pass took {ms(mem.seconds)}, mapping the file chunk by "
            f"chunk in this process {ms(alone.seconds)}, and {f.workers} processes {ms(many.seconds)}, "
            f"{x(s)} against the in-memory pass")
    if measured_once(mem, alone, many):
        return f"{line}: {no_spread('these times')}."
    if not gained:
        line += f", {versus(s, noise, 'the in-memory pass')}"
    chunks = int(many.extra["chunks"])
    clause = processes_clause(gained, mem.seconds / max(1, chunks), chunks, pure=impl == PURE_PYTHON, gil=f.gil)
    if clause is None:
        return repeat_advice(line)
    if not gained and clearly_faster(mem.seconds, mem.spread, alone.seconds, alone.spread):
        clause += (f"; mapping the file took {ms(alone.seconds - mem.seconds)} more than reading memory, "
                   "even in one process")
    return f"{line}: {clause}."


def _channel_lines(f: Figures) -> list[str]:
    """Part (b): the mmap channel, with and without a flush, against a Pipe."""
    par, fl = f.row(f.main, IN_PARENT), f.row(f.main, CHANNEL_FLUSH)
    nf, pp = f.row(f.main, CHANNEL), f.row(f.main, PIPE)
    return [
        f"(b) Handing {nbytes(par.extra['MB'] * 1e6)} to a consumer process and checksumming it there took "
        f"{ms(fl.seconds)} through the mmap channel with a flush, {ms(nf.seconds)} without, and "
        f"{ms(pp.seconds)} through a Pipe; the checksum alone takes {ms(par.seconds)} in this process.",
        _channel_or_pipe_line(nf, pp), _flush_line(fl, nf, f.unflushed_ok)]


def _consumer_notes(f: Figures) -> list[str]:
    """Part (b) above its ideal: one consumer process runs the parent's checksum after a hand-off,
    so its ideal is 1x, and a ratio above it beyond the noise has no cause these figures show."""
    out = []
    for impl in f.implementations:
        par = f.row(impl, IN_PARENT)
        for r in (f.row(impl, v) for v in PART_B if v != IN_PARENT):
            s, ideal = speedup_of(r), float(min(r.workers, f.cores))
            noise, once = noise_of(r.spread, par.spread), measured_once(r, par)
            if s <= ideal:
                continue
            name = f"{r.variant} ({impl})"
            if once or not beyond_noise(s / ideal, noise):
                out.append(f"{name[0].upper()}{name[1:]} against the checksum in the parent: "
                           f"{ideal_clause(s, ideal, noise, once=once)}.")
            else:
                out.append(repeat_advice(
                    f"{name} ran at {x(s)} against the checksum in the parent, above the ideal {x(ideal)} for one "
                    f"consumer process by more than the repeats' spread ({noise:.0%}), although that process ran "
                    "the same checksum after a hand-off"))
    return out


def _channel_or_pipe_line(nf: Row, pp: Row) -> str:
    """"Read where it lies" only when the channel beat the Pipe beyond the noise."""
    noise = noise_of(nf.spread, pp.spread)
    if measured_once(nf, pp):
        return f"Without the flush the channel took {ms(nf.seconds)} and the Pipe {ms(pp.seconds)}: {no_spread()}."
    if clearly_faster(nf.seconds, nf.spread, pp.seconds, pp.spread):
        return (f"Without the flush, the Pipe took {x(pp.seconds / nf.seconds)} the channel's time, beyond the "
                f"repeats' spread ({noise:.0%}): the payload is copied once into pages both processes map "
                "and is read where it lies, while the Pipe pushes it through the kernel piece by piece into "
                "a new bytes object.")
    if clearly_faster(pp.seconds, pp.spread, nf.seconds, nf.spread):
        seen = f"the channel without the flush took {x(nf.seconds / pp.seconds)} the Pipe's time"
    else:
        seen = (f"the channel without the flush ({ms(nf.seconds)}) and the Pipe ({ms(pp.seconds)}) took times "
                f"within the repeats' spread ({noise:.0%}) of each other")
    return repeat_advice(seen) + " A larger payload_mb makes the copy the channel saves larger."


def _flush_line(fl: Row, nf: Row, unflushed_ok: bool) -> str:
    """What the flush (msync) cost, and that the consumer saw the data without it."""
    noise = noise_of(fl.spread, nf.spread)
    needless = ("; the consumer needs no flush to see the data (the unflushed run's checksum matched every "
                "time)" if unflushed_ok else "")
    if measured_once(fl, nf):
        return (f"The channel took {ms(fl.seconds)} with the flush (msync), {ms(nf.seconds)} without: "
                f"{no_spread()}{needless}.")
    if clearly_faster(nf.seconds, nf.spread, fl.seconds, fl.spread):
        return (f"The flush (msync) added {ms(fl.seconds - nf.seconds)}, beyond the repeats' spread "
                f"({noise:.0%}): it writes the pages to the file, for durability{needless}.")
    if clearly_faster(fl.seconds, fl.spread, nf.seconds, nf.spread):
        return repeat_advice(f"the channel with the flush took {x(fl.seconds / nf.seconds)} the time of the "
                             "channel without it, although it does more") + (
            " The consumer needs no flush to see the data (the unflushed run's checksum matched every time)."
            if unflushed_ok else "")
    return f"The flush (msync) cost nothing beyond the repeats' spread ({noise:.0%}){needless}."


#: Parameters for ``gilfree lab`` (DEFAULT), ``--quick`` (QUICK) and the tests (TINY).
DEFAULT: dict[str, Any] = {}
QUICK = {"n": 1_000_000, "payload_mb": 8, "repeats": 3}
TINY = {"n": 65_536, "payload_mb": 0.5, "pure_payload_scale": 64, "repeats": 1, "workers": 2}
