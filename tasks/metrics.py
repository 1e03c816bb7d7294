"""Retrieval metrics with trec_eval's definitions, macro-averaged over every query in the qrels.

- Ranking: score descending, ties broken by document id in descending lexical order (as trec_eval), whatever rank
  the run claims. Only the first K ranked documents count at cut-off K; missing ranks count as non-relevant.
- A document is relevant when its qrels grade >= 1 (trec_eval's relevance_level 1); R = relevant documents of the query.
- Computed without sorting: a judged document's rank is the number of retrieved documents that beat it.
- ndcg@K: sum over the top K of grade / log2(rank + 1) (linear gain, as trec_eval's ndcg_cut), divided by the same
  sum over the ideal ordering of the query's judged grades.
- mrr@K: 1 / rank of the first relevant document within the top K, else 0.
- map@K: sum of precision at each relevant rank within the top K, divided by R (trec_eval's map_cut; the
  sentence-transformers evaluator divides by min(K, R) instead, and ignores grades in its NDCG).
- recall@K = relevant in top K / R; precision@K = relevant in top K / K; f1@K = their harmonic mean (0 when both 0).
- A query of the qrels with no retrieved documents, or with R = 0, scores 0 on every metric (trec_eval -c).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

METRICS = ("ndcg", "mrr", "map", "recall", "precision", "f1")

Run = Mapping[str, Mapping[str, float]]  # query id -> {doc id: score}
Qrels = Mapping[str, Mapping[str, int]]  # query id -> {doc id: grade}


def rank_documents(scores: Mapping[str, float]) -> list[str]:
    """Document ids in trec_eval order: score descending, then document id descending."""
    return [doc for doc, _ in sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)]


@dataclass(frozen=True)
class Judgements:
    """Qrels as parallel arrays: query row, document code and grade of every judged (query, document)."""

    query: np.ndarray  # [J] int, row of the query in the run matrix
    doc: np.ndarray  # [J] int, document code (codes sort like the document ids)
    grade: np.ndarray  # [J] float


def metric_matrix(doc_codes: np.ndarray, scores: np.ndarray, judged: Judgements, ks: Iterable[int]) -> dict[str, np.ndarray]:
    """Per-query values of every metric at every K, for a run as a [queries, depth] matrix.

    doc_codes: [n, depth] int codes that sort like the document ids, -1 for an empty slot; scores: [n, depth].
    No sort is needed: the trec_eval rank of a judged document is the number of retrieved documents that beat it
    (higher score, or equal score and larger id), so the work is O(judged × depth) comparisons.
    """
    ks = sorted(set(ks))
    n_queries = doc_codes.shape[0]
    occupied = doc_codes >= 0
    rows_codes, rows_scores, rows_occupied = doc_codes[judged.query], scores[judged.query], occupied[judged.query]
    hit = (rows_codes == judged.doc[:, None]) & rows_occupied
    retrieved = hit.any(axis=1)
    own_score = np.where(retrieved, rows_scores[np.arange(len(judged.doc)), hit.argmax(axis=1)], -np.inf)
    beaten_by = ((rows_scores > own_score[:, None]) | ((rows_scores == own_score[:, None]) & (rows_codes > judged.doc[:, None])))
    rank = np.where(retrieved, (beaten_by & rows_occupied).sum(axis=1), np.iinfo(np.int64).max)  # 0-based

    relevant = judged.grade >= 1
    R = np.bincount(judged.query, weights=relevant.astype(np.float64), minlength=n_queries)
    gain = np.where(judged.grade > 0, judged.grade, 0.0)
    found = retrieved & relevant
    # precision at each retrieved relevant document: (relevant ranked at or above it) / (its rank + 1)
    order = np.lexsort((rank[found], judged.query[found]))
    found_q, found_rank = judged.query[found][order], rank[found][order]
    position = np.arange(len(found_q)) - np.searchsorted(found_q, found_q)  # 0-based index among the query's hits
    precision_at_hit = (position + 1) / (found_rank + 1)
    first_hit = np.full(n_queries, np.inf)
    np.minimum.at(first_hit, found_q, found_rank + 1.0)
    # ideal ordering of each query's judged grades for the NDCG denominator
    ideal = np.lexsort((-gain, judged.query))
    ideal_q, ideal_gain = judged.query[ideal], gain[ideal]
    ideal_rank = np.arange(len(ideal_q)) - np.searchsorted(ideal_q, ideal_q)

    has_relevant = R > 0
    safe_R = np.where(has_relevant, R, 1.0)
    with np.errstate(divide="ignore"):
        discount = np.where(retrieved, 1.0 / np.log2(np.minimum(rank, 10**12) + 2.0), 0.0)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        in_cut = retrieved & (rank < k)
        dcg = np.bincount(judged.query, weights=gain * discount * in_cut, minlength=n_queries)
        idcg = np.bincount(ideal_q, weights=ideal_gain / np.log2(ideal_rank + 2.0) * (ideal_rank < k), minlength=n_queries)
        hits = np.bincount(judged.query, weights=(relevant & in_cut).astype(np.float64), minlength=n_queries)
        precision = np.where(has_relevant, hits / k, 0.0)
        recall = hits / safe_R
        both = precision + recall
        out[f"ndcg@{k}"] = np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1.0), 0.0)
        out[f"mrr@{k}"] = np.where(first_hit <= k, 1.0 / np.where(np.isfinite(first_hit), first_hit, 1.0), 0.0)
        out[f"map@{k}"] = np.bincount(found_q, weights=precision_at_hit * (found_rank < k), minlength=n_queries) / safe_R
        out[f"recall@{k}"] = recall
        out[f"precision@{k}"] = precision
        out[f"f1@{k}"] = np.where(both > 0, 2 * precision * recall / np.where(both > 0, both, 1.0), 0.0)
    return {f"{m}@{k}": out[f"{m}@{k}"] for m in METRICS for k in ks}


def summarise(values: dict[str, np.ndarray], query_ids: list[str]) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(macro averages, per-query values) from metric_matrix's arrays."""
    macro = {name: float(v.mean()) if len(v) else 0.0 for name, v in values.items()}
    columns = {name: v.tolist() for name, v in values.items()}
    return macro, {q: {name: columns[name][i] for name in columns} for i, q in enumerate(query_ids)}


def evaluate_run(run: Run, qrels: Qrels, ks: Iterable[int]) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(macro averages, per-query values) over every query in the qrels, for a run as {query: {doc: score}}."""
    query_ids = list(qrels)
    names = sorted({d for q in query_ids for d in run.get(q, {})} | {d for docs in qrels.values() for d in docs})
    code = {name: i for i, name in enumerate(names)}  # sorted names: codes compare like the ids
    depth = max((len(run.get(q, {})) for q in query_ids), default=0)
    doc_codes = np.full((len(query_ids), max(depth, 1)), -1, dtype=np.int64)
    scores = np.full(doc_codes.shape, -np.inf)
    for row, q in enumerate(query_ids):
        docs = run.get(q, {})
        doc_codes[row, : len(docs)] = [code[d] for d in docs]
        scores[row, : len(docs)] = list(docs.values())
    judged = Judgements(
        query=np.array([row for row, q in enumerate(query_ids) for _ in qrels[q]], dtype=np.int64),
        doc=np.array([code[d] for q in query_ids for d in qrels[q]], dtype=np.int64),
        grade=np.array([g for q in query_ids for g in qrels[q].values()], dtype=np.float64),
    )
    return summarise(metric_matrix(doc_codes, scores, judged, ks), query_ids)
