"""Long texts as passages, and the one rule that scores a document by its passages: its best one.

An encoder reads at most `max_seq_length` tokens and silently drops the rest, so a document of thousands of words
would be judged by its first paragraph. Here a document longer than the limit becomes overlapping windows of the
model's own tokens (a bounded number of them per document), each window is embedded, and a document scores as its
best window (max-passage, Dai & Callan 2019, https://arxiv.org/abs/1905.09217). Texts within the limit stay one
passage, so short-text data is scored exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tasks.config import PassageConfig


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
    """Start offsets of the windows covering `tokens` tokens: `window` long, sharing at least `overlap`, at most
    max_passages.

    As few windows as cover the text with that overlap, spread evenly so the last one ends at the text's end: every
    passage is full length (no stub of a few tokens repeating the one before). A text needing more than max_passages
    keeps its first max_passages windows at the plain stride; the rest is dropped (and counted).
    """
    if window <= overlap:
        raise ValueError(f"passage overlap ({overlap}) must be smaller than the passage length ({window})")
    if tokens <= window:
        return [0]
    stride = window - overlap
    needed = -(-(tokens - overlap) // stride)  # ceil: windows at the plain stride to reach the end
    if needed > max_passages:
        return [stride * i for i in range(max_passages)]
    last = tokens - window
    return sorted({round(i * last / (needed - 1)) for i in range(needed)})


def word_span(text: str, offsets: list[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """Tokens [start, end) narrowed to whole words: a window that begins or ends inside a word ("…indemni|fy") would
    read as other tokens once cut out as text ("fy" is not "##fy"), and could overrun the window. The start moves on to
    the next word's first token, the end back to the last word's end; a window within one word is kept as it is."""

    def starts_word(i: int) -> bool:
        return (
            i == 0
            or i >= len(offsets)
            or offsets[i][0] > offsets[i - 1][1]
            or not (text[offsets[i][0] - 1].isalnum() and text[offsets[i][0]].isalnum())
        )

    first = next((i for i in range(start, end) if starts_word(i)), start)
    stop = next((i for i in range(end, first, -1) if starts_word(i)), end)
    return first, stop


def split_passages(
    texts: list[str], tokenizer, window: int, overlap: int, max_passages: int, titles: list[str] | None = None
) -> Passages:
    """Cut each text into windows of `window` tokens of `tokenizer` (the encoder's own), as text spans of the original.

    `window` counts content tokens: pass the model's max_seq_length minus its special tokens. With `titles` (a text
    that starts with its title, as the corpus joins them), every passage of a split text starts with the title and the
    windows cut the body in the room left, so no passage loses what the document is about. A title longer than a
    quarter of the window is not repeated (the windows then cut the whole text).
    """
    encoded = tokenizer(
        texts,
        add_special_tokens=False,
        return_offsets_mapping=True,
        return_attention_mask=False,
        return_token_type_ids=False,
        verbose=False,
    )
    passages: list[str] = []
    doc: list[int] = []
    tokens = np.zeros(len(texts), dtype=np.int64)
    dropped = np.zeros(len(texts), dtype=np.int64)
    for row, (text, offsets) in enumerate(zip(texts, encoded["offset_mapping"])):
        tokens[row] = len(offsets)
        if len(offsets) <= window:
            passages.append(text)
            doc.append(row)
            continue
        title = (titles[row] if titles else "").strip()
        head = sum(1 for start, _ in offsets if start < len(title)) if title and text.startswith(title) else 0
        if head == 0 or head > window // 4 or head >= len(offsets):
            title, head = "", 0
        body = offsets[head:]
        room = window - head
        last = 0
        for start in window_starts(len(body), room, min(overlap, room - 1), max_passages):
            start, end = word_span(text, body, start, min(start + room, len(body)))
            span = text[body[start][0] : body[end - 1][1]]
            passages.append(f"{title} {span}" if title else span)
            doc.append(row)
            last = end
        dropped[row] = len(body) - last
    return Passages(passages, np.asarray(doc, dtype=np.int64), tokens, dropped)


def best_passage_search(
    query_vectors: np.ndarray, passage_vectors: np.ndarray, passage_doc: np.ndarray, k: int, max_per_doc: int
) -> tuple[np.ndarray, np.ndarray]:
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
        first = np.sort(np.unique(docs, return_index=True)[1])[
            :k
        ]  # hits are best first: a document's first is its best
        out_docs[q, : len(first)] = docs[first]
        out_scores[q, : len(first)] = scores[q][first]
    return out_scores, out_docs


def content_window(model, cfg: PassageConfig) -> int:
    """Tokens of text one passage holds: the configured length, never more than the model reads besides its special
    tokens (a longer passage would be cut by the encoder again)."""
    limit = model.max_seq_length - model.tokenizer.num_special_tokens_to_add(pair=False)
    return min(cfg.length or limit, limit)


def model_passages(model, texts: list[str], cfg: PassageConfig, titles: list[str] | None = None) -> Passages:
    """`texts` cut as `cfg` says for this model (its tokenizer, its limit), each passage under its text's title if
    given; the one place the settings are applied."""
    window = content_window(model, cfg)
    return split_passages(texts, model.tokenizer, window, min(cfg.overlap, window - 1), cfg.max_passages, titles)


def encode_passages(
    model, texts: list[str], cfg: PassageConfig, batch_size: int, desc: str, titles: list[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors of every passage of `texts` (under their `titles`, if given) and the text row of each; one vector
    per text when splitting is off."""
    from tasks.embeddings import encode

    if not cfg.split:
        return encode(model, texts, batch_size, desc), np.arange(len(texts), dtype=np.int64)
    passages = model_passages(model, texts, cfg, titles)
    window = content_window(model, cfg)
    long = int((passages.tokens > window).sum())
    what = (
        f"{desc} ({long} of {len(texts)} longer than {window} tokens: {len(passages.texts)} passages)" if long else desc
    )
    return encode(model, passages.texts, batch_size, what), passages.doc


def pooled(vectors: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """One unit vector per text: the mean of its passages' vectors, re-normalised (a text of one passage keeps its own).

    How a long query is read: a whole judgment used as a query is about all of it, not its first page, and a mean keeps
    one vector per query, so every search stays a single top-k.
    """
    if len(rows) == n:
        return vectors
    out = np.zeros((n, vectors.shape[1]), dtype=np.float64)
    np.add.at(out, rows, vectors)
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out.astype(np.float32)


def encode_queries(model, texts: list[str], cfg: PassageConfig, batch_size: int) -> np.ndarray:
    """Unit vectors of queries; a query longer than the model reads is the pooled mean of its passages."""
    vectors, rows = encode_passages(model, texts, cfg, batch_size, "queries")
    return pooled(vectors, rows, len(texts))


def best_passages(
    query_vectors: np.ndarray,
    pair_query: np.ndarray,
    pair_doc: np.ndarray,
    passage_vectors: np.ndarray,
    passage_doc: np.ndarray,
) -> np.ndarray:
    """For each (query row, document row) pair, the row of that document's passage that scores highest for the query.

    `passage_doc` is sorted (documents in order, as split_passages makes it), so a document's passages are one slice.
    """
    starts = np.searchsorted(passage_doc, pair_doc, side="left")
    counts = np.searchsorted(passage_doc, pair_doc, side="right") - starts
    best = starts.copy()
    for i in np.flatnonzero(counts > 1):
        block = passage_vectors[starts[i] : starts[i] + counts[i]]
        best[i] = starts[i] + int(np.argmax(block @ query_vectors[pair_query[i]]))
    return best


@dataclass
class PassageChooser:
    """Training texts for long documents and long queries, chosen with the base model's vectors.

    A positive becomes the passage of the relevant document that best matches its query (the one most likely to hold
    the answer), a negative the best-matching passage of a non-relevant document (the hardest part of it), so every
    training text fits the model's limit instead of being cut at its first window. A query longer than the limit is
    read whole when documents are chosen for it (the mean of its passages, as search reads it); as a training anchor it
    becomes its passage nearest the positive's chosen passage (the part of the query the pair is about), not its first
    window, which for a long query is mostly a header.
    """

    query_row: dict[str, int]
    query_vectors: np.ndarray
    doc_row: dict[str, int]
    passage_texts: list[str]
    passage_vectors: np.ndarray
    passage_doc: np.ndarray
    anchor_texts: list[str]  # every query's passages, queries in row order
    anchor_vectors: np.ndarray
    anchor_query: np.ndarray  # int64, the query row of each anchor passage (sorted)

    def __call__(self, query_ids: list[str], doc_ids: list[str]) -> list[str]:
        return [self.passage_texts[r] for r in self._chosen(query_ids, doc_ids)[1]]

    def pairs(self, query_ids: list[str], doc_ids: list[str], texts: list[str]) -> tuple[list[str], list[str]]:
        """(anchor, positive) texts of each (query, relevant document) pair, the document's passage chosen once: the
        positive is its passage nearest the query, the anchor the query's passage nearest that positive, or the
        query's own text (`texts`) when it fits the model's limit."""
        queries, chosen = self._chosen(query_ids, doc_ids)
        positives = [self.passage_texts[r] for r in chosen]
        if len(self.anchor_texts) == len(self.query_row):
            return texts, positives
        best = best_passages(self.passage_vectors, chosen, queries, self.anchor_vectors, self.anchor_query)
        counts = np.bincount(self.anchor_query, minlength=len(self.query_row))
        return [self.anchor_texts[b] if counts[q] > 1 else t for b, q, t in zip(best, queries, texts)], positives

    def _chosen(self, query_ids: list[str], doc_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        queries = np.fromiter((self.query_row[q] for q in query_ids), dtype=np.int64, count=len(query_ids))
        docs = np.fromiter((self.doc_row[d] for d in doc_ids), dtype=np.int64, count=len(doc_ids))
        return queries, best_passages(self.query_vectors, queries, docs, self.passage_vectors, self.passage_doc)

    @property
    def split(self) -> bool:
        """True when some document or some query is more than one passage."""
        return len(self.passage_texts) > len(self.doc_row) or len(self.anchor_texts) > len(self.query_row)


def corpus_titles(corpus) -> list[str] | None:
    """The corpus frame's titles (BEIR corpora carry them beside the joined text), or None when it has none."""
    return corpus["title"].to_list() if "title" in corpus.columns else None


def chooser_for(
    model_ref, corpus_ref, pairs, store: str, cfg: PassageConfig, batch_size: int, device: str = "auto"
) -> PassageChooser | None:
    """The PassageChooser of a training set under the model of `model_ref` (the base model), or None when no document
    and no query is longer than the model reads."""
    from tasks.embeddings import corpus_passages, encode, load_model
    from tasks.storage import read_frame

    if not cfg.split:
        return None
    model = load_model(model_ref, device)
    texts, vectors, doc = corpus_passages(model, model_ref, corpus_ref, store, batch_size, cfg)
    doc_ids = read_frame(corpus_ref)["doc_id"].to_list()
    anchors = pairs.unique("query_id", keep="first", maintain_order=True)
    queries = model_passages(model, anchors["anchor"].to_list(), cfg)
    if len(texts) == len(doc_ids) and not queries.split:
        return None
    what = f"queries ({len(queries.texts)} passages)" if queries.split else "queries"
    query_passage_vectors = encode(model, queries.texts, batch_size, what)
    return PassageChooser(
        {q: i for i, q in enumerate(anchors["query_id"].to_list())},
        pooled(query_passage_vectors, queries.doc, anchors.height),
        {d: i for i, d in enumerate(doc_ids)},
        texts,
        vectors,
        doc,
        queries.texts,
        query_passage_vectors,
        queries.doc,
    )


def passage_summary(
    model_ref, corpus_ref, cfg: PassageConfig, store: str, batch_size: int, device: str = "auto"
) -> dict:
    """How the corpus was read (from the base model's stored passage vectors): what a person checks in the report."""
    from tasks.embeddings import corpus_passage_embeddings, load_model

    model = load_model(model_ref, device)
    _, doc = corpus_passage_embeddings(model, model_ref, corpus_ref, store, batch_size, cfg)
    per_doc = np.bincount(doc)
    return {
        "split": cfg.split,
        "length": content_window(model, cfg),
        "overlap": cfg.overlap,
        "max_passages": cfg.max_passages,
        "documents": int(len(per_doc)),
        "documents_split": int((per_doc > 1).sum()),
        "passages": int(len(doc)),
        "documents_at_cap": int((per_doc >= cfg.max_passages).sum()) if cfg.split else 0,
    }


def length_stats(tokens: np.ndarray, limit: int) -> dict:
    """Token lengths of a set of texts against the model's limit: what a person checks before trusting a run."""
    if len(tokens) == 0:
        return {"texts": 0, "median": 0, "p90": 0, "max": 0, "over_limit": 0, "over_limit_share": 0.0, "limit": limit}
    over = int((tokens > limit).sum())
    return {
        "texts": int(len(tokens)),
        "median": int(np.median(tokens)),
        "p90": int(np.percentile(tokens, 90)),
        "max": int(tokens.max()),
        "over_limit": over,
        "over_limit_share": round(over / len(tokens), 4),
        "limit": limit,
    }
