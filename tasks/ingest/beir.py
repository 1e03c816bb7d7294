"""Readers for IR data in the BEIR layout: corpus.jsonl, queries.jsonl and qrels/<split>.tsv.

Every parsed row keeps the line it came from, so a bad value is reported as `file:line column — reason (value)`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandera.polars as pa
import polars as pl

from schemas import CorpusSchema, QrelsSchema, QueriesSchema
from tasks.ingest.report import DataError, Finding, findings_from_schema_errors

QRELS_HEADER = ("query-id", "corpus-id", "score")


@dataclass(frozen=True)
class BeirData:
    """A parsed BEIR folder: validated frames plus one qrels frame per split."""

    corpus: pl.DataFrame
    queries: pl.DataFrame
    qrels: dict[str, pl.DataFrame]


def read_lines(path: Path) -> tuple[list[tuple[int, str]], list[Finding]]:
    """(line number, text) for every non-blank line, CRLF tolerated, plus a finding for each line that is not UTF-8."""
    if not path.is_file():
        raise DataError(f"{path} is missing", [Finding(str(path), 0, "-", "file_exists", "no such file")])
    out, bad = [], []
    for number, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        try:
            text = raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as exc:
            bad.append(Finding(str(path), number, "-", "utf8", f"undecodable byte at offset {exc.start}"))
            continue
        if text.strip():
            out.append((number, text))
    return out, bad


def decoded_lines(path: Path) -> list[tuple[int, str]]:
    """read_lines, refusing a file with any line that is not UTF-8."""
    lines, bad = read_lines(path)
    if bad:
        raise DataError(f"{path} is not readable UTF-8", bad)
    return lines


def _jsonl(path: Path, fields: dict[str, bool]) -> tuple[dict[str, list[str]], list[int]]:
    """Columns of a JSONL file; `fields` maps each field to whether it is required."""
    columns: dict[str, list[str]] = {name: [] for name in fields}
    lines, bad = [], []
    for number, text in decoded_lines(path):
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            bad.append(Finding(str(path), number, "-", "json", exc.msg))
            continue
        if not isinstance(record, dict):
            bad.append(Finding(str(path), number, "-", "json_object", type(record).__name__))
            continue
        missing = [name for name, required in fields.items() if required and record.get(name) is None]
        if missing:
            bad.extend(Finding(str(path), number, name, "required_field", "missing") for name in missing)
            continue
        for name in fields:
            value = record.get(name)
            columns[name].append("" if value is None else str(value))
        lines.append(number)
    if bad:
        raise DataError(f"{path} has rows that cannot be parsed", bad)
    return columns, lines


def _validated(frame: pl.DataFrame, schema: type[pa.DataFrameModel], path: Path, lines: list[int]) -> pl.DataFrame:
    try:
        return schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise DataError(f"{path} failed validation", findings_from_schema_errors(exc, str(path), lines)) from None


def document_text(title: str, text: str) -> str:
    """What the model reads for a document: title and body, as BEIR's own evaluation joins them."""
    return f"{title.strip()} {text.strip()}".strip()


def read_corpus(path: Path) -> pl.DataFrame:
    columns, lines = _jsonl(path, {"_id": True, "title": False, "text": True})
    texts = [document_text(t, b) for t, b in zip(columns["title"], columns["text"])]
    frame = pl.DataFrame({"doc_id": columns["_id"], "text": texts}, schema={"doc_id": pl.String, "text": pl.String})
    return _validated(frame, CorpusSchema, path, lines)


def read_queries(path: Path) -> pl.DataFrame:
    columns, lines = _jsonl(path, {"_id": True, "text": True})
    frame = pl.DataFrame({"query_id": columns["_id"], "text": columns["text"]}, schema={"query_id": pl.String, "text": pl.String})
    return _validated(frame, QueriesSchema, path, lines)


def read_qrels(path: Path, corpus: pl.DataFrame | None = None, queries: pl.DataFrame | None = None) -> pl.DataFrame:
    """A BEIR qrels TSV (`query-id corpus-id score`, header optional) or TREC qrels (`qid 0 docid rel`).

    Given the corpus and queries, every judged id must resolve in them.
    """
    rows: dict[str, list] = {"query_id": [], "doc_id": [], "score": []}
    lines, bad = [], []
    for number, text in decoded_lines(path):
        parts = text.split("\t") if "\t" in text else text.split()
        if tuple(p.strip().lower() for p in parts) == QRELS_HEADER:
            continue
        if len(parts) == 4:  # TREC: qid iteration docid rel
            parts = [parts[0], parts[2], parts[3]]
        if len(parts) != 3:
            bad.append(Finding(str(path), number, "-", "column_count", f"{len(parts)} fields, expected 3 (BEIR) or 4 (TREC)"))
            continue
        query_id, doc_id, score = (p.strip() for p in parts)
        try:
            value = int(score)
        except ValueError:
            bad.append(Finding(str(path), number, "score", "integer", score))
            continue
        rows["query_id"].append(query_id)
        rows["doc_id"].append(doc_id)
        rows["score"].append(value)
        lines.append(number)
    if bad:
        raise DataError(f"{path} has rows that cannot be parsed", bad)
    frame = pl.DataFrame(rows, schema={"query_id": pl.String, "doc_id": pl.String, "score": pl.Int64})
    frame = _validated(frame, QrelsSchema, path, lines)
    if corpus is not None and queries is not None:
        _check_ids_resolve(frame, path, lines, corpus, queries)
    return frame


def _check_ids_resolve(qrels: pl.DataFrame, path: Path, lines: list[int], corpus: pl.DataFrame, queries: pl.DataFrame) -> None:
    known_docs = set(corpus["doc_id"].to_list())
    known_queries = set(queries["query_id"].to_list())
    findings = []
    for line, query_id, doc_id in zip(lines, qrels["query_id"], qrels["doc_id"]):
        if query_id not in known_queries:
            findings.append(Finding(str(path), line, "query-id", "resolves_in_queries", query_id))
        if doc_id not in known_docs:
            findings.append(Finding(str(path), line, "corpus-id", "resolves_in_corpus", doc_id))
    if findings:
        raise DataError(f"{path} judges ids missing from corpus.jsonl or queries.jsonl", findings)


def read_beir(folder: str | Path, splits: list[str]) -> BeirData:
    """Read and validate a BEIR folder; the qrels of every split must resolve in corpus and queries."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"dataset folder {folder} does not exist", [Finding(str(folder), 0, "-", "folder_exists", "no such folder")])
    corpus = read_corpus(folder / "corpus.jsonl")
    queries = read_queries(folder / "queries.jsonl")
    qrels = {}
    for split in splits:
        qrels[split] = read_qrels(folder / "qrels" / f"{split}.tsv", corpus, queries)
    return BeirData(corpus=corpus, queries=queries, qrels=qrels)
