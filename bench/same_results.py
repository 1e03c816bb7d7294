"""Does a change of code keep the results? The ingest, mine and train steps of the default config on a dataset, run by
whatever code tree this script is run from; prints the sha256 of what each step produced. Run it from two checkouts
(the same --store, so the base model's corpus embeddings are encoded once) and compare the lines.

    .venv/bin/python bench/same_results.py --data ../shared/data/scifact --store /tmp/same/store [--pairs 64]

Training is cut to a seeded sample of `--pairs` training pairs (whole queries), batch 16, one epoch, so it takes a
minute on two CPU cores; mining runs on every training pair.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path.cwd()  # the checkout under test: run from its root
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--pairs", type=int, default=64)
    args = parser.parse_args()

    from flows.cli import local_defaults

    local_defaults()
    from tasks.config import load_config
    from tasks.embeddings import resolve_model
    from tasks.ingest.pipeline import ingest_data
    from tasks.steps import mine, train
    from tasks.storage import file_sha256

    cfg = load_config(
        None,
        [f"data.path={args.data}", f"train.max_pairs={args.pairs}", "train.batch_size=16", "train.epochs=1"],
    )
    base = resolve_model(cfg.train.base_model)
    data = ingest_data(cfg.data.path, cfg.data, args.store, base.path)
    mined = mine.fn(data, base, cfg.mining, args.store, passages=cfg.eval.passages)
    trained = train.fn(data, mined.negatives, base, cfg.train, args.store, passages=cfg.eval.passages)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    print(
        json.dumps(
            {
                "commit": commit.stdout.strip(),
                "train_pairs": file_sha256(Path(data.train_pairs.path)),
                "corpus": file_sha256(Path(data.corpus.path)),
                "negatives": file_sha256(Path(mined.negatives.path)),
                "random_share": mined.report["random_share"],
                "model": trained.model.sha256,
            }
        )
    )


if __name__ == "__main__":
    main()
