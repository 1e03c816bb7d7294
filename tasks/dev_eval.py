"""The dev evaluation that picks checkpoints and recipes while training (imports sentence-transformers, so it is loaded
only by training)."""

from __future__ import annotations

from sentence_transformers.base.evaluation.evaluator import BaseEvaluator

from tasks.config import PassageConfig
from tasks.evaluate import ranked_dense_metrics
from tasks.passages import encode_passages, encode_queries
from tasks.train import DevSet


class DevEvaluator(BaseEvaluator):
    """Dev NDCG@10 scored the way the gate scores the test queries: documents by their best passage, long queries by
    their passages' mean (tasks/passages.py). An encoder-cut evaluation would judge a long document by its first window
    and pick checkpoints and recipes for that instead."""

    def __init__(self, dev: DevSet, batch_size: int = 64):
        super().__init__()
        self.dev, self.batch_size, self.primary_metric = dev, batch_size, "cosine_ndcg@10"

    def __call__(self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict[str, float]:
        cfg = self.dev.passages or PassageConfig(split=False)
        query_ids, doc_ids = list(self.dev.queries), list(self.dev.corpus)
        queries = encode_queries(model, [self.dev.queries[q] for q in query_ids], cfg, self.batch_size)
        docs, rows = encode_passages(model, [self.dev.corpus[d] for d in doc_ids], cfg, self.batch_size, "dev documents")
        qrels = {q: dict.fromkeys(self.dev.relevant[q], 1) for q in query_ids}
        (macro, _), _, _ = ranked_dense_metrics(queries, docs, query_ids, doc_ids, qrels, [10], [], rows)
        metrics = self.prefix_name_to_metrics({f"cosine_{m}@10": macro[f"{m}@10"] for m in ("ndcg", "mrr", "recall")}, "dev")
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics
