"""The benchmark's output: one JSON file, one Markdown report and three PNG plots.

The JSON (schema ``gilfree-bench/2``) holds everything: the machine, how busy it was during the
run, the plan, every timed run's wall and CPU seconds, the checks, the verdicts. Results of schema
``gilfree-bench/1`` (no reading of the machine's load) are still read and redrawn. The Markdown and
the plots are drawn from it alone, so ``gilfree bench --from results.json`` redraws them without
measuring again.
Plots need matplotlib (``pip install "gilfree[bench]"``); without it the report says so.
"""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from typing import Any

from .._load import MachineLoad
from .verdict import SIZE_ORDER, headlines, machine_line, reference_workers, summary, verdicts

__all__ = ["PLOTS", "complete", "fill", "markdown", "plot", "terminal", "terminal_width", "write_all"]

#: File name -> what the plot shows.
PLOTS = {
    "speedup.png": "speedup against workers, per strategy, with the ideal line (largest size)",
    "size.png": "time against data size: shared memory vs pickling vs threads (array reduction)",
    "crossover.png": "speedup against work per task: where parallelism starts to pay",
}


def complete(doc: dict[str, Any]) -> dict[str, Any]:
    """Add the derived parts (summary, verdicts, headline ratios) to a document from :func:`run_matrix`."""
    doc["summary"] = summary(doc)
    doc["verdicts"] = verdicts(doc)
    doc["headlines"] = headlines(doc)
    return doc


def _fmt_ms(seconds: float | None) -> str:
    if seconds is None:
        return ""
    ms = seconds * 1e3
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 1 else f"{ms:.3f}"


def _env_line(env: dict[str, Any]) -> str:
    gil = "GIL on" if env.get("gil_enabled", True) else "GIL off"
    build = ", free-threaded build" if env.get("free_threaded_build") else ""
    mem = f", {env['memory_bytes'] / 2**30:.0f} GiB" if env.get("memory_bytes") else ""
    return (f"{env.get('cpu')} ({env.get('usable_cores')} usable cores{mem}), {env.get('os')}; "
            f"{env.get('python_implementation')} {env.get('python')} ({gil}{build}); "
            f"gilfree {env.get('gilfree')} ({env.get('implementation')}), numpy {env.get('numpy')}, "
            f"joblib {env.get('joblib') or 'not installed'}; {env.get('date_utc')}")


def load_sentence(machine: dict[str, Any] | None) -> str:
    """What the machine's other processes did during the run, from ``doc["machine"]``."""
    if not machine:
        return "Load: not recorded (a result of schema gilfree-bench/1)."
    parts = []
    if machine.get("others_cores") is not None:
        parts.append(f"other processes used {machine['others_cores']:.1f} of {machine['cores']} cores")
    if machine.get("load_before") is not None:
        parts.append(f"the load average was {machine['load_before']:.1f} at the start")
    if machine.get("worst_spread") is not None:
        parts.append(MachineLoad.from_dict(machine).spread_words())
    return "Load: " + (", ".join(parts) if parts else "not readable here") + "."


def markdown(doc: dict[str, Any]) -> str:
    """The whole report as Markdown: the busy- or noisy-machine line (if any), the machine and plan, headline
    ratios, verdicts, then a table per workload and size, the start-up costs and the checks."""
    out = _opening(doc) + _headline_table(doc) + _verdict_section(doc) + _cell_tables(doc)
    out += _startup_table(doc) + _checks_section(doc)
    return "\n".join(out).rstrip() + "\n"


def _opening(doc: dict[str, Any]) -> list[str]:
    env, plan = doc["environment"], doc["plan"]
    opening = machine_line(doc)
    return [f"# gilfree bench ({plan['label']})", "", *([f"**{opening}**", ""] if opening else []),
            f"Machine: {_env_line(env)}.", "",
            f"Plan: workers {', '.join(map(str, sorted(plan['workers'])))} ({plan['cores']} cores), "
            f"{plan['repeats']} timed repeats per variant after one checked warm-up, strategies interleaved, "
            f"{_chunks_words(plan)}. CPU time: {env.get('cpu_time_scope')}. "
            f"Whole run: {doc['seconds']:.0f} s. {load_sentence(doc.get('machine'))}", ""]


def _chunks_words(plan: dict[str, Any]) -> str:
    """How the run cut each call: a fixed count per worker, or chosen per executor (None)."""
    if plan.get("chunks_per_worker") is not None:
        return f"{plan['chunks_per_worker']} chunks per worker"
    return (f"chunks per worker chosen per executor: at most {plan.get('most_chunks_per_worker', 4)}, fewer where "
            f"its per-task cost, measured at start-up, would pass {plan.get('overhead_share', 0.1):.0%} of a "
            "chunk's serial work (each row gives its chunks)")


def _headline_table(doc: dict[str, Any]) -> list[str]:
    if not doc.get("headlines"):
        return []
    return (["## Headline ratios", "", "| ratio | measured | target | workers | detail |", "|---|---:|---|---:|---|"]
            + [f"| {h['ratio']} | {h['value']:.2f}x | {h['target']} | {h['workers']} | {h['detail']} |"
               for h in doc["headlines"]] + [""])


def _verdict_section(doc: dict[str, Any]) -> list[str]:
    out = ["## Verdicts", ""]
    if doc.get("summary"):
        out += [f"**In short.** {' '.join(doc['summary'])}", ""]
    for workload, lines in doc.get("verdicts", {}).items():
        out += [f"**{doc['workloads'][workload]['title']}** ({doc['workloads'][workload]['nature']})", ""]
        out += [f"- {line}" for line in lines] + [""]
    return out


def _cell_tables(doc: dict[str, Any]) -> list[str]:
    plan, rows, k = doc["plan"], doc["rows"], reference_workers(doc)
    workers = sorted(plan["workers"])
    out = ["## Every cell", "",
           "Each cell: speedup over the serial call of the same implementation, measured side by side "
           f"in the same group, and the median time in ms. `cpu/wall` is at {k} workers: about 1 for "
           "threads that take turns under the GIL, about the worker count for work that runs at once.", ""]
    for workload in plan["workloads"]:
        for size in plan["sizes"]:
            cell = [r for r in rows if r["workload"] == workload and r["size"] == size]
            if not cell:
                continue
            what = ", ".join(f"{impl} {n:,} elements" for impl, n in plan["sizes_elements"][workload][size].items())
            out += [f"### {workload}, {size} ({what})", "",
                    "| implementation | strategy | " + " | ".join(f"{w} worker{'s' if w > 1 else ''}"
                                                             for w in workers) + " | cpu/wall | spread |",
                    "|---|---|" + "---:|" * len(workers) + "---:|---:|"]
            for impl, strategy in dict.fromkeys((r["implementation"], r["strategy"]) for r in cell):
                mine = {r["group_workers"]: r for r in cell if (r["implementation"], r["strategy"]) == (impl, strategy)}
                out.append(_cell_row(impl, strategy, mine, workers, k))
            out.append("")
    return out


def _cell_row(impl: str, strategy: str, mine: dict[int, dict[str, Any]], workers: list[int], k: int) -> str:
    cells = []
    for w in workers:
        r = mine.get(w)
        if r is None:
            cells.append("")
        elif not r["ok"]:
            cells.append("failed")
        else:
            cells.append(f"{r['speedup']:.2f}x ({_fmt_ms(r['median_s'])})"
                         if r["speedup"] is not None else _fmt_ms(r["median_s"]))
    ref = mine.get(k) or next(iter(mine.values()))
    cpu = f"{ref['cpu_per_wall']:.2f}" if ref.get("cpu_per_wall") is not None else ""
    spread = f"{ref['spread']:.0%}" if ref.get("spread") is not None else ""
    return f"| {impl} | {strategy} | " + " | ".join(cells) + f" | {cpu} | {spread} |"


def _startup_table(doc: dict[str, Any]) -> list[str]:
    if not doc.get("startup"):
        return []
    workers = sorted(doc["plan"]["workers"])
    out = ["## Start-up", "", "Milliseconds from opening an executor to having run one tiny task per "
           "worker (paid once per pool; the timings above are of warm pools).", "",
           "| executor | " + " | ".join(map(str, workers)) + " |", "|---|" + "---:|" * len(workers)]
    for name in dict.fromkeys(s["executor"] for s in doc["startup"]):
        by = {s["workers"]: s["seconds"] for s in doc["startup"] if s["executor"] == name}
        out.append(f"| {name} | " + " | ".join(_fmt_ms(by.get(w)) for w in workers) + " |")
    probes = [s for s in doc["startup"] if s.get("per_task_s") is not None]
    if probes:  # results written before the per-task probe have none
        out += ["", "Per-task overhead: milliseconds of a worker's time per empty task, many submitted at once "
                "(what each chunk costs besides its work).", "",
                "| executor | " + " | ".join(map(str, workers)) + " |", "|---|" + "---:|" * len(workers)]
        for name in dict.fromkeys(s["executor"] for s in probes):
            per = {s["workers"]: s["per_task_s"] for s in probes if s["executor"] == name}
            out.append(f"| {name} | " + " | ".join(_fmt_ms(per.get(w)) for w in workers) + " |")
    return out + [""]


def _checks_section(doc: dict[str, Any]) -> list[str]:
    rows, twins = doc["rows"], doc.get("twin_checks", [])
    twins_bad = [t for t in twins if not t["equal"]]
    out = ["## Checks", "",
           f"{sum(r['ok'] for r in rows)} of {len(rows)} variants gave the reference result in every run "
           f"(bit for bit; numpy's sum to 1e-9, its summation order differs). "
           f"Twin checks (compiled kernel on the pure twin's input): "
           f"{len(twins) - len(twins_bad)} of {len(twins)} equal.", ""]
    out += [f"- failed: {r['workload']} {r['size']} {r['implementation']} {r['strategy']} "
            f"at {r['group_workers']} workers: {r['error']}" for r in rows if not r["ok"]]
    out += [f"- twins differ: {t['workload']} {t['size']}" for t in twins_bad]
    if doc.get("not_applicable"):
        out += ["", "Not applicable:", ""]
        out += [f"- {d['workload']} / {d['strategy']}: {d['reason']}" for d in doc["not_applicable"]]
    if doc.get("skipped"):
        out += ["", "Skipped:", ""] + [f"- {d['strategy']}: {d['reason']}" for d in doc["skipped"]]
    return out + ["", "Strategies:", ""] + [f"- `{s}`: {note}" for s, note in doc["strategies"].items()]


def terminal_width() -> int:
    """The terminal's width (``COLUMNS`` if set; 80 when stdout is not a terminal), at least 40."""
    return max(40, shutil.get_terminal_size((80, 24)).columns)


def fill(text: str, width: int, first: str = "", rest: str = "") -> str:
    """Prose wrapped to ``width`` columns (a word longer than a line, a path say, stays whole)."""
    return textwrap.fill(text, width, initial_indent=first, subsequent_indent=rest, break_long_words=False,
                         break_on_hyphens=False)


def terminal(doc: dict[str, Any], width: int | None = None) -> str:
    """What the terminal gets: the busy or noisy line, machine and plan, headline ratios and verdicts, wrapped
    to ``width`` (default: the terminal's); the tables stay in the Markdown report."""
    width = width or terminal_width()
    title, *paragraphs = [line.strip("*").removeprefix("# ") for line in _opening(doc) if line]
    out = [title]
    for paragraph in paragraphs:
        out += ["", fill(paragraph, width)]
    if doc.get("headlines"):
        out += ["", "Headline ratios (with what each is measured on: bench.md):"]
        out += [fill(f"{h['ratio']}: {h['value']:.2f}x (target {h['target']})", width, "  ", "    ")
                for h in doc["headlines"]]
    out += ["", "Verdicts"]
    if doc.get("summary"):
        out += [fill("In short: " + " ".join(doc["summary"]), width)]
    for workload, lines in doc.get("verdicts", {}).items():
        out += ["", fill(f"{doc['workloads'][workload]['title']} ({doc['workloads'][workload]['nature']})", width)]
        out += [fill(line, width, "  - ", "    ") for line in lines]
    return "\n".join(out)


def _style(impl: str) -> dict[str, Any]:
    return {"c-extension": {"linestyle": "-", "marker": "o"},
            "pure-python": {"linestyle": "--", "marker": "s"},
            "numpy": {"linestyle": ":", "marker": "^"}}[impl]


def plot(doc: dict[str, Any], directory: str) -> list[str]:
    """Draw the three plots into ``directory``; return their paths ([] without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    colors = {s: plt.get_cmap("tab10")(i % 10) for i, s in enumerate(doc["strategies"])}
    paths = []
    for name, draw in (("speedup.png", _plot_speedup), ("size.png", _plot_size), ("crossover.png", _plot_crossover)):
        fig = draw(plt, doc, [r for r in doc["rows"] if r["ok"]], colors)
        paths.append(_save(fig, directory, name))
        plt.close(fig)
    return paths


def _plot_speedup(plt: Any, doc: dict[str, Any], rows: list[dict[str, Any]], colors: dict[str, Any]) -> Any:
    """Speedup against workers at the largest size: a row per workload, a column per twin."""
    plan, env = doc["plan"], doc["environment"]
    cores, workloads, counts = plan["cores"], plan["workloads"], sorted(plan["workers"])
    impls = [i for i in ("c-extension", "pure-python") if any(r["implementation"] == i for r in rows)]
    fig, axes = plt.subplots(len(workloads), len(impls) or 1, figsize=(6.2 * max(1, len(impls)),
                             3.6 * len(workloads)), squeeze=False)
    for row_axes, workload in zip(axes, workloads):
        sizes = [s for s in SIZE_ORDER if any(r["workload"] == workload and r["size"] == s for r in rows)]
        for ax, impl in zip(row_axes, impls or ["c-extension"]):
            if not sizes:
                ax.set_visible(False)
                continue
            mine = [r for r in rows if r["workload"] == workload and r["size"] == sizes[-1]
                    and r["implementation"] == impl and r["strategy"] not in ("serial", "numpy")]
            ax.plot(counts, [min(c, cores) for c in counts], color="black", linestyle="--", linewidth=1,
                    label="ideal: min(workers, cores)")
            for strategy in dict.fromkeys(r["strategy"] for r in mine):
                pts = sorted((r["group_workers"], r["speedup"]) for r in mine if r["strategy"] == strategy)
                ax.plot([p[0] for p in pts], [p[1] for p in pts], color=colors[strategy], label=strategy,
                        **_style(impl))
            ax.axhline(1.0, color="grey", linewidth=0.8)
            ax.axvline(cores, color="grey", linewidth=0.8, linestyle=":")
            ax.set_xscale("log", base=2)
            ax.set_xticks(counts, [str(c) for c in counts])
            ax.set_xlabel("workers (dotted: the core count)")
            ax.set_ylabel("speedup over one serial call")
            ax.set_title(f"{workload}, {sizes[-1]}, {impl}", fontsize=10)
            _legend(ax, fontsize=7, ncol=2)
    fig.suptitle(f"gilfree bench: speedup against workers ({env.get('usable_cores')} cores, Python "
                 f"{env.get('python')}, GIL {'on' if env.get('gil_enabled', True) else 'off'})", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    return fig


def _plot_size(plt: Any, doc: dict[str, Any], rows: list[dict[str, Any]], colors: dict[str, Any]) -> Any:
    """Time against data size: the array reduction, compiled kernel, at the reference worker count."""
    workloads, k = doc["plan"]["workloads"], reference_workers(doc)
    workload = "reduction" if "reduction" in workloads else workloads[0]
    fig, ax = plt.subplots(figsize=(7, 4.8))
    twin = "c-extension" if any(r["implementation"] == "c-extension" for r in rows) else "pure-python"
    chosen = [r for r in rows if r["workload"] == workload and r["group_workers"] == k
              and r["implementation"] in (twin, "numpy")]
    for strategy in dict.fromkeys(r["strategy"] for r in chosen):
        pts = sorted((r["bytes"] or r["elements"], r["median_s"]) for r in chosen if r["strategy"] == strategy)
        ax.plot([p[0] / 1e6 for p in pts], [p[1] * 1e3 for p in pts], color=colors[strategy],
                marker="o", label=strategy)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("data size (MB)" if doc["workloads"][workload]["bytes_per_element"] else "elements (millions)")
    ax.set_ylabel("median time per call (ms)")
    ax.set_title(f"{workload}, {twin}, {k} workers: shared memory vs pickling vs threads", fontsize=10)
    _legend(ax, fontsize=8)
    ax.grid(True, which="both", linewidth=0.3)
    fig.tight_layout()
    return fig


def _plot_crossover(plt: Any, doc: dict[str, Any], rows: list[dict[str, Any]], colors: dict[str, Any]) -> Any:
    """Speedup against work per task (serial time / chunks), every workload and size."""
    k = reference_workers(doc)
    fig, ax = plt.subplots(figsize=(7.5, 5))
    serial = {(r["workload"], r["size"], r["implementation"], r["group_workers"]): r["median_s"]
              for r in rows if r["strategy"] == "serial"}
    markers = {"c-extension": "o", "pure-python": "s"}
    seen = set()
    for r in rows:
        base = serial.get((r["workload"], r["size"], r["implementation"], k))
        if r["group_workers"] != k or r["strategy"] in ("serial", "numpy") or not base:
            continue
        ax.scatter(base / r["chunks"] * 1e6, r["speedup"], color=colors[r["strategy"]],
                   marker=markers.get(r["implementation"], "o"), s=22, alpha=0.85,
                   label=r["strategy"] if r["strategy"] not in seen else None)
        seen.add(r["strategy"])
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(min(k, doc["plan"]["cores"]), color="black", linewidth=0.8, linestyle="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("serial work per task (microseconds); circles: c-extension, squares: pure Python")
    ax.set_ylabel(f"speedup on {k} workers")
    ax.set_title("where parallelism pays: below the line at 1, a serial call is faster", fontsize=10)
    _legend(ax, fontsize=7, ncol=2)
    ax.grid(True, which="both", linewidth=0.3)
    fig.tight_layout()
    return fig


def _legend(ax: Any, **options: Any) -> None:
    if ax.get_legend_handles_labels()[0]:  # an empty legend is a warning, and says nothing
        ax.legend(**options)


def _save(fig: Any, directory: str, name: str) -> str:
    path = os.path.join(directory, name)
    fig.savefig(path, dpi=110)
    return path


def write_all(doc: dict[str, Any], directory: str, *, plots: bool = True) -> dict[str, Any]:
    """Write ``bench.json``, ``bench.md`` and (``plots``) the PNGs; return what was written."""
    os.makedirs(directory, exist_ok=True)
    json_path = os.path.join(directory, "bench.json")
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    md_path = os.path.join(directory, "bench.md")
    images = plot(doc, directory) if plots else []
    text = markdown(doc)
    if images:
        text += "\n## Plots\n\n" + "\n".join(f"![{PLOTS[os.path.basename(p)]}]({os.path.basename(p)})"
                                             for p in images) + "\n"
    elif plots:
        text += "\n(No plots: matplotlib is not installed; pip install \"gilfree[bench]\".)\n"
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(text)
    return {"json": json_path, "markdown": md_path, "plots": images}
