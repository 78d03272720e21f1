"""Shared fixtures: every behaviour test runs once per implementation of the kernels.

``impl`` is parametrized over the implementations with the ids ``pure-python`` and
``c-extension``; ``both`` hands a test the two twins side by side, ``c_impl`` the compiled one
alone. The compiled pass is skipped where the extensions cannot be imported (a pure install, or
``GILFREE_NO_EXTENSIONS=1``).

``--no-c-extensions`` runs no compiled code at all, as propcache's conftest does it by marker:

* it sets ``GILFREE_NO_EXTENSIONS=1`` in ``os.environ`` before any test module imports gilfree
  (this file imports gilfree only inside hooks and fixtures), so the selector, the lab steps,
  the bench and every worker process or child interpreter a test starts choose pure Python;
* it deselects every test marked ``c_extension``: the ``c-extension`` param of ``impl``, and every
  test that asks for ``both`` or ``c_impl`` (marked here at collection);
* at the end of the session it fails the run if a compiled module (``gilfree._<unit>_c``) was
  imported in this process anyway, and names the first test after which one was seen.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import sys
import time

import pytest

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # the test extra brings it; the property-test modules need it, nothing here does
    pass
else:
    # Tests assert behaviour, never timing, and hypothesis's are no exception: on a busy machine
    # (another copy of the suite, CI's hogs) one example can outlast the 200 ms default deadline,
    # and drawing the data can trip the too_slow health check. Modules may still tighten this.
    settings.register_profile("shared-machine", deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("shared-machine")

C_EXTENSION_MARK = pytest.mark.c_extension
PURE_PYTHON, C_EXTENSION = "pure-python", "c-extension"
#: The fixtures that hand a test the compiled kernels: a test that asks for one is compiled-only.
COMPILED_FIXTURES = ("both", "c_impl")
#: The name of every compiled module gilfree builds (``ext/_<unit>_c.pyx``).
COMPILED_MODULE = re.compile(r"gilfree\._[a-z0-9]+_c")
NO_C_EXTENSIONS = "--no-c-extensions"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        NO_C_EXTENSIONS,
        action="store_true",
        default=False,
        help="run the tests on the pure-Python implementation only: no compiled code is imported",
    )


def _c_wanted(config: pytest.Config) -> bool:
    return not config.getoption(NO_C_EXTENSIONS)


def compiled_modules() -> list[str]:
    """The compiled gilfree modules imported in this process so far."""
    return sorted(name for name in list(sys.modules)
                  if name.startswith("gilfree._") and COMPILED_MODULE.fullmatch(name))


def pytest_configure(config: pytest.Config) -> None:
    if _c_wanted(config):
        return
    early = compiled_modules()
    if early:  # gilfree was imported (by a plugin, say) before this hook, and chose compiled code
        raise pytest.UsageError(
            f"{NO_C_EXTENSIONS}: {', '.join(early)} was imported before the tests started; "
            "run pytest in a fresh interpreter (python -m pytest ...)")
    os.environ["GILFREE_NO_EXTENSIONS"] = "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in COMPILED_FIXTURES):
            item.add_marker(C_EXTENSION_MARK)
    if _c_wanted(config):
        return
    kept = [item for item in items if item.get_closest_marker(C_EXTENSION_MARK.name) is None]
    dropped = [item for item in items if item.get_closest_marker(C_EXTENSION_MARK.name) is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = kept


#: The id of the first test after which a compiled module was seen (with the option only).
_first_compiled = pytest.StashKey[str]()


def pytest_runtest_teardown(item: pytest.Item) -> None:
    config = item.config
    if not _c_wanted(config) and _first_compiled not in config.stash and compiled_modules():
        config.stash[_first_compiled] = item.nodeid


#: The failure message of a --no-c-extensions run that imported compiled code anyway.
_compiled_failure = pytest.StashKey[str]()


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    loaded = compiled_modules() if not _c_wanted(config) else []
    if not loaded:
        return
    where = config.stash.get(_first_compiled, None)
    config.stash[_compiled_failure] = (
        f"{NO_C_EXTENSIONS} was given, yet compiled modules were imported: {', '.join(loaded)}"
        + (f" (first seen after {where})" if where else ""))
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    message = config.stash.get(_compiled_failure, None)
    if message:
        terminalreporter.section(NO_C_EXTENSIONS, sep="=", red=True, bold=True)
        terminalreporter.line(message, red=True)


def pytest_report_header(config: pytest.Config) -> list[str]:
    import gilfree
    from gilfree._select import available

    names = [n for n in available() if n == PURE_PYTHON or _c_wanted(config)]
    # Which copy runs: the checkout's src/ (PYTHONPATH), or an installed wheel (CI's run from
    # outside the tree, where tests/test_portable.py checks it under GILFREE_EXPECT_INSTALLED=1).
    return [f"gilfree {gilfree.__version__} from {os.path.dirname(gilfree.__file__)} "
            f"({gilfree.IMPLEMENTATION} chosen)",
            f"gilfree implementations under test: {', '.join(names)}"]


_IMPLEMENTATIONS: dict = {}


def _implementation(name: str):
    """The one :class:`gilfree.Implementation` of ``name`` for the session (imported on demand)."""
    if name not in _IMPLEMENTATIONS:
        from gilfree._select import Implementation

        _IMPLEMENTATIONS[name] = Implementation(name)
    return _IMPLEMENTATIONS[name]


@pytest.fixture(params=[PURE_PYTHON, pytest.param(C_EXTENSION, marks=C_EXTENSION_MARK)], scope="session")
def impl(request: pytest.FixtureRequest):
    """One implementation of every kernel (``impl.sum_squares``, ``impl.chunk_stats``, ...)."""
    if request.param == C_EXTENSION:
        return _compiled_or_skip(request.config)
    return _implementation(PURE_PYTHON)


def _compiled_or_skip(config: pytest.Config):
    from gilfree._select import available

    if not _c_wanted(config):  # deselected by marker; this guards a test that slipped through
        pytest.skip(f"{NO_C_EXTENSIONS} given")
    if C_EXTENSION not in available():
        pytest.skip("the compiled kernels are not available here")
    return _implementation(C_EXTENSION)


@pytest.fixture(scope="session")
def both(request: pytest.FixtureRequest):
    """The pair ``(pure, c)`` for tests that hold the twins equal; skipped without the C twin."""
    return _implementation(PURE_PYTHON), _compiled_or_skip(request.config)


@pytest.fixture(scope="session")
def c_impl(request: pytest.FixtureRequest):
    """The compiled implementation alone (GIL tests, sizes the pure twin would take minutes on)."""
    return _compiled_or_skip(request.config)


@pytest.fixture(scope="module")
def ran(impl):
    """The implementations a lab step is asked to run: pure Python, and ``impl`` if it is the other.

    A step run with this mapping runs no compiled code unless ``impl`` is the compiled twin, whose
    parameter ``--no-c-extensions`` deselects: the caller, not the step, decides which twins run.
    """
    from gilfree._select import PURE_PYTHON, Implementation

    return {PURE_PYTHON: Implementation(PURE_PYTHON), impl.name: impl}


@pytest.fixture
def no_shm_leak():
    """Fail the test if a shared-memory segment it created is still in /dev/shm at its end.

    Yields the list of names created (see ``tests/_leaks.py``), for tests that expect some.
    """
    from _leaks import track_segments

    with track_segments() as seen:
        yield seen.created
    assert not seen.left, f"segments left behind: {sorted(seen.left)}"


def _children_gone(deadline_s: float = 10.0) -> bool:
    """True once no worker process of this test is left (polled: a pool's workers exit shortly
    after it is shut down, not at once)."""
    stop = time.monotonic() + deadline_s
    while multiprocessing.active_children():
        if time.monotonic() > stop:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def no_leak(no_shm_leak):
    """No segment left (the shared ``no_shm_leak``), and no worker process left either."""
    yield no_shm_leak
    assert _children_gone()
