from __future__ import annotations

import json
from pathlib import Path

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
    assert corpus.filter(corpus["doc_id"] == "d01")["title"].item() == title  # kept alone too: every passage repeats it


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
    with pytest.raises(DataError, match=r"corpus.jsonl:2 text — utf8 \(undecodable byte 0xE9 at character 4"):
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
    assert pairs.rows() == [
        ("q01", "d01", "who pays if someone sues us over their product", "Indemnification " + DOCS["d01"][1])
    ]


@pytest.mark.parametrize(
    "name,what", [("corpus.jsonl", "documents"), ("queries.jsonl", "queries"), ("qrels/test.tsv", "judgements")]
)
@pytest.mark.parametrize("policy", ["fail", "quarantine"])
def test_an_empty_file_is_reported_as_empty_not_as_dangling_ids(tmp_path, name, what, policy):
    from tasks.ingest.report import EmptyData

    folder = write_beir(tmp_path)
    (folder / name).write_text("query-id\tcorpus-id\tscore\n" if name.startswith("qrels") else "\n")
    with pytest.raises(EmptyData) as err:
        read_beir(folder, ["train", "test"], on_invalid=policy)
    assert f"{folder / name} is empty: it holds no {what}" in str(err.value)
    assert [(f.row, f.check) for f in err.value.findings] == [(0, "not_empty")]


def test_a_judgement_of_a_set_aside_document_says_why_it_was_dropped(tmp_path):
    folder = write_beir(tmp_path)
    with open(folder / "corpus.jsonl", "a") as f:
        f.write(json.dumps({"_id": "d01", "title": "", "text": "a second document with the same id"}) + "\n")  # line 17
        f.write(json.dumps({"_id": "d99", "title": " ", "text": " "}) + "\n")  # line 18
    with open(folder / "qrels" / "test.tsv", "a") as f:
        f.write("q13\td99\t1\r\n")  # line 6
    data = read_beir(folder, ["train", "test"], on_invalid="quarantine")
    found = {(Path(f.file).name, f.row, f.column, f.check): f.value for f in data.findings}
    # the two corpus rows that collide are the findings of the duplicate …
    assert ("corpus.jsonl", 1, "doc_id", "field_uniqueness") in found and (
        "corpus.jsonl",
        17,
        "doc_id",
        "field_uniqueness",
    ) in found
    # … and the judgements of the ids set aside say why, instead of "does not resolve"
    assert found[("train.tsv", 2, "corpus-id", "document_set_aside")] == (
        "d01: corpus.jsonl:1 doc_id — field_uniqueness; corpus.jsonl:17 doc_id — field_uniqueness"
    )
    assert found[("test.tsv", 6, "corpus-id", "document_set_aside")] == "d99: corpus.jsonl:18 text — not_blank"
    assert not any(check == "resolves_in_corpus" for _, _, _, check in found)
    assert data.rows_in == data.rows_valid + len({(f.file, f.row) for f in data.findings})


def test_an_undecodable_byte_in_a_qrels_or_tsv_corpus_names_its_column(tmp_path):
    qrels = tmp_path / "train.tsv"
    qrels.write_bytes(b"query-id\tcorpus-id\tscore\nq1\td\xff1\t1\n")
    with pytest.raises(DataError, match=r"train.tsv:2 corpus-id — utf8 \(undecodable byte 0xFF"):
        read_qrels(qrels)
    corpus = tmp_path / "docs.tsv"
    corpus.write_bytes(b"id\ttitle\ttext\nd1\tCaf\xe9\tbody\n")
    with pytest.raises(DataError, match=r"docs.tsv:2 title — utf8"):
        read_corpus(corpus)
