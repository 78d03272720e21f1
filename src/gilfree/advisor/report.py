"""The advisor's report for people: a heading, the task's costs, a table, what was skipped, the verdict."""

from __future__ import annotations

from .._text import fit_table, wrap
from ..figures import ms, nbytes, x
from . import Advice

__all__ = ["format_advice"]


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def format_advice(advice: Advice, width: int = 100) -> str:
    """``gilfree advise``'s text: every figure the verdict rests on, then the verdict."""
    env = advice.environment
    c = advice.costs
    heading = (f"gilfree advise {advice.function}  (Python {env.get('python', '?')}, "
               f"GIL {'on' if advice.gil else 'off'}, {env.get('usable_cores', '?')} usable cores, "
               f"{env.get('implementation', '?')})")
    lines = wrap(heading, width, "  ")
    lines.append("=" * min(max(map(len, lines)), width))
    load_line = advice.load.line()
    if load_line:
        lines += wrap(load_line, width)
    cpw = f"{c.cpu_per_wall:.2f}" if c.cpu_per_wall is not None else "-"
    lines += wrap(f"One task, serially: {ms(c.seconds)} ({ms(c.cpu_seconds)} of CPU: {cpw} CPU seconds per "
                  "wall second).", width)
    if c.pickle_seconds is not None and c.pickle_bytes is not None:
        share = c.pickle_share or 0.0
        said = (f"Pickling a task's arguments and result (what a worker process pays): {nbytes(c.pickle_bytes)}, "
                f"{ms(c.pickle_seconds)}, {share:.0%} of the task's own time.")
        if c.handle_bytes is not None:
            said += f" Through shared memory a task pickles {nbytes(c.handle_bytes)}"
            said += (f" (copying the arrays in took {ms(advice.shm_setup_seconds)} once)."
                     if advice.shm_setup_seconds is not None else ".")
        lines += wrap(said, width)
    p = advice.plan
    lines += wrap(f"Each round runs {p.tasks} tasks; {p.repeats} timed repeats after a warm-up, interleaved with "
                  f"serial at each worker count. Speedup: serial's time over the row's, in the same group.", width)
    lines.append("")
    rows: list[tuple[str, ...]] = []
    for r in advice.rows:
        rows.append((r.label, str(r.workers), _cell(r.seconds and r.seconds * 1000, ",.1f"),
                     _cell(r.cpu_seconds and r.cpu_seconds * 1000, ",.1f"), _cell(r.cpu_per_wall, ".2f"),
                     "-" if r.speedup is None else x(r.speedup), f"{r.spread:.0%}" if r.ok else "-",
                     _cell(r.startup_seconds and r.startup_seconds * 1000, ",.0f"),
                     r.error or ("results differ from serial's" if r.same_results is False else "")))
    head: tuple[str, ...] = ("strategy", "workers", "ms/round", "cpu ms", "cpu/wall", "speedup", "spread", "start-up ms",
                             "note")
    if not any(row[-1] for row in rows):
        head, rows = head[:-1], [row[:-1] for row in rows]
    lines += fit_table(head, rows, width, right=head[1:8], drop=("start-up ms", "spread", "cpu ms"))
    if advice.skipped:
        lines.append("")
        lines.append("Skipped:")
        for name, why in advice.skipped:
            lines += wrap(f"  {name}: {why}", width, "    ")
    lines.append("")
    lines.append("Verdict:")
    for sentence in advice.verdict.sentences:
        # Some sentences end with their own full stop (figures.repeat_advice's): never two.
        lines += wrap(f"  {sentence[0].upper()}{sentence[1:].rstrip('.')}.", width, "    ")
    lines.append("")
    lines += wrap(f"Took {advice.elapsed_seconds:.1f} s of a {advice.budget_seconds:g} s budget.", width)
    return "\n".join(lines)
