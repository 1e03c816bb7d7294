"""Curriculum: the mined candidates capped at rising difficulty, easy first, one training stage per cap.

Input: MiningConfig — `curriculum` lists the upper difficulty bound of each stage (difficulty = a negative's score over
its positive's score under the same strategy, so 1.0 is as close as the positive), plus the shared filters.
Output: one Window per stage; stage i takes the hardest negatives with difficulty at most bound[i]. Caps rather than
disjoint bands: a narrow hard band (say 0.92–0.95) holds too few candidates for most pairs on a small corpus and
would be filled at random, which is the opposite of hard; with caps every stage is full and the last is plain mining.
The train step then runs once per stage, each from the previous stage's model, with epochs split evenly, so the
training budget is the same as without a curriculum. Without `curriculum` there is one stage and one window.
Reference: Bengio et al., "Curriculum Learning" (ICML 2009), https://doi.org/10.1145/1553374.1553380; the difficulty
ratio follows NV-Retriever's positive-relative scores, https://arxiv.org/abs/2407.15831.
Example: stage_windows(MiningConfig(curriculum=[0.7, 0.85, 0.95])) -> 3 windows
"""

from __future__ import annotations

from tasks.config import MiningConfig
from tasks.mining.filters import Window


def stage_windows(cfg: MiningConfig) -> list[Window]:
    common = dict(
        rank_min=cfg.rank_min,
        rank_max=cfg.rank_max,
        max_score_ratio=cfg.max_score_ratio,
        absolute_margin=cfg.absolute_margin,
        max_score=cfg.max_score,
    )
    if not cfg.curriculum:
        return [Window(**common)]
    return [Window(**common, max_difficulty=cap) for cap in cfg.curriculum]
