"""The Prefect tasks of a retraining run. Each is a thin shell: read refs, call plain functions, write, return a ref.

Every task is cached by content: its input refs' hashes, the config section it reads, and the code it runs, derived
from the task function through the import graph (tasks/codehash.py), so a change to any code a task reaches reruns it
and nothing else does. Results are stored as JSON (tasks/results.py). Transient failures are retried; everything else
fails at once, since retrying a bug or bad data only wastes the time it takes to fail again.
"""

from __future__ import annotations

import errno
import hashlib
import inspect
import json
import logging
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import get_type_hints

import polars as pl
from prefect import task
from pydantic import BaseModel, ConfigDict, create_model

from tasks import distributed, liveness, loss_curve, losses, mining, registry, report
from tasks import evaluate as evaluation_logic
from tasks import passages as passage_logic
from tasks import train as train_logic
from tasks.codehash import code_digest
from tasks.config import (
    DataConfig,
    EvalConfig,
    GateConfig,
    MiningConfig,
    PassageConfig,
    PipelineConfig,
    TrainConfig,
    dump_config,
)
from tasks.embeddings import corpus_passage_embeddings, load_model, pick_device
from tasks.gate import Decision, decide
from tasks.ingest import DataError
from tasks.ingest import pipeline as ingest_pipeline
from tasks.ingest.pipeline import Ingested
from tasks.registry import RegistryEntry
from tasks.results import result_options
from tasks.storage import (
    DatasetRef,
    ModelRef,
    atomic_write_bytes,
    atomic_write_text,
    content_key,
    dir_sha256,
    exclusive_lock,
    file_sha256,
    publish_dir,
    read_frame,
    write_frame,
)
from tasks.summary import RunRecord
from tasks.train_records import TrainStats

logger = logging.getLogger(__name__)

# OSError numbers that say "try again later" (busy, interrupted, network or NFS hiccups), unlike a missing file
TRANSIENT_ERRNO = {
    errno.EAGAIN,
    errno.EBUSY,
    errno.EINTR,
    errno.EIO,
    errno.ESTALE,
    errno.ETIMEDOUT,
    errno.ECONNRESET,
    errno.ECONNREFUSED,
    errno.ECONNABORTED,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ENETDOWN,
}


def transient(exc: BaseException | None) -> bool:
    """Worth retrying: I/O and network hiccups, a killed training worker, an accelerator out of memory."""
    if isinstance(exc, (ConnectionError, TimeoutError, InterruptedError, BlockingIOError, distributed.WorkerKilled)):
        return True
    if type(exc).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError, named so this module needs no torch
        return True
    return isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNO


def _retryable(task_, task_run, state) -> bool:
    """Prefect's retry condition: the failure's exception is transient (anything else is a bug or bad input)."""
    try:
        exc = state.result(raise_on_failure=False)
    except Exception as error:  # the stored failure could not be read: judge by that error
        exc = error
    if not transient(exc):
        logger.info("not retrying %s: %s is not a transient failure", task_run.name, type(exc).__name__)
        return False
    return True


RETRIES = dict(retries=2, retry_delay_seconds=10, retry_condition_fn=_retryable)
RESULTS = result_options()


class SourceRef(BaseModel):
    """The user's dataset folder (or file) and the hash of everything in it."""

    model_config = ConfigDict(frozen=True)
    path: str
    sha256: str


class Mined(BaseModel):
    model_config = ConfigDict(frozen=True)
    negatives: DatasetRef  # MinedNegativeSchema, every curriculum stage in one file
    # the train pairs mined, when mining.max_pairs_per_query kept only some (PairSchema)
    pairs: DatasetRef | None = None
    report: dict  # rows per strategy, stages, false_negative_rate per strategy, false_negative_pairs, seconds


class Trained(BaseModel):
    model_config = ConfigDict(frozen=True)
    model: ModelRef
    stats: TrainStats


class PoolTrained(BaseModel):
    """The train step run on a work pool of its own (flows/train.py): its result and how it ran there. Defined here, not
    in the flow's module: a deployment loads that module under another name, and results decode only project models."""

    model_config = ConfigDict(frozen=True)
    trained: Trained
    cached: bool
    seconds: float
    peak_gb: float
    host: str


class Baseline(BaseModel):
    """BM25 on the test queries, computed once per (corpus, queries, qrels) content and engine."""

    model_config = ConfigDict(frozen=True)
    metrics: dict[str, float]  # macro, the same keys as a model's
    per_query: DatasetRef  # (model="bm25", query_id, every metric)
    ranking: DatasetRef  # BM25's top max(k_values) per judged query (query_id, rank, doc_id, score), for the hybrid
    engine: str


class Evaluation(BaseModel):
    model_config = ConfigDict(frozen=True)
    metrics: dict[str, dict[str, float]]  # role (base, champion, candidate) -> metric -> value
    dims: dict[str, dict[str, dict[str, float]]]  # role -> embedding size -> metric -> value
    bm25: dict[str, float] | None  # the lexical baseline on the same queries
    per_query: DatasetRef  # model (a role, "bm25" or "hybrid:<role>"), query_id, every metric
    champion_name: str
    models: dict[str, ModelRef]  # which models these figures belong to, so a new candidate never reuses a decision
    hybrid: dict[str, dict[str, float]] = {}  # role -> metrics of its RRF hybrid with BM25 (empty without the baseline)
    rrf_k: int | None = None  # the fusion constant of those hybrids
    passages: dict = {}  # how documents were read: passage length, documents split, passages in all, documents at the cap


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


@task(name="ingest", cache_key_fn=content_key(), **RETRIES, **RESULTS)
def ingest(source: SourceRef, cfg: DataConfig, store: str, base: ModelRef | None = None) -> Ingested:
    """Validate the data (quarantining or failing on bad rows), check leakage, write everything to the store."""
    return ingest_pipeline.ingest_data(source.path, cfg, store, base.path if base is not None else None)


@task(name="mine", cache_key_fn=content_key(ignore=("device",)), **RETRIES, **RESULTS)
def mine(
    data: Ingested,
    base: ModelRef,
    cfg: MiningConfig,
    store: str,
    device: str = "auto",
    passages: PassageConfig = PassageConfig(),
) -> Mined:
    """Hard negatives for every train pair from the configured strategies, positive-aware filtered, with a report."""
    started = time.perf_counter()
    pairs, corpus = read_frame(data.train_pairs), read_frame(data.corpus)
    query_vectors = doc_vectors = None
    if cfg.needs_vectors:
        model = load_model(base, device)
        # a document longer than the model reads is the mean of its passages (the same vectors the evaluation keeps)
        vectors, passage_doc = corpus_passage_embeddings(
            model, base, data.corpus, store, cfg.encode_batch_size, passages
        )
        doc_vectors = passage_logic.pooled(vectors, passage_doc, corpus.height)
        anchors = pairs.unique("query_id", keep="first", maintain_order=True)["anchor"].to_list()
        query_vectors = passage_logic.encode_queries(model, anchors, passages, cfg.encode_batch_size)
    metadata = read_frame(data.doc_metadata) if data.doc_metadata is not None else None
    doc_ids = corpus["doc_id"].to_list()
    kept, capped = mining.cap_pairs(pairs, cfg.max_pairs_per_query, doc_ids, query_vectors, doc_vectors, cfg.seed)
    negatives, mined = mining.mine_negatives(
        kept, corpus, cfg, query_vectors, doc_vectors, read_frame(data.labels), metadata, pairs if capped else None
    )
    return Mined(
        negatives=write_frame(negatives, store, "negatives"),
        pairs=write_frame(kept, store, "pairs") if capped else None,
        report={**mined, "capped": capped, "seconds": round(time.perf_counter() - started, 2)},
    )


def _finished(record: Path) -> Trained | None:
    """The result an identical training left in its checkpoint folder, if its model is still in the store unchanged."""
    if not record.is_file():
        return None
    done = Trained.model_validate_json(record.read_text(encoding="utf-8"))
    model = Path(done.model.path)
    return done if model.is_dir() and dir_sha256(model) == done.model.sha256 else None


@task(name="train", cache_key_fn=content_key(), **RETRIES, **RESULTS)
def train(
    data: Ingested,
    negatives: DatasetRef,
    base: ModelRef,
    cfg: TrainConfig,
    store: str,
    stage: int = 0,
    stages: int = 1,
    passages: PassageConfig = PassageConfig(),
    kept: DatasetRef | None = None,
) -> Trained:
    """Fine-tune `base` on (anchor, positive, negatives…) of one curriculum stage and publish it to the store.

    With a curriculum each stage trains epochs / stages, starting from the previous stage's model. Checkpoints live
    under a name fixed by the inputs and are used by one training at a time (a lock that dies with its process): a
    retry or a restart after a crash resumes them, and a second identical run waits, then takes the first one's model.
    `kept`: the pairs mining kept (Mined.pairs); a dev split still holds out its queries with all their judgements.
    """
    pairs, corpus = read_frame(data.train_pairs), read_frame(data.corpus)
    pairs = train_logic.sample_queries(pairs, cfg.max_pairs, cfg.seed)
    dev = None
    if cfg.dev_fraction > 0:
        pairs, dev = train_logic.split_dev(pairs, corpus, cfg.dev_fraction, cfg.dev_corpus_size, cfg.seed, passages)
    if kept is not None:
        chosen = read_frame(kept).select("query_id", "doc_id")
        pairs = pairs.join(chosen, on=["query_id", "doc_id"], how="semi", maintain_order="left")
    mined = read_frame(negatives).filter(pl.col("stage") == stage)
    # long documents: each positive and negative is the document's passage that the base model finds best for the query
    choose = passage_logic.chooser_for(base, data.corpus, pairs, store, passages, cfg.batch_size * 2, cfg.device)
    sets = {"main": train_logic.TrainingSet(train_logic.training_frame(pairs, mined, corpus, choose), cfg.loss)}
    del choose
    for extra in data.extra:
        rows = train_logic.table_rows(extra.type, read_frame(extra.table))
        sets[extra.name] = train_logic.TrainingSet(rows, losses.loss_for(extra.type, extra.loss, cfg.loss))
    if stages > 1:
        epochs = cfg.epochs or train_logic.auto_epochs(sum(ts.frame.height for ts in sets.values()))
        cfg = cfg.model_copy(
            update={
                "epochs": epochs / stages,
                "budget_minutes": cfg.budget_minutes / stages if cfg.budget_minutes else None,
            }
        )
    Path(store).mkdir(parents=True, exist_ok=True)
    # the code too: a finished training of other code must not be taken for this one's (nor its checkpoints resumed)
    inputs = json.dumps(
        [
            code_digest(train.fn),
            data.train_pairs.sha256,
            negatives.sha256,
            base.sha256,
            cfg.model_dump(mode="json"),
            stage,
            [extra.table.sha256 for extra in data.extra],
            passages.model_dump(mode="json"),
            kept.sha256 if kept is not None else None,
        ],
        sort_keys=True,
    )
    checkpoints = Path(store) / "checkpoints" / hashlib.sha256(inputs.encode()).hexdigest()[:16]
    checkpoints.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(checkpoints / ".lock", waiting="an identical training is running; waiting for it to finish"):
        done = _finished(checkpoints / "result.json")
        if done is not None:
            logger.info("an identical training finished while this one waited: taking its model %s", done.model.path)
            return done
        # claimed while it is built, so a start-up after a crash can tell it is orphaned; publishing is a rename
        with liveness.staging(store, ".train-") as work:
            device = pick_device(cfg.device)
            processes = distributed.processes_for(cfg, device)
            if processes > 1:
                stats = distributed.train_distributed(base.path, sets, cfg, work, device, processes, checkpoints, dev)
            else:
                stats = train_logic.train_model(base.path, sets, cfg, work, device, checkpoints, dev)
            name = base.name if base.name.endswith("-tuned") else f"{base.name}-tuned"
            model = publish_dir(work / "model", store, "models", name=name)
        trained = Trained(model=model, stats=stats.model_copy(update={"stage": stage, "stages": stages}))
        for finished in checkpoints.glob("checkpoint-*"):  # finished: nothing left to resume
            shutil.rmtree(finished, ignore_errors=True)
        atomic_write_text(checkpoints / "result.json", trained.model_dump_json())
    return trained


def parameters_model(fn) -> type[BaseModel]:
    """A task's parameters as one pydantic model, derived from its signature: what a deployment that runs the task
    elsewhere takes (one typed parameter, validated on arrival), so the parameter list is written once, on the task."""
    hints = get_type_hints(fn)
    fields = {
        name: (hints[name], ... if p.default is inspect.Parameter.empty else p.default)
        for name, p in inspect.signature(fn).parameters.items()
    }
    return create_model(f"{fn.__name__.title()}Inputs", __config__=ConfigDict(frozen=True), **fields)


TrainInputs = parameters_model(train.fn)  # what the train/gpu deployment (flows/train.py) is given


@task(name="baseline", cache_key_fn=content_key(), **RETRIES, **RESULTS)
def bm25_baseline(
    corpus: DatasetRef, queries: DatasetRef, qrels: DatasetRef, engine: str, k_values: list[int], store: str
) -> Baseline:
    """BM25 on the judged test queries: metrics and ranking, cached by the data's content, not recomputed per model."""
    (macro, per_query), ranking = evaluation_logic.evaluate_bm25(corpus, queries, qrels, k_values, engine)
    logger.info("bm25 (%s): %s", engine, {k: round(macro[k], 4) for k in evaluation_logic.HEADLINE})
    return Baseline(
        metrics=macro,
        per_query=write_frame(evaluation_logic.per_query_frame("bm25", per_query), store, "bm25_per_query"),
        ranking=write_frame(ranking, store, "bm25_ranking"),
        engine=engine,
    )


@task(name="evaluate", cache_key_fn=content_key(ignore=("device",)), **RETRIES, **RESULTS)
def evaluate(
    data: Ingested,
    base: ModelRef,
    candidate: ModelRef,
    champion: ModelRef,
    cfg: EvalConfig,
    store: str,
    lexical: Baseline | None = None,
    device: str = "auto",
) -> Evaluation:
    """Base, champion and candidate on the test qrels, and each one's hybrid with the BM25 `lexical` baseline.

    A model evaluated once is not evaluated again.
    """
    roles = {"base": base, "champion": champion, "candidate": candidate}
    metrics: dict[str, dict[str, float]] = {}
    dims: dict[str, dict[str, dict[str, float]]] = {}
    by_sha: dict[str, tuple] = {}
    frames = []
    for role, ref in roles.items():
        if ref.sha256 not in by_sha:
            by_sha[ref.sha256] = evaluation_logic.evaluate_model(
                ref, data.corpus, data.queries, data.test_qrels, cfg, store, device
            )
        (macro, per_query), by_dim, _ = by_sha[ref.sha256]
        metrics[role] = macro
        dims[role] = {str(dim): values for dim, values in by_dim.items()}
        frames.append(evaluation_logic.per_query_frame(role, per_query))
        logger.info("%s (%s): %s", role, ref.name, {k: round(macro[k], 4) for k in evaluation_logic.HEADLINE})
    hybrid: dict[str, dict[str, float]] = {}
    if lexical is not None:
        rankings = {role: by_sha[ref.sha256][2][1] for role, ref in roles.items()}
        fused = evaluation_logic.hybrid_scores(
            rankings, read_frame(lexical.ranking), data.corpus, data.queries, data.test_qrels, cfg.k_values, cfg.rrf_k
        )
        for role, (macro, per_query) in fused.items():
            hybrid[role] = macro
            frames.append(evaluation_logic.per_query_frame(f"hybrid:{role}", per_query))
        frames.append(read_frame(lexical.per_query))
        logger.info(
            "hybrid of bm25 and the candidate (RRF k=%d): %s",
            cfg.rrf_k,
            {k: round(hybrid["candidate"][k], 4) for k in evaluation_logic.HEADLINE},
        )
    per_query_ref = write_frame(pl.concat(frames), store, "eval_per_query")
    return Evaluation(
        metrics=metrics,
        dims=dims,
        bm25=lexical.metrics if lexical is not None else None,
        per_query=per_query_ref,
        champion_name=champion.name,
        models=roles,
        hybrid=hybrid,
        rrf_k=cfg.rrf_k if lexical is not None else None,
        passages=passage_logic.passage_summary(base, data.corpus, cfg.passages, store, cfg.batch_size, device),
    )


@task(name="gate", cache_key_fn=content_key(), **RETRIES, **RESULTS)
def gate(result: Evaluation, cfg: GateConfig) -> Decision:
    """Promote or not, from the per-query metrics of candidate, champion, BM25 and their hybrids alone."""
    roles = evaluation_logic.per_query_by_role(read_frame(result.per_query))
    decision = decide(
        roles["candidate"],
        roles["champion"],
        cfg,
        champion_name=result.champion_name,
        bm25=roles.get("bm25"),
        candidate_hybrid=roles.get("hybrid:candidate"),
        champion_hybrid=roles.get("hybrid:champion"),
    )
    logger.info(decision.reason)
    return decision


@task(name="register", cache_key_fn=content_key(ignore=("summary",)), **RETRIES, **RESULTS)
def register(
    candidate: ModelRef, decision: Decision, baseline: ModelRef, cfg: PipelineConfig, data: Ingested, summary: RunRecord
) -> RegistryEntry:
    """Save the candidate as a registry version with manifest and config; move the champion pointer if promoted."""
    root = registry.line_root(cfg.registry.root, cfg.registry.line)
    manifest = {
        "line": cfg.registry.line,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": candidate.model_dump(),
        "base_model": summary.base_model,
        "judged_against": baseline.model_dump(),
        "decision": decision.model_dump(),
        "metrics": summary.metrics,
        "datasets": {name: ref.model_dump() for name, ref in data if isinstance(ref, DatasetRef)},
        "ingest": data.report,
        "source": summary.dataset,
        "training": summary.training.model_dump(mode="json"),
        "timings": {name: step.model_dump(exclude_defaults=True) for name, step in summary.steps.items()},
        "code_version": registry.code_version(),
        "config": cfg.model_dump(mode="json"),
    }
    entry = registry.register(
        candidate, decision.promote, baseline, root, {"pipeline_config.yaml": dump_config(cfg)}, manifest
    )
    logger.info("registered %s at %s (champion: %s) %s", entry.version, entry.path, entry.champion, entry.note)
    pruned = registry.prune(root, cfg.registry.keep)
    if pruned:
        logger.info("pruned old versions beyond registry.keep=%d: %s", cfg.registry.keep, ", ".join(pruned))
    return entry


@task(name="report", cache_key_fn=content_key(ignore=("timings",)), **RETRIES, **RESULTS)
def report_run(summary: RunRecord, curves: list[list], folder: str, timings: dict) -> dict:
    """Read the loss curves and write report.md + report.png into the registered version's folder.

    The only step that runs report code, so rewording a report never reruns training. Returns the loss-curve
    readings, one per training stage.
    """
    readings = [loss_curve.diagnose([tuple(point) for point in curve]) for curve in curves]
    full = report.with_readings(summary.with_steps(timings), readings)
    atomic_write_bytes(Path(folder) / report.REPORT_PNG, report.chart_png(full))
    atomic_write_text(Path(folder) / report.REPORT_MD, report.run_markdown(full, chart=report.REPORT_PNG))
    return {"readings": readings}


def champion_of(cfg: PipelineConfig, candidate: ModelRef, base: ModelRef) -> ModelRef:
    """The model the candidate is judged against: its line's champion, or the base model when the line has none (read
    live from the registry, never cached: another run may have promoted since)."""
    return registry.baseline_for(registry.line_root(cfg.registry.root, cfg.registry.line), candidate, base)


def registration(cfg: PipelineConfig, candidate: ModelRef, promote: bool):
    """The register task, set to run again unless the registry still reflects its cached result (it is a side effect:
    a registry restored from a backup, or a champion rolled back since, must not be answered from the cache)."""
    line = registry.line_root(cfg.registry.root, cfg.registry.line)
    return register.with_options(refresh_cache=not registry.reflects(line, candidate, promote))


def reporting(folder: str):
    """The report task, set to run again when the registered version's folder lacks its report files."""
    return report_run.with_options(refresh_cache=not report.written(folder))
