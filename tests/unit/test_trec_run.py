from __future__ import annotations

import pytest

from tasks.ingest import DataError, read_qrels
from tasks.ingest.trec import read_qrels_frame, read_run, read_run_frame


def test_reads_scores_and_ignores_the_rank_column(tmp_path):
    path = tmp_path / "run.txt"
    path.write_text("q1 Q0 d1 2 0.9 sys\nq1 Q0 d2 1 0.8 sys\nq2 Q0 d1 1 -1.5 sys\n")
    assert read_run(path) == {"q1": {"d1": 0.9, "d2": 0.8}, "q2": {"d1": -1.5}}


def test_bad_lines_name_file_line_and_reason(tmp_path):
    path = tmp_path / "run.txt"
    path.write_text("q1 Q0 d1 1 0.9 sys\nq1 Q0 d2 1 high sys\nq1 d3 1 0.1\nq1 Q0 d1 3 0.2 sys\n")
    with pytest.raises(DataError) as err:
        read_run(path)
    found = {(f.row, f.column, f.check) for f in err.value.findings}
    assert found == {(2, "score", "number"), (3, "-", "column_count"), (4, "docid", "unique_per_query")}


def _as_run(frame):
    out = {}
    for q, d, s in frame.iter_rows():
        out.setdefault(q, {})[d] = s
    return out


@pytest.mark.parametrize(
    "text",
    [
        "q1 Q0 d1 1 0.9 sys\nq1 Q0 d2 2 0.8 sys\nq2 Q0 d1 1 -1.5 sys\n",  # the fast parse
        "q1 Q0 d1 1 0.9 sys\r\n\r\nq1 Q0 d2 2 0.8 sys\r\nq2 Q0 d1 1 -1.5 sys",  # CRLF, a blank line, no final newline
        "q1\tQ0\td1\t1\t0.9\tsys\nq1  Q0 d2 2 0.8 sys\nq2 Q0 d1 x -1.5 sys\n",  # tabs, two spaces, a rank that is no number
    ],
)
def test_run_frame_reads_what_the_line_reader_reads(tmp_path, text):
    path = tmp_path / "run.txt"
    path.write_text(text, newline="")
    frame = read_run_frame(path)
    assert frame.columns == ["query_id", "doc_id", "score"]
    assert _as_run(frame) == read_run(path) == {"q1": {"d1": 0.9, "d2": 0.8}, "q2": {"d1": -1.5}}


def test_run_frame_reports_bad_lines_like_the_line_reader(tmp_path):
    path = tmp_path / "run.txt"
    path.write_text("q1 Q0 d1 1 0.9 sys\nq1 Q0 d2 1 high sys\nq1 d3 1 0.1\nq1 Q0 d4 1 0.2 sys\tx\n")
    with pytest.raises(DataError) as err:
        read_run_frame(path)
    assert {(f.row, f.column, f.check) for f in err.value.findings} == {
        (2, "score", "number"),
        (3, "-", "column_count"),
        (4, "-", "column_count"),
    }


@pytest.mark.parametrize(
    "text",
    [
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td 2\t0\nq2\td1\t2\n",  # BEIR TSV with header; ids may hold spaces
        "q1 0 d1 1\nq1 0 d2 0\n\nq2 0 d1 2\n",  # TREC
        "q1 0 d1 1\nq1\t0\td2\t0\nq2  0 d1 2\n",  # mixed separators: the line reader's business
    ],
)
def test_qrels_frame_equals_read_qrels(tmp_path, text):
    path = tmp_path / "qrels.txt"
    path.write_text(text)
    assert read_qrels_frame(path).rows() == read_qrels(path).rows()


@pytest.mark.parametrize("text", ["q1 0 d1 1\nq1 0 d1 2\n", "q1 0 d1 -1\n", "q1 0 d1 high\n"])
def test_qrels_frame_reports_bad_rows_like_read_qrels(tmp_path, text):
    path = tmp_path / "qrels.txt"
    path.write_text(text)
    with pytest.raises(DataError) as fast:
        read_qrels_frame(path)
    with pytest.raises(DataError) as slow:
        read_qrels(path)
    assert fast.value.findings == slow.value.findings
