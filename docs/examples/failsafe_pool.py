"""A worker that dies costs one task, named, and the pool goes on: ``FailSafePool``.

Run from the checkout: ``python docs/examples/failsafe_pool.py``. The tutorial's
"fail-safe primitives" page shows this file, and tests/test_docs.py runs it.
"""

import os

from gilfree import FailSafePool, WorkerDied, run_chunks


def square_or_die(x: int) -> int:
    if x == 3:
        os._exit(3)  # the worker vanishes mid-task, as under the OOM killer
    return x * x


def main() -> None:
    done: dict[int, int] = {}
    with FailSafePool(2) as pool:
        try:
            run_chunks(pool, square_or_die, [(x,) for x in range(6)], results=done)
        except WorkerDied as error:
            print("error:", error)
        # The results that arrived before the failure are kept, by chunk index.
        print("kept:", sorted(done))
        # The dead worker was replaced: the same pool still takes work.
        print("after:", pool.submit(square_or_die, 7).result())


if __name__ == "__main__":
    main()
