"""Texts encoded per second by the base model on the GPU; prints JSON (bench/gpu_auto.sh's first call).

SciFact's corpus as the product reads a short document (title and abstract, cut at the model's 256-token limit),
repeated `--copies` times, encoded with sentence-transformers' `encode` in fp32 and in fp16 at several batch sizes;
one warm-up pass, then the median of `--repeats` timed passes. The fp16 vectors are compared with fp32's. It imports
nothing of the product, so it runs before the product's dependencies are on the machine.

    python3 bench/gpu_encode.py --model MODEL_DIR --data ../shared/data/scifact --copies 4 --repeats 3 --json OUT
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, help="BEIR folder (its corpus.jsonl is encoded)")
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", default="64,256,1024")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--json")
    args = parser.parse_args()
    import torch
    from sentence_transformers import SentenceTransformer

    docs = [json.loads(line) for line in (Path(args.data) / "corpus.jsonl").open(encoding="utf-8")]
    texts = [f"{d.get('title', '')} {d.get('text', '')}".strip() for d in docs] * args.copies
    model = SentenceTransformer(args.model, device=args.device)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    runs, reference = [], None
    for precision in ("fp32", "fp16"):
        if precision == "fp16":
            model = model.half()
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            model.encode(texts[:2048], batch_size=batch, convert_to_numpy=True)  # warm-up
            times = []
            for _ in range(args.repeats):
                sync()
                start = time.perf_counter()
                vectors = model.encode(texts, batch_size=batch, convert_to_numpy=True, normalize_embeddings=True)
                sync()
                times.append(time.perf_counter() - start)
            seconds = statistics.median(times)
            row = {
                "precision": precision,
                "batch_size": batch,
                "seconds": times,
                "texts_per_second": len(texts) / seconds,
            }
            if reference is None:
                reference = vectors
            else:
                row["max_abs_diff_vs_fp32"] = float(abs(vectors.astype("float32") - reference).max())
            runs.append(row)
            print(json.dumps(row), flush=True)
    result = {
        "device": torch.cuda.get_device_name(0) if args.device == "cuda" else args.device,
        "torch": torch.__version__,
        "texts": len(texts),
        "max_seq_length": model.max_seq_length,
        "runs": runs,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
