"""Hard-negative mining: one module per retriever, a positive-aware selector, and the index STRATEGIES."""

from __future__ import annotations

import logging

import numpy as np
import polars as pl

from schemas import MinedNegativeSchema
from tasks.config import MiningConfig
from tasks.mining.bm25 import bm25_candidates
from tasks.mining.candidates import Candidates
from tasks.mining.dense import dense_candidates
from tasks.mining.filters import Negative, passes_filter, select_negatives

__all__ = ["STRATEGIES", "Candidates", "Negative", "mine_negatives", "passes_filter", "select_negatives"]

logger = logging.getLogger(__name__)

STRATEGIES = {"bm25": bm25_candidates, "dense": dense_candidates}


def mine_negatives(
    pairs: pl.DataFrame,
    corpus: pl.DataFrame,
    cfg: MiningConfig,
    query_vectors: np.ndarray | None = None,
    doc_vectors: np.ndarray | None = None,
) -> pl.DataFrame:
    """Hard negatives for every (query, positive) pair, `cfg.num_negatives` each, from the configured retrievers.

    Input schema: pairs PairSchema (query_id, doc_id, anchor, positive); corpus CorpusSchema (doc_id, text).
    query_vectors: embeddings of the distinct queries in order of first appearance in `pairs`; doc_vectors: of the
    corpus in row order (both needed only for the dense retriever).
    Output schema: MinedNegativeSchema, one row per (pair, slot).
    """
    doc_ids = corpus["doc_id"].to_list()
    doc_row = {doc_id: i for i, doc_id in enumerate(doc_ids)}
    query_ids = pairs["query_id"].unique(maintain_order=True).to_list()
    query_row = {query_id: i for i, query_id in enumerate(query_ids)}
    query_texts = pairs.unique("query_id", keep="first", maintain_order=True)["anchor"].to_list()
    pair_query = np.array([query_row[q] for q in pairs["query_id"]], dtype=np.int64)
    pair_doc = np.array([doc_row[d] for d in pairs["doc_id"]], dtype=np.int64)
    positives: dict[int, set[int]] = {}
    for query, doc in zip(pair_query.tolist(), pair_doc.tolist()):
        positives.setdefault(query, set()).add(doc)

    candidates = []
    if cfg.num_negatives > 0:
        for name in cfg.retrievers:
            if name == "dense":
                if query_vectors is None or doc_vectors is None:
                    raise ValueError("the dense retriever needs query_vectors and doc_vectors")
                candidates.append(dense_candidates(query_vectors, doc_vectors, pair_query, pair_doc, cfg.top_k))
            else:
                candidates.append(bm25_candidates(query_texts, corpus["text"].to_list(), pair_query, pair_doc, cfg.top_k))
    negatives = select_negatives(
        candidates, pair_query, pair_doc, positives, cfg.num_negatives, cfg.skip_top, cfg.max_score_ratio,
        n_docs=len(doc_ids), seed=cfg.seed,
    )
    query_col, positive_col = pairs["query_id"].to_list(), pairs["doc_id"].to_list()
    frame = pl.DataFrame(
        {
            "query_id": [query_col[n.pair] for n in negatives],
            "positive_id": [positive_col[n.pair] for n in negatives],
            "slot": [n.slot for n in negatives],
            "negative_id": [doc_ids[n.doc] for n in negatives],
            "strategy": [n.strategy for n in negatives],
            "rank": [n.rank for n in negatives],
            "score": [n.score for n in negatives],
            "positive_score": [n.positive_score for n in negatives],
        },
        schema={
            "query_id": pl.String, "positive_id": pl.String, "slot": pl.Int64, "negative_id": pl.String,
            "strategy": pl.String, "rank": pl.Int64, "score": pl.Float64, "positive_score": pl.Float64,
        },
    )
    counts = frame.group_by("strategy").len().sort("strategy").rows()
    logger.info("mined %d negatives for %d pairs: %s", frame.height, pairs.height, dict(counts))
    return MinedNegativeSchema.validate(frame)
