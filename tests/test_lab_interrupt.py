"""Ctrl-C during any lab step: the run stops promptly, exits 130, and leaves no shared memory.

The signal goes to the whole process group, as a terminal's Ctrl-C does, so worker processes
get it too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SHM = Path("/dev/shm")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SHM.is_dir() or os.name != "posix", reason="needs POSIX /dev/shm"),
]


def _segments() -> set[str]:
    return {p.name for p in SHM.iterdir() if p.name.startswith("psm_")}


@pytest.mark.parametrize("step", range(1, 9))
def test_ctrl_c_mid_step_stops_cleanly(step, tmp_path):
    before = _segments()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if env.get("PYTHONPATH"):  # the child runs elsewhere: keep relative entries pointing here
        env["PYTHONPATH"] = os.pathsep.join(str(Path(p).resolve()) for p in env["PYTHONPATH"].split(os.pathsep))
    with subprocess.Popen(
        [sys.executable, "-m", "gilfree", "lab", "--step", str(step), "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tmp_path,
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
    deadline = time.monotonic() + 3
    while (left := _segments() - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    # Only segments that persist count: other processes on the machine may be mid-run.
    assert not left, f"shared-memory segments left behind: {sorted(left)}"
    assert not list(tmp_path.iterdir()), "files left in the working directory"
