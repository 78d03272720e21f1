"""The rules from figures to words: each judgement holds only when its figures support it."""

from __future__ import annotations

import pytest

from gilfree import figures as f
from _words import percents, ratios


@pytest.mark.parametrize("speedup, cpu_per_wall, expected", [
    (1.0, 1.0, True),      # one core busy, no gain: taking turns
    (0.9, 0.95, True),
    (0.50, 0.58, False),   # the case: half a core busy is waiting, not the GIL
    (1.15, 1.0, True),
    (1.16, 1.0, False),    # a real (if small) speedup is not the fingerprint
    (1.9, 1.95, False),    # it scaled
    (1.0, None, False),    # no CPU figure, no claim
])
def test_gil_fingerprint(speedup: float, cpu_per_wall: float | None, expected: bool) -> None:
    assert f.gil_fingerprint(speedup, cpu_per_wall) is expected


@pytest.mark.parametrize("speedup, spread, expected", [
    (1.14, 0.02, False),   # beyond a 2% spread (and the 5% floor): a small real gain, not "no speedup"
    (1.14, 0.20, True),    # within a 20% spread: no speedup that the repeats can tell
    (1.04, 0.02, True),    # within the floor of a quiet machine
    (0.90, 0.02, True),    # slower is never a gain
    (1.14, None, True),    # no spread given: the threshold alone, as before
])
def test_gil_fingerprint_with_a_spread_needs_the_speedup_within_it(speedup: float, spread: float | None,
                                                                   expected: bool) -> None:
    assert f.gil_fingerprint(speedup, 1.0, spread) is expected


def test_gil_reading_passes_its_spread_to_the_fingerprint() -> None:
    assert f.gil_reading(1.14, 1.0, 2, True, spread=0.02) == "unclear"
    assert f.gil_reading(1.14, 1.0, 2, True, spread=0.2) == "took turns"
    assert f.gil_reading(1.14, 1.0, 2, True) == "took turns"  # no spread: the threshold alone


@pytest.mark.parametrize("speedup, cpu, gil, expected", [
    (1.0, 1.0, True, "took turns"),
    (0.5, 0.58, True, "waited"),
    (1.9, 1.95, True, "scaled"),
    (1.9, 1.95, False, "no gil"),
    (1.4, 1.0, True, "unclear"),
])
def test_gil_reading(speedup: float, cpu: float, gil: bool, expected: str) -> None:
    assert f.gil_reading(speedup, cpu, 2, gil, spread=0.05) == expected


def test_beyond_noise_uses_the_worst_spread_and_a_floor() -> None:
    assert f.beyond_noise(1.2, 0.1, 0.05)
    assert not f.beyond_noise(1.2, 0.1, 0.25)
    assert not f.beyond_noise(1.04)  # below the floor of a quiet machine
    assert f.clearly_faster(1.0, 0.05, 2.0, 0.05)
    assert not f.clearly_faster(1.0, 0.3, 1.2, 0.05)


def test_span_covers_every_value() -> None:
    values = [0.97, 1.82, 0.94, 0.91]
    text = f.span(values)
    low, high = ratios(text)
    assert low <= min(values) + 0.005 and high >= max(values) - 0.005
    assert f.span([1.0, 1.001]) == "1.00x"
    with pytest.raises(ValueError):
        f.span([])


def test_above_ideal_is_called_out_as_noise_or_a_cache_effect() -> None:
    assert f.above_ideal(1.9, 2) is None
    noise = f.above_ideal(2.05, 2, 0.1)
    assert noise is not None and "noise" in noise
    cache = f.above_ideal(2.21, 2, 0.05)
    assert cache is not None and "cache" in cache and ratios(cache)[:2] == [2.21, 2.0]
    assert percents(cache) == [5.0]


def test_ratios_name_their_reference_and_advice_names_what_was_seen() -> None:
    assert f.ratio(1.84, "serial") == "1.84x against serial"
    advice = f.repeat_advice("threads ran at 1.40x")
    assert advice.startswith("Threads ran at 1.40x") and "repeat" in advice


def test_numbers_print_the_way_users_read_them() -> None:
    assert [f.x(v) for v in (1.234, 35.2, 1204.0)] == ["1.23x", "35x", "1,204x"]
    assert [f.ms(s) for s in (0.5, 0.0015, 0.00004)] == ["500 ms", "1.5 ms", "40 us"]
    assert f.plural(1, "worker", "workers") == "1 worker" and f.plural(2, "worker", "workers") == "2 workers"
