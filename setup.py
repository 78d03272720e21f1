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

# Each flavour builds in a tree of its own: cythonize skips a .c file newer than its .pyx, and
# build_ext an extension newer than its .c, whatever the directives and flags, so one shared tree
# would hand a sanitized build the optimized objects of an earlier build, or the reverse.
FLAVOUR = "sanitize" if SANITIZE else "debug" if DEBUG else "release"
BUILD_BASE = "build" if FLAVOUR == "release" else f"build/{FLAVOUR}"


class BuildExt(build_ext):
    """Adds the compiler flags that exactness and speed need, per compiler family."""

    def run(self) -> None:
        if not self.inplace:
            return super().run()
        # In place, every flavour writes the same src/gilfree/*.so: rebuild all of them unless a
        # stamp says that the last in-place build, finished, was of this very flavour.
        stamp = HERE / "build" / "inplace-flavour"
        if not stamp.exists() or stamp.read_text() != FLAVOUR:
            self.force = True
        stamp.unlink(missing_ok=True)  # unknown until this build has finished
        super().run()
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(FLAVOUR)

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
                # Every finding stops the process (no recovery). float-cast-overflow is not part
                # of "undefined" in GCC. Python's own CFLAGS carry -fwrapv, which defines signed
                # overflow and so hides it from UBSan: -fno-wrapv puts it back under its eye.
                san = ["-fsanitize=address,undefined,float-cast-overflow",
                       "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
                args += [*san, "-fno-wrapv"]
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

    def rel(path: Path) -> str:
        return str(path.relative_to(HERE)).replace(os.sep, "/")

    # Every header is a dependency of every module: a change to one C header (which Cython does
    # not track through #include) then rebuilds the modules instead of leaving stale objects.
    headers = [rel(h) for h in sorted((HERE / "ext").glob("*.h"))]
    modules = [
        Extension(f"gilfree.{pyx.stem}", [rel(pyx)], depends=headers)
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
        build_dir=f"{BUILD_BASE}/cython",
        quiet=True,
    )


setup(
    ext_modules=extensions(),
    cmdclass={"build_ext": BuildExt},
    options={"build": {"build_base": BUILD_BASE}},
)
