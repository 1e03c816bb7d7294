"""Honest model selection: the training recipe (learning rate, batch size, epochs) is chosen on a dev split held out
from the training queries, never on the test queries, by successive halving.

Every (learning rate, batch size) pair of the grid trains at rung 0 for `auto_max_epochs / eta^(rungs-1)` epochs; the
best 1/eta by dev NDCG@10 go on to the next rung with eta times the epochs, and so on (Jamieson & Talwalkar 2016,
"Non-stochastic Best Arm Identification and Hyperparameter Optimization", https://arxiv.org/abs/1502.07943). The winner's
epochs are where its dev curve peaked. The chosen recipe then trains on all training queries, and the test queries
are scored once, by that model. A time budget stops the search early (the best trial of the highest rung reached wins)
and caps the final training's epochs to the time left.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from tasks.config import TrainConfig
from tasks.train_records import TrainStats

SEARCH_SHARE = 0.6  # of train.budget_minutes, the share the trials may use; the rest is the final training's


@dataclass(frozen=True)
class Recipe:
    learning_rate: float
    batch_size: int
    epochs: float

    def label(self) -> str:
        return f"lr {self.learning_rate:g}, batch {self.batch_size}, {self.epochs:g} epochs"


def rung_epochs(cfg: TrainConfig) -> list[float]:
    """Epochs trained at each rung, last rung at auto_max_epochs: 3 epochs, eta 3, 2 rungs -> [1, 3]."""
    return [round(cfg.auto_max_epochs / cfg.auto_eta ** (cfg.auto_rungs - 1 - r), 4) for r in range(cfg.auto_rungs)]


def grid(cfg: TrainConfig, rows: int) -> list[Recipe]:
    """Rung 0's recipes: every learning rate × batch size, leaving out batches larger than the training rows (an
    in-batch loss cannot fill them). Falls back to the configured batch size when none fits."""
    batches = [b for b in cfg.auto_batch_sizes if b <= rows] or [min(cfg.batch_size, rows)]
    first = rung_epochs(cfg)[0]
    return [Recipe(lr, batch, first) for batch in batches for lr in cfg.auto_learning_rates]


def survivors(scored: list[tuple[Recipe, float]], eta: int, epochs: float) -> list[Recipe]:
    """The best ceil(n / eta) recipes by dev score (ties: the earlier in the grid), at the next rung's epochs."""
    keep = math.ceil(len(scored) / eta)
    ranked = sorted(range(len(scored)), key=lambda i: (-scored[i][1], i))[:keep]
    return [Recipe(scored[i][0].learning_rate, scored[i][0].batch_size, epochs) for i in sorted(ranked)]


def peak_epochs(epochs: float, best_step: int | None, steps: int) -> float:
    """Epochs up to where the dev curve peaked, in half epochs (at least half of one): a run that peaked early is not
    trained past its peak again."""
    if not best_step or not steps:
        return epochs
    return max(0.5, min(epochs, math.ceil(2 * epochs * best_step / steps) / 2))


def trial_record(recipe: Recipe, rung: int, stats: TrainStats, seconds: float, cached: bool) -> dict:
    """One row of the trial table: the recipe, its dev figures and cost."""
    dev = stats.dev
    return {
        **asdict(recipe),
        "rung": rung + 1,
        "dev_ndcg@10": dev.best_ndcg if dev else None,
        "dev_curve": dev.ndcg_by_step if dev else [],
        "best_step": dev.best_checkpoint_step if dev else None,
        "steps": stats.steps,
        "trained_epochs": stats.epochs,  # fewer than `epochs` when the trial's time ran out
        "examples_per_second": stats.examples_per_second,
        "seconds": round(seconds, 1),
        "cached": cached,
    }


def choose(trials: list[dict]) -> tuple[Recipe, str]:
    """The winner: the best dev NDCG@10 among the trials of the highest rung reached; epochs where its curve peaked."""
    top = max(t["rung"] for t in trials)
    finalists = [t for t in trials if t["rung"] == top and t["dev_ndcg@10"] is not None]
    if not finalists:
        raise ValueError("no trial produced a dev score; train.auto needs training queries to hold out")
    best = max(finalists, key=lambda t: t["dev_ndcg@10"])
    epochs = peak_epochs(best.get("trained_epochs") or best["epochs"], best["best_step"], best["steps"])
    runner = sorted((t["dev_ndcg@10"] for t in finalists), reverse=True)[1:2]
    margin = f", {best['dev_ndcg@10'] - runner[0]:+.4f} over the runner-up" if runner else ""
    why = (
        f"best dev NDCG@10 {best['dev_ndcg@10']:.4f} at rung {top} of {len(trials)} trials{margin}; "
        f"its dev curve peaked at step {best['best_step']} of {best['steps']}, so {epochs:g} epochs"
    )
    return Recipe(best["learning_rate"], best["batch_size"], epochs), why


def final_epochs(
    recipe: Recipe, budget_minutes: float | None, spent_seconds: float, rows: int, examples_per_second: float | None
) -> tuple[float, str | None]:
    """The final training's epochs under the budget's remainder (at the trials' measured speed); a note when capped."""
    if budget_minutes is None or not examples_per_second:
        return recipe.epochs, None
    left = max(0.0, budget_minutes * 60 - spent_seconds)
    affordable = left * examples_per_second / max(rows, 1)
    if affordable >= recipe.epochs:
        return recipe.epochs, None
    epochs = max(0.05, round(affordable, 2))
    return epochs, (
        f"train.budget_minutes={budget_minutes:g}: {left / 60:.1f} min left after the search, at "
        f"{examples_per_second:.2f} examples/s that is {epochs:g} of the chosen {recipe.epochs:g} epochs "
        f"over {rows} rows"
    )


def trial_minutes(budget_minutes: float | None, rungs: int, trials: int, parallel: int) -> float | None:
    """The time one trial of a rung may train: the search's share of the budget, split evenly over the rungs and over
    the rounds of trials in this rung (`parallel` trials run side by side in one round). A trial that would take
    longer stops there, its learning-rate schedule shortened to end at that step (trainer_parts.TimeBudget), so every
    trial of a rung gets the same time and no trial can spend the whole budget on a slow machine."""
    if budget_minutes is None:
        return None
    return SEARCH_SHARE * budget_minutes / rungs / math.ceil(trials / parallel)


def over_budget(budget_minutes: float | None, spent_seconds: float, next_seconds: float) -> bool:
    """True when the next trial would take the search past its share of the budget."""
    return budget_minutes is not None and spent_seconds + next_seconds > SEARCH_SHARE * budget_minutes * 60
