"""Hard-negative mining: one module per strategy, the index STRATEGIES, and a mixer with positive-aware filters.

A strategy is one module that ends with `STRATEGY = Strategy(name, Params, find, reads_vectors)` (tasks/mining/
strategy.py) and is listed once in the index below; `embedforge strategies` prints the table of them. Curriculum is not
a source but a schedule — the same candidates cut into difficulty bands, one training stage each
(tasks/mining/curriculum.py).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandera.polars as pa
import polars as pl

from schemas.negatives import MinedNegativeSchema
from tasks.config import MiningConfig
from tasks.mining import bm25, contradiction, dense, domain_confusion, partial_match, strategy
from tasks.mining.candidates import Candidates, MiningInput, positives_by_query
from tasks.mining.curriculum import stage_windows
from tasks.mining.filters import Negative, Window, difficulty, passes_filter, select_negatives
from tasks.mining.strategy import RANDOM, Strategy, StrategyParams, params_table
from tasks.mining.widen import widen

__all__ = [
    "STRATEGIES",
    "Candidates",
    "MiningInput",
    "Negative",
    "Strategy",
    "StrategyParams",
    "Window",
    "candidates_for",
    "cap_pairs",
    "difficulty",
    "false_negative_rate",
    "mine_negatives",
    "mining_report",
    "negative_schema",
    "passes_filter",
    "select_negatives",
    "stage_windows",
    "strategy_rows",
    "widen",
]

logger = logging.getLogger(__name__)

# The index: one entry per strategy module. Adding a strategy = its module + its name here.
STRATEGIES: dict[str, Strategy] = strategy.index(bm25, contradiction, dense, domain_confusion, partial_match)


def negative_schema() -> pa.DataFrameSchema:
    """MinedNegativeSchema with the registered strategies (and the random fill) as the allowed `strategy` values."""
    return MinedNegativeSchema.to_schema().update_column("strategy", checks=[pa.Check.isin([*STRATEGIES, RANDOM])])


def strategy_rows() -> list[dict[str, str]]:
    """One row per registered strategy: name, what it finds, its parameters with defaults, whether it needs embeddings."""
    rows = []
    for name, declared in STRATEGIES.items():
        vectors = (
            "depends on params" if callable(declared.reads_vectors) else ("yes" if declared.reads_vectors else "no")
        )
        rows.append(
            {"name": name, "finds": declared.summary, "params": params_table(declared.params), "embeddings": vectors}
        )
    return rows


def candidates_for(inp: MiningInput, cfg: MiningConfig, k: int | None = None) -> list[tuple[Candidates, int | None]]:
    """Every configured strategy's candidates (top_k, or k), with its count."""
    return [(STRATEGIES[spec.name].find(inp, k or cfg.top_k, spec.params), spec.count) for spec in cfg.strategies]


def false_negative_rate(
    candidates: list[tuple[Candidates, int | None]], inp: MiningInput, cfg: MiningConfig
) -> tuple[dict[str, float], int]:
    """Held-out-label estimate of how often each strategy picks a relevant document as a negative.

        For every pair of a query with several positives, mine again as if only the pair's own positive were known and
        count the negatives that are in fact among the query's other positives. Returns ({strategy: share, "all": share over
    every strategy}, pairs checked).
    """
    multi = {q for q, docs in inp.positives_of_query.items() if len(docs) > 1}
    pairs = [p for p, q in enumerate(inp.pair_query.tolist()) if q in multi]
    if not pairs or cfg.num_negatives == 0:
        return {}, 0
    hidden = select_negatives(
        candidates,
        inp.pair_query,
        inp.pair_doc,
        {},
        cfg.num_negatives,
        stage_windows(cfg)[-1],
        len(inp.doc_texts),
        cfg.seed,
        pairs=pairs,
    )
    picked: dict[str, list[int]] = {}
    for n in hidden:
        relevant = n.doc in inp.positives_of_query[int(inp.pair_query[n.pair])]
        picked.setdefault(n.strategy, []).append(int(relevant))
    rates = {name: sum(hits) / len(hits) for name, hits in sorted(picked.items())}
    every = [hit for hits in picked.values() for hit in hits]
    return {**rates, "all": sum(every) / len(every)}, len(pairs)


def _frame(negatives: list[Negative], stage: int, pairs: pl.DataFrame, doc_ids: list[str]) -> pl.DataFrame:
    def number(value: float | None) -> float | None:
        return None if value is None or math.isnan(value) or math.isinf(value) else value

    query_col, positive_col = pairs["query_id"].to_list(), pairs["doc_id"].to_list()
    return pl.DataFrame(
        {
            "stage": [stage] * len(negatives),
            "query_id": [query_col[n.pair] for n in negatives],
            "positive_id": [positive_col[n.pair] for n in negatives],
            "slot": [n.slot for n in negatives],
            "negative_id": [doc_ids[n.doc] for n in negatives],
            "strategy": [n.strategy for n in negatives],
            "origin": [n.origin for n in negatives],
            "rank": [n.rank for n in negatives],
            "score": [number(n.score) for n in negatives],
            "positive_score": [number(n.positive_score) for n in negatives],
            "difficulty": [number(n.difficulty) for n in negatives],
        },
        schema={
            "stage": pl.Int64,
            "query_id": pl.String,
            "positive_id": pl.String,
            "slot": pl.Int64,
            "negative_id": pl.String,
            "strategy": pl.String,
            "origin": pl.String,
            "rank": pl.Int64,
            "score": pl.Float64,
            "positive_score": pl.Float64,
            "difficulty": pl.Float64,
        },
    )


def cap_pairs(
    pairs: pl.DataFrame,
    limit: int | None,
    doc_ids: list[str],
    query_vectors: np.ndarray | None = None,
    doc_vectors: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[pl.DataFrame, dict | None]:
    """At most `limit` pairs per query, in pair order, and what was kept ({max_per_query, pairs, kept, queries_capped,
    by}; None when no query has more than `limit`, and then `pairs` itself comes back).

    A query's kept positives are those the base model scores highest for it (the dot product of the unit vectors mining
    searches with: query_vectors in order of the queries' first appearance in `pairs`, doc_vectors in `doc_ids` order;
    ties keep pair order), or a seeded sample when mining reads no vectors. Why: judgements per query can run from 1 to
    over 1,000 (NFCorpus), so a time-bounded training sees mostly a few queries, and a positive the base model scores
    low leaves the positive-aware filters nothing below it (random negatives).
    """
    counts = pairs.group_by("query_id").len()
    if limit is None or counts["len"].max() <= limit:
        return pairs, None
    if query_vectors is not None and doc_vectors is not None:
        query_row = {q: i for i, q in enumerate(pairs["query_id"].unique(maintain_order=True).to_list())}
        rows, docs = _rows(pairs, query_row, {d: i for i, d in enumerate(doc_ids)})
        score = np.einsum("ij,ij->i", query_vectors[rows], doc_vectors[docs])
        by = "base-model score"
    else:
        score = np.random.default_rng(seed).random(pairs.height)
        by = f"seeded sample (seed {seed})"
    kept = (  # per query: best score first, ties in pair order; then back to pair order
        pairs.with_row_index("row")
        .with_columns(score=pl.Series(score))
        .sort(["score", "row"], descending=[True, False])
        .group_by("query_id", maintain_order=True)
        .head(limit)["row"]
        .sort()
    )
    capped = pairs[kept.to_list()]
    summary = {
        "max_per_query": limit,
        "pairs": pairs.height,
        "kept": capped.height,
        "queries_capped": int((counts["len"] > limit).sum()),
        "by": by,
    }
    logger.info(
        "mining.max_pairs_per_query=%d: kept %d of %d pairs (%d queries capped, by %s)",
        limit,
        capped.height,
        pairs.height,
        summary["queries_capped"],
        by,
    )
    return capped, summary


def mine_negatives(
    pairs: pl.DataFrame,
    corpus: pl.DataFrame,
    cfg: MiningConfig,
    query_vectors: np.ndarray | None = None,
    doc_vectors: np.ndarray | None = None,
    labels: pl.DataFrame | None = None,
    doc_metadata: pl.DataFrame | None = None,
    judged: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, dict]:
    """Hard negatives for every (query, positive) pair, `cfg.num_negatives` each per curriculum stage, and a report.

    Input schema: pairs PairSchema (query_id, doc_id, anchor, positive); corpus CorpusSchema (doc_id, text); labels
    (query_id, doc_id, label) evidence labels, read by the contradiction strategy; doc_metadata (doc_id, key, value),
    read by domain_confusion when its params name a `field`.
    query_vectors: embeddings of the distinct queries in order of first appearance in `judged` (else `pairs`);
    doc_vectors: of the corpus in row order (needed by dense, domain_confusion and partial_match in disagreement mode).
    judged: every judged pair (PairSchema) when `pairs` is some of them (cap_pairs): no judged positive of a query is
    ever its negative, mined or not.
    A pair the filters leave short is widened, then topped up at random, as `cfg.fill` says (tasks/mining/widen.py).
    Output schema: MinedNegativeSchema (negative_schema()), one row per (stage, pair, slot); report: see mining_report.
    """
    doc_ids = corpus["doc_id"].to_list()
    doc_row = {doc_id: i for i, doc_id in enumerate(doc_ids)}
    every = pairs if judged is None else judged
    query_ids = every["query_id"].unique(maintain_order=True).to_list()
    query_row = {query_id: i for i, query_id in enumerate(query_ids)}
    evidence: dict[str, dict[int, set[int]]] = {}
    for query_id, doc_id, label in (
        labels.select("query_id", "doc_id", "label").iter_rows() if labels is not None else ()
    ):
        if query_id in query_row and doc_id in doc_row:
            evidence.setdefault(label, {}).setdefault(query_row[query_id], set()).add(doc_row[doc_id])
    metadata = None
    if doc_metadata is not None:
        metadata = doc_metadata.filter(pl.col("doc_id").is_in(doc_ids)).select(
            pl.col("doc_id").replace_strict(doc_row, return_dtype=pl.Int64).alias("doc_row"), "key", "value"
        )
    pair_query, pair_doc = _rows(pairs, query_row, doc_row)
    inp = MiningInput(
        query_texts=every.unique("query_id", keep="first", maintain_order=True)["anchor"].to_list(),
        doc_texts=corpus["text"].to_list(),
        pair_query=pair_query,
        pair_doc=pair_doc,
        query_vectors=query_vectors,
        doc_vectors=doc_vectors,
        evidence=evidence,
        doc_metadata=metadata,
        seed=cfg.seed,
        judged=None if judged is None else positives_by_query(*_rows(judged, query_row, doc_row)),
    )
    candidates = candidates_for(inp, cfg) if cfg.num_negatives > 0 else []
    windows = stage_windows(cfg)
    stages = [
        select_negatives(
            candidates,
            inp.pair_query,
            inp.pair_doc,
            inp.positives_of_query,
            cfg.num_negatives,
            window,
            len(doc_ids),
            cfg.seed + stage,
            fill=cfg.fill == "random",
        )
        for stage, window in enumerate(windows)
    ]
    if cfg.fill != "random":
        stages = widen(stages, inp, cfg, windows, len(doc_ids), candidates_for)
    frame = pl.concat([_frame(negatives, stage, pairs, doc_ids) for stage, negatives in enumerate(stages)])
    report = mining_report(frame, cfg, pairs.height, *false_negative_rate(candidates, inp, cfg))
    logger.info(
        "mined %d negatives for %d pairs in %d stage(s): %s", frame.height, pairs.height, cfg.stages, report["rows"]
    )
    for warning in report["warnings"]:
        logger.warning(warning)
    return negative_schema().validate(frame), report


def _rows(pairs: pl.DataFrame, query_row: dict[str, int], doc_row: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(query row, document row) of each pair."""
    queries = np.array([query_row[q] for q in pairs["query_id"]], dtype=np.int64)
    return queries, np.array([doc_row[d] for d in pairs["doc_id"]], dtype=np.int64)


def mining_report(frame: pl.DataFrame, cfg: MiningConfig, n_pairs: int, rates: dict[str, float], checked: int) -> dict:
    """{rows: negatives per strategy, origins: {strategy: {top_k, deeper, relaxed, random: count}}, random_share,
    pairs_widened, pairs_short (given a random negative), fill, warnings, stages, false_negative_rate,
    false_negative_pairs}."""
    origins: dict[str, dict[str, int]] = {}
    for name, origin, count in frame.group_by("strategy", "origin").len().sort("strategy", "origin").iter_rows():
        origins.setdefault(name, {})[origin] = count
    n_random = frame.filter(pl.col("origin") == "random").height
    share = n_random / frame.height if frame.height else 0.0

    def pairs_with(*kinds: str) -> int:
        return frame.filter(pl.col("origin").is_in(kinds)).select("query_id", "positive_id").unique().height

    short = pairs_with("random")
    warnings = []
    if share > cfg.random_warn:
        cause = (
            "mining.fill=random tops pairs up at random without widening the search first; try mining.fill=widen"
            if cfg.fill == "random"
            else f"the positive-aware filters left them short even {cfg.widen_depth}× deeper and at a looser margin; the "
            "base model may score true positives low on this domain (see positive_score in the negatives) — raise "
            "mining.widen_depth or lower mining.num_negatives"
        )
        warnings.append(
            f"{share:.0%} of the mined negatives are random ({n_random} of {frame.height}, for {short} of "
            f"{n_pairs} pairs), above mining.random_warn={cfg.random_warn:.0%}: {cause}"
        )
    return {
        "rows": dict(frame.group_by("strategy").len().sort("strategy").rows()),
        "origins": origins,
        "random_share": round(share, 4),
        "pairs_widened": pairs_with("deeper", "relaxed"),
        "pairs_short": short,
        "fill": cfg.fill,
        "warnings": warnings,
        "stages": cfg.stages,
        "false_negative_rate": rates,
        "false_negative_pairs": checked,
    }
