"""Training tables from CSV/TSV, JSONL or Parquet: read, map columns, detect the type, type the values, validate.

Nothing is dropped silently: a row either passes every check or is quarantined with the reasons, and
rows_in == rows_valid + rows_quarantined always holds. A file that cannot be read at all (missing, not the format
its name claims, columns that are not there) raises Unreadable instead.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandera.polars as pa
import polars as pl

from schemas.tables import NLI_LABELS, HardNegativeSchema, NLISchema, PositivePairSchema, STSSchema, TripletSchema
from tasks.ingest.beir import decoded_lines, read_lines
from tasks.ingest.report import DataError, Finding, findings_from_schema_errors

LINE = "_line"  # the 1-based line (or Parquet row) each record came from
SOURCE = "source"  # SentEval folders: the file and line of a pair ("s1.dev:17"), as LINE runs across files

TYPES: dict[str, tuple[list[str], type[pa.DataFrameModel]]] = {
    "pairs": (["anchor", "positive"], PositivePairSchema),
    "triplets": (["anchor", "positive", "negative"], TripletSchema),
    "sts": (["sentence1", "sentence2", "score"], STSSchema),
    "nli": (["premise", "hypothesis", "label"], NLISchema),
    "hard_negatives": (["query", "positive", "negatives"], HardNegativeSchema),
}
NLI_CODES = {"0": "entailment", "1": "neutral", "2": "contradiction"}  # the SNLI / MultiNLI convention


class Unreadable(DataError):
    """The input cannot be read as claimed: a missing file, a format it is not in, columns it does not have."""


@dataclass
class TableReport:
    """The outcome of validating one file: the valid rows (typed, in the type's column order) and the rest."""

    type: str
    file: str
    rows_in: int
    valid: pl.DataFrame
    quarantined: pl.DataFrame  # the rows as read, with their line and every reason
    findings: list[Finding]
    warnings: list[str] = field(default_factory=list)


def parse_columns(text: str | None) -> dict[str, str]:
    """'anchor=question,positive=answer' or 'sentence1=5,sentence2=6,score=4' → {field: column}."""
    if not text:
        return {}
    mapping = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise Unreadable(f"--columns item {item!r} is not field=column", [])
        mapping[key.strip()] = value.strip()
    return mapping


def _read_text_rows(path: Path, header: bool) -> tuple[list[str], list[list[str | None]], list[int], list[Finding]]:
    lines, undecodable = read_lines(path)
    if lines and lines[0][1].startswith("\ufeff"):
        lines[0] = (lines[0][0], lines[0][1][1:])  # a UTF-8 byte-order mark
    if not lines:
        raise Unreadable(f"{path} is empty", [Finding(str(path), 0, "-", "not_empty", "no lines")])
    tab = "\t" in lines[0][1] or path.suffix.lower() in (".tsv", ".txt")
    if tab:  # TSV as the STS Benchmark writes it: no quoting at all (csv.QUOTE_NONE)
        rows = [text.split("\t") for _, text in lines]
    else:
        rows = list(csv.reader([text for _, text in lines]))
    numbers = [n for n, _ in lines]
    if header:
        names, rows, numbers = [c.strip() for c in rows[0]], rows[1:], numbers[1:]
    else:
        names = [str(i) for i in range(max(len(r) for r in rows))]
    findings = list(undecodable)
    for number, row in zip(numbers, rows):
        if header and len(row) != len(names):
            findings.append(Finding(str(path), number, "-", "column_count", f"{len(row)} fields, header has {len(names)}"))
    padded = [list(r) + [None] * (len(names) - len(r)) for r in rows]
    return names, padded, numbers, findings


def _read_jsonl_rows(path: Path) -> tuple[list[str], list[list], list[int], list[Finding]]:
    lines, findings = read_lines(path)
    records, numbers, names = [], [], {}
    for number, text in lines:
        text = text.lstrip("\ufeff")
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            findings.append(Finding(str(path), number, "-", "json", f"{exc.msg} at column {exc.colno}"))
            continue
        if not isinstance(record, dict):
            findings.append(Finding(str(path), number, "-", "json_object", type(record).__name__))
            continue
        names.update(dict.fromkeys(record))
        records.append(record)
        numbers.append(number)
    if not records and findings:
        raise Unreadable(f"{path} has no readable JSON line", findings)
    columns = list(names)
    return columns, [[r.get(c) for c in columns] for r in records], numbers, findings


def read_rows(path: str | Path, header: bool = True) -> tuple[pl.DataFrame, list[Finding]]:
    """Every record of the file with its source columns (as read) plus LINE; findings for records that could not be parsed."""
    path = Path(path)
    if not path.is_file():
        raise Unreadable(f"{path} does not exist", [Finding(str(path), 0, "-", "file_exists", "no such file")])
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            frame = pl.read_parquet(path)
        except Exception as exc:  # polars raises several types for a file that is not Parquet
            raise Unreadable(f"{path} is not a readable Parquet file ({type(exc).__name__})", [Finding(str(path), 0, "-", "parquet", str(exc)[:120])]) from None
        return frame.with_row_index(LINE, offset=1).with_columns(pl.col(LINE).cast(pl.Int64)), []
    if suffix in (".jsonl", ".json", ".ndjson"):
        names, rows, numbers, findings = _read_jsonl_rows(path)
    elif suffix in (".csv", ".tsv", ".txt"):
        names, rows, numbers, findings = _read_text_rows(path, header)
    else:
        raise Unreadable(f"{path}: unknown format {suffix!r}; use .csv, .tsv, .txt, .jsonl or .parquet", [])
    bad_lines = {f.row for f in findings}
    kept = [(n, r) for n, r in zip(numbers, rows) if n not in bad_lines]
    data = {name: [r[i] for _, r in kept] for i, name in enumerate(names)}
    frame = pl.DataFrame({**data, LINE: [n for n, _ in kept]}, strict=False).with_columns(pl.col(LINE).cast(pl.Int64))
    return frame, findings


def read_senteval_nli(folder: Path) -> tuple[pl.DataFrame, list[Finding]]:
    """SentEval's NLI layout: s1.<split>, s2.<split> and labels.<split>, one pair per line number, every split in turn."""
    parts, findings, offset = [], [], 0
    for s1 in sorted(folder.glob("s1.*")):
        split = s1.suffix
        files = [s1, folder / f"s2{split}", folder / f"labels{split}"]
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise Unreadable(f"{folder}: {missing[0].name} is missing for split {split[1:]}", [])
        columns = [[text for _, text in decoded_lines(f)] for f in files]
        if len({len(c) for c in columns}) != 1:
            raise Unreadable(f"{folder}: s1, s2 and labels of split {split[1:]} have {[len(c) for c in columns]} lines; they must match", [])
        # LINE numbers the pairs across all splits, so a bad pair of one split never takes the same line of another
        # with it; SOURCE keeps the file and line a person looks up
        n = len(columns[0])
        parts.append(pl.DataFrame({"premise": columns[0], "hypothesis": columns[1], "label": columns[2],
                                   LINE: list(range(offset + 1, offset + n + 1)),
                                   SOURCE: [f"{s1.name}:{i}" for i in range(1, n + 1)]}))
        offset += n
    if not parts:
        raise Unreadable(f"{folder} holds no s1.<split> file", [])
    return pl.concat(parts), findings


def detect_type(columns: list[str]) -> str | None:
    """The most specific type whose field names are all present."""
    present = set(columns)
    if {"query", "positive"} <= present and ("negatives" in present or any(c.startswith("neg_") for c in present)):
        return "hard_negatives"
    for name in ("triplets", "pairs", "sts", "nli"):
        if set(TYPES[name][0]) <= present:
            return name
    return None


def _select_fields(frame: pl.DataFrame, kind: str, mapping: dict[str, str], path: Path) -> pl.DataFrame:
    fields = TYPES[kind][0]
    unknown = set(mapping) - set(fields) - {"neg_prefix"}
    if unknown:
        raise Unreadable(f"--columns names {sorted(unknown)}, which are not fields of type {kind} ({fields})", [])
    columns = {}
    for name in fields:
        source = mapping.get(name, name)
        if kind == "hard_negatives" and name == "negatives" and source not in frame.columns:
            wide = sorted((c for c in frame.columns if c.startswith("neg_")), key=lambda c: int(c[4:]) if c[4:].isdigit() else 0)
            if wide:
                columns[name] = pl.concat_list([pl.col(c) for c in wide]).list.drop_nulls()
                continue
        if source not in frame.columns:
            raise Unreadable(
                f"{path} has no column {source!r} for field {name!r} of type {kind}; it has {[c for c in frame.columns if c != LINE]}. "
                "Map fields with --columns field=column (or field=position for a file without a header)",
                [Finding(str(path), 0, name, "column_exists", source)],
            )
        columns[name] = pl.col(source)
    return frame.select(**columns, **{LINE: pl.col(LINE)})


def _typed(frame: pl.DataFrame, kind: str, path: Path, score_range: tuple[float, float]) -> tuple[pl.DataFrame, list[Finding]]:
    """Cast text columns to what the schema expects; a value that does not cast is a finding, never a null passed on."""
    findings = []
    casts = {}
    for name in TYPES[kind][0]:
        if name in ("score", "label", "negatives"):
            continue
        casts[name] = pl.col(name).cast(pl.String)
    frame = frame.with_columns(**casts)
    for name in casts:
        for line in frame.filter(pl.col(name).is_null())[LINE].to_list():
            findings.append(Finding(str(path), line, name, "present", "empty or missing"))
    if kind == "sts":
        low, high = score_range
        parsed = []
        for line, raw in zip(frame[LINE].to_list(), frame["score"].cast(pl.String).to_list()):
            try:
                value = float(raw)
            except (TypeError, ValueError):
                value = math.nan
            if math.isnan(value):
                findings.append(Finding(str(path), line, "score", "number", str(raw)))
            elif not low <= value <= high:
                findings.append(Finding(str(path), line, "score", f"in_range_{low:g}_{high:g}", str(raw)))
            parsed.append((value - low) / (high - low) * 5.0 if not math.isnan(value) else None)
        frame = frame.with_columns(score=pl.Series(parsed, dtype=pl.Float64))
    if kind == "nli":
        labels = []
        for line, raw in zip(frame[LINE].to_list(), frame["label"].cast(pl.String).to_list()):
            text = (raw or "").strip().lower()
            label = NLI_CODES.get(text, text)
            if label not in NLI_LABELS:
                findings.append(Finding(str(path), line, "label", "label_in_set", str(raw)))
            labels.append(label)
        frame = frame.with_columns(label=pl.Series(labels, dtype=pl.String))
    if kind == "hard_negatives":
        column = frame["negatives"]
        if column.dtype == pl.String:  # a JSON list in a text cell
            values = []
            for line, raw in zip(frame[LINE].to_list(), column.to_list()):
                try:
                    value = json.loads(raw) if raw else []
                    assert isinstance(value, list)
                except (json.JSONDecodeError, AssertionError):
                    findings.append(Finding(str(path), line, "negatives", "list", str(raw)[:80]))
                    value = []
                values.append([str(v) for v in value])
            frame = frame.with_columns(negatives=pl.Series(values, dtype=pl.List(pl.String)))
        else:
            frame = frame.with_columns(negatives=pl.col("negatives").cast(pl.List(pl.String)))
    return frame, findings


def validate_table(
    path: str | Path,
    kind: str | None = None,
    columns: dict[str, str] | None = None,
    score_range: tuple[float, float] = (0.0, 5.0),
) -> TableReport:
    """Read, map, type and validate one training table; see the module docstring for the guarantees."""
    path = Path(path)
    mapping = columns or {}
    positional = bool(mapping) and all(v.isdigit() for v in mapping.values())
    if path.is_dir():
        raw, findings = read_senteval_nli(path)
        kind = kind or "nli"
    else:
        raw, findings = read_rows(path, header=not positional)
    rows_in = raw.height + len({f.row for f in findings})
    if kind is None:
        kind = detect_type(list(mapping) or [c for c in raw.columns if c != LINE])
        if kind is None:
            raise Unreadable(
                f"cannot tell the dataset type of {path} from its columns {[c for c in raw.columns if c != LINE]}; "
                f"pass --type ({', '.join(TYPES)}) and --columns",
                [],
            )
    if kind not in TYPES:
        raise Unreadable(f"unknown dataset type {kind!r}; expected one of {', '.join(TYPES)} (or ir for a BEIR folder)", [])
    selected = _select_fields(raw, kind, mapping, path)
    typed, type_findings = _typed(selected, kind, path, score_range)
    findings += type_findings
    schema = TYPES[kind][1]
    candidates = typed.filter(~pl.col(LINE).is_in([f.row for f in type_findings]))
    lines = candidates[LINE].to_list()
    try:
        schema.validate(candidates.drop(LINE), lazy=True)
    except pa.errors.SchemaErrors as exc:
        findings += findings_from_schema_errors(exc, str(path), lines)
    bad = {f.row for f in findings}
    valid = typed.filter(~pl.col(LINE).is_in(list(bad))).drop(LINE)
    reasons: dict[int, list[str]] = {}
    for f in findings:
        reasons.setdefault(f.row, []).append(f"{f.column} — {f.check} ({f.value})")
    as_read = raw.select(pl.col(LINE).alias("line"), *[pl.col(c).cast(pl.String) for c in raw.columns if c != LINE
                                                        and raw.schema[c] != pl.List(pl.String)])
    quarantined = pl.DataFrame(
        {"line": sorted(bad), "reasons": ["; ".join(reasons[line]) for line in sorted(bad)]},
        schema={"line": pl.Int64, "reasons": pl.String},
    ).join(as_read, on="line", how="left")
    if SOURCE in raw.columns:  # name the SentEval file and its own line, not the running number across files
        origin = dict(zip(raw[LINE].to_list(), raw[SOURCE].to_list()))
        findings = [Finding(str(path / origin[f.row].split(":")[0]), int(origin[f.row].split(":")[1]), f.column, f.check, f.value)
                    if f.row in origin else f for f in findings]
    report = TableReport(kind, str(path), rows_in, valid, quarantined, sorted(findings, key=lambda f: (f.file, f.row, f.column)))
    assert report.rows_in == report.valid.height + report.quarantined.height, "a row was lost"
    return report
