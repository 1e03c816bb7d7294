"""One small bad file per failure kind (tests/data/bad), each with the message a user gets."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tasks.ingest import DataError, read_beir
from tasks.ingest.report import EmptyData
from tasks.ingest.tables import Unreadable, detect_type, validate_table

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"

ROW_FAILURES = [
    # file, type, columns, expected (line, column, check) findings
    ("malformed_line.jsonl", None, None, {(2, "-", "json")}),
    ("truncated.jsonl", None, None, {(2, "-", "json")}),
    ("empty_and_nan.csv", None, None, {(3, "sentence2", "not_blank"), (4, "score", "number")}),
    ("wrong_type_and_range.csv", None, None, {(2, "score", "number"), (3, "score", "in_range_0_5")}),
    ("bad_label.tsv", None, None, {(3, "label", "label_in_set")}),
    (
        "negative_is_positive.csv",
        None,
        None,
        {(2, "positive,negative", "negative_is_not_positive"), (3, "anchor,positive", "anchor_is_not_positive")},
    ),
    ("invalid_utf8.csv", "pairs", None, {(2, "positive", "utf8")}),
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
    assert {(f.row, f.column, f.check) for f in err.value.findings} == {
        (1, "doc_id", "field_uniqueness"),
        (2, "doc_id", "field_uniqueness"),
    }


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
    path.write_text(
        '{"premise": "p", "hypothesis": "h1", "label": 0}\n{"premise": "p", "hypothesis": "h2", "label": "Contradiction"}\n'
    )
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
    sts = validate_table(
        SHARED / "stsbenchmark" / "sts-train.csv", "sts", {"sentence1": "5", "sentence2": "6", "score": "4"}
    )
    assert (sts.rows_in, sts.valid.height) == (5749, 5749)
    sick = validate_table(
        SHARED / "sick" / "SICK.txt",
        "nli",
        {"premise": "sentence_A", "hypothesis": "sentence_B", "label": "entailment_label"},
    )
    assert (sick.rows_in, sick.valid.height) == (9840, 9840)
    snli = validate_table(SHARED / "snli-senteval")
    assert (snli.rows_in, snli.valid.height, snli.findings) == (9842 + 9824, 9842 + 9824, [])
    # four dev pairs whose hypothesis repeats the premise word for word, labelled entailment: legal (a sentence entails
    # itself), so they are warnings that name the file and line, not findings
    assert [w.split(" ")[0].rsplit("/", 1)[1] for w in snli.warnings] == [
        "s1.dev:3054",
        "s1.dev:3712",
        "s1.dev:5163",
        "s1.dev:7653",
    ]
    assert all("hypothesis_repeats_premise" in w for w in snli.warnings)


def test_senteval_folder_names_the_file_and_line_of_a_bad_pair(tmp_path):
    """Line 2 of the dev split is bad (a sentence cannot contradict itself); line 2 of the test split is fine and must stay."""
    for split, rows in {
        "dev": [("a man sleeps", "a person rests", "entailment"), ("the sky", "the sky", "contradiction")],
        "test": [("cats purr", "dogs bark", "neutral"), ("rain falls", "it is dry", "contradiction")],
    }.items():
        for name, column in (("s1", 0), ("s2", 1), ("labels", 2)):
            (tmp_path / f"{name}.{split}").write_text("".join(r[column] + "\n" for r in rows))
    report = validate_table(tmp_path)
    assert report.rows_in == 4 and report.valid.height == 3 and report.quarantined.height == 1
    assert [(Path(f.file).name, f.row, f.column, f.check) for f in report.findings] == [
        ("s1.dev", 2, "premise,hypothesis", "hypothesis_is_not_premise")
    ]
    assert report.quarantined["source"].to_list() == ["s1.dev:2"]


def test_quoted_fields_may_span_lines_and_later_rows_keep_their_own_line(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_bytes(
        b'anchor,positive\r\n"is there a cap","Liability is capped\r\nat fees paid"\r\n'
        b'late fees,"interest, monthly"\r\nsame,same\r\n'
    )
    report = validate_table(path)
    assert report.valid["positive"].to_list() == ["Liability is capped\r\nat fees paid", "interest, monthly"]
    assert report.rows_in == 3
    # the bad row is on physical line 5: the two-line field occupies lines 2 and 3
    assert [(f.row, f.column) for f in report.findings] == [(5, "anchor,positive")]
    assert report.quarantined["line"].to_list() == [5]


def test_a_quote_that_is_never_closed_is_unreadable_not_one_huge_value(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text('anchor,positive\nfine,"also fine"\nbroken,"never closed\nnext,row\nlast,row\n')
    with pytest.raises(Unreadable, match=r"pairs.csv:3: a quoted field opens on this line and is not closed"):
        validate_table(path)


def test_tsv_quotes_are_text_as_the_sts_benchmark_writes_them(tmp_path):
    path = tmp_path / "sts.tsv"
    path.write_text('sentence1\tsentence2\tscore\nhe said "hi\tshe said hi"\t4.0\nok\tfine\t1\n')
    report = validate_table(path)
    assert report.findings == [] and report.valid["sentence1"].to_list() == ['he said "hi', "ok"]


@pytest.mark.parametrize("text", ["anchor,positive\n", "anchor,positive\n\n\n", "", "\n"])
def test_a_table_without_rows_is_empty_not_valid(tmp_path, text):
    path = tmp_path / "pairs.csv"
    path.write_text(text)
    with pytest.raises(EmptyData, match="is empty"):
        validate_table(path, "pairs")


def test_a_parquet_or_jsonl_table_without_rows_is_empty(tmp_path):
    pl.DataFrame({"anchor": [], "positive": []}, schema={"anchor": pl.String, "positive": pl.String}).write_parquet(
        tmp_path / "p.parquet"
    )
    (tmp_path / "p.jsonl").write_text("\n")
    for name in ("p.parquet", "p.jsonl"):
        with pytest.raises(EmptyData, match="empty"):
            validate_table(tmp_path / name, "pairs")


def test_a_positive_among_the_negatives_names_the_negative_column(tmp_path):
    wide = tmp_path / "wide.csv"
    wide.write_text(
        "query,positive,negative_1,negative_2\ncap,liability is capped,force majeure,liability is capped\n"
        "fees,interest accrues,governing law,notices\n"
    )
    report = validate_table(wide)
    assert report.type == "hard_negatives" and report.valid.height == 1
    assert [(f.row, f.column, f.check, f.value) for f in report.findings] == [
        (2, "negative_2", "negatives_are_not_positive", "liability is capped")
    ]
    listed = tmp_path / "listed.jsonl"
    listed.write_text('{"query": "cap", "positive": "p", "negatives": ["n", "p"]}\n')
    assert [(f.row, f.column) for f in validate_table(listed).findings] == [(1, "negatives[1]")]


def test_cross_field_findings_name_the_files_columns_under_a_mapping(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text("question,answer\nwhat is a cap,what is a cap\n")
    report = validate_table(path, "pairs", {"anchor": "question", "positive": "answer"})
    assert [(f.row, f.column, f.check) for f in report.findings] == [(2, "question,answer", "anchor_is_not_positive")]


def test_an_undecodable_byte_names_its_column_in_jsonl_and_tsv(tmp_path):
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_bytes(b'{"anchor": "a", "positive": "fine"}\n{"anchor": "b", "positive": "caf\xe9"}\n')
    report = validate_table(jsonl)
    assert [(f.row, f.column, f.check) for f in report.findings] == [(2, "positive", "utf8")]
    assert "0xE9" in report.findings[0].value and report.valid.height == 1
    tsv = tmp_path / "sts.tsv"
    tsv.write_bytes(b"sentence1\tsentence2\tscore\nna\xefve\tsimple\t3\nok\tfine\t1\n")
    assert [(f.row, f.column) for f in validate_table(tsv).findings] == [(2, "sentence1")]


def test_a_hypothesis_repeating_its_premise_is_a_warning_when_entailed(tmp_path):
    path = tmp_path / "nli.csv"
    path.write_text(
        "premise,hypothesis,label\nA dog runs.,A dog runs. ,entailment\nA dog runs.,A cat sleeps.,contradiction\n"
        "A cat sleeps.,A cat sleeps.,neutral\n"
    )
    report = validate_table(path)
    assert report.valid.height == 2
    assert [(f.row, f.check) for f in report.findings] == [(4, "hypothesis_is_not_premise")]
    assert len(report.warnings) == 1 and report.warnings[0].startswith(
        f"{path}:2 premise,hypothesis — hypothesis_repeats_premise"
    )


@pytest.mark.slow  # a child interpreter under python -O
def test_a_non_list_negatives_cell_is_a_finding_even_without_asserts(tmp_path):
    """`python -O` strips asserts: the check must be explicit, in a fresh interpreter run with -O."""
    import subprocess
    import sys

    path = tmp_path / "hn.csv"
    path.write_text(
        'query,positive,negatives\ncap,capped,5\nfees,interest,"{""a"": 1}"\nlaw,new york,"[""delaware""]"\n'
    )
    code = (
        "import sys; from tasks.ingest.tables import validate_table; r = validate_table(sys.argv[1]); "
        "print(sorted((f.row, f.column, f.check) for f in r.findings), r.valid.height)"
    )
    proc = subprocess.run(
        [sys.executable, "-O", "-c", code, str(path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == "[(2, 'negatives', 'list'), (3, 'negatives', 'list')] 1".split()


def test_a_bad_byte_in_a_senteval_file_names_the_file_line_and_column(tmp_path):
    for split in ("dev", "test"):
        (tmp_path / f"s1.{split}").write_text("a man sleeps\nkids play\n")
        (tmp_path / f"labels.{split}").write_text("entailment\nneutral\n")
    (tmp_path / "s2.dev").write_bytes(b"a person rests\nchildren caf\xe9\n")
    (tmp_path / "s2.test").write_text("a person rests\nchildren nap\n")
    report = validate_table(tmp_path)
    assert [(Path(f.file).name, f.row, f.column, f.check) for f in report.findings] == [
        ("s1.dev", 2, "hypothesis", "utf8")
    ]
    assert report.valid.height == 3 and report.quarantined["hypothesis"].to_list() == ["children caf\ufffd"]


def test_a_document_longer_than_the_csv_modules_default_field_limit_is_read(tmp_path):
    path = tmp_path / "pairs.csv"
    long_text = "clause " * 40_000  # 280,000 characters, above csv's default 131,072
    path.write_text(f'anchor,positive\nwhat does it say,"{long_text}"\nnext,row\n')
    report = validate_table(path)
    assert report.findings == [] and report.valid["positive"][0] == long_text
