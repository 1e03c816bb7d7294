"""The Dask engine (`compute.engine: dask`): corpus encoding sharded over a Dask cluster through Prefect's DaskTaskRunner.

`encode_corpus` is a subflow whose task runner is a `prefect_dask.DaskTaskRunner`: on an existing scheduler
(`compute.address`) or on a LocalCluster of `compute.workers` single-threaded worker processes. Each shard of
`compute.shard_documents` documents is one task on a worker (tasks/shards.py); the merged vectors land where the local
engine keeps them, so mining and evaluation read them as cache hits and compute exactly what they compute locally.
Dask workers are daemonic: nothing here starts processes of its own (no torchrun, no multi-process encode pool).
"""

from __future__ import annotations

import os

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE

from tasks import shards
from tasks.config import ComputeConfig, PassageConfig
from tasks.storage import DatasetRef, ModelRef, read_frame

FLOW = "encode-corpus"


@task(name="encode-shard", cache_policy=NO_CACHE, persist_result=False, retries=2)
def encode_shard(
    model: ModelRef,
    corpus: DatasetRef,
    cfg: PassageConfig,
    batch_size: int,
    start: int,
    stop: int,
    store: str,
    threads: int | None,
) -> shards.ShardRef:
    """One shard on one worker; the shard's file in the store is its cache."""
    return shards.encode_shard(model, corpus, cfg, batch_size, start, stop, store, threads, device="auto")


@flow(name=FLOW, persist_result=False)
def encode_corpus(
    model: ModelRef,
    corpus: DatasetRef,
    cfg: PassageConfig,
    batch_size: int,
    store: str,
    shard_documents: int,
    threads: int | None = None,
) -> dict:
    """Encode the corpus in shards on the task runner's workers and merge them; nothing to do when already stored."""
    if shards.vectors_ready(model, corpus, cfg, store):
        return {"shards": 0, "cached": True}
    bounds = shards.shard_bounds(read_frame(corpus).height, shard_documents)
    futures = encode_shard.map(
        unmapped(model),
        unmapped(corpus),
        unmapped(cfg),
        unmapped(batch_size),
        [a for a, _ in bounds],
        [b for _, b in bounds],
        unmapped(store),
        unmapped(threads),
    )
    refs = [f.result() for f in futures]
    path = shards.merge_shards(model, corpus, cfg, store, refs)
    return {"shards": len(refs), "cached": False, "path": path, "passages": sum(r.passages for r in refs)}


def task_runner(compute: ComputeConfig):
    """A DaskTaskRunner on the configured scheduler, or on a LocalCluster of single-threaded worker processes."""
    from prefect_dask import DaskTaskRunner

    if compute.address:
        return DaskTaskRunner(address=compute.address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": compute.workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
        }
    )


def encode_on_engine(
    compute: ComputeConfig, model: ModelRef, corpus: DatasetRef, cfg: PassageConfig, batch_size: int, store: str
) -> dict:
    """Encode (model, corpus) on the Dask engine; torch threads per worker share this machine's cores on a LocalCluster."""
    threads = None if compute.address else max(1, (os.cpu_count() or 1) // compute.workers)
    run = encode_corpus.with_options(task_runner=task_runner(compute), flow_run_name=f"encode {model.name}")
    return run(model, corpus, cfg, batch_size, store, compute.shard_documents, threads)
