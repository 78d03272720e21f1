"""Ctrl-C during any lab step: the run stops promptly, exits 130, and leaves no shared memory.

The signal goes to the whole process group, as a terminal's Ctrl-C does, so worker processes
get it too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from _leaks import child_env, logged_segments_left, tracked_gilfree

SHM = Path("/dev/shm")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SHM.is_dir() or os.name != "posix", reason="needs POSIX /dev/shm"),
]


@pytest.mark.parametrize("step", range(1, 9))
def test_ctrl_c_mid_step_stops_cleanly(step, tmp_path):
    log, tmpdir, cwd = tmp_path / "segments.log", tmp_path / "tmp", tmp_path / "cwd"
    cwd.mkdir()
    with subprocess.Popen(
        tracked_gilfree(log, "lab", "--step", str(step), "--no-progress"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=child_env(tmpdir), cwd=cwd,
        start_new_session=True, text=True,
    ) as proc:
        try:
            time.sleep(1.5)  # default sizes: every step is still running by then
            finished_early = proc.poll() is not None
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
    # Exactly the segments this run created (logged as they were made), not the whole of /dev/shm.
    assert not (left := logged_segments_left(log)), f"shared-memory segments left behind: {left}"
    assert not list(cwd.iterdir()), "files left in the working directory"
    assert not list(tmpdir.iterdir()), "files left in the run's temporary folder"
