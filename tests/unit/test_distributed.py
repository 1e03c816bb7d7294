"""Multi-process (DDP) training, run here as two CPU processes with the gloo backend on tiny data."""

from __future__ import annotations

import pytest

from tasks.config import TrainConfig
from tasks.distributed import processes_for, train_distributed
from tasks.train import TrainingSet, training_frame
from tests.unit.test_train import CORPUS, PAIRS, negatives_for


def test_one_process_on_the_cpu_unless_asked():
    assert processes_for(TrainConfig(), "cpu") == 1
    assert processes_for(TrainConfig(processes=2), "cpu") == 2


@pytest.mark.slow  # real training (or a child interpreter): minutes of CPU
def test_two_cpu_processes_train_one_model(tmp_path, base_model_ref):
    from sentence_transformers import SentenceTransformer

    frame = training_frame(PAIRS, negatives_for(PAIRS, 1), CORPUS)
    cfg = TrainConfig(epochs=2, batch_size=3, learning_rate=1e-4, processes=2)
    stats = train_distributed(base_model_ref.path, {"main": TrainingSet(frame, "mnrl")}, cfg, tmp_path, "cpu", 2)
    assert stats.processes == 2
    assert stats.steps == 4  # 12 rows, 3 per process and step, 2 processes: 2 steps per epoch (1 process: 4)
    model = SentenceTransformer(str(tmp_path / "model"), device="cpu")
    assert model.encode(["hold harmless"]).shape == (1, 384)
