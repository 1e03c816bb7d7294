"""Partial-match strategy: lexically close, semantically off.

Input schema: MiningInput (texts; embeddings too in disagreement mode).
Output schema: Candidates "partial_match" — per query, BM25 candidates that match it only in part, best BM25 first,
with BM25 scores (so the positive-aware filters compare them with the positive's BM25 score).
Args: k — BM25 candidates examined per query; params PartialMatchParams:
- mode "terms": the query's `key_terms` highest-IDF terms are its key terms; a candidate qualifies when the terms it
  shares carry between `min_overlap` and `max_overlap` of their total IDF (some of the claim, not all of it);
- mode "disagreement": BM25 ranks it in the top k but the dense model does not place it in its top `dense_rank_min`.
Reference: Xiong et al., "Approximate Nearest Neighbor Negative Contrastive Learning for Dense Text Retrieval" (2020),
https://arxiv.org/abs/2007.00808 (lexical negatives a dense model must learn to reject); Karpukhin et al. (2020),
https://arxiv.org/abs/2004.04906 (BM25 negatives that do not contain the answer).
Example: partial_match_candidates(inp, k=50, params=PartialMatchParams(mode="terms", key_terms=5))
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Literal

import numpy as np
from pydantic import Field

from tasks.mining.bm25 import bm25_candidates, tokenize
from tasks.mining.candidates import Candidates, MiningInput
from tasks.mining.dense import DenseParams, dense_candidates
from tasks.mining.strategy import Strategy, StrategyParams


class PartialMatchParams(StrategyParams):
    mode: Literal["terms", "disagreement"] = "terms"  # terms: share some key terms; disagreement: BM25 high, dense low
    key_terms: int = Field(5, ge=1)  # the query's highest-IDF terms that count as its key terms
    min_overlap: float = Field(0.2, ge=0, le=1)  # share of the key terms' IDF a candidate must contain at least …
    max_overlap: float = Field(0.8, ge=0, le=1)  # … and at most (all key terms shared is likely a true match)
    dense_rank_min: int = Field(50, ge=1)  # disagreement: BM25 candidates the dense model ranks at or below this


def idf_table(doc_texts: list[str]) -> tuple[dict[str, float], list[frozenset[str]]]:
    """Inverse document frequency of every term (BM25's smoothed form) and each document's set of terms."""
    term_sets = [frozenset(tokenize(t)) for t in doc_texts]
    df = Counter(term for terms in term_sets for term in terms)
    n = len(doc_texts)
    return {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}, term_sets


def key_terms(query: str, idf: dict[str, float], n: int) -> dict[str, float]:
    """The query's n rarest (highest-IDF) corpus terms with their IDF; terms no document has cannot discriminate."""
    terms = {t: idf[t] for t in set(tokenize(query)) if t in idf}
    return dict(sorted(terms.items(), key=lambda kv: (-kv[1], kv[0]))[:n])


def overlap(keys: dict[str, float], doc_terms: frozenset[str]) -> float:
    """Share of the key terms' IDF that the document contains."""
    total = sum(keys.values())
    return sum(w for t, w in keys.items() if t in doc_terms) / total if total else 0.0


def partial_match_candidates(inp: MiningInput, k: int, params: PartialMatchParams = PartialMatchParams()) -> Candidates:
    bm25 = bm25_candidates(inp, k)
    keep = np.zeros(bm25.indices.shape, dtype=bool)
    if params.mode == "terms":
        idf, term_sets = inp.shared("idf", lambda: idf_table(inp.doc_texts))
        for query, text in enumerate(inp.query_texts):
            keys = key_terms(text, idf, params.key_terms)
            for rank, doc in enumerate(bm25.indices[query].tolist()):
                share = overlap(keys, term_sets[doc])
                keep[query, rank] = 0 < share and params.min_overlap <= share <= params.max_overlap
    else:
        dense = dense_candidates(inp, params.dense_rank_min, DenseParams())
        for query in range(len(inp.query_texts)):
            near = set(dense.indices[query, : params.dense_rank_min].tolist())
            keep[query] = [doc not in near for doc in bm25.indices[query].tolist()]
    indices = np.full(bm25.indices.shape, -1, dtype=np.int64)
    scores = np.full(bm25.scores.shape, np.nan, dtype=np.float32)
    for query in range(indices.shape[0]):
        kept = np.flatnonzero(keep[query])
        indices[query, : kept.size] = bm25.indices[query, kept]
        scores[query, : kept.size] = bm25.scores[query, kept]
    return Candidates("partial_match", indices, scores, bm25.positive_scores)


STRATEGY = Strategy(
    "partial_match", PartialMatchParams, partial_match_candidates, reads_vectors=lambda p: p.mode == "disagreement"
)
