"""Fault benchmark: how long after a worker dies does the caller hear about it?

For each process strategy and start method, a pool runs one task that kills its own worker with
SIGKILL (as the out-of-memory killer would). The task writes the moment of its death to a file
first; the time from then until the caller's ``future.result()`` raises ``WorkerDied`` is the
detection latency. The strategies run interleaved, round after round, so that drift of a shared
machine falls on all of them alike; median and worst are reported.

Usage: python bench/bench_faults.py [--repeats 15] [--start-method fork ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import statistics
import sys
import tempfile
import time

from gilfree._timing import environment
from gilfree.errors import WorkerDied
from gilfree.registry import strategies
from gilfree.strategies import open_executor

#: The process strategies gilfree stands behind (peers excluded), read from the registry.
STRATEGIES = tuple(s.name for s in strategies(available_only=True)
                   if s.capabilities.uses == "processes" and not s.peer)


def die_now(stamp: str) -> None:
    """Record the time, then die of SIGKILL mid-task."""
    with open(stamp, "w") as f:
        f.write(repr(time.time()))
    os.kill(os.getpid(), signal.SIGKILL)


def one(strategy: str, method: str, stamp: str) -> float:
    with open_executor(strategy, 2, start_method=method) as executor:
        executor.submit(abs, -1).result(timeout=60)  # the workers are up
        future = executor.submit(die_now, stamp)
        try:
            future.result(timeout=60)
        except WorkerDied:
            return time.time() - float(open(stamp).read())
    raise RuntimeError(f"{strategy}/{method}: the worker's death did not surface as WorkerDied")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="rounds (default 15)")
    parser.add_argument("--start-method", action="append", choices=multiprocessing.get_all_start_methods(),
                        help="start methods to measure (repeatable; default all)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    methods = args.start_method or [m for m in ("fork", "spawn", "forkserver")
                                     if m in multiprocessing.get_all_start_methods()]
    samples: dict[tuple[str, str], list[float]] = {(s, m): [] for s in STRATEGIES for m in methods}
    with tempfile.TemporaryDirectory(prefix="gilfree-bench-faults-") as tmp:
        stamp = os.path.join(tmp, "died-at")
        for _ in range(args.repeats):
            for key in samples:
                samples[key].append(one(*key, stamp))
    rows = [{"strategy": s, "start_method": m, "median_ms": statistics.median(v) * 1e3,
             "worst_ms": max(v) * 1e3, "repeats": len(v)} for (s, m), v in samples.items()]
    env = environment()
    print(f"worker death -> caller's WorkerDied ({env.get('python')}, {env.get('usable_cores')} cores, "
          f"median and worst of {args.repeats})")
    for row in rows:
        print(f"  {row['strategy']:<10} {row['start_method']:<11} {row['median_ms']:7.1f} ms  "
              f"(worst {row['worst_ms']:.1f} ms)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": env, "rows": rows}, f, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
