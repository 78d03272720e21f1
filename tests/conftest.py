"""Shared fixtures: every behaviour test runs once per implementation of the kernels.

``impl`` is parametrized over :func:`gilfree.implementations` with the ids ``pure-python`` and
``c-extension``; the compiled pass is absent where the extensions cannot be imported (a pure
install, or ``GILFREE_NO_EXTENSIONS=1``) and skipped with ``--no-c-extensions``. ``both`` hands a
test the two twins side by side, for the tests that hold them equal to each other.
"""

from __future__ import annotations

import multiprocessing
import time

import pytest

from gilfree._select import C_EXTENSION, PURE_PYTHON, available, implementations

_IMPLEMENTATIONS = implementations()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--no-c-extensions",
        action="store_true",
        default=False,
        help="run the tests on the pure-Python implementation only",
    )


def _c_wanted(config: pytest.Config) -> bool:
    return not config.getoption("--no-c-extensions")


def pytest_report_header(config: pytest.Config) -> str:
    names = [n for n in available() if n == PURE_PYTHON or _c_wanted(config)]
    return f"gilfree implementations under test: {', '.join(names)}"


@pytest.fixture(params=[PURE_PYTHON, C_EXTENSION], scope="session")
def impl(request: pytest.FixtureRequest):
    """One implementation of every kernel (``impl.sum_squares``, ``impl.chunk_stats``, ...)."""
    if request.param == C_EXTENSION:
        return _compiled_or_skip(request.config)
    return _IMPLEMENTATIONS[PURE_PYTHON]


def _compiled_or_skip(config: pytest.Config):
    if not _c_wanted(config):
        pytest.skip("--no-c-extensions given")
    if C_EXTENSION not in _IMPLEMENTATIONS:
        pytest.skip("the compiled kernels are not available here")
    return _IMPLEMENTATIONS[C_EXTENSION]


@pytest.fixture(scope="session")
def both(request: pytest.FixtureRequest):
    """The pair ``(pure, c)`` for tests that hold the twins equal; skipped without the C twin."""
    return _IMPLEMENTATIONS[PURE_PYTHON], _compiled_or_skip(request.config)


@pytest.fixture(scope="session")
def c_impl(request: pytest.FixtureRequest):
    """The compiled implementation alone (GIL tests, sizes the pure twin would take minutes on)."""
    return _compiled_or_skip(request.config)


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
