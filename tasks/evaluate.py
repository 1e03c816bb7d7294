"""Dense retrieval over the corpus with a model, scored with trec_eval-exact metrics."""

from __future__ import annotations

import numpy as np
import polars as pl

from tasks.config import EvalConfig
from tasks.embeddings import corpus_embeddings, encode, exact_search, load_model
from tasks.metrics import evaluate_run
from tasks.storage import DatasetRef, ModelRef, read_frame

HEADLINE = ("ndcg@10", "mrr@10", "map@100", "recall@100")  # the figures a run summary always shows


def qrels_dict(qrels: pl.DataFrame) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for query_id, doc_id, score in qrels.iter_rows():
        out.setdefault(query_id, {})[doc_id] = score
    return out


def run_from_search(query_ids: list[str], doc_ids: list[str], scores: np.ndarray, indices: np.ndarray) -> dict[str, dict[str, float]]:
    """FAISS results as a trec-style run: {query id: {doc id: score}}."""
    return {
        qid: {doc_ids[i]: float(s) for s, i in zip(row_scores, row_indices) if i >= 0}
        for qid, row_scores, row_indices in zip(query_ids, scores, indices)
    }


def evaluate_model(
    model_ref: ModelRef,
    corpus_ref: DatasetRef,
    queries_ref: DatasetRef,
    qrels_ref: DatasetRef,
    cfg: EvalConfig,
    store: str,
    device: str = "auto",
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(macro metrics, per-query metrics) of a model on the judged queries of one qrels split."""
    qrels = qrels_dict(read_frame(qrels_ref))
    queries = read_frame(queries_ref).filter(pl.col("query_id").is_in(list(qrels)))
    doc_ids = read_frame(corpus_ref)["doc_id"].to_list()
    model = load_model(model_ref, device)
    doc_vectors = corpus_embeddings(model, model_ref, corpus_ref, store, cfg.batch_size)
    query_vectors = encode(model, queries["text"].to_list(), cfg.batch_size, "queries")
    scores, indices = exact_search(query_vectors, doc_vectors, max(cfg.k_values))
    run = run_from_search(queries["query_id"].to_list(), doc_ids, scores, indices)
    return evaluate_run(run, qrels, cfg.k_values)
