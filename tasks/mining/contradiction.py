"""Contradiction strategy: documents the user's labels say contradict the query.

Input schema: MiningInput.evidence[params.label] — query row -> document rows labelled as contradicting it (for IR
data read from the evidence labels in queries.jsonl metadata, e.g. SciFact's {"doc_id": [{"label": "CONTRADICT"}]}).
Output schema: Candidates "contradiction", per pair — the query's contradicting documents other than the pair's own
positive, best dense score first when embeddings are at hand. They are negatives by label, so the score filters do not
apply; a pair whose positive is itself a contradicting document gets none (its slots go to the other strategies).
For NLI data the same idea is the converter nli_to_triplets: a premise's contradiction hypotheses are its negatives.
Reference: Gao et al., "SimCSE: Simple Contrastive Learning of Sentence Embeddings" (2021),
https://arxiv.org/abs/2104.08821 (contradictions as hard negatives); Wadden et al., "Fact or Fiction: Verifying
Scientific Claims" (2020), https://arxiv.org/abs/2004.14974 (SciFact's SUPPORT/CONTRADICT evidence).
Example: contradiction_candidates(MiningInput(..., evidence={"CONTRADICT": {0: {17, 40}}}), k=50)
"""

from __future__ import annotations

import numpy as np

from tasks.mining.candidates import Candidates, MiningInput
from tasks.mining.strategy import Strategy, StrategyParams


class ContradictionParams(StrategyParams):
    label: str = (
        "CONTRADICT"  # value of the evidence label (queries.jsonl metadata) that marks a contradicting document
    )


def contradiction_candidates(
    inp: MiningInput, k: int, params: ContradictionParams = ContradictionParams()
) -> Candidates:
    n_pairs = len(inp.pair_query)
    indices = np.full((n_pairs, max(1, k)), -1, dtype=np.int64)
    scores = np.full((n_pairs, max(1, k)), np.nan, dtype=np.float32)
    positive_scores = np.full(n_pairs, np.nan, dtype=np.float32)
    vectors = inp.query_vectors is not None and inp.doc_vectors is not None
    contradicting = inp.evidence.get(params.label, {})
    for pair, (query, positive) in enumerate(zip(inp.pair_query.tolist(), inp.pair_doc.tolist())):
        labelled = contradicting.get(query, set())
        if positive in labelled:
            continue
        docs = np.array(sorted(labelled), dtype=np.int64)[:k]
        if vectors:
            positive_scores[pair] = float(inp.doc_vectors[positive] @ inp.query_vectors[query])
            sims = inp.doc_vectors[docs] @ inp.query_vectors[query] if docs.size else np.empty(0, dtype=np.float32)
            order = np.lexsort((docs, -sims))
            docs, sims = docs[order], sims[order]
            scores[pair, : docs.size] = sims
        indices[pair, : docs.size] = docs
    return Candidates("contradiction", indices, scores, positive_scores, per_pair=True, labelled=True)


STRATEGY = Strategy("contradiction", ContradictionParams, contradiction_candidates)
