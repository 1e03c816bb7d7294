"""SciFact end to end: base vs fine-tuned NDCG@10 and the time of each step, then a repeat run that must be all cache hits.

Runs the real flow through the CLI (`embedforge run`) in fresh processes, as a user would, on ../shared/data/scifact.
Prints one JSON object. Usage:
    .venv/bin/python bench/scifact.py [--set train.epochs=3 --set train.learning_rate=5e-5] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from flowrun import emit  # noqa: E402

TARGET_NDCG = 0.69  # +7% over the 0.645 base, ahead of sentence-transformers' own mine_hard_negatives recipe (0.684)
TARGET_CACHED_SECONDS = 30.0


def run_once(overrides: list[str], workdir: Path, name: str) -> tuple[dict, float]:
    out = workdir / f"{name}.json"
    command = [
        sys.executable,
        "-m",
        "flows.cli",
        "run",
        "--config",
        str(ROOT / "configs/scifact.yaml"),
        "--json",
        str(out),
    ]
    for item in overrides:
        command += ["--set", item]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    (workdir / f"{name}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(
            f"{name} failed (exit {proc.returncode}); log: {workdir / f'{name}.log'}\n{proc.stderr[-2000:]}"
        )
    return json.loads(out.read_text()), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override for both runs")
    parser.add_argument("--json", help="also write the result here")
    parser.add_argument(
        "--tag", default="default", help="names the registry folder, so variants do not gate against each other"
    )
    args = parser.parse_args()

    bench_dir = ROOT / ".embedforge" / "bench" / "scifact"
    bench_dir.mkdir(parents=True, exist_ok=True)
    overrides = [
        f"registry.root={bench_dir / ('models-' + args.tag)}",
        f"registry.store={ROOT / '.embedforge' / 'store'}",  # shared store: variants reuse ingest and mining
        *args.set,
    ]
    workdir = Path(tempfile.mkdtemp(prefix=f"scifact-{args.tag}-", dir=bench_dir))
    first, first_seconds = run_once(overrides, workdir, "first")
    second, second_seconds = run_once(overrides, workdir, "second")
    candidate = first["metrics"]["candidate"]["ndcg@10"]
    result = {
        "dataset": "scifact (BEIR): train qrels to train, test qrels to evaluate",
        "overrides": args.set,
        "base_ndcg@10": first["metrics"]["base"]["ndcg@10"],
        "candidate_ndcg@10": candidate,
        "relative_gain": candidate / first["metrics"]["base"]["ndcg@10"] - 1,
        "base": {k: first["metrics"]["base"][k] for k in ("ndcg@10", "mrr@10", "map@100", "recall@100")},
        "candidate": {k: first["metrics"]["candidate"][k] for k in ("ndcg@10", "mrr@10", "map@100", "recall@100")},
        "promoted": first["promoted"],
        "reason": first["reason"],
        "training": {
            k: first["training"].get(k)
            for k in ("examples", "steps", "seconds", "examples_per_second", "device", "precision")
        },
        "first_run": {"wall_seconds": round(first_seconds, 1), "steps": first["steps"]},
        "second_run": {
            "wall_seconds": round(second_seconds, 1),
            "all_cached": all(s["cached"] for s in second["steps"].values()),
            "steps": second["steps"],
        },
        "targets": {
            "candidate_ndcg@10>=0.69": candidate >= TARGET_NDCG,
            "second_run_all_cached_under_30s": all(s["cached"] for s in second["steps"].values())
            and second_seconds < TARGET_CACHED_SECONDS,
        },
        "logs": str(workdir),
    }
    emit(result, args.json)


if __name__ == "__main__":
    main()
