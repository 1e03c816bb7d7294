"""The promotion decision: a pure function of the candidate's and the champion's per-query metrics.

A candidate is promoted only when all three hold:
1) its primary metric beats the champion's by at least `min_delta` (and by more than 0);
2) a one-sided paired randomization test over queries (sign flips of the per-query differences, seeded) gives
   p < `alpha`, so the gain is unlikely to be noise from a few queries;
3) no guard metric drops by more than its tolerance.
Reference: Smucker, Allan & Carterette, "A Comparison of Statistical Significance Tests for Information Retrieval
Evaluation" (CIKM 2007), https://doi.org/10.1145/1321440.1321528 — the randomization test.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from tasks.config import GateConfig

PerQuery = dict[str, dict[str, float]]  # query id -> metric -> value


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True)
    promote: bool
    reason: str
    metric: str
    candidate: float
    champion: float
    delta: float
    p_value: float | None  # None when the paired test is switched off (alpha >= 1)
    guard_deltas: dict[str, float]


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


def decide(candidate: PerQuery, champion: PerQuery, cfg: GateConfig, champion_name: str = "champion") -> Decision:
    """Promote or not; the reason names every number the decision used."""
    if set(candidate) != set(champion):
        raise ValueError(
            f"the candidate was scored on {len(candidate)} queries and {champion_name} on {len(champion)}; "
            "a paired decision needs the same queries"
        )
    needed = [cfg.metric, *cfg.guards]
    for side, per_query in (("candidate", candidate), (champion_name, champion)):
        sample = next(iter(per_query.values()), {})
        missing = [m for m in needed if m not in sample]
        if missing:
            raise ValueError(f"the {side} metrics lack {missing} (have {sorted(sample)})")
    queries = sorted(candidate)
    differences = np.array([candidate[q][cfg.metric] - champion[q][cfg.metric] for q in queries])
    new, old = _mean(candidate, cfg.metric), _mean(champion, cfg.metric)
    delta = new - old
    p_value = paired_randomization_p(differences, cfg.permutations, cfg.seed) if cfg.alpha < 1 else None
    guard_deltas = {g: _mean(candidate, g) - _mean(champion, g) for g in cfg.guards}

    failures = []
    if not (delta > 0 and delta >= cfg.min_delta):
        failures.append(f"gain {delta:+.4f} is below min_delta {cfg.min_delta:.4f}" if delta > 0 else f"no gain ({delta:+.4f})")
    if p_value is not None and p_value >= cfg.alpha:
        failures.append(f"paired randomization p={p_value:.4f} is not below alpha {cfg.alpha}")
    for guard, change in guard_deltas.items():
        if change < -cfg.guards[guard]:
            failures.append(f"guard {guard} drops {change:+.4f}, more than its tolerance {cfg.guards[guard]:.4f}")

    test = f"p={p_value:.4f}" if p_value is not None else "paired test off"
    head = f"{cfg.metric} {new:.4f} vs {champion_name} {old:.4f} ({delta:+.4f}, {len(queries)} queries, {test})"
    if failures:
        reason = f"not promoted: {head}; " + "; ".join(failures)
    else:
        guards = ", ".join(f"{g} {d:+.4f}" for g, d in guard_deltas.items()) or "none"
        significance = f"p < alpha {cfg.alpha}, " if p_value is not None else ""
        reason = f"promoted: {head}; gain >= min_delta {cfg.min_delta:.4f}, {significance}guards ok ({guards})"
    return Decision(
        promote=not failures, reason=reason, metric=cfg.metric, candidate=new, champion=old, delta=delta,
        p_value=p_value, guard_deltas=guard_deltas,
    )
