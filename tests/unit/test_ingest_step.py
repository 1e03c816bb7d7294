"""The ingest step's policies: quarantine with a ceiling, and what to do about train/test leakage."""

from __future__ import annotations

import json

import polars as pl
import pytest

from tasks.config import DataConfig
from tasks.ingest import DataError
from tasks.ingest.pipeline import ingest_data
from tasks.steps import fingerprint
from tests.conftest import write_beir


def with_bad_document(folder):
    with open(folder / "corpus.jsonl", "a") as f:
        f.write(json.dumps({"_id": "d99", "title": " ", "text": "  "}) + "\n")
        f.write('{"_id": "d98", "text": \n')
    return folder


def test_quarantine_keeps_every_row_accounted_for(tmp_path):
    folder = with_bad_document(write_beir(tmp_path / "data"))
    cfg = DataConfig(path=str(folder), on_invalid="quarantine", max_invalid_fraction=0.5)
    out = ingest_data(fingerprint(DataConfig(path=str(folder))).path, cfg, str(tmp_path / "store"))
    report = out.report
    assert report["rows_quarantined"] == 2
    assert report["rows_in"] == report["rows_valid"] + report["rows_quarantined"]
    reasons = pl.read_parquet(report["quarantine"])
    assert set(zip(reasons["row"], reasons["check"])) == {(17, "not_blank"), (18, "json")}


def test_quarantine_above_the_ceiling_fails_before_training(tmp_path):
    folder = with_bad_document(write_beir(tmp_path / "data"))
    cfg = DataConfig(path=str(folder), on_invalid="quarantine", max_invalid_fraction=0.01)
    with pytest.raises(DataError, match="above data.max_invalid_fraction=0.01"):
        ingest_data(fingerprint(DataConfig(path=str(folder))).path, cfg, str(tmp_path / "store"))


def test_fail_policy_names_the_bad_rows(tmp_path):
    folder = with_bad_document(write_beir(tmp_path / "data"))
    with pytest.raises(DataError, match=r"corpus.jsonl:17 text — not_blank"):
        ingest_data(
            fingerprint(DataConfig(path=str(folder))).path, DataConfig(path=str(folder)), str(tmp_path / "store")
        )


def leaky(folder):
    """Make test query q13 a copy of train query q01, judging the same document."""
    lines = (folder / "queries.jsonl").read_text().splitlines()
    lines = [
        json.dumps({"_id": "q13", "text": json.loads(lines[0])["text"]}) if '"q13"' in line else line for line in lines
    ]
    (folder / "queries.jsonl").write_text("\n".join(lines) + "\n")
    return folder


@pytest.mark.parametrize("policy", ["warn", "exclude_from_test", "fail"])
def test_leakage_policies(tmp_path, policy):
    folder = leaky(write_beir(tmp_path / "data"))
    cfg = DataConfig(path=str(folder), on_leakage=policy)
    if policy == "fail":
        with pytest.raises(DataError, match="both train and test"):
            ingest_data(fingerprint(DataConfig(path=str(folder))).path, cfg, str(tmp_path / "store"))
        return
    out = ingest_data(fingerprint(DataConfig(path=str(folder))).path, cfg, str(tmp_path / "store"))
    assert any("query q01 (train) and query q13 (test)" in w for w in out.report["warnings"])
    test_queries = set(pl.read_parquet(out.test_qrels.path)["query_id"])
    assert ("q13" in test_queries) == (policy == "warn")


def test_fail_policy_writes_every_finding_of_every_file_to_the_store(tmp_path):
    """12 bad documents and a bad judgement: the message quotes 10, the parquet it names holds all 13."""
    from tasks.ingest.pipeline import ingest_data

    folder = write_beir(tmp_path / "data")
    with open(folder / "corpus.jsonl", "a") as f:
        for i in range(12):
            f.write(json.dumps({"_id": f"empty{i}", "title": "", "text": " "}) + "\n")  # lines 17-28
    with open(folder / "qrels" / "test.tsv", "a") as f:
        f.write("q13\td13\tmany\r\n")  # line 6 of another file
    store = tmp_path / "store"
    with pytest.raises(DataError) as err:
        ingest_data(str(folder), DataConfig(path=str(folder)), str(store))
    message = str(err.value)
    assert "rerun with --set data.on_invalid=quarantine" in message and "… and 3 more" in message
    written = sorted((store / "quarantine").glob("*.parquet"))
    assert len(written) == 1 and f"all findings: {written[0]}" in message
    findings = pl.read_parquet(written[0])
    assert findings.columns == ["file", "row", "column", "check", "value"]
    assert set(zip(findings["row"], findings["check"])) == {
        *((line, "not_blank") for line in range(17, 29)),
        (6, "integer"),
    }


def test_an_empty_table_or_corpus_fails_the_run_as_empty(tmp_path):
    from tasks.ingest.pipeline import ingest_data

    table = tmp_path / "pairs.csv"
    table.write_text("anchor,positive\n")
    folder = write_beir(tmp_path / "data")
    (folder / "corpus.jsonl").write_text("")
    for path in (table, folder):
        for policy in ("fail", "quarantine"):
            with pytest.raises(DataError, match=r"is empty"):
                ingest_data(str(path), DataConfig(path=str(path), on_invalid=policy), str(tmp_path / "store"))


def test_entailed_pairs_repeating_the_premise_ingest_clean_with_warnings(tmp_path):
    """As SNLI dev has them: kept as valid rows, reported as warnings, not made into training pairs."""
    from tasks.ingest.pipeline import ingest_data

    for split in ("dev", "test"):
        rows = [(f"premise {split} {i}", f"hypothesis {split} {i}", "entailment") for i in range(6)]
        rows.append((f"A doctor is performing surgery {split} .",) * 2 + ("entailment",))
        for name, column in (("s1", 0), ("s2", 1), ("labels", 2)):
            (tmp_path / f"{name}.{split}").write_text("".join(r[column] + "\n" for r in rows))
    out = ingest_data(str(tmp_path), DataConfig(path=str(tmp_path), test_fraction=0.3), str(tmp_path / "store"))
    assert out.report["rows_in"] == out.report["rows_valid"] == 14 and out.report["quarantine"] is None
    assert [w.split(" ")[0] for w in out.report["warnings"]] == [
        f"{tmp_path / 's1.dev'}:7",
        f"{tmp_path / 's1.test'}:7",
    ]
    pairs = pl.read_parquet(out.train_pairs.path)
    assert pairs.filter(pl.col("anchor") == pl.col("positive")).height == 0


def test_ingest_counts_texts_longer_than_the_model_reads_and_warns(tmp_path, base_model_ref):
    from tasks.ingest.pipeline import ingest_data

    folder = write_beir(tmp_path / "data")
    rows = [json.loads(line) for line in (folder / "corpus.jsonl").read_text().splitlines()]
    for row in rows[:3]:  # 3 of 16 documents (19%) run to ~600 tokens, far past MiniLM's 256
        row["text"] = " ".join([row["text"]] * 30)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = ingest_data(str(folder), DataConfig(path=str(folder)), str(tmp_path / "store"), base_model_ref.path).report
    documents = report["lengths"]["documents"]
    assert documents["over_limit"] == 3 and documents["limit"] == 256 and documents["max"] > 256
    assert report["lengths"]["queries"]["over_limit"] == 0
    assert any(
        "19% of documents (3 of 16) are longer than the model's 256-token limit" in w for w in report["warnings"]
    )
    short = ingest_data(
        str(write_beir(tmp_path / "short")),
        DataConfig(path=str(tmp_path / "short")),
        str(tmp_path / "store"),
        base_model_ref.path,
    ).report
    assert not any("token limit" in w for w in short["warnings"])
