"""The run summary: what `embedforge run --json` writes, the flow returns, the report reads and the manifest keeps.

One typed definition, validated when the flow hands the summary out, so a key renamed in one place and not in another
fails the run (and the tests) instead of a reader much later. Sections that are reports in their own right (ingest,
mining, passages, auto) stay open dictionaries; their writers define them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from tasks.gate import Decision
from tasks.train_records import TrainStats

Metrics = dict[str, float]  # "ndcg@10" -> value, every metric at every cut-off (tasks/metrics.py)


class StepRecord(BaseModel):
    """One step of the run: a cache hit or not, its wall time and peak resident memory; where it ran if elsewhere."""

    model_config = ConfigDict(extra="forbid")
    cached: bool
    seconds: float
    peak_gb: float | None
    pool: str | None = None  # compute.gpu_pool: the work pool the train step ran on …
    host: str | None = None  # … and the machine
    shards: int | None = None  # compute.engine dask: corpus shards encoded on the cluster


class RunSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")
    promoted: bool  # the candidate is champion now
    reason: str  # the gate's reason, and the registry's note when a promotion did not happen
    dataset: str
    line: str  # the model line (registry.line)
    ingest: dict  # rows read, valid, quarantined, warnings, token lengths
    base_model: str
    metrics: dict[str, Metrics]  # base, champion, candidate on the test queries
    bm25: Metrics | None  # the BM25 baseline on the same queries (eval.bm25)
    hybrid: Metrics | None  # RRF of BM25 and the candidate, the same keys as metrics.candidate
    rrf_k: int | None
    dims: dict[str, dict[str, Metrics]]  # role -> embedding size -> metrics (Matryoshka table)
    passages: dict  # how long documents were read
    decision: Decision
    training: TrainStats
    mining: dict  # negatives per strategy and origin, random share, false-negative estimate, warnings
    curriculum: list[dict]  # one row per stage (empty without a curriculum)
    auto: dict | None  # train.auto: the trials, the pick and why
    compute: dict  # the compute section of the config the run used
    steps: dict[str, StepRecord]
    model_path: str
    version: str
    champion: str  # the version that is champion now, or "base"
    flow_run_id: str
    flow_seconds: float
    orchestration_seconds: float  # the flow's wall time beyond its steps'
    cost: dict | None  # compute.price_per_hour: what the run's wall time cost
