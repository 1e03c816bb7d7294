"""train.auto end to end on tiny data: successive halving over real trainings, judged on held-out training queries only."""

from __future__ import annotations

from pathlib import Path

from flows.retrain import retrain
from tasks import auto
from tasks.config import TrainConfig, load_config
from tasks.report import run_markdown


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
    assert "## Recipe search (train.auto)" in run_markdown(summary)

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


def test_halving_keeps_the_best_fraction_and_the_budget_caps_the_final_training():
    cfg = TrainConfig(
        auto_learning_rates=[1e-5, 2e-5, 5e-5], auto_batch_sizes=[16, 32], auto_max_epochs=3, auto_eta=3, auto_rungs=2
    )
    assert auto.rung_epochs(cfg) == [1.0, 3.0]
    grid = auto.grid(cfg, rows=20)  # batch 32 cannot be filled by 20 rows
    assert [(r.learning_rate, r.batch_size) for r in grid] == [(1e-5, 16), (2e-5, 16), (5e-5, 16)]
    kept = auto.survivors([(r, s) for r, s in zip(grid, [0.5, 0.7, 0.6])], 3, 3.0)
    assert kept == [auto.Recipe(2e-5, 16, 3.0)]
    assert auto.peak_epochs(3.0, best_step=10, steps=90) == 0.5 and auto.peak_epochs(3.0, 90, 90) == 3.0
    epochs, note = auto.final_epochs(
        auto.Recipe(2e-5, 16, 3.0), budget_minutes=10, spent_seconds=540, rows=1000, examples_per_second=5.0
    )
    assert epochs == 0.3 and "budget_minutes=10" in note  # 60 s left at 5 examples/s: 300 of 1,000 rows
    assert auto.final_epochs(auto.Recipe(2e-5, 16, 3.0), None, 540, 1000, 5.0) == (3.0, None)
    assert auto.over_budget(10, 300, 100) and not auto.over_budget(10, 200, 100)  # the search may use 60%


def test_a_trial_sample_keeps_whole_queries_and_is_seeded():
    import polars as pl

    from tasks.train import sample_queries

    pairs = pl.DataFrame({"query_id": [f"q{i // 3}" for i in range(300)], "doc_id": [f"d{i}" for i in range(300)]})
    sample = sample_queries(pairs, 100, seed=0)
    assert 97 <= sample.height <= 100 and sample.group_by("query_id").len()["len"].to_list() == [3] * (
        sample.height // 3
    )
    assert sample.equals(sample_queries(pairs, 100, seed=0)) and not sample.equals(sample_queries(pairs, 100, seed=1))
    assert sample_queries(pairs, None, 0).equals(pairs) and sample_queries(pairs, 500, 0).equals(pairs)
