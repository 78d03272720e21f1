"""The public surface: what ``import gilfree`` offers, where each name lives, and its types.

``gilfree.__all__`` is the documented surface. Every name in it must be the very object of its
home module (the primitives are imported on first use, the kernels are the selector's choice),
``import gilfree`` must stay light, and a type checker must see the kernels' real signatures.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gilfree
from gilfree import cli
from gilfree._select import UNITS

#: Run against every built wheel, on every OS (see the marker in pyproject.toml).
pytestmark = pytest.mark.portable

PACKAGE = Path(gilfree.__file__).resolve().parent

#: Every documented name and the module it comes from (the kernels: their selector module).
HOME = {
    "__version__": "gilfree._version",
    "BLOCK": "gilfree._stats",
    "IMPLEMENTATION": "gilfree._select",
    "Checksum": "gilfree._checksum",
    "Implementation": "gilfree._select",
    "Stats": "gilfree._stats",
    "aligned_chunk_size": "gilfree._stats",
    "checksum": "gilfree.bytebuf",
    "chunk_stats": "gilfree.arrays",
    "combine_checksums": "gilfree._checksum",
    "count_primes": "gilfree.cpu",
    "cpu_bound": "gilfree.cpu",
    "fill_uniform": "gilfree.arrays",
    "filter_greater": "gilfree.arrays",
    "gil_enabled": "gilfree._timing",
    "implementations": "gilfree._select",
    "merge_stats": "gilfree._stats",
    "monte_carlo_hits": "gilfree.cpu",
    "monte_carlo_pi": "gilfree.cpu",
    "sum_squares": "gilfree.cpu",
    "transform_inplace": "gilfree.arrays",
    "FailSafePool": "gilfree.pool",
    "open_executor": "gilfree.strategies",
    "stop_executor": "gilfree.strategies",
    "array_chunks": "gilfree.chunked",
    "default_parts": "gilfree.chunked",
    "parallel_reduce": "gilfree.chunked",
    "run_chunks": "gilfree.chunked",
    "split_range": "gilfree.chunked",
    "SharedArray": "gilfree.shm",
    "SharedArrayHandle": "gilfree.shm",
    "advise": "gilfree.advisor",
    "PoolStopped": "gilfree.errors",
    "RemoteTraceback": "gilfree.errors",
    "TaskTimeout": "gilfree.errors",
    "WorkerDied": "gilfree.errors",
    "Terminated": "gilfree.interrupts",
    "sigterm_raises": "gilfree.interrupts",
}


def _child_env() -> dict[str, str]:
    """The environment of a child interpreter that imports this very copy of gilfree."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PACKAGE.parent), *filter(None, [env.get("PYTHONPATH")])])
    return env


# -- the names ------------------------------------------------------------------------------


def test_all_is_the_documented_surface():
    assert sorted(gilfree.__all__) == sorted(HOME)
    assert len(gilfree.__all__) == len(set(gilfree.__all__))


@pytest.mark.parametrize("name", sorted(HOME))
def test_each_public_name_is_its_home_modules_object(name):
    home = importlib.import_module(HOME[name])
    assert getattr(gilfree, name) is getattr(home, name)
    assert name in dir(gilfree)


def test_the_readme_import_works():
    from gilfree import FailSafePool, SharedArray, WorkerDied, open_executor, run_chunks
    from gilfree.chunked import run_chunks as home_run_chunks
    from gilfree.errors import WorkerDied as home_worker_died
    from gilfree.pool import FailSafePool as home_pool
    from gilfree.shm import SharedArray as home_shared_array
    from gilfree.strategies import open_executor as home_open_executor

    assert (FailSafePool, SharedArray, WorkerDied, open_executor, run_chunks) == (
        home_pool, home_shared_array, home_worker_died, home_open_executor, home_run_chunks)


def test_star_import_gives_exactly_all():
    namespace: dict[str, object] = {}
    exec("from gilfree import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == sorted(gilfree.__all__)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        gilfree.no_such_name  # noqa: B018
    assert not hasattr(gilfree, "no_such_name")


def test_lab_and_bench_stay_in_their_subpackages():
    assert not {"lab", "bench", "run_step", "run_lab"} & set(gilfree.__all__)


def test_lazy_names_and_type_checking_imports_agree():
    """``__init__`` names the primitives twice (imported on first use, and for type checkers)."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    guarded = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    seen = {
        alias.name: "gilfree." + node.module
        for node in guarded.body if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    lazy = {name: "gilfree." + home for name, home in gilfree._LAZY.items()}
    assert seen == lazy
    assert lazy == {name: HOME[name] for name in lazy}


def test_import_gilfree_stays_light():
    """The kernels alone: no numpy, joblib, matplotlib or multiprocessing until a primitive is used."""
    code = textwrap.dedent("""
        import sys, gilfree
        heavy = ("numpy", "joblib", "matplotlib", "multiprocessing", "gilfree.strategies")
        print(sorted(m for m in heavy if m in sys.modules))
        gilfree.run_chunks
        print("numpy" in sys.modules)
    """)
    proc = subprocess.run([sys.executable, "-c", code], env=_child_env(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["[]", "True"]


# -- the version ----------------------------------------------------------------------------


def test_version_option_prints_the_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"gilfree {gilfree.__version__}\n"


def test_python_m_gilfree_version():
    proc = subprocess.run([sys.executable, "-m", "gilfree", "--version"], env=_child_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"gilfree {gilfree.__version__}\n"


# -- the types ------------------------------------------------------------------------------


def _pure_all(unit: str) -> list[str]:
    return list(importlib.import_module(f"gilfree._{unit}_py").__all__)


@pytest.mark.parametrize("unit", UNITS)
def test_stub_is_the_pure_twins_signatures(unit):
    """``_<unit>_c.pyi`` re-exports every kernel of ``_<unit>_py``: the signatures cannot drift."""
    stub = PACKAGE / f"_{unit}_c.pyi"
    if not stub.exists():
        # A pure-Python build (a py3-none-any wheel) ships no stubs of modules it does not contain;
        # a build that contains the compiled module must ship its stub.
        compiled = [p for p in PACKAGE.glob(f"_{unit}_c.*") if p.suffix in (".so", ".pyd")]
        assert not compiled, f"{compiled[0].name} is installed without its stub {stub.name}"
        pytest.skip(f"a pure-Python build ships no {stub.name}: the compiled builds' runs check it")
    tree = ast.parse(stub.read_text())
    imported = {
        alias.name: alias.asname
        for node in tree.body if isinstance(node, ast.ImportFrom) and node.module == f"gilfree._{unit}_py"
        for alias in node.names
    }
    stub_all = next(ast.literal_eval(n.value) for n in tree.body
                    if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "__all__")
    assert sorted(stub_all) == sorted(_pure_all(unit))
    assert imported == {name: name for name in _pure_all(unit)}  # "x as x": an explicit re-export


@pytest.mark.parametrize("unit", UNITS)
def test_selector_lists_every_kernel(unit):
    selector = importlib.import_module(f"gilfree.{unit}")
    assert set(_pure_all(unit)) <= set(selector.__all__)


def test_implementation_types_every_kernel():
    """``Implementation.__init__`` gives a type checker one attribute per kernel, from the pure twin."""
    source = textwrap.dedent(inspect.getsource(gilfree.Implementation.__init__))
    guarded = next(n for n in ast.walk(ast.parse(source))
                   if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    typed = {ast.unparse(n.targets[0]): ast.unparse(n.value) for n in guarded.body if isinstance(n, ast.Assign)}
    expected = {f"self.{k}": f"_{unit}_py.{k}" for unit in UNITS for k in _pure_all(unit)}
    assert typed == expected


def _untyped(fn: object) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_compiled_kernels_take_the_pure_twins_parameters(c_impl):
    """What the stubs claim, checked at run time: names, kinds and defaults (Cython has no hints)."""
    pure = gilfree.implementations()["pure-python"]
    for name, kernel in c_impl.kernels.items():
        assert _untyped(kernel) == _untyped(pure.kernels[name]), name


def test_type_checker_sees_the_kernel_signatures(tmp_path):
    """``gilfree.sum_squares`` is an ``int`` to mypy, not ``Any``: assigning it to ``str`` is an error."""
    api = pytest.importorskip("mypy.api")
    snippet = tmp_path / "snippet.py"
    snippet.write_text(textwrap.dedent("""\
        import gilfree

        x: str = gilfree.sum_squares(0, 10)
        y: int = gilfree.sum_squares(0, 10)
        z: float = gilfree.implementations()["pure-python"].monte_carlo_pi(10, 1)
    """))
    config = ["[mypy]", "strict = True"]
    if PACKAGE.parent.name not in ("site-packages", "dist-packages"):
        config.append(f"mypy_path = {PACKAGE.parent}")  # a source tree on sys.path, not installed
    (tmp_path / "mypy.ini").write_text("\n".join(config) + "\n")
    out, err, _status = api.run(["--config-file", str(tmp_path / "mypy.ini"),
                                 "--cache-dir", str(tmp_path / "cache"), str(snippet)])
    assert not err, err
    mine = [line for line in out.splitlines() if line.startswith(str(snippet)) and ": error:" in line]
    assert len(mine) == 1, out
    assert mine[0].startswith(f"{snippet}:3: error:") and "[assignment]" in mine[0], out
    assert '"int"' in mine[0] and '"str"' in mine[0], out
