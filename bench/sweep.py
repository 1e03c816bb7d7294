"""A small learning-rate × batch-size grid on SciFact through the flow, reusing its cached ingest and mining.

Each cell is a real `embedforge run` (fresh process, shared store: only the train and evaluate steps run again) and
is stored under .embedforge/bench/sweep/ once finished, so an interrupted sweep resumes. Prints the table and JSON.
With `--set train.dev_fraction=0.15 --set train.checkpoint_steps=N` each cell also holds out that share of the
training queries as dev and records its dev curve; the best cell is then picked on dev (`picked_on: dev`), and the
test figures are only reported. Without a dev split the pick is on the test queries, and labelled `picked_on: test`.
Usage:
    .venv/bin/python bench/sweep.py [--lr 1e-5,2e-5,5e-5] [--batch 16,32] [--set train.epochs=1] [--json OUT]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from flowrun import emit, provenance, run_flow  # noqa: E402


def cell(lr: float, batch: int, extra: list[str], data: str, bench: Path, fresh: bool) -> dict:
    overrides = [f"data.path={data}", f"train.learning_rate={lr}", f"train.batch_size={batch}", *extra]
    stored = bench / f"{hashlib.sha256(json.dumps(overrides).encode()).hexdigest()[:12]}.json"
    if stored.is_file() and not fresh:
        return json.loads(stored.read_text())
    started = time.perf_counter()
    summary, _ = run_flow(overrides, bench / "models" / stored.stem, bench, f"cell lr={lr} batch={batch}")
    result = {
        "learning_rate": lr,
        "batch_size": batch,
        "ndcg@10": summary["metrics"]["candidate"]["ndcg@10"],
        "base_ndcg@10": summary["metrics"]["base"]["ndcg@10"],
        "steps": summary["training"]["steps"],
        "train_seconds": summary["steps"]["train"]["seconds"],
        "mine_cached": summary["steps"]["mine"]["cached"],
        "diagnosis": summary["training"].get("diagnosis", {}).get("advice"),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "overrides": overrides,
    }
    dev = summary["training"].get("dev")
    if dev:
        result["dev_ndcg@10_by_step"] = dev["ndcg@10_by_step"]
        result["dev_ndcg@10"] = dev["best_ndcg@10"]
        result["dev_best_step"] = dev["best_checkpoint_step"]
    stored.write_text(json.dumps(result, indent=2))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "scifact"))
    parser.add_argument("--lr", default="1e-5,2e-5,5e-5")
    parser.add_argument("--batch", default="16,32")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    bench = ROOT / ".embedforge" / "bench" / "sweep"
    bench.mkdir(parents=True, exist_ok=True)
    cells = [
        cell(float(lr), int(b), args.set, str(Path(args.data).resolve()), bench, args.fresh)
        for lr in args.lr.split(",")
        for b in args.batch.split(",")
    ]
    lines = [
        "| lr | batch | steps | dev NDCG@10 | test NDCG@10 | train s | loss curve |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {c['learning_rate']:g} | {c['batch_size']} | {c['steps']} | {c.get('dev_ndcg@10') or float('nan'):.4f} | "
        f"{c['ndcg@10']:.4f} | {c['train_seconds']:.0f} | {c['diagnosis']} |"
        for c in cells
    ]
    print("\n".join(lines), file=sys.stderr)
    on = "dev" if all(c.get("dev_ndcg@10") is not None for c in cells) else "test"
    best = max(cells, key=lambda c: c["dev_ndcg@10" if on == "dev" else "ndcg@10"])
    keys = ("learning_rate", "batch_size", "ndcg@10") + (("dev_ndcg@10",) if on == "dev" else ())
    result = {"cells": cells, "picked_on": on, "best": {k: best[k] for k in keys}, **provenance()}
    emit(result, args.json)


if __name__ == "__main__":
    main()
