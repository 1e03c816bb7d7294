"""Passages encoded per second, per encoding batch size, on the CPU; prints JSON.

What mining and evaluation spend most of their time on: SciFact's corpus read as passages (under their titles, at
the model's 256-token limit, as the product reads it), encoded with the bundled model by the product's own `encode`
(sentence-transformers, texts sorted by length inside). The same seeded sample of passages for every batch size,
sizes alternating within each repeat; medians over repeats and each size's speed against batch 64 (the default of
`mining.encode_batch_size` and `eval.batch_size`). The vectors of every size are compared with batch 64's.

    .venv/bin/python bench/encode_batch.py --passages 768 --repeats 3 --json bench/results/encode_batch.json
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
SIZES = (64, 32, 16, 8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=768)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()

    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from tasks.config import PassageConfig
    from tasks.embeddings import encode, resolve_model
    from tasks.passages import model_passages

    model = SentenceTransformer(resolve_model("all-MiniLM-L6-v2").path, device="cpu", local_files_only=True)
    corpus = [json.loads(line) for line in (SCIFACT / "corpus.jsonl").open(encoding="utf-8")]
    texts = [f"{d.get('title', '')} {d['text']}".strip() for d in corpus]
    split = model_passages(model, texts, PassageConfig(), [d.get("title", "") for d in corpus])
    sample = random.Random(0).sample(split.texts, min(args.passages, len(split.texts)))
    seconds: dict[int, list[float]] = {size: [] for size in SIZES}
    vectors: dict[int, np.ndarray] = {}
    for repeat in range(args.repeats):
        for size in SIZES if repeat % 2 == 0 else tuple(reversed(SIZES)):
            started = time.perf_counter()
            vectors[size] = encode(model, sample, size, f"batch {size}")
            seconds[size].append(time.perf_counter() - started)
            print(json.dumps({"repeat": repeat, "batch": size, "seconds": round(seconds[size][-1], 2)}), flush=True)
    base = statistics.median(seconds[64])
    result = {
        "sizes": {
            str(size): {
                "seconds": round(statistics.median(times), 2),
                "passages_per_second": round(len(sample) / statistics.median(times), 1),
                "speed_vs_64": round(base / statistics.median(times), 3),
                "max_abs_diff_vs_64": float(np.abs(vectors[size] - vectors[64]).max()),
                "runs": [round(t, 2) for t in times],
            }
            for size, times in seconds.items()
        },
        "passages": len(sample),
        "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(),
        **provenance(),
    }
    emit(result, args.json)


if __name__ == "__main__":
    main()
