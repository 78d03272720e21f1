"""Lab step 1 (the GIL and CPU-bound threads) at TINY size, and what its arguments must be.

``result`` runs the step on pure Python alone, and again with the compiled twin beside it (skipped
with ``--no-c-extensions`` or where it is not built): the caller decides which twins run.
"""

import dataclasses
import json
import pickle

import pytest

from _words import ratios, opening_line
from gilfree._load import MachineLoad
from gilfree._select import C_EXTENSION, PURE_PYTHON, Implementation
from gilfree.figures import x
from gilfree.lab import format_result, run_step
from gilfree.lab.step1_gil import HOLDING, NOGIL, PURE, TITLE, run


@pytest.fixture(scope="module")
def result(ran):
    return run_step(1, "tiny", implementations=ran)


def test_rows_cover_the_implementations_asked_for_and_no_others(result, ran):
    assert {r.implementation for r in result.rows} == set(ran)
    seen = {(r.variant, r.strategy) for r in result.rows}
    expected = {(PURE, "serial"), (PURE, "threads"), (PURE, "processes")}
    if C_EXTENSION in ran:
        expected |= {(v, s) for v in (NOGIL, HOLDING) for s in ("serial", "threads")}
    assert seen == expected
    assert result.ok, [name for name, ok in result.checks.items() if not ok]
    assert set(result.checks) == {f"{v}, {s}" for v, s in expected}  # checks by short names
    assert all(result.check_sentences[name].startswith(name) for name in result.checks)
    assert (result.params["kernel_n"] is None) == (C_EXTENSION not in ran)


def test_json_round_trip_and_text(result, ran):
    doc = json.loads(json.dumps(result.to_dict(), default=str))
    assert doc["step"] == 1 and doc["ok"] is True
    assert set(doc["machine"]) >= {"busy", "others_cores", "line"}
    text = format_result(result)
    assert TITLE in text and "Thread speedup" in text
    assert len(result.explanation) == 3
    if C_EXTENSION not in ran:
        assert "did not run" in result.explanation[-1]


def test_every_row_has_its_own_figures(result):
    """speedup against the serial row of the same variant; ns/elem the row's own wall time per element."""
    k = result.params["workers"]
    for row in result.rows:
        serial = next(r for r in result.rows if r.variant == row.variant and r.strategy == "serial")
        assert row.speedup == pytest.approx(serial.seconds / row.seconds)
        assert row.extra["ns/elem"] == pytest.approx(row.seconds / (row.extra["n per call"] * k) * 1e9)
        assert row.cpu_seconds is not None


def test_the_words_state_the_rows_figures(result):
    """Every ratio of the summary says what it is against, and the threads' ratio is the row's."""
    threads = next(r for r in result.rows if r.variant == PURE and r.strategy == "threads")
    speedup_line = next(line for line in result.summary if line.startswith("Thread speedup"))
    assert ratios(speedup_line) == ratios(x(threads.speedup)) and "against serial" in speedup_line
    assert f"{x(threads.speedup)} against serial" in result.explanation[0]
    processes = next(r for r in result.rows if r.variant == PURE and r.strategy == "processes")
    assert f"{x(processes.speedup)} against serial" in result.explanation[1]


def test_kernels_travel_as_functions_by_reference(impl):
    blob = pickle.dumps(impl.cpu_bound)
    assert len(blob) < 100 and pickle.loads(blob) is impl.cpu_bound


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"n": "x"}, TypeError, "n must be an int"),
    ({"n": 2.0}, TypeError, "n must be an int"),
    ({"n": 0}, ValueError, "n must be >= 1"),
    ({"repeats": True}, TypeError, "repeats must be an int, not bool"),
    ({"repeats": 0}, ValueError, "repeats must be >= 1"),
    ({"kernel_scale": 0}, ValueError, "kernel_scale must be >= 1"),
    ({"workers": 0}, ValueError, "workers must be >= 1"),
    ({"workers": "2"}, TypeError, "workers must be an int"),
])
def test_bad_parameters(kwargs, error, fragment):
    params = {"n": 10, "workers": 2, "repeats": 1, **kwargs}
    with pytest.raises(error, match=fragment):
        run(**params)


@pytest.mark.parametrize("implementations, error, fragment", [
    ([PURE_PYTHON], TypeError, "implementations must be a mapping"),
    ({}, ValueError, "must include 'pure-python'"),
    ({"pypy": None}, ValueError, "must be named"),
    ({PURE_PYTHON: "pure"}, TypeError, r"implementations\['pure-python'\] must be a gilfree._select.Implementation"),
])
def test_bad_implementations(implementations, error, fragment):
    with pytest.raises(error, match=fragment):
        run(n=10, workers=2, repeats=1, implementations=implementations)


def test_progress_counts_every_call_up_to_its_total():
    calls = []
    run(n=1000, workers=2, kernel_scale=2, repeats=2, implementations={PURE_PYTHON: Implementation(PURE_PYTHON)},
        progress=lambda done, total, label: calls.append((done, total, label)))
    assert [done for done, _, _ in calls] == list(range(1, 3 * 3 + 1))  # 3 variants, warm-up and 2 repeats
    assert {total for _, total, _ in calls} == {9}
    assert {label for _, _, label in calls} == {f"{PURE}, {s}" for s in ("serial", "threads", "processes")}


def test_a_busy_machine_opens_the_step(result):
    """The step records the machine's reading; a busy one is the first thing its text says."""
    busy = MachineLoad(cores=2, seconds=1.0, others_cores=1.8, load_before=6.4, load_after=6.1)
    text = format_result(dataclasses.replace(result, machine=busy.as_dict()))
    assert opening_line(text).startswith("Busy machine: other processes used 1.8 of its 2 cores")
