"""train.auto end to end on tiny data: successive halving over real trainings, judged on held-out training queries only."""

from __future__ import annotations

from pathlib import Path

from flows.retrain import retrain
from tasks.config import load_config
from tasks.report import run_markdown
from tasks.summary import RunSummary


def _cfg(data: Path, work: Path):
    return load_config(
        None,
        [
            f"{k}={v}"
            for k, v in {
                "data.path": data,
                "registry.root": work / "models",
                "registry.store": work / "store",
                "train.auto": "true",
                "train.auto_learning_rates": "[5e-5, 2e-4]",
                "train.auto_batch_sizes": "[4, 8]",
                "train.auto_max_epochs": 2,
                "train.auto_eta": 2,
                "train.auto_dev_fraction": 0.25,
                "train.checkpoint_steps": 1,
                "mining.num_negatives": 1,
                "mining.top_k": 8,
                "gate.min_delta": 0.0,
                "gate.bm25_floor": "false",
            }.items()
        ],
    )


def test_the_recipe_is_chosen_on_dev_by_successive_halving_and_never_sees_the_test_queries(tiny_beir, tmp_path):
    summary = retrain(_cfg(tiny_beir, tmp_path / "a"))
    search = summary["auto"]
    rung1 = [t for t in search["trials"] if t["rung"] == 1]
    rung2 = [t for t in search["trials"] if t["rung"] == 2]
    assert len(rung1) == 4 and {t["epochs"] for t in rung1} == {1.0}  # 2 lrs x 2 batches at 2 / eta epochs
    assert len(rung2) == 2 and {t["epochs"] for t in rung2} == {2.0}  # the better half, at the full epochs
    best_half = sorted(rung1, key=lambda t: -t["dev_ndcg@10"])[:2]
    assert {(t["learning_rate"], t["batch_size"]) for t in rung2} == {
        (t["learning_rate"], t["batch_size"]) for t in best_half
    }
    assert all(t["dev_ndcg@10"] is not None and t["dev_curve"] for t in search["trials"])
    winner = max(rung2, key=lambda t: t["dev_ndcg@10"])
    recipe = search["recipe"]
    assert (recipe["learning_rate"], recipe["batch_size"]) == (winner["learning_rate"], winner["batch_size"])
    # the final model trains on every training query, with the chosen recipe
    training = summary["training"]
    assert training["epochs"] == recipe["epochs"] and training["dev"] is None and training["examples"] == 12
    assert list(summary["steps"])[:3] == ["ingest", "baseline", "mine"] and "trial-2-2" in summary["steps"]
    assert "## Recipe search (train.auto)" in run_markdown(RunSummary.model_validate(summary))

    # the test queries play no part in the choice: with half the test judgements gone the search is the same
    other = tmp_path / "data"
    other.mkdir()
    for item in tiny_beir.iterdir():
        if item.is_file():
            (other / item.name).write_bytes(item.read_bytes())
    (other / "qrels").mkdir()
    (other / "qrels" / "train.tsv").write_bytes((tiny_beir / "qrels" / "train.tsv").read_bytes())
    test = (tiny_beir / "qrels" / "test.tsv").read_bytes().splitlines(keepends=True)
    (other / "qrels" / "test.tsv").write_bytes(b"".join(test[:3]))
    again = retrain(_cfg(other, tmp_path / "b"))
    assert again["auto"]["recipe"] == recipe
    assert [round(t["dev_ndcg@10"], 6) for t in again["auto"]["trials"]] == [
        round(t["dev_ndcg@10"], 6) for t in search["trials"]
    ]
