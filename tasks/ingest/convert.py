"""Converters from validated tables to the rows the trainer reads (columns by position)."""

from __future__ import annotations

import hashlib
import logging

import polars as pl

logger = logging.getLogger(__name__)


def nli_to_triplets(nli: pl.DataFrame, keep_neutral: bool = False) -> pl.DataFrame:
    """(premise, entailed hypothesis, contradicting hypothesis) for every such combination under one premise.

    Input: NLISchema (premise, hypothesis, label). Output: (anchor, positive, negative).
    With keep_neutral, neutral hypotheses also serve as negatives (they are not implied by the premise). A hypothesis
    that repeats its premise is no positive: the reader warned about it, and it would teach nothing.
    """
    negatives = ["contradiction", "neutral"] if keep_neutral else ["contradiction"]
    positive = nli.filter((pl.col("label") == "entailment") & ~_repeats("premise", "hypothesis")).select(
        anchor="premise", positive="hypothesis"
    )
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


def _repeats(first: str, second: str) -> pl.Expr:
    """True where the two text columns are the same text (surrounding whitespace aside)."""
    return pl.col(first).str.strip_chars() == pl.col(second).str.strip_chars()


def _bucket(text: str, seed: int) -> float:
    """A number in [0, 1) fixed by the text and the seed (sha256, so it holds across versions and machines)."""
    digest = hashlib.sha256(f"{seed}:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _ids(texts: pl.Series, prefix: str) -> dict[str, str]:
    """A stable id per distinct text, in order of first appearance: q1, q2, … or d1, d2, …"""
    return {text: f"{prefix}{i + 1}" for i, text in enumerate(texts.unique(maintain_order=True).to_list())}


def table_to_ir(
    kind: str, table: pl.DataFrame, test_fraction: float, seed: int
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, pl.DataFrame], pl.DataFrame]:
    """A pairs, triplets, hard-negative or NLI table as IR data the flow mines, trains and gates on.

    Queries are the distinct anchors (premises), documents the distinct positive and negative texts (hypotheses);
    a qrels row (score 1) links each anchor to its positive (entailed hypothesis). Given negatives become labels:
    "NEGATIVE" for triplets and hard-negative sets, "CONTRADICT" for contradictions (the contradiction strategy reads
    them). The queries are split into train and test by a seeded hash of their text, so no query is in both.
    Output: corpus (doc_id, text), queries (query_id, text), {"train", "test"} qrels, labels (query_id, doc_id, label).
    """
    if kind == "sts":
        raise ValueError(
            "STS pairs have scores, not queries and documents to retrieve: train on them beside an IR or pairs dataset "
            "(data.extra), not as the dataset the gate judges on"
        )
    if kind == "nli":
        # an entailed hypothesis that repeats its premise is legal but not a judgement: a query whose relevant
        # document is its own text teaches nothing and build_pairs refuses it (validate_table warned about each)
        links = table.filter((pl.col("label") == "entailment") & ~_repeats("premise", "hypothesis")).select(
            anchor="premise", positive="hypothesis"
        )
        negatives = table.filter(pl.col("label") == "contradiction").select(
            anchor="premise", negative="hypothesis", label=pl.lit("CONTRADICT")
        )
        others = table.filter(pl.col("label") == "neutral")["hypothesis"]
    else:
        links = table.select("anchor" if kind != "hard_negatives" else pl.col("query").alias("anchor"), "positive")
        if kind == "triplets":
            negatives = table.select("anchor", "negative", label=pl.lit("NEGATIVE"))
        elif kind == "hard_negatives":
            negatives = (
                table.select(anchor="query", negative="negatives")
                .explode("negative")
                .with_columns(label=pl.lit("NEGATIVE"))
            )
        else:
            negatives = pl.DataFrame(schema={"anchor": pl.String, "negative": pl.String, "label": pl.String})
        others = pl.Series([], dtype=pl.String)
    query_of = _ids(pl.concat([links["anchor"], negatives["anchor"]]), "q")
    doc_of = _ids(pl.concat([links["positive"], negatives["negative"], others]), "d")
    queries = pl.DataFrame({"query_id": list(query_of.values()), "text": list(query_of)})
    corpus = pl.DataFrame({"doc_id": list(doc_of.values()), "text": list(doc_of)})
    qrels = links.select(
        query_id=pl.col("anchor").replace_strict(query_of),
        doc_id=pl.col("positive").replace_strict(doc_of),
        score=pl.lit(1, pl.Int64),
    ).unique(maintain_order=True)
    labels = negatives.select(
        query_id=pl.col("anchor").replace_strict(query_of),
        doc_id=pl.col("negative").replace_strict(doc_of),
        label="label",
    ).unique(maintain_order=True)
    judged = qrels["query_id"].unique(maintain_order=True)
    # a seeded hash of the query text decides its split: the same query lands in the same split on every run
    text_of = dict(zip(queries["query_id"].to_list(), queries["text"].to_list()))
    test_ids = {q for q in judged.to_list() if _bucket(text_of[q], seed) < test_fraction}
    if test_fraction > 0 and not test_ids and len(judged) > 1:
        test_ids = {judged[-1]}  # a tiny table still gets one test query
    split = {
        "train": qrels.filter(~pl.col("query_id").is_in(list(test_ids))),
        "test": qrels.filter(pl.col("query_id").is_in(list(test_ids))),
    }
    logger.info(
        "%s table as IR: %d queries, %d documents, %d train / %d test judgements, %d given negatives",
        kind,
        queries.height,
        corpus.height,
        split["train"].height,
        split["test"].height,
        labels.height,
    )
    return corpus, queries, split, labels
