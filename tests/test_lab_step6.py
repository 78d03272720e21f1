"""Lab step 6 (mmap for IPC) at TINY size, and the Pipe it compares the mmap channel with.

The channel's own protocol is tested in tests/test_mmapipc.py.
"""

import json
import multiprocessing
import tempfile

import pytest

from _leaks import track_segments
from gilfree._select import available
from gilfree._workers import checksum_from_pipe
from gilfree.lab import format_result, run_step
from gilfree.lab import step6_mmap as step6
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


@pytest.mark.parametrize("kwargs, error", [
    ({"n": 0}, ValueError),
    ({"payload_mb": 0}, ValueError),
    ({"timeout": 0}, ValueError),
    ({"strategy": "serial"}, ValueError),
    ({"workers": 0}, ValueError),
])
def test_bad_parameters_are_refused_before_any_work(kwargs, error):
    with pytest.raises(error):
        step6.run(**{**step6.TINY, **kwargs})


# ---------------------------------------------------------------------------------------------
# The Pipe that the step compares the channel with


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
