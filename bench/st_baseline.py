"""The retrain a team would write by hand with sentence-transformers, as its documentation shows it: the baseline
bench/vs_st.py times embedforge against. Same work as `embedforge run` with the defaults: score the base model on the
test qrels, mine hard negatives per training pair (mine_hard_negatives; a relative margin of 1 - embedforge's
max_score_ratio), train MultipleNegativesRankingLoss with no duplicate texts in a batch, score the candidate. The
recipe (negatives, margin, depth, epochs, batch, learning rate, warmup) comes in as flags: bench/vs_st.py reads it from
embedforge's defaults, so the two sides train the same recipe whatever the defaults are. Prints one JSON line.

    .venv/bin/python bench/st_baseline.py --data ../shared/data/scifact --model PATH --out DIR --num-negatives 1 \
        --relative-margin 0.05 --range-max 50 --epochs 3 --batch-size 32 --learning-rate 5e-5 --warmup-ratio 0.1
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
from pathlib import Path

started = time.perf_counter()  # imports included: the script is timed as a user would run it

from datasets import Dataset  # noqa: E402
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer  # noqa: E402
from sentence_transformers.evaluation import InformationRetrievalEvaluator  # noqa: E402
from sentence_transformers.losses import MultipleNegativesRankingLoss  # noqa: E402
from sentence_transformers.training_args import BatchSamplers, SentenceTransformerTrainingArguments  # noqa: E402
from sentence_transformers.util import mine_hard_negatives  # noqa: E402


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_qrels(path: Path) -> dict[str, set[str]]:
    relevant: dict[str, set[str]] = {}
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if int(row["score"]) > 0:
                relevant.setdefault(row["query-id"], set()).add(row["corpus-id"])
    return relevant


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--max-train-queries", type=int)
    for flag, kind in (
        ("--num-negatives", int),
        ("--relative-margin", float),
        ("--range-max", int),
        ("--epochs", float),
        ("--batch-size", int),
        ("--learning-rate", float),
        ("--warmup-ratio", float),
    ):
        parser.add_argument(flag, type=kind, required=True)
    args = parser.parse_args()
    data = Path(args.data)
    corpus = {d["_id"]: f"{d.get('title', '')} {d['text']}".strip() for d in read_jsonl(data / "corpus.jsonl")}
    queries = {q["_id"]: q["text"] for q in read_jsonl(data / "queries.jsonl")}
    test = read_qrels(data / "qrels" / "test.tsv")
    train = read_qrels(data / "qrels" / "train.tsv")
    train_queries = sorted(q for q in train if q in queries)
    if args.max_train_queries:
        train_queries = sorted(random.Random(0).sample(train_queries, min(args.max_train_queries, len(train_queries))))
    pairs = [(queries[q], corpus[d]) for q in train_queries for d in sorted(train[q]) if d in corpus]

    model = SentenceTransformer(args.model, device="cpu")
    evaluator = InformationRetrievalEvaluator(
        {q: queries[q] for q in test}, corpus, test, name="test", ndcg_at_k=[10], show_progress_bar=False
    )
    base = evaluator(model)["test_cosine_ndcg@10"]
    mined = mine_hard_negatives(
        Dataset.from_dict({"anchor": [a for a, _ in pairs], "positive": [p for _, p in pairs]}),
        model,
        corpus=list(corpus.values()),
        num_negatives=args.num_negatives,
        relative_margin=args.relative_margin,
        range_max=args.range_max,
        sampling_strategy="top",
        output_format="n-tuple",
        batch_size=64,
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=SentenceTransformerTrainingArguments(
            output_dir=args.out,
            num_train_epochs=args.epochs,
            per_device_train_batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            warmup_ratio=args.warmup_ratio,
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            seed=0,
            save_strategy="no",
            report_to="none",
        ),
        train_dataset=mined,
        loss=MultipleNegativesRankingLoss(model),
    )
    trainer.train()
    model.save(str(Path(args.out) / "model"))
    candidate = evaluator(model)["test_cosine_ndcg@10"]
    print(
        json.dumps(
            {
                "seconds": round(time.perf_counter() - started, 1),
                "base_ndcg@10": round(base, 4),
                "ndcg@10": round(candidate, 4),
                "pairs": len(pairs),
                "rows": len(mined),
            }
        )
    )


if __name__ == "__main__":
    main()
