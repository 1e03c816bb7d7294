"""The flow's train_model on a GPU: the 3-epoch SciFact recipe of bench/mining.py's `mix_partial_match_bm25`
trained in fp32 and in bf16 (or fp16), and
with MatryoshkaLoss, each scored on SciFact test at 384/256/128/64 dimensions with the product's own metrics, beside
the same recipe's CPU run.

Runs on a bare GPU machine (torch and sentence-transformers, plus carried datasets and pydantic wheels): it imports
tasks.train, tasks.config and tasks.metrics only, none of which needs polars, faiss or Prefect. Its input folder is
written by bench/gpu_prepare.py. Prints one JSON object last (after the trainer's own log lines), and writes it to --json. Usage:
    python bench/gpu_train.py DIR [--runs fp32,bf16,bf16:matryoshka] [--device cuda] [--epochs N]
A run is PRECISION[:matryoshka[:W1-W2-W3-W4]] (weights of the 384/256/128/64 sizes; equal when left out).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from flowrun import emit  # noqa: E402  (standard library only)

DIMS = [384, 256, 128, 64]


def retrieval_scores(model_path: str, test: dict, device: str) -> dict:
    """Exact cosine search of the test queries over the corpus (top 100), scored by tasks.metrics, at full size and
    at each truncated size (the first d components, re-normalised, as tasks/evaluate.py serves Matryoshka)."""
    import torch
    from sentence_transformers import SentenceTransformer

    from tasks.metrics import evaluate_run

    model = SentenceTransformer(model_path, device=device).float().eval()
    doc_ids, query_ids = list(test["corpus"]), list(test["queries"])
    began = time.perf_counter()
    docs = model.encode(
        [test["corpus"][d] for d in doc_ids], batch_size=128, convert_to_tensor=True, normalize_embeddings=True
    )
    queries = model.encode(
        [test["queries"][q] for q in query_ids], batch_size=128, convert_to_tensor=True, normalize_embeddings=True
    )
    seconds = time.perf_counter() - began
    result = {}
    for dim in DIMS:
        head_q = torch.nn.functional.normalize(queries[:, :dim].float(), dim=1)
        head_d = torch.nn.functional.normalize(docs[:, :dim].float(), dim=1)
        scores, rows = torch.topk(head_q @ head_d.T, k=100, dim=1)
        run = {q: {doc_ids[j]: s for j, s in zip(r, v)} for q, r, v in zip(query_ids, rows.tolist(), scores.tolist())}
        macro, _ = evaluate_run(run, test["qrels"], [10, 100])
        result[str(dim)] = round(macro["ndcg@10"], 4)
        if dim == DIMS[0]:
            result["recall@100"] = round(macro["recall@100"], 4)
    return {
        "ndcg@10": result[str(DIMS[0])],
        "recall@100": result.pop("recall@100"),
        "ndcg@10_by_dim": result,
        "kept_at_64": round(result["64"] / result[str(DIMS[0])], 4),
        "encode_seconds": round(seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir")
    parser.add_argument(
        "--runs", default="fp32,bf16,bf16:matryoshka", help="bf16 falls back to fp16 where the GPU lacks it"
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--epochs", type=float, default=None, help="override the recipe's epochs (a quick check)")
    parser.add_argument("--json", help="also write the result here (the trainer logs to stdout as well)")
    parser.add_argument(
        "--seeds", default="0", help="comma-separated: each run once per seed (the seed-to-seed spread)"
    )
    args = parser.parse_args()
    import sentence_transformers
    import torch

    from tasks.config import TrainConfig
    from tasks.loss_curve import diagnose
    from tasks.train import pick_precision, train_model

    folder = Path(args.dir)
    with gzip.open(folder / "train.json.gz", "rt", encoding="utf-8") as f:
        train = json.load(f)
    with gzip.open(folder / "test.json.gz", "rt", encoding="utf-8") as f:
        test = json.load(f)
    model = str(folder / "model")
    out = {
        "device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "recipe": train["recipe"],
        "rows": len(train["columns"]["anchor"]),
        "base": retrieval_scores(model, test, args.device),
        "runs": [],
    }
    for spec, seed in [(s, int(n)) for s in args.runs.split(",") for n in args.seeds.split(",")]:
        requested, *matryoshka = spec.split(":")
        # bf16 on CUDA means the trainer's own choice: bf16 where supported, else fp16
        precision = pick_precision(args.device, "auto") if requested == "bf16" and args.device == "cuda" else requested
        update = {"precision": precision, "device": args.device, "seed": seed}
        if matryoshka:
            update["matryoshka_dims"] = DIMS
            update["matryoshka_weights"] = [float(w) for w in matryoshka[1].split("-")] if len(matryoshka) > 1 else None
        if args.epochs:
            update["epochs"] = args.epochs
        cfg = TrainConfig(**{**train["train"], **update})
        work = Path(tempfile.mkdtemp(prefix=f"gpu-{spec.replace(':', '-')}-{seed}-"))
        trained = train_model(model, train["columns"], cfg, work, args.device, work / "checkpoints")
        stats = {**trained.model_dump(), "diagnosis": diagnose(trained.loss_curve)}
        out["runs"].append(
            {
                "run": spec,
                "seed": seed,
                "precision": stats["precision"],
                "matryoshka_weights": stats["matryoshka_weights"],
                "device": stats["device"],
                "steps": stats["steps"],
                "train_seconds": stats["seconds"],
                "examples_per_second": stats["examples_per_second"],
                "train_loss": round(stats["train_loss"], 4),
                "diagnosis": stats["diagnosis"]["verdict"],
                **retrieval_scores(str(work / "model"), test, args.device),
            }
        )
        print(json.dumps(out["runs"][-1]), file=sys.stderr, flush=True)
    cpu = folder / "cpu.json"
    if cpu.is_file():
        out["cpu_reference"] = json.loads(cpu.read_text())
        same = [
            r for r in out["runs"] if r["steps"] == out["cpu_reference"]["steps"]
        ]  # a shortened run compares with nothing
        out["speedup_vs_cpu"] = {
            f"{r['run']} seed {r['seed']}": round(out["cpu_reference"]["train_seconds"] / r["train_seconds"], 1)
            for r in same
        }
    emit(out, args.json)


if __name__ == "__main__":
    main()
