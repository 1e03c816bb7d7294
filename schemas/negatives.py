"""Mined hard negatives, one row per (pair, negative), with where each came from."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.polars import PolarsData


class MinedNegativeSchema(pa.DataFrameModel):
    """`slot` orders the negatives of one pair within a curriculum `stage` (0 without one); `strategy`, `rank`, the
    `origin`, scores and `difficulty` (score / positive score) record why each was picked."""

    stage: int = pa.Field(ge=0)
    query_id: str
    positive_id: str
    slot: int = pa.Field(ge=0)
    negative_id: str
    strategy: (
        str  # a registered mining strategy or "random"; tasks.mining.negative_schema() checks it against the index
    )
    origin: str = pa.Field(isin=["top_k", "deeper", "relaxed", "random"])  # top_k: the configured window; deeper,
    # relaxed: widening for a pair the filters left short (further down the list, a looser margin); random: the fill
    rank: int = pa.Field(ge=-1)  # rank in the strategy's list (0 = best); -1 for the random fill
    score: float = pa.Field(nullable=True)
    positive_score: float = pa.Field(nullable=True)
    difficulty: float = pa.Field(nullable=True)  # null for the random fill and where the positive has no score

    class Config:
        strict = True
        ordered = True
        unique = ["stage", "query_id", "positive_id", "slot"]

    @pa.dataframe_check
    def negative_is_not_positive(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("negative_id") != pl.col("positive_id"))
