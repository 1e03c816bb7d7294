from __future__ import annotations

import pytest

from tasks.config import GateConfig
from tasks.gate import decide

CFG = GateConfig(metric="ndcg@10", min_delta=0.01)


def test_clear_gain_promotes_and_names_the_numbers():
    d = decide({"ndcg@10": 0.70}, {"ndcg@10": 0.645}, CFG, "base")
    assert d.promote
    assert "0.7000" in d.reason and "0.6450" in d.reason and "+0.0550" in d.reason


def test_worse_candidate_is_not_promoted():
    assert not decide({"ndcg@10": 0.60}, {"ndcg@10": 0.645}, CFG).promote


def test_tie_is_not_promoted_even_with_zero_min_delta():
    assert not decide({"ndcg@10": 0.645}, {"ndcg@10": 0.645}, GateConfig(min_delta=0.0)).promote


def test_gain_below_min_delta_is_not_promoted():
    d = decide({"ndcg@10": 0.650}, {"ndcg@10": 0.645}, CFG)
    assert not d.promote
    assert "not promoted" in d.reason


def test_gain_exactly_min_delta_promotes():
    assert decide({"ndcg@10": 0.5}, {"ndcg@10": 0.25}, GateConfig(min_delta=0.25)).promote


def test_missing_metric_is_an_error():
    with pytest.raises(ValueError, match="missing"):
        decide({"mrr@10": 0.7}, {"ndcg@10": 0.6}, CFG)
