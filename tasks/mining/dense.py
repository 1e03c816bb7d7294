"""Dense strategy: documents the base model already finds similar.

Input schema: MiningInput with unit-normalised query and document embeddings.
Output schema: Candidates "dense" — each query's top-k documents by cosine similarity and each pair's positive score.
Args: k — candidates per query; params DenseParams: index flat (exact faiss.IndexFlatIP), ivf (IndexIVFFlat, nprobe
lists visited) or hnsw (IndexHNSWFlat); auto is exact up to `exact_up_to` documents and IVF above.
Reference: Karpukhin et al., "Dense Passage Retrieval for Open-Domain Question Answering" (2020),
https://arxiv.org/abs/2004.04906; Johnson et al., "Billion-scale similarity search with GPUs" (2017),
https://arxiv.org/abs/1702.08734 (FAISS, IVF).
Example: dense_candidates(MiningInput(queries, docs, pair_query, pair_doc, query_vectors, doc_vectors), k=50)
"""

from __future__ import annotations

import logging
import math
from typing import Literal

import numpy as np
from pydantic import Field

from tasks.embeddings import exact_search
from tasks.mining.candidates import Candidates, MiningInput
from tasks.mining.strategy import Strategy, StrategyParams

logger = logging.getLogger(__name__)


class DenseParams(StrategyParams):
    index: Literal["auto", "flat", "ivf", "hnsw"] = "auto"  # auto = exact IndexFlatIP up to exact_up_to docs, IVF above
    exact_up_to: int = Field(200_000, ge=1)  # corpus size from which auto switches to an approximate index
    nlist: int | None = Field(None, ge=1)  # IVF lists; None = 4·sqrt(documents)
    nprobe: int = Field(32, ge=1)  # IVF lists visited per query
    hnsw_m: int = Field(32, ge=4)  # HNSW links per node
    ef_search: int = Field(128, ge=1)  # HNSW search breadth


def pick_index(params: DenseParams, n_docs: int) -> str:
    if params.index != "auto":
        return params.index
    return "flat" if n_docs <= params.exact_up_to else "ivf"


def build_index(doc_vectors: np.ndarray, kind: str, params: DenseParams, seed: int = 0):
    """An approximate FAISS inner-product index over the documents: IVF (trained on a seeded sample) or HNSW."""
    import faiss

    n, dim = doc_vectors.shape
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, params.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = params.ef_search
    else:
        nlist = params.nlist or max(1, min(n // 39, int(4 * math.sqrt(n))))  # FAISS wants ≥ 39 training points per list
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(seed).choice(n, size=min(n, nlist * 64), replace=False)
        index.train(doc_vectors[np.sort(sample)])
        index.nprobe = min(params.nprobe, nlist)
    index.add(doc_vectors)
    logger.info("dense index %s over %d documents", kind, n)
    return index


def dense_search(
    query_vectors: np.ndarray, doc_vectors: np.ndarray, k: int, kind: str, params: DenseParams
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, indices) of each query's top-k documents; -1 pads where an approximate index finds fewer."""
    if kind == "flat":  # exact: the same search the evaluation uses
        scores, indices = exact_search(query_vectors, doc_vectors, k)
        return scores, indices.astype(np.int64)
    index = build_index(doc_vectors, kind, params)
    scores, indices = index.search(query_vectors, min(k, doc_vectors.shape[0]))
    return scores, indices.astype(np.int64)


def dense_candidates(inp: MiningInput, k: int, params: DenseParams = DenseParams()) -> Candidates:
    query_vectors, doc_vectors = inp.vectors()
    kind = pick_index(params, doc_vectors.shape[0])
    scores, indices = inp.shared(f"dense:{kind}:{k}", lambda: dense_search(query_vectors, doc_vectors, k, kind, params))
    positive_scores = np.einsum("ij,ij->i", query_vectors[inp.pair_query], doc_vectors[inp.pair_doc]).astype(np.float32)
    return Candidates("dense", indices, scores, positive_scores)


STRATEGY = Strategy("dense", DenseParams, dense_candidates, reads_vectors=True)
