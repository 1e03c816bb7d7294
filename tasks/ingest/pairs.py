"""Converter: relevance judgements → (query, positive) training pairs."""

from __future__ import annotations

import polars as pl

from schemas import PairSchema
from tasks.ingest.report import DataError, Finding


def build_pairs(
    qrels: pl.DataFrame, corpus: pl.DataFrame, queries: pl.DataFrame, min_relevance: int = 1
) -> pl.DataFrame:
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
    same = pairs.filter(pl.col("anchor").str.strip_chars() == pl.col("positive").str.strip_chars())
    if same.height:  # a query whose judged document is its own text: nothing to learn, and MNRL's labels break
        raise DataError(
            f"{same.height} judged pair(s) have a document whose text is the query's own text; remove those judgements "
            "or those documents",
            [
                Finding("qrels", 0, "query-id/corpus-id", "anchor_is_not_positive", f"{q}/{d}")
                for q, d in same.select("query_id", "doc_id").head(20).iter_rows()
            ],
        )
    return PairSchema.validate(pairs)
