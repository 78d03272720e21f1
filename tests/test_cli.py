"""The command line's own behaviour: human units, the subcommand's usage in errors, bounds, a
progress bar that fits, steps run once, and `gilfree lab --quick` within 80 columns."""

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _checkout import checkout_path

import gilfree
import gilfree.lab
from gilfree import cli
from gilfree._timing import usable_cores
from gilfree.lab import StepResult



def _env(**extra):
    env = dict(os.environ)
    src = str(Path(gilfree.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra)
    return env


def refused(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


# --- info -----------------------------------------------------------------------------------------

def test_info_speaks_human_units():
    env = {"gilfree": "0.1.0", "free_threaded_build": False, "gil_enabled": True, "usable_cores": 2,
           "memory_bytes": 25_276_502_016, "load_average_1min": 6.4296875, "numpy": None}
    lines = cli._info_lines(env, 80)
    text = "\n".join(lines)
    assert re.search(r"^memory +23\.5 GiB$", text, re.M)
    assert re.search(r"^load average \(1 min\) +6\.43$", text, re.M)
    assert re.search(r"^free-threaded build +no$", text, re.M)
    assert re.search(r"^GIL enabled +yes$", text, re.M)
    assert re.search(r"^numpy +unknown$", text, re.M)
    assert "25276502016" not in text and "6.4296875" not in text


def test_info_json_keeps_the_raw_values(capsys):
    assert cli.main(["info", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert isinstance(doc["gil_enabled"], bool) and isinstance(doc["usable_cores"], int)
    assert doc["memory_bytes"] is None or isinstance(doc["memory_bytes"], int)


def test_info_prints_no_raw_figures(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "memory_bytes" not in out and "True" not in out and "False" not in out
    assert re.search(r"^usable cores +\d+$", out, re.M)


# --- errors print the usage of the command typed ---------------------------------------------------

@pytest.mark.parametrize("argv, fragment", [
    (["lab", "--workers", "0"], "argument --workers: must be >= 1, got 0"),
    (["lab", "--workers", "x"], "argument --workers: expected a whole number >= 1, got 'x'"),
    (["faults", "--jobs", "0"], "argument --jobs: must be >= 1, got 0"),
    (["faults", "--scenario", "meteor"], "unknown scenario 'meteor'"),
    (["lab", "--start-method", "teleport"], "invalid choice: 'teleport' (choose from "),
    (["lab", "--no-such-option"], "unrecognized arguments: --no-such-option"),
])
def test_errors_print_the_subcommands_usage(capsys, argv, fragment):
    err = refused(capsys, argv)
    assert err.startswith(f"usage: gilfree {argv[0]} ")
    assert fragment in err
    assert "'fork', " not in err  # choices are words, not a Python list


def test_the_top_level_choices_are_words(capsys):
    err = refused(capsys, ["benchmark"])
    assert "(choose from lab, bench, faults, advise, strategies, info)" in err


@pytest.mark.parametrize("option, command", [("--workers", "lab"), ("--jobs", "faults")])
def test_worker_and_job_counts_are_bounded_by_the_cores(capsys, option, command):
    most = max(8, 4 * usable_cores())
    err = refused(capsys, [command, option, str(most + 1)])
    assert err.startswith(f"usage: gilfree {command} ")
    assert f"argument {option}: at most {most} on {usable_cores()} usable core" in err
    assert "wait for the cores" in err  # the reason, not just the number
    assert cli._workers(str(most)) == most and cli._jobs(str(most)) == most


def test_a_count_past_2_63_keeps_its_own_message(capsys):
    err = refused(capsys, ["faults", "--jobs", str(2**64)])
    assert "argument --jobs: must be at most 2**63" in err


def test_faults_help_names_its_choices_as_words(capsys):
    with pytest.raises(SystemExit):
        cli.main(["faults", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "fork, spawn, forkserver" in out and "['" not in out


# --- lab options ----------------------------------------------------------------------------------

def _fake_result(step):
    return StepResult(step=step, title="fake", params={}, rows=[], checks={"fine": True}, summary=[],
                      explanation=[], env={})


@pytest.fixture
def ran(monkeypatch):
    calls = []

    def run_step(step, size, progress, **overrides):
        calls.append((step, size, overrides))
        return _fake_result(step)

    monkeypatch.setattr(gilfree.lab, "run_step", run_step)
    return calls


def test_a_step_named_twice_runs_once_in_the_order_given(ran, capsys):
    assert cli.main(["lab", "--step", "3", "--step", "1", "--step", "3", "--no-progress"]) == 0
    assert [step for step, _, _ in ran] == [3, 1]
    assert capsys.readouterr().out.count("Step 3: fake") == 1


def test_lab_passes_workers_and_quick_to_the_steps(ran):
    assert cli.main(["lab", "--step", "2", "--quick", "--workers", "3", "--no-progress"]) == 0
    assert ran == [(2, "quick", {"workers": 3})]
    ran.clear()
    assert cli.main(["lab", "--step", "2", "--no-progress"]) == 0
    assert ran == [(2, "default", {})]


def test_help_and_readme_agree_on_the_quick_labs_time(capsys):
    with pytest.raises(SystemExit):
        cli.main(["lab", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"all eight steps in {cli.QUICK_LAB_TAKES}" in help_text
    readme = " ".join(checkout_path("README.md").read_text(encoding="utf-8").split())
    takes = cli.QUICK_LAB_TAKES.removesuffix(" on 2 cores")
    assert f"(on 2 cores about a minute; `--quick` runs them in {takes}," in readme


# --- progress -------------------------------------------------------------------------------------

@pytest.mark.parametrize("width", [200, 80, 40, 20])
def test_the_progress_bar_fits_and_keeps_a_bar(width):
    out = io.StringIO()
    bar = cli._Bar(enabled=True, file=out, width=width)
    bar.start("step 3: Pool.map vs starmap vs imap vs imap_unordered", short="step 3")
    for done in range(1, 27):
        bar(done, 26, "uneven: imap_unordered pure-python chunksize 3, a long label indeed")
    bar.stop()
    frames = [f for f in re.split(r"[\r\n]", out.getvalue()) if f.strip()]
    assert frames and max(map(len, frames)) < width
    if width >= 80:
        last = frames[-1]
        assert last.startswith("step 3: uneven") and "26/26" in last
        assert len(re.search(r"\|(.*)\|", last).group(1)) >= 10  # a bar you can see


def test_a_disabled_bar_draws_nothing():
    out = io.StringIO()
    bar = cli._Bar(enabled=False, file=out, width=80)
    bar.start("step 1")
    bar(1, 2, "x")
    bar.stop()
    assert out.getvalue() == ""


# --- the whole quick lab at 80 columns ------------------------------------------------------------

@pytest.mark.slow
def test_the_quick_lab_fits_80_columns(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "gilfree", "lab", "--quick", "--no-progress"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path,
                          env=_env(COLUMNS="80"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("Step ") >= 8
    for name, text in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        long = [line for line in text.splitlines() if len(line) > 80]
        assert not long, (name, long[:3])


# --- lists that fit -------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["strategies"], ["faults", "--list"], ["info"]])
@pytest.mark.parametrize("columns", ["250", "80", "40"])
def test_lists_fit_the_width(monkeypatch, capsys, argv, columns):
    monkeypatch.setenv("COLUMNS", columns)
    assert cli.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and max(map(len, lines)) <= int(columns)


def test_strategies_too_wide_for_a_table_become_paragraphs(monkeypatch, capsys):
    from gilfree.registry import strategies

    monkeypatch.setenv("COLUMNS", "80")
    assert cli.main(["strategies"]) == 0
    out = capsys.readouterr().out
    for s in strategies():
        assert re.search(rf"^{re.escape(s.name)} +{re.escape(s.description[:20])}", out, re.M)


def test_a_reader_that_stops_reading_ends_the_run_quietly():
    """``gilfree lab | head -1``: the run ends as Unix tools do, status 141, no traceback."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "gilfree", "lab", "--quick", "--step", "1", "--step", "2",
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()  # step 1 is printed; step 2 is still being measured
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=300) == 141, err
    assert first.startswith(b"Step 1:")
    assert "Traceback" not in err and "BrokenPipeError" not in err
