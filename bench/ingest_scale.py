"""Ingestion at scale: validate and convert a 1,000,000-row positive-pairs Parquet file and a 2,000,000-line qrels file.

Each job runs in its own process under `/usr/bin/time -v`, which reports its peak resident memory. Prints one JSON object.
Usage: .venv/bin/python bench/ingest_scale.py [--pairs 1000000] [--qrels 2000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS, TARGET_GB = 60.0, 4.0

JOB = {
    "pairs": (
        "from tasks.ingest.tables import validate_table\n"
        "r = validate_table(sys.argv[1], 'pairs')\n"
        "rows = r.valid.select('anchor', 'positive')\n"
        "print(json.dumps({'rows_in': r.rows_in, 'rows_valid': r.valid.height, 'rows_quarantined': r.quarantined.height}))\n"
    ),
    "qrels": (
        "from tasks.ingest import read_qrels\n"
        "q = read_qrels(__import__('pathlib').Path(sys.argv[1]))\n"
        "print(json.dumps({'rows_valid': q.height}))\n"
    ),
}


def make_inputs(folder: Path, n_pairs: int, n_qrels: int) -> dict[str, Path]:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(0)
    words = np.array("indemnify liability cap notice termination governing law audit fee renewal party clause".split())
    anchors = [" ".join(words[rng.integers(0, len(words), 6)]) + f" #{i}" for i in range(n_pairs)]
    positives = [a.upper() + " (answer)" for a in anchors]
    pairs = folder / "pairs.parquet"
    pl.DataFrame({"anchor": anchors, "positive": positives}).write_parquet(pairs)
    qrels = folder / "qrels.tsv"
    with open(qrels, "w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for i in range(n_qrels):
            f.write(f"q{i // 4}\td{i * 7919 % 5_000_000}\t{1 + i % 3}\n")
    return {"pairs": pairs, "qrels": qrels}


def run(job: str, path: Path) -> dict:
    code = "import sys, json\n" + JOB[job]
    started = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-v", sys.executable, "-c", code, str(path)], capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(proc.stderr[-2000:])
    peak_kb = next(int(line.split(":")[1]) for line in proc.stderr.splitlines() if "Maximum resident set size" in line)
    peak_gb = peak_kb / 1024 / 1024
    return {
        **json.loads(proc.stdout.strip().splitlines()[-1]),
        "seconds": round(seconds, 2),
        "peak_gb": round(peak_gb, 3),
        "within_target": seconds < TARGET_SECONDS and peak_gb < TARGET_GB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--qrels", type=int, default=2_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        inputs = make_inputs(Path(tmp), args.pairs, args.qrels)
        result = {
            "pairs_parquet": {"rows": args.pairs, **run("pairs", inputs["pairs"])},
            "qrels_tsv": {"lines": args.qrels, **run("qrels", inputs["qrels"])},
            "targets": {"seconds": TARGET_SECONDS, "peak_gb": TARGET_GB},
            "note": "seconds include the Python start-up and imports; peak_gb is /usr/bin/time's maximum resident set",
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
