"""Defaults from several domains: for each dataset, the base model, BM25, the hybrid, the default run and the auto run.

Each run is the real flow through the CLI (`embedforge run`) in a fresh process on a cold store of its own, with the
defaults and nothing beyond the dataset path (`train.auto=true` for the auto run), seed 0. The test queries are scored
once per configuration, by the run itself; nothing here is chosen on them. Results merge into the JSON file, so
datasets and modes can be run one at a time (they take hours on two CPU cores):

    .venv/bin/python bench/longdocs.py .embedforge/longdocs
    .venv/bin/python bench/domains.py --json bench/results/domains.json                       # everything
    .venv/bin/python bench/domains.py --dataset longdocs --mode default --json bench/results/domains.json

Writes datasets.<name>.{base,bm25,hybrid,default,auto}.{ndcg@10,mrr@10,recall@100} and
datasets.<name>.{default,auto}.{seconds,peak_gb,random_negative_share,recipe}, each beside the command that made it.
`hybrid` is the RRF of BM25 and the default run's candidate (each run's own is under <mode>.hybrid).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATASETS = {
    "scifact": "../shared/data/scifact",
    "nfcorpus": "../shared/data/nfcorpus",
    "longdocs": ".embedforge/longdocs",
}
MODES = {"default": [], "auto": ["train.auto=true"]}
KEYS = ("ndcg@10", "mrr@10", "recall@100")


def figures(metrics: dict | None) -> dict | None:
    return {k: round(metrics[k], 4) for k in KEYS} if metrics else None


def run(name: str, path: str, mode: str, work: Path) -> dict:
    """One cold-store run of the flow; its figures, time, peak memory, negatives' random share and training recipe."""
    folder = work / name / mode
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    out = folder / "summary.json"
    command = [
        sys.executable,
        "-m",
        "flows.cli",
        "run",
        "--json",
        str(out),
        "--set",
        f"data.path={path}",
        "--set",
        f"registry.root={folder / 'models'}",
        "--set",
        f"registry.store={folder / 'store'}",
    ]
    for item in MODES[mode]:
        command += ["--set", item]
    env = {**os.environ, "PREFECT_HOME": str(folder / "prefect")}
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    (folder / "run.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}", "log": str(folder / "run.log"), "seconds": round(seconds, 1)}
    summary = json.loads(out.read_text())
    training = summary.get("training") or {}
    auto = summary.get("auto") or {}
    return {
        **figures(summary["metrics"]["candidate"]),
        "promoted": summary["promoted"],
        "reason": summary["reason"],
        "seconds": round(seconds, 1),
        "peak_gb": max((s.get("peak_gb") or 0) for s in summary["steps"].values()),
        "random_negative_share": summary.get("mining", {}).get("random_share"),
        "pairs_capped": summary.get("mining", {}).get("capped"),  # mining.max_pairs_per_query: what was kept, or None
        "recipe": auto.get("recipe")
        or {
            "learning_rate": training.get("learning_rate"),
            "batch_size": training.get("batch_size"),
            "epochs": training.get("epochs"),
        },
        "hybrid": figures(summary.get("hybrid")),
        "base": figures(summary["metrics"]["base"]),
        "bm25": figures(summary.get("bm25")),
        "passages": summary.get("passages"),
        "training": {
            k: training.get(k) for k in ("examples", "steps", "epochs", "planned_epochs", "budget", "seconds")
        },
        "command": " ".join(command[1:]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", action="append", choices=list(DATASETS), help="default: all")
    parser.add_argument("--mode", action="append", choices=list(MODES), help="default: both")
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    target = Path(args.json)
    result = json.loads(target.read_text()) if target.is_file() else {"datasets": {}}
    result.update(machine=f"{platform.node()}, {os.cpu_count()} CPUs", seed=0)
    work = ROOT / ".embedforge" / "bench" / "domains"
    for name in args.dataset or list(DATASETS):
        row = result["datasets"].setdefault(name, {})
        for mode in args.mode or list(MODES):
            outcome = run(name, DATASETS[name], mode, work)
            outcome["date"] = datetime.now(UTC).isoformat(timespec="seconds")
            row[mode] = outcome
            if mode == "default" and "error" not in outcome:
                row.update(base=outcome["base"], bm25=outcome["bm25"], hybrid=outcome["hybrid"])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(result, indent=2) + "\n")
            print(json.dumps({name: {mode: outcome}}), flush=True)


if __name__ == "__main__":
    main()
