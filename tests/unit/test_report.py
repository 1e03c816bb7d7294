"""What a run's report and summary say about its cost."""

from __future__ import annotations

from tasks.report import run_cost, steps_table
from tasks.summary import StepRecord

STEPS = {
    "ingest": StepRecord(cached=False, seconds=30.0, peak_gb=0.5),
    "train": StepRecord(cached=False, seconds=1770.0, peak_gb=3.2),
}


def test_a_priced_run_says_what_it_cost_and_an_unpriced_one_says_nothing():
    assert run_cost(1800.0, 2.5) == {"seconds": 1800.0, "price_per_hour": 2.5, "usd": 1.25}
    assert run_cost(1800.0, None) is None
    table = steps_table(STEPS, 2.5)
    assert "| **total** | | **1800.0** | **3.20** |" in table
    assert "At $2.5 an hour the steps cost **$1.2500**." in table
    assert "cost" not in steps_table(STEPS)
