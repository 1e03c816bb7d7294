"""What a training is given and what it reports, as typed models: one definition for the train step, the
multi-process launcher, the auto search, the flow, the report and the manifest.

TrainJob carries every argument of a training but the data, so the multi-process path hands it to its workers as one
JSON file and a new training argument is one new field. TrainStats is what a training reports (the run summary's
`training`); its JSON keys are a contract (`best_ndcg@10`, `ndcg@10_by_step`), hence the aliases.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tasks.config import PassageConfig, TrainConfig

DEV_NAME, DEV_PRIMARY = "dev", "cosine_ndcg@10"  # the dev evaluation's name and the metric that picks checkpoints
DEV_METRIC = f"{DEV_NAME}_{DEV_PRIMARY}"  # the key it reports under (sentence-transformers prefixes the name)


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True, serialize_by_alias=True)


class DevSet(_Record):
    """Held-out training queries searched over a slice of the corpus while training, to keep the best checkpoint."""

    queries: dict[str, str]
    corpus: dict[str, str]
    relevant: dict[str, set[str]]
    passages: PassageConfig | None = None  # how long texts are read (tasks/passages.py); None = the model's own cut
    titles: dict[str, str] | None = None  # document id -> title, repeated on each passage of a split document


class TrainJob(_Record):
    """Everything a training needs besides its rows: what train_model and each process of train_distributed read."""

    base_path: str
    cfg: TrainConfig
    output_dir: Path
    device: str
    checkpoint_dir: Path | None = None
    dev: DevSet | None = None


class PlanRecord(_Record):
    loss: str  # the loss trained (cached_mnrl when MNRL's batch would not fit the memory budget)
    mini_batch_size: int
    estimate_gb: float
    budget_gb: float | None
    reason: str


class DatasetRecord(_Record):
    rows: int
    loss: str


class BudgetRecord(_Record):
    minutes: float
    planned_steps: int
    steps_allowed: int
    seconds_per_step: float | None
    capped: bool


class DevStats(_Record):
    queries: int
    documents: int
    ndcg_by_step: list[tuple[int, float]] = Field(alias="ndcg@10_by_step")
    best_checkpoint_step: int | None
    best_ndcg: float | None = Field(alias="best_ndcg@10")


class TrainStats(_Record):
    """What one training did: the run summary's `training`, the manifest's, the auto search's trial rows."""

    device: str
    precision: str
    examples: int  # training rows over every dataset
    columns: list[str]  # of the main dataset, in the order the loss reads them
    loss: str  # of the main dataset, as configured (memory_plan says what was trained)
    memory_plan: dict[str, PlanRecord]
    datasets: dict[str, DatasetRecord]
    matryoshka_dims: list[int] | None
    matryoshka_weights: list[float] | None
    epochs: float  # trained (fewer than planned when the time budget stopped it)
    planned_epochs: float
    budget: BudgetRecord | None
    learning_rate: float
    learning_rate_at_end: float | None
    batch_size: int
    steps: int
    train_loss: float  # mean over training, as the trainer reports it
    resumed_from_step: int
    loss_curve: list[tuple[int, float]]  # (step, loss); the report reads (diagnoses) it
    seconds: float
    examples_per_second: float
    processes: int
    torch: str
    dev: DevStats | None = None
    out_of_memory_retries: int = 0
    stage: int = 0  # curriculum stage this training was (0-based), of `stages`
    stages: int = 1
    diagnosis: dict | None = None  # the report's reading of the loss curve (tasks/loss_curve.py), added after training
