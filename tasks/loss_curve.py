"""Reading a training loss curve: did it plateau early, oscillate, diverge, or go down steadily?

Input: the logged (step, loss) points of one training run. Output: a verdict, the advice a person would give, and
the numbers it rests on, for the run report. Thresholds are deliberately coarse: the curve of a contrastive loss is
noisy (each batch holds different negatives), so only clear patterns are named.
"""

from __future__ import annotations

import math
import statistics


def diagnose(curve: list[tuple[int, float]]) -> dict:
    """{"verdict", "advice", "evidence"}; verdict is one of too_short, diverging, plateaued_early, oscillating,
    inconclusive, healthy."""
    losses = [float(loss) for _, loss in curve]
    if len(losses) < 6:
        return {
            "verdict": "too_short",
            "advice": "too few logged steps to judge the loss curve",
            "evidence": {"points": len(losses)},
        }
    n = len(losses)
    n_head, n_tail = max(2, n // 10), max(2, n // 5)
    head, tail = statistics.fmean(losses[:n_head]), statistics.fmean(losses[-n_tail:])
    # batch-to-batch noise, from successive differences (they cancel the trend): a rise of the tail over the head
    # within two standard errors of that difference is what two different sets of batches give by chance
    noise = statistics.pstdev([b - a for a, b in zip(losses, losses[1:])]) / math.sqrt(2)
    noise_margin = 2 * noise * math.sqrt(1 / n_head + 1 / n_tail)
    drop = (head - tail) / head if head else 0.0
    quarter = max(1, n // 4)
    second_quarter, last_quarter = statistics.fmean(losses[quarter : 2 * quarter]), statistics.fmean(losses[-quarter:])
    # still coming down in the second half? a noisy curve that keeps falling is not oscillating
    late_gain = (second_quarter - last_quarter) / second_quarter if second_quarter else 0.0
    second = losses[n // 2 :]
    steps = [b - a for a, b in zip(second, second[1:])]
    rises = sum(1 for d in steps if d > 0) / len(steps)
    swing = statistics.pstdev(steps) / statistics.fmean(second) if statistics.fmean(second) else 0.0
    # how far into training the loss first came within 10% of where it ends up (of the total fall)
    reached = next((i for i, loss in enumerate(losses) if loss - tail <= 0.1 * max(head - tail, 1e-12)), n - 1) / (
        n - 1
    )
    # per-batch losses swing because each batch holds different negatives; those swings are independent from step to
    # step, while a learning rate too high makes the model itself bounce, which leaves the detrended losses correlated
    # with their neighbours (typically a see-saw: strongly negative). Beyond ±2/sqrt(n) is more than chance.
    fit = statistics.linear_regression(range(n), losses)
    residuals = [v - (fit.slope * i + fit.intercept) for i, v in enumerate(losses)]  # least squares: they sum to 0
    energy = sum(r * r for r in residuals)
    lag1 = sum(a * b for a, b in zip(residuals, residuals[1:])) / energy if energy else 0.0
    evidence = {
        "first_loss": round(head, 4),
        "last_loss": round(tail, 4),
        "relative_drop": round(drop, 3),
        "rising_steps_second_half": round(rises, 2),
        "step_swing": round(swing, 3),
        "late_gain": round(late_gain, 3),
        "share_of_training_to_reach_final_level": round(reached, 2),
        "noise_margin": round(noise_margin, 4),
        "lag1_autocorrelation": round(lag1, 3),
        "chance_band": round(2 / math.sqrt(n), 3),
    }
    if tail > head * 1.05 and tail - head > noise_margin:
        return {"verdict": "diverging", "advice": "diverging: lower lr", "evidence": evidence}
    # at its final level from the start and not rising beyond noise: the steps barely moved the model (a noisy
    # curve of this shape is batch noise around a flat line, not an oscillation caused by the learning rate)
    if reached <= 0.3 and drop < 0.15:
        return {"verdict": "plateaued_early", "advice": "plateaued early: raise lr", "evidence": evidence}
    if swing > 0.25 and rises >= 0.4 and late_gain < 0.1 and abs(lag1) > 2 / math.sqrt(n):
        return {"verdict": "oscillating", "advice": "oscillating: lower lr / longer warmup", "evidence": evidence}
    if head - tail <= noise_margin:  # no fall beyond the batch noise, and no sign of the model bouncing either
        return {
            "verdict": "inconclusive",
            "advice": "no fall beyond the batch noise: compare learning rates (bench/sweep.py)",
            "evidence": evidence,
        }
    return {"verdict": "healthy", "advice": "loss went down steadily", "evidence": evidence}
