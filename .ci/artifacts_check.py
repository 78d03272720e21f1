"""The checks .ci/artifacts runs on what it built: ``python .ci/artifacts_check.py WHAT FILE...``.

  sdist SDIST        sources, headers, tests and the build files are in; generated C, compiled
                     modules, build output and bench/ are not
  compiled WHEEL...  every compiled module is there with its stub, carries no debug section and
                     no run path outside the wheel (ELF only), and the wheel records a compiled build
  pure WHEEL         py3-none-any, no compiled module, no stub of one, a record of a pure build
  classifiers WHEEL  every classifier in the metadata is a known one (PyPI refuses others)

Standard library only, plus pyelftools (auditwheel's own dependency) for the ELF sections.
Exits 1 with one line per problem.
"""

from __future__ import annotations

import io
import re
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import PurePosixPath

#: What the kernels are: ext/_<unit>_c.pyx -> gilfree/_<unit>_c.<suffix> with gilfree/_<unit>_c.pyi.
UNITS = ("arrays", "bytebuf", "cpu")
COMPILED = re.compile(r"gilfree/_[a-z0-9]+_c\.(?:[^/]+\.)?(?:so|pyd)$")


def check_sdist(path: str) -> list[str]:
    with tarfile.open(path) as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
    # Each name without the sdist's top folder (gilfree-X.Y/).
    names = [PurePosixPath(*PurePosixPath(m.name).parts[1:]).as_posix() for m in members]
    present = set(names)
    problems = []
    wanted = ["setup.py", "pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "tests/conftest.py",
              "src/gilfree/__init__.py", "src/gilfree/py.typed"]
    wanted += [f"ext/_{unit}_c.pyx" for unit in UNITS] + [f"src/gilfree/_{unit}_c.pyi" for unit in UNITS]
    problems += [f"sdist: {name} is missing" for name in wanted if name not in present]
    kinds = (("C header", "ext/*.h"), ("Cython declaration file", "ext/*.pxd"), ("test", "tests/test_*.py"))
    for kind, pattern in kinds:
        if not any(PurePosixPath(name).match(pattern) for name in names):
            problems.append(f"sdist: no {kind} ({pattern})")
    for name in names:
        if name.endswith((".c", ".so", ".pyd", ".pyc", ".html")):
            problems.append(f"sdist: {name} is generated or built, and has no place in an sdist")
        if name.startswith(("bench/", "build/", "dist/", ".ci/")) or "/.hypothesis/" in name \
                or name.endswith("_build_info.py"):
            problems.append(f"sdist: {name} should not be shipped")
    size = sum(m.size for m in members)
    print(f"sdist: {len(names)} files, {size / 1e6:.2f} MB unpacked; ext/: "
          + ", ".join(sorted(n[4:] for n in names if n.startswith("ext/"))))
    return problems


def _elf_problems(name: str, data: bytes) -> list[str]:
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(io.BytesIO(data))
    problems = [f"{name}: debug section {s.name}" for s in elf.iter_sections()
                if s.name.startswith((".debug", ".zdebug"))]
    for section in elf.iter_sections():
        if isinstance(section, DynamicSection):
            for tag in section.iter_tags():
                if tag.entry.d_tag in ("DT_RPATH", "DT_RUNPATH"):
                    paths = getattr(tag, "runpath", None) or getattr(tag, "rpath", "")
                    outside = [p for p in paths.split(":") if p and not p.startswith("$ORIGIN")]
                    if outside:
                        problems.append(f"{name}: {tag.entry.d_tag} names {':'.join(outside)}, "
                                        "a folder of the build machine")
    return problems


def _record(wheel: zipfile.ZipFile) -> str:
    try:
        return wheel.read("gilfree/_build_info.py").decode()
    except KeyError:
        return ""


def check_compiled(path: str) -> list[str]:
    problems = []
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        modules = [n for n in names if COMPILED.match(n)]
        for unit in UNITS:
            if not any(n.startswith(f"gilfree/_{unit}_c.") for n in modules):
                problems.append(f"{path}: no compiled module for {unit}")
            if f"gilfree/_{unit}_c.pyi" not in names:
                problems.append(f"{path}: no stub gilfree/_{unit}_c.pyi")
        sizes = []
        for name in modules:
            data = wheel.read(name)
            sizes.append(f"{PurePosixPath(name).name.split('.')[0]} {len(data) / 1e3:.0f} kB")
            if data[:4] == b"\x7fELF":
                problems += _elf_problems(name, data)
        if "COMPILED = True" not in _record(wheel):
            problems.append(f"{path}: gilfree/_build_info.py does not record a compiled build")
    verdict = "with problems" if problems else "no debug section, no run path"
    print(f"{PurePosixPath(path).name}: {', '.join(sizes)}; {verdict}")
    return problems


def check_pure(path: str) -> list[str]:
    problems = []
    if not path.endswith("-py3-none-any.whl"):
        problems.append(f"{path}: a pure wheel is tagged py3-none-any")
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        problems += [f"{path}: carries {n}" for n in names
                     if COMPILED.match(n) or re.fullmatch(r"gilfree/_[a-z0-9]+_c\.pyi", n)]
        if "COMPILED = False" not in _record(wheel):
            problems.append(f"{path}: gilfree/_build_info.py does not record a pure build")
        if "gilfree/py.typed" not in names:
            problems.append(f"{path}: no gilfree/py.typed")
    print(f"{PurePosixPath(path).name}: {len(names)} files, no compiled module, no stub of one")
    return problems


def check_classifiers(path: str) -> list[str]:
    from trove_classifiers import classifiers as known

    with zipfile.ZipFile(path) as wheel:
        meta = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        message = Parser().parsestr(wheel.read(meta).decode())
    ours = message.get_all("Classifier") or []
    print(f"metadata: {len(ours)} classifiers, {len(message.get_all('Project-URL') or [])} project URLs")
    return [f"metadata: unknown classifier {c!r}" for c in ours if c not in known]


CHECKS = {"sdist": check_sdist, "compiled": check_compiled, "pure": check_pure,
          "classifiers": check_classifiers}


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in CHECKS:
        print(__doc__, file=sys.stderr)
        return 2
    problems = [p for path in argv[1:] for p in CHECKS[argv[0]](path)]
    for problem in problems:
        print(f"artifacts_check: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
