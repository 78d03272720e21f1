"""Build script: compiles every ``ext/_<unit>_c.pyx`` into the module ``gilfree._<unit>_c``.

Metadata lives in pyproject.toml; this file only describes the extensions.

Environment switches:
  GILFREE_NO_EXTENSIONS=1   build a pure-Python package (no compiler needed)
  GILFREE_DEBUG_BUILD=1     Cython bounds/wraparound checks on, -O0 -g (for tests under sanitizers)
  GILFREE_SANITIZE=1        add -fsanitize=address,undefined (implies GILFREE_DEBUG_BUILD)
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


NO_EXTENSIONS = _flag("GILFREE_NO_EXTENSIONS")
SANITIZE = _flag("GILFREE_SANITIZE")
DEBUG = _flag("GILFREE_DEBUG_BUILD") or SANITIZE


class BuildExt(build_ext):
    """Adds the compiler flags that exactness and speed need, per compiler family."""

    def build_extensions(self) -> None:
        if self.compiler.compiler_type == "msvc":
            # /fp:precise (the default) keeps IEEE semantics; no contraction into FMA.
            args, link = (["/Od", "/Zi"] if DEBUG else ["/O2"]), []
        else:
            # No FMA contraction: a fused a*b+c rounds once, Python rounds twice, and the twins
            # must agree bit for bit. -O3 lets the lane loops vectorize.
            args = ["-ffp-contract=off", "-fno-strict-aliasing"]
            args += ["-O0", "-g"] if DEBUG else ["-O3"]
            link = []
            if SANITIZE:
                san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                       "-fno-sanitize-recover=undefined"]
                args += san
                link += san
        for ext in self.extensions:
            ext.extra_compile_args = [*ext.extra_compile_args, *args]
            ext.extra_link_args = [*ext.extra_link_args, *link]
        super().build_extensions()


def extensions() -> list:
    if NO_EXTENSIONS:
        return []
    from Cython.Build import cythonize
    from setuptools import Extension

    modules = [
        Extension(f"gilfree.{pyx.stem}", [str(pyx.relative_to(HERE)).replace(os.sep, "/")])
        for pyx in sorted((HERE / "ext").glob("_*_c.pyx"))
    ]
    directives = {
        "language_level": 3,
        "boundscheck": DEBUG,
        "wraparound": DEBUG,
        "initializedcheck": DEBUG,
        "cdivision": not DEBUG,
        "embedsignature": True,
        "freethreading_compatible": True,
    }
    return cythonize(
        modules,
        compiler_directives=directives,
        include_path=["ext"],
        build_dir="build/cython",
        quiet=True,
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
