"""Max-passage against first-window reading, with the base model, on BEIR test splits: quality and encoding time.

For each dataset: the bundled model scores the test queries (a) reading every text up to its 256-token limit, as before,
(b) with documents split into passages (eval.passages defaults) scored by their best one, long queries pooled, and
(c) as (b) with each passage under its document's title, as the product reads a corpus with titles (`max_passage`;
(b) is `max_passage_untitled`). All run in this process, one after the other, with BM25 on the same queries beside them.

    .venv/bin/python bench/passages.py --json bench/results/passages.json
    .venv/bin/python bench/passages.py --data ../shared/data/nfcorpus --json bench/results/passages-nfcorpus.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.config import PassageConfig  # noqa: E402
from tasks.embeddings import load_model, resolve_model  # noqa: E402
from tasks.evaluate import HEADLINE, bm25_ranked, dense_metrics, qrels_dict  # noqa: E402
from tasks.ingest import read_beir  # noqa: E402
from tasks.passages import corpus_titles, encode_passages, encode_queries  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data", action="append", help="BEIR folder(s); default SciFact and NFCorpus in ../shared/data"
    )
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    folders = args.data or ["../shared/data/scifact", "../shared/data/nfcorpus"]
    model = load_model(resolve_model(args.model), "cpu")
    out = {
        "model": args.model,
        "machine": f"{platform.node()} ({platform.processor() or platform.machine()})",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "datasets": {},
    }
    for folder in folders:
        data = read_beir(folder, ["test"])
        qrels = qrels_dict(data.qrels["test"])
        queries = data.queries.filter(data.queries["query_id"].is_in(list(qrels)))
        qids, dids = queries["query_id"].to_list(), data.corpus["doc_id"].to_list()
        qtexts, dtexts = queries["text"].to_list(), data.corpus["text"].to_list()
        row = {"queries": len(qids), "documents": len(dids)}
        titles = corpus_titles(data.corpus)
        variants = {
            "first_window": (PassageConfig(split=False), None),
            "max_passage_untitled": (PassageConfig(), None),
            "max_passage": (PassageConfig(), titles),
        }  # the product's reading: each passage under its title
        for name, (cfg, with_titles) in variants.items():
            started = time.perf_counter()
            docs, doc_of = encode_passages(model, dtexts, cfg, 64, "documents", with_titles)
            q = encode_queries(model, qtexts, cfg, 64)
            (macro, _), _, _ = dense_metrics(q, docs, qids, dids, qrels, [10, 100], [], doc_of)
            row[name] = {
                **{k: round(macro[k], 4) for k in HEADLINE},
                "passages": int(len(doc_of)),
                "seconds": round(time.perf_counter() - started, 1),
            }
        (bm25, _), _ = bm25_ranked(qtexts, qids, dtexts, dids, qrels, [10, 100])
        row["bm25"] = {k: round(bm25[k], 4) for k in HEADLINE}
        row["time_ratio"] = round(row["max_passage"]["seconds"] / row["first_window"]["seconds"], 2)
        out["datasets"][Path(folder).name] = row
        print(json.dumps({Path(folder).name: row}), flush=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
