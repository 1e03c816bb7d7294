"""Widening: what mining does for a pair the filters leave short of negatives, before (or instead of) anything random.

Input: each curriculum stage's negatives from the configured window, the MiningInput and MiningConfig.
Output: the same stages with every short pair topped up, in this order — 1) `deeper`: each strategy re-queried for the
short pairs only, down to `widen_depth` × `top_k`, under the configured filters; 2) `relaxed`: the same lists with
`max_score_ratio` raised step by step through `widen_ratios`, never admitting a known positive or a candidate scoring
at or above the positive; 3) `random`, only with `fill: widen`; `fill: widen_only` raises instead. The re-query covers
just the short pairs, so its cost follows how many there are, not the corpus of queries.
Why: on a domain where the base model scores true positives low (long legal documents), the relative margin drops
nearly every top-k candidate, and a silent random top-up turned 76% of one run's negatives into easy ones.
Example: widen([stage_0_negatives], inp, MiningConfig(), stage_windows(cfg), n_docs=5183)
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from tasks.config import MiningConfig
from tasks.mining.candidates import Candidates, MiningInput
from tasks.mining.filters import Negative, Window, select_negatives

logger = logging.getLogger(__name__)


def widening_windows(window: Window, cfg: MiningConfig) -> list[tuple[str, Window]]:
    """(origin, window) of each widening pass: the whole deeper list, then each looser relative margin."""
    deeper = replace(window, rank_max=None)
    steps = [("deeper", deeper)]
    if window.max_score_ratio is not None:  # with no relative margin there is nothing to relax
        steps += [
            ("relaxed", replace(deeper, max_score_ratio=r, below_positive=True))
            for r in cfg.widen_ratios
            if r > window.max_score_ratio
        ]
    return steps


def subset(inp: MiningInput, pairs: list[int]) -> MiningInput:
    """The mining input restricted to some pairs and their queries (renumbered), for re-querying only those."""
    queries = sorted({int(inp.pair_query[p]) for p in pairs})
    row = {q: i for i, q in enumerate(queries)}
    return MiningInput(
        query_texts=[inp.query_texts[q] for q in queries],
        doc_texts=inp.doc_texts,
        pair_query=np.array([row[int(inp.pair_query[p])] for p in pairs], dtype=np.int64),
        pair_doc=inp.pair_doc[pairs],
        query_vectors=None if inp.query_vectors is None else inp.query_vectors[queries],
        doc_vectors=inp.doc_vectors,
        evidence={
            label: {row[q]: docs for q, docs in by_query.items() if q in row}
            for label, by_query in inp.evidence.items()
        },
        doc_metadata=inp.doc_metadata,
        seed=inp.seed,
        # corpus-only results (k-means clusters, metadata groups, IDF) carry over; top-k lists depend on the queries and
        # on k, so not
        _cache={
            key: value for key, value in inp._cache.items() if key == "idf" or key.startswith(("kmeans:", "groups:"))
        },
    )


def short_pairs(stages: list[list[Negative]], n_pairs: int, num_negatives: int) -> list[int]:
    """Pairs with fewer than `num_negatives` negatives in any stage."""
    short: set[int] = set()
    for negatives in stages:
        counts = Counter(n.pair for n in negatives)
        short |= {p for p in range(n_pairs) if counts[p] < num_negatives}
    return sorted(short)


def widen(
    stages: list[list[Negative]],
    inp: MiningInput,
    cfg: MiningConfig,
    windows: list[Window],
    n_docs: int,
    candidates_for: Callable[[MiningInput, MiningConfig, int], list[tuple[Candidates, int | None]]],
) -> list[list[Negative]]:
    """Every stage's negatives with its short pairs topped up: deeper, relaxed, then random (fill: widen) or an error."""
    short = short_pairs(stages, len(inp.pair_query), cfg.num_negatives)
    if not short:
        return stages
    sub = subset(inp, short)
    local = {pair: i for i, pair in enumerate(short)}
    positives = {int(sub.pair_query[i]): inp.positives_of_query[int(inp.pair_query[p])] for i, p in enumerate(short)}
    depth = min(cfg.widen_depth * cfg.top_k, n_docs)
    deep = candidates_for(sub, cfg, depth)
    logger.info(
        "widening for %d short pair(s): %d candidates per strategy, margins up to %s",
        len(short),
        depth,
        max([cfg.max_score_ratio or 0, *cfg.widen_ratios]),
    )
    out = []
    for stage, (negatives, window) in enumerate(zip(stages, windows)):
        prior: dict[int, list[Negative]] = {}
        for n in negatives:
            if n.pair in local:
                prior.setdefault(local[n.pair], []).append(replace(n, pair=local[n.pair]))
        picked: list[Negative] = []
        for origin, wider in widening_windows(window, cfg):
            picked = select_negatives(
                deep,
                sub.pair_query,
                sub.pair_doc,
                positives,
                cfg.num_negatives,
                wider,
                n_docs,
                cfg.seed + stage,
                prior=prior,
                origin=origin,
                fill=False,
            )
            prior = {}
            for n in picked:
                prior.setdefault(n.pair, []).append(n)
        still = [short[i] for i in range(len(short)) if len(prior.get(i, [])) < cfg.num_negatives]
        if still and cfg.fill == "widen_only":
            raise ValueError(
                f"mining.fill=widen_only: {len(still)} of {len(inp.pair_query)} pairs still have fewer than "
                f"{cfg.num_negatives} negatives after searching {depth} candidates per strategy and relaxing the margin "
                f"to {max([cfg.max_score_ratio or 0, *cfg.widen_ratios])} (first: pair {still[0]}); set mining.fill=widen "
                f"to top them up at random (counted and reported), or lower mining.num_negatives"
            )
        if still:
            picked = select_negatives(
                [],
                sub.pair_query,
                sub.pair_doc,
                positives,
                cfg.num_negatives,
                window,
                n_docs,
                cfg.seed + stage,
                prior=prior,
                fill=True,
            )
        topped = [replace(n, pair=short[n.pair]) for n in picked]
        kept = [n for n in negatives if n.pair not in local]
        out.append(sorted(kept + topped, key=lambda n: (n.pair, n.slot)))
    return out
