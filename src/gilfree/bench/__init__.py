"""``gilfree bench``: every strategy on the same work, side by side, on this machine.

:mod:`~gilfree.bench.workloads` says what runs and how each strategy hands it its data,
:mod:`~gilfree.bench.matrix` runs the matrix (warm-up, checks, interleaved repeats, wall and CPU
time), :mod:`~gilfree.bench.verdict` turns the numbers into plain words, and
:mod:`~gilfree.bench.report` writes the JSON, the Markdown table and the plots.
"""

from .matrix import DEFAULT, QUICK, SCHEMA, SCHEMAS, Plan, default_workers, run_matrix, strategy_choices
from .workloads import WORKLOADS

__all__ = ["DEFAULT", "QUICK", "SCHEMA", "SCHEMAS", "WORKLOADS", "Plan", "default_workers", "run_matrix", "strategy_choices"]
