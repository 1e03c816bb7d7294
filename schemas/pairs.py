"""(query, positive) training pairs built from relevance judgements."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.polars import PolarsData

from schemas.checks import not_blank


class PairSchema(pa.DataFrameModel):
    """One row per relevant (query, document); `anchor` and `positive` are the texts the trainer reads, in order."""

    query_id: str
    doc_id: str
    anchor: str
    positive: str

    class Config:
        strict = True
        ordered = True
        unique = ["query_id", "doc_id"]

    @pa.check("anchor", "positive", name="not_blank")
    def _not_blank(cls, data: PolarsData) -> pl.LazyFrame:
        return not_blank(data)

    @pa.dataframe_check
    def anchor_is_not_positive(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("anchor") != pl.col("positive"))
