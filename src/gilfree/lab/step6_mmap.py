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
import struct
import tempfile
from contextlib import ExitStack
from typing import Any, Callable

import numpy as np

from ..arrays import fill_uniform, merge_stats
from .._checksum import Checksum
from .._select import C_EXTENSION, PURE_PYTHON, implementations
from .._stats import Stats
from .._timing import environment, interleaved, usable_cores
from ..chunked import array_chunks, default_parts
from ..mmapipc import (HEADER_SIZE, create_channel, open_channel, read_header, receive, write_file,
                       write_message)
from ..strategies import check_workers, get_strategy, open_executor
from ..transports import MmapFile, run_on_chunks
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


def _same_stats(a: Stats, b: Stats) -> bool:
    """Bitwise equality of two Stats (``==`` would call 0.0 and -0.0 equal)."""
    return a.count == b.count and all(struct.pack("<d", float(x)) == struct.pack("<d", float(y))
                                      for x, y in zip(a[1:], b[1:]))


def _size(nbytes: float) -> str:
    return f"{nbytes / 1e6:.1f} MB" if nbytes >= 1e6 else f"{nbytes / 1e3:.0f} KB"


def _array(m: int, seed: int) -> np.ndarray:
    x = np.empty(m)
    fill_uniform(x, seed)
    return x


# The consumers of part (b), run in a worker process: one message of bytes arrives either through
# the memory-mapped channel file (read in place) or through a multiprocessing Pipe (copied).

def apply_to_message(kernel: Callable[..., Any], path: str, sequence: int, timeout: float) -> Any:
    """Wait for message ``sequence`` of the mmap channel ``path``; run ``kernel`` on its payload in place.

    The header is validated (:mod:`gilfree.mmapipc`); waiting stops with TimeoutError after
    ``timeout`` seconds, so a consumer never outlives a producer that failed.
    """
    with receive(path, sequence, timeout=timeout) as (_, payload):
        return kernel(payload)


def apply_to_pipe_message(kernel: Callable[..., Any], conn: Any, timeout: float) -> Any:
    """Receive one message of bytes on ``conn`` (a Connection), close it, run ``kernel`` on the bytes."""
    try:
        if not conn.poll(timeout):
            raise TimeoutError(f"no message arrived on the pipe within {timeout} s")
        data = conn.recv_bytes()
    finally:
        conn.close()
    return kernel(data)


def run(n: int = 4_000_000, payload_mb: float = 32, workers: int | None = None, pure_scale: int = 50,
        pure_payload_scale: int = 200, strategy: str = "processes", repeats: int = 5,
        timeout: float = 30.0, seed: int = 6, progress: Progress = no_progress) -> StepResult:
    """Part (a) on ``n`` float64 elements, part (b) on ``payload_mb`` MB, with ``workers`` workers.

    Pure Python gets ``n // pure_scale`` elements and ``1 / pure_payload_scale`` of the payload:
    its checksum costs about 100 ns a byte. ``timeout`` bounds every wait for a consumer.
    """
    k = check_workers(workers if workers is not None else max(2, usable_cores()))
    if n < 1 or pure_scale < 1 or pure_payload_scale < 1 or repeats < 1:
        raise ValueError("n, pure_scale, pure_payload_scale and repeats must be >= 1")
    if not payload_mb > 0 or not timeout > 0:
        raise ValueError("payload_mb and timeout must be > 0")
    if get_strategy(strategy).capabilities.in_process:
        raise ValueError(f"strategy must run tasks in worker processes, not {strategy!r}: this step "
                         "maps one file from several processes")
    impls = implementations()
    has_c = C_EXTENSION in impls
    records = max(1, int(payload_mb * 1e6) // _FLOAT64)
    elements = {PURE_PYTHON: max(1, n // pure_scale)}
    payload_records = {PURE_PYTHON: max(1, records // pure_payload_scale)}
    if has_c:
        elements[C_EXTENSION] = n
        payload_records[C_EXTENSION] = records

    total = len(elements) * (3 + len(PART_B)) * (repeats + 1)
    done = [0]

    def tick(label: str) -> None:
        done[0] += 1
        progress(done[0], total, label)

    checks: dict[str, bool] = {}
    task_bytes: dict[str, int] = {}
    stats_of: dict[str, Stats] = {}
    checksum_of: dict[str, Checksum] = {}
    variants: dict[tuple[str, str, str], Callable[[], Any]] = {}
    expected: dict[tuple[str, str, str], Any] = {}

    # One executor serves both parts: all its workers are started (forked) before this process
    # has any other thread, and the consumer of part (b) is simply one of them.
    with tempfile.TemporaryDirectory(prefix="gilfree-step6-") as tmp, ExitStack() as stack:
        procs = stack.enter_context(open_executor(strategy, k))
        serial = stack.enter_context(open_executor("serial"))

        # (a) One array file; every task maps its own byte range.
        for impl, m in elements.items():
            x = _array(m, seed)
            stats_of[impl] = impls[impl].chunk_stats(x)
            path = os.path.join(tmp, f"array-{impl}.bin")
            written = write_file(path, x, record_size=_FLOAT64)
            with open_channel(path) as mm:
                header = read_header(mm)
            checks[f"{impl}: the array file's header reads back ({m:,} records of 8 bytes)"] = (
                header == written and header.record_count == m and header.record_size == _FLOAT64)
            kern = impls[impl]
            transport = MmapFile(path, offset=HEADER_SIZE)
            chunks = array_chunks(m, default_parts(k))
            fn, argsets = transport.tasks(kern.chunk_stats, [x], chunks[:1], lambda a, b: (), False)
            task_bytes[impl] = len(pickle.dumps((fn, argsets[0])))
            variants[(impl, IN_MEMORY, "serial")] = lambda kern=kern, x=x: kern.chunk_stats(x)
            for name, executor in (("serial", serial), (strategy, procs)):
                variants[(impl, VIA_MMAP, name)] = (
                    lambda executor=executor, kern=kern, x=x, transport=transport, chunks=chunks:
                    merge_stats(run_on_chunks(executor, kern.chunk_stats, [x], chunks, transport=transport)))
            for key in [key for key in variants if key[0] == impl and key[1] in PART_A]:
                expected[key] = stats_of[impl]

        # (b) One channel file per implementation, kept mapped by the producer (this process).
        mappings = {}
        sequence = {impl: 0 for impl in payload_records}
        for impl, count in payload_records.items():
            payload = _array(count, seed + 1).tobytes()
            checksum_of[impl] = impls[impl].checksum(payload)
            path = os.path.join(tmp, f"channel-{impl}.bin")
            create_channel(path, len(payload))
            mm = mappings[impl] = stack.enter_context(open_channel(path, writable=True))

            kern = impls[impl]

            def via_channel(impl=impl, kern=kern, path=path, mm=mm, payload=payload, flush=True) -> Checksum:
                sequence[impl] += 1
                future = procs.submit(apply_to_message, kern.checksum, path, sequence[impl], timeout)
                write_message(mm, payload, sequence=sequence[impl], record_size=_FLOAT64, flush=flush)
                return future.result(timeout=timeout + 10)

            def via_pipe(kern=kern, payload=payload) -> Checksum:
                receiver, sender = multiprocessing.Pipe(duplex=False)
                try:
                    future = procs.submit(apply_to_pipe_message, kern.checksum, receiver, timeout)
                    sender.send_bytes(payload)
                    return future.result(timeout=timeout + 10)
                finally:
                    sender.close()
                    receiver.close()

            variants[(impl, IN_PARENT, "serial")] = lambda kern=kern, data=payload: kern.checksum(data)
            variants[(impl, CHANNEL_FLUSH, strategy)] = via_channel
            variants[(impl, CHANNEL, strategy)] = lambda f=via_channel: f(flush=False)
            variants[(impl, PIPE, strategy)] = via_pipe
            for key in [key for key in variants if key[0] == impl and key[1] in PART_B]:
                expected[key] = checksum_of[impl]
            task_bytes[f"{impl} channel"] = len(pickle.dumps((apply_to_message, kern.checksum, path, 1,
                                                              timeout)))

        # Check run (also the warm-up), then interleaved timing.
        for key, fn in variants.items():
            got = fn()
            same = _same_stats(got, expected[key]) if key[1] in PART_A else got == expected[key]
            what = "statistics equal" if key[1] in PART_A else "checksum equals"
            checks[f"{key[0]}, {key[1]}, {key[2]}: {what} the serial reference"] = same
            tick(", ".join(key))

        def counted(key: tuple[str, str, str], fn: Callable[[], Any]) -> Callable[[], Any]:
            def wrapper() -> Any:
                out = fn()
                tick(", ".join(key))
                return out
            return wrapper

        timings = interleaved({key: counted(key, fn) for key, fn in variants.items()},
                              repeats=repeats, warmup=0)

        for impl, mm in mappings.items():
            header = read_header(mm)
            checks[f"{impl}: the channel's last header is committed, with the last sequence number "
                   "and the payload's length"] = (
                header.committed and header.sequence == sequence[impl]
                and header.record_count == payload_records[impl])
        mappings.clear()
        if has_c:
            pure_x = _array(elements[PURE_PYTHON], seed)
            pure_payload = _array(payload_records[PURE_PYTHON], seed + 1).tobytes()
            checks["pure Python and the compiled kernel agree (statistics and checksum)"] = (
                _same_stats(impls[C_EXTENSION].chunk_stats(pure_x), stats_of[PURE_PYTHON])
                and impls[C_EXTENSION].checksum(pure_payload) == checksum_of[PURE_PYTHON])
    checks["the temporary directory and its files are gone"] = not os.path.exists(tmp)

    rows = _rows(timings, elements, payload_records, task_bytes, k, strategy)
    main = C_EXTENSION if has_c else PURE_PYTHON
    s, c = stats_of[main], checksum_of[main]
    summary = [
        f"(a) {elements[main]:,} float64 ({_size(elements[main] * 8)}) in one file; {k} worker "
        f"processes map their byte ranges: mean={s.mean:.6f} min={s.min:.6f} max={s.max:.6f}",
        f"(b) {_size(payload_records[main] * 8)} from this process to a consumer process: "
        f"checksum {c.hexdigest()}",
    ]
    for impl in elements:
        mine = {(r.variant, r.strategy): r for r in rows if r.implementation == impl}
        summary.append(f"{impl}: " + ", ".join(
            f"{v}{'' if st == 'serial' or v not in PART_A else ' (' + st + ')'} "
            f"{r.seconds * 1000:.1f}ms" for (v, st), r in mine.items()))
    exact = all(checks[f"{impl}, {VIA_MMAP}, {st}: statistics equal the serial reference"]
                for impl in elements for st in ("serial", strategy))
    unflushed_ok = checks[f"{main}, {CHANNEL}, {strategy}: checksum equals the serial reference"]
    env = environment()
    return StepResult(
        step=6, title=TITLE,
        params={"n": n, "pure_n": elements[PURE_PYTHON], "payload_bytes": records * _FLOAT64,
                "pure_payload_bytes": payload_records[PURE_PYTHON] * _FLOAT64, "workers": k,
                "strategy": strategy, "repeats": repeats, "timeout": timeout, "seed": seed,
                "header_bytes": HEADER_SIZE},
        rows=rows, checks=checks, summary=summary,
        explanation=_explain(rows, task_bytes, k, strategy, has_c, exact, unflushed_ok),
        env=env,
        columns=("part", "variant", "implementation", "strategy", "workers", "MB", "ms", "cpu ms",
                 "speedup", "vs Pipe", "ns/byte", "B/task"),
        data={"task_bytes": task_bytes,
              "statistics": {impl: st._asdict() for impl, st in stats_of.items()},
              "checksums": {impl: ck.hexdigest() for impl, ck in checksum_of.items()}},
    )


def _rows(timings: dict, elements: dict[str, int], payload_records: dict[str, int],
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
            per_task = task_bytes[f"{impl} channel"] if variant in (CHANNEL, CHANNEL_FLUSH) else ""
            rows.append(Row(
                variant=variant, implementation=impl, strategy=name, workers=1,
                seconds=t.median, spread=t.spread, cpu_seconds=t.cpu_median, speedup=ref.median / t.median,
                extra={"part": "b", "MB": nbytes / 1e6, "ns/byte": t.median / nbytes * 1e9,
                       "vs Pipe": "" if variant == IN_PARENT else f"{pipe.median / t.median:.2f}x",
                       "B/task": per_task},
            ))
    return rows


def _explain(rows: list[Row], task_bytes: dict[str, int], k: int, strategy: str, has_c: bool,
             exact: bool, unflushed_ok: bool) -> list[str]:
    def find(impl: str, variant: str, strategy: str | None = None) -> Row:
        return next(r for r in rows if r.implementation == impl and r.variant == variant
                    and (strategy is None or r.strategy == strategy))

    main = C_EXTENSION if has_c else PURE_PYTHON
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
    if many.speedup < 1 and alone.seconds > mem.seconds:
        line += (f": with {mem.seconds * 1000:.1f} ms of work in all, opening and mapping the file "
                 f"(already {(alone.seconds - mem.seconds) * 1000:.1f} ms more than in memory, in one "
                 "process) and the tasks' round trips outweigh the work they split.")
    elif many.speedup < 1:
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

    par, fl, nf, pp = (find(main, v) for v in PART_B)
    lines.append(
        f"(b) Handing {_size(par.extra['MB'] * 1e6)} to a consumer process and checksumming it there "
        f"took {fl.seconds * 1000:.1f} ms through the mmap channel with a flush, "
        f"{nf.seconds * 1000:.1f} ms without, and {pp.seconds * 1000:.1f} ms through a Pipe; the "
        f"checksum alone takes {par.seconds * 1000:.1f} ms in this process.")
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
DEFAULT: dict = {}
QUICK = {"n": 1_000_000, "payload_mb": 8, "repeats": 3}
TINY = {"n": 65_536, "payload_mb": 0.5, "pure_payload_scale": 64, "repeats": 1, "workers": 2}
