"""``gilfree bench``: every strategy on the same work, side by side, on this machine.

:mod:`~gilfree.bench.workloads` says what runs and how each strategy hands it its data,
:mod:`~gilfree.bench.matrix` runs the matrix on :class:`gilfree.experiment.Experiment` (warm-up,
checks, interleaved repeats, wall and CPU time, how busy the machine was),
:mod:`~gilfree.bench.verdict` turns the numbers into plain words with the rules of
:mod:`gilfree.figures`, and :mod:`~gilfree.bench.report` writes the JSON, the Markdown table and
the plots. :mod:`~gilfree.bench.foundation`, :mod:`~gilfree.bench.faults` and
:mod:`~gilfree.bench.overhead` are the other suites of ``gilfree bench --suite``;
:mod:`~gilfree.bench.command` is what the command line does with its options.
"""

from .matrix import DEFAULT, QUICK, SCHEMA, SCHEMAS, Plan, default_workers, run_matrix, strategy_choices
from .workloads import WORKLOADS

__all__ = ["DEFAULT", "QUICK", "SCHEMA", "SCHEMAS", "WORKLOADS", "Plan", "default_workers", "run_matrix",
           "strategy_choices"]
