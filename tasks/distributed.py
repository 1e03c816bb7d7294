"""Multi-process training: train_model in N processes under torchrun (DDP), one per GPU, or N CPU processes (gloo).

The train step calls train_distributed when more than one GPU is visible (or train.processes asks for it). Each
process trains on its share of every batch; in-batch losses gather the embeddings of all processes, so a step still
sees batch_size × processes in-batch negatives. Only the first process saves the model and its stats.
Importable without Prefect, like tasks/train.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl

from tasks.config import TrainConfig
from tasks.train import STATS_FILE, TrainingSet, run_job, training_sets
from tasks.train_records import DevSet, TrainJob, TrainStats


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def processes_for(cfg: TrainConfig, device: str) -> int:
    """train.processes when set, else one per visible GPU on CUDA and one on the CPU."""
    if cfg.processes:
        return cfg.processes
    return max(1, gpu_count()) if device == "cuda" else 1


def train_distributed(
    base_path: str,
    sets: dict[str, TrainingSet],
    cfg: TrainConfig,
    output_dir: str | Path,
    device: str,
    processes: int,
    checkpoint_dir: str | Path | None = None,
    dev: DevSet | None = None,
) -> TrainStats:
    """Run train_model in `processes` processes with torchrun and return the first process's stats."""
    output_dir = Path(output_dir)
    work = output_dir / "launch"
    work.mkdir(parents=True, exist_ok=True)
    job = TrainJob(
        base_path=base_path,
        cfg=cfg,
        output_dir=output_dir,
        device=device,
        checkpoint_dir=Path(checkpoint_dir) if checkpoint_dir else None,
        dev=dev,
    )
    for name, ts in sets.items():
        ts.frame.write_parquet(work / f"{name}.parquet")
    (work / "losses.json").write_text(json.dumps({name: ts.loss for name, ts in sets.items()}))
    (work / "job.json").write_text(job.model_dump_json())
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={processes}",
        "-m",
        "tasks.distributed",
        str(work),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    with open(work / "torchrun.log", "w") as log:
        proc = subprocess.run(
            command, cwd=Path(__file__).resolve().parent.parent, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    if proc.returncode != 0:
        tail = (work / "torchrun.log").read_text()[-3000:]
        if proc.returncode < 0 or KILLED.search(tail):  # a worker killed from outside (OOM killer, preemption)
            raise WorkerKilled(f"distributed training ({processes} processes) lost a worker to a signal:\n{tail}")
        raise RuntimeError(f"distributed training ({processes} processes) failed with exit {proc.returncode}:\n{tail}")
    return TrainStats.model_validate_json((output_dir / STATS_FILE).read_text())


class WorkerKilled(RuntimeError):
    """A training process was killed by a signal: worth retrying, unlike an error in the training code."""


KILLED = re.compile(r"Signal \d+ \(SIG(KILL|TERM|HUP|INT)\) received")


def _worker(work: Path) -> None:
    """One process of a multi-process training: the job and datasets train_distributed left in `work`."""
    job = TrainJob.model_validate_json((work / "job.json").read_text())
    losses = json.loads((work / "losses.json").read_text())
    sets = {name: TrainingSet(pl.read_parquet(work / f"{name}.parquet"), loss) for name, loss in losses.items()}
    run_job(job, training_sets(sets, job.cfg))


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
