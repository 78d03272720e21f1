"""The fault drill, end to end: every scenario x strategy x start method in a fresh process.

Each case is checked from outside (see :mod:`gilfree.faults`): the error that surfaced names its
cause or carries the task's traceback, every completed result came back equal to the serial
answer, no shared-memory segment is left in /dev/shm, no worker process is left alive, nothing
was printed to stderr (no resource-tracker warning), and nothing hung.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gilfree.faults import SCENARIOS, Case, cases, format_outcomes, run_case

ALL = cases()


def test_the_matrix_covers_every_scenario_strategy_and_start_method():
    import multiprocessing

    assert {c.scenario for c in ALL} == set(SCENARIOS)
    assert {c.strategy for c in ALL} == {"serial", "threads", "pool", "processes", "failsafe"}
    methods = {c.start_method for c in ALL} - {None}
    assert methods == {m for m in ("fork", "spawn", "forkserver") if m in multiprocessing.get_all_start_methods()}
    for scenario in ("worker-sigkill", "worker-segfault", "worker-exits", "parent-sigint", "parent-sigterm",
                     "parent-sigkill"):
        for strategy in ("pool", "processes", "failsafe"):
            assert {c.start_method for c in ALL if c.scenario == scenario and c.strategy == strategy} == methods


@pytest.mark.parametrize("case", ALL, ids=[c.name for c in ALL])
def test_fault_case(case: Case):
    outcome = run_case(case)
    assert outcome.ok, f"{case.name}: " + "; ".join(outcome.problems)
    assert not outcome.segments_left and not outcome.workers_left and not outcome.stderr


def test_selection_is_validated():
    with pytest.raises(ValueError, match="unknown strategy 'bogus'"):
        cases(strategies=["bogus"])
    with pytest.raises(ValueError, match="unknown scenario"):
        cases(scenarios=["meteor-strike"])
    with pytest.raises(ValueError, match="unknown start method"):
        cases(start_methods=["teleport"])
    assert cases(["threads"], None, ["worker-sigkill"]) == []  # a thread's "worker" is the process
    assert [c.name for c in cases(["failsafe"], ["spawn"], ["task-timeout"])] == ["task-timeout/failsafe/spawn"]


def test_a_failed_check_is_reported_not_hidden(monkeypatch):
    import gilfree.faults as faults

    # Expect other results than the case produces: the outcome must fail and say why.
    monkeypatch.setattr(faults, "_expectations", lambda case: (1, "KeyError", None, 3))
    outcome = run_case(Case("task-raises", "serial", None))
    assert not outcome.ok
    assert any("expected KeyError" in p for p in outcome.problems)
    assert any("exit status 0, expected 1" in p for p in outcome.problems)
    assert any("7 completed results came back, expected 3" in p for p in outcome.problems)
    assert "FAILED task-raises/serial" in format_outcomes([outcome])


def test_cli_runs_a_selection_and_reports_json():
    out = subprocess.run(
        [sys.executable, "-m", "gilfree", "faults", "--strategy", "failsafe", "--start-method", "spawn",
         "--scenario", "worker-sigkill", "--scenario", "clean", "--json", "--no-progress"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["ok"] is True
    assert [c["case"] for c in doc["cases"]] == ["worker-sigkill/failsafe/spawn", "clean/failsafe/spawn"]
    assert "WorkerDied" in doc["cases"][0]["error"] and doc["cases"][1]["error"] is None


def test_cli_lists_scenarios_and_refuses_unknown_names():
    listed = subprocess.run([sys.executable, "-m", "gilfree", "faults", "--list"],
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0
    assert all(name in listed.stdout for name in SCENARIOS)
    bad = subprocess.run([sys.executable, "-m", "gilfree", "faults", "--strategy", "bogus"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown strategy" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_parent_sigint_works_when_the_drill_starts_with_sigint_ignored():
    """``nohup gilfree faults &``: an ignored SIGINT is inherited across exec, and Python then
    installs no Ctrl-C handler; the case restores it, so the interrupt is tested, not ignored."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # what the case processes inherit
    try:
        outcome = run_case(Case("parent-sigint", "failsafe", "fork" if "fork" in _methods() else "spawn"),
                           timeout=60)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert outcome.ok, "; ".join(outcome.problems)
    assert outcome.exit_code == 130


def _methods() -> list[str]:
    import multiprocessing

    return multiprocessing.get_all_start_methods()


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="segments as files in /dev/shm")
def test_what_a_case_leaves_behind_is_reported_then_removed(monkeypatch):
    """A leftover segment (here one the test made, reported as the case's) is named in the
    outcome, then unlinked; a leftover process is named, then killed."""
    from multiprocessing import resource_tracker, shared_memory

    import gilfree.faults as faults

    segment = shared_memory.SharedMemory(create=True, size=4096)
    path = Path("/dev/shm", segment.name.lstrip("/"))
    sleeper = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    real_segments_left = faults._segments_left
    monkeypatch.setattr(faults, "_segments_left", lambda names: real_segments_left([segment.name]))
    monkeypatch.setattr(faults, "_workers_left", lambda pids, wait_s=5.0: [sleeper.pid])
    try:
        outcome = run_case(Case("clean", "serial", None))
        assert not outcome.ok
        assert outcome.segments_left == [segment.name]
        assert any(segment.name in p for p in outcome.problems)
        assert not path.exists(), "the drill reported the segment but left it"
        assert outcome.workers_left == [sleeper.pid]
        assert sleeper.wait(timeout=30) == -signal.SIGKILL
    finally:
        segment.close()
        if path.exists():
            segment.unlink()
        else:  # removed by the drill: this process's tracker must not report it at exit
            resource_tracker.unregister(segment._name, "shared_memory")  # type: ignore[attr-defined]
        if sleeper.poll() is None:
            sleeper.kill()
        sleeper.wait()
        if sleeper.stdin is not None:
            sleeper.stdin.close()


def test_only_cpythons_reentrant_tracker_warning_is_forgiven():
    """CPython's own race (python/cpython#131788, frequent on free-threaded 3.13 before 3.13.7)
    is dropped from a case's stderr; a leak the tracker reports at exit, and anything else, stays."""
    from gilfree.faults import _without_reentrant_tracker_warning

    tracker = "/usr/lib/python3.13t/multiprocessing/resource_tracker.py"
    reentrant = (f"{tracker}:226: UserWarning: ResourceTracker called reentrantly for resource cleanup, "
                 "which is unsupported. The semaphore object '/mp-r718go6_' might leak.\n  warnings.warn(\n")
    leaked = (f"{tracker}:279: UserWarning: resource_tracker: There appear to be 1 leaked semaphore "
              "objects to clean up at shutdown: {'/mp-r718go6_'}\n  warnings.warn(\n")
    other = "Traceback (most recent call last):\n  File \"x.py\", line 1\nKeyError: 3\n"
    assert _without_reentrant_tracker_warning(reentrant * 2) == ""
    assert _without_reentrant_tracker_warning(reentrant + leaked) == leaked
    assert _without_reentrant_tracker_warning(leaked + reentrant + other) == leaked + other
