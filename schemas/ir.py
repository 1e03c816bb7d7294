"""IR ranking data in the BEIR layout: corpus, queries and qrels, after parsing."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.polars import PolarsData

from schemas.checks import not_blank


class CorpusSchema(pa.DataFrameModel):
    """One document per row; `text` is the title and body joined, as the model sees it; `title` (optional) the title
    alone, which each passage of a long document repeats."""

    doc_id: str = pa.Field(unique=True)
    text: str
    title: str | None

    class Config:
        strict = True
        ordered = True

    @pa.check("doc_id", "text", name="not_blank")
    def _not_blank(cls, data: PolarsData) -> pl.LazyFrame:
        return not_blank(data)


class QueriesSchema(pa.DataFrameModel):
    """One query per row."""

    query_id: str = pa.Field(unique=True)
    text: str

    class Config:
        strict = True
        ordered = True

    @pa.check("query_id", "text", name="not_blank")
    def _not_blank(cls, data: PolarsData) -> pl.LazyFrame:
        return not_blank(data)


class QrelsSchema(pa.DataFrameModel):
    """Relevance judgements: graded integer score per (query, document); each pair judged once."""

    query_id: str
    doc_id: str
    score: int = pa.Field(ge=0)

    class Config:
        strict = True
        ordered = True
        unique = ["query_id", "doc_id"]

    @pa.check("query_id", "doc_id", name="not_blank")
    def _not_blank(cls, data: PolarsData) -> pl.LazyFrame:
        return not_blank(data)
