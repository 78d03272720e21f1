"""``python tests/_tracked_gilfree.py LOG ARGS...``: run ``gilfree ARGS`` and log its segments.

Every shared-memory segment that ``SharedArray.create`` makes in this run (here, and in any
worker forked from here) is appended to the file LOG as it is created, so that a test which
interrupts the run can check exactly those segments afterwards, instead of comparing the whole
of /dev/shm, where other runs on a busy machine come and go. With GILFREE_TEST_MEASURING or
GILFREE_TEST_RUNNING set, it also says when the run has reached a given point (see below): the
handshake a test waits for before it interrupts the run, instead of sleeping.
"""

import os
import sys

from gilfree.shm import SharedArray

log = sys.argv.pop(1)
_create = SharedArray.create.__func__


def _logged_create(cls, *args, **kwargs):
    shared = _create(cls, *args, **kwargs)
    with open(log, "a") as f:
        f.write(shared.handle.name.lstrip("/") + "\n")
    return shared


SharedArray.create = classmethod(_logged_create)

# The handshake of a test that interrupts a run "mid-measurement": when GILFREE_TEST_MEASURING
# names a file, it is created once the first measurement has ended, when every executor is open
# and has run tasks (joblib's loky starts its workers at its first call): the next one is running.
_marker = os.environ.get("GILFREE_TEST_MEASURING")
if _marker:
    from gilfree.experiment import Experiment

    _measure = Experiment.measure

    def _announced_measure(self, *args, **kwargs):
        out = _measure(self, *args, **kwargs)
        if not os.path.exists(_marker):
            with open(_marker, "w") as f:
                f.write("measuring\n")
        return out

    Experiment.measure = _announced_measure

# The handshake of a test that interrupts a run mid-step: when GILFREE_TEST_RUNNING names a
# file, it is created once a measurement of the run has warmed up (every variant of it has run
# once, so the executors it uses have started their workers) and its timed calls begin: the
# first measurement, or the one that GILFREE_TEST_RUNNING_AT counts (1, 2, ...).
_running = os.environ.get("GILFREE_TEST_RUNNING")
if _running:
    from gilfree.experiment import Experiment

    _clock = Experiment._clock  # called once per measurement, between its warm-up and timed calls
    _at = int(os.environ.get("GILFREE_TEST_RUNNING_AT", "1"))
    _measurements = [0]

    def _announced_clock(*args, **kwargs):
        out = _clock(*args, **kwargs)
        _measurements[0] += 1
        if _measurements[0] == _at:
            with open(_running, "w") as f:
                f.write("running\n")
        return out

    Experiment._clock = staticmethod(_announced_clock)

if __name__ == "__main__":
    from gilfree.cli import main

    sys.argv[0] = "gilfree"
    sys.exit(main())
