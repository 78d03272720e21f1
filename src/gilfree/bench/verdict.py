"""Plain words from the numbers: which strategy wins each workload, by how much, and why.

Every sentence here is derived from the rows of one run; nothing is a figure from elsewhere.
Thresholds (what counts as "scales", "about 1x") are named constants, so that a reader can see
what a word stands for.
"""

from __future__ import annotations

from typing import Any, Iterable

__all__ = ["HEADLINES", "headlines", "reference_workers", "verdicts"]

#: A speedup within this factor of 1 is "about the same as serial".
ABOUT_ONE = 0.15
#: Speedup over the ideal at or above which a strategy "scales".
SCALES = 0.75
SIZE_ORDER = ("small", "medium", "large")

Rows = list[dict[str, Any]]


def reference_workers(doc: dict[str, Any]) -> int:
    """The worker count the verdict speaks of: the core count if measured, else the nearest below."""
    cores = doc["plan"]["cores"]
    counts = sorted(doc["plan"]["workers"])
    below = [k for k in counts if k <= cores]
    return int(max(below) if below else min(counts))


def _kind(row: dict[str, Any]) -> tuple[str, str | None]:
    """(where its tasks ran, how its data travelled) for a row: ``uses`` and ``transport``.

    Rows written before these fields existed get them from today's table of variants.
    """
    if "uses" in row:
        return row["uses"], row.get("transport")
    from .workloads import variants

    known = variants().get(row["strategy"])
    return (known.uses, known.transport) if known is not None else ("processes", None)


def _ok(rows: Iterable[dict[str, Any]], **match: Any) -> Rows:
    return [r for r in rows if r["ok"] and all(r.get(k) == v for k, v in match.items())]


def _one(rows: Rows, **match: Any) -> dict[str, Any] | None:
    found = _ok(rows, **match)
    return found[0] if found else None


def _rate(row: dict[str, Any]) -> float:
    """Elements per second: the one measure that compares the twins (they get different sizes)."""
    return float(row["elements"] / row["median_s"])


def _x(value: float) -> str:
    return f"{value:.2f}x" if value < 10 else f"{value:.0f}x" if value < 1000 else f"{value:,.0f}x"


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms" if ms >= 0.1 else f"{ms * 1e3:.0f} us"


def _mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:,.0f} MB" if nbytes >= 1e7 else f"{nbytes / 1e6:.1f} MB"


def _name(row: dict[str, Any]) -> str:
    impl = {"c-extension": "the nogil kernel", "pure-python": "pure Python", "numpy": "numpy"}[row["implementation"]]
    if row["strategy"] == "numpy":
        return "numpy's own call"
    if row["strategy"] == "serial":
        return f"{impl}, serial"
    return f"{impl} on {row['strategy']}"


def _why(row: dict[str, Any], gil: bool) -> str:
    """Why the winning variant wins, from what kind of variant it is."""
    strategy, impl = row["strategy"], row["implementation"]
    uses, transport = _kind(row)
    if strategy == "numpy":
        return "a single vectorized call has no task overhead at all"
    if uses == "threads":
        if impl == "c-extension":
            return ("the kernel releases the GIL, so threads run at once on the caller's array: nothing "
                    "starts, nothing is copied")
        return "without a GIL, pure-Python threads run at once" if not gil else \
            "its tasks were too small for any other strategy to pay for itself"
    if uses == "processes" and transport in ("shared-memory", "mmap"):
        return "worker processes read the data where it lies; only a handle or an offset crosses to them"
    if uses == "processes":
        return ("each process has its own interpreter and GIL, and there was little data to copy "
                "compared with the work")
    return "no parallel variant earned back its overhead at this size: the work per task is too small"


def _largest_size(rows: Rows, workload: str) -> str | None:
    sizes = {r["size"] for r in _ok(rows, workload=workload)}
    ordered = [s for s in SIZE_ORDER if s in sizes]
    return ordered[-1] if ordered else None


def verdicts(doc: dict[str, Any]) -> dict[str, list[str]]:
    """A few sentences per workload, each one computed from ``doc["rows"]``."""
    rows = doc["rows"]
    gil = bool(doc["environment"].get("gil_enabled", True))
    k = reference_workers(doc)
    cores = doc["plan"]["cores"]
    out: dict[str, list[str]] = {}
    for workload in doc["plan"]["workloads"]:
        size = _largest_size(rows, workload)
        if size is None:
            out[workload] = ["No variant of this workload completed: nothing to conclude."]
            continue
        cell = _ok(rows, workload=workload, size=size, group_workers=k)
        if not cell:
            out[workload] = [f"Nothing ran at {k} workers: nothing to conclude."]
            continue
        lines = []
        best = max(cell, key=_rate)
        others = sorted((r for r in cell if r is not best), key=_rate, reverse=True)
        runner = others[0] if others else None
        own = "the kernel's serial call" if best["strategy"] == "numpy" else "its serial call"
        first = (f"At the {size} size on {k} workers, the fastest was {_name(best)}: "
                 f"{_ms(best['median_s'])}, {_x(best['speedup'])} {own}")
        if runner is not None:
            first += f", {_x(_rate(best) / _rate(runner))} ahead of {_name(runner)}"
        lines.append(first + f". Why: {_why(best, gil)}.")
        lines.extend(_gil_lines(rows, workload, size, k, gil))
        lines.extend(_transport_lines(rows, workload, size, k))
        lines.extend(_crossover_lines(rows, workload, k))
        lines.extend(_oversubscribed_lines(rows, workload, size, best, cores))
        out[workload] = lines
    return out


def _gil_lines(rows: Rows, workload: str, size: str, k: int, gil: bool) -> list[str]:
    pure = _one(rows, workload=workload, size=size, group_workers=k, implementation="pure-python",
                strategy="threads")
    kern = _one(rows, workload=workload, size=size, group_workers=k, implementation="c-extension",
                strategy="threads")
    lines = []
    if pure is not None and k > 1:
        s, c = pure["speedup"], pure["cpu_per_wall"]
        if gil and s < 1 + ABOUT_ONE and c <= 1 + 2 * ABOUT_ONE:
            lines.append(f"Pure-Python threads: {_x(s)} on {k} threads, using {c:.2f} CPU seconds per "
                         "second of wall time: the GIL's fingerprint, one thread runs at a time.")
        elif gil and s < 1 + ABOUT_ONE:
            lines.append(f"Pure-Python threads: {_x(s)} on {k} threads: the GIL lets one run at a time; "
                         f"the {c:.2f} CPU seconds they burned per wall second went on handing the lock "
                         "back and forth and on dispatching tasks.")
        elif not gil:
            lines.append(f"Pure-Python threads: {_x(s)} on {k} threads ({c:.2f} CPU seconds per wall "
                         "second): this interpreter runs without a GIL, so plain Python scales on threads.")
        else:
            lines.append(f"Pure-Python threads: {_x(s)} on {k} threads, more than the GIL allows for "
                         "CPU-bound code; their tasks wait on memory or I/O part of the time.")
    if kern is not None and pure is not None and k > 1:
        lines.append(f"The same threads on the nogil kernel: {_x(kern['speedup'])} "
                     f"({kern['efficiency']:.0%} of the ideal {kern['ideal']}x).")
    return lines


def _transport_lines(rows: Rows, workload: str, size: str, k: int) -> list[str]:
    def get(strategy: str) -> dict[str, Any] | None:
        return _one(rows, workload=workload, size=size, group_workers=k,
                    implementation="c-extension", strategy=strategy)

    shm, pickled, loky = get("shared-memory"), get("processes"), get("joblib-loky")
    threads, mm = get("threads"), get("mmap")
    lines = []
    if shm is not None and pickled is not None:
        ratio = pickled["median_s"] / shm["median_s"]
        lines.append(f"Moving the data: on the same ProcessPoolExecutor, shared memory took "
                     f"{_ms(shm['median_s'])} and pickling the chunks {_ms(pickled['median_s'])} "
                     f"({_x(ratio)} the shared-memory time)"
                     + (f": pickling copies {_mb(pickled['bytes'])} through pipes on every call."
                        if ratio > 1 + 3 * ABOUT_ONE else
                        f"; at {_mb(pickled['bytes'])} the copy is not yet what costs most."))
    if shm is not None and loky is not None:
        lines.append(f"joblib's loky backend (automatic memmapping) took {_ms(loky['median_s'])}, "
                     f"{_x(loky['median_s'] / shm['median_s'])} the shared-memory time.")
    if shm is not None and mm is not None:
        lines.append(f"A memory-mapped file took {_ms(mm['median_s'])}, "
                     f"{_x(mm['median_s'] / shm['median_s'])} the shared-memory time.")
    if shm is not None and threads is not None:
        lines.append(f"Nogil threads took {_ms(threads['median_s'])}: shared-memory processes ran at "
                     f"{_x(threads['median_s'] / shm['median_s'])} of their speed.")
    numpy = _one(rows, workload=workload, size=size, group_workers=k, strategy="numpy")
    if numpy is not None and threads is not None:
        def gbs(row: dict[str, Any]) -> float:
            return float(row["bytes"] / row["median_s"] / 1e9)

        lines.append(f"numpy's own single-threaded call read {gbs(numpy):.1f} GB/s; the nogil kernel on "
                     f"{k} threads {gbs(threads):.1f} GB/s ({_x(gbs(threads) / gbs(numpy))}).")
    return lines


def _crossover_lines(rows: Rows, workload: str, k: int) -> list[str]:
    """The smallest size at which process-based strategies beat one serial call."""
    if k < 2:
        return []
    lines = []
    for impl in ("c-extension", "pure-python"):
        sizes = [s for s in SIZE_ORDER if _ok(rows, workload=workload, size=s, group_workers=k,
                                               implementation=impl)]
        if len(sizes) < 2:
            continue
        best_by_size = {}
        for s in sizes:
            procs = [r for r in _ok(rows, workload=workload, size=s, group_workers=k, implementation=impl)
                     if _kind(r)[0] == "processes"]
            if procs:
                best_by_size[s] = max(procs, key=lambda r: r["speedup"])
        if not best_by_size:
            continue
        wins = [s for s, r in best_by_size.items() if r["speedup"] > 1 + ABOUT_ONE]
        serial = {s: _one(rows, workload=workload, size=s, group_workers=k, implementation=impl,
                          strategy="serial") for s in sizes}
        if wins and wins[0] != sizes[0]:
            s = wins[0]
            reference = serial[s]
            per_task = reference["median_s"] / best_by_size[s]["chunks"] if reference else None
            below = sizes[sizes.index(s) - 1]
            lines.append(f"Crossover ({impl}): worker processes first beat the serial call at the {s} "
                         f"size ({_x(best_by_size[s]['speedup'])} with {best_by_size[s]['strategy']}"
                         + (f", about {_ms(per_task)} of work per task" if per_task else "")
                         + f"); at the {below} size the best of them ran at "
                         f"{_x(best_by_size[below]['speedup'])}: start-up, dispatch and copying cost "
                         "more than the work.")
        elif not wins:
            lines.append(f"Crossover ({impl}): no process strategy beat the serial call by more than "
                         f"{ABOUT_ONE:.0%} at any size measured "
                         f"(best: {_x(max(r['speedup'] for r in best_by_size.values()))}).")
        else:
            lines.append(f"Crossover ({impl}): worker processes beat the serial call already at the "
                         f"{sizes[0]} size.")
    return lines


def _oversubscribed_lines(rows: Rows, workload: str, size: str, best: dict[str, Any],
                          cores: int) -> list[str]:
    if best["strategy"] in ("serial", "numpy"):
        return []
    over = _ok(rows, workload=workload, size=size, implementation=best["implementation"],
               strategy=best["strategy"])
    over = [r for r in over if r["group_workers"] > cores]
    if not over:
        return []
    r = max(over, key=lambda r: r["group_workers"])
    ratio = r["speedup"] / best["speedup"]
    head = (f"Oversubscribed, with {r['group_workers']} workers on {cores} cores, {_name(best)} ran at "
            f"{_x(r['speedup'])} (against {_x(best['speedup'])} with {best['group_workers']})")
    if ratio < 1 - ABOUT_ONE / 3:
        return [head + ": more workers than cores only add switching and smaller chunks."]
    if ratio > 1 + ABOUT_ONE / 3:
        return [head + ": the extra workers filled idle moments (uneven chunks, waits), not extra cores."]
    return [head + ": about the same: past the core count, more workers add nothing here."]


#: The ratios this project watches, each computed from one run (see :func:`headlines`).
HEADLINES = (
    ("nogil kernel threads, 2 workers vs 1", ">= 1.9x"),
    ("pure-Python threads, 2 workers vs serial", "reported as measured"),
    ("shared memory vs pickled chunks, large reduction", ">= 20x"),
    ("shared memory vs joblib loky, large reduction", ">= 3x"),
    ("nogil threads vs shared memory, large reduction", "<= 2x"),
    ("nogil threads vs numpy.sum (1 thread), large reduction", "> 1x"),
)


def headlines(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The watched ratios, where this run measured what they need (2 workers, the large size)."""
    rows = doc["rows"]
    k = 2 if 2 in doc["plan"]["workers"] else reference_workers(doc)
    out = []

    def add(index: int, value: float | None, detail: str) -> None:
        name, target = HEADLINES[index]
        if value is not None:
            out.append({"ratio": name, "value": value, "target": target, "workers": k, "detail": detail})

    big = _largest_size(rows, "cpu")
    one = _one(rows, workload="cpu", size=big, group_workers=1, implementation="c-extension", strategy="threads")
    two = _one(rows, workload="cpu", size=big, group_workers=2, implementation="c-extension", strategy="threads")
    if one and two:
        add(0, two["speedup"] / one["speedup"], f"sum of squares, {big} size, each against its own serial call")
    pure = _one(rows, workload="cpu", size=big, group_workers=2, implementation="pure-python", strategy="threads")
    if pure:
        add(1, pure["speedup"], f"CPU seconds per wall second: {pure['cpu_per_wall']:.2f}")
    if "large" in {r["size"] for r in rows}:
        def get(strategy: str) -> dict[str, Any] | None:
            return _one(rows, workload="reduction", size="large", group_workers=k,
                        implementation="numpy" if strategy == "numpy" else "c-extension", strategy=strategy)

        shm, pickled, loky = get("shared-memory"), get("processes"), get("joblib-loky")
        threads, numpy = get("threads"), get("numpy")
        mb = _mb(shm["bytes"]) if shm else ""
        if shm and pickled:
            add(2, pickled["median_s"] / shm["median_s"],
                f"{mb}: {_ms(shm['median_s'])} vs {_ms(pickled['median_s'])}")
        if shm and loky:
            add(3, loky["median_s"] / shm["median_s"], f"{mb}: {_ms(shm['median_s'])} vs {_ms(loky['median_s'])}")
        if shm and threads:
            add(4, shm["median_s"] / threads["median_s"],
                f"{mb}: {_ms(threads['median_s'])} vs {_ms(shm['median_s'])}")
        if threads and numpy:
            add(5, numpy["median_s"] / threads["median_s"],
                f"{mb}: {_ms(threads['median_s'])} vs {_ms(numpy['median_s'])}")
    return out
