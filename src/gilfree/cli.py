"""Command line: ``gilfree lab``, ``gilfree bench``, ``gilfree faults``, ``gilfree advise``, ``gilfree info``.

Argument parsing and formatting only: the work lives in :mod:`gilfree.lab`,
:mod:`gilfree.bench`, :mod:`gilfree.faults` and :mod:`gilfree.advisor`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterable
from typing import Any, NoReturn, TextIO

from ._text import fit_table, shorten, terminal_width, wrap
from ._version import __version__

__all__ = ["main"]

#: How long ``gilfree lab --quick`` takes (``--help`` says it; the README says the same).
QUICK_LAB_TAKES = "under half a minute on 2 cores"


def _step(text: str) -> int | str:
    """A step number 1..8, or the name of a step outside the eight (``gilfree.lab.NAMED_STEPS``)."""
    from .lab import NAMED_STEPS

    if text.strip().lower() in NAMED_STEPS:
        return text.strip().lower()
    named = " or ".join(NAMED_STEPS)
    try:
        value = int(text)
    except ValueError:
        close = [name for name in NAMED_STEPS if text.strip() and name.startswith(text.strip().lower())]
        hint = f"; did you mean {close[0]}?" if close else f" (or {named}, the GIL latency step)"
        raise argparse.ArgumentTypeError(f"expected a step number 1..8, got {text!r}{hint}") from None
    if not 1 <= value <= 8:
        raise argparse.ArgumentTypeError(f"steps are numbered 1..8, got {value} (or {named}, the GIL latency step)")
    return value


def _start_methods() -> list[str]:
    import multiprocessing

    return multiprocessing.get_all_start_methods()


def _start_method(text: str) -> str:
    if text not in _start_methods():
        raise argparse.ArgumentTypeError(
            f"invalid choice: {text!r} (choose from {', '.join(_start_methods())})")
    return text


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


def _most_workers() -> tuple[int, int]:
    """The largest worker (or job) count the command line takes here, and the usable cores."""
    from ._timing import usable_cores

    cores = usable_cores()
    return max(8, 4 * cores), cores


def _bounded(text: str, why: str) -> int:
    value = _positive(text)
    most, cores = _most_workers()
    if value > most:
        per = "4 per core" if most == 4 * cores else "at least 8"
        raise argparse.ArgumentTypeError(
            f"at most {most} on {cores} usable {'core' if cores == 1 else 'cores'} ({per}): {why}; got {value}")
    return value


def _workers(text: str) -> int:
    """A worker count: a whole number from 1 to 4 per usable core (at least 8)."""
    return _bounded(text, "more workers than that only wait for the cores, each with its own "
                          "memory and start-up")


def _jobs(text: str) -> int:
    """How many fault-drill cases run side by side: 1 to 4 per usable core (at least 8)."""
    return _bounded(text, "each case starts a process and its workers, and more at once only "
                          "wait for the cores")


class _Parser(argparse.ArgumentParser):
    """argparse, with the choices in its own messages written as words: "choose from a, b"."""

    def error(self, message: str) -> NoReturn:
        message = re.sub(r"\(choose from ((?:'[^']*'(?:, )?)+)\)",
                         lambda m: "(choose from " + ", ".join(re.findall(r"'([^']*)'", m.group(1))) + ")",
                         message)
        self.print_usage(sys.stderr)
        line = f"{self.prog}: error: {message}"
        if sys.stderr.isatty():  # wrapped for the reader; whole where a program reads it
            line = "\n".join(wrap(line, terminal_width(sys.stderr), "  "))
        self.exit(2, line + "\n")


def _bench_strategies() -> tuple[str, ...]:
    from .bench.matrix import strategy_choices

    return strategy_choices()


def _drill_strategies() -> tuple[str, ...]:
    from .faults import drill_strategies

    return drill_strategies()


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gilfree",
        description="When can threads beat the GIL? Measure it on this machine.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_lab(sub)
    _add_bench(sub)
    _add_faults(sub)
    _add_advise(sub)
    _add_strategies(sub)
    _add_info(sub)
    return parser


def _add_lab(sub: Any) -> None:
    """``gilfree lab``: the eight steps."""
    lab = sub.add_parser("lab", help="run the eight lab steps (or some of them) side by side")
    lab.set_defaults(subparser=lab)
    lab.add_argument("--step", type=_step, action="append", metavar="N",
                     help="run step N only (repeat the option for several steps); N may also be "
                          "'latency': how late a waking thread runs beside pure Python, a nogil kernel and "
                          "a kernel holding the GIL, across switch intervals (not among the eight)")
    lab.add_argument("--quick", action="store_true",
                     help=f"small sizes: all eight steps in {QUICK_LAB_TAKES}")
    lab.add_argument("--workers", type=_workers, metavar="N",
                     help="worker threads or processes per step (default: the usable cores, at least 2; "
                          "step 2 counts 1, 2, 4, ... up to N; the latency step: busy threads beside the waking one, "
                          "default 1)")
    lab.add_argument("--json", action="store_true", help="print one JSON document with a result per step")
    lab.add_argument("--plot", metavar="FILE",
                     help="with --step latency: draw its lateness against the switch interval into FILE, "
                          "a .png, .svg or .pdf (no suffix: PNG; needs matplotlib: pip install \"gilfree[bench]\")")
    lab.add_argument("--no-progress", action="store_true", help="do not draw progress bars")
    lab.add_argument("--start-method", type=_start_method, metavar="NAME",
                     help="how worker processes start: " + ", ".join(_start_methods())
                          + " (default: this Python's own default)")
    lab.add_argument("--strategy", action="append", metavar="NAME",
                     help="steps 7 and 8: run on this strategy only (repeatable; default: every one that "
                          "runs here but the peers); dask runs them on a Dask cluster (pip install "
                          "\"gilfree[dask]\")")
    lab.add_argument("--scheduler", metavar="ADDRESS",
                     help="with --strategy dask: an existing Dask scheduler (tcp://host:8786) instead of a "
                          "LocalCluster on this machine")


def _add_bench(sub: Any) -> None:
    """``gilfree bench``: the suites (matrix, foundation, faults)."""
    bench = sub.add_parser(
        "bench", help="the benchmarks: the strategy matrix (with plots and a verdict), the kernels' "
                      "foundation figures, the cost of a dead worker")
    bench.set_defaults(subparser=bench)
    bench.add_argument("--suite", choices=("matrix", "foundation", "faults", "overhead"),
                       help="matrix: every strategy on the same work (the default); foundation: the nogil "
                            "kernels against pure Python, on 1 and more threads, and against numpy.sum; "
                            "faults: time from a worker's death to the caller's error; overhead: tasks per "
                            "second through each pool's map, tiny to 10 ms tasks, and pool start-up")
    bench.add_argument("--quick", action="store_true",
                       help="matrix: small and medium sizes, 3 repeats: about 30 seconds on 2 cores; "
                            "overhead: a tenth of the items, 3 repeats")
    bench.add_argument("--workload", action="append", metavar="NAME",
                       help="matrix: only this workload (repeatable): cpu, reduction, transform, pipeline")
    bench.add_argument("--strategy", action="append", metavar="NAME",
                       help="matrix: only this strategy (repeatable; serial is always kept as the reference): "
                            + ", ".join(s for s in _bench_strategies() if s != "serial"))
    bench.add_argument("--scheduler", metavar="ADDRESS",
                       help="matrix: an existing Dask scheduler (tcp://host:8786) for the dask strategy, "
                            "instead of a LocalCluster on this machine")
    bench.add_argument("--workers", type=_workers, action="append", metavar="N",
                       help="matrix: this worker count (repeatable; default 1, 2, 4, ... up to the cores, "
                            "and 2 x cores); overhead: the one worker count (default 2)")
    bench.add_argument("--size", action="append", choices=("small", "medium", "large"),
                       help="matrix: only this size (repeatable)")
    bench.add_argument("--implementation", action="append", choices=("c-extension", "pure-python"),
                       help="matrix: only this implementation (repeatable)")
    bench.add_argument("--chunks-per-worker", type=_positive, metavar="N",
                       help="matrix: chunks each worker gets per call (default: chosen per executor, at most 4, "
                            "fewer where its per-task cost measured at start-up would pass 10%% of a chunk's work)")
    bench.add_argument("--no-plots", action="store_true", help="matrix: do not draw the PNG plots")
    bench.add_argument("--mb", type=_positive, metavar="N",
                       help="foundation: the array for chunk_stats vs numpy.sum, in MB (default 400)")
    bench.add_argument("--threads", type=_positive, metavar="N",
                       help="foundation: threads for the scaling row (default: the cores, at least 2)")
    bench.add_argument("--elements", type=_positive, metavar="N",
                       help="foundation: the kernel's sum of squares (default 400000000; pure Python gets 1/200)")
    bench.add_argument("--start-method", action="append", choices=_start_methods(), metavar="NAME",
                       help="faults: only this start method (repeatable); overhead: the one start method: "
                            + ", ".join(_start_methods()))
    bench.add_argument("--repeats", type=_positive, metavar="N",
                       help="timed repeats per variant (default: matrix 5, foundation 15, faults 15, overhead 5)")
    bench.add_argument("--out", default="gilfree-bench", metavar="DIR",
                       help="folder for the results: bench.json, bench.md and the plots (matrix), "
                            "foundation.json, faults.json, overhead.json and .md (default ./gilfree-bench)")
    bench.add_argument("--from", dest="from_json", metavar="FILE",
                       help="measure nothing: print (and for the matrix redraw) a saved result")
    bench.add_argument("--no-progress", action="store_true", help="do not draw a progress bar")


def _add_faults(sub: Any) -> None:
    """``gilfree faults``: the fault drill."""
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
    faults.add_argument("--jobs", type=_jobs, default=2, metavar="N",
                        help="cases run side by side (default 2, at most 4 per usable core)")
    faults.add_argument("--json", action="store_true", help="print one JSON document")
    faults.add_argument("--no-progress", action="store_true", help="do not draw a progress bar")


def _budget(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, such as 20 or 2.5, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"the budget must be more than 0 seconds, got {text!r}")
    return value


def _add_advise(sub: Any) -> None:
    """``gilfree advise``: the user's own function, on every strategy that applies."""
    advise = sub.add_parser(
        "advise", help="time your own function serially, on threads and on processes, and say what pays",
        description="Run package.module:function serially, on threads, on processes (numpy arrays also "
                    "through shared memory) and on the other registered strategies, at a few worker counts; "
                    "print wall and CPU time, start-up and pickling costs, and a verdict with its evidence.")
    advise.set_defaults(subparser=advise)
    advise.add_argument("function", metavar="package.module:function", help="the function to advise on")
    source = advise.add_mutually_exclusive_group(required=True)
    source.add_argument("--args", action="append", metavar="LITERAL",
                        help="one task's arguments as a Python literal: 300000, or a tuple of several such as "
                             "\"(0, 1000000)\" (repeat the option for several tasks)")
    source.add_argument("--inputs", metavar="module:name",
                        help="an iterable of argument tuples in your module, or a function returning one "
                             "(the way to pass numpy arrays)")
    advise.add_argument("--strategy", action="append", metavar="NAME",
                        help="only this strategy (repeatable; serial is always the reference; default: every one "
                             "that runs here but other libraries' peers, which run only when named here)")
    advise.add_argument("--workers", type=_workers, action="append", metavar="N",
                        help="this worker count (repeatable; default 1, 2, 4, ... up to the usable cores)")
    advise.add_argument("--budget", type=_budget, metavar="SECONDS",
                        help="the most the run may take (default 20)")
    advise.add_argument("--json", action="store_true", help="print one JSON document")
    advise.add_argument("--no-progress", action="store_true", help="do not draw a progress bar")


def _add_strategies(sub: Any) -> None:
    """``gilfree strategies``: the registry as users see it."""
    listing = sub.add_parser("strategies", help="every registered strategy, what it runs on and can do")
    listing.set_defaults(subparser=listing)
    shape = listing.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="print JSON")
    shape.add_argument("--markdown", action="store_true", help="print a Markdown table (the README's)")


def _add_info(sub: Any) -> None:
    """``gilfree info``: this machine and interpreter."""
    info = sub.add_parser("info", help="implementation (and, when pure Python, why), interpreter, GIL state "
                                       "and core count")
    info.set_defaults(subparser=info)
    info.add_argument("--json", action="store_true", help="print JSON")


# The bar's line, and how many characters it has around {desc} and {bar} (for totals up to 9999);
# below 60 columns the times go, so that the label keeps some room.
_BAR_FORMAT = "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]", 31
_NARROW_BAR_FORMAT = "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}", 18


class _Bar:
    """A tqdm progress bar on stderr, one line that fits the terminal, fed by progress callbacks.

    The line is ``label: what runs now  42%|#####     | 21/50 [00:03<00:04]``: the label is cut
    to a fixed share of the width (so the bar neither jumps nor disappears) and the bar gets
    the rest.
    """

    def __init__(self, enabled: bool, file: TextIO | None = None, width: int | None = None) -> None:
        self.enabled = enabled
        self.file = file
        self.width = width
        self.bar: Any = None
        self.title = ""
        self.room = 0

    def start(self, label: str, short: str | None = None) -> None:
        """A new bar, showing ``label``; later its progress labels follow ``short`` (default: label)."""
        if self.enabled:
            from tqdm import tqdm

            file = sys.stderr if self.file is None else self.file
            ncols = (terminal_width(file) if self.width is None else self.width) - 1  # the last column wraps
            shape, fixed = _BAR_FORMAT if ncols >= 60 else _NARROW_BAR_FORMAT
            self.room = max(6, min(40, (ncols - fixed) * 3 // 5))
            self.title = label if short is None else short
            self.bar = tqdm(total=1, desc=self._desc(label), file=file, leave=False, ncols=ncols,
                            bar_format=shape, dynamic_ncols=False)

    def _desc(self, text: str) -> str:
        return shorten(text, self.room).ljust(self.room)

    def __call__(self, done: int, total: int, label: str) -> None:
        if self.bar is not None:
            self.bar.total = total
            self.bar.n = done
            self.bar.set_description_str(self._desc(f"{self.title}: {label}" if label else self.title),
                                         refresh=False)
            self.bar.refresh()

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _lab(args: argparse.Namespace) -> int:
    from .lab import STEPS, format_result, run_step, step_module

    steps: list[int | str] = list(dict.fromkeys(args.step)) if args.step else sorted(STEPS)  # --step 1 twice: once
    if args.start_method:
        import multiprocessing

        multiprocessing.set_start_method(args.start_method, force=True)
    size = "quick" if args.quick else "default"
    overrides: dict[str, Any] = {} if args.workers is None else {"workers": args.workers}
    cluster: dict[str, Any] = {}
    if args.strategy or args.scheduler:
        from .lab._plan import check_scheduler
        from .registry import strategy_names

        if any(step not in (7, 8) for step in steps):
            args.subparser.error("--strategy and --scheduler apply to steps 7 and 8: add --step 7 or --step 8")
        chosen = tuple(dict.fromkeys(args.strategy or ()))
        unknown = [name for name in chosen if name not in strategy_names()]
        if unknown:
            args.subparser.error(f"unknown strategy {unknown[0]!r}; choose from {', '.join(strategy_names())}")
        from .registry import get_strategy

        for name in chosen:
            missing = get_strategy(name).missing()
            if missing:
                args.subparser.error(missing)
        try:
            scheduler = check_scheduler(args.scheduler, chosen)
        except ValueError as exc:
            args.subparser.error(f"--scheduler: {exc}")
        cluster = {"strategies": chosen} if chosen else {}
        if scheduler:
            cluster["scheduler"] = scheduler
    if args.plot is not None:
        _check_plot(args, steps)
    bar = _Bar(enabled=not args.no_progress and sys.stderr.isatty())
    results = []
    for step in steps:
        bar.start(f"step {step}: {step_module(step).TITLE}", short=f"step {step}")
        try:
            result = run_step(step, size, progress=bar, **overrides, **cluster)
        finally:
            bar.stop()
        results.append(result)
        if not args.json:
            print(format_result(result), end="\n\n", flush=True)
        if args.plot is not None and step == "latency":
            from .lab.step_latency import plot

            written = plot(result, args.plot)
            if not args.json:
                print(f"Plot: {written}", end="\n\n", flush=True)
    if args.json:
        from ._timing import environment

        doc = {"environment": environment(), "size": size,
               "ok": all(r.ok for r in results), "steps": [r.to_dict() for r in results]}
        print(json.dumps(doc, indent=2, default=str))
    return 0 if all(r.ok for r in results) else 1


def _check_plot(args: argparse.Namespace, steps: list[int | str]) -> None:
    """--plot before any step runs: the latency step among the steps, a file name the plot can be
    drawn in (.png, .svg, .pdf or none), a writable folder, matplotlib."""
    import importlib.util

    from .lab._plot import MATPLOTLIB_MISSING, plot_path

    parser = args.subparser
    if "latency" not in steps:
        parser.error("--plot draws the latency step: add --step latency")
    if os.path.isdir(args.plot):
        parser.error(f"--plot needs a file name such as latency.png, got {args.plot!r}")
    try:
        target = plot_path(args.plot)
    except ValueError as exc:
        parser.error(f"--plot: {exc}")
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        parser.error(f"--plot: cannot write {target}: {folder} is not a writable folder")
    if importlib.util.find_spec("matplotlib") is None:
        parser.error(f"--plot: {MATPLOTLIB_MISSING}")


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
        print("\n".join(_aligned(SCENARIOS.items(), terminal_width())))
        return 0
    try:
        selected = cases(args.strategy, args.start_method, args.scenario)
    except ValueError as exc:
        parser.error(str(exc))
    bar = _Bar(enabled=not args.no_progress and sys.stderr.isatty())
    bar.start("fault drill")
    try:
        outcomes = drill(selected, jobs=args.jobs,
                         progress=lambda done, total, outcome: bar(done, total, outcome.case.name))
    finally:
        bar.stop()
    if args.json:
        from ._timing import environment

        doc = {"environment": environment(), "ok": all(o.ok for o in outcomes),
               "cases": [o.to_dict() for o in outcomes]}
        print(json.dumps(doc, indent=2))
    else:
        print(format_outcomes(outcomes))
    return 0 if all(o.ok for o in outcomes) else 1


def _advise(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .advisor import DEFAULT_BUDGET, BudgetTooSmall, advise
    from .advisor.report import format_advice
    from .advisor.target import literal_task, named_inputs, resolve

    # The user's module is found from the folder the command runs in, as ``python -m`` finds it
    # (the ``gilfree`` script alone would look beside itself); worker processes inherit the path.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        fn = resolve(args.function)
        inputs = [literal_task(text) for text in args.args] if args.args else named_inputs(args.inputs)
    except (ValueError, TypeError) as exc:  # a name or a literal that does not work: usage
        parser.error(str(exc))
    except RuntimeError as exc:  # the user's module or inputs function failed: their code, not a typo
        print(f"gilfree advise: {exc}", file=sys.stderr)
        return 1
    bar = _Bar(enabled=not args.no_progress and sys.stderr.isatty())
    bar.start(f"advise {args.function}", short="advise")
    try:
        advice = advise(fn, inputs, strategies=args.strategy, workers=args.workers,
                        budget=DEFAULT_BUDGET if args.budget is None else args.budget, progress=bar)
    except (BudgetTooSmall, ValueError, TypeError) as exc:  # what was asked cannot run: say why
        bar.stop()
        parser.error(str(exc))
    except RuntimeError as exc:  # the function itself failed on its inputs
        bar.stop()
        print(f"gilfree advise: {exc}", file=sys.stderr)
        return 1
    finally:
        bar.stop()
    print(json.dumps(advice.to_dict(), indent=2, default=str) if args.json
          else format_advice(advice, terminal_width()))
    return 0


def _aligned(pairs: Iterable[tuple[str, str]], width: int) -> list[str]:
    """Names and their text in two columns; a text too long for the width wraps under itself."""
    pairs = list(pairs)
    left = max((len(name) for name, _ in pairs), default=0)
    hang = " " * min(left + 2, width // 2)
    out: list[str] = []
    for name, text in pairs:
        out += wrap(f"{name:<{left}}  {text}", width, hang)
    return out


_CAPABILITY_WORDS = (
    ("can_stop_task", "stops one task"),
    ("survives_worker_death", "survives a dead worker"),
    ("start_methods", "takes a start method"),
    ("batches", "whole batches"),
    ("connects", "joins a cluster (--scheduler)"),
    ("places_tasks", "sends a task where its inputs are"),
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
    width = terminal_width()
    out = fit_table(head, rows, sys.maxsize)
    if max(map(len, out)) > width:  # too wide for a table: a paragraph per strategy
        out = _aligned(((name, f"{what}. Runs tasks on {where}; arrays travel as {travel}"
                         + ("" if can == "-" else f"; can: {can}"))
                        for name, where, travel, can, what in rows), width)
    missing = [f"{s.name}: {s.missing()}" for s in table if s.missing()]
    broken = [f"entry point {name!r} could not be loaded: {why}" for name, why in plugin_errors().items()]
    notes = [line for note in missing + broken for line in wrap(note, width, "  ")]
    return "\n".join(out + ([""] + notes if notes else []))


#: ``gilfree info``'s names for the environment's keys (``--json`` prints the keys and raw values).
_INFO_NAMES = {
    "python": "Python",
    "python_implementation": "Python implementation",
    "free_threaded_build": "free-threaded build",
    "gil_enabled": "GIL enabled",
    "os": "OS",
    "cpu": "CPU",
    "memory_bytes": "memory",
    "load_average_1min": "load average (1 min)",
    "why_pure_python": "why pure Python",
    "to_get_the_kernels": "compiled kernels",
}


def _info_value(key: str, value: object) -> str:
    """One environment value in human units: yes/no, GiB, two decimals."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "memory_bytes" and isinstance(value, int):
        return f"{value / 2**30:.1f} GiB"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _info(env: dict[str, Any], reason: Any) -> dict[str, Any]:
    """The environment with, after the implementation, why it is pure Python and how to get the
    compiled kernels (both None when they are the compiled kernels)."""
    out: dict[str, Any] = {}
    for key, value in env.items():
        out[key] = value
        if key == "implementation":
            out["why_pure_python"] = None if reason is None else reason.why
            out["to_get_the_kernels"] = None if reason is None else reason.how
    return out


def _info_lines(env: dict[str, Any], width: int) -> list[str]:
    """``gilfree info`` as text: a name and a value in human units per line (the reasons for pure
    Python only where there are some)."""
    return _aligned(((_INFO_NAMES.get(key, key.replace("_", " ")), _info_value(key, value))
                     for key, value in env.items()
                     if value is not None or key not in ("why_pure_python", "to_get_the_kernels")), width)


def main(argv: list[str] | None = None) -> int:
    """Run the command; a reader that stops reading (``gilfree lab | head``) ends it quietly."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # a pipe closed after the last print shows up here
        return code
    except BrokenPipeError:
        return _stdout_closed()


def _stdout_closed() -> int:
    """The exit of a Unix tool whose reader went away: no traceback, status 128 + SIGPIPE.

    Standard output is pointed at /dev/null first, so that the interpreter's own flush at exit
    does not raise the same error again. Pools and shared memory were released on the way here:
    the print that failed ran between steps, outside every ``with`` block.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)
    return 128 + 13  # SIGPIPE's number on every Unix; Windows has no SIGPIPE but the same meaning


def _main(argv: list[str] | None) -> int:
    from .interrupts import Terminated, sigterm_raises

    args, unknown = _parser().parse_known_args(argv)
    # Errors found after parsing come from the subcommand's own parser, so the usage printed
    # with them is that of the command the user typed ("usage: gilfree bench ..."); an unknown
    # option too, which argparse would otherwise report with the top-level usage.
    parser = args.subparser
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command in ("lab", "bench", "faults", "advise"):
        try:
            with sigterm_raises():
                if args.command == "bench":
                    return _bench(args, parser)
                if args.command == "advise":
                    return _advise(args, parser)
                return _lab(args) if args.command == "lab" else _faults(args, parser)
        except KeyboardInterrupt:
            print("\ninterrupted: workers stopped, shared memory released", file=sys.stderr)
            return 130
        except Terminated:
            print("\nterminated (SIGTERM): workers stopped, shared memory released", file=sys.stderr)
            return 143
        except ConnectionError as exc:  # --scheduler: no cluster answered (gilfree.cluster.SchedulerUnreachable)
            from .cluster import SchedulerUnreachable

            if not isinstance(exc, SchedulerUnreachable):
                raise
            parser.exit(2, f"{parser.prog}: error: {exc}\n")
    if args.command == "strategies":
        print(_strategies(args))
        return 0
    if args.command == "info":
        from ._select import pure_python_reason
        from ._timing import environment

        env = _info(environment(), pure_python_reason())
        print(json.dumps(env, indent=2) if args.json else "\n".join(_info_lines(env, terminal_width())))
        return 0
    raise AssertionError(args.command)  # pragma: no cover - argparse enforces the choices


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
