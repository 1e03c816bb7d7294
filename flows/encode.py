"""The Dask engine (`compute.engine: dask`): corpus encoding and exact search sharded over a Dask cluster through
Prefect's DaskTaskRunner.

A run on this engine holds one cluster for its whole length (`session`): an existing scheduler (`compute.address`) or a
LocalCluster of `compute.workers` single-threaded worker processes, started at the run's first encoding and closed at
its end. `encode_corpus` is a subflow on a `prefect_dask.DaskTaskRunner`: each shard of `compute.shard_documents`
documents is one task on a worker (tasks/shards.py); the merged vectors land where the local engine keeps them, so
mining and evaluation read them as cache hits. Every exact search of mining and evaluation (embeddings.exact_search)
with more than `compute.shard_queries` queries runs as a `search-queries` flow on the same cluster, one task per query
shard; it is started from a thread of its own, so it is a flow run of its own rather than a subflow of the mining or
evaluation task that asked (a task's context cannot travel to Dask workers). Results equal the local engine's.
Dask workers are daemonic: nothing here starts processes of its own (no torchrun, no multi-process encode pool).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE

from tasks import embeddings, shards
from tasks.config import ComputeConfig, PassageConfig
from tasks.storage import DatasetRef, ModelRef, read_frame

FLOW = "encode-corpus"
SEARCH_FLOW = "search-queries"


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


@task(name="search-shard", cache_policy=NO_CACHE, persist_result=False, retries=2)
def search_shard(query_path: str, doc_path: str, start: int, stop: int, k: int, threads: int | None):
    """One query shard on one worker, against every document vector."""
    return shards.search_shard(query_path, doc_path, start, stop, k, threads)


@flow(name=SEARCH_FLOW, persist_result=False)
def search_queries(query_path: str, doc_path: str, rows: int, k: int, shard_queries: int, threads: int | None):
    """Search the stored query vectors in shards on the task runner's workers; the shards' refs, in row order."""
    bounds = shards.shard_bounds(rows, shard_queries)
    futures = search_shard.map(
        unmapped(query_path),
        unmapped(doc_path),
        [a for a, _ in bounds],
        [b for _, b in bounds],
        unmapped(k),
        unmapped(threads),
    )
    return [f.result() for f in futures]


@dataclass
class Session:
    """The run's Dask cluster and what was sharded on it (searches counted until the next `take_searches`)."""

    compute: ComputeConfig
    store: str
    address: str | None = None
    cluster: object | None = None
    searches: int = 0
    search_shards: int = 0

    @property
    def threads(self) -> int | None:
        """Threads per worker task: this machine's cores shared by a LocalCluster's workers; a remote cluster's own."""
        return None if self.compute.address else max(1, (os.cpu_count() or 1) // self.compute.workers)

    def scheduler(self) -> str:
        """The scheduler's address, starting the LocalCluster on first use."""
        if self.address is None:
            from distributed import LocalCluster

            self.cluster = LocalCluster(
                n_workers=self.compute.workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
            self.address = self.cluster.scheduler_address
        return self.address

    def runner(self):
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=self.scheduler())

    def search(self, query_vectors: np.ndarray, doc_vectors: np.ndarray, k: int):
        """An exact search's query shards on the cluster; None (search where asked) when it is one shard or less."""
        rows = len(query_vectors)
        if rows <= self.compute.shard_queries:
            return None
        folder = Path(self.store) / "search" / uuid.uuid4().hex  # this search's inputs and shard results
        try:
            queries = shards.write_array(folder / "queries.npy", query_vectors)
            docs = shards.write_array(folder / "documents.npy", doc_vectors)
            run = search_queries.with_options(task_runner=self.runner(), flow_run_name=f"search {rows} queries")
            refs = _in_a_fresh_thread(run, queries, docs, rows, k, self.compute.shard_queries, self.threads)
            self.searches, self.search_shards = self.searches + 1, self.search_shards + len(refs)
            return shards.merge_search(refs, rows)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def take_searches(self) -> dict:
        """The sharded searches since the last call, for the step that made them (StepRecord.searches)."""
        taken = {"searches": self.searches, "search_shards": self.search_shards} if self.searches else {}
        self.searches = self.search_shards = 0
        return taken


def _in_a_fresh_thread(fn, *args):
    """fn(*args) in a new thread, which starts with an empty context: a flow started there is a flow run of its own,
    not a child of the task that asked (whose context a DaskTaskRunner cannot send to its workers)."""
    out: dict = {}

    def target():
        try:
            out["value"] = fn(*args)
        except BaseException as err:  # re-raised in the caller's thread
            out["error"] = err

    thread = threading.Thread(target=target, name="dask-search")
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


@contextlib.contextmanager
def session(compute: ComputeConfig, store: str):
    """compute.engine dask: the run's cluster (started on first use, closed at the end) with every exact search of the
    run sharded on it; the local engine: None, and nothing changes."""
    if compute.engine != "dask":
        yield None
        return
    current = Session(compute, store)
    token = embeddings.SEARCH.set(current.search)
    try:
        yield current
    finally:
        embeddings.SEARCH.reset(token)
        if current.cluster is not None:
            current.cluster.close()


def encode_on_engine(
    current: Session, model: ModelRef, corpus: DatasetRef, cfg: PassageConfig, batch_size: int, store: str
) -> dict:
    """Encode (model, corpus) on the session's cluster; torch threads per worker share this machine's cores on a
    LocalCluster."""
    run = encode_corpus.with_options(task_runner=current.runner(), flow_run_name=f"encode {model.name}")
    return run(model, corpus, cfg, batch_size, store, current.compute.shard_documents, current.threads)
