"""Dense candidates: documents the base model already finds similar.

Input: unit-normalised query and document embeddings, the (query row, document row) of every training pair.
Output: Candidates with each query's top-k documents by cosine similarity and each pair's positive score.
Args: k — candidates per query.
Reference: Karpukhin et al., "Dense Passage Retrieval for Open-Domain Question Answering" (2020),
https://arxiv.org/abs/2004.04906; search is exact (faiss.IndexFlatIP).
Example: dense_candidates(query_vectors, doc_vectors, np.array([0]), np.array([12]), k=50)
"""

from __future__ import annotations

import numpy as np

from tasks.embeddings import exact_search
from tasks.mining.candidates import Candidates


def dense_candidates(
    query_vectors: np.ndarray, doc_vectors: np.ndarray, pair_query: np.ndarray, pair_doc: np.ndarray, k: int
) -> Candidates:
    scores, indices = exact_search(query_vectors, doc_vectors, k)
    positive_scores = np.einsum("ij,ij->i", query_vectors[pair_query], doc_vectors[pair_doc]).astype(np.float32)
    return Candidates("dense", indices.astype(np.int64), scores, positive_scores)
