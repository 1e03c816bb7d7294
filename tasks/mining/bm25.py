"""BM25 candidates: lexically close documents.

Input: query texts, document texts, the (query row, document row) of every training pair.
Output: Candidates with each query's top-k documents by BM25 Okapi and each pair's positive score.
Args: k — candidates per query.
Reference: Robertson & Zaragoza, "The Probabilistic Relevance Framework: BM25 and Beyond" (2009),
https://doi.org/10.1561/1500000019; implementation rank-bm25 (BM25Okapi, k1=1.5, b=0.75).
Example: bm25_candidates(["cap on damages"], docs, np.array([0]), np.array([12]), k=50)
"""

from __future__ import annotations

import re

import numpy as np
from tqdm.auto import tqdm

from tasks.mining.candidates import Candidates

TOKEN = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def bm25_candidates(
    query_texts: list[str], doc_texts: list[str], pair_query: np.ndarray, pair_doc: np.ndarray, k: int
) -> Candidates:
    from rank_bm25 import BM25Okapi

    bm25 = BM25Okapi([tokenize(t) for t in doc_texts])
    k = min(k, len(doc_texts))
    indices = np.empty((len(query_texts), k), dtype=np.int64)
    scores = np.empty((len(query_texts), k), dtype=np.float32)
    positive_scores = np.empty(len(pair_query), dtype=np.float32)
    pairs_of_query: dict[int, list[int]] = {}
    for pair, query in enumerate(pair_query):
        pairs_of_query.setdefault(int(query), []).append(pair)
    for query, text in enumerate(tqdm(query_texts, desc="bm25", unit="query")):
        row = bm25.get_scores(tokenize(text)).astype(np.float32)
        # stable sort on (-score, index): ties go to the earlier document, so results repeat exactly
        top = np.argsort(-row, kind="stable")[:k]
        indices[query], scores[query] = top, row[top]
        for pair in pairs_of_query.get(query, ()):
            positive_scores[pair] = row[pair_doc[pair]]
    return Candidates("bm25", indices, scores, positive_scores)
