"""Retrieval metrics with trec_eval's definitions, macro-averaged over every query in the qrels.

- Ranking: score descending, ties broken by document id in descending lexical order (as trec_eval), whatever rank
  the run claims. Only the first K ranked documents count at cut-off K; missing ranks count as non-relevant.
- A document is relevant when its qrels grade >= 1 (trec_eval's relevance_level 1); R = relevant documents of the query.
- ndcg@K: sum over the top K of grade / log2(rank + 1) (linear gain, as trec_eval's ndcg_cut), divided by the same
  sum over the ideal ordering of the query's judged grades.
- mrr@K: 1 / rank of the first relevant document within the top K, else 0.
- map@K: sum of precision at each relevant rank within the top K, divided by R (trec_eval's map_cut; the
  sentence-transformers evaluator divides by min(K, R) instead, and ignores grades in its NDCG).
- recall@K = relevant in top K / R; precision@K = relevant in top K / K; f1@K = their harmonic mean (0 when both 0).
- A query of the qrels with no retrieved documents, or with R = 0, scores 0 on every metric (trec_eval -c).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

METRICS = ("ndcg", "mrr", "map", "recall", "precision", "f1")

Run = Mapping[str, Mapping[str, float]]  # query id -> {doc id: score}
Qrels = Mapping[str, Mapping[str, int]]  # query id -> {doc id: grade}


def rank_documents(scores: Mapping[str, float]) -> list[str]:
    """Document ids in trec_eval order: score descending, then document id descending."""
    return [doc for doc, _ in sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)]


def query_metrics(ranking: list[str], judged: Mapping[str, int], ks: Iterable[int]) -> dict[str, float]:
    """Every metric at every K for one query's ranking."""
    ks = sorted(set(ks))
    relevant_total = sum(1 for grade in judged.values() if grade >= 1)
    out = {f"{m}@{k}": 0.0 for m in METRICS for k in ks}
    if relevant_total == 0 or not ranking:
        return out
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)
    k_max = ks[-1]
    hits = 0
    dcg = 0.0
    precision_sum = 0.0
    first_hit = 0
    # prefix sums at each rank, read off at each cut-off
    prefix: list[tuple[int, float, float]] = []
    for rank, doc in enumerate(ranking[:k_max], start=1):
        grade = judged.get(doc, 0)
        if grade > 0:
            dcg += grade / math.log2(rank + 1)
        if grade >= 1:
            hits += 1
            precision_sum += hits / rank
            if not first_hit:
                first_hit = rank
        prefix.append((hits, dcg, precision_sum))
    for k in ks:
        hits_k, dcg_k, precision_sum_k = prefix[min(k, len(prefix)) - 1]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal[:k]))
        precision = hits_k / k
        recall = hits_k / relevant_total
        out[f"ndcg@{k}"] = dcg_k / idcg if idcg > 0 else 0.0
        out[f"mrr@{k}"] = 1.0 / first_hit if first_hit and first_hit <= k else 0.0
        out[f"map@{k}"] = precision_sum_k / relevant_total
        out[f"recall@{k}"] = recall
        out[f"precision@{k}"] = precision
        out[f"f1@{k}"] = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return out


def evaluate_run(run: Run, qrels: Qrels, ks: Iterable[int]) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(macro averages, per-query values) over every query in the qrels."""
    ks = sorted(set(ks))
    per_query = {qid: query_metrics(rank_documents(run.get(qid, {})), judged, ks) for qid, judged in qrels.items()}
    names = [f"{m}@{k}" for m in METRICS for k in ks]
    n = len(per_query)
    macro = {name: (sum(q[name] for q in per_query.values()) / n if n else 0.0) for name in names}
    return macro, per_query
