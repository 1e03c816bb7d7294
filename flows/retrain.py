"""The retraining flow: ingest → BM25 baseline → mine → train → evaluate → gate → register.

A recipe; the logic lives in tasks/.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from flows import encode as engine
from flows import train as pool_train
from tasks import auto, memory, report
from tasks.config import PipelineConfig
from tasks.embeddings import resolve_model
from tasks.results import ensure_storage_block, result_options
from tasks.steps import (
    bm25_baseline,
    champion_of,
    evaluate,
    fingerprint,
    gate,
    ingest,
    mine,
    registration,
    reporting,
    train,
)
from tasks.summary import RunRecord, RunSummary, StageRecord

# the tasks log through `logging` (captured by Prefect via PREFECT_LOGGING_EXTRA_LOGGERS=tasks); show their INFO lines
logging.getLogger("tasks").setLevel(logging.INFO)
logger = logging.getLogger("tasks.flow")


def _step(steps: dict[str, dict], name: str, task: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one task, note whether it was a cache hit, how long it took and its peak memory; return its result."""
    started = time.perf_counter()
    memory.reset_peak()
    state = task(*args, return_state=True, **kwargs)
    result = state.result()  # raises the task's own error when it failed
    steps[name] = {
        "cached": state.name == "Cached",
        "seconds": round(time.perf_counter() - started, 3),
        "peak_gb": memory.peak_gb(),
    }
    return result


def _train_step(steps: dict[str, dict], name: str, pipeline: PipelineConfig, **inputs: Any) -> Any:
    """The train task here, or with compute.gpu_pool as the deployment train/gpu on that pool (flows/train.py)."""
    pool = pipeline.compute.gpu_pool
    if pool is None:
        return _step(steps, name, train.with_options(task_run_name=name), **inputs)
    started = time.perf_counter()
    done = pool_train.run_on_pool(pool, name, **inputs)
    steps[name] = {
        "cached": done.cached,
        "seconds": round(time.perf_counter() - started, 3),
        "peak_gb": done.peak_gb,
        "pool": pool,
        "host": done.host,
    }
    return done.trained


def _encode_step(
    steps: dict[str, dict], name: str, cfg: PipelineConfig, current: Any, model: Any, corpus: Any, store: str
) -> None:
    """compute.engine dask: encode the corpus for `model` in shards on the cluster, where the steps after it will look."""
    if current is None:
        return
    started = time.perf_counter()
    done = engine.encode_on_engine(current, model, corpus, cfg.eval.passages, cfg.mining.encode_batch_size, store)
    steps[name] = {
        "cached": done["cached"],
        "seconds": round(time.perf_counter() - started, 3),
        "peak_gb": None,
        "shards": done["shards"],
    }


def _searched(steps: dict[str, dict], name: str, current: Any) -> None:
    """compute.engine dask: how many of the step's exact searches ran in query shards on the cluster."""
    if current is not None:
        steps[name].update(current.take_searches())


def _train_stages(
    steps: dict[str, dict], data: Any, mined: Any, base: Any, cfg: PipelineConfig, store: str
) -> tuple[Any, list[StageRecord], list]:
    """One train step, or one per curriculum stage (each from the last one's model); `steps["train"]` sums the stages.

    Returns the last stage's result, the per-stage records (empty without a curriculum) and every stage's loss curve.
    """
    stages = cfg.mining.stages
    model, trained, record, curves = base, None, [], []
    for stage in range(stages):
        name = "train" if stages == 1 else f"train-stage-{stage + 1}"
        trained = _train_step(
            steps,
            name,
            cfg,
            data=data,
            negatives=mined.negatives,
            base=model,
            cfg=cfg.train,
            store=store,
            stage=stage,
            stages=stages,
            passages=cfg.eval.passages,
            kept=mined.pairs,
        )
        model = trained.model
        done = steps[name]
        record.append(
            StageRecord(
                stage=stage + 1,
                cached=done["cached"],
                seconds=done["seconds"],
                peak_gb=done["peak_gb"],
                train_loss=trained.stats.train_loss,
            )
        )
        curves.append(trained.stats.loss_curve)
    if stages > 1:
        for stage in range(stages):
            steps.pop(f"train-stage-{stage + 1}")
        steps["train"] = {
            "cached": all(r.cached for r in record),
            "seconds": round(sum(r.seconds for r in record), 3),
            "peak_gb": max((r.peak_gb for r in record if r.peak_gb is not None), default=None),
        }
    return trained, record if stages > 1 else [], curves


def _auto_recipe(
    steps: dict[str, dict], data: Any, mined: Any, base: Any, cfg: PipelineConfig, store: str
) -> tuple[PipelineConfig, dict]:
    """train.auto: successive halving over the recipe grid, each trial a cached train step judged on held-out training
    queries (tasks/auto.py); returns the config the final training uses and what the search did. train.budget_minutes
    counts from here: the search and the final training, not ingest and mining."""
    started = time.perf_counter()
    tcfg = cfg.train
    rows = (mined.pairs or data.train_pairs).rows
    recipes = auto.grid(tcfg, min(rows, tcfg.auto_trial_pairs or rows))
    epochs_by_rung = auto.rung_epochs(tcfg)
    trials: list[dict] = []
    stopped = None
    for rung, _ in enumerate(epochs_by_rung):
        scored = []
        for chunk in range(0, len(recipes), tcfg.auto_parallel):
            batch = recipes[chunk : chunk + tcfg.auto_parallel]
            last = trials[-1] if trials else None
            estimate = last["seconds"] * batch[0].epochs / last["epochs"] if last and not last["cached"] else 0.0
            if trials and auto.over_budget(tcfg.budget_minutes, time.perf_counter() - started, estimate):
                stopped = f"train.budget_minutes={tcfg.budget_minutes:g}: search stopped before rung {rung + 1} trial {chunk + 1}"
                break
            names = [f"trial-{rung + 1}-{chunk + i + 1}" for i in range(len(batch))]
            trial_cfgs = [
                tcfg.model_copy(
                    update={
                        "learning_rate": r.learning_rate,
                        "batch_size": r.batch_size,
                        "epochs": r.epochs,
                        "dev_fraction": tcfg.auto_dev_fraction,
                        "auto": False,
                        "max_pairs": tcfg.auto_trial_pairs,
                        "budget_minutes": auto.trial_minutes(
                            tcfg.budget_minutes, len(epochs_by_rung), len(recipes), tcfg.auto_parallel
                        ),
                    }
                )
                for r in batch
            ]
            if len(batch) == 1:
                results = [
                    _step(
                        steps,
                        names[0],
                        train.with_options(task_run_name=names[0]),
                        data,
                        mined.negatives,
                        base,
                        trial_cfgs[0],
                        store,
                        passages=cfg.eval.passages,
                        kept=mined.pairs,
                    )
                ]
            else:  # side by side (several trials fit one GPU)
                begun = time.perf_counter()
                futures = [
                    train.with_options(task_run_name=n).submit(
                        data, mined.negatives, base, c, store, passages=cfg.eval.passages, kept=mined.pairs
                    )
                    for n, c in zip(names, trial_cfgs)
                ]
                results = [f.result() for f in futures]
                for n, f in zip(names, futures):
                    steps[n] = {
                        "cached": f.state.name == "Cached",
                        "seconds": round(time.perf_counter() - begun, 3),
                        "peak_gb": memory.peak_gb(),
                    }
            for recipe, name, trained in zip(batch, names, results):
                record = auto.trial_record(recipe, rung, trained.stats, steps[name]["seconds"], steps[name]["cached"])
                trials.append({"name": name, **record})
                scored.append((recipe, record["dev_ndcg@10"] if record["dev_ndcg@10"] is not None else float("-inf")))
        if stopped or rung + 1 == len(epochs_by_rung):
            break
        recipes = auto.survivors(scored, tcfg.auto_eta, epochs_by_rung[rung + 1])
    recipe, why = auto.choose(trials)
    speeds = [t["examples_per_second"] for t in trials if t["examples_per_second"] and not t["cached"]]
    epochs, capped = auto.final_epochs(
        recipe,
        tcfg.budget_minutes,
        time.perf_counter() - started,
        rows,
        sorted(speeds)[len(speeds) // 2] if speeds else None,
    )
    final = cfg.model_copy(
        update={
            "train": tcfg.model_copy(
                update={
                    "learning_rate": recipe.learning_rate,
                    "batch_size": recipe.batch_size,
                    "epochs": epochs,
                    "auto": False,
                    "budget_minutes": None,
                }
            )
        }
    )  # the search bounds the trials and caps the final epochs itself (tasks/auto.py)
    summary = {
        "recipe": {"learning_rate": recipe.learning_rate, "batch_size": recipe.batch_size, "epochs": epochs},
        "trial_pairs": min(rows, tcfg.auto_trial_pairs or rows),
        "train_pairs": rows,
        "why": why,
        "trials": trials,
        "dev_fraction": tcfg.auto_dev_fraction,
        "rungs": epochs_by_rung,
        "eta": tcfg.auto_eta,
        "budget_minutes": tcfg.budget_minutes,
        "stopped": stopped,
        "capped": capped,
    }
    logger.info("train.auto chose %s: %s", auto.Recipe(recipe.learning_rate, recipe.batch_size, epochs).label(), why)
    return final, summary


@flow(name="retrain", **result_options(tasks=False))
def retrain(cfg: PipelineConfig = PipelineConfig()) -> dict[str, Any]:
    """Turn the configured dataset into a candidate model and promote it if it beats the champion."""
    started = time.perf_counter()
    ensure_storage_block()
    store = str(Path(cfg.registry.store).resolve())
    device = cfg.train.device
    steps: dict[str, dict] = {}
    base = resolve_model(cfg.train.base_model)
    data = _step(steps, "ingest", ingest, fingerprint(cfg.data), cfg.data, store, base=base)
    lexical = (
        _step(
            steps,
            "baseline",
            bm25_baseline,
            data.corpus,
            data.queries,
            data.test_qrels,
            cfg.eval.bm25_engine,
            cfg.eval.k_values,
            store,
        )
        if cfg.eval.bm25
        else None
    )
    with engine.session(cfg.compute, store) as current:  # dask: one cluster for the run's encodings and searches
        _encode_step(steps, "encode-base", cfg, current, base, data.corpus, store)
        mined = _step(steps, "mine", mine, data, base, cfg.mining, store, device=device, passages=cfg.eval.passages)
        _searched(steps, "mine", current)
        auto_summary = None
        if cfg.train.auto:
            cfg, auto_summary = _auto_recipe(steps, data, mined, base, cfg, store)
        trained, stages, curves = _train_stages(steps, data, mined, base, cfg, store)
        judged_against = champion_of(cfg, trained.model, base)
        _encode_step(steps, "encode-candidate", cfg, current, trained.model, data.corpus, store)
        if judged_against.sha256 != base.sha256:
            _encode_step(steps, "encode-champion", cfg, current, judged_against, data.corpus, store)
        result = _step(
            steps,
            "evaluate",
            evaluate,
            data,
            base,
            trained.model,
            judged_against,
            cfg.eval,
            store,
            lexical,
            device=device,
        )
        _searched(steps, "evaluate", current)
    decision = _step(steps, "gate", gate, result, cfg.gate)
    record = RunRecord(  # validated here: a key its writer renamed fails the run now, not in a reader later
        promoted=decision.promote,
        reason=decision.reason,
        dataset=cfg.data.path,
        line=cfg.registry.line,
        ingest=data.report,
        base_model=cfg.train.base_model,
        metrics=result.metrics,
        bm25=result.bm25,
        hybrid=result.hybrid.get("candidate"),  # RRF of BM25 and the candidate, the same keys as metrics.candidate
        rrf_k=result.rrf_k,
        dims=result.dims,
        passages=result.passages,
        decision=decision,
        training=trained.stats,
        mining=mined.report,
        curriculum=stages,
        auto=auto_summary,
        compute=cfg.compute.model_dump(),
    )
    entry = _step(
        steps,
        "register",
        registration(cfg, trained.model, decision.promote),
        trained.model,
        decision,
        judged_against,
        cfg,
        data,
        record.with_steps(steps),
    )
    reason = record.reason + (f"; {entry.note}" if entry.note else "")
    record = record.model_copy(
        update={
            "model_path": entry.path,
            "version": entry.version,
            "champion": entry.champion,
            "promoted": entry.promoted,
            "reason": reason,
        }
    )
    readings = _step(steps, "report", reporting(entry.path), record, curves, entry.path, timings=dict(steps))
    record = report.with_readings(record.with_steps(steps), readings["readings"])
    record = record.model_copy(update={"flow_run_id": str(flow_run.id)})
    report.publish(record, mined.negatives)
    # what orchestration costs: the flow's wall time beyond the time spent inside its steps
    flow_seconds = round(time.perf_counter() - started, 3)
    summary = RunSummary(
        **dict(record),
        flow_seconds=flow_seconds,
        orchestration_seconds=round(flow_seconds - sum(s["seconds"] for s in steps.values()), 3),
        cost=report.run_cost(flow_seconds, cfg.compute.price_per_hour),  # the whole run, wall time
    )
    return summary.model_dump(mode="json")
