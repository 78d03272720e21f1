"""The structured result every lab step returns, and its plain-text rendering.

Steps compute; this module only holds and formats. Tests check ``StepResult`` fields; the CLI
prints ``format_result`` or ``to_dict``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from .._load import MachineLoad
from .._text import fit_table, terminal_width, wrap, wrap_lines
from ..experiment import Progress, no_progress

__all__ = [
    "Progress",
    "Row",
    "StepResult",
    "drop_order",
    "format_result",
    "format_table",
    "no_progress",
]

@dataclass
class Row:
    """One measured variant of a step."""

    variant: str
    implementation: str
    strategy: str
    workers: int
    seconds: float
    spread: float = 0.0
    cpu_seconds: float | None = None
    speedup: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepResult:
    """What a step did, what it measured, whether every variant matched the serial reference."""

    #: The step's number (1 to 8), or the name of a step outside the eight (``"latency"``).
    step: int | str
    title: str
    params: dict[str, Any]
    rows: list[Row]
    checks: dict[str, bool]
    summary: list[str]
    explanation: list[str]
    env: dict[str, Any]
    columns: Sequence[str] = ()
    data: dict[str, Any] = field(default_factory=dict)
    #: How busy the machine was during the step (:meth:`gilfree._load.MachineLoad.as_dict`).
    machine: dict[str, Any] = field(default_factory=dict)
    #: What each check verified, by name, in words (shown when a check fails).
    check_sentences: dict[str, str] = field(default_factory=dict)

    @property
    def busy_line(self) -> str | None:
        """The sentence that opens the step on a busy machine, else None."""
        return MachineLoad.from_dict(self.machine).line() if self.machine else None

    @property
    def ok(self) -> bool:
        """True when every check passed (results equal to the serial reference, no leaks...)."""
        return all(self.checks.values())

    def row(self, variant: str) -> Row:
        for row in self.rows:
            if row.variant == variant:
                return row
        raise KeyError(variant)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        out.pop("columns", None)
        return out


def _cell(row: Row, column: str) -> str:
    if column == "variant":
        return row.variant
    if column == "implementation":
        return row.implementation
    if column == "strategy":
        return row.strategy
    if column == "workers":
        return str(row.workers)
    if column == "ms":
        return f"{row.seconds * 1000:,.1f}"
    if column == "cpu ms":
        return "" if row.cpu_seconds is None else f"{row.cpu_seconds * 1000:,.1f}"
    if column == "spread":
        return f"{row.spread:.0%}"
    if column == "speedup":
        return "" if row.speedup is None else f"{row.speedup:.2f}x"
    value = row.extra.get(column, "")
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


#: Text columns, aligned left; every other column holds figures and is aligned right.
_TEXT_COLUMNS = frozenset({"variant", "implementation", "strategy"})
#: Columns a table keeps however narrow the terminal: what ran, its time, its speedup.
_ALWAYS = frozenset({"variant", "ms", "speedup"})


def drop_order(rows: Sequence[Row], columns: Sequence[str]) -> tuple[list[str], list[str]]:
    """The columns a table too wide for the terminal may lose, least important first: two lists.

    A step lists first the columns that say what a row ran (variant, implementation, workers,
    sizes...), then from ``ms`` on its figures. The figures go first, from the right; then, from
    the right, the describing columns that no two rows need to be told apart (the same size on
    every row of an implementation, say). Those are the first list. The columns that tell rows
    apart (the second list, from the right) go only when narrowing their text was not enough.
    The variant, its time and its speedup always stay.
    """
    first_figure = next((i for i, c in enumerate(columns) if c in ("ms", "speedup")), len(columns))
    figures = [c for c in reversed(columns[first_figure:]) if c not in _ALWAYS]
    describing = [c for c in columns[:first_figure] if c not in _ALWAYS]
    keys = ["variant", *describing] if "variant" in columns else list(describing)

    def kinds(names: Sequence[str]) -> int:
        return len({tuple(_cell(row, c) for c in names) for row in rows})

    needed = kinds(keys)
    redundant = []
    for c in reversed(describing):
        fewer = [k for k in keys if k != c]
        if kinds(fewer) == needed:
            keys = fewer
            redundant.append(c)
    return figures + redundant, [c for c in reversed(keys) if c not in _ALWAYS]


def format_table(rows: Sequence[Row], columns: Sequence[str], width: int | None = None) -> str:
    """Rows as an aligned plain-text table (text columns left, numbers right).

    At most ``width`` characters a line (default: the terminal's width) where the variant, the
    time and the speedup fit: columns go in the order of :func:`drop_order` until the table
    fits, and a note under it names them.
    """
    width = terminal_width() if width is None else width
    cells = [[_cell(row, c) for c in columns] for row in rows]
    right = [c for c in columns if c not in _TEXT_COLUMNS]
    first, last = drop_order(rows, columns)
    return "\n".join(fit_table(columns, cells, width, right=right, drop=first, drop_last=last,
                               hint="--json shows every column"))


def _implementations(rows: Sequence[Row]) -> list[str]:
    """The implementations the step ran, in the order its rows name them."""
    return list(dict.fromkeys(row.implementation for row in rows if row.implementation))


def _heading(result: StepResult, width: int) -> list[str]:
    """The step's title and what it ran on: one line when it fits, else the title then the rest."""
    env = result.env
    gil = "on" if env.get("gil_enabled", True) else "off"
    ran = " and ".join(_implementations(result.rows))
    where = f"(Python {env.get('python')}, GIL {gil}, {env.get('usable_cores')} cores" + (
        f"; {ran})" if ran else ")")
    title = f"Step {result.step}: {result.title}"
    one = f"{title}  {where}"
    lines = [one] if len(one) <= width else wrap(title, width, "  ") + wrap(where, width, " ")
    return lines + ["=" * min(width, max(map(len, lines)))]


def format_result(result: StepResult, width: int | None = None) -> str:
    """A step as a learner reads it: heading, the lab's own lines, the table, what it means.

    No line is longer than ``width`` (default: the terminal's width): prose is wrapped, the
    table drops columns to fit and says which.
    """
    width = terminal_width() if width is None else width
    parts = _heading(result, width)
    if result.busy_line:
        parts += wrap(result.busy_line, width) + [""]
    if result.summary:
        parts += wrap_lines(result.summary, width, hang="  ") + [""]
    columns = result.columns or ("variant", "implementation", "strategy", "workers", "ms", "speedup")
    parts.append(format_table(result.rows, columns, width))
    parts.append("")
    failed = [name for name, passed in result.checks.items() if not passed]
    if failed:
        checks = (f"Checks: {len(failed)} of {len(result.checks)} FAILED: "
                  + "; ".join(result.check_sentences.get(name, name) for name in failed))
    else:
        checks = (f"Checks: all {len(result.checks)} passed (every variant's result equals the "
                  "serial reference)")
    parts += wrap(checks, width)
    for paragraph in result.explanation:
        parts += [""] + wrap_lines([paragraph], width)
    return "\n".join(parts)
