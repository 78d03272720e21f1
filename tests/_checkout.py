"""Files of the source checkout, for the tests that read them.

The suite also runs outside the source tree: ``tests/`` copied elsewhere, gilfree installed from
a wheel (CI does it, against the wheel it built). There, README.md, pyproject.toml, setup.py,
ext/, bench/results/ and .ci/ are not beside the tests, and a test that reads one skips,
saying so, through :func:`checkout_path`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

__all__ = ["ROOT", "checkout_path", "ini_args"]

#: Where the checkout would be: the folder that holds ``tests/``.
ROOT = Path(__file__).resolve().parent.parent


def checkout_path(*parts: str) -> Path:
    """``ROOT/<parts>``; the test skips where it is missing (the suite runs outside the tree)."""
    path = ROOT.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs the source checkout: {'/'.join(parts)} is not beside these tests "
                    "(they run outside the source tree)")
    return path


def ini_args(config: pytest.Config) -> list[str]:
    """The ``-c`` arguments that give a child pytest this run's settings (strict markers,
    warnings as errors, the faulthandler timeout): the same configuration file, wherever it is
    (the checkout's pyproject.toml, or the one CI names with ``-c`` from outside the tree)."""
    return ["-c", str(config.inipath)] if config.inipath is not None else []
