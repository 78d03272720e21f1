"""The structured result every lab step returns, and its plain-text rendering.

Steps compute; this module only holds and formats. Tests check ``StepResult`` fields; the CLI
prints ``format_result`` or ``to_dict``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from .._load import MachineLoad
from ..experiment import Progress, no_progress

__all__ = [
    "Progress",
    "Row",
    "StepResult",
    "busy_machine_note",
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

    step: int
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


def busy_machine_note(load: float | None, cores: int | None) -> str | None:
    """A sentence for the explanation when the machine was busy as a step began, else None."""
    if load is None or load < 0.5 * (cores or 1):
        return None
    return (f"The 1-minute load average was {load:.1f} on {cores} usable cores as the step began "
            "(earlier steps count too): busy cores leave the workers less room than an idle machine.")


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


def format_table(rows: Sequence[Row], columns: Sequence[str]) -> str:
    """Rows as an aligned plain-text table (text columns left, numbers right)."""
    cells = [[_cell(row, c) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    left = {"variant", "implementation", "strategy"}

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) if c in left else v.rjust(w)
                         for v, w, c in zip(values, widths, columns)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells])


def format_result(result: StepResult) -> str:
    """A step as a learner reads it: heading, the lab's own lines, the table, what it means."""
    env = result.env
    gil = "on" if env.get("gil_enabled", True) else "off"
    head = (f"Step {result.step}: {result.title}  (Python {env.get('python')}, GIL {gil}, "
            f"{env.get('usable_cores')} cores, {env.get('implementation')})")
    parts = [head, "=" * len(head)]
    if result.busy_line:
        parts += [result.busy_line, ""]
    if result.summary:
        parts += result.summary + [""]
    columns = result.columns or ("variant", "implementation", "strategy", "workers", "ms", "speedup")
    parts.append(format_table(result.rows, columns))
    parts.append("")
    failed = [name for name, passed in result.checks.items() if not passed]
    if failed:
        parts.append(f"Checks: {len(failed)} of {len(result.checks)} FAILED: "
                     + "; ".join(result.check_sentences.get(name, name) for name in failed))
    else:
        parts.append(f"Checks: all {len(result.checks)} passed (every variant's result equals the "
                     "serial reference)")
    if result.explanation:
        parts.append("")
        parts += result.explanation
    return "\n".join(parts)
