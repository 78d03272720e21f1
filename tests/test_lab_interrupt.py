"""Ctrl-C during any lab step: the run stops promptly, exits 130, and leaves no shared memory.

The signal goes to the whole process group, as a terminal's Ctrl-C does, so worker processes
get it too, once the run has said that it is measuring (a handshake of tests/_tracked_gilfree.py,
not a guess of the time, so the small ``--quick`` sizes do).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from _leaks import child_env, logged_segments_left, tracked_gilfree, wait_for_marker

SHM = Path("/dev/shm")
#: The steps whose data lives in shared memory by the time they measure: their check below is not empty.
SHARED_MEMORY_STEPS = (5, 7, 8)
#: (step, measurement): every step is interrupted in its first measurement; step 2 also in its
#: second. Its first opens and closes a pool in every call, so Ctrl-C lands in a pool's start-up
#: (workers that get it before they can ignore it); its second runs on pools that are open.
CASES = [*((step, 1) for step in range(1, 9)), (2, 2)]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SHM.is_dir() or os.name != "posix", reason="needs POSIX /dev/shm"),
]


@pytest.mark.parametrize("step, measurement", CASES, ids=[f"step{s}-measurement{m}" for s, m in CASES])
def test_ctrl_c_mid_step_stops_cleanly(step, measurement, tmp_path):
    log, tmpdir, cwd = tmp_path / "segments.log", tmp_path / "tmp", tmp_path / "cwd"
    cwd.mkdir()
    running = tmp_path / "running"  # the run's handshake: a measurement's timed calls begin
    with subprocess.Popen(
        tracked_gilfree(log, "lab", "--step", str(step), "--quick", "--no-progress"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**child_env(tmpdir), "GILFREE_TEST_RUNNING": str(running),
             "GILFREE_TEST_RUNNING_AT": str(measurement)}, cwd=cwd,
        start_new_session=True, text=True,
    ) as proc:
        try:
            finished_early = not wait_for_marker(proc, running)
            if not finished_early:
                os.killpg(proc.pid, signal.SIGINT)
            _, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    if finished_early:
        assert proc.returncode == 0, stderr[-2000:]
        pytest.skip(f"step {step} finished before the interrupt")
    assert proc.returncode == 130, stderr[-2000:]
    assert "interrupted" in stderr
    assert "Traceback" not in stderr, stderr[-2000:]  # not from the run, nor from a worker
    # Exactly the segments this run created (logged as they were made), not the whole of /dev/shm.
    if step in SHARED_MEMORY_STEPS:
        assert log.exists() and log.read_text().split(), "no segment before the interrupt: nothing was tested"
    assert not (left := logged_segments_left(log)), f"shared-memory segments left behind: {left}"
    assert not list(cwd.iterdir()), "files left in the working directory"
    assert not list(tmpdir.iterdir()), "files left in the run's temporary folder"
