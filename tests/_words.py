"""Reading figures back out of gilfree's sentences, for the tests of the words.

The simplest honest check that a sentence does not contradict its figures is often to parse the
figures it states and compare them with the ones it was given.
"""

from __future__ import annotations

import re

_RATIO = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)x\b")
_PERCENT = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)%")


def ratios(text: str) -> list[float]:
    """Every ratio written as ``1.84x`` / ``1,204x`` in ``text``, in order."""
    return [float(m.replace(",", "")) for m in _RATIO.findall(text)]


def percents(text: str) -> list[float]:
    """Every percentage in ``text``, in order, as written (``45%`` -> 45.0)."""
    return [float(m.replace(",", "")) for m in _PERCENT.findall(text)]


def sentences(lines: list[str]) -> list[str]:
    """The sentences of an explanation (lines split at '. ' that ends a sentence)."""
    out = []
    for line in lines:
        out += [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9])", line) if s.strip()]
    return out


def sentence_with(lines: list[str], needle: str) -> str | None:
    """The first sentence of ``lines`` that contains ``needle`` (case-insensitive), or None."""
    for s in sentences(lines):
        if needle.lower() in s.lower():
            return s
    return None


def opening_line(text: str) -> str:
    """The first line of a step's text after its heading (which ends with a rule of '=')."""
    lines = text.splitlines()
    rule = next(i for i, line in enumerate(lines) if line and set(line) == {"="})
    return lines[rule + 1]
