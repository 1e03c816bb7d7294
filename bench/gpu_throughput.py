"""Training throughput of all-MiniLM-L6-v2 with MNRL: samples/s and seconds per epoch, fp32 against bf16.

Needs only torch and sentence-transformers (the GPU machine has no polars, datasets or Prefect), so it runs the
same forward/backward/AdamW step the trainer runs, in a plain loop, on synthetic pairs of SciFact's lengths (claims
of ~20 tokens, abstracts filling the 256-token limit). Prints one JSON object. Usage:
    python bench/gpu_throughput.py --model PATH [--pairs 5000] [--batch-size 32,256] [--device cuda] [--steps 40]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time


def synthetic_pairs(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    words = [
        f"{a}{b}"
        for a in ("pro", "cyt", "gen", "neu", "car", "imm", "lip", "vas")
        for b in ("tein", "okine", "ome", "ron", "dio", "une", "id", "cular")
    ]
    claims = [" ".join(rng.choice(words) for _ in range(rng.randint(12, 22))) for _ in range(n)]
    abstracts = [" ".join(rng.choice(words) for _ in range(rng.randint(180, 260))) for _ in range(n)]
    return claims, abstracts


def measure(
    model_path: str, device: str, precision: str, claims: list[str], abstracts: list[str], batch_size: int, steps: int
) -> dict:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    model = SentenceTransformer(model_path, device=device).float()
    model.train()
    loss_fn = MultipleNegativesRankingLoss(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    times = []
    for step in range(steps + 3):  # three warm-up steps are not timed
        start = (step * batch_size) % len(claims)
        batch = [claims[start : start + batch_size], abstracts[start : start + batch_size]]
        features = [
            {k: v.to(device) if hasattr(v, "to") else v for k, v in model.tokenize(texts).items()} for texts in batch
        ]
        if device == "cuda":
            torch.cuda.synchronize()
        began = time.perf_counter()
        with torch.autocast(device_type=device, dtype=dtype, enabled=dtype is not None):
            loss = loss_fn(features, None)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        if step >= 3:
            times.append(time.perf_counter() - began)
    per_step = statistics.median(times)
    return {
        "precision": precision,
        "batch_size": batch_size,
        "samples_per_second": round(batch_size / per_step, 1),
        "seconds_per_epoch": round(per_step * len(claims) / batch_size, 1),
        "median_step_seconds": round(per_step, 4),
        "timed_steps": len(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", required=True, help="SentenceTransformer folder (an fp16 copy is fine: it is cast to fp32)"
    )
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--batch-size", default="32", help="one or more, comma-separated")
    parser.add_argument(
        "--steps", type=int, default=40, help="timed steps per precision (median step time × steps per epoch)"
    )
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    import torch

    claims, abstracts = synthetic_pairs(args.pairs)
    precisions = ["fp32"]
    if args.device == "cuda":
        precisions.append("bf16" if torch.cuda.is_bf16_supported() else "fp16")
    batches = [int(b) for b in args.batch_size.split(",")]
    runs = [measure(args.model, args.device, p, claims, abstracts, b, args.steps) for b in batches for p in precisions]
    out = {
        "device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
        "torch": torch.__version__,
        "pairs": args.pairs,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "runs": runs,
    }
    if len(precisions) == 2:  # half precision's samples/s over fp32's, per batch size
        out["speedup_half_vs_fp32"] = {
            str(b): round(runs[2 * i + 1]["samples_per_second"] / runs[2 * i]["samples_per_second"], 2)
            for i, b in enumerate(batches)
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
