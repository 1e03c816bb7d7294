"""Where a run's data comes from: a BEIR folder, IR files outside that layout (TREC qrels), or one training table.

Every source ends as the same IR frames (corpus, queries, qrels per split) plus labels, so mining, training,
evaluation and the gate work the same on all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from tasks.config import DataConfig
from tasks.ingest.beir import METADATA_SCHEMA, BeirData, document_metadata, evidence_labels, read_beir, read_ir
from tasks.ingest.convert import table_to_ir
from tasks.ingest.report import DataError
from tasks.ingest.tables import validate_table


@dataclass(frozen=True)
class Source:
    data: BeirData
    labels: pl.DataFrame  # (query_id, doc_id, label): evidence labels, or a table's given negatives
    kind: str  # ir, or the table type the data came from
    doc_metadata: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=METADATA_SCHEMA)
    )  # (doc_id, key, value)
    warnings: list[str] = field(
        default_factory=list
    )  # legal but degenerate rows, kept (e.g. a hypothesis repeating its premise)


def is_beir(path: Path) -> bool:
    return path.is_dir() and (path / "corpus.jsonl").is_file()


def read_source(path: str, cfg: DataConfig) -> Source:
    """Read and validate the configured data as IR frames; bad rows fail or are quarantined per cfg.on_invalid.

    Input without a single record (a header only, an empty corpus) raises EmptyData under either policy."""
    splits = [cfg.train_split, cfg.test_split]
    if cfg.qrels is not None:
        data = read_ir(cfg.corpus, cfg.queries, {s: cfg.qrels[s] for s in splits}, cfg.on_invalid)
        return Source(data, evidence_labels(cfg.queries), "ir", document_metadata(cfg.corpus))
    target = Path(path)
    if cfg.type in ("auto", "ir") and is_beir(target):
        return Source(
            read_beir(target, splits, on_invalid=cfg.on_invalid),
            evidence_labels(target / "queries.jsonl"),
            "ir",
            document_metadata(target / "corpus.jsonl"),
        )
    if cfg.type == "ir":
        raise DataError(f"data.type is ir but {target} is not a BEIR folder (corpus.jsonl, queries.jsonl, qrels/)", [])
    if target.is_dir() and not any(target.glob("s1.*")):
        raise DataError(
            f"{target} is a folder but neither a BEIR folder (no corpus.jsonl) nor a SentEval NLI folder", []
        )
    report = validate_table(target, None if cfg.type == "auto" else cfg.type, dict(cfg.columns))
    if report.findings and cfg.on_invalid == "fail":
        raise DataError(f"{target} failed validation as {report.type}", report.findings)
    try:
        corpus, queries, split, labels = table_to_ir(report.type, report.valid, cfg.test_fraction, cfg.split_seed)
    except ValueError as exc:
        raise DataError(f"{target}: {exc}", []) from None
    qrels = {cfg.train_split: split["train"], cfg.test_split: split["test"]}
    data = BeirData(
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        findings=report.findings,
        rows_in=report.rows_in,
        valid_rows=report.valid.height,
    )
    return Source(data, labels, report.type, warnings=report.warnings)
