"""``python tests/_tracked_gilfree.py LOG ARGS...``: run ``gilfree ARGS`` and log its segments.

Every shared-memory segment that ``SharedArray.create`` makes in this run (here, and in any
worker forked from here) is appended to the file LOG as it is created, so that a test which
interrupts the run can check exactly those segments afterwards, instead of comparing the whole
of /dev/shm, where other runs on a busy machine come and go.
"""

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

if __name__ == "__main__":
    from gilfree.cli import main

    sys.argv[0] = "gilfree"
    sys.exit(main())
