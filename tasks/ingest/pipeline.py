"""The ingest step as a plain function: read and validate the configured data, check leakage, write the store.

The Prefect task in tasks/steps.py is a thin shell around `ingest_data`; tests and benches call it directly.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict

from tasks import losses
from tasks.config import ConfigError, DataConfig
from tasks.ingest import leakage, sources, tables
from tasks.ingest.pairs import build_pairs
from tasks.ingest.report import DataError, Finding, findings_frame
from tasks.passages import length_stats
from tasks.storage import DatasetRef, write_frame

logger = logging.getLogger(__name__)

LONG_TEXT_WARNING = 0.10  # warn when more than this share of documents or queries exceed the model's token limit


class Ingested(BaseModel):
    model_config = ConfigDict(frozen=True)
    corpus: DatasetRef
    queries: DatasetRef
    train_qrels: DatasetRef
    test_qrels: DatasetRef
    train_pairs: DatasetRef
    labels: DatasetRef  # (query_id, doc_id, label) evidence labels from queries.jsonl metadata; often empty
    doc_metadata: DatasetRef | None = None  # (doc_id, key, value) scalar fields of corpus.jsonl metadata; often empty
    extra: list[ExtraRef] = []  # data.extra tables, validated
    report: dict  # rows_in, rows_valid, rows_quarantined, warnings, quarantine (path or None)


class ExtraRef(BaseModel):
    """A validated extra training table (data.extra) in the store, with its type and the loss it trains with."""

    model_config = ConfigDict(frozen=True)
    name: str
    type: str
    loss: str  # as configured ("auto" = by type); resolved against train.loss by the train step
    table: DatasetRef


def text_lengths(
    corpus: pl.DataFrame, queries: pl.DataFrame, model_path: str, sample: int = 20_000
) -> tuple[dict, list[str]]:
    """Token lengths of documents and queries under the model's own tokenizer, against its limit; and warnings.

    At most `sample` texts of each kind are tokenized (a seeded sample), so a huge corpus costs seconds.
    """
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
    limit = model_limit(model_path)
    lengths, warnings = {}, []
    for kind, frame in (("documents", corpus), ("queries", queries)):
        texts = frame["text"] if frame.height <= sample else frame["text"].sample(sample, seed=0)
        ids = tokenizer(texts.to_list(), add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        stats = {
            **length_stats(np.array([len(i) for i in ids], dtype=np.int64), limit),
            "sampled": frame.height > sample,
        }
        lengths[kind] = stats
        if stats["over_limit_share"] > LONG_TEXT_WARNING:
            warnings.append(
                f"{stats['over_limit_share']:.0%} of {kind} ({stats['over_limit']} of {stats['texts']}"
                f"{' sampled' if stats['sampled'] else ''}) are longer than the model's {limit}-token limit "
                f"(median {stats['median']}, max {stats['max']} tokens): they are read as passages "
                f"(eval.passages; a document scores as its best passage, a query as its passages' mean); "
                f"with eval.passages.split=false the model reads only their first {limit} tokens"
            )
    return lengths, warnings


def model_limit(model_path: str) -> int:
    """The token limit a SentenceTransformer folder declares (sentence_bert_config.json), 512 when it declares none."""
    config = Path(model_path) / "sentence_bert_config.json"
    declared = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length") if config.is_file() else None
    return int(declared or 512)


def ingest_data(source_path: str, cfg: DataConfig, store: str, model_path: str | None = None) -> Ingested:
    """Validate the data (quarantining or failing on bad rows), check leakage, write everything to the store.

    Every finding of every file is written to `<store>/quarantine/<sha>.parquet` (file, row, column, check, value)
    under either policy, and the error names that file: a message shows only the first few.
    """
    # read everything under the quarantine policy, so that `fail` can report every bad row of every file at once
    # (the readers' own fail policy stops at the first file that has one); the policy is applied below
    found = sources.read_source(source_path, cfg.model_copy(update={"on_invalid": "quarantine"}))
    data = found.data
    findings, rows_in, rows_valid = list(data.findings), data.rows_in, data.rows_valid
    table_warnings = list(found.warnings)
    extras, extra_reports = [], []
    for number, spec in enumerate(cfg.extra, start=1):
        table = tables.validate_table(
            spec.path, None if spec.type == "auto" else spec.type, dict(spec.columns), spec.score_range
        )
        findings += table.findings
        table_warnings += table.warnings
        rows_in, rows_valid = rows_in + table.rows_in, rows_valid + table.valid.height
        try:
            loss = losses.loss_for(table.type, spec.loss, "mnrl")  # checked now, before anything trains
        except ValueError as exc:
            raise ConfigError(f"data.extra[{number - 1}] ({spec.path}): {exc}") from None
        extras.append(
            ExtraRef(
                name=f"extra{number}-{Path(spec.path).stem}",
                type=table.type,
                loss=spec.loss,
                table=write_frame(table.valid, store, f"table_{table.type}"),
            )
        )
        extra_reports.append(
            {
                "path": spec.path,
                "type": table.type,
                "loss": loss,
                "rows_valid": table.valid.height,
                "rows_quarantined": table.quarantined.height,
            }
        )
    quarantined = len({(f.file, f.row) for f in findings})
    quarantine = write_frame(findings_frame(findings), store, "quarantine").path if findings else None
    if findings and cfg.on_invalid == "fail":
        raise DataError(
            f"{source_path} failed validation (data.on_invalid=fail): {quarantined} of {rows_in} rows are invalid, "
            f"nothing was trained; all findings: {quarantine}; to train on the valid rows and set these aside, "
            "rerun with --set data.on_invalid=quarantine",
            findings,
        )
    if rows_in and quarantined / rows_in > cfg.max_invalid_fraction:
        raise DataError(
            f"{quarantined} of {rows_in} rows ({quarantined / rows_in:.1%}) of {source_path} are invalid, "
            f"above data.max_invalid_fraction={cfg.max_invalid_fraction}; nothing was trained; all findings: {quarantine}",
            findings,
        )
    test = data.qrels[cfg.test_split]
    leaks = leakage.find_leaks(data.queries, data.qrels[cfg.train_split], test, cfg.min_relevance)
    if leaks and cfg.on_leakage == "fail":
        raise DataError(
            f"{source_path}: {len(leaks)} queries appear in both train and test (data.on_leakage=fail)",
            [Finding(source_path, 0, "query", "no_leakage", str(leak)) for leak in leaks],
        )
    if leaks and cfg.on_leakage == "exclude_from_test":
        test = leakage.exclude_from_test(test, leaks)
    warnings = table_warnings + [f"leakage ({cfg.on_leakage}): {leak}" for leak in leaks]
    for warning in warnings:
        logger.warning(warning)
    pairs = build_pairs(data.qrels[cfg.train_split], data.corpus, data.queries, cfg.min_relevance)
    if pairs.height == 0:
        raise DataError(
            f"{source_path}: the {cfg.train_split} split has no judged pair with score >= {cfg.min_relevance}", []
        )
    if findings:
        logger.warning("quarantined %d rows of %s with their reasons: %s", quarantined, source_path, quarantine)
    logger.info(
        "ingested %d documents, %d queries, %d train pairs, %d test judgements",
        data.corpus.height,
        data.queries.height,
        pairs.height,
        test.height,
    )
    lengths = None
    if model_path is not None:  # how much of each text the model will read: said before anything trains
        lengths, long_warnings = text_lengths(data.corpus, data.queries, model_path)
        for warning in long_warnings:
            logger.warning(warning)
        warnings = warnings + long_warnings
    report = {
        "rows_in": rows_in,
        "rows_valid": rows_valid,
        "rows_quarantined": quarantined,
        "warnings": warnings,
        "quarantine": quarantine,
        "type": found.kind,
        "extra": extra_reports,
        "lengths": lengths,
    }
    return Ingested(
        corpus=write_frame(data.corpus, store, "corpus"),
        queries=write_frame(data.queries, store, "queries"),
        train_qrels=write_frame(data.qrels[cfg.train_split], store, "qrels"),
        test_qrels=write_frame(test, store, "qrels"),
        train_pairs=write_frame(pairs, store, "pairs"),
        labels=write_frame(found.labels, store, "labels"),
        doc_metadata=write_frame(found.doc_metadata, store, "doc_metadata"),
        extra=extras,
        report=report,
    )
