"""BM25 on long documents and long queries: rank-bm25 against bm25s, the legal-sized case of issue 15.

The case: 2,000 documents of thousands of words and 100 queries that are whole documents themselves (judgments citing
judgments). Built from public text: each document stitches 20 SciFact/NFCorpus abstracts drawn at random (seeded);
each query stitches 10 abstracts of one document with 10 others, so it has a true match to find. Both engines run the
flow's own `bm25_search` (the function mining, partial match and the evaluation baseline call) with the same tokenizer.
rank-bm25 costs every query term × every document in Python, so it is timed on `--slow-queries` queries and its
search time extrapolated to 100 (said so in the output); its top-k on those queries is compared with bm25s'.
Usage:
    .venv/bin/python bench/bm25_long.py --data ../shared/data --json bench/results/bm25_long.json [--slow-queries 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tasks.mining.bm25 import bm25_search, scorer, tokenize  # noqa: E402

SOURCES = ("scifact", "nfcorpus")


def abstracts(data: Path) -> list[str]:
    texts = []
    for name in SOURCES:
        with open(data / name / "corpus.jsonl", encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                texts.append(f"{row.get('title', '')}. {row['text']}")
    return texts


def long_case(texts: list[str], n_docs: int, n_queries: int, per_doc: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    parts = [rng.choice(len(texts), size=per_doc, replace=False) for _ in range(n_docs)]
    docs = ["\n\n".join(texts[i] for i in picked) for picked in parts]
    queries = []
    for query in range(n_queries):
        own = parts[query * (n_docs // n_queries)][: per_doc // 2]
        others = rng.choice(len(texts), size=per_doc - own.size, replace=False)
        queries.append("\n\n".join(texts[i] for i in np.concatenate([own, others])))
    return docs, queries


def timed(fn):
    began = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "bm25_long.json")
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--per-doc", type=int, default=20, help="abstracts stitched into one document or query")
    parser.add_argument(
        "--slow-queries", type=int, default=10, help="queries rank-bm25 is timed on (then extrapolated)"
    )
    parser.add_argument(
        "--k", type=int, default=100, help="top-k per query (mining's top_k, evaluation's deepest cut-off)"
    )
    args = parser.parse_args()

    docs, queries = long_case(abstracts(args.data), args.docs, args.queries, args.per_doc, seed=0)
    doc_words = [len(tokenize(d)) for d in docs]
    query_words = [len(tokenize(q)) for q in queries]

    import bm25s  # noqa: F401  (imports outside the timings)
    import rank_bm25  # noqa: F401
    import scipy.sparse  # noqa: F401

    _, tokenize_seconds = timed(lambda: [tokenize(d) for d in docs])
    _, fast_index = timed(lambda: scorer(docs, "bm25s"))
    (fast, _, _), fast_total = timed(lambda: bm25_search(queries, docs, args.k, "bm25s"))
    _, slow_index = timed(lambda: scorer(docs, "rank_bm25"))
    slow_queries = queries[: args.slow_queries]
    (slow, _, _), slow_part = timed(lambda: bm25_search(slow_queries, docs, args.k, "rank_bm25"))
    per_query = (slow_part - slow_index) / len(slow_queries)
    slow_total = slow_index + per_query * len(queries)
    found = [int(fast[q, 0] == q * (args.docs // args.queries)) for q in range(len(queries))]
    result = {
        "documents": len(docs),
        "words_per_document": {"mean": round(float(np.mean(doc_words))), "min": min(doc_words), "max": max(doc_words)},
        "queries": len(queries),
        "words_per_query": {
            "mean": round(float(np.mean(query_words))),
            "min": min(query_words),
            "max": max(query_words),
        },
        "k": args.k,
        "tokenize_seconds": round(tokenize_seconds, 2),
        "bm25s": {
            "index_seconds": round(fast_index, 2),
            "total_seconds": round(fast_total, 2),  # index: tokenize + build
            "search_seconds": round(fast_total - fast_index, 2),
        },
        "rank_bm25": {
            "index_seconds": round(slow_index, 2),
            "queries_timed": len(slow_queries),
            "seconds_per_query": round(per_query, 2),
            "total_seconds_extrapolated": round(slow_total, 1),
        },
        "speedup_total": round(slow_total / fast_total, 1),
        "same_top_k_on_timed_queries": bool((slow == fast[: len(slow_queries)]).all()),
        "source_document_ranked_first": f"{sum(found)}/{len(found)}",
        "note": (
            f"rank-bm25 timed on {len(slow_queries)} of the {len(queries)} queries, its search time extrapolated "
            "linearly (each query costs the same: every query term against every document); total = tokenize + "
            "index + search of every query, as mining and the evaluation baseline each run it"
        ),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
