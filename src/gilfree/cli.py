"""Command line: ``gilfree lab``, ``gilfree bench``, ``gilfree faults``, ``gilfree info``.

Argument parsing and formatting only: the work lives in :mod:`gilfree.lab`,
:mod:`gilfree.bench` and :mod:`gilfree.faults`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ._version import __version__

__all__ = ["main"]


def _step(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a step number 1..8, got {text!r}") from None
    if not 1 <= value <= 8:
        raise argparse.ArgumentTypeError(f"steps are numbered 1..8, got {value}")
    return value


def _start_methods() -> list[str]:
    import multiprocessing

    return multiprocessing.get_all_start_methods()


def _positive(text: str) -> int:
    from ._checks import check_count

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    try:  # the library's own rule, so that the option and the function refuse the same values
        return check_count(value, "the value", minimum=1)
    except (ValueError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("the value ")) from None


def _bench_strategies() -> tuple[str, ...]:
    from .bench.matrix import strategy_choices

    return strategy_choices()


def _drill_strategies() -> tuple[str, ...]:
    from .faults import drill_strategies

    return drill_strategies()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gilfree",
        description="When can threads beat the GIL? Measure it on this machine.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    lab = sub.add_parser("lab", help="run the eight lab steps (or some of them) side by side")
    lab.set_defaults(subparser=lab)
    lab.add_argument("--step", type=_step, action="append", metavar="N",
                     help="run step N only (repeat the option for several steps)")
    lab.add_argument("--quick", action="store_true", help="small sizes: all eight steps in under a minute")
    lab.add_argument("--json", action="store_true", help="print one JSON document with a result per step")
    lab.add_argument("--no-progress", action="store_true", help="do not draw progress bars")
    lab.add_argument("--start-method", choices=_start_methods(), metavar="NAME",
                     help="how worker processes start: " + ", ".join(_start_methods())
                          + " (default: this Python's own default)")

    bench = sub.add_parser(
        "bench", help="the benchmarks: the strategy matrix (with plots and a verdict), the kernels' "
                      "foundation figures, the cost of a dead worker")
    bench.set_defaults(subparser=bench)
    bench.add_argument("--suite", choices=("matrix", "foundation", "faults"),
                       help="matrix: every strategy on the same work (the default); foundation: the nogil "
                            "kernels against pure Python, on 1 and more threads, and against numpy.sum; "
                            "faults: time from a worker's death to the caller's error")
    bench.add_argument("--quick", action="store_true",
                       help="matrix: small and medium sizes, 3 repeats: about 30 seconds on 2 cores")
    bench.add_argument("--workload", action="append", metavar="NAME",
                       help="matrix: only this workload (repeatable): cpu, reduction, transform, pipeline")
    bench.add_argument("--strategy", action="append", metavar="NAME",
                       help="matrix: only this strategy (repeatable; serial is always kept as the reference): "
                            + ", ".join(s for s in _bench_strategies() if s != "serial"))
    bench.add_argument("--workers", type=_positive, action="append", metavar="N",
                       help="matrix: this worker count (repeatable; default 1, 2, 4, ... up to the cores, "
                            "and 2 x cores)")
    bench.add_argument("--size", action="append", choices=("small", "medium", "large"),
                       help="matrix: only this size (repeatable)")
    bench.add_argument("--implementation", action="append", choices=("c-extension", "pure-python"),
                       help="matrix: only this implementation (repeatable)")
    bench.add_argument("--chunks-per-worker", type=_positive, metavar="N",
                       help="matrix: chunks each worker gets per call (default 4)")
    bench.add_argument("--no-plots", action="store_true", help="matrix: do not draw the PNG plots")
    bench.add_argument("--mb", type=_positive, metavar="N",
                       help="foundation: the array for chunk_stats vs numpy.sum, in MB (default 400)")
    bench.add_argument("--threads", type=_positive, metavar="N",
                       help="foundation: threads for the scaling row (default: the cores, at least 2)")
    bench.add_argument("--elements", type=_positive, metavar="N",
                       help="foundation: the kernel's sum of squares (default 400000000; pure Python gets 1/200)")
    bench.add_argument("--start-method", action="append", choices=_start_methods(), metavar="NAME",
                       help="faults: only this start method (repeatable): " + ", ".join(_start_methods()))
    bench.add_argument("--repeats", type=_positive, metavar="N",
                       help="timed repeats per variant (default: matrix 5, foundation 7, faults 15)")
    bench.add_argument("--out", default="gilfree-bench", metavar="DIR",
                       help="folder for the results: bench.json, bench.md and the plots (matrix), "
                            "foundation.json, faults.json (default ./gilfree-bench)")
    bench.add_argument("--from", dest="from_json", metavar="FILE",
                       help="measure nothing: print (and for the matrix redraw) a saved result")
    bench.add_argument("--no-progress", action="store_true", help="do not draw a progress bar")

    faults = sub.add_parser(
        "faults", help="the fault drill: kill workers, raise, interrupt, time out; check nothing is lost or leaked")
    faults.set_defaults(subparser=faults)
    faults.add_argument("--strategy", action="append", metavar="NAME",
                        help="only this strategy (repeatable; default: "
                             + ", ".join(_drill_strategies()) + "); any registered strategy may be named")
    faults.add_argument("--start-method", action="append", metavar="NAME",
                        help="only this start method (repeatable): fork, spawn, forkserver")
    faults.add_argument("--scenario", action="append", metavar="NAME",
                        help="only this scenario (repeatable); see --list")
    faults.add_argument("--list", action="store_true", help="list the scenarios and exit")
    faults.add_argument("--jobs", type=_positive, default=2, metavar="N",
                        help="cases run side by side (default 2)")
    faults.add_argument("--json", action="store_true", help="print one JSON document")
    faults.add_argument("--no-progress", action="store_true", help="do not draw a progress bar")

    listing = sub.add_parser("strategies", help="every registered strategy, what it runs on and can do")
    listing.set_defaults(subparser=listing)
    shape = listing.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="print JSON")
    shape.add_argument("--markdown", action="store_true", help="print a Markdown table (the README's)")

    info = sub.add_parser("info", help="implementation, interpreter, GIL state and core count")
    info.set_defaults(subparser=info)
    info.add_argument("--json", action="store_true", help="print JSON")
    return parser


class _Bar:
    """A tqdm progress bar on stderr per step, fed by the steps' progress callbacks."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def start(self, label: str) -> None:
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=1, desc=label, file=sys.stderr, leave=False, unit="run")

    def __call__(self, done: int, total: int, label: str) -> None:
        if self.bar is not None:
            self.bar.total = total
            self.bar.n = done
            self.bar.set_postfix_str(label, refresh=False)
            self.bar.refresh()

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _lab(args: argparse.Namespace) -> int:
    from .lab import STEPS, format_result, run_step, step_module

    steps = args.step or sorted(STEPS)
    if args.start_method:
        import multiprocessing

        multiprocessing.set_start_method(args.start_method, force=True)
    size = "quick" if args.quick else "default"
    bar = _Bar(enabled=not args.no_progress and sys.stderr.isatty())
    results = []
    for step in steps:
        bar.start(f"step {step}: {step_module(step).TITLE}")
        try:
            result = run_step(step, size, progress=bar)
        finally:
            bar.stop()
        results.append(result)
        if not args.json:
            print(format_result(result), end="\n\n", flush=True)
    if args.json:
        from ._timing import environment

        doc = {"environment": environment(), "size": size,
               "ok": all(r.ok for r in results), "steps": [r.to_dict() for r in results]}
        print(json.dumps(doc, indent=2, default=str))
    return 0 if all(r.ok for r in results) else 1


def _writable_or_exit(folder: str, parser: argparse.ArgumentParser) -> None:
    try:
        os.makedirs(folder, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(f"{folder} is not writable")
    except OSError as exc:
        parser.error(f"cannot write the results to --out {folder}: {exc}")


def _bench(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .bench.command import prepare

    try:
        job = prepare(args)
    except ValueError as exc:
        parser.error(str(exc))
    _writable_or_exit(args.out, parser)  # before measuring for minutes
    if job.doc is None:
        bar = _Bar(enabled=not args.no_progress and sys.stderr.isatty())
        bar.start(f"gilfree bench --suite {job.suite}")
        try:
            job.measure(bar)
        except RuntimeError as exc:  # nothing to compare here, or no room for the data
            print(f"gilfree bench: {exc}", file=sys.stderr)
            return 1
        finally:
            bar.stop()
    text, ok = job.report(args.out)
    print(text)
    return 0 if ok else 1


def _faults(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .faults import SCENARIOS, cases, drill, format_outcomes

    if args.list:
        width = max(map(len, SCENARIOS))
        for name, what in SCENARIOS.items():
            print(f"{name:<{width}}  {what}")
        return 0
    try:
        selected = cases(args.strategy, args.start_method, args.scenario)
    except ValueError as exc:
        parser.error(str(exc))
    bar: Any = None
    if not args.no_progress and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(selected), desc="fault drill", file=sys.stderr, leave=False, unit="case")

    def progress(done: int, total: int, outcome: Any) -> None:
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(outcome.case.name, refresh=False)

    try:
        outcomes = drill(selected, jobs=args.jobs, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        from ._timing import environment

        doc = {"environment": environment(), "ok": all(o.ok for o in outcomes),
               "cases": [o.to_dict() for o in outcomes]}
        print(json.dumps(doc, indent=2))
    else:
        print(format_outcomes(outcomes))
    return 0 if all(o.ok for o in outcomes) else 1


_CAPABILITY_WORDS = (
    ("can_stop_task", "stops one task"),
    ("survives_worker_death", "survives a dead worker"),
    ("start_methods", "takes a start method"),
    ("batches", "whole batches"),
)


def _strategies(args: argparse.Namespace) -> str:
    """The registry as a table: a plain one, Markdown (the README's), or JSON."""
    from .registry import plugin_errors, strategies

    table = list(strategies())
    if args.json:
        return json.dumps([{"name": s.name, "description": s.description, "peer": s.peer,
                            "available": s.missing() is None, "origin": s.origin,
                            **s.capabilities.as_dict()} for s in table], indent=2)
    rows = []
    for s in table:
        caps = s.capabilities
        can = ", ".join(words for attr, words in _CAPABILITY_WORDS if getattr(caps, attr)) or "-"
        where = {"serial": "the calling thread", "threads": "threads here"}.get(caps.uses, "other processes")
        rows.append((s.name, where, caps.transport or "", can, s.description))
    head = ("strategy", "runs tasks on", "arrays travel as", "can", "what it is")
    if args.markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join((f"`{r[0]}`", *r[1:])) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows)]
    out = ["  ".join(f"{c:<{w}}" for c, w in zip(head, widths)).rstrip(),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(f"{c:<{w}}" for c, w in zip(r, widths)).rstrip() for r in rows]
    missing = [f"{s.name}: {s.missing()}" for s in table if s.missing()]
    broken = [f"entry point {name!r} could not be loaded: {why}" for name, why in plugin_errors().items()]
    notes = missing + broken
    return "\n".join(out + ([""] + notes if notes else []))


def main(argv: list[str] | None = None) -> int:
    from .interrupts import Terminated, sigterm_raises

    args, unknown = _parser().parse_known_args(argv)
    # Errors found after parsing come from the subcommand's own parser, so the usage printed
    # with them is that of the command the user typed ("usage: gilfree bench ..."); an unknown
    # option too, which argparse would otherwise report with the top-level usage.
    parser = args.subparser
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command in ("lab", "bench", "faults"):
        try:
            with sigterm_raises():
                if args.command == "bench":
                    return _bench(args, parser)
                return _lab(args) if args.command == "lab" else _faults(args, parser)
        except KeyboardInterrupt:
            print("\ninterrupted: workers stopped, shared memory released", file=sys.stderr)
            return 130
        except Terminated:
            print("\nterminated (SIGTERM): workers stopped, shared memory released", file=sys.stderr)
            return 143
    if args.command == "strategies":
        print(_strategies(args))
        return 0
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
    raise AssertionError(args.command)  # pragma: no cover - argparse enforces the choices


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
