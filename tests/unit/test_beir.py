from __future__ import annotations

import json

import pytest

from tasks.ingest import DataError, build_pairs, read_beir, read_corpus, read_qrels, read_queries
from tests.conftest import DOCS, TRAIN, write_beir


def test_reads_beir_folder_with_crlf_qrels(tmp_path):
    data = read_beir(write_beir(tmp_path, crlf=True), ["train", "test"])
    assert data.corpus.height == len(DOCS)
    assert data.qrels["train"].height == len(TRAIN)
    assert data.qrels["train"]["query_id"].to_list()[0] == "q01"  # header skipped, \r stripped
    assert data.qrels["train"]["score"].to_list() == [1] * len(TRAIN)


def test_document_text_is_title_then_body(tmp_path):
    corpus = read_corpus(write_beir(tmp_path) / "corpus.jsonl")
    title, body = DOCS["d01"]
    assert corpus.filter(corpus["doc_id"] == "d01")["text"].item() == f"{title} {body}"


def test_trec_qrels_and_missing_header(tmp_path):
    path = tmp_path / "q.txt"
    path.write_text("q1 0 d1 2\nq1 0 d2 0\n")
    qrels = read_qrels(path)
    assert qrels.rows() == [("q1", "d1", 2), ("q1", "d2", 0)]


def test_bad_json_line_is_reported_with_file_and_line(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"_id": "a", "text": "fine"}\n{"_id": "b", "text": \n')
    with pytest.raises(DataError) as err:
        read_corpus(path)
    assert f"{path}:2" in str(err.value)


def test_blank_text_and_duplicate_ids_name_row_and_column(tmp_path):
    path = tmp_path / "queries.jsonl"
    rows = [{"_id": "a", "text": "ok"}, {"_id": "b", "text": "   "}, {"_id": "a", "text": "again"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(DataError) as err:
        read_queries(path)
    found = {(f.row, f.column, f.check) for f in err.value.findings}
    assert (2, "text", "not_blank") in found
    assert (1, "query_id", "field_uniqueness") in found and (3, "query_id", "field_uniqueness") in found


def test_missing_required_field(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"_id": "a", "title": "only a title"}\n')
    with pytest.raises(DataError, match=r"corpus.jsonl:1 text — required_field"):
        read_corpus(path)


def test_invalid_utf8_is_a_finding(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(b'{"_id": "a", "text": "ok"}\n{"_id": "b", "text": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"corpus.jsonl:2 - — utf8"):
        read_corpus(path)


def test_qrels_ids_must_resolve(tmp_path):
    folder = write_beir(tmp_path)
    with open(folder / "qrels" / "test.tsv", "a") as f:
        f.write("q13\tnot-a-doc\t1\r\nghost\td01\t1\r\n")
    with pytest.raises(DataError) as err:
        read_beir(folder, ["train", "test"])
    found = {(f.row, f.column, f.check, f.value) for f in err.value.findings}
    assert (6, "corpus-id", "resolves_in_corpus", "not-a-doc") in found
    assert (7, "query-id", "resolves_in_queries", "ghost") in found


def test_non_integer_score(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("query-id\tcorpus-id\tscore\nq1\td1\thigh\n")
    with pytest.raises(DataError, match=r"train.tsv:2 score — integer \(high\)"):
        read_qrels(path)


def test_missing_folder():
    with pytest.raises(DataError, match="does not exist"):
        read_beir("/no/such/folder", ["train"])


def test_pairs_one_per_relevant_judgement(tmp_path):
    data = read_beir(write_beir(tmp_path), ["train", "test"])
    qrels = data.qrels["train"].with_columns(score=(data.qrels["train"]["query_id"] == "q01").cast(int))
    pairs = build_pairs(qrels, data.corpus, data.queries, min_relevance=1)
    assert pairs.rows() == [("q01", "d01", "who pays if someone sues us over their product", "Indemnification " + DOCS["d01"][1])]
