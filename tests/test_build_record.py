"""Why gilfree runs pure Python, as ``gilfree info`` says it: the selector's obstacle plus the
record setup.py leaves in every package it builds (``gilfree/_build_info.py``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import gilfree
from gilfree import _select, cli
from gilfree._select import BuildRecord, Obstacle

FLAG = Obstacle("flag", "GILFREE_NO_EXTENSIONS is set")
MISSING = Obstacle("import", "No module named 'gilfree._cpu_c'")


def test_the_compiled_kernels_need_no_reason():
    assert _select._explain(None, None) is None
    assert _select._explain(None, BuildRecord(False, "no-compiler", "gcc: not found")) is None


def test_the_reason_matches_the_choice_in_this_process():
    reason = _select.pure_python_reason()
    assert (reason is None) is (gilfree.IMPLEMENTATION == _select.C_EXTENSION)


def test_a_package_built_without_a_compiler_says_so_and_how_to_compile():
    reason = _select._explain(MISSING, BuildRecord(False, "no-compiler", "gcc: not found"))
    assert reason is not None
    assert reason.why == "it was built without a working C compiler and Python headers (gcc: not found)"
    assert "install a C compiler and the Python headers" in reason.how and _select.REBUILD in reason.how


def test_a_package_built_pure_on_purpose_says_how_to_reinstall():
    reason = _select._explain(MISSING, BuildRecord(False, "disabled", "GILFREE_NO_EXTENSIONS is set"))
    assert reason is not None
    assert reason.why == "it was built with GILFREE_NO_EXTENSIONS set"
    assert reason.how == f"reinstall with GILFREE_NO_EXTENSIONS unset: {_select.REINSTALL}"


def test_a_package_built_on_another_interpreter_says_so():
    reason = _select._explain(MISSING, BuildRecord(False, "not-cpython", "PyPy 7.3.17"))
    assert reason is not None and reason.why == "it was built on PyPy 7.3.17, not on CPython"


def test_a_failed_kernel_build_says_so():
    reason = _select._explain(MISSING, BuildRecord(False, "build-failed", "cc failed (exit status 1)"))
    assert reason is not None and "the C compiler failed on the kernels" in reason.why
    assert _select.REBUILD in reason.how


def test_the_flag_alone_is_undone_by_unsetting_it():
    assert _select._explain(FLAG, None) == _select.PureReason("GILFREE_NO_EXTENSIONS is set",
                                                             "unset GILFREE_NO_EXTENSIONS")
    assert _select._explain(FLAG, BuildRecord(True, None, "")).how == "unset GILFREE_NO_EXTENSIONS"


def test_the_flag_over_a_pure_build_names_both_and_the_rebuild():
    reason = _select._explain(FLAG, BuildRecord(False, "no-compiler", "gcc: not found"))
    assert reason is not None
    assert reason.why.startswith("GILFREE_NO_EXTENSIONS is set, and besides it was built without")
    assert _select.REBUILD in reason.how


def test_another_interpreter_is_told_to_use_cpython():
    obstacle = Obstacle("interpreter", "this interpreter is PyPy, and the compiled kernels are for CPython")
    assert _select._explain(obstacle, None) == _select.PureReason(obstacle.words, "run gilfree on CPython")


def test_built_kernels_that_do_not_import_ask_for_a_reinstall():
    reason = _select._explain(MISSING, BuildRecord(True, None, ""))
    assert reason is not None
    assert reason.why == f"the compiled kernels were built but do not import ({MISSING.words})"
    assert _select.REINSTALL in reason.how


def test_a_source_checkout_without_built_kernels_is_told_to_build_them_in_place():
    reason = _select._explain(MISSING, None)
    assert reason is not None and "are not built here" in reason.why and "pip install -e ." in reason.how


def test_the_record_is_read_from_the_package(monkeypatch):
    record = ModuleType("gilfree._build_info")
    for name, value in (("COMPILED", False), ("REASON", "no-compiler"), ("DETAIL", "gcc: not found")):
        setattr(record, name, value)
    monkeypatch.setitem(sys.modules, "gilfree._build_info", record)
    assert _select.build_record() == BuildRecord(False, "no-compiler", "gcc: not found")


def test_no_record_in_a_source_checkout_or_an_editable_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gilfree._build_info", None)  # what a failed import looks like
    assert _select.build_record() is None


# --- gilfree info -------------------------------------------------------------------------------------

ENV = {"gilfree": "0.1.0", "implementation": "pure-python", "python": "3.13.5"}


def test_info_puts_the_reason_right_after_the_implementation():
    info = cli._info(ENV, _select.PureReason("it was built without a working C compiler", "install one"))
    assert list(info) == ["gilfree", "implementation", "why_pure_python", "to_get_the_kernels", "python"]
    text = "\n".join(cli._info_lines(info, 100))
    assert re.search(r"^why pure Python +it was built without a working C compiler$", text, re.M)
    assert re.search(r"^compiled kernels +install one$", text, re.M)


def test_info_on_the_compiled_kernels_prints_no_reason_but_keeps_the_json_keys():
    info = cli._info({**ENV, "implementation": "c-extension"}, None)
    assert info["why_pure_python"] is None and info["to_get_the_kernels"] is None
    text = "\n".join(cli._info_lines(info, 100))
    assert "why pure Python" not in text and "compiled kernels" not in text


def test_info_says_why_in_a_fresh_interpreter_with_the_flag():
    env = {**os.environ, "GILFREE_NO_EXTENSIONS": "1", "COLUMNS": "200"}
    package_root = str(Path(gilfree.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([package_root, *filter(None, [os.environ.get("PYTHONPATH")])])
    proc = subprocess.run([sys.executable, "-m", "gilfree", "info"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^implementation +pure-python$", proc.stdout, re.M)
    assert re.search(r"^why pure Python +GILFREE_NO_EXTENSIONS is set", proc.stdout, re.M)
