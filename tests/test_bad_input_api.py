"""Bad input to the public API around the kernels: one table of inputs and the error each raises.

The kernels have their own table (``test_bad_input.py``); this one covers the rest of the
public surface: shared arrays, the chunking helpers, the executors, the mmap channel, the lab
runner and the command line. Every row calls one public function with one bad input and names
the exact exception type and a fragment of its message.

Refusals must also be clean: nothing left half-written, no shared-memory segment left behind.
"""

from __future__ import annotations

import mmap
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gilfree

#: Run against every built wheel, on every OS (see the marker in pyproject.toml).
pytestmark = pytest.mark.portable

# Imported where used, row by row, so that a module in the middle of a rewrite breaks only its
# own rows and never the whole table.


def _shm():
    from gilfree import shm

    return shm


def _mmapipc():
    from gilfree import mmapipc

    return mmapipc


def _chunked():
    from gilfree import chunked

    return chunked


def _strategies():
    from gilfree import strategies

    return strategies


def _lab():
    from gilfree import lab

    return lab


def _stats():
    from gilfree import _stats

    return _stats


def _checksum():
    from gilfree import _checksum

    return _checksum


def _pool():
    from gilfree import pool

    return pool


def _errors():
    from gilfree import errors

    return errors


def _timing():
    from gilfree import _timing

    return _timing


def _checks():
    from gilfree import _checks

    return _checks


# --- helpers that build one bad situation each ---------------------------------------------------


def create(shape, dtype=np.float64):
    with _shm().SharedArray.create(shape, dtype):
        pass


def attach_with(**changes):
    """Attach by a handle of a live segment (4 float64) with some fields changed."""
    shm = _shm()
    with shm.SharedArray.create(4) as owner:
        fields = {"name": owner.handle.name, "shape": (4,), "dtype": "<f8", **changes}
        with shm.SharedArrayHandle(**fields).attach():
            pass


def attach_stale():
    shared = _shm().SharedArray.create(4)
    handle = shared.handle
    shared.close()
    handle.attach()


def use_after_close(owner: bool = True):
    shm = _shm()
    with shm.SharedArray.create(4) as shared:
        if owner:
            target = shared
        else:
            target = shared.handle.attach()
        target.close()
        target.array  # noqa: B018 - the access is the test


def channel_buffer(size: int = 64, committed: bool = True) -> bytearray:
    """A channel in a bytearray: header plus ``size`` bytes, message 1 committed (4 bytes)."""
    m = _mmapipc()
    buf = bytearray(m.HEADER_SIZE + size)
    m.init_channel(buf)
    if committed:
        m.write_message(buf, b"abcd", sequence=1)
    return buf


def corrupt(offset: int, data: bytes) -> bytearray:
    buf = channel_buffer()
    buf[offset:offset + len(data)] = data
    return buf


def closed_mmap() -> mmap.mmap:
    mm = mmap.mmap(-1, 128)
    mm.close()
    return mm


def released() -> memoryview:
    view = memoryview(channel_buffer())
    view.release()
    return view


def channel_file(tmp: Path, *, committed: bool = False) -> Path:
    m = _mmapipc()
    path = tmp / "channel.bin"
    if committed:
        m.write_file(path, b"abcdefgh", sequence=1)
    else:
        m.create_channel(path, 64)
    return path


def write_to_readonly_mapping(tmp: Path):
    m = _mmapipc()
    with m.open_channel(channel_file(tmp)) as mm:
        m.write_message(mm, b"x", sequence=1)


def open_channel(path, **kwargs):
    with _mmapipc().open_channel(path, **kwargs):
        pass


def receive(path, sequence=1, timeout=0.01):
    with _mmapipc().receive(path, sequence, timeout=timeout):
        pass


def payload_view(header):
    with _mmapipc().payload_view(channel_buffer(), header):
        pass


def short_file(tmp: Path, data: bytes) -> Path:
    path = tmp / "short.bin"
    path.write_bytes(data)
    return path


def with_executor(call, strategy: str = "serial"):
    with _strategies().open_executor(strategy) as executor:
        return call(executor)


def open_executor(*args, **kwargs):
    with _strategies().open_executor(*args, **kwargs):
        pass


def run_lab(steps, size="tiny", **kwargs):
    return list(_lab().run_lab(steps, size, **kwargs))


def failsafe_shutdown(**kwargs):
    """A refused shutdown() leaves the pool running: the block's own exit still stops it."""
    with _pool().FailSafePool(1) as pool:
        pool.shutdown(**kwargs)


def interleaved(variants=None, **kwargs):
    return _timing().interleaved({"a": lambda: None} if variants is None else variants, **kwargs)


def a_stats(count: int = 2):
    return _stats().Stats(count, 1.0, 0.0, 1.0, 0.5, 0.5)


def a_checksum(length: int = 1):
    return _checksum().Checksum(length, 1, 1)



# (id, call(tmp_path), exact exception type, fragment of the message[, marks])
ROWS = [
    # --- gilfree.shm.SharedArray.create / copy_of ------------------------------------------
    ("create-shape-zero", lambda t: create(0), ValueError, "only sizes >= 1"),
    ("create-shape-negative", lambda t: create(-3), ValueError, "only sizes >= 1"),
    ("create-shape-empty-tuple", lambda t: create(()), ValueError, "at least one dimension"),
    ("create-shape-with-a-zero", lambda t: create((4, 0)), ValueError, "only sizes >= 1"),
    ("create-shape-empty-list", lambda t: create([]), ValueError, "at least one dimension"),
    ("create-shape-str", lambda t: create("3"), TypeError, "shape must be an int or a tuple of ints, not str"),
    ("create-shape-none", lambda t: create(None), TypeError, "not NoneType"),
    ("create-shape-float", lambda t: create(1.5), TypeError, "not float"),
    ("create-shape-bool", lambda t: create(True), TypeError, "not bool"),
    ("create-shape-ndarray", lambda t: create(np.array([2, 3])), TypeError, "not ndarray"),
    ("create-shape-bool-dimension", lambda t: create((True, 2)), TypeError,
     "each dimension of shape must be an int, not bool"),
    ("create-shape-float-dimension", lambda t: create((2.0, 3)),
     TypeError, "each dimension of shape must be an int"),
    ("create-shape-str-dimension", lambda t: create(("2",)), TypeError, "each dimension of shape must be an int"),
    ("create-shape-too-large", lambda t: create((2**62 + 1, 4)), ValueError, "more than this platform can map"),
    ("create-shape-wraps-int64", lambda t: create((2**32 + 1, 2**32 - 1)), ValueError, "more than this platform"),
    ("create-shape-past-int64", lambda t: create((2**63 + 1,)), ValueError, "more than this platform can map"),
    ("create-dtype-object", lambda t: create(3, object), TypeError, "holds Python objects"),
    ("create-dtype-object-field", lambda t: create(3, [("a", "f8"), ("b", "O")]), TypeError, "holds Python objects"),
    ("create-dtype-unknown", lambda t: create(3, "float65"), TypeError, "not understood"),
    ("create-dtype-int", lambda t: create(3, 5), TypeError, "data type"),
    ("create-dtype-zero-size", lambda t: create(3, "S0"), ValueError, "has no bytes to share"),
    ("copy-of-empty", lambda t: _shm().SharedArray.copy_of(np.empty(0)), ValueError, "only sizes >= 1"),
    ("copy-of-scalar", lambda t: _shm().SharedArray.copy_of(1.5), ValueError, "at least one dimension"),
    ("copy-of-objects", lambda t: _shm().SharedArray.copy_of([object(), object()]), TypeError,
     "holds Python objects"),
    ("copy-of-ragged", lambda t: _shm().SharedArray.copy_of([[1, 2], [3]]), ValueError, "inhomogeneous"),
    # --- gilfree.shm.SharedArray.attach: bad or stale handles --------------------------------
    ("attach-str", lambda t: _shm().SharedArray.attach("psm_x"),
     TypeError, "attach needs a SharedArrayHandle, not str"),
    ("attach-none", lambda t: _shm().SharedArray.attach(None), TypeError, "not NoneType"),
    ("attach-tuple", lambda t: _shm().SharedArray.attach(("psm_x", (4,), "<f8")), TypeError, "not tuple"),
    ("attach-missing-segment", lambda t: _shm().SharedArrayHandle("gilfree_no_such_segment", (4,), "<f8").attach(),
     FileNotFoundError, "no shared-memory segment by that name"),
    ("attach-stale-handle", lambda t: attach_stale(), FileNotFoundError, "a stale handle"),
    ("attach-name-none", lambda t: attach_with(name=None),
     TypeError, "handle.name must be a str naming a shared-memory segment, not NoneType"),
    ("attach-name-int", lambda t: attach_with(name=5), TypeError, "handle.name must be a str"),
    ("attach-name-empty", lambda t: attach_with(name=""), ValueError, "handle.name must name"),
    ("attach-name-slash", lambda t: attach_with(name="/"), ValueError, "handle.name must name"),
    ("attach-dtype-object", lambda t: attach_with(dtype="|O"), TypeError, "holds Python objects"),
    ("attach-dtype-unknown", lambda t: attach_with(dtype="float65"), TypeError, "not understood"),
    ("attach-dtype-none", lambda t: attach_with(dtype=None), TypeError,
     "handle.dtype must name a dtype (such as '<f8', from a handle's .dtype), not NoneType"),
    ("attach-shape-larger-than-segment", lambda t: attach_with(shape=(5,)), ValueError,
     "has 32 bytes, fewer than the 40 its handle describes"),
    ("attach-dtype-larger-than-segment", lambda t: attach_with(dtype="<c16"), ValueError, "fewer than the 64"),
    ("attach-shape-negative", lambda t: attach_with(shape=(-1,)), ValueError, "only sizes >= 1"),
    ("attach-shape-zero", lambda t: attach_with(shape=(0,)), ValueError, "only sizes >= 1"),
    ("attach-shape-empty", lambda t: attach_with(shape=()), ValueError, "at least one dimension"),
    ("attach-shape-float", lambda t: attach_with(shape=(4.0,)), TypeError, "each dimension of shape must be an int"),
    ("attach-shape-none", lambda t: attach_with(shape=None), TypeError, "shape must be an int or a tuple"),
    ("attach-shape-wraps-int64", lambda t: attach_with(shape=(2**62 + 1, 4), dtype="|u1"), ValueError,
     "more than this platform can map"),
    ("array-after-close-owner", lambda t: use_after_close(owner=True), ValueError, "this SharedArray is closed"),
    ("array-after-close-attached", lambda t: use_after_close(owner=False), ValueError, "this SharedArray is closed"),
    # --- gilfree.chunked ---------------------------------------------------------------------
    ("split-range-zero-parts", lambda t: _chunked().split_range(0, 10, 0), ValueError, "parts must be >= 1"),
    ("split-range-negative-parts", lambda t: _chunked().split_range(0, 10, -2), ValueError, "parts must be >= 1"),
    ("split-range-reversed", lambda t: _chunked().split_range(10, 0, 2), ValueError, "range is reversed"),
    ("split-range-float-lo", lambda t: _chunked().split_range(0.0, 10, 2), TypeError, "lo must be an int"),
    ("split-range-float-hi", lambda t: _chunked().split_range(0, 10.5, 2), TypeError, "hi must be an int"),
    ("split-range-str-hi", lambda t: _chunked().split_range(0, "10", 2), TypeError, "hi must be an int"),
    ("split-range-none-hi", lambda t: _chunked().split_range(0, None, 2), TypeError, "hi must be an int"),
    ("split-range-float-parts", lambda t: _chunked().split_range(0, 10, 2.5), TypeError, "parts must be an int"),
    ("split-range-bool-parts", lambda t: _chunked().split_range(0, 10, True), TypeError, "parts must be an int"),
    ("array-chunks-zero-n", lambda t: _chunked().array_chunks(0, 2), ValueError, "n must be >= 1"),
    ("array-chunks-negative-n", lambda t: _chunked().array_chunks(-5, 2), ValueError, "n must be >= 1"),
    ("array-chunks-zero-parts", lambda t: _chunked().array_chunks(10, 0), ValueError, "parts must be >= 1"),
    ("array-chunks-float-n", lambda t: _chunked().array_chunks(10.5, 2), TypeError, "n must be an int"),
    ("array-chunks-str-n", lambda t: _chunked().array_chunks("10", 2), TypeError, "n must be an int"),
    ("array-chunks-bool-n", lambda t: _chunked().array_chunks(True, 1), TypeError, "n must be an int"),
    ("array-chunks-float-parts", lambda t: _chunked().array_chunks(5000, 2.5), TypeError, "parts must be an int"),
    ("default-parts-zero-workers", lambda t: _chunked().default_parts(0), ValueError, "workers must be >= 1"),
    ("default-parts-float-workers", lambda t: _chunked().default_parts(1.5), TypeError, "workers must be an int"),
    ("default-parts-bool-workers", lambda t: _chunked().default_parts(True), TypeError, "not bool"),
    ("default-parts-zero-per-worker", lambda t: _chunked().default_parts(2, 0),
     ValueError, "per_worker must be >= 1"),
    ("default-parts-negative-per-worker", lambda t: _chunked().default_parts(2, -1), ValueError,
     "per_worker must be >= 1"),
    ("default-parts-float-per-worker", lambda t: _chunked().default_parts(2, 1.5), TypeError,
     "per_worker must be an int"),
    ("default-parts-bool-per-worker", lambda t: _chunked().default_parts(2, True), TypeError,
     "per_worker must be an int"),
    ("compact-runs-list", lambda t: _chunked().compact_runs([1.0, 2.0], [(0, 1)]), TypeError, "1-D numpy array"),
    ("compact-runs-2d", lambda t: _chunked().compact_runs(np.zeros((2, 5)), [(0, 1)]), TypeError, "1-D numpy array"),
    ("compact-runs-out-of-order", lambda t: _chunked().compact_runs(np.arange(10.0), [(4, 2), (3, 1)]), ValueError,
     "increasing order"),
    ("compact-runs-overlapping", lambda t: _chunked().compact_runs(np.arange(10.0), [(0, 5), (4, 1)]), ValueError,
     "overlaps the run before it"),
    ("compact-runs-past-the-end", lambda t: _chunked().compact_runs(np.arange(10.0), [(8, 5)]), ValueError,
     "ends past the array's 10 elements"),
    ("compact-runs-negative-count", lambda t: _chunked().compact_runs(np.arange(10.0), [(0, -1)]), ValueError,
     "count=-1"),
    ("compact-runs-negative-start", lambda t: _chunked().compact_runs(np.arange(10.0), [(-1, 1)]), ValueError,
     "start=-1"),
    ("compact-runs-float-start", lambda t: _chunked().compact_runs(np.arange(10.0), [(0.5, 1)]), TypeError, "int"),
    ("compact-runs-bool-count", lambda t: _chunked().compact_runs(np.arange(10.0), [(0, True)]), TypeError, "bool"),
    ("compact-runs-none", lambda t: _chunked().compact_runs(np.arange(10.0), None), TypeError, "not iterable"),
    ("compact-runs-triple", lambda t: _chunked().compact_runs(np.arange(10.0), [(0, 1, 2)]), ValueError, "unpack"),
    ("compact-runs-read-only", lambda t: _chunked().compact_runs(_readonly_range(), [(4, 2)]), ValueError,
     "read-only"),
    ("parallel-reduce-combine-not-callable", lambda t: with_executor(
        lambda ex: _chunked().parallel_reduce(ex, pow, [(2, 3)], 5)),
     TypeError, "combine must be callable, not int"),
    ("parallel-reduce-no-work", lambda t: with_executor(lambda ex: _chunked().parallel_reduce(ex, pow, [], sum)),
     ValueError, "at least one chunk of work"),
    ("parallel-reduce-empty-generator", lambda t: with_executor(
        lambda ex: _chunked().parallel_reduce(ex, pow, iter(()), sum)), ValueError, "at least one chunk of work"),
    ("parallel-reduce-fn-not-callable", lambda t: with_executor(
        lambda ex: _chunked().parallel_reduce(ex, 5, [(2, 3)], sum)), TypeError, "callable"),
    ("parallel-reduce-argsets-none", lambda t: with_executor(
        lambda ex: _chunked().parallel_reduce(ex, pow, None, sum)), TypeError, "not iterable"),
    ("parallel-reduce-argset-not-a-sequence", lambda t: with_executor(
        lambda ex: _chunked().parallel_reduce(ex, pow, [1, 2], sum)), TypeError, "iterable"),
    ("parallel-reduce-not-an-executor", lambda t: _chunked().parallel_reduce(object(), pow, [(2, 3)], sum),
     TypeError, "Executor"),
    ("run-chunks-not-an-executor", lambda t: _chunked().run_chunks(None, pow, [(2, 3)]), TypeError, "Executor"),
    ("run-chunks-on-result-not-callable", lambda t: with_executor(
        lambda ex: _chunked().run_chunks(ex, pow, [(2, 3)], on_result=5)), TypeError, "callable"),
    ("runs-in-process-object", lambda t: _chunked().runs_in_process(object()), TypeError,
     "expected a concurrent.futures.Executor, not object"),
    ("runs-in-process-none", lambda t: _chunked().runs_in_process(None), TypeError, "not NoneType"),
    ("runs-in-process-executor-class", lambda t: _chunked().runs_in_process(_strategies().SerialExecutor),
     TypeError, "not type"),
    # --- gilfree.strategies.open_executor ----------------------------------------------------
    ("open-executor-unknown-strategy", lambda t: open_executor("greenlets"),
     ValueError, "unknown strategy 'greenlets'"),
    ("open-executor-strategy-wrong-case", lambda t: open_executor("THREADS"), ValueError, "unknown strategy"),
    ("open-executor-strategy-none", lambda t: open_executor(None), TypeError,
     "strategy must be a str, one of serial, threads"),
    ("open-executor-strategy-empty", lambda t: open_executor(""), ValueError, "unknown strategy ''"),
    ("open-executor-strategy-list", lambda t: open_executor(["threads"]), TypeError, "strategy"),
    ("open-executor-workers-0", lambda t: open_executor("threads", 0), ValueError, "workers must be >= 1, got 0"),
    ("open-executor-workers-negative", lambda t: open_executor("threads", -1), ValueError, "workers must be >= 1"),
    ("open-executor-workers-float", lambda t: open_executor("threads", 1.5),
     TypeError, "workers must be an int, not float"),
    ("open-executor-workers-bool", lambda t: open_executor("threads", True),
     TypeError, "workers must be an int, not bool"),
    ("open-executor-workers-str", lambda t: open_executor("threads", "2"),
     TypeError, "workers must be an int, not str"),
    ("open-executor-workers-none", lambda t: open_executor("threads", None), TypeError, "not NoneType"),
    ("open-executor-workers-serial-too", lambda t: open_executor("serial", 0), ValueError, "workers must be >= 1"),
    ("open-executor-unknown-start-method", lambda t: open_executor("processes", 1, start_method="teleport"),
     ValueError, "start method 'teleport' is not available"),
    ("open-executor-empty-start-method", lambda t: open_executor("pool", 1, start_method=""), ValueError,
     "start method '' is not available"),
    ("open-executor-start-method-checked-for-threads", lambda t: open_executor("threads", 1, start_method="x"),
     ValueError, "start method 'x'"),
    ("open-executor-task-timeout-without-failsafe", lambda t: open_executor("threads", 1, task_timeout=5),
     ValueError, "task_timeout needs a strategy that can stop one task (failsafe)"),
    ("failsafe-workers-0", lambda t: _strategies().FailSafePool(0), ValueError, "workers must be >= 1"),
    ("failsafe-task-timeout-negative", lambda t: _strategies().FailSafePool(1, task_timeout=-1), ValueError,
     "task_timeout must be a finite number of seconds > 0"),
    ("failsafe-task-timeout-inf", lambda t: _strategies().FailSafePool(1, task_timeout=float("inf")), ValueError,
     "task_timeout must be a finite number"),
    ("failsafe-task-timeout-str", lambda t: _strategies().FailSafePool(1, task_timeout="5"), TypeError,
     "task_timeout must be a number of seconds or None, not str"),
    ("failsafe-workers-bool", lambda t: _pool().FailSafePool(True), TypeError, "workers must be an int, not bool"),
    ("failsafe-workers-float", lambda t: _pool().FailSafePool(2.0), TypeError, "workers must be an int, not float"),
    ("failsafe-task-timeout-zero", lambda t: _pool().FailSafePool(1, task_timeout=0), ValueError,
     "task_timeout must be a finite number of seconds > 0, got 0.0"),
    ("failsafe-task-timeout-nan", lambda t: _pool().FailSafePool(1, task_timeout=float("nan")), ValueError,
     "task_timeout must be a finite number of seconds > 0, got nan"),
    ("failsafe-task-timeout-bool", lambda t: _pool().FailSafePool(1, task_timeout=True), TypeError,
     "task_timeout must be a number of seconds or None, not bool"),
    ("failsafe-mp-context-str", lambda t: _pool().FailSafePool(1, mp_context="spawn"), TypeError,
     "mp_context must be a multiprocessing context (from multiprocessing.get_context()) or None, not str; "
     "pass multiprocessing.get_context('spawn')"),
    ("failsafe-mp-context-module", lambda t: _pool().FailSafePool(1, mp_context=os), TypeError,
     "mp_context must be a multiprocessing context"),
    ("failsafe-shutdown-wait-str", lambda t: failsafe_shutdown(wait="no"), TypeError,
     "wait must be True or False, not str"),
    ("failsafe-shutdown-cancel-futures-none", lambda t: failsafe_shutdown(cancel_futures=None), TypeError,
     "cancel_futures must be True or False, not NoneType"),
    ("check-workers-zero", lambda t: _strategies().check_workers(0), ValueError, "workers must be >= 1"),
    ("check-workers-float", lambda t: _strategies().check_workers(2.0), TypeError, "workers must be an int"),
    ("serial-executor-after-shutdown", lambda t: _submit_after_shutdown(), RuntimeError, "after shutdown"),
    # --- gilfree.mmapipc ---------------------------------------------------------------------
    ("read-header-int", lambda t: _mmapipc().read_header(42), TypeError, "buf must support the buffer protocol"),
    ("read-header-str", lambda t: _mmapipc().read_header("gilfMMAP"), TypeError, "not str"),
    ("read-header-none", lambda t: _mmapipc().read_header(None), TypeError, "not NoneType"),
    ("read-header-empty", lambda t: _mmapipc().read_header(b""), ValueError, "truncated channel: 0 bytes"),
    ("read-header-short", lambda t: _mmapipc().read_header(bytes(channel_buffer())[:63]), ValueError,
     "fewer than the 64-byte header"),
    ("read-header-bad-magic", lambda t: _mmapipc().read_header(corrupt(0, b"NOTMAGIC")), ValueError,
     "not a gilfree mmap channel"),
    ("read-header-zeros", lambda t: _mmapipc().read_header(bytes(128)), ValueError, "not a gilfree mmap channel"),
    ("read-header-bad-version", lambda t: _mmapipc().read_header(corrupt(8, struct.pack("<H", 99))), ValueError,
     "unsupported channel version 99"),
    ("read-header-bad-header-size", lambda t: _mmapipc().read_header(corrupt(10, struct.pack("<H", 72))), ValueError,
     "bad header size 72"),
    ("read-header-records-of-size-0", lambda t: _mmapipc().read_header(corrupt(12, struct.pack("<IQ", 0, 5))),
     ValueError, "5 records of size 0"),
    ("read-header-truncated-payload", lambda t: _mmapipc().read_header(corrupt(16, struct.pack("<Q", 65))),
     ValueError,
     "truncated channel: the header announces 65 records"),
    ("read-header-non-contiguous", lambda t: _mmapipc().read_header(np.zeros(256, np.uint8)[::2]), ValueError,
     "buf must be C-contiguous"),
    ("read-header-closed-mmap", lambda t: _mmapipc().read_header(closed_mmap()), ValueError, "closed"),
    ("read-header-released-memoryview", lambda t: _mmapipc().read_header(released()), ValueError, "released"),
    ("write-message-readonly-bytes", lambda t: _mmapipc().write_message(bytes(channel_buffer()), b"x", sequence=2),
     ValueError, "buf is read-only"),
    ("write-message-readonly-mapping", lambda t: write_to_readonly_mapping(t), ValueError, "buf is read-only"),
    ("write-message-not-a-channel", lambda t: _mmapipc().write_message(bytearray(128), b"x", sequence=1), ValueError,
     "not a gilfree mmap channel"),
    ("write-message-sequence-0", lambda t: _mmapipc().write_message(channel_buffer(), b"x", sequence=0), ValueError,
     "sequence must be in [1, 18446744073709551615], got 0"),
    ("write-message-sequence-negative", lambda t: _mmapipc().write_message(channel_buffer(), b"x", sequence=-1),
     ValueError, "sequence must be in"),
    ("write-message-sequence-2**64", lambda t: _mmapipc().write_message(channel_buffer(), b"x", sequence=2**64),
     ValueError, "sequence must be in"),
    ("write-message-sequence-bool", lambda t: _mmapipc().write_message(channel_buffer(), b"x", sequence=True),
     TypeError, "sequence must be an int, not bool"),
    ("write-message-sequence-float", lambda t: _mmapipc().write_message(channel_buffer(), b"x", sequence=2.0),
     TypeError, "sequence must be an int, not float"),
    ("write-message-sequence-none", lambda t: _mmapipc().write_message(channel_buffer(), b"x", sequence=None),
     TypeError, "sequence must be an int, not NoneType"),
    ("write-message-sequence-positional", lambda t: _mmapipc().write_message(channel_buffer(), b"x", 2), TypeError,
     "positional"),
    ("write-message-record-size-0", lambda t: _mmapipc().write_message(channel_buffer(), b"x", sequence=2,
                                                                        record_size=0),
     ValueError, "record_size must be in [1, 4294967295], got 0"),
    ("write-message-record-size-2**32", lambda t: _mmapipc().write_message(channel_buffer(), b"x", sequence=2,
                                                                            record_size=2**32),
     ValueError, "record_size must be in"),
    ("write-message-record-size-float", lambda t: _mmapipc().write_message(channel_buffer(), b"x" * 8, sequence=2,
                                                                            record_size=8.0),
     TypeError, "record_size must be an int, not float"),
    ("write-message-partial-record", lambda t: _mmapipc().write_message(channel_buffer(), bytes(10), sequence=2,
                                                                         record_size=8),
     ValueError, "payload of 10 bytes is not a whole number of 8-byte records"),
    ("write-message-payload-too-big", lambda t: _mmapipc().write_message(channel_buffer(), bytes(65), sequence=2),
     ValueError, "payload of 65 bytes does not fit: the channel holds 64"),
    ("write-message-payload-str", lambda t: _mmapipc().write_message(channel_buffer(), "abc", sequence=2), TypeError,
     "payload must support the buffer protocol"),
    ("write-message-payload-none", lambda t: _mmapipc().write_message(channel_buffer(), None, sequence=2), TypeError,
     "payload must support"),
    ("write-message-payload-non-contiguous", lambda t: _mmapipc().write_message(
        channel_buffer(), np.arange(8.0)[::2], sequence=2), ValueError, "payload must be C-contiguous"),
    ("write-message-payload-released", lambda t: _mmapipc().write_message(channel_buffer(), released(), sequence=2),
     ValueError, "released"),
    ("write-message-flush-str", lambda t: _mmapipc().write_message(channel_buffer(), b"x", sequence=2, flush="no"),
     TypeError, "flush must be True or False, not str"),
    ("write-message-flush-none", lambda t: _mmapipc().write_message(channel_buffer(), b"x", sequence=2, flush=None),
     TypeError, "flush must be True or False, not NoneType"),
    ("wait-timeout-negative", lambda t: _mmapipc().wait_for_message(channel_buffer(), 1, timeout=-1), ValueError,
     "timeout must be >= 0 seconds, got -1.0"),
    ("wait-timeout-nan", lambda t: _mmapipc().wait_for_message(channel_buffer(), 1, timeout=float("nan")),
     ValueError,
     "timeout must be >= 0"),
    ("wait-timeout-str", lambda t: _mmapipc().wait_for_message(channel_buffer(), 1, timeout="1"), TypeError,
     "timeout must be a number of seconds, not str"),
    ("wait-timeout-bool", lambda t: _mmapipc().wait_for_message(channel_buffer(), 1, timeout=True), TypeError,
     "timeout must be a number of seconds, not bool"),
    ("wait-timeout-none", lambda t: _mmapipc().wait_for_message(channel_buffer(), 1, timeout=None), TypeError,
     "timeout must be a number of seconds, not NoneType"),
    ("wait-timeout-missing", lambda t: _mmapipc().wait_for_message(channel_buffer(), 1), TypeError, "timeout"),
    ("wait-poll-zero", lambda t: _mmapipc().wait_for_message(channel_buffer(), 2, timeout=0.01, poll=0), ValueError,
     "poll must be > 0 seconds, got 0.0"),
    ("wait-poll-negative", lambda t: _mmapipc().wait_for_message(channel_buffer(), 2, timeout=0.01, poll=-1),
     ValueError, "poll must be > 0"),
    ("wait-poll-nan", lambda t: _mmapipc().wait_for_message(channel_buffer(), 2, timeout=0.01, poll=float("nan")),
     ValueError, "poll must be > 0"),
    ("wait-poll-str", lambda t: _mmapipc().wait_for_message(channel_buffer(), 2, timeout=0.01, poll="fast"),
     TypeError, "poll must be a number of seconds, not str"),
    ("wait-poll-checked-when-committed", lambda t: _mmapipc().wait_for_message(channel_buffer(), 1, timeout=0,
                                                                                poll=-1),
     ValueError, "poll must be > 0"),
    ("wait-sequence-0", lambda t: _mmapipc().wait_for_message(channel_buffer(), 0, timeout=0), ValueError,
     "sequence must be in"),
    ("wait-sequence-bool", lambda t: _mmapipc().wait_for_message(channel_buffer(), True, timeout=0), TypeError,
     "sequence must be an int, not bool"),
    ("wait-never-committed", lambda t: _mmapipc().wait_for_message(channel_buffer(committed=False), 1, timeout=0.01),
     TimeoutError, "message 1 was not committed within 0.01 s (the channel holds sequence 0)"),
    ("wait-other-sequence", lambda t: _mmapipc().wait_for_message(channel_buffer(), 2, timeout=0), TimeoutError,
     "(the channel holds sequence 1)"),
    ("wait-bad-magic", lambda t: _mmapipc().wait_for_message(corrupt(0, b"NOTMAGIC"), 1, timeout=5), ValueError,
     "not a gilfree mmap channel"),
    ("wait-buf-int", lambda t: _mmapipc().wait_for_message(7, 1, timeout=0), TypeError, "buf must support"),
    ("payload-view-tuple-header", lambda t: payload_view((1, 1, 4, 1)), TypeError,
     "header must be a Header (from read_header or wait_for_message), not tuple"),
    ("payload-view-none-header", lambda t: payload_view(None), TypeError, "header must be a Header"),
    ("payload-view-negative-header", lambda t: payload_view(_mmapipc().Header(1, 1, -4, 1)), ValueError,
     "negative payload"),
    ("payload-view-truncated", lambda t: payload_view(_mmapipc().Header(1, 1, 65, 1)), ValueError,
     "truncated channel: the payload needs 129 bytes, the buffer has 128"),
    ("init-channel-readonly", lambda t: _mmapipc().init_channel(bytes(128)), ValueError, "buf is read-only"),
    ("init-channel-short", lambda t: _mmapipc().init_channel(bytearray(63)), ValueError,
     "buf has 63 bytes, fewer than the 64-byte header"),
    ("init-channel-int", lambda t: _mmapipc().init_channel(64), TypeError, "buf must support"),
    ("init-channel-non-contiguous", lambda t: _mmapipc().init_channel(np.zeros(256, np.uint8)[::2]), ValueError,
     "buf must be C-contiguous"),
    ("create-channel-negative-capacity", lambda t: _mmapipc().create_channel(t / "c.bin", -1), ValueError,
     "capacity must be in"),
    ("create-channel-str-capacity", lambda t: _mmapipc().create_channel(t / "c.bin", "64"), TypeError,
     "capacity must be an int, not str"),
    ("create-channel-bool-capacity", lambda t: _mmapipc().create_channel(t / "c.bin", True), TypeError,
     "capacity must be an int, not bool"),
    ("create-channel-float-capacity", lambda t: _mmapipc().create_channel(t / "c.bin", 64.0), TypeError,
     "capacity must be an int, not float"),
    ("create-channel-capacity-past-off-t", lambda t: _mmapipc().create_channel(t / "c.bin", 2**64 - 1), ValueError,
     "capacity must be in"),
    ("create-channel-path-none", lambda t: _mmapipc().create_channel(None, 64), TypeError,
     "path must be a str or os.PathLike (a pathlib.Path), not NoneType"),
    ("create-channel-path-fd", lambda t: _mmapipc().create_channel(1, 64), TypeError,
     "path must be a str or os.PathLike (a pathlib.Path), not int"),
    ("create-channel-path-empty", lambda t: _mmapipc().create_channel("", 64), ValueError, "path must not be empty"),
    ("create-channel-path-is-a-directory", lambda t: _mmapipc().create_channel(t, 64), IsADirectoryError, ""),
    ("open-channel-missing", lambda t: open_channel(t / "nope.bin"), FileNotFoundError, "nope.bin"),
    ("open-channel-short-file", lambda t: open_channel(short_file(t, b"gilfMMAP")), ValueError,
     "8 bytes, fewer than the 64-byte header"),
    ("open-channel-empty-file", lambda t: open_channel(short_file(t, b"")), ValueError, "truncated channel"),
    ("open-channel-not-a-channel", lambda t: open_channel(short_file(t, bytes(100))), ValueError,
     "not a gilfree mmap channel"),
    ("open-channel-writable-str", lambda t: open_channel(channel_file(t), writable="yes"), TypeError,
     "writable must be True or False, not str"),
    ("open-channel-writable-int", lambda t: open_channel(channel_file(t), writable=1), TypeError,
     "writable must be True or False, not int"),
    ("open-channel-directory", lambda t: open_channel(t), IsADirectoryError, ""),
    ("open-channel-fd", lambda t: open_channel(0), TypeError, "path must be a str or os.PathLike"),
    ("receive-missing", lambda t: receive(t / "nope.bin"), FileNotFoundError, "nope.bin"),
    ("receive-never-committed", lambda t: receive(channel_file(t)), TimeoutError, "message 1 was not committed"),
    ("receive-bad-timeout", lambda t: receive(channel_file(t, committed=True), timeout=-1), ValueError,
     "timeout must be >= 0"),
    ("receive-bad-sequence", lambda t: receive(channel_file(t, committed=True), sequence=0), ValueError,
     "sequence must be in"),
    ("receive-sequence-bool", lambda t: receive(channel_file(t, committed=True), sequence=True), TypeError,
     "sequence must be an int, not bool"),
    ("receive-timeout-str", lambda t: receive(channel_file(t, committed=True), timeout="1"), TypeError,
     "timeout must be a number of seconds, not str"),
    ("receive-timeout-checked-before-the-file", lambda t: receive(t / "nope.bin", timeout=-1), ValueError,
     "timeout must be >= 0 seconds, got -1.0"),
    ("receive-path-fd", lambda t: receive(0), TypeError, "path must be a str or os.PathLike"),
    ("write-file-partial-record", lambda t: _mmapipc().write_file(t / "w.bin", bytes(10), record_size=8), ValueError,
     "not a whole number of 8-byte records"),
    ("write-file-sequence-0", lambda t: _mmapipc().write_file(t / "w.bin", b"x", sequence=0), ValueError,
     "sequence must be in"),
    ("write-file-record-size-0", lambda t: _mmapipc().write_file(t / "w.bin", b"x", record_size=0), ValueError,
     "record_size must be in"),
    ("write-file-payload-int", lambda t: _mmapipc().write_file(t / "w.bin", 5), TypeError, "payload must support"),
    ("write-file-path-fd", lambda t: _mmapipc().write_file(2, b"x"), TypeError,
     "path must be a str or os.PathLike (a pathlib.Path), not int"),
    ("write-file-path-bytes-empty", lambda t: _mmapipc().write_file(b"", b"x"), ValueError, "path must not be empty"),
    ("write-file-flush-str", lambda t: _mmapipc().write_file(t / "w.bin", b"x", flush="no"), TypeError,
     "flush must be True or False"),
    # --- gilfree.lab.run_step / step_module / run_lab ---------------------------------------
    ("run-step-9", lambda t: _lab().run_step(9, "tiny"), ValueError, "step must be one of 1..8, got 9"),
    ("run-step-0", lambda t: _lab().run_step(0, "tiny"), ValueError, "step must be one of 1..8, got 0"),
    ("run-step-negative", lambda t: _lab().run_step(-1, "tiny"), ValueError, "got -1"),
    ("run-step-huge", lambda t: _lab().run_step(2**70, "tiny"), ValueError, "step must be one of 1..8"),
    ("run-step-str", lambda t: _lab().run_step("1", "tiny"), TypeError, "step must be an int, not str"),
    ("run-step-bool", lambda t: _lab().run_step(True, "tiny"), TypeError, "step must be an int, not bool"),
    ("run-step-float", lambda t: _lab().run_step(1.0, "tiny"), TypeError, "step must be an int, not float"),
    ("run-step-none", lambda t: _lab().run_step(None, "tiny"), TypeError, "step must be an int, not NoneType"),
    ("run-step-list", lambda t: _lab().run_step([1], "tiny"), TypeError, "step must be an int, not list"),
    ("run-step-unknown-size", lambda t: _lab().run_step(1, "huge"), ValueError,
     "size must be one of ('default', 'quick', 'tiny'), got 'huge'"),
    ("run-step-size-wrong-case", lambda t: _lab().run_step(1, "TINY"), ValueError, "size must be one of"),
    ("run-step-size-none", lambda t: _lab().run_step(1, None), TypeError,
     "size must be a str, one of ('default', 'quick', 'tiny'), not NoneType"),
    ("run-step-size-int", lambda t: _lab().run_step(1, 1), TypeError, "size must be a str, one of"),
    ("run-step-unknown-parameter", lambda t: _lab().run_step(1, "tiny", threads=2), TypeError,
     "unexpected keyword argument 'threads': step 1 takes n, workers"),
    ("run-step-progress-not-callable", lambda t: _lab().run_step(1, "tiny", "bar"), TypeError,
     "progress must be callable, not str"),
    ("run-step-checks-the-step-before-the-size", lambda t: _lab().run_step(9, "huge"), ValueError,
     "step must be one of 1..8, got 9"),
    ("step-module-9", lambda t: _lab().step_module(9), ValueError, "step must be one of 1..8"),
    ("step-module-bool", lambda t: _lab().step_module(False), TypeError, "step must be an int, not bool"),
    ("run-lab-bad-step-last", lambda t: run_lab([1, 9]), ValueError, "got 9"),
    ("run-lab-str-step", lambda t: run_lab(["2"]), TypeError, "step must be an int, not str"),
    ("run-lab-bad-size", lambda t: run_lab([1], "huge"), ValueError, "size must be one of"),
    ("run-lab-steps-not-iterable", lambda t: run_lab(3), TypeError, "not iterable"),
    ("run-lab-size-none", lambda t: run_lab([1], None), TypeError, "size must be a str, one of"),
    ("run-lab-progress-none", lambda t: run_lab([1], progress=None), TypeError,
     "progress must be callable, not NoneType"),
    # --- gilfree._stats: the merge of chunk statistics ---------------------------------------
    ("aligned-chunk-size-float-n", lambda t: _stats().aligned_chunk_size(1.5, 2), TypeError,
     "n must be an int, not float"),
    ("aligned-chunk-size-str-n", lambda t: _stats().aligned_chunk_size("4096", 2), TypeError,
     "n must be an int, not str"),
    ("aligned-chunk-size-bool-n", lambda t: _stats().aligned_chunk_size(True, 2), TypeError,
     "n must be an int, not bool"),
    ("aligned-chunk-size-float-parts", lambda t: _stats().aligned_chunk_size(4096, 2.0), TypeError,
     "parts must be an int, not float"),
    ("aligned-chunk-size-bool-parts", lambda t: _stats().aligned_chunk_size(4096, True), TypeError,
     "parts must be an int, not bool"),
    ("aligned-chunk-size-zero-n", lambda t: _stats().aligned_chunk_size(0, 2), ValueError, "n must be >= 1, got 0"),
    ("aligned-chunk-size-zero-parts", lambda t: _stats().aligned_chunk_size(4096, 0), ValueError,
     "parts must be >= 1, got 0"),
    ("merge-stats-empty", lambda t: _stats().merge_stats([]), ValueError, "merge_stats needs at least one Stats"),
    ("merge-stats-plain-tuple", lambda t: _stats().merge_stats([a_stats(), (2, 1.0, 0.0, 1.0, 0.5, 0.5)]), TypeError,
     "parts[1] must be a Stats (from chunk_stats or merge_stats), not tuple"),
    ("merge-stats-none-inside", lambda t: _stats().merge_stats([None]), TypeError, "parts[0] must be a Stats"),
    ("merge-stats-not-iterable", lambda t: _stats().merge_stats(5), TypeError, "not iterable"),
    ("merge-two-none", lambda t: _stats().merge_two(a_stats(), None), TypeError, "b must be a Stats"),
    ("stats-merge-dict", lambda t: a_stats().merge({}), TypeError, "b must be a Stats"),
    # --- gilfree._checksum -------------------------------------------------------------------
    ("combine-checksums-empty", lambda t: _checksum().combine_checksums([]), ValueError,
     "combine_checksums needs at least one Checksum"),
    ("combine-checksums-plain-tuple", lambda t: _checksum().combine_checksums([(1, 1, 1)]), TypeError,
     "parts[0] must be a Checksum (from checksum or combine_checksums), not tuple"),
    ("checksum-combine-int", lambda t: a_checksum().combine(5), TypeError, "other must be a Checksum"),
    # --- gilfree.errors ----------------------------------------------------------------------
    ("describe-exit-str", lambda t: _errors().describe_exit("-9"), TypeError, "exitcode must be an int, not str"),
    ("describe-exit-float", lambda t: _errors().describe_exit(-9.0), TypeError, "exitcode must be an int, not float"),
    ("describe-exit-oom-str", lambda t: _errors().describe_exit(-9, oom_kills_before="0"), TypeError,
     "oom_kills_before must be an int, not str"),
    # --- gilfree._timing ---------------------------------------------------------------------
    ("interleaved-repeats-bool", lambda t: interleaved(repeats=True), TypeError, "repeats must be an int, not bool"),
    ("interleaved-repeats-zero", lambda t: interleaved(repeats=0), ValueError, "repeats must be >= 1, got 0"),
    ("interleaved-repeats-float", lambda t: interleaved(repeats=2.5), TypeError, "repeats must be an int, not float"),
    ("interleaved-warmup-negative", lambda t: interleaved(warmup=-1), ValueError, "warmup must be >= 0, got -1"),
    ("interleaved-warmup-bool", lambda t: interleaved(warmup=False), TypeError, "warmup must be an int, not bool"),
    ("interleaved-variants-list", lambda t: interleaved([lambda: None]), TypeError,
     "variants must be a dict of name -> callable, not list"),
    ("interleaved-variant-not-callable", lambda t: interleaved({"a": 5}), TypeError,
     "variants['a'] must be callable, not int"),
    ("interleaved-before-not-callable", lambda t: interleaved(before="reset"), TypeError,
     "before must be callable, not str"),
    ("interleaved-cpu-clock-none", lambda t: interleaved(cpu_clock=None), TypeError,
     "cpu_clock must be callable, not NoneType"),
    ("run-in-threads-empty", lambda t: _timing().run_in_threads([]), ValueError,
     "run_in_threads needs at least one call"),
    ("run-in-threads-not-callable", lambda t: _timing().run_in_threads([print, 5]), TypeError,
     "calls[1] must be callable, not int"),
    ("descendants-str", lambda t: _timing().descendants("1"), TypeError, "pid must be an int, not str"),
    ("tree-cpu-clock-str-pid", lambda t: _timing().tree_cpu_clock(["1"]), TypeError, "each pid must be an int"),
    # --- gilfree.bench.Plan: repeats is a count, never a bool --------------------------------
    ("plan-repeats-bool", lambda t: _plan(repeats=True), TypeError, "repeats must be an int, not bool"),
    # --- gilfree._checks: the helpers every public function and option calls -----------------
    ("check-seconds-negative", lambda t: _checks().check_seconds(-1, "timeout"), ValueError,
     "timeout must be a finite number of seconds > 0, got -1.0"),
    ("check-seconds-zero", lambda t: _checks().check_seconds(0, "timeout"), ValueError,
     "timeout must be a finite number of seconds > 0, got 0.0"),
    ("check-seconds-inf", lambda t: _checks().check_seconds(float("inf"), "timeout"), ValueError,
     "timeout must be a finite number of seconds > 0, got inf"),
    ("check-seconds-nan", lambda t: _checks().check_seconds(float("nan"), "timeout"), ValueError, "got nan"),
    ("check-seconds-str", lambda t: _checks().check_seconds("5", "timeout"), TypeError,
     "timeout must be a number of seconds, not str"),
    ("check-seconds-bool", lambda t: _checks().check_seconds(True, "timeout"), TypeError, "not bool"),
    ("check-seconds-none", lambda t: _checks().check_seconds(None, "timeout"), TypeError,
     "timeout must be a number of seconds, not NoneType"),
    ("check-seconds-none-allowed-str", lambda t: _checks().check_seconds("5", "timeout", allow_none=True), TypeError,
     "timeout must be a number of seconds or None, not str"),
    ("check-seconds-below-exclusive", lambda t: _checks().check_seconds(1, "poll", minimum_exclusive=1), ValueError,
     "poll must be a finite number of seconds > 1, got 1.0"),
    ("check-seconds-below-minimum", lambda t: _checks().check_seconds(-0.5, "timeout", minimum=0, allow_inf=True),
     ValueError, "timeout must be >= 0 seconds, got -0.5"),
    ("check-seconds-huge-int", lambda t: _checks().check_seconds(10**400, "timeout"), OverflowError,
     "timeout is too large for a float64"),
    ("check-real-nan", lambda t: _checks().check_real(float("nan"), "payload_mb", minimum_exclusive=0), ValueError,
     "payload_mb must be > 0, got nan"),
    ("check-real-inf-finite", lambda t: _checks().check_real(float("inf"), "payload_mb", minimum_exclusive=0,
                                                              finite=True), ValueError,
     "payload_mb must be a finite real number > 0, got inf"),
    ("check-real-str", lambda t: _checks().check_real("0.5", "threshold"), TypeError,
     "threshold must be a real number, not str"),
    ("check-real-nan-unbounded", lambda t: _checks().check_real(float("nan"), "threshold"), ValueError,
     "threshold must be a real number (not NaN), got nan"),
    ("check-choice-none", lambda t: _checks().check_choice(None, "size", ("tiny", "quick")), TypeError,
     "size must be a str, one of ('tiny', 'quick'), not NoneType"),
    ("check-choice-unknown", lambda t: _checks().check_choice("huge", "size", ("tiny", "quick")), ValueError,
     "size must be one of ('tiny', 'quick'), got 'huge'"),
    ("check-choice-from-dict-keys", lambda t: _checks().check_choice("x", "api", {"map": 1}.keys()), ValueError,
     "api must be one of ('map',), got 'x'"),
    ("check-choices-str", lambda t: _checks().check_choices("threads", "strategies", ("serial", "threads")),
     TypeError, "strategies must be a tuple or list of names from ('serial', 'threads'), not str; "
                "pass ('threads',)"),
    ("check-choices-set", lambda t: _checks().check_choices({"threads"}, "strategies", ("threads",)), TypeError,
     "not set"),
    ("check-choices-empty", lambda t: _checks().check_choices((), "strategies", ("serial", "threads")), ValueError,
     "strategies must name at least one of ('serial', 'threads')"),
    ("check-choices-unknown", lambda t: _checks().check_choices(["serial", "greenlets"], "strategies",
                                                                 ("serial", "threads")), ValueError,
     "strategies[1] must be one of ('serial', 'threads'), got 'greenlets'"),
    ("check-choices-non-str-item", lambda t: _checks().check_choices(["serial", 3], "strategies",
                                                                      ("serial",)), TypeError,
     "strategies[1] must be a str"),
    ("check-int-bool", lambda t: _checks().check_int(True, "fail"), TypeError, "fail must be an int, not bool"),
    ("check-int-below", lambda t: _checks().check_int(-1, "seed", minimum=0), ValueError, "seed must be >= 0, got -1"),
    ("check-int-above", lambda t: _checks().check_int(9, "fail", maximum=7), ValueError, "fail must be <= 7, got 9"),
    ("check-int-outside", lambda t: _checks().check_int(8, "fail", minimum=0, maximum=7), ValueError,
     "fail must be in [0, 7], got 8"),
    ("check-count-bool", lambda t: _checks().check_count(True, "repeats"), TypeError,
     "repeats must be an int, not bool"),
    ("check-path-int", lambda t: _checks().check_path(3, "out"), TypeError, "out must be a str or os.PathLike"),
    ("check-callable-int", lambda t: _checks().check_callable(3, "on_result"), TypeError,
     "on_result must be callable, not int"),
    ("check-executor-class", lambda t: _checks().check_executor(_strategies().SerialExecutor), TypeError,
     "executor must be a concurrent.futures.Executor, not type"),
]


def _plan(**kwargs):
    from gilfree.bench import Plan

    return Plan(**kwargs)


def _readonly_range() -> np.ndarray:
    a = np.arange(10.0)
    a.setflags(write=False)
    return a


def _submit_after_shutdown():
    executor = _strategies().SerialExecutor()
    executor.shutdown()
    executor.submit(pow, 2, 3)


def _param(row):
    row_id, call, exc, fragment, *marks = row
    return pytest.param(call, exc, fragment, id=row_id, marks=marks)


IDS = [row[0] for row in ROWS]
assert len(set(IDS)) == len(IDS), "duplicate row ids"


@pytest.mark.parametrize("call, exc, fragment", [_param(row) for row in ROWS])
def test_bad_input_raises_the_exact_type(no_shm_leak, tmp_path, call, exc, fragment):
    with pytest.raises(exc) as excinfo:
        call(tmp_path)
    assert excinfo.type is exc
    assert fragment in str(excinfo.value)


# --- refusals leave things as they were -----------------------------------------------------------


def test_a_refused_write_file_keeps_the_message_already_there(tmp_path):
    m = _mmapipc()
    path = tmp_path / "w.bin"
    m.write_file(path, b"12345678", sequence=3, record_size=4)
    before = path.read_bytes()
    for kwargs in ({"record_size": 3}, {"sequence": 0}, {"record_size": 0}, {"flush": "yes"}):
        with pytest.raises((ValueError, TypeError)):
            m.write_file(path, b"1234", **kwargs)
    with pytest.raises(TypeError):
        m.write_file(path, None)
    with pytest.raises(ValueError):
        m.create_channel(path, -1)
    assert path.read_bytes() == before
    with m.receive(path, 3, timeout=0) as (header, payload):
        assert header.record_size == 4 and bytes(payload) == b"12345678"


def test_a_refused_write_message_commits_nothing():
    m = _mmapipc()
    buf = channel_buffer()
    before = bytes(buf)
    for kwargs in ({"sequence": 0}, {"sequence": 2, "record_size": 3}, {"sequence": 2, "flush": "no"}):
        with pytest.raises((ValueError, TypeError)):
            m.write_message(buf, b"wxyz", **kwargs)
    with pytest.raises(ValueError):
        m.write_message(buf, bytes(65), sequence=2)
    assert bytes(buf) == before


def test_a_refused_compact_runs_leaves_the_array_untouched():
    a = np.arange(10.0)
    with pytest.raises(ValueError):
        _chunked().compact_runs(a, [(4, 2), (3, 1)])
    assert a.tolist() == list(np.arange(10.0))


def test_run_lab_checks_every_step_before_running_any(monkeypatch):
    lab = _lab()
    ran = []
    monkeypatch.setattr(lab, "run_step", lambda step, size, progress: ran.append(step))
    for steps, size in (([1, 2, 9], "tiny"), ([1, "3"], "tiny"), ([1, True], "tiny"), ([1], "huge")):
        with pytest.raises((ValueError, TypeError)):
            list(lab.run_lab(steps, size))
    assert ran == []
    with pytest.raises(ValueError, match="got 9"):
        lab.run_lab([9])  # refused in the call itself, before any next()
    assert list(lab.run_lab([], "tiny")) == []  # no steps asked for, none run
    list(lab.run_lab([np.int64(2)], "tiny"))  # an integer of numpy's is a step number
    assert ran == [2]


def test_edge_values_that_are_accepted(tmp_path, no_shm_leak):
    """The other side of the table: inputs next to the refused ones that must work."""
    shm, m, lab = _shm(), _mmapipc(), _lab()
    with shm.SharedArray.create(np.int64(3)) as a, shm.SharedArray.create([2, np.uint8(3)], "u1") as b:
        assert a.array.shape == (3,) and b.array.shape == (2, 3)
        with shm.SharedArrayHandle(a.handle.name, 3, "<f8").attach() as c:  # an int shape, as create takes
            assert c.array.shape == (3,)
        with shm.SharedArrayHandle(a.handle.name, (2,), "<f8").attach() as d:  # a prefix of the segment
            assert d.array.shape == (2,)
    buf = channel_buffer(committed=False)
    assert m.write_message(buf, b"", sequence=2**64 - 1, flush=np.True_).record_count == 0
    assert m.wait_for_message(buf, 2**64 - 1, timeout=0, poll=float("inf")).sequence == 2**64 - 1
    with m.payload_view(buf, m.Header(1, 0, 0, 1)) as view:
        assert len(view) == 0
    assert lab.step_module(np.int64(4)).__name__.endswith("step4_as_completed")


def test_edge_values_of_the_shared_checks_that_are_accepted(tmp_path):
    """Next to the refused rows: values the new checks must let through, unchanged in meaning."""
    checks, stats, m = _checks(), _stats(), _mmapipc()
    assert stats.aligned_chunk_size(np.int64(4096), np.int64(2)) == 2048
    assert stats.aligned_chunk_size(1, 1) == stats.BLOCK
    assert stats.merge_stats(iter([a_stats(3)])) == a_stats(3)
    assert checks.check_seconds(None, "t", allow_none=True) is None
    assert checks.check_seconds(np.float32(0.5), "t") == 0.5
    assert checks.check_seconds(0, "t", minimum=0) == 0.0
    assert checks.check_seconds(float("inf"), "t", allow_inf=True) == float("inf")
    assert checks.check_real(-1e300, "x") == -1e300
    assert checks.check_choice("tiny", "size", iter(("tiny",))) == "tiny"
    assert checks.check_choices(["b", "a", "b"], "names", "ab") == ("b", "a")
    assert checks.check_choices((), "names", "ab", allow_empty=True) == ()
    assert checks.check_int(np.uint8(7), "n", minimum=0, maximum=7) == 7
    assert checks.check_path(tmp_path) is tmp_path
    assert _errors().describe_exit(np.int64(-9)).startswith("killed by SIGKILL")
    assert _errors().describe_exit(None, oom_kills_before=np.int64(0)) == "vanished without an exit status"
    assert set(interleaved(repeats=np.int64(1), warmup=0)) == {"a"}
    # The mmap channel: a bytes path, a timeout of 0 (look once) and of inf (the message is there).
    path = os.fsencode(tmp_path / "b.bin")
    m.write_file(path, b"abcd", sequence=2)
    with m.receive(path, 2, timeout=0) as (header, payload):
        assert bytes(payload) == b"abcd"
    assert m.wait_for_message(channel_buffer(), 1, timeout=float("inf")).sequence == 1
    with _pool().FailSafePool(np.int64(1), task_timeout=np.float64(30)) as pool:
        assert pool.task_timeout == 30.0
        assert pool.submit(pow, 2, 3).result(timeout=60) == 8


# --- the command line: argparse errors, exit status 2, no traceback ---------------------------------

CLI_ROWS = [
    ("lab-step-9", ["lab", "--step", "9"], "argument --step: steps are numbered 1..8, got 9"),
    ("lab-step-x", ["lab", "--step", "x"], "argument --step: expected a step number 1..8, got 'x'"),
    ("lab-step-0", ["lab", "--step", "0"], "steps are numbered 1..8, got 0"),
    ("lab-step-negative", ["lab", "--step", "-1"], "steps are numbered 1..8, got -1"),
    ("lab-step-float", ["lab", "--step", "1.5"], "expected a step number 1..8, got '1.5'"),
    ("lab-step-empty", ["lab", "--step", ""], "expected a step number 1..8, got ''"),
    ("lab-step-missing-value", ["lab", "--step"], "expected one argument"),
    ("lab-second-step-bad", ["lab", "--step", "1", "--step", "9"], "got 9"),
    ("lab-unknown-option", ["lab", "--steps", "1"], "unrecognized arguments"),
    ("lab-unknown-start-method", ["lab", "--start-method", "teleport"], "invalid choice: 'teleport'"),
    ("faults-jobs-0", ["faults", "--jobs", "0"], "argument --jobs: must be >= 1, got 0"),
    ("faults-jobs-x", ["faults", "--jobs", "x"], "expected a whole number >= 1, got 'x'"),
    ("faults-unknown-strategy", ["faults", "--strategy", "greenlets"], "unknown strategy 'greenlets'"),
    ("faults-unknown-scenario", ["faults", "--scenario", "meteor"], "unknown scenario 'meteor'"),
    ("faults-unknown-start-method", ["faults", "--start-method", "teleport"], "unknown start method 'teleport'"),
    ("no-command", [], "the following arguments are required"),
    ("unknown-command", ["benchmark"], "invalid choice: 'benchmark'"),
    ("info-unknown-option", ["info", "--yaml"], "unrecognized arguments: --yaml"),
    ("bench-workers-0", ["bench", "--workers", "0"], "argument --workers: must be >= 1, got 0"),
    ("bench-workers-past-2**63", ["bench", "--workers", str(2**70)], "argument --workers: must be at most 2**63"),
    ("bench-repeats-true", ["bench", "--repeats", "True"], "argument --repeats: expected a whole number >= 1, got 'True'"),
    ("bench-repeats-float", ["bench", "--repeats", "2.5"], "expected a whole number >= 1, got '2.5'"),
    ("bench-chunks-per-worker-0", ["bench", "--chunks-per-worker", "0"], "argument --chunks-per-worker: must be >= 1"),
    ("bench-unknown-size", ["bench", "--size", "huge"], "argument --size: invalid choice: 'huge'"),
    ("bench-unknown-implementation", ["bench", "--implementation", "rust"], "invalid choice: 'rust'"),
    ("bench-unknown-workload", ["bench", "--workload", "nbody"], "workloads[0] must be one of"),
    ("bench-from-and-measuring-options", ["bench", "--from", "bench.json", "--quick", "--workers", "2"],
     "--from redraws a saved run and measures nothing: drop --quick, --workers, or drop --from to measure"),
    ("bench-from-missing-file", ["bench", "--from", "no-such-bench.json"], "cannot read no-such-bench.json"),
    ("faults-jobs-past-2**63", ["faults", "--jobs", str(2**64)], "argument --jobs: must be at most 2**63"),
    ("advise-no-colon", ["advise", "gilfree.examples.tiny", "--args", "1"], "(a colon before the function)"),
    ("advise-no-module", ["advise", "no_such_module_14:f", "--args", "1"], "cannot import module 'no_such_module_14'"),
    ("advise-no-attribute", ["advise", "gilfree.examples:nothing", "--args", "1"], "has no attribute 'nothing'"),
    ("advise-no-inputs", ["advise", "gilfree.examples:tiny"], "one of the arguments --args --inputs is required"),
    ("advise-not-a-literal", ["advise", "gilfree.examples:tiny", "--args", "x+1"], "is not a Python literal"),
    ("advise-budget-0", ["advise", "gilfree.examples:tiny", "--args", "1", "--budget", "0"], "more than 0 seconds"),
    ("advise-workers-0", ["advise", "gilfree.examples:tiny", "--args", "1", "--workers", "0"], "must be >= 1, got 0"),
]


def _env() -> dict:
    env = dict(os.environ)
    src = str(Path(gilfree.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    return env


@pytest.mark.parametrize("argv, fragment", [pytest.param(a, f, id=i) for i, a, f in CLI_ROWS])
def test_command_line_refuses_bad_arguments(argv, fragment, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "gilfree", *argv], capture_output=True, text=True,
                          timeout=60, env=_env(), cwd=tmp_path)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert fragment in proc.stderr
    # The usage shown is that of the command typed, for errors found after parsing too.
    command = argv[0] if argv and argv[0] in ("lab", "bench", "faults", "advise", "info") else None
    assert (f"usage: gilfree {command} " if command else "usage: gilfree [-h]") in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert not list(tmp_path.iterdir()), "a refused command wrote nothing"
