"""The fault drill: the ways a parallel run goes wrong, tried on this machine, checked from outside.

Every case runs in a fresh Python process (``python -m gilfree.faults CASE``) that shares an
array through :class:`gilfree.shm.SharedArray`, opens an executor with
:func:`gilfree.strategies.open_executor` (one strategy, one start method), runs one task per
chunk with :func:`gilfree.chunked.run_chunks`, and injects one fault: a task that raises, a
worker killed by SIGKILL (what the out-of-memory killer sends), a worker that segfaults or calls
``os._exit``, a task that hangs past its timeout, an exception in the parent, Ctrl-C or SIGTERM
sent to the parent mid-run, the parent killed with SIGKILL. The driver (:func:`run_case`,
:func:`drill`, ``gilfree faults``) then checks from outside what a user would see:

* the error that surfaced, and that it names the cause (the worker's signal or exit status) or
  carries the worker's traceback;
* how long the fault took to surface (a hang is a failure);
* completed results: the faulty task waits until the parent holds every other result, so
  exactly those must come back, each equal to the serial answer;
* leftovers: no shared-memory segment in /dev/shm, no worker process alive, nothing on stderr
  (no resource-tracker "leaked shared_memory" warning, no stray traceback).

A parent killed with SIGKILL reports nothing and cleans nothing up: there the check is that,
:data:`PARENT_GONE_WITHIN_S` seconds after the kill, no process of the run is left (the case
runs in a process group of its own: workers, fork server, resource tracker) and none of its
segments is in /dev/shm (the resource tracker removes them, once the last process holding its
pipe is gone, with its "leaked shared_memory" warning, which is expected there).

Whatever a case leaves behind (segments, processes) is reported, then removed. A case's
process restores Python's Ctrl-C handler if it started with SIGINT ignored (``nohup``, a
shell's ``&``: an ignored signal stays ignored across ``exec``), so that ``parent-sigint``
tests an interrupt, not its absence.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

__all__ = ["Case", "Outcome", "SCENARIOS", "cases", "drill", "format_outcomes", "run_case"]

#: What each scenario does, in a few words.
SCENARIOS = {
    "clean": "no fault: the reference run",
    "task-raises": "a task raises ValueError",
    "parent-raises": "the parent raises while tasks run",
    "worker-sigkill": "a worker is killed by SIGKILL mid-task (as the out-of-memory killer does)",
    "worker-segfault": "a worker crashes with a segmentation fault mid-task",
    "worker-exits": "a task calls os._exit(3)",
    "task-timeout": "a task hangs; the pool's task_timeout stops it",
    "parent-sigint": "Ctrl-C (SIGINT) reaches the parent mid-run",
    "parent-sigterm": "SIGTERM reaches the parent mid-run",
    "parent-sigkill": "the parent is killed with SIGKILL mid-run (as the out-of-memory killer does)",
}

_WORKER_FAULTS = ("worker-sigkill", "worker-segfault", "worker-exits")
#: Scenarios whose driver acts on the parent when the case says "ready", and the signal's name:
#: looked up in :mod:`signal` when sent, since SIGKILL is POSIX-only (Windows has no such name).
_PARENT_SIGNALS = {"parent-sigint": "SIGINT", "parent-sigterm": "SIGTERM", "parent-sigkill": "SIGKILL"}
#: How long after the parent's SIGKILL every process of the run and its segments must be gone.
PARENT_GONE_WITHIN_S = 2.0

CHUNKS = 8
CHUNK_ELEMENTS = 4096
#: How long the faulty task waits for the parent to hold every other result before it gives up.
_ACK_WAIT_S = 30.0
#: How long a "hanging" task sleeps: process workers are stopped long before; a thread cannot be
#: stopped from outside, so on a strategy that uses threads it ends on its own after a short while.
_HANG_THREADS_S = 1.5
_HANG_DEFAULT_S = 120.0
_CASE_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class Case:
    scenario: str
    strategy: str
    start_method: str | None  # None for the in-process strategies

    @property
    def name(self) -> str:
        return f"{self.scenario}/{self.strategy}" + (f"/{self.start_method}" if self.start_method else "")


@dataclass
class Outcome:
    case: Case
    ok: bool
    problems: list[str]
    exit_code: int | None
    error: str | None
    completed: int
    expected_completed: int | str
    seconds: float
    fault_to_exit_s: float | None = None
    segments_left: list[str] = field(default_factory=list)
    workers_left: list[int] = field(default_factory=list)
    stderr: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["case"] = self.case.name
        return out


def _capabilities(strategy: str) -> Any:
    from .registry import get_strategy

    return get_strategy(strategy).capabilities


def drill_strategies() -> tuple[str, ...]:
    """The strategies the drill runs by default: every registered one usable here but the peers.

    Peers (joblib) come as their library ships them, with none of gilfree's guarantees; name one
    with ``--strategy`` to see what it does.
    """
    from .registry import strategy_names

    return strategy_names(available_only=True, peers=False)


def applies(scenario: str, strategy: str) -> bool:
    """Whether ``scenario`` makes sense for ``strategy``, from what the strategy declares."""
    caps = _capabilities(strategy)
    if scenario in _WORKER_FAULTS:
        return bool(caps.uses == "processes")  # a "worker" of serial or threads is the process itself
    if scenario == "task-timeout":
        return bool(caps.can_stop_task)  # only a pool that can stop a single task
    return True


def cases(strategies: Iterable[str] | None = None, start_methods: Iterable[str] | None = None,
          scenarios: Iterable[str] | None = None) -> list[Case]:
    """Every applicable (scenario, strategy, start method), in a stable order."""
    from .registry import strategy_names

    available = multiprocessing.get_all_start_methods()
    strategies = list(strategies or drill_strategies())
    methods = list(start_methods or [m for m in ("fork", "spawn", "forkserver") if m in available])
    scenarios = list(scenarios or SCENARIOS)
    for name, known, what in ((strategies, strategy_names(), "strategy"),
                              (methods, available, "start method"), (scenarios, SCENARIOS, "scenario")):
        unknown = [n for n in name if n not in known]
        if unknown:
            raise ValueError(f"unknown {what} {unknown[0]!r}; choose from {', '.join(known)}")
    out = []
    for scenario in scenarios:
        for strategy in strategies:
            if not applies(scenario, strategy):
                continue
            for method in (methods if _capabilities(strategy).start_methods else [None]):
                out.append(Case(scenario, strategy, method))
    return out


# -- the task, run inside workers -------------------------------------------------------------

def _drill_task(data: Any, board: Any, index: int, target: int, fault: str, hang_s: float) -> tuple[Any, ...]:
    """Sum one chunk of the shared array; the target chunk injects ``fault`` once the parent
    has acknowledged every other chunk's result (``board[:CHUNKS]``)."""
    from .shm import SharedArray

    with SharedArray.attach(data) as shared, SharedArray.attach(board) as marks:
        marks.array[CHUNKS + index] = os.getpid()
        chunk = shared.array[index * CHUNK_ELEMENTS:(index + 1) * CHUNK_ELEMENTS]
        value = float(chunk.sum())
        del chunk
        if index == target and fault != "none":
            deadline = time.monotonic() + _ACK_WAIT_S
            others = [i for i in range(CHUNKS) if i != target]
            while not all(marks.array[i] for i in others) and time.monotonic() < deadline:
                time.sleep(0.005)
            _inject(fault, hang_s)
        return index, value, os.getpid()


def _inject(fault: str, hang_s: float) -> None:
    if fault == "raise":
        raise ValueError("deliberate fault injected by the drill's task")
    if fault == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if fault == "segfault":
        import ctypes
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file left behind
        ctypes.string_at(0)  # a real invalid read
    if fault == "exit":
        os._exit(3)
    if fault == "hang":
        time.sleep(hang_s)


_FAULT_OF = {"task-raises": "raise", "worker-sigkill": "sigkill", "worker-segfault": "segfault",
             "worker-exits": "exit", "task-timeout": "hang", "parent-raises": "hang",
             "parent-sigint": "hang", "parent-sigterm": "hang", "parent-sigkill": "hang"}


# -- the child process: one case -----------------------------------------------------------------

class _Acks(dict[int, Any]):
    """``run_chunks``' results sink that also marks each received chunk on the shared board."""

    def __init__(self, board: Any) -> None:
        super().__init__()
        self.board = board

    def __setitem__(self, index: int, value: Any) -> None:
        super().__setitem__(index, value)
        self.board[index] = 1


def _child(case: Case) -> int:
    """Run one case in this (fresh) process and print one JSON report line; return the status."""
    import numpy as np

    from .chunked import run_chunks
    from .interrupts import Terminated, sigterm_raises
    from .shm import SharedArray
    from .strategies import open_executor

    report: dict[str, Any] = {"segments": [], "error": None, "error_type": None,
                              "traceback_from_task": False}
    pids: set[int] = set()
    fault = _FAULT_OF.get(case.scenario, "none")
    target = CHUNKS - 1
    hang_s = _HANG_THREADS_S if _capabilities(case.strategy).uses == "threads" else _HANG_DEFAULT_S
    timeout = 1.0 if case.scenario == "task-timeout" else None
    status = 0
    acks: _Acks | None = None
    expected: list[float] = []
    started = time.monotonic()

    def emit(kind: str, **extra: Any) -> None:
        print(json.dumps({"kind": kind, **report, **extra}), flush=True)

    with sigterm_raises():
        try:
            with SharedArray.copy_of(np.arange(CHUNKS * CHUNK_ELEMENTS, dtype=np.float64)) as data, \
                    SharedArray.create(2 * CHUNKS, np.int64) as board:
                report["segments"] = [data.handle.name, board.handle.name]
                expected = [float(data.array[i * CHUNK_ELEMENTS:(i + 1) * CHUNK_ELEMENTS].sum())
                            for i in range(CHUNKS)]
                acks = _Acks(board.array)
                argsets = [(data.handle, board.handle, i, target, fault, hang_s) for i in range(CHUNKS)]
                with open_executor(case.strategy, 2, start_method=case.start_method,
                                   task_timeout=timeout) as executor:
                    try:
                        if case.scenario in _PARENT_SIGNALS:
                            _announce_when_ready(acks, board, emit)
                        if case.scenario == "parent-raises":
                            _run_then_raise(executor, argsets, acks)
                        else:
                            run_chunks(executor, _drill_task, argsets, results=acks)
                    finally:  # before the executor stops them: every worker this run had
                        pids.update(_children(), _pids_seen(board))
        except KeyboardInterrupt:
            status, report["error"], report["error_type"] = 130, "KeyboardInterrupt", "KeyboardInterrupt"
        except Terminated:
            status, report["error"], report["error_type"] = 143, "Terminated", "Terminated"
        except BaseException as exc:  # the fault under test: report it, as a caller would see it
            report["error"] = f"{type(exc).__name__}: {exc}"
            report["error_type"] = type(exc).__name__
            report["traceback_from_task"] = _mentions_task(exc)
    completed = dict(acks or {})
    report["completed"] = sorted(completed)
    report["correct"] = bool(expected) and all(completed[i][1] == expected[i] for i in completed)
    report["worker_pids"] = sorted(pids - {os.getpid()})
    report["seconds"] = time.monotonic() - started
    emit("done")
    return status


def _pids_seen(board: Any) -> set[int]:
    """The pids the tasks wrote on the board (their workers'; this process's own for threads)."""
    return {int(p) for p in board.array[CHUNKS:] if p}


def _children() -> set[int]:
    return {p.pid for p in multiprocessing.active_children() if p.pid is not None}


def _announce_when_ready(acks: _Acks, board: Any, emit: Callable[..., None]) -> None:
    """Print one "ready" line once every chunk but the faulty one is back: the driver then
    sends its signal while the faulty task hangs."""

    def watch() -> None:
        deadline = time.monotonic() + _ACK_WAIT_S
        while len(acks) < CHUNKS - 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.05)  # let the faulty task enter its hang
        emit("ready", worker_pids_now=sorted((_pids_seen(board) | _children()) - {os.getpid()}))

    threading.Thread(target=watch, name="gilfree-drill-watch", daemon=True).start()


def _run_then_raise(executor: Any, argsets: list[tuple[Any, ...]], acks: _Acks) -> None:
    """Submit every chunk, then fail in the parent while the faulty one still runs."""
    from .chunked import run_chunks

    done = threading.Event()

    def run() -> None:
        try:
            run_chunks(executor, _drill_task, argsets, results=acks)
        except BaseException:
            pass  # the executor is stopped under it; only the parent's own error matters here
        finally:
            done.set()

    threading.Thread(target=run, name="gilfree-drill-submit", daemon=True).start()
    deadline = time.monotonic() + _ACK_WAIT_S
    while len(acks) < CHUNKS - 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    raise RuntimeError("deliberate fault in the parent, with a task still running")


def _mentions_task(exc: BaseException) -> bool:
    """Whether the exception (or its cause chain) shows where in the task it was raised."""
    import traceback

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return "_inject" in text and "_drill_task" in text


# -- the driver --------------------------------------------------------------------------------

def _expectations(case: Case) -> tuple[int, str | None, Callable[[str], bool] | None, int | str]:
    """(exit status, error type, a check on the error text, completed chunks) a case must show."""
    scenario, others = case.scenario, CHUNKS - 1
    if _capabilities(case.strategy).uses == "threads" and _FAULT_OF.get(scenario) == "hang":
        # A running thread cannot be stopped from outside: the parent waits for the hanging
        # task to end on its own, and keeps its result too.
        others = CHUNKS
    if scenario == "clean":
        return 0, None, None, CHUNKS
    if scenario == "task-raises":
        return 0, "ValueError", None, others
    if scenario == "parent-raises":
        return 0, "RuntimeError", None, others
    if scenario == "worker-sigkill":
        return 0, "WorkerDied", lambda text: "SIGKILL" in text, others
    if scenario == "worker-segfault":
        return 0, "WorkerDied", lambda text: "SIGSEGV" in text, others
    if scenario == "worker-exits":
        return 0, "WorkerDied", lambda text: "status 3" in text, others
    if scenario == "task-timeout":
        return 0, "TaskTimeout", lambda text: "task_timeout" in text, others
    if scenario == "parent-sigint":
        return 130, "KeyboardInterrupt", None, others
    if scenario == "parent-sigterm":
        return 143, "Terminated", None, others
    if scenario == "parent-sigkill":
        return -signal.SIGKILL, None, None, "-"  # killed: no report, no results to count
    raise ValueError(f"unknown scenario {scenario!r}")


def _segments_left(names: Iterable[str]) -> list[str]:
    shm = Path("/dev/shm")
    if not shm.is_dir():  # not Linux: ask the OS by name instead
        from multiprocessing import shared_memory

        left = []
        for name in names:
            try:
                seg = shared_memory.SharedMemory(name=name)
            except FileNotFoundError:
                continue
            seg.close()
            left.append(name)
        return left
    return [n for n in names if (shm / n.lstrip("/")).exists()]


def _remove_segments(names: Iterable[str]) -> None:
    """Unlink segments a case left behind (once they have been reported)."""
    shm = Path("/dev/shm")
    for name in names:
        if shm.is_dir():
            (shm / name.lstrip("/")).unlink(missing_ok=True)
            continue
        from multiprocessing import shared_memory

        try:
            seg = shared_memory.SharedMemory(name=name)
        except FileNotFoundError:
            continue
        seg.close()
        seg.unlink()


def _group_left(pgid: int) -> list[int]:
    """The live processes of process group ``pgid`` (Linux /proc); empty where unknown."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return []
    left = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                left.append(int(entry.name))
    return sorted(left)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not Path("/proc").is_dir()


def _workers_left(pids: Iterable[int], wait_s: float = 5.0) -> list[int]:
    """Worker processes still alive after the case's process has exited (orphans are reaped
    by init within moments, so give them a little time)."""
    pids = set(pids)
    deadline = time.monotonic() + wait_s
    while True:
        alive = sorted(p for p in pids if _alive(p))
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def run_case(case: Case, *, python: str | None = None, timeout: float = _CASE_TIMEOUT_S) -> Outcome:
    """Run one case in a fresh interpreter and check everything a user would see."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONFAULTHANDLER", None)  # the segfault case's crash must stay quiet
    command = [python or sys.executable, "-m", "gilfree.faults", case.scenario, case.strategy,
               case.start_method or "-"]
    started = time.monotonic()
    # A session of its own: the case's processes (workers, fork server, resource tracker) are
    # its process group, which the parent-sigkill check reads and a hung case is killed by.
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    lines: list[dict[str, Any]] = []
    signalled_at: float | None = None
    reader = _LineReader(proc.stdout)
    problems: list[str] = []
    hung = False
    killed = case.scenario == "parent-sigkill"
    while True:
        line = reader.next(timeout=max(0.0, started + timeout - time.monotonic()))
        if line is None:
            if reader.eof:
                break
            hung = True
            break
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            problems.append(f"unexpected output: {line.strip()[:200]}")
            continue
        lines.append(message)
        if message.get("kind") == "ready" and case.scenario in _PARENT_SIGNALS:
            signalled_at = time.monotonic()
            proc.send_signal(getattr(signal, _PARENT_SIGNALS[case.scenario]))
            if killed:
                break  # nothing more comes from a killed parent: check what it left
    ready = next((m for m in lines if m.get("kind") == "ready"), None)
    group_left: list[int] = []
    gone_s: float | None = None
    if killed and signalled_at is not None:
        proc.wait()
        segments = (ready or {}).get("segments", [])
        pids = set((ready or {}).get("worker_pids_now", [])) - {proc.pid}
        deadline = signalled_at + PARENT_GONE_WITHIN_S
        while True:  # poll until everything is gone, or the deadline
            group_left = sorted(set(_group_left(proc.pid)) | {p for p in pids if _alive(p)})
            if not group_left and not _segments_left(segments):
                gone_s = time.monotonic() - signalled_at
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        if group_left:
            problems.append(f"processes of the run alive {PARENT_GONE_WITHIN_S:.0f} s after the parent's "
                            f"SIGKILL: {group_left}")
            _kill(group_left)  # reported: now removed, so that they let go of the pipes below
        if not reader.wait_eof(timeout=30):  # one reader of stdout at a time: the thread's first
            _kill_group(proc.pid)
            reader.wait_eof(timeout=30)
    if hung:
        _kill_group(proc.pid)
        problems.append(f"hung: no result within {timeout:.0f} s")
    try:
        _, stderr = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        _, stderr = proc.communicate()
        problems.append("stderr stayed open 30 s after the case ended (a helper process lingered)")
    ended = time.monotonic()
    done = next((m for m in lines if m.get("kind") == "done"), None)
    want_status, want_type, check_text, want_completed = _expectations(case)
    pids = set((done or {}).get("worker_pids", [])) | set((ready or {}).get("worker_pids_now", []))
    segments = (done or ready or {}).get("segments", [])
    if killed:  # the resource tracker's cleanup of what the killed parent left is its job there
        stderr = _without_tracker_cleanup(stderr)
    stderr = _without_reentrant_tracker_warning(stderr)
    outcome = Outcome(case=case, ok=False, problems=problems, exit_code=proc.returncode,
                      error=(done or {}).get("error"), completed=len((done or {}).get("completed", [])),
                      expected_completed=want_completed, seconds=ended - started,
                      fault_to_exit_s=gone_s if killed else (ended - signalled_at) if signalled_at else None,
                      stderr=stderr.strip())
    if done is None and not hung and not killed:
        problems.append("the case printed no report")
    if proc.returncode != want_status and not hung:
        problems.append(f"exit status {proc.returncode}, expected {want_status}")
    if done is not None and killed:
        problems.append("the case ended before its SIGKILL")
    elif done is not None:
        if done.get("error_type") != want_type:
            problems.append(f"error {done.get('error')!r}, expected {want_type or 'none'}")
        elif check_text is not None and not check_text(done.get("error") or ""):
            problems.append(f"the error does not name the cause: {done.get('error')!r}")
        if case.scenario == "task-raises" and not done.get("traceback_from_task"):
            problems.append("the task's exception arrived without the task's traceback")
        if want_completed != outcome.completed:
            problems.append(f"{outcome.completed} completed results came back, expected {want_completed}")
        if not done.get("correct"):
            problems.append("a completed result differs from the serial answer")
    if case.scenario in _PARENT_SIGNALS and ready is None and not problems:
        problems.append("the case never became ready for the signal")
    outcome.segments_left = _segments_left(segments)
    if outcome.segments_left:
        problems.append(f"shared-memory segments left: {outcome.segments_left}")
        _remove_segments(outcome.segments_left)  # reported: now removed
    outcome.workers_left = sorted(set(group_left) | set(_workers_left(pids - {proc.pid})))
    if outcome.workers_left and not group_left:
        problems.append(f"worker processes left alive: {outcome.workers_left}")
    _kill(outcome.workers_left)
    if outcome.stderr:
        problems.append(f"stderr was not empty: {outcome.stderr[-400:]}")
    outcome.ok = not problems
    return outcome


def _kill(pids: Iterable[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:  # already gone
        pass


def _without_warning(stderr: str, is_warning: Callable[[str], bool]) -> str:
    """``stderr`` less each warning line that ``is_warning`` picks and the indented source line(s)
    Python prints under it."""
    kept: list[str] = []
    skipping = False
    for line in stderr.splitlines(keepends=True):
        if is_warning(line):
            skipping = True
            continue
        if skipping and line[:1].isspace():
            continue
        skipping = False
        kept.append(line)
    return "".join(kept)


def _without_tracker_cleanup(stderr: str) -> str:
    """``stderr`` less the resource tracker's "leaked shared_memory objects" warning."""
    return _without_warning(
        stderr, lambda line: "resource_tracker" in line and ("leaked" in line or "warnings.warn" in line))


#: CPython's own warning when a finalizer (a multiprocessing lock's) calls into the resource
#: tracker while the same thread is already inside it (python/cpython#131788).
_REENTRANT_TRACKER = "ResourceTracker called reentrantly for resource cleanup"


def _without_reentrant_tracker_warning(stderr: str) -> str:
    """``stderr`` less CPython's "ResourceTracker called reentrantly" warning.

    It is the interpreter's race, not the run's: a multiprocessing lock freed at the wrong moment
    in a thread that is already talking to the resource tracker. Free-threaded CPython frees an
    object that another thread let go of at the owning thread's next check, anywhere, which makes
    it frequent there (about one clean spawn case in 30 on 3.13.5t; CPython fixed it in 3.13.7).
    The message is still sent after the warning, and a lock that really leaked would make the
    tracker warn "leaked semaphore objects" at exit, which this keeps.
    """
    return _without_warning(stderr, lambda line: _REENTRANT_TRACKER in line)


class _LineReader:
    """Lines from a pipe with a timeout (a thread reads; the caller waits)."""

    def __init__(self, stream: Any) -> None:
        self._lines: list[str] = []
        self._cond = threading.Condition()
        self.eof = False
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            with self._cond:
                self._lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self.eof = True
            self._cond.notify_all()

    def wait_eof(self, timeout: float) -> bool:
        """Wait until the stream has ended (the lines read stay available); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self.eof, timeout=timeout)

    def next(self, timeout: float) -> str | None:
        with self._cond:
            self._cond.wait_for(lambda: self._lines or self.eof, timeout=timeout)
            return self._lines.pop(0) if self._lines else None


def drill(selected: Iterable[Case], *, jobs: int = 1,
          progress: Callable[[int, int, Outcome], None] | None = None) -> list[Outcome]:
    """Run the cases, ``jobs`` at a time, and return their outcomes in the given order."""
    selected = list(selected)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an int >= 1, got {jobs!r}")
    outcomes: list[Outcome | None] = [None] * len(selected)
    done = 0
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="gilfree-drill") as pool:
        futures = {pool.submit(run_case, case): i for i, case in enumerate(selected)}
        from concurrent.futures import as_completed

        for future in as_completed(futures):
            i = futures[future]
            outcome = outcomes[i] = future.result()
            done += 1
            if progress is not None:
                progress(done, len(selected), outcome)
    return [o for o in outcomes if o is not None]


def format_outcomes(outcomes: list[Outcome]) -> str:
    """A table of the cases and a one-paragraph summary."""
    rows = [("case", "result", "exit", "error surfaced", "kept", "secs")]
    for o in outcomes:
        error = (o.error or "-").split(":")[0] if o.error else "-"
        rows.append((o.case.name, "ok" if o.ok else "FAILED", str(o.exit_code), error,
                     f"{o.completed}/{o.expected_completed}", f"{o.seconds:.1f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        lines.append(f"FAILED {o.case.name}: " + "; ".join(o.problems))
    faults = sum(1 for o in outcomes if o.case.scenario != "clean")
    leaks = sum(len(o.segments_left) for o in outcomes)
    orphans = sum(len(o.workers_left) for o in outcomes)
    lines.append("")
    lines.append(
        f"{len(outcomes) - len(failed)} of {len(outcomes)} cases passed ({faults} with a fault "
        f"injected); shared-memory segments left: {leaks}; worker processes left: {orphans}; "
        f"hangs: {sum(1 for o in outcomes if any(p.startswith('hung') for p in o.problems))}.")
    return "\n".join(lines)


def _main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m gilfree.faults SCENARIO STRATEGY START_METHOD|-", file=sys.stderr)
        return 2
    scenario, strategy, method = argv
    case = Case(scenario, strategy, None if method == "-" else method)
    if case not in cases([strategy], [method] if method != "-" else None, [scenario]):
        print(f"not a drill case: {case.name}", file=sys.stderr)
        return 2
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # Started with SIGINT ignored (nohup, a shell's "&"): Python then installs no Ctrl-C
        # handler. A user's program run from a terminal has one; so does the case.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return _child(case)


if __name__ == "__main__":
    # Run the module's importable copy, so that workers find the task as gilfree.faults._drill_task
    # (not __main__._drill_task) whatever their start method.
    from gilfree.faults import _main as main

    sys.exit(main(sys.argv[1:]))
