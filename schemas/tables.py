"""Training tables a team brings: positive pairs, triplets, STS pairs, NLI pairs and hard-negative sets.

Each model is strict and ordered: sentence-transformers reads training columns by position, so a stray column would
silently become a negative.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.polars import PolarsData

from schemas.checks import not_blank

NLI_LABELS = ["entailment", "neutral", "contradiction"]


class PositivePairSchema(pa.DataFrameModel):
    """(anchor, positive): two texts that mean the same thing or answer each other."""

    anchor: str
    positive: str

    class Config:
        strict = True
        ordered = True

    @pa.check("anchor", "positive", name="not_blank")
    def _not_blank(cls, data: PolarsData) -> pl.LazyFrame:
        return not_blank(data)

    @pa.dataframe_check(name="anchor_is_not_positive")
    def anchor_is_not_positive(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("anchor").str.strip_chars() != pl.col("positive").str.strip_chars())


class TripletSchema(PositivePairSchema):
    """(anchor, positive, negative)."""

    negative: str

    @pa.check("negative", name="not_blank")
    def _negative_not_blank(cls, data: PolarsData) -> pl.LazyFrame:
        return not_blank(data)

    @pa.dataframe_check(name="negative_is_not_positive")
    def negative_is_not_positive(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("negative").str.strip_chars() != pl.col("positive").str.strip_chars())


class STSSchema(pa.DataFrameModel):
    """(sentence1, sentence2, score) with the score already normalised to 0–5."""

    sentence1: str
    sentence2: str
    score: float = pa.Field(ge=0.0, le=5.0)

    class Config:
        strict = True
        ordered = True

    @pa.check("sentence1", "sentence2", name="not_blank")
    def _not_blank(cls, data: PolarsData) -> pl.LazyFrame:
        return not_blank(data)


class NLISchema(pa.DataFrameModel):
    """(premise, hypothesis, label) with the label spelled out."""

    premise: str
    hypothesis: str
    label: str = pa.Field(isin=NLI_LABELS)

    class Config:
        strict = True
        ordered = True

    @pa.check("premise", "hypothesis", name="not_blank")
    def _not_blank(cls, data: PolarsData) -> pl.LazyFrame:
        return not_blank(data)

    # a sentence entails itself, so a hypothesis that repeats its premise is legal when labelled entailment (SNLI dev
    # has four such pairs; the reader warns and the converters do not train on them); labelled neutral or
    # contradiction it is an annotation error
    @pa.dataframe_check(name="hypothesis_is_not_premise")
    def hypothesis_is_not_premise(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (pl.col("premise").str.strip_chars() != pl.col("hypothesis").str.strip_chars())
            | (pl.col("label") == "entailment")
        )


class HardNegativeSchema(pa.DataFrameModel):
    """(query, positive, negatives): a list of texts that look relevant to the query and are not."""

    query: str
    positive: str
    negatives: list[str]

    class Config:
        strict = True
        ordered = True

    @pa.check("query", "positive", name="not_blank")
    def _not_blank(cls, data: PolarsData) -> pl.LazyFrame:
        return not_blank(data)

    @pa.check("negatives", name="has_negatives")
    def _has_negatives(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("negatives").list.len() > 0)

    @pa.dataframe_check(name="negatives_are_not_positive")
    def negatives_are_not_positive(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(~pl.col("negatives").list.contains(pl.col("positive")))
