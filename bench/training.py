"""Training proofs: CoSENT on STS-B, MNRL on NLI triplets (transfer), Matryoshka on SciFact, train-step throughput.

Phases (each stores its result under .embedforge/bench/training/ and is reused unless --fresh):
- sts: CoSENT on stsbenchmark train, Spearman (cosine vs gold) on stsbenchmark test, base vs tuned.
- nli: MNRL on (premise, entailment, contradiction) triplets from SICK and SNLI (SentEval dev+test), then SciFact
  NDCG@10 and STS-B test Spearman, base vs tuned.
- matryoshka: the flow on SciFact (dense positive-aware negatives) with and without train.matryoshka_dims
  [384, 256, 128, 64]; NDCG@10 at each size. --matryoshka-weights 1,1,2,4 weighs the sizes' loss terms (stored
  as its own result, matryoshka-w1-1-2-4).
- throughput: pairs/s of the flow's train step against the same training written with sentence-transformers alone,
  side by side, alternating, median of --repeats, on the first --pairs SciFact train pairs with 3 mined negatives.
Usage: .venv/bin/python bench/training.py [--phase sts,nli,matryoshka,throughput] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from flowrun import emit, run_flow  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
STORE = ROOT / ".embedforge" / "store"
BENCH = ROOT / ".embedforge" / "bench" / "training"
STS_COLUMNS = {"sentence1": "5", "sentence2": "6", "score": "4"}
MATRYOSHKA_TARGET = 0.99  # 64 dims keep ≥ 99% of the same model's full-size NDCG@10


def _stored(name: str, fresh: bool, compute) -> dict:
    path = BENCH / f"{name}.json"
    if path.is_file() and not fresh:
        return json.loads(path.read_text())
    result = compute()
    path.write_text(json.dumps(result, indent=2))
    return result


def sts_spearman(model_path: str, split: str = "test") -> float:
    from scipy.stats import spearmanr
    from sentence_transformers import SentenceTransformer

    from tasks.ingest.tables import validate_table

    table = validate_table(SHARED / "stsbenchmark" / f"sts-{split}.csv", "sts", STS_COLUMNS).valid
    model = SentenceTransformer(model_path, device="cpu")
    a = model.encode(table["sentence1"].to_list(), batch_size=64, normalize_embeddings=True)
    b = model.encode(table["sentence2"].to_list(), batch_size=64, normalize_embeddings=True)
    return float(spearmanr((a * b).sum(1), table["score"].to_list()).statistic)


def scifact_ndcg(model_path: str) -> float:
    from tasks.config import DataConfig, EvalConfig
    from tasks.evaluate import evaluate_model
    from tasks.steps import fingerprint, ingest
    from tasks.storage import ModelRef, dir_sha256

    cfg = DataConfig(path=str(SHARED / "scifact"))
    data = ingest.fn(fingerprint(cfg), cfg, str(STORE))
    ref = ModelRef(path=model_path, sha256=dir_sha256(Path(model_path)), name=Path(model_path).name)
    (macro, _), _, _ = evaluate_model(
        ref, data.corpus, data.queries, data.test_qrels, EvalConfig(dims=[], bm25=False), str(STORE), "cpu"
    )
    return macro["ndcg@10"]


def _train(sets, cfg, name: str) -> tuple[str, dict]:
    from tasks.embeddings import resolve_model
    from tasks.train import train_model

    out = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=BENCH))
    from tasks.loss_curve import diagnose

    stats = train_model(resolve_model("all-MiniLM-L6-v2").path, sets, cfg, out, "cpu")
    return str(out / "model"), {**stats.model_dump(), "diagnosis": diagnose(stats.loss_curve)}


def phase_sts() -> dict:
    from tasks.config import TrainConfig
    from tasks.embeddings import resolve_model
    from tasks.ingest.tables import validate_table
    from tasks.train import TrainingSet, table_rows

    train = validate_table(SHARED / "stsbenchmark" / "sts-train.csv", "sts", STS_COLUMNS)
    cfg = TrainConfig(epochs=1, batch_size=16, learning_rate=2e-5)
    path, stats = _train({"sts": TrainingSet(table_rows("sts", train.valid), "cosent")}, cfg, "sts")
    base = sts_spearman(resolve_model("all-MiniLM-L6-v2").path)
    tuned = sts_spearman(path)
    return {
        "train_rows": train.valid.height,
        "loss": "cosent",
        "config": cfg.model_dump(mode="json"),
        "spearman_test": {"base": round(base, 4), "tuned": round(tuned, 4), "gain": round(tuned - base, 4)},
        "train_seconds": stats["seconds"],
        "diagnosis": stats["diagnosis"]["advice"],
    }


def phase_nli() -> dict:
    import polars as pl

    from tasks.config import TrainConfig
    from tasks.embeddings import resolve_model
    from tasks.ingest.convert import nli_to_triplets
    from tasks.ingest.tables import validate_table
    from tasks.train import TrainingSet

    sick = validate_table(
        SHARED / "sick" / "SICK.txt",
        "nli",
        {"premise": "sentence_A", "hypothesis": "sentence_B", "label": "entailment_label"},
    )
    snli = validate_table(SHARED / "snli-senteval", "nli")
    triplets = nli_to_triplets(pl.concat([sick.valid, snli.valid]))
    cfg = TrainConfig(epochs=1, batch_size=32, learning_rate=2e-5)
    path, stats = _train({"nli": TrainingSet(triplets, "mnrl")}, cfg, "nli")
    base_path = resolve_model("all-MiniLM-L6-v2").path
    return {
        "nli_rows": {"sick": sick.valid.height, "snli_senteval": snli.valid.height},
        "triplets": triplets.height,
        "loss": "mnrl",
        "config": cfg.model_dump(mode="json"),
        "scifact_ndcg@10": {"base": round(scifact_ndcg(base_path), 4), "tuned": round(scifact_ndcg(path), 4)},
        "stsb_spearman_test": {"base": round(sts_spearman(base_path), 4), "tuned": round(sts_spearman(path), 4)},
        "train_seconds": stats["seconds"],
        "diagnosis": stats["diagnosis"]["advice"],
    }


def _flow(name: str, overrides: list[str]) -> dict:
    summary, _ = run_flow(
        [f"data.path={SHARED / 'scifact'}", "eval.dims=[256,128,64]", *overrides], BENCH / "models" / name, BENCH, name
    )
    return {dim: values["ndcg@10"] for dim, values in summary["dims"]["candidate"].items()}


def phase_matryoshka(plain_run: str | None, weights: str | None = None) -> dict:
    dense = "mining.strategies=[{name: dense}]"
    if plain_run:  # the same flow run without Matryoshka, already made (bench/mining.py's dense_positive_aware)
        summary = json.loads(Path(plain_run).read_text())
        plain = {dim: values["ndcg@10"] for dim, values in summary["dims"]["candidate"].items()}
    else:
        plain = _flow("plain", [dense])
    nested_overrides = [dense, "train.matryoshka_dims=[384,256,128,64]"]
    if weights:
        nested_overrides.append(f"train.matryoshka_weights=[{weights}]")
    nested = _flow(_matryoshka_name(weights), nested_overrides)
    kept = {dim: round(nested[dim] / nested["384"], 4) for dim in nested}
    return {
        "ndcg@10": {"mnrl": plain, "matryoshka": nested},
        "share_of_full_size": {"mnrl": {dim: round(plain[dim] / plain["384"], 4) for dim in plain}, "matryoshka": kept},
        "targets": {
            "matryoshka_64_keeps_99pct": kept["64"] >= MATRYOSHKA_TARGET,
            "matryoshka_64_beats_mnrl_64": nested["64"] > plain["64"],
        },
    }


def _matryoshka_name(weights: str | None) -> str:
    return "matryoshka" + (f"-w{weights.replace(',', '-')}" if weights else "")


def phase_throughput(pairs: int, repeats: int) -> dict:
    import polars as pl
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.training_args import (
        BatchSamplers,
        SentenceTransformerTrainingArguments,
    )

    from tasks.config import DataConfig, MiningConfig, TrainConfig
    from tasks.embeddings import resolve_model
    from tasks.steps import fingerprint, ingest, mine, train
    from tasks.storage import read_frame, write_frame
    from tasks.train import training_frame

    cfg_data = DataConfig(path=str(SHARED / "scifact"))
    data = ingest.fn(fingerprint(cfg_data), cfg_data, str(STORE))
    base = resolve_model("all-MiniLM-L6-v2")
    mined = mine.fn(data, base, MiningConfig(), str(STORE), device="cpu")
    subset = read_frame(data.train_pairs).head(pairs)
    small = data.model_copy(update={"train_pairs": write_frame(subset, str(STORE), "pairs")})
    cfg = TrainConfig(epochs=1, batch_size=32, checkpoint_steps=20)
    frame = training_frame(subset, read_frame(mined.negatives).filter(pl.col("stage") == 0), read_frame(data.corpus))

    def flow_step() -> float:
        began = time.perf_counter()
        train.fn(small, mined.negatives, base, cfg.model_copy(update={"seed": len(flow_runs)}), str(STORE))
        return time.perf_counter() - began

    def st_alone() -> float:
        began = time.perf_counter()
        model = SentenceTransformer(base.path, device="cpu")
        args = SentenceTransformerTrainingArguments(
            output_dir=tempfile.mkdtemp(dir=BENCH),
            num_train_epochs=1,
            per_device_train_batch_size=32,
            learning_rate=2e-5,
            warmup_steps=0.1,
            weight_decay=0.01,
            seed=len(st_runs),
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            use_cpu=True,
            save_strategy="no",
            report_to="none",
        )
        trainer = SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_dict(frame.to_dict(as_series=False)),
            loss=MultipleNegativesRankingLoss(model),
        )
        trainer.train()
        model.save(tempfile.mkdtemp(dir=BENCH))
        return time.perf_counter() - began

    flow_runs: list[float] = []
    st_runs: list[float] = []
    for _ in range(repeats):  # alternate, so drifting load on the shared machine hits both alike
        flow_runs.append(flow_step())
        st_runs.append(st_alone())
    flow_rate, st_rate = pairs / statistics.median(flow_runs), pairs / statistics.median(st_runs)
    return {
        "pairs": pairs,
        "negatives_per_pair": 3,
        "repeats": repeats,
        "pairs_per_second": {"flow_train_step": round(flow_rate, 3), "sentence_transformers": round(st_rate, 3)},
        "ratio": round(flow_rate / st_rate, 3),
        "seconds": {
            "flow_train_step": [round(x, 1) for x in flow_runs],
            "sentence_transformers": [round(x, 1) for x in st_runs],
        },
        "note": "the flow's step includes reading its inputs, checkpoints every 20 steps and publishing the model",
        "targets": {"ratio>=0.95": flow_rate / st_rate >= 0.95},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", default="sts,nli,matryoshka,throughput")
    parser.add_argument("--pairs", type=int, default=320)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument(
        "--plain-run", help="run.json of the same flow run without Matryoshka, to reuse instead of training it"
    )
    parser.add_argument("--matryoshka-weights", help="comma-separated weight per size 384,256,128,64, e.g. 1,1,2,4")
    parser.add_argument("--json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    BENCH.mkdir(parents=True, exist_ok=True)
    previous = json.loads(Path(args.json).read_text()) if args.json and Path(args.json).is_file() else {}
    phases = {
        "sts": phase_sts,
        "nli": phase_nli,
        "matryoshka": lambda: phase_matryoshka(args.plain_run, args.matryoshka_weights),
        "throughput": lambda: phase_throughput(args.pairs, args.repeats),
    }
    result = dict(previous)
    matryoshka = _matryoshka_name(args.matryoshka_weights)
    for name in args.phase.split(","):
        key = matryoshka if name == "matryoshka" else name
        result[key] = _stored(
            f"throughput-{args.pairs}-{args.repeats}" if name == "throughput" else key, args.fresh, phases[name]
        )
    result["machine"] = "2 CPU cores, 24 GiB, no GPU"
    emit(result, args.json)


if __name__ == "__main__":
    main()
