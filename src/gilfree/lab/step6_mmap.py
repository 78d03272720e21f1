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
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import tempfile
from concurrent.futures import Executor
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Mapping, NamedTuple

import numpy as np

from .._checks import check_callable, check_count, check_real, check_seconds, check_seed
from .._checksum import Checksum
from .._select import C_EXTENSION, PURE_PYTHON, Implementation
from .._stats import Stats
from .._timing import Timing, environment, interleaved, usable_cores
from ..arrays import fill_uniform, merge_stats
from ..chunked import array_chunks, default_parts
from ..mmapipc import (HEADER_SIZE, apply_to_message, create_channel, open_channel, read_header, write_file,
                       write_message)
from ..strategies import get_strategy, open_executor
from ..transports import MmapFile, Transport, run_on_chunks
from ._common import main_implementation, process_strategy, same_stats
from ._plan import Ticker, chosen_implementations, speedup_of, worker_count
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


class _Key(NamedTuple):
    """One timed variant: which implementation, which way, on which executor."""

    implementation: str
    variant: str
    strategy: str


class _Variant(NamedTuple):
    """A variant's call and the result it must give (statistics in part (a), a checksum in (b))."""

    run: Callable[[], Any]
    expected: Any


@dataclass
class _Measured:
    checks: dict[str, bool] = field(default_factory=dict)
    task_bytes: dict[str, int] = field(default_factory=dict)
    stats_of: dict[str, Stats] = field(default_factory=dict)
    checksum_of: dict[str, Checksum] = field(default_factory=dict)
    variants: dict[_Key, _Variant] = field(default_factory=dict)
    timings: dict[_Key, Timing] = field(default_factory=dict)


def _size(nbytes: float) -> str:
    return f"{nbytes / 1e6:.1f} MB" if nbytes >= 1e6 else f"{nbytes / 1e3:.0f} KB"


def _array(m: int, seed: int) -> np.ndarray:
    x = np.empty(m)
    fill_uniform(x, seed)
    return x


def _reference_check(key: _Key) -> str:
    """The name of the check that ``key``'s result equals the serial reference."""
    what = "statistics equal" if key.variant in PART_A else "checksum equals"
    return f"{key.implementation}, {key.variant}, {key.strategy}: {what} the serial reference"


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


def _array_file(impl: str, kernels: Implementation, m: int, tmp: str, s: _Settings,
                executors: dict[str, Executor], out: _Measured) -> None:
    """(a) One array file; every task maps its own byte range: once in memory, then via the file."""
    x = _array(m, s.seed)
    stats = out.stats_of[impl] = kernels.chunk_stats(x)
    path = os.path.join(tmp, f"array-{impl}.bin")
    written = write_file(path, x, record_size=_FLOAT64)
    with open_channel(path) as mm:
        header = read_header(mm)
    out.checks[f"{impl}: the array file's header reads back ({m:,} records of 8 bytes)"] = (
        header == written and header.record_count == m and header.record_size == _FLOAT64)
    transport = MmapFile(path, offset=HEADER_SIZE)
    chunks = array_chunks(m, default_parts(s.workers))
    fn, argsets = transport.tasks(kernels.chunk_stats, [x], chunks[:1], lambda a, b: (), False)
    out.task_bytes[impl] = len(pickle.dumps((fn, argsets[0])))
    out.variants[_Key(impl, IN_MEMORY, "serial")] = _Variant(partial(kernels.chunk_stats, x), stats)
    for name, executor in executors.items():
        out.variants[_Key(impl, VIA_MMAP, name)] = _Variant(
            partial(_stats_via_file, executor, kernels, x, transport, chunks), stats)


def _channel(impl: str, kernels: Implementation, records: int, tmp: str, s: _Settings, procs: Executor,
             stack: ExitStack, out: _Measured) -> _Channel:
    """(b) One channel file, mapped here until the step ends; the payload is checksummed three ways."""
    payload = _array(records, s.payload_seed).tobytes()
    expected = out.checksum_of[impl] = kernels.checksum(payload)
    path = os.path.join(tmp, f"channel-{impl}.bin")
    create_channel(path, len(payload))
    channel = _Channel(kernels, path, stack.enter_context(open_channel(path, writable=True)), payload,
                       procs, s.timeout)
    out.variants[_Key(impl, IN_PARENT, "serial")] = _Variant(channel.in_parent, expected)
    out.variants[_Key(impl, CHANNEL_FLUSH, s.strategy)] = _Variant(partial(channel.send, flush=True), expected)
    out.variants[_Key(impl, CHANNEL, s.strategy)] = _Variant(partial(channel.send, flush=False), expected)
    out.variants[_Key(impl, PIPE, s.strategy)] = _Variant(channel.through_pipe, expected)
    out.task_bytes[f"{impl} channel"] = channel.task_bytes()
    return channel


# -- measurement --------------------------------------------------------------------------------

def _check_run(out: _Measured, ticker: Ticker) -> None:
    """Every variant once (also the warm-up), against its serial reference."""
    for key, (fn, expected) in out.variants.items():
        got = fn()
        out.checks[_reference_check(key)] = (same_stats(got, expected) if key.variant in PART_A
                                             else got == expected)
        ticker.tick(", ".join(key))


def _twins_agree(impls: Mapping[str, Implementation], sizes: _Sizes, s: _Settings, out: _Measured) -> bool:
    """The compiled kernels, given pure Python's array and payload, give pure Python's results."""
    pure_x = _array(sizes.elements[PURE_PYTHON], s.seed)
    pure_payload = _array(sizes.payload_records[PURE_PYTHON], s.payload_seed).tobytes()
    return (same_stats(impls[C_EXTENSION].chunk_stats(pure_x), out.stats_of[PURE_PYTHON])
            and impls[C_EXTENSION].checksum(pure_payload) == out.checksum_of[PURE_PYTHON])


def _measure(impls: Mapping[str, Implementation], sizes: _Sizes, s: _Settings, ticker: Ticker) -> _Measured:
    out = _Measured()
    # One executor serves both parts: all its workers are started (forked) before this process
    # has any other thread, and the consumer of part (b) is simply one of them.
    with tempfile.TemporaryDirectory(prefix="gilfree-step6-") as tmp, ExitStack() as stack:
        procs = stack.enter_context(open_executor(s.strategy, s.workers))
        serial = stack.enter_context(open_executor("serial"))
        for impl, m in sizes.elements.items():
            _array_file(impl, impls[impl], m, tmp, s, {"serial": serial, s.strategy: procs}, out)
        channels = {impl: _channel(impl, impls[impl], records, tmp, s, procs, stack, out)
                    for impl, records in sizes.payload_records.items()}
        _check_run(out, ticker)
        out.timings = interleaved({key: ticker.counted(v.run, ", ".join(key)) for key, v in out.variants.items()},
                                  repeats=s.repeats, warmup=0)
        for impl, channel in channels.items():
            out.checks[f"{impl}: the channel's last header is committed, with the last sequence number "
                       "and the payload's length"] = channel.last_message_committed(sizes.payload_records[impl])
        channels.clear()
        if C_EXTENSION in impls:
            out.checks["pure Python and the compiled kernel agree (statistics and checksum)"] = (
                _twins_agree(impls, sizes, s, out))
    out.checks["the temporary directory and its files are gone"] = not os.path.exists(tmp)
    return out


# -- what it means ------------------------------------------------------------------------------

def _summary(rows: list[Row], out: _Measured, sizes: _Sizes, main: str, s: _Settings) -> list[str]:
    st, c = out.stats_of[main], out.checksum_of[main]
    summary = [
        f"(a) {sizes.elements[main]:,} float64 ({_size(sizes.elements[main] * 8)}) in one file; {s.workers} "
        f"worker processes map their byte ranges: mean={st.mean:.6f} min={st.min:.6f} max={st.max:.6f}",
        f"(b) {_size(sizes.payload_records[main] * 8)} from this process to a consumer process: "
        f"checksum {c.hexdigest()}",
    ]
    for impl in sizes.elements:
        mine = {(r.variant, r.strategy): r for r in rows if r.implementation == impl}
        summary.append(f"{impl}: " + ", ".join(
            f"{v}{'' if st == 'serial' or v not in PART_A else ' (' + st + ')'} "
            f"{r.seconds * 1000:.1f}ms" for (v, st), r in mine.items()))
    return summary


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
    ticker = Ticker(progress, len(sizes.elements) * (3 + len(PART_B)) * (s.repeats + 1))
    out = _measure(impls, sizes, s, ticker)
    rows = _rows(out.timings, sizes.elements, sizes.payload_records, out.task_bytes, s.workers, s.strategy)
    main = main_implementation(impls)
    exact = all(out.checks[_reference_check(_Key(impl, VIA_MMAP, st))]
                for impl in sizes.elements for st in ("serial", s.strategy))
    unflushed_ok = out.checks[_reference_check(_Key(main, CHANNEL, s.strategy))]
    env = environment()
    return StepResult(
        step=6, title=TITLE,
        params={"n": s.n, "pure_n": sizes.elements[PURE_PYTHON], "payload_bytes": sizes.records * _FLOAT64,
                "pure_payload_bytes": sizes.payload_records[PURE_PYTHON] * _FLOAT64, "workers": s.workers,
                "strategy": s.strategy, "repeats": s.repeats, "timeout": s.timeout, "seed": s.seed,
                "header_bytes": HEADER_SIZE},
        rows=rows, checks=out.checks, summary=_summary(rows, out, sizes, main, s),
        explanation=_explain(rows, out.task_bytes, s.workers, s.strategy, C_EXTENSION in impls, exact,
                             unflushed_ok),
        env=env,
        columns=("part", "variant", "implementation", "strategy", "workers", "MB", "ms", "cpu ms",
                 "speedup", "vs Pipe", "ns/byte", "B/task"),
        data={"task_bytes": out.task_bytes,
              "statistics": {impl: st._asdict() for impl, st in out.stats_of.items()},
              "checksums": {impl: ck.hexdigest() for impl, ck in out.checksum_of.items()}},
    )


def _rows(timings: dict[Any, Timing], elements: dict[str, int], payload_records: dict[str, int],
          task_bytes: dict[str, int], k: int, strategy: str) -> list[Row]:
    rows = []
    for impl, m in elements.items():
        ref = timings[(impl, IN_MEMORY, "serial")]
        nbytes = m * _FLOAT64
        for variant, name, workers, per_task in ((IN_MEMORY, "serial", 1, 0),
                                                 (VIA_MMAP, "serial", 1, task_bytes[impl]),
                                                 (VIA_MMAP, strategy, k, task_bytes[impl])):
            t = timings[(impl, variant, name)]
            rows.append(Row(
                variant=variant, implementation=impl, strategy=name, workers=workers,
                seconds=t.median, spread=t.spread, cpu_seconds=t.cpu_median, speedup=ref.median / t.median,
                extra={"part": "a", "MB": nbytes / 1e6, "ns/byte": t.median / nbytes * 1e9,
                       "B/task": per_task},
            ))
    for impl, count in payload_records.items():
        ref = timings[(impl, IN_PARENT, "serial")]
        pipe = timings[(impl, PIPE, strategy)]
        nbytes = count * _FLOAT64
        for variant in PART_B:
            name = "serial" if variant == IN_PARENT else strategy
            t = timings[(impl, variant, name)]
            # Only the channel's tasks have a fixed size; the Pipe's payload goes through the pipe.
            per_task_b: int | str = task_bytes[f"{impl} channel"] if variant in (CHANNEL, CHANNEL_FLUSH) else ""
            rows.append(Row(
                variant=variant, implementation=impl, strategy=name, workers=1,
                seconds=t.median, spread=t.spread, cpu_seconds=t.cpu_median, speedup=ref.median / t.median,
                extra={"part": "b", "MB": nbytes / 1e6, "ns/byte": t.median / nbytes * 1e9,
                       "vs Pipe": "" if variant == IN_PARENT else f"{pipe.median / t.median:.2f}x",
                       "B/task": per_task_b},
            ))
    return rows


def _explain(rows: list[Row], task_bytes: dict[str, int], k: int, strategy: str, has_c: bool,
             exact: bool, unflushed_ok: bool) -> list[str]:
    main = C_EXTENSION if has_c else PURE_PYTHON
    return (_file_lines(rows, task_bytes, k, strategy, has_c, exact, main)
            + _channel_lines(rows, unflushed_ok, main))


def _find(rows: list[Row], impl: str, variant: str, strategy: str | None = None) -> Row:
    return next(r for r in rows if r.implementation == impl and r.variant == variant
                and (strategy is None or r.strategy == strategy))


def _file_lines(rows: list[Row], task_bytes: dict[str, int], k: int, strategy: str, has_c: bool,
                exact: bool, main: str) -> list[str]:
    """Part (a): what mapping one file from several processes cost and bought."""
    find = partial(_find, rows)
    mem = find(main, IN_MEMORY)
    alone = find(main, VIA_MMAP, "serial")
    many = find(main, VIA_MMAP, strategy)
    lines = [
        f"(a) {k} worker processes mapped their own byte ranges of one {_size(mem.extra['MB'] * 1e6)} "
        f"file; each task pickled to {task_bytes[main]} bytes (path, offset, length)"
        + (", and the merged statistics equal the in-memory pass bit for bit." if exact else ".")]
    line = (f"With the {main} kernel the in-memory pass took {mem.seconds * 1000:.1f} ms "
            f"({mem.extra['ns/byte']:.2f} ns/byte), mapping the file chunk by chunk in this process "
            f"{alone.seconds * 1000:.1f} ms, and {k} processes {many.seconds * 1000:.1f} ms "
            f"({many.speedup:.2f}x)")
    if speedup_of(many) < 1 and alone.seconds > mem.seconds:
        line += (f": with {mem.seconds * 1000:.1f} ms of work in all, opening and mapping the file "
                 f"(already {(alone.seconds - mem.seconds) * 1000:.1f} ms more than in memory, in one "
                 "process) and the tasks' round trips outweigh the work they split.")
    elif speedup_of(many) < 1:
        line += ": at this size the tasks' round trips outweigh the work they split."
    else:
        line += ": the processes split the work and share the file's pages in the page cache."
    lines.append(line)
    if has_c:
        pure_mem, pure_many = find(PURE_PYTHON, IN_MEMORY), find(PURE_PYTHON, VIA_MMAP, strategy)
        slower = pure_mem.extra["ns/byte"] / mem.extra["ns/byte"]
        lines.append(f"Pure Python, {slower:.0f}x slower per byte in memory, ran at "
                     f"{pure_many.speedup:.2f}x with {k} processes on its "
                     f"{_size(pure_many.extra['MB'] * 1e6)} file.")
    return lines


def _channel_lines(rows: list[Row], unflushed_ok: bool, main: str) -> list[str]:
    """Part (b): the mmap channel, with and without a flush, against a Pipe."""
    par, fl, nf, pp = (_find(rows, main, v) for v in PART_B)
    lines = [
        f"(b) Handing {_size(par.extra['MB'] * 1e6)} to a consumer process and checksumming it there "
        f"took {fl.seconds * 1000:.1f} ms through the mmap channel with a flush, "
        f"{nf.seconds * 1000:.1f} ms without, and {pp.seconds * 1000:.1f} ms through a Pipe; the "
        f"checksum alone takes {par.seconds * 1000:.1f} ms in this process."]
    if abs(nf.seconds - pp.seconds) < 0.1 * min(nf.seconds, pp.seconds):
        line = ("The channel without the flush and the Pipe were within 10% of each other: at this "
                "size the fixed costs (a task, opening and mapping the file, polling) weigh as much "
                "as the copies the channel saves.")
    elif nf.seconds < pp.seconds:
        line = (f"Without the flush the channel was {pp.seconds / nf.seconds:.1f}x faster than the Pipe: "
                "the payload is copied once into pages both processes map and is read where it lies, "
                "while the Pipe pushes it through the kernel piece by piece into a new bytes object.")
    else:
        line = (f"At this size the Pipe was faster (the channel took {nf.seconds / pp.seconds:.2f}x its "
                "time): the channel's fixed costs (opening and mapping the file, polling) outweighed "
                "the copies it saves.")
    if fl.seconds > nf.seconds:
        line += (f" The flush (msync) added {(fl.seconds - nf.seconds) * 1000:.1f} ms: it writes the pages "
                 "to disk, for durability")
        line += ("; the consumer needs no flush to see the data (the unflushed run's checksum matched)."
                 if unflushed_ok else ".")
    lines.append(line)
    return lines


#: Parameters for ``gilfree lab`` (DEFAULT), ``--quick`` (QUICK) and the tests (TINY).
DEFAULT: dict[str, Any] = {}
QUICK = {"n": 1_000_000, "payload_mb": 8, "repeats": 3}
TINY = {"n": 65_536, "payload_mb": 0.5, "pure_payload_scale": 64, "repeats": 1, "workers": 2}
