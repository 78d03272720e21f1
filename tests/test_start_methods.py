"""Every lab step works under every start method (fork, spawn, forkserver).

Python 3.14 moved Linux's default from fork to forkserver, and macOS and Windows use spawn: code
that only ever ran under fork (tasks defined in ``__main__``, state inherited instead of sent)
breaks there. Each start method runs the whole lab at tiny sizes in a fresh interpreter whose
default start method is set first, as ``gilfree lab --start-method NAME`` does.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys

import pytest

METHODS = [m for m in ("fork", "spawn", "forkserver") if m in multiprocessing.get_all_start_methods()]

_PROGRAM = """
import json, multiprocessing, sys
multiprocessing.set_start_method(sys.argv[1], force=True)
from gilfree.lab import STEPS, run_step
out = {}
for step in sorted(STEPS):
    result = run_step(step, "tiny")
    out[step] = [name for name, ok in result.checks.items() if not ok] if not result.ok else []
print(json.dumps({"method": multiprocessing.get_start_method(), "failed": out}))
"""


@pytest.mark.parametrize("method", METHODS)
def test_every_lab_step_under_start_method(method):
    run = subprocess.run([sys.executable, "-W", "error", "-c", _PROGRAM, method],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    doc = json.loads(run.stdout.strip().splitlines()[-1])
    assert doc["method"] == method
    assert doc["failed"] == {str(s): [] for s in range(1, 9)}
    assert run.stderr == ""  # no warning of any kind (a leaked segment, fork with threads...)


def test_cli_accepts_a_start_method_and_refuses_unknown_ones():
    bad = subprocess.run([sys.executable, "-m", "gilfree", "lab", "--start-method", "teleport"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    ok = subprocess.run([sys.executable, "-m", "gilfree", "lab", "--step", "2", "--quick", "--json",
                         "--no-progress", "--start-method", METHODS[-1]],
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert json.loads(ok.stdout)["ok"] is True
