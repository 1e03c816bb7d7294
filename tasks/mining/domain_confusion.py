"""Domain-confusion strategy: documents from the positive's own topic cluster (or category) that are not relevant.

Input schema: MiningInput with unit-normalised query and document embeddings, and doc_metadata when params name a
metadata field.
Output schema: Candidates "domain_confusion", per pair — members of the positive's group ranked by cosine similarity
to the query, with those similarities and the positive's. The group is the positive's k-means cluster, or its value of
the metadata field; a positive without a value gets no candidates.
Args: k — candidates kept per pair; params DomainConfusionParams: field, or clusters (default √documents) and
iterations; the k-means seed is MiningInput.seed (mining.seed).
Reference: Xuan et al., "Hard negative examples are hard, but useful" (ECCV 2020), https://arxiv.org/abs/2007.12749;
clustering with faiss.Kmeans (spherical), Johnson et al. (2017), https://arxiv.org/abs/1702.08734.
Example: domain_confusion_candidates(inp, k=50, params=DomainConfusionParams(clusters=64))
"""

from __future__ import annotations

import logging
import math

import numpy as np
import polars as pl
from pydantic import Field

from tasks.mining.candidates import Candidates, MiningInput
from tasks.mining.strategy import Strategy, StrategyParams

logger = logging.getLogger(__name__)


class DomainConfusionParams(StrategyParams):
    field: str | None = None  # a corpus.jsonl metadata field (e.g. category) that groups documents, instead of k-means
    clusters: int | None = Field(None, ge=2)  # k-means clusters over document embeddings; None = sqrt(documents)
    iterations: int = Field(20, ge=1)  # k-means iterations


def cluster_documents(doc_vectors: np.ndarray, clusters: int, iterations: int, seed: int) -> np.ndarray:
    """The k-means cluster of every document (spherical k-means: centroids re-normalised, cosine assignment)."""
    import faiss

    kmeans = faiss.Kmeans(doc_vectors.shape[1], clusters, niter=iterations, seed=seed, spherical=True, verbose=False)
    kmeans.train(doc_vectors)
    _, labels = kmeans.index.search(doc_vectors, 1)
    return labels[:, 0]


def metadata_groups(inp: MiningInput, field: str) -> np.ndarray:
    """The group number of every document by its value of a metadata field (-1: the document has none)."""
    values = None if inp.doc_metadata is None else inp.doc_metadata.filter(pl.col("key") == field)
    if values is None or values.height == 0:
        raise ValueError(
            f"mining.strategies: domain_confusion groups by the metadata field {field!r}, but no document "
            f'in the corpus has it (corpus.jsonl: "metadata": {{"{field}": …}})'
        )
    labels = np.full(len(inp.doc_texts), -1, dtype=np.int64)
    numbers: dict[str, int] = {}
    for row, value in values.select("doc_row", "value").iter_rows():
        labels[row] = numbers.setdefault(value, len(numbers))
    return labels


def domain_confusion_candidates(
    inp: MiningInput, k: int, params: DomainConfusionParams = DomainConfusionParams()
) -> Candidates:
    query_vectors, doc_vectors = inp.vectors()
    n_docs = doc_vectors.shape[0]
    seed = inp.seed
    if params.field is not None:
        labels = inp.shared(f"groups:{params.field}", lambda: metadata_groups(inp, params.field))
        source = f"metadata field {params.field!r}: {int((labels < 0).sum())} of {n_docs} documents without a value"
    else:
        clusters = min(params.clusters or max(2, round(math.sqrt(n_docs))), n_docs)
        labels = inp.shared(
            f"kmeans:{clusters}:{params.iterations}:{seed}",
            lambda: cluster_documents(doc_vectors, clusters, params.iterations, seed),
        )
        source = "k-means"
    members = {c: np.flatnonzero(labels == c) for c in np.unique(labels) if c >= 0}
    sizes = np.array([m.size for m in members.values()])
    logger.info(
        "domain confusion: %d groups (%s), median size %d",
        len(members),
        source,
        int(np.median(sizes)) if sizes.size else 0,
    )
    n_pairs = len(inp.pair_query)
    indices = np.full((n_pairs, k), -1, dtype=np.int64)
    scores = np.full((n_pairs, k), np.nan, dtype=np.float32)
    for pair, (query, positive) in enumerate(zip(inp.pair_query.tolist(), inp.pair_doc.tolist())):
        if labels[positive] < 0:
            continue
        docs = members[labels[positive]]
        sims = doc_vectors[docs] @ query_vectors[query]
        order = np.lexsort((docs, -sims))[:k]
        indices[pair, : order.size], scores[pair, : order.size] = docs[order], sims[order]
    positive_scores = np.einsum("ij,ij->i", query_vectors[inp.pair_query], doc_vectors[inp.pair_doc]).astype(np.float32)
    return Candidates("domain_confusion", indices, scores, positive_scores, per_pair=True)


STRATEGY = Strategy("domain_confusion", DomainConfusionParams, domain_confusion_candidates, reads_vectors=True)
