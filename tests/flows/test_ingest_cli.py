"""`validate` and `data add` as a user calls them: a fresh process, real files, exit codes and what lands where."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_beir

ROOT = Path(__file__).resolve().parents[2]


def embedforge(*args: str, cwd=None, **env: str) -> subprocess.CompletedProcess:
    """The CLI in a fresh process; PREFECT_API_URL only when a test passes it (no server is the default here)."""
    environ = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    environ["PYTHONPATH"] = str(ROOT)
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=environ,
        timeout=600,
    )


def pairs_csv(path: Path, n: int) -> Path:
    path.write_text(
        "anchor,positive\n" + "".join(f"question {i} about clause {i},clause {i} says thing {i}\n" for i in range(n))
    )
    return path


def test_validate_an_empty_table_is_invalid_with_exit_1(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("anchor,positive\n")
    proc = embedforge(
        "validate", str(path), "--json", str(tmp_path / "r.json"), "--quarantine-dir", str(tmp_path / "q")
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "is empty" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["valid"] is False and report["errors"][0]["check"] == "not_empty"


def test_validate_an_empty_beir_corpus_says_empty_not_dangling(tmp_path):
    folder = write_beir(tmp_path / "beir")
    (folder / "corpus.jsonl").write_text("")
    proc = embedforge("validate", str(folder), "--quarantine-dir", str(tmp_path / "q"))
    assert proc.returncode == 1 and "corpus.jsonl is empty" in proc.stdout
    assert "resolves_in_corpus" not in proc.stdout + proc.stderr


def test_validate_writes_its_quarantine_under_embedforge_home_not_the_current_folder(tmp_path):
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    path = tmp_path / "pairs.csv"
    path.write_text('anchor,positive\n"a question","an answer\nover two lines"\nsame,same\n')
    proc = embedforge("validate", str(path), "--json", str(tmp_path / "r.json"), cwd=work, EMBEDFORGE_HOME=str(home))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert [(e["row"], e["column"]) for e in report["errors"]] == [(4, "anchor,positive")]
    assert Path(report["quarantine_path"]).is_relative_to(home / ".embedforge" / "quarantine")
    assert list(work.iterdir()) == []


def test_prefect_results_follow_prefect_home(tmp_path):
    code = "import os; from flows.cli import local_defaults; local_defaults(); print(os.environ['PREFECT_LOCAL_STORAGE_PATH'])"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    environ.update(PREFECT_HOME=str(tmp_path / "ph"), PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, cwd=tmp_path, timeout=120
    )
    assert proc.stdout.strip() == str(tmp_path / "ph" / "storage"), proc.stderr


@pytest.mark.parametrize("content", ["anchor,positive\n", None])
def test_data_add_refuses_empty_and_too_small_data_and_stores_nothing(tmp_path, content):
    path = tmp_path / "pairs.csv"
    if content is None:
        pairs_csv(path, 30)  # fewer training pairs than the default train.batch_size of 32
    else:
        path.write_text(content)
    proc = embedforge("data", "add", str(path), "--dataset", "contracts", "--root", str(tmp_path / "store"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "nothing was stored or announced" in proc.stderr
    assert ("is empty" if content else "fewer than train.batch_size=32") in proc.stderr
    assert not (tmp_path / "store" / "contracts").exists()


def test_data_add_refuses_a_folder_with_a_link_to_outside(tmp_path):
    folder = write_beir(tmp_path / "beir")
    (tmp_path / "private.jsonl").write_text("{}\n")
    (folder / "extra.jsonl").symlink_to(tmp_path / "private.jsonl")
    proc = embedforge(
        "data",
        "add",
        str(folder),
        "--dataset",
        "tiny",
        "--root",
        str(tmp_path / "store"),
        "--set",
        "train.batch_size=4",
    )
    assert proc.returncode == 1 and "extra.jsonl is a symbolic link" in proc.stderr
    assert not (tmp_path / "store" / "tiny").exists()


def test_data_add_without_a_server_stores_but_says_nothing_was_announced(tmp_path):
    path = pairs_csv(tmp_path / "pairs.csv", 30)
    args = (
        "data",
        "add",
        str(path),
        "--dataset",
        "contracts",
        "--root",
        str(tmp_path / "store"),
        "--set",
        "train.batch_size=8",
    )
    proc = embedforge(*args)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "stored version" in proc.stdout and "announced" not in proc.stdout
    assert (
        "NOT announced: PREFECT_API_URL is not set" in proc.stderr
        and "--set train.batch_size=8 --set data.path=" in proc.stderr
    )
    again = embedforge(*args)  # stored, still never announced: says so again instead of "nothing to do"
    assert again.returncode == 3 and "already stored" in again.stdout


def test_data_add_announces_to_a_server_and_checks_the_served_config(tmp_path):
    """Against the harness's server: the on-new-data deployment registered with batch 4 is the config checked."""
    from prefect.settings import PREFECT_API_URL

    from flows.serve import deployments
    from tasks import datasets
    from tasks.config import load_config

    url = PREFECT_API_URL.value()
    deployments(load_config(None, ["train.batch_size=4"]))[1].apply()
    cfg, where = datasets.trigger_config(None, [], url)
    assert cfg.train.batch_size == 4 and where == f"deployment retrain/on-new-data on {url}"
    folder = write_beir(tmp_path / "beir")  # 12 training pairs: enough for 4, not for the default 32
    args = ("data", "add", str(folder), "--dataset", "tiny", "--root", str(tmp_path / "store"))
    proc = embedforge(*args, PREFECT_API_URL=url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"announced {datasets.EVENT} to {url}" in proc.stdout and "12 training pairs" in proc.stdout
    again = embedforge(*args, PREFECT_API_URL=url)
    assert again.returncode == 0 and "announced before, nothing to do" in again.stdout


def test_run_on_an_empty_table_fails_as_empty(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("anchor,positive\n")
    proc = embedforge(
        "run",
        "--set",
        f"data.path={path}",
        "--set",
        f"registry.store={tmp_path / 's'}",
        "--set",
        f"registry.root={tmp_path / 'm'}",
    )
    assert proc.returncode == 1 and "is empty" in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
