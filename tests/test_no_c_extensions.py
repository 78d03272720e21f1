"""``--no-c-extensions`` runs no compiled code: every test, the lab steps they call, their workers.

conftest.py sets ``GILFREE_NO_EXTENSIONS=1`` before gilfree is imported and deselects the tests
marked ``c_extension``; here a fresh ``python -v -m pytest`` proves from outside that no
``gilfree._<unit>_c`` module was imported in that run, nor in a worker process it started (they
inherit ``-v``), without trusting the conftest check it also exercises. (``-X importtime`` would
not do: it misses modules loaded by ``importlib.import_module``, as the selector loads them.)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _checkout import ini_args

import gilfree
from gilfree._select import C_EXTENSION, PURE_PYTHON, available
from gilfree.lab import run_step

TESTS = Path(__file__).resolve().parent
#: ``python -v`` writes ``import 'NAME' # <loader>`` for every module it loads, however it is imported.
IMPORTED = re.compile(r"^import '([^']+)' # ", re.MULTILINE)
COMPILED = re.compile(r"gilfree\._[a-z0-9]+_c")
#: What the child runs: the smoke tests and one lab step (never this module's subprocess tests).
CHILD_TESTS = ["test_smoke.py",
               f"{Path(__file__).name}::test_a_lab_step_runs_only_the_implementations_under_test"]


def test_a_lab_step_runs_only_the_implementations_under_test(request):
    """Lab step 1 picks its implementations itself, so only the environment can restrict it."""
    wanted = {PURE_PYTHON} if request.config.getoption("--no-c-extensions") else set(available())
    result = run_step(1, "tiny")
    assert result.ok
    assert {row.implementation for row in result.rows} == wanted


def _child_env() -> dict[str, str]:
    """A child's environment: this very copy of gilfree, and no GILFREE_NO_EXTENSIONS (the option
    alone must do what it says)."""
    env = dict(os.environ)
    env.pop("GILFREE_NO_EXTENSIONS", None)
    src = str(Path(gilfree.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _pytest_in_a_fresh_interpreter(config: pytest.Config, *options: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run CHILD_TESTS under ``python -v``; the run, and the compiled modules it imported.

    ``-s``: pytest's capture would swallow what ``-v`` writes while the tests run.
    """
    proc = subprocess.run(
        [sys.executable, "-v", "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", *ini_args(config), *options,
         *(str(TESTS / name) for name in CHILD_TESTS)],
        cwd=TESTS.parent, env=_child_env(), capture_output=True, text=True, timeout=300,
    )
    imported = set(IMPORTED.findall(proc.stderr))
    assert "gilfree._cpu_py" in imported, proc.stderr[-3000:]  # the probe sees what the selector loads
    return proc, {name for name in imported if COMPILED.fullmatch(name)}


def test_no_c_extensions_imports_no_compiled_module(pytestconfig):
    proc, compiled = _pytest_in_a_fresh_interpreter(pytestconfig, "--no-c-extensions")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert compiled == set()
    assert re.search(r"\b\d+ passed, \d+ deselected\b", proc.stdout), proc.stdout[-3000:]


@pytest.mark.c_extension
def test_without_the_option_the_same_probe_sees_the_compiled_modules(pytestconfig):
    """The control: the probe above would have seen a compiled import, had there been one."""
    if C_EXTENSION not in available():
        pytest.skip("the compiled kernels are not available here")
    proc, compiled = _pytest_in_a_fresh_interpreter(pytestconfig)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert {"gilfree._cpu_c", "gilfree._arrays_c", "gilfree._bytebuf_c"} <= compiled
    assert "deselected" not in proc.stdout


@pytest.mark.c_extension  # its child imports compiled code on purpose
def test_the_session_check_fails_a_run_that_imports_a_compiled_module(tmp_path, pytestconfig):
    """conftest's own guard, for what slips past the markers: a test that imports a compiled
    module itself under the option fails the run, and the report names it."""
    if C_EXTENSION not in available():
        pytest.skip("the compiled kernels are not available here")
    shutil.copy(TESTS / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_sneaky.py").write_text(
        "def test_pure():\n    pass\n\n\n"
        "def test_imports_compiled_code():\n    import gilfree._cpu_c  # noqa: F401\n\n\n"
        "def test_after():\n    pass\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *ini_args(pytestconfig),
         "--rootdir", str(tmp_path), "--no-c-extensions", str(tmp_path)],
        cwd=tmp_path, env=_child_env(), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "3 passed" in proc.stdout
    assert ("--no-c-extensions was given, yet compiled modules were imported: gilfree._cpu_c "
            "(first seen after test_sneaky.py::test_imports_compiled_code)") in proc.stdout
