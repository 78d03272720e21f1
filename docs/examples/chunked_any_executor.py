"""One reduction, split into chunks, on every kind of executor: the same answer each time.

Run from the checkout: ``python docs/examples/chunked_any_executor.py``. The tutorial's
"fail-safe primitives" page shows this file, and tests/test_docs.py runs it.
"""

from concurrent.futures import ThreadPoolExecutor

import gilfree
from gilfree import default_parts, open_executor, parallel_reduce, split_range


def main() -> None:
    lo, hi, workers = 0, 3_000_000, 2
    chunks = split_range(lo, hi, default_parts(workers))  # a few chunks per worker
    expected = gilfree.sum_squares(lo, hi)                # one call, the reference

    # gilfree's own strategies, opened by name, and a plain standard-library executor: any
    # concurrent.futures.Executor takes the same chunks.
    for name in ("serial", "threads", "failsafe"):
        with open_executor(name, workers) as executor:
            total = parallel_reduce(executor, gilfree.sum_squares, chunks, sum)
        print(f"{name:<10} {total == expected}")
    with ThreadPoolExecutor(workers) as executor:
        total = parallel_reduce(executor, gilfree.sum_squares, chunks, sum)
    print(f"{'stdlib':<10} {total == expected}")
    # The chunks' sum is exact (Python integers), so every line says True.


if __name__ == "__main__":
    main()
