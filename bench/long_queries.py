"""How a long query is read at search time, with the base model: first window, mean of its passages, or best pair.

A query longer than the model reads (a whole judgment used as the query, or `bench/longdocs.py --long-queries`) can be
searched (a) by its first window only, (b) as the mean of its passages' vectors, one top-k per query (the product's
reading: tasks/passages.py `pooled`), or (c) by its best passage pair: a document scores as the highest similarity of
any query passage with any of its passages (max over query passages of the max-passage score; exact, since a
document in the top k by that score is in the top k of the query passage that gives it). Documents are read by their
best passage in all three. The reading is judged on the *train* queries (not used for anything else here: a dev set for
this choice); the test figures are printed beside them, once per reading. BM25 on the same queries beside them.

    .venv/bin/python bench/longdocs.py .embedforge/longqueries --long-queries --abstracts 2000
    .venv/bin/python bench/long_queries.py --data .embedforge/longqueries --json bench/results/long_queries.json
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.config import PassageConfig  # noqa: E402
from tasks.embeddings import encode, load_model, resolve_model  # noqa: E402
from tasks.evaluate import HEADLINE, bm25_ranked, qrels_dict, score_search  # noqa: E402
from tasks.ingest import read_beir  # noqa: E402
from tasks.passages import best_passage_search, corpus_titles, encode_passages, model_passages, pooled  # noqa: E402

K = 100


def best_pair_search(
    query_passages: np.ndarray, query_of: np.ndarray, n_queries: int, docs: np.ndarray, doc_of: np.ndarray, per_doc: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-K documents per query by the best (query passage, document passage) similarity."""
    scores, rows = best_passage_search(query_passages, docs, doc_of, K, per_doc)
    out_scores = np.full((n_queries, K), -np.inf, dtype=np.float32)
    out_rows = np.full((n_queries, K), -1, dtype=np.int64)
    for q in range(n_queries):
        mine = np.flatnonzero(query_of == q)
        best: dict[int, float] = {}
        for p in mine:
            for r, s in zip(rows[p], scores[p]):
                if r >= 0 and s > best.get(int(r), -np.inf):
                    best[int(r)] = float(s)
        ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))[:K]
        out_rows[q, : len(ranked)] = [r for r, _ in ranked]
        out_scores[q, : len(ranked)] = [s for _, s in ranked]
    return out_scores, out_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a BEIR folder with train and test qrels")
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    model = load_model(resolve_model(args.model), "cpu")
    cfg = PassageConfig()
    data = read_beir(args.data, ["train", "test"])
    dids, dtexts = data.corpus["doc_id"].to_list(), data.corpus["text"].to_list()
    started = time.perf_counter()
    docs, doc_of = encode_passages(model, dtexts, cfg, 64, "documents", corpus_titles(data.corpus))
    per_doc = int(np.bincount(doc_of).max())
    out = {
        "data": args.data,
        "model": args.model,
        "documents": len(dids),
        "passages": int(len(doc_of)),
        "corpus_seconds": round(time.perf_counter() - started, 1),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "machine": f"{platform.node()} ({platform.processor() or platform.machine()}), 2 CPUs",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "splits": {},
    }
    for split in ("train", "test"):
        qrels = qrels_dict(data.qrels[split])
        queries = data.queries.filter(data.queries["query_id"].is_in(list(qrels)))
        qids, qtexts = queries["query_id"].to_list(), queries["text"].to_list()
        passages = model_passages(model, qtexts, cfg)
        vectors = encode(model, passages.texts, 64, f"{split} queries ({len(passages.texts)} passages)")
        first = np.flatnonzero(np.r_[True, passages.doc[1:] != passages.doc[:-1]])  # each query's first passage
        readings = {
            "first_window": best_passage_search(vectors[first], docs, doc_of, K, per_doc),
            "mean_of_passages": best_passage_search(pooled(vectors, passages.doc, len(qids)), docs, doc_of, K, per_doc),
            "best_pair": best_pair_search(vectors, passages.doc, len(qids), docs, doc_of, per_doc),
        }
        row = {
            "queries": len(qids),
            "query_passages": len(passages.texts),
            "query_tokens_median": int(np.median(passages.tokens)),
        }
        for name, (scores, rows) in readings.items():
            macro, _ = score_search(qids, dids, scores, rows, qrels, [10, K])
            row[name] = {k: round(macro[k], 4) for k in HEADLINE}
        (bm25, _), _ = bm25_ranked(qtexts, qids, dtexts, dids, qrels, [10, K])
        row["bm25"] = {k: round(bm25[k], 4) for k in HEADLINE}
        out["splits"][split] = row
        print(json.dumps({split: row}), flush=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
