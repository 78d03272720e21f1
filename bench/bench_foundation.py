"""Foundation benchmark: are the nogil kernels fast, and do they scale on threads?

Three ratios, each measured side by side in one run (variants interleaved, median of repeats):

1. ``cpu_bound`` per element: the nogil kernel against pure Python, one thread.
2. Threads on the nogil kernel: the same work per thread, 1 thread against ``--threads`` threads
   (throughput ratio; ideal = the thread count).
3. Array statistics on one thread against ``numpy.sum`` on the same float64 array (throughput
   ratio). ``chunk_stats`` computes count, sum, min, max, mean and m2; numpy.sum only the sum.

Usage: python bench/bench_foundation.py [--json out.json] [--mb 400] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from gilfree._select import C_EXTENSION, PURE_PYTHON, implementations
from gilfree._timing import environment, interleaved, run_in_threads, usable_cores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--mb", type=int, default=400, help="array size in MB for the statistics row (default 400)")
    parser.add_argument("--threads", type=int, default=max(2, usable_cores()), help="threads for the scaling row")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per variant (default 7)")
    args = parser.parse_args(argv)

    impls = implementations()
    if C_EXTENSION not in impls:
        print("The compiled kernels are not installed: nothing to compare.", file=sys.stderr)
        return 1
    pure, kern = impls[PURE_PYTHON], impls[C_EXTENSION]
    n_pure, n_kern = 2_000_000, 400_000_000
    k = args.threads
    rows = []

    # 1. Per-element cost, one thread.
    t = interleaved({
        "pure": lambda: pure.sum_squares(0, n_pure),
        "kernel": lambda: kern.sum_squares(0, n_kern),
    }, repeats=args.repeats)
    ns_pure = t["pure"].median / n_pure * 1e9
    ns_kern = t["kernel"].median / n_kern * 1e9
    rows.append({"row": "cpu_bound per element, 1 thread", "baseline": "pure Python",
                 "baseline_ns_per_element": ns_pure, "kernel_ns_per_element": ns_kern,
                 "ratio": ns_pure / ns_kern, "target": ">= 100x",
                 "spread": max(t["pure"].spread, t["kernel"].spread)})

    # 2. Thread scaling of the nogil kernel: same work per thread.
    assert kern.sum_squares(0, n_kern) == (n_kern - 1) * n_kern * (2 * n_kern - 1) // 6
    call = lambda: kern.sum_squares(0, n_kern)  # noqa: E731
    t = interleaved({
        "1 thread": lambda: run_in_threads([call]),
        f"{k} threads": lambda: run_in_threads([call] * k),
    }, repeats=args.repeats)
    speedup = k * t["1 thread"].median / t[f"{k} threads"].median
    rows.append({"row": f"nogil kernel, {k} threads vs 1 (same work per thread)", "baseline": "1 thread",
                 "ratio": speedup, "ideal": k, "efficiency": speedup / k,
                 "target": ">= 1.9x on 2 threads",
                 "spread": max(t["1 thread"].spread, t[f"{k} threads"].spread)})

    # 3. Array statistics against numpy.sum, one thread, same array.
    x = np.random.default_rng(0).random(args.mb * 1_000_000 // 8)
    ref = kern.chunk_stats(x)
    assert ref.count == x.size and ref.min == x.min() and ref.max == x.max()
    assert abs(ref.sum - x.sum()) <= 1e-9 * abs(x.sum())
    t = interleaved({
        "numpy.sum": lambda: np.sum(x),
        "chunk_stats": lambda: kern.chunk_stats(x),
    }, repeats=args.repeats)
    gbs = {name: x.nbytes / tm.median / 1e9 for name, tm in t.items()}
    rows.append({"row": f"array statistics, 1 thread, {x.nbytes / 1e6:.0f} MB float64", "baseline": "numpy.sum",
                 "numpy_sum_GBps": gbs["numpy.sum"], "chunk_stats_GBps": gbs["chunk_stats"],
                 "ratio": gbs["chunk_stats"] / gbs["numpy.sum"], "target": ">= 0.8x",
                 "spread": max(tm.spread for tm in t.values())})

    env = environment()
    print(f"gilfree {env['gilfree']} on {env['cpu']} ({env['usable_cores']} cores), Python {env['python']}, "
          f"GIL {'on' if env['gil_enabled'] else 'off'}")
    for row in rows:
        print(f"  {row['row']:<58} {row['ratio']:7.2f}x   (target {row['target']}, spread {row['spread']:.0%})")
    r1, _, r3 = rows
    print(f"  per element: pure {r1['baseline_ns_per_element']:.1f} ns, kernel {r1['kernel_ns_per_element']:.3f} ns;"
          f" numpy.sum {r3['numpy_sum_GBps']:.1f} GB/s, chunk_stats {r3['chunk_stats_GBps']:.1f} GB/s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"environment": env, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
