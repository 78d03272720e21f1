"""The tutorial in docs/ cannot drift from the code: its commands run, its figures are generated.

* Every line that starts with ``$ `` in a ``console`` block of a page is run, in a fresh shell,
  from a scratch folder that mirrors the checkout (each of its top-level entries linked there),
  so that what a command writes (``gilfree bench --from`` writes ``./gilfree-bench``) lands in
  this test's own folder. The command must exit 0, or N where the line ends with ``# exits N``.
  ``bash`` blocks are shown, not run: installs and runs of minutes.
* Every file a page includes, shows or offers for download exists; every file the generator
  writes (``docs/generate.py``) is used by a page, and nothing else sits in ``docs/_generated``;
  the committed files are what the generator renders from the committed data.
* Every public name (``gilfree.__all__``) is in the API reference.
* The docs build with warnings as errors (skipped where Sphinx is not installed; ``.ci/docs``
  installs it and never skips).

Outside a checkout (the suite run against an installed wheel) there is no docs/ folder, and
these tests skip, saying so.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from _checkout import ROOT, checkout_path

#: How long one documented command may take: the pages show quick forms only.
COMMAND_TIMEOUT_S = 120
#: How long a whole docs build may take on 2 cores (about 30 s from scratch).
BUILD_TIMEOUT_S = 600
#: A command that mentions the key needs the module (an extra): without it the command is skipped.
NEEDS = {"--strategy dask": ("distributed", 'pip install "gilfree[dask]"')}
EXITS = re.compile(r"\s#\s*exits\s+(\d+)\s*$")


def _docs() -> Path:
    return checkout_path("docs")


def _pages(docs: Path) -> list[Path]:
    """The pages: every Markdown file of docs/ but the generated ones and the build's output."""
    return sorted(p for p in docs.rglob("*.md")
                  if not {"_generated", "_build"} & set(p.relative_to(docs).parts))


def documented_commands(docs: Path) -> list[tuple[str, str, int]]:
    """(where, command, expected exit status) for each ``$ `` line of the pages' console blocks."""
    found = []
    for page in _pages(docs):
        lines = page.read_text(encoding="utf-8").split("\n")
        fence: str | None = None
        for number, line in enumerate(lines, 1):
            stripped = line.strip()
            if fence is None:
                match = re.match(r"(`{3,}|~{3,})\s*(\S*)", stripped)
                if match:
                    fence = match.group(1) if match.group(2) == "console" else "other:" + match.group(1)
                continue
            if stripped.startswith(fence.removeprefix("other:")) and not stripped.strip("`~"):
                fence = None
                continue
            if not fence.startswith("other:") and line.startswith("$ "):
                command = line[2:]
                exits = EXITS.search(command)
                found.append((f"{page.relative_to(docs)}:{number}", command,
                              int(exits.group(1)) if exits else 0))
    return found


def _commands() -> list[tuple[str, str, int]]:
    """Each distinct command once (several pages may show the same one), named by where it is."""
    docs = ROOT / "docs"
    unique: dict[tuple[str, int], list[str]] = {}
    for where, command, status in documented_commands(docs) if docs.is_dir() else []:
        unique.setdefault((command, status), []).append(where)
    return [(", ".join(places), command, status) for (command, status), places in unique.items()]


def _mirror(scratch: Path) -> Path:
    """A folder that looks like the checkout's root: a link to each of its top-level entries."""
    for entry in ROOT.iterdir():
        (scratch / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    return scratch


def _run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="100")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")  # `python` is this one
    process = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = process.communicate(timeout=COMMAND_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the command and every process it started
        out, err = process.communicate()
        pytest.fail(f"{command!r} ran past {COMMAND_TIMEOUT_S} s\n{out[-2000:]}\n{err[-2000:]}")
    return subprocess.CompletedProcess(command, process.returncode, out, err)


@pytest.mark.slow
@pytest.mark.parametrize(("where", "command", "status"), _commands(), ids=[c[0].split(",")[0] for c in _commands()])
def test_documented_command_runs(where: str, command: str, status: int, tmp_path: Path) -> None:
    _docs()
    for key, (module, install) in NEEDS.items():
        if key in command and importlib.util.find_spec(module) is None:
            pytest.skip(f"{where}: {command!r} needs {module} ({install})")
    done = _run(command, _mirror(tmp_path))
    assert done.returncode == status, (
        f"{where}: {command!r} exited {done.returncode}, the page says {status}\n"
        f"--- stdout (end)\n{done.stdout[-3000:]}\n--- stderr (end)\n{done.stderr[-3000:]}")


def test_the_pages_show_commands() -> None:
    """The parser finds the pages' commands (a renamed fence would otherwise test nothing), and
    each runs the interpreter (``python -m gilfree``, ``python docs/...``): the ``gilfree``
    script exists only where gilfree was installed with its scripts, so a page that used it
    would test another gilfree than this one, or none."""
    commands = documented_commands(_docs())
    assert any("gilfree lab --quick --step 1" in c for _, c, _ in commands)
    assert any(status != 0 for _, _, status in commands)  # the "# exits N" convention is exercised
    other = [(where, c) for where, c, _ in commands if not re.match(r"(\w+=\S*\s+)*python\s", c)]
    assert not other, f"write these as `python -m gilfree ...` (or `python path/to/script.py`): {other}"


def test_the_command_parser(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```console\n$ true\noutput\n$ false  # exits 1\n```\n\n```bash\n$ not-run\n```\n"
                    "````console\n```\n$ inside\n````\n", encoding="utf-8")
    assert documented_commands(tmp_path) == [("page.md:2", "true", 0), ("page.md:4", "false  # exits 1", 1),
                                             ("page.md:12", "inside", 0)]


# -------------------------------------------------------------------------------------------------
# What the pages include, and what the generator writes


_REFERENCE = re.compile(
    r"```\{(?:include|image|figure|literalinclude)\}\s+(\S+)"  # directives with a path
    r"|\{download\}`[^`]*<([^>]+)>`"                        # {download}`text <path>`
    r"|!\[[^\]]*\]\(([^)\s]+)\)")                            # ![alt](path)


def referenced_files(docs: Path) -> dict[Path, list[str]]:
    """Every file a page includes, shows or offers, resolved, with the pages that name it."""
    found: dict[Path, list[str]] = {}
    for page in _pages(docs):
        for match in _REFERENCE.finditer(page.read_text(encoding="utf-8")):
            target = next(group for group in match.groups() if group)
            if "://" in target:
                continue
            path = (page.parent / target).resolve()
            found.setdefault(path, []).append(str(page.relative_to(docs)))
    return found


def _generator() -> ModuleType:
    path = _docs() / "generate.py"
    spec = importlib.util.spec_from_file_location("gilfree_docs_generate", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generator_runs_the_advisor_commands_the_advise_page_shows() -> None:
    """docs/generate.py keeps its own list of the advisor's examples (with a title each): it must
    be the page's, or the output shown would be that of another command."""
    shown = {c.removesuffix(" --json") for where, c, _ in documented_commands(_docs())
             if where.startswith("advise.md") and " gilfree advise " in c}
    ran = {f"python -m gilfree advise {arguments}" for _, arguments in _generator().ADVICE_CASES}
    assert ran == shown
    import json

    saved = json.loads((_docs() / "_generated" / "advise.json").read_text(encoding="utf-8"))
    assert {case["command"] for case in saved["cases"]} == ran, "run `python docs/generate.py` again"


def test_every_included_file_exists() -> None:
    missing = {str(path): pages for path, pages in referenced_files(_docs()).items() if not path.exists()}
    assert not missing, f"pages name files that do not exist: {missing}"


def test_every_generated_file_is_used_and_nothing_else_is_there() -> None:
    docs = _docs()
    outputs = _generator().outputs()
    generated = docs / "_generated"
    present = sorted(p.name for p in generated.iterdir() if not p.name.startswith("."))
    assert sorted(outputs) == present, "docs/_generated/ holds what the generator writes, nothing else"
    used = {path for path in referenced_files(docs)}
    unused = [name for name in outputs if (generated / name).resolve() not in used]
    assert not unused, f"the generator writes files no page uses: {unused}"


def test_the_generated_files_are_what_the_committed_data_renders_to() -> None:
    problems = _generator().check()
    assert not problems, "\n".join(problems) + "\nrun `python docs/generate.py --render` and commit docs/_generated/"


def test_a_fresh_run_renders_as_its_saved_json_does() -> None:
    """The generator renders a run as its JSON file holds it (keys sorted), so a dict whose keys
    came in another order gives the same bytes: --check would otherwise fail on a fresh run."""
    import json

    generator = _generator()
    lab = json.loads((_docs() / "_generated" / "lab.json").read_text(encoding="utf-8"))
    step = lab["steps"][2]
    shuffled = dict(reversed(list(step.items())))
    shuffled["params"] = {k: (dict(reversed(list(v.items()))) if isinstance(v, dict) else v)
                          for k, v in reversed(list(step["params"].items()))}
    assert generator.render_step(generator._as_saved(shuffled)) == generator.render_step(step)


def test_the_generated_prose_is_escaped() -> None:
    generator = _generator()
    assert generator.text("imap_unordered <2 | x * y [a]") == "imap\\_unordered \\<2 \\| x \\* y \\[a\\]"
    assert generator.text(generator.Raw("`code`")) == "`code`"


def test_every_public_name_is_in_the_api_reference() -> None:
    import gilfree

    api = "\n".join(p.read_text(encoding="utf-8") for p in sorted((_docs() / "api").glob("*.md")))
    missing = [name for name in gilfree.__all__ if name != "__version__" and not re.search(rf"\b{name}\b", api)]
    assert not missing, f"public names missing from docs/api/: {missing}"


# -------------------------------------------------------------------------------------------------
# The build


@pytest.mark.slow
def test_the_docs_build_with_warnings_as_errors(tmp_path: Path) -> None:
    docs = _docs()
    for module in ("sphinx", "myst_parser", "furo"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: pip install \".[docs]\" (.ci/docs builds the docs in CI)")
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html",
                           "-d", str(tmp_path / "doctrees"), str(docs), str(tmp_path / "html")],
                          capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    assert done.returncode == 0, f"sphinx-build failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    assert (tmp_path / "html" / "index.html").exists()
