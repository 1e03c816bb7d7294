"""One small bad file per failure kind (tests/data/bad), each with the message a user gets."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tasks.ingest import DataError, read_beir
from tasks.ingest.tables import Unreadable, detect_type, validate_table

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"

ROW_FAILURES = [
    # file, type, columns, expected (line, column, check) findings
    ("malformed_line.jsonl", None, None, {(2, "-", "json")}),
    ("truncated.jsonl", None, None, {(2, "-", "json")}),
    ("empty_and_nan.csv", None, None, {(3, "sentence2", "not_blank"), (4, "score", "number")}),
    ("wrong_type_and_range.csv", None, None, {(2, "score", "number"), (3, "score", "in_range_0_5")}),
    ("bad_label.tsv", None, None, {(3, "label", "label_in_set")}),
    ("negative_is_positive.csv", None, None, {(2, "TripletSchema", "negative_is_not_positive"), (3, "TripletSchema", "anchor_is_not_positive")}),
    ("invalid_utf8.csv", "pairs", None, {(2, "-", "utf8")}),
]


@pytest.mark.parametrize("name,kind,columns,expected", ROW_FAILURES, ids=[r[0] for r in ROW_FAILURES])
def test_bad_rows_are_quarantined_with_file_line_column_and_reason(name, kind, columns, expected):
    report = validate_table(BAD / name, kind, columns)
    found = {(f.row, f.column, f.check) for f in report.findings}
    assert expected <= found
    assert all(f.file.endswith(name) for f in report.findings)
    assert report.rows_in == report.valid.height + report.quarantined.height
    assert set(report.quarantined["line"].to_list()) == {line for line, _, _ in expected}


@pytest.mark.parametrize("name", ["bom_ok.csv", "mixed_line_endings_ok.tsv"])
def test_bom_and_mixed_line_endings_are_read_cleanly(name):
    report = validate_table(BAD / name)
    assert report.type == "pairs"
    assert report.findings == []
    assert report.valid["anchor"].to_list() == ["what is a cap", "late fees"]
    assert report.valid["positive"][1] == "interest on overdue amounts"  # no stray \r


def test_wrong_columns_are_unreadable_and_say_how_to_map():
    with pytest.raises(Unreadable, match="cannot tell the dataset type"):
        validate_table(BAD / "wrong_columns.csv")
    with pytest.raises(Unreadable, match=r"no column 'anchor'.*--columns"):
        validate_table(BAD / "wrong_columns.csv", "pairs")
    report = validate_table(BAD / "wrong_columns.csv", "pairs", {"anchor": "question", "positive": "answer"})
    assert report.valid.height == 1


def test_missing_file_is_unreadable():
    with pytest.raises(Unreadable, match="does not exist"):
        validate_table(BAD / "nope.csv")


def test_duplicate_ids_in_a_beir_corpus():
    with pytest.raises(DataError) as err:
        read_beir(BAD / "duplicate_ids", ["test"])
    assert {(f.row, f.column, f.check) for f in err.value.findings} == {(1, "doc_id", "field_uniqueness"), (2, "doc_id", "field_uniqueness")}


def test_dangling_qrels_ids():
    with pytest.raises(DataError) as err:
        read_beir(BAD / "dangling_qrels", ["test"])
    assert {(f.row, f.column, f.value) for f in err.value.findings} == {(3, "corpus-id", "d9"), (4, "query-id", "q7")}


def test_type_detection_from_columns():
    assert detect_type(["anchor", "positive"]) == "pairs"
    assert detect_type(["anchor", "positive", "negative"]) == "triplets"
    assert detect_type(["sentence1", "sentence2", "score"]) == "sts"
    assert detect_type(["premise", "hypothesis", "label"]) == "nli"
    assert detect_type(["query", "positive", "neg_1", "neg_2"]) == "hard_negatives"
    assert detect_type(["question", "answer"]) is None


def test_sts_scores_on_a_declared_scale_are_normalised(tmp_path):
    path = tmp_path / "sts.csv"
    path.write_text("sentence1,sentence2,score\na,b,0.0\nc,d,0.5\ne,f,1.0\n")
    assert validate_table(path, score_range=(0.0, 1.0)).valid["score"].to_list() == [0.0, 2.5, 5.0]


def test_nli_numeric_labels_follow_the_snli_convention(tmp_path):
    path = tmp_path / "nli.jsonl"
    path.write_text('{"premise": "p", "hypothesis": "h1", "label": 0}\n{"premise": "p", "hypothesis": "h2", "label": "Contradiction"}\n')
    assert validate_table(path).valid["label"].to_list() == ["entailment", "contradiction"]


def test_hard_negatives_from_wide_columns_and_parquet_lists(tmp_path):
    wide = tmp_path / "hn.csv"
    wide.write_text("query,positive,neg_1,neg_2\ncap on damages,limitation of liability,force majeure,governing law\n")
    assert validate_table(wide).valid["negatives"].to_list() == [["force majeure", "governing law"]]
    parquet = tmp_path / "hn.parquet"
    pl.DataFrame({"query": ["q", "r"], "positive": ["p", "s"], "negatives": [["n1"], ["s"]]}).write_parquet(parquet)
    report = validate_table(parquet)
    assert report.valid.height == 1
    assert {(f.row, f.check) for f in report.findings} == {(2, "negatives_are_not_positive")}


SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not beside the checkout")
def test_real_datasets_ingest_cleanly():
    sts = validate_table(SHARED / "stsbenchmark" / "sts-train.csv", "sts", {"sentence1": "5", "sentence2": "6", "score": "4"})
    assert (sts.rows_in, sts.valid.height) == (5749, 5749)
    sick = validate_table(SHARED / "sick" / "SICK.txt", "nli", {"premise": "sentence_A", "hypothesis": "sentence_B", "label": "entailment_label"})
    assert (sick.rows_in, sick.valid.height) == (9840, 9840)
    snli = validate_table(SHARED / "snli-senteval")
    assert (snli.rows_in, snli.valid.height) == (9842 + 9824, 9842 + 9824 - 4)
    # four dev pairs whose hypothesis repeats the premise word for word (a sentence entails itself: nothing to learn)
    assert [(Path(f.file).name, f.row) for f in snli.findings] == [("s1.dev", 3054), ("s1.dev", 3712), ("s1.dev", 5163), ("s1.dev", 7653)]


def test_senteval_folder_names_the_file_and_line_of_a_bad_pair(tmp_path):
    """Line 2 of the dev split is bad; line 2 of the test split is fine and must stay."""
    for split, rows in {"dev": [("a man sleeps", "a person rests", "entailment"), ("the sky", "the sky", "entailment")],
                        "test": [("cats purr", "dogs bark", "neutral"), ("rain falls", "it is dry", "contradiction")]}.items():
        for name, column in (("s1", 0), ("s2", 1), ("labels", 2)):
            (tmp_path / f"{name}.{split}").write_text("".join(r[column] + "\n" for r in rows))
    report = validate_table(tmp_path)
    assert report.rows_in == 4 and report.valid.height == 3 and report.quarantined.height == 1
    assert [(Path(f.file).name, f.row, f.check) for f in report.findings] == [("s1.dev", 2, "hypothesis_is_not_premise")]
    assert report.quarantined["source"].to_list() == ["s1.dev:2"]
