"""BM25 strategy: lexically close documents.

Input schema: MiningInput (query texts, document texts, the pairs as row numbers).
Output schema: Candidates "bm25" — each query's top-k documents by BM25 and each pair's positive score.
Args: k — candidates per query; params BM25Params: engine bm25s (the default: per-term scores kept in a sparse matrix,
a query costs the postings of its terms, so long documents and long queries take seconds) or rank_bm25 (BM25Okapi, pure
Python, a loop over every query term × every document: minutes on long texts). Both use the same tokenizer, the same
k1, b and Lucene IDF, so they give the same top-k.
Reference: Robertson & Zaragoza, "The Probabilistic Relevance Framework: BM25 and Beyond" (2009),
https://doi.org/10.1561/1500000019; Lù, "BM25S: Orders of magnitude faster lexical search via eager sparse scoring"
(2024), https://arxiv.org/abs/2407.03618.
Example: bm25_candidates(MiningInput(["cap on damages"], docs, np.array([0]), np.array([12])), k=50)
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from typing import Literal

import numpy as np
from tqdm.auto import tqdm

from tasks.mining.candidates import Candidates, MiningInput
from tasks.mining.strategy import Strategy, StrategyParams

logger = logging.getLogger(__name__)

TOKEN = re.compile(r"\w+")
SCORES_PER_BATCH = 1 << 24  # query × document scores held at once (128 MiB of float64)


class BM25Params(StrategyParams):
    # bm25s: a sparse matrix, seconds on long texts; rank_bm25: pure Python, the same top-k, minutes on long texts
    engine: Literal["bm25s", "rank_bm25"] = "bm25s"


def tokenize(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def top_k(row: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first; ties go to the earlier document, so results repeat exactly."""
    if k < row.shape[0]:
        part = np.argpartition(-row, k - 1)[:k]
        threshold = row[part].min()
        part = np.flatnonzero(row >= threshold)  # every document tied at the boundary, so the tie-break is by index
    else:
        part = np.arange(row.shape[0])
    order = np.lexsort((part, -row[part]))
    return part[order][:k]


K1, B = 1.5, 0.75  # BM25's term-frequency saturation and length normalisation (Robertson & Zaragoza's defaults)


def _lucene_okapi():
    """rank-bm25's BM25Okapi with Lucene's IDF, log(1 + (N - df + 0.5) / (df + 0.5)), the one bm25s uses.

    BM25Okapi's own IDF is negative for terms in more than half the documents and floors those at 0.25 × the mean IDF;
    with one IDF for both engines their scores differ only by BM25Okapi's constant (k1 + 1) factor, so they rank alike.
    """
    from rank_bm25 import BM25Okapi

    class LuceneOkapi(BM25Okapi):
        def _calc_idf(self, nd):
            self.idf = {term: math.log(1 + (self.corpus_size - df + 0.5) / (df + 0.5)) for term, df in nd.items()}

    return LuceneOkapi


def _rank_bm25_scorer(tokens: list[list[str]]) -> Callable[[list[list[str]]], np.ndarray]:
    okapi = _lucene_okapi()(tokens, k1=K1, b=B)
    return lambda queries: np.vstack([okapi.get_scores(query) for query in queries])


def _bm25s_scorer(tokens: list[list[str]]) -> Callable[[list[list[str]]], np.ndarray]:
    """bm25s builds the [documents, terms] matrix of per-term BM25 scores once; a batch of queries is then one sparse
    product with their term counts (a repeated query term counts again, as in rank-bm25), linear in the postings of
    the queries' terms rather than in corpus × query length."""
    import bm25s
    from scipy import sparse

    index = bm25s.BM25(k1=K1, b=B, method="lucene", dtype="float64")  # float64: the same near-ties as rank-bm25
    index.index(tokens, show_progress=False)
    vocab = index.vocab_dict
    n_docs, n_terms = index.scores["num_docs"], len(index.scores["indptr"]) - 1
    by_term = sparse.csc_matrix(
        (index.scores["data"], index.scores["indices"], index.scores["indptr"]), shape=(n_docs, n_terms)
    )
    term_by_doc = by_term.T.tocsr()

    def score(queries: list[list[str]]) -> np.ndarray:
        rows, cols = [], []
        for row, query in enumerate(queries):
            known = [vocab[t] for t in query if t in vocab]  # a term no document has scores nothing
            rows += [row] * len(known)
            cols += known
        counts = sparse.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(queries), n_terms))  # duplicates sum
        return (counts @ term_by_doc).toarray()

    return score


def scorer(doc_texts: list[str], engine: str) -> Callable[[list[list[str]]], np.ndarray]:
    """A function from a batch of tokenized queries to their BM25 scores, [queries, documents], by the chosen engine."""
    tokens = [tokenize(t) for t in tqdm(doc_texts, desc="bm25 tokenize", unit="doc", mininterval=2)]
    if engine == "bm25s":
        return _bm25s_scorer(tokens)
    if engine == "rank_bm25":
        return _rank_bm25_scorer(tokens)
    raise ValueError(f"BM25 engine must be 'bm25s' or 'rank_bm25', got {engine!r}")


def bm25_search(
    query_texts: list[str],
    doc_texts: list[str],
    k: int,
    engine: str = "bm25s",
    wanted: dict[int, list[int]] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[tuple[int, int], float]]:
    """Top-k (indices, scores) per query, and the score of every (query, document) listed in `wanted`."""
    score = scorer(doc_texts, engine)
    k = min(k, len(doc_texts))
    indices = np.empty((len(query_texts), k), dtype=np.int64)
    scores = np.empty((len(query_texts), k), dtype=np.float32)
    asked: dict[tuple[int, int], float] = {}
    batch = max(1, SCORES_PER_BATCH // max(len(doc_texts), 1))  # a dense [batch, documents] block at a time
    starts = range(0, len(query_texts), batch)
    for start in tqdm(starts, desc=f"bm25 ({engine})", unit="batch", mininterval=2, disable=len(starts) < 2):
        block = score([tokenize(t) for t in query_texts[start : start + batch]])
        for offset, row in enumerate(block):
            query = start + offset
            top = top_k(row, k)
            indices[query], scores[query] = top, row[top]
            for doc in (wanted or {}).get(query, ()):
                asked[(query, doc)] = float(row[doc])
    return indices, scores, asked


def bm25_candidates(inp: MiningInput, k: int, params: BM25Params = BM25Params()) -> Candidates:
    engine = params.engine

    def compute():
        wanted: dict[int, list[int]] = {}
        for query, doc in zip(inp.pair_query.tolist(), inp.pair_doc.tolist()):
            wanted.setdefault(query, []).append(doc)
        return bm25_search(inp.query_texts, inp.doc_texts, k, engine, wanted)

    indices, scores, asked = inp.shared(f"bm25:{engine}:{k}", compute)
    positive_scores = np.array(
        [asked[(q, d)] for q, d in zip(inp.pair_query.tolist(), inp.pair_doc.tolist())], dtype=np.float32
    )
    return Candidates("bm25", indices, scores, positive_scores)


STRATEGY = Strategy("bm25", BM25Params, bm25_candidates)
