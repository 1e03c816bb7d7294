"""Scale of the exact search: one search in this process against the Dask engine's query shards at 1 and 2 workers.

What mining's dense strategy and the evaluation do once the vectors exist (embeddings.exact_search): every query's
top-k documents by inner product. Seeded random unit vectors of the model's size stand in for a corpus and its queries
(the search's cost depends only on the counts and the size). The three configurations run alternately, --repeats
times each, under one temporary Prefect server; each Dask configuration holds its own LocalCluster (started inside the
timing, as in a run) and searches in shards of --shard-queries queries; medians are reported, and every engine's
ranking is compared with the local one's.

    .venv/bin/python bench/search_scale.py --json bench/results/search_scale.json

Targets (issue 16's, for the engine as a whole): Dask with 1 worker within 10% of local; 2 workers >= 1.7x of 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scale import engine_ratios  # noqa: E402
from flows.cli import local_defaults  # noqa: E402


def unit(rows: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    vectors = rng.standard_normal((rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--shard-queries", type=int, default=1250)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", default="bench/results/search_scale.json")
    args = parser.parse_args()
    local_defaults()
    from prefect.testing.utilities import prefect_test_harness

    from flows.encode import session
    from tasks.config import ComputeConfig
    from tasks.embeddings import flat_search

    rng = np.random.default_rng(0)
    docs, queries = unit(args.documents, args.dim, rng), unit(args.queries, args.dim, rng)
    work = Path(tempfile.mkdtemp(prefix="search-scale-"))
    rankings: dict[str, np.ndarray] = {}

    def local():
        return flat_search(queries, docs, args.k)

    def dask(workers: int):
        def run():
            compute = ComputeConfig(engine="dask", workers=workers, shard_queries=args.shard_queries)
            with session(compute, str(work)) as current:
                found = current.search(queries, docs, args.k)
                assert current.search_shards == -(-args.queries // args.shard_queries)
            return found

        return run

    configs = {"local": local, "dask_1": dask(1), "dask_2": dask(2)}
    seconds: dict[str, list[float]] = {name: [] for name in configs}
    with prefect_test_harness(server_startup_timeout=180):
        for repeat in range(args.repeats):
            for name, run in configs.items():
                started = time.perf_counter()
                _, rankings[name] = run()
                seconds[name].append(round(time.perf_counter() - started, 2))
                print(f"{name} run {repeat + 1}: {seconds[name][-1]} s", file=sys.stderr, flush=True)
    median = {name: statistics.median(values) for name, values in seconds.items()}
    out = {
        "documents": args.documents,
        "queries": args.queries,
        "dim": args.dim,
        "k": args.k,
        "shard_queries": args.shard_queries,
        "seconds": seconds,
        "median_seconds": median,
        **engine_ratios(median),
        "same_ranking_as_local": {
            name: bool(np.array_equal(rankings[name], rankings["local"])) for name in ("dask_1", "dask_2")
        },
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
