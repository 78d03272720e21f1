"""Workers fill one numpy array in place through shared memory: only a handle travels.

Run from the checkout: ``python docs/examples/shared_array.py``. The tutorial's
"fail-safe primitives" page shows this file, and tests/test_docs.py runs it.
"""

import pickle

import numpy as np

from gilfree import SharedArray, SharedArrayHandle, array_chunks, fill_uniform, open_executor, run_chunks


def fill(handle: SharedArrayHandle, lo: int, hi: int, seed: int) -> int:
    with handle.attach() as shared:               # attaching never unlinks, nor registers
        fill_uniform(shared.array[lo:hi], seed)   # the kernel writes into the shared pages
    return hi - lo


def main() -> None:
    n = 1_000_000
    with SharedArray.create(n) as shared:         # this process owns the segment and unlinks it
        chunks = array_chunks(n, 4)
        print("bytes per task:", len(pickle.dumps(shared.handle)), "for", shared.array.nbytes, "bytes of data")
        with open_executor("failsafe", 2) as pool:
            filled = run_chunks(pool, fill, [(shared.handle, lo, hi, i) for i, (lo, hi) in enumerate(chunks)])
        print("filled:", sum(filled) == n, "all in [0, 1):", bool(np.all((shared.array >= 0) & (shared.array < 1))))


if __name__ == "__main__":
    main()
