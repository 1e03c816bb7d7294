"""Positive-aware selection of hard negatives from several retrievers' candidates.

Input: one Candidates per retriever, the pairs (query row, positive row) and each query's known positives.
Output: rows (pair, slot, doc, strategy, rank, score, positive_score), `num_negatives` per pair.
Args: num_negatives, skip_top (ranks ignored at the top of each list), max_score_ratio (a candidate scoring above
this fraction of the positive's score under the same retriever is treated as a likely unlabelled positive and dropped),
seed (for the random fill used only when filtering leaves too few candidates).
Reference: Moreira et al., "NV-Retriever: Improving text embedding models with effective hard-negative mining"
(2024), https://arxiv.org/abs/2407.15831 — TopK-PercPos, positive-aware false-negative removal.
Example: select_negatives([dense, bm25], pair_query, pair_doc, {0: {12}}, 3, 0, 0.95, n_docs=300, seed=0)
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from tasks.mining.candidates import Candidates


@dataclass(frozen=True)
class Negative:
    pair: int
    slot: int
    doc: int
    strategy: str
    rank: int
    score: float | None
    positive_score: float | None


def passes_filter(score: float, positive_score: float, max_score_ratio: float) -> bool:
    """Keep a candidate only if it scores at most max_score_ratio × the positive's score."""
    return score <= max_score_ratio * positive_score


def _ranked(cand: Candidates, query: int, pair: int, known: set[int], skip_top: int, ratio: float) -> Iterator[Negative]:
    positive_score = float(cand.positive_scores[pair])
    for rank in range(skip_top, cand.indices.shape[1]):
        doc, score = int(cand.indices[query, rank]), float(cand.scores[query, rank])
        if doc < 0 or doc in known or not passes_filter(score, positive_score, ratio):
            continue
        yield Negative(pair, -1, doc, cand.name, rank, score, positive_score)


def select_negatives(
    candidates: list[Candidates],
    pair_query: np.ndarray,
    pair_doc: np.ndarray,
    positives_of_query: dict[int, set[int]],
    num_negatives: int,
    skip_top: int,
    max_score_ratio: float,
    n_docs: int,
    seed: int,
) -> list[Negative]:
    """Interleave the retrievers' filtered lists (one from each in turn), de-duplicated; top up at random if short."""
    rng = random.Random(seed)
    out: list[Negative] = []
    for pair, (query, positive) in enumerate(zip(pair_query.tolist(), pair_doc.tolist())):
        known = positives_of_query.get(query, set()) | {positive}
        streams = [_ranked(c, query, pair, known, skip_top, max_score_ratio) for c in candidates]
        chosen: list[Negative] = []
        taken: set[int] = set()
        while streams and len(chosen) < num_negatives:
            for stream in list(streams):
                negative = next((n for n in stream if n.doc not in taken), None)
                if negative is None:
                    streams.remove(stream)
                    continue
                taken.add(negative.doc)
                chosen.append(negative)
                if len(chosen) == num_negatives:
                    break
        if len(chosen) < num_negatives and n_docs - len(known) - len(taken) < num_negatives - len(chosen):
            raise ValueError(
                f"cannot pick {num_negatives} negatives for pair {pair}: the corpus has only {n_docs} documents "
                f"and {len(known)} are positives of the query; lower mining.num_negatives"
            )
        while len(chosen) < num_negatives:
            doc = rng.randrange(n_docs)
            if doc not in known and doc not in taken:
                taken.add(doc)
                chosen.append(Negative(pair, -1, doc, "random", -1, None, None))
        out.extend(Negative(n.pair, slot, n.doc, n.strategy, n.rank, n.score, n.positive_score) for slot, n in enumerate(chosen))
    return out
