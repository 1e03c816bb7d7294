"""What every strategy reads (MiningInput) and what it hands the negative selector (Candidates)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import polars as pl


def positives_by_query(pair_query: np.ndarray, pair_doc: np.ndarray) -> dict[int, set[int]]:
    """query row -> the document rows of its pairs."""
    positives: dict[int, set[int]] = {}
    for query, doc in zip(pair_query.tolist(), pair_doc.tolist()):
        positives.setdefault(query, set()).add(doc)
    return positives


@dataclass(frozen=True)
class Candidates:
    """Ranked candidate documents from one strategy, and that strategy's score for each pair's positive.

    indices/scores: [n_queries, k] corpus row indices and scores, best first (or [n_pairs, k] when per_pair: the
    list depends on the positive, as for domain confusion); -1 pads a short list.
    positive_scores: [n_pairs] the score the same strategy gives the pair's positive document.
    labelled: the candidates are negatives by a label the user gave (contradiction), so the score filters do not
    apply and a judged document may be one, never the pair's own positive.
    """

    name: str
    indices: np.ndarray
    scores: np.ndarray
    positive_scores: np.ndarray
    per_pair: bool = False
    labelled: bool = False


@dataclass
class MiningInput:
    """The training pairs as row numbers, with texts, embeddings and labels for the strategies that need them.

    pair_query/pair_doc: [n_pairs] query row and document row of each (query, positive) pair.
    query_vectors/doc_vectors: unit-normalised base-model embeddings (None when no strategy needs them).
    evidence: label -> query row -> document rows the user's evidence labels give that label (e.g. CONTRADICT).
    doc_metadata: (doc_row, key, value) corpus metadata, e.g. a category that domain confusion groups by.
    seed: seeds what a strategy draws at random (k-means).
    judged: query row -> every document row judged relevant to it, when the pairs mined are only some of the
    judgements (mining.max_pairs_per_query): an unmined positive is still never a negative. None: the pairs' own.
    """

    query_texts: list[str]
    doc_texts: list[str]
    pair_query: np.ndarray
    pair_doc: np.ndarray
    query_vectors: np.ndarray | None = None
    doc_vectors: np.ndarray | None = None
    evidence: dict[str, dict[int, set[int]]] = field(default_factory=dict)
    doc_metadata: pl.DataFrame | None = None
    seed: int = 0
    judged: dict[int, set[int]] | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    @cached_property
    def positives_of_query(self) -> dict[int, set[int]]:
        return self.judged if self.judged is not None else positives_by_query(self.pair_query, self.pair_doc)

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        if self.query_vectors is None or self.doc_vectors is None:
            raise ValueError("this mining strategy needs base-model embeddings of the queries and documents")
        return self.query_vectors, self.doc_vectors

    def shared(self, key: str, compute):
        """Compute something two strategies both need (the BM25 or dense top-k lists) once per mining run."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]
