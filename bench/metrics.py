"""Scoring speed: 10,000 queries × 1,000 retrieved documents, embedforge's metrics beside pytrec_eval.

Both compute NDCG, MAP, P and recall at the same cut-offs on the same synthetic run (graded qrels, tied scores).
Prints one JSON object with median seconds of repeated runs, the speed ratio and the largest difference found.
Usage: .venv/bin/python bench/metrics.py [--queries 10000] [--depth 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from tasks.metrics import Judgements, metric_matrix

KS = [1, 3, 5, 10, 100, 1000]
TARGET_SECONDS = 2.0


def synthetic(n_queries: int, depth: int, n_docs: int, seed: int = 0):
    """A run as a [queries, depth] matrix of distinct document codes with 2-decimal scores (many ties), and qrels."""
    rng = np.random.default_rng(seed)
    steps = np.array([s for s in range(1, 200) if s % 2 and s % 5])  # coprime with n_docs = 50,000: rows stay distinct
    offsets = rng.integers(0, n_docs, n_queries)
    step = rng.choice(steps, n_queries)
    codes = (offsets[:, None] + step[:, None] * np.arange(depth)[None, :]) % n_docs
    scores = np.round(rng.random((n_queries, depth)), 2)
    judged_rows = np.repeat(np.arange(n_queries), 8)
    judged_cols = np.concatenate([rng.choice(depth * 2, 8, replace=False) for _ in range(n_queries)])
    # half the judged documents were retrieved, the rest are judged but outside the run
    judged_docs = np.where(judged_cols < depth, codes[judged_rows, np.minimum(judged_cols, depth - 1)], (offsets[judged_rows] + judged_cols * 7919) % n_docs)
    grades = rng.integers(0, 4, len(judged_rows)).astype(np.float64)
    # one judgement per (query, document), the last one winning, as in a qrels dict
    key = judged_rows * n_docs + judged_docs
    _, last = np.unique(key[::-1], return_index=True)
    keep = np.sort(len(key) - 1 - last)
    return codes, scores, Judgements(judged_rows[keep], judged_docs[keep], grades[keep])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--depth", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import pytrec_eval

    codes, scores, judged = synthetic(args.queries, args.depth, n_docs=50_000)
    name = np.array([f"d{i:05d}" for i in range(50_000)])  # zero-padded: lexical order = code order
    run = {f"q{i}": dict(zip(name[codes[i]].tolist(), scores[i].tolist())) for i in range(args.queries)}
    qrels: dict[str, dict[str, int]] = {}
    for q, d, g in zip(judged.query.tolist(), judged.doc.tolist(), judged.grade.tolist()):
        qrels.setdefault(f"q{q}", {})[str(name[d])] = int(g)
    cut = ",".join(map(str, KS))
    measures = {f"ndcg_cut.{cut}", f"map_cut.{cut}", f"P.{cut}", f"recall.{cut}"}

    ours, theirs = [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        values = metric_matrix(codes, scores, judged, KS)
        ours.append(time.perf_counter() - started)
        evaluator = pytrec_eval.RelevanceEvaluator(qrels, measures)
        started = time.perf_counter()
        reference = evaluator.evaluate(run)
        theirs.append(time.perf_counter() - started)

    names = {"ndcg": "ndcg_cut", "map": "map_cut", "precision": "P", "recall": "recall"}
    worst = max(
        float(np.max(np.abs(values[f"{m}@{k}"] - np.array([reference[f"q{i}"][f"{t}_{k}"] for i in range(args.queries)]))))
        for m, t in names.items() for k in KS
    )
    result = {
        "rows": int(codes.size),
        "queries": args.queries,
        "cutoffs": KS,
        "embedforge_seconds_median": round(statistics.median(ours), 3),
        "pytrec_eval_seconds_median": round(statistics.median(theirs), 3),
        "speed_ratio_pytrec_over_embedforge": round(statistics.median(theirs) / statistics.median(ours), 3),
        "max_abs_difference": worst,
        "target_under_2s": statistics.median(ours) < TARGET_SECONDS,
        "repeats": args.repeats,
        "note": "embedforge scores the [queries, depth] search matrix the evaluate step gets from FAISS; "
        "pytrec_eval times evaluate() on the same run prebuilt as dicts",
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
