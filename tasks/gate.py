"""The promotion decision: a pure function of the candidate's and the champion's per-query metrics (and BM25's).

What is compared is the dense model alone (`target: dense`) or its hybrid with BM25 (`target: hybrid`, for a team whose
search fuses the two): the candidate's hybrid against the champion's hybrid. A candidate is promoted only when all hold:
1) its primary metric beats the champion's by at least `min_delta` (and by more than 0), "beats" in the metric's own
   direction (tasks/metrics.py: higher_is_better; every gain, drop and delta below is counted that way);
2) a one-sided paired randomization test over queries (sign flips of the per-query differences, seeded) gives
   p < `alpha`, so the gain is unlikely to be noise from a few queries;
3) no guard metric drops by more than its tolerance;
4) with `bm25_floor` (and BM25's per-query metrics given), its primary metric is not below BM25's on the same queries:
   a model that loses to the lexical baseline should not serve alone, whatever it gains over the champion.
Reference: Smucker, Allan & Carterette, "A Comparison of Statistical Significance Tests for Information Retrieval
Evaluation" (CIKM 2007), https://doi.org/10.1145/1321440.1321528 — the randomization test.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from tasks.config import GateConfig
from tasks.metrics import higher_is_better

PerQuery = dict[str, dict[str, float]]  # query id -> metric -> value


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True)
    promote: bool
    reason: str
    metric: str
    candidate: float
    champion: float
    delta: float  # the gain: candidate - champion, negated for a metric where lower is better
    higher_is_better: bool = True  # the primary metric's direction (tasks/metrics.py)
    p_value: float | None  # None when the paired test is switched off (alpha >= 1)
    guard_deltas: dict[str, float]
    target: str = "dense"  # what candidate and champion are: the dense models, or their hybrids with BM25
    bm25: float | None = None  # BM25's primary metric on the same queries (None: no baseline given)
    hybrid: float | None = None  # the candidate's hybrid (RRF with BM25) primary metric (None: not given)


def paired_randomization_p(differences: np.ndarray, permutations: int, seed: int) -> float:
    """One-sided p-value that the mean per-query difference is > 0, by random sign flips (with the +1 correction)."""
    n = len(differences)
    if n == 0:
        return 1.0
    observed = differences.mean()
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, permutations, 2_000):  # in blocks, to bound memory on large query sets
        size = min(2_000, permutations - start)
        signs = rng.choice(np.array([-1.0, 1.0]), size=(size, n))
        hits += int(np.count_nonzero((signs @ differences) / n >= observed - 1e-12))
    return (hits + 1) / (permutations + 1)


def _mean(per_query: PerQuery, metric: str) -> float:
    return float(np.mean([values[metric] for values in per_query.values()])) if per_query else 0.0


def decide(
    candidate: PerQuery,
    champion: PerQuery,
    cfg: GateConfig,
    champion_name: str = "champion",
    bm25: PerQuery | None = None,
    candidate_hybrid: PerQuery | None = None,
    champion_hybrid: PerQuery | None = None,
) -> Decision:
    """Promote or not; the reason names every number the decision used.

    `bm25` is BM25's per-query metrics (the floor), `candidate_hybrid` and `champion_hybrid` those of each model fused
    with BM25 (compared instead of the models when `cfg.target` is hybrid; the candidate's is quoted either way).
    """
    hybrid = _mean(candidate_hybrid, cfg.metric) if candidate_hybrid is not None else None
    if cfg.target == "hybrid":
        if candidate_hybrid is None or champion_hybrid is None:
            raise ValueError(
                "gate.target=hybrid compares the candidate's and the champion's hybrids with BM25, but "
                "their per-query metrics were not given; turn eval.bm25 on or set gate.target=dense"
            )
        candidate, champion = candidate_hybrid, champion_hybrid
    label = "hybrid " if cfg.target == "hybrid" else ""
    for side, per_query in ((champion_name, champion), ("BM25", bm25)):
        if per_query is not None and set(candidate) != set(per_query):
            raise ValueError(
                f"the candidate was scored on {len(candidate)} queries and {side} on {len(per_query)}; "
                "a paired decision needs the same queries"
            )
    needed = [cfg.metric, *cfg.guards]
    sides = [("candidate", candidate, needed), (champion_name, champion, needed)] + (
        [("BM25", bm25, [cfg.metric])] if bm25 else []
    )
    for side, per_query, wanted in sides:
        sample = next(iter(per_query.values()), {})
        missing = [m for m in wanted if m not in sample]
        if missing:
            raise ValueError(f"the {side} metrics lack {missing} (have {sorted(sample)})")
    queries = sorted(candidate)
    sign = 1.0 if higher_is_better(cfg.metric) else -1.0  # gains are counted in the metric's own direction
    differences = sign * np.array([candidate[q][cfg.metric] - champion[q][cfg.metric] for q in queries])
    new, old = _mean(candidate, cfg.metric), _mean(champion, cfg.metric)
    delta = sign * (new - old)
    p_value = paired_randomization_p(differences, cfg.permutations, cfg.seed) if cfg.alpha < 1 else None
    guard_deltas = {
        g: (1.0 if higher_is_better(g) else -1.0) * (_mean(candidate, g) - _mean(champion, g)) for g in cfg.guards
    }

    failures = []
    floor = _mean(bm25, cfg.metric) if bm25 is not None and cfg.bm25_floor else None
    worse = "below" if sign > 0 else "above"  # the side of BM25 a worse score lies on
    if floor is not None and sign * (new - floor) < 0:
        if cfg.target == "hybrid":
            failures.append(f"the hybrid's {cfg.metric} {new:.4f} is {worse} BM25's {floor:.4f} on the same queries")
        else:
            fused = (
                (
                    f"; the hybrid (RRF of BM25 and the candidate) scores {hybrid:.4f} — if your search is hybrid, "
                    "gate on it with gate.target=hybrid"
                )
                if hybrid is not None
                else ""
            )
            failures.append(
                f"the candidate's {cfg.metric} {new:.4f} is {worse} BM25's {floor:.4f} on the same queries{fused}"
            )
    if not (delta > 0 and delta >= cfg.min_delta):
        failures.append(
            f"gain {delta:+.4f} is below min_delta {cfg.min_delta:.4f}" if delta > 0 else f"no gain ({delta:+.4f})"
        )
    if p_value is not None and p_value >= cfg.alpha:
        failures.append(f"paired randomization p={p_value:.4f} is not below alpha {cfg.alpha}")
    for guard, change in guard_deltas.items():
        if change < -cfg.guards[guard]:
            failures.append(f"guard {guard} drops {change:+.4f}, more than its tolerance {cfg.guards[guard]:.4f}")

    test = f"p={p_value:.4f}" if p_value is not None else "paired test off"
    head = f"{label}{cfg.metric} {new:.4f} vs {champion_name} {old:.4f} ({delta:+.4f}, {len(queries)} queries, {test})"
    if failures:
        reason = f"not promoted: {head}; " + "; ".join(failures)
    else:
        guards = ", ".join(f"{g} {d:+.4f}" for g, d in guard_deltas.items()) or "none"
        significance = f"p < alpha {cfg.alpha}, " if p_value is not None else ""
        above = f", not {worse} BM25 {floor:.4f}" if floor is not None else ""
        reason = f"promoted: {head}; gain >= min_delta {cfg.min_delta:.4f}, {significance}guards ok ({guards}){above}"
    return Decision(
        promote=not failures,
        reason=reason,
        metric=cfg.metric,
        candidate=new,
        champion=old,
        delta=delta,
        higher_is_better=sign > 0,
        p_value=p_value,
        guard_deltas=guard_deltas,
        target=cfg.target,
        bm25=_mean(bm25, cfg.metric) if bm25 is not None else None,
        hybrid=hybrid,
    )
