"""Seconds of one training step, per way of batching the texts through the encoder; prints JSON.

The default SciFact step: 32 rows of (query, positive, the default number of mined negatives), the model loaded as the
trainer loads it (`load_for_training`: the default attention dropout unless --attention-dropout says otherwise; before
that setting existed this bench ran with the base model's 0.1), documents read as the train step reads them (a
passage of at most the model's 256 tokens, under the document's title; here a seeded random passage of each document
and random documents as negatives, which have the corpus's length distribution). Variants, all the same loss:
- `mnrl`: MultipleNegativesRankingLoss, each column one forward pass padded to its longest text;
- `cached_unsorted_mN`: sentence-transformers' CachedMultipleNegativesRankingLoss, mini-batches of N texts in row order;
- `cached_sorted_mN`: the product's CachedMNRL (tasks/losses.py), each column longest text first, so each mini-batch
  is cut to its own longest text.
One process, the same rows for every variant, variants alternating within each repeat (the machine is shared);
seconds are forward + backward of the loss (the optimizer step is the same for all), medians over repeats, and the
ratio of each against `mnrl`. `padding_share` is the share of computed token positions that are padding.

    .venv/bin/python bench/padding.py --repeats 3 --json bench/results/padding.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.flowrun import emit, provenance  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "data" / "scifact"
MINI_BATCHES = (32, 16, 8)


def rows(
    model, batches: int, batch_size: int, negatives: int, seed: int, data: Path = SCIFACT
) -> list[list[list[str]]]:
    """`batches` batches of columns [queries, positives, negative 1, …] from the train split of `data` (BEIR layout),
    passages as trained."""
    from tasks.config import PassageConfig
    from tasks.passages import model_passages

    corpus = [json.loads(line) for line in (data / "corpus.jsonl").open(encoding="utf-8")]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (data / "queries.jsonl").open(encoding="utf-8"))}
    lines = (data / "qrels" / "train.tsv").read_text(encoding="utf-8").splitlines()[1:]
    pairs = [(queries[q], d) for q, d, _ in (line.split("\t") for line in lines) if q in queries]
    rng = random.Random(seed)
    rng.shuffle(pairs)
    index = {doc["_id"]: i for i, doc in enumerate(corpus)}
    need = batches * batch_size
    picked = [index[d] for _, d in pairs[:need]] + rng.sample(range(len(corpus)), need * negatives)
    texts = [f"{corpus[i].get('title', '')} {corpus[i]['text']}".strip() for i in picked]
    titles = [corpus[i].get("title", "") for i in picked]
    split = model_passages(model, texts, PassageConfig(), titles)
    by_doc: dict[int, list[str]] = {}
    for passage, row in zip(split.texts, split.doc.tolist()):
        by_doc.setdefault(row, []).append(passage)
    docs = [rng.choice(by_doc[row]) for row in range(len(texts))]
    out = []
    for b in range(batches):
        span = slice(b * batch_size, (b + 1) * batch_size)
        columns = [[q for q, _ in pairs[span]], docs[span]]
        for n in range(negatives):
            start = need + (n * batches + b) * batch_size
            columns.append(docs[start : start + batch_size])
        out.append(columns)
    return out


def padding_share(model, columns: list[list[str]], mini: int | None, sort: bool) -> float:
    """Padding among the token positions the encoder computes for one batch."""
    real = padded = 0
    for column in columns:
        lengths = [sum(mask) for mask in model.tokenize(column)["attention_mask"].tolist()]
        if sort:
            lengths.sort(reverse=True)
        step = mini or len(lengths)
        for begin in range(0, len(lengths), step):
            chunk = lengths[begin : begin + step]
            real += sum(chunk)
            padded += max(chunk) * len(chunk)
    return round(1 - real / padded, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--negatives", type=int, help="negatives per row (default: mining.num_negatives)")
    parser.add_argument("--attention-dropout", help="train.attention_dropout (default: the config's)")
    parser.add_argument("--data", type=Path, default=SCIFACT, help="a BEIR-layout folder (default: SciFact)")
    parser.add_argument("--json")
    args = parser.parse_args()

    import torch
    from sentence_transformers.sentence_transformer import losses as st_losses

    from tasks.config import MiningConfig, TrainConfig
    from tasks.embeddings import resolve_model
    from tasks.losses import build_loss
    from tasks.train import load_for_training

    negatives = MiningConfig().num_negatives if args.negatives is None else args.negatives
    cfg = TrainConfig() if args.attention_dropout is None else TrainConfig(attention_dropout=args.attention_dropout)
    model = load_for_training(resolve_model(cfg.base_model).path, cfg, "cpu").train()
    variants = {"mnrl": (lambda: build_loss(model, "mnrl", cfg), None, False)}
    for mini in MINI_BATCHES:
        variants[f"cached_unsorted_m{mini}"] = (
            lambda m=mini: st_losses.CachedMultipleNegativesRankingLoss(model, scale=cfg.scale, mini_batch_size=m),
            mini,
            False,
        )
        variants[f"cached_sorted_m{mini}"] = (
            lambda m=mini: build_loss(model, "cached_mnrl", cfg.model_copy(update={"mini_batch_size": m})),
            mini,
            True,
        )
    batches = rows(model, args.repeats, args.batch_size, negatives, seed=0, data=args.data)
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for repeat, columns in enumerate(batches):
        order = list(variants) if repeat % 2 == 0 else list(reversed(variants))
        for name in order:
            loss = variants[name][0]()
            model.zero_grad(set_to_none=True)
            torch.manual_seed(repeat)
            started = time.perf_counter()
            features = [model.tokenize(column) for column in columns]
            loss(features, None).backward()
            seconds[name].append(time.perf_counter() - started)
            print(json.dumps({"repeat": repeat, "variant": name, "seconds": round(seconds[name][-1], 2)}), flush=True)
    base = statistics.median(seconds["mnrl"])
    result = {
        "variants": {
            name: {
                "seconds": round(statistics.median(times), 2),
                "ratio_to_mnrl": round(statistics.median(times) / base, 3),
                "padding_share": statistics.median(padding_share(model, c, mini, sort) for c in batches),
                "runs": [round(t, 2) for t in times],
            }
            for name, times in seconds.items()
            for _, mini, sort in [variants[name]]
        },
        "batch_size": args.batch_size,
        "negatives": negatives,
        "attention_dropout": cfg.attention_dropout,
        "data": str(args.data),
        "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(),
        **provenance(),
    }
    emit(result, args.json)


if __name__ == "__main__":
    main()
