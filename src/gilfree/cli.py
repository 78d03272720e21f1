"""Command line: ``gilfree demo`` and ``gilfree info`` (argument parsing and formatting only)."""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["main"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gilfree",
        description="When can threads beat the GIL? Measure it on this machine.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="step 1 side by side: serial vs threads, pure Python vs nogil kernel")
    demo.add_argument("--n", type=_positive, default=2_000_000, help="pure-Python loop size per call (default: the lab's 2,000,000)")
    demo.add_argument("--threads", type=_positive, default=None, help="threads (default: the core count, at least 2)")
    demo.add_argument("--repeats", type=_positive, default=3, help="timed repeats per variant; the median is shown (default: 3)")
    demo.add_argument("--json", action="store_true", help="print one JSON document instead of the table")

    info = sub.add_parser("info", help="implementation, interpreter, GIL state and core count")
    info.add_argument("--json", action="store_true", help="print JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "info":
        from ._timing import environment

        env = environment()
        if args.json:
            print(json.dumps(env, indent=2))
        else:
            width = max(map(len, env))
            for key, value in env.items():
                print(f"{key:<{width}}  {value}")
        return 0
    if args.command == "demo":
        from .demo import format_gil_demo, run_gil_demo

        if not args.json:
            print("Timing serial and threaded runs (a few seconds)...", file=sys.stderr, flush=True)
        demo = run_gil_demo(n=args.n, threads=args.threads, repeats=args.repeats)
        print(json.dumps(demo.to_dict(), indent=2) if args.json else format_gil_demo(demo))
        return 0 if demo.result_checked else 1
    raise AssertionError(args.command)  # pragma: no cover - argparse enforces the choices


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
