"""The selector: one rule picks one implementation, and every public name is that twin's object."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

import gilfree
from gilfree import _select
from gilfree._select import C_EXTENSION, PURE_PYTHON, UNITS

#: Run against every built wheel, on every OS (see the marker in pyproject.toml).
pytestmark = pytest.mark.portable

#: The public kernel names of each unit and the top-level names that must be the same objects.
KERNELS = {
    "cpu": [
        "sum_squares", "cpu_bound", "is_prime", "count_primes", "splitmix64", "uniform",
        "monte_carlo_hits", "monte_carlo_pi",
    ],
    "arrays": ["chunk_stats", "transform_inplace", "fill_uniform", "filter_greater"],
    "bytebuf": ["checksum"],
}
TOP_LEVEL = [
    "sum_squares", "cpu_bound", "count_primes", "monte_carlo_hits", "monte_carlo_pi",
    "chunk_stats", "transform_inplace", "fill_uniform", "filter_greater", "checksum",
]


def _compiled_importable() -> bool:
    try:
        for unit in UNITS:
            _select._import(unit, "c")
    except ImportError:
        return False
    return True


def _child_env(**extra: str) -> dict[str, str]:
    """The environment of a child interpreter that imports this very copy of gilfree."""
    env = dict(os.environ)
    env.pop("GILFREE_NO_EXTENSIONS", None)
    src = str(Path(gilfree.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra)
    return env


_CHILD = """
import json, gilfree, gilfree.cpu, gilfree.arrays, gilfree.bytebuf
from gilfree._select import load
same = all(
    getattr(getattr(gilfree, unit), name) is getattr(load(unit, gilfree.IMPLEMENTATION), name)
    for unit in ("cpu", "arrays", "bytebuf")
    for name in load(unit, gilfree.IMPLEMENTATION).__all__
)
print(json.dumps({
    "implementation": gilfree.IMPLEMENTATION,
    "module": gilfree.sum_squares.__module__,
    "same": same,
    "available": list(gilfree._select.available()),
}))
"""


def _run_child(**env: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD],
        env=_child_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_implementation_is_one_of_the_two_names():
    assert gilfree.IMPLEMENTATION in (PURE_PYTHON, C_EXTENSION)
    assert (PURE_PYTHON, C_EXTENSION) == ("pure-python", "c-extension")


def test_implementation_follows_the_rule_in_this_process():
    if _select.extensions_disabled():
        expected = PURE_PYTHON
    else:
        expected = C_EXTENSION if _compiled_importable() else PURE_PYTHON
    assert gilfree.IMPLEMENTATION == expected


@pytest.mark.parametrize("flag", ["1", "yes", "true", "ON", " 1 "])
def test_env_flag_forces_pure_python_in_a_fresh_interpreter(flag):
    child = _run_child(GILFREE_NO_EXTENSIONS=flag)
    assert child["implementation"] == PURE_PYTHON
    assert child["module"] == "gilfree._cpu_py"
    assert child["available"] == [PURE_PYTHON]
    assert child["same"] is True


@pytest.mark.c_extension  # the child loads the compiled kernels where they are built
@pytest.mark.parametrize("flag", [None, "", "0", "false", "no", "off"])
def test_without_the_flag_a_fresh_interpreter_prefers_the_compiled_kernels(flag):
    env = {} if flag is None else {"GILFREE_NO_EXTENSIONS": flag}
    child = _run_child(**env)
    expected = C_EXTENSION if _compiled_importable() else PURE_PYTHON
    if platform.python_implementation() != "CPython":
        expected = PURE_PYTHON
    assert child["implementation"] == expected
    assert child["module"] == ("gilfree._cpu_c" if expected == C_EXTENSION else "gilfree._cpu_py")
    assert child["same"] is True


@pytest.mark.parametrize(
    "flag, disabled",
    [("", False), ("0", False), ("false", False), ("No", False), ("off", False),
     ("1", True), ("yes", True), ("TRUE", True), ("anything", True)],
)
def test_extensions_disabled_reads_the_flag(monkeypatch, flag, disabled):
    monkeypatch.setenv("GILFREE_NO_EXTENSIONS", flag)
    if platform.python_implementation() != "CPython":
        disabled = True
    assert _select.extensions_disabled() is disabled


@pytest.mark.parametrize("unit, name", [(u, n) for u, names in KERNELS.items() for n in names])
def test_unit_names_are_the_chosen_modules_objects(unit, name):
    chosen = _select.load(unit, gilfree.IMPLEMENTATION)
    suffix = "c" if gilfree.IMPLEMENTATION == C_EXTENSION else "py"
    assert chosen.__name__ == f"gilfree._{unit}_{suffix}"
    unit_module = getattr(gilfree, unit)
    assert getattr(unit_module, name) is getattr(chosen, name)
    assert name in chosen.__all__


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_top_level_names_are_the_chosen_modules_objects(name):
    unit = next(u for u, names in KERNELS.items() if name in names)
    chosen = _select.load(unit, gilfree.IMPLEMENTATION)
    assert getattr(gilfree, name) is getattr(chosen, name)
    assert name in gilfree.__all__


def test_unit_all_lists_every_kernel_of_both_twins(impl):
    for unit, names in KERNELS.items():
        assert sorted(_select.load(unit, impl.name).__all__) == sorted(names)


def test_all_names_exist():
    for name in gilfree.__all__:
        assert hasattr(gilfree, name), name


def test_implementations_keys_and_contents():
    impls = gilfree.implementations()
    keys = list(impls)
    assert keys[0] == PURE_PYTHON
    assert keys == list(_select.available())
    if _select.extensions_disabled() or not _compiled_importable():
        assert keys == [PURE_PYTHON]
    else:
        assert keys == [PURE_PYTHON, C_EXTENSION]
    for name, impl in impls.items():
        assert isinstance(impl, gilfree.Implementation)
        assert impl.name == name
        assert repr(impl) == f"<gilfree implementation {name!r}>"
        suffix = "c" if name == C_EXTENSION else "py"
        assert [m.__name__ for m in impl.modules] == [f"gilfree._{u}_{suffix}" for u in UNITS]
        expected = {n for names in KERNELS.values() for n in names}
        assert set(impl.kernels) == expected
        for unit, names in KERNELS.items():
            module = _select.load(unit, name)
            for kernel in names:
                assert getattr(impl, kernel) is getattr(module, kernel)
                assert impl.kernels[kernel] is getattr(module, kernel)


def test_the_implementation_fixture_has_readable_ids(request, impl):
    assert request.node.callspec.id == impl.name
    assert impl.sum_squares.__module__ == ("gilfree._cpu_c" if impl.name == C_EXTENSION else "gilfree._cpu_py")


@pytest.mark.parametrize("bad", ["c", "C-extension", "pure", "", "cython", None, 1])
def test_load_refuses_unknown_implementations(bad):
    with pytest.raises(ValueError, match="implementation must be 'pure-python' or 'c-extension'"):
        _select.load("cpu", bad)
    with pytest.raises(ValueError, match="implementation must be"):
        gilfree.Implementation(bad)


def test_load_refuses_unknown_units():
    with pytest.raises(ImportError):
        _select.load("nosuchunit", PURE_PYTHON)


def test_gil_enabled_is_a_bool_and_matches_the_interpreter():
    probe = getattr(sys, "_is_gil_enabled", None)
    assert gilfree.gil_enabled() is (True if probe is None else bool(probe()))
