"""Readers for IR data: the BEIR layout (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) or separate files (TREC).

Every parsed row keeps the line it came from, so a bad value is reported as `file:line column — reason (value)`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandera.polars as pa
import polars as pl

from schemas import CorpusSchema, QrelsSchema, QueriesSchema
from tasks.ingest.report import DataError, EmptyData, Finding, findings_from_schema_errors

QRELS_HEADER = ("query-id", "corpus-id", "score")
METADATA_SCHEMA = {"doc_id": pl.String, "key": pl.String, "value": pl.String}  # document_metadata's frame


@dataclass(frozen=True)
class BeirData:
    """A parsed BEIR folder: validated frames plus one qrels frame per split."""

    corpus: pl.DataFrame
    queries: pl.DataFrame
    qrels: dict[str, pl.DataFrame]
    findings: list[Finding] = field(default_factory=list)  # quarantined rows (on_invalid="quarantine")
    rows_in: int = 0  # records read across all files
    valid_rows: int | None = None  # set when the data came from one table: its valid rows, not the derived frames

    @property
    def rows_valid(self) -> int:
        if self.valid_rows is not None:
            return self.valid_rows
        return self.corpus.height + self.queries.height + sum(q.height for q in self.qrels.values())


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


# bytes that are not UTF-8, decoded with surrogateescape: each survives as one lone surrogate U+DC80..U+DCFF, so a
# reader can parse the line and name the field that holds the bad byte instead of dropping the whole line unnamed
UNDECODABLE = re.compile("[\udc80-\udcff]")


def read_text(path: Path) -> str:
    """The whole file as text, CRLF left alone; bytes that are not UTF-8 kept as lone surrogates (see UNDECODABLE)."""
    if not path.is_file():
        raise DataError(f"{path} is missing", [Finding(str(path), 0, "-", "file_exists", "no such file")])
    return path.read_bytes().decode("utf-8", errors="surrogateescape")


def raw_lines(path: Path) -> tuple[list[tuple[int, str]], bool]:
    """(line number, text) for every non-blank line, CRLF tolerated, and whether any byte was not UTF-8 (bad bytes are
    kept as surrogates for undecodable(); a clean file, the usual case, skips that per-field search)."""
    text = read_text(path)
    lines = [(number, line.rstrip("\r")) for number, line in enumerate(text.split("\n"), start=1) if line.strip()]
    return lines, UNDECODABLE.search(text) is not None


def bad_byte(text: str) -> str | None:
    """'undecodable byte 0xE9 at character 4 ("caf?")' for the first byte of `text` that was not UTF-8, else None."""
    match = UNDECODABLE.search(text)
    if match is None:
        return None
    start = match.start()
    context = UNDECODABLE.sub("?", text[max(0, start - 30) : start + 10])
    return f"undecodable byte 0x{ord(match.group()) - 0xDC00:02X} at character {start + 1} ({context!r})"


def undecodable(file: str, row: int, fields: dict[str, object]) -> list[Finding]:
    """A utf8 finding for every field (nested JSON values are searched too) that holds a byte that was not UTF-8."""
    findings = []
    for name, value in fields.items():
        texts = [value] if isinstance(value, str) else _strings(value)
        for text in texts:
            reason = bad_byte(text)
            if reason:
                findings.append(Finding(file, row, name, "utf8", reason))
                break
    return findings


def json_objects(
    path: Path, lines: list[tuple[int, str]], dirty: bool
) -> Iterator[tuple[int, dict | None, list[Finding]]]:
    """(line number, the line's JSON object or None, what is wrong with it) for every line of a JSONL file: the one
    reading of a JSON line that BEIR files and training tables share."""
    for number, text in lines:
        text = text.lstrip("\ufeff")
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            reason = (
                bad_byte(text) if dirty else None
            )  # a bad byte inside a JSON string parses; one in the syntax cannot
            yield (
                number,
                None,
                [
                    Finding(str(path), number, "-", "utf8", reason)
                    if reason
                    else Finding(str(path), number, "-", "json", f"{exc.msg} at column {exc.colno}")
                ],
            )
            continue
        if not isinstance(record, dict):
            yield number, None, [Finding(str(path), number, "-", "json_object", type(record).__name__)]
            continue
        # every field, metadata included: nothing downstream can hold such text
        yield number, record, undecodable(str(path), number, record) if dirty else []


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in (_strings(k) + _strings(v))]
    if isinstance(value, list):
        return [t for v in value for t in _strings(v)]
    return []


def decoded_lines(path: Path) -> list[tuple[int, str]]:
    """read_lines, refusing a file with any line that is not UTF-8."""
    lines, bad = read_lines(path)
    if bad:
        raise DataError(f"{path} is not readable UTF-8", bad)
    return lines


ID_HEADERS = {"_id", "id", "doc_id", "docid", "query_id", "qid", "corpus-id", "query-id"}


@dataclass(frozen=True)
class _Part:
    """One IR file after validation: its valid rows, a finding per bad value, the records read, and the ids of the
    records set aside with why (a judgement of such an id is then reported as set aside, not as unknown)."""

    frame: pl.DataFrame
    findings: list[Finding]
    rows_in: int
    set_aside: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Records:
    columns: dict[str, list[str]]  # the valid-so-far records, one list per field
    lines: list[int]  # the line of each of them
    findings: list[Finding]  # lines that could not be parsed at all
    rows_in: int  # records read, parsed or not
    ids: dict[int, str]  # line -> `_id` of every record whose id could be read, whether it was kept or not


def _tsv(path: Path, fields: dict[str, bool]) -> _Records:
    """Records of an `id<TAB>text` (or `id<TAB>title<TAB>text`) file, header optional."""
    columns: dict[str, list[str]] = {name: [] for name in fields}
    text_lines, dirty = raw_lines(path)
    lines, bad, ids = [], [], {}
    for number, text in text_lines:
        parts = text.lstrip("\ufeff").split("\t")
        if number == text_lines[0][0] and parts[0].strip().lower() in ID_HEADERS:
            continue
        if len(parts) not in (2, 3) or (len(parts) == 3 and "title" not in fields):
            expected = "id<TAB>text or id<TAB>title<TAB>text" if "title" in fields else "id<TAB>text"
            bad.append(Finding(str(path), number, "-", "column_count", f"{len(parts)} fields, expected {expected}"))
            continue
        record = {"_id": parts[0].strip(), "title": parts[1] if len(parts) == 3 else "", "text": parts[-1]}
        fields_read = {"id": parts[0], **({"title": parts[1]} if len(parts) == 3 else {}), "text": parts[-1]}
        broken = undecodable(str(path), number, fields_read) if dirty else []
        if not any(f.column == "id" for f in broken):
            ids[number] = record["_id"]
        if broken:
            bad.extend(broken)
            continue
        for name in fields:
            columns[name].append(record[name])
        lines.append(number)
    return _Records(columns, lines, bad, len(lines) + len({f.row for f in bad}), ids)


def _records(path: Path, fields: dict[str, bool]) -> _Records:
    return _tsv(path, fields) if path.suffix.lower() in (".tsv", ".txt") else _jsonl(path, fields)


def _jsonl(path: Path, fields: dict[str, bool]) -> _Records:
    """Records of a JSONL file; `fields` maps each field to whether it is required."""
    columns: dict[str, list[str]] = {name: [] for name in fields}
    text_lines, dirty = raw_lines(path)
    lines, bad, ids = [], [], {}
    for number, record, broken in json_objects(path, text_lines, dirty):
        if record is None:
            bad.extend(broken)
            continue
        if record.get("_id") is not None and not any(f.column == "_id" for f in broken):
            ids[number] = str(record["_id"])
        if broken:
            bad.extend(broken)
            continue
        missing = [name for name, required in fields.items() if required and record.get(name) is None]
        if missing:
            bad.extend(Finding(str(path), number, name, "required_field", "missing") for name in missing)
            continue
        for name in fields:
            value = record.get(name)
            columns[name].append("" if value is None else str(value))
        lines.append(number)
    return _Records(columns, lines, bad, len(text_lines), ids)


def _keep_valid(
    frame: pl.DataFrame, schema: type[pa.DataFrameModel], path: Path, lines: list[int]
) -> tuple[pl.DataFrame, list[int], list[Finding]]:
    """The rows that pass the schema, their lines, and a finding for every failure."""
    try:
        return schema.validate(frame, lazy=True), lines, []
    except pa.errors.SchemaErrors as exc:
        findings = findings_from_schema_errors(exc, str(path), lines)
    bad = {f.row for f in findings}
    keep = [i for i, line in enumerate(lines) if line not in bad]
    return frame[keep], [lines[i] for i in keep], findings


def _strict(part: _Part, path: Path) -> pl.DataFrame:
    if part.findings:
        raise DataError(f"{path} failed validation", part.findings)
    return part.frame


def _set_aside(ids: dict[int, str], findings: list[Finding], kept: set[str]) -> dict[str, str]:
    """id -> the findings that set its record(s) aside, for ids no kept record has (a duplicated id loses every copy)."""
    reasons: dict[str, list[str]] = {}
    for finding in findings:
        doc_id = ids.get(finding.row)
        if doc_id is not None and doc_id not in kept:
            reasons.setdefault(doc_id, []).append(
                f"{Path(finding.file).name}:{finding.row} {finding.column} — {finding.check}"
            )
    return {doc_id: "; ".join(dict.fromkeys(texts)) for doc_id, texts in reasons.items()}


def document_text(title: str, text: str) -> str:
    """What the model reads for a document: title and body, as BEIR's own evaluation joins them."""
    return f"{title.strip()} {text.strip()}".strip()


def _corpus(path: Path) -> _Part:
    read = _records(path, {"_id": True, "title": False, "text": True})
    texts = [document_text(t, b) for t, b in zip(read.columns["title"], read.columns["text"])]
    # the title also on its own: each passage of a long document repeats it (tasks/passages.py)
    frame = pl.DataFrame(
        {"doc_id": read.columns["_id"], "text": texts, "title": [t.strip() for t in read.columns["title"]]},
        schema={"doc_id": pl.String, "text": pl.String, "title": pl.String},
    )
    frame, _, findings = _keep_valid(frame, CorpusSchema, path, read.lines)
    findings = read.findings + findings
    return _Part(frame, findings, read.rows_in, _set_aside(read.ids, findings, set(frame["doc_id"].to_list())))


def _queries(path: Path) -> _Part:
    read = _records(path, {"_id": True, "text": True})
    frame = pl.DataFrame(
        {"query_id": read.columns["_id"], "text": read.columns["text"]},
        schema={"query_id": pl.String, "text": pl.String},
    )
    frame, _, findings = _keep_valid(frame, QueriesSchema, path, read.lines)
    findings = read.findings + findings
    return _Part(frame, findings, read.rows_in, _set_aside(read.ids, findings, set(frame["query_id"].to_list())))


def _qrels(path: Path, corpus: _Part | None, queries: _Part | None) -> _Part:
    rows: dict[str, list] = {"query_id": [], "doc_id": [], "score": []}
    text_lines, dirty = raw_lines(path)
    lines, bad, rows_in = [], [], 0
    for number, text in text_lines:
        parts = text.split("\t") if "\t" in text else text.split()
        if number == text_lines[0][0] and tuple(p.strip().lower().lstrip("\ufeff") for p in parts) == QRELS_HEADER:
            continue
        rows_in += 1
        if len(parts) == 4:  # TREC: qid iteration docid rel
            parts = [parts[0], parts[2], parts[3]]
        if len(parts) != 3:
            bad.append(
                Finding(str(path), number, "-", "column_count", f"{len(parts)} fields, expected 3 (BEIR) or 4 (TREC)")
            )
            continue
        broken = undecodable(str(path), number, dict(zip(QRELS_HEADER, parts))) if dirty else []
        if broken:
            bad.extend(broken)
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
    frame = pl.DataFrame(rows, schema={"query_id": pl.String, "doc_id": pl.String, "score": pl.Int64})
    frame, lines, findings = _keep_valid(frame, QrelsSchema, path, lines)
    if corpus is not None and queries is not None:
        dangling = _dangling_ids(frame, path, lines, corpus, queries)
        gone = {f.row for f in dangling}
        frame = frame[[i for i, line in enumerate(lines) if line not in gone]]
        findings += dangling
    return _Part(frame, bad + findings, rows_in)


def read_corpus(path: Path) -> pl.DataFrame:
    return _strict(_corpus(path), path)


def read_queries(path: Path) -> pl.DataFrame:
    return _strict(_queries(path), path)


def read_qrels(path: Path, corpus: pl.DataFrame | None = None, queries: pl.DataFrame | None = None) -> pl.DataFrame:
    """A BEIR qrels TSV (`query-id corpus-id score`, header optional) or TREC qrels (`qid 0 docid rel`).

    Given the corpus and queries, every judged id must resolve in them.
    """
    known = (
        None
        if corpus is None or queries is None
        else (_Part(corpus, [], corpus.height), _Part(queries, [], queries.height))
    )
    return _strict(_qrels(path, *(known or (None, None))), path)


def _dangling_ids(qrels: pl.DataFrame, path: Path, lines: list[int], corpus: _Part, queries: _Part) -> list[Finding]:
    """A finding for every judged id that is not among the valid records: set aside (with why) or never there."""
    known_docs = set(corpus.frame["doc_id"].to_list())
    known_queries = set(queries.frame["query_id"].to_list())
    findings = []
    for line, query_id, doc_id in zip(lines, qrels["query_id"], qrels["doc_id"]):
        if query_id in queries.set_aside:
            findings.append(
                Finding(
                    str(path), line, "query-id", "query_set_aside", f"{query_id}: {queries.set_aside[query_id]}"[:200]
                )
            )
        elif query_id not in known_queries:
            findings.append(Finding(str(path), line, "query-id", "resolves_in_queries", query_id))
        if doc_id in corpus.set_aside:
            findings.append(
                Finding(
                    str(path), line, "corpus-id", "document_set_aside", f"{doc_id}: {corpus.set_aside[doc_id]}"[:200]
                )
            )
        elif doc_id not in known_docs:
            findings.append(Finding(str(path), line, "corpus-id", "resolves_in_corpus", doc_id))
    return findings


def splits_of(folder: str | Path) -> list[str]:
    """The qrels splits a BEIR folder holds (qrels/<split>.tsv)."""
    return sorted(p.stem for p in (Path(folder) / "qrels").glob("*.tsv"))


def read_beir(folder: str | Path, splits: list[str], on_invalid: str = "fail") -> BeirData:
    """Read and validate a BEIR folder; the qrels of every split must resolve in corpus and queries.

    on_invalid="fail" raises DataError listing every bad row of the first file that has one; "quarantine" keeps the
    valid rows and reports the rest in BeirData.findings (a qrels row judging a quarantined id is quarantined too,
    with the reason its record was set aside). A file without any record raises EmptyData under either policy.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(
            f"dataset folder {folder} does not exist", [Finding(str(folder), 0, "-", "folder_exists", "no such folder")]
        )
    return read_ir(
        folder / "corpus.jsonl",
        folder / "queries.jsonl",
        {s: folder / "qrels" / f"{s}.tsv" for s in splits},
        on_invalid,
    )


def _not_empty(part: _Part, path: Path, what: str) -> _Part:
    # checked before the rows are: an empty corpus would otherwise surface as every judgement "not resolving"
    if part.rows_in == 0:
        raise EmptyData(
            f"{path} is empty: it holds no {what}, so there is nothing to train or evaluate on",
            [Finding(str(path), 0, "-", "not_empty", f"no {what}")],
        )
    return part


def read_ir(
    corpus_path: str | Path, queries_path: str | Path, qrels_paths: dict[str, str | Path], on_invalid: str = "fail"
) -> BeirData:
    """IR data from separate files: corpus and queries as JSONL (`_id`, `title`, `text`) or TSV (`id<TAB>text`, or
    `id<TAB>title<TAB>text`), qrels per split as TREC (`qid 0 docid rel`) or BEIR TSV. Same checks as read_beir."""
    strict = on_invalid == "fail"
    findings: list[Finding] = []
    rows_in = 0

    def take(part: _Part, path: Path) -> _Part:
        nonlocal rows_in
        if strict:
            _strict(part, path)
        findings.extend(part.findings)
        rows_in += part.rows_in
        return part

    corpus_path, queries_path = Path(corpus_path), Path(queries_path)
    corpus = take(_not_empty(_corpus(corpus_path), corpus_path, "documents"), corpus_path)
    queries = take(_not_empty(_queries(queries_path), queries_path, "queries"), queries_path)
    qrels = {
        split: take(_not_empty(_qrels(Path(p), corpus, queries), Path(p), "judgements"), Path(p)).frame
        for split, p in qrels_paths.items()
    }
    return BeirData(corpus=corpus.frame, queries=queries.frame, qrels=qrels, findings=findings, rows_in=rows_in)


def _metadata(path: str | Path) -> Iterator[tuple[dict, dict]]:
    """(record, its `metadata` object) for every record of a JSONL file that has one; a TSV file has none. Lines that
    do not parse or hold a byte that is not UTF-8 are skipped here: the corpus and queries readers report them."""
    path = Path(path)
    if not path.is_file() or path.suffix.lower() in (".tsv", ".txt"):
        return
    lines, dirty = raw_lines(path)
    for _, text in lines:
        if dirty and bad_byte(text):
            continue
        try:
            record = json.loads(text.lstrip("\ufeff"))
        except json.JSONDecodeError:
            continue
        metadata = record.get("metadata") if isinstance(record, dict) else None
        if isinstance(metadata, dict):
            yield record, metadata


def evidence_labels(path: str | Path) -> pl.DataFrame:
    """(query_id, doc_id, label) from a JSONL queries file's metadata shaped as an evidence map, as SciFact's is:
    {"doc_id": [{"label": "SUPPORT" | "CONTRADICT", …}, …]}. Queries whose metadata has another shape give no rows."""
    rows: dict[str, list[str]] = {"query_id": [], "doc_id": [], "label": []}
    for record, metadata in _metadata(path):
        for doc_id, evidence in metadata.items():
            for item in evidence if isinstance(evidence, list) else [evidence]:
                if isinstance(item, dict) and isinstance(item.get("label"), str):
                    rows["query_id"].append(str(record.get("_id")))
                    rows["doc_id"].append(str(doc_id))
                    rows["label"].append(item["label"])
    return pl.DataFrame(rows, schema={"query_id": pl.String, "doc_id": pl.String, "label": pl.String}).unique(
        maintain_order=True
    )


def document_metadata(path: str | Path) -> pl.DataFrame:
    """(doc_id, key, value) from the `metadata` object of a JSONL corpus: every scalar field (text, number, boolean)
    as text, e.g. {"_id": "d1", …, "metadata": {"category": "cardiology"}}. A TSV corpus, a document without metadata
    and fields holding lists or objects give no rows; the domain-confusion strategy groups documents by one such key."""
    rows: dict[str, list[str]] = {"doc_id": [], "key": [], "value": []}
    for record, metadata in _metadata(path):
        if record.get("_id") is None:
            continue
        for key, value in metadata.items():
            if isinstance(value, (str, int, float, bool)) and str(value).strip():
                rows["doc_id"].append(str(record["_id"]))
                rows["key"].append(str(key))
                rows["value"].append(str(value))
    return pl.DataFrame(rows, schema=METADATA_SCHEMA).unique(maintain_order=True)
