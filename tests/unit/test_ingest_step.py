"""The ingest step's policies: quarantine with a ceiling, and what to do about train/test leakage."""

from __future__ import annotations

import json

import polars as pl
import pytest

from tasks.config import DataConfig
from tasks.ingest import DataError
from tasks.steps import fingerprint, ingest
from tests.conftest import write_beir


def with_bad_document(folder):
    with open(folder / "corpus.jsonl", "a") as f:
        f.write(json.dumps({"_id": "d99", "title": " ", "text": "  "}) + "\n")
        f.write('{"_id": "d98", "text": \n')
    return folder


def test_quarantine_keeps_every_row_accounted_for(tmp_path):
    folder = with_bad_document(write_beir(tmp_path / "data"))
    cfg = DataConfig(path=str(folder), on_invalid="quarantine", max_invalid_fraction=0.5)
    out = ingest.fn(fingerprint(DataConfig(path=str(folder))), cfg, str(tmp_path / "store"))
    report = out.report
    assert report["rows_quarantined"] == 2
    assert report["rows_in"] == report["rows_valid"] + report["rows_quarantined"]
    reasons = pl.read_parquet(report["quarantine"])
    assert set(zip(reasons["row"], reasons["check"])) == {(17, "not_blank"), (18, "json")}


def test_quarantine_above_the_ceiling_fails_before_training(tmp_path):
    folder = with_bad_document(write_beir(tmp_path / "data"))
    cfg = DataConfig(path=str(folder), on_invalid="quarantine", max_invalid_fraction=0.01)
    with pytest.raises(DataError, match="above data.max_invalid_fraction=0.01"):
        ingest.fn(fingerprint(DataConfig(path=str(folder))), cfg, str(tmp_path / "store"))


def test_fail_policy_names_the_bad_rows(tmp_path):
    folder = with_bad_document(write_beir(tmp_path / "data"))
    with pytest.raises(DataError, match=r"corpus.jsonl:17 text — not_blank"):
        ingest.fn(fingerprint(DataConfig(path=str(folder))), DataConfig(path=str(folder)), str(tmp_path / "store"))


def leaky(folder):
    """Make test query q13 a copy of train query q01, judging the same document."""
    lines = (folder / "queries.jsonl").read_text().splitlines()
    lines = [json.dumps({"_id": "q13", "text": json.loads(lines[0])["text"]}) if '"q13"' in line else line for line in lines]
    (folder / "queries.jsonl").write_text("\n".join(lines) + "\n")
    return folder


@pytest.mark.parametrize("policy", ["warn", "exclude_from_test", "fail"])
def test_leakage_policies(tmp_path, policy):
    folder = leaky(write_beir(tmp_path / "data"))
    cfg = DataConfig(path=str(folder), on_leakage=policy)
    if policy == "fail":
        with pytest.raises(DataError, match="both train and test"):
            ingest.fn(fingerprint(DataConfig(path=str(folder))), cfg, str(tmp_path / "store"))
        return
    out = ingest.fn(fingerprint(DataConfig(path=str(folder))), cfg, str(tmp_path / "store"))
    assert any("query q01 (train) and query q13 (test)" in w for w in out.report["warnings"])
    test_queries = set(pl.read_parquet(out.test_qrels.path)["query_id"])
    assert ("q13" in test_queries) == (policy == "warn")
