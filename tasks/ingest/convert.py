"""Converters from validated tables to the rows the trainer reads (columns by position)."""

from __future__ import annotations

import logging

import polars as pl

logger = logging.getLogger(__name__)


def nli_to_triplets(nli: pl.DataFrame, keep_neutral: bool = False) -> pl.DataFrame:
    """(premise, entailed hypothesis, contradicting hypothesis) for every such combination under one premise.

    Input: NLISchema (premise, hypothesis, label). Output: (anchor, positive, negative).
    With keep_neutral, neutral hypotheses also serve as negatives (they are not implied by the premise).
    """
    negatives = ["contradiction", "neutral"] if keep_neutral else ["contradiction"]
    positive = nli.filter(pl.col("label") == "entailment").select(anchor="premise", positive="hypothesis")
    negative = nli.filter(pl.col("label").is_in(negatives)).select(anchor="premise", negative="hypothesis")
    return (
        positive.join(negative, on="anchor", how="inner", maintain_order="left")
        .unique(maintain_order=True)
        .select("anchor", "positive", "negative")
    )


def sts_rows(sts: pl.DataFrame) -> pl.DataFrame:
    """(sentence1, sentence2, score) with the 0–5 score scaled to 0–1, as CoSENT and CosineSimilarityLoss expect."""
    return sts.select("sentence1", "sentence2", (pl.col("score") / 5.0).alias("score"))


def hard_negative_rows(sets: pl.DataFrame, num_negatives: int | None = None) -> pl.DataFrame:
    """(anchor, positive, negative_1 … negative_n) with n = num_negatives, or the fewest negatives any row has.

    Input: HardNegativeSchema (query, positive, negatives). Rows keep their first n negatives; how many were left
    unused is logged, since the trainer needs the same number of columns in every row.
    """
    lengths = sets["negatives"].list.len()
    n = num_negatives if num_negatives is not None else int(lengths.min() or 0)
    short = int((lengths < n).sum())
    if short:
        raise ValueError(f"{short} rows have fewer than {n} negatives; lower num_negatives or fill those rows")
    unused = int((lengths - n).sum())
    if unused:
        logger.info("hard-negative sets: using %d negatives per row, %d further negatives unused", n, unused)
    return sets.select(
        anchor="query",
        positive="positive",
        **{f"negative_{i + 1}": pl.col("negatives").list.get(i) for i in range(n)},
    )
