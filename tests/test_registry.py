"""The strategy registry: one declaration per strategy, read by everything that offers a choice."""

from __future__ import annotations

import ast
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pytest
from _checkout import checkout_path

import gilfree
from gilfree import registry
from gilfree.chunked import run_chunks, runs_in_process
from gilfree.registry import (UNKNOWN, Capabilities, Strategy, capabilities_of, declare_capabilities,
                              get_strategy, register_strategy, strategy_names, unregister_strategy)
from gilfree.serial import SerialExecutor
from gilfree.strategies import open_executor

BUILT_IN = ("serial", "threads", "pool", "processes", "failsafe", "joblib-loky", "joblib-threads")


class InlineExecutor(Executor):
    """A caller's own executor that runs each task at once, in this thread, and says so."""

    gilfree_capabilities = Capabilities(uses="serial", in_process=True)

    def __init__(self) -> None:
        self.calls = 0

    def submit(self, fn, /, *args, **kwargs):
        self.calls += 1
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


class Undeclared(Executor):
    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


@pytest.fixture
def toy():
    """A strategy registered for one test, and taken out again whatever happens."""
    strategy = register_strategy(Strategy(
        "toy-inline", "a caller's in-process executor, registered from outside gilfree",
        lambda workers, **options: InlineExecutor(), InlineExecutor.gilfree_capabilities))
    try:
        yield strategy
    finally:
        if "toy-inline" in strategy_names():
            unregister_strategy("toy-inline")


def test_gilfree_declares_each_of_its_strategies_once():
    assert strategy_names()[:len(BUILT_IN)] == BUILT_IN
    for name in BUILT_IN:
        strategy = get_strategy(name)
        assert strategy.name == name and strategy.description and "\n" not in strategy.description
    caps = {name: get_strategy(name).capabilities for name in BUILT_IN}
    assert {n for n, c in caps.items() if c.in_process} == {"serial", "threads", "joblib-threads"}
    assert {n for n, c in caps.items() if c.can_stop_task} == {"failsafe"}
    assert {n for n, c in caps.items() if c.survives_worker_death} == {"failsafe"}
    assert {n for n, c in caps.items() if c.start_methods} == {"pool", "processes", "failsafe"}
    assert {n for n, c in caps.items() if c.batches} == {"joblib-loky", "joblib-threads"}
    assert {n for n in BUILT_IN if get_strategy(n).peer} == {"joblib-loky", "joblib-threads"}
    assert strategy_names(peers=False)[:5] == BUILT_IN[:5]


def test_opened_executors_carry_their_strategys_capabilities():
    for name in ("serial", "threads", "processes", "pool", "failsafe"):
        with open_executor(name, 1) as executor:
            assert capabilities_of(executor) == get_strategy(name).capabilities
            assert runs_in_process(executor) == (name in ("serial", "threads"))


def test_a_callers_executors_are_known_by_their_declaration_or_their_class():
    assert runs_in_process(InlineExecutor())  # declared: no isinstance anywhere
    assert capabilities_of(SerialExecutor()).uses == "serial"
    with ThreadPoolExecutor(1) as threads:
        assert capabilities_of(threads) == get_strategy("threads").capabilities
    with ProcessPoolExecutor(1) as processes:
        assert capabilities_of(processes).uses == "processes" and not runs_in_process(processes)
    # Nothing said: assumed to run tasks elsewhere, which is safe (handles work anywhere).
    assert capabilities_of(Undeclared()) is UNKNOWN and not runs_in_process(Undeclared())


def test_declare_capabilities_for_a_class_that_cannot_say_so_itself():
    class Elsewhere(Undeclared):
        pass

    declare_capabilities(Elsewhere, Capabilities(uses="threads", in_process=True))
    assert runs_in_process(Elsewhere())
    one = Undeclared()
    declare_capabilities(one, Capabilities(uses="threads", in_process=True))
    assert runs_in_process(one) and not runs_in_process(Undeclared())
    with pytest.raises(TypeError, match="not a concurrent.futures.Executor class"):
        declare_capabilities(int, UNKNOWN)
    with pytest.raises(TypeError, match="Capabilities"):
        declare_capabilities(Elsewhere, {"uses": "threads"})


def test_a_batch_executor_gets_the_whole_batch():
    class Batcher(Undeclared):
        gilfree_capabilities = Capabilities(uses="threads", in_process=True, batches=True)

        def __init__(self):
            self.batches = []

        def run_batch(self, fn, argsets):
            self.batches.append(len(argsets))
            return [fn(*args) for args in argsets]

    ex = Batcher()
    assert run_chunks(ex, pow, [(2, 3), (3, 2), (5, 1)]) == [8, 9, 5]
    assert ex.batches == [3]


def test_a_registered_strategy_opens_runs_and_goes(toy):
    assert "toy-inline" in strategy_names()
    with open_executor("toy-inline", 3) as executor:
        assert isinstance(executor, InlineExecutor)
        assert run_chunks(executor, gilfree.sum_squares, [(0, 10), (10, 20)]) == [285, 2185]
    with pytest.raises(ValueError, match="registered already"):
        register_strategy(toy)
    register_strategy(toy, replace=True)
    unregister_strategy("toy-inline")
    assert "toy-inline" not in strategy_names()
    with pytest.raises(ValueError, match="unknown strategy 'toy-inline'; choose one of serial, threads"):
        open_executor("toy-inline").__enter__()


def test_open_executor_checks_what_a_strategy_can_do(toy):
    with pytest.raises(ValueError, match="task_timeout needs a strategy that can stop one task \\(failsafe\\)"):
        open_executor("toy-inline", 1, task_timeout=1.0).__enter__()
    with pytest.raises(ValueError, match="start_method does not apply to 'joblib-loky'"):
        open_executor("joblib-loky", 1, start_method="spawn").__enter__()
    with open_executor("toy-inline", 1, start_method="spawn"):  # in-process: nothing to start
        pass
    register_strategy(Strategy("toy-inline", "returns no executor", lambda workers, **o: object(),
                               InlineExecutor.gilfree_capabilities), replace=True)
    with pytest.raises(TypeError, match="opener returned a object, not a concurrent.futures.Executor"):
        open_executor("toy-inline").__enter__()


def test_a_strategy_whose_dependency_is_missing_says_how_to_install_it():
    strategy = register_strategy(Strategy(
        "toy-missing", "needs a module that does not exist", lambda workers, **o: InlineExecutor(),
        InlineExecutor.gilfree_capabilities, requires=("gilfree_no_such_module",),
        install="pip install gilfree-no-such-module"))
    try:
        assert strategy.missing() == ("the toy-missing strategy needs gilfree_no_such_module, which is not "
                                      "installed (pip install gilfree-no-such-module)")
        assert "toy-missing" in strategy_names() and "toy-missing" not in strategy_names(available_only=True)
        with pytest.raises(ImportError, match="pip install gilfree-no-such-module"):
            open_executor("toy-missing").__enter__()
    finally:
        unregister_strategy("toy-missing")


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"uses": "greenlets", "in_process": True}, ValueError, "uses must be 'serial', 'threads' or 'processes'"),
    ({"uses": "threads", "in_process": False}, ValueError, "in_process must be True"),
    ({"uses": "processes", "in_process": 0}, TypeError, "in_process must be a bool, not int"),
    ({"uses": "processes", "in_process": False, "transport": "views"}, ValueError, "cannot take views"),
    ({"uses": "processes", "in_process": False, "transport": "carrier pigeon"}, ValueError,
     "transport must be one of"),
])
def test_capabilities_refuse_what_cannot_be(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        Capabilities(**kwargs)


@pytest.mark.parametrize("args, error, fragment", [
    (("", "x"), TypeError, "non-empty str"),
    (("Two Words", "x"), ValueError, "lower case, no spaces"),
    (("ok", ""), TypeError, "one-line description"),
    (("ok", "x", "not callable"), TypeError, "opener must be callable"),
    (("ok", "x", None, "caps"), TypeError, "capabilities must be a gilfree.registry.Capabilities"),
])
def test_strategies_refuse_bad_declarations(args, error, fragment):
    defaults = ["ok", "desc", lambda workers, **o: InlineExecutor(), InlineExecutor.gilfree_capabilities]
    values = list(args) + defaults[len(args):]
    if values[2] is None:
        values[2] = defaults[2]
    with pytest.raises(error, match=fragment):
        Strategy(*values)


def test_lookups_refuse_what_is_not_a_strategy_or_an_executor():
    with pytest.raises(TypeError, match="strategy must be a str, one of serial, threads"):
        get_strategy(None)
    with pytest.raises(TypeError, match="register_strategy needs a gilfree.registry.Strategy"):
        register_strategy("threads")
    with pytest.raises(TypeError, match="expected a concurrent.futures.Executor, not object"):
        capabilities_of(object())
    with pytest.raises(TypeError, match="not type"):
        capabilities_of(SerialExecutor)


# -- no module keeps its own list of strategy names ---------------------------------------------

SRC = Path(gilfree.__file__).parent


def _literal_strings(node: ast.AST) -> list[str]:
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        items = node.elts
    elif isinstance(node, ast.Dict):
        items = [k for k in node.keys if k is not None]
    else:
        return []
    return [i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)]


def _kept_lists(tree: ast.Module) -> list[tuple[int, ast.AST]]:
    """Values a module keeps: module and class constants, and functions' default arguments."""
    out: list[tuple[int, ast.AST]] = []
    scopes: list[list[ast.stmt]] = [tree.body]
    scopes += [n.body for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    for body in scopes:
        for stmt in body:
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                out.append((stmt.lineno, stmt.value))
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out += [(fn.lineno, d) for d in [*fn.args.defaults, *fn.args.kw_defaults] if d is not None]
    return out


def test_no_module_keeps_its_own_list_of_strategy_names():
    """A kept collection (a constant, a default argument) naming two or more registered strategies
    is a list someone must keep in step by hand: only gilfree.strategies, which declares them, may
    hold one. A function that compares two particular strategies is free to name them."""
    names = set(BUILT_IN)
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "strategies.py" and path.parent == SRC:
            continue
        for lineno, value in _kept_lists(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(value, ast.Subscript):  # a type (Literal[...]), not a list of strategies
                continue
            for node in ast.walk(value):
                hits = [s for s in _literal_strings(node) if s in names]
                if len(hits) >= 2:
                    found.append(f"{path.relative_to(SRC)}:{lineno}: {hits}")
    assert not found, "strategy names listed outside gilfree.strategies:\n" + "\n".join(found)


def test_the_list_check_would_catch_a_kept_list():
    tree = ast.parse("STRATEGIES = ('serial', 'threads')\ndef f(s=('pool', 'failsafe')): pass\n")
    kept = [v for _, v in _kept_lists(tree)]
    assert [_literal_strings(v) for v in kept] == [["serial", "threads"], ["pool", "failsafe"]]


def test_the_registry_loads_entry_points_once_and_survives_a_broken_one(monkeypatch, capsys):
    class Broken:
        name, value = "broken", "gilfree_nowhere:STRATEGY"

        def load(self):
            raise ImportError("no module named gilfree_nowhere")

    class Good:
        name, value = "toy-ep", "gilfree_toy:STRATEGY"

        def load(self):
            return Strategy("toy-ep", "from an entry point", lambda workers, **o: InlineExecutor(),
                            InlineExecutor.gilfree_capabilities)

    monkeypatch.setattr(registry, "_plugins_loaded", False)
    monkeypatch.setattr(registry, "_plugin_errors", {})
    monkeypatch.setattr(registry.metadata, "entry_points", lambda group: [Broken(), Good()])
    try:
        assert "toy-ep" in strategy_names()
        assert get_strategy("toy-ep").origin == "gilfree_toy:STRATEGY"
        assert "gilfree_nowhere" in registry.plugin_errors()["broken"]
        from gilfree.cli import main

        assert main(["strategies"]) == 0  # the broken plugin is named, not silently dropped
        out = capsys.readouterr().out
        assert "toy-ep" in out and "entry point 'broken' could not be loaded: ImportError" in out
    finally:
        unregister_strategy("toy-ep")


def test_the_readme_table_of_strategies_is_the_registrys():
    import subprocess
    import sys

    readme = checkout_path("README.md")
    text = readme.read_text()
    block = text[text.index("<!-- strategies:start -->"):text.index("<!-- strategies:end -->")]
    shown = [line for line in block.splitlines() if line.startswith("| `")]
    table = subprocess.run([sys.executable, "-m", "gilfree", "strategies", "--markdown"], check=True,
                           capture_output=True, text=True).stdout.splitlines()
    built_in = [line for line in table if line.split("`")[1:2] and line.split("`")[1] in BUILT_IN]
    assert shown == built_in, "README's strategy table is out of date: paste `gilfree strategies --markdown`"
