"""Converter: relevance judgements → (query, positive) training pairs."""

from __future__ import annotations

import polars as pl

from schemas import PairSchema


def build_pairs(qrels: pl.DataFrame, corpus: pl.DataFrame, queries: pl.DataFrame, min_relevance: int = 1) -> pl.DataFrame:
    """One (anchor, positive) row per judged (query, document) with score >= min_relevance, in qrels order.

    Input: qrels (query_id, doc_id, score), corpus (doc_id, text), queries (query_id, text).
    Output: PairSchema (query_id, doc_id, anchor, positive).
    """
    pairs = (
        qrels.filter(pl.col("score") >= min_relevance)
        .join(queries.rename({"text": "anchor"}), on="query_id", how="inner", maintain_order="left")
        .join(corpus.rename({"text": "positive"}), on="doc_id", how="inner", maintain_order="left")
        .select("query_id", "doc_id", "anchor", "positive")
    )
    return PairSchema.validate(pairs)
