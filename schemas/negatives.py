"""Mined hard negatives, one row per (pair, negative), with where each came from."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.polars import PolarsData


class MinedNegativeSchema(pa.DataFrameModel):
    """`slot` orders the negatives of one pair; `strategy`, `rank` and the scores record why each was picked."""

    query_id: str
    positive_id: str
    slot: int = pa.Field(ge=0)
    negative_id: str
    strategy: str = pa.Field(isin=["dense", "bm25", "random"])
    rank: int = pa.Field(ge=-1)  # retriever rank (0 = best); -1 for the random fill
    score: float = pa.Field(nullable=True)
    positive_score: float = pa.Field(nullable=True)

    class Config:
        strict = True
        ordered = True
        unique = ["query_id", "positive_id", "slot"]

    @pa.dataframe_check
    def negative_is_not_positive(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("negative_id") != pl.col("positive_id"))
