"""setup.py's decisions: compile or fall back to pure Python, and what the fallback says.

The build itself (a wheel from the sdist with a broken compiler, the stripped and repaired wheel)
is proved by ``.ci/artifacts``; here are the functions it rests on, fed by hand: the decision,
the one-line summary of a compiler's failure, the link command without run paths, the warning.
"""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

import pytest

from gilfree import _select

SETUP_PY = Path(__file__).resolve().parent.parent / "setup.py"

pytestmark = pytest.mark.skipif(not SETUP_PY.is_file(), reason="needs the source checkout (setup.py)")


@pytest.fixture(scope="module")
def build() -> ModuleType:
    """setup.py as a module: importing it runs no setup() (that is for ``__main__``)."""
    pytest.importorskip("setuptools")
    spec = importlib.util.spec_from_file_location("gilfree_setup", SETUP_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _never() -> str | None:
    raise AssertionError("the compiler was asked, though an earlier reason settled it")


# --- the decision -------------------------------------------------------------------------------------

def test_a_working_compiler_compiles(build):
    asked = []
    outcome = build.decide(no_extensions=False, require=None, implementation="CPython", cython_problem=None,
                           compiler_problem=lambda: asked.append(1))
    assert outcome == build.Outcome(True) and asked == [1]


@pytest.mark.parametrize("kwargs, reason, detail", [
    ({"no_extensions": True}, "disabled", "GILFREE_NO_EXTENSIONS is set"),
    ({"implementation": "PyPy"}, "not-cpython", "PyPy"),
    ({"cython_problem": "No module named 'Cython'"}, "no-cython", "No module named 'Cython'"),
])
def test_reasons_found_before_the_compiler_spare_the_compiler_check(build, kwargs, reason, detail):
    args = {"no_extensions": False, "require": None, "implementation": "CPython", "cython_problem": None,
            "compiler_problem": _never, **kwargs}
    outcome = build.decide(**args)
    assert not outcome.compiled and outcome.reason == reason and detail in outcome.detail


def test_a_failed_compiler_check_falls_back_with_its_words(build):
    outcome = build.decide(no_extensions=False, require=None, implementation="CPython", cython_problem=None,
                           compiler_problem=lambda: "gcc: not found")
    assert outcome == build.Outcome(False, "no-compiler", "gcc: not found")


@pytest.mark.parametrize("kwargs, words", [
    ({"compiler_problem": lambda: "Python.h: No such file or directory"},
     "cannot build a module against Python.h: Python.h: No such file or directory"),
    ({"implementation": "PyPy"}, "CPython extension modules, and this is PyPy"),
    ({"cython_problem": "No module named 'Cython'"}, "Cython is not installed"),
])
def test_required_extensions_make_every_fallback_an_error(build, kwargs, words):
    args = {"no_extensions": False, "require": "GILFREE_REQUIRE_EXTENSIONS", "implementation": "CPython",
            "cython_problem": None, "compiler_problem": lambda: None, **kwargs}
    with pytest.raises(SystemExit) as exc:
        build.decide(**args)
    assert "GILFREE_REQUIRE_EXTENSIONS is set" in str(exc.value) and words in str(exc.value)


def test_asking_for_both_pure_and_required_extensions_is_an_error(build):
    with pytest.raises(SystemExit, match="GILFREE_NO_EXTENSIONS and GILFREE_REQUIRE_EXTENSIONS are both set"):
        build.decide(no_extensions=True, require="GILFREE_REQUIRE_EXTENSIONS", implementation="CPython",
                     cython_problem=None, compiler_problem=_never)


def test_a_debug_build_may_not_fall_back_to_pure_python(build):
    with pytest.raises(SystemExit, match="error: GILFREE_SANITIZE is set, and the compiled kernels cannot"):
        build.decide(no_extensions=False, require="GILFREE_SANITIZE", implementation="CPython",
                     cython_problem=None, compiler_problem=lambda: "gcc: not found")


@pytest.mark.parametrize("env, required_by", [
    ({}, None),
    ({"GILFREE_REQUIRE_EXTENSIONS": "1"}, "GILFREE_REQUIRE_EXTENSIONS"),
    ({"GILFREE_DEBUG_BUILD": "1"}, "GILFREE_DEBUG_BUILD"),
    ({"GILFREE_SANITIZE": "yes"}, "GILFREE_SANITIZE"),
    ({"GILFREE_DEBUG_BUILD": "1", "GILFREE_NO_EXTENSIONS": "1"}, None),  # a pure build asks for no kernels
    ({"GILFREE_REQUIRE_EXTENSIONS": "0"}, None),
])
def test_the_switch_that_forbids_a_fallback(monkeypatch, env, required_by):
    pytest.importorskip("setuptools")
    for name in ("REQUIRE_EXTENSIONS", "DEBUG_BUILD", "SANITIZE", "NO_EXTENSIONS"):
        monkeypatch.delenv(f"GILFREE_{name}", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("gilfree_setup_env", SETUP_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.REQUIRED_BY == required_by


# --- what the compiler said, in one line --------------------------------------------------------------

def _wrapped(cause: BaseException) -> Exception:
    """A compile error as setuptools raises it: the subprocess's own error as its cause."""
    try:
        try:
            raise cause
        except BaseException as exc:
            raise RuntimeError("compile failed") from exc
    except RuntimeError as outer:
        return outer


def test_a_missing_compiler_is_named(build):
    missing = FileNotFoundError(2, "No such file or directory", "gcc")
    assert build.summarize(_wrapped(missing)) == "gcc: not found"
    # older setuptools put it in the message alone
    assert build.summarize(Exception("command 'cc' failed: No such file or directory")) == "cc: not found"


def test_a_compiler_that_fails_silently_gives_its_exit_status(build):
    failed = subprocess.CalledProcessError(1, ["/bin/false", "-c", "probe.c"])
    assert build.summarize(_wrapped(failed)) == "/bin/false failed (exit status 1)"
    status = Exception("command 'x-cc' failed with exit code 4")
    assert build.summarize(status) == "x-cc failed (exit status 4)"


def test_the_compilers_first_error_wins_without_the_temporary_folder(build):
    tmp = os.path.join(os.sep + "tmp", "gilfree-probe-abc")
    said = (f"gcc -I/usr/include/python3.11 -c {tmp}{os.sep}probe.c\n"
            f"{tmp}{os.sep}probe.c:3:10: fatal error: Python.h: No such file or directory\n"
            "compilation terminated.\n")
    line = build.summarize(_wrapped(subprocess.CalledProcessError(1, ["gcc"])), said, tmp)
    assert line == "probe.c:3:10: fatal error: Python.h: No such file or directory"


def test_the_linkers_line_beats_collect2s_summary(build):
    said = "/usr/bin/ld: cannot find -lpython3.11: No such file or directory\n" \
           "collect2: error: ld returned 1 exit status\n"
    assert build.summarize(Exception("link failed"), said).startswith("/usr/bin/ld: cannot find -lpython3.11")


# --- the compiler check, for real ---------------------------------------------------------------------

class _FakeBuildExt:
    """What compiler_problem reads from a finalized build_ext."""

    compiler = None
    verbose = 0
    define = undef = None
    libraries: list[str] = []
    library_dirs: list[str] = []

    def __init__(self) -> None:
        self.include_dirs = [sysconfig.get_paths()["include"], sysconfig.get_paths()["platinclude"]]


@pytest.mark.skipif(os.name == "nt", reason="CC chooses the compiler on POSIX systems")
def test_the_check_names_a_compiler_that_is_not_there(build, monkeypatch):
    monkeypatch.setenv("CC", "gilfree-no-such-cc")
    monkeypatch.setenv("LDSHARED", "gilfree-no-such-cc -shared")
    assert build.compiler_problem(_FakeBuildExt()) == "gilfree-no-such-cc: not found"


@pytest.mark.skipif(os.name == "nt", reason="CC chooses the compiler on POSIX systems")
def test_the_check_passes_with_the_configured_compiler(build):
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    header = Path(sysconfig.get_paths()["include"], "Python.h")
    if shutil.which(os.environ.get("CC", cc).split()[0]) is None or not header.is_file():
        pytest.skip("no C compiler or no Python headers here")
    assert build.compiler_problem(_FakeBuildExt()) is None


# --- the link command and the flags -------------------------------------------------------------------

def test_run_paths_leave_the_link_command(build):
    pyenv = ["gcc", "-shared", "-L/prefix/lib", "-Wl,-rpath,/prefix/lib", "-L/prefix/lib",
             "-Wl,-rpath=/x", "-Wl,--rpath,/y", "-Wl,-R,/z", "-Wl,-R/w", "-Wl,-rpath", "-Wl,/v",
             "-rpath", "/u", "-Wl,-rpath-link,/keep", "-Wl,-O1"]
    assert build.without_run_paths(pyenv) == ["gcc", "-shared", "-L/prefix/lib", "-L/prefix/lib",
                                              "-Wl,-rpath-link,/keep", "-Wl,-O1"]


@pytest.mark.parametrize("cflags, wanted", [("", False), ("-O2", False), ("-O2 -g", True), ("-ggdb3", True),
                                            ("-g0", False)])
def test_users_cflags_asking_for_debug_info_keep_it(build, monkeypatch, cflags, wanted):
    monkeypatch.setenv("CFLAGS", cflags)
    assert build._wants_debug_info() is wanted


# --- the warning --------------------------------------------------------------------------------------

def test_the_warning_says_what_was_missing_and_how_to_get_the_kernels(build):
    out = io.StringIO()
    build.warn_pure(build.Outcome(False, "no-compiler", "gcc: not found"), file=out)
    text = out.getvalue()
    assert "WARNING: building the pure-Python package" in text
    assert "gcc: not found" in text
    assert _select.REBUILD in text  # the same command `gilfree info` gives
    assert "GILFREE_REQUIRE_EXTENSIONS=1" in text


def test_asking_for_pure_python_gets_a_note_not_a_warning(build):
    out = io.StringIO()
    build.warn_pure(build.Outcome(False, "disabled", "GILFREE_NO_EXTENSIONS is set"), file=out)
    assert out.getvalue() == "gilfree: building the pure-Python package: GILFREE_NO_EXTENSIONS is set\n"


def test_the_build_record_is_what_gilfree_reads(build, tmp_path, monkeypatch):
    build.write_build_info(tmp_path / "gilfree", build.Outcome(False, "no-compiler", "gcc: not found"))
    written = tmp_path / "gilfree" / "_build_info.py"
    spec = importlib.util.spec_from_file_location("gilfree._build_info", written)
    assert spec is not None and spec.loader is not None
    record = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(record)
    monkeypatch.setitem(sys.modules, "gilfree._build_info", record)
    assert _select.build_record() == _select.BuildRecord(False, "no-compiler", "gcc: not found")


def test_every_compiled_module_has_its_stub(build):
    package = SETUP_PY.parent / "src" / "gilfree"
    assert build.COMPILED_MODULES == ("_arrays_c", "_bytebuf_c", "_cpu_c")
    for name in build.COMPILED_MODULES:
        assert (package / f"{name}.pyi").is_file()
