"""The run summary: what `embedforge run --json` writes, the flow returns, the report reads and the manifest keeps.

One typed definition. The flow builds a `RunRecord` as soon as the gate has decided (validated there, so a key renamed
by its writer fails the run at once), the register and report steps read its fields, and the flow hands out the
complete `RunSummary` (the record plus registration and timing) as JSON. Sections that are reports in their own right
(ingest, mining, passages, auto) stay open dictionaries; their writers define them.
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
    searches: int | None = None  # compute.engine dask: exact searches of this step run in query shards on the cluster …
    search_shards: int | None = None  # … and their query shards, all together


class StageRecord(BaseModel):
    """One curriculum stage: its train step's record, its mean loss and the report's reading of its loss curve."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    stage: int  # 1-based
    cached: bool
    seconds: float
    peak_gb: float | None
    train_loss: float
    loss_curve: str | None = None  # the loss-curve reading's advice, added by the report step


class RunRecord(BaseModel):
    """The run as the gate leaves it: what the register and report steps read. Registration fills the last fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)
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
    curriculum: list[StageRecord]  # one row per stage (empty without a curriculum)
    auto: dict | None  # train.auto: the trials, the pick and why
    compute: dict  # the compute section of the config the run used
    steps: dict[str, StepRecord] = {}  # the steps so far
    model_path: str | None = None  # the registered version's folder, once registered
    version: str | None = None
    champion: str | None = None  # the version that is champion now, or "base"
    flow_run_id: str | None = None

    def with_steps(self, steps: dict[str, dict]) -> RunRecord:
        """The record with the steps' timings so far (validated: a step record of another shape fails here)."""
        return self.model_copy(update={"steps": {name: StepRecord.model_validate(s) for name, s in steps.items()}})


class RunSummary(RunRecord):
    """What the flow returns and `embedforge run --json` writes: the record, registered, with every step timed."""

    steps: dict[str, StepRecord]
    model_path: str
    version: str
    champion: str
    flow_run_id: str
    flow_seconds: float
    orchestration_seconds: float  # the flow's wall time beyond its steps'
    cost: dict | None  # compute.price_per_hour: what the run's wall time cost
