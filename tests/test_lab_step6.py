"""Lab step 6 (mmap for IPC) at TINY size, and the Pipe it compares the mmap channel with.

The channel's own protocol is tested in tests/test_mmapipc.py.
"""

import dataclasses
import json
import multiprocessing
import tempfile

import pytest

from _leaks import track_segments
from _words import opening_line
from gilfree._load import MachineLoad
from gilfree._select import PURE_PYTHON, Implementation, available
from gilfree.experiment import Experiment
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
    assert result.checks[step6.NO_FILES]
    for impl in available():  # the runner checked every result against the serial reference
        assert all(result.checks[name] for name in result.checks if name.startswith(f"{impl}, "))
        assert result.checks[step6.name_of(impl, step6.CHANNEL, "processes")]
        assert result.checks[f"{impl}: array file header"] and result.checks[f"{impl}: channel header"]


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
    assert 5 <= len(result.explanation) <= 9
    assert result.summary[-1] == (f"Speedup column: (a) against the in-memory pass ({step6.IN_MEMORY}), (b) against "
                                  f"the checksum in the parent ({step6.IN_PARENT})")
    # TINY times each variant once: no gap is judged, and the words say so.
    assert all(r.extra["repeats"] == 1 for r in result.rows)
    explained = " ".join(result.explanation)
    assert "one repeat gives no spread" in explained
    for cause in ("split the work", "own GIL", "too little to pay", "read where it lies", "for durability",
                  "cache effect"):
        assert cause not in explained, cause
    assert doc["machine"]["cores"] >= 1 and "busy" in doc["machine"]



def test_a_busy_machine_opens_the_step(result):
    """The step records the runner's reading of the machine; a busy one is the first thing its text says."""
    assert (result.busy_line is not None) == result.machine["busy"]
    busy = MachineLoad(cores=2, seconds=1.0, others_cores=1.8, load_before=6.4, load_after=6.1)
    text = format_result(dataclasses.replace(result, machine=busy.as_dict()))
    assert opening_line(text).startswith("Busy machine: other processes used 1.8 of its 2 cores")

def test_a_failure_midway_removes_the_temporary_files(monkeypatch, tmp_path):
    def boom(*args, **kwargs):
        raise RuntimeError("interrupted on purpose")

    monkeypatch.setattr(Experiment, "measure", boom)
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
    assert step6.TWINS not in out.checks


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
# The Pipe that the step compares the channel with


@pytest.mark.parametrize("strategy", ["processes", "failsafe"])
def test_a_consumer_process_reads_a_pipe(impl, strategy):
    # failsafe pickles its tasks with multiprocessing's own pickler: the Connection's descriptor
    # travels as a duplicate, not as a number that means something else in the worker.
    payload = bytes(range(256)) * 300
    receiver, sender = multiprocessing.Pipe(duplex=False)
    try:
        with open_executor(strategy, 1) as consumer:
            future = consumer.submit(step6.apply_to_pipe_message, impl.checksum, receiver, 10.0)
            sender.send_bytes(payload)
            assert future.result(timeout=20) == impl.checksum(payload)
    finally:
        sender.close()
        receiver.close()
