"""The benchmark matrix, from the source tree: the same as ``gilfree bench`` (all its options).

Every workload (CPU loop, array reduction, in-place transform, capstone pipeline) on both twins
(pure Python, nogil Cython kernel), every strategy (serial, threads, multiprocessing.Pool,
ProcessPoolExecutor, shared memory, mmap, joblib loky, joblib threads, numpy), every worker
count and three sizes, measured side by side in one run. See ``src/gilfree/bench/``.

Usage: python bench/bench_matrix.py [--quick] [--out DIR] [--workload NAME] [--strategy NAME]
       [--workers N] [--size NAME] [--repeats N] [--from bench.json]
"""

from __future__ import annotations

import sys

from gilfree.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
