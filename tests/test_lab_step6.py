"""Lab step 6 (mmap for IPC) at TINY size, and the mmap channel's header protocol."""

import json
import mmap
import multiprocessing
import os
import struct
import tempfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _leaks import track_segments
from gilfree._select import PURE_PYTHON, Implementation, available
from gilfree._workers import checksum_from_channel, checksum_from_pipe
from gilfree.lab import format_result, run_step
from gilfree.lab import step6_mmap as step6
from gilfree.mmapipc import (
    HEADER_SIZE,
    MAGIC,
    VERSION,
    Header,
    create_channel,
    init_channel,
    open_channel,
    payload_view,
    read_header,
    receive,
    wait_for_message,
    write_file,
    write_message,
)
from gilfree.strategies import open_executor


# ---------------------------------------------------------------------------------------------
# The step


@pytest.fixture(scope="module")
def result():
    with track_segments() as seen:  # step 6 shares files, not segments: it should create none
        out = run_step(6, "tiny")
    out.leaked = seen.left
    out.created_segments = seen.created
    return out


def test_step_passes_and_leaves_nothing(result):
    assert result.ok, [name for name, passed in result.checks.items() if not passed]
    assert not result.leaked and not result.created_segments
    assert result.checks["the temporary directory and its files are gone"]


def test_rows_cover_both_parts_and_implementations(result):
    impls = set(available())
    assert {r.implementation for r in result.rows} == impls
    for impl in impls:
        mine = [(r.extra["part"], r.variant, r.strategy) for r in result.rows if r.implementation == impl]
        assert mine == [("a", step6.IN_MEMORY, "serial"), ("a", step6.VIA_MMAP, "serial"),
                        ("a", step6.VIA_MMAP, "processes"), ("b", step6.IN_PARENT, "serial"),
                        ("b", step6.CHANNEL_FLUSH, "processes"), ("b", step6.CHANNEL, "processes"),
                        ("b", step6.PIPE, "processes")]
        refs = [r for r in result.rows if r.implementation == impl and r.strategy == "serial"
                and r.variant in (step6.IN_MEMORY, step6.IN_PARENT)]
        assert all(r.speedup == pytest.approx(1.0) for r in refs)
        assert all(r.extra["B/task"] < 1024 for r in result.rows if r.variant == step6.VIA_MMAP)


def test_json_round_trip_and_text(result):
    doc = json.loads(json.dumps(result.to_dict(), default=str))
    assert doc["step"] == 6 and doc["ok"] is True
    assert set(doc["data"]["checksums"]) == set(available())
    text = format_result(result)
    assert step6.TITLE in text and "Pipe" in text and "mmap channel" in text
    assert 4 <= len(result.explanation) <= 6


def test_a_failure_midway_removes_the_temporary_files(monkeypatch, tmp_path):
    def boom(*args, **kwargs):
        raise RuntimeError("interrupted on purpose")

    monkeypatch.setattr(step6, "interleaved", boom)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(RuntimeError, match="on purpose"):
        run_step(6, "tiny")
    assert list(tmp_path.iterdir()) == []


def test_the_failsafe_strategy_gives_the_same_results():
    out = run_step(6, "tiny", strategy="failsafe", repeats=1)
    assert out.ok, [name for name, passed in out.checks.items() if not passed]
    assert {r.strategy for r in out.rows} == {"serial", "failsafe"}


def test_pure_python_alone_runs_no_compiled_kernel():
    out = step6.run(**step6.TINY, implementations={PURE_PYTHON: Implementation(PURE_PYTHON)})
    assert out.ok, [name for name, passed in out.checks.items() if not passed]
    assert {r.implementation for r in out.rows} == {PURE_PYTHON}
    assert set(out.data["checksums"]) == set(out.data["statistics"]) == {PURE_PYTHON}
    assert not any("compiled" in name for name in out.checks)


@pytest.mark.parametrize("kwargs, error, words", [
    ({"n": 0}, ValueError, "n must be >= 1"),
    ({"n": "x"}, TypeError, "n must be an int, not str"),
    ({"pure_payload_scale": 0}, ValueError, "pure_payload_scale must be >= 1"),
    ({"repeats": True}, TypeError, "repeats must be an int, not bool"),
    ({"seed": 2**64}, ValueError, "seed must be in"),
    ({"payload_mb": 0}, ValueError, "payload_mb must be a finite real number > 0"),
    ({"payload_mb": float("inf")}, ValueError, "payload_mb must be a finite"),
    ({"payload_mb": "8"}, TypeError, "payload_mb must be a real number, not str"),
    ({"timeout": 0}, ValueError, "timeout must be"),
    ({"timeout": -1}, ValueError, "timeout must be"),
    ({"timeout": None}, TypeError, "timeout must be a number of seconds"),
    ({"strategy": "serial"}, ValueError, "worker processes, not 'serial'"),
    ({"strategy": "threads"}, ValueError, "worker processes, not 'threads'"),
    ({"workers": 0}, ValueError, "workers must be >= 1"),
    ({"progress": None}, TypeError, "progress must be callable"),
    ({"implementations": {}}, ValueError, "must include 'pure-python'"),
])
def test_bad_parameters_are_refused_before_any_pool_starts(monkeypatch, kwargs, error, words):
    def no_pool(*args, **kw):
        raise AssertionError("a pool was opened before the parameters were checked")

    monkeypatch.setattr(step6, "open_executor", no_pool)
    with pytest.raises(error, match=words):
        step6.run(**{**step6.TINY, **kwargs})


def test_a_strategy_that_runs_whole_batches_is_refused():
    # Its submit() runs the task to its end: the consumer would wait for a message never written.
    from gilfree.registry import Capabilities, Strategy, register_strategy, unregister_strategy
    from gilfree.serial import SerialExecutor

    register_strategy(Strategy("test-batches", "a batch-only process executor, for this test",
                               lambda workers, **options: SerialExecutor(),
                               Capabilities(uses="processes", in_process=False, batches=True)))
    try:
        with pytest.raises(ValueError, match="start each task as it is submitted"):
            step6.run(**{**step6.TINY, "strategy": "test-batches"})
    finally:
        unregister_strategy("test-batches")


# ---------------------------------------------------------------------------------------------
# The header protocol


@pytest.fixture
def channel(tmp_path):
    path = tmp_path / "channel.bin"
    create_channel(path, 64)
    return path


def test_a_new_channel_is_valid_but_uncommitted(channel):
    assert os.path.getsize(channel) == HEADER_SIZE + 64
    with open_channel(channel) as mm:
        header = read_header(mm)
    assert header == Header(VERSION, 1, 0, 0)
    assert not header.committed and header.payload_bytes == 0


def test_write_then_receive_round_trip(channel):
    data = np.arange(8, dtype=np.float64)
    with open_channel(channel, writable=True) as mm:
        header = write_message(mm, data, sequence=1, record_size=8)
        assert header == Header(VERSION, 8, 8, 1) and header.committed
        assert read_header(mm) == header
        header = write_message(mm, b"abc", sequence=2)
        assert header == Header(VERSION, 1, 3, 2)
    with receive(channel, 2, timeout=1) as (got, payload):
        assert got == header and bytes(payload) == b"abc"


def test_write_file_holds_exactly_the_payload(tmp_path):
    data = np.linspace(0, 1, 100)
    path = tmp_path / "array.bin"
    header = write_file(path, data, record_size=8, sequence=7)
    assert header == Header(VERSION, 8, 100, 7)
    assert os.path.getsize(path) == HEADER_SIZE + data.nbytes
    with receive(path, 7, timeout=1) as (got, payload):
        assert got == header
        assert np.array_equal(np.frombuffer(payload, dtype=np.float64), data)


@settings(deadline=None, max_examples=50)
@given(payload=st.binary(max_size=200), record_size=st.integers(1, 8), sequence=st.integers(1, 2**64 - 1))
def test_any_whole_number_of_records_round_trips_through_a_bytearray(payload, record_size, sequence):
    payload = payload[:len(payload) - len(payload) % record_size]
    buf = bytearray(HEADER_SIZE + 200)
    init_channel(buf)
    header = write_message(buf, payload, sequence=sequence, record_size=record_size)
    assert read_header(buf) == header == Header(VERSION, record_size, len(payload) // record_size, sequence)
    assert wait_for_message(buf, sequence, timeout=0) == header
    with payload_view(buf, header) as view:
        assert bytes(view) == payload


def test_waiting_for_a_message_that_never_comes_times_out(channel):
    with open_channel(channel) as mm:
        with pytest.raises(TimeoutError, match="message 1"):
            wait_for_message(mm, 1, timeout=0.05)


def _corrupt(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def test_a_bad_magic_is_refused(channel):
    _corrupt(channel, 0, b"NOTMAGIC")
    with pytest.raises(ValueError, match="not a gilfree mmap channel"):
        with open_channel(channel):
            pass
    with open(channel, "rb") as f:
        raw = f.read()
    with pytest.raises(ValueError, match="magic"):
        read_header(raw)
    with pytest.raises(ValueError, match="magic"):
        wait_for_message(raw, 1, timeout=1)


def test_an_unknown_version_is_refused(channel):
    _corrupt(channel, 8, struct.pack("<H", VERSION + 1))
    with pytest.raises(ValueError, match="version"):
        with open_channel(channel):
            pass


def test_a_bad_header_size_is_refused(channel):
    _corrupt(channel, 10, struct.pack("<H", HEADER_SIZE + 8))
    with pytest.raises(ValueError, match="header size"):
        with open_channel(channel):
            pass


def test_a_file_shorter_than_the_header_is_refused(tmp_path):
    path = tmp_path / "short.bin"
    path.write_bytes(MAGIC)
    with pytest.raises(ValueError, match="truncated"):
        with open_channel(path):
            pass
    with pytest.raises(ValueError, match="truncated"):
        read_header(MAGIC)


def test_a_truncated_payload_is_refused(tmp_path):
    path = tmp_path / "cut.bin"
    write_file(path, bytes(range(100)), sequence=1)
    os.truncate(path, HEADER_SIZE + 50)
    with pytest.raises(ValueError, match="truncated"):
        with receive(path, 1, timeout=1):
            pass
    with pytest.raises(ValueError, match="truncated"):
        with payload_view(bytearray(HEADER_SIZE + 10), Header(VERSION, 1, 11, 1)):
            pass


def test_records_of_size_zero_are_refused():
    raw = bytearray(HEADER_SIZE)
    init_channel(raw)
    struct.pack_into("<IQ", raw, 12, 0, 5)
    with pytest.raises(ValueError, match="size 0"):
        read_header(raw)


def test_write_message_refuses_bad_input(channel):
    with open_channel(channel, writable=True) as mm:
        with pytest.raises(ValueError, match="does not fit"):
            write_message(mm, bytes(65), sequence=1)
        with pytest.raises(ValueError, match="whole number"):
            write_message(mm, bytes(10), sequence=1, record_size=8)
        with pytest.raises(ValueError, match="sequence"):
            write_message(mm, b"x", sequence=0)
        with pytest.raises(TypeError, match="sequence"):
            write_message(mm, b"x", sequence="1")
        with pytest.raises(TypeError, match="sequence"):
            write_message(mm, b"x", sequence=True)
        with pytest.raises(ValueError, match="record_size"):
            write_message(mm, b"x", sequence=1, record_size=0)
        with pytest.raises(TypeError, match="payload"):
            write_message(mm, 3, sequence=1)
        with pytest.raises(ValueError, match="C-contiguous"):
            write_message(mm, np.arange(8.0)[::2], sequence=1)
        assert read_header(mm).sequence == 0  # nothing half-written was committed
    with open_channel(channel) as mm:
        with pytest.raises(ValueError, match="read-only"):
            write_message(mm, b"x", sequence=1)
    with pytest.raises(ValueError, match="read-only"):
        write_message(bytes(HEADER_SIZE + 8), b"x", sequence=1)


def test_timeouts_and_capacities_are_checked(channel):
    with open_channel(channel) as mm:
        with pytest.raises(ValueError, match="timeout"):
            wait_for_message(mm, 1, timeout=-1)
        with pytest.raises(ValueError, match="timeout"):
            wait_for_message(mm, 1, timeout=float("nan"))
        with pytest.raises(TypeError, match="timeout"):
            wait_for_message(mm, 1, timeout="1")
    with pytest.raises(ValueError, match="capacity"):
        create_channel(channel, -1)
    with pytest.raises(TypeError, match="buf"):
        read_header(42)
    with pytest.raises(ValueError, match="read-only"):
        init_channel(bytes(HEADER_SIZE))
    with pytest.raises(ValueError, match="fewer than"):
        init_channel(bytearray(HEADER_SIZE - 1))


def test_a_channel_in_an_anonymous_mapping():
    with mmap.mmap(-1, HEADER_SIZE + 16) as mm:
        init_channel(mm)
        assert read_header(mm) == Header(VERSION, 1, 0, 0)
        header = write_message(mm, b"0123456789abcdef", sequence=3, record_size=4)
        assert wait_for_message(mm, 3, timeout=0) == header == Header(VERSION, 4, 4, 3)
        with payload_view(mm, header) as view:
            assert bytes(view) == b"0123456789abcdef"


# ---------------------------------------------------------------------------------------------
# Consumers in another process


def test_a_consumer_process_sees_the_committed_message(impl, tmp_path):
    payload = np.random.default_rng(3).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    path = str(tmp_path / "channel.bin")
    create_channel(path, len(payload))
    with open_executor("processes", 1) as consumer, open_channel(path, writable=True) as mm:
        for sequence in (1, 2):
            future = consumer.submit(checksum_from_channel, impl.name, path, sequence, 10.0)
            write_message(mm, payload, sequence=sequence, flush=sequence == 1)
            assert future.result(timeout=20) == impl.checksum(payload)
        # Nothing committed for sequence 3: the consumer gives up instead of hanging.
        future = consumer.submit(checksum_from_channel, impl.name, path, 3, 0.2)
        with pytest.raises(TimeoutError):
            future.result(timeout=20)


def test_a_consumer_process_reads_a_pipe(impl):
    payload = bytes(range(256)) * 300
    receiver, sender = multiprocessing.Pipe(duplex=False)
    try:
        with open_executor("processes", 1) as consumer:
            future = consumer.submit(checksum_from_pipe, impl.name, receiver, 10.0)
            sender.send_bytes(payload)
            assert future.result(timeout=20) == impl.checksum(payload)
    finally:
        sender.close()
        receiver.close()

