"""Long texts as passages, and the one rule that scores a document by its passages: its best one.

An encoder reads at most `max_seq_length` tokens and silently drops the rest, so a document of thousands of words
would be judged by its first paragraph. Here a document longer than the limit becomes overlapping windows of the
model's own tokens (a bounded number of them per document), each window is embedded, and a document scores as its
best window (max-passage, Dai & Callan 2019, https://arxiv.org/abs/1905.09217). Texts within the limit stay one
passage, so short-text data is scored exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Passages:
    texts: list[str]  # passage texts, documents in order, each document's passages in order
    doc: np.ndarray  # int64, the document row each passage belongs to
    tokens: np.ndarray  # int64, tokens of each document (without special tokens)
    dropped: np.ndarray  # int64, tokens of each document beyond max_passages windows (0 for most)

    @property
    def split(self) -> bool:
        """True when some document became more than one passage."""
        return len(self.texts) > len(self.tokens)


def window_starts(tokens: int, window: int, overlap: int, max_passages: int) -> list[int]:
    """Start offsets of the windows covering `tokens` tokens: `window` long, `overlap` shared, at most max_passages."""
    if window <= overlap:
        raise ValueError(f"passage overlap ({overlap}) must be smaller than the passage length ({window})")
    if tokens <= window:
        return [0]
    stride = window - overlap
    starts = list(range(0, tokens - overlap, stride))
    return starts[:max_passages]


def split_passages(texts: list[str], tokenizer, window: int, overlap: int, max_passages: int) -> Passages:
    """Cut each text into windows of `window` tokens of `tokenizer` (the encoder's own), as text spans of the original.

    `window` counts content tokens: pass the model's max_seq_length minus its special tokens.
    """
    encoded = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, return_attention_mask=False,
                        return_token_type_ids=False, verbose=False)
    passages: list[str] = []
    doc: list[int] = []
    tokens = np.zeros(len(texts), dtype=np.int64)
    dropped = np.zeros(len(texts), dtype=np.int64)
    for row, (text, offsets) in enumerate(zip(texts, encoded["offset_mapping"])):
        tokens[row] = len(offsets)
        starts = window_starts(len(offsets), window, overlap, max_passages)
        if len(starts) == 1:
            passages.append(text)
            doc.append(row)
            continue
        for start in starts:
            end = min(start + window, len(offsets))
            passages.append(text[offsets[start][0]:offsets[end - 1][1]])
            doc.append(row)
        dropped[row] = max(0, len(offsets) - (starts[-1] + window))
    return Passages(passages, np.asarray(doc, dtype=np.int64), tokens, dropped)


def best_passage_search(query_vectors: np.ndarray, passage_vectors: np.ndarray, passage_doc: np.ndarray, k: int,
                        max_per_doc: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k documents per query, each scored by its best passage: ([queries, k] scores, document rows; -1 pads).

    Exact: with at most `max_per_doc` passages per document, a document in the true top k has its best passage among
    the top k × max_per_doc passages, so that many are searched and collapsed to documents.
    """
    from tasks.embeddings import exact_search

    scores, indices = exact_search(query_vectors, passage_vectors, k * max(1, max_per_doc))
    out_scores = np.full((len(query_vectors), k), -np.inf, dtype=np.float32)
    out_docs = np.full((len(query_vectors), k), -1, dtype=np.int64)
    for q in range(len(query_vectors)):
        docs = passage_doc[indices[q][indices[q] >= 0]]
        first = np.sort(np.unique(docs, return_index=True)[1])[:k]  # hits are best first: a document's first is its best
        out_docs[q, :len(first)] = docs[first]
        out_scores[q, :len(first)] = scores[q][first]
    return out_scores, out_docs


def length_stats(tokens: np.ndarray, limit: int) -> dict:
    """Token lengths of a set of texts against the model's limit: what a person checks before trusting a run."""
    if len(tokens) == 0:
        return {"texts": 0, "median": 0, "p90": 0, "max": 0, "over_limit": 0, "over_limit_share": 0.0, "limit": limit}
    over = int((tokens > limit).sum())
    return {"texts": int(len(tokens)), "median": int(np.median(tokens)), "p90": int(np.percentile(tokens, 90)),
            "max": int(tokens.max()), "over_limit": over, "over_limit_share": round(over / len(tokens), 4), "limit": limit}
