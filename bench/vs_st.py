"""A whole retrain, embedforge against the same work done by hand with sentence-transformers, side by side.

Alternating runs (ST, embedforge, ST, embedforge, …), each a fresh process on a cold store; wall time of the whole
process (imports, for embedforge also its temporary Prefect server). The ST side is bench/st_baseline.py, the script
a team would write from the documentation; the embedforge side is `embedforge run` with the defaults and the data path.
With --max-train-queries both train on the same seeded sample of training queries (a smaller, labelled check); the
test queries are the full test split either way. The JSON is rewritten after every run (complete: false until all
pairs are in), and --resume adds pairs to it in a later session when the code both sides run is unchanged since the
runs it holds (MEASURED_PATHS): each pair's ratio is of two adjacent runs, so pair_ratio_median holds across sessions
on a machine whose speed drifts, where the medians of seconds do not.

    .venv/bin/python bench/vs_st.py --data ../shared/data/scifact --json bench/results/vs_st.json [--repeats 2]

JSON: st.seconds, embedforge.seconds (medians), ratio (embedforge / st, of the medians), pair_ratios, pair_ratio_median,
st.ndcg@10, embedforge.ndcg@10, bm25.ndcg@10, steps (embedforge's per-step seconds, median run), runs (every run, with
its commit and date), complete, commit, machine, data, subset.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tasks.storage import atomic_write_text  # noqa: E402


def subset(data: Path, queries: int | None, work: Path) -> Path:
    """The data folder, or a copy whose train qrels keep a seeded sample of `queries` training queries."""
    if not queries:
        return data
    folder = work / "data"
    (folder / "qrels").mkdir(parents=True)
    for name in ("corpus.jsonl", "queries.jsonl"):
        (folder / name).symlink_to((data / name).resolve())
    for split in (data / "qrels").glob("*.tsv"):
        if split.stem != "train":
            (folder / "qrels" / split.name).symlink_to(split.resolve())
    with (data / "qrels" / "train.tsv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    ids = sorted({r["query-id"] for r in rows})
    keep = set(random.Random(0).sample(ids, min(queries, len(ids))))
    with (folder / "qrels" / "train.tsv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, ["query-id", "corpus-id", "score"], delimiter="\t")
        writer.writeheader()
        writer.writerows({k: r[k] for k in ("query-id", "corpus-id", "score")} for r in rows if r["query-id"] in keep)
    return folder


def default_recipe(data: Path) -> dict:
    """The recipe `embedforge run` trains with its defaults on `data`, as the script's flags: read from the config
    defaults and the epoch rule, never written here (tasks/config.py, tasks/train.py: auto_epochs)."""
    from tasks.config import PipelineConfig
    from tasks.train import auto_epochs

    cfg = PipelineConfig()
    with (data / "qrels" / "train.tsv").open(encoding="utf-8") as f:
        pairs = sum(1 for row in csv.DictReader(f, delimiter="\t") if int(row["score"]) > 0)
    return {
        "num_negatives": cfg.mining.num_negatives,
        "relative_margin": round(1 - cfg.mining.max_score_ratio, 6),
        "range_max": cfg.mining.top_k,
        "epochs": cfg.train.epochs or auto_epochs(pairs),
        "batch_size": cfg.train.batch_size,
        "learning_rate": cfg.train.learning_rate,
        "warmup_ratio": cfg.train.warmup_ratio,
    }


def run_st(data: Path, work: Path) -> dict:
    from tasks.embeddings import resolve_model

    out = work / "st"
    command = [sys.executable, str(ROOT / "bench" / "st_baseline.py"), "--data", str(data), "--out", str(out)]
    command += ["--model", resolve_model("all-MiniLM-L6-v2").path]
    for key, value in default_recipe(data).items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    seconds = time.perf_counter() - started
    if proc.returncode:
        raise RuntimeError(f"st_baseline failed: {proc.stderr[-3000:]}")
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "seconds": round(seconds, 1)}


def run_embedforge(data: Path, work: Path) -> dict:
    out = work / "ef"
    command = [sys.executable, "-m", "flows.cli", "run", "--json", str(out / "summary.json")]
    for item in (f"data.path={data}", f"registry.root={out / 'models'}", f"registry.store={out / 'store'}"):
        command += ["--set", item]
    started = time.perf_counter()
    proc = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PREFECT_HOME": str(out / "prefect")}
    )
    seconds = time.perf_counter() - started
    if proc.returncode:
        raise RuntimeError(f"embedforge run failed: {proc.stderr[-3000:]}")
    summary = json.loads((out / "summary.json").read_text())
    return {
        "seconds": round(seconds, 1),
        "base_ndcg@10": round(summary["metrics"]["base"]["ndcg@10"], 4),
        "ndcg@10": round(summary["metrics"]["candidate"]["ndcg@10"], 4),
        "bm25_ndcg@10": round(summary["bm25"]["ndcg@10"], 4) if summary.get("bm25") else None,
        "promoted": summary["promoted"],
        "steps": {name: step["seconds"] for name, step in summary["steps"].items()},
    }


def commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return proc.stdout.strip()


# What both sides run: a run measured at another commit joins this one's only when none of these changed in between.
MEASURED_PATHS = ("tasks", "flows", "schemas", "configs", "pyproject.toml", "bench/st_baseline.py")


def same_code(earlier: str, now: str) -> bool:
    """Whether the code both sides run is the same at commits `earlier` and `now`."""
    proc = subprocess.run(["git", "diff", "--quiet", earlier, now, "--", *MEASURED_PATHS], cwd=ROOT)
    return proc.returncode == 0


def summarise(runs: dict[str, list[dict]], data: Path, args: argparse.Namespace) -> dict:
    """The JSON of `runs` so far: medians of each side, the ratio of the medians, and each pair's own ratio (its two
    runs were adjacent in time, so a pair's ratio holds where the machine's speed drifts between pairs)."""
    pairs = min(len(runs["st"]), len(runs["embedforge"]))
    pair_ratios = [round(runs["embedforge"][i]["seconds"] / runs["st"][i]["seconds"], 3) for i in range(pairs)]
    sides = {}
    for side, side_runs in runs.items():
        if side_runs:
            sides[side] = {
                "seconds": statistics.median(r["seconds"] for r in side_runs),
                "ndcg@10": statistics.median(r["ndcg@10"] for r in side_runs),
            }
    ef_runs = runs["embedforge"]
    middle = sorted(ef_runs, key=lambda r: r["seconds"])[(len(ef_runs) - 1) // 2] if ef_runs else None
    both = "st" in sides and "embedforge" in sides
    return {
        **sides,
        "ratio": round(sides["embedforge"]["seconds"] / sides["st"]["seconds"], 3) if both else None,
        "pair_ratios": pair_ratios,
        "pair_ratio_median": statistics.median(pair_ratios) if pair_ratios else None,
        "complete": pairs >= args.repeats and len(runs["st"]) == len(runs["embedforge"]),
        "recipe": default_recipe(data),
        "bm25": {"ndcg@10": middle["bm25_ndcg@10"]} if middle else None,
        "steps": middle["steps"] if middle else None,
        "runs": runs,
        "repeats": args.repeats,
        "data": args.data,
        "subset": {"train_queries": args.max_train_queries, "seed": 0} if args.max_train_queries else None,
        "commit": commit(),
        "machine": f"{platform.node()}, {os.cpu_count()} CPUs",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def resumed_runs(path: Path, data: str) -> dict[str, list[dict]]:
    """The runs of an earlier, unfinished or shorter result file, when they measured the same data and code."""
    earlier = json.loads(path.read_text())
    if earlier["data"] != data:
        raise SystemExit(f"{path}: measured {earlier['data']}, not {data}")
    for side, side_runs in earlier["runs"].items():
        for run in side_runs:
            if not same_code(run["commit"], "HEAD"):
                raise SystemExit(f"{path}: a {side} run was measured at {run['commit']}, whose measured code differs")
    return earlier["runs"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--json", required=True)
    parser.add_argument("--repeats", type=int, default=2, help="pairs in the file when done, resumed ones included")
    parser.add_argument("--max-train-queries", type=int, help="a seeded sample of training queries, both sides")
    parser.add_argument("--resume", action="store_true", help="keep the runs already in --json and add pairs")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="vs-st-"))
    data = subset(Path(args.data), args.max_train_queries, scratch)
    target = Path(args.json)
    runs = resumed_runs(target, args.data) if args.resume and target.exists() else {"st": [], "embedforge": []}
    note = json.loads(target.read_text()).get("note") if args.resume and target.exists() else None
    for repeat in range(len(runs["embedforge"]), args.repeats):
        order = ["st", "embedforge"] if repeat % 2 == 0 else ["embedforge", "st"]
        for side in order:
            if len(runs[side]) > repeat:
                continue
            work = scratch / f"{side}-{repeat}"
            work.mkdir()
            result = run_st(data, work) if side == "st" else run_embedforge(data, work)
            result.update(commit=commit(), date=datetime.now(UTC).isoformat(timespec="seconds"))
            runs[side].append(result)
            print(json.dumps({side: result}), flush=True)
            shutil.rmtree(work, ignore_errors=True)
            result = summarise(runs, data, args) | ({"note": note} if note else {})
            atomic_write_text(target, json.dumps(result, indent=2) + "\n")
    result = summarise(runs, data, args)
    print(json.dumps({k: result[k] for k in ("st", "embedforge", "ratio", "pair_ratios", "bm25")}))
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
