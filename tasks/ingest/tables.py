"""Training tables from CSV/TSV, JSONL or Parquet: read, map columns, detect the type, type the values, validate.

Nothing is dropped silently: a row either passes every check or is quarantined with the reasons, and
rows_in == rows_valid + rows_quarantined always holds. A file that cannot be read at all (missing, not the format
its name claims, columns that are not there) raises Unreadable instead.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandera.polars as pa
import polars as pl

from schemas.tables import NLI_LABELS, HardNegativeSchema, NLISchema, PositivePairSchema, STSSchema, TripletSchema
from tasks.config import TABLE_TYPES
from tasks.ingest.beir import UNDECODABLE, bad_byte, json_objects, raw_lines, read_text, undecodable
from tasks.ingest.report import DataError, EmptyData, Finding, findings_from_schema_errors

LINE = "_line"  # the 1-based line (or Parquet row) each record came from
SOURCE = "source"  # SentEval folders: the file and line of a pair ("s1.dev:17"), as LINE runs across files

TYPES: dict[str, tuple[list[str], type[pa.DataFrameModel]]] = {
    "pairs": (["anchor", "positive"], PositivePairSchema),
    "triplets": (["anchor", "positive", "negative"], TripletSchema),
    "sts": (["sentence1", "sentence2", "score"], STSSchema),
    "nli": (["premise", "hypothesis", "label"], NLISchema),
    "hard_negatives": (["query", "positive", "negatives"], HardNegativeSchema),
}
if tuple(TYPES) != TABLE_TYPES:  # the config's list of type names is the one users see; this map must follow it
    raise ImportError(f"tasks/ingest/tables.TYPES {tuple(TYPES)} differs from tasks/config.TABLE_TYPES {TABLE_TYPES}")
NLI_CODES = {"0": "entailment", "1": "neutral", "2": "contradiction"}  # the SNLI / MultiNLI convention
WIDE_NEGATIVE = re.compile(
    r"^(?:neg|negative)_(\d+)$"
)  # neg_1 … (our wide layout), negative_1 … (sentence-transformers')
# dataframe-level checks compare fields; pandera names the schema as their column, so the reader names the fields
CROSS_FIELD = {
    "anchor_is_not_positive": ("anchor", "positive"),
    "negative_is_not_positive": ("positive", "negative"),
    "hypothesis_is_not_premise": ("premise", "hypothesis"),
}


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


def _csv_rows(path: Path, text: str, tab: bool) -> tuple[list[list[str]], list[int], list[Finding]]:
    """Every record of a CSV (or TSV) text with the physical line it starts on; a record the csv module rejects is a
    finding. The csv module reads the whole text, so a quoted field may span lines and the lines after it keep their
    own numbers (reader.line_num is the last physical line read)."""
    # the csv module's default 128 KiB field limit would turn one long document into an error on a valid file
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
    if tab:  # TSV as the STS Benchmark writes it: no quoting at all, a quote is an ordinary character
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows, numbers, findings = [], [], []
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if reader.line_num > start:  # a quote opened and never closed: everything after it would be one value
                raise Unreadable(
                    f"{path}:{start}: a quoted field opens on this line and is not closed before line {reader.line_num} "
                    f'({exc}); close the quote, or double a quote that is part of the text ("")',
                    [Finding(str(path), start, "-", "csv", str(exc))],
                ) from None
            findings.append(Finding(str(path), start, "-", "csv", str(exc)))
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # a blank line
        rows.append(row)
        numbers.append(start)
    return rows, numbers, findings


def _read_text_rows(path: Path, header: bool) -> tuple[list[str], list[list[str | None]], list[int], list[Finding]]:
    text = read_text(path)
    if text.startswith("\ufeff"):  # a UTF-8 byte-order mark
        text = text[1:]
    tab = "\t" in text.split("\n", 1)[0] or path.suffix.lower() in (".tsv", ".txt")
    rows, numbers, findings = _csv_rows(path, text, tab)
    dirty = UNDECODABLE.search(text) is not None
    if not rows:
        raise EmptyData(f"{path} is empty: it holds no rows", [Finding(str(path), 0, "-", "not_empty", "no lines")])
    if header:
        if any(bad_byte(name) for name in rows[0]):
            raise Unreadable(
                f"{path}: the header line is not UTF-8 ({next(bad_byte(n) for n in rows[0] if bad_byte(n))})",
                [Finding(str(path), numbers[0], "-", "utf8", "header")],
            )
        names, rows, numbers = [c.strip() for c in rows[0]], rows[1:], numbers[1:]
    else:
        names = [str(i) for i in range(max(len(r) for r in rows))]
    for number, row in zip(numbers, rows):
        if header and len(row) != len(names):
            findings.append(
                Finding(str(path), number, "-", "column_count", f"{len(row)} fields, header has {len(names)}")
            )
        if dirty:
            findings += undecodable(
                str(path), number, {names[i] if i < len(names) else str(i): value for i, value in enumerate(row)}
            )
    padded = [list(r) + [None] * (len(names) - len(r)) for r in rows]
    return names, padded, numbers, findings


def _read_jsonl_rows(path: Path) -> tuple[list[str], list[list], list[int], list[Finding]]:
    (lines, dirty), findings = raw_lines(path), []
    if not lines:
        raise EmptyData(f"{path} is empty: it holds no records", [Finding(str(path), 0, "-", "not_empty", "no lines")])
    records, numbers, names = [], [], {}
    for number, record, broken in json_objects(path, lines, dirty):
        if broken:
            findings += broken
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
            raise Unreadable(
                f"{path} is not a readable Parquet file ({type(exc).__name__})",
                [Finding(str(path), 0, "-", "parquet", str(exc)[:120])],
            ) from None
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
        read = [raw_lines(f) for f in files]
        columns = [[text for _, text in lines] for lines, _ in read]
        if len({len(c) for c in columns}) != 1:
            raise Unreadable(
                f"{folder}: s1, s2 and labels of split {split[1:]} have {[len(c) for c in columns]} lines; they must match",
                [],
            )
        # LINE numbers the pairs across all splits, so a bad pair of one split never takes the same line of another
        # with it; SOURCE keeps the file and line a person looks up
        n = len(columns[0])
        if any(dirty for _, dirty in read):
            for i in range(n):
                findings += undecodable(
                    str(folder),
                    offset + i + 1,
                    {"premise": columns[0][i], "hypothesis": columns[1][i], "label": columns[2][i]},
                )
            # the pair stays in the frame (a bad byte shown as U+FFFD), so the quarantine shows it as read, under its own line
            columns = [[UNDECODABLE.sub("\ufffd", text) for text in column] for column in columns]
        parts.append(
            pl.DataFrame(
                {
                    "premise": columns[0],
                    "hypothesis": columns[1],
                    "label": columns[2],
                    LINE: list(range(offset + 1, offset + n + 1)),
                    SOURCE: [f"{s1.name}:{i}" for i in range(1, n + 1)],
                }
            )
        )
        offset += n
    if not parts:
        raise Unreadable(f"{folder} holds no s1.<split> file", [])
    return pl.concat(parts), findings


def detect_type(columns: list[str]) -> str | None:
    """The most specific type whose field names are all present."""
    present = set(columns)
    if {"query", "positive"} <= present and ("negatives" in present or any(WIDE_NEGATIVE.match(c) for c in present)):
        return "hard_negatives"
    for name in ("triplets", "pairs", "sts", "nli"):
        if set(TYPES[name][0]) <= present:
            return name
    return None


def _wide_negatives(frame: pl.DataFrame, prefix: str | None) -> list[str]:
    """The file's one-negative-per-column names in numeric order: <prefix>N when given, else neg_N or negative_N."""
    if prefix:
        found = {c: c[len(prefix) :] for c in frame.columns if c.startswith(prefix) and c[len(prefix) :].isdigit()}
    else:
        found = {c: m.group(1) for c in frame.columns if (m := WIDE_NEGATIVE.match(c))}
    return sorted(found, key=lambda c: int(found[c]))


def _select_fields(
    frame: pl.DataFrame, kind: str, mapping: dict[str, str], path: Path
) -> tuple[pl.DataFrame, list[str]]:
    """The type's fields (from the mapped columns) plus LINE, and the wide negative columns used (hard negatives)."""
    fields = TYPES[kind][0]
    unknown = set(mapping) - set(fields) - {"neg_prefix"}
    if unknown:
        raise Unreadable(f"--columns names {sorted(unknown)}, which are not fields of type {kind} ({fields})", [])
    columns, wide = {}, []
    for name in fields:
        source = mapping.get(name, name)
        if kind == "hard_negatives" and name == "negatives" and source not in frame.columns:
            wide = _wide_negatives(frame, mapping.get("neg_prefix"))
            if wide:
                columns[name] = pl.concat_list([pl.col(c).cast(pl.String) for c in wide]).list.drop_nulls()
                continue
        if source not in frame.columns:
            raise Unreadable(
                f"{path} has no column {source!r} for field {name!r} of type {kind}; "
                f"it has {[c for c in frame.columns if c != LINE]}. "
                "Map fields with --columns field=column (or field=position for a file without a header)",
                [Finding(str(path), 0, name, "column_exists", source)],
            )
        columns[name] = pl.col(source)
    return frame.select(**columns, **{LINE: pl.col(LINE)}), wide


def _json_list(raw: str | None) -> list | None:
    """A JSON list in a text cell (empty cell = no negatives), or None when the cell holds something else."""
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) else None


def _typed(
    frame: pl.DataFrame, kind: str, path: Path, score_range: tuple[float, float]
) -> tuple[pl.DataFrame, list[Finding]]:
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
                value = _json_list(raw)
                if value is None:  # an explicit check, not an assert: `python -O` must still report the cell
                    findings.append(Finding(str(path), line, "negatives", "list", str(raw)[:80]))
                    value = []
                values.append([str(v) for v in value])
            frame = frame.with_columns(negatives=pl.Series(values, dtype=pl.List(pl.String)))
        elif isinstance(column.dtype, pl.List):
            frame = frame.with_columns(negatives=pl.col("negatives").cast(pl.List(pl.String)))
        else:
            for line, raw in zip(frame[LINE].to_list(), column.to_list()):
                findings.append(Finding(str(path), line, "negatives", "list", str(raw)[:80]))
            frame = frame.with_columns(negatives=pl.lit([], dtype=pl.List(pl.String)))
    return frame, findings


def _name_cells(
    findings: list[Finding], typed: pl.DataFrame, raw: pl.DataFrame, mapping: dict[str, str], wide: list[str]
) -> list[Finding]:
    """Cross-field findings with the file's column(s) a person edits instead of the schema's name, and the text that
    repeats as the value: `anchor,positive`, `positive,negative`, or the negative's own column (`neg_2`, `negatives[1]`)."""
    needed = [f.row for f in findings if f.check in CROSS_FIELD or f.check == "negatives_are_not_positive"]
    if not needed:
        return findings
    rows = {row[LINE]: row for row in typed.filter(pl.col(LINE).is_in(needed)).iter_rows(named=True)}
    raw_rows = {row[LINE]: row for row in raw.filter(pl.col(LINE).is_in(needed)).iter_rows(named=True)} if wide else {}
    named = []
    for f in findings:
        row = rows.get(f.row)
        if row is None or (f.check not in CROSS_FIELD and f.check != "negatives_are_not_positive"):
            named.append(f)
            continue
        if f.check in CROSS_FIELD:
            fields = CROSS_FIELD[f.check]
            named.append(
                Finding(f.file, f.row, ",".join(mapping.get(n, n) for n in fields), f.check, str(row[fields[1]])[:120])
            )
            continue
        positive = row["positive"]
        if wide:
            cells = [c for c in wide if raw_rows[f.row].get(c) is not None and str(raw_rows[f.row][c]) == positive]
        else:
            source = mapping.get("negatives", "negatives")
            cells = [f"{source}[{i}]" for i, text in enumerate(row["negatives"] or []) if text == positive]
        for cell in cells or [mapping.get("negatives", "negatives")]:
            named.append(Finding(f.file, f.row, cell, f.check, str(positive)[:120]))
    return named


def _repeated_premises(typed: pl.DataFrame, path: Path) -> list[Finding]:
    """Entailment pairs whose hypothesis repeats the premise: legal (a sentence entails itself) but nothing to learn;
    reported as warnings, kept as valid rows, and left out of training pairs by the converters."""
    same = typed.filter(
        (pl.col("label") == "entailment")
        & (pl.col("premise").str.strip_chars() == pl.col("hypothesis").str.strip_chars())
    )
    return [
        Finding(str(path), line, "premise,hypothesis", "hypothesis_repeats_premise", str(text)[:120])
        for line, text in zip(same[LINE].to_list(), same["hypothesis"].to_list())
    ]


def validate_table(
    path: str | Path,
    kind: str | None = None,
    columns: dict[str, str] | None = None,
    score_range: tuple[float, float] = (0.0, 5.0),
) -> TableReport:
    """Read, map, type and validate one training table; see the module docstring for the guarantees.

    A table without a single row (only a header, or nothing) raises EmptyData: there is nothing to train on.
    """
    path = Path(path)
    mapping = columns or {}
    positional = bool(mapping) and all(v.isdigit() for v in mapping.values())
    if path.is_dir():
        raw, findings = read_senteval_nli(path)
        kind = kind or "nli"
    else:
        raw, findings = read_rows(path, header=not positional)
    rows_in = raw.height + len({f.row for f in findings} - set(raw[LINE].to_list()))
    if rows_in == 0:
        raise EmptyData(
            f"{path} is empty: it has a header but no rows, so there is nothing to train on",
            [Finding(str(path), 0, "-", "not_empty", "no rows")],
        )
    if kind is None:
        kind = detect_type(list(mapping) or [c for c in raw.columns if c != LINE])
        if kind is None:
            raise Unreadable(
                f"cannot tell the dataset type of {path} from its columns {[c for c in raw.columns if c != LINE]}; "
                f"pass --type ({', '.join(TYPES)}) and --columns",
                [],
            )
    if kind not in TYPES:
        raise Unreadable(
            f"unknown dataset type {kind!r}; expected one of {', '.join(TYPES)} (or ir for a BEIR folder)", []
        )
    selected, wide = _select_fields(raw, kind, mapping, path)
    typed, type_findings = _typed(selected, kind, path, score_range)
    findings += type_findings
    schema = TYPES[kind][1]
    unreadable_rows = {f.row for f in findings}
    candidates = typed.filter(~pl.col(LINE).is_in(list(unreadable_rows)))
    lines = candidates[LINE].to_list()
    try:
        schema.validate(candidates.drop(LINE), lazy=True)
    except pa.errors.SchemaErrors as exc:
        findings += _name_cells(findings_from_schema_errors(exc, str(path), lines), typed, raw, mapping, wide)
    bad = {f.row for f in findings}
    notes = _repeated_premises(candidates.filter(~pl.col(LINE).is_in(list(bad))), path) if kind == "nli" else []
    valid = typed.filter(~pl.col(LINE).is_in(list(bad))).drop(LINE)
    reasons: dict[int, list[str]] = {}
    for f in findings:
        reasons.setdefault(f.row, []).append(f"{f.column} — {f.check} ({f.value})")
    as_read = raw.select(
        pl.col(LINE).alias("line"),
        *[pl.col(c).cast(pl.String) for c in raw.columns if c != LINE and raw.schema[c] != pl.List(pl.String)],
    )
    quarantined = pl.DataFrame(
        {"line": sorted(bad), "reasons": ["; ".join(reasons[line]) for line in sorted(bad)]},
        schema={"line": pl.Int64, "reasons": pl.String},
    ).join(as_read, on="line", how="left")
    if SOURCE in raw.columns:  # name the SentEval file and its own line, not the running number across files
        origin = dict(zip(raw[LINE].to_list(), raw[SOURCE].to_list()))

        def located(f: Finding) -> Finding:
            if f.row not in origin:
                return f
            name, _, line = origin[f.row].partition(":")
            return Finding(str(path / name), int(line), f.column, f.check, f.value)

        findings, notes = [located(f) for f in findings], [located(f) for f in notes]
    warnings = [
        f"{note} — kept as a valid row; not trained on as a pair (a sentence entails itself: nothing to learn)"
        for note in notes
    ]
    report = TableReport(
        kind,
        str(path),
        rows_in,
        valid,
        quarantined,
        sorted(findings, key=lambda f: (f.file, f.row, f.column)),
        warnings,
    )
    if report.rows_in != report.valid.height + report.quarantined.height:  # explicit: `python -O` drops asserts
        raise RuntimeError(
            f"{path}: {report.rows_in} rows read but {report.valid.height} valid + "
            f"{report.quarantined.height} quarantined; a row was lost (a bug in the reader)"
        )
    return report
