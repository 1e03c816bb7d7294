"""How often mining falls back to random negatives, before and after widening: SciFact train pairs, default mining
(dense + bm25, 3 negatives, top 50, relative margin 95%), mining alone (no training), `mining.fill` random vs widen.

The base model's corpus embeddings are computed once and kept in the store (tasks/embeddings.py corpus_embeddings).
Usage:
    .venv/bin/python bench/mining_fill.py --data ../shared/data/scifact --json bench/results/mining_fill.json \
        [--strategies bm25]   # bm25 alone needs no embeddings: seconds on a CPU instead of ~15 minutes
Prints one JSON object: per fill mode, negatives by strategy and origin, random share, pairs widened and short, seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from flowrun import emit  # noqa: E402
from mining import _ingested  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/scifact")
    parser.add_argument("--json", default=None)
    parser.add_argument("--strategies", default="dense,bm25", help="comma-separated mining strategies")
    args = parser.parse_args()

    from tasks.config import MiningConfig, StrategyConfig
    from tasks.embeddings import corpus_embeddings, encode, load_model, resolve_model
    from tasks.mining import mine_negatives
    from tasks.storage import read_frame

    store = str(ROOT / ".embedforge" / "store")
    data = _ingested(args.data, store)
    pairs, corpus = read_frame(data.train_pairs), read_frame(data.corpus)
    cfg = MiningConfig(strategies=[StrategyConfig(name=name) for name in args.strategies.split(",")])
    queries = docs = None
    if cfg.needs_vectors:
        base = resolve_model("all-MiniLM-L6-v2")
        model = load_model(base, "cpu")
        docs = corpus_embeddings(model, base, data.corpus, store, cfg.encode_batch_size)
        queries = encode(
            model,
            pairs.unique("query_id", keep="first", maintain_order=True)["anchor"].to_list(),
            cfg.encode_batch_size,
            "train queries",
        )
    out = {"data": args.data, "pairs": pairs.height, "documents": corpus.height, "config": cfg.model_dump(mode="json")}
    for fill in ("random", "widen"):
        started = time.perf_counter()
        _, report = mine_negatives(pairs, corpus, cfg.model_copy(update={"fill": fill}), queries, docs)
        out[fill] = {
            k: report[k] for k in ("rows", "origins", "random_share", "pairs_widened", "pairs_short", "warnings")
        }
        out[fill]["seconds"] = round(time.perf_counter() - started, 1)
    emit(out, args.json)


if __name__ == "__main__":
    main()
