"""The ``dask`` strategy: a real LocalCluster (two worker processes on loopback), shared by the
module, runs the chunked pattern and the pipeline by description, equal bit for bit to the
serial reference on both implementations; a worker killed mid-run costs a retry, a task that
keeps killing its workers ends in a clear error naming it; an address where no scheduler
answers fails within seconds; Ctrl-C and SIGTERM close the cluster. Every process the module's
cluster (or a tracked run) created is checked gone at the end: pids, not a listing of the machine.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from _leaks import alive, child_env, logged_segments_left, tracked_gilfree, wait_for_marker  # noqa: E402

from gilfree import errors  # noqa: E402
from gilfree._stats import merge_stats, stats_bits  # noqa: E402
from gilfree.bytebuf import checksum  # noqa: E402
from gilfree.chunked import array_chunks, run_chunks  # noqa: E402
from gilfree.cluster import CONNECT_TIMEOUT_S, DaskExecutor, SchedulerUnreachable, executor_for  # noqa: E402
from gilfree.pipeline import PipelineJob, one_pass, run_pipeline  # noqa: E402
from gilfree.registry import capabilities_of, get_strategy, strategy_names  # noqa: E402
from gilfree.shm import SharedArray  # noqa: E402
from gilfree.strategies import DASK, open_executor  # noqa: E402
from gilfree.transports import NumpyRandom, Uniform, run_on_chunks  # noqa: E402

#: How long a test waits for something that should take a second before calling it a hang.
HANG_S = 60


def _gone(pids, limit_s: float = 15.0) -> list[int]:
    """The pids of ``pids`` still alive after up to ``limit_s`` (polled: processes take a moment)."""
    stop = time.monotonic() + limit_s
    while True:
        running = [pid for pid in pids if alive(pid)]
        if not running or time.monotonic() > stop:
            return running
        time.sleep(0.05)


@pytest.fixture(scope="module")
def cluster():
    """One LocalCluster for the module; a worker may die at most once per task before Dask gives up
    on it (the scheduler reads that when it starts, so the give-up test is short). Afterwards
    every worker pid it ever had is gone."""
    import dask

    seen: set[int] = set()
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), ExitStack() as stack:
        ex = stack.enter_context(open_executor("dask", 2))
        seen.update(ex.worker_pids().values())
        yield ex, seen
        seen.update(ex.worker_pids().values())
    assert not _gone(seen), "worker processes left behind"


def test_the_strategy_is_declared_once(cluster):
    ex, _ = cluster
    strategy = get_strategy("dask")
    assert strategy.capabilities is DASK and capabilities_of(ex) is DASK
    assert DASK.transport == "description" and DASK.connects and DASK.survives_worker_death
    assert "dask" not in strategy_names(peers=False), "a default lab run must not start a cluster"
    assert isinstance(ex, DaskExecutor) and ex.workers == 2
    assert all(addr.startswith("tcp://127.0.0.1:") for addr in ex.worker_pids()), "loopback only"


def test_without_distributed_the_error_says_how_to_install(monkeypatch):
    import importlib

    real = importlib.import_module

    def no_distributed(name, *args):
        if name == "distributed":
            raise ImportError("No module named 'distributed'")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_distributed)
    with pytest.raises(ImportError, match=r'pip install "gilfree\[dask\]"'):
        with open_executor("dask", 2):
            pass


def test_scheduler_needs_a_strategy_that_joins_a_cluster():
    with pytest.raises(ValueError, match="joins an existing cluster"):
        with open_executor("threads", 2, scheduler="tcp://127.0.0.1:8786"):
            pass


def test_an_address_that_does_not_answer_fails_within_seconds():
    with socket.socket() as s:  # a port nobody listens on: bound, then freed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(SchedulerUnreachable, match=f"127.0.0.1:{port}"):
        with open_executor("dask", 2, scheduler=f"tcp://127.0.0.1:{port}"):
            pass
    assert time.monotonic() - t0 < CONNECT_TIMEOUT_S + 10  # a hang detector, not a timing


def test_the_chunked_pattern_by_description_equals_one_call(cluster, impl):
    ex, _ = cluster
    n = 300_000 if impl.name == "c-extension" else 20_000
    whole = np.random.default_rng(7).random(n)
    got = merge_stats(run_on_chunks(ex, impl.chunk_stats, [NumpyRandom(7, n)], array_chunks(n, 8)))
    assert stats_bits(got) == stats_bits(impl.chunk_stats(whole))


def test_a_description_is_exactly_its_slice(impl):
    x = np.empty(50_000)
    impl.fill_uniform(x, 3, 0)
    assert Uniform(impl.fill_uniform, 3, 50_000).make(12_345, 23_456).tobytes() == x[12_345:23_456].tobytes()
    filled = np.empty(50_000)
    np.random.default_rng(3).random(out=filled)  # how lab step 7 fills its shared array
    assert NumpyRandom(3, 50_000).make(1_000, 9_000).tobytes() == filled[1_000:9_000].tobytes()


def _reference(impl, n, data, out):
    ref = one_pass(impl, data, out, n, 8, 3, 0.5, lambda stage: None)
    return ref, checksum(out.array[:ref.kept])


def test_the_pipeline_by_description_equals_the_one_pass(cluster, impl, no_shm_leak):
    ex, _ = cluster
    n = 400_000 if impl.name == "c-extension" else 12_000
    with SharedArray.create(n) as data, SharedArray.create(n) as out:
        ref, digest = _reference(impl, n, data, out)
        out.array[:] = 0  # the run by description must not need (or touch) the shared arrays
        got = run_pipeline(PipelineJob(impl, ex, data, out, n, 8, 8, 3, 0.5, lambda stage: None))
    assert (got.kept, stats_bits(got.stats), got.checksum) == (ref.kept, stats_bits(ref.stats), digest)
    assert got.remade == 0, "the second round ran where the survivors were kept"
    assert got.retried == ()


def test_a_callers_client_is_an_executor_too(cluster, both):
    ex, _ = cluster
    pure, compiled = both
    n = 100_000
    whole = np.random.default_rng(1).random(n)
    for given in (executor_for(ex.client), ex.client.get_executor()):
        assert capabilities_of(given) is DASK
        got = merge_stats(run_on_chunks(given, compiled.chunk_stats, [NumpyRandom(1, n)], array_chunks(n, 4)))
        assert stats_bits(got) == stats_bits(pure.chunk_stats(whole))
    executor_for(ex.client).shutdown()
    assert ex.client.status == "running", "closing the caller's executor leaves the caller's client open"


def test_the_scheduler_option_joins_a_running_cluster_and_leaves_it_running(cluster, c_impl):
    ex, _ = cluster
    n = 100_000
    with open_executor("dask", 1, scheduler=ex.scheduler_address) as joined:
        assert joined.workers == 2, "the cluster's workers, not the count asked for"
        with SharedArray.create(n) as data, SharedArray.create(n) as out:
            ref, digest = _reference(c_impl, n, data, out)
            got = run_pipeline(PipelineJob(c_impl, joined, data, out, n, 4, 8, 3, 0.5, lambda stage: None))
    assert (got.kept, stats_bits(got.stats), got.checksum) == (ref.kept, stats_bits(ref.stats), digest)
    assert ex.client.status == "running" and len(ex.worker_pids()) == 2


def test_the_command_line_says_when_no_scheduler_answers():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = subprocess.run([sys.executable, "-m", "gilfree", "lab", "--step", "8", "--quick", "--strategy", "dask",
                           "--scheduler", f"tcp://127.0.0.1:{port}", "--no-progress"],
                          capture_output=True, text=True, timeout=HANG_S)
    assert done.returncode == 2, done.stderr
    assert f"no Dask scheduler answered at tcp://127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_the_readme_command_on_a_cluster(cluster):
    ex, _ = cluster
    done = subprocess.run([sys.executable, "-m", "gilfree", "lab", "--step", "8", "--quick", "--strategy", "dask",
                           "--scheduler", ex.scheduler_address, "--no-progress"],
                          capture_output=True, text=True, timeout=HANG_S * 3)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Checks: all" in done.stdout and " dask " in done.stdout


def test_lab_step7_runs_on_a_given_cluster(cluster, impl):
    from gilfree.lab import run_step

    ex, _ = cluster
    result = run_step(7, "tiny", strategies=("serial",), executor=ex,
                      implementations={"pure-python": impl} if impl.name == "pure-python" else None)
    assert result.ok, result.checks
    assert any(row.extra.get("transport") == "description" for row in result.rows)


# -- faults --------------------------------------------------------------------------------------

def _slow_square(marker_dir: str, i: int) -> int:
    """A task that says where it runs, then takes a moment (the test kills its worker meanwhile)."""
    Path(marker_dir, f"{i}.{os.getpid()}").touch()
    time.sleep(0.3)
    return i * i


def _dies(i: int) -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return i


@pytest.mark.slow
def test_a_worker_killed_mid_run_costs_a_retry(cluster, tmp_path):
    ex, seen = cluster
    futures = [ex.submit(_slow_square, str(tmp_path), i) for i in range(8)]
    stop = time.monotonic() + HANG_S
    while not any(tmp_path.iterdir()):  # the handshake: a task has started
        assert time.monotonic() < stop, "no task started"
        time.sleep(0.01)
    victim = int(next(tmp_path.iterdir()).suffix.lstrip("."))
    os.kill(victim, signal.SIGKILL)
    assert [f.result(timeout=HANG_S) for f in futures] == [i * i for i in range(8)]
    assert ex.rescheduled(), "the killed worker's task ran again, and the executor says so"
    seen.update(ex.worker_pids().values())  # the Nanny's replacement


@pytest.mark.slow
def test_a_worker_killed_mid_pipeline_costs_a_retry_not_a_bit(cluster, c_impl, no_shm_leak):
    ex, seen = cluster
    n = 2_000_000
    victims = list(ex.worker_pids().values())[:1]
    killed = []

    def tick(stage: str) -> None:  # the handshake: the first chunk is done, the others are out
        if not killed:
            os.kill(victims[0], signal.SIGKILL)
            killed.append(victims[0])

    with SharedArray.create(n) as data, SharedArray.create(n) as out:
        ref, digest = _reference(c_impl, n, data, out)
        got = run_pipeline(PipelineJob(c_impl, ex, data, out, n, 16, 8, 3, 0.5, tick))
    assert killed
    assert (got.kept, stats_bits(got.stats), got.checksum) == (ref.kept, stats_bits(ref.stats), digest)
    assert got.retried or got.remade, "the lost worker's chunks ran again, and the result says so"
    stop = time.monotonic() + HANG_S
    while len(ex.client.scheduler_info()["workers"]) < 2:  # the Nanny brings the worker back
        assert time.monotonic() < stop
        time.sleep(0.1)
    seen.update(ex.worker_pids().values())


@pytest.mark.slow
def test_a_task_that_keeps_killing_its_worker_is_named(cluster):
    ex, seen = cluster
    future = ex.submit(_dies, 3)
    with pytest.raises(errors.WorkerDied, match=r"gilfree-_dies-\d+-"):
        future.result(timeout=HANG_S)
    stop = time.monotonic() + HANG_S
    while len(ex.client.scheduler_info()["workers"]) < 2:  # the Nanny brings the workers back
        assert time.monotonic() < stop
        time.sleep(0.1)
    seen.update(ex.worker_pids().values())
    assert run_chunks(ex, abs, [(-1,), (-2,)]) == [1, 2], "the executor still takes work"


def _session_pids(sid: int) -> list[int]:
    """Processes of the session ``sid`` (a tracked run started it: every process it created is in it)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getsid(int(entry)) == sid:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_run_closes_its_cluster(signum, tmp_path):
    log, tmpdir, cwd = tmp_path / "segments.log", tmp_path / "tmp", tmp_path / "cwd"
    cwd.mkdir()
    running = tmp_path / "running"
    with subprocess.Popen(
        tracked_gilfree(log, "lab", "--step", "8", "--quick", "--strategy", "dask", "--no-progress"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=cwd, start_new_session=True,
        env={**child_env(tmpdir), "GILFREE_TEST_RUNNING": str(running)},
    ) as proc:
        try:
            finished_early = not wait_for_marker(proc, running)
            created = _session_pids(proc.pid)
            if not finished_early:
                os.killpg(proc.pid, signum)
            _, stderr = proc.communicate(timeout=HANG_S)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    if finished_early:
        pytest.skip("the run finished before the signal")
    assert proc.returncode == 128 + signum, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-2000:]  # not from the run, nor from a Dask worker
    assert len(created) >= 3, "the run had started its cluster's worker processes"
    assert not _gone(created + _session_pids(proc.pid)), "processes left behind"
    assert not logged_segments_left(log)
