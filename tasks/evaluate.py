"""Dense retrieval over the corpus with a model, scored with trec_eval-exact metrics."""

from __future__ import annotations

import numpy as np
import polars as pl

from tasks.config import EvalConfig
from tasks.embeddings import corpus_embeddings, encode, exact_search, load_model
from tasks.metrics import Judgements, metric_matrix, summarise
from tasks.storage import DatasetRef, ModelRef, read_frame

HEADLINE = ("ndcg@10", "mrr@10", "map@100", "recall@100")  # the figures a run summary always shows

Scores = tuple[dict[str, float], dict[str, dict[str, float]]]  # (macro metrics, per-query metrics)


def qrels_dict(qrels: pl.DataFrame) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for query_id, doc_id, score in qrels.iter_rows():
        out.setdefault(query_id, {})[doc_id] = score
    return out


def score_search(
    query_ids: list[str], doc_ids: list[str], scores: np.ndarray, indices: np.ndarray, qrels: dict[str, dict[str, int]], ks: list[int]
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Metrics of a search result ([queries, k] corpus rows and scores) over every query of the qrels."""
    lexical = np.empty(len(doc_ids), dtype=np.int64)
    lexical[np.argsort(np.array(doc_ids, dtype=str), kind="stable")] = np.arange(len(doc_ids))  # codes sort like ids
    row_of = {q: i for i, q in enumerate(query_ids)}
    judged_queries = list(qrels)
    rows = np.array([row_of.get(q, -1) for q in judged_queries], dtype=np.int64)
    doc_codes = np.where(indices >= 0, lexical[np.clip(indices, 0, None)], -1)
    # queries of the qrels that were not searched get an empty row: they score 0 and still count
    doc_codes = np.vstack([doc_codes, np.full((1, doc_codes.shape[1]), -1)])[rows]
    scores = np.vstack([scores, np.full((1, scores.shape[1]), -np.inf)])[rows]
    code_of = {d: lexical[i] for i, d in enumerate(doc_ids)}
    judged = Judgements(
        query=np.array([i for i, q in enumerate(judged_queries) for _ in qrels[q]], dtype=np.int64),
        doc=np.array([code_of.get(d, -2) for q in judged_queries for d in qrels[q]], dtype=np.int64),
        grade=np.array([g for q in judged_queries for g in qrels[q].values()], dtype=np.float64),
    )
    return summarise(metric_matrix(doc_codes, scores, judged, ks), judged_queries)


def truncated(vectors: np.ndarray, dim: int) -> np.ndarray:
    """The first `dim` components, re-normalised to unit length (how a Matryoshka embedding is served)."""
    head = np.ascontiguousarray(vectors[:, :dim])
    return head / np.maximum(np.linalg.norm(head, axis=1, keepdims=True), 1e-12)


def dense_metrics(
    query_vectors: np.ndarray, doc_vectors: np.ndarray, query_ids: list[str], doc_ids: list[str],
    qrels: dict[str, dict[str, int]], ks: list[int], dims: list[int],
) -> tuple[Scores, dict[int, dict[str, float]]]:
    """Scores at full size, and macro metrics at each truncated size below it."""
    full = query_vectors.shape[1]
    scores, indices = exact_search(query_vectors, doc_vectors, max(ks))
    result = score_search(query_ids, doc_ids, scores, indices, qrels, ks)
    by_dim = {full: result[0]}
    for dim in (d for d in dims if d < full):
        scores, indices = exact_search(truncated(query_vectors, dim), truncated(doc_vectors, dim), max(ks))
        by_dim[dim] = score_search(query_ids, doc_ids, scores, indices, qrels, ks)[0]
    return result, by_dim


def bm25_metrics(query_texts: list[str], query_ids: list[str], doc_texts: list[str], doc_ids: list[str],
                 qrels: dict[str, dict[str, int]], ks: list[int]) -> Scores:
    """BM25 Okapi (rank-bm25) over the same corpus and queries, scored the same way."""
    from tasks.mining.bm25 import bm25_search

    indices, scores, _ = bm25_search(query_texts, doc_texts, max(ks), "rank_bm25")
    return score_search(query_ids, doc_ids, scores, indices, qrels, ks)


def evaluate_model(
    model_ref: ModelRef,
    corpus_ref: DatasetRef,
    queries_ref: DatasetRef,
    qrels_ref: DatasetRef,
    cfg: EvalConfig,
    store: str,
    device: str = "auto",
) -> tuple[Scores, dict[int, dict[str, float]]]:
    """A model on the judged queries of one qrels split: full-size scores, and macro metrics per truncated size."""
    qrels = qrels_dict(read_frame(qrels_ref))
    queries = read_frame(queries_ref).filter(pl.col("query_id").is_in(list(qrels)))
    doc_ids = read_frame(corpus_ref)["doc_id"].to_list()
    model = load_model(model_ref, device)
    doc_vectors = corpus_embeddings(model, model_ref, corpus_ref, store, cfg.batch_size)
    query_vectors = encode(model, queries["text"].to_list(), cfg.batch_size, "queries")
    return dense_metrics(query_vectors, doc_vectors, queries["query_id"].to_list(), doc_ids, qrels, cfg.k_values, cfg.dims)


def evaluate_bm25(corpus_ref: DatasetRef, queries_ref: DatasetRef, qrels_ref: DatasetRef, cfg: EvalConfig) -> Scores:
    qrels = qrels_dict(read_frame(qrels_ref))
    queries = read_frame(queries_ref).filter(pl.col("query_id").is_in(list(qrels)))
    corpus = read_frame(corpus_ref)
    return bm25_metrics(queries["text"].to_list(), queries["query_id"].to_list(), corpus["text"].to_list(),
                        corpus["doc_id"].to_list(), qrels, cfg.k_values)


def per_query_by_role(frame: pl.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
    """The evaluate step's per-query table as {role: {query id: {metric: value}}}."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for row in frame.iter_rows(named=True):
        role, query_id = row.pop("model"), row.pop("query_id")
        out.setdefault(role, {})[query_id] = row
    return out
