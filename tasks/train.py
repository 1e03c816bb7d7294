"""Fine-tuning: training rows from pairs, mined negatives and extra tables, then SentenceTransformerTrainer with one
loss per dataset (MNRL, CachedMNRL, CoSENT, TripletLoss, each optionally inside MatryoshkaLoss).

Importable without Prefect or polars (polars is imported by the functions that build frames), so train_model runs on
a bare GPU machine that has torch and sentence-transformers, given `datasets` and `pydantic`: see bench/gpu.sh.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

from tasks.config import PassageConfig, TrainConfig
from tasks.losses import IN_BATCH, build_loss
from tasks.train_records import (
    DEV_METRIC,
    BudgetRecord,
    DatasetRecord,
    DevSet,
    DevStats,
    PlanRecord,
    TrainJob,
    TrainStats,
)

if TYPE_CHECKING:
    import polars as pl

    from tasks.passages import PassageChooser

logger = logging.getLogger(__name__)


def training_frame(
    pairs: pl.DataFrame,
    negatives: pl.DataFrame,
    corpus: pl.DataFrame,
    choose: PassageChooser | None = None,
) -> pl.DataFrame:
    """(anchor, positive, negative_1 … negative_n) rows in pair order; columns are read by position by the trainer.

    Input: pairs PairSchema, negatives MinedNegativeSchema (n slots per pair, possibly 0), corpus CorpusSchema.
    `choose` (tasks/passages.py PassageChooser) gives the text to train on for each (query, document): the document's
    best passage for the query, and for a query longer than the model reads, its passage nearest the positive's; without
    it a document is its whole corpus text and a query its whole anchor.
    """
    import polars as pl

    frame = pairs.select("query_id", "doc_id", "anchor", "positive")
    slots: list[str] = []
    if negatives.height:
        wide = (
            negatives.with_columns(pl.format("negative_{}", pl.col("slot") + 1).alias("column"))
            .pivot(on="column", index=["query_id", "positive_id"], values="negative_id")
            .rename({"positive_id": "doc_id"})
        )
        slots = sorted((c for c in wide.columns if c.startswith("negative_")), key=lambda c: int(c.split("_")[1]))
        frame = frame.join(
            wide.select("query_id", "doc_id", *slots), on=["query_id", "doc_id"], how="left", maintain_order="left"
        )
        missing = frame.select(pl.any_horizontal(pl.col(slots).is_null()).sum()).item()
        if missing:
            raise ValueError(
                f"{missing} training pairs lack a negative text; the mined negatives do not match the pairs"
            )
        unknown = frame.select(pl.concat_list(slots).explode().alias("id")).filter(
            ~pl.col("id").is_in(corpus["doc_id"].implode())
        )
        if unknown.height:
            raise ValueError(
                f"{unknown.height} training pairs lack a negative text; the mined negatives do not match the pairs"
            )
    query_ids = frame["query_id"].to_list()
    if choose is not None:
        anchors, positives = choose.pairs(query_ids, frame["doc_id"].to_list(), frame["anchor"].to_list())
        frame = frame.with_columns(
            pl.Series("anchor", anchors, dtype=pl.String), pl.Series("positive", positives, dtype=pl.String)
        )
        texts = {slot: choose(query_ids, frame[slot].to_list()) for slot in slots}
    else:
        text_of = dict(zip(corpus["doc_id"].to_list(), corpus["text"].to_list()))
        texts = {slot: [text_of[d] for d in frame[slot].to_list()] for slot in slots}
    frame = frame.with_columns(pl.Series(slot, values, dtype=pl.String) for slot, values in texts.items())
    return frame.drop("query_id", "doc_id")


def pick_precision(device: str, requested: str) -> str:
    """bf16 on CUDA that supports it, else fp16 on CUDA, fp32 on CPU; an explicit request wins where possible."""
    import torch

    if device == "cpu":
        if requested in ("bf16", "fp16"):
            raise ValueError(f"train.precision={requested} needs a CUDA device; this run is on the CPU")
        return "fp32"
    if requested != "auto":
        return requested
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


STATS_FILE = "training_stats.json"  # written beside the saved model by the first process


Table = Union["pl.DataFrame", dict[str, list]]  # a polars frame, or its columns as {name: values} in order


def columns_of(table: Table) -> dict[str, list]:
    """A training table as {column: values} in column order, whether given as a polars frame or already so."""
    return dict(table) if isinstance(table, dict) else table.to_dict(as_series=False)


@dataclass(frozen=True)
class TrainingSet:
    """One dataset of a (multi-dataset) run: rows the trainer reads by position, and the loss they are trained with."""

    frame: Table
    loss: str


def table_rows(kind: str, table: pl.DataFrame) -> pl.DataFrame:
    """A validated training table as the rows its loss reads: pairs and triplets as they are, NLI as (premise,
    entailment, contradiction) triplets, hard-negative sets as (query, positive, negative_1 … n), STS as
    (sentence1, sentence2, score) with the score scaled to 0–1."""
    from tasks.ingest import convert

    if kind == "nli":
        return convert.nli_to_triplets(table)
    if kind == "hard_negatives":
        return convert.hard_negative_rows(table)
    if kind == "sts":
        return convert.sts_rows(table)
    return table


def split_dev(
    pairs: pl.DataFrame,
    corpus: pl.DataFrame,
    fraction: float,
    corpus_size: int,
    seed: int,
    passages: PassageConfig | None = None,
) -> tuple[pl.DataFrame, DevSet]:
    """Hold out a seeded share of the training queries (all their pairs) as a dev set searched over their positives
    plus a seeded sample of the other documents, `corpus_size` in all, read as `passages` says. Returns (the remaining
    pairs, the dev set)."""
    import random

    import polars as pl

    from tasks.passages import corpus_titles

    query_ids = pairs["query_id"].unique(maintain_order=True).to_list()
    rng = random.Random(seed)
    held = set(rng.sample(query_ids, max(1, round(fraction * len(query_ids)))))
    dev_pairs = pairs.filter(pl.col("query_id").is_in(list(held)))
    positives = dev_pairs["doc_id"].unique(maintain_order=True).to_list()
    others = [d for d in corpus["doc_id"].to_list() if d not in set(positives)]
    sample = set(positives) | set(rng.sample(others, max(0, min(len(others), corpus_size - len(positives)))))
    texts = corpus.filter(pl.col("doc_id").is_in(list(sample)))
    titles = corpus_titles(texts)
    titles = dict(zip(texts["doc_id"].to_list(), titles)) if titles else None
    relevant: dict[str, set[str]] = {}
    for query_id, doc_id in dev_pairs.select("query_id", "doc_id").iter_rows():
        relevant.setdefault(query_id, set()).add(doc_id)
    dev = DevSet(
        queries=dict(zip(dev_pairs["query_id"].to_list(), dev_pairs["anchor"].to_list())),
        corpus=dict(zip(texts["doc_id"].to_list(), texts["text"].to_list())),
        relevant=relevant,
        passages=passages,
        titles=titles,
    )
    return pairs.filter(~pl.col("query_id").is_in(list(held))), dev


def sample_queries(pairs: pl.DataFrame, max_pairs: int | None, seed: int) -> pl.DataFrame:
    """At most `max_pairs` pairs, taking whole queries in a seeded order (all pairs when max_pairs is None or enough)."""
    import random

    import polars as pl

    if max_pairs is None or pairs.height <= max_pairs:
        return pairs
    counts = pairs.group_by("query_id", maintain_order=True).len()
    order = list(range(counts.height))
    random.Random(seed).shuffle(order)
    kept, total = [], 0
    for i in order:
        size = counts["len"][i]
        if total + size > max_pairs:
            continue
        kept.append(counts["query_id"][i])
        total += size
    return pairs.filter(pl.col("query_id").is_in(kept))


def as_triplets(table: Table) -> dict[str, list]:
    """(anchor, positive, negative) columns with one row per negative column, for TripletLoss."""
    columns = columns_of(table)
    names = list(columns)
    if len(names) < 3:
        raise ValueError("TripletLoss needs a negative per row; mine at least one (mining.num_negatives >= 1)")
    first, second = names[:2]
    return {
        "anchor": columns[first] * (len(names) - 2),
        "positive": columns[second] * (len(names) - 2),
        "negative": [text for name in names[2:] for text in columns[name]],
    }


def steps_that_fit(planned: int, step: int, seconds_per_step: float, seconds_left: float) -> int:
    """The last step reached when training goes on from global step `step` at `seconds_per_step` for `seconds_left`
    seconds; never more than planned, never before `step`."""
    return max(step, min(planned, step + int(max(0.0, seconds_left) / max(seconds_per_step, 1e-9))))


DEFAULT_EPOCHS = 3.0  # passes when train.epochs is unset (picked on three datasets' dev splits, bench/RESULTS.md)
MAX_DEFAULT_ROWS = 100_000  # … but never more rows than this in all, so a large training set costs what 100k rows do


def auto_epochs(rows: int) -> float:
    """Epochs when train.epochs is unset: DEFAULT_EPOCHS passes, fewer (a fraction of one, on very large sets) when
    they would exceed MAX_DEFAULT_ROWS rows trained."""
    return min(DEFAULT_EPOCHS, round(MAX_DEFAULT_ROWS / max(rows, 1), 4))


def world_size() -> int:
    """How many training processes run this training (torchrun sets WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


OVERHEAD = 1.3  # measured peak over the formula's estimate (bench/memory.py, 16 and 32 rows of 256-token texts)


def activation_gb(
    texts: int, seq_len: int, hidden: int, heads: int, layers: int, precision: str, fused_attention: bool = False
) -> float:
    """Activation memory a transformer encoder keeps for the backward pass of `texts` texts of `seq_len` tokens.

    Per layer and token, h * (34 + 5 * a * s / h) bytes in half precision (Korthikanti et al. 2022, "Reducing
    Activation Recomputation in Large Transformer Models", eq. 1), doubled in fp32, times OVERHEAD: on
    all-MiniLM-L6-v2 at 256 tokens (bench/memory.py) real steps kept 1.2-1.3x the formula (temporary buffers).
    A fused attention kernel (`attention_is_fused`) keeps no attention matrices: the 5 * a * s / h term drops (the
    paper's "selective recomputation", done by the kernel); there 32 rows of 5 texts peaked at 7.6-7.8 GB (padded or
    not) against the formula's 7.77, while 16 rows peaked at 4.8 GB against 3.88: the process's ~0.56 GB of weights
    and the buffers that do not grow with the batch are not counted (bench/RESULTS.md, "The plan without the
    attention matrices").
    """
    bytes_per_value = 4 if precision == "fp32" else 2
    attention = 0.0 if fused_attention else 5 * heads * seq_len / hidden
    per_token = layers * hidden * (34 + attention) * bytes_per_value / 2
    return OVERHEAD * texts * seq_len * per_token / 2**30


# where a transformers config keeps the dropout on attention weights (BERT, RoBERTa, MPNet…; DistilBERT, ModernBERT…)
ATTENTION_DROPOUT_KEYS = ("attention_probs_dropout_prob", "attention_dropout")


# the attention implementation whose kernel, without dropout, keeps no attention matrices for the backward pass
# (PyTorch's scaled_dot_product_attention; with dropout on the CPU it falls back to the matrices: bench/memory.py)
FUSED_ATTENTION = "sdpa"


def attention_is_fused(config) -> bool:
    """Whether a transformers model with this config trains with fused attention: the implementation is
    FUSED_ATTENTION and its attention dropout (any of ATTENTION_DROPOUT_KEYS it has) is 0. Measured on the CPU; on CUDA
    the kernel fuses with dropout too, which is not assumed here (the estimate stays on the safe side)."""
    dropouts = attention_dropouts(config).values()
    return getattr(config, "_attn_implementation", None) == FUSED_ATTENTION and all(p == 0 for p in dropouts)


def attention_dropouts(config) -> dict[str, float]:
    """The attention dropout a transformers config holds, by key: those of ATTENTION_DROPOUT_KEYS it has as numbers."""
    return {
        key: value for key in ATTENTION_DROPOUT_KEYS if isinstance(value := getattr(config, key, None), int | float)
    }


@dataclass(frozen=True)
class MemoryPlan:
    loss: str  # the loss actually trained: cached_mnrl when MNRL's batch would not fit the budget, or on the CPU
    mini_batch_size: int
    estimate_gb: float  # activation memory of one MNRL step at this batch size
    reason: str
    per_text_gb: float = 0.0  # activation memory of one text (0 when the texts were not measured)
    memory_bound: bool = False  # the memory budget, not only the CPU's faster mini-batches, chose this plan
    budget_gb: float | None = None  # the activation budget it was planned under (memory_budget's figure)

    @property
    def step_gb(self) -> float:
        """Activation memory one step of this plan keeps: the whole batch for MNRL, one mini-batch of texts for CachedMNRL."""
        return self.per_text_gb * self.mini_batch_size if self.loss == "cached_mnrl" else self.estimate_gb


# train.memory_budget_gb=auto: on the CPU a 16 GB laptop trains long documents (bench/memory.py); on CUDA this share
# of the device's memory, the rest left to weights, optimizer state and the allocator
CPU_MEMORY_BUDGET_GB = 3.0
GPU_MEMORY_SHARE = 0.5


def memory_budget(requested: float | str | None, device: str, device_gb: float | None = None) -> float | None:
    """The activation budget a run trains under: a number as given, None as off; "auto" is CPU_MEMORY_BUDGET_GB on the
    CPU and GPU_MEMORY_SHARE of the accelerator's memory on CUDA (`device_gb`, read from the device when not given), so
    an H200 trains a batch of 32 long texts whole instead of in a laptop's mini-batches."""
    if requested != "auto":
        return requested
    if not device.startswith("cuda"):
        return CPU_MEMORY_BUDGET_GB
    if device_gb is None:
        import torch

        device_gb = torch.cuda.get_device_properties(torch.device(device)).total_memory / 2**30
    return round(GPU_MEMORY_SHARE * device_gb, 2)


def memory_plan(
    loss: str,
    batch_size: int,
    columns: int,
    seq_len: int,
    shape: tuple[int, int, int],
    precision: str,
    budget_gb: float | None,
    mini_batch_size: int,
    device: str,
    cpu_mini_batch_size: int = 0,
    fused_attention: bool = False,
) -> MemoryPlan:
    """How an in-batch loss runs a step: MNRL as asked when one step fits `budget_gb`; else CachedMNRL, whose gradients
    are the same (GradCache, Gao et al. 2021), in mini-batches sized to the budget: it trades a second forward pass for
    memory. On the CPU (with `cpu_mini_batch_size`) CachedMNRL in mini-batches of at most that many texts also for
    speed: there a whole batch's forward pass is slower than mini-batches and their second pass together
    (bench/padding.py). A configured CachedMNRL keeps its mini-batch size unless the budget or the CPU cap is lower."""
    hidden, heads, layers = shape
    estimate = activation_gb(batch_size * columns, seq_len, hidden, heads, layers, precision, fused_attention)
    # CachedMNRL embeds each column in mini-batches of texts, so one mini-batch keeps mini_batch_size texts' activations
    per_text = activation_gb(1, seq_len, hidden, heads, layers, precision, fused_attention) if columns else 0.0
    over = budget_gb is not None and estimate > budget_gb
    cpu_cap = cpu_mini_batch_size if device == "cpu" and cpu_mini_batch_size else batch_size
    if loss not in IN_BATCH or (loss == "mnrl" and not over and cpu_cap >= batch_size):
        reason = (
            ("within the memory budget" if budget_gb else "memory budget off") if loss == "mnrl" else "as configured"
        )
        return MemoryPlan(loss, mini_batch_size, round(estimate, 2), reason, per_text, budget_gb=budget_gb)
    fits = max(1, min(batch_size, int(budget_gb / per_text + 1e-9))) if budget_gb is not None else batch_size
    asked = mini_batch_size if loss == "cached_mnrl" else batch_size
    mini = min(asked, fits, cpu_cap)
    causes = []
    memory_bound = over if loss == "mnrl" else fits < asked
    if memory_bound:
        what = "one MNRL step" if loss == "mnrl" else f"a CachedMNRL mini-batch of {asked} texts"
        texts = f"{batch_size} rows x {columns} texts" if loss == "mnrl" else f"{asked} texts"
        kept = estimate if loss == "mnrl" else per_text * asked
        causes.append(
            f"{what} would keep ~{kept:.1f} GB of activations ({texts} x {seq_len} tokens), above "
            f"train.memory_budget_gb={budget_gb}"
        )
    if cpu_cap < min(asked, fits):
        causes.append(
            f"on the CPU a step runs faster in mini-batches of at most {cpu_cap} texts "
            f"(train.cpu_mini_batch_size; bench/padding.py)"
        )
    if not causes:
        return MemoryPlan(loss, mini, round(estimate, 2), "as configured", per_text, budget_gb=budget_gb)
    switch = "trained with CachedMNRL (same gradients) in" if loss == "mnrl" else "CachedMNRL in"
    reason = f"{'; '.join(causes)}: {switch} mini-batches of {mini}"
    return MemoryPlan("cached_mnrl", mini, round(estimate, 2), reason, per_text, memory_bound, budget_gb)


def budget_after_oom(plans: list[MemoryPlan]) -> float | None:
    """The memory budget to train again with after the accelerator ran out of memory: half of what the failed plan's
    biggest step kept, so MNRL becomes CachedMNRL and a CachedMNRL mini-batch halves (the gradients stay the same).
    None when nothing can shrink: no in-batch loss, or already one row per mini-batch."""
    shrinkable = [
        p
        for p in plans
        if p.per_text_gb > 0 and (p.loss == "mnrl" or (p.loss == "cached_mnrl" and p.mini_batch_size > 1))
    ]
    if not shrinkable:
        return None
    return max(p.step_gb for p in shrinkable) / 2


CARD_EXAMPLE_CHARS = 300  # a model card's widget and usage examples are cut to this many characters


def shorten(text: str, limit: int = CARD_EXAMPLE_CHARS) -> str:
    """`text` cut at a word boundary to at most `limit` characters, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip() + "…"


def shorten_card_examples(card) -> None:
    """Keep the model card's examples short: they are taken from the training texts, and long documents would put
    whole judgments (hundreds of KB) into README.md."""
    for entry in card.widget or []:
        for key, value in entry.items():
            if isinstance(value, str):
                entry[key] = shorten(value)
            elif isinstance(value, list):
                entry[key] = [shorten(v) if isinstance(v, str) else v for v in value]
    if getattr(card, "usage_examples", None):
        card.usage_examples = [shorten(v) if isinstance(v, str) else v for v in card.usage_examples]


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest complete `checkpoint-<step>` folder (a half-written one has no trainer_state.json yet)."""
    done = [
        p
        for p in folder.glob("checkpoint-*")
        if (p / "trainer_state.json").is_file() and p.name.split("-")[-1].isdigit()
    ]
    return max(done, key=lambda p: int(p.name.split("-")[-1]), default=None)


def _memory_plan(
    model, ts: TrainingSet, cfg: TrainConfig, precision: str, device: str, budget_gb: float | None
) -> MemoryPlan:
    """The plan for one training set: its texts' longest token length (capped at the model's limit) sets the cost."""
    if ts.loss not in IN_BATCH:  # only MNRL's family is sized (also with the budget off: an OOM retry sizes it)
        return memory_plan(ts.loss, cfg.batch_size, 0, 0, (1, 1, 1), precision, None, cfg.mini_batch_size, device)
    columns = len(ts.frame)
    sample = [text for values in ts.frame.values() for text in values[:2000] if isinstance(text, str)]
    lengths = model.tokenizer(sample, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
    seq_len = min(model.max_seq_length, max((len(ids) for ids in lengths), default=1))
    config = model[0].auto_model.config
    shape = (config.hidden_size, config.num_attention_heads, config.num_hidden_layers)
    return memory_plan(
        ts.loss,
        cfg.batch_size,
        columns,
        seq_len,
        shape,
        precision,
        budget_gb,
        cfg.mini_batch_size,
        device,
        cfg.cpu_mini_batch_size,
        attention_is_fused(config),
    )


def training_sets(data: Table | dict[str, TrainingSet], cfg: TrainConfig) -> dict[str, TrainingSet]:
    """The datasets of a training as {name: TrainingSet of columns}: one table (trained with cfg.loss) becomes "main";
    triplet-loss rows become (anchor, positive, negative) triplets. Refuses an empty table, or fewer rows than an
    in-batch loss's batch."""
    named = data if isinstance(data, dict) and all(isinstance(v, TrainingSet) for v in data.values()) else None
    sets = {
        name: TrainingSet(columns_of(ts.frame), ts.loss)
        for name, ts in (named or {"main": TrainingSet(data, cfg.loss)}).items()
    }
    sets = {
        name: TrainingSet(as_triplets(ts.frame), ts.loss) if ts.loss == "triplet" and len(ts.frame) > 3 else ts
        for name, ts in sets.items()
    }
    if not sets or any(not ts.frame for ts in sets.values()):
        raise ValueError("no training data: train_model needs at least one table with columns")
    for name, ts in sets.items():
        if ts.loss in IN_BATCH and rows_of(ts) < cfg.batch_size:
            raise ValueError(
                f"only {rows_of(ts)} training rows in {name} for train.batch_size={cfg.batch_size}; "
                "lower train.batch_size or add data"
            )
    return sets


def rows_of(ts: TrainingSet) -> int:
    return len(next(iter(ts.frame.values())))


def training_arguments(
    cfg: TrainConfig,
    epochs: float,
    rows: int,
    precision: str,
    device: str,
    checkpoints: Path | None,
    output_dir: Path,
    dev: bool,
):
    """The trainer's arguments: the recipe, the schedule, checkpoints (with `dev`, a dev evaluation at each one, the
    best kept), precision."""
    from sentence_transformers.sentence_transformer.training_args import (
        BatchSamplers,
        SentenceTransformerTrainingArguments,
    )

    return SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints or output_dir / "checkpoints"),
        num_train_epochs=epochs,
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        warmup_steps=cfg.warmup_ratio,  # a float below 1 is read as a fraction of all steps (Transformers v5)
        weight_decay=cfg.weight_decay,
        seed=cfg.seed,
        data_seed=cfg.seed,
        # a duplicate text in a batch would be a false in-batch negative for MNRL
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=device == "cpu",
        save_strategy="steps" if checkpoints else "no",
        save_steps=cfg.checkpoint_steps or 500,
        save_total_limit=1,
        eval_strategy="steps" if dev else "no",
        eval_steps=cfg.checkpoint_steps or None,
        load_best_model_at_end=dev,
        metric_for_best_model=f"eval_{DEV_METRIC}" if dev else None,
        greater_is_better=True if dev else None,
        logging_strategy="steps",
        logging_steps=max(1, int(rows / cfg.batch_size * epochs) // 20),
        report_to="none",
        disable_tqdm=False,
        dataloader_drop_last=False,
        ddp_backend=("gloo" if device == "cpu" else "nccl") if world_size() > 1 else None,
    )


def attention_dropout_overrides(config, requested: float | str) -> dict[str, float]:
    """The config values that give the model the requested attention dropout: {} for the model's own ("model"), or
    when it already has it. A model whose config names none of ATTENTION_DROPOUT_KEYS is left as it is, with a warning.
    """
    if requested == "model":
        return {}
    current = attention_dropouts(config)
    if not current:
        logger.warning(
            "train.attention_dropout=%s: the model's config has none of %s; its attention dropout is unchanged",
            requested,
            ", ".join(ATTENTION_DROPOUT_KEYS),
        )
    return {key: float(requested) for key, value in current.items() if value != requested}


def load_for_training(base_path: str, cfg: TrainConfig, device: str):
    """The base model in fp32 master weights (an fp16 copy would otherwise train in fp16; bf16/fp16 is autocast),
    with the configured sequence length, attention dropout and gradient checkpointing.

    The attention dropout is a training setting, not part of the model: the config the model is saved with keeps the
    base model's values (`restore_config`)."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(base_path, device=device, local_files_only=True)
    encoder = getattr(model[0], "auto_model", None)  # the transformer (None for e.g. static embeddings)
    overrides = attention_dropout_overrides(encoder.config, cfg.attention_dropout) if encoder is not None else {}
    if overrides:  # the modules read it when they are built: load again with it
        base = {key: getattr(encoder.config, key) for key in overrides}
        model = SentenceTransformer(base_path, device=device, local_files_only=True, config_kwargs=overrides)
        model.base_config_values = base
    model = model.float()
    if cfg.max_seq_length:
        model.max_seq_length = cfg.max_seq_length
    if cfg.gradient_checkpointing:
        model[0].auto_model.gradient_checkpointing_enable()
    return model


def restore_config(model) -> None:
    """Put back the base model's config values a training setting changed (load_for_training), before saving."""
    for key, value in getattr(model, "base_config_values", {}).items():
        setattr(model[0].auto_model.config, key, value)


def training_stats(
    trainer,
    result,
    job: TrainJob,
    sets: dict[str, TrainingSet],
    plans: dict[str, MemoryPlan],
    epochs: float,
    precision: str,
    seconds: float,
    resume: Path | None,
    time_budget,
) -> TrainStats:
    """What the training did, from the trainer's state: the run summary's `training`."""
    import torch

    cfg, log = job.cfg, trainer.state.log_history
    rows = sum(rows_of(ts) for ts in sets.values())
    steps = trainer.state.global_step
    # a budget may have stopped training early; a resumed training did the steps before the resume in another process
    capped = time_budget is not None and time_budget.capped
    trained_epochs = round(epochs * steps / max(time_budget.planned, 1), 4) if capped else epochs
    resumed_from = int(resume.name.split("-")[-1]) if resume else 0
    resumed_epochs = trained_epochs * resumed_from / max(steps, 1)
    dev = None
    if job.dev is not None:
        best = trainer.state.best_model_checkpoint
        dev = DevStats(
            queries=len(job.dev.queries),
            documents=len(job.dev.corpus),
            ndcg_by_step=[(e["step"], e[f"eval_{DEV_METRIC}"]) for e in log if f"eval_{DEV_METRIC}" in e],
            best_checkpoint_step=int(best.rsplit("-", 1)[-1]) if best else None,
            best_ndcg=trainer.state.best_metric,
        )
    main = next(iter(sets.values()))
    return TrainStats(
        device=job.device,
        precision=precision,
        examples=rows,
        columns=list(main.frame),
        loss=main.loss,
        memory_plan={
            name: PlanRecord(
                loss=p.loss,
                mini_batch_size=p.mini_batch_size,
                estimate_gb=p.estimate_gb,
                budget_gb=p.budget_gb,
                reason=p.reason,
            )
            for name, p in plans.items()
        },
        datasets={name: DatasetRecord(rows=rows_of(ts), loss=ts.loss) for name, ts in sets.items()},
        matryoshka_dims=cfg.matryoshka_dims,
        matryoshka_weights=cfg.matryoshka_weights,
        epochs=trained_epochs,
        planned_epochs=epochs,
        budget=BudgetRecord(**time_budget.summary()) if time_budget else None,
        learning_rate=cfg.learning_rate,
        learning_rate_at_end=next((e["learning_rate"] for e in reversed(log) if "learning_rate" in e), None),
        batch_size=cfg.batch_size,
        steps=steps,
        train_loss=result.training_loss,
        resumed_from_step=resumed_from,
        loss_curve=[(e["step"], e["loss"]) for e in log if "loss" in e],
        seconds=round(seconds, 2),
        examples_per_second=round(rows * (trained_epochs - resumed_epochs) / seconds, 3),
        processes=world_size(),
        torch=torch.__version__,
        dev=dev,
    )


def train_model(
    base_path: str,
    data: Table | dict[str, TrainingSet],
    cfg: TrainConfig,
    output_dir: str | Path,
    device: str,
    checkpoint_dir: str | Path | None = None,
    dev: DevSet | None = None,
) -> TrainStats | None:
    """Fine-tune the model at base_path and save it to output_dir/model; returns what the manifest records (None in
    every process of a multi-process training but the first).

    `data` is one table (trained with cfg.loss) or several named TrainingSets, each with its own loss (batches are
    drawn from one dataset at a time, in proportion to their sizes). With a checkpoint_dir, a checkpoint is written
    every cfg.checkpoint_steps steps and training resumes from the newest one found there, so a retried task picks up
    where the interrupted one stopped. With a dev set, it is evaluated at every checkpoint and the best one is kept.
    """
    job = TrainJob(
        base_path=base_path,
        cfg=cfg,
        output_dir=Path(output_dir),
        device=device,
        checkpoint_dir=Path(checkpoint_dir) if checkpoint_dir else None,
        dev=dev,
    )
    return run_job(job, training_sets(data, cfg))


def run_job(job: TrainJob, sets: dict[str, TrainingSet]) -> TrainStats | None:
    """train_model's body, for a job whose datasets are already TrainingSets of columns (training_sets)."""
    import torch
    from datasets import Dataset
    from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer

    from tasks.trainer_parts import DevEvaluator, TimeBudget

    cfg, device, output_dir = job.cfg, job.device, job.output_dir
    rows = sum(rows_of(ts) for ts in sets.values())
    epochs = cfg.epochs or auto_epochs(rows)
    precision = pick_precision(device, cfg.precision)
    torch.manual_seed(cfg.seed)
    model = load_for_training(job.base_path, cfg, device)
    checkpoints = job.checkpoint_dir if job.checkpoint_dir and cfg.checkpoint_steps else None
    if job.dev is not None and checkpoints is None:
        checkpoints = output_dir / "checkpoints"
    resume = latest_checkpoint(checkpoints) if checkpoints else None
    if resume:
        logger.info("resuming training from %s", resume)
    args = training_arguments(cfg, epochs, rows, precision, device, checkpoints, output_dir, job.dev is not None)
    budget_gb = memory_budget(cfg.memory_budget_gb, device)
    plans = {name: _memory_plan(model, ts, cfg, precision, device, budget_gb) for name, ts in sets.items()}
    for name, plan in plans.items():
        if plan.loss != sets[name].loss or (plan.loss == "cached_mnrl" and plan.reason != "as configured"):
            # a batch larger than memory is news to the user; the CPU's faster mini-batches are routine
            level = logging.WARNING if plan.memory_bound else logging.INFO
            logger.log(level, "%s: %s", name, plan.reason)
    losses = {
        name: build_loss(
            model, plan.loss, cfg.model_copy(update={"mini_batch_size": plan.mini_batch_size}), world_size() > 1
        )
        for name, plan in plans.items()
    }
    datasets = {name: Dataset.from_dict(ts.frame) for name, ts in sets.items()}
    single = len(sets) == 1  # one dataset: plain Dataset and loss, exactly as a single-dataset script would run
    time_budget = TimeBudget(cfg.budget_minutes) if cfg.budget_minutes else None
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        evaluator=DevEvaluator(job.dev) if job.dev is not None else None,
        train_dataset=next(iter(datasets.values())) if single else datasets,
        loss=next(iter(losses.values())) if single else losses,
        callbacks=[time_budget] if time_budget else None,
    )
    started = time.perf_counter()
    try:
        result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    except torch.OutOfMemoryError:
        budget = budget_after_oom(list(plans.values()))
        if budget is None:
            raise
        logger.warning(
            "out of %s memory; training again under train.memory_budget_gb=%.2f (CachedMNRL, smaller "
            "mini-batches, same gradients), from the newest checkpoint if any",
            device,
            budget,
        )
        del trainer, model, losses
        gc.collect()
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        stats = run_job(job.model_copy(update={"cfg": cfg.model_copy(update={"memory_budget_gb": budget})}), sets)
        if stats is None:
            return None
        return stats.model_copy(update={"out_of_memory_retries": stats.out_of_memory_retries + 1})
    seconds = time.perf_counter() - started
    if not trainer.is_world_process_zero():
        return None  # the first process saves the model and reports
    shorten_card_examples(model.model_card_data)
    restore_config(model)
    model.save(str(output_dir / "model"))
    stats = training_stats(trainer, result, job, sets, plans, epochs, precision, seconds, resume, time_budget)
    # beside the model, not in it: timings must not change what identifies the model
    (output_dir / STATS_FILE).write_text(stats.model_dump_json(indent=2))
    logger.info(
        "trained %d steps in %.1f s on %s (%s), mean loss %.4f",
        stats.steps,
        seconds,
        device,
        precision,
        stats.train_loss,
    )
    return stats
