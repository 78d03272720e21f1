"""The README's Dask figures are the committed Dask run's (bench/results/bench-2core-dask), not typed."""

from __future__ import annotations

import json

from _checkout import checkout_path

from gilfree.figures import ms, x


def _row(doc: dict, workload: str, strategy: str) -> dict:
    (row,) = [r for r in doc["rows"] if r["workload"] == workload and r["size"] == "large"
              and r["implementation"] == "c-extension" and r["strategy"] == strategy and r["workers"] == 2]
    return row


def test_the_readme_dask_table_is_the_committed_run():
    with open(checkout_path("bench", "results", "bench-2core-dask", "bench.json"), encoding="utf-8") as f:
        doc = json.load(f)
    with open(checkout_path("README.md"), encoding="utf-8") as f:
        readme = f.read()
    startup = {s["executor"]: s for s in doc["startup"] if s["workers"] == 2}
    dask, pool = startup["dask"], startup["processes"]
    assert f"| start-up (once per pool or cluster) | {ms(pool['seconds'])} | {ms(dask['seconds'])} |" in readme
    assert f"| per task, a worker's time | {ms(pool['per_task_s'])} | {ms(dask['per_task_s'])} |" in readme
    for workload, label in (("pipeline", "large pipeline (16M records)"), ("reduction", "large reduction (400 MB)")):
        on_dask, on_shm = _row(doc, workload, "dask"), _row(doc, workload, "shared-memory")
        ratio = x(on_dask["median_s"] / on_shm["median_s"])
        assert (f"| {label}, median of {doc['plan']['repeats']} | {ms(on_shm['median_s'])} | "
                f"{ms(on_dask['median_s'])} ({ratio}) |") in readme
    verdict = " ".join(" ".join(doc["verdicts"]["pipeline"]).split())
    pipeline_ratio = x(_row(doc, "pipeline", "dask")["median_s"] / _row(doc, "pipeline", "shared-memory")["median_s"])
    assert f"On the large pipeline Dask took {pipeline_ratio} the time" in readme
    assert f"{pipeline_ratio} the shared-memory processes'" in verdict  # the run's own words agree
