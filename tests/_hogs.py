"""Other people's work, for the tests of a busy machine: spinning processes that are not ours.

The shell starts each hog in the background and exits, so the hogs are orphans, no longer below
the test's process (as another user's programs would not be). Each writes "ready" once it spins;
the caller waits for every one of them (a handshake, not a sleep) and the hogs are killed on exit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HOG = ("import os, sys, time; os.write(1, b'ready\\n'); end = time.monotonic() + float(sys.argv[1])\n"
       "while time.monotonic() < end: pass\n")


@contextmanager
def hogs(count: int, folder: Path, seconds: float = 300.0) -> Iterator[list[int]]:
    """``count`` spinning processes, not below this one, for at most ``seconds``; yields their pids."""
    script = folder / "hog.py"
    script.write_text(HOG)
    hog = f'"{sys.executable}" "{script}" {seconds}'
    command = "; ".join(f"{hog} & echo $!" for _ in range(count))
    launcher = subprocess.Popen(["sh", "-c", command], stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert launcher.stdout is not None
    pids: list[int] = []
    try:
        pids = [int(launcher.stdout.readline()) for _ in range(count)]
        launcher.wait()
        ready = [launcher.stdout.readline().strip() for _ in range(count)]
        assert ready == ["ready"] * count, ready
        yield pids
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        launcher.stdout.close()
        launcher.wait()
