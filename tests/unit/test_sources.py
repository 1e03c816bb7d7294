"""Every kind of source the flow accepts ends as the same IR frames: BEIR folder, TREC files, training tables."""

from __future__ import annotations

import csv
import json

import polars as pl
import pytest

from tasks.config import ConfigError, DataConfig, load_config
from tasks.ingest import DataError
from tasks.ingest.convert import table_to_ir
from tasks.ingest.pipeline import ingest_data
from tasks.ingest.sources import read_source
from tasks.steps import fingerprint
from tests.conftest import DOCS, QUERIES, TEST, TRAIN


def write_trec(folder):
    """The tiny set as separate files: corpus TSV with titles, queries JSONL, TREC qrels (`qid 0 docid rel`)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "docs.tsv", "w") as f:
        f.write("id\ttitle\ttext\n")
        f.writelines(f"{d}\t{t}\t{x}\n" for d, (t, x) in DOCS.items())
    with open(folder / "topics.jsonl", "w") as f:
        f.writelines(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items())
    for split, ids in (("train", TRAIN), ("test", TEST)):
        (folder / f"{split}.qrels").write_text("".join(f"{q} 0 d{q[1:]} 2\n" for q in ids))
    return DataConfig(
        corpus=str(folder / "docs.tsv"),
        queries=str(folder / "topics.jsonl"),
        qrels={"train": str(folder / "train.qrels"), "test": str(folder / "test.qrels")},
    )


def test_trec_files_outside_the_beir_layout(tmp_path):
    cfg = write_trec(tmp_path / "trec")
    out = ingest_data(fingerprint(cfg).path, cfg, str(tmp_path / "store"))
    train = pl.read_parquet(out.train_pairs.path)
    assert train.height == len(TRAIN) and out.report["type"] == "ir"
    assert (
        train.filter(pl.col("query_id") == "q02")["positive"].item().startswith("Limitation of Liability In no event")
    )
    assert pl.read_parquet(out.test_qrels.path)["score"].to_list() == [2] * len(TEST)  # graded relevance kept


def test_trec_qrels_with_a_dangling_id_names_the_line(tmp_path):
    cfg = write_trec(tmp_path / "trec")
    with open(cfg.qrels["test"], "a") as f:
        f.write("q16 0 d404 1\n")
    with pytest.raises(DataError, match=r"test.qrels:5 corpus-id — resolves_in_corpus \(d404\)"):
        read_source(cfg.path, cfg)


def test_changing_any_trec_file_changes_the_fingerprint(tmp_path):
    cfg = write_trec(tmp_path / "trec")
    before = fingerprint(cfg).sha256
    with open(cfg.qrels["train"], "a") as f:
        f.write("q01 0 d02 1\n")
    assert fingerprint(cfg).sha256 != before


def test_ir_files_must_come_together():
    with pytest.raises(ConfigError, match="missing \\['qrels'\\]"):
        load_config(None, ["data.corpus=c.jsonl", "data.queries=q.jsonl"])
    with pytest.raises(ConfigError, match="no file for split 'test'"):
        load_config(None, ["data.corpus=c.jsonl", "data.queries=q.jsonl", "data.qrels={train: t.tsv}"])
    with pytest.raises(ConfigError, match="data.extra"):
        load_config(None, ["data.type=sts"])


def pairs_csv(path, n=40):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["question", "answer"])
        for i in range(n):
            w.writerow([f"question number {i} about clause {i % 7}", f"answer text {i} for clause {i % 7}"])
    return path


def test_a_pairs_table_with_mapped_columns_becomes_ir_with_a_disjoint_test_split(tmp_path):
    path = pairs_csv(tmp_path / "faq.csv")
    cfg = DataConfig(path=str(path), columns={"anchor": "question", "positive": "answer"}, test_fraction=0.25)
    out = ingest_data(fingerprint(cfg).path, cfg, str(tmp_path / "store"))
    train, test = pl.read_parquet(out.train_qrels.path), pl.read_parquet(out.test_qrels.path)
    assert train.height + test.height == 40 and 0 < test.height < 20
    assert set(train["query_id"]).isdisjoint(test["query_id"])
    assert out.report["type"] == "pairs" and out.report["rows_in"] == out.report["rows_valid"] == 40
    again = ingest_data(fingerprint(cfg).path, cfg, str(tmp_path / "store2"))
    assert again.test_qrels.sha256 == out.test_qrels.sha256  # the split is fixed by the texts and the seed


def test_nli_contradictions_become_labels_for_the_contradiction_strategy():
    nli = pl.DataFrame(
        {
            "premise": ["a man plays guitar"] * 3 + ["a dog runs"] * 2,
            "hypothesis": ["someone makes music", "nobody plays", "a man sings", "an animal moves", "the dog sleeps"],
            "label": ["entailment", "contradiction", "neutral", "entailment", "contradiction"],
        }
    )
    corpus, queries, split, labels = table_to_ir("nli", nli, 0.0, 0)
    assert queries["text"].to_list() == ["a man plays guitar", "a dog runs"]
    assert corpus.height == 5  # neutral hypotheses stay in the corpus as distractors
    assert split["train"].height == 2 and split["test"].height == 0
    text = dict(zip(corpus["doc_id"], corpus["text"]))
    assert sorted(text[d] for d in labels.filter(pl.col("label") == "CONTRADICT")["doc_id"]) == [
        "nobody plays",
        "the dog sleeps",
    ]


def test_triplets_and_hard_negative_sets_keep_their_negatives_as_labels():
    triplets = pl.DataFrame({"anchor": ["q a", "q b"], "positive": ["p a", "p b"], "negative": ["n a", "p a"]})
    corpus, _, split, labels = table_to_ir("triplets", triplets, 0.0, 0)
    assert corpus["text"].to_list() == [
        "p a",
        "p b",
        "n a",
    ]  # "p a" is one document, positive for one, negative for the other
    assert labels.height == 2 and set(labels["label"]) == {"NEGATIVE"}
    sets = pl.DataFrame({"query": ["q"], "positive": ["p"], "negatives": [["n1", "n2"]]})
    assert table_to_ir("hard_negatives", sets, 0.0, 0)[3].height == 2


def test_bad_table_rows_fail_with_file_row_and_column(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("anchor,positive\nfine,also fine\n   ,blank anchor\n")
    with pytest.raises(DataError, match=r"pairs.csv:3 anchor"):
        read_source(str(path), DataConfig(path=str(path)))


def test_a_judged_document_repeating_its_query_is_named():
    from tasks.ingest.pairs import build_pairs

    queries = pl.DataFrame({"query_id": ["q1", "q2"], "text": ["cap on fees", "late payment"]})
    corpus = pl.DataFrame({"doc_id": ["d1", "d2"], "text": ["cap on fees ", "interest accrues monthly"]})
    qrels = pl.DataFrame({"query_id": ["q1", "q2"], "doc_id": ["d1", "d2"], "score": [1, 1]})
    with pytest.raises(DataError, match=r"anchor_is_not_positive \(q1/d1\)"):
        build_pairs(qrels, corpus, queries)


def test_corpus_metadata_reaches_the_store_for_domain_confusion(tmp_path):
    from tests.conftest import write_beir

    folder = write_beir(tmp_path / "beir")
    lines = [json.loads(line) for line in (folder / "corpus.jsonl").read_text().splitlines()]
    for number, record in enumerate(lines):
        record["metadata"] = {
            "category": "contracts" if number % 2 else "privacy",
            "year": 2020 + number,
            "authors": ["a"],
        }
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    cfg = DataConfig(path=str(folder))
    out = ingest_data(fingerprint(cfg).path, cfg, str(tmp_path / "store"))
    metadata = pl.read_parquet(out.doc_metadata.path)
    assert metadata.filter(pl.col("key") == "category").height == len(DOCS)
    assert metadata.filter(pl.col("doc_id") == lines[1]["_id"]).rows() == [
        (lines[1]["_id"], "category", "contracts"),
        (lines[1]["_id"], "year", "2021"),
    ]
