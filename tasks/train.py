"""Fine-tuning: training rows from pairs and mined negatives, then SentenceTransformerTrainer with MNRL.

Importable without Prefect, so the same function runs on a bare GPU machine.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import polars as pl

from tasks.config import TrainConfig

logger = logging.getLogger(__name__)


def training_frame(pairs: pl.DataFrame, negatives: pl.DataFrame, corpus: pl.DataFrame) -> pl.DataFrame:
    """(anchor, positive, negative_1 … negative_n) rows in pair order; columns are read by position by the trainer.

    Input: pairs PairSchema, negatives MinedNegativeSchema (n slots per pair, possibly 0), corpus CorpusSchema.
    """
    frame = pairs.select("query_id", "doc_id", "anchor", "positive")
    if negatives.height:
        wide = (
            negatives.join(corpus.rename({"doc_id": "negative_id", "text": "negative"}), on="negative_id", how="left")
            .with_columns(pl.format("negative_{}", pl.col("slot") + 1).alias("column"))
            .pivot(on="column", index=["query_id", "positive_id"], values="negative")
            .rename({"positive_id": "doc_id"})
        )
        slots = sorted((c for c in wide.columns if c.startswith("negative_")), key=lambda c: int(c.split("_")[1]))
        frame = frame.join(wide.select("query_id", "doc_id", *slots), on=["query_id", "doc_id"], how="left", maintain_order="left")
        missing = frame.select(pl.any_horizontal(pl.col(slots).is_null()).sum()).item()
        if missing:
            raise ValueError(f"{missing} training pairs lack a negative text; the mined negatives do not match the pairs")
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


def build_loss(model, cfg: TrainConfig):
    from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss, MultipleNegativesRankingLoss

    loss = MultipleNegativesRankingLoss(model, scale=cfg.scale)
    if cfg.matryoshka_dims:
        dim = model.get_sentence_embedding_dimension()
        if cfg.matryoshka_dims[0] > dim:
            raise ValueError(f"train.matryoshka_dims starts at {cfg.matryoshka_dims[0]} but the model has {dim} dimensions")
        loss = MatryoshkaLoss(model, loss, matryoshka_dims=cfg.matryoshka_dims)
    return loss


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest complete `checkpoint-<step>` folder (a half-written one has no trainer_state.json yet)."""
    done = [p for p in folder.glob("checkpoint-*") if (p / "trainer_state.json").is_file() and p.name.split("-")[-1].isdigit()]
    return max(done, key=lambda p: int(p.name.split("-")[-1]), default=None)


def train_model(
    base_path: str, frame: pl.DataFrame, cfg: TrainConfig, output_dir: str | Path, device: str, checkpoint_dir: str | Path | None = None
) -> dict:
    """Fine-tune the model at base_path on `frame` and save it to output_dir/model; returns what the manifest records.

    With a checkpoint_dir, a checkpoint is written every cfg.checkpoint_steps steps and training resumes from the
    newest one found there, so a retried task picks up where the interrupted one stopped.
    """
    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.training_args import (
        BatchSamplers,
        SentenceTransformerTrainingArguments,
    )

    output_dir = Path(output_dir)
    if frame.height < cfg.batch_size:
        raise ValueError(
            f"only {frame.height} training pairs for train.batch_size={cfg.batch_size}; "
            "lower train.batch_size or add data"
        )
    precision = pick_precision(device, cfg.precision)
    torch.manual_seed(cfg.seed)
    model = SentenceTransformer(base_path, device=device, local_files_only=True)
    if cfg.max_seq_length:
        model.max_seq_length = cfg.max_seq_length
    checkpoints = Path(checkpoint_dir) if checkpoint_dir and cfg.checkpoint_steps else None
    resume = latest_checkpoint(checkpoints) if checkpoints else None
    if resume:
        logger.info("resuming training from %s", resume)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints or output_dir / "checkpoints"),
        num_train_epochs=cfg.epochs,
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
        eval_strategy="no",
        logging_strategy="steps",
        logging_steps=max(1, int(frame.height / cfg.batch_size * cfg.epochs) // 20),
        report_to="none",
        disable_tqdm=False,
        dataloader_drop_last=False,
    )
    dataset = Dataset.from_dict(frame.to_dict(as_series=False))
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=build_loss(model, cfg))
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    seconds = time.perf_counter() - started
    model_dir = output_dir / "model"
    model.save(str(model_dir))
    losses = [(log["step"], log["loss"]) for log in trainer.state.log_history if "loss" in log]
    stats = {
        "device": device,
        "precision": precision,
        "examples": frame.height,
        "columns": frame.columns,
        "steps": trainer.state.global_step,
        "train_loss": result.training_loss,
        "resumed_from_step": int(resume.name.split("-")[-1]) if resume else 0,
        "loss_curve": losses,
        "seconds": round(seconds, 2),
        "examples_per_second": round(frame.height * cfg.epochs / seconds, 3),
        "torch": torch.__version__,
    }
    (model_dir / "embedforge_training.json").write_text(json.dumps(stats, indent=2))
    logger.info("trained %d steps in %.1f s on %s (%s), final loss %.4f", stats["steps"], seconds, device, precision, result.training_loss)
    return stats
