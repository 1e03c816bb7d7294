"""The retraining flow end to end on tiny data with the real MiniLM, under a real (temporary) Prefect server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.retrain import retrain
from tasks import registry
from tasks.config import load_config
from tasks.report import run_markdown
from tasks.summary import RunSummary

STEPS = ["ingest", "baseline", "mine", "train", "evaluate", "gate", "register", "report"]
HEADLINE = ["ndcg@10", "mrr@10", "map@100", "recall@100"]


@pytest.fixture(scope="module")
def tiny_cfg(tiny_beir, tmp_path_factory):
    work = tmp_path_factory.mktemp("run")
    return load_config(
        None,
        [
            f"data.path={tiny_beir}",
            f"registry.root={work / 'models'}",
            f"registry.store={work / 'store'}",
            "train.batch_size=4",
            "train.learning_rate=1e-4",
            "mining.num_negatives=2",
            "mining.top_k=8",
            "gate.min_delta=0.0",
        ],
    )


@pytest.fixture(scope="module")
def first_run(tiny_cfg):
    return retrain(tiny_cfg)


def test_first_run_executes_every_step_and_reports_metrics(first_run):
    assert list(first_run["steps"]) == STEPS
    assert not any(step["cached"] for step in first_run["steps"].values())
    assert all(0 < step["peak_gb"] < 20 for step in first_run["steps"].values())  # each step's own peak memory
    assert first_run["steps"]["train"]["peak_gb"] > 0.3  # the model is in memory while it trains
    for role in ("base", "champion", "candidate"):
        assert set(HEADLINE) <= set(first_run["metrics"][role])
    assert first_run["metrics"]["champion"] == first_run["metrics"]["base"]  # no champion yet: the base model
    assert set(first_run["dims"]["candidate"]) == {"384", "256", "128", "64"}
    assert 0 <= first_run["bm25"]["ndcg@10"] <= 1
    # the baselines carry the same metric keys as the models, so every table and the gate read them alike
    assert set(first_run["bm25"]) == set(first_run["hybrid"]) == set(first_run["metrics"]["candidate"])
    assert first_run["rrf_k"] == 60 and first_run["decision"]["bm25"] == pytest.approx(first_run["bm25"]["ndcg@10"])
    assert first_run["decision"]["hybrid"] == pytest.approx(first_run["hybrid"]["ndcg@10"])
    report = run_markdown(RunSummary.model_validate(first_run))
    assert report.split("\n\n")[2].startswith("**Against BM25:**") and "| hybrid |" in report


def test_run_publishes_its_report_artifacts(first_run):
    import asyncio

    from prefect.client.orchestration import get_client

    async def read_latest():
        async with get_client() as client:
            return await client.read_latest_artifacts()

    artifacts = asyncio.run(read_latest())
    keys = {a.key for a in artifacts}
    assert {"retrain-report", "eval-metrics", "gate-decision"} <= keys
    report = next(a for a in artifacts if a.key == "retrain-report")
    assert "| candidate |" in report.data and "data:image/png;base64," in report.data


def test_gate_and_registry_agree(first_run, tiny_cfg):
    decision = first_run["decision"]
    assert first_run["promoted"] == decision["promote"]
    assert decision["candidate"] == pytest.approx(first_run["metrics"]["candidate"]["ndcg@10"])
    pointer = registry.read_champion(tiny_cfg.registry.root)
    if first_run["promoted"]:
        assert pointer["path"] == first_run["model_path"]
    else:
        assert pointer is None
    assert first_run["reason"].startswith("promoted" if first_run["promoted"] else "not promoted")


def test_registered_model_loads_and_carries_its_lineage(first_run, tiny_cfg):
    from sentence_transformers import SentenceTransformer

    folder = Path(first_run["model_path"])
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["config"] == tiny_cfg.model_dump(mode="json")
    assert manifest["metrics"]["candidate"]["ndcg@10"] == first_run["metrics"]["candidate"]["ndcg@10"]
    assert set(manifest["datasets"]) == {
        "corpus",
        "queries",
        "train_qrels",
        "test_qrels",
        "train_pairs",
        "labels",
        "doc_metadata",
    }
    assert load_config(folder / "pipeline_config.yaml") == tiny_cfg
    assert "| candidate |" in (folder / "report.md").read_text()
    assert (folder / "report.png").read_bytes()[:4] == b"\x89PNG"
    assert SentenceTransformer(str(folder), device="cpu").encode(["hold harmless"]).shape == (1, 384)


def test_identical_rerun_is_all_cache_hits_with_the_same_outcome(first_run, tiny_cfg):
    second = retrain(tiny_cfg)
    assert all(step["cached"] for step in second["steps"].values()), second["steps"]  # the BM25 baseline included
    assert second["bm25"] == first_run["bm25"] and second["hybrid"] == first_run["hybrid"]
    assert second["promoted"] == first_run["promoted"]
    assert second["model_path"] == first_run["model_path"]


def test_changing_train_settings_reruns_from_train_only(first_run, tiny_cfg):
    changed = tiny_cfg.model_copy(update={"train": tiny_cfg.train.model_copy(update={"epochs": 2.0})})
    third = retrain(changed)
    cached = {name: step["cached"] for name, step in third["steps"].items()}
    assert cached["ingest"] and cached["baseline"] and cached["mine"]
    assert not cached["train"] and not cached["evaluate"]


def test_only_transient_failures_are_retried(tmp_path):
    """The steps' retry policy under a real Prefect engine: a dropped connection is retried, a bug fails at once."""
    from prefect import flow, task

    from tasks.steps import RETRIES

    calls = {"flaky": 0, "buggy": 0}

    @task(**{**RETRIES, "retry_delay_seconds": 0})
    def flaky() -> str:
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise ConnectionResetError(104, "Connection reset by peer")  # the shared store's NFS mount hiccuped
        return "done"

    @task(**{**RETRIES, "retry_delay_seconds": 0})
    def buggy() -> None:
        calls["buggy"] += 1
        raise KeyError("train_loss")  # a bug at the end of a long training: retrying costs the training twice

    @flow
    def both() -> tuple:
        return flaky(return_state=True), buggy(return_state=True)

    retried, failed = both()
    assert retried.is_completed() and calls["flaky"] == 2
    assert failed.is_failed() and calls["buggy"] == 1


def test_mining_report_and_artifact(first_run):
    import asyncio

    from prefect.client.orchestration import get_client

    mining = first_run["mining"]
    assert sum(mining["rows"].values()) == 2 * first_run["training"]["examples"]  # two negatives per pair
    assert set(mining["rows"]) <= {"dense", "bm25", "random"} and mining["stages"] == 1

    async def read_latest():
        async with get_client() as client:
            return await client.read_latest_artifacts()

    report = next(a for a in asyncio.run(read_latest()) if a.key == "mining-report")
    assert "| strategy | negatives |" in report.data and "data:image/png;base64," in report.data


def test_curriculum_trains_one_cached_stage_per_band(tiny_cfg):
    staged = load_config(
        None,
        [
            f"{k}={v}"
            for k, v in {
                "data.path": tiny_cfg.data.path,
                "registry.root": tiny_cfg.registry.root + "-curriculum",
                "registry.store": tiny_cfg.registry.store,
                "train.batch_size": 4,
                "mining.num_negatives": 1,
                "mining.top_k": 8,
                "mining.max_score_ratio": "null",
                "mining.curriculum": "[0.8, 5.0]",
                "gate.min_delta": 0.0,
            }.items()
        ],
    )
    first = retrain(staged)
    assert [s["stage"] for s in first["curriculum"]] == [1, 2]
    assert not any(s["cached"] for s in first["curriculum"]) and list(first["steps"]) == STEPS
    assert first["training"]["stage"] == 1 and first["training"]["stages"] == 2
    # each stage's loss curve is read on its own (across stages the loss rises by design: the negatives get harder)
    assert all(isinstance(s["loss_curve"], str) and s["loss_curve"] for s in first["curriculum"])
    assert "| stage | cached | seconds | mean loss | loss curve |" in run_markdown(RunSummary.model_validate(first))
    again = retrain(staged)
    assert all(s["cached"] for s in again["curriculum"]) and again["steps"]["train"]["cached"]
    assert again["model_path"] == first["model_path"]


def test_a_training_table_with_an_sts_table_beside_it(tmp_path):
    """A pairs CSV as the main data (split into train and test queries) plus STS rows trained with CoSENT."""
    import csv

    from tests.conftest import DOCS, QUERIES

    main = tmp_path / "faq.csv"
    with open(main, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["question", "clause"])
        for i, text in enumerate(QUERIES.values(), start=1):
            title, body = DOCS[f"d{i:02d}"]
            w.writerow([text, f"{title}. {body}"])
    sts = tmp_path / "sts.tsv"
    sts.write_text(
        "".join(
            f"{s1}\t{s2}\t{score}\n"
            for s1, s2, score in [
                ("the supplier pays damages", "the vendor covers losses", 4.5),
                ("notice of termination", "the weather is fine", 0.2),
                ("fees are capped", "liability is limited", 3.8),
                ("data is confidential", "the cat sleeps", 0.1),
                ("the contract renews", "the agreement rolls over", 4.6),
                ("late interest applies", "a dog barks", 0.3),
            ]
        )
    )
    cfg = load_config(
        None,
        [
            f"data.path={main}",
            "data.columns={anchor: question, positive: clause}",
            "data.test_fraction=0.25",
            f"data.extra=[{{path: {sts}, type: sts, columns: {{sentence1: '0', sentence2: '1', score: '2'}}}}]",
            f"registry.root={tmp_path / 'models'}",
            f"registry.store={tmp_path / 'store'}",
            "train.batch_size=4",
            "mining.num_negatives=1",
            "mining.top_k=4",
            "gate.min_delta=0.0",
            "gate.alpha=1",
        ],
    )
    summary = retrain(cfg)
    assert summary["ingest"]["type"] == "pairs" and summary["ingest"]["extra"][0]["loss"] == "cosent"
    assert summary["ingest"]["rows_in"] == 16 + 6 == summary["ingest"]["rows_valid"]
    datasets = summary["training"]["datasets"]
    assert datasets["main"]["loss"] == "mnrl" and datasets["extra1-sts"] == {"rows": 6, "loss": "cosent"}
    assert "diagnosis" in summary["training"] and summary["metrics"]["candidate"]["ndcg@10"] > 0


def test_a_cap_on_positives_per_query_mines_and_trains_only_the_kept_pairs(tiny_beir, tmp_path):
    import shutil

    import polars as pl

    from tests.conftest import TRAIN

    data = shutil.copytree(tiny_beir, tmp_path / "data")
    with open(data / "qrels" / "train.tsv", "a", newline="") as f:  # a second positive for every training query
        f.writelines(f"{q}\td{int(q[1:]) % len(TRAIN) + 1:02d}\t1\r\n" for q in TRAIN)
    cfg = load_config(
        None,
        [
            f"data.path={data}",
            f"registry.root={tmp_path / 'models'}",
            f"registry.store={tmp_path / 'store'}",
            "train.batch_size=4",
            "mining.num_negatives=1",
            "mining.top_k=8",
            "mining.max_pairs_per_query=1",
            "gate.min_delta=0.0",
        ],
    )
    run = retrain(cfg)
    capped = {"max_per_query": 1, "pairs": 24, "kept": 12, "queries_capped": 12, "by": "base-model score"}
    assert run["mining"]["capped"] == capped
    assert sum(run["mining"]["rows"].values()) == run["training"]["examples"] == 12  # one pair and negative per query
    judged = pl.read_csv(data / "qrels" / "train.tsv", separator="\t")
    negatives = pl.concat([pl.read_parquet(p) for p in (tmp_path / "store" / "negatives").glob("*.parquet")])
    taken = negatives.join(judged, left_on=["query_id", "negative_id"], right_on=["query-id", "corpus-id"])
    assert taken.height == 0  # the positive the cap left out is never the query's negative
    assert "Pairs mined and trained: 12 of 24" in run_markdown(RunSummary.model_validate(run))
