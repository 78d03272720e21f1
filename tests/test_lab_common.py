"""What every lab step promises, checked on all eight at TINY size and on both implementations."""

from __future__ import annotations

import json

import pytest

from _leaks import track_segments
from gilfree.lab import STEPS, format_result, run_step, step_module


@pytest.fixture(scope="module", params=sorted(STEPS), ids=lambda n: f"step{n}")
def tiny(request):
    calls = []
    with track_segments() as seen:
        result = run_step(request.param, "tiny",
                          progress=lambda done, total, label: calls.append((done, total, label)))
    return request.param, result, calls, seen


def test_every_variant_matches_the_serial_reference_and_nothing_leaks(tiny):
    step, result, _, seen = tiny
    assert result.step == step and result.title == step_module(step).TITLE
    assert result.checks and result.ok, [name for name, ok in result.checks.items() if not ok]
    assert not seen.left


def test_progress_counts_up_to_its_total(tiny):
    _, _, calls, _ = tiny
    assert calls and all(isinstance(label, str) and label for _, _, label in calls)
    dones = [done for done, _, _ in calls]
    assert dones == sorted(dones) and dones[-1] == calls[-1][1]


def test_json_round_trip_and_plain_words(tiny):
    step, result, _, _ = tiny
    doc = json.loads(json.dumps(result.to_dict(), default=str))
    assert doc["step"] == step and doc["ok"] is True
    assert doc["env"]["implementation"] in ("c-extension", "pure-python")
    text = format_result(result)
    assert result.title in text and "Checks: all" in text
    assert result.rows and result.explanation
