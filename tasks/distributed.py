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

from tasks.config import PassageConfig, TrainConfig
from tasks.train import STATS_FILE, DevSet, TrainingSet, train_model


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
) -> dict:
    """Run train_model in `processes` processes with torchrun and return the first process's stats."""
    output_dir = Path(output_dir)
    work = output_dir / "launch"
    work.mkdir(parents=True, exist_ok=True)
    for name, ts in sets.items():
        ts.frame.write_parquet(work / f"{name}.parquet")
    spec = {
        "base_path": base_path,
        "sets": {name: ts.loss for name, ts in sets.items()},
        "cfg": cfg.model_dump(mode="json"),
        "output_dir": str(output_dir),
        "device": device,
        "checkpoint_dir": str(checkpoint_dir) if checkpoint_dir else None,
        "dev": None
        if dev is None
        else {
            "queries": dev.queries,
            "corpus": dev.corpus,
            "relevant": {q: sorted(d) for q, d in dev.relevant.items()},
            "passages": dev.passages.model_dump(mode="json") if dev.passages else None,
            "titles": dev.titles,
        },
    }
    (work / "spec.json").write_text(json.dumps(spec))
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
    return json.loads((output_dir / STATS_FILE).read_text())


class WorkerKilled(RuntimeError):
    """A training process was killed by a signal: worth retrying, unlike an error in the training code."""


KILLED = re.compile(r"Signal \d+ \(SIG(KILL|TERM|HUP|INT)\) received")


def _worker(work: Path) -> None:
    spec = json.loads((work / "spec.json").read_text())
    sets = {name: TrainingSet(pl.read_parquet(work / f"{name}.parquet"), loss) for name, loss in spec["sets"].items()}
    dev = None
    if spec["dev"]:
        passages = PassageConfig(**spec["dev"]["passages"]) if spec["dev"]["passages"] else None
        dev = DevSet(
            spec["dev"]["queries"],
            spec["dev"]["corpus"],
            {q: set(d) for q, d in spec["dev"]["relevant"].items()},
            passages,
            spec["dev"]["titles"],
        )
    train_model(
        spec["base_path"],
        sets,
        TrainConfig(**spec["cfg"]),
        spec["output_dir"],
        spec["device"],
        spec["checkpoint_dir"],
        dev,
    )


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
