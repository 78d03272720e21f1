"""Step 3: ``Pool.map`` vs ``starmap`` vs ``imap`` vs ``imap_unordered``, and what chunksize does.

The same tasks go through the four calls of one ``multiprocessing.Pool``. Every task carries its
index and its result comes back tagged with it, so the order in which results reached the parent
can be recorded and the results put back in place before they are checked:

* ``map`` and ``starmap`` return one list when everything is done (``starmap`` unpacks each tuple
  into several arguments, ``map`` passes it whole); ``imap`` yields results in submission order as
  soon as each is ready; ``imap_unordered`` yields them in the order they finish.
* "uneven" tasks count primes over equal-width ranges (a later range costs more), submitted
  heaviest and lightest alternately, so finishing order differs from submission order.
* "many small" tasks are tiny Monte Carlo slices, so the cost of one round trip per chunk shows
  and ``chunksize`` decides the time.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any, Callable

from .._select import C_EXTENSION, PURE_PYTHON, implementations
from .._timing import environment, interleaved, usable_cores
from .._workers import indexed_call, indexed_packed
from ..chunked import split_range
from ..strategies import check_workers, open_executor
from ._order import interleave_heavy_light, overtaken
from ._result import Progress, Row, StepResult, no_progress

TITLE = "Pool.map vs starmap vs imap vs imap_unordered"

APIS = ("map", "starmap", "imap", "imap_unordered")
UNEVEN = "uneven"
SMALL = "many small"


def chunksizes(tasks: int, workers: int) -> list[int]:
    """1, the geometric middle, and ``tasks // workers`` (an even split), without repeats."""
    top = max(1, tasks // check_workers(workers))
    return sorted({1, max(1, round(math.sqrt(top))), top})


def _call(pool: Any, api: str, tasks: list[tuple], chunksize: int) -> tuple[list[tuple[int, Any]], float]:
    """Run ``tasks`` through ``pool.<api>``; return the (index, result) pairs as they came, and the
    seconds until the first one reached this process."""
    t0 = time.perf_counter()
    if api == "map":
        results = pool.map(indexed_packed, tasks, chunksize=chunksize)
    elif api == "starmap":
        results = pool.starmap(indexed_call, tasks, chunksize=chunksize)
    elif api == "imap":
        results = pool.imap(indexed_packed, tasks, chunksize=chunksize)
    elif api == "imap_unordered":
        results = pool.imap_unordered(indexed_packed, tasks, chunksize=chunksize)
    else:
        raise ValueError(f"api must be one of {APIS}, got {api!r}")
    pairs = []
    first = None
    for pair in results:
        if first is None:
            first = time.perf_counter() - t0
        pairs.append(pair)
    return pairs, first if first is not None else time.perf_counter() - t0


def run(n: int = 200_000, tasks: int = 16, small_tasks: int = 2_000, small_samples: int = 20,
        kernel_scale: int = 10, seed: int = 8, workers: int | None = None, repeats: int = 3,
        progress: Progress = no_progress) -> StepResult:
    """Run both workloads through the four Pool calls at a few chunksizes, on one pool.

    Pure Python counts primes below ``n`` in ``tasks`` ranges and draws ``small_samples`` points
    per small task; the compiled kernel gets ``kernel_scale`` times both.
    """
    k = check_workers(workers if workers is not None else max(2, usable_cores()))
    for name, value in (("n", n), ("tasks", tasks), ("small_tasks", small_tasks),
                        ("small_samples", small_samples), ("kernel_scale", kernel_scale), ("repeats", repeats)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if n < tasks:
        raise ValueError(f"n must be at least tasks ({tasks}), got {n}")
    impls = implementations()
    names = [PURE_PYTHON] + ([C_EXTENSION] if C_EXTENSION in impls else [])

    work: dict[tuple[str, str], list[tuple]] = {}
    reference: dict[tuple[str, str], Callable[[], list]] = {}
    whole: dict[tuple[str, str], Callable[[], int]] = {}
    for impl in names:
        scale = 1 if impl == PURE_PYTHON else kernel_scale
        ranges = interleave_heavy_light(split_range(0, n * scale, tasks))
        work[(UNEVEN, impl)] = [(i, impl, "count_primes", lo, hi) for i, (lo, hi) in enumerate(ranges)]
        size = small_samples * scale
        work[(SMALL, impl)] = [(i, impl, "monte_carlo_hits", i * size, (i + 1) * size, seed)
                               for i in range(small_tasks)]
        kern = impls[impl].kernels
        for key in ((UNEVEN, impl), (SMALL, impl)):
            reference[key] = lambda jobs=work[key], kern=kern: [kern[j[2]](*j[3:]) for j in jobs]
        whole[(UNEVEN, impl)] = lambda kern=kern, top=n * scale: kern["count_primes"](0, top)
        whole[(SMALL, impl)] = lambda kern=kern, top=small_tasks * size: kern["monte_carlo_hits"](0, top, seed)
    sizes = {workload: chunksizes(tasks if workload == UNEVEN else small_tasks, k) for workload in (UNEVEN, SMALL)}

    keys: list[tuple[str, str, str, int]] = []
    for workload, impl in work:
        keys.append((workload, impl, "serial", 0))
        keys += [(workload, impl, api, cs) for api in APIS for cs in sizes[workload]]
    total = len(keys) * (repeats + 1)
    done = [0]

    def label(key: tuple[str, str, str, int]) -> str:
        workload, impl, api, cs = key
        return f"{workload}, {impl}, " + ("serial" if api == "serial" else f"{api}, chunksize {cs}")

    outcomes: dict[tuple, list[tuple[list[int], float]]] = {key: [] for key in keys}
    checks: dict[str, bool] = {}
    with open_executor("pool", k) as executor:
        pool = executor.pool

        def variant(key: tuple[str, str, str, int]) -> Callable[[], None]:
            workload, impl, api, cs = key

            def call() -> list:
                if api == "serial":
                    t0 = time.perf_counter()
                    values = reference[(workload, impl)]()
                    outcomes[key].append((list(range(len(values))), time.perf_counter() - t0))
                    return values
                pairs, first = _call(pool, api, work[(workload, impl)], cs)
                outcomes[key].append(([i for i, _ in pairs], first))
                return [value for _, value in sorted(pairs, key=lambda p: p[0])]
            return call

        variants = {key: variant(key) for key in keys}
        expected = {}
        for key, fn in variants.items():
            got = fn()
            if key[2] == "serial":
                expected[key[:2]] = got
                checks[f"{key[0]}, {key[1]}: serial results add up to one call over the whole range"] = (
                    len(got) == len(work[key[:2]]) and sum(got) == whole[key[:2]]())
            else:
                order = outcomes[key][-1][0]
                checks[f"{label(key)}: every task answered once, results equal the serial reference"] = (
                    sorted(order) == list(range(len(work[key[:2]]))) and got == expected[key[:2]])
            done[0] += 1
            progress(done[0], total, label(key))

        def counted(key, fn):
            def wrapper():
                out = fn()
                done[0] += 1
                progress(done[0], total, label(key))
                return out
            return wrapper

        timings = interleaved({key: counted(key, fn) for key, fn in variants.items()}, repeats=repeats, warmup=0)

    rows = []
    for key in keys:
        workload, impl, api, cs = key
        t = timings[key]
        serial = timings[(workload, impl, "serial", 0)].median
        order, _ = outcomes[key][0]
        firsts = [first for _, first in outcomes[key][1:]] or [outcomes[key][0][1]]
        count = len(work[(workload, impl)])
        rows.append(Row(
            variant=f"{workload}: {api}", implementation=impl,
            strategy="serial" if api == "serial" else "pool", workers=1 if api == "serial" else k,
            seconds=t.median, spread=t.spread, cpu_seconds=t.cpu_median, speedup=serial / t.median,
            extra={"tasks": count, "us/task": t.median / count * 1e6},
        ))
        if api != "serial":
            rows[-1].extra.update({
                "chunksize": cs, "first result ms": statistics.median(firsts) * 1000,
                "arrival": " ".join(map(str, order[:8])) + (" ..." if count > 8 else ""),
                "overtaken": overtaken(order)})

    shown = C_EXTENSION if C_EXTENSION in names else PURE_PYTHON
    summary = []
    for api in APIS:
        order, _ = outcomes[(UNEVEN, shown, api, 1)][0]
        summary.append(f"{api:<15} ({shown}, chunksize 1): task indices in arrival order "
                       + " ".join(map(str, order)))
    env = environment()
    data = {
        "uneven_ranges": {impl: [list(j[3:5]) for j in work[(UNEVEN, impl)]] for impl in names},
        "arrivals": [{"workload": key[0], "implementation": key[1], "api": key[2], "chunksize": key[3],
                      "orders": [o[:32] for o, _ in outcomes[key]],
                      "overtaken": [overtaken(o) for o, _ in outcomes[key]]}
                     for key in keys if key[2] != "serial"],
    }
    return StepResult(
        step=3, title=TITLE,
        params={"n": n, "tasks": tasks, "small_tasks": small_tasks, "small_samples": small_samples,
                "kernel_scale": kernel_scale, "seed": seed, "workers": k, "repeats": repeats,
                "chunksizes": dict(sizes)},
        rows=rows, checks=checks, summary=summary, explanation=_explain(rows, sizes, shown, names, k),
        env=env, data=data,
        columns=("variant", "implementation", "chunksize", "tasks", "ms", "speedup", "us/task",
                 "first result ms", "overtaken", "arrival"),
    )


def _versus(a: Row, b: Row, what: str) -> str:
    """``a`` against ``b`` in words, calling a gap inside the repeats' spread what it is."""
    ratio = a.seconds / b.seconds
    noise = max(a.spread, b.spread)
    text = f"{ratio:.2f}x the time of {what}"
    return text + (f" (a gap within the {noise:.0%} spread of the repeats)" if abs(ratio - 1) <= noise else "")


def _explain(rows: list[Row], sizes: dict[str, list[int]], shown: str, names: list[str], k: int) -> list[str]:
    def find(workload: str, impl: str, api: str, cs: int) -> Row:
        return next(r for r in rows if r.variant == f"{workload}: {api}" and r.implementation == impl
                    and r.extra.get("chunksize") == cs)

    un = find(UNEVEN, shown, "imap_unordered", 1)
    im, mp = find(UNEVEN, shown, "imap", 1), find(UNEVEN, shown, "map", 1)
    mid = sizes[UNEVEN][1] if len(sizes[UNEVEN]) > 1 else 1
    im_mid = find(UNEVEN, shown, "imap", mid)
    lines = [
        f"Uneven tasks ({shown}, chunksize 1): with imap_unordered {un.extra['overtaken']} of "
        f"{un.extra['tasks']} results arrived after a later-submitted one, and the first came after "
        f"{un.extra['first result ms']:.1f} ms; imap yields in submission order (first after "
        f"{im.extra['first result ms']:.1f} ms, when task 0 was done"
        + (f"; {im_mid.extra['first result ms']:.1f} ms at chunksize {mid}, when its whole first chunk was"
           if mid != 1 else "")
        + f"), and map hands over the whole list at once, after {mp.extra['first result ms']:.1f} ms. "
        "Sorted back by index, every variant equals the serial results."]

    lo, hi = sizes[SMALL][0], sizes[SMALL][-1]
    parts, gained = [], []
    for impl in names:
        a, b = find(SMALL, impl, "map", lo), find(SMALL, impl, "map", hi)
        parts.append(f"{impl} {a.seconds * 1000:.1f} ms at chunksize {lo} and {b.seconds * 1000:.1f} ms at "
                     f"{hi} ({a.seconds / b.seconds:.1f}x)")
        if a.seconds / b.seconds > 1 + max(a.spread, b.spread):
            gained.append(impl)
    count = find(SMALL, names[-1], "map", lo).extra["tasks"]
    text = f"{count:,} tiny tasks through map: " + "; ".join(parts) + ". "
    if gained:
        fast = gained[-1]
        per_one = find(SMALL, fast, "map", lo).extra["us/task"]
        per_big = find(SMALL, fast, "map", hi).extra["us/task"]
        text += (f"For {fast} a task cost {per_one:.1f} us at chunksize {lo} and {per_big:.1f} us at {hi}: every "
                 "chunk is a round trip between processes, so the smaller the task, the more chunksize decides.")
        missed = [impl for impl in names if impl not in gained]
        if missed:
            text += f" {', '.join(missed)} gained nothing beyond the spread of the repeats in this run."
    else:
        text += ("In this run larger chunks gained nothing beyond the spread of the repeats: rerun on a "
                 "quieter machine.")
    lines.append(text)

    top = sizes[UNEVEN][-1]
    big = find(UNEVEN, shown, "map", top)
    st = find(UNEVEN, shown, "starmap", 1)
    ratio, noise = big.seconds / mp.seconds, max(big.spread, mp.spread)
    if ratio > 1 + noise:
        why = ("with one fixed chunk per worker, a worker that falls behind (on a heavier chunk, or on a core "
               "shared with other programs) cannot pass work to the others")
    elif ratio < 1 - noise:
        why = f"{mp.extra['tasks']} tasks in {k} chunks take fewer hand-offs than one task at a time"
    else:
        why = f"heavy and light tasks alternate, so the {k} chunks hold similar work"
    lines.append(
        f"Uneven tasks in one chunk per worker (chunksize {top}) took {_versus(big, mp, 'chunksize 1')}: {why}. "
        f"map and starmap differ only in how each tuple reaches the function: starmap took "
        f"{_versus(st, mp, 'map')}.")
    return lines


#: Parameters for ``gilfree lab`` (DEFAULT), ``--quick`` (QUICK) and the tests (TINY).
DEFAULT: dict = {}
QUICK = {"n": 60_000, "tasks": 16, "small_tasks": 400, "small_samples": 10, "repeats": 2}
TINY = {"n": 2_000, "tasks": 8, "small_tasks": 40, "small_samples": 5, "kernel_scale": 5, "repeats": 1,
        "workers": 2}
