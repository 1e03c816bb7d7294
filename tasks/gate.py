"""The promotion decision: a pure function of the candidate's and the champion's metrics."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from tasks.config import GateConfig


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True)
    promote: bool
    reason: str
    metric: str
    candidate: float
    champion: float
    delta: float


def decide(candidate: dict[str, float], champion: dict[str, float], cfg: GateConfig, champion_name: str = "champion") -> Decision:
    """Promote only if the candidate beats the champion on cfg.metric by at least cfg.min_delta (and by more than 0)."""
    metric = cfg.metric
    for side, metrics in (("candidate", candidate), (champion_name, champion)):
        if metric not in metrics:
            raise ValueError(f"gate metric {metric!r} is missing from the {side} metrics ({sorted(metrics)})")
    new, old = candidate[metric], champion[metric]
    delta = new - old
    promote = delta > 0 and delta >= cfg.min_delta
    verdict = "promoted" if promote else "not promoted"
    need = f"needs > 0 and >= {cfg.min_delta:.4f}"
    reason = f"{verdict}: {metric} {new:.4f} vs {champion_name} {old:.4f} (delta {delta:+.4f}; {need})"
    return Decision(promote=promote, reason=reason, metric=metric, candidate=new, champion=old, delta=delta)
