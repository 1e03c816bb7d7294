from __future__ import annotations

import math
import random

import pytest
import pytrec_eval

from tasks.metrics import evaluate_run, query_metrics, rank_documents

KS = [1, 3, 5, 10]


def test_hand_computed_query():
    judged = {"a": 2, "b": 1, "c": 0}
    ranking = ["x", "a", "y", "b"]
    m = query_metrics(ranking, judged, [3, 10])
    dcg3 = 2 / math.log2(3)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert m["ndcg@3"] == pytest.approx(dcg3 / idcg)
    assert m["mrr@3"] == pytest.approx(0.5)
    assert m["map@10"] == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert m["recall@3"] == pytest.approx(0.5)
    assert m["precision@10"] == pytest.approx(2 / 10)  # missing ranks count as non-relevant
    assert m["f1@3"] == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))


def test_ties_break_by_descending_document_id():
    assert rank_documents({"d1": 0.5, "d3": 0.5, "d2": 0.9}) == ["d2", "d3", "d1"]


def test_query_without_results_scores_zero_and_counts():
    macro, per_query = evaluate_run({"q1": {"a": 1.0}}, {"q1": {"a": 1}, "q2": {"b": 1}}, [10])
    assert per_query["q2"]["ndcg@10"] == 0.0
    assert macro["ndcg@10"] == pytest.approx(0.5)


def _random_case(rng: random.Random):
    docs = [f"d{i}" for i in range(30)]
    qrels, run = {}, {}
    for q in range(25):
        qid = f"q{q}"
        judged = rng.sample(docs, rng.randint(1, 8))
        qrels[qid] = {d: rng.choice([0, 1, 1, 2, 3]) for d in judged}
        if not any(v >= 1 for v in qrels[qid].values()):
            qrels[qid][judged[0]] = 1
        retrieved = rng.sample(docs, rng.randint(1, 20))
        # coarse scores so that ties are frequent
        run[qid] = {d: float(rng.randint(0, 5)) for d in retrieved}
    return qrels, run


@pytest.mark.parametrize("seed", range(20))
def test_equals_pytrec_eval_on_random_runs_with_ties(seed):
    qrels, run = _random_case(random.Random(seed))
    macro, per_query = evaluate_run(run, qrels, KS)
    measures = {f"ndcg_cut.{','.join(map(str, KS))}", f"map_cut.{','.join(map(str, KS))}",
                f"P.{','.join(map(str, KS))}", f"recall.{','.join(map(str, KS))}"}
    reference = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    for qid, ref in reference.items():
        for k in KS:
            ours = per_query[qid]
            assert ours[f"ndcg@{k}"] == pytest.approx(ref[f"ndcg_cut_{k}"], abs=1e-9)
            assert ours[f"map@{k}"] == pytest.approx(ref[f"map_cut_{k}"], abs=1e-9)
            assert ours[f"precision@{k}"] == pytest.approx(ref[f"P_{k}"], abs=1e-9)
            assert ours[f"recall@{k}"] == pytest.approx(ref[f"recall_{k}"], abs=1e-9)
    for k in KS:
        # reciprocal rank at K: pytrec_eval's recip_rank on the run cut to its first K documents
        cut = {qid: {d: scores[d] for d in rank_documents(scores)[:k]} for qid, scores in run.items()}
        rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut)
        for qid in qrels:
            assert per_query[qid][f"mrr@{k}"] == pytest.approx(rr[qid]["recip_rank"], abs=1e-9)
