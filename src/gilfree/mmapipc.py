"""Hand a payload to another process through a memory-mapped file, behind a small header.

Every process that maps the same file with ``MAP_SHARED`` sees the same pages of the page cache,
so a producer can write bytes into its mapping and a consumer in another process can read them
in place: no pipe, no pickling, no second copy. What the file does not give is a way to tell
*when* the bytes are complete. That is the header's job::

    offset  size  field
    ------  ----  ------------------------------------------------------------
         0     8  magic ``b"gilfMMAP"`` (not a gilfree channel: ValueError)
         8     2  version (only ``VERSION`` is understood: ValueError)
        10     2  header size, ``HEADER_SIZE`` (the payload starts there)
        12     4  record size in bytes (8 for float64)
        16     8  record count (payload bytes = record size * record count)
        24     8  sequence: 0 while a message is being written, n once message n is committed
        32    32  reserved, zero
        64     -  payload

A producer clears the sequence, writes the payload, optionally flushes it (``msync``), writes the
record fields and only then the sequence: the commit. A consumer polls the sequence until it
reads the number it waits for (or its timeout passes: it never hangs), then validates the whole
header against the size of the file. Between processes on one machine the flush is not needed
for the consumer to *see* the data (the page cache is shared); it makes the data durable on disk,
and puts a system call between the payload and the commit. A producer must not overwrite a
message before its consumer is done with it; in gilfree the consumer's task result is that
acknowledgement.
"""

from __future__ import annotations

import mmap
import os
import struct
import sys
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, NamedTuple, TypeVar

from ._checks import check_callable, check_flag, check_int, check_path, check_seconds

T = TypeVar("T")

__all__ = [
    "HEADER_SIZE",
    "apply_to_message",
    "MAGIC",
    "VERSION",
    "Header",
    "create_channel",
    "init_channel",
    "open_channel",
    "payload_view",
    "read_header",
    "receive",
    "wait_for_message",
    "write_file",
    "write_message",
]

MAGIC = b"gilfMMAP"
VERSION = 1
HEADER_SIZE = 64

# magic, version, header size, record size, record count, sequence (then 32 reserved bytes).
_FIELDS = struct.Struct("<8sHHIQQ")
_SEQUENCE = struct.Struct("<Q")
_SEQUENCE_OFFSET = 24
_MAX_U32 = 2**32 - 1
_MAX_U64 = 2**64 - 1
#: The largest payload a channel file can be created for (the file size must fit an off_t).
_MAX_CAPACITY = sys.maxsize - HEADER_SIZE


class Header(NamedTuple):
    """A validated channel header: what the consumer needs to read the payload."""

    version: int
    record_size: int
    record_count: int
    sequence: int

    @property
    def payload_bytes(self) -> int:
        return self.record_size * self.record_count

    @property
    def committed(self) -> bool:
        return self.sequence > 0


def _int(value: object, name: str, minimum: int, maximum: int = _MAX_U64) -> int:
    return check_int(value, name, minimum=minimum, maximum=maximum)


def _bytes_of(obj: object, name: str) -> memoryview:
    try:
        view = memoryview(obj)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must support the buffer protocol (bytes, mmap, numpy array), "
                        f"not {type(obj).__name__}") from None
    if not view.c_contiguous:
        view.release()
        raise ValueError(f"{name} must be C-contiguous")
    if view.ndim != 1 or view.format != "B":
        flat = view.cast("B")
        view.release()
        return flat
    return view


def _check_records(data: memoryview, record_size: int) -> None:
    if len(data) % record_size:
        raise ValueError(f"payload of {len(data)} bytes is not a whole number of "
                         f"{record_size}-byte records")


def _encode(record_size: int, record_count: int, sequence: int) -> bytes:
    return _FIELDS.pack(MAGIC, VERSION, HEADER_SIZE, record_size, record_count, sequence).ljust(
        HEADER_SIZE, b"\0")


def _check_prefix(buf: memoryview) -> None:
    """Magic, version and header size: what must hold even while a message is being written."""
    if len(buf) < HEADER_SIZE:
        raise ValueError(f"truncated channel: {len(buf)} bytes, fewer than the {HEADER_SIZE}-byte header")
    magic, version, header_size, _, _, _ = _FIELDS.unpack_from(buf, 0)
    if magic != MAGIC:
        raise ValueError(f"not a gilfree mmap channel: magic {magic!r}, expected {MAGIC!r}")
    if version != VERSION:
        raise ValueError(f"unsupported channel version {version}; this gilfree reads version {VERSION}")
    if header_size != HEADER_SIZE:
        raise ValueError(f"bad header size {header_size}, expected {HEADER_SIZE}")


def read_header(buf: Any) -> Header:
    """Parse and validate the header at the start of ``buf`` (an mmap or any bytes-like object).

    Raises ValueError for a wrong magic or version, a buffer shorter than the header, a record
    size of 0 with records, or a payload that would run past the end of ``buf`` (a truncated
    file). An uncommitted header (sequence 0) is valid: check ``header.committed``.
    """
    with _bytes_of(buf, "buf") as view:
        _check_prefix(view)
        _, version, _, record_size, record_count, sequence = _FIELDS.unpack_from(view, 0)
        if record_size == 0 and record_count:
            raise ValueError(f"bad header: {record_count} records of size 0")
        room = len(view) - HEADER_SIZE
        if record_size * record_count > room:
            raise ValueError(
                f"truncated channel: the header announces {record_count} records of {record_size} "
                f"bytes ({record_size * record_count} bytes) but only {room} bytes follow it")
        return Header(version, record_size, record_count, sequence)


def write_message(buf: Any, payload: Any, *, sequence: int, record_size: int = 1,
                  flush: bool = True) -> Header:
    """Write ``payload`` into the channel ``buf`` (a writable mmap) and commit it as ``sequence``.

    Order: sequence cleared, payload copied, flush, record fields, sequence written last, flush.
    ``flush`` calls ``buf.flush()`` where ``buf`` has one (an mmap). Returns the committed header.
    """
    sequence = _int(sequence, "sequence", 1)
    record_size = _int(record_size, "record_size", 1, _MAX_U32)
    flush = check_flag(flush, "flush")
    with _bytes_of(payload, "payload") as data, _bytes_of(buf, "buf") as out:
        if out.readonly:
            raise ValueError("buf is read-only; map the channel with open_channel(path, writable=True)")
        _check_prefix(out)
        _check_records(data, record_size)
        room = len(out) - HEADER_SIZE
        if len(data) > room:
            raise ValueError(f"payload of {len(data)} bytes does not fit: the channel holds {room}")
        do_flush = flush and hasattr(buf, "flush")
        _SEQUENCE.pack_into(out, _SEQUENCE_OFFSET, 0)
        out[HEADER_SIZE:HEADER_SIZE + len(data)] = data
        if do_flush:
            buf.flush()
        header = Header(VERSION, record_size, len(data) // record_size, sequence)
        out[:_SEQUENCE_OFFSET] = _encode(record_size, header.record_count, 0)[:_SEQUENCE_OFFSET]
        _SEQUENCE.pack_into(out, _SEQUENCE_OFFSET, sequence)
    if do_flush:
        buf.flush()
    return header


def wait_for_message(buf: Any, sequence: int, *, timeout: float, poll: float = 0.001) -> Header:
    """Poll ``buf`` until message ``sequence`` is committed; return its validated header.

    Sleeps between polls (starting at 20 microseconds, doubling up to ``poll`` seconds) and
    raises TimeoutError after ``timeout`` seconds, so a consumer never hangs on a producer that
    died. A bad magic or version raises ValueError at once.
    """
    sequence = _int(sequence, "sequence", 1)
    # A timeout of 0 looks once; inf waits for ever (the caller's choice, said out loud).
    timeout = check_seconds(timeout, "timeout", minimum=0, allow_inf=True)
    poll = check_seconds(poll, "poll", allow_inf=True)
    deadline = time.monotonic() + timeout
    pause = 2e-5
    with _bytes_of(buf, "buf") as view:
        while True:
            _check_prefix(view)
            (seen,) = _SEQUENCE.unpack_from(view, _SEQUENCE_OFFSET)
            if seen == sequence:
                header = read_header(view)
                if header.sequence == sequence:
                    return header
            now = time.monotonic()
            if now >= deadline:
                raise TimeoutError(f"message {sequence} was not committed within {timeout} s "
                                   f"(the channel holds sequence {seen})")
            time.sleep(min(pause, deadline - now))
            pause = min(pause * 2, poll)


@contextmanager
def payload_view(buf: Any, header: Header) -> Iterator[memoryview]:
    """The payload that ``header`` describes, as a byte memoryview into ``buf`` (released after)."""
    if not isinstance(header, Header):
        raise TypeError(f"header must be a Header (from read_header or wait_for_message), "
                        f"not {type(header).__name__}")
    if header.record_size < 0 or header.record_count < 0:
        raise ValueError(f"header describes a negative payload: {header}")
    with _bytes_of(buf, "buf") as view:
        if HEADER_SIZE + header.payload_bytes > len(view):
            raise ValueError(f"truncated channel: the payload needs {HEADER_SIZE + header.payload_bytes} "
                             f"bytes, the buffer has {len(view)}")
        with view[HEADER_SIZE:HEADER_SIZE + header.payload_bytes] as payload:
            yield payload


def init_channel(buf: Any) -> None:
    """Write an empty, uncommitted header at the start of the writable buffer ``buf``.

    A channel need not be a file: an anonymous mmap shared with forked children, or a
    ``SharedMemory`` buffer, carries the same protocol.
    """
    with _bytes_of(buf, "buf") as out:
        if out.readonly:
            raise ValueError("buf is read-only; a channel needs a writable buffer")
        if len(out) < HEADER_SIZE:
            raise ValueError(f"buf has {len(out)} bytes, fewer than the {HEADER_SIZE}-byte header")
        out[:HEADER_SIZE] = _encode(1, 0, 0)


def create_channel(path: str | os.PathLike[str], capacity: int) -> None:
    """Create (or replace) ``path`` with an uncommitted header and room for ``capacity`` bytes."""
    check_path(path)
    capacity = _int(capacity, "capacity", 0, _MAX_CAPACITY)
    with open(path, "wb") as f:
        f.write(_encode(1, 0, 0))
        f.truncate(HEADER_SIZE + capacity)


@contextmanager
def open_channel(path: str | os.PathLike[str], *, writable: bool = False) -> Iterator[mmap.mmap]:
    """Map the whole channel file; the mapping and the file are closed when the block ends.

    Raises ValueError if the file is shorter than a header or is not a channel.
    """
    check_path(path)
    writable = check_flag(writable, "writable")
    with open(path, "r+b" if writable else "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < HEADER_SIZE:
            raise ValueError(f"truncated channel {os.fspath(path)!r}: {size} bytes, fewer than the "
                             f"{HEADER_SIZE}-byte header")
        access = mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ
        with mmap.mmap(f.fileno(), size, access=access) as mm:
            with memoryview(mm) as view:
                _check_prefix(view)
            yield mm


@contextmanager
def receive(path: str | os.PathLike[str], sequence: int, *,
            timeout: float) -> Iterator[tuple[Header, memoryview]]:
    """Map ``path``, wait for message ``sequence`` and yield ``(header, payload)``, zero-copy."""
    check_path(path)
    sequence = _int(sequence, "sequence", 1)
    timeout = check_seconds(timeout, "timeout", minimum=0, allow_inf=True)
    with open_channel(path) as mm:
        header = wait_for_message(mm, sequence, timeout=timeout)
        with payload_view(mm, header) as payload:
            yield header, payload


def write_file(path: str | os.PathLike[str], payload: Any, *, record_size: int = 1, sequence: int = 1,
               flush: bool = True) -> Header:
    """Create ``path`` holding exactly ``payload`` as committed message ``sequence``.

    Every argument is checked before ``path`` is touched: a refused call leaves an existing
    channel file, and the message in it, as they were.
    """
    check_path(path)
    sequence = _int(sequence, "sequence", 1)
    record_size = _int(record_size, "record_size", 1, _MAX_U32)
    flush = check_flag(flush, "flush")
    with _bytes_of(payload, "payload") as data:
        _check_records(data, record_size)
        create_channel(path, len(data))
        with open_channel(path, writable=True) as mm:
            return write_message(mm, data, sequence=sequence, record_size=record_size, flush=flush)


def apply_to_message(kernel: Callable[[memoryview], T], path: str | os.PathLike[str], sequence: int,
                     timeout: float) -> T:
    """Wait for message ``sequence`` of the channel ``path`` and return ``kernel(payload)``.

    The consumer's side in one call, for a task in a worker process: the header is validated,
    the payload is read in place (zero-copy), and waiting stops with TimeoutError after
    ``timeout`` seconds, so a consumer never outlives a producer that failed.
    """
    check_callable(kernel, "kernel")
    with receive(path, sequence, timeout=timeout) as (_, payload):
        return kernel(payload)
