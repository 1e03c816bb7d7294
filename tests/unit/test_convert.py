from __future__ import annotations

import polars as pl
import pytest

from tasks.ingest.convert import hard_negative_rows, nli_to_triplets, sts_rows

NLI = pl.DataFrame(
    {
        "premise": ["A man sleeps.", "A man sleeps.", "A man sleeps.", "Kids play.", "Kids play."],
        "hypothesis": ["A person rests.", "A man is awake.", "He is tired.", "Children are playing.", "Kids nap."],
        "label": ["entailment", "contradiction", "neutral", "entailment", "neutral"],
    }
)


def test_nli_triplets_group_by_premise_and_skip_neutral_unless_asked():
    assert nli_to_triplets(NLI).rows() == [("A man sleeps.", "A person rests.", "A man is awake.")]
    with_neutral = nli_to_triplets(NLI, keep_neutral=True).rows()
    assert ("A man sleeps.", "A person rests.", "He is tired.") in with_neutral
    assert ("Kids play.", "Children are playing.", "Kids nap.") in with_neutral
    assert len(with_neutral) == 3


def test_sts_scores_scale_to_unit_interval():
    sts = pl.DataFrame({"sentence1": ["a", "b"], "sentence2": ["c", "d"], "score": [5.0, 2.5]})
    assert sts_rows(sts)["score"].to_list() == [1.0, 0.5]


def test_hard_negative_sets_become_fixed_width_rows():
    sets = pl.DataFrame({"query": ["q1", "q2"], "positive": ["p1", "p2"], "negatives": [["a", "b", "c"], ["d", "e"]]})
    rows = hard_negative_rows(sets)
    assert rows.columns == ["anchor", "positive", "negative_1", "negative_2"]
    assert rows.rows() == [("q1", "p1", "a", "b"), ("q2", "p2", "d", "e")]
    with pytest.raises(ValueError, match="fewer than 3"):
        hard_negative_rows(sets, num_negatives=3)
