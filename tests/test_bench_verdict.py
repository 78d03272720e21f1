"""The bench's verdict on figures chosen by hand: it names a cause only where its own figures hold it.

Five runs, as the issue asks: a clean 2-core run, a busy machine, a free-threaded interpreter,
a GIL-holding control that scales, and processes slower than serial. Each is checked for the
words it should and should not say, and by :func:`_no_sentence_contradicts`, which reads the
figures back out of every sentence that names a cause (``tests/_words.py``) and checks the cause
against them with the rules of :mod:`gilfree.figures`.
"""

from __future__ import annotations

import json
import re

import pytest
from _checkout import checkout_path

from _words import ratios, sentences
from gilfree._load import MachineLoad, idle_machine
from gilfree.bench.report import complete, markdown
from gilfree.bench.verdict import headlines, machine_line, summary, verdicts
from gilfree.figures import GIL_CPU_PER_WALL, gil_fingerprint, noise_of

#: The committed run (a file of the checkout: its tests skip outside the tree).
COMMITTED = ("bench", "results", "bench-2core", "bench.json")
BUSY = MachineLoad(cores=2, seconds=30.0, others_cores=1.6, load_before=6.4, load_after=6.1, worst_spread=0.3)


def _row(workload, size, impl, strategy, k, seconds, serial_seconds, *, cpu=None, spread=0.02,
         elements=1000, nbytes=8000, chunks=8, repeats=5):
    speedup = serial_seconds / seconds
    workers = 1 if strategy in ("serial", "numpy") else k
    uses = {"serial": "serial", "numpy": "serial", "threads": "threads", "joblib-threads": "threads"}.get(
        strategy, "processes")
    transport = {"shared-memory": "shared-memory", "mmap": "mmap", "processes": "copies"}.get(strategy)
    ideal = min(workers, 2)
    cpu = cpu if cpu is not None else seconds
    return {"workload": workload, "size": size, "implementation": impl, "strategy": strategy,
            "workers": workers, "group_workers": k, "uses": uses, "transport": transport, "chunks": chunks,
            "elements": elements, "bytes": nbytes, "ok": True, "check": "exact", "error": None,
            "wall_s": [seconds] * repeats, "cpu_s": [cpu] * repeats, "median_s": seconds, "cpu_median_s": cpu,
            "cpu_per_wall": cpu / seconds, "spread": spread, "speedup": speedup, "ideal": ideal,
            "efficiency": speedup / ideal}


def _doc(rows, *, gil=True, machine=None, workloads=None):
    return {"schema": "gilfree-bench/2", "rows": rows, "environment": {"gil_enabled": gil},
            "machine": (machine or idle_machine(2)).as_dict(),
            "plan": {"cores": 2, "workers": sorted({r["group_workers"] for r in rows}),
                     "workloads": workloads or list(dict.fromkeys(r["workload"] for r in rows))}}


def _cpu_rows(*, pure_threads=(0.2, 0.2), kern_threads=(0.101, 0.2), processes=0.105, spread=0.02,
              workload="cpu"):
    """A 2-core run of one workload at the large and medium sizes; (seconds, CPU seconds) per thread row."""
    def r(*args, **kw):
        return _row(workload, *args, spread=spread, **kw)

    big = [r("large", "c-extension", "serial", 2, 0.2, 0.2),
           r("large", "c-extension", "threads", 2, kern_threads[0], 0.2, cpu=kern_threads[1]),
           r("large", "c-extension", "processes", 2, processes, 0.2, cpu=2 * processes * 0.97),
           r("large", "pure-python", "serial", 2, 0.2, 0.2),
           r("large", "pure-python", "threads", 2, pure_threads[0], 0.2, cpu=pure_threads[1]),
           r("large", "pure-python", "processes", 2, 0.11, 0.2, cpu=0.21)]
    medium = [r("medium", impl, strategy, 2, t, 0.02) for impl in ("c-extension", "pure-python")
              for strategy, t in (("serial", 0.02), ("threads", 0.02), ("processes", 0.03))]
    one = [r("large", "c-extension", "serial", 1, 0.2, 0.2), r("large", "c-extension", "threads", 1, 0.2, 0.2)]
    return big + medium + one


# -- reading the figures back out of the words ----------------------------------------------------

_CPU = re.compile(r"(\d+\.\d+)(?: to (\d+\.\d+))? CPU seconds per second of wall time")


def _cpus(sentence: str) -> list[float]:
    return [float(v) for m in _CPU.findall(sentence) for v in m if v]


def _no_sentence_contradicts(lines: list[str]) -> None:
    """Every sentence that names a cause holds for the figures it states itself."""
    for s in sentences(lines):
        if "fingerprint" in s and "do not" not in s and "none of them" not in s:
            for speedup in ratios(s)[:2]:
                for cpu in _cpus(s):
                    assert gil_fingerprint(speedup, cpu), s
        if "releases the GIL" in s:
            gain = re.search(r"([\d.]+)x the pure-Python threads' speedup", s)
            pair = re.search(r"kernel ran at ([\d.]+)x against its serial call and pure Python at ([\d.]+)x", s)
            assert gain or pair, f"a GIL cause without the figure it rests on: {s}"
            value = float(gain.group(1)) if gain else float(pair.group(1)) / float(pair.group(2))
            assert value > 1 + noise_of(), s
        if "ran at once" in s:
            assert _cpus(s) and min(_cpus(s)) > GIL_CPU_PER_WALL[1], s
        if "own interpreter" in s:
            assert ratios(s) and ratios(s)[0] > 1 + noise_of(), s
        if "did beat the serial call beyond the spread" in s:
            listed = re.findall(r"(\d+\.\d+)x \(spread (\d+)%\)", s)
            assert listed, s
            assert all(float(value) > 1 + float(spread) / 100 for value, spread in listed), s
        for share in re.findall(r"(\d+)% of the ideal", s):
            assert int(share) <= 100, s
        if "start-up" in s or "nothing started" in s:
            raise AssertionError(f"the executors open before the timing: no start-up is timed: {s}")
        if "is above the ideal" in s:
            value, ideal = ratios(s)[-2:]
            assert value > ideal, s


def _all_words(doc) -> list[str]:
    return [line for lines in verdicts(doc).values() for line in lines] + summary(doc)


def _say(doc, needle: str) -> list[str]:
    return [s for s in sentences(_all_words(doc)) if needle in s]


def _fingerprint_claims(doc) -> list[str]:
    """Sentences that call something the GIL's fingerprint (not those that say none or some show it)."""
    return [s for s in _say(doc, "fingerprint") if "none of them shows" not in s and "the others do not" not in s]


# -- (a) a clean 2-core run -----------------------------------------------------------------------

def test_a_clean_run_names_the_winner_the_gil_fingerprint_and_the_released_gil():
    doc = _doc(_cpu_rows())
    lines = verdicts(doc)["cpu"]
    assert lines[0].startswith("At the large size on 2 workers, the fastest was the nogil kernel on threads")
    assert "1.98x against its serial call" in lines[0]
    assert lines[1].startswith("Why: the kernel releases the GIL") and "1.98x" in lines[1] and "1.00x" in lines[1]
    pure = _say(doc, "Pure-Python threads: ")
    assert len(pure) == 1 and "1.00x against serial" in pure[0] and "the GIL's fingerprint" in pure[0]
    assert not _say(doc, "repeat the run")
    assert machine_line(doc) is None
    _no_sentence_contradicts(_all_words(doc))


def test_the_crossover_and_what_costs_more_than_the_work():
    lines = verdicts(_doc(_cpu_rows()))["cpu"]
    crossover = [line for line in lines if line.startswith("Crossover (c-extension)")]
    assert len(crossover) == 1
    assert "first beat the serial call beyond the spread at the large size (1.90x against serial" in crossover[0]
    assert "at the medium size the best of them ran at 0.67x against serial" in crossover[0]
    assert ("at the medium size the best of them ran at 0.67x against serial with processes, about 2.5 ms of "
            "serial work per task" in crossover[0])
    # The CPU loop has no array: nothing is copied, and the executors are open before the timing.
    assert crossover[0].endswith(": handing out the tasks and collecting their results cost more than splitting "
                                 "that work saved.")


# -- (b) a busy machine ---------------------------------------------------------------------------

@pytest.mark.parametrize("pure_threads", [(0.4, 0.232), (0.2 / 1.15, 0.2 / 1.15 * 1.3)],
                         ids=["0.50x at 0.58 CPU per wall", "1.15x at 1.30 CPU per wall"])
def test_on_a_busy_machine_the_verdict_opens_with_it_and_calls_nothing_the_gil_fingerprint(pure_threads):
    """The issue's two figures, which the old verdict called the GIL's fingerprint."""
    doc = _doc(_cpu_rows(pure_threads=pure_threads, spread=0.3), machine=BUSY)
    line = machine_line(doc)
    assert line is not None and line.startswith("Busy machine: other processes used 1.6 of its 2 cores")
    assert not _fingerprint_claims(doc)
    pure = _say(doc, "ure-Python threads ran at")
    assert pure and all("repeat the run" in s for s in pure)
    speedup = 0.2 / pure_threads[0]
    assert any(ratios(s)[0] == pytest.approx(speedup, abs=0.005) for s in pure)
    _no_sentence_contradicts(_all_words(doc))


def test_the_busy_line_opens_the_report_and_the_json_keeps_the_reading():
    doc = _full(_doc(_cpu_rows(spread=0.3), machine=BUSY))
    text = markdown(complete(doc))
    assert text.split("\n")[2] == f"**{BUSY.line()}**"
    assert "Load: other processes used 1.6 of 2 cores, the load average was 6.4 at the start" in text
    assert MachineLoad.from_dict(doc["machine"]) == BUSY


def test_a_noisy_run_on_a_quiet_machine_opens_the_report_too():
    noisy = MachineLoad(cores=2, seconds=30.0, others_cores=0.0, load_before=0.7, load_after=1.4).with_spread(
        [0.2, 0.6, 0.7, 12.3])
    doc = _full(_doc(_cpu_rows(), machine=noisy))
    line = machine_line(doc)
    assert not noisy.busy and line is not None and line.startswith("Noisy run: a typical variant's repeats disagreed")
    assert markdown(complete(doc)).split("\n")[2] == f"**{line}**"


# -- (c) a free-threaded interpreter --------------------------------------------------------------

def test_without_a_gil_pure_python_threads_scale_and_no_gil_cause_is_named():
    doc = _doc(_cpu_rows(pure_threads=(0.105, 0.2)), gil=False)
    pure = _say(doc, "Pure-Python threads: ")
    assert len(pure) == 1 and "1.90x against serial" in pure[0] and "runs without a GIL" in pure[0]
    assert not _fingerprint_claims(doc) and not _say(doc, "releases the GIL")
    assert verdicts(doc)["cpu"][1].startswith("Why: its 2 threads ran at once (1.98x against its serial call")
    assert any("runs without a GIL" in s for s in summary(doc))
    _no_sentence_contradicts(_all_words(doc))


# -- (d) a GIL-holding control that scales --------------------------------------------------------

def test_a_control_that_scales_takes_the_gil_cause_away_and_asks_for_a_repeat():
    doc = _doc(_cpu_rows(pure_threads=(0.105, 0.2)))  # pure-Python threads at 1.90x with the GIL on
    assert not _say(doc, "releases the GIL")
    assert not _fingerprint_claims(doc)
    pure = _say(doc, "ure-Python threads ran at 1.90x against serial")
    assert pure and "with the GIL on" in pure[0] and "repeat the run" in pure[0]
    kernel = _say(doc, "same threads on the nogil kernel")
    assert kernel and "no better than the pure-Python threads' 1.90x against serial" in kernel[0]
    assert "repeat the run" in kernel[0]
    assert verdicts(doc)["cpu"][1].startswith("Why: its 2 threads ran at once")
    _no_sentence_contradicts(_all_words(doc))


# -- (e) processes slower than serial -------------------------------------------------------------

def test_processes_slower_than_serial_are_never_credited_with_their_own_gil():
    rows = [r for r in _cpu_rows(kern_threads=(0.25, 0.25), processes=0.33) if r["group_workers"] == 2]
    rows = [_row("cpu", "large", "pure-python", "processes", 2, 0.3, 0.2, cpu=0.3) if
            (r["implementation"], r["strategy"], r["size"]) == ("pure-python", "processes", "large") else r
            for r in rows]
    doc = _doc(rows)
    lines = verdicts(doc)["cpu"]
    assert lines[0].startswith("At the large size on 2 workers, the fastest was")
    assert ", serial: 200 ms" in lines[0]
    assert lines[1].startswith("Why: no parallel variant earned back its overhead at this size")
    assert not _say(doc, "own interpreter and GIL")
    assert any(line.startswith("Crossover (c-extension): no process strategy beat the serial call")
               for line in lines)
    _no_sentence_contradicts(_all_words(doc))


def test_processes_ahead_by_less_than_the_spread_get_no_cause_either():
    rows = [_row("cpu", "large", "c-extension", "serial", 2, 0.2, 0.2, spread=0.1),
            _row("cpu", "large", "c-extension", "processes", 2, 0.195, 0.2, cpu=0.39, spread=0.1)]
    lines = verdicts(_doc(rows))["cpu"]
    assert lines[1].startswith("Why: no parallel variant here beat its serial call by more than the repeats' spread; "
                               "the fastest, the nogil kernel on processes, ran at 1.03x against its serial call, "
                               "within the repeats' spread (10%).")
    assert not any("own interpreter" in line for line in lines)


def test_processes_that_beat_serial_beyond_the_spread_are_credited_with_the_figure():
    rows = [_row("cpu", "large", "c-extension", "serial", 2, 0.2, 0.2),
            _row("cpu", "large", "c-extension", "shared-memory", 2, 0.11, 0.2, cpu=0.21)]
    why = verdicts(_doc(rows))["cpu"][1]
    # The kernel holds no GIL while it runs: the processes' gain is separate cores, not separate GILs.
    assert why.startswith("Why: each worker process has its own interpreter (1.82x against its serial call")
    assert "GIL" not in why and "so the work ran on separate cores" in why
    assert "array" not in why and "cop" not in why  # the CPU loop moves no data
    _no_sentence_contradicts([why])


# -- ranges, ideals, relatives --------------------------------------------------------------------

def test_a_range_covers_every_row_it_describes():
    rows = (_cpu_rows() + _cpu_rows(kern_threads=(0.13, 0.25), pure_threads=(0.25, 0.25), workload="transform")
            + _cpu_rows(kern_threads=(0.115, 0.22), pure_threads=(0.21, 0.21), workload="reduction"))
    doc = _doc(rows)
    lines = summary(doc)
    kern = [r["speedup"] for r in rows if r["size"] == "large" and r["group_workers"] == 2
            and r["implementation"] == "c-extension" and r["strategy"] == "threads"]
    pure = [r["speedup"] for r in rows if r["size"] == "large" and r["group_workers"] == 2
            and r["implementation"] == "pure-python" and r["strategy"] == "threads"]
    assert ratios(lines[0]) == [round(min(kern), 2), round(max(kern), 2)]
    assert ratios(lines[1]) == [round(min(pure), 2), round(max(pure), 2)]
    assert "0.80x to 1.00x" in lines[1] and "the GIL's fingerprint in every one" in lines[1]
    _no_sentence_contradicts(lines)


def test_a_summary_with_one_pure_row_off_the_fingerprint_says_so_and_asks_for_a_repeat():
    rows = _cpu_rows() + _cpu_rows(pure_threads=(0.4, 0.232), workload="transform")
    line = summary(_doc(rows))[1]
    assert "1 of 2 show the GIL's fingerprint" in line and "repeat the run" in line
    assert "0.50x to 1.00x" in line and "0.58 to 1.00 CPU seconds" in line


@pytest.mark.parametrize("spread, word", [(0.02, "a cache effect"), (0.3, "noise, not a real gain")])
def test_a_speedup_above_the_ideal_is_called_out(spread, word):
    doc = _doc(_cpu_rows(kern_threads=(0.085, 0.17), spread=spread))  # 2.35x on 2 cores
    above = _say(doc, "is above the ideal")
    assert above and all("2.35x is above the ideal 2.00x" in s for s in above)
    assert all(word in s for s in above)
    _no_sentence_contradicts(_all_words(doc))


def test_every_ratio_says_what_it_is_relative_to():
    doc = _doc(_cpu_rows())
    for s in sentences(_all_words(doc)):
        if not ratios(s):
            continue
        assert re.search(r"against|the .*(time|speedup|rate|'s)|of the ideal|in elements per second|ideal", s), s


def test_old_results_without_a_machine_reading_still_load_and_read_the_same_way():
    with open(checkout_path(*COMMITTED), encoding="utf-8") as f:
        doc = json.load(f)
    doc["schema"] = "gilfree-bench/1"
    doc.pop("machine", None)
    text = markdown(complete(doc))
    assert "Load: not recorded (a result of schema gilfree-bench/1)." in text
    assert machine_line(doc) is None and "Busy machine" not in text
    _no_sentence_contradicts(_all_words(doc))


# -- the headline ratios --------------------------------------------------------------------------

def _reduction_rows():
    big = dict(elements=50_000_000, nbytes=400_000_000)
    rows = []
    for k in (1, 2):
        rows += [_row("reduction", "large", "c-extension", "serial", k, 0.040, 0.040, **big),
                 _row("reduction", "large", "numpy", "numpy", k, 0.0138, 0.040, **big)]
    rows += [
        _row("reduction", "large", "c-extension", "threads", 2, 0.021, 0.040, cpu=0.042, **big),
        _row("reduction", "large", "c-extension", "shared-memory", 2, 0.045, 0.040, **big),
        _row("reduction", "large", "c-extension", "processes", 2, 1.163, 0.040, **big),
        _row("reduction", "large", "c-extension", "joblib-loky", 2, 0.187, 0.040, **big),
    ]
    return rows


def test_the_cost_of_pickling_is_named_with_its_figures():
    lines = verdicts(_doc(_reduction_rows()))["reduction"]
    assert "fastest was numpy's own call" in lines[0]
    assert any("pickling copies 400 MB" in line and "26x the shared-memory time" in line for line in lines)
    _no_sentence_contradicts(lines)


def test_headline_ratios_are_computed_from_the_rows():
    got = {h["ratio"]: h["value"] for h in headlines(_doc(_reduction_rows() + _cpu_rows()))}
    assert got["shared memory vs pickled chunks, large reduction"] == pytest.approx(1.163 / 0.045)
    assert got["shared memory vs joblib loky, large reduction"] == pytest.approx(0.187 / 0.045)
    assert got["nogil threads vs shared memory, large reduction"] == pytest.approx(0.045 / 0.021)
    assert got["nogil threads vs numpy.sum (1 thread), large reduction"] == pytest.approx(0.0138 / 0.021)
    assert got["nogil kernel threads, 2 workers vs 1"] == pytest.approx((0.2 / 0.101) / 1.0)
    assert got["pure-Python threads, 2 workers vs serial"] == pytest.approx(1.0)


def _full(doc):
    """A hand-made document with everything the Markdown report reads besides the rows."""
    doc["environment"].update(cpu="test CPU", usable_cores=2, os="test OS", python="3.x",
                              python_implementation="CPython", cpu_time_scope="process tree", date_utc="now")
    sizes = sorted({r["size"] for r in doc["rows"]})
    doc["plan"].update(label="test", repeats=5, chunks_per_worker=4, sizes=sizes,
                       sizes_elements={w: {s: {"c-extension": 1000} for s in sizes} for w in doc["plan"]["workloads"]})
    doc.update(seconds=1.0, workloads={w: {"title": w, "nature": "test", "bytes_per_element": 8}
                                       for w in doc["plan"]["workloads"]},
               strategies={}, startup=[], twin_checks=[])
    return doc


def test_the_readme_quotes_the_summary_of_the_committed_run_as_the_verdict_words_it():
    """The README's "in short" is the verdict's own summary of bench/results/bench-2core: after a new
    run is committed, paste `gilfree bench --from bench/results/bench-2core/bench.json`'s "In short"."""
    readme = checkout_path("README.md")
    with open(checkout_path(*COMMITTED), encoding="utf-8") as f:
        doc = json.load(f)
    with open(readme, encoding="utf-8") as f:
        text = " ".join(f.read().split())
    assert " ".join(" ".join(summary(doc)).split()) in text


# -- the winner within its spread, while other rows beat their serial call ------------------------

def _reduction_cell(winner_spread=1.53):
    """The committed bench's reduction at 2 workers, in short: the kernel's threads are fastest at 1.32x
    within a 153% spread, while three pure-Python process rows beat their own serial call beyond theirs."""
    big, small = dict(elements=50_000_000, nbytes=400_000_000), dict(elements=500_000, nbytes=4_000_000)
    return [_row("reduction", "large", "c-extension", "serial", 2, 0.0172, 0.0172, spread=0.22, **big),
            _row("reduction", "large", "c-extension", "threads", 2, 0.013, 0.0172, cpu=0.024,
                 spread=winner_spread, **big),
            _row("reduction", "large", "pure-python", "serial", 2, 0.4, 0.4, spread=0.1, **small),
            _row("reduction", "large", "pure-python", "processes", 2, 0.235, 0.4, cpu=0.42, spread=0.2, **small),
            _row("reduction", "large", "pure-python", "failsafe", 2, 0.242, 0.4, cpu=0.5, spread=0.2, **small),
            _row("reduction", "large", "pure-python", "mmap", 2, 0.227, 0.4, cpu=0.45, spread=0.25, **small),
            _row("reduction", "large", "pure-python", "threads", 2, 0.41, 0.4, cpu=0.41, spread=0.1, **small)]


def test_a_winner_within_its_spread_does_not_speak_for_rows_that_beat_their_serial_call():
    why = verdicts(_doc(_reduction_cell()))["reduction"][1]
    assert "nothing here" not in why and "no parallel variant here beat" not in why
    assert why.startswith("Why: the fastest, the nogil kernel on threads, ran at 1.32x against its serial call, "
                          "within the repeats' spread (153%)")
    assert "3 other parallel variants did beat the serial call beyond the spread, each against its own" in why
    assert {name for name in re.findall(r"pure Python on (\w+) \d", why)} == {"processes", "failsafe", "mmap"}
    _no_sentence_contradicts([why])  # every row listed is beyond its own spread, parsed back


def test_the_committed_run_says_no_row_beat_serial_only_when_none_did():
    with open(checkout_path(*COMMITTED), encoding="utf-8") as f:
        doc = json.load(f)
    k = 2
    for workload, lines in verdicts(doc).items():
        if not lines[1].startswith("Why: no parallel variant here beat"):
            continue
        cell = [r for r in doc["rows"] if r["ok"] and r["workload"] == workload and r["size"] == "large"
                and r["group_workers"] == k]
        for r in cell:
            serial = next(s for s in cell if s["strategy"] == "serial" and s["implementation"] == r["implementation"])
            if r["strategy"] not in ("serial", "numpy"):
                assert r["speedup"] <= 1 + noise_of(r["spread"], serial["spread"]), (workload, r["strategy"])
    _no_sentence_contradicts(_all_words(doc))


# -- what the tasks carried: from the transport and the workload's data ---------------------------

@pytest.mark.parametrize("workload, views, copying", [
    ("cpu", False, None),  # no array at all
    ("reduction", True, ", and copying the data,"),
    ("transform", True, ", and copying the data both ways,"),  # changed in place: it comes back
])
def test_what_the_tasks_carried_follows_the_transport_and_the_workload(workload, views, copying):
    lines = verdicts(_doc(_cpu_rows(workload=workload)))[workload]
    why = lines[1]
    assert why.startswith("Why: the kernel releases the GIL")
    assert ("on views of the caller's array, nothing copied" in why) is views
    crossover = next(line for line in lines if line.startswith("Crossover (c-extension)"))
    if copying is None:
        assert "array" not in why and "cop" not in why and "cop" not in crossover
    else:
        assert copying in crossover
    _no_sentence_contradicts(lines)  # no start-up: the executors open before the timing


@pytest.mark.parametrize("strategy, carried", [
    ("processes", "each was sent its chunk by copy and back, and copying cost less than the parallel run saved"),
    ("shared-memory", "each reads the data where it lies: only a handle or an offset crosses to it"),
])
def test_processes_that_win_an_in_place_transform_say_how_its_data_travelled(strategy, carried):
    rows = [_row("transform", "large", "c-extension", "serial", 2, 0.2, 0.2),
            _row("transform", "large", "c-extension", strategy, 2, 0.11, 0.2, cpu=0.21)]
    why = verdicts(_doc(rows))["transform"][1]
    assert why.endswith(carried + ".")
    _no_sentence_contradicts([why])


@pytest.mark.parametrize("impl, gil, own", [
    ("pure-python", True, "its own interpreter and GIL ("),
    ("pure-python", False, "its own interpreter ("),  # a free-threaded interpreter: no GIL to own
    ("c-extension", True, "its own interpreter ("),   # the kernel runs without the GIL anyway
])
def test_a_gil_of_its_own_is_the_reason_only_for_pure_python_under_a_gil(impl, gil, own):
    rows = [_row("cpu", "large", impl, "serial", 2, 0.2, 0.2),
            _row("cpu", "large", impl, "processes", 2, 0.11, 0.2, cpu=0.21)]
    why = verdicts(_doc(rows, gil=gil))["cpu"][1]
    assert own in why and why.count("GIL") == own.count("GIL")
    assert "so the work ran on separate cores" in why
    _no_sentence_contradicts([why])


# -- oversubscribed: a cause only with the CPU figures that hold it --------------------------------

def _oversubscribed(two, four):
    """Kernel threads on 2 and on 4 workers (2 cores): (seconds, CPU seconds per wall second or None) each."""
    rows = [_row("cpu", "large", "c-extension", "serial", k, 0.2, 0.2) for k in (2, 4)]
    for k, (seconds, cpw) in ((2, two), (4, four)):
        row = _row("cpu", "large", "c-extension", "threads", k, seconds, 0.2, cpu=seconds * (cpw or 1))
        if cpw is None:
            row["cpu_per_wall"] = None
        rows.append(row)
    return next(line for line in verdicts(_doc(rows))["cpu"] if line.startswith("Oversubscribed"))


def _over_cpus(line):
    return [float(v) for v in re.findall(r"(\d+\.\d+)(?: CPU seconds per second of wall time were busy)? with \d\b",
                                          line)]


def test_oversubscribed_and_slower_with_no_more_cores_busy_shared_the_cores():
    line = _oversubscribed((0.105, 1.9), (0.14, 1.9))
    assert "slower beyond the repeats' spread (5%)" in line and "only shared them" in line
    four, two = _over_cpus(line)
    assert four <= two * 1.05
    assert "switching" not in line and "smaller chunks" not in line


def test_oversubscribed_and_faster_with_more_cores_busy_filled_idle_moments():
    line = _oversubscribed((0.15, 1.3), (0.11, 1.85))
    assert "faster beyond the repeats' spread (5%)" in line and "filled moments the cores had sat idle" in line
    four, two = _over_cpus(line)
    assert four > two * 1.05


@pytest.mark.parametrize("two, four", [((0.105, 1.5), (0.14, 1.99)), ((0.15, 1.85), (0.11, 1.85))],
                         ids=["slower yet busier", "faster yet no busier"])
def test_oversubscribed_figures_that_hold_no_cause_name_none(two, four):
    line = _oversubscribed(two, four)
    assert "do not explain" in line and "repeat the run" in line
    assert "shared them" not in line and "filled moments" not in line


def test_oversubscribed_without_cpu_time_names_no_cause():
    line = _oversubscribed((0.105, None), (0.14, None))
    assert line.endswith("slower beyond the repeats' spread (5%); CPU time was not measured, so no cause is named.")


# -- the rest of the reviewer's list ---------------------------------------------------------------

def test_the_headlines_and_the_verdict_read_a_run_without_cpu_time():
    rows = _cpu_rows()
    for r in rows:
        r["cpu_per_wall"] = None
    doc = _doc(rows)
    details = {h["ratio"]: h["detail"] for h in headlines(doc)}
    assert details["pure-Python threads, 2 workers vs serial"] == "CPU seconds per wall second: not measured"
    assert not _fingerprint_claims(doc) and not _say(doc, "ran at once")
    _no_sentence_contradicts(_all_words(doc))


def test_pickling_an_in_place_transform_counts_the_data_there_and_back():
    rows = [dict(r, workload="transform") for r in _reduction_rows()]
    lines = verdicts(_doc(rows))["transform"]
    assert any("pickling copies 400 MB to the workers and 400 MB back through pipes" in line for line in lines)
    reduction = verdicts(_doc(_reduction_rows()))["reduction"]
    assert any("pickling copies 400 MB to the workers through pipes" in line for line in reduction)
    assert not any("back" in line for line in reduction if "pickling copies" in line)


def test_a_share_of_the_ideal_above_100_percent_is_never_printed():
    lines = _all_words(_doc(_cpu_rows(kern_threads=(0.085, 0.17))))  # 2.35x on 2 cores
    kernel = sentences([line for line in lines if line.startswith("The same threads on the nogil kernel")])
    assert kernel and "of the ideal" not in kernel[0]
    assert any("2.35x is above the ideal 2.00x" in s for s in kernel)


# -- one repeat: no spread to judge by ------------------------------------------------------------

def test_a_run_of_one_repeat_claims_no_judgement_by_a_spread():
    rows = [dict(r, wall_s=r["wall_s"][:1], cpu_s=r["cpu_s"][:1], spread=0.0)
            for r in _cpu_rows() + _cpu_rows(kern_threads=(0.085, 0.17), workload="transform")]
    rows += [_row("cpu", "large", "c-extension", "threads", 4, 0.12, 0.2, cpu=0.23, repeats=1, spread=0.0),
             _row("cpu", "large", "c-extension", "serial", 4, 0.2, 0.2, repeats=1, spread=0.0)]
    doc = _doc(rows)
    words = _all_words(doc)
    for s in sentences(words):
        assert not re.search(r"(beyond|within|more than|less than) the (repeats' )?spread", s), s
        assert "releases the GIL" not in s and "own interpreter" not in s, s
    said = " ".join(words)
    assert said.count("one repeat gives no spread to judge by") >= 5
    assert "so no crossover is named" in said and "so the difference is not judged" in said
    assert ("the best worker processes ran at 0.67x against serial with processes at the medium size, 1.90x "
            "against serial with processes at the large size; one repeat gives no spread" in said)
    assert "2.35x is above the ideal 2.00x, and one repeat gives no spread to judge by: it may be noise" in said


def test_a_small_real_gain_of_pure_python_threads_is_not_the_gil_fingerprint():
    """1.14x with 2% spreads: within the fingerprint's threshold, but beyond the noise: a gain, not 'no speedup'."""
    doc = _doc(_cpu_rows(pure_threads=(0.2 / 1.14, 0.2 / 1.14)))
    assert not _fingerprint_claims(doc)
    pure = _say(doc, "ure-Python threads ran at 1.14x against serial")
    assert pure and all("repeat the run" in s for s in pure)
    assert any("none of them shows the GIL's fingerprint" in s for s in summary(doc))


# -- a cluster's row (chunks by description) beside shared memory -----------------------------------

def _cluster_doc(dask_s, shm_s=0.4, *, per_task=0.01, spread=0.02):
    size = {"spread": spread, "elements": 8 * 1024, "nbytes": 8 * 8 * 1024}  # 8 chunks of a block each
    rows = [_row("pipeline", "large", "c-extension", "serial", 2, 0.5, 0.5, **size),
            _row("pipeline", "large", "c-extension", "shared-memory", 2, shm_s, 0.5, **size),
            _row("pipeline", "large", "c-extension", "dask", 2, dask_s, 0.5, **size)]
    rows[2]["transport"] = "description"
    doc = _doc(rows)
    doc["startup"] = [{"executor": "dask", "workers": 2, "seconds": 1.4, "per_task_s": per_task},
                      {"executor": "processes", "workers": 2, "seconds": 0.04, "per_task_s": 0.0006}]
    return doc


def _cluster_words(doc):
    return [line for line in verdicts(doc)["pipeline"] if line.startswith(("On dask", "Its own costs"))]


def test_a_cluster_close_to_shared_memory_is_called_so_and_its_costs_are_counted():
    head, costs = _cluster_words(_cluster_doc(0.5))
    assert "1.25x the shared-memory processes'" in head and "within 1.5x of it" in head
    # 8 chunk tasks and one per worker (the second round) at 10 ms of a worker's time on 2 cores
    assert "start-up 1,400 ms" in costs and "the 10 tasks of a call account for about 50 ms of the 100 ms gap (50%)" in costs
    assert "most of it" in costs
    head, costs = _cluster_words(_cluster_doc(0.5, per_task=0.004))
    assert "about 20 ms of the 100 ms gap (20%)" in costs
    assert "the other 80 ms is not per-task overhead" in costs and "most of it" not in costs


def test_a_cluster_far_behind_is_not_called_close():
    head, costs = _cluster_words(_cluster_doc(1.2, per_task=0.2))
    assert "3.00x" in head and "more than 1.5x" in head and "within" not in head
    assert "most of it" in costs  # 1,000 ms of the 800 ms gap


def test_a_cluster_within_the_spread_is_not_ranked():
    head, _ = _cluster_words(_cluster_doc(0.42, spread=0.2))
    assert "the same within the repeats' spread" in head and "1.5x" not in head
