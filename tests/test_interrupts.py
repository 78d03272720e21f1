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
