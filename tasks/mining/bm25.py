"""BM25 strategy: lexically close documents.

Input schema: MiningInput (query texts, document texts, the pairs as row numbers).
Output schema: Candidates "bm25" — each query's top-k documents by BM25 and each pair's positive score.
Args: k — candidates per query; params BM25Params: engine rank_bm25 (BM25Okapi, pure Python, fine for small corpora)
or bm25s (scores kept in a sparse matrix, Lucene IDF; linear in the postings of the query's terms, not in the corpus),
auto picking bm25s from `bm25s_above` documents. Both use the same tokenizer, so they rank alike.
Reference: Robertson & Zaragoza, "The Probabilistic Relevance Framework: BM25 and Beyond" (2009),
https://doi.org/10.1561/1500000019; Lù, "BM25S: Orders of magnitude faster lexical search via eager sparse scoring"
(2024), https://arxiv.org/abs/2407.03618.
Example: bm25_candidates(MiningInput(["cap on damages"], docs, np.array([0]), np.array([12])), k=50)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import numpy as np
from tqdm.auto import tqdm

from tasks.config import BM25Params
from tasks.mining.candidates import Candidates, MiningInput

logger = logging.getLogger(__name__)

TOKEN = re.compile(r"\w+")


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


def scorer(doc_texts: list[str], engine: str) -> Callable[[list[str]], np.ndarray]:
    """A function from query tokens to one BM25 score per document, by the chosen engine."""
    tokens = [tokenize(t) for t in tqdm(doc_texts, desc="bm25 tokenize", unit="doc", mininterval=2)]
    if engine == "bm25s":
        import bm25s

        index = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
        index.index(tokens, show_progress=False)
        vocab = index.vocab_dict

        def score(query: list[str]) -> np.ndarray:
            known = [t for t in query if t in vocab]  # a term no document has scores nothing
            return index.get_scores(known) if known else np.zeros(len(doc_texts), dtype=np.float32)

        return score
    from rank_bm25 import BM25Okapi

    okapi = BM25Okapi(tokens)
    return lambda query: okapi.get_scores(query)


def pick_engine(params: BM25Params, n_docs: int) -> str:
    if params.engine != "auto":
        return params.engine
    return "bm25s" if n_docs > params.bm25s_above else "rank_bm25"


def bm25_search(
    query_texts: list[str], doc_texts: list[str], k: int, engine: str, wanted: dict[int, list[int]] | None = None
) -> tuple[np.ndarray, np.ndarray, dict[tuple[int, int], float]]:
    """Top-k (indices, scores) per query, and the score of every (query, document) listed in `wanted`."""
    score = scorer(doc_texts, engine)
    k = min(k, len(doc_texts))
    indices = np.empty((len(query_texts), k), dtype=np.int64)
    scores = np.empty((len(query_texts), k), dtype=np.float32)
    asked: dict[tuple[int, int], float] = {}
    for query, text in enumerate(tqdm(query_texts, desc=f"bm25 ({engine})", unit="query", mininterval=2)):
        row = np.asarray(score(tokenize(text)), dtype=np.float32)
        top = top_k(row, k)
        indices[query], scores[query] = top, row[top]
        for doc in (wanted or {}).get(query, ()):
            asked[(query, doc)] = float(row[doc])
    return indices, scores, asked


def bm25_candidates(inp: MiningInput, k: int, params: BM25Params = BM25Params()) -> Candidates:
    engine = pick_engine(params, len(inp.doc_texts))

    def compute():
        wanted: dict[int, list[int]] = {}
        for query, doc in zip(inp.pair_query.tolist(), inp.pair_doc.tolist()):
            wanted.setdefault(query, []).append(doc)
        return bm25_search(inp.query_texts, inp.doc_texts, k, engine, wanted)

    indices, scores, asked = inp.shared(f"bm25:{engine}:{k}", compute)
    positive_scores = np.array([asked[(q, d)] for q, d in zip(inp.pair_query.tolist(), inp.pair_doc.tolist())], dtype=np.float32)
    return Candidates("bm25", indices, scores, positive_scores)
