"""The six Prefect tasks of a retraining run. Each is a thin shell: read refs, call plain functions, write, return a ref.

Every task is cached by content (input refs' hashes + the config section it reads + its code, see
storage.content_key) and retried on transient failures; bad data or config fails at once, since retrying cannot help.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
from prefect import task
from prefect.context import TaskRunContext
from pydantic import BaseModel, ConfigDict

from tasks import distributed, embeddings, loss_curve, metrics, mining, registry, report
from tasks import evaluate as evaluation_logic
from tasks import gate as gate_logic
from tasks import train as train_logic
from tasks.config import ConfigError, DataConfig, EvalConfig, GateConfig, MiningConfig, PipelineConfig, TrainConfig, dump_config
from tasks.embeddings import ModelNotFoundError, corpus_embeddings, encode, load_model, pick_device
from tasks.gate import Decision, decide
from tasks.ingest import DataError, beir, convert, leakage, sources, tables
from tasks.ingest import pairs as pairs_logic
from tasks.ingest import pipeline as ingest_pipeline
from tasks.ingest.pipeline import Ingested
from tasks.registry import RegistryEntry
from tasks.storage import (
    DatasetRef,
    ModelRef,
    StoreError,
    content_key,
    dir_sha256,
    file_sha256,
    publish_dir,
    read_frame,
    write_frame,
)

logger = logging.getLogger(__name__)

MINING_MODULES = tuple(sys.modules[f"tasks.mining.{name}"] for name in (
    "bm25", "candidates", "contradiction", "curriculum", "dense", "domain_confusion", "filters", "partial_match"))

PERMANENT = (DataError, ConfigError, ModelNotFoundError, StoreError, ValueError)


def _retryable(task_, task_run, state) -> bool:
    """Retry transient failures (I/O, out of memory, a killed worker), not bad input."""
    try:
        exc = state.result(raise_on_failure=False)
    except Exception:
        return True
    return not isinstance(exc, PERMANENT)


RETRIES = dict(retries=2, retry_delay_seconds=10, retry_condition_fn=_retryable, persist_result=True)


class SourceRef(BaseModel):
    """The user's dataset folder (or file) and the hash of everything in it."""

    model_config = ConfigDict(frozen=True)
    path: str
    sha256: str


class Mined(BaseModel):
    model_config = ConfigDict(frozen=True)
    negatives: DatasetRef  # MinedNegativeSchema, every curriculum stage in one file
    report: dict  # rows per strategy, stages, false_negative_rate per strategy, false_negative_pairs, seconds


class Trained(BaseModel):
    model_config = ConfigDict(frozen=True)
    model: ModelRef
    stats: dict


class Evaluation(BaseModel):
    model_config = ConfigDict(frozen=True)
    metrics: dict[str, dict[str, float]]  # role (base, champion, candidate) -> metric -> value
    dims: dict[str, dict[str, dict[str, float]]]  # role -> embedding size -> metric -> value
    bm25: dict[str, float] | None  # the lexical baseline on the same queries
    per_query: DatasetRef
    champion_name: str
    models: dict[str, ModelRef]  # which models these figures belong to, so a new candidate never reuses a decision


def fingerprint(cfg: DataConfig) -> SourceRef:
    """Hash the configured data as it is on disk now; any byte changed gives a new ingest cache key."""
    files = [cfg.corpus, cfg.queries, *cfg.qrels.values()] if cfg.qrels is not None else [cfg.path]
    files += [extra.path for extra in cfg.extra]
    digests = []
    for name in files:
        target = Path(name)
        if target.is_dir():
            digests.append(dir_sha256(target))
        elif target.is_file():
            digests.append(file_sha256(target))
        else:
            raise DataError(f"data file or folder {name} does not exist", [])
    sha = digests[0] if len(digests) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest()
    return SourceRef(path=str(Path(cfg.path).resolve()), sha256=sha)


@task(name="ingest", cache_key_fn=content_key(modules=(ingest_pipeline, beir, pairs_logic, leakage, sources, convert, tables)), **RETRIES)
def ingest(source: SourceRef, cfg: DataConfig, store: str) -> Ingested:
    """Validate the data (quarantining or failing on bad rows), check leakage, write everything to the store."""
    return ingest_pipeline.ingest_data(source.path, cfg, store)


@task(name="mine", cache_key_fn=content_key(ignore=("device",), modules=(mining, *MINING_MODULES)), **RETRIES)
def mine(data: Ingested, base: ModelRef, cfg: MiningConfig, store: str, device: str = "auto") -> Mined:
    """Hard negatives for every train pair from the configured strategies, positive-aware filtered, with a report."""
    started = time.perf_counter()
    pairs, corpus = read_frame(data.train_pairs), read_frame(data.corpus)
    query_vectors = doc_vectors = None
    if cfg.needs_vectors:
        model = load_model(base, device)
        doc_vectors = corpus_embeddings(model, base, data.corpus, store, cfg.encode_batch_size)
        anchors = pairs.unique("query_id", keep="first", maintain_order=True)["anchor"].to_list()
        query_vectors = encode(model, anchors, cfg.encode_batch_size, "train queries")
    metadata = read_frame(data.doc_metadata) if data.doc_metadata is not None else None
    negatives, mined = mining.mine_negatives(pairs, corpus, cfg, query_vectors, doc_vectors, read_frame(data.labels), metadata)
    ref = write_frame(negatives, store, "negatives")
    if TaskRunContext.get() is not None:  # an artifact needs a run to attach to; a bench calling .fn has none
        report.publish_mining(mined, negatives)
    return Mined(negatives=ref, report={**mined, "seconds": round(time.perf_counter() - started, 2)})


@task(name="train", cache_key_fn=content_key(modules=(train_logic, distributed, loss_curve, tables, convert)), **RETRIES)
def train(data: Ingested, negatives: DatasetRef, base: ModelRef, cfg: TrainConfig, store: str, stage: int = 0, stages: int = 1) -> Trained:
    """Fine-tune `base` on (anchor, positive, negatives…) of one curriculum stage and publish it to the store.

    With a curriculum each stage trains epochs / stages, starting from the previous stage's model.
    """
    pairs, corpus = read_frame(data.train_pairs), read_frame(data.corpus)
    dev = None
    if cfg.dev_fraction > 0:
        pairs, dev = train_logic.split_dev(pairs, corpus, cfg.dev_fraction, cfg.dev_corpus_size, cfg.seed)
    mined = read_frame(negatives).filter(pl.col("stage") == stage)
    sets = {"main": train_logic.TrainingSet(train_logic.training_frame(pairs, mined, corpus), cfg.loss)}
    for extra in data.extra:
        rows = train_logic.table_rows(extra.type, read_frame(extra.table))
        sets[extra.name] = train_logic.TrainingSet(rows, train_logic.loss_for(extra.type, extra.loss, cfg.loss))
    if stages > 1:
        epochs = cfg.epochs or train_logic.auto_epochs(sum(ts.frame.height for ts in sets.values()))
        cfg = cfg.model_copy(update={"epochs": epochs / stages})
    Path(store).mkdir(parents=True, exist_ok=True)
    # checkpoints live under a name fixed by the inputs: a retry of this very training finds and resumes them
    inputs = json.dumps([data.train_pairs.sha256, negatives.sha256, base.sha256, cfg.model_dump(mode="json"), stage], sort_keys=True)
    checkpoints = Path(store) / "checkpoints" / hashlib.sha256(inputs.encode()).hexdigest()[:16]
    work = Path(tempfile.mkdtemp(dir=store, prefix=".train-"))  # same filesystem as the store: publish is a rename
    try:
        device = pick_device(cfg.device)
        processes = distributed.processes_for(cfg, device)
        if processes > 1:
            stats = distributed.train_distributed(base.path, sets, cfg, work, device, processes, checkpoints, dev)
        else:
            stats = train_logic.train_model(base.path, sets, cfg, work, device, checkpoints, dev)
        model = publish_dir(work / "model", store, "models", name=base.name if base.name.endswith("-tuned") else f"{base.name}-tuned")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(checkpoints, ignore_errors=True)  # finished: nothing left to resume
    return Trained(model=model, stats={**stats, "stage": stage, "stages": stages})


@task(name="evaluate", cache_key_fn=content_key(ignore=("device",), modules=(evaluation_logic, metrics, embeddings)), **RETRIES)
def evaluate(data: Ingested, base: ModelRef, candidate: ModelRef, champion: ModelRef, cfg: EvalConfig, store: str, device: str = "auto") -> Evaluation:
    """Base, champion and candidate (and BM25) on the test qrels; a model evaluated once is not evaluated again."""
    roles = {"base": base, "champion": champion, "candidate": candidate}
    metrics: dict[str, dict[str, float]] = {}
    dims: dict[str, dict[str, dict[str, float]]] = {}
    by_sha: dict[str, tuple] = {}
    frames = []
    for role, ref in roles.items():
        if ref.sha256 not in by_sha:
            by_sha[ref.sha256] = evaluation_logic.evaluate_model(ref, data.corpus, data.queries, data.test_qrels, cfg, store, device)
        (macro, per_query), by_dim = by_sha[ref.sha256]
        metrics[role] = macro
        dims[role] = {str(dim): values for dim, values in by_dim.items()}
        frames.append(pl.DataFrame([{"model": role, "query_id": qid, **values} for qid, values in per_query.items()]))
        logger.info("%s (%s): %s", role, ref.name, {k: round(macro[k], 4) for k in evaluation_logic.HEADLINE})
    bm25 = evaluation_logic.evaluate_bm25(data.corpus, data.queries, data.test_qrels, cfg)[0] if cfg.bm25 else None
    per_query_ref = write_frame(pl.concat(frames), store, "eval_per_query")
    return Evaluation(metrics=metrics, dims=dims, bm25=bm25, per_query=per_query_ref, champion_name=champion.name, models=roles)


@task(name="gate", cache_key_fn=content_key(modules=(gate_logic,)), **RETRIES)
def gate(result: Evaluation, cfg: GateConfig) -> Decision:
    """Promote or not, from the candidate's and champion's per-query metrics alone."""
    roles = evaluation_logic.per_query_by_role(read_frame(result.per_query))
    decision = decide(roles["candidate"], roles["champion"], cfg, champion_name=result.champion_name)
    logger.info(decision.reason)
    return decision


@task(name="register", cache_key_fn=content_key(ignore=("summary",), modules=(registry, report)), **RETRIES)
def register(candidate: ModelRef, decision: Decision, baseline: ModelRef, cfg: PipelineConfig, data: Ingested, summary: dict) -> RegistryEntry:
    """Save the candidate as a registry version with manifest, config and report; move the champion pointer if promoted."""
    root = Path(cfg.registry.root)
    summary = {**summary, "model_path": str((root / registry.version_of(candidate)).resolve())}
    manifest = {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": candidate.model_dump(),
        "base_model": summary["base_model"],
        "judged_against": baseline.model_dump(),
        "decision": decision.model_dump(),
        "metrics": summary["metrics"],
        "datasets": {name: ref.model_dump() for name, ref in data if isinstance(ref, DatasetRef)},
        "ingest": data.report,
        "source": summary["dataset"],
        "training": summary.get("training"),
        "timings": summary.get("steps"),
        "code_version": registry.code_version(),
        "config": cfg.model_dump(mode="json"),
    }
    files = {
        "pipeline_config.yaml": dump_config(cfg),
        "report.md": report.run_markdown(summary, chart="report.png"),
        "report.png": report.chart_png(summary),
    }
    entry = registry.register(candidate, decision.promote, baseline, root, files, manifest)
    logger.info("registered %s at %s (champion: %s) %s", entry.version, entry.path, entry.champion, entry.note)
    pruned = registry.prune(root, cfg.registry.keep)
    if pruned:
        logger.info("pruned old versions beyond registry.keep=%d: %s", cfg.registry.keep, ", ".join(pruned))
    return entry
