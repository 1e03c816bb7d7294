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
    assert len(starts) == 5 and starts[0] == 0 and starts[-1] + 254 == 1000  # full-length windows, the last at the end
    assert all(b - a <= 254 - 32 for a, b in zip(starts, starts[1:]))  # at least the stated overlap
    assert window_starts(484, 254, 32, 8) == [0, 115, 230]  # three full windows, not two and a stub of 8 new tokens
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
    uncovered = passages.tokens[1] - (3 * 112 + 128)  # beyond the fourth window
    assert passages.tokens[1] > 600 and uncovered <= passages.dropped[1] <= uncovered + 5  # it ends at a word's end
    assert not any(
        long_text[long_text.index(p) - 1].isalnum() and p[0].isalnum() for p in pieces[1:]
    )  # none begins mid-word
    assert passages.dropped[0] == 0


def test_every_passage_of_a_long_document_carries_its_title_and_still_fits_the_window(tokenizer):
    """A judgment's later pages say nothing of its case name; each passage repeats the title in the room it takes, so
    the windows cut the body and no passage grows past the window. Short texts and overlong titles stay as they were."""
    title = "Acme Supply Ltd v Borealis Trading plc"
    body = CLAUSE * 40
    short = "Acme v Borealis a short clause"
    passages = split_passages(
        [f"{title} {body}", short, f"{title * 4} {body}"],
        tokenizer,
        window=128,
        overlap=16,
        max_passages=8,
        titles=[title, "Acme v Borealis", title * 4],
    )
    pieces = [t for t, d in zip(passages.texts, passages.doc) if d == 0]
    assert len(pieces) > 4 and all(p.startswith(f"{title} ") for p in pieces)
    assert all(len(tokenizer(p, add_special_tokens=False)["input_ids"]) <= 128 for p in pieces)
    assert pieces[0] == f"{title} {body}"[: len(pieces[0])]  # the first passage is the text's own beginning
    assert all(p[len(title) + 1 :] in body for p in pieces)  # the rest: spans of the body
    assert passages.texts[len(pieces)] == short  # within the window: whole, as before
    overlong = [t for t, d in zip(passages.texts, passages.doc) if d == 2]
    assert sum(p.startswith(title * 4) for p in overlong) == 1  # a title over a quarter of the window is not repeated
    untitled = split_passages([f"{title} {body}"], tokenizer, window=128, overlap=16, max_passages=8)
    assert sum(t.startswith(title) for t in untitled.texts) == 1


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


GARDEN = (
    "Tomatoes need full sun, rich soil and steady watering; mulch keeps the roots cool in summer. "
    "Prune the side shoots weekly and stake the plants before the fruit sets. "
)
FACT = (
    "The Zephyr-9 turbine blade is forged from a nickel superalloy to survive the heat of the exhaust. Each Zephyr-9 "
    "blade is cast as a single crystal, coated with a ceramic thermal barrier and cooled by air through internal "
    "channels, so the turbine blade keeps its strength near its melting point. "
)


def test_a_fact_deep_in_a_long_document_is_found_by_its_best_passage_and_missed_by_the_first_window(base_model_ref):
    """The user's case: the answer sits after the first 256 tokens. Reading the first window ranks the document last;
    scoring it by its best passage ranks it first. Real model, real search."""
    from tasks.config import PassageConfig
    from tasks.embeddings import load_model
    from tasks.evaluate import dense_metrics
    from tasks.passages import encode_passages, encode_queries

    model = load_model(base_model_ref, "cpu")
    corpus = {
        "long": GARDEN * 12 + FACT,
        "engines": "Jet engines compress air, burn fuel and push hot exhaust out the back.",
        "wind": "Wind turbines turn the kinetic energy of moving air into electricity.",
        "steel": "Stainless steel resists corrosion because of the chromium it contains.",
    }
    query = ["What material is the Zephyr-9 turbine blade made of?"]
    qrels = {"q": {"long": 1}}
    scores = {}
    for name, cfg in (("first_window", PassageConfig(split=False)), ("max_passage", PassageConfig())):
        docs, doc_of = encode_passages(model, list(corpus.values()), cfg, 8, "documents")
        (macro, _), _, _ = dense_metrics(
            encode_queries(model, query, cfg, 8), docs, ["q"], list(corpus), qrels, [1, 10, 100], [], doc_of
        )
        scores[name] = macro
        assert len(doc_of) == (4 if name == "first_window" else 4 + int(np.bincount(doc_of)[0]) - 1)
    assert scores["max_passage"]["mrr@10"] == 1.0
    assert scores["first_window"]["mrr@10"] < 0.5
    # the short documents are read exactly as before: one passage each, the same vectors
    docs, doc_of = encode_passages(model, list(corpus.values())[1:], PassageConfig(), 8, "documents")
    plain, _ = encode_passages(model, list(corpus.values())[1:], PassageConfig(split=False), 8, "documents")
    assert len(doc_of) == 3 and np.allclose(docs, plain, atol=1e-6)


def test_a_long_query_is_the_mean_of_its_passages_and_a_short_one_is_unchanged(base_model_ref):
    from tasks.config import PassageConfig
    from tasks.embeddings import load_model
    from tasks.passages import encode_passages, encode_queries

    model = load_model(base_model_ref, "cpu")
    long_query, short_query = GARDEN * 12 + FACT, "nickel superalloy turbine blade"
    vectors = encode_queries(model, [long_query, short_query], PassageConfig(), 8)
    assert vectors.shape == (2, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    passages, rows = encode_passages(model, [long_query], PassageConfig(), 8, "q")
    assert len(rows) > 1
    mean = passages.mean(axis=0)
    assert np.allclose(vectors[0], mean / np.linalg.norm(mean), atol=1e-5)
    plain, _ = encode_passages(model, [short_query], PassageConfig(split=False), 8, "q")
    assert np.allclose(vectors[1], plain[0], atol=1e-6)


def test_training_texts_are_the_passages_that_best_match_each_query(tmp_path, base_model_ref):
    """A long relevant document trains as its passage that holds the answer, a long negative as its passage closest to
    the query, a short document as itself; every training text fits the model's limit."""
    import polars as pl

    from tasks.config import PassageConfig
    from tasks.passages import chooser_for
    from tasks.storage import write_frame
    from tasks.train import training_frame

    corpus = pl.DataFrame(
        {
            "doc_id": ["long", "other", "short"],
            "text": [
                GARDEN * 12 + FACT,
                FACT.replace("Zephyr-9", "Boreas-4") + " " + GARDEN * 12,
                "Stainless steel resists corrosion.",
            ],
        }
    )
    pairs = pl.DataFrame(
        {
            "query_id": ["q1", "q2"],
            "doc_id": ["long", "short"],
            "anchor": ["What is the Zephyr-9 turbine blade made of?", "Why does stainless steel not rust?"],
            "positive": [corpus["text"][0], corpus["text"][2]],
        }
    )
    negatives = pl.DataFrame(
        {"query_id": ["q1", "q2"], "positive_id": ["long", "short"], "slot": [0, 0], "negative_id": ["other", "long"]}
    )
    corpus_ref = write_frame(corpus, str(tmp_path), "corpus")
    choose = chooser_for(base_model_ref, corpus_ref, pairs, str(tmp_path), PassageConfig(), 8, "cpu")
    assert choose is not None and choose.split
    frame = training_frame(pairs, negatives, corpus, choose)
    assert frame["positive"][0].endswith(FACT.strip())  # the passage holding the answer, not the first window
    assert frame["positive"][1] == "Stainless steel resists corrosion."  # short: whole
    assert (
        "Boreas-4" in frame["negative_1"][0]
    )  # the negative's passage nearest the query, not its first window by luck
    # q2's negative is a passage of the long document (the metallurgy one, nearer to steel than the gardening)
    assert frame["negative_1"][1] in corpus["text"][0] and frame["negative_1"][1].endswith(FACT.strip())
    tokenizer = choose_tokenizer(base_model_ref)
    assert (
        max(
            len(tokenizer(t, add_special_tokens=False)["input_ids"])
            for t in frame.to_dict(as_series=False)["positive"] + frame["negative_1"].to_list()
        )
        <= 254
    )
    assert (
        training_frame(pairs, negatives, corpus)["positive"][0] == corpus["text"][0]
    )  # without a chooser: whole texts


def choose_tokenizer(ref):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(ref.path, local_files_only=True)


def test_the_dev_evaluation_that_picks_checkpoints_reads_long_documents_by_their_best_passage(base_model_ref):
    """The dev score that chooses checkpoints and auto recipes is the gate's score: a long relevant document whose answer
    lies past the first window counts as found (NDCG 1), where a first-window reading misses it."""
    from tasks.config import PassageConfig
    from tasks.embeddings import load_model
    from tasks.train_records import DevSet
    from tasks.trainer_parts import DevEvaluator

    model = load_model(base_model_ref, "cpu")
    corpus = {
        "long": GARDEN * 12 + FACT,
        "engines": "Jet engines compress air, burn fuel and push hot exhaust out the back.",
        "wind": "Wind turbines turn the kinetic energy of moving air into electricity.",
        "steel": "Stainless steel resists corrosion because of the chromium it contains.",
    }
    dev = DevSet(
        queries={"q": "What material is the Zephyr-9 turbine blade made of?"},
        corpus=corpus,
        relevant={"q": {"long"}},
        passages=PassageConfig(),
    )
    scores = DevEvaluator(dev, batch_size=8)(model)
    assert scores["dev_cosine_ndcg@10"] == 1.0 and scores["dev_cosine_mrr@10"] == 1.0
    first_window = DevEvaluator(dev.model_copy(update={"passages": PassageConfig(split=False)}), batch_size=8)(model)
    assert first_window["dev_cosine_mrr@10"] < 0.5


def test_a_long_query_trains_as_its_passage_about_the_positive_not_its_first_window(tmp_path, base_model_ref):
    """A whole judgment used as a query: its first window is preamble; the pair is about the part that matches the
    relevant document, so that part is the training anchor. A short query stays itself."""
    import polars as pl

    from tasks.config import PassageConfig
    from tasks.passages import chooser_for
    from tasks.storage import write_frame
    from tasks.train import training_frame

    long_query = GARDEN * 12 + FACT
    corpus = pl.DataFrame(
        {
            "doc_id": ["blade", "steel"],
            "text": [FACT.replace("Zephyr-9", "Zephyr-10"), "Stainless steel resists corrosion."],
        }
    )
    pairs = pl.DataFrame(
        {
            "query_id": ["q1", "q2"],
            "doc_id": ["blade", "steel"],
            "anchor": [long_query, "Why does stainless steel not rust?"],
            "positive": corpus["text"].to_list(),
        }
    )
    negatives = pl.DataFrame(
        {"query_id": ["q1", "q2"], "positive_id": ["blade", "steel"], "slot": [0, 0], "negative_id": ["steel", "blade"]}
    )
    corpus_ref = write_frame(corpus, str(tmp_path), "corpus")
    choose = chooser_for(base_model_ref, corpus_ref, pairs, str(tmp_path), PassageConfig(), 8, "cpu")
    assert choose is not None and choose.split  # no document is long, the query is
    frame = training_frame(pairs, negatives, corpus, choose)
    anchor = frame["anchor"][0]
    assert anchor.endswith(FACT.strip()) and anchor in long_query and anchor != long_query
    assert not long_query.startswith(anchor)  # not the first window
    assert frame["anchor"][1] == "Why does stainless steel not rust?"
    assert frame["positive"].to_list() == corpus["text"].to_list()  # short documents: whole
    tokenizer = choose_tokenizer(base_model_ref)
    assert len(tokenizer(anchor, add_special_tokens=False)["input_ids"]) <= 254
    assert training_frame(pairs, negatives, corpus)["anchor"][0] == long_query  # without a chooser: whole texts
