from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from tasks.config import MiningConfig
from tasks.mining import Candidates, mine_negatives, passes_filter, select_negatives
from tasks.mining.bm25 import bm25_candidates

PAIR_QUERY = np.array([0])
PAIR_DOC = np.array([0])


def cands(name, docs, scores, positive_score):
    return Candidates(name, np.array([docs]), np.array([scores], dtype=np.float32), np.array([positive_score], dtype=np.float32))


def test_filter_is_relative_to_the_positive():
    assert passes_filter(0.90, 1.0, 0.95)
    assert passes_filter(0.95, 1.0, 0.95)
    assert not passes_filter(0.96, 1.0, 0.95)


def test_known_positives_and_near_positive_scores_are_skipped():
    dense = cands("dense", [0, 5, 1, 2, 3], [0.99, 0.98, 0.80, 0.70, 0.60], positive_score=0.9)
    out = select_negatives([dense], PAIR_QUERY, PAIR_DOC, {0: {0, 1}}, 2, 0, 0.95, n_docs=10, seed=0)
    # doc 0 is the positive, doc 5 scores 0.98 > 0.95 * 0.9 (likely unlabelled positive), doc 1 is another positive
    assert [(n.doc, n.slot, n.rank) for n in out] == [(2, 0, 3), (3, 1, 4)]
    assert all(n.positive_score == pytest.approx(0.9) for n in out)


def test_retrievers_interleave_without_duplicates():
    dense = cands("dense", [4, 5, 6], [0.5, 0.4, 0.3], positive_score=0.9)
    bm25 = cands("bm25", [4, 7, 8], [9.0, 8.0, 7.0], positive_score=20.0)
    out = select_negatives([dense, bm25], PAIR_QUERY, PAIR_DOC, {}, 4, 0, 0.95, n_docs=10, seed=0)
    assert [(n.doc, n.strategy) for n in out] == [(4, "dense"), (7, "bm25"), (5, "dense"), (8, "bm25")]


def test_skip_top_ignores_the_first_ranks():
    dense = cands("dense", [4, 5, 6], [0.5, 0.4, 0.3], positive_score=0.9)
    out = select_negatives([dense], PAIR_QUERY, PAIR_DOC, {}, 1, 2, 0.95, n_docs=10, seed=0)
    assert out[0].doc == 6


def test_short_lists_are_topped_up_at_random_never_with_positives():
    dense = cands("dense", [1], [0.5], positive_score=0.9)
    out = select_negatives([dense], PAIR_QUERY, PAIR_DOC, {0: {0, 2}}, 3, 0, 0.95, n_docs=5, seed=0)
    assert [n.strategy for n in out] == ["dense", "random", "random"]
    assert {n.doc for n in out} == {1, 3, 4}


def test_impossible_request_says_what_to_do():
    with pytest.raises(ValueError, match="lower mining.num_negatives"):
        select_negatives([], PAIR_QUERY, PAIR_DOC, {0: {0}}, 3, 0, 0.95, n_docs=3, seed=0)


def test_bm25_ranks_lexical_overlap_first():
    docs = ["the cat sat on the mat", "dogs bark loudly", "a cat and a dog"]
    c = bm25_candidates(["cat on mat"], docs, np.array([0]), np.array([2]), k=3)
    assert c.indices[0, 0] == 0
    assert c.scores[0, 0] > c.scores[0, 1]
    assert c.positive_scores[0] == pytest.approx(float(c.scores[0][list(c.indices[0]).index(2)]))


def test_mine_negatives_bm25_only_gives_rows_per_pair():
    texts = ["liability cap twelve months fees", "liability cap on indirect damages", "termination for convenience",
             "governing law new york", "confidential information", "liability insurance minimums", "audit rights",
             "force majeure events", "non-solicitation of staff", "automatic renewal terms"]
    corpus = pl.DataFrame({"doc_id": [f"d{i}" for i in range(len(texts))], "text": texts})
    pairs = pl.DataFrame({"query_id": ["q1", "q1"], "doc_id": ["d0", "d1"], "anchor": ["liability cap", "liability cap"],
                          "positive": [corpus["text"][0], corpus["text"][1]]})
    out = mine_negatives(pairs, corpus, MiningConfig(retrievers=["bm25"], num_negatives=2, max_score_ratio=10.0))
    assert out.height == 4
    assert set(out["negative_id"]).isdisjoint({"d0", "d1"})  # a query's positives never become its negatives
    assert out.filter(pl.col("slot") == 0)["negative_id"].to_list() == ["d5", "d5"]  # shares "liability"
