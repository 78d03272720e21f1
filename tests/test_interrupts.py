"""The SIGTERM helper (gilfree.interrupts): a stop request becomes an exception, in one block only."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from gilfree.interrupts import Terminated, sigterm_raises


def test_sigterm_raises_terminated_inside_the_block_only():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated) as info:
        with sigterm_raises():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    assert info.value.code == 143
    assert signal.getsignal(signal.SIGTERM) == before


def test_sigterm_raises_leaves_an_existing_handler_and_other_threads_alone():
    seen = []
    previous = signal.signal(signal.SIGTERM, lambda *a: seen.append("theirs"))
    try:
        with sigterm_raises():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
        assert seen == ["theirs"]
    finally:
        signal.signal(signal.SIGTERM, previous)
    outcome = []

    def in_thread():
        with sigterm_raises():
            outcome.append(signal.getsignal(signal.SIGTERM))

    t = threading.Thread(target=in_thread)
    t.start()
    t.join()
    assert outcome == [signal.getsignal(signal.SIGTERM)]


def _spin_until_raised(limit_s: float = 60.0) -> None:
    """Run bytecode until the re-sent signal raises here (at most ``limit_s``: a failure, not a hang)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        pass


class _SignalsInItsDestructor:
    """Sends SIGTERM from ``__del__`` and runs bytecode there: the handler raises inside the
    destructor, where Python can only report the exception as ignored."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10_000):
            pass


def test_a_terminated_swallowed_where_it_cannot_propagate_is_raised_again():
    """The bench once ignored a SIGTERM that arrived during a pool's fork, inside logging's
    after-fork callback, and went on measuring; now the signal is raised again outside it."""
    unraised = []
    with pytest.raises(Terminated):
        with sigterm_raises():
            obj = _SignalsInItsDestructor()
            del obj
            _spin_until_raised()
            unraised.append("the loop ended and nothing was raised")
    assert not unraised


@pytest.mark.parametrize("signum, raised", [(signal.SIGTERM, Terminated), (signal.SIGINT, KeyboardInterrupt)],
                         ids=["SIGTERM", "SIGINT"])
def test_an_after_fork_callback_cannot_swallow_an_interrupt(signum, raised):
    """The very case: the signal handled inside an ``os.register_at_fork`` parent callback."""
    if not hasattr(os, "register_at_fork"):
        pytest.skip("no fork here")
    armed = []

    def in_parent() -> None:
        if armed:
            signal_now = armed.pop()
            os.kill(os.getpid(), signal_now)
            for _ in range(10_000):
                pass

    os.register_at_fork(after_in_parent=in_parent)  # stays registered: it is inert unless armed
    with pytest.raises(raised):
        with sigterm_raises():
            armed.append(signum)
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
            _spin_until_raised()


_SIGTERM_IN_THE_FORK_WINDOW = """
import os, signal, sys
# Registered before gilfree's own after-fork callbacks, so it runs in the child before them:
# a SIGTERM that reaches the child while it is still settling after fork().
os.register_at_fork(after_in_child=lambda: os.kill(os.getpid(), signal.SIGTERM))
from gilfree.interrupts import sigterm_raises

with sigterm_raises():
    pid = os.fork()
    if pid == 0:
        os._exit(0)  # reached only if the SIGTERM was lost
    _, status = os.waitpid(pid, 0)
    parent_mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
print(os.WTERMSIG(status) if os.WIFSIGNALED(status) else -os.WEXITSTATUS(status), signal.SIGTERM in parent_mask)
"""


@pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="no fork here")
def test_a_sigterm_that_reaches_a_forked_child_before_it_settles_kills_it():
    """A pool closed at once after its start sends its SIGTERMs while a worker may still be in
    its after-fork code; the signal must kill it then, not be handled as the parent's and lost."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _SIGTERM_IN_THE_FORK_WINDOW], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    killed_by, parent_blocks = out.stdout.split()
    assert int(killed_by) == signal.SIGTERM, f"the child exited {out.stdout!r} instead of dying of SIGTERM"
    assert parent_blocks == "False", "the parent's signal mask was left blocking SIGTERM"


_POOLS_CLOSED_AT_ONCE = """
import multiprocessing, signal, sys
from gilfree.interrupts import sigterm_raises

def ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)

with sigterm_raises():
    for _ in range(int(sys.argv[1])):
        with multiprocessing.get_context("fork").Pool(2, initializer=ignore_sigint) as pool:
            pool.map(abs, [-3])  # one worker answers; the other may still be starting
print("done")
"""


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="no fork here")
def test_pools_closed_at_once_after_their_start_never_wait_for_a_worker_that_missed_its_sigterm():
    """The hang this guards against: ``Pool.terminate`` joining a worker whose SIGTERM came while
    it was still settling after fork() (one in a few hundred pools on a busy 2-core machine)."""
    import subprocess
    import sys

    with subprocess.Popen([sys.executable, "-c", _POOLS_CLOSED_AT_ONCE, "150"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the run and every worker it left
            proc.communicate()
            pytest.fail("a pool closed at once after its start hung in terminate()")
    assert proc.returncode == 0 and stdout.strip() == "done", stderr
