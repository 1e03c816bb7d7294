"""Mixing the strategies' candidates into hard negatives, with positive-aware false-negative control.

Input: one (Candidates, count) per strategy, the pairs as (query row, positive row) and each query's known positives.
Output: Negative rows (pair, slot, doc, strategy, rank, score, positive_score, difficulty), `num_negatives` per pair.
Args: Window — the rank window [rank_min, rank_max), the relative margin (max_score_ratio: a candidate scoring above
this fraction of the positive's score under the same strategy is taken for an unlabelled positive and dropped), an
absolute margin, a maximum score, and the difficulty band of a curriculum stage; seed for the random fill, used only
when `fill` asks for it and the candidates leave a pair short. `prior` carries negatives already chosen (widening tops a
short pair up in further passes, tasks/mining/widen.py); `origin` labels the new ones.
Mixing: strategies with a count give that many first, in config order; the rest of the slots go one at a time, in
turn, to the strategies without a count (then to all of them), de-duplicated; a known positive is never a negative.
Reference: Moreira et al., "NV-Retriever: Improving text embedding models with effective hard-negative mining"
(2024), https://arxiv.org/abs/2407.15831 — TopK-PercPos, positive-aware false-negative removal.
Example: select_negatives([(dense, None), (bm25, 1)], pair_query, pair_doc, {0: {12}}, 3, Window(), n_docs=300, seed=0)
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from tasks.mining.candidates import Candidates
from tasks.mining.strategy import RANDOM


@dataclass(frozen=True)
class Negative:
    pair: int
    slot: int
    doc: int
    strategy: str
    rank: int
    score: float | None
    positive_score: float | None
    difficulty: float | None
    origin: str = "top_k"  # top_k: within the configured window; deeper, relaxed: found by widening; random: the fill


@dataclass(frozen=True)
class Window:
    """Which candidates may become negatives. Defaults match mining's: top 50, relative margin 95%."""

    rank_min: int = 0
    rank_max: int | None = None
    max_score_ratio: float | None = 0.95
    absolute_margin: float | None = None
    max_score: float | None = None
    min_difficulty: float = -math.inf  # a curriculum stage takes difficulty in (min_difficulty, max_difficulty]
    max_difficulty: float = math.inf
    below_positive: bool = False  # widening's relaxed margins: a candidate must still score strictly below the positive


def difficulty(score: float, positive_score: float) -> float:
    """How close a candidate comes to the positive under the same strategy: score / positive score (1 = as close)."""
    if positive_score > 0:
        return score / positive_score
    return math.inf if score > 0 else 0.0


def passes_filter(score: float, positive_score: float, window: Window) -> bool:
    """The positive-aware filters: relative margin, absolute margin, maximum score, curriculum band."""
    if (
        window.below_positive and not score < positive_score
    ):  # also drops every candidate when the positive has no score
        return False
    if window.max_score_ratio is not None and score > window.max_score_ratio * positive_score:
        return False
    if window.absolute_margin is not None and score > positive_score - window.absolute_margin:
        return False
    if window.max_score is not None and score > window.max_score:
        return False
    return window.min_difficulty < difficulty(score, positive_score) <= window.max_difficulty


def _ranked(
    cand: Candidates, query: int, pair: int, positive: int, known: set[int], window: Window, origin: str
) -> Iterator[Negative]:
    row = pair if cand.per_pair else query
    positive_score = float(cand.positive_scores[pair])
    end = cand.indices.shape[1] if window.rank_max is None else min(window.rank_max, cand.indices.shape[1])
    start = 0 if cand.labelled else window.rank_min
    for rank in range(start, end):
        doc = int(cand.indices[row, rank])
        if doc < 0:
            break
        score = float(cand.scores[row, rank])
        if cand.labelled:  # negatives by the user's label: only the pair's own positive is off limits
            if doc == positive:
                continue
            hardness = difficulty(score, positive_score) if not math.isnan(score) else None
            yield Negative(pair, -1, doc, cand.name, rank, score, positive_score, hardness, origin)
            continue
        if doc in known or not passes_filter(score, positive_score, window):
            continue
        yield Negative(pair, -1, doc, cand.name, rank, score, positive_score, difficulty(score, positive_score), origin)


def _take(streams: list[Iterator[Negative]], taken: set[int], chosen: list[Negative], limit: int) -> None:
    """One negative from each stream in turn until `limit` are chosen or every stream is dry."""
    streams = list(streams)
    while streams and len(chosen) < limit:
        for stream in list(streams):
            negative = next((n for n in stream if n.doc not in taken), None)
            if negative is None:
                streams.remove(stream)
                continue
            taken.add(negative.doc)
            chosen.append(negative)
            if len(chosen) == limit:
                return


def select_negatives(
    candidates: list[tuple[Candidates, int | None]],
    pair_query: np.ndarray,
    pair_doc: np.ndarray,
    positives_of_query: dict[int, set[int]],
    num_negatives: int,
    window: Window,
    n_docs: int,
    seed: int,
    pairs: Iterable[int] | None = None,
    *,
    prior: dict[int, list[Negative]] | None = None,
    origin: str = "top_k",
    fill: bool = True,
) -> list[Negative]:
    """`num_negatives` negatives for each pair (all pairs, or those listed), mixed from the strategies' candidates after
    the pair's `prior` ones; topped up at random when `fill`, else a pair may come back short."""
    rng = random.Random(seed)
    out: list[Negative] = []
    for pair in range(len(pair_query)) if pairs is None else pairs:
        query, positive = int(pair_query[pair]), int(pair_doc[pair])
        known = positives_of_query.get(query, set()) | {positive}
        streams = {id(c): _ranked(c, query, pair, positive, known, window, origin) for c, _ in candidates}
        chosen: list[Negative] = list((prior or {}).get(pair, []))
        taken: set[int] = {n.doc for n in chosen}
        for cand, count in candidates:
            if count:
                _take([streams[id(cand)]], taken, chosen, len(chosen) + min(count, num_negatives - len(chosen)))
        _take([streams[id(c)] for c, count in candidates if count is None], taken, chosen, num_negatives)
        _take([streams[id(c)] for c, _ in candidates], taken, chosen, num_negatives)
        if fill and len(chosen) < num_negatives and n_docs - len(known) - len(taken) < num_negatives - len(chosen):
            raise ValueError(
                f"cannot pick {num_negatives} negatives for pair {pair}: the corpus has only {n_docs} documents "
                f"and {len(known)} are positives of the query; lower mining.num_negatives"
            )
        while fill and len(chosen) < num_negatives:
            doc = rng.randrange(n_docs)
            if doc not in known and doc not in taken:
                taken.add(doc)
                chosen.append(Negative(pair, -1, doc, RANDOM, -1, None, None, None, "random"))
        out.extend(replace(n, slot=slot) for slot, n in enumerate(chosen))
    return out
