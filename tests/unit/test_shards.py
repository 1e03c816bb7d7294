"""Corpus encoding and exact search in shards (the Dask engine's units of work) give the local engine's results."""

from __future__ import annotations

import numpy as np
import pytest

from tasks import shards
from tasks.config import PassageConfig
from tasks.embeddings import corpus_passage_embeddings, flat_search, load_model, vectors_path
from tasks.ingest import read_beir
from tasks.storage import write_frame


def test_shards_tile_the_corpus_and_merge_to_the_local_vectors(tiny_beir, tmp_path, base_model_ref):
    assert shards.shard_bounds(16, 5) == [(0, 5), (5, 10), (10, 15), (15, 16)]
    assert shards.shard_bounds(0, 5) == []
    corpus = read_beir(tiny_beir, ["train"]).corpus
    ref = write_frame(corpus, tmp_path / "data", "corpus")
    model = load_model(base_model_ref, "cpu")
    cfg = PassageConfig(length=16, overlap=4)  # short windows, so documents split into several passages
    local, local_doc = corpus_passage_embeddings(model, base_model_ref, ref, str(tmp_path / "local"), 8, cfg)
    parts = [
        shards.encode_shard(base_model_ref, ref, cfg, 8, a, b, str(tmp_path / "dask"), threads=1, device="cpu")
        for a, b in shards.shard_bounds(len(corpus), 5)
    ]
    with pytest.raises(ValueError, match="do not cover"):
        shards.merge_shards(base_model_ref, ref, cfg, str(tmp_path / "dask"), parts[1:])
    merged = shards.merge_shards(base_model_ref, ref, cfg, str(tmp_path / "dask"), parts[::-1])  # any order
    assert merged == str(vectors_path(model, base_model_ref, ref, str(tmp_path / "dask"), cfg))
    vectors, doc = corpus_passage_embeddings(model, base_model_ref, ref, str(tmp_path / "dask"), 8, cfg)  # a cache hit
    assert len(local) > len(corpus) and np.array_equal(doc, local_doc)
    assert np.abs(vectors - local).max() < 1e-5


def test_a_search_in_query_shards_ranks_exactly_as_one_search(tmp_path):
    # 500 random queries over 3,000 documents: FAISS alone ranks two of them differently when searched in shards of
    # 100 (its scores' last bits depend on how many queries share a matrix product); the search must not
    rng = np.random.default_rng(0)
    docs = rng.standard_normal((3000, 384)).astype(np.float32)
    queries = rng.standard_normal((500, 384)).astype(np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    query_path = shards.write_array(tmp_path / "queries.npy", queries)
    doc_path = shards.write_array(tmp_path / "documents.npy", docs)
    whole_scores, whole_indices = flat_search(queries, docs, 100)
    exact = queries.astype(np.float64) @ docs.astype(np.float64).T
    assert np.array_equal(whole_indices, np.argsort(-exact, axis=1, kind="stable")[:, :100])  # the true top 100
    for size in (100, 7):
        parts = [
            shards.search_shard(query_path, doc_path, a, b, 100, threads=1) for a, b in shards.shard_bounds(500, size)
        ]
        with pytest.raises(ValueError, match="do not cover"):
            shards.merge_search(parts[:-1], 500)
        scores, indices = shards.merge_search(parts[::-1], 500)  # any order
        assert np.array_equal(indices, whole_indices) and np.array_equal(scores, whole_scores)
