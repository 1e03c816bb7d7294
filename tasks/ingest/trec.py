"""Readers for TREC files: runs (`qid Q0 docid rank score tag`) and, as frames, the qrels that read_qrels accepts.

The line readers check every line and name each bad one. The frame readers parse a whole file at once with polars,
fields separated by single spaces (or tabs, for BEIR qrels) as tools write them; whatever that parse cannot vouch for
(a tab or other whitespace in a run, a blank field, a score that is not a number, a byte-order mark) sends the file
through the line reader instead, so a valid file gives the same rows either way and an invalid one the same DataError.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tasks.ingest.beir import QRELS_HEADER, decoded_lines, read_qrels
from tasks.ingest.report import DataError, Finding

RUN_COLUMNS = {
    "query_id": pl.String,
    "q0": pl.Categorical,
    "doc_id": pl.String,
    "rank": pl.Int64,
    "score": pl.Float64,
    "tag": pl.Categorical,
}
FRAME_SCHEMA = {"query_id": pl.String, "doc_id": pl.String, "score": pl.Float64}
WHITESPACE = r"[\s\x1c-\x1f]"  # what Python's str.split() splits on (Rust's \s lacks \x1c-\x1f)
PLAIN = bytes(range(0x20, 0x7F)) + b"\n"  # printable ASCII: the only whitespace in it is the space and the newline
BOM = b"\xef\xbb\xbf"


def _run_lines(path: Path) -> dict[str, dict[str, float]]:
    run: dict[str, dict[str, float]] = {}
    bad = []
    for number, text in decoded_lines(path):
        parts = text.split()
        if len(parts) != 6:
            bad.append(
                Finding(
                    str(path),
                    number,
                    "-",
                    "column_count",
                    f"{len(parts)} fields, expected 6 (qid Q0 docid rank score tag)",
                )
            )
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


def read_run(path: str | Path) -> dict[str, dict[str, float]]:
    """{query id: {doc id: score}}. The rank column is ignored: trec_eval ranks by score, ties by doc id descending."""
    return _run_lines(Path(path))


def _starts_with_bom(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(3) == BOM


def _plain(path: Path) -> bool:
    """The file holds only printable ASCII and newlines (read in 64 MiB pieces: a 10M-line run costs ~0.3 s)."""
    with path.open("rb") as handle:
        while piece := handle.read(1 << 26):
            if piece.translate(None, PLAIN):
                return False
    return True


def _any_whitespace(values: pl.Series) -> bool:
    return bool(values.str.contains(WHITESPACE).any())


def _not_blank_lines(frame: pl.DataFrame) -> pl.DataFrame | None:
    """The frame less the all-null rows of blank lines (the line readers skip them), or None if a field is missing."""
    if not frame.null_count().sum_horizontal().item():
        return frame
    frame = frame.filter(~pl.all_horizontal(pl.all().is_null()))
    return None if frame.null_count().sum_horizontal().item() else frame


def _run_frame(path: Path) -> pl.DataFrame | None:
    """The run as a frame when one polars parse of the file is exact, else None."""
    if not path.is_file() or _starts_with_bom(path):
        return None
    try:
        frame = pl.read_csv(path, separator=" ", has_header=False, quote_char=None, schema=RUN_COLUMNS)
    except (pl.exceptions.PolarsError, ValueError):
        return None  # a line with more than 6 fields, a score or rank that is not a number, bytes that are not UTF-8
    frame = _not_blank_lines(frame)
    if frame is None:
        return None  # a missing field, or two spaces in a row
    # whitespace inside a field would split it for str.split(); only a file with other bytes than printable ASCII
    # can hold any, and then every field is searched (a second or two for 10M lines)
    if not _plain(path) and any(
        _any_whitespace(frame[c].cast(pl.String)) for c in RUN_COLUMNS if c != "score" and c != "rank"
    ):
        return None
    return frame.select(*FRAME_SCHEMA)


def read_run_frame(path: str | Path) -> pl.DataFrame:
    """The run as (query_id, doc_id, score) rows in file order; bad lines raise DataError naming each one.

    A document listed twice for one query is not looked for here (it costs a sort): score_frames finds it.
    """
    path = Path(path)
    frame = _run_frame(path)
    if frame is not None:
        return frame
    run = _run_lines(path)
    return pl.DataFrame(
        {
            "query_id": [q for q, docs in run.items() for _ in docs],
            "doc_id": [d for docs in run.values() for d in docs],
            "score": [s for docs in run.values() for s in docs.values()],
        },
        schema=FRAME_SCHEMA,
    )


def _qrels_frame(path: Path) -> pl.DataFrame | None:
    """The qrels as read_qrels returns them when one polars parse is exact and valid, else None."""
    if not path.is_file() or _starts_with_bom(path):
        return None
    with path.open("rb") as handle:
        first = next((line for line in handle if line.strip()), b"")
    tabs = b"\t" in first
    try:
        frame = pl.read_csv(
            path, separator="\t" if tabs else " ", has_header=False, quote_char=None, infer_schema=False
        )
    except (pl.exceptions.PolarsError, ValueError):
        return None
    frame = _not_blank_lines(frame)
    if frame is None or frame.width not in (3, 4) or frame.height == 0:
        return None
    if tuple(v.strip().lower() for v in frame.row(0)) == QRELS_HEADER:
        frame = frame.slice(1)
    # tab-separated fields are stripped by the line reader (inner spaces stay); space-separated ones hold none
    edge = rf"^{WHITESPACE}|{WHITESPACE}$" if tabs else WHITESPACE
    if any(frame[c].str.contains(edge).any() for c in frame.columns):
        return None
    names = ["query_id", "doc_id", "score"] if frame.width == 3 else ["query_id", "iteration", "doc_id", "score"]
    frame = frame.rename(dict(zip(frame.columns, names)))
    try:
        frame = frame.select("query_id", "doc_id", pl.col("score").cast(pl.Int64, strict=True))
    except pl.exceptions.PolarsError:
        return None
    if (frame["score"] < 0).any() or frame.select(pl.struct("query_id", "doc_id").is_duplicated().any()).item():
        return None
    return frame


def read_qrels_frame(path: str | Path) -> pl.DataFrame:
    """read_qrels's (query_id, doc_id, score) frame without its line-by-line pass when the file is clean."""
    path = Path(path)
    frame = _qrels_frame(path)
    return frame if frame is not None else read_qrels(path)
