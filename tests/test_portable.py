"""The suite itself works anywhere: collected without POSIX-only names, run from outside the tree.

* With the names Windows lacks removed from ``signal`` and ``os`` and only the ``spawn`` start
  method left (``tests/_posixless.py``), collecting the whole suite and importing every gilfree
  module succeed: such names are looked up when a test runs, and its test skips without them.
* Whatever the configuration file (the checkout's pyproject.toml, or the one named with ``-c``
  when the suite runs from a copy of ``tests/``), the run keeps the suite's settings.
* Under ``GILFREE_EXPECT_INSTALLED=1`` (CI's run of a copy of ``tests/`` against the wheel it
  built and installed), the gilfree imported is the installed one, not a checkout's ``src/``.
"""

from __future__ import annotations

import os
import pkgutil
import re
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from _checkout import ROOT, ini_args

import gilfree

TESTS = Path(__file__).resolve().parent
POSIXLESS = TESTS / "_posixless.py"
#: A test id parametrized with a start method that the child does not have.
POSIX_METHOD_PARAM = re.compile(r"[\[-](fork|forkserver)[\]-]")
#: pytest's report of a module skipped as a whole (``-ra``, from the suite's addopts).
SKIPPED_MODULE = re.compile(r"^SKIPPED \[\d+\] (\S+?\.py)(?::\d+)?:", re.MULTILINE)
TIMEOUT_S = 300  # collection takes seconds; a busy machine may stretch that


def _posixless(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(POSIXLESS), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=TIMEOUT_S)


def test_the_suite_collects_where_posix_only_names_are_missing(pytestconfig):
    rootdir = Path(pytestconfig.rootpath)
    proc = _posixless("--collect-only", "-q", "-p", "no:cacheprovider", *ini_args(pytestconfig),
                      "--rootdir", str(rootdir), "--confcutdir", str(TESTS.parent), str(TESTS), cwd=rootdir)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert re.search(r"^\d+ tests collected in ", proc.stdout, re.MULTILINE), out[-3000:]
    assert "error" not in proc.stdout.strip().splitlines()[-1].lower(), out[-3000:]
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    # Parametrizations over start methods took the platform's: spawn only.
    assert [i for i in ids if POSIX_METHOD_PARAM.search(i)] == []
    assert any("[spawn" in i or "-spawn" in i for i in ids)
    # Every test module gave tests, or was skipped whole with a reason (a missing optional package).
    modules = {Path(i.split("::", 1)[0]).name for i in ids}
    skipped = {Path(name).name for name in SKIPPED_MODULE.findall(proc.stdout)}
    expected = {p.name for p in TESTS.glob("test_*.py")}
    assert expected - modules - skipped == set(), out[-3000:]


def test_every_gilfree_module_imports_where_posix_only_names_are_missing():
    proc = _posixless("--import-gilfree", cwd=TESTS)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    imported = set(proc.stdout.split())
    expected = {"gilfree"} | {m.name for m in pkgutil.walk_packages(gilfree.__path__, "gilfree.")
                              if not m.name.endswith(".__main__")}
    assert expected <= imported
    assert {"gilfree.faults", "gilfree.pool", "gilfree.shm", "gilfree._lifeline"} <= imported


@pytest.mark.portable
def test_the_suite_runs_under_its_own_settings(pytestconfig):
    """Run from a copy of ``tests/``, the settings come from the file named with ``-c``: without
    it a warning would pass silently, a typo'd marker select nothing, a hang never dump."""
    assert pytestconfig.inipath is not None, "no configuration file: run with -c <checkout>/pyproject.toml"
    assert pytestconfig.option.strict_markers
    assert "error" in pytestconfig.getini("filterwarnings")
    assert pytestconfig.getini("xfail_strict") is True
    assert float(pytestconfig.getini("faulthandler_timeout")) > 0
    assert any(m.startswith("portable:") for m in pytestconfig.getini("markers"))


def _site_dirs() -> list[Path]:
    dirs = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    dirs.update(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        dirs.add(site.getusersitepackages())
    return [Path(d).resolve() for d in dirs]


@pytest.mark.portable
@pytest.mark.skipif(os.environ.get("GILFREE_EXPECT_INSTALLED") != "1",
                    reason="GILFREE_EXPECT_INSTALLED=1 is not set (CI sets it to test an installed wheel)")
def test_the_gilfree_imported_is_the_installed_one():
    here = Path(gilfree.__file__).resolve().parent
    assert any(here.parent == d for d in _site_dirs()), f"gilfree imported from {here}, not site-packages"
    assert not here.is_relative_to(ROOT / "src"), f"gilfree imported from the checkout beside the tests: {here}"
