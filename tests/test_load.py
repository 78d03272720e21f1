"""How busy the machine was: hand-made readings give the right words; real hogs are seen."""

from __future__ import annotations

import re
import sys
import time

import pytest

from _hogs import hogs
from _words import percents
from gilfree._load import BUSY_LOAD, BUSY_SHARE, LoadMeter, MachineLoad, idle_machine


def test_an_idle_machine_says_nothing() -> None:
    assert idle_machine(2).line() is None and not idle_machine(2).busy


def test_a_busy_machine_is_named_with_its_figures() -> None:
    reading = MachineLoad(cores=2, seconds=3.0, others_cores=1.6, load_before=6.43, load_after=6.9,
                          worst_spread=0.41)
    line = reading.line()
    assert reading.busy and reading.noisy and line is not None
    assert line.startswith("Busy machine:")
    assert "1.6 of its 2 cores" in line and "6.4" in line and "41%" in line and "repeat" in line


def test_noise_is_judged_by_the_typical_variant_and_the_worst_is_named() -> None:
    quiet = MachineLoad(2, 1.0, 0.0, 0.1, 0.1).with_spread([0.02, 0.04, 12.3])
    assert quiet.worst_spread == 12.3 and quiet.median_spread == 0.04 and not quiet.noisy
    busy = MachineLoad(2, 1.0, 1.5, 3.0, 3.0).with_spread([0.3, 0.5, 0.9, None])
    assert busy.noisy and busy.median_spread == 0.5
    line = busy.line()
    assert line is not None and "disagreed by 50% (the worst by 90%)" in line
    assert MachineLoad.from_dict(busy.as_dict()) == busy
    assert MachineLoad(2, 1.0, 0.0, 0.1, 0.1).with_spread([]).median_spread is None


@pytest.mark.parametrize("others, busy", [(0.0, False), (BUSY_SHARE * 2 - 0.01, False), (BUSY_SHARE * 2, True)])
def test_the_threshold_is_a_share_of_the_cores(others: float, busy: bool) -> None:
    assert MachineLoad(2, 1.0, others, 0.1, 0.1).busy is busy


def test_without_proc_the_load_average_decides() -> None:
    assert MachineLoad(2, 1.0, None, 3.5, 2.0).busy
    assert not MachineLoad(2, 1.0, None, 1.0, 1.0).busy
    assert not MachineLoad(2, 1.0, None, None, None).busy


@pytest.mark.parametrize("before, after, said", [(1.0, 3.5, "3.5 as it ended"), (3.5, 1.0, "3.5 as it began"),
                                                 (None, 3.2, "3.2 as it ended")])
def test_without_proc_the_busy_line_states_the_reading_that_made_it_busy(before, after, said) -> None:
    reading = MachineLoad(2, 1.0, None, before, after)
    line = reading.line()
    assert reading.busy and line is not None and line.startswith("Busy machine:")
    assert f"the load average was {said}" in line
    assert max(ratio for ratio in map(float, re.findall(r"was (\d+\.\d)", line))) >= BUSY_LOAD * 2


def test_a_noisy_run_on_a_machine_not_otherwise_busy_opens_with_the_noise() -> None:
    """The committed bench's case: nothing else ran, yet the repeats disagreed."""
    reading = MachineLoad(2, 250.0, 0.0, 0.73, 1.41).with_spread([0.2, 0.6, 0.7, 12.3])
    assert not reading.busy and reading.noisy
    line = reading.line()
    assert line is not None and line.startswith("Noisy run:")
    assert percents(line) == [65.0, 1230.0] and "0.0 of its 2 cores" in line
    assert line.count(". ") == 0 and line.endswith(".")  # one sentence
    assert reading.as_dict()["line"] == line


def test_a_noisy_run_without_a_median_is_judged_and_named_by_the_worst_spread() -> None:
    line = MachineLoad(2, 1.0, None, 0.1, 0.1, worst_spread=0.4).line()
    assert line is not None and line.startswith("Noisy run: repeats disagreed by up to 40%")
    assert MachineLoad(2, 1.0, 0.0, 0.1, 0.1, worst_spread=0.2).line() is None  # within NOISY_SPREAD


def test_the_reading_round_trips_through_json() -> None:
    reading = MachineLoad(2, 2.5, 1.0, 2.0, 2.2, 0.1)
    doc = reading.as_dict()
    assert doc["busy"] is True and doc["line"] == reading.line()
    assert MachineLoad.from_dict(doc) == reading


def test_a_short_run_on_a_quiet_process_tree_reads_no_other_load() -> None:
    reading = LoadMeter().stop()
    assert reading.others_cores in (None, 0.0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_two_other_processes_spinning_make_the_machine_busy(tmp_path) -> None:
    """Two busy loops that are not ours: the meter sees their CPU time, not our own work's."""
    with hogs(2, tmp_path):
        meter = LoadMeter()
        end = time.perf_counter() + 1.0
        while time.perf_counter() < end:  # our own work, which must not count as others'
            pass
        reading = meter.stop()
    assert reading.others_cores is not None
    # Two spinning processes on any machine take at least half a core between them, however
    # busy, since the scheduler shares the cores with our one thread.
    assert reading.others_cores >= 0.5, reading
