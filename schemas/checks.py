"""Check bodies shared by several schemas."""

from __future__ import annotations

import polars as pl
from pandera.polars import PolarsData


def not_blank(data: PolarsData) -> pl.LazyFrame:
    """True where the column's text has at least one non-whitespace character."""
    return data.lazyframe.select(pl.col(data.key).str.strip_chars().str.len_chars() > 0)
