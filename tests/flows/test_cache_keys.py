"""Cache keys follow the code, across processes: a copy of the project is edited and run again in fresh processes.

The cheap half compares each task's code digest (what the cache key holds besides the inputs) before and after an
edit; the end-to-end half runs `embedforge run` in the edited copy and reads which steps were cache hits.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TASKS = ["ingest", "bm25_baseline", "mine", "train", "evaluate", "gate", "register", "report_run"]
DIGESTS = """
import json, sys, tasks, tasks.steps as steps
from tasks.codehash import code_digest
assert tasks.__file__.startswith(sys.argv[1]), tasks.__file__  # the edited copy, not the installed tree
print(json.dumps({name: code_digest(getattr(steps, name).fn) for name in sys.argv[2:]}))
"""


def copy_project(target: Path) -> Path:
    for part in ("tasks", "schemas", "flows", "README.md", "configs"):
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, target / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / part)
    return target


def in_copy(root: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, *args], cwd=root, env=env, capture_output=True, text=True, timeout=timeout)


def digests(root: Path) -> dict[str, str]:
    proc = in_copy(root, "-c", DIGESTS, str(root), *TASKS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


EDITS = {
    # a stricter schema: ingest reruns; the rest keep their keys (they rerun only if ingest's output changes)
    "schemas": ("schemas/ir.py", "score: int = pa.Field(ge=0)", "score: int = pa.Field(ge=0, le=1000)", {"ingest"}),
    # a different BM25 tokenizer: mining and the BM25 baseline rerun (evaluate only if the baseline's output changes)
    "bm25": (
        "tasks/mining/bm25.py",
        'TOKEN = re.compile(r"\\w+")',
        'TOKEN = re.compile(r"\\w+", re.UNICODE)',
        {"mine", "bm25_baseline"},
    ),
    # report wording and the loss-curve reading: only the report step
    "report": ("tasks/report.py", 'else "not promoted"', 'else "not promoted (gate)"', {"report_run"}),
    "loss_curve": ("tasks/loss_curve.py", "for _, loss in curve", "for _step, loss in curve", {"report_run"}),
    # the training code: training, and nothing upstream of it
    "train": ("tasks/train.py", 'STATS_FILE = "training_stats.json"', 'STATS_FILE = "train_stats.json"', {"train"}),
    # comments, docstrings and documentation change nothing
    "comment": (
        "tasks/mining/bm25.py",
        "def tokenize(text: str) -> list[str]:\n",
        "def tokenize(text: str) -> list[str]:\n    # words\n",
        set(),
    ),
    "readme": ("README.md", "# embedforge", "# embedforge (edited)", set()),
}
SCHEMA_EDIT, REPORT_EDIT, TRAIN_EDIT = EDITS["schemas"], EDITS["report"], EDITS["train"]


def test_each_edit_changes_exactly_the_keys_of_the_steps_that_run_the_edited_code(tmp_path):
    root = copy_project(tmp_path / "project")
    before = digests(root)
    assert len(set(before.values())) == len(TASKS)
    for name, (relative, old, new, expected) in EDITS.items():
        path = root / relative
        original = path.read_text()
        edit(path, old, new)
        after = digests(root)
        path.write_text(original)
        changed = {task for task in TASKS if after[task] != before[task]}
        assert changed == expected, (
            f"editing {relative} ({name}) changed {sorted(changed)}, expected {sorted(expected)}"
        )


@pytest.fixture(scope="module")
def edited_project(tmp_path_factory, tiny_beir):
    root = copy_project(tmp_path_factory.mktemp("cache") / "project")
    work = root / "work"

    def run(label: str, log: list | None = None) -> dict:
        out = work / f"{label}.json"
        proc = in_copy(
            root,
            "-m",
            "flows.cli",
            "run",
            "--set",
            f"data.path={tiny_beir}",
            "--set",
            f"registry.root={work / 'models'}",
            "--set",
            f"registry.store={work / 'store'}",
            "--set",
            "train.batch_size=4",
            "--set",
            "mining.num_negatives=1",
            "--set",
            "mining.top_k=4",
            "--json",
            str(out),
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        if log is not None:
            log.append(proc.stdout + proc.stderr)
        return {step: value["cached"] for step, value in json.loads(out.read_text())["steps"].items()}

    return root, run


def test_a_report_change_reruns_only_the_report_in_a_new_process(edited_project):
    root, run = edited_project
    first = run("first")
    assert not any(first.values())
    edit(root / REPORT_EDIT[0], *REPORT_EDIT[1:3])
    second = run("report-edited")
    assert [step for step, cached in second.items() if not cached] == ["report"]


def test_a_schema_change_reruns_ingest_and_nothing_whose_inputs_stayed_the_same(edited_project):
    root, run = edited_project
    edit(root / SCHEMA_EDIT[0], *SCHEMA_EDIT[1:3])
    third = run("schema-edited")
    assert [step for step, cached in third.items() if not cached] == ["ingest"]


def test_a_training_code_change_trains_again_instead_of_taking_the_finished_model(edited_project):
    """The train step also keeps a finished training beside its checkpoints (for a retry or a second identical run);
    that record is named by the code as well as the inputs, so edited training code trains again."""
    root, run = edited_project
    run("before-train-edit")  # a finished training of the code as it was
    edit(root / TRAIN_EDIT[0], *TRAIN_EDIT[1:3])
    log: list[str] = []
    fourth = run("train-edited", log)
    assert not fourth["train"]
    assert "an identical training finished" not in log[0]
