"""Type stub for the compiled twin: the same signatures as ``gilfree._bytebuf_py``."""

from gilfree._bytebuf_py import (
    checksum as checksum,
)

__all__ = ["checksum"]
