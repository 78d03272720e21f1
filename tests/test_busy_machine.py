"""On a machine whose cores other processes keep busy, every step of the lab says so first.

The issue's own test: two spinning processes that are not ours on a 2-core machine, then
``gilfree lab --quick``. Every step must open with the busy-machine line and record the reading
in its JSON (``StepResult.machine``, tested step by step).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from _hogs import hogs
from _words import opening_line

from gilfree._timing import usable_cores
from gilfree.lab import STEPS


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the reading comes from /proc")
def test_lab_quick_names_a_busy_machine_in_every_step(tmp_path) -> None:
    env = {**os.environ, "COLUMNS": "100", "TMPDIR": str(tmp_path)}
    with hogs(max(2, usable_cores()), tmp_path):  # as many spinning processes as cores
        out = subprocess.run([sys.executable, "-m", "gilfree", "lab", "--quick", "--no-progress"],
                             capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    steps = re.split(r"(?m)^(?=Step \d+: )", out.stdout)
    openings = {int(text.split(":", 1)[0].split()[1]): opening_line(text)
                for text in steps if text.startswith("Step ")}
    assert sorted(openings) == sorted(STEPS)
    for step, line in openings.items():
        assert line.startswith("Busy machine: other processes used"), (step, line)
