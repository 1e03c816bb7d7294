"""train.auto's pure parts: the grid, successive halving, the pick, the budget's split between trials and the final
training, and the trial sample (the search itself runs in tests/flows/test_auto.py)."""

from __future__ import annotations

from tasks import auto
from tasks.config import TrainConfig


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


def test_every_trial_of_a_rung_gets_the_same_slice_of_the_search_budget():
    # 60 min: the search may use 36; 2 rungs of 18; 6 trials one after another: 3 min each, 3 side by side: 9
    assert auto.trial_minutes(60, rungs=2, trials=6, parallel=1) == 3.0
    assert auto.trial_minutes(60, rungs=2, trials=6, parallel=3) == 9.0
    assert auto.trial_minutes(60, rungs=2, trials=2, parallel=1) == 9.0  # the survivors of rung 1 get more each
    assert auto.trial_minutes(None, 2, 6, 1) is None


def test_a_trial_stopped_by_its_time_is_picked_at_the_epochs_it_trained():
    trial = {
        "learning_rate": 5e-5,
        "batch_size": 16,
        "epochs": 1.0,  # planned
        "trained_epochs": 0.5,  # the trial's time ran out half way
        "rung": 1,
        "dev_ndcg@10": 0.7,
        "best_step": 20,
        "steps": 20,  # it peaked at its last step
    }
    recipe, why = auto.choose([trial])
    assert recipe == auto.Recipe(5e-5, 16, 0.5) and "0.5 epochs" in why
