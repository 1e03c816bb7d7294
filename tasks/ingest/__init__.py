"""Ingestion: readers, validation findings and converters to what the trainer eats."""

from __future__ import annotations

from tasks.ingest import convert, leakage, sources, tables
from tasks.ingest.beir import BeirData, document_text, read_beir, read_corpus, read_qrels, read_queries
from tasks.ingest.pairs import build_pairs
from tasks.ingest.report import DataError, Finding

__all__ = [
    "BeirData",
    "DataError",
    "Finding",
    "build_pairs",
    "convert",
    "sources",
    "tables",
    "leakage",
    "document_text",
    "read_beir",
    "read_corpus",
    "read_qrels",
    "read_queries",
]
