"""A strategy from outside gilfree reaches the lab, the bench and the fault drill with no edit.

The toy lives in a package of its own, written to a temporary folder with the metadata that
``pip install`` would leave (a ``*.dist-info`` folder with an ``entry_points.txt``), so that
every Python started with that folder on its path finds it through the ``gilfree.strategies``
entry-point group: the ``gilfree`` command and the fault drill's fresh interpreters alike.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

TOY = textwrap.dedent('''
    """A toy strategy published by a package that is not gilfree."""
    from concurrent.futures import ThreadPoolExecutor

    from gilfree.registry import Capabilities, Strategy


    class ToyThreads(ThreadPoolExecutor):
        """A thread pool under another name: all gilfree knows of it is what it declares."""


    def open_toy(workers, **options):
        return ToyThreads(max_workers=workers, thread_name_prefix="toy")


    STRATEGY = Strategy("toy", "a toy thread pool from a plugin package", open_toy,
                        Capabilities(uses="threads", in_process=True))
''')


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugin")
    (root / "gilfree_toy.py").write_text(TOY)
    info = root / "gilfree_toy-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gilfree-toy\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[gilfree.strategies]\ntoy = gilfree_toy:STRATEGY\n")
    return str(root)


def _env(plugin_path: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (plugin_path, env.get("PYTHONPATH")) if p)
    return env


def _gilfree(plugin_path: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gilfree", *args], env=_env(plugin_path), text=True,
                          capture_output=True, timeout=timeout)


def test_the_command_line_lists_the_plugin_strategy(plugin_path):
    for command in ("bench", "faults"):
        help_text = _gilfree(plugin_path, command, "--help").stdout
        assert "toy" in help_text.replace("\n", " ")


def test_the_bench_runs_the_plugin_strategy(plugin_path, tmp_path):
    out = tmp_path / "bench"
    done = _gilfree(plugin_path, "bench", "--strategy", "toy", "--workload", "cpu", "--workload", "reduction",
                    "--size", "small", "--workers", "2", "--repeats", "1", "--no-plots", "--no-progress",
                    "--out", str(out))
    assert done.returncode == 0, done.stderr
    doc = json.loads((out / "bench.json").read_text())
    toy = [r for r in doc["rows"] if r["strategy"] == "toy"]
    assert toy and all(r["ok"] for r in toy)
    assert {r["workload"] for r in toy} == {"cpu", "reduction"}
    assert doc["variants"]["toy"] == {"note": "a toy thread pool from a plugin package; tasks read views of "
                                              "the caller's array", "executor": "toy", "transport": "views",
                                      "uses": "threads"}


def test_the_fault_drill_runs_the_plugin_strategy(plugin_path):
    done = _gilfree(plugin_path, "faults", "--strategy", "toy", "--scenario", "clean", "--scenario",
                    "task-raises", "--scenario", "parent-sigterm", "--json", "--no-progress")
    assert done.returncode == 0, done.stdout + done.stderr
    outcomes = json.loads(done.stdout)["cases"]
    assert [o["case"] for o in outcomes] == ["clean/toy", "task-raises/toy", "parent-sigterm/toy"]
    assert all(o["ok"] for o in outcomes), outcomes


def test_the_lab_chunked_step_runs_the_plugin_strategy(plugin_path):
    code = textwrap.dedent('''
        import json
        from gilfree.lab import run_step
        result = run_step(7, "tiny")
        rows = [r for r in result.rows if r.strategy == "toy"]
        print(json.dumps({"rows": len(rows), "checks": {k: v for k, v in result.checks.items() if "toy" in k}}))
    ''')
    done = subprocess.run([sys.executable, "-c", code], env=_env(plugin_path), text=True,
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["rows"] > 0
    assert report["checks"] and all(report["checks"].values())
