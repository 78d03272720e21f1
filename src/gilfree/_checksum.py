"""The mergeable byte checksum that both byte-kernel twins return.

A Fletcher-style pair of 64-bit sums over the bytes ``x[0] .. x[n-1]``::

    a = sum(x[i])                      (mod 2**64)
    b = sum((n - i) * x[i])            (mod 2**64)   -- the running total of a, byte by byte

Unlike a CRC, two adjacent pieces combine with a few integer operations, so workers can checksum
slices of one file or mmap independently and the parent can join them into exactly the checksum
of the whole, with no float and no rounding anywhere.
"""

from __future__ import annotations

from typing import Iterable, NamedTuple

__all__ = ["Checksum", "combine_checksums"]

_MASK64 = 0xFFFFFFFFFFFFFFFF


class Checksum(NamedTuple):
    """Length in bytes and the two 64-bit sums of a Fletcher-style checksum."""

    length: int
    a: int
    b: int

    @property
    def value(self) -> int:
        """The checksum as one 128-bit integer, ``b`` in the high half."""
        return (self.b << 64) | self.a

    def hexdigest(self) -> str:
        """The 128-bit value as 32 hexadecimal digits."""
        return f"{self.value:032x}"

    def combine(self, other: "Checksum") -> "Checksum":
        """The checksum of this data followed by ``other``'s."""
        _check_checksum(other, "other")
        return Checksum(
            self.length + other.length,
            (self.a + other.a) & _MASK64,
            (self.b + other.length * self.a + other.b) & _MASK64,
        )


def _check_checksum(value: object, name: str) -> None:
    # A plain (length, a, b) tuple would combine into a wrong answer or an AttributeError.
    if not isinstance(value, Checksum):
        raise TypeError(f"{name} must be a Checksum (from checksum or combine_checksums), "
                        f"not {type(value).__name__}")


def combine_checksums(parts: Iterable[Checksum]) -> Checksum:
    """Join the checksums of consecutive pieces, in order, into the checksum of the whole."""
    result = None
    for i, part in enumerate(parts):
        _check_checksum(part, f"parts[{i}]")
        result = part if result is None else result.combine(part)
    if result is None:
        raise ValueError("combine_checksums needs at least one Checksum")
    return result
