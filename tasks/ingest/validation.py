"""`embedforge validate`: check a dataset file or BEIR folder without storing it, and say what a run would set aside.

Returns the JSON a person or a script reads (valid, type, rows_in, rows_valid, rows_quarantined, errors with file,
row, column and reason, quarantine_path, warnings; for a BEIR folder also counts) and the exit code: 0 valid, 1 bad or
no rows, 2 unreadable. Bad rows are written, with their reasons, to a quarantine parquet file; nothing is stored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from tasks.ingest import DataError, read_beir
from tasks.ingest.beir import splits_of
from tasks.ingest.leakage import find_leaks
from tasks.ingest.report import EmptyData, findings_frame
from tasks.ingest.tables import Unreadable, parse_columns, validate_table
from tasks.storage import file_sha256, write_frame

BEIR_PARTS = ("corpus.jsonl", "queries.jsonl", "qrels")


@dataclass(frozen=True)
class Validation:
    result: dict  # the JSON of `embedforge validate --json`
    code: int  # 0 valid, 1 invalid rows or no rows at all, 2 unreadable
    message: str | None = None  # why nothing was read (empty or unreadable)


def validate_beir(folder: Path, quarantine_dir: str) -> dict:
    """A BEIR folder read as a run would read it, bad rows quarantined, leakage between train and test warned of."""
    for name in BEIR_PARTS:
        if not (folder / name).exists():
            raise Unreadable(f"{folder} is not a BEIR folder: {name} is missing", [])
    data = read_beir(folder, splits_of(folder), on_invalid="quarantine")
    warnings = []
    if "train" in data.qrels and "test" in data.qrels:
        warnings = [f"leakage: {leak}" for leak in find_leaks(data.queries, data.qrels["train"], data.qrels["test"])]
    quarantine = None
    if data.findings:
        quarantine = write_frame(findings_frame(data.findings), quarantine_dir, f"quarantine-{folder.name}").path
    return {
        "type": "ir",
        "rows_in": data.rows_in,
        "rows_valid": data.rows_valid,
        "rows_quarantined": len({(f.file, f.row) for f in data.findings}),
        "errors": [asdict(f) for f in data.findings],
        "quarantine_path": quarantine,
        "warnings": warnings,
        "counts": {
            "documents": data.corpus.height,
            "queries": data.queries.height,
            **{f"qrels_{s}": q.height for s, q in data.qrels.items()},
        },
    }


def validate_file(path: Path, kind: str | None, columns: str | None, scale: tuple[float, float], quarantine_dir: str):
    """A training table (pairs, triplets, STS, NLI, hard negatives; the type from its columns unless given)."""
    report = validate_table(path, kind, parse_columns(columns), scale)
    quarantine = None
    if report.quarantined.height:
        tag = file_sha256(path)[:8] if path.is_file() else "folder"
        quarantine = write_frame(report.quarantined, quarantine_dir, f"quarantine-{path.stem}-{tag}").path
    return {
        "type": report.type,
        "rows_in": report.rows_in,
        "rows_valid": report.valid.height,
        "rows_quarantined": report.quarantined.height,
        "errors": [asdict(f) for f in report.findings],
        "quarantine_path": quarantine,
        "warnings": report.warnings,
    }


def nothing_read(kind: str | None, findings: list, **why: str) -> dict:
    """The validation JSON of an input with no row read (empty or unreadable), with why under its own key."""
    return {
        "valid": False,
        "type": kind,
        "rows_in": 0,
        "rows_valid": 0,
        "rows_quarantined": 0,
        "errors": [asdict(f) for f in findings],
        "quarantine_path": None,
        "warnings": [],
        **why,
    }


def validate_path(
    path: Path, kind: str | None, columns: str | None, scale: tuple[float, float], quarantine_dir: str
) -> Validation:
    """A file or a BEIR folder (a folder with corpus.jsonl, or kind "ir"), checked; never raises on bad data."""
    try:
        if path.is_dir() and (path / "corpus.jsonl").exists() or kind == "ir":
            result = validate_beir(path, quarantine_dir)
        else:
            result = validate_file(path, kind, columns, scale, quarantine_dir)
    except EmptyData as exc:  # readable but without a single record: invalid (exit 1), not unreadable
        return Validation(nothing_read(kind, exc.findings, empty=exc.summary), 1, exc.summary)
    except (Unreadable, DataError) as exc:  # DataError here: a file of the folder is missing or unreadable
        return Validation(nothing_read(kind, exc.findings, unreadable=exc.summary), 2, str(exc))
    result = {"valid": not result["errors"], **result}
    return Validation(result, 0 if result["valid"] else 1)
