from __future__ import annotations

import math
import random

import pytest
import pytrec_eval
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.metrics import evaluate_run, rank_documents

KS = [1, 3, 5, 10]


def test_hand_computed_query():
    judged = {"a": 2, "b": 1, "c": 0}
    run = {"q": {"x": 4.0, "a": 3.0, "y": 2.0, "b": 1.0}}
    m = evaluate_run(run, {"q": judged}, [3, 10])[1]["q"]
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
    for q in range(3):  # judged but never retrieved: they score 0 and still count in the mean
        qrels[f"unretrieved{q}"] = {rng.choice(docs): 1}
    qrels["no_relevant"] = {docs[0]: 0, docs[1]: 0}  # R = 0
    run["no_relevant"] = {docs[0]: 1.0}
    run["unjudged"] = {docs[2]: 1.0}  # retrieved but not in the qrels: ignored
    return qrels, run


@pytest.mark.parametrize("seed", range(20))
def test_equals_pytrec_eval_on_random_runs_with_ties(seed):
    qrels, run = _random_case(random.Random(seed))
    macro, per_query = evaluate_run(run, qrels, KS)
    measures = {
        f"ndcg_cut.{','.join(map(str, KS))}",
        f"map_cut.{','.join(map(str, KS))}",
        f"P.{','.join(map(str, KS))}",
        f"recall.{','.join(map(str, KS))}",
    }
    reference = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    assert set(per_query) == set(qrels)
    for qid in per_query:
        if qid.startswith("unretrieved") or qid == "no_relevant":
            assert all(v == 0.0 for v in per_query[qid].values())
    assert macro["ndcg@10"] == pytest.approx(sum(q["ndcg@10"] for q in per_query.values()) / len(qrels))
    for qid, ref in reference.items():
        if qid == "no_relevant":
            continue
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
        for qid in rr:
            assert per_query[qid][f"mrr@{k}"] == pytest.approx(rr[qid]["recip_rank"], abs=1e-9)


def test_search_matrix_scoring_equals_the_dict_path():
    import numpy as np

    from tasks.evaluate import score_search

    rng = np.random.default_rng(3)
    doc_ids = [f"doc{i}" for i in rng.permutation(40)]  # corpus order is not lexical order
    indices = np.array([rng.permutation(40)[:10] for _ in range(6)])
    scores = np.round(rng.random((6, 10)), 1)
    query_ids = [f"q{i}" for i in range(6)]
    qrels = {q: {doc_ids[j]: int(rng.integers(0, 3)) for j in rng.permutation(40)[:5]} for q in query_ids[:5]}
    qrels["never_searched"] = {doc_ids[0]: 1}
    run = {q: {doc_ids[j]: float(s) for j, s in zip(row, srow)} for q, row, srow in zip(query_ids, indices, scores)}
    macro, per_query = score_search(query_ids, doc_ids, scores, indices, qrels, [1, 5, 10])
    ref_macro, ref_per_query = evaluate_run(run, qrels, [1, 5, 10])
    assert set(per_query) == set(ref_per_query)
    for q in per_query:
        assert per_query[q] == pytest.approx(ref_per_query[q], abs=1e-12)
    assert macro == pytest.approx(ref_macro, abs=1e-12)


DOC = st.sampled_from([f"d{i}" for i in range(12)])


@st.composite
def qrels_and_run(draw):
    queries = draw(st.lists(st.sampled_from([f"q{i}" for i in range(6)]), min_size=1, max_size=6, unique=True))
    qrels = {q: draw(st.dictionaries(DOC, st.integers(0, 3), min_size=1, max_size=6)) for q in queries}
    run_queries = draw(st.lists(st.sampled_from(queries + ["extra"]), max_size=7, unique=True))
    # scores from a small set: ties everywhere
    run = {
        q: draw(st.dictionaries(DOC, st.sampled_from([0.0, 0.5, 1.0, 2.0]), min_size=1, max_size=12))
        for q in run_queries
    }
    return qrels, run


@settings(max_examples=300, deadline=None)
@given(qrels_and_run(), st.lists(st.integers(1, 15), min_size=1, max_size=4))
def test_property_equals_pytrec_eval(case, ks):
    qrels, run = case
    ks = sorted(set(ks))
    _, per_query = evaluate_run(run, qrels, ks)
    cut = ",".join(map(str, ks))
    reference = pytrec_eval.RelevanceEvaluator(
        qrels, {f"ndcg_cut.{cut}", f"map_cut.{cut}", f"P.{cut}", f"recall.{cut}"}
    ).evaluate(run)
    for qid, ref in reference.items():
        if not any(g >= 1 for g in qrels[qid].values()):
            continue  # R = 0: trec_eval's per-query values are undefined there; embedforge reports 0
        for k in ks:
            assert per_query[qid][f"ndcg@{k}"] == pytest.approx(ref[f"ndcg_cut_{k}"], abs=1e-9)
            assert per_query[qid][f"map@{k}"] == pytest.approx(ref[f"map_cut_{k}"], abs=1e-9)
            assert per_query[qid][f"precision@{k}"] == pytest.approx(ref[f"P_{k}"], abs=1e-9)
            assert per_query[qid][f"recall@{k}"] == pytest.approx(ref[f"recall_{k}"], abs=1e-9)
            p, r = ref[f"P_{k}"], ref[f"recall_{k}"]
            assert per_query[qid][f"f1@{k}"] == pytest.approx(2 * p * r / (p + r) if p + r else 0.0, abs=1e-9)
    for qid in qrels:
        if qid not in run:
            assert all(v == 0.0 for v in per_query[qid].values())


def _write_case(folder, seed: int, shuffle: bool):
    """A run file (ties, unjudged queries, optionally shuffled lines) and TREC qrels, plus the same as dicts."""
    qrels, run = _random_case(random.Random(seed))
    lines = [f"{q} Q0 {d} {i + 1} {s} tag" for q, docs in run.items() for i, (d, s) in enumerate(docs.items())]
    if shuffle:
        random.Random(seed).shuffle(lines)
    (folder / "run.txt").write_text("\n".join(lines) + "\n")
    (folder / "qrels.txt").write_text("".join(f"{q} 0 {d} {g}\n" for q, docs in qrels.items() for d, g in docs.items()))
    return qrels, run


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_score_files_equals_pytrec_eval_and_the_dict_path(tmp_path, seed, shuffle):
    from tasks.metrics import score_files

    qrels, run = _write_case(tmp_path, seed, shuffle)
    macro, table = score_files(tmp_path / "run.txt", tmp_path / "qrels.txt", KS)
    ref_macro, ref_per_query = evaluate_run(run, qrels, KS)
    assert table["query_id"].to_list() == list(qrels)
    assert macro == pytest.approx(ref_macro, abs=1e-12)
    cut = ",".join(map(str, KS))
    reference = pytrec_eval.RelevanceEvaluator(
        qrels, {f"ndcg_cut.{cut}", f"map_cut.{cut}", f"P.{cut}", f"recall.{cut}"}
    ).evaluate(run)
    for row in table.iter_rows(named=True):
        qid = row["query_id"]
        assert row["retrieved"] == len(run.get(qid, {}))
        assert {k: row[k] for k in ref_per_query[qid]} == pytest.approx(ref_per_query[qid], abs=1e-12)
        if qid in reference and qid != "no_relevant":
            for k in KS:
                assert row[f"ndcg@{k}"] == pytest.approx(reference[qid][f"ndcg_cut_{k}"], abs=1e-9)
                assert row[f"map@{k}"] == pytest.approx(reference[qid][f"map_cut_{k}"], abs=1e-9)


def test_score_files_names_a_repeated_document(tmp_path):
    from tasks.ingest import DataError
    from tasks.metrics import score_files

    (tmp_path / "run.txt").write_text("q1 Q0 d1 1 0.9 t\nq1 Q0 d2 2 0.5 t\nq1 Q0 d1 3 0.1 t\n")
    (tmp_path / "qrels.txt").write_text("q1 0 d1 1\n")
    with pytest.raises(DataError) as err:
        score_files(tmp_path / "run.txt", tmp_path / "qrels.txt", [10])
    assert [(f.row, f.check) for f in err.value.findings] == [(3, "unique_per_query")]


def test_judged_rows_tells_colliding_keys_apart():
    import numpy as np

    from tasks.metrics import DuplicateRetrieval, judged_rows

    # documents given as 64-bit values that share their low 60 bits: every key collides within the query
    names = np.array(["a", "b", "c", "d"])
    value = {n: np.uint64(7 + (i << 61)) for i, n in enumerate(names)}
    run_docs = ["a", "b", "c"]
    query, doc = np.zeros(3, dtype=np.int64), np.array([value[d] for d in run_docs], dtype=np.uint64)
    judged_docs = ["c", "d", "a"]
    judged = np.array([value[d] for d in judged_docs], dtype=np.uint64)

    def same_judged(rows, other):
        return np.array([run_docs[r] == judged_docs[o] for r, o in zip(rows, other)], dtype=bool)

    def same_run(rows, other):
        return np.array([run_docs[r] == run_docs[o] for r, o in zip(rows, other)], dtype=bool)

    assert judged_rows(query, doc, np.zeros(3, dtype=np.int64), judged, same_judged, same_run).tolist() == [2, -1, 0]
    run_docs = ["a", "b", "a"]  # a true repeat two rows apart, behind a collision
    doc = np.array([value[d] for d in run_docs], dtype=np.uint64)
    with pytest.raises(DuplicateRetrieval):
        judged_rows(query, doc, np.zeros(3, dtype=np.int64), judged, same_judged, same_run)


def test_packed_argsort_is_a_stable_argsort():
    import numpy as np

    from tasks.metrics import packed_argsort

    key = np.random.default_rng(0).integers(0, 50, 10_000)
    assert packed_argsort(key).tolist() == np.argsort(key, kind="stable").tolist()
    wide = np.array([2**62, 3, 2**62, 0])  # too wide to pack with a position: falls back to np.argsort
    assert packed_argsort(wide).tolist() == [3, 1, 0, 2]


def test_rrf_sums_reciprocal_ranks_over_both_lists():
    import numpy as np

    from tasks.evaluate import rrf

    dense = np.array([[3, 1, 2], [0, -1, -1]])
    lexical = np.array([[1, 4, 3], [5, 0, -1]])
    scores, rows = rrf([dense, lexical], k=60, depth=4)
    # query 0: doc 1 = 1/62 + 1/61, doc 3 = 1/61 + 1/63, doc 4 = 1/62, doc 2 = 1/63
    assert rows[0].tolist() == [1, 3, 4, 2]
    assert scores[0, 0] == pytest.approx(1 / 62 + 1 / 61) and scores[0, 3] == pytest.approx(1 / 63)
    # query 1: doc 0 = 1/61 + 1/62, doc 5 = 1/61; a list that ends early simply contributes less
    assert rows[1].tolist() == [0, 5, -1, -1] and scores[1, 2] == -np.inf
