"""Everything bench/gpu.sh needs on a bare GPU machine, written to one folder (about 50 MB, under the 64 MB carried):

- model/      an fp16 safetensors copy of the bundled all-MiniLM-L6-v2 (train_model trains it with fp32 master weights)
- train.json.gz   the SciFact training rows of the 3-epoch mix_partial_match_bm25 run (anchor, positive, negative_1..3) and its
                  TrainConfig, built by the flow's own ingest, mining and training_frame
- test.json.gz    SciFact test queries, corpus and qrels, for the metrics of tasks/metrics.py
- cpu.json        the same run's figures on this machine (from its run.json), to compare against

Usage: .venv/bin/python bench/gpu_prepare.py OUT_DIR [--run RUN_JSON]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "data"
STORE = ROOT / ".embedforge" / "store"
RECIPE = ["mining.strategies=[{name: partial_match}, {name: bm25}]", "train.epochs=3", "train.learning_rate=5e-5"]


def _write_gz(path: Path, obj: dict) -> None:
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as out:
        json.dump(obj, out)
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument(
        "--run",
        default=str(ROOT / ".embedforge/bench/mining/3ep/best_mix-9g2qgdyt/run.json"),
        help="the CPU flow run of the same recipe, whose figures go in cpu.json (the default folder "
        "was written before the variant was renamed from best_mix; bench/mining.py now writes "
        "mix_partial_match_bm25-*)",
    )
    args = parser.parse_args()
    import polars as pl
    from sentence_transformers import SentenceTransformer

    from tasks.config import load_config
    from tasks.embeddings import resolve_model
    from tasks.evaluate import qrels_dict
    from tasks.steps import fingerprint, ingest, mine
    from tasks.storage import read_frame
    from tasks.train import training_frame

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = resolve_model("all-MiniLM-L6-v2")
    if not (out / "model" / "model.safetensors").is_file():
        SentenceTransformer(base.path, device="cpu").half().save(str(out / "model"), safe_serialization=True)
    cfg = load_config(ROOT / "configs" / "scifact.yaml", [f"data.path={SHARED / 'scifact'}", *RECIPE])
    data = ingest.fn(fingerprint(cfg.data), cfg.data, str(STORE))
    mined = mine.fn(data, base, cfg.mining, str(STORE), device="cpu")
    pairs, corpus = read_frame(data.train_pairs), read_frame(data.corpus)
    frame = training_frame(pairs, read_frame(mined.negatives).filter(pl.col("stage") == 0), corpus)
    _write_gz(
        out / "train.json.gz",
        {"recipe": RECIPE, "train": cfg.train.model_dump(mode="json"), "columns": frame.to_dict(as_series=False)},
    )
    qrels = qrels_dict(read_frame(data.test_qrels))
    queries = read_frame(data.queries).filter(pl.col("query_id").is_in(list(qrels)))
    _write_gz(
        out / "test.json.gz",
        {
            "queries": dict(queries.select("query_id", "text").iter_rows()),
            "corpus": dict(corpus.select("doc_id", "text").iter_rows()),
            "qrels": qrels,
        },
    )
    run = json.loads(Path(args.run).read_text())
    (out / "cpu.json").write_text(
        json.dumps(
            {
                "run": args.run,
                "device": run["training"]["device"],
                "precision": run["training"]["precision"],
                "train_seconds": run["training"]["seconds"],
                "steps": run["training"]["steps"],
                "ndcg@10": run["metrics"]["candidate"]["ndcg@10"],
                "base_ndcg@10": run["metrics"]["base"]["ndcg@10"],
            },
            indent=2,
        )
    )
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(
        f"{out}: {frame.height} training rows, {len(qrels)} test queries, {corpus.height} documents; {size / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
