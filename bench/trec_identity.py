"""The same data as BEIR folder and as separate IR files ingests to the same frames.

Rewrites a BEIR folder (default: SciFact) as `docs.tsv` (id<TAB>title<TAB>text), `topics.jsonl` (the queries file
as it is, evidence metadata included) and TREC qrels (`qid 0 docid rel`), ingests both with the flow's own ingest
function into two fresh stores, and compares the sha256 of the six frames every later step reads (corpus, queries,
train and test qrels, train pairs, labels). Equal hashes mean every later step of a run is the same cache entry.
Usage:
    .venv/bin/python bench/trec_identity.py [--data ../shared/data/scifact] [--repeats 3] \
        [--json bench/results/trec_identity.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from flowrun import emit  # noqa: E402

FRAMES = ("corpus", "queries", "train_qrels", "test_qrels", "train_pairs", "labels")


def write_trec(folder: Path, out: Path) -> dict[str, str]:
    """The BEIR folder as docs.tsv, topics.jsonl and one TREC qrels file per split; returns the data.* settings."""
    out.mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", encoding="utf-8") as src, open(out / "docs.tsv", "w", encoding="utf-8") as dst:
        for line in src:
            doc = json.loads(line)
            fields = [doc["_id"], doc.get("title", ""), doc["text"]]
            if any(c in f for f in fields for c in "\t\n\r"):
                raise SystemExit(f"document {doc['_id']} has a tab or line break: not representable as TSV")
            dst.write("\t".join(fields) + "\n")
    (out / "topics.jsonl").write_bytes((folder / "queries.jsonl").read_bytes())
    qrels = {}
    for split_file in sorted((folder / "qrels").glob("*.tsv")):
        with open(split_file, encoding="utf-8", newline="") as src, open(out / f"{split_file.stem}.qrels", "w") as dst:
            rows = csv.reader(src, delimiter="\t")
            next(rows)  # BEIR header: query-id corpus-id score
            for qid, docid, score in rows:
                dst.write(f"{qid} 0 {docid} {score}\n")
        qrels[split_file.stem] = str(out / f"{split_file.stem}.qrels")
    return {"corpus": str(out / "docs.tsv"), "queries": str(out / "topics.jsonl"), "qrels": qrels}


def ingest_once(cfg, store: Path) -> tuple[dict[str, str], float]:
    from tasks.ingest.pipeline import ingest_data
    from tasks.steps import fingerprint

    started = time.perf_counter()
    data = ingest_data(fingerprint(cfg).path, cfg, str(store))
    seconds = time.perf_counter() - started
    return {name: getattr(data, name).sha256 for name in FRAMES}, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "scifact"))
    parser.add_argument("--repeats", type=int, default=3, help="timed ingests of each form, alternating; median kept")
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args()

    from tasks.config import DataConfig

    folder = Path(args.data).resolve()
    with tempfile.TemporaryDirectory(prefix="trec-identity-") as tmp:
        work = Path(tmp)
        trec = write_trec(folder, work / "trec")
        forms = {"beir_folder": DataConfig(path=str(folder)), "trec_files": DataConfig(**trec)}
        hashes, seconds = {}, {name: [] for name in forms}
        for repeat in range(args.repeats):
            for name, cfg in forms.items():
                got, took = ingest_once(cfg, work / f"store-{name}-{repeat}")  # a fresh store: nothing cached
                if hashes.setdefault(name, got) != got:
                    raise SystemExit(f"{name}: frames differ between two ingests of the same files")
                seconds[name].append(round(took, 3))
    same = {frame: hashes["beir_folder"][frame] == hashes["trec_files"][frame] for frame in FRAMES}
    emit(
        {
            "dataset": str(folder),
            "trec_files": [
                "docs.tsv (id, title, text)",
                "topics.jsonl (the queries file as is)",
                "<split>.qrels (qid 0 docid rel)",
            ],
            "sha256": hashes,
            "identical": same,
            "all_identical": all(same.values()),
            "ingest_seconds": {
                name: {"runs": runs, "median": statistics.median(runs)} for name, runs in seconds.items()
            },
            "note": "ingest_data called in-process (no Prefect, no interpreter start-up), each time into a fresh store",
        },
        args.json,
    )


if __name__ == "__main__":
    main()
