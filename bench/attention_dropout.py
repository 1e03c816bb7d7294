"""Seconds of one CPU training step per attention dropout (`train.attention_dropout`); prints JSON.

The default step as the CPU trains it: 32 rows of (query, positive, 1 mined negative), SciFact passages as the train
step reads them (bench/padding.py: rows), the product's loss plan on the CPU (CachedMNRL in mini-batches of
`train.cpu_mini_batch_size`), each model loaded by the trainer's own loader (tasks/train.py: load_for_training).
Variants: the base model's own attention dropout (MiniLM: 0.1) and none (0.0); hidden-state dropout stays in both.
Variants alternate within each repeat (the machine is shared); seconds are forward + backward + optimizer step,
medians over repeats, with the ratio of each against the model's own.

    .venv/bin/python bench/attention_dropout.py --repeats 3 --json bench/results/attention_dropout.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.flowrun import emit, provenance  # noqa: E402
from bench.padding import rows  # noqa: E402

VARIANTS = {"model": "model", "none": 0.0}  # name -> train.attention_dropout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--negatives", type=int, default=1)
    parser.add_argument("--json")
    args = parser.parse_args()

    import torch

    from tasks.config import TrainConfig
    from tasks.embeddings import resolve_model
    from tasks.losses import build_loss
    from tasks.train import load_for_training

    base = TrainConfig()
    cfg = base.model_copy(update={"mini_batch_size": base.cpu_mini_batch_size})
    path = resolve_model(base.base_model).path
    models, losses, optimizers = {}, {}, {}
    for name, value in VARIANTS.items():
        models[name] = load_for_training(path, cfg.model_copy(update={"attention_dropout": value}), "cpu").train()
        losses[name] = build_loss(models[name], "cached_mnrl", cfg)
        optimizers[name] = torch.optim.AdamW(models[name].parameters(), lr=cfg.learning_rate)
    batches = rows(models["model"], args.repeats, args.batch_size, args.negatives, seed=0)
    seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for repeat, columns in enumerate(batches):
        for name in VARIANTS if repeat % 2 == 0 else reversed(VARIANTS):
            torch.manual_seed(repeat)
            started = time.perf_counter()
            features = [models[name].tokenize(column) for column in columns]
            losses[name](features, None).backward()
            optimizers[name].step()
            optimizers[name].zero_grad(set_to_none=True)
            seconds[name].append(time.perf_counter() - started)
            print(f"repeat {repeat} {name}: {seconds[name][-1]:.2f} s", file=sys.stderr, flush=True)
    own = statistics.median(seconds["model"])
    result = {
        "variants": {
            name: {
                "attention_dropout": models[name][0].auto_model.config.attention_probs_dropout_prob,
                "seconds": round(statistics.median(times), 2),
                "ratio_to_model": round(statistics.median(times) / own, 3),
                "runs": [round(t, 2) for t in times],
            }
            for name, times in seconds.items()
        },
        "batch_size": args.batch_size,
        "negatives": args.negatives,
        "mini_batch_size": cfg.mini_batch_size,
        "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(),
        **provenance(),
    }
    emit(result, args.json)


if __name__ == "__main__":
    main()
