"""CPython's own ``concurrent.futures`` tests, run against gilfree's executors.

CPython 3.13's ``test.test_concurrent_futures`` builds every test class from a mixin of tests
(``ExecutorTest``, ``AsCompletedTests``, ``WaitTests``...) and an executor mixin that names the
``executor_type`` and the start method (``ProcessPoolForkMixin``...), through
``util.create_executor_tests``. Here the executor mixins are CPython's own process-pool mixins
with gilfree's executor as ``executor_type``; the test mixins are CPython's, unchanged. Nothing
is copied: a test is CPython's code, run against our class.

A test is skipped only for a reason written in :data:`SKIPS`: it reads CPython's private state
(``_processes``, ``_executor_manager_thread``...), it exercises the stdlib class itself rather
than ``executor_type``, or gilfree differs there on purpose (then a test of ours pins gilfree's
behaviour, named in the reason).

Only an interpreter whose ``test`` package has these suites can import this module (3.13 is the
one they were read on); ``run.py`` beside it is the command, ``.ci/conformance`` the CI pass.
Its name does not start with ``test_``: the project's own pytest run must not collect it.
"""

from __future__ import annotations

import importlib
import os
import unittest
from dataclasses import dataclass
from typing import Any, Callable

from test.test_concurrent_futures import (test_as_completed, test_deadlock, test_init, test_process_pool,
                                          test_shutdown, test_wait, util)

#: Seconds a deadlock test waits before it declares a deadlock (CPython: LONG_TIMEOUT, 5 min).
DEADLOCK_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Executor:
    """One gilfree executor under test: where its class lives, and whether it is a stdlib pool."""

    name: str  # the strategy name, as `gilfree strategies` lists it
    module: str
    cls: str
    process_pool_subclass: bool  # a ProcessPoolExecutor subclass: CPython's private state is there

    def load(self) -> type:
        return getattr(importlib.import_module(self.module), self.cls)  # type: ignore[no-any-return]


EXECUTORS = {e.name: e for e in (
    Executor("failsafe", "gilfree.pool", "FailSafePool", False),
    Executor("pool", "gilfree.mp_pool", "PoolExecutor", False),
    Executor("processes", "gilfree.processes", "ProcessesExecutor", True),
)}

START_METHODS = ("fork", "forkserver", "spawn")

_METHOD_MIXINS = {
    "fork": util.ProcessPoolForkMixin,
    "forkserver": util.ProcessPoolForkserverMixin,
    "spawn": util.ProcessPoolSpawnMixin,
}

#: CPython's test mixins that we run, by module: the generic executor tests (through
#: ProcessPoolExecutorTest, which adds the process-pool ones), as_completed, wait, shutdown
#: (ProcessPoolShutdownTest adds four to the generic ExecutorShutdownTest), deadlock, init.
SUITES: tuple[tuple[Any, type], ...] = (
    (test_process_pool, test_process_pool.ProcessPoolExecutorTest),
    (test_as_completed, test_as_completed.AsCompletedTests),
    (test_wait, test_wait.WaitTests),
    (test_shutdown, test_shutdown.ProcessPoolShutdownTest),
    (test_deadlock, test_deadlock.ExecutorDeadlockTest),
    (test_init, test_init.InitializerMixin),
    (test_init, test_init.FailingInitializerMixin),
)

# Reasons, written once.
_PRIVATE = "reads CPython's private state ({what})"
_STDLIB_ITSELF = ("builds concurrent.futures.ProcessPoolExecutor itself, not executor_type, and reads "
                  "its private {what}: it tests the stdlib class")
_DEAD_WORKER = ("gilfree differs on purpose: a dead worker costs its one task, not the pool (pinned by "
                "tests/test_pool.py::{pin})")

#: Not gilfree's own executors: those a ProcessPoolExecutor subclass is (its private state is there).
_NOT_PPE = frozenset({"failsafe", "pool"})
_ALL = frozenset(EXECUTORS)


@dataclass(frozen=True)
class Skip:
    """One row of the skip table: which test (by method name), for which executors, and why."""

    test: str
    executors: frozenset[str]
    reason: str
    start_methods: frozenset[str] = frozenset(START_METHODS)


#: Every test skipped, with its reason beside it. The one table: run.py --skips prints it.
SKIPS: tuple[Skip, ...] = (
    # test_process_pool.ProcessPoolExecutorTest
    Skip("test_killed_child", _NOT_PPE,
         _PRIVATE.format(what="_processes") + "; and " + _DEAD_WORKER.format(
             pin="test_a_dead_worker_fails_its_task_with_the_cause_and_is_replaced")),
    Skip("test_saturation", _NOT_PPE, _PRIVATE.format(what="_processes, _max_workers")),
    Skip("test_idle_process_reuse_one", _NOT_PPE, _PRIVATE.format(what="_processes, _max_workers")),
    Skip("test_idle_process_reuse_multiple", _NOT_PPE, _PRIVATE.format(what="_processes, _max_workers")),
    Skip("test_max_tasks_per_child", _NOT_PPE,
         _PRIVATE.format(what="_processes") + " (pinned by tests/test_pool.py::"
         "test_max_tasks_per_child_replaces_the_worker)"),
    Skip("test_max_tasks_per_child_defaults_to_spawn_context", _NOT_PPE,
         _PRIVATE.format(what="_mp_context") + " (pinned by tests/test_pool.py::"
         "test_max_tasks_per_child_defaults_to_spawn)"),
    Skip("test_traceback", _NOT_PPE,
         "checks that the cause's exact type is CPython's private "
         "concurrent.futures.process._RemoteTraceback; gilfree's RemoteTraceback carries the same "
         "text (pinned by tests/test_pool.py::test_a_task_exception_arrives_with_the_workers_traceback)"),
    Skip("test_python_finalization_error", _NOT_PPE,
         "patches CPython's private threading._start_joinable_thread to fail ProcessPoolExecutor's "
         "second internal thread (its queue feeder), which this executor does not have"),
    # test_shutdown.ProcessPoolShutdownTest
    Skip("test_processes_terminate", _NOT_PPE, _PRIVATE.format(what="_processes")),
    Skip("test_context_manager_shutdown", _ALL, _STDLIB_ITSELF.format(what="_processes")),
    Skip("test_del_shutdown", _ALL, _STDLIB_ITSELF.format(what="_processes, _executor_manager_thread")
         + " (FailSafePool's: tests/test_pool.py::test_a_pool_dropped_without_shutdown_is_collected_and_"
         "its_workers_go)"),
    Skip("test_shutdown_no_wait", _ALL, _STDLIB_ITSELF.format(what="_processes, _executor_manager_thread")),
    Skip("test_hang_gh83386", frozenset({"processes"}),
         "CPython skips it for ProcessPoolExecutor (hangs, gh-83386), and ProcessesExecutor is one"),
    # test_deadlock.ExecutorDeadlockTest
    Skip("test_shutdown_deadlock_pickle", _NOT_PPE,
         _PRIVATE.format(what="_executor_manager_thread") + " (pinned by tests/test_pool.py::"
         "test_unpicklable_arguments_fail_their_future_after_shutdown)"),
)


#: CPython's tests in the package that this adapter does not run at all, and why.
NOT_RUN: tuple[tuple[str, str], ...] = (
    ("test_future", "tests the Future class alone, no executor"),
    ("test_thread_pool, ThreadPool* classes", "ThreadPoolExecutor only"),
    ("test_init.FailingInitializerResourcesTest",
     "not a mixin: it runs CPython's own ProcessPool*FailingInitializerTest classes and reads the "
     "resource tracker's private state (_resource_tracker._stop(), _exitcode)"),
)


def skip_for(test: str, executor: str, start_method: str) -> Skip | None:
    """The row of :data:`SKIPS` that skips ``test`` for this executor and start method, if any."""
    for row in SKIPS:
        if row.test == test and executor in row.executors and start_method in row.start_methods:
            return row
    return None


def _fail_on_deadlock(self: Any, executor: Any) -> None:
    """ExecutorDeadlockTest's own, less its read of ``_processes``: stop the pool through its API."""
    import faulthandler
    import sys
    import tempfile
    with tempfile.TemporaryFile(mode="w+") as f:
        faulthandler.dump_traceback(file=f)
        f.seek(0)
        tb = f.read()
    stop = getattr(executor, "terminate", None)
    if callable(stop):
        stop()
    executor.shutdown(wait=False, cancel_futures=True)
    print(f"\nTraceback:\n {tb}", file=sys.__stderr__)
    self.fail(f"Executor deadlock:\n\n{tb}")


def executor_mixin(executor: Executor, start_method: str) -> type:
    """CPython's process-pool mixin for ``start_method``, with gilfree's class as ``executor_type``."""
    base = _METHOD_MIXINS[start_method]
    name = f"{executor.cls}{start_method.capitalize()}Mixin"
    return type(name, (base,), {"executor_type": executor.load(), "__module__": __name__})


def _make(executor: str, start_method: str) -> list[type]:
    """The test classes for one executor and start method, skips applied, in :data:`SUITES` order."""
    spec = EXECUTORS[executor]
    mixin = executor_mixin(spec, start_method)
    classes: list[type] = []
    for _module, tests in SUITES:
        made: dict[str, Any] = {"__name__": __name__}
        util.create_executor_tests(made, tests, executor_mixins=(mixin,))
        for cls in (v for k, v in made.items() if k != "__name__"):
            if issubclass(cls, test_deadlock.ExecutorDeadlockTest):
                cls.TIMEOUT = DEADLOCK_TIMEOUT_S
                if not spec.process_pool_subclass:
                    cls._fail_on_deadlock = _fail_on_deadlock
            for attr in dir(cls):
                row = skip_for(attr, executor, start_method) if attr.startswith("test") else None
                if row is not None:
                    setattr(cls, attr, unittest.skip(row.reason)(getattr(cls, attr)))
            classes.append(cls)
    return classes


def build(executor: str, start_method: str) -> list[type]:
    """The test classes for one executor and start method (made when this module is imported)."""
    return _CLASSES[executor, start_method]


# Made at import and kept as module attributes, as create_executor_tests does: a test that
# submits one of its own methods (test_traceback) pickles its class by name, and a spawned
# worker finds it by importing this module.
_CLASSES = {(e, m): _make(e, m) for e in EXECUTORS for m in START_METHODS}
globals().update({cls.__name__: cls for classes in _CLASSES.values() for cls in classes})


def _python_ok_with_gilfree(original: Callable[..., Any]) -> Callable[..., Any]:
    """``assert_python_ok`` for test_shutdown's scripts, which import ``executor_type`` by name
    from ``concurrent.futures``: import gilfree's class from its own module instead.

    The child sees this process's ``sys.path`` head (where gilfree was found) through
    ``PYTHONPATH``, which also turns off the isolated mode (-I) that would hide it. The scripts
    for process pools also call ``multiprocessing.set_start_method`` (test_hang_gh83386) without
    importing ``multiprocessing``: CPython never runs that branch (it skips the test for
    ProcessPoolExecutor), so the import is added with ours.
    """
    import gilfree
    root = os.path.dirname(os.path.dirname(os.path.abspath(gilfree.__file__)))

    def assert_python_ok(*args: Any, **env: Any) -> Any:
        args = tuple(_with_gilfree_imports(a) if isinstance(a, str) else a for a in args)
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
        return original(*args, PYTHONPATH=path, **env)

    return assert_python_ok


def _with_gilfree_imports(script: str) -> str:
    for spec in EXECUTORS.values():
        script = script.replace(f"from concurrent.futures import {spec.cls}\n",
                                f"import multiprocessing; from {spec.module} import {spec.cls}\n")
    return script


_patched: list[tuple[Any, str, Any]] = []


def setUpModule() -> None:  # noqa: N802 - unittest's name
    """CPython's module setup (clean up multiprocessing's helpers at the end), and the script patch."""
    util.setup_module()
    original = test_shutdown.assert_python_ok
    test_shutdown.assert_python_ok = _python_ok_with_gilfree(original)
    _patched.append((test_shutdown, "assert_python_ok", original))
    unittest.addModuleCleanup(_unpatch)


def _unpatch() -> None:
    while _patched:
        module, name, value = _patched.pop()
        setattr(module, name, value)
