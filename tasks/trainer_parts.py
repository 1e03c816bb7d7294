"""What train_model hands the trainer: the dev evaluation that picks checkpoints and recipes, and the time budget.
(Imports sentence-transformers and transformers, so it is loaded only by training.)"""

from __future__ import annotations

import functools
import logging
import time

from sentence_transformers.base.evaluation.evaluator import BaseEvaluator
from transformers import DefaultFlowCallback, TrainerCallback

from tasks.config import PassageConfig
from tasks.train import steps_that_fit
from tasks.train_records import DEV_NAME, DEV_PRIMARY, DevSet

logger = logging.getLogger(__name__)


class DevEvaluator(BaseEvaluator):
    """Dev NDCG@10 scored the way the gate scores the test queries: documents by their best passage, long queries by
    their passages' mean (tasks/passages.py). An encoder-cut evaluation would judge a long document by its first window
    and pick checkpoints and recipes for that instead."""

    def __init__(self, dev: DevSet, batch_size: int = 64):
        super().__init__()
        self.dev, self.batch_size, self.primary_metric = dev, batch_size, DEV_PRIMARY

    def __call__(self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict[str, float]:
        from tasks.evaluate import dense_metrics  # polars: the trainer itself runs without it
        from tasks.passages import encode_passages, encode_queries

        cfg = self.dev.passages or PassageConfig(split=False)
        query_ids, doc_ids = list(self.dev.queries), list(self.dev.corpus)
        queries = encode_queries(model, [self.dev.queries[q] for q in query_ids], cfg, self.batch_size)
        titles = [self.dev.titles.get(d, "") for d in doc_ids] if self.dev.titles else None
        docs, rows = encode_passages(
            model, [self.dev.corpus[d] for d in doc_ids], cfg, self.batch_size, "dev documents", titles
        )
        qrels = {q: dict.fromkeys(self.dev.relevant[q], 1) for q in query_ids}
        (macro, _), _, _ = dense_metrics(queries, docs, query_ids, doc_ids, qrels, [10], [], rows)
        metrics = self.prefix_name_to_metrics(
            {f"cosine_{m}@10": macro[f"{m}@10"] for m in ("ndcg", "mrr", "recall")}, DEV_NAME
        )
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics


class TimeBudget(TrainerCallback):
    """Stops training when train.budget_minutes is spent, with the learning rate still decaying to zero at the end.

    After the first PROBE_STEPS steps it times their pace, works out how many steps the budget holds
    (steps_that_fit), and when that is fewer than planned moves the trainer's last step and the linear schedule's end
    there (the warmup keeps its share of the steps). It times the pace again after 2, 4, 8 … times PROBE_STEPS steps,
    from the steps since the last look, and moves the last step again, never past the plan: a slow start (a busy
    machine, the first batches' warm-up) no longer cuts the whole run short, and a slowdown later still ends it in
    time. A move after the warmup keeps the learning rate where it is and decays it from there to zero at the new last
    step (no jump). Every process of a distributed run takes the first process's figure, so all stop at the same step.
    """

    PROBE_STEPS = 5

    def __init__(self, minutes: float):
        self.seconds = minutes * 60
        self.planned: int | None = None
        self.capped: int | None = None
        self.seconds_per_step: float | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.started, self.first_step, self.planned = time.perf_counter(), state.global_step, state.max_steps
        self.probe_time: float | None = None  # when the pace was last timed (None: not yet, time from the start)
        self.probe_done = 0

    def on_step_end(self, args, state, control, lr_scheduler=None, **kwargs):
        done = state.global_step - self.first_step
        looks = done // self.PROBE_STEPS
        if done % self.PROBE_STEPS or looks == 0 or looks & (looks - 1):
            return  # look after 1, 2, 4, 8 … times PROBE_STEPS steps
        now = time.perf_counter()
        timed = done - self.probe_done
        pace = (now - (self.probe_time or self.started)) / timed  # seconds a step since the last look
        self.probe_time, self.probe_done, self.seconds_per_step = now, done, round(pace, 3)
        total = _same_everywhere(
            steps_that_fit(self.planned, state.global_step, pace, self.seconds - (now - self.started))
        )
        if total == state.max_steps:
            return
        logger.warning(
            "train.budget_minutes=%g: at %.1f s a step (the last %d steps), %d of the %d planned steps fit; training "
            "stops there (the learning rate decays to zero there)",
            self.seconds / 60,
            pace,
            timed,
            total,
            self.planned,
        )
        self.capped = total if total < self.planned else None
        _move_schedule_end(lr_scheduler, state.global_step, total)
        state.max_steps = total
        # the trainer's own end-of-training rules (stop, last evaluation and save) for the step that is now the last
        DefaultFlowCallback().on_step_end(args, state, control)

    def summary(self) -> dict:
        return {
            "minutes": self.seconds / 60,
            "planned_steps": self.planned,
            "steps_allowed": self.capped or self.planned,
            "seconds_per_step": self.seconds_per_step,
            "capped": self.capped is not None,
        }


def _move_schedule_end(lr_scheduler, step: int, total: int) -> None:
    """Make the linear warmup-then-decay schedule end at `total`. In the warmup: the warmup keeps its share of the
    steps. After it: the learning rate keeps its value at `step` and decays linearly from there to zero at `total`
    (a warmup length w with (total - step) / (total - w) equal to the current factor; w may fall below zero)."""
    schedule = getattr(lr_scheduler, "lr_lambdas", [None])[0]
    if not (isinstance(schedule, functools.partial) and "num_training_steps" in schedule.keywords):
        return
    keywords = schedule.keywords
    warmup = keywords.get("num_warmup_steps", 0)
    factor = schedule(step)
    if step < warmup or factor <= 0:
        share = warmup / max(keywords["num_training_steps"], 1)
        new = {"num_training_steps": total, "num_warmup_steps": round(share * total)}
    else:
        new = {"num_training_steps": total, "num_warmup_steps": total - (total - step) / factor}
    lr_scheduler.lr_lambdas[0] = functools.partial(schedule.func, **{**keywords, **new})


def _same_everywhere(value: int) -> int:
    """`value` as the first training process has it (processes time their steps slightly differently)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return value
    tensor = torch.tensor([value], dtype=torch.long)
    dist.broadcast(tensor, src=0)
    return int(tensor.item())
