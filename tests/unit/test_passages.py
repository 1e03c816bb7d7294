"""Long documents as passages of the model's own tokens, and documents scored by their best passage."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.passages import best_passage_search, length_stats, split_passages, window_starts

CLAUSE = "The Supplier shall indemnify the Customer against any third-party claim arising from the Products. "


@pytest.fixture(scope="module")
def tokenizer(base_model_ref):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(base_model_ref.path, local_files_only=True)


def test_windows_cover_the_text_with_the_stated_overlap_and_cap():
    assert window_starts(100, 254, 32, 8) == [0]
    starts = window_starts(1000, 254, 32, 8)
    assert starts == [0, 222, 444, 666, 888]  # stride 254 - 32; the last window reaches the end
    assert starts[-1] + 254 >= 1000
    assert window_starts(10_000, 254, 32, 8) == [222 * i for i in range(8)]  # capped
    with pytest.raises(ValueError, match="overlap"):
        window_starts(1000, 32, 32, 8)


def test_a_short_text_stays_one_passage_and_a_long_one_is_cut_on_token_boundaries(tokenizer):
    long_text = CLAUSE * 40  # ~ 700 tokens
    passages = split_passages(["a short clause", long_text], tokenizer, window=128, overlap=16, max_passages=4)
    assert passages.texts[0] == "a short clause" and passages.doc.tolist()[:1] == [0]
    pieces = [t for t, d in zip(passages.texts, passages.doc) if d == 1]
    assert len(pieces) == 4 and passages.split
    assert all(len(tokenizer(p, add_special_tokens=False)["input_ids"]) <= 128 for p in pieces)
    assert all(p in long_text for p in pieces)  # spans of the original text, not re-joined tokens
    assert passages.tokens[1] > 600 and passages.dropped[1] == passages.tokens[1] - (3 * 112 + 128)
    assert passages.dropped[0] == 0


def test_a_document_scores_as_its_best_passage_exactly():
    rng = np.random.default_rng(0)
    passage_doc = np.repeat(np.arange(50), rng.integers(1, 4, size=50))
    passages = rng.normal(size=(len(passage_doc), 16)).astype(np.float32)
    passages /= np.linalg.norm(passages, axis=1, keepdims=True)
    queries = rng.normal(size=(7, 16)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    scores, docs = best_passage_search(queries, passages, passage_doc, k=10, max_per_doc=3)
    full = queries @ passages.T
    for q in range(7):
        best = np.full(50, -np.inf)
        np.maximum.at(best, passage_doc, full[q])
        expected = np.argsort(-best, kind="stable")[:10]
        assert docs[q].tolist() == expected.tolist()
        assert np.allclose(scores[q], best[expected], atol=1e-5)


def test_length_stats_count_texts_over_the_limit():
    stats = length_stats(np.array([10, 20, 300, 400, 30]), limit=256)
    assert stats["over_limit"] == 2 and stats["over_limit_share"] == 0.4 and stats["max"] == 400
    assert length_stats(np.array([], dtype=np.int64), 256)["texts"] == 0
