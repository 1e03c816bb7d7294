"""Two identical `embedforge run`s started at once: one trains, the other waits for it and takes its model."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys


def test_two_identical_runs_at_once_train_once_and_share_the_model(tiny_beir, tmp_path):
    shared = [
        f"data.path={tiny_beir}",
        f"registry.store={tmp_path / 'store'}",
        f"registry.root={tmp_path / 'models'}",
        "train.batch_size=4",
        "train.epochs=4",
        "mining.num_negatives=1",
        "mining.top_k=4",
    ]
    procs = []
    for n in range(2):
        env = {**os.environ, "PREFECT_HOME": str(tmp_path / f"prefect{n}")}  # two users, two temporary servers
        args = [
            sys.executable,
            "-m",
            "flows.cli",
            "run",
            *[a for s in shared for a in ("--set", s)],
            "--json",
            str(tmp_path / f"run{n}.json"),
        ]
        procs.append(subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    logs = [p.communicate(timeout=900)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(log[-2000:] for log in logs)
    summaries = [json.loads((tmp_path / f"run{n}.json").read_text()) for n in range(2)]
    assert summaries[0]["version"] == summaries[1]["version"]
    assert sum(len(re.findall(r"trained \d+ steps", log)) for log in logs) == 1, "the model was trained more than once"
    assert len(list((tmp_path / "store" / "models").iterdir())) == 1
    checkpoints = list((tmp_path / "store" / "checkpoints").iterdir())
    assert len(checkpoints) == 1 and not list(checkpoints[0].glob("checkpoint-*"))  # finished: nothing left to resume
