"""`embedforge run` as a user calls it: a fresh process, its own ephemeral Prefect server, JSON out."""

from __future__ import annotations

import json
import subprocess
import sys

STEPS = ["ingest", "mine", "train", "evaluate", "gate", "register"]


def embedforge(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=900)


def test_run_writes_the_summary_contract(tiny_beir, tmp_path):
    out = tmp_path / "run.json"
    proc = embedforge(
        "run", "--set", f"data.path={tiny_beir}", "--set", f"registry.root={tmp_path / 'models'}",
        "--set", f"registry.store={tmp_path / 'store'}", "--set", "train.batch_size=4",
        "--set", "mining.num_negatives=1", "--set", "mining.top_k=4", "--json", str(out),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(out.read_text())
    assert isinstance(summary["promoted"], bool)
    assert summary["reason"]
    assert (tmp_path / "models").resolve() in [p.parent for p in [__import__("pathlib").Path(summary["model_path"])]]
    for role in ("base", "candidate"):
        assert {"ndcg@10", "mrr@10", "map@100", "recall@100"} <= set(summary["metrics"][role])
    assert list(summary["steps"]) == STEPS
    assert all(isinstance(s["cached"], bool) and s["seconds"] >= 0 for s in summary["steps"].values())


def test_bad_dataset_fails_with_one_paragraph_and_no_traceback(tmp_path):
    proc = embedforge("run", "--set", f"data.path={tmp_path / 'missing'}", "--set", f"registry.store={tmp_path / 's'}")
    assert proc.returncode == 1
    assert "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_bad_override_fails_before_running(tmp_path):
    proc = embedforge("run", "--set", "train.epochz=1")
    assert proc.returncode == 1
    assert "train.epochz" in proc.stderr
    assert "Traceback" not in proc.stderr
