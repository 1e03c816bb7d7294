"""What every retriever hands the negative selector."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Candidates:
    """Top-k documents per query from one retriever, and that retriever's score for each pair's positive.

    indices/scores: [n_queries, k] corpus row indices and scores, best first.
    positive_scores: [n_pairs] the score the same retriever gives the pair's positive document.
    """

    name: str
    indices: np.ndarray
    scores: np.ndarray
    positive_scores: np.ndarray
