"""Retrieval metrics with trec_eval's definitions, macro-averaged over every query in the qrels.

- Ranking: score descending, ties broken by document id in descending lexical order (as trec_eval), whatever rank
  the run claims. Only the first K ranked documents count at cut-off K; missing ranks count as non-relevant.
- A document is relevant when its qrels grade >= 1 (trec_eval's relevance_level 1); R = relevant documents of the query.
- ndcg@K: sum over the top K of grade / log2(rank + 1) (linear gain, as trec_eval's ndcg_cut), divided by the same
  sum over the ideal ordering of the query's judged grades.
- mrr@K: 1 / rank of the first relevant document within the top K, else 0.
- map@K: sum of precision at each relevant rank within the top K, divided by R (trec_eval's map_cut; the
  sentence-transformers evaluator divides by min(K, R) instead, and ignores grades in its NDCG).
- recall@K = relevant in top K / R; precision@K = relevant in top K / K; f1@K = their harmonic mean (0 when both 0).
- A query of the qrels with no retrieved documents, or with R = 0, scores 0 on every metric (trec_eval -c).

Every entry point reduces its input to flat arrays, one entry per retrieved (query, document): rows are ordered once
(query, score descending, document code descending), a judged document finds its rank through one sorted key array,
and every metric is a per-query sum over the judged documents (np.bincount).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import polars as pl  # imported where frames are scored: the config reads this module's metric table without it

HIGHER_IS_BETTER = {"ndcg": True, "mrr": True, "map": True, "recall": True, "precision": True, "f1": True}
METRICS = tuple(HIGHER_IS_BETTER)  # every metric this module computes, in report order


def higher_is_better(metric: str) -> bool:
    """The direction of a metric such as 'ndcg@10': whether a larger value is the better one (the gate reads it)."""
    name = metric.partition("@")[0]
    if name not in HIGHER_IS_BETTER:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)} (each at a cut-off, e.g. ndcg@10)")
    return HIGHER_IS_BETTER[name]


Run = Mapping[str, Mapping[str, float]]  # query id -> {doc id: score}
Qrels = Mapping[str, Mapping[str, int]]  # query id -> {doc id: grade}


def rank_documents(scores: Mapping[str, float]) -> list[str]:
    """Document ids in trec_eval order: score descending, then document id descending."""
    return [doc for doc, _ in sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)]


@dataclass(frozen=True)
class Judgements:
    """Qrels as parallel arrays: query row, document code and grade of every judged (query, document)."""

    query: np.ndarray  # [J] int, row of the query (0 .. queries - 1)
    doc: np.ndarray  # [J] int, document code (codes sort like the document ids); < 0 for a document never retrieved
    grade: np.ndarray  # [J] float


class DuplicateRetrieval(ValueError):
    """A run lists the same document twice for one query."""


def trec_ranks(
    query: np.ndarray, score: np.ndarray, doc: np.ndarray | Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """0-based trec_eval rank of every row within its query: score descending, then document id descending.

    doc: codes that sort like the document ids, or a function giving such codes for the rows it is passed (only rows
    that tie with another on (query, score) need them).
    """
    n = len(query)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    same_query = query[1:] == query[:-1]
    grouped = n - np.count_nonzero(same_query) == np.count_nonzero(np.bincount(query))
    if grouped and np.all((score[1:] <= score[:-1]) | ~same_query):
        order = np.arange(n)  # already in rank order up to ties, as a run file usually is: no sort needed
    else:
        order = np.argsort(-score, kind="stable")
        order = order[np.argsort(query[order], kind="stable")]
        same_query = query[order][1:] == query[order][:-1]
    sorted_score = score[order]
    tied = same_query & (sorted_score[1:] == sorted_score[:-1])  # row i + 1 ties with row i
    if tied.any():
        # sort only the rows of each run of equal (query, score) by document code, descending
        in_tie = np.zeros(n, dtype=bool)
        in_tie[1:] |= tied
        in_tie[:-1] |= tied
        rows = np.flatnonzero(in_tie)
        group = np.cumsum(np.concatenate(([True], ~tied)))[rows]
        codes = doc(order[rows]) if callable(doc) else doc[order[rows]]
        top = int(codes.max()) + 1
        key = group.astype(np.int64) * top + (top - 1 - codes)
        order[rows] = order[rows][packed_argsort(key)]
        del in_tie, rows, group, key, codes
    query_start = np.flatnonzero(np.concatenate(([True], query[order][1:] != query[order][:-1])))
    position = np.arange(n) - np.repeat(query_start, np.diff(np.append(query_start, n)))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = position
    return rank


def packed_argsort(key: np.ndarray) -> np.ndarray:
    """np.argsort(key, kind="stable") for int keys >= 0, by one plain sort of (key, position) packed in an integer.

    numpy's sort of int64 is vectorised and its argsort is not: 0.5 s against 6 s for 10M random keys here.
    """
    n = len(key)
    bits = max(n - 1, 1).bit_length()
    if n == 0 or int(key.max()).bit_length() + bits > 63:
        return np.argsort(key, kind="stable")
    return np.sort((key.astype(np.int64) << bits) | np.arange(n)) & ((1 << bits) - 1)


Same = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (run rows, other indices) -> do they hold the same document


def judged_rows(
    query: np.ndarray,
    doc: np.ndarray,
    judged_query: np.ndarray,
    judged_doc: np.ndarray,
    same_judged: Same,
    same_run: Same,
) -> np.ndarray:
    """Run row of every judged document, -1 where it was not retrieved.

    doc, judged_doc: a non-negative integer per document (codes, or 64-bit hashes), equal for the same document.
    (query, doc) and the row are packed into one integer and sorted, so the low bits of doc stand in for the document;
    where keys collide, same_judged(run rows, judged indices) and same_run(run rows, run rows) tell documents apart.
    Raises DuplicateRetrieval when a (query, document) appears twice in the run.
    """
    n = len(query)
    row_bits = max(n - 1, 1).bit_length()
    doc_bits = 63 - row_bits - max(int(max(query.max(initial=0), judged_query.max(initial=0))), 1).bit_length()
    packed = query.astype(np.int64) << doc_bits  # built in place: each 10M-row temporary is 80 MB
    packed |= _low_bits(doc, doc_bits)
    packed <<= row_bits
    packed |= np.arange(n)
    packed.sort()
    row = packed & ((1 << row_bits) - 1)
    packed >>= row_bits
    key = packed
    repeat = np.flatnonzero(key[1:] == key[:-1])
    if len(repeat):  # a repeated document, or two documents of a query whose low bits collide
        _check_repeats(key, row, repeat, same_run)
    wanted = judged_query.astype(np.int64) << doc_bits | _low_bits(judged_doc, doc_bits)
    by_wanted = np.argsort(wanted)  # sorted needles: the binary searches walk the keys in order, cache-friendly
    low, high = np.empty_like(by_wanted), np.empty_like(by_wanted)
    low[by_wanted] = np.searchsorted(key, wanted[by_wanted], "left")
    high[by_wanted] = np.searchsorted(key, wanted[by_wanted], "right")
    out = np.full(len(wanted), -1, dtype=np.int64)
    single = np.flatnonzero(high - low == 1)
    if len(single):
        candidate = row[low[single]]
        hit = same_judged(candidate, single)
        out[single[hit]] = candidate[hit]
    for j in np.flatnonzero(high - low > 1):
        candidates = row[low[j] : high[j]]
        hit = same_judged(candidates, np.full(len(candidates), j))
        if hit.any():
            out[j] = candidates[hit][0]
    return out


def _low_bits(values: np.ndarray, bits: int) -> np.ndarray:
    """The low `bits` bits of non-negative int64 codes or uint64 hashes, as int64."""
    return (values & values.dtype.type((1 << bits) - 1)).view(np.int64)


def _check_repeats(key: np.ndarray, row: np.ndarray, repeat: np.ndarray, same_run: Same) -> None:
    """Raise DuplicateRetrieval if two rows with equal keys hold the same document (every pair is compared)."""
    pairs = [(row[repeat], row[repeat + 1])]  # neighbours, at once
    starts = repeat[np.concatenate(([True], np.diff(repeat) > 1))]
    ends = np.searchsorted(key, key[starts], "right")
    for start, end in zip(starts[ends - starts > 2], ends[ends - starts > 2]):  # three or more rows share a key
        members = row[start:end]
        pairs += [(np.full(len(members) - i - 2, members[i]), members[i + 2 :]) for i in range(len(members) - 2)]
    for first, second in pairs:
        twice = same_run(first, second)
        if twice.any():
            raise DuplicateRetrieval(
                f"run row {int(second[twice][0])} repeats the (query, document) of run row "
                f"{int(first[twice][0])}; a run lists each document at most once per query"
            )


def metric_arrays(
    query: np.ndarray, doc: np.ndarray, score: np.ndarray, judged: Judgements, n_queries: int, ks: Iterable[int]
) -> dict[str, np.ndarray]:
    """Per-query values of every metric at every K, for a run as flat arrays (one entry per retrieved document).

    query: [N] query row (same numbering as judged.query, 0 .. n_queries - 1); doc: [N] codes >= 0 that sort like the
    document ids and match judged.doc (< 0: never retrieved); score: [N].
    Raises DuplicateRetrieval when a (query, doc) repeats.
    """
    doc = doc.astype(np.int64, copy=False)

    def same(run_rows: np.ndarray, other: np.ndarray) -> np.ndarray:
        return doc[run_rows] == judged.doc[other]

    def same_run(run_rows: np.ndarray, other: np.ndarray) -> np.ndarray:
        return doc[run_rows] == doc[other]

    rows = judged_rows(query, doc, judged.query, np.maximum(judged.doc, 0), same, same_run)
    rows[judged.doc < 0] = -1
    rank = trec_ranks(query, score, doc)
    return metrics_from_ranks(
        judged, np.where(rows >= 0, rank[np.maximum(rows, 0)] if len(rank) else -1, -1), n_queries, ks
    )


def metrics_from_ranks(
    judged: Judgements, rank: np.ndarray, n_queries: int, ks: Iterable[int]
) -> dict[str, np.ndarray]:
    """Per-query values of every metric at every K, from the 0-based rank of each judged document (-1: not retrieved)."""
    ks = sorted(set(ks))
    retrieved = rank >= 0
    relevant = judged.grade >= 1
    R = np.bincount(judged.query, weights=relevant.astype(np.float64), minlength=n_queries)
    gain = np.where(judged.grade > 0, judged.grade, 0.0)
    found = retrieved & relevant
    # precision at each retrieved relevant document: (relevant ranked at or above it) / (its rank + 1)
    order = np.lexsort((rank[found], judged.query[found]))
    found_q, found_rank = judged.query[found][order], rank[found][order]
    position = np.arange(len(found_q)) - np.searchsorted(found_q, found_q)  # 0-based index among the query's hits
    precision_at_hit = (position + 1) / (found_rank + 1)
    first_hit = np.full(n_queries, np.inf)
    np.minimum.at(first_hit, found_q, found_rank + 1.0)
    # ideal ordering of each query's judged grades for the NDCG denominator
    ideal = np.lexsort((-gain, judged.query))
    ideal_q, ideal_gain = judged.query[ideal], gain[ideal]
    ideal_rank = np.arange(len(ideal_q)) - np.searchsorted(ideal_q, ideal_q)

    has_relevant = R > 0
    safe_R = np.where(has_relevant, R, 1.0)
    discount = np.where(retrieved, 1.0 / np.log2(np.maximum(rank, 0) + 2.0), 0.0)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        in_cut = retrieved & (rank < k)
        dcg = np.bincount(judged.query, weights=gain * discount * in_cut, minlength=n_queries)
        idcg = np.bincount(
            ideal_q, weights=ideal_gain / np.log2(ideal_rank + 2.0) * (ideal_rank < k), minlength=n_queries
        )
        hits = np.bincount(judged.query, weights=(relevant & in_cut).astype(np.float64), minlength=n_queries)
        precision = np.where(has_relevant, hits / k, 0.0)
        recall = hits / safe_R
        both = precision + recall
        out[f"ndcg@{k}"] = np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1.0), 0.0)
        out[f"mrr@{k}"] = np.where(first_hit <= k, 1.0 / np.where(np.isfinite(first_hit), first_hit, 1.0), 0.0)
        out[f"map@{k}"] = (
            np.bincount(found_q, weights=precision_at_hit * (found_rank < k), minlength=n_queries) / safe_R
        )
        out[f"recall@{k}"] = recall
        out[f"precision@{k}"] = precision
        out[f"f1@{k}"] = np.where(both > 0, 2 * precision * recall / np.where(both > 0, both, 1.0), 0.0)
    return {f"{m}@{k}": out[f"{m}@{k}"] for m in METRICS for k in ks}


def metric_matrix(
    doc_codes: np.ndarray, scores: np.ndarray, judged: Judgements, ks: Iterable[int]
) -> dict[str, np.ndarray]:
    """Per-query values of every metric at every K, for a run as a [queries, depth] matrix (a search result).

    doc_codes: [n, depth] int codes that sort like the document ids, -1 for an empty slot; scores: [n, depth].
    """
    row, column = np.nonzero(doc_codes >= 0)
    return metric_arrays(row, doc_codes[row, column], scores[row, column], judged, doc_codes.shape[0], ks)


def summarise(
    values: dict[str, np.ndarray], query_ids: list[str]
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(macro averages, per-query values) from metric_matrix's arrays."""
    macro = {name: float(v.mean()) if len(v) else 0.0 for name, v in values.items()}
    columns = {name: v.tolist() for name, v in values.items()}
    return macro, {q: {name: columns[name][i] for name in columns} for i, q in enumerate(query_ids)}


def evaluate_run(run: Run, qrels: Qrels, ks: Iterable[int]) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(macro averages, per-query values) over every query in the qrels, for a run as {query: {doc: score}}."""
    query_ids = list(qrels)
    names = sorted({d for q in query_ids for d in run.get(q, {})} | {d for docs in qrels.values() for d in docs})
    code = {name: i for i, name in enumerate(names)}  # sorted names: codes compare like the ids
    sizes = [len(run.get(q, {})) for q in query_ids]
    values = metric_arrays(
        np.repeat(np.arange(len(query_ids)), sizes),
        np.array([code[d] for q in query_ids for d in run.get(q, {})], dtype=np.int64),
        np.array([s for q in query_ids for s in run.get(q, {}).values()], dtype=np.float64),
        Judgements(
            query=np.array([row for row, q in enumerate(query_ids) for _ in qrels[q]], dtype=np.int64),
            doc=np.array([code[d] for q in query_ids for d in qrels[q]], dtype=np.int64),
            grade=np.array([g for q in query_ids for g in qrels[q].values()], dtype=np.float64),
        ),
        len(query_ids),
        ks,
    )
    return summarise(values, query_ids)


def score_frames(run: pl.DataFrame, qrels: pl.DataFrame, ks: Iterable[int]) -> tuple[dict[str, float], pl.DataFrame]:
    """(macro averages, per-query table) over every query of the qrels, for a run and qrels as frames.

    run: query_id, doc_id, score (float); qrels: query_id, doc_id, score (int grade), each (query, doc) once.
    The per-query table has query_id, retrieved (documents in the run) and one column per metric, in qrels order.
    Raises DuplicateRetrieval when the run lists a document twice for a judged query.

    Documents are matched by hash rather than through a table of strings (a 10M-row run with 1M distinct ids spends
    seconds building one); a match is confirmed on the strings. Only documents tied on score are ordered by id.
    """
    import polars as pl

    query_ids = qrels["query_id"].unique(maintain_order=True)
    as_row = pl.Enum(query_ids)
    run_row = run["query_id"].cast(as_row, strict=False)
    if run_row.null_count():  # queries the qrels do not judge are ignored
        keep = run_row.is_not_null()
        run, run_row = run.filter(keep), run_row.filter(keep)
    query = run_row.to_physical().to_numpy().astype(np.int64)
    docs, judged_docs, score = run["doc_id"], qrels["doc_id"], run["score"].to_numpy()
    del run, run_row  # the query ids are no longer needed (the caller may let go of the frame too)

    def same_judged(run_rows: np.ndarray, judged: np.ndarray) -> np.ndarray:
        return (docs.gather(run_rows) == judged_docs.gather(judged)).to_numpy()

    def same_run(run_rows: np.ndarray, other: np.ndarray) -> np.ndarray:
        return (docs.gather(run_rows) == docs.gather(other)).to_numpy()

    judged = Judgements(
        qrels["query_id"].cast(as_row).to_physical().to_numpy().astype(np.int64),
        np.zeros(qrels.height, dtype=np.int64),
        qrels["score"].to_numpy().astype(np.float64),
    )
    rows = judged_rows(
        query, docs.hash().to_numpy(), judged.query, judged_docs.hash().to_numpy(), same_judged, same_run
    )
    rank = trec_ranks(query, score, lambda tied: docs.gather(tied).rank("dense").to_numpy().astype(np.int64))
    values = metrics_from_ranks(
        judged, np.where(rows >= 0, rank[np.maximum(rows, 0)] if len(rank) else -1, -1), query_ids.len(), ks
    )
    macro = {name: float(v.mean()) if len(v) else 0.0 for name, v in values.items()}
    retrieved = np.bincount(query, minlength=query_ids.len())
    return macro, pl.DataFrame({"query_id": query_ids, "retrieved": retrieved, **values})


def score_files(
    run_path: str | Path, qrels_path: str | Path, ks: Iterable[int]
) -> tuple[dict[str, float], pl.DataFrame]:
    """score_frames on a TREC run file and a TREC or BEIR qrels file; bad lines raise DataError naming each one."""
    from tasks.ingest.trec import read_qrels_frame, read_run, read_run_frame

    try:
        return score_frames(read_run_frame(run_path), read_qrels_frame(qrels_path), ks)
    except DuplicateRetrieval:
        read_run(run_path)  # the line-by-line reader names every repeated line
        raise
