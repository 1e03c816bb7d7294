"""Train/test leakage in IR data: the same query text, or the same (query text, document) pair, in both splits.

Leakage is reported, not silently fixed; `data.on_leakage` decides what a run does about it.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Leak:
    train_query: str
    test_query: str
    text: str
    shared_docs: tuple[str, ...]  # documents judged relevant for the query in both splits

    def __str__(self) -> str:
        docs = f", both judging document(s) {', '.join(self.shared_docs)} relevant" if self.shared_docs else ""
        return f"query {self.train_query} (train) and query {self.test_query} (test) have the same text{docs}: {self.text[:80]!r}"


def find_leaks(queries: pl.DataFrame, train: pl.DataFrame, test: pl.DataFrame, min_relevance: int = 1) -> list[Leak]:
    """Pairs of train and test queries whose text is identical (after trimming whitespace and case)."""
    key = queries.select("query_id", pl.col("text").str.strip_chars().str.to_lowercase().alias("key"), "text")
    sides = {}
    for name, qrels in (("train", train), ("test", test)):
        relevant = qrels.filter(pl.col("score") >= min_relevance)
        docs = relevant.group_by("query_id").agg(pl.col("doc_id").alias(f"{name}_docs"))
        sides[name] = key.filter(pl.col("query_id").is_in(qrels["query_id"].unique().to_list())).join(
            docs, on="query_id", how="left"
        )
    both = sides["train"].join(sides["test"], on="key", suffix="_test")
    leaks = []
    for row in both.sort("query_id", "query_id_test").iter_rows(named=True):
        shared = sorted(set(row["train_docs"] or []) & set(row["test_docs"] or []))
        leaks.append(Leak(row["query_id"], row["query_id_test"], row["text"], tuple(shared)))
    return leaks


def exclude_from_test(test: pl.DataFrame, leaks: list[Leak]) -> pl.DataFrame:
    """The test qrels without the leaked queries."""
    return test.filter(~pl.col("query_id").is_in([leak.test_query for leak in leaks]))
