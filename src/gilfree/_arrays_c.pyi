"""Type stub for the compiled twin: the same signatures as ``gilfree._arrays_py``."""

from gilfree._arrays_py import (
    chunk_stats as chunk_stats,
    fill_uniform as fill_uniform,
    filter_greater as filter_greater,
    transform_inplace as transform_inplace,
)

__all__ = ["chunk_stats", "fill_uniform", "filter_greater", "transform_inplace"]
