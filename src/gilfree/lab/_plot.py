"""The latency step's plot: lateness against the switch interval, one line per load.

Drawn from a result or from its JSON form (``result.to_dict()``, or one entry of ``steps`` in
``gilfree lab --json``), so that a documentation generator can draw it from a saved run.
Needs matplotlib (``pip install "gilfree[bench]"``), imported only here and only when drawing.
The plot is drawn on a :class:`matplotlib.figure.Figure` of its own, never through pyplot, so
the caller's backend (a notebook's, say) is left as it was.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ._result import StepResult

__all__ = ["FORMATS", "MATPLOTLIB_MISSING", "plot_latency", "plot_path"]

#: What to do when matplotlib is missing.
MATPLOTLIB_MISSING = 'the latency plot needs matplotlib: pip install "gilfree[bench]"'

#: The file types the plot is drawn in, by the file name's suffix (a name without one gets ".png").
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}

#: Each load's colour and marker (the step's variant names).
_STYLE = {"nothing else": ("black", "o"), "pure Python": ("tab:red", "s"), "nogil kernel": ("tab:green", "^"),
          "kernel holding the GIL": ("tab:purple", "D")}


def plot_path(path: object) -> str:
    """The file :func:`plot_latency` writes for ``path``: ``path`` itself when it ends in .png,
    .svg or .pdf (any case), ``path + ".png"`` when it has no suffix. Anything else is refused
    before any drawing, so that a long run does not end in an error about its file name."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file name such as 'latency.png', not {type(path).__name__}")
    name = os.fspath(path)
    if not isinstance(name, str):
        raise TypeError(f"path must be a file name such as 'latency.png', not {type(name).__name__}")
    if not name.strip() or not os.path.basename(name):
        raise ValueError(f"the latency plot needs a file name such as latency.png, got {name!r}")
    suffix = os.path.splitext(name)[1]
    if not suffix:
        return name + ".png"
    if suffix.lower() not in FORMATS:
        raise ValueError(f"the latency plot is drawn as PNG, SVG or PDF: name a file ending in "
                         f"{', '.join(FORMATS)} (or with no suffix, for PNG), not {name!r}")
    return name


def plot_latency(result: StepResult | Mapping[str, Any], path: str | os.PathLike[str]) -> str:
    """Draw the latency step's p50 (solid) and p99 (dashed) against the switch interval into
    ``path`` (PNG, SVG or PDF by its suffix: :func:`plot_path`); return the path written. The
    dotted diagonal is the switch interval itself."""
    doc = result.to_dict() if isinstance(result, StepResult) else result
    if not isinstance(doc, Mapping) or "rows" not in doc:
        raise TypeError(f"result must be a StepResult or its to_dict(), not {type(result).__name__}")
    target = plot_path(path)
    rows = list(doc["rows"])
    if not rows or any("switch ms" not in row.get("extra", {}) for row in rows):
        raise ValueError("result must be the latency step's (its rows name a switch interval)")
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ModuleNotFoundError(MATPLOTLIB_MISSING) from None
    env = doc.get("env", {})
    fig = Figure(figsize=(7.5, 5))
    ax = fig.subplots()
    intervals = sorted({row["extra"]["switch ms"] for row in rows})
    for load in dict.fromkeys(row["variant"] for row in rows):
        mine = sorted((row["extra"] for row in rows if row["variant"] == load), key=lambda e: e["switch ms"])
        color, marker = _STYLE.get(load, ("tab:blue", "o"))
        xs = [e["switch ms"] for e in mine]
        ax.plot(xs, [e["p50 ms"] for e in mine], color=color, marker=marker, label=f"{load}: p50")
        ax.plot(xs, [e["p99 ms"] for e in mine], color=color, marker=marker, linestyle="--", alpha=0.7,
                label=f"{load}: p99")
    ax.plot(intervals, intervals, color="grey", linestyle=":", linewidth=1, label="the switch interval")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(intervals, [f"{v:g}" for v in intervals])
    ax.set_xlabel("switch interval (ms), sys.setswitchinterval")
    ax.set_ylabel("how late the waking thread ran (ms)")
    where = [f"Python {env['python']}" if env.get("python") else None,
             None if "gil_enabled" not in env else f"GIL {'on' if env['gil_enabled'] else 'off'}",
             f"{env['usable_cores']} cores" if env.get("usable_cores") else None]
    said = ", ".join(w for w in where if w)  # a saved document may lack its environment: say what it holds
    ax.set_title("gilfree lab --step latency: a waking thread beside a busy one" + (f" ({said})" if said else ""),
                 fontsize=9)
    ax.grid(True, which="both", linewidth=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(target, dpi=110, format=FORMATS[os.path.splitext(target)[1].lower()])
    return target
