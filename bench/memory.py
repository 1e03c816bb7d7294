"""Peak resident memory of one training step on long texts, per memory-saving option; prints JSON.

The case of issue 15: 32 rows of (query, positive, 3 negatives), every text at the model's 256-token limit (long
documents make them so). Each variant trains as written (the memory plan off) with the default attention dropout;
`mnrl_b32_attention_dropout` keeps the model's own, whose unfused attention keeps the attention matrices;
`mnrl_b32_padded` has every other text of each column cut to its first sentence, so the batch is padded and the
attention runs with a padding mask (which a fused kernel must take without falling back to the matrices). Each variant
runs in its own process (model load + one step of the real trainer); its peak RSS is read from the kernel
(ru_maxrss), beside a process that only loads the model. Variants alternate over repeats; medians are reported.

    .venv/bin/python bench/memory.py --repeats 2 --json bench/results/memory.json
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.flowrun import emit, provenance  # noqa: E402

MARK = "[bench.memory] "  # the child's own lines, among the trainer's
SCIFACT = ROOT.parent / "shared" / "data" / "scifact" / "corpus.jsonl"
TEXTS_PER_ROW = 5  # query, positive, 3 negatives
VARIANTS = {
    "load_only": {},
    "mnrl_b32": {"loss": "mnrl", "batch_size": 32},
    "mnrl_b32_attention_dropout": {"loss": "mnrl", "batch_size": 32, "attention_dropout": "model"},
    "mnrl_b32_padded": {"loss": "mnrl", "batch_size": 32},
    "mnrl_b16": {"loss": "mnrl", "batch_size": 16},
    "mnrl_b8": {"loss": "mnrl", "batch_size": 8},  # with b16, b24 and b32: the peak's fixed part and its slope per row
    "mnrl_b24": {"loss": "mnrl", "batch_size": 24},
    "mnrl_b32_checkpointing": {"loss": "mnrl", "batch_size": 32, "gradient_checkpointing": True},
    "cached_mnrl_b32_mini8": {"loss": "cached_mnrl", "batch_size": 32, "mini_batch_size": 8},
    "cached_mnrl_b32_mini4": {"loss": "cached_mnrl", "batch_size": 32, "mini_batch_size": 4},
}


def long_texts(n: int, short_every: int = 0) -> list[str]:
    """n texts of several SciFact abstracts each: far beyond 256 tokens, so each is truncated at the limit; with
    short_every, every short_every-th text is cut to its first sentence instead (a few dozen tokens)."""
    abstracts = [json.loads(line)["text"] for line, _ in zip(open(SCIFACT, encoding="utf-8"), range(n * 4))]
    texts = [" ".join(abstracts[i * 4 : (i + 1) * 4]) for i in range(n)]
    return [t.split(". ")[0] + "." if short_every and i % short_every == 1 else t for i, t in enumerate(texts)]


def child(variant: str) -> None:
    from tasks.config import TrainConfig
    from tasks.embeddings import resolve_model

    spec = VARIANTS[variant]
    base = resolve_model(TrainConfig().base_model)
    if not spec:
        from sentence_transformers import SentenceTransformer

        SentenceTransformer(base.path, device="cpu", local_files_only=True)
    else:
        from tasks.train import train_model

        rows = spec["batch_size"]  # one step: as many rows as the batch
        texts = long_texts(rows * TEXTS_PER_ROW, short_every=2 if variant.endswith("_padded") else 0)
        names = ["anchor", "positive", *(f"negative_{n}" for n in range(1, TEXTS_PER_ROW - 1))]
        table = {name: texts[i::TEXTS_PER_ROW] for i, name in enumerate(names)}
        # each variant as written: no memory plan (it would turn MNRL into CachedMNRL on the CPU), the default
        # attention dropout unless the variant names one
        cfg = TrainConfig(epochs=1, checkpoint_steps=0, memory_budget_gb=None, cpu_mini_batch_size=0, **spec)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            stats = train_model(base.path, table, cfg, out, "cpu")
        seconds = round(time.perf_counter() - started, 2)
        # the estimate the memory plan made for this step, from the model it trained (its attention fused or not)
        estimate = stats.memory_plan["main"].estimate_gb
        print(MARK + json.dumps({"step_seconds": seconds, "plan_estimate_gb": estimate}))
    print(MARK + json.dumps({"peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--json")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    names = args.variants.split(",")
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for _ in range(args.repeats):
        for name in names:
            proc = subprocess.run([sys.executable, __file__, "--child", name], capture_output=True, text=True, cwd=ROOT)
            if proc.returncode != 0:
                raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
            values = {}
            for line in proc.stdout.splitlines():
                if line.startswith(MARK):
                    values.update(json.loads(line[len(MARK) :]))
            runs[name].append(values)
            print(f"[memory] {name}: {values}", file=sys.stderr, flush=True)
    result = {
        **provenance(),
        "case": "one training step, 5 texts per row, every text at the 256-token limit, all-MiniLM-L6-v2, fp32 CPU",
        "variants": {},
    }
    for name, values in runs.items():
        row = {"spec": VARIANTS[name], "peak_gb": round(statistics.median(v["peak_gb"] for v in values), 2)}
        if "step_seconds" in values[0]:
            row["seconds_with_load"] = round(statistics.median(v["step_seconds"] for v in values), 1)
        if VARIANTS[name].get("loss") == "mnrl" and not VARIANTS[name].get("gradient_checkpointing"):
            row["plan_estimate_gb"] = values[0]["plan_estimate_gb"]
        result["variants"][name] = row
    result["fit"] = batch_fit(result["variants"])
    emit(result, args.json)


def batch_fit(variants: dict) -> dict | None:
    """Peak GB = fixed + per_row x batch, least squares over the plain MNRL variants (unpadded, the default attention
    dropout), beside the same fit of the plan's estimates; None with fewer than three batch sizes."""
    import numpy as np

    plain = [v for v in variants.values() if set(v["spec"]) == {"loss", "batch_size"} and v["spec"]["loss"] == "mnrl"]
    plain = [v for v in plain if v is not variants.get("mnrl_b32_padded")]
    if len({v["spec"]["batch_size"] for v in plain}) < 3:
        return None
    batch = np.array([v["spec"]["batch_size"] for v in plain], dtype=float)
    out = {"batch_sizes": sorted(int(b) for b in batch)}
    for key in ("peak_gb", "plan_estimate_gb"):
        per_row, fixed = np.polyfit(batch, [v[key] for v in plain], 1)
        residual = np.array([v[key] for v in plain]) - (fixed + per_row * batch)
        out[key] = {
            "fixed": round(float(fixed), 3),
            "per_row": round(float(per_row), 4),
            "max_residual": round(float(abs(residual).max()), 3),
        }
    return out


if __name__ == "__main__":
    main()
