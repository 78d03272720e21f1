"""What ``gilfree bench`` does with its options: one entry point, four suites.

``--suite matrix`` (the default) runs :mod:`~gilfree.bench.matrix`, ``--suite foundation``
:mod:`~gilfree.bench.foundation`, ``--suite faults`` :mod:`~gilfree.bench.faults`, ``--suite
overhead`` :mod:`~gilfree.bench.overhead`. Each writes its JSON under ``--out`` (the matrix also
its Markdown report and plots, the overhead suite its Markdown table) and prints its figures;
``--from FILE`` measures nothing and prints (and, for the matrix, redraws) a saved result, of
whichever suite it is. The command line (:mod:`gilfree.cli`) parses the options, draws the
progress bar and turns a :class:`ValueError` from here into its usage error.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..experiment import Progress

__all__ = ["SUITES", "Job", "prepare"]

SUITES = ("matrix", "foundation", "faults", "overhead")

#: Option -> (its attribute on the parsed arguments, the suites it is for).
_FOR = {
    "--quick": ("quick", ("matrix", "overhead")),
    "--workload": ("workload", ("matrix",)),
    "--strategy": ("strategy", ("matrix",)),
    "--scheduler": ("scheduler", ("matrix",)),
    "--workers": ("workers", ("matrix", "overhead")),
    "--size": ("size", ("matrix",)),
    "--implementation": ("implementation", ("matrix",)),
    "--chunks-per-worker": ("chunks_per_worker", ("matrix",)),
    "--no-plots": ("no_plots", ("matrix",)),
    "--mb": ("mb", ("foundation",)),
    "--threads": ("threads", ("foundation",)),
    "--elements": ("elements", ("foundation",)),
    "--start-method": ("start_method", ("faults", "overhead")),
    "--repeats": ("repeats", SUITES),
}
#: What ``--from`` still takes: it measures nothing.
_REDRAW = ("--no-plots",)


@dataclass
class Job:
    """One ``gilfree bench`` call: a suite, and either what to measure or the saved result."""

    suite: str
    measure_with: Callable[[Progress], dict[str, Any]] | None
    doc: dict[str, Any] | None = None
    plots: bool = True

    def measure(self, progress: Progress) -> None:
        if self.measure_with is not None:
            self.doc = self.measure_with(progress)

    def report(self, out: str) -> tuple[str, bool]:
        """Write the result under ``out``; the text for the terminal, and whether every check passed."""
        if self.doc is None:
            raise RuntimeError("nothing was measured or loaded")
        if self.suite == "matrix":
            return _matrix_report(self.doc, out, self.plots)
        from .faults import format_faults
        from .foundation import format_foundation
        from .overhead import format_overhead, markdown_overhead

        path = _write_json(self.doc, out, f"{self.suite}.json")
        if self.suite == "overhead":
            table = os.path.join(out, "overhead.md")
            with open(table, "w", encoding="utf-8") as f:
                f.write(markdown_overhead(self.doc))
            ok = all(row["ok"] for row in self.doc["rows"] + self.doc["startup"])
            return f"{format_overhead(self.doc)}\n\nTable: {table}; data: {path}", ok
        text = (format_foundation if self.suite == "foundation" else format_faults)(self.doc)
        return f"{text}\n\nData: {path}", all(row["ok"] for row in self.doc["rows"])


def _given(args: argparse.Namespace, option: str) -> bool:
    value = getattr(args, _FOR[option][0])
    return value is not None and value is not False


def prepare(args: argparse.Namespace) -> Job:
    """The job ``args`` ask for; :class:`ValueError` (a usage error) for options that do not fit."""
    if args.from_json:
        measuring = [o for o in _FOR if o not in _REDRAW and _given(args, o)]
        if measuring:
            raise ValueError(f"--from redraws a saved run and measures nothing: drop {', '.join(measuring)}, "
                             "or drop --from to measure")
        doc, suite = _load(args.from_json)
        if args.suite not in (None, suite):
            raise ValueError(f"{args.from_json} is a result of --suite {suite}, not --suite {args.suite}")
        return Job(suite, None, doc, plots=not args.no_plots)
    suite = args.suite or "matrix"
    misplaced = [o for o, (_, suites) in _FOR.items() if suite not in suites and _given(args, o)]
    if misplaced:
        owners = [s for s in SUITES if any(s in _FOR[o][1] for o in misplaced)]
        raise ValueError(f"{', '.join(misplaced)}: not for --suite {suite}; drop "
                         f"{'it' if len(misplaced) == 1 else 'them'}, or use "
                         + " or ".join(f"--suite {s}" for s in owners))
    build = {"matrix": _matrix_job, "foundation": _foundation_job, "faults": _faults_job,
             "overhead": _overhead_job}[suite]
    return Job(suite, build(args), plots=not args.no_plots)


def _load(path: str) -> tuple[dict[str, Any], str]:
    """A saved result, and the suite that wrote it (from its schema)."""
    from . import faults, foundation, overhead
    from .matrix import SCHEMAS

    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    suites = {**{s: "matrix" for s in SCHEMAS}, foundation.SCHEMA: "foundation", faults.SCHEMA: "faults",
              overhead.SCHEMA: "overhead"}
    schema = doc.get("schema") if isinstance(doc, dict) else None
    if not isinstance(schema, str) or schema not in suites:
        raise ValueError(f"{path} is not a gilfree bench result (schema {', '.join(suites)})")
    return doc, suites[schema]


def _matrix_job(args: argparse.Namespace) -> Callable[[Progress], dict[str, Any]]:
    from .matrix import DEFAULT, QUICK, Plan, run_matrix

    options: dict[str, Any] = dict(QUICK if args.quick else DEFAULT)
    for name, value in (("workloads", args.workload), ("sizes", args.size),
                        ("implementations", args.implementation)):
        if value:
            options[name] = tuple(dict.fromkeys(value))
    if args.strategy:
        options["strategies"] = tuple(dict.fromkeys(["serial", *args.strategy]))
    if args.workers:
        options["workers"] = tuple(sorted(set(args.workers)))
    if getattr(args, "scheduler", None):
        from ..lab._plan import check_scheduler

        options["scheduler"] = check_scheduler(args.scheduler, options.get("strategies", ("dask",)))
    for name in ("repeats", "chunks_per_worker"):
        if getattr(args, name):
            options[name] = getattr(args, name)
    try:
        plan = Plan(**options)
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    return lambda progress: run_matrix(plan, progress)


def _foundation_job(args: argparse.Namespace) -> Callable[[Progress], dict[str, Any]]:
    from .foundation import FoundationPlan, run_foundation

    options = {name: getattr(args, name) for name in ("mb", "threads", "repeats", "elements")
               if getattr(args, name) is not None}
    plan = FoundationPlan(**options)
    return lambda progress: run_foundation(plan, progress)


def _faults_job(args: argparse.Namespace) -> Callable[[Progress], dict[str, Any]]:
    from .faults import FaultsPlan, run_faults

    plan = FaultsPlan(**({"repeats": args.repeats} if args.repeats else {}),
                      start_methods=tuple(dict.fromkeys(args.start_method)) if args.start_method else None)
    return lambda progress: run_faults(plan, progress)


def _overhead_job(args: argparse.Namespace) -> Callable[[Progress], dict[str, Any]]:
    from .overhead import QUICK, OverheadPlan, run_overhead

    options: dict[str, Any] = dict(QUICK) if args.quick else {}
    for option, name in (("--workers", "workers"), ("--start-method", "start_method")):
        values = getattr(args, name)
        if values:
            if len(set(values)) > 1:
                raise ValueError(f"{option}: the overhead suite runs one at a time, got {', '.join(map(str, values))}")
            options[name] = values[0]
    if args.repeats:
        options["repeats"] = args.repeats
    plan = OverheadPlan(**options)
    return lambda progress: run_overhead(plan, progress)


def _write_json(doc: dict[str, Any], out: str, name: str) -> str:
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    return path


def _matrix_report(doc: dict[str, Any], out: str, plots: bool) -> tuple[str, bool]:
    from .report import complete, fill, terminal, terminal_width, write_all

    complete(doc)
    written = write_all(doc, out, plots=plots)
    text = terminal(doc) + "\n\n" + fill(
        f"Full tables: {written['markdown']}; data: {written['json']}"
        + (f"; plots: {', '.join(written['plots'])}" if written["plots"] else
           ("" if not plots else "; no plots (matplotlib is not installed: pip install matplotlib)")),
        terminal_width())
    failed = [r for r in doc["rows"] if not r["ok"]] + [t for t in doc["twin_checks"] if not t["equal"]]
    return text, not failed
