"""Dense retrieval over the corpus with a model, scored with trec_eval-exact metrics."""

from __future__ import annotations

import numpy as np
import polars as pl

from tasks.config import EvalConfig
from tasks.embeddings import corpus_passage_embeddings, exact_search, load_model
from tasks.metrics import Judgements, metric_matrix, summarise
from tasks.passages import best_passage_search, encode_queries
from tasks.storage import DatasetRef, ModelRef, read_frame

HEADLINE = ("ndcg@10", "mrr@10", "map@100", "recall@100")  # the figures a run summary always shows

Scores = tuple[dict[str, float], dict[str, dict[str, float]]]  # (macro metrics, per-query metrics)
Ranking = tuple[np.ndarray, np.ndarray]  # ([queries, k] scores, [queries, k] corpus rows, -1 = empty), best first


def qrels_dict(qrels: pl.DataFrame) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for query_id, doc_id, score in qrels.iter_rows():
        out.setdefault(query_id, {})[doc_id] = score
    return out


def score_search(
    query_ids: list[str],
    doc_ids: list[str],
    scores: np.ndarray,
    indices: np.ndarray,
    qrels: dict[str, dict[str, int]],
    ks: list[int],
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
    query_vectors: np.ndarray,
    doc_vectors: np.ndarray,
    query_ids: list[str],
    doc_ids: list[str],
    qrels: dict[str, dict[str, int]],
    ks: list[int],
    dims: list[int],
    passage_doc: np.ndarray | None = None,
) -> tuple[Scores, dict[int, dict[str, float]], Ranking]:
    """Scores at full size, macro metrics at each truncated size below it, and the full-size ranking.

    With `passage_doc` (the corpus row of each row of doc_vectors, when documents were split into passages) a document
    scores as its best passage.
    """
    full = query_vectors.shape[1]
    search = exact_search
    if passage_doc is not None and len(passage_doc) > len(doc_ids):
        per_doc = int(np.bincount(passage_doc).max())
        search = lambda q, d, k: best_passage_search(q, d, passage_doc, k, per_doc)  # noqa: E731
    scores, indices = search(query_vectors, doc_vectors, max(ks))
    result = score_search(query_ids, doc_ids, scores, indices, qrels, ks)
    by_dim = {full: result[0]}
    for dim in (d for d in dims if d < full):
        small_scores, small_indices = search(truncated(query_vectors, dim), truncated(doc_vectors, dim), max(ks))
        by_dim[dim] = score_search(query_ids, doc_ids, small_scores, small_indices, qrels, ks)[0]
    return result, by_dim, (scores, indices)


def bm25_ranked(
    query_texts: list[str],
    query_ids: list[str],
    doc_texts: list[str],
    doc_ids: list[str],
    qrels: dict[str, dict[str, int]],
    ks: list[int],
    engine: str = "bm25s",
) -> tuple[Scores, Ranking]:
    """BM25 over the same corpus and queries, scored the same way, and its ranking."""
    from tasks.mining.bm25 import bm25_search

    indices, scores, _ = bm25_search(query_texts, doc_texts, max(ks), engine)
    return score_search(query_ids, doc_ids, scores, indices, qrels, ks), (scores, indices)


def rrf(rankings: list[np.ndarray], k: int, depth: int) -> Ranking:
    """Reciprocal-rank fusion of [queries, n] rankings (corpus rows, best first, -1 = empty): score Σ 1/(k + rank).

    Returns the fused (scores, rows), [queries, depth], best first (ties by corpus row), -1 where fewer documents came.
    Reference: Cormack, Clarke & Büttcher, "Reciprocal Rank Fusion outperforms Condorcet and individual Rank Learning
    Methods" (SIGIR 2009), https://doi.org/10.1145/1571941.1572114.
    """
    n_queries = rankings[0].shape[0]
    rows = np.full((n_queries, depth), -1, dtype=np.int64)
    scores = np.full((n_queries, depth), -np.inf, dtype=np.float64)
    for query in range(n_queries):
        docs = np.concatenate([r[query][r[query] >= 0] for r in rankings])
        weights = np.concatenate([1.0 / (k + 1 + np.flatnonzero(r[query] >= 0)) for r in rankings])
        unique, inverse = np.unique(docs, return_inverse=True)
        fused = np.bincount(inverse, weights=weights, minlength=unique.size)
        order = np.lexsort((unique, -fused))[:depth]
        rows[query, : order.size], scores[query, : order.size] = unique[order], fused[order]
    return scores, rows


def ranking_frame(query_ids: list[str], doc_ids: list[str], ranking: Ranking) -> pl.DataFrame:
    """A ranking as a table (query_id, rank from 1, doc_id, score), to keep it in the store as a ref."""
    scores, indices = ranking
    query, rank = np.nonzero(indices >= 0)
    return pl.DataFrame(
        {
            "query_id": np.array(query_ids, dtype=object)[query].tolist(),
            "rank": (rank + 1).astype(np.int64),
            "doc_id": np.array(doc_ids, dtype=object)[indices[query, rank]].tolist(),
            "score": scores[query, rank].astype(np.float64),
        },
        schema={"query_id": pl.String, "rank": pl.Int64, "doc_id": pl.String, "score": pl.Float64},
    )


def ranking_rows(frame: pl.DataFrame, query_ids: list[str], doc_ids: list[str], depth: int) -> np.ndarray:
    """ranking_frame's table back as [queries, depth] corpus rows in `query_ids` order (-1 = empty)."""
    row_of_doc = {d: i for i, d in enumerate(doc_ids)}
    row_of_query = {q: i for i, q in enumerate(query_ids)}
    rows = np.full((len(query_ids), depth), -1, dtype=np.int64)
    for query_id, rank, doc_id in frame.select("query_id", "rank", "doc_id").iter_rows():
        if query_id in row_of_query and rank <= depth and doc_id in row_of_doc:
            rows[row_of_query[query_id], rank - 1] = row_of_doc[doc_id]
    return rows


def hybrid_metrics(
    dense: np.ndarray,
    lexical: np.ndarray,
    query_ids: list[str],
    doc_ids: list[str],
    qrels: dict[str, dict[str, int]],
    ks: list[int],
    rrf_k: int,
) -> Scores:
    """The RRF hybrid of a dense and a BM25 ranking (same queries, corpus rows), scored like every other run."""
    scores, rows = rrf([dense, lexical], rrf_k, max(ks))
    return score_search(query_ids, doc_ids, scores, rows, qrels, ks)


def judged_queries(queries_ref: DatasetRef, qrels_ref: DatasetRef) -> tuple[pl.DataFrame, dict[str, dict[str, int]]]:
    """The queries of one qrels split that have judgements, in file order, and the judgements."""
    qrels = qrels_dict(read_frame(qrels_ref))
    return read_frame(queries_ref).filter(pl.col("query_id").is_in(list(qrels))), qrels


def evaluate_model(
    model_ref: ModelRef,
    corpus_ref: DatasetRef,
    queries_ref: DatasetRef,
    qrels_ref: DatasetRef,
    cfg: EvalConfig,
    store: str,
    device: str = "auto",
) -> tuple[Scores, dict[int, dict[str, float]], Ranking]:
    """A model on the judged queries of one qrels split: full-size scores, macro metrics per truncated size, ranking."""
    queries, qrels = judged_queries(queries_ref, qrels_ref)
    doc_ids = read_frame(corpus_ref)["doc_id"].to_list()
    model = load_model(model_ref, device)
    doc_vectors, passage_doc = corpus_passage_embeddings(
        model, model_ref, corpus_ref, store, cfg.batch_size, cfg.passages
    )
    query_vectors = encode_queries(model, queries["text"].to_list(), cfg.passages, cfg.batch_size)
    return dense_metrics(
        query_vectors, doc_vectors, queries["query_id"].to_list(), doc_ids, qrels, cfg.k_values, cfg.dims, passage_doc
    )


def evaluate_bm25(
    corpus_ref: DatasetRef, queries_ref: DatasetRef, qrels_ref: DatasetRef, ks: list[int], engine: str = "bm25s"
) -> tuple[Scores, pl.DataFrame]:
    """BM25 on the judged queries of one qrels split: its scores and its ranking as a ranking_frame table."""
    queries, qrels = judged_queries(queries_ref, qrels_ref)
    corpus = read_frame(corpus_ref)
    query_ids, doc_ids = queries["query_id"].to_list(), corpus["doc_id"].to_list()
    result, ranking = bm25_ranked(
        queries["text"].to_list(), query_ids, corpus["text"].to_list(), doc_ids, qrels, ks, engine
    )
    return result, ranking_frame(query_ids, doc_ids, ranking)


def hybrid_scores(
    rankings: dict[str, np.ndarray],
    lexical: pl.DataFrame,
    corpus_ref: DatasetRef,
    queries_ref: DatasetRef,
    qrels_ref: DatasetRef,
    ks: list[int],
    rrf_k: int,
) -> dict[str, Scores]:
    """Each model's dense ranking (corpus rows, judged queries in file order) fused with BM25's ranking table by RRF."""
    queries, qrels = judged_queries(queries_ref, qrels_ref)
    query_ids, doc_ids = queries["query_id"].to_list(), read_frame(corpus_ref)["doc_id"].to_list()
    lexical_rows = ranking_rows(lexical, query_ids, doc_ids, max(ks))
    return {
        role: hybrid_metrics(rows, lexical_rows, query_ids, doc_ids, qrels, ks, rrf_k)
        for role, rows in rankings.items()
    }


def per_query_frame(role: str, per_query: dict[str, dict[str, float]]) -> pl.DataFrame:
    """One role's per-query metrics as rows of the evaluate step's per-query table (model, query_id, metrics…)."""
    return pl.DataFrame([{"model": role, "query_id": qid, **values} for qid, values in per_query.items()])


def per_query_by_role(frame: pl.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
    """The evaluate step's per-query table as {role: {query id: {metric: value}}}."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for row in frame.iter_rows(named=True):
        role, query_id = row.pop("model"), row.pop("query_id")
        out.setdefault(role, {})[query_id] = row
    return out


def evaluate_folder(folder: str, split: str, model: str, cfg: EvalConfig, store: str) -> dict:
    """`embedforge evaluate`: a model and BM25 on the judged queries of one qrels split of a BEIR folder, by the
    evaluate step's own functions. The folder's tables go into the store as a run's do, so its corpus embeddings are
    kept there and a second call (another size, another split) does not encode the corpus again.

    Returns {model, data, split, queries, passages, dims: {size: metrics}, bm25: metrics}; the full size first.
    """
    from tasks.embeddings import resolve_model
    from tasks.ingest import read_beir
    from tasks.passages import passage_summary
    from tasks.storage import write_frame

    data = read_beir(folder, [split])
    corpus, queries = write_frame(data.corpus, store, "corpus"), write_frame(data.queries, store, "queries")
    qrels = write_frame(data.qrels[split], store, "qrels")
    ref = resolve_model(model)
    _, by_dim, _ = evaluate_model(ref, corpus, queries, qrels, cfg, store)
    (bm25, _), _ = evaluate_bm25(corpus, queries, qrels, cfg.k_values, cfg.bm25_engine)
    return {
        "model": model,
        "data": str(folder),
        "split": split,
        "queries": len(qrels_dict(data.qrels[split])),  # the frame in hand, not read back from the store
        "passages": passage_summary(ref, corpus, cfg.passages, store, cfg.batch_size),
        "dims": {str(d): by_dim[d] for d in sorted(by_dim, reverse=True)},
        "bm25": bm25,
    }
