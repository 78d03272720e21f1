"""Workers die with their parent (issue 11, point 3): gilfree._lifeline's pipe and death signal.

A child Python process opens a gilfree process pool, runs tasks, prints its workers' pids and
"ready", then blocks; the test kills it with SIGKILL (as the out-of-memory killer does) and
every worker, and every other process the child started, must be gone within a bounded wait.
One of its workers is busy in a task when that happens: sleeping, or (on Linux) in a long C
call that holds the GIL, where only the kernel's death signal can end it. ``gilfree lab``
steps 5 and 8 are killed the same way, mid-measurement, on every start method.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from gilfree import _lifeline
from gilfree.strategies import open_executor

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes and signals")

STRATEGIES = ["failsafe", "pool", "processes"]
METHODS = [m for m in ("fork", "spawn", "forkserver") if m in multiprocessing.get_all_start_methods()]
GONE_WITHIN_S = 5.0  # a deadline for the poll, not an expected duration
HANDSHAKE_S = 120.0  # a deadline for the child's "ready", so that a hang fails instead of blocking


def _lines(fd: int, timeout: float) -> Iterator[str]:
    """Lines read from ``fd`` until end of file or ``timeout`` seconds, whichever comes first."""
    deadline = time.monotonic() + timeout
    pending = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return
        data = os.read(fd, 65536)
        if not data:
            return
        pending += data
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode(errors="replace")

_CHILD = textwrap.dedent("""
    import multiprocessing, os, sys, time
    from multiprocessing.shared_memory import SharedMemory
    from gilfree.strategies import open_executor

    def say(*words):  # one write per line: the workers share this stdout
        os.write(1, (" ".join(map(str, words)) + "\\n").encode())

    def block():
        say("busy", os.getpid())
        time.sleep(3600)

    def hold_the_gil():  # one C call that never gives the GIL back: the lifeline thread is stuck
        say("busy", os.getpid())
        sum(range(10 ** 15))

    def main():
        strategy, method, mode = sys.argv[1], sys.argv[2], sys.argv[3]
        replace = mode == "replace"
        with open_executor(strategy, 2, start_method=method) as ex:
            assert sorted(ex.map(abs, [-1, -2, -3, -4])) == [1, 2, 3, 4]
            if replace:  # kill the workers: the dispatcher thread starts their replacements
                first = {p.pid for p in multiprocessing.active_children()}
                for pid in first:
                    os.kill(pid, 9)
                while True:  # a task sent to a dead worker fails; its replacement's succeeds
                    try:
                        if ex.submit(os.getpid).result() not in first:
                            break
                    except Exception:
                        pass
            # One worker busy in a task, the other idle, when the parent dies.
            ex.submit(hold_the_gil if mode == "gil" else block)
            segment = SharedMemory(create=True, size=4096)  # the resource tracker's to remove
            say("shm", segment.name)
            pids = [p.pid for p in multiprocessing.active_children()]
            say("pids", *pids)
            say("ready")
            sys.stdin.read()  # blocks until the test kills us

    if __name__ == "__main__":
        main()
""")


def _state(pid: int) -> str | None:
    """The process's state letter from /proc, None when it is gone (or /proc is not there)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _alive(pid: int) -> bool:
    if Path("/proc/self/stat").exists():
        state = _state(pid)
        return state is not None and state not in ("Z", "X")  # a zombie has exited
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _descendants(root: int) -> set[int]:
    """Every process below ``root`` (Linux /proc); empty elsewhere."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir() if Path("/proc/self/stat").exists() else []:
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def _wait_gone(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    while True:
        alive = {pid for pid in pids if _alive(pid)}
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.02)  # a poll interval inside a deadline loop, not a synchronisation


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_workers_exit_when_parent_is_sigkilled(strategy: str, method: str, tmp_path: Path) -> None:
    _kill_parent_and_check(strategy, method, "first", tmp_path)


@pytest.mark.parametrize("method", METHODS)
def test_replacement_workers_exit_when_parent_is_sigkilled(method: str, tmp_path: Path) -> None:
    """Replacements are started by FailSafePool's dispatcher thread (by forkserver under fork)."""
    _kill_parent_and_check("failsafe", method, "replace", tmp_path)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's death signal is Linux's")
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_worker_holding_the_gil_dies_with_its_parent(strategy: str, method: str, tmp_path: Path) -> None:
    """The lifeline thread cannot run while the task holds the GIL: the kernel's signal ends it."""
    _kill_parent_and_check(strategy, method, "gil", tmp_path)


def _kill_parent_and_check(strategy: str, method: str, mode: str, tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    errors = (tmp_path / "stderr").open("w")  # the resource tracker reports the leaked segment
    child = subprocess.Popen([sys.executable, str(script), strategy, method, mode], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=errors, env=env,
                             start_new_session=True)
    pids: set[int] = set()
    segment: Path | None = None
    everything: set[int] = set()
    try:
        assert child.stdout is not None
        ready = busy = False
        seen: list[str] = []
        for line in _lines(child.stdout.fileno(), HANDSHAKE_S):  # the pool is up, one worker busy
            seen.append(line)
            if line.startswith("pids"):
                pids = {int(p) for p in line.split()[1:]}
            if line.startswith("shm"):
                segment = Path("/dev/shm", line.split()[1].lstrip("/"))
            busy = busy or line.startswith("busy")
            ready = ready or line.strip() == "ready"
            if ready and busy:
                break
        else:
            pytest.fail(f"no handshake within {HANDSHAKE_S} s (status {child.poll()}); read {seen}; "
                        f"stderr: {(tmp_path / 'stderr').read_text()}")
        assert pids, "the child listed no worker processes"
        everything = pids | _descendants(child.pid)  # the fork server, the resource tracker too
        child.kill()
        child.wait()
        left = _wait_gone(everything, GONE_WITHIN_S)
        assert not left, f"still alive {GONE_WITHIN_S} s after the parent's SIGKILL: {sorted(left)}"
        if segment is not None and Path("/dev/shm").is_dir():  # gone with the resource tracker
            assert not segment.exists(), f"{segment} left behind after every process had gone"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for stream in (child.stdin, child.stdout, errors):
            if stream is not None:
                stream.close()
        if segment is not None and segment.exists():  # only if the test failed
            segment.unlink()
        for pid in pids | everything:  # only if the test failed: leave no orphan behind
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _pid() -> int:
    return os.getpid()


def _pid_and_death_signal() -> tuple[int, int | None]:
    return os.getpid(), _lifeline.death_signal()


def _in_a_thread(fn: Callable[[], Any]) -> Any:
    """``fn()`` run in a new thread that has ended by the time this returns."""
    out: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return out[0]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_workers_outlive_the_thread_that_started_them(strategy: str, method: str) -> None:
    """The PR_SET_PDEATHSIG trap: the kernel's parent is the *thread* that started the worker.

    ProcessPoolExecutor starts its workers at the first submit, here from a thread that ends
    before the next task; the worker must still be there to run it.
    """
    with open_executor(strategy, 1, start_method=method) as ex:
        first = _in_a_thread(lambda: ex.submit(_pid).result(timeout=60))
        assert ex.submit(_pid).result(timeout=60) == first  # the same worker, still alive


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_pool_built_in_a_short_lived_thread_keeps_its_workers(strategy: str, method: str) -> None:
    """Workers created by a thread that has ended live on, and still leave with the process."""

    def build() -> tuple[Any, Any, int]:
        cm = open_executor(strategy, 1, start_method=method)
        ex = cm.__enter__()
        return cm, ex, ex.submit(_pid).result(timeout=60)

    cm, ex, pid = _in_a_thread(build)
    try:
        assert ex.submit(_pid).result(timeout=60) == pid
    finally:
        cm.__exit__(None, None, None)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's death signal is Linux's")
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_death_signal_is_set_only_where_the_starting_thread_lasts(strategy: str, method: str) -> None:
    """SIGKILL on the parent's death for workers started by the main thread (and always under
    forkserver, whose server is single-threaded); none for workers a passing thread started,
    which keep the lifeline alone."""
    with open_executor(strategy, 1, start_method=method) as ex:
        _, from_main = ex.submit(_pid_and_death_signal).result(timeout=60)
    assert from_main == signal.SIGKILL

    def from_a_thread() -> int | None:
        with open_executor(strategy, 1, start_method=method) as ex:
            return ex.submit(_pid_and_death_signal).result(timeout=60)[1]

    assert _in_a_thread(from_a_thread) == (signal.SIGKILL if method == "forkserver" else 0)


@pytest.mark.skipif("forkserver" not in METHODS, reason="no forkserver here")
def test_the_process_running_the_fork_server_keeps_its_alive_pipe() -> None:
    """Only a child of the fork server gives up its copy of the server's "alive" pipe."""
    from gilfree import _compat

    with open_executor("failsafe", 1, start_method="forkserver") as ex:
        assert ex.submit(_pid).result(timeout=60) != os.getpid()
        assert not _compat.close_fork_server_keepalive()  # here the server's own pipe: kept
        assert ex.submit(_pid).result(timeout=60) != os.getpid()
    with open_executor("failsafe", 1, start_method="forkserver") as ex:  # the server still serves
        assert ex.submit(_pid).result(timeout=60) != os.getpid()


def test_forked_children_do_not_hold_the_write_end() -> None:
    end = _lifeline.child_end()
    assert _lifeline.child_end() is end  # once per process
    write_fd = _lifeline._write_fd
    pid = os.fork()
    if pid == 0:  # the child: its copy of the write end is already closed
        try:
            os.fstat(write_fd)
        except OSError:
            os._exit(0 if _lifeline._end is None else 3)
        os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    os.fstat(write_fd)  # the parent's own is untouched


def test_the_write_end_is_not_inherited_across_exec() -> None:
    _lifeline.child_end()
    assert not os.get_inheritable(_lifeline._write_fd)


# -- kill -9 of a running `gilfree lab` ---------------------------------------------------------

def _group(pgid: int) -> dict[int, tuple[int, str]]:
    """The live (not zombie) processes of process group ``pgid``, from Linux /proc:
    pid -> (parent pid, command line)."""
    members: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                members[int(entry.name)] = (int(fields[1]), command)
    return members


def _workers(pgid: int) -> set[int]:
    """The worker processes in the group of the run led by ``pgid``: not the run itself, its
    resource tracker or its fork server (a forkserver worker is the server's child)."""
    members = _group(pgid)
    return {pid for pid, (parent, command) in members.items()
            if pid != pgid and "resource_tracker" not in command
            and not (parent == pgid and "forkserver" in command)}


def _group_gone(pgid: int, timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    while True:
        left = _group(pgid)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.02)  # a poll interval inside a deadline loop, not a synchronisation


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists() or not Path("/dev/shm").is_dir(),
                    reason="reads the process table in /proc and the segments in /dev/shm")
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("step", [5, 8])
def test_kill_9_of_a_lab_step_leaves_no_process_and_no_segment(step: int, method: str, tmp_path: Path) -> None:
    """``kill -9`` of ``gilfree lab --step 5`` (shared memory) or ``--step 8`` (every strategy at
    once), mid-measurement: every process of the run and every segment it made are gone soon after.

    The run's own processes are its process group (started in a session of its own); its
    segments are the ones tests/_tracked_gilfree.py logged as they were made. The resource
    tracker removes them once the last process holding its pipe is gone. The handshake: every
    pool's worker processes are up and a segment exists, while the GILFREE_TEST_MEASURING marker (written
    when a step's one measurement has ended) is not there yet: the kill lands mid-measurement.
    """
    from _leaks import child_env, logged_segments_left, tracked_gilfree

    log, marker, cwd = tmp_path / "segments.log", tmp_path / "measured", tmp_path / "cwd"
    cwd.mkdir()
    env = {**child_env(tmp_path / "tmp"), "GILFREE_TEST_MEASURING": str(marker)}
    args = tracked_gilfree(log, "lab", "--step", str(step), "--start-method", method, "--workers", "2",
                           "--no-progress")
    # Step 5 runs one process pool; step 8 one of each process strategy (pool, processes, failsafe).
    need = 2 if step == 5 else 6
    errors = (tmp_path / "stderr").open("w")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=errors, env=env, cwd=cwd,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + HANDSHAKE_S
        while proc.poll() is None and time.monotonic() < deadline and not marker.exists() \
                and not (log.exists() and log.read_text().split() and len(_workers(proc.pid)) >= need):
            time.sleep(0.02)  # polling for the run's state, bounded by the deadline
        assert proc.poll() is None, f"the run ended before the SIGKILL: {(tmp_path / 'stderr').read_text()[-2000:]}"
        assert not marker.exists(), "the run had finished measuring before the SIGKILL: not mid-run"
        assert len(_workers(proc.pid)) >= need, f"not {need} workers within {HANDSHAKE_S} s: nothing was tested"
        proc.kill()  # the main process alone, as the out-of-memory killer does
        proc.wait()
        left = _group_gone(proc.pid, GONE_WITHIN_S)
        assert not left, f"processes of the run alive {GONE_WITHIN_S} s after its SIGKILL: {left}"
        assert not (kept := logged_segments_left(log)), f"left in /dev/shm: {kept}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        errors.close()
        for pid in _group(proc.pid):  # only if the test failed: leave no orphan behind
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for name in (log.read_text().split() if log.exists() else []):  # likewise
            Path("/dev/shm", name).unlink(missing_ok=True)
