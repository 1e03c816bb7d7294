from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from tasks.config import MiningConfig, StrategyConfig
from tasks.mining import (
    Candidates,
    MiningInput,
    Window,
    cap_pairs,
    false_negative_rate,
    mine_negatives,
    passes_filter,
    select_negatives,
    stage_windows,
)
from tasks.mining.bm25 import BM25Params, bm25_search, top_k
from tasks.mining.contradiction import contradiction_candidates
from tasks.mining.dense import DenseParams, dense_search
from tasks.mining.domain_confusion import DomainConfusionParams, domain_confusion_candidates
from tasks.mining.partial_match import PartialMatchParams, partial_match_candidates

PAIR_QUERY = np.array([0])
PAIR_DOC = np.array([0])
W = Window()


def cands(name, docs, scores, positive_score, **kw):
    return Candidates(
        name, np.array([docs]), np.array([scores], dtype=np.float32), np.array([positive_score], dtype=np.float32), **kw
    )


def test_filter_is_relative_to_the_positive():
    assert passes_filter(0.90, 1.0, W)
    assert passes_filter(0.95, 1.0, W)
    assert not passes_filter(0.96, 1.0, W)
    assert passes_filter(5.0, 1.0, Window(max_score_ratio=None))  # the naive miner keeps everything


def test_absolute_margin_and_max_score():
    assert not passes_filter(0.85, 0.9, Window(max_score_ratio=None, absolute_margin=0.1))
    assert passes_filter(0.79, 0.9, Window(max_score_ratio=None, absolute_margin=0.1))
    assert not passes_filter(0.5, 0.9, Window(max_score=0.4))


def test_known_positives_and_near_positive_scores_are_skipped():
    dense = cands("dense", [0, 5, 1, 2, 3], [0.99, 0.98, 0.80, 0.70, 0.60], positive_score=0.9)
    out = select_negatives([(dense, None)], PAIR_QUERY, PAIR_DOC, {0: {0, 1}}, 2, W, n_docs=10, seed=0)
    # doc 0 is the positive, doc 5 scores 0.98 > 0.95 * 0.9 (likely unlabelled positive), doc 1 is another positive
    assert [(n.doc, n.slot, n.rank) for n in out] == [(2, 0, 3), (3, 1, 4)]
    assert all(n.positive_score == pytest.approx(0.9) for n in out)
    assert out[0].difficulty == pytest.approx(0.70 / 0.9)


def test_strategies_interleave_without_duplicates():
    dense = cands("dense", [4, 5, 6], [0.5, 0.4, 0.3], positive_score=0.9)
    bm25 = cands("bm25", [4, 7, 8], [9.0, 8.0, 7.0], positive_score=20.0)
    out = select_negatives([(dense, None), (bm25, None)], PAIR_QUERY, PAIR_DOC, {}, 4, W, n_docs=10, seed=0)
    assert [(n.doc, n.strategy) for n in out] == [(4, "dense"), (7, "bm25"), (5, "dense"), (8, "bm25")]


def test_counted_strategy_fills_its_slots_first():
    dense = cands("dense", [4, 5, 6], [0.5, 0.4, 0.3], positive_score=0.9)
    bm25 = cands("bm25", [7, 8, 9], [9.0, 8.0, 7.0], positive_score=20.0)
    out = select_negatives([(dense, None), (bm25, 2)], PAIR_QUERY, PAIR_DOC, {}, 3, W, n_docs=10, seed=0)
    assert [(n.doc, n.strategy) for n in out] == [(7, "bm25"), (8, "bm25"), (4, "dense")]


def test_rank_window_skips_the_top_and_stops_at_rank_max():
    dense = cands("dense", [4, 5, 6, 7], [0.5, 0.4, 0.3, 0.2], positive_score=0.9)
    out = select_negatives(
        [(dense, None)], PAIR_QUERY, PAIR_DOC, {}, 2, Window(rank_min=2, rank_max=3), n_docs=10, seed=0
    )
    assert [(n.doc, n.strategy) for n in out] == [(6, "dense"), (out[1].doc, "random")]


def test_short_lists_are_topped_up_at_random_never_with_positives():
    dense = cands("dense", [1], [0.5], positive_score=0.9)
    out = select_negatives([(dense, None)], PAIR_QUERY, PAIR_DOC, {0: {0, 2}}, 3, W, n_docs=5, seed=0)
    assert [n.strategy for n in out] == ["dense", "random", "random"]
    assert {n.doc for n in out} == {1, 3, 4}


def test_impossible_request_says_what_to_do():
    with pytest.raises(ValueError, match="lower mining.num_negatives"):
        select_negatives([], PAIR_QUERY, PAIR_DOC, {0: {0}}, 3, W, n_docs=3, seed=0)


def test_curriculum_windows_cap_difficulty_easy_first():
    windows = stage_windows(MiningConfig(curriculum=[0.5, 0.8, 0.95]))
    assert [(w.min_difficulty, w.max_difficulty) for w in windows] == [
        (-math.inf, 0.5),
        (-math.inf, 0.8),
        (-math.inf, 0.95),
    ]
    dense = cands("dense", [4, 5, 6, 7], [0.9, 0.7, 0.45, 0.2], positive_score=1.0)
    by_stage = [
        [n.doc for n in select_negatives([(dense, None)], PAIR_QUERY, PAIR_DOC, {}, 2, w, 10, 0)] for w in windows
    ]
    assert by_stage == [[6, 7], [5, 6], [4, 5]]  # each stage the hardest under its cap: easy first, the hardest last


def test_top_k_breaks_ties_by_document_order():
    row = np.array([1.0, 3.0, 3.0, 0.5, 3.0], dtype=np.float32)
    assert top_k(row, 2).tolist() == [1, 2]
    assert top_k(row, 5).tolist() == [1, 2, 4, 0, 3]


def test_bm25_engines_agree_on_the_ranking():
    docs = [
        "the cat sat on the mat",
        "dogs bark loudly",
        "a cat and a dog",
        "mat weaving for cats",
        "stock markets fell",
    ]
    queries = ["cat on mat", "dog barking"]
    slow, _, _ = bm25_search(queries, docs, 3, "rank_bm25")
    fast, _, _ = bm25_search(queries, docs, 3, "bm25s")
    assert slow[:, 0].tolist() == fast[:, 0].tolist() == [0, 2]  # no stemming: "dogs bark" matches neither term


def test_bm25s_and_rank_bm25_give_the_same_top_k_on_the_same_tokenization():
    # Zipf-distributed words: common terms in most documents, lengths from 5 to 400 words, queries from 2 to 300 words
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(3000)]
    weights = 1 / np.arange(1, len(vocab) + 1)
    weights /= weights.sum()
    docs = [" ".join(rng.choice(vocab, size=rng.integers(5, 400), p=weights)) for _ in range(400)]
    queries = [" ".join(rng.choice(vocab, size=rng.integers(2, 300), p=weights)) for _ in range(60)] + [
        "unseen words only"
    ]
    wanted = {q: [q, 3 * q] for q in range(60)}
    slow, slow_scores, slow_asked = bm25_search(queries, docs, 20, "rank_bm25", wanted)
    fast, fast_scores, fast_asked = bm25_search(queries, docs, 20, "bm25s", wanted)
    assert slow.tolist() == fast.tolist()
    # the same Lucene IDF; rank-bm25's BM25Okapi scores carry a constant (k1 + 1) factor
    np.testing.assert_allclose(slow_scores, 2.5 * fast_scores, rtol=1e-5)
    assert slow_asked.keys() == fast_asked.keys()
    np.testing.assert_allclose(
        [slow_asked[key] for key in slow_asked], [2.5 * fast_asked[key] for key in slow_asked], rtol=1e-5
    )
    assert not fast_scores[-1].any()  # a query no document shares a term with scores nothing


def test_approximate_indexes_find_the_exact_neighbours_on_easy_data():
    rng = np.random.default_rng(0)
    docs = rng.normal(size=(2000, 16)).astype(np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    queries = docs[:20] + 0.01 * rng.normal(size=(20, 16)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    for kind in ("flat", "ivf", "hnsw"):
        _, indices = dense_search(queries, docs, 5, kind, DenseParams(nprobe=8))
        assert indices[:, 0].tolist() == list(range(20)), kind


def _input(doc_texts, query_texts, pair_query, pair_doc, vectors=True, **kw):
    rng = np.random.default_rng(1)
    qv = dv = None
    if vectors:
        dv = rng.normal(size=(len(doc_texts), 8)).astype(np.float32)
        dv /= np.linalg.norm(dv, axis=1, keepdims=True)
        qv = dv[
            np.array(pair_doc)[np.unique(pair_query, return_index=True)[1]]
        ]  # each query sits on its first positive
    return MiningInput(query_texts, doc_texts, np.array(pair_query), np.array(pair_doc), qv, dv, **kw)


def test_partial_match_terms_keeps_some_but_not_all_key_terms():
    docs = [
        "aspirin lowers stroke risk in adults",
        "aspirin dosage tables",
        "stroke rehabilitation",
        "aspirin lowers adult stroke risk daily",
        "weather report",
        "unrelated text here",
    ]
    inp = _input(docs, ["aspirin lowers stroke risk"], [0], [0], vectors=False)
    c = partial_match_candidates(inp, k=6, params=PartialMatchParams(key_terms=4, min_overlap=0.1, max_overlap=0.8))
    kept = [d for d in c.indices[0].tolist() if d >= 0]
    assert set(kept) == {1, 2}  # doc 3 shares every key term, docs 4 and 5 none, doc 0 is the positive and shares all


def test_partial_match_disagreement_drops_what_the_dense_model_also_likes():
    docs = [f"term{i % 3} filler {i}" for i in range(12)]
    inp = _input(docs, ["term0 filler"], [0], [0])
    c = partial_match_candidates(inp, k=12, params=PartialMatchParams(mode="disagreement", dense_rank_min=3))
    from tasks.mining.dense import dense_candidates

    near = set(dense_candidates(inp, 3).indices[0].tolist())
    kept = {d for d in c.indices[0].tolist() if d >= 0}
    assert kept and kept.isdisjoint(near)


def test_domain_confusion_stays_in_the_positive_cluster():
    rng = np.random.default_rng(0)
    centres = np.eye(4, dtype=np.float32)
    dv = np.repeat(centres, 10, axis=0) + 0.05 * rng.normal(size=(40, 4)).astype(np.float32)
    dv /= np.linalg.norm(dv, axis=1, keepdims=True)
    inp = MiningInput(["q"], [f"d{i}" for i in range(40)], np.array([0]), np.array([12]), dv[[12]], dv)
    c = domain_confusion_candidates(inp, k=20, params=DomainConfusionParams(clusters=4))
    assert c.per_pair
    found = [d for d in c.indices[0].tolist() if d >= 0]
    assert len(found) == 10 and all(10 <= d < 20 for d in found)


def test_contradiction_uses_labels_and_never_the_pairs_own_positive():
    docs = [f"doc {i}" for i in range(6)]
    inp = _input(docs, ["claim"], [0, 0], [0, 3], evidence={"CONTRADICT": {0: {3, 5}}})
    c = contradiction_candidates(inp, k=5)
    out = select_negatives([(c, None)], inp.pair_query, inp.pair_doc, inp.positives_of_query, 2, W, 6, 0)
    first = [(n.doc, n.strategy) for n in out if n.pair == 0]
    second = [n.strategy for n in out if n.pair == 1]
    assert sorted(first) == [
        (3, "contradiction"),
        (5, "contradiction"),
    ]  # judged relevant, but labelled as contradicting
    assert second == ["random", "random"]  # its positive is itself a contradicting document: no label-based negative


def test_false_negative_rate_counts_hidden_positives():
    # query 0 has positives 0 and 1; doc 1 ranks first for it, so hiding it makes the naive miner pick it
    dense = Candidates(
        "dense",
        np.array([[1, 0, 2, 3, 4]]),
        np.array([[0.9, 0.8, 0.5, 0.4, 0.3]], dtype=np.float32),
        np.array([0.8, 0.9], dtype=np.float32),
    )
    inp = MiningInput(["q"], [f"d{i}" for i in range(6)], np.array([0, 0]), np.array([0, 1]))
    rates, pairs = false_negative_rate([(dense, None)], inp, MiningConfig(num_negatives=1, max_score_ratio=None))
    assert pairs == 2 and rates == {"dense": 1.0, "all": 1.0}  # each pair, not knowing the other positive, picks it
    rates, _ = false_negative_rate([(dense, None)], inp, MiningConfig(num_negatives=1))
    assert rates == {
        "dense": 0.5,
        "all": 0.5,
    }  # the 95% filter drops d1 (0.9 > 0.95 × 0.8) for the first pair, not d0 for the second


TEXTS = [
    "liability cap twelve months fees",
    "liability cap on indirect damages",
    "termination for convenience",
    "governing law new york",
    "confidential information",
    "liability insurance minimums",
    "audit rights",
    "force majeure events",
    "non-solicitation of staff",
    "automatic renewal terms",
]


def _frames():
    corpus = pl.DataFrame({"doc_id": [f"d{i}" for i in range(len(TEXTS))], "text": TEXTS})
    pairs = pl.DataFrame(
        {
            "query_id": ["q1", "q1"],
            "doc_id": ["d0", "d1"],
            "anchor": ["liability cap", "liability cap"],
            "positive": [TEXTS[0], TEXTS[1]],
        }
    )
    return pairs, corpus


def test_mine_negatives_bm25_only_gives_rows_per_pair():
    pairs, corpus = _frames()
    cfg = MiningConfig(strategies=[StrategyConfig(name="bm25")], num_negatives=2, max_score_ratio=10.0)
    out, report = mine_negatives(pairs, corpus, cfg)
    assert out.height == 4
    assert set(out["negative_id"]).isdisjoint({"d0", "d1"})  # a query's positives never become its negatives
    assert out.filter(pl.col("slot") == 0)["negative_id"].to_list() == ["d5", "d5"]  # shares "liability"
    assert report["rows"] == {"bm25": 4} and report["stages"] == 1


def test_mine_negatives_with_a_curriculum_gives_each_stage_its_rows():
    pairs, corpus = _frames()
    cfg = MiningConfig(
        strategies=[StrategyConfig(name="bm25", params=BM25Params(engine="bm25s").model_dump())],
        num_negatives=1,
        max_score_ratio=None,
        curriculum=[0.5, 2.0],
    )
    out, report = mine_negatives(pairs, corpus, cfg)
    assert out.group_by("stage").len().sort("stage").rows() == [(0, 2), (1, 2)]
    easy = out.filter((pl.col("stage") == 0) & pl.col("difficulty").is_not_null())["difficulty"]
    hard = out.filter((pl.col("stage") == 1) & pl.col("difficulty").is_not_null())["difficulty"]
    assert (easy <= 0.5).all() and (hard > 0.5).any() and report["stages"] == 2


def test_evidence_labels_feed_the_contradiction_strategy(tmp_path):
    import json

    from tasks.ingest.beir import evidence_labels

    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        "\n".join(
            json.dumps(q)
            for q in [
                {
                    "_id": "q1",
                    "text": "liability cap",
                    "metadata": {
                        "d2": [{"sentences": [1], "label": "CONTRADICT"}],
                        "d0": [{"sentences": [0], "label": "SUPPORT"}],
                    },
                },
                {"_id": "q2", "text": "other", "metadata": {}},
                {"_id": "q3", "text": "odd shape", "metadata": {"d1": "not an evidence list"}},
            ]
        )
        + "\n"
    )
    labels = evidence_labels(queries)
    assert labels.rows() == [("q1", "d2", "CONTRADICT"), ("q1", "d0", "SUPPORT")]
    pairs, corpus = _frames()
    cfg = MiningConfig(
        strategies=[StrategyConfig(name="contradiction"), StrategyConfig(name="bm25")],
        num_negatives=2,
        max_score_ratio=10.0,
    )
    out, report = mine_negatives(pairs, corpus, cfg, labels=labels)
    first = out.filter(pl.col("slot") == 0)
    assert first["negative_id"].to_list() == ["d2", "d2"] and set(first["strategy"]) == {"contradiction"}
    assert report["rows"]["contradiction"] == 2


def test_domain_confusion_by_a_corpus_metadata_field(tmp_path):
    import json

    from tasks.ingest.beir import document_metadata

    categories = {
        "d0": "cardiology",
        "d1": "cardiology",
        "d2": "cardiology",
        "d3": "oncology",
        "d4": "oncology",
        "d5": None,
    }
    corpus_file = tmp_path / "corpus.jsonl"
    corpus_file.write_text(
        "\n".join(
            json.dumps({"_id": d, "text": f"text {d}", "metadata": {"category": c, "tags": ["x"]} if c else {}})
            for d, c in categories.items()
        )
        + "\n"
    )
    metadata = document_metadata(corpus_file)
    assert metadata.rows() == [(d, "category", c) for d, c in categories.items() if c]  # lists are not groups
    corpus = pl.DataFrame({"doc_id": list(categories), "text": [f"text {d}" for d in categories]})
    pairs = pl.DataFrame(
        {
            "query_id": ["q1", "q2"],
            "doc_id": ["d0", "d5"],
            "anchor": ["first", "second"],
            "positive": ["text d0", "text d5"],
        }
    )
    e = np.eye(6, dtype=np.float32)
    dv = np.stack([e[0], 0.8 * e[0] + 0.6 * e[1], 0.6 * e[0] + 0.8 * e[1], e[0] + 0.2 * e[5], e[2], e[3]])
    qv = np.stack([e[0] + 0.1 * e[5], e[3]])  # q1's nearest document is d3, an oncology one
    dv, qv = dv / np.linalg.norm(dv, axis=1, keepdims=True), qv / np.linalg.norm(qv, axis=1, keepdims=True)
    cfg = MiningConfig(
        strategies=[StrategyConfig(name="domain_confusion", params={"field": "category"})],
        num_negatives=2,
        max_score_ratio=10.0,
    )
    out, report = mine_negatives(pairs, corpus, cfg, qv, dv, doc_metadata=metadata)
    first = out.filter(pl.col("query_id") == "q1")
    assert sorted(first["negative_id"]) == ["d1", "d2"] and set(first["strategy"]) == {"domain_confusion"}
    assert set(out.filter(pl.col("query_id") == "q2")["strategy"]) == {"random"}  # its positive has no category

    wrong = cfg.model_copy(update={"strategies": [StrategyConfig(name="domain_confusion", params={"field": "topic"})]})
    with pytest.raises(ValueError, match="'topic'.*no document"):
        mine_negatives(pairs, corpus, wrong, qv, dv, doc_metadata=metadata)


# Widening. One query on the x axis; each document sits at a chosen cosine to it. The query has two positives: d0
# (0.5) and d5 (0.2). Dense top-3 is d1–d3, all above 0.95 × either positive's score, so the configured window
# leaves both pairs with nothing: the case where the positive-aware filter removes every top candidate.
COSINES = [0.5, 0.9, 0.8, 0.7, 0.45, 0.2, 0.4, 0.1, 0.0, -0.1, -0.2, -0.3]


def _widening_frames(cosines=COSINES, positives=("d0", "d5")):
    c = np.array(cosines, dtype=np.float64)
    dv = np.stack([c, np.sqrt(1 - c**2)], axis=1).astype(np.float32)
    qv = np.array([[1.0, 0.0]], dtype=np.float32)
    texts = [f"document {i}" for i in range(len(cosines))]
    corpus = pl.DataFrame({"doc_id": [f"d{i}" for i in range(len(cosines))], "text": texts})
    pairs = pl.DataFrame(
        {
            "query_id": ["q1"] * len(positives),
            "doc_id": list(positives),
            "anchor": ["the query"] * len(positives),
            "positive": [texts[int(d[1:])] for d in positives],
        }
    )
    return pairs, corpus, qv, dv


def _negatives_of(out, positive):
    return out.filter(pl.col("positive_id") == positive).sort("slot")["negative_id"].to_list()


def test_widen_finds_real_negatives_further_down_instead_of_random():
    pairs, corpus, qv, dv = _widening_frames()
    cfg = MiningConfig(strategies=[StrategyConfig(name="dense")], num_negatives=3, top_k=3)
    out, report = mine_negatives(pairs, corpus, cfg, qv, dv)
    # d0's pair: d4 (0.45) and d6 (0.40) are the next below 0.475; then d7, skipping d5 (0.2), the query's other positive
    assert _negatives_of(out, "d0") == ["d4", "d6", "d7"]
    assert _negatives_of(out, "d5") == ["d7", "d8", "d9"]  # below 0.95 × 0.2
    assert set(out["strategy"]) == {"dense"} and set(out["origin"]) == {"deeper"}
    assert report["origins"] == {"dense": {"deeper": 6}} and report["random_share"] == 0.0
    assert report["pairs_widened"] == 2 and report["pairs_short"] == 0 and report["warnings"] == []


def test_fill_random_reproduces_the_old_top_up_and_counts_it(caplog):
    pairs, corpus, qv, dv = _widening_frames()
    cfg = MiningConfig(strategies=[StrategyConfig(name="dense")], num_negatives=3, top_k=3, fill="random")
    with caplog.at_level("WARNING", logger="tasks.mining"):
        out, report = mine_negatives(pairs, corpus, cfg, qv, dv)
    from tasks.mining import candidates_for

    inp = MiningInput(["the query"], corpus["text"].to_list(), np.array([0, 0]), np.array([0, 5]), qv, dv)
    old = select_negatives(candidates_for(inp, cfg), inp.pair_query, inp.pair_doc, inp.positives_of_query, 3, W, 12, 0)
    assert out["negative_id"].to_list() == [f"d{n.doc}" for n in old]  # the selector's old behaviour, unchanged
    assert set(out["origin"]) == {"random"} and report["rows"] == {"random": 6} and report["random_share"] == 1.0
    assert report["pairs_short"] == 2 and report["pairs_widened"] == 0
    assert "try mining.fill=widen" in report["warnings"][0] and report["warnings"][0] in caplog.text


def test_relaxed_margin_never_admits_a_known_positive_or_a_score_at_the_positive():
    # every document but the positives scores within 95–100% of d0's 0.5, or at or above it: d2 is d0's duplicate
    # vector (exactly the positive's score), d1 is above it; d3 is the query's other positive, scoring 0.49
    pairs, corpus, qv, dv = _widening_frames([0.5, 0.6, 0.5, 0.49, 0.485, 0.48], positives=("d0", "d3"))
    cfg = MiningConfig(strategies=[StrategyConfig(name="dense")], num_negatives=2, top_k=2)
    out, report = mine_negatives(pairs, corpus, cfg, qv, dv)
    first = out.filter(pl.col("positive_id") == "d0").sort("slot")
    assert first["negative_id"].to_list() == ["d4", "d5"] and set(first["origin"]) == {"relaxed"}  # at 0.98: ≤ 0.49
    assert (first["score"] < first["positive_score"]).all()
    assert set(out["negative_id"]).isdisjoint({"d0", "d3"})  # a known positive never, whichever pass found what
    # d3's pair (0.49): d5 (0.48) at 0.98, d4 (0.485) only at 1.0, strictly below the positive
    assert _negatives_of(out, "d3") == ["d5", "d4"] and report["origins"] == {"dense": {"relaxed": 4}}
    assert report["pairs_short"] == 0 and report["random_share"] == 0.0

    three = cfg.model_copy(update={"num_negatives": 3})  # only d4 and d5 are below either positive: one short each
    out, report = mine_negatives(pairs, corpus, three, qv, dv)
    assert report["origins"] == {"dense": {"relaxed": 4}, "random": {"random": 2}} and report["pairs_short"] == 2
    assert set(out["negative_id"]).isdisjoint({"d0", "d3"})
    with pytest.raises(ValueError, match="2 of 2 pairs still have fewer than 3 negatives.*mining.fill=widen"):
        mine_negatives(pairs, corpus, three.model_copy(update={"fill": "widen_only"}), qv, dv)


def test_random_share_above_the_threshold_warns(caplog):
    pairs, corpus, qv, dv = _widening_frames()
    cfg = MiningConfig(strategies=[StrategyConfig(name="dense")], num_negatives=8, top_k=3)
    with caplog.at_level("WARNING", logger="tasks.mining"):
        out, report = mine_negatives(pairs, corpus, cfg, qv, dv)
    # d0's pair has 7 real candidates below 0.475 (d4, d6–d11), d5's has 5 below 0.19 (d7–d11): 4 of 16 are random
    assert report["origins"]["random"] == {"random": 4} and report["random_share"] == 0.25
    assert set(out.filter(pl.col("origin") == "random")["negative_id"]).isdisjoint({"d0", "d5"})
    assert len(report["warnings"]) == 1 and report["warnings"][0].startswith("25% of the mined negatives are random")
    assert report["warnings"][0] in caplog.text
    from tasks.report import mining_table

    assert mining_table(report).startswith("**Warning:** 25% of the mined negatives are random")
    _, quiet = mine_negatives(pairs, corpus, cfg.model_copy(update={"random_warn": 0.3}), qv, dv)
    assert quiet["warnings"] == []


def test_widen_ratios_must_ascend_within_one():
    with pytest.raises(ValueError, match="widen_ratios must be ascending"):
        MiningConfig(widen_ratios=[1.0, 0.98])
    with pytest.raises(ValueError, match="widen_ratios must be ascending"):
        MiningConfig(widen_ratios=[0.98, 1.05])


def test_cap_keeps_each_querys_best_scoring_positives_in_pair_order():
    pairs, corpus, qv, dv = _widening_frames(positives=("d5", "d0", "d3", "d4"))  # scores 0.2, 0.5, 0.7, 0.45
    two = pl.concat([pairs, pairs.head(1).with_columns(query_id=pl.lit("q2"), anchor=pl.lit("a second query"))])
    qv2 = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    doc_ids = corpus["doc_id"].to_list()
    kept, capped = cap_pairs(two, 2, doc_ids, qv2, dv)
    assert kept.select("query_id", "doc_id").rows() == [("q1", "d0"), ("q1", "d3"), ("q2", "d5")]
    assert capped == {"max_per_query": 2, "pairs": 5, "kept": 3, "queries_capped": 1, "by": "base-model score"}
    same, none = cap_pairs(two, 4, doc_ids, qv2, dv)  # no query above the cap: the pairs themselves, nothing to say
    assert same is two and none is None
    assert cap_pairs(two, None, doc_ids, qv2, dv)[0] is two
    sampled, how = cap_pairs(two, 2, doc_ids, seed=3)  # no vectors (mining reads none): a seeded sample, per query
    assert sampled.equals(cap_pairs(two, 2, doc_ids, seed=3)[0]) and how["by"] == "seeded sample (seed 3)"
    assert sampled.group_by("query_id").len().sort("query_id").rows() == [("q1", 2), ("q2", 1)]


def test_a_positive_left_out_by_the_cap_is_still_never_a_negative():
    pairs, corpus, qv, dv = _widening_frames()  # d0 (0.5) and d5 (0.2)
    cfg = MiningConfig(strategies=[StrategyConfig(name="dense")], num_negatives=3, top_k=12, max_pairs_per_query=1)
    kept, capped = cap_pairs(pairs, cfg.max_pairs_per_query, corpus["doc_id"].to_list(), qv, dv)
    out, report = mine_negatives(kept, corpus, cfg, qv, dv, judged=pairs)
    # below 0.95 × 0.5: d4, d6, then d5 — the query's other, unmined positive — is skipped for d7
    assert _negatives_of(out, "d0") == ["d4", "d6", "d7"] and set(out["positive_id"]) == {"d0"}
    assert _negatives_of(mine_negatives(kept, corpus, cfg, qv, dv)[0], "d0") == ["d4", "d6", "d5"]  # had it not known
    from tasks.report import mining_table

    assert "Pairs mined and trained: 1 of 2 — at most 1 per query" in mining_table({**report, "capped": capped})
