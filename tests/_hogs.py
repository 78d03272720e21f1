"""Other people's work, for the tests of a busy machine: spinning processes that are not ours.

The shell starts each hog in the background and exits, so the hogs are orphans, no longer below
the test's process (as another user's programs would not be). Each writes "ready" once it spins;
the caller waits for every one of them (a handshake, not a sleep) and the hogs are killed on exit.

Run as a script, it keeps the machine busy around a command (CI's busy-machine pass, ``.ci/busy``)::

    python tests/_hogs.py [--count N] [--limit SECONDS] -- COMMAND [ARGS...]

starts N hogs (default: one per usable core, at least two), waits until every one spins, runs
COMMAND, kills the hogs and exits with COMMAND's status. The hogs never outlive ``--limit``
seconds, even if this script is killed with SIGKILL and cannot kill them itself.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
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


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # through the ``finally`` that kills the hogs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tests/_hogs.py",
                                     description="run a command while spinning processes keep every core busy")
    parser.add_argument("--count", type=int, default=max(2, _usable_cores()),
                        help="how many spinning processes (default: one per usable core, at least 2)")
    parser.add_argument("--limit", type=float, default=3600.0,
                        help="seconds after which a hog stops by itself (default 3600)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("name the command to run after --")
    if args.count < 1 or args.limit <= 0:
        parser.error("--count and --limit must be positive")
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop)
    with tempfile.TemporaryDirectory(prefix="gilfree-hogs-") as folder, \
            hogs(args.count, Path(folder), args.limit) as pids:
        print(f"hogs: {len(pids)} spinning processes ({', '.join(map(str, pids))}) on "
              f"{_usable_cores()} usable cores", file=sys.stderr, flush=True)
        try:
            return subprocess.call(command)
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    sys.exit(main())
