"""Scoring speed: `embedforge score` (tasks.metrics.score_files) beside pytrec_eval, both from the same TREC files.

A run of 10,000 queries × 1,000 retrieved documents (scores with 3 decimals, so ties are common and listed in random
order) over a 1M-document corpus, scored against three qrels: sparse (1 judged document per query), the issue's
200k judged documents (20 per query) and dense (50 per query); about half of each query's judged documents were
retrieved, grades 0-3. Each repetition times, alternating, pytrec_eval reading the files with its own parse_run /
parse_qrel and evaluating, and score_files reading and scoring the same files (interpreter start-up excluded from
both). Peak memory of score_files is the ru_maxrss of a child process that only imports it and scores one case.
Prints JSON; --json also writes it.
Usage: .venv/bin/python bench/metrics.py [--queries 10000] [--depth 1000] [--repeats 3] [--json bench/results/metrics.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

KS = [1, 3, 5, 10, 100, 1000]
CASES = {"sparse": 1, "issue_200k": 20, "dense": 50}  # judged documents per query
N_DOCS = 1_000_000
TARGET_RATIO = 0.5  # embedforge seconds / pytrec_eval seconds
TARGET_PEAK_GB = 2.0
TARGET_DIFF = 1e-9
SHARED = {"ndcg": "ndcg_cut", "map": "map_cut", "precision": "P", "recall": "recall"}  # ours -> trec_eval, at each K
PEAK_SCRIPT = (
    "import resource, sys\n"
    "from tasks.metrics import score_files\n"
    "score_files(sys.argv[1], sys.argv[2], [int(k) for k in sys.argv[3].split(',')])\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
)


def write_files(folder: Path, n_queries: int, depth: int, seed: int = 0) -> tuple[Path, dict[str, Path]]:
    """The run file and one qrels file per case, in TREC format."""
    rng = np.random.default_rng(seed)
    steps = np.array([s for s in range(1, 400) if s % 2 and s % 5])  # coprime with N_DOCS: a query's documents differ
    docs = (
        rng.integers(0, N_DOCS, n_queries)[:, None] + rng.choice(steps, n_queries)[:, None] * np.arange(depth)
    ) % N_DOCS
    scores = np.round(rng.random((n_queries, depth)) * 20, 3)
    order = np.lexsort((rng.random(scores.shape), -scores), axis=1)  # score descending, ties in random order
    docs, scores = np.take_along_axis(docs, order, 1), np.take_along_axis(scores, order, 1)
    query = pl.Series(np.repeat(np.arange(n_queries), depth)).cast(pl.String)
    run_path = folder / "run.txt"
    pl.DataFrame(
        {
            "q": "q" + query,
            "q0": "Q0",
            "d": "d" + pl.Series(docs.ravel()).cast(pl.String),
            "rank": np.tile(np.arange(1, depth + 1), n_queries),
            "score": scores.ravel(),
            "tag": "bench",
        }
    ).write_csv(run_path, separator=" ", include_header=False)
    qrels = {}
    for case, per_query in CASES.items():
        retrieved = np.argsort(rng.random((n_queries, depth)), axis=1)[:, :per_query]
        judged = np.where(
            rng.random((n_queries, per_query)) < 0.5,
            np.take_along_axis(docs, retrieved, 1),
            rng.integers(0, N_DOCS, (n_queries, per_query)),
        )
        grades = rng.integers(0, 4, (n_queries, per_query))
        grades[:, 0] = rng.integers(1, 4, n_queries)  # every query has a relevant document (R > 0)
        frame = pl.DataFrame(
            {
                "q": "q" + pl.Series(np.repeat(np.arange(n_queries), per_query)).cast(pl.String),
                "it": 0,
                "d": "d" + pl.Series(judged.ravel()).cast(pl.String),
                "g": grades.ravel(),
            }
        )
        qrels[case] = folder / f"qrels-{case}.txt"
        frame.unique(["q", "d"], keep="first", maintain_order=True).write_csv(
            qrels[case], separator=" ", include_header=False
        )
    return run_path, qrels


def pytrec_eval_files(run_path: Path, qrels_path: Path) -> dict[str, dict[str, float]]:
    import pytrec_eval

    with open(qrels_path) as handle:
        qrels = pytrec_eval.parse_qrel(handle)
    with open(run_path) as handle:
        run = pytrec_eval.parse_run(handle)
    cut = ",".join(map(str, KS))
    measures = {f"ndcg_cut.{cut}", f"map_cut.{cut}", f"P.{cut}", f"recall.{cut}", "recip_rank"}
    return pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)


def largest_difference(ours: pl.DataFrame, reference: dict[str, dict[str, float]], depth: int) -> float:
    """Largest |ours - pytrec_eval| over every query and shared metric (mrr at the run's depth is recip_rank)."""
    ids = ours["query_id"].to_list()
    assert set(ids) == set(reference), "both score the same queries"
    pairs = [(f"{m}@{k}", f"{t}_{k}") for m, t in SHARED.items() for k in KS]
    if depth in KS:
        pairs.append((f"mrr@{depth}", "recip_rank"))
    return max(float(np.max(np.abs(ours[a].to_numpy() - np.array([reference[q][b] for q in ids])))) for a, b in pairs)


def peak_gb(run_path: Path, qrels_path: Path) -> float:
    """ru_maxrss of a fresh process that scores the files (KiB on Linux)."""
    out = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, str(run_path), str(qrels_path), ",".join(map(str, KS))],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return int(out.stdout.split()[-1]) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--depth", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", metavar="OUT", help="also write the result to OUT")
    args = parser.parse_args()
    import tasks.ingest.trec  # noqa: F401  (imported before timing: score_files imports it on first use)
    from tasks.metrics import score_files

    result: dict = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores as seen by the process (shared, noisy), "
        f"Python {platform.python_version()}, polars {pl.__version__}, numpy {np.__version__}",
        "run": f"{args.queries} queries x {args.depth} results",
        "cutoffs": KS,
        "repeats": args.repeats,
        "cases": {},
    }
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        run_path, qrels = write_files(Path(folder), args.queries, args.depth)
        result["generate_seconds"] = round(time.perf_counter() - started, 1)
        for case, qrels_path in qrels.items():
            theirs, ours = [], []
            for _ in range(args.repeats):
                started = time.perf_counter()
                reference = pytrec_eval_files(run_path, qrels_path)
                theirs.append(time.perf_counter() - started)
                started = time.perf_counter()
                _, per_query = score_files(run_path, qrels_path, KS)
                ours.append(time.perf_counter() - started)
            ratio = statistics.median(ours) / statistics.median(theirs)
            diff = largest_difference(per_query, reference, args.depth)
            peak = peak_gb(run_path, qrels_path)
            del reference
            result["cases"][case] = {
                "judged_per_query": CASES[case],
                "judged": int(pl.read_csv(qrels_path, has_header=False, separator=" ").height),
                "pytrec_eval_seconds": round(statistics.median(theirs), 3),
                "embedforge_seconds": round(statistics.median(ours), 3),
                "pytrec_eval_all": [round(t, 3) for t in theirs],
                "embedforge_all": [round(t, 3) for t in ours],
                "ratio": round(ratio, 3),
                "peak_gb": round(peak, 3),
                "max_abs_diff": diff,
                "target_ratio": TARGET_RATIO,
                "target_peak_gb": TARGET_PEAK_GB,
                "target_max_abs_diff": TARGET_DIFF,
                "met": {
                    "ratio": ratio <= TARGET_RATIO,
                    "peak_gb": peak <= TARGET_PEAK_GB,
                    "max_abs_diff": diff <= TARGET_DIFF,
                },
            }
            print(case, json.dumps(result["cases"][case]), file=sys.stderr, flush=True)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
