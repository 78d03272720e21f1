"""Run CPython's concurrent.futures suites against gilfree's executors: one line per pair.

    python tests/conformance/run.py [--executor NAME ...] [--start-method NAME ...] [-k PATTERN]
                                    [--verbose] [--skips]

Executors: failsafe (FailSafePool), pool (PoolExecutor), processes (ProcessesExecutor); start
methods: fork, forkserver, spawn. Without an option, every pair the platform has; the
environment variables GILFREE_CONFORMANCE_EXECUTORS and GILFREE_CONFORMANCE_START_METHODS
(comma-separated) choose too. Each pair prints one summary line

    conformance failsafe fork: 88 run, 75 passed, 0 failed, 0 errors, 13 skipped (41.2 s)

and the failures' tracebacks before it (every test's name with --verbose). ``--skips`` prints the
skip table instead. Exit status 1 if any test failed or erred, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import fnmatch
import multiprocessing
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cpython_suites as suites  # noqa: E402 - after the path above


def _names(text: str | None) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executor", action="append", choices=sorted(suites.EXECUTORS),
                        help="an executor to test (repeat; default: all)")
    parser.add_argument("--start-method", action="append", choices=suites.START_METHODS,
                        help="a start method (repeat; default: every one this platform has)")
    parser.add_argument("-k", dest="patterns", action="append",
                        help="run only tests whose name (or class.name) matches this glob; repeat")
    parser.add_argument("--verbose", action="store_true", help="name every test as it runs")
    parser.add_argument("--skips", action="store_true", help="print the skip table and exit")
    args = parser.parse_args(argv)
    executors = args.executor or _names(os.environ.get("GILFREE_CONFORMANCE_EXECUTORS")) or list(suites.EXECUTORS)
    methods = (args.start_method or _names(os.environ.get("GILFREE_CONFORMANCE_START_METHODS"))
               or [m for m in suites.START_METHODS if m in multiprocessing.get_all_start_methods()])
    for name in executors:
        if name not in suites.EXECUTORS:
            parser.error(f"unknown executor {name!r}; choose from {', '.join(suites.EXECUTORS)}")
    for name in methods:
        if name not in suites.START_METHODS:
            parser.error(f"unknown start method {name!r}; choose from {', '.join(suites.START_METHODS)}")
    args.executors, args.methods = executors, methods
    return args


def _select(suite: unittest.TestSuite, patterns: list[str] | None) -> unittest.TestSuite:
    if not patterns:
        return suite
    chosen = unittest.TestSuite()
    for test in _flatten(suite):
        name = test.id().rsplit(".", 2)
        short = {name[-1], ".".join(name[-2:])}
        if any(fnmatch.fnmatchcase(s, p) or fnmatch.fnmatchcase(s, f"*{p}*") for s in short for p in patterns):
            chosen.addTest(test)
    return chosen


def _flatten(suite: unittest.TestSuite) -> list[unittest.TestCase]:
    out: list[unittest.TestCase] = []
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            out += _flatten(item)
        else:
            out.append(item)
    return out


def print_skips() -> None:
    print("| test | executors | reason |")
    print("|---|---|---|")
    for row in suites.SKIPS:
        who = "all" if row.executors == frozenset(suites.EXECUTORS) else ", ".join(sorted(row.executors))
        print(f"| {row.test} | {who} | {row.reason} |")
    print()
    print("| not run | reason |")
    print("|---|---|")
    for what, reason in suites.NOT_RUN:
        print(f"| {what} | {reason} |")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.skips:
        print_skips()
        return 0
    loader = unittest.TestLoader()
    lines, ok = [], True
    for executor in args.executors:
        for method in args.methods:
            suite = unittest.TestSuite(loader.loadTestsFromTestCase(cls)
                                       for cls in suites.build(executor, method))
            suite = _select(suite, args.patterns)
            runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=2 if args.verbose else 1)
            start = time.monotonic()
            result = runner.run(suite)
            seconds = time.monotonic() - start
            failed, errors, skipped = len(result.failures), len(result.errors), len(result.skipped)
            unexpected = len(result.unexpectedSuccesses)
            passed = result.testsRun - failed - errors - skipped - len(result.expectedFailures) - unexpected
            line = (f"conformance {executor} {method}: {result.testsRun} run, {passed} passed, "
                    f"{failed} failed, {errors} errors, {skipped} skipped ({seconds:.1f} s)")
            print(line, flush=True)
            lines.append(line)
            ok = ok and failed == 0 and errors == 0 and unexpected == 0
    if len(lines) > 1:
        print("\n".join(["", "summary:"] + lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
