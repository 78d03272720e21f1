"""Build script: compiles every ``ext/_<unit>_c.pyx`` into the module ``gilfree._<unit>_c``.

Metadata lives in pyproject.toml; this file only describes the extensions and how to build them.

Without a working C compiler the build still succeeds. Before compiling anything it builds a tiny
module that includes Python.h with the very compiler, flags and include folders build_ext will
use; if that fails (no compiler, no Python headers, a broken linker), or if the kernels fail to
build anyway, it makes the pure-Python package instead and says on stderr what was missing and
how to get the compiled kernels (msgpack's build falls back the same way). When the check fails
the wheel is a true pure one (py3-none-any, without the compiled modules' .pyi stubs). The
installed package records why it is pure in ``gilfree/_build_info.py`` (a built package only:
editable and in-place builds have no such file), and ``gilfree info`` reports it.

Environment switches:
  GILFREE_NO_EXTENSIONS=1       build a pure-Python package (no compiler needed)
  GILFREE_REQUIRE_EXTENSIONS=1  no fallback: fail if the kernels cannot be built (wheel builders, CI)
  GILFREE_DEBUG_BUILD=1         Cython bounds/wraparound checks on, -O0 -g (for tests under sanitizers);
                                no fallback either: a debug build of pure Python means nothing
  GILFREE_SANITIZE=1            add -fsanitize=address,undefined (implies GILFREE_DEBUG_BUILD)

Release builds (the default) carry no debug information and no run path of the build machine:
Python's own CFLAGS say -g, and a Python built with a run path (pyenv's does) puts it in LDSHARED.
A CFLAGS environment variable that asks for -g keeps the debug information (packagers who split
it off themselves).
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any, Callable, NamedTuple

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py
from setuptools.errors import CCompilerError, ExecError, PlatformError

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1: no build uses it (pyproject asks for more); tests do
    bdist_wheel = None

HERE = Path(__file__).parent
PACKAGE = "gilfree"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


NO_EXTENSIONS = _flag("GILFREE_NO_EXTENSIONS")
SANITIZE = _flag("GILFREE_SANITIZE")
DEBUG = _flag("GILFREE_DEBUG_BUILD") or SANITIZE
#: The switch that forbids falling back to pure Python, if one does (a debug flavour asks for
#: compiled kernels too, unless GILFREE_NO_EXTENSIONS asks for none).
REQUIRED_BY = next((name for name, on in (("GILFREE_REQUIRE_EXTENSIONS", _flag("GILFREE_REQUIRE_EXTENSIONS")),
                                          ("GILFREE_SANITIZE", SANITIZE and not NO_EXTENSIONS),
                                          ("GILFREE_DEBUG_BUILD", DEBUG and not NO_EXTENSIONS)) if on), None)

# Each flavour builds in a tree of its own: cythonize skips a .c file newer than its .pyx, and
# build_ext an extension newer than its .c, whatever the directives and flags, so one shared tree
# would hand a sanitized build the optimized objects of an earlier build, or the reverse.
FLAVOUR = "sanitize" if SANITIZE else "debug" if DEBUG else "release"
BUILD_BASE = "build" if FLAVOUR == "release" else f"build/{FLAVOUR}"

#: The compiled modules, by name (``_cpu_c``, ...): one per ``ext/_<unit>_c.pyx``.
COMPILED_MODULES = tuple(sorted(pyx.stem for pyx in (HERE / "ext").glob("_*_c.pyx")))

#: How a user gets the kernels after a fallback (gilfree/_select.py tells the same story at run
#: time). --no-cache-dir: pip caches the wheel it built from the sdist, the pure one.
HOW_TO_COMPILE = (
    "install a C compiler and the Python headers (Debian/Ubuntu: apt install gcc python3-dev; "
    "Fedora: dnf install gcc python3-devel; macOS: xcode-select --install; Windows: Build Tools "
    "for Visual Studio), then reinstall gilfree from its sdist:\n"
    "    pip install --force-reinstall --no-deps --no-cache-dir --no-binary gilfree gilfree")


# --- whether to compile: decided once per build, by the first command that needs to know ----------

class Outcome(NamedTuple):
    """What this build does about the kernels: compile them, or make the pure package and why.

    ``reason`` is one of the codes that gilfree/_select.py turns into words:
    ``disabled`` (GILFREE_NO_EXTENSIONS), ``not-cpython``, ``no-cython``, ``no-compiler`` (the
    check before the build failed), ``build-failed`` (the kernels themselves did not build).
    """

    compiled: bool
    reason: str | None = None
    detail: str = ""


COMPILED = Outcome(True)


def decide(*, no_extensions: bool, require: str | None, implementation: str, cython_problem: str | None,
           compiler_problem: Callable[[], str | None]) -> Outcome:
    """Compile or not, from the switches and what this machine has; the compiler is asked last.

    ``require`` names the switch that forbids a fallback, if one does: then every reason not to
    compile is an error (``SystemExit``), and so is asking for ``no_extensions`` as well.
    """
    if no_extensions:
        if require:
            raise SystemExit(f"error: GILFREE_NO_EXTENSIONS and {require} are both set; unset one of them")
        return Outcome(False, "disabled", "GILFREE_NO_EXTENSIONS is set")
    if implementation != "CPython":
        outcome = Outcome(False, "not-cpython", f"{implementation} {platform.python_version()}")
    elif cython_problem is not None:
        outcome = Outcome(False, "no-cython", cython_problem)
    else:
        problem = compiler_problem()
        outcome = COMPILED if problem is None else Outcome(False, "no-compiler", problem)
    if require and not outcome.compiled:
        raise SystemExit(f"error: {require} is set, and the compiled kernels cannot be built: "
                         f"{_why(outcome)}")
    return outcome


def _why(outcome: Outcome) -> str:
    return {
        "not-cpython": "the kernels are CPython extension modules, and this is {detail}",
        "no-cython": "Cython is not installed ({detail}); it is a build requirement",
        "no-compiler": "the C compiler cannot build a module against Python.h: {detail}",
        "build-failed": "the C compiler failed on the kernels: {detail}",
    }.get(outcome.reason or "", "{detail}").format(detail=outcome.detail)


def warn_pure(outcome: Outcome, file: Any = None) -> None:
    """The fallback's warning: what was missing and how to get the compiled kernels."""
    file = sys.stderr if file is None else file
    if outcome.reason in ("disabled", "not-cpython"):  # asked for, or all there is: a note
        print(f"gilfree: building the pure-Python package: {_why(outcome)}", file=file, flush=True)
        return
    rule = "=" * 78
    print(f"{rule}\n"
          f"gilfree: WARNING: building the pure-Python package, without the compiled kernels.\n"
          f"Why: {_why(outcome)}\n"
          f"gilfree works and gives the same results, but its kernels run as Python code (slower,\n"
          f"and holding the GIL); `gilfree info` says so.\n"
          f"To get the compiled kernels, {HOW_TO_COMPILE}\n"
          f"Set GILFREE_REQUIRE_EXTENSIONS=1 to make this an error instead.\n"
          f"{rule}", file=file, flush=True)


_OUTCOME: Outcome | None = None


def outcome_for(cmd: Any) -> Outcome:
    """The build's outcome, decided on first use (the compiler check runs at most once)."""
    global _OUTCOME
    if _OUTCOME is None:
        if not COMPILED_MODULES:  # pragma: no cover - a tree without ext/
            _OUTCOME = Outcome(False, "disabled", "no Cython sources in ext/")
        else:
            _OUTCOME = decide(no_extensions=NO_EXTENSIONS, require=REQUIRED_BY,
                              implementation=platform.python_implementation(),
                              cython_problem=_CYTHON_PROBLEM,
                              compiler_problem=lambda: compiler_problem(
                                  cmd.get_finalized_command("build_ext")))
        if not _OUTCOME.compiled:
            warn_pure(_OUTCOME)
    return _OUTCOME


def fall_back(cmd: Any, outcome: Outcome, *, started: bool = False) -> None:
    """Make this build pure from here on: no extension to build, none to package.

    Once the build has ``started``, the distribution keeps its extensions on paper: the wheel's
    tag and layout (platlib) were settled from them, and stay consistent.
    """
    global _OUTCOME
    _OUTCOME = outcome
    if not started:
        cmd.distribution.ext_modules = []
    cmd.get_finalized_command("build_ext").extensions = []


def settle(cmd: Any) -> Outcome:
    """The outcome, with the build made pure if that is what it is."""
    outcome = outcome_for(cmd)
    if not outcome.compiled:
        fall_back(cmd, outcome)
    return outcome


# --- the compiler check ----------------------------------------------------------------------------

PROBE_SOURCE = """\
/* setup.py's compiler check: what every gilfree kernel needs, and nothing more. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

int gilfree_probe(void) { return (int)sizeof(Py_ssize_t); }
"""


def _compiler_like_build_ext(cmd: Any) -> Any:
    """A compiler set up as build_ext.run sets up its own (same type, flags, folders, macros)."""
    from distutils.ccompiler import new_compiler
    from distutils.sysconfig import customize_compiler

    if not isinstance(cmd.compiler, (str, type(None))):  # build_ext ran already: its very compiler
        return cmd.compiler
    compiler = new_compiler(compiler=cmd.compiler, verbose=cmd.verbose, force=True)
    customize_compiler(compiler)
    if os.name == "nt" and sysconfig.get_config_var("Py_GIL_DISABLED"):
        compiler.define_macro("Py_GIL_DISABLED", "1")  # as setuptools' build_ext does there
    for name, value in cmd.define or ():
        compiler.define_macro(name, value)
    for name in cmd.undef or ():
        compiler.undefine_macro(name)
    compiler.set_include_dirs(list(cmd.include_dirs or ()))
    compiler.set_libraries(list(cmd.libraries or ()))
    compiler.set_library_dirs(list(cmd.library_dirs or ()))
    return compiler


def compiler_problem(cmd: Any) -> str | None:
    """None if the compiler of ``cmd`` (a finalized build_ext) builds a module against Python.h;
    otherwise what went wrong, in the compiler's own words where it said any."""
    with tempfile.TemporaryDirectory(prefix="gilfree-probe-") as tmp:
        source = Path(tmp, "probe.c")
        source.write_text(PROBE_SOURCE)
        with _captured_output() as said:
            try:
                compiler = _compiler_like_build_ext(cmd)
                objects = compiler.compile([str(source)], output_dir=tmp)
                suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
                compiler.link_shared_object(objects, str(Path(tmp, "probe" + suffix)))
            except (CCompilerError, ExecError, PlatformError, OSError) as exc:
                failure: Exception | None = exc
            else:
                failure = None
        if failure is None:
            return None
        return summarize(failure, said.text, tmp)


class _Output:
    text = ""


class _captured_output:
    """Catch what the compiler writes to file descriptors 1 and 2 (it runs as a child process)."""

    def __enter__(self) -> _Output:
        self.result = _Output()
        self.file = tempfile.TemporaryFile()
        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = [os.dup(1), os.dup(2)]
        os.dup2(self.file.fileno(), 1)
        os.dup2(self.file.fileno(), 2)
        return self.result

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in zip((1, 2), self.saved):
            os.dup2(saved, fd)
            os.close(saved)
        self.file.seek(0)
        self.result.text = self.file.read().decode(errors="replace")
        self.file.close()


def summarize(failure: BaseException, output: str = "", tmp: str = "") -> str:
    """What was missing, in a line: the compiler's first error, else what became of the program.

    A compiler that is not there comes out as ``gcc: not found``; the temporary folder of the
    check is left out of the compiler's lines.
    """
    lines = [(line.replace(tmp + os.sep, "").replace(tmp, "") if tmp else line).strip()
             for line in output.splitlines()]
    # The first line that names a problem; collect2's "ld returned 1 exit status" only sums up
    # the linker's own line before it.
    errors = [line for line in lines if not line.startswith("collect2:")
              and any(word in line.lower() for word in ("error", "cannot find", "not found", "no such file"))]
    if errors:
        return errors[0]
    seen: BaseException | None = failure
    while seen is not None:  # setuptools' versions wrap the subprocess's error differently
        if isinstance(seen, FileNotFoundError) and seen.filename:
            return f"{seen.filename}: not found"
        if isinstance(seen, subprocess.CalledProcessError):
            return f"{_program(seen.cmd)} failed (exit status {seen.returncode})"
        seen = seen.__cause__ or seen.__context__
    text = str(failure)
    missing = re.match(r"command '([^']+)' failed: No such file or directory", text)
    if missing:
        return f"{missing.group(1)}: not found"
    status = re.match(r"command '([^']+)' failed with exit (?:code|status) (-?\d+)", text)
    if status:
        return f"{status.group(1)} failed (exit status {status.group(2)})"
    return text


def _program(cmd: Any) -> str:
    return str(cmd[0] if isinstance(cmd, (list, tuple)) and cmd else cmd)


# --- the commands ----------------------------------------------------------------------------------

def _wants_debug_info() -> bool:
    """Whether the user's own CFLAGS ask for debug information (then a release build keeps it)."""
    return any(arg.startswith("-g") and arg != "-g0" for arg in shlex.split(os.environ.get("CFLAGS", "")))


#: One argument that sets a run path: -Wl,-rpath,DIR -Wl,-rpath=DIR -Wl,--rpath,DIR -Wl,-R,DIR
#: -Wl,-RDIR (not -Wl,-rpath-link, which is for the link alone).
RUN_PATH = re.compile(r"-Wl,(--?rpath(?!-link)|-R)")


def without_run_paths(argv: list[str]) -> list[str]:
    """A link command without its run paths (``-Wl,-rpath,DIR`` and the like).

    A Python built with one (pyenv's LDFLAGS say ``-Wl,-rpath,<its lib>``) hands it to every
    extension through LDSHARED, where it names a folder of the build machine. The kernels link no
    library of their own, and on Linux and macOS an extension does not link libpython.
    """
    out: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg in ("-rpath", "-Wl,-rpath", "-Wl,--rpath", "-Wl,-R"):
            next(args, None)  # its folder is the next argument
        elif not RUN_PATH.match(arg):
            out.append(arg)
    return out


class BuildExt(build_ext):
    """Adds the flags that exactness and speed need, per compiler family; falls back to pure
    Python when the compiler cannot build the kernels (unless REQUIRED_BY names a switch)."""

    def run(self) -> None:
        if not settle(self).compiled or not self.extensions:
            return
        try:
            self._run()
        except (CCompilerError, ExecError, PlatformError) as exc:
            # The check passed, yet the kernels did not build (an old compiler, a flag it lacks).
            # Their error is printed above; this build then makes the pure package, though its
            # wheel keeps the platform tag that was decided before the build started.
            failed = Outcome(False, "build-failed", summarize(exc))
            if REQUIRED_BY:
                raise
            self._remove_outputs()
            fall_back(self, failed, started=True)
            warn_pure(failed)
            if not (self.inplace or self.editable_mode):
                build_lib = Path(self.build_lib, PACKAGE)
                for name in COMPILED_MODULES:
                    (build_lib / f"{name}.pyi").unlink(missing_ok=True)
                write_build_info(build_lib, failed)

    def _remove_outputs(self) -> None:
        for ext in self.extensions:
            Path(self.get_ext_fullpath(ext.name)).unlink(missing_ok=True)

    def _run(self) -> None:
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
            # /fp:precise (the default) keeps IEEE semantics; no contraction into FMA. Without
            # /Zi a release build makes no debug information (no .pdb).
            args, link = (["/Od", "/Zi"] if DEBUG else ["/O2"]), []
        else:
            # No FMA contraction: a fused a*b+c rounds once, Python rounds twice, and the twins
            # must agree bit for bit. -O3 lets the lane loops vectorize.
            args = ["-ffp-contract=off", "-fno-strict-aliasing"]
            if DEBUG:
                args += ["-O0", "-g"]
            else:
                # -g0 after Python's own -g: a shipped module carries no debug information (about
                # four fifths of its size with it); the symbol table stays (a tenth of the rest),
                # so profilers and debuggers still name the kernels.
                args += ["-O3"] + ([] if _wants_debug_info() else ["-g0"])
            link = []
            if SANITIZE:
                # Every finding stops the process (no recovery). float-cast-overflow is not part
                # of "undefined" in GCC. Python's own CFLAGS carry -fwrapv, which defines signed
                # overflow and so hides it from UBSan: -fno-wrapv puts it back under its eye.
                san = ["-fsanitize=address,undefined,float-cast-overflow",
                       "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
                args += [*san, "-fno-wrapv"]
                link += san
            if sys.platform.startswith("linux") or sys.platform == "darwin":
                self.compiler.linker_so = without_run_paths(self.compiler.linker_so)
                if hasattr(self.compiler, "linker_so_cxx"):
                    self.compiler.linker_so_cxx = without_run_paths(self.compiler.linker_so_cxx)
        for ext in self.extensions:
            ext.extra_compile_args = [*ext.extra_compile_args, *args]
            ext.extra_link_args = [*ext.extra_link_args, *link]
        super().build_extensions()


BUILD_INFO = "_build_info.py"


def write_build_info(package_dir: Path, outcome: Outcome) -> None:
    """Write ``gilfree/_build_info.py`` into a built package: whether it has the kernels, and why not."""
    package_dir.mkdir(parents=True, exist_ok=True)
    (package_dir / BUILD_INFO).write_text(
        '"""How this copy of gilfree was built: written by its setup.py, read by `gilfree info`."""\n\n'
        f"COMPILED = {outcome.compiled!r}\n"
        f"REASON = {outcome.reason!r}\n"
        f"DETAIL = {outcome.detail!r}\n", encoding="utf-8")


class BuildPy(build_py):
    """Leaves out the stubs of compiled modules a pure build lacks, and records the outcome."""

    def run(self) -> None:
        if self.editable_mode:  # the source tree is the package: nothing to record
            return super().run()
        outcome = settle(self)
        if not outcome.compiled:
            stubs = {f"{name}.pyi" for name in COMPILED_MODULES}
            self.data_files = [(package, src, build, [f for f in files if Path(f).name not in stubs])
                               for package, src, build, files in self.data_files]
        super().run()
        write_build_info(Path(self.build_lib, PACKAGE), outcome)


COMMANDS: dict[str, Any] = {"build_ext": BuildExt, "build_py": BuildPy}

if bdist_wheel is not None:
    class BdistWheel(bdist_wheel):
        """Decides before the wheel's tag and layout are: without the kernels, py3-none-any.

        Not in finalize_options: the metadata step (dist_info) finalizes this command too, and
        would run the compiler check, and warn, once more.
        """

        def run(self) -> None:
            if not settle(self).compiled:
                self.root_is_pure = True
            super().run()

    COMMANDS["bdist_wheel"] = BdistWheel


# --- the extensions --------------------------------------------------------------------------------

_CYTHON_PROBLEM: str | None = None


def extensions() -> list:
    """The compiled modules, cythonized; none when the build is pure for a reason known already."""
    global _CYTHON_PROBLEM
    if NO_EXTENSIONS or platform.python_implementation() != "CPython":
        return []
    try:
        from Cython.Build import cythonize
    except ImportError as exc:
        _CYTHON_PROBLEM = str(exc)
        return []
    from setuptools import Extension

    def rel(path: Path) -> str:
        return str(path.relative_to(HERE)).replace(os.sep, "/")

    # Every header is a dependency of every module: a change to one C header (which Cython does
    # not track through #include) then rebuilds the modules instead of leaving stale objects.
    headers = [rel(h) for h in sorted((HERE / "ext").glob("*.h"))]
    modules = [Extension(f"{PACKAGE}.{name}", [f"ext/{name}.pyx"], depends=headers)
               for name in COMPILED_MODULES]
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


if __name__ == "__main__":  # setuptools runs this file as __main__; tests import it for its functions
    setup(
        ext_modules=extensions(),
        cmdclass=COMMANDS,
        # The modules compile side by side where there are cores for it.
        options={"build": {"build_base": BUILD_BASE},
                 "build_ext": {"parallel": min(len(COMPILED_MODULES), os.cpu_count() or 1)}},
    )
