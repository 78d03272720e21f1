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
