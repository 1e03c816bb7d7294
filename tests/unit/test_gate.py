from __future__ import annotations

import numpy as np
import pytest

from tasks.config import GateConfig
from tasks.gate import decide, paired_randomization_p

CFG = GateConfig(metric="ndcg@10", min_delta=0.01, guards={"recall@100": 0.01})


def per_query(ndcg, recall=None):
    recall = recall if recall is not None else [1.0] * len(ndcg)
    return {f"q{i}": {"ndcg@10": n, "recall@100": r} for i, (n, r) in enumerate(zip(ndcg, recall))}


RNG = np.random.default_rng(0)
CHAMPION = RNG.uniform(0.2, 0.8, 200)


def test_clear_consistent_gain_promotes_and_names_the_numbers():
    d = decide(per_query(CHAMPION + 0.05), per_query(CHAMPION), CFG, "base")
    assert d.promote
    assert d.p_value < 0.001
    assert f"{CHAMPION.mean() + 0.05:.4f}" in d.reason and f"vs base {CHAMPION.mean():.4f}" in d.reason
    assert "+0.0500" in d.reason and "guards ok" in d.reason


def test_deliberately_worse_candidate_is_not_promoted():
    d = decide(per_query(CHAMPION - 0.05), per_query(CHAMPION), CFG)
    assert not d.promote
    assert "no gain (-0.0500)" in d.reason


def test_tie_is_not_promoted():
    d = decide(per_query(CHAMPION), per_query(CHAMPION), GateConfig(min_delta=0.0))
    assert not d.promote
    assert d.p_value == 1.0


def test_tiny_noisy_gain_fails_the_paired_test():
    # a mean gain above min_delta carried by noise: big swings both ways on every query
    noise = RNG.normal(0.0, 0.3, 200)
    noise -= noise.mean() - 0.012
    d = decide(per_query(CHAMPION + noise), per_query(CHAMPION), CFG)
    assert d.delta >= CFG.min_delta
    assert not d.promote
    assert "not below alpha 0.05" in d.reason


def test_guard_metric_regression_blocks_promotion():
    d = decide(per_query(CHAMPION + 0.05, [0.9] * 200), per_query(CHAMPION, [1.0] * 200), CFG)
    assert not d.promote
    assert "guard recall@100 drops -0.1000" in d.reason


def test_gain_below_min_delta_is_not_promoted():
    d = decide(per_query(CHAMPION + 0.005), per_query(CHAMPION), CFG)
    assert not d.promote and "below min_delta" in d.reason


def test_decision_repeats_exactly_with_the_seed():
    noise = RNG.normal(0.02, 0.2, 200)
    a = decide(per_query(CHAMPION + noise), per_query(CHAMPION), CFG)
    b = decide(per_query(CHAMPION + noise), per_query(CHAMPION), CFG)
    assert a == b


def test_randomization_p_value_matches_exact_enumeration():
    # 10 queries: all 1024 sign patterns can be enumerated exactly
    diffs = np.array([0.3, 0.1, -0.05, 0.2, 0.0, 0.15, -0.1, 0.25, 0.05, 0.1])
    signs = np.array(np.meshgrid(*[[-1, 1]] * 10)).reshape(10, -1).T
    exact = np.mean(signs @ diffs >= diffs.sum() - 1e-12)
    assert paired_randomization_p(diffs, 50_000, seed=1) == pytest.approx(exact, abs=0.005)


def test_different_query_sets_are_refused():
    with pytest.raises(ValueError, match="same queries"):
        decide(per_query([0.5, 0.6]), per_query([0.5]), CFG)


def test_missing_metric_is_an_error():
    with pytest.raises(ValueError, match="lack"):
        decide({"q": {"mrr@10": 0.7}}, {"q": {"mrr@10": 0.6}}, CFG)


BM25 = per_query(CHAMPION + 0.10)  # a lexical baseline well above both models


def test_candidate_below_bm25_is_not_promoted_and_the_reason_points_to_the_hybrid():
    d = decide(
        per_query(CHAMPION + 0.05),
        per_query(CHAMPION),
        CFG,
        "base",
        bm25=BM25,
        candidate_hybrid=per_query(CHAMPION + 0.12),
        champion_hybrid=per_query(CHAMPION + 0.11),
    )
    assert not d.promote
    assert d.delta == pytest.approx(0.05) and d.p_value < 0.001  # it beats the champion, and still is not promoted
    new, floor, fused = CHAMPION.mean() + 0.05, CHAMPION.mean() + 0.10, CHAMPION.mean() + 0.12
    assert f"the candidate's ndcg@10 {new:.4f} is below BM25's {floor:.4f} on the same queries" in d.reason
    assert (
        f"the hybrid (RRF of BM25 and the candidate) scores {fused:.4f}" in d.reason
        and "gate.target=hybrid" in d.reason
    )
    assert d.bm25 == pytest.approx(floor) and d.hybrid == pytest.approx(fused) and d.target == "dense"


def test_the_bm25_floor_can_be_switched_off():
    cfg = CFG.model_copy(update={"bm25_floor": False})
    d = decide(per_query(CHAMPION + 0.05), per_query(CHAMPION), cfg, bm25=BM25)
    assert d.promote and "BM25" not in d.reason


def test_candidate_above_bm25_is_promoted_and_says_so():
    d = decide(per_query(CHAMPION + 0.05), per_query(CHAMPION), CFG, bm25=per_query(CHAMPION))
    assert d.promote and f"not below BM25 {CHAMPION.mean():.4f}" in d.reason


def test_hybrid_target_compares_the_hybrids_and_applies_the_floor_to_the_hybrid():
    cfg = CFG.model_copy(update={"target": "hybrid"})
    # the dense candidate alone is below BM25, but a team serving the hybrid gates on the hybrid, which gains
    d = decide(
        per_query(CHAMPION + 0.05),
        per_query(CHAMPION),
        cfg,
        bm25=BM25,
        candidate_hybrid=per_query(CHAMPION + 0.15),
        champion_hybrid=per_query(CHAMPION + 0.11),
    )
    assert d.promote, d.reason
    assert d.target == "hybrid" and d.candidate == pytest.approx(CHAMPION.mean() + 0.15)
    assert d.reason.startswith(
        f"promoted: hybrid ndcg@10 {CHAMPION.mean() + 0.15:.4f} vs champion {CHAMPION.mean() + 0.11:.4f}"
    )
    # a hybrid that gains over the champion's hybrid but stays below BM25 is refused
    d = decide(
        per_query(CHAMPION + 0.05),
        per_query(CHAMPION),
        cfg,
        bm25=BM25,
        candidate_hybrid=per_query(CHAMPION + 0.08),
        champion_hybrid=per_query(CHAMPION + 0.02),
    )
    assert not d.promote and f"the hybrid's ndcg@10 {CHAMPION.mean() + 0.08:.4f} is below BM25's" in d.reason


def test_hybrid_target_without_the_hybrids_is_an_error():
    with pytest.raises(ValueError, match="gate.target=hybrid.*eval.bm25"):
        decide(per_query(CHAMPION), per_query(CHAMPION), CFG.model_copy(update={"target": "hybrid"}))


def test_bm25_on_other_queries_is_an_error():
    with pytest.raises(ValueError, match="and BM25 on 3; a paired decision needs the same queries"):
        decide(per_query(CHAMPION), per_query(CHAMPION), CFG, bm25=per_query([0.5, 0.5, 0.5]))


def test_the_gate_reads_each_metrics_direction_from_the_metric_table(monkeypatch):
    # every shipped metric is higher-is-better; a metric where lower is better must turn every comparison round
    from tasks import metrics

    assert metrics.higher_is_better("ndcg@10") and set(metrics.HIGHER_IS_BETTER) == set(metrics.METRICS)
    monkeypatch.setitem(metrics.HIGHER_IS_BETTER, "ndcg", False)
    lower = decide(per_query(CHAMPION - 0.05), per_query(CHAMPION), CFG, "base", bm25=per_query(CHAMPION + 0.1))
    assert lower.promote and not lower.higher_is_better
    assert lower.delta == pytest.approx(0.05) and "not above BM25" in lower.reason
    higher = decide(per_query(CHAMPION + 0.05), per_query(CHAMPION), CFG)
    assert not higher.promote and "no gain (-0.0500)" in higher.reason
    with pytest.raises(ValueError, match="unknown metric 'hits@10'"):
        metrics.higher_is_better("hits@10")
