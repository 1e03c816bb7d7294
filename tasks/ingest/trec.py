"""Reader for TREC run files: `qid Q0 docid rank score tag`, whitespace separated."""

from __future__ import annotations

from pathlib import Path

from tasks.ingest.beir import decoded_lines
from tasks.ingest.report import DataError, Finding


def read_run(path: str | Path) -> dict[str, dict[str, float]]:
    """{query id: {doc id: score}}. The rank column is ignored: trec_eval ranks by score, ties by doc id descending."""
    path = Path(path)
    run: dict[str, dict[str, float]] = {}
    bad = []
    for number, text in decoded_lines(path):
        parts = text.split()
        if len(parts) != 6:
            bad.append(Finding(str(path), number, "-", "column_count", f"{len(parts)} fields, expected 6 (qid Q0 docid rank score tag)"))
            continue
        query_id, _, doc_id, _, score, _ = parts
        try:
            value = float(score)
        except ValueError:
            bad.append(Finding(str(path), number, "score", "number", score))
            continue
        if doc_id in run.get(query_id, {}):
            bad.append(Finding(str(path), number, "docid", "unique_per_query", f"{query_id}/{doc_id} retrieved twice"))
            continue
        run.setdefault(query_id, {})[doc_id] = value
    if bad:
        raise DataError(f"{path} is not a valid TREC run", bad)
    return run
